/**
 * Tiled full attention as an op: the attention of the fused `attention` op (Vaswani et al.
 * 2017, Eq. 1) computed by the FlashAttention kernels (Dao et al. 2022, Algorithms 1-2;
 * backend flashAttentionForward / flashAttentionBackward), which keep no (T, S) buffer:
 * the forward saves out and the per-row logsumexp (BH, T) and the backward recomputes the
 * weights tile by tile, so memory is linear in T. The attention ops (functional.ts) pick
 * it for large score matrices (see useTiledAttention); the result equals the fused op's,
 * dropout included (the same counter-based mask, regenerated in the kernel).
 *
 * Shape letters: B batch, H heads, T query length, S key length, D head width,
 * BH slices (batch x heads).
 */
import { record } from '../autograd.js';
import { backend } from '../backend/index.js';
import type { AttentionDropout, AttentionGeometry } from '../backend/types.js';
import type { Generator } from '../random.js';
import { empty, uninitF32, type Tensor } from '../tensor.js';

/**
 * Score entries per slice (T * S) from which the attention ops use the tiled kernel when
 * not told: 2^18 (a 1 MB score matrix per head, T = S = 512). Measured on the shared 2-core
 * machine (native, forward + backward, B 1, H 4, D 32, median ms, fused / tiled): T 512
 * 66 / 27, T 1024 118 / 97, T 2048 1351 / 471 (causal 1489 / 290); the case-1 shape (B 12,
 * H 4, T 64, causal) 1.64 / 1.66 and T 256 56-61 / 60-76, so small scores stay fused.
 */
export const TILED_MIN_SCORES = 1 << 18;

/**
 * Whether an attention call of T queries and S keys runs tiled: `tiled` when given, else
 * when T * S >= TILED_MIN_SCORES. Never when the weights are asked for (they are dense).
 */
export function useTiledAttention(
  tiled: boolean | undefined,
  T: number,
  S: number,
  needWeights: boolean,
): boolean {
  if (needWeights) return false;
  return tiled ?? T * S >= TILED_MIN_SCORES;
}

/**
 * The counter-based dropout of probability p (inverted dropout, Srivastava et al. 2014,
 * Sec. 5.4): two uint32 draws of `gen` as keys, threshold p * 2^32, keep 1/(1-p) rounded to
 * float32. dropoutMask draws its mask from these; the tiled kernels regenerate it.
 * @param p in (0, 1).
 */
export function dropoutKeys(p: number, gen: Generator): AttentionDropout {
  const key0 = gen.nextUint32();
  const key1 = gen.nextUint32();
  return { threshold: p * 4294967296, keep: Math.fround(1 / (1 - p)), key0, key1 };
}

/** Where the heads of q, k, v live: the geometry plus their element offsets. */
export type TiledGeometry = AttentionGeometry & { qOff: number; kOff: number; vOff: number };

/**
 * Tiled attention forward, recorded for autograd ('tiledAttention').
 * @param q, k, v the op's inputs, read in the head layout of `geom` from their offsets.
 * @param mask additive float mask read at mask[maskOffset + b*maskStrideB + t*maskStrideT + s],
 *   or null.
 * @param dropout the keys of the dropout mask (dropoutKeys), or null.
 * @param outShape shape of out (BH/H * T * H * D elements, written whole).
 * @param table a learned relative bias's diagonals (T + S - 1, H) whose values `mask` holds
 *   in the relative layout (RelativeBias): an input of the op, with its gradient.
 * @param kvLen keys per batch block, or null (flashAttentionForward's kvLen).
 * @returns out.
 */
export function tiledAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  geom: TiledGeometry,
  mask: Float32Array | null,
  dropout: AttentionDropout | null,
  outShape: number[],
  table: Tensor | null = null,
  kvLen: Int32Array | null = null,
): Tensor {
  const out = empty(outShape); // the kernel writes every element
  const lse = uninitF32(geom.BH * geom.T);
  const attrs = { ...geom, lse, mask, dropout, kvLen };
  backend().flashAttentionForward(
    out.f32,
    lse,
    q.f32.subarray(geom.qOff),
    k.f32.subarray(geom.kOff),
    v.f32.subarray(geom.vOff),
    mask,
    dropout,
    attrs,
    kvLen,
  );
  return record('tiledAttention', table ? [q, k, v, table] : [q, k, v], out, attrs);
}
