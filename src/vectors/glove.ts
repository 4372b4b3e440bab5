/**
 * GloVe (Pennington, Socher & Manning 2014, "GloVe: Global Vectors for Word
 * Representation"): word vectors fitted to the logarithm of a corpus's word co-occurrence
 * counts.
 *
 * - Counts (Sec. 4.2): X_ij sums 1/d over the occurrences of word j at distance d <= window
 *   from word i, in both directions (the reference `cooccur` with symmetric windows), within
 *   a line.
 * - Cost (Eq. 8): J = sum over X_ij > 0 of f(X_ij) (w_i . w~_j + b_i + b~_j - log X_ij)^2,
 *   f(x) = (x / xMax)^alpha for x < xMax, else 1 (Eq. 9; xMax 100, alpha 3/4).
 * - Training: AdaGrad (initial learning rate 0.05) over the non-zero entries in a shuffled
 *   order each epoch; vectors and biases start uniform in [-0.5/D, 0.5/D), the squared
 *   gradient sums at 1, as the reference `glove.c`.
 * - Output (Sec. 4.2): W + W~, the sum of the word and context vectors.
 *
 * Shape letters: V vocabulary, D vector width, P non-zero co-occurrence pairs.
 */
import { Generator } from '../random.js';
import type { WordCorpus } from './word2vec.js';
import { WordVectors } from './word-vectors.js';

/** Non-zero co-occurrences in coordinate form. */
export interface Cooccurrence {
  readonly V: number;
  readonly rows: Int32Array;
  readonly cols: Int32Array;
  readonly values: Float64Array;
}

/**
 * Count co-occurrences with 1/d weighting (see above).
 * @throws Error if window is not an integer >= 1.
 */
export function cooccurrence(corpus: WordCorpus, window = 10): Cooccurrence {
  if (!Number.isInteger(window) || window < 1)
    throw new Error(`glove: window must be an integer >= 1, got ${window}`);
  const V = corpus.words.length;
  const counts = new Map<number, number>();
  const ids = corpus.ids;
  let start = 0;
  for (let i = 0; i <= ids.length; i++) {
    if (i < ids.length && ids[i] >= 0) continue;
    for (let a = start; a < i; a++)
      for (let b = Math.max(start, a - window); b < a; b++) {
        const w = 1 / (a - b);
        const k1 = ids[a] * V + ids[b];
        const k2 = ids[b] * V + ids[a];
        counts.set(k1, (counts.get(k1) ?? 0) + w);
        counts.set(k2, (counts.get(k2) ?? 0) + w);
      }
    start = i + 1;
  }
  const keys = [...counts.keys()].sort((x, y) => x - y);
  return {
    V,
    rows: Int32Array.from(keys, (k) => Math.floor(k / V)),
    cols: Int32Array.from(keys, (k) => k % V),
    values: Float64Array.from(keys, (k) => counts.get(k)!),
  };
}

export interface GloveOptions {
  /** D. Default 50. */
  dim?: number;
  /** Default 10. */
  window?: number;
  /** Epochs over the non-zero entries. Default 25. */
  epochs?: number;
  /** AdaGrad's initial learning rate. Default 0.05. */
  learningRate?: number;
  /** f's cutoff. Default 100. */
  xMax?: number;
  /** f's exponent. Default 0.75. */
  alpha?: number;
  seed?: number;
}

/** The fitted parameters and the cost of each epoch. */
export interface GloveResult {
  vectors: WordVectors;
  /** W (V * D), W~ (V * D), b (V), b~ (V). */
  w: Float32Array;
  wTilde: Float32Array;
  b: Float32Array;
  bTilde: Float32Array;
  /** J / P after each epoch (the reference prints the same). */
  costs: number[];
}

/** f(x) = min(1, (x / xMax)^alpha) (Eq. 9). */
export function gloveWeight(x: number, xMax = 100, alpha = 0.75): number {
  return x < xMax ? Math.pow(x / xMax, alpha) : 1;
}

