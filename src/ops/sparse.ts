/**
 * Sparse scaled dot-product attention over a fixed pattern: Eq. 1 of Vaswani et al. (2017)
 * restricted to the (query, key) pairs of a pattern, the position-based sparse attention of
 * the survey (Lin et al. 2021, Sec. 4.1.1, Figs. 4-6; Child et al. 2019, Sec. 4.2). Only
 * the pattern's scores are computed and kept: time O(nnz D), memory O(nnz), never a (T, S)
 * matrix. One differentiable op, `sparseAttention`, with the backend kernels
 * sparseAttentionForward / sparseAttentionBackward.
 *
 * Shape letters: B batch, H heads, T query rows, S keys, R key rows held (>= S), D head
 * width, nnz the pattern's entries.
 */
import { record } from '../autograd.js';
import { backend } from '../backend/index.js';
import type { AttentionGeometry } from '../backend/types.js';
import { defaultGenerator, type Generator } from '../random.js';
import { Tensor, empty, fmtShape, numel, uninitF32, zeros } from '../tensor.js';
import { prepareMask } from './attention-mask.js';
import { dropoutMask } from './functional.js';

/**
 * A sparsity pattern in compressed sparse row form: query row t attends the keys
 * cols[rowPtr[t] .. rowPtr[t+1]), sorted and distinct, each in [0, S). Shared by every
 * batch row and head.
 */
export interface SparsePattern {
  /** Query rows. */
  readonly T: number;
  /** Keys. */
  readonly S: number;
  /** (T + 1) int32, rowPtr[0] = 0, non-decreasing; rowPtr[T] = nnz. */
  readonly rowPtr: Int32Array;
  /** (nnz) int32 key positions. */
  readonly cols: Int32Array;
}

export interface SparseAttentionOptions {
  /**
   * Additive per-key bias broadcastable to (..., 1, S) (-Infinity forbids a key: key
   * padding), float32; it may not vary over queries.
   */
  bias?: Tensor | null;
  /** Dropout probability on the attention weights (applied when > 0). */
  dropoutP?: number;
  generator?: Generator;
  /** Scale of the scores; default 1/sqrt(D) (Eq. 1). */
  scale?: number;
  /** Also return the weights scattered into a dense (..., T, S) tensor (for display). */
  needWeights?: boolean;
}

export interface SparseAttentionResult {
  out: Tensor;
  /** Dense (..., T, S) weights (zero outside the pattern) when asked, else null. */
  weights: Tensor | null;
}

/** Where the heads of q, k, v and out live (the attention kernels' head layout). */
type Layout = Pick<AttentionGeometry, 'H' | 'ldq' | 'ldk' | 'ldv' | 'ldo' | 'kvRows'> & {
  qOff: number;
  kOff: number;
  vOff: number;
};

/**
 * Check a pattern's arrays (sizes, monotone rowPtr, columns in range).
 * @throws Error naming the pattern's first defect.
 */
export function checkPattern(p: SparsePattern): void {
  const { T, S, rowPtr, cols } = p;
  if (rowPtr.length !== T + 1 || rowPtr[0] !== 0 || cols.length !== rowPtr[T])
    throw new Error(
      `sparse pattern: rowPtr must have T + 1 = ${T + 1} entries from 0 and end at cols.length ${cols.length}, got ${rowPtr.length} entries ending at ${rowPtr[rowPtr.length - 1]}`,
    );
  for (let t = 0; t < T; t++)
    for (let e = rowPtr[t]; e < rowPtr[t + 1]; e++)
      if (cols[e] < 0 || cols[e] >= S || (e > rowPtr[t] && cols[e] <= cols[e - 1]))
        throw new Error(
          `sparse pattern: row ${t} must list distinct sorted keys in [0, ${S}), got ${cols[e]}`,
        );
}

function sparseOp(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  lead: number[],
  D: number,
  pattern: SparsePattern,
  layout: Layout,
  outShape: number[],
  opts: SparseAttentionOptions,
): SparseAttentionResult {
  const { T, S } = pattern;
  const BH = numel(lead);
  const nnz = pattern.rowPtr[T];
  const p = opts.dropoutP ?? 0;
  if (!(p >= 0 && p < 1)) throw new Error(`sparseAttention: dropoutP must be in [0, 1), got ${p}`);
  let bias: { data: Float32Array; sB: number } | null = null;
  if (opts.bias) {
    const m = prepareMask(opts.bias, lead, T, S);
    if (m.sT !== 0 && T > 1)
      throw new Error(
        `sparseAttention: bias ${fmtShape(opts.bias.shape)} varies over queries; only a per-key bias (..., 1, ${S}) is supported`,
      );
    bias = { data: m.data, sB: m.sB };
  }
  const dropMask = p > 0 ? dropoutMask(BH * nnz, p, opts.generator ?? defaultGenerator) : null;
  const out = empty(outShape); // the kernel writes every element of out and weights
  const weights = uninitF32(BH * nnz);
  const attrs = {
    rowPtr: pattern.rowPtr,
    cols: pattern.cols,
    weights,
    dropMask,
    BH,
    T,
    S,
    D,
    scale: opts.scale ?? 1 / Math.sqrt(D),
    ...layout,
    maskStrideB: bias ? bias.sB : 0,
    maskStrideT: 0,
  };
  const { qOff, kOff, vOff } = layout;
  backend().sparseAttentionForward(
    out.f32,
    weights,
    q.f32.subarray(qOff),
    k.f32.subarray(kOff),
    v.f32.subarray(vOff),
    pattern.rowPtr,
    pattern.cols,
    bias ? bias.data : null,
    dropMask,
    attrs,
  );
  record('sparseAttention', [q, k, v], out, attrs);
  const dense = opts.needWeights ? scatterWeights(weights, pattern, lead) : null;
  return { out, weights: dense };
}

