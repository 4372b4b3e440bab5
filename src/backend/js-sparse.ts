/**
 * The `js` backend's sparse attention kernels over a CSR pattern: the specification of
 * their numerics (see sparseAttentionForward in ./types.ts for the contract). The
 * position-based sparse attention of the survey (Lin et al. 2021, Sec. 4.1.1, Figs. 4-6)
 * computed sparsely, as the Sparse Transformer's kernels do (Child et al. 2019, Sec. 5.5):
 * only the scores of the pattern's (query, key) pairs exist, never a (T, S) matrix.
 *
 * Shape letters: BH slices (batch x heads), H heads, T query rows, S keys, D head width,
 * nnz the pattern's entries (rowPtr[T]); entry e of row t is key cols[e].
 *
 * Head layout as attentionForward: slice b = n*H + h reads q[(n*T + t)*ldq + h*D + d],
 * k[(n*kvRows + s)*ldk + h*D + d], v likewise with ldv, and writes out with ldo.
 */
import { softmaxRow } from './js-attention.js';
import type { Kernels } from './types.js';

/** Sparse attention forward: softmax over each row's pattern entries; see Kernels. */
export const sparseAttentionForward: Kernels['sparseAttentionForward'] = (
  out,
  weights,
  q,
  k,
  v,
  rowPtr,
  cols,
  bias,
  dropMask,
  g,
  lse = null,
) => {
  const { BH, T, D, H, ldq, ldk, ldv, ldo, kvRows, scale } = g;
  const msB = g.maskStrideB ?? 0;
  if (lse && lse.length < BH * T)
    throw new RangeError(`lse has ${lse.length} elements, the sizes need ${BH * T}`);
  const nnz = rowPtr[T];
  for (let b = 0; b < BH; b++) {
    const n = Math.floor(b / H);
    const hd = (b % H) * D;
    const wb = b * nnz; // this slice's weights
    for (let t = 0; t < T; t++) {
      const e0 = rowPtr[t];
      const e1 = rowPtr[t + 1];
      const qo = (n * T + t) * ldq + hd;
      for (let e = e0; e < e1; e++) {
        const s = cols[e];
        const ko = (n * kvRows + s) * ldk + hd;
        let dot = 0;
        for (let d = 0; d < D; d++) dot += q[qo + d] * k[ko + d];
        weights[wb + e] = dot * scale + (bias ? bias[b * msB + s] : 0);
      }
      const l = softmaxRow(weights, weights, wb + e0, e1 - e0);
      if (lse) lse[b * T + t] = e1 > e0 ? l : -Infinity;
      const oo = (n * T + t) * ldo + hd;
      for (let d = 0; d < D; d++) out[oo + d] = 0;
      for (let e = e0; e < e1; e++) {
        // No skip of w = 0: a masked key's value still counts as 0 * v (NaN stays NaN).
        const w = dropMask ? weights[wb + e] * dropMask[wb + e] : weights[wb + e];
        const vo = (n * kvRows + cols[e]) * ldv + hd;
        for (let d = 0; d < D; d++) out[oo + d] += w * v[vo + d];
      }
    }
  }
};

