/**
 * The `js` backend: every kernel in plain TypeScript. This file is the specification of
 * each kernel's numerics; the native backend is tested against it. Accumulations run in
 * float64 where that costs nothing, so this is also the more exact of the two. The softmax
 * row and the fused attention kernels live in ./js-attention.ts.
 */
import { attentionBackward, attentionForward, softmaxRow } from './js-attention.js';
import { rnnCellBackward, rnnCellForward } from './js-rnn.js';
import { word2vecTrain } from './js-word2vec.js';
import { gatheredAttentionBackward, gatheredAttentionForward, lshBuckets } from './js-gathered.js';
import {
  headRowsDot,
  lseMergeWeights,
  headRowsScale,
  sparseAttentionBackward,
  sparseAttentionForward,
} from './js-sparse.js';
import { flashAttentionBackward, flashAttentionForward, fmix32 } from './js-flash.js';
import type { Backend, BinaryOp, ScalarOp, UnaryOp } from './types.js';

const SQRT1_2 = Math.SQRT1_2;
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** erf(x) via the Numerical Recipes Chebyshev erfc (relative error < 1.2e-7, enough for float32). */
export function erf(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 +
                            t *
                              (-1.13520398 +
                                t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? 1 - r : r - 1;
}

function unaryFn(op: UnaryOp): (x: number) => number {
  switch (op) {
    case 'neg':
      return (x) => -x;
    case 'exp':
      return Math.exp;
    case 'log':
      return Math.log;
    case 'sqrt':
      return Math.sqrt;
    case 'tanh':
      return Math.tanh;
    case 'relu':
      return (x) => (x <= 0 ? 0 : x); // NaN stays NaN, as torch.relu
    case 'gelu':
      return (x) => 0.5 * x * (1 + erf(x * SQRT1_2));
    case 'geluTanh':
      return (x) => 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));
  }
}

/** Derivative d op(x) / dx, given x and y = op(x). */
function unaryGrad(op: UnaryOp): (x: number, y: number) => number {
  switch (op) {
    case 'neg':
      return () => -1;
    case 'exp':
      return (_x, y) => y;
    case 'log':
      return (x) => 1 / x;
    case 'sqrt':
      return (_x, y) => 0.5 / y;
    case 'tanh':
      return (_x, y) => 1 - y * y;
    case 'relu':
      return (x) => (x > 0 ? 1 : 0);
    case 'gelu':
      return (x) => 0.5 * (1 + erf(x * SQRT1_2)) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x);
    case 'geluTanh':
      return (x) => {
        const u = SQRT_2_OVER_PI * (x + 0.044715 * x * x * x);
        const th = Math.tanh(u);
        const du = SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x);
        return 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * du;
      };
  }
}

function binaryFn(op: BinaryOp): (a: number, b: number) => number {
  switch (op) {
    case 'add':
      return (a, b) => a + b;
    case 'sub':
      return (a, b) => a - b;
    case 'mul':
      return (a, b) => a * b;
    case 'div':
      return (a, b) => a / b;
  }
}

function scalarFn(op: ScalarOp): (x: number, s: number) => number {
  switch (op) {
    case 'add':
      return (x, s) => x + s;
    case 'mul':
      return (x, s) => x * s;
    case 'pow':
      return (x, s) => Math.pow(x, s);
    case 'rsub':
      return (x, s) => s - x;
    case 'rdiv':
      return (x, s) => s / x;
  }
}

/** Visit every index of a dense `shape`, calling f(outIndex, offsetA, offsetB). */
function forEachStrided2(
  shape: readonly number[],
  sa: readonly number[],
  sb: readonly number[],
  f: (i: number, oa: number, ob: number) => void,
): void {
  const rank = shape.length;
  const n = shape.reduce((p, d) => p * d, 1);
  if (n === 0) return;
  const idx = new Array<number>(rank).fill(0);
  let oa = 0;
  let ob = 0;
  for (let i = 0; i < n; i++) {
    f(i, oa, ob);
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]++;
      oa += sa[d];
      ob += sb[d];
      if (idx[d] < shape[d]) break;
      oa -= sa[d] * shape[d];
      ob -= sb[d] * shape[d];
      idx[d] = 0;
    }
  }
}