/**
 * Per-slice weights (BH, nnz) scattered into a dense (..., T, S) tensor, zero outside the
 * pattern (for display only: O(BH T S) memory).
 */
export function scatterWeights(w: Float32Array, pattern: SparsePattern, lead: number[]): Tensor {
  const { T, S, rowPtr, cols } = pattern;
  const BH = numel(lead);
  const nnz = rowPtr[T];
  const out = zeros([...lead, T, S]);
  const d = out.f32;
  for (let b = 0; b < BH; b++)
    for (let t = 0; t < T; t++)
      for (let e = rowPtr[t]; e < rowPtr[t + 1]; e++) d[(b * T + t) * S + cols[e]] = w[b * nnz + e];
  return out;
}

/**
 * Sparse attention on dense heads: query t of every slice attends the keys of row t of
 * `pattern` (softmax over them only). k and v may hold more rows than the pattern's S keys
 * (a growing KV cache): only the first S are read.
 * @param q (..., T, D) float32; k, v (..., R, D) with q's leading dims and R >= pattern.S.
 * @returns out (..., T, D) and, when `needWeights`, dense weights (..., T, S).
 * @throws Error naming the shapes when q, k, v and the pattern disagree, or the bias
 *   varies over queries.
 */
export function sparseAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  pattern: SparsePattern,
  opts: SparseAttentionOptions = {},
): SparseAttentionResult {
  const lead = q.shape.slice(0, -2);
  const [T, D] = q.shape.slice(-2);
  const R = k.ndim >= 2 ? k.shape[k.ndim - 2] : -1;
  const same = (x: Tensor): boolean =>
    x.ndim === q.ndim &&
    x.shape.slice(0, -2).every((d, i) => d === lead[i]) &&
    x.shape[x.ndim - 1] === D &&
    x.shape[x.ndim - 2] === R;
  if (q.ndim < 2 || !same(k) || !same(v) || pattern.T !== T || pattern.S > R)
    throw new Error(
      `sparseAttention: q ${fmtShape(q.shape)}, k ${fmtShape(k.shape)}, v ${fmtShape(v.shape)} do not match a pattern of ${pattern.T} queries over ${pattern.S} keys (expected q (..., ${pattern.T}, D), k and v (..., R >= ${pattern.S}, D))`,
    );
  const layout = { H: 1, ldq: D, ldk: D, ldv: D, ldo: D, kvRows: R, qOff: 0, kOff: 0, vOff: 0 };
  return sparseOp(q, k, v, lead, D, pattern, layout, [...lead, T, D], opts);
}

/**
 * Multi-head sparse attention straight on the projections (the head layout of
 * multiHeadAttention: head h of a row is its columns [col + h*D, col + (h+1)*D)), so q, k
 * and v may be one packed (B, T, 3C) projection. Every head uses the same pattern.
 * @param q (B, T, Cq) float32; k (B, S, Ck); v (B, S, Cv), each holding H*D columns from
 *   its offset in `cols`; T and S are the pattern's.
 * @returns out (B, T, H*D) and, when `needWeights`, dense weights (B, H, T, S).
 * @throws Error naming the shapes when q, k, v and the pattern disagree, or the bias
 *   varies over queries.
 */
export function sparseMultiHeadAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  heads: number,
  headDim: number,
  cols: { q?: number; k?: number; v?: number },
  pattern: SparsePattern,
  opts: SparseAttentionOptions = {},
): SparseAttentionResult {
  const H = heads;
  const D = headDim;
  const [qc, kc, vc] = [cols.q ?? 0, cols.k ?? 0, cols.v ?? 0];
  const bad = (x: Tensor, c: number, L: number): boolean =>
    x.ndim !== 3 ||
    x.shape[0] !== q.shape[0] ||
    x.shape[1] !== L ||
    c < 0 ||
    c + H * D > x.shape[2];
  if (
    !(Number.isInteger(H) && H >= 1 && Number.isInteger(D) && D >= 1) ||
    bad(q, qc, pattern.T) ||
    bad(k, kc, pattern.S) ||
    bad(v, vc, pattern.S)
  )
    throw new Error(
      `sparseMultiHeadAttention: q ${fmtShape(q.shape)}, k ${fmtShape(k.shape)}, v ${fmtShape(v.shape)} must be (B, ${pattern.T}), (B, ${pattern.S}), (B, ${pattern.S}) rows of >= offset + ${H}*${D} columns with offsets ${qc}, ${kc}, ${vc}`,
    );
  const B = q.shape[0];
  const layout = {
    H,
    ldq: q.shape[2],
    ldk: k.shape[2],
    ldv: v.shape[2],
    ldo: H * D,
    kvRows: pattern.S,
    qOff: qc,
    kOff: kc,
    vOff: vc,
  };
  return sparseOp(q, k, v, [B, H], D, pattern, layout, [B, pattern.T, H * D], opts);
}
