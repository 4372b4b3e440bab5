/**
 * The classifiers our tutorials compare Transformers with, on bag-of-words or TF-IDF rows
 * (src/vectors/bow.ts): multinomial naive Bayes and logistic regression, with
 * scikit-learn's formulas so the numbers can be checked against it.
 *
 * - MultinomialNB (McCallum & Nigam 1998): log P(c) = log(n_c / n); log P(t | c) =
 *   log((N_ct + a) / (N_c + a V)), N_ct the summed feature values of class c, a = 1
 *   (Laplace); score(d, c) = log P(c) + sum_t x_dt log P(t | c).
 * - LogisticRegression (multinomial, sklearn's lbfgs solver): minimize
 *   C sum_d -log softmax(W x_d + b)_{y_d} + 1/2 ||W||^2 (the intercept not penalized), by
 *   L-BFGS (Nocedal & Wright 2006, Alg. 7.4 with a backtracking Armijo line search) to a
 *   gradient tolerance.
 *
 * Shape letters: N documents, V features, K classes.
 */
import type { CsrMatrix } from './bow.js';

/** A fitted classifier over sparse rows. */
export interface SparseClassifier {
  readonly classes: readonly string[];
  /** (N, K) class scores (log probabilities, up to a per-row constant for NB). */
  scores(x: CsrMatrix): Float64Array;
  predict(x: CsrMatrix): string[];
}

function classIndex(labels: readonly string[]): { classes: string[]; y: Int32Array } {
  const classes = [...new Set(labels)].sort();
  const idx = new Map(classes.map((c, i) => [c, i]));
  return { classes, y: Int32Array.from(labels, (l) => idx.get(l)!) };
}

function argmaxRows(s: Float64Array, K: number, classes: readonly string[]): string[] {
  const out: string[] = [];
  for (let r = 0; r < s.length / K; r++) {
    let best = 0;
    for (let k = 1; k < K; k++) if (s[r * K + k] > s[r * K + best]) best = k;
    out.push(classes[best]);
  }
  return out;
}

/**
 * x W^T + b for sparse rows.
 * @param x (N, V) CSR @param w (K, V) @param b (K) @returns (N, K)
 */
export function linearScores(
  x: CsrMatrix,
  w: Float64Array,
  b: Float64Array,
  K: number,
): Float64Array {
  const s = new Float64Array(x.rows * K);
  for (let r = 0; r < x.rows; r++)
    for (let k = 0; k < K; k++) {
      let v = b[k];
      for (let p = x.indptr[r]; p < x.indptr[r + 1]; p++)
        v += x.data[p] * w[k * x.cols + x.indices[p]];
      s[r * K + k] = v;
    }
  return s;
}

function checkRows(x: CsrMatrix, labels: readonly string[], what: string): void {
  if (x.rows !== labels.length)
    throw new Error(`${what}: ${x.rows} rows but ${labels.length} labels`);
  if (new Set(labels).size < 2) throw new Error(`${what}: need at least two classes`);
}

/**
 * Fit multinomial naive Bayes. @param alpha additive smoothing (default 1).
 * @throws Error if rows and labels differ in number or there is one class only.
 */
export function fitMultinomialNB(
  x: CsrMatrix,
  labels: readonly string[],
  alpha = 1,
): SparseClassifier & {
  classLogPrior: Float64Array;
  featureLogProb: Float64Array;
} {
  checkRows(x, labels, 'naive Bayes');
  const { classes, y } = classIndex(labels);
  const K = classes.length;
  const V = x.cols;
  const counts = new Float64Array(K * V);
  const n = new Float64Array(K);
  for (let r = 0; r < x.rows; r++) {
    n[y[r]]++;
    for (let p = x.indptr[r]; p < x.indptr[r + 1]; p++)
      counts[y[r] * V + x.indices[p]] += x.data[p];
  }
  const classLogPrior = n.map((c) => Math.log(c / x.rows));
  const featureLogProb = new Float64Array(K * V);
  for (let k = 0; k < K; k++) {
    let tot = 0;
    for (let t = 0; t < V; t++) tot += counts[k * V + t] + alpha;
    for (let t = 0; t < V; t++)
      featureLogProb[k * V + t] = Math.log((counts[k * V + t] + alpha) / tot);
  }
  const scores = (m: CsrMatrix) => linearScores(m, featureLogProb, classLogPrior, K);
  return {
    classes,
    classLogPrior,
    featureLogProb,
    scores,
    predict: (m) => argmaxRows(scores(m), K, classes),
  };
}

export interface LogRegOptions {
  /** Inverse regularization strength C (sklearn's default 1). */
  C?: number;
  /** Stop when the largest gradient entry is below this (sklearn's tol 1e-4). */
  tol?: number;
  maxIter?: number;
}

/**
 * Fit multinomial logistic regression by L-BFGS (see the file's comment).
 * @returns the classifier with coef (K, V) and intercept (K), and the iterations run.
 * @throws Error as fitMultinomialNB, or naming C / maxIter out of range.
 */
