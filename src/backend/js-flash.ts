/**
 * The `js` backend's tiled (FlashAttention) attention kernels: the specification of
 * flashAttentionForward / flashAttentionBackward (see ./types.ts), which compute the
 * attention of attentionForward in memory linear in T. Dao et al. 2022, "FlashAttention:
 * Fast and Memory-Efficient Exact Attention with IO-Awareness", Algorithm 1 (forward with
 * a running max and sum: the online softmax of Milakov & Gimelshein 2018) and Algorithm 2
 * (backward recomputing the weights from the saved logsumexp), with FlashAttention-2's
 * Delta = rowsum(dout * out) (Dao 2023, Sec. 3.1). The js kernel runs one query row at a
 * time over key blocks of FLASH_BLOCK_KEYS; the native kernel tiles queries too.
 *
 * Shape letters: BH slices (batch x heads), H heads, T query length, S key length,
 * D head width. Head layout as attentionForward.
 */
import type { AttentionDropout, AttentionGeometry, F32, Kernels } from './types.js';

/** Keys per block of the js kernel's online softmax. */
export const FLASH_BLOCK_KEYS = 256;

/** MurmurHash3's 32-bit finalizer (a bijection with full avalanche), as int32. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** Element i of the dropout mask of `d` (1 without dropout); see the backend's dropoutMask. */
function dropAt(d: Readonly<AttentionDropout> | null, i: number): number {
  if (!d) return 1;
  const u = fmix32(fmix32((i + d.key0) | 0) ^ d.key1) >>> 0;
  return u < d.threshold ? 0 : d.keep;
}

/** kvLen (or null): one key count in [0, S] per batch block, as the addon checks it. */
function checkKvLen(kvLen: Int32Array | null, g: Readonly<AttentionGeometry>): void {
  if (!kvLen) return;
  const blocks = g.H > 0 ? Math.floor(g.BH / g.H) : 0;
  if (kvLen.length < blocks)
    throw new RangeError(`kvLen has ${kvLen.length} elements, the sizes need ${blocks}`);
  for (let i = 0; i < blocks; i++)
    if (!(kvLen[i] >= 0 && kvLen[i] <= g.S)) throw new RangeError('kvLen must be in [0, S]');
}

/** Keys [0, L) that query row t may see: all S, or the causal prefix t + (S - T) + 1. */
function visibleKeys(g: Readonly<AttentionGeometry>, t: number): number {
  if (!g.causal) return g.S;
  return Math.min(g.S, Math.max(0, t + g.S - g.T + 1));
}

/**
 * The scaled, masked scores of query row t of slice b against keys [s0, s1) into
 * row[0 .. s1 - s0). qo, ko0: element offsets of the row's q and of key 0 of the slice.
 */
function scoreBlock(
  row: Float64Array,
  q: F32,
  k: F32,
  mask: F32 | null,
  g: Readonly<AttentionGeometry>,
  b: number,
  t: number,
  qo: number,
  ko0: number,
  s0: number,
  s1: number,
): void {
  const { D, ldk, scale } = g;
  const mo = (g.maskOffset ?? 0) + b * (g.maskStrideB ?? 0) + t * (g.maskStrideT ?? 0);
  for (let s = s0; s < s1; s++) {
    const ko = ko0 + s * ldk;
    let dot = 0;
    for (let d = 0; d < D; d++) dot += q[qo + d] * k[ko + d];
    row[s - s0] = Math.fround(dot * scale) + (mask ? mask[mo + s] : 0);
  }
}

/** Offsets of slice b's heads: q/out row 0 and k/v row 0 (see the head layout). */
function sliceOffsets(g: Readonly<AttentionGeometry>, b: number): { n: number; hd: number } {
  return { n: Math.floor(b / g.H), hd: (b % g.H) * g.D };
}

/** Tiled attention forward (online softmax over key blocks); see Kernels. */
/**
 * Check that an attention mask covers every element the kernels read,
 * mask[maskOffset + b*maskStrideB + t*maskStrideT + s] (maskStrideT may be negative), as
 * the addon's need_mask does.
 * @throws RangeError naming the mask otherwise.
 */
export function checkMaskSpan(mask: F32 | null, g: Readonly<AttentionGeometry>): void {
  if (!mask || g.BH * g.T * g.S === 0) return;
  const dT = (g.T - 1) * (g.maskStrideT ?? 0);
  const off = g.maskOffset ?? 0;
  if (off + Math.min(dT, 0) < 0)
    throw new RangeError('mask: maskOffset + (T - 1) * maskStrideT must be >= 0');
  const hi = off + (g.BH - 1) * (g.maskStrideB ?? 0) + Math.max(dT, 0) + g.S;
  if (mask.length < hi) throw new RangeError(`mask has ${mask.length} elements, needs ${hi}`);
}

