/**
 * Sparse attention over a pattern given as disjoint parts, each computed in its own order of
 * the positions, and merged into one softmax by the parts' log-sum-exps (the merge of
 * FlashAttention's split-KV decoding and of blockwise attention; Dao et al. 2022,
 * Milakov & Gimelshein 2018's online softmax). A pattern whose keys are contiguous for its
 * queries in one order and scattered in another runs fast in the first: the Sparse
 * Transformer's strided attention (Child et al. 2019, Sec. 4.2) is a band in position order
 * plus a column that is a contiguous run when the positions go column by column; axial
 * attention (Ho et al. 2019) is a grid row in raster order plus a grid column in column
 * order. Each part runs the sparse kernel (F.sparseMultiHeadAttention's) on the positions
 * in its order, where its rows share their keys (one gather, GEMMs), instead of the union
 * pattern's mostly unshared keys.
 *
 * The merge, for query t of slice b, with part p's row log-sum-exp l_p and output o_p:
 *   L = log sum_p exp(l_p),  alpha_p = exp(l_p - L),  out = sum_p alpha_p o_p,
 * which is softmax attention over the union of the parts' keys (the parts must not share a
 * (query, key) pair, or the pair counts twice). A part of sign -1 takes its pairs away: the
 * parts then form a signed sum whose count is 1 on every pair of the pattern (a grid row and
 * a grid column both hold the query itself; a third part of the query alone, sign -1,
 * corrects the double count), so every part may be a run of shared keys:
 *   L = log sum_p s_p exp(l_p),  alpha_p = s_p exp(l_p - L). Backward, per part, the kernel's backward
 * with dout scaled by alpha_p and Delta = alpha_p (dout . out) of the whole softmax
 * (FlashAttention-2's D): P_joint = alpha_p P_p, so dV = P_p^T (alpha_p dout) and
 * dS = P_joint (dP - D) = P_p (alpha_p dP - alpha_p D).
 *
 * Shape letters: B batch, H heads, L positions (queries and keys), D head width, C = H*D.
 */
import { record } from '../autograd.js';
import { backend } from '../backend/index.js';
import { defaultGenerator, type Generator } from '../random.js';
import { Tensor, empty, fmtShape, uninitF32 } from '../tensor.js';
import { prepareMask } from './attention-mask.js';
import { dropoutMask } from './functional.js';
import type { SparsePattern } from './sparse.js';
import { gatherRows, geometry, identity, views } from './sparse-parts-backward.js';
import type { SparsePartsAttrs } from './spec.js';

/**
 * One part of a pattern: the keys of the queries in `order`. Row t of `pattern` is the
 * query at position order[t] (position t when order is null); its columns are key indices
 * in the same order (column j is the key at position order[j]). Pattern T = S = L.
 */
export interface PatternPart {
  readonly pattern: SparsePattern;
  /** A permutation of [0, L) applied to queries and keys alike, or null (position order). */
  readonly order: Int32Array | null;
  /**
   * -1: the part's pairs are taken away (they are in two other parts: its exp-sum is
   * subtracted, its output weighs -alpha). Default 1. Not with dropout.
   */
  readonly sign?: 1 | -1;
}

export interface SparsePartsOptions {
  /** Additive per-key bias broadcastable to (B, H, 1, L) (-Infinity: key padding). */
  bias?: Tensor | null;
  /** Dropout probability on the attention weights (each part draws its own mask). */
  dropoutP?: number;
  generator?: Generator;
  /** Scale of the scores; default 1/sqrt(D). */
  scale?: number;
}

/**
 * Multi-head sparse attention over the signed union of pattern parts, each run in its own
 * order of the positions and merged by log-sum-exp (see the file comment). Self-attention:
 * queries and keys are the same L positions. Head layout as F.sparseMultiHeadAttention (q,
 * k, v may be one packed (B, L, 3C) projection).
 * @param q (B, L, Cq), k (B, L, Ck), v (B, L, Cv) float32, each holding H*D columns from its
 *   offset in `cols`.
 * @param parts patterns over L positions whose (query, key) pairs, mapped back to positions
 *   and counted with the parts' signs, count 1 on every pair of the attention pattern and 0
 *   elsewhere (disjoint parts of sign 1, or whole runs with the pairs in two of them taken
 *   away by a part of sign -1).
 * @returns out (B, L, H*D): softmax attention of each query over the union of its keys.
 * @throws Error naming the shapes when q, k, v and the parts disagree, a part's order is
 *   not a permutation of [0, L) or its sign not +-1, the bias varies over queries, or
 *   dropout meets a part of sign -1.
 */