export const jsBackend: Backend = {
  name: 'js',
  setThreads() {
    /* single-threaded */
  },

  matmul(out, a, b, batch, M, N, K, transA, transB, strideA, strideB, beta, bias) {
    const acc = new Float64Array(N);
    for (let bt = 0; bt < batch; bt++) {
      const ao = bt * strideA;
      const bo = bt * strideB;
      const oo = bt * M * N;
      for (let i = 0; i < M; i++) {
        acc.fill(0);
        for (let p = 0; p < K; p++) {
          // No skip of av === 0: 0 * NaN must be NaN, as in the BLAS GEMMs (and PyTorch).
          const av = transA ? a[ao + p * M + i] : a[ao + i * K + p];
          if (transB) {
            for (let j = 0; j < N; j++) acc[j] += av * b[bo + j * K + p];
          } else {
            const row = bo + p * N;
            for (let j = 0; j < N; j++) acc[j] += av * b[row + j];
          }
        }
        const r = oo + i * N;
        if (beta === 0) for (let j = 0; j < N; j++) out[r + j] = acc[j];
        else for (let j = 0; j < N; j++) out[r + j] = beta * out[r + j] + acc[j];
        if (bias) for (let j = 0; j < N; j++) out[r + j] += bias[j];
      }
    }
  },

  matmulDeferred(out, a, b, M, N, K, tA, tB, beta) {
    jsBackend.matmul(out, a, b, 1, M, N, K, tA, tB, 0, 0, beta);
  },

  drain() {},

  binary(op, out, a, b, shape, aStrides, bStrides) {
    const f = binaryFn(op);
    forEachStrided2(shape, aStrides, bStrides, (i, oa, ob) => {
      out[i] = f(a[oa], b[ob]);
    });
  },

  unary(op, out, x, n) {
    const f = unaryFn(op);
    for (let i = 0; i < n; i++) out[i] = f(x[i]);
  },

  unaryBackward(op, dx, dy, x, y, n, accumulate = true) {
    const g = unaryGrad(op);
    if (!accumulate) dx.fill(0, 0, n);
    for (let i = 0; i < n; i++) dx[i] += dy[i] * g(x[i], y[i]);
  },

  scalar(op, out, x, s, n) {
    const f = scalarFn(op);
    for (let i = 0; i < n; i++) out[i] = f(x[i], s);
  },

  sum(out, x, outer, dim, inner) {
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        let s = 0;
        for (let d = 0; d < dim; d++) s += x[(o * dim + d) * inner + i];
        out[o * inner + i] = s;
      }
    }
  },

  sumSquares(x, n) {
    let s = 0;
    for (let i = 0; i < n; i++) s += x[i] * x[i];
    return s;
  },

  max(out, argmax, x, outer, dim, inner) {
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        let m = -Infinity;
        let am = 0;
        for (let d = 0; d < dim; d++) {
          const v = x[(o * dim + d) * inner + i];
          if (v > m || Number.isNaN(v)) {
            m = v;
            am = d;
            if (Number.isNaN(v)) break;
          }
        }
        out[o * inner + i] = m;
        argmax[o * inner + i] = am;
      }
    }
  },

  softmax(out, x, rows, cols) {
    for (let r = 0; r < rows; r++) softmaxRow(out, x, r * cols, cols);
  },

  softmaxBackward(dx, dy, y, rows, cols) {
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let dot = 0;
      for (let j = 0; j < cols; j++) dot += dy[o + j] * y[o + j];
      for (let j = 0; j < cols; j++) dx[o + j] += y[o + j] * (dy[o + j] - dot);
    }
  },

  expShift(out, x, shift, rows, cols, scale, eps) {
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      const s = shift[r];
      for (let j = 0; j < cols; j++) out[o + j] = scale * (Math.exp(x[o + j] - s) + eps);
    }
  },

  expShiftBackward(dx, dshift, dy, y, rows, cols, scale, eps) {
    const ke = scale * eps;
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let sum = 0;
      for (let j = 0; j < cols; j++) {
        const g = dy[o + j] * (y[o + j] - ke);
        if (dx) dx[o + j] += g;
        sum += g;
      }
      if (dshift) dshift[r] -= sum;
    }
  },

  logSoftmax(out, x, rows, cols) {
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let mx = -Infinity;
      for (let j = 0; j < cols; j++) if (x[o + j] > mx) mx = x[o + j];
      let s = 0;
      for (let j = 0; j < cols; j++) s += Math.exp(x[o + j] - mx);
      const lse = mx + Math.log(s);
      for (let j = 0; j < cols; j++) out[o + j] = x[o + j] - lse;
    }
  },

  logSoftmaxBackward(dx, dy, y, rows, cols) {
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      let s = 0;
      for (let j = 0; j < cols; j++) s += dy[o + j];
      for (let j = 0; j < cols; j++) dx[o + j] += dy[o + j] - Math.exp(y[o + j]) * s;
    }
  },

  layerNormForward(out, mean, rstd, x, weight, bias, N, C, eps) {
    for (let n = 0; n < N; n++) {
      const o = n * C;
      let m = 0;
      for (let c = 0; c < C; c++) m += x[o + c];
      m /= C;
      let v = 0;
      for (let c = 0; c < C; c++) {
        const d = x[o + c] - m;
        v += d * d;
      }
      v /= C;
      const rs = 1 / Math.sqrt(v + eps);
      for (let c = 0; c < C; c++) {
        let y = (x[o + c] - m) * rs;
        if (weight) y *= weight[c];
        if (bias) y += bias[c];
        out[o + c] = y;
      }
      mean[n] = m;
      rstd[n] = rs;
    }
  },

  layerNormBackward(dx, dweight, dbias, dy, x, weight, mean, rstd, N, C, accumulate = true) {
    for (let n = 0; n < N; n++) {
      const o = n * C;
      const m = mean[n];
      const rs = rstd[n];
      // dnorm = dy * w; dx = rstd * (dnorm - mean(dnorm) - xhat * mean(dnorm * xhat))
      let dnormMean = 0;
      let dnormXhatMean = 0;
      for (let c = 0; c < C; c++) {
        const xhat = (x[o + c] - m) * rs;
        const dn = weight ? dy[o + c] * weight[c] : dy[o + c];
        dnormMean += dn;
        dnormXhatMean += dn * xhat;
        if (dweight) dweight[c] += dy[o + c] * xhat;
        if (dbias) dbias[c] += dy[o + c];
      }
      dnormMean /= C;
      dnormXhatMean /= C;
      for (let c = 0; c < C; c++) {
        const xhat = (x[o + c] - m) * rs;
        const dn = weight ? dy[o + c] * weight[c] : dy[o + c];
        dx[o + c] = (accumulate ? dx[o + c] : 0) + rs * (dn - dnormMean - xhat * dnormXhatMean);
      }
    }
  },

  embeddingForward(out, weight, ids, N, C) {
    for (let n = 0; n < N; n++) out.set(weight.subarray(ids[n] * C, ids[n] * C + C), n * C);
  },

  embeddingBackward(dweight, dy, ids, N, C) {
    for (let n = 0; n < N; n++) {
      const r = ids[n] * C;
      for (let c = 0; c < C; c++) dweight[r + c] += dy[n * C + c];
    }
  },

  crossEntropyForward(losses, lse, logits, targets, N, V, ignoreIndex, ls) {
    for (let n = 0; n < N; n++) {
      const o = n * V;
      let mx = -Infinity;
      for (let v = 0; v < V; v++) if (logits[o + v] > mx) mx = logits[o + v];
      let s = 0;
      let sumLogits = 0;
      for (let v = 0; v < V; v++) {
        s += Math.exp(logits[o + v] - mx);
        sumLogits += logits[o + v];
      }
      const l = mx + Math.log(s);
      lse[n] = l;
      const t = targets[n];
      if (t === ignoreIndex) {
        losses[n] = 0;
        continue;
      }
      const nll = l - logits[o + t];
      const smooth = l - sumLogits / V; // -(1/V) sum_v logp[v]
      losses[n] = (1 - ls) * nll + ls * smooth;
    }
  },

  crossEntropyBackward(dlogits, dlosses, logits, lse, targets, N, V, ignoreIndex, ls, accumulate) {
    for (let n = 0; n < N; n++) {
      const t = targets[n];
      const o = n * V;
      if (t === ignoreIndex) {
        if (!accumulate) dlogits.fill(0, o, o + V);
        continue;
      }
      const g = dlosses[n];
      const l = lse[n];
      const u = ls / V;
      for (let v = 0; v < V; v++) {
        const p = Math.exp(logits[o + v] - l);
        dlogits[o + v] = (accumulate ? dlogits[o + v] : 0) + g * (p - u - (v === t ? 1 - ls : 0));
      }
    }
  },

  attentionForward,
  attentionBackward,
  rnnCellForward,
  rnnCellBackward,
  word2vecTrain,
  sparseAttentionForward,
  sparseAttentionBackward,
  headRowsScale,
  headRowsDot,
  lseMergeWeights,
  gatheredAttentionForward,
  gatheredAttentionBackward,
  lshBuckets,
  flashAttentionForward,
  flashAttentionBackward,

  stridedCopy(out, x, shape, strides, offset) {
    forEachStrided2(shape, strides, strides, (i, oa) => {
      out[i] = x[offset + oa];
    });
  },

  stridedAccumulate(x, g, shape, strides, offset) {
    forEachStrided2(shape, strides, strides, (i, oa) => {
      x[offset + oa] += g[i];
    });
  },

  dropoutMask(out, n, threshold, keep, key0, key1) {
    for (let i = 0; i < n; i++) {
      const u = fmix32(fmix32((i + key0) | 0) ^ key1) >>> 0;
      out[i] = u < threshold ? 0 : keep;
    }
  },

  adamwMulti(params, grads, m, v, lr, beta1, beta2, eps, weightDecay, step) {
    if (grads.length !== params.length || m.length !== params.length || v.length !== params.length)
      throw new RangeError('adamwMulti: grads, m and v must be arrays as long as params');
    for (let i = 0; i < params.length; i++) {
      const n = params[i].length;
      if (grads[i].length !== n || m[i].length !== n || v[i].length !== n)
        throw new RangeError(`adamwMulti: the buffers of tensor ${i} differ in length`);
      jsBackend.adamw(params[i], grads[i], m[i], v[i], n, lr, beta1, beta2, eps, weightDecay, step);
    }
  },

  adamw(param, grad, m, v, n, lr, beta1, beta2, eps, weightDecay, step) {
    const bc1 = 1 - Math.pow(beta1, step);
    const bc2 = 1 - Math.pow(beta2, step);
    const stepSize = lr / bc1;
    const bc2Sqrt = Math.sqrt(bc2);
    for (let i = 0; i < n; i++) {
      const g = grad[i];
      if (weightDecay !== 0) param[i] *= 1 - lr * weightDecay;
      m[i] = beta1 * m[i] + (1 - beta1) * g;
      v[i] = beta2 * v[i] + (1 - beta2) * g * g;
      const denom = Math.sqrt(v[i]) / bc2Sqrt + eps;
      param[i] -= (stepSize * m[i]) / denom;
    }
  },
};