/**
 * Fit GloVe to co-occurrences.
 * @throws Error naming an option out of range.
 */
export function trainGlove(
  words: readonly string[],
  x: Cooccurrence,
  o: GloveOptions = {},
): GloveResult {
  const D = o.dim ?? 50;
  const epochs = o.epochs ?? 25;
  const lr = o.learningRate ?? 0.05;
  const xMax = o.xMax ?? 100;
  const alpha = o.alpha ?? 0.75;
  if (!Number.isInteger(D) || D < 1)
    throw new Error(`glove: dim must be an integer >= 1, got ${D}`);
  if (!Number.isInteger(epochs) || epochs < 1)
    throw new Error(`glove: epochs must be an integer >= 1, got ${epochs}`);
  if (!(lr > 0) || !(xMax > 0)) throw new Error('glove: learningRate and xMax must be > 0');
  const V = x.V;
  const g = new Generator(o.seed ?? 1);
  const init = (n: number) => Float32Array.from({ length: n }, () => (g.uniform() - 0.5) / D);
  const w = init(V * D);
  const wt = init(V * D);
  const b = init(V);
  const bt = init(V);
  const gw = new Float32Array(V * D).fill(1); // AdaGrad sums of squared gradients
  const gwt = new Float32Array(V * D).fill(1);
  const gb = new Float32Array(V).fill(1);
  const gbt = new Float32Array(V).fill(1);
  const P = x.values.length;
  const order = Array.from({ length: P }, (_, i) => i);
  const costs: number[] = [];
  for (let e = 0; e < epochs; e++) {
    g.shuffle(order);
    let cost = 0;
    for (const p of order) {
      const i = x.rows[p] * D;
      const j = x.cols[p] * D;
      let dot = 0;
      for (let d = 0; d < D; d++) dot += w[i + d] * wt[j + d];
      const diff = dot + b[x.rows[p]] + bt[x.cols[p]] - Math.log(x.values[p]);
      const fdiff = gloveWeight(x.values[p], xMax, alpha) * diff;
      cost += 0.5 * fdiff * diff;
      for (let d = 0; d < D; d++) {
        const g1 = fdiff * wt[j + d]; // dJ/dw_i (halved cost)
        const g2 = fdiff * w[i + d];
        w[i + d] -= (lr * g1) / Math.sqrt(gw[i + d]);
        wt[j + d] -= (lr * g2) / Math.sqrt(gwt[j + d]);
        gw[i + d] += g1 * g1;
        gwt[j + d] += g2 * g2;
      }
      b[x.rows[p]] -= (lr * fdiff) / Math.sqrt(gb[x.rows[p]]);
      bt[x.cols[p]] -= (lr * fdiff) / Math.sqrt(gbt[x.cols[p]]);
      gb[x.rows[p]] += fdiff * fdiff;
      gbt[x.cols[p]] += fdiff * fdiff;
    }
    costs.push(cost / P);
  }
  const sum = Float32Array.from(w, (v, k) => v + wt[k]); // W + W~
  return { vectors: new WordVectors(words, sum, D), w, wTilde: wt, b, bTilde: bt, costs };
}

/** J of Eq. 8 (halved, as the reference reports it) at given parameters. */
export function gloveCost(
  x: Cooccurrence,
  r: Pick<GloveResult, 'w' | 'wTilde' | 'b' | 'bTilde'>,
  D: number,
  xMax = 100,
  alpha = 0.75,
): number {
  let J = 0;
  for (let p = 0; p < x.values.length; p++) {
    let dot = 0;
    for (let d = 0; d < D; d++) dot += r.w[x.rows[p] * D + d] * r.wTilde[x.cols[p] * D + d];
    const diff = dot + r.b[x.rows[p]] + r.bTilde[x.cols[p]] - Math.log(x.values[p]);
    J += 0.5 * gloveWeight(x.values[p], xMax, alpha) * diff * diff;
  }
  return J;
}