export function sparseMultiHeadAttentionParts(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  heads: number,
  headDim: number,
  cols: { q?: number; k?: number; v?: number },
  parts: readonly PatternPart[],
  opts: SparsePartsOptions = {},
): Tensor {
  const [H, D] = [heads, headDim];
  const C = H * D;
  const [B, L] = [q.shape[0], q.shape[1]];
  const [qOff, kOff, vOff] = [cols.q ?? 0, cols.k ?? 0, cols.v ?? 0];
  const bad = (x: Tensor, c: number): boolean =>
    x.ndim !== 3 || x.shape[0] !== B || x.shape[1] !== L || c < 0 || c + C > x.shape[2];
  const partBad = (p: PatternPart): boolean =>
    p.pattern.T !== L ||
    p.pattern.S !== L ||
    (p.sign !== undefined && p.sign !== 1 && p.sign !== -1) ||
    (p.order !== null && orderRows(p.order, B) === null);
  if (bad(q, qOff) || bad(k, kOff) || bad(v, vOff) || parts.length === 0 || parts.some(partBad))
    throw new Error(
      `sparseMultiHeadAttentionParts: q ${fmtShape(q.shape)}, k ${fmtShape(k.shape)}, v ${fmtShape(v.shape)} must be (B, L) rows of >= offset + ${H}*${D} columns (offsets ${qOff}, ${kOff}, ${vOff}), and ${parts.length} parts patterns of L = ${L} queries and keys, orders permutations of [0, L), signs +-1 (${parts.map((p) => `${p.pattern.T}x${p.pattern.S}`).join(', ')})`,
    );
  const BH = B * H;
  const pDrop = opts.dropoutP ?? 0;
  if (!(pDrop >= 0 && pDrop < 1))
    throw new Error(`sparseMultiHeadAttentionParts: dropoutP must be in [0, 1), got ${pDrop}`);
  // A pair in a part of sign -1 is also in two others, each with its own dropout draw: the
  // masks would not cancel.
  if (pDrop > 0 && parts.some((p) => p.sign === -1))
    throw new Error(
      'sparseMultiHeadAttentionParts: a part of sign -1 cannot take dropout (use disjoint parts)',
    );
  let bias: { data: Float32Array; sB: number } | null = null;
  if (opts.bias) {
    const m = prepareMask(opts.bias, [B, H], L, L);
    if (m.sT !== 0 && L > 1)
      throw new Error(
        `sparseMultiHeadAttentionParts: bias ${fmtShape(opts.bias.shape)} varies over queries; only a per-key bias (..., 1, ${L}) is supported`,
      );
    bias = { data: m.data, sB: m.sB };
  }
  const attrs: SparsePartsAttrs = {
    B,
    H,
    L,
    D,
    scale: opts.scale ?? 1 / Math.sqrt(D),
    qOff,
    kOff,
    vOff,
    ldq: q.shape[2],
    ldk: k.shape[2],
    ldv: v.shape[2],
    whole: q === k && k === v,
    parts: [],
  };
  const inputs = [q.f32, k.f32, v.f32];
  const outs: Float32Array[] = [];
  const lses: Float32Array[] = [];
  for (const { pattern, order, sign } of parts) {
    const nnz = pattern.rowPtr[L];
    const weights = uninitF32(BH * nnz);
    const dropMask =
      pDrop > 0 ? dropoutMask(BH * nnz, pDrop, opts.generator ?? defaultGenerator) : null;
    const out = uninitF32(B * L * C);
    const lse = uninitF32(BH * L);
    const rows = order ? orderRows(order, B)! : null; // validated above
    const packed = rows ? gatherRows(inputs, attrs, rows.ids) : null;
    const pb = order && bias ? permuteBias(bias, BH, L, order) : bias;
    backend().sparseAttentionForward(
      out,
      weights,
      ...views(packed, inputs, attrs),
      pattern.rowPtr,
      pattern.cols,
      pb ? pb.data : null,
      dropMask,
      geometry(attrs, packed, pb),
      lse,
    );
    outs.push(out);
    lses.push(lse);
    attrs.parts.push({
      pattern,
      order,
      inverse: rows ? rows.inverse : null,
      ids: rows ? rows.ids : null,
      packed,
      bias: pb,
      sign: sign ?? 1,
      weights,
      dropMask,
      alpha: new Float32Array(0), // set by mergeParts
    });
  }
  const out = empty([B, L, C]);
  mergeParts(out.f32, outs, lses, attrs);
  return record('sparseAttentionParts', [q, k, v], out, attrs);
}

