/**
 * The `js` backend's gathered-attention kernels: the specification of their numerics (see
 * gatheredAttentionForward in ./types-attention.ts for the contract). The content-based
 * sparse attention of the survey (Lin et al. 2021, Sec. 4.1.2): Reformer's LSH attention
 * (Kitaev et al. 2020, Sec. 2, Fig. 2: sorted buckets cut into chunks, multi-round hashing)
 * and the Routing Transformer (Roy et al. 2021, Sec. 4) attend within groups of query and
 * key rows a content-based plan chose. This computes each group's scores from the rows
 * themselves (no gathered copies, no score or mask tensors) and combines each query's
 * slots: by their mean, or as one softmax over the union of the slots' keys (a slot
 * weighted by exp(its log-sum-exp - the query's), the combination of LSH's rounds).
 *
 * The backward recomputes a slot's weights from the saved log-sum-exp, as FlashAttention's
 * backward does (Dao et al. 2022, Algorithm 2; FlashAttention-2's Delta, Dao 2023):
 *   'lse': P_j = exp(s_j - L_t), dO = dout_t, Delta = dout_t . out_t (the union's softmax);
 *   mean: P_j = exp(s_j - lse_slot), dO = dout_t / n_t, Delta = dO . slotOut (n_t slots);
 *   then dv_s += P_j drop_j dO, dS_j = P_j (drop_j dO . v_s - Delta), dq += scale dS_j k_s,
 *   dk_s += scale dS_j q (dS = 0 at a self entry, whose score is a constant).
 *
 * Shape letters: BH slices (batch x heads), G groups per slice, Q query slots and K key
 * slots per group, T queries, M slots per query, Lq query rows, Lk key rows, D head width.
 */
import { GATHERED_SELF_SCORE, type GatheredGeometry } from './types-attention.js';
import type { Kernels } from './types.js';

/**
 * The K scores of query slot qs of slice b into s (see the contract); -Infinity where a key
 * may not be attended. Marks self entries in `self` (1) when given.
 */
function slotScores(
  s: Float64Array,
  self: Uint8Array | null,
  qs: number,
  b: number,
  gg: number,
  q: Float32Array,
  k: Float32Array,
  qRow: Int32Array,
  kRow: Int32Array,
  bias: Float32Array | null,
  g: Readonly<GatheredGeometry>,
): void {
  const { K, Lq, Lk, D, scale, causal, qStart, flagSelf } = g;
  const t = qRow[qs];
  const p = qStart + t;
  const qo = (b * Lq + t) * D;
  for (let j = 0; j < K; j++) {
    const r = kRow[gg * K + j];
    if (self) self[j] = 0;
    if (r < 0 || (causal && r > p)) {
      s[j] = -Infinity;
      continue;
    }
    const bj = bias ? bias[b * Lk + r] : 0;
    if (flagSelf && r === p) {
      // In float, as the slot's saved log-sum-exp (a Float32Array) keeps it: a self-only
      // slot's lse is then exactly its score, and the backward's exp(s - L) exactly 1.
      s[j] = Math.fround(GATHERED_SELF_SCORE + bj);
      if (self) self[j] = 1;
      continue;
    }
    const ko = (b * Lk + r) * D;
    let dot = 0;
    for (let d = 0; d < D; d++) dot += q[qo + d] * k[ko + d];
    s[j] = dot * scale + bj;
  }
}

/** Gathered attention forward; see Kernels. */
export const gatheredAttentionForward: Kernels['gatheredAttentionForward'] = (
  out,
  slotOut,
  slotLse,
  rowLse,
  q,
  k,
  v,
  qRow,
  kRow,
  slot,
  bias,
  dropMask,
  g,
) => {
  const { BH, G, Q, K, T, M, Lk, D, mean } = g;
  const s = new Float64Array(K);
  for (let b = 0; b < BH; b++)
    for (let gi = 0; gi < G; gi++) {
      const gg = b * G + gi;
      for (let i = 0; i < Q; i++) {
        const qs = gg * Q + i;
        const o = qs * D;
        for (let d = 0; d < D; d++) slotOut[o + d] = 0;
        slotLse[qs] = -Infinity;
        if (qRow[qs] < 0) continue;
        slotScores(s, null, qs, b, gg, q, k, qRow, kRow, bias, g);
        if (s.some((x) => Number.isNaN(x))) {
          // NaN weights and output, as the fused attention's
          for (let d = 0; d < D; d++) slotOut[o + d] = NaN;
          slotLse[qs] = NaN;
          continue;
        }
        let mx = -Infinity;
        for (let j = 0; j < K; j++) if (s[j] > mx) mx = s[j];
        if (mx === -Infinity) continue;
        let sum = 0;
        for (let j = 0; j < K; j++) {
          s[j] = Math.exp(s[j] - mx);
          sum += s[j];
        }
        slotLse[qs] = mx + Math.log(sum);
        for (let j = 0; j < K; j++) {
          const r = kRow[gg * K + j];
          if (r < 0) continue; // (a weight of 0 still multiplies its value row: 0 * Inf = NaN)
          const w = (s[j] / sum) * (dropMask ? dropMask[qs * K + j] : 1);
          const vo = (b * Lk + r) * D;
          for (let d = 0; d < D; d++) slotOut[o + d] += w * v[vo + d];
        }
      }
    }
  for (let b = 0; b < BH; b++)
    for (let t = 0; t < T; t++) {
      const row = b * T + t;
      const o = row * D;
      for (let d = 0; d < D; d++) out[o + d] = 0;
      let L = -Infinity;
      let n = 0;
      let nan = false;
      for (let m = 0; m < M; m++) {
        const sl = slot[row * M + m];
        if (sl < 0) continue;
        n++;
        const l = slotLse[b * G * Q + sl];
        nan ||= Number.isNaN(l);
        if (l > L) L = l;
      }
      if (nan && !mean) {
        // a NaN slot: NaN weights for every slot, as one softmax's
        for (let d = 0; d < D; d++) out[o + d] = NaN;
        rowLse[row] = NaN;
        continue;
      }
      if (mean) {
        rowLse[row] = 0; // not used by the mean
        for (let m = 0; m < M; m++) {
          const sl = slot[row * M + m];
          if (sl < 0) continue;
          const so = (b * G * Q + sl) * D;
          for (let d = 0; d < D; d++) out[o + d] += slotOut[so + d] / n;
        }
        continue;
      }
      if (L === -Infinity) {
        rowLse[row] = -Infinity;
        continue;
      }
      let sum = 0;
      for (let m = 0; m < M; m++) {
        const sl = slot[row * M + m];
        if (sl >= 0) sum += Math.exp(slotLse[b * G * Q + sl] - L);
      }
      L += Math.log(sum);
      rowLse[row] = L;
      for (let m = 0; m < M; m++) {
        const sl = slot[row * M + m];
        if (sl < 0) continue;
        const c = Math.exp(slotLse[b * G * Q + sl] - L);
        const so = (b * G * Q + sl) * D;
        for (let d = 0; d < D; d++) out[o + d] += c * slotOut[so + d];
      }
    }
};