/** Sparse attention backward (accumulates dq, dk, dv); see Kernels. */
export const sparseAttentionBackward: Kernels['sparseAttentionBackward'] = (
  dq,
  dk,
  dv,
  dout,
  q,
  k,
  v,
  rowPtr,
  cols,
  weights,
  dropMask,
  g,
  delta = null,
) => {
  const { BH, T, D, H, ldq, ldk, ldv, ldo, kvRows, scale } = g;
  const nnz = rowPtr[T];
  if (delta && delta.length < BH * T)
    throw new RangeError(`delta has ${delta.length} elements, the sizes need ${BH * T}`);
  let width = 0;
  for (let t = 0; t < T; t++) width = Math.max(width, rowPtr[t + 1] - rowPtr[t]);
  const dp = new Float64Array(width);
  for (let b = 0; b < BH; b++) {
    const n = Math.floor(b / H);
    const hd = (b % H) * D;
    const wb = b * nnz;
    for (let t = 0; t < T; t++) {
      const e0 = rowPtr[t];
      const e1 = rowPtr[t + 1];
      const oo = (n * T + t) * ldo + hd;
      // dP_drop[e] = dout . v[s]; dv[s] += P_drop[e] * dout
      for (let e = e0; e < e1; e++) {
        const vo = (n * kvRows + cols[e]) * ldv + hd;
        let dot = 0;
        for (let d = 0; d < D; d++) dot += dout[oo + d] * v[vo + d];
        const dm = dropMask ? dropMask[wb + e] : 1;
        const pd = weights[wb + e] * dm;
        for (let d = 0; d < D; d++) dv[vo + d] += pd * dout[oo + d];
        dp[e - e0] = dot * dm;
      }
      // softmax backward over the row's entries: dS = P * (dP - sum(dP * P)), 0 where P = 0
      // (the caller's Delta in place of the sum when given)
      let sum = 0;
      if (delta) sum = delta[b * T + t];
      else for (let e = e0; e < e1; e++) sum += dp[e - e0] * weights[wb + e];
      const qo = (n * T + t) * ldq + hd;
      for (let e = e0; e < e1; e++) {
        const p = weights[wb + e];
        const ds = p === 0 ? 0 : p * (dp[e - e0] - sum) * scale;
        const ko = (n * kvRows + cols[e]) * ldk + hd;
        for (let d = 0; d < D; d++) {
          dq[qo + d] += ds * k[ko + d];
          dk[ko + d] += ds * q[qo + d];
        }
      }
    }
  }
};

/** Per-head scaled row gather (F.sparseMultiHeadAttentionParts' merge); see Kernels. */
export const headRowsScale: Kernels['headRowsScale'] = (
  out,
  x,
  rows,
  alpha,
  accumulate,
  B,
  L,
  H,
  D,
) => {
  const C = H * D;
  for (let n = 0; n < B; n++)
    for (let i = 0; i < L; i++) {
      const [s, o] = [(n * L + rows[i]) * C, (n * L + i) * C];
      for (let h = 0; h < H; h++) {
        const a = alpha[(n * H + h) * L + i];
        for (let d = h * D; d < (h + 1) * D; d++)
          out[o + d] = (accumulate ? out[o + d] : 0) + a * x[s + d];
      }
    }
};

/** Per-head row dot products (an attention backward's Delta); see Kernels. */
export const headRowsDot: Kernels['headRowsDot'] = (out, x, y, B, L, H, D) => {
  const C = H * D;
  for (let n = 0; n < B; n++)
    for (let t = 0; t < L; t++)
      for (let h = 0; h < H; h++) {
        const o = (n * L + t) * C + h * D;
        let s = 0;
        for (let d = 0; d < D; d++) s += x[o + d] * y[o + d];
        out[(n * H + h) * L + t] = s;
      }
};

/** The merge weights of P partial softmaxes by their log-sum-exps; see Kernels. */
export const lseMergeWeights: Kernels['lseMergeWeights'] = (alpha, lse, signs, P, N) => {
  for (let x = 0; x < N; x++) {
    let m = -Infinity;
    for (let p = 0; p < P; p++) {
      const l = lse[p * N + x];
      if (l > m || l !== l) m = l;
    }
    let sum = 0;
    for (let p = 0; p < P; p++) {
      const e = signs[p] * Math.exp(lse[p * N + x] - m);
      alpha[p * N + x] = e;
      sum += e;
    }
    // Every part's keys forbidden (m -Infinity), or nothing left: 0. A NaN makes sum NaN.
    const inv = m === -Infinity || sum <= 0 ? 0 : 1 / sum;
    for (let p = 0; p < P; p++) alpha[p * N + x] = inv === 0 ? 0 : alpha[p * N + x] * inv;
  }
};