/** Per-head row values (B*H, L) given in a part's order, into r in position order. */
function toPositions(r: Float32Array, x: Float32Array, order: Int32Array, BH: number, L: number) {
  for (let b = 0; b < BH; b++) for (let i = 0; i < L; i++) r[b * L + order[i]] = x[b * L + i];
}

/** The per-key bias (B*H slices of L keys) with its keys in `order`. */
function permuteBias(
  bias: { data: Float32Array; sB: number },
  BH: number,
  L: number,
  order: Int32Array,
): { data: Float32Array; sB: number } {
  const slices = bias.sB === 0 ? 1 : BH;
  const data = new Float32Array(slices * L);
  for (let b = 0; b < slices; b++)
    for (let j = 0; j < L; j++) data[b * L + j] = bias.data[b * bias.sB + order[j]];
  return { data, sB: bias.sB === 0 ? 0 : L };
}

/** An order's inverse and its (B*L) row ids, n*L + order[i], kept per order array. */
interface OrderRows {
  inverse: Int32Array;
  ids: Int32Array;
}
const orderRowsCache = new WeakMap<Int32Array, OrderRows>();

/**
 * The inverse and row ids of `order` for B batch rows (cached: a core's parts keep their
 * orders), or null when order is not a permutation of [0, order.length).
 */
function orderRows(order: Int32Array, B: number): OrderRows | null {
  const L = order.length;
  const hit = orderRowsCache.get(order);
  if (hit && hit.ids.length === B * L) return hit;
  const inverse = hit ? hit.inverse : new Int32Array(L).fill(-1);
  if (!hit)
    for (let i = 0; i < L; i++) {
      const t = order[i];
      if (!(t >= 0 && t < L) || inverse[t] !== -1) return null;
      inverse[t] = i;
    }
  const ids = new Int32Array(B * L);
  for (let n = 0; n < B; n++) for (let i = 0; i < L; i++) ids[n * L + i] = n * L + order[i];
  const rows = { inverse, ids };
  orderRowsCache.set(order, rows);
  return rows;
}

/**
 * out = sum_p alpha_p o_p per query and head, alpha_p = sign_p exp(l_p - L) (the kernel
 * lseMergeWeights; each part's alpha saved). A query whose keys are all forbidden in every
 * part gets alpha 0 and out 0 (the kernel's rule); a NaN score makes its row NaN, as the
 * kernel's.
 */
function mergeParts(
  out: Float32Array,
  outs: Float32Array[],
  lses: Float32Array[],
  a: SparsePartsAttrs,
): void {
  const { B, H, L, D } = a;
  const [N, P] = [B * H * L, a.parts.length];
  // The parts' lse in position order, stacked (P, N); their alphas are views of one (P, N).
  const lse = uninitF32(P * N);
  a.parts.forEach((p, i) => {
    if (p.order) toPositions(lse.subarray(i * N, (i + 1) * N), lses[i], p.order, B * H, L);
    else lse.set(lses[i], i * N);
  });
  const alpha = uninitF32(P * N);
  const signs = Float32Array.from(a.parts, (p) => p.sign);
  backend().lseMergeWeights(alpha, lse, signs, P, N);
  a.parts.forEach((p, i) => {
    p.alpha = alpha.subarray(i * N, (i + 1) * N);
    backend().headRowsScale(out, outs[i], p.inverse ?? identity(L), p.alpha, i > 0, B, L, H, D);
  });
}