/** Gathered attention backward (accumulates); see Kernels and the file's comment. */
export const gatheredAttentionBackward: Kernels['gatheredAttentionBackward'] = (
  dq,
  dk,
  dv,
  dout,
  out,
  slotOut,
  slotLse,
  q,
  k,
  v,
  qRow,
  kRow,
  slot,
  bias,
  dropMask,
  g,
) => {
  const { BH, G, Q, K, T, M, Lq, Lk, D, scale, mean } = g;
  const NQ = BH * G * Q;
  // Per query slot: its dO (D), Delta and the log-normalizer of its weights (NaN: unused).
  const dO = new Float64Array(NQ * D);
  const delta = new Float64Array(NQ);
  const norm = new Float64Array(NQ).fill(NaN);
  for (let b = 0; b < BH; b++)
    for (let t = 0; t < T; t++) {
      const row = b * T + t;
      let dot = 0;
      if (!mean) for (let d = 0; d < D; d++) dot += dout[row * D + d] * out[row * D + d];
      let n = 0;
      let Lmax = -Infinity;
      for (let m = 0; m < M; m++) {
        const sl = slot[row * M + m];
        if (sl < 0) continue;
        n++;
        Lmax = Math.max(Lmax, slotLse[b * G * Q + sl]);
      }
      let lsum = 0;
      for (let m = 0; m < M; m++) {
        const sl = slot[row * M + m];
        if (sl >= 0 && Lmax > -Infinity) lsum += Math.exp(slotLse[b * G * Q + sl] - Lmax);
      }
      const L = Lmax + Math.log(lsum); // the union's log-normalizer ('lse')
      for (let m = 0; m < M; m++) {
        const sl = slot[row * M + m];
        if (sl < 0) continue;
        const qs = b * G * Q + sl;
        const c = mean ? 1 / n : 1;
        let dd = 0;
        for (let d = 0; d < D; d++) {
          dO[qs * D + d] = dout[row * D + d] * c;
          dd += dO[qs * D + d] * slotOut[qs * D + d];
        }
        delta[qs] = mean ? dd : dot;
        norm[qs] = mean ? slotLse[qs] : L;
      }
    }
  const s = new Float64Array(K);
  const self = new Uint8Array(K);
  for (let b = 0; b < BH; b++)
    for (let gi = 0; gi < G; gi++) {
      const gg = b * G + gi;
      for (let i = 0; i < Q; i++) {
        const qs = gg * Q + i;
        const t = qRow[qs];
        const L = norm[qs];
        if (t < 0 || L === -Infinity) continue; // empty, unused or fully masked (NaN goes on)
        slotScores(s, self, qs, b, gg, q, k, qRow, kRow, bias, g);
        const qo = (b * Lq + t) * D;
        for (let j = 0; j < K; j++) {
          if (s[j] === -Infinity) continue;
          const r = kRow[gg * K + j];
          const P = Math.exp(s[j] - L);
          const drop = dropMask ? dropMask[qs * K + j] : 1;
          const ko = (b * Lk + r) * D;
          let dp = 0;
          for (let d = 0; d < D; d++) {
            dp += dO[qs * D + d] * v[ko + d];
            dv[ko + d] += P * drop * dO[qs * D + d];
          }
          if (self[j]) continue;
          const ds = P * (drop * dp - delta[qs]) * scale;
          for (let d = 0; d < D; d++) {
            dq[qo + d] += ds * k[ko + d];
            dk[ko + d] += ds * q[qo + d];
          }
        }
      }
    }
};

/** Reformer's LSH buckets, argmax over [p; -p] per row and round; see Kernels. */
export const lshBuckets: Kernels['lshBuckets'] = (out, proj, BH, L, R, half) => {
  for (let bh = 0; bh < BH; bh++)
    for (let l = 0; l < L; l++)
      for (let r = 0; r < R; r++) {
        const p = ((bh * L + l) * R + r) * half;
        let hi = 0;
        let lo = 0;
        for (let j = 1; j < half; j++) {
          if (proj[p + j] > proj[p + hi]) hi = j;
          if (proj[p + j] < proj[p + lo]) lo = j;
        }
        out[(bh * R + r) * L + l] = proj[p + hi] >= -proj[p + lo] ? hi : half + lo;
      }
};