export const flashAttentionForward: Kernels['flashAttentionForward'] = (
  out,
  lse,
  q,
  k,
  v,
  mask,
  dropout,
  g,
  kvLen = null,
) => {
  checkMaskSpan(mask, g);
  checkKvLen(kvLen, g);
  const { BH, T, S, D, ldq, ldk, ldv, ldo, kvRows } = g;
  const row = new Float64Array(FLASH_BLOCK_KEYS);
  const acc = new Float64Array(D);
  for (let b = 0; b < BH; b++) {
    const { n, hd } = sliceOffsets(g, b);
    for (let t = 0; t < T; t++) {
      const qo = (n * T + t) * ldq + hd;
      const L = Math.min(visibleKeys(g, t), kvLen ? kvLen[n] : S);
      let m = -Infinity; // running max of the scores seen
      let l = 0; // running sum of exp(score - m)
      acc.fill(0);
      for (let s0 = 0; s0 < L; s0 += FLASH_BLOCK_KEYS) {
        const s1 = Math.min(L, s0 + FLASH_BLOCK_KEYS);
        scoreBlock(row, q, k, mask, g, b, t, qo, n * kvRows * ldk + hd, s0, s1);
        let mb = m;
        for (let j = 0; j < s1 - s0; j++) if (row[j] > mb) mb = row[j];
        if (mb === -Infinity) continue; // every key so far masked
        const corr = Math.exp(m - mb); // 0 when m = -Infinity
        l *= corr;
        for (let d = 0; d < D; d++) acc[d] *= corr;
        for (let s = s0; s < s1; s++) {
          const p = Math.exp(row[s - s0] - mb);
          l += p;
          const w = p * dropAt(dropout, (b * T + t) * S + s);
          const vo = (n * kvRows + s) * ldv + hd;
          for (let d = 0; d < D; d++) acc[d] += w * v[vo + d];
        }
        m = mb;
      }
      const oo = (n * T + t) * ldo + hd;
      // A row without a visible key (l = 0) gives out 0 and lse -Infinity.
      for (let d = 0; d < D; d++) out[oo + d] = l > 0 || Number.isNaN(l) ? acc[d] / l : 0;
      lse[b * T + t] = l > 0 || Number.isNaN(l) ? m + Math.log(l) : -Infinity;
    }
  }
};

/** Tiled attention backward (weights recomputed from lse); see Kernels. */
export const flashAttentionBackward: Kernels['flashAttentionBackward'] = (
  dq,
  dk,
  dv,
  dout,
  q,
  k,
  v,
  out,
  lse,
  mask,
  dropout,
  g,
  accumulate = true,
  dmask = null,
  kvLen = null,
) => {
  checkMaskSpan(mask, g);
  checkKvLen(kvLen, g);
  const { BH, T, S, D, ldq, ldk, ldv, ldo, kvRows, scale } = g;
  if (dmask) {
    if (!mask || g.maskStrideT !== -1 || (g.maskOffset ?? 0) !== T - 1 || BH * T * S === 0)
      throw new RangeError(
        "dmask: only a relative bias's gradient (maskStrideT -1, maskOffset T - 1)",
      );
    if (dmask.length < mask.length)
      throw new RangeError(`dmask has ${dmask.length} elements, the sizes need ${mask.length}`);
  }
  if (!accumulate) zeroGradients(dq, dk, dv, g);
  const row = new Float64Array(FLASH_BLOCK_KEYS);
  for (let b = 0; b < BH; b++) {
    const { n, hd } = sliceOffsets(g, b);
    for (let t = 0; t < T; t++) {
      const rowLse = lse[b * T + t];
      if (rowLse === -Infinity) continue; // every weight 0: no gradient
      const qo = (n * T + t) * ldq + hd;
      const oo = (n * T + t) * ldo + hd;
      let delta = 0; // rowsum(dout * out) = sum_s P_drop[s] dP_drop[s]
      for (let d = 0; d < D; d++) delta += dout[oo + d] * out[oo + d];
      const L = Math.min(visibleKeys(g, t), kvLen ? kvLen[n] : S);
      for (let s0 = 0; s0 < L; s0 += FLASH_BLOCK_KEYS) {
        const s1 = Math.min(L, s0 + FLASH_BLOCK_KEYS);
        scoreBlock(row, q, k, mask, g, b, t, qo, n * kvRows * ldk + hd, s0, s1);
        for (let s = s0; s < s1; s++) {
          const p = Math.exp(row[s - s0] - rowLse);
          const dm = dropAt(dropout, (b * T + t) * S + s);
          const vo = (n * kvRows + s) * ldv + hd;
          const ko = (n * kvRows + s) * ldk + hd;
          let dp = 0;
          for (let d = 0; d < D; d++) {
            dp += dout[oo + d] * v[vo + d];
            dv[vo + d] += p * dm * dout[oo + d];
          }
          const raw = p === 0 ? 0 : p * (dp * dm - delta); // the mask's gradient
          if (dmask) dmask[T - 1 + b * (g.maskStrideB ?? 0) - t + s] += raw;
          const ds = raw * scale;
          for (let d = 0; d < D; d++) {
            dq[qo + d] += ds * k[ko + d];
            dk[ko + d] += ds * q[qo + d];
          }
        }
      }
    }
  }
};

/** Zeroes every slice's elements of dq (T rows), dk and dv (S rows) in the head layout. */
export function zeroGradients(dq: F32, dk: F32, dv: F32, g: Readonly<AttentionGeometry>): void {
  const { BH, T, S, D, ldq, ldk, ldv, kvRows } = g;
  for (let b = 0; b < BH; b++) {
    const { n, hd } = sliceOffsets(g, b);
    for (let t = 0; t < T; t++) dq.fill(0, (n * T + t) * ldq + hd, (n * T + t) * ldq + hd + D);
    for (let s = 0; s < S; s++) {
      dk.fill(0, (n * kvRows + s) * ldk + hd, (n * kvRows + s) * ldk + hd + D);
      dv.fill(0, (n * kvRows + s) * ldv + hd, (n * kvRows + s) * ldv + hd + D);
    }
  }
}
