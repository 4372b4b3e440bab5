/**
 * The `js` backend's softmax row and fused attention kernels (the specification of their
 * numerics; see attentionForward in ./types.ts for the head layout). Split from ./js.ts.
 *
 * Shape letters: BH slices (batch x heads), H heads, T query length, S key length,
 * D head width.
 *
 * NaN propagates as in PyTorch: a row whose scores contain NaN gives NaN weights and
 * outputs, a row whose keys are all masked (-Infinity) gives weights 0 and out 0, and a
 * weight of 0 still multiplies its value row (0 * NaN = NaN), as the native GEMMs do.
 */
import { checkMaskSpan, zeroGradients } from './js-flash.js';
import type { F32, Kernels } from './types.js';

/**
 * Softmax of x[o .. o+cols) into out (out may be x), max subtracted. A row of only
 * -Infinity gives zeros (a fully masked row); a row holding a NaN gives NaN everywhere.
 * @returns the row's log-sum-exp (-Infinity for a fully masked row, NaN with a NaN).
 */
export function softmaxRow(out: F32, x: F32, o: number, cols: number): number {
  let mx = -Infinity;
  for (let j = 0; j < cols; j++) if (x[o + j] > mx) mx = x[o + j];
  if (mx === -Infinity) {
    // Every entry is -Infinity or NaN (NaN fails the > above): masked unless a NaN is there.
    let fill = 0;
    for (let j = 0; j < cols; j++) if (Number.isNaN(x[o + j])) fill = NaN;
    for (let j = 0; j < cols; j++) out[o + j] = fill;
    return fill === 0 ? -Infinity : NaN;
  }
  let s = 0;
  for (let j = 0; j < cols; j++) {
    const e = Math.exp(x[o + j] - mx);
    out[o + j] = e;
    s += e;
  }
  const inv = 1 / s;
  for (let j = 0; j < cols; j++) out[o + j] *= inv;
  return mx + Math.log(s);
}

/** Fused scaled dot-product attention forward (Eq. 1, Sec. 3.2.1); see Kernels. */
export const attentionForward: Kernels['attentionForward'] = (
  out,
  weights,
  q,
  k,
  v,
  mask,
  dropMask,
  g,
) => {
  checkMaskSpan(mask, g);
  const { BH, T, S, D, H, ldq, ldk, ldv, ldo, kvRows, scale } = g;
  const causal = g.causal ?? false;
  const msB = g.maskStrideB ?? 0;
  const msT = g.maskStrideT ?? 0;
  const mOff = g.maskOffset ?? 0;
  const offset = S - T;
  const row = new Float32Array(S);
  for (let b = 0; b < BH; b++) {
    // Head layout: slice b = n*H + h is rows of n at columns h*D.
    const n = Math.floor(b / H);
    const hd = (b % H) * D;
    for (let t = 0; t < T; t++) {
      const qo = (n * T + t) * ldq + hd;
      for (let s = 0; s < S; s++) {
        if (causal && s > t + offset) {
          row[s] = -Infinity;
          continue;
        }
        const ko = (n * kvRows + s) * ldk + hd;
        let dot = 0;
        for (let d = 0; d < D; d++) dot += q[qo + d] * k[ko + d];
        row[s] = dot * scale + (mask ? mask[mOff + b * msB + t * msT + s] : 0);
      }
      const wo = (b * T + t) * S;
      softmaxRow(row, row, 0, S);
      weights.set(row, wo);
      const oo = (n * T + t) * ldo + hd;
      for (let d = 0; d < D; d++) out[oo + d] = 0;
      for (let s = 0; s < S; s++) {
        // No skip of w = 0: a masked key's value still counts as 0 * v (NaN stays NaN).
        const w = dropMask ? row[s] * dropMask[wo + s] : row[s];
        const vo = (n * kvRows + s) * ldv + hd;
        for (let d = 0; d < D; d++) out[oo + d] += w * v[vo + d];
      }
    }
  }
};

/** Fused attention backward (accumulates dq, dk, dv unless accumulate is false); see Kernels. */
export const attentionBackward: Kernels['attentionBackward'] = (
  dq,
  dk,
  dv,
  dout,
  q,
  k,
  v,
  weights,
  dropMask,
  g,
  accumulate = true,
) => {
  const { BH, T, S, D, H, ldq, ldk, ldv, ldo, kvRows, scale } = g;
  const dp = new Float64Array(S);
  // Overwrite: zero every slice's elements first (the loops below accumulate).
  if (!accumulate) zeroGradients(dq, dk, dv, g);
  for (let b = 0; b < BH; b++) {
    const n = Math.floor(b / H);
    const hd = (b % H) * D;
    for (let t = 0; t < T; t++) {
      const oo = (n * T + t) * ldo + hd;
      const wo = (b * T + t) * S;
      // dP_drop[s] = dout . v[s]; dv[s] += P_drop[s] * dout
      for (let s = 0; s < S; s++) {
        const vo = (n * kvRows + s) * ldv + hd;
        let dot = 0;
        for (let d = 0; d < D; d++) dot += dout[oo + d] * v[vo + d];
        const dm = dropMask ? dropMask[wo + s] : 1;
        const pd = weights[wo + s] * dm;
        for (let d = 0; d < D; d++) dv[vo + d] += pd * dout[oo + d];
        dp[s] = dot * dm;
      }
      // softmax backward: dS = P * (dP - sum(dP * P)), 0 where P = 0 (masked keys)
      let sum = 0;
      for (let s = 0; s < S; s++) sum += dp[s] * weights[wo + s];
      const qo = (n * T + t) * ldq + hd;
      for (let s = 0; s < S; s++) {
        const p = weights[wo + s];
        const ds = p === 0 ? 0 : p * (dp[s] - sum) * scale;
        const ko = (n * kvRows + s) * ldk + hd;
        for (let d = 0; d < D; d++) {
          dq[qo + d] += ds * k[ko + d];
          dk[ko + d] += ds * q[qo + d];
        }
      }
    }
  }
};