export function fitLogisticRegression(
  x: CsrMatrix,
  labels: readonly string[],
  o: LogRegOptions = {},
): SparseClassifier & { coef: Float64Array; intercept: Float64Array; iterations: number } {
  checkRows(x, labels, 'logistic regression');
  const C = o.C ?? 1;
  if (!(C > 0)) throw new Error(`logistic regression: C must be > 0, got ${C}`);
  const { classes, y } = classIndex(labels);
  const K = classes.length;
  const V = x.cols;
  const nW = K * V;
  // Objective and gradient over theta = [W (K*V), b (K)].
  const f = (th: Float64Array, grad: Float64Array): number => {
    const w = th.subarray(0, nW);
    const b = th.subarray(nW);
    const s = linearScores(x, w, b, K);
    grad.fill(0);
    let loss = 0;
    for (let r = 0; r < x.rows; r++) {
      let m = -Infinity;
      for (let k = 0; k < K; k++) m = Math.max(m, s[r * K + k]);
      let z = 0;
      for (let k = 0; k < K; k++) z += Math.exp(s[r * K + k] - m);
      loss += C * (m + Math.log(z) - s[r * K + y[r]]);
      for (let k = 0; k < K; k++) {
        const d = C * (Math.exp(s[r * K + k] - m) / z - (k === y[r] ? 1 : 0));
        grad[nW + k] += d;
        for (let p = x.indptr[r]; p < x.indptr[r + 1]; p++)
          grad[k * V + x.indices[p]] += d * x.data[p];
      }
    }
    for (let i = 0; i < nW; i++) {
      loss += 0.5 * th[i] * th[i];
      grad[i] += th[i];
    }
    return loss;
  };
  const { theta, iterations } = lbfgs(f, new Float64Array(nW + K), o.tol ?? 1e-4, o.maxIter ?? 500);
  const coef = theta.slice(0, nW);
  const intercept = theta.slice(nW);
  const scores = (m: CsrMatrix) => linearScores(m, coef, intercept, K);
  return {
    classes,
    coef,
    intercept,
    iterations,
    scores,
    predict: (m) => argmaxRows(scores(m), K, classes),
  };
}

/** Minimize f by L-BFGS with memory 10 and a backtracking Armijo line search. */
export function lbfgs(
  f: (x: Float64Array, g: Float64Array) => number,
  x0: Float64Array,
  tol: number,
  maxIter: number,
): { theta: Float64Array; iterations: number } {
  const n = x0.length;
  const x = x0.slice();
  const g = new Float64Array(n);
  let fx = f(x, g);
  const S: Float64Array[] = [];
  const Y: Float64Array[] = [];
  const dot = (a: Float64Array, b: Float64Array) => a.reduce((s, v, i) => s + v * b[i], 0);
  let it = 0;
  for (; it < maxIter; it++) {
    if (g.reduce((m, v) => Math.max(m, Math.abs(v)), 0) < tol) break;
    // Two-loop recursion: d = -H g.
    const q = g.slice();
    const alphas: number[] = [];
    for (let i = S.length - 1; i >= 0; i--) {
      const a = dot(S[i], q) / dot(Y[i], S[i]);
      alphas[i] = a;
      for (let j = 0; j < n; j++) q[j] -= a * Y[i][j];
    }
    const gamma = S.length
      ? dot(S[S.length - 1], Y[Y.length - 1]) / dot(Y[Y.length - 1], Y[Y.length - 1])
      : 1;
    for (let j = 0; j < n; j++) q[j] *= gamma;
    for (let i = 0; i < S.length; i++) {
      const bta = dot(Y[i], q) / dot(Y[i], S[i]);
      for (let j = 0; j < n; j++) q[j] += S[i][j] * (alphas[i] - bta);
    }
    const d = q.map((v) => -v);
    const slope = dot(g, d);
    let step = S.length ? 1 : 1 / Math.max(1, Math.sqrt(dot(g, g)));
    const xn = new Float64Array(n);
    const gn = new Float64Array(n);
    let fn = Infinity;
    for (let k = 0; k < 40; k++) {
      for (let j = 0; j < n; j++) xn[j] = x[j] + step * d[j];
      fn = f(xn, gn);
      if (fn <= fx + 1e-4 * step * slope) break;
      step /= 2;
    }
    const s = xn.map((v, j) => v - x[j]);
    const yv = gn.map((v, j) => v - g[j]);
    if (dot(s, yv) > 1e-12) {
      S.push(s);
      Y.push(yv);
      if (S.length > 10) {
        S.shift();
        Y.shift();
      }
    }
    x.set(xn);
    g.set(gn);
    const stalled = Math.abs(fx - fn) < 1e-12 * Math.max(1, Math.abs(fx));
    fx = fn;
    if (stalled) break;
  }
  return { theta: x, iterations: it };
}
