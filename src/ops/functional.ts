/**
 * Fused neural-network ops: softmax, log-softmax, layer normalization, embedding lookup,
 * dropout, cross-entropy and scaled dot-product attention.
 *
 * Shape letters: B batch, H heads, T query length, S key length, D head width,
 * C feature width, V vocabulary / classes, N rows.
 */
import { record } from '../autograd.js';
import { backend } from '../backend/index.js';
import type { AttentionGeometry } from '../backend/types.js';
import { defaultGenerator, type Generator } from '../random.js';
import { Tensor, empty, fmtShape, normAxis, numel, uninitF32, zeros } from '../tensor.js';
import { mul } from './elementwise.js';
import { sum } from './reduce.js';
import { transpose } from './shape.js';
import { dropoutKeys, tiledAttention, useTiledAttention } from './tiled-attention.js';
import { prepareMask, relativeMask, type RelativeBias } from './attention-mask.js';

function lastAxis<T>(x: Tensor, axis: number, op: string, f: (x: Tensor) => T & Tensor): Tensor {
  const ax = normAxis(axis, x.ndim, op);
  if (ax === x.ndim - 1) return f(x);
  return transpose(f(transpose(x, ax, -1)), ax, -1);
}

/** Softmax over `axis` (default last): exp(x_i - max) / sum_j exp(x_j - max). A row of all -Infinity gives zeros. */
export function softmax(x: Tensor, axis = -1): Tensor {
  return lastAxis(x, axis, 'softmax', (y) => {
    const cols = y.shape[y.ndim - 1];
    const rows = cols === 0 ? 0 : y.size / cols;
    const out = empty(y.shape);
    backend().softmax(out.f32, y.f32, rows, cols);
    return record('softmax', [y], out, { rows, cols });
  });
}

/**
 * scale * (exp(x - shift) + eps), shift broadcast along the last axis: the positive random
 * features of FAVOR+ (Choromanski et al. 2021, Lemma 1: exp(w.x - |x|^2/2) / sqrt(m), with
 * performer-pytorch's stabilizer and eps) in one kernel pass, forward and backward.
 * @param x (..., M) float32.
 * @param shift (..., 1) float32, the same leading sizes as x.
 * @returns (..., M).
 * @throws Error naming both shapes when shift is not x's shape with a last size of 1.
 */
export function expShift(x: Tensor, shift: Tensor, scale: number, eps: number): Tensor {
  const M = x.ndim === 0 ? 0 : x.shape[x.ndim - 1];
  const lead = x.shape.slice(0, -1);
  if (
    x.ndim === 0 ||
    shift.ndim !== x.ndim ||
    shift.shape[shift.ndim - 1] !== 1 ||
    !lead.every((n, i) => shift.shape[i] === n)
  )
    throw new Error(
      `expShift: shift must have shape ${fmtShape([...lead, 1])} for x of shape ${fmtShape(x.shape)}, got ${fmtShape(shift.shape)}`,
    );
  const rows = M === 0 ? 0 : x.size / M;
  const out = empty(x.shape);
  backend().expShift(out.f32, x.f32, shift.f32, rows, M, scale, eps);
  return record('expShift', [x, shift], out, { rows, cols: M, scale, eps });
}

/** Log-softmax over `axis` (default last): x_i - logsumexp(x). */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  return lastAxis(x, axis, 'logSoftmax', (y) => {
    const cols = y.shape[y.ndim - 1];
    const rows = cols === 0 ? 0 : y.size / cols;
    const out = empty(y.shape);
    backend().logSoftmax(out.f32, y.f32, rows, cols);
    return record('logSoftmax', [y], out, { rows, cols });
  });
}

/**
 * Layer normalization over the last dimension (Ba et al., 2016; used after every
 * sub-layer, Vaswani et al. Sec. 3.1), as torch.nn.functional.layer_norm.
 * @param x (..., C) float32
 * @param weight (C) or null; bias (C) or null
 * @param eps added to the biased variance
 * @throws Error naming the shapes when weight/bias do not match C.
 */
export function layerNorm(
  x: Tensor,
  weight: Tensor | null,
  bias: Tensor | null,
  eps = 1e-5,
): Tensor {
  const C = x.shape[x.ndim - 1];
  for (const [name, p] of [
    ['weight', weight],
    ['bias', bias],
  ] as const) {
    if (p && (p.ndim !== 1 || p.shape[0] !== C)) {
      throw new Error(
        `layerNorm: ${name} ${fmtShape(p.shape)} does not match the last dimension of input ${fmtShape(x.shape)}`,
      );
    }
  }
  const N = C === 0 ? 0 : x.size / C;
  const out = empty(x.shape);
  const mean = new Float32Array(N);
  const rstd = new Float32Array(N);
  backend().layerNormForward(
    out.f32,
    mean,
    rstd,
    x.f32,
    weight?.f32 ?? null,
    bias?.f32 ?? null,
    N,
    C,
    eps,
  );
  return record('layerNorm', [x, weight, bias], out, { N, C, mean, rstd });
}

/**
 * Embedding lookup (Sec. 3.4): rows of `weight` selected by integer ids.
 * @param ids int32 tensor of any shape (...), values in [0, V)
 * @param weight (V, C) float32
 * @returns (..., C)
 * @throws Error naming the first id outside [0, V).
 */
export function embedding(ids: Tensor, weight: Tensor): Tensor {
  if (ids.dtype !== 'int32') throw new Error(`embedding: ids must be int32, got ${ids.dtype}`);
  if (weight.ndim !== 2)
    throw new Error(`embedding: weight must be (V, C), got ${fmtShape(weight.shape)}`);
  const [V, C] = weight.shape;
  const idv = ids.i32;
  for (let i = 0; i < idv.length; i++) {
    if (idv[i] < 0 || idv[i] >= V) {
      throw new Error(
        `embedding: id ${idv[i]} at position ${i} is outside the vocabulary [0, ${V})`,
      );
    }
  }
  const N = ids.size;
  const out = empty([...ids.shape, C]);
  backend().embeddingForward(out.f32, weight.f32, idv, N, C);
  return record('embedding', [weight], out, { ids: idv, N, C });
}

/**
 * A dropout mask: each element 0 with probability p, else 1/(1-p) (inverted dropout,
 * Srivastava et al. 2014; Sec. 5.4). Counter-based, like PyTorch's Philox dropout: two
 * uint32 draws of `gen` key a hash of the element index (backend dropoutMask), so the mask
 * is the same on every backend and thread count, and `gen` advances by exactly two draws.
 * @returns Float32Array (n) of 0 and 1/(1-p).
 */
export function dropoutMask(n: number, p: number, gen: Generator): Float32Array {
  const m = uninitF32(n);
  // Two draws of `gen` key a counter-based hash of the element index (see the backend's
  // dropoutMask): element i is 0 when its uint32 u_i < p * 2^32, i.e. u_i / 2^32 < p.
  const d = dropoutKeys(p, gen);
  backend().dropoutMask(m, n, d.threshold, d.keep, d.key0, d.key1);
  return m;
}

/**
 * Dropout: zero each element with probability p and scale the rest by 1/(1-p) when
 * `training`; identity otherwise.
 * @throws Error if p is not in [0, 1).
 */
export function dropout(
  x: Tensor,
  p: number,
  training: boolean,
  gen: Generator = defaultGenerator,
): Tensor {
  if (!(p >= 0 && p < 1)) throw new Error(`dropout: p must be in [0, 1), got ${p}`);
  if (!training || p === 0) return x;
  return mul(x, new Tensor(dropoutMask(x.size, p, gen), x.shape));
}

export interface CrossEntropyOptions {
  /** Targets equal to this are skipped (PyTorch's default -100). */
  ignoreIndex?: number;
  /** Label smoothing epsilon (Sec. 5.4 uses 0.1). */
  labelSmoothing?: number;
  /** 'mean' over non-ignored targets (default), 'sum', or 'none' (per-target losses). */
  reduction?: 'mean' | 'sum' | 'none';
}

/**
 * Cross-entropy from logits, as torch.nn.functional.cross_entropy.
 * @param logits (..., V) float32
 * @param targets (...) int32 class indices in [0, V) or ignoreIndex
 * @returns a scalar (mean/sum) or the per-target losses (...) for 'none'. The mean divides
 *   by the number of non-ignored targets.
 * @throws Error naming the shapes, or the first target outside [0, V).
 */
export function crossEntropy(
  logits: Tensor,
  targets: Tensor,
  opts: CrossEntropyOptions = {},
): Tensor {
  const ignoreIndex = opts.ignoreIndex ?? -100;
  const ls = opts.labelSmoothing ?? 0;
  const reduction = opts.reduction ?? 'mean';
  if (targets.dtype !== 'int32')
    throw new Error(`crossEntropy: targets must be int32, got ${targets.dtype}`);
  const V = logits.shape[logits.ndim - 1];
  const lead = logits.shape.slice(0, -1);
  if (numel(lead) !== targets.size || (targets.ndim > 0 && targets.ndim !== lead.length)) {
    throw new Error(
      `crossEntropy: logits ${fmtShape(logits.shape)} and targets ${fmtShape(targets.shape)} do not match`,
    );
  }
  if (!(ls >= 0 && ls <= 1))
    throw new Error(`crossEntropy: labelSmoothing must be in [0, 1], got ${ls}`);
  const t = targets.i32;
  let count = 0;
  for (let i = 0; i < t.length; i++) {
    if (t[i] === ignoreIndex) continue;
    if (t[i] < 0 || t[i] >= V) {
      throw new Error(
        `crossEntropy: target ${t[i]} at position ${i} is outside [0, ${V}) and is not ignoreIndex ${ignoreIndex}`,
      );
    }
    count++;
  }
  const N = t.length;
  const losses = zeros(lead);
  const lse = new Float32Array(N);
  backend().crossEntropyForward(losses.f32, lse, logits.f32, t, N, V, ignoreIndex, ls);
  const rec = record('crossEntropy', [logits], losses, {
    targets: t,
    lse,
    N,
    V,
    ignoreIndex,
    labelSmoothing: ls,
  });
  if (reduction === 'none') return rec;
  const total = sum(rec);
  return reduction === 'sum' ? total : mul(total, 1 / count);
}

export interface AttentionOptions {
  /**
   * Attention mask broadcastable to (..., T, S): bool (true = may NOT attend, PyTorch's
   * convention) or float (added to the scores; -Infinity forbids).
   */
  mask?: Tensor | null;
  /** Forbid key s for query t when s > t + (S - T) (Sec. 3.2.3, decoder self-attention). */
  causal?: boolean;
  /** Dropout probability on the attention weights (applied when > 0). */
  dropoutP?: number;
  /** Generator for the dropout mask. */
  generator?: Generator;
  /** Scale of the scores; default 1/sqrt(D) (Eq. 1). */
  scale?: number;
  /** Also return the attention weights (..., T, S) (softmax output, before dropout). */
  needWeights?: boolean;
  /**
   * The tiled kernel (FlashAttention, ./tiled-attention.ts; memory linear in T, same
   * result): true forces it, false forbids it; default when T * S >= TILED_MIN_SCORES.
   * Never with needWeights (the weights come from the fused kernel).
   */
  tiled?: boolean;
  /**
   * A score bias that depends only on the head and on s - t (RelativeBias: ALiBi, T5), read
   * by the kernels from its diagonals, O(H (T + S)) memory. Not with `mask`. A learned one
   * (its `table` needs a gradient) runs the tiled kernel, and not with needWeights.
   */
  relativeBias?: RelativeBias | null;
  /**
   * Keys per batch block ((..., H) slices: block b / H of slice b; (B) for
   * multiHeadAttention): keys from kvLen[n] on are forbidden, as a right-padded key padding
   * mask forbids them, with `relativeBias` (which takes no mask). Runs the tiled kernel; not
   * with needWeights.
   */
  kvLen?: Int32Array | null;
}

/** Where the heads of q, k, v and out live (the attention kernels' head layout), and their offsets. */
type HeadLayout = Pick<AttentionGeometry, 'H' | 'ldq' | 'ldk' | 'ldv' | 'ldo' | 'kvRows'> & {
  qOff: number;
  kOff: number;
  vOff: number;
};

/** The fused attention op over `lead` = (..., BH) slices in `layout`; out has `outShape`. */
function attentionOp(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  lead: number[],
  T: number,
  S: number,
  D: number,
  layout: HeadLayout,
  outShape: number[],
  opts: AttentionOptions,
): { out: Tensor; weights: Tensor | null } {
  const BH = numel(lead);
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  const p = opts.dropoutP ?? 0;
  if (!(p >= 0 && p < 1)) throw new Error(`attention: dropoutP must be in [0, 1), got ${p}`);
  if (opts.mask && opts.relativeBias)
    throw new Error('attention: give a mask or a relative bias, not both (add them first)');
  const m = opts.mask
    ? prepareMask(opts.mask, lead, T, S)
    : opts.relativeBias
      ? relativeMask(opts.relativeBias, lead, T, S)
      : null;
  const maskGeom = {
    maskStrideB: m ? m.sB : 0,
    maskStrideT: m ? m.sT : 0,
    maskOffset: m ? m.offset : 0,
  };
  // A learned relative bias (T5) takes its gradient from the tiled kernel only; key counts
  // (kvLen) only the tiled kernel reads.
  const table = opts.relativeBias?.table?.requiresGrad ? opts.relativeBias.table : null;
  const kvLen = opts.kvLen ?? null;
  if ((table || kvLen) && opts.needWeights)
    throw new Error(
      'attention: a learned relative bias or kvLen with needWeights: give them as a dense mask',
    );
  if (table || kvLen || useTiledAttention(opts.tiled, T, S, opts.needWeights ?? false)) {
    const geom = { BH, T, S, D, scale, ...layout, causal: opts.causal ?? false };
    const tiledGeom = { ...geom, ...maskGeom };
    const drop = p > 0 ? dropoutKeys(p, opts.generator ?? defaultGenerator) : null;
    const mdata = m ? m.data : null;
    const out = tiledAttention(q, k, v, tiledGeom, mdata, drop, outShape, table, kvLen);
    return { out, weights: null };
  }
  const dropMask = p > 0 ? dropoutMask(BH * T * S, p, opts.generator ?? defaultGenerator) : null;
  const out = empty(outShape); // the kernel writes every element of out and weights
  const weights = uninitF32(BH * T * S);
  // One object serves as the kernel's AttentionGeometry and as the op's saved attrs.
  const attrs = {
    weights,
    dropMask,
    BH,
    T,
    S,
    D,
    scale,
    ...layout,
    causal: opts.causal ?? false,
    ...maskGeom,
  };
  const { qOff, kOff, vOff } = layout;
  backend().attentionForward(
    out.f32,
    weights,
    q.f32.subarray(qOff),
    k.f32.subarray(kOff),
    v.f32.subarray(vOff),
    m ? m.data : null,
    dropMask,
    attrs,
  );
  record('attention', [q, k, v], out, attrs);
  return { out, weights: opts.needWeights ? new Tensor(weights, [...lead, T, S]) : null };
}

/**
 * Scaled dot-product attention, Eq. 1 (Sec. 3.2.1): softmax(Q K^T / sqrt(d_k) + mask) V,
 * fused in one kernel. Rows whose keys are all masked give zeros (with finite values).
 * @param q (..., T, D) float32; k (..., S, D); v (..., S, D) with the same leading dims.
 * @returns out (..., T, D) and, when `needWeights`, weights (..., T, S) (not differentiable).
 * @throws Error naming the shapes when q, k, v or the mask disagree.
 */
export function scaledDotProductAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  opts: AttentionOptions = {},
): { out: Tensor; weights: Tensor | null } {
  return denseAttention('attention', q, k, v, k.ndim >= 2 ? k.shape[k.ndim - 2] : 0, opts);
}

/**
 * Attention over the first S rows of key/value buffers with room for more (a growing KV
 * cache, as the dense decoding state keeps): like
 * scaledDotProductAttention(q, kBuf[..., :S, :], vBuf[..., :S, :]) without copying the
 * slices. Not differentiable with respect to kBuf and vBuf beyond their first S rows.
 * @param q (..., T, D); kBuf, vBuf (..., R, D) with the same leading dims and R >= S.
 * @throws Error naming the shapes when they disagree or S is out of range.
 */
export function attentionOverCache(
  q: Tensor,
  kBuf: Tensor,
  vBuf: Tensor,
  S: number,
  opts: AttentionOptions = {},
): { out: Tensor; weights: Tensor | null } {
  return denseAttention('attentionOverCache', q, kBuf, vBuf, S, opts);
}

/** Attention over the first S of the R rows of dense (..., R, D) keys and values. */
function denseAttention(
  what: string,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  S: number,
  opts: AttentionOptions,
): { out: Tensor; weights: Tensor | null } {
  const lead = q.shape.slice(0, -2);
  const [T, D] = q.shape.slice(-2);
  const same = (x: Tensor): boolean =>
    x.ndim === q.ndim &&
    x.shape.slice(0, -2).every((d, i) => d === lead[i]) &&
    x.shape[x.ndim - 1] === D;
  const R = k.ndim >= 2 ? k.shape[k.ndim - 2] : -1;
  if (
    q.ndim < 2 ||
    !same(k) ||
    !same(v) ||
    v.shape[v.ndim - 2] !== R ||
    !Number.isInteger(S) ||
    S < 0 ||
    S > R
  ) {
    throw new Error(
      `${what}: q ${fmtShape(q.shape)}, k ${fmtShape(k.shape)}, v ${fmtShape(v.shape)}${R === S ? '' : ` with S ${S}`} do not match (expected k, v of shape (..., ${R === S ? 'S' : 'R >= S'}, ${D}) with q's leading dims)`,
    );
  }
  const layout = { H: 1, ldq: D, ldk: D, ldv: D, ldo: D, kvRows: R, qOff: 0, kOff: 0, vOff: 0 };
  return attentionOp(q, k, v, lead, T, S, D, layout, [...lead, T, D], opts);
}

/**
 * Multi-head scaled dot-product attention (Sec. 3.2.2) straight on the projections, with
 * no head permutes: head h of a query row is its columns [qCol + h*D, qCol + (h+1)*D), and
 * likewise for keys and values, so q, k and v may be one packed (B, T, 3C) projection
 * (columns 0, C, 2C) or a (B, S, 2C) key-value projection. The heads' outputs come back
 * concatenated, (B, T, H*D), ready for W_O.
 * @param q (B, T, Cq) float32; k (B, S, Ck); v (B, S, Cv), each holding its H*D columns
 *   from the given column offset.
 * @param cols column offsets of the heads in q, k, v (default 0).
 * @returns out (B, T, H*D) and, when `needWeights`, weights (B, H, T, S) (not differentiable).
 * @throws Error naming the shapes when q, k, v do not hold H*D columns from their offsets.
 */
export function multiHeadAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  heads: number,
  headDim: number,
  cols: { q?: number; k?: number; v?: number } = {},
  opts: AttentionOptions = {},
): { out: Tensor; weights: Tensor | null } {
  const H = heads;
  const D = headDim;
  const [qc, kc, vc] = [cols.q ?? 0, cols.k ?? 0, cols.v ?? 0];
  const bad = (x: Tensor, c: number): boolean =>
    x.ndim !== 3 || x.shape[0] !== q.shape[0] || c < 0 || c + H * D > x.shape[2];
  if (
    !(Number.isInteger(H) && H >= 1 && Number.isInteger(D) && D >= 1) ||
    bad(q, qc) ||
    bad(k, kc) ||
    bad(v, vc) ||
    k.shape[1] !== v.shape[1]
  ) {
    throw new Error(
      `multiHeadAttention: q ${fmtShape(q.shape)}, k ${fmtShape(k.shape)}, v ${fmtShape(v.shape)} must be (B, L, >= offset + ${H}*${D}) with offsets ${qc}, ${kc}, ${vc} and equal key/value lengths`,
    );
  }
  const [B, T] = q.shape;
  const S = k.shape[1];
  const layout = {
    H,
    ldq: q.shape[2],
    ldk: k.shape[2],
    ldv: v.shape[2],
    ldo: H * D,
    kvRows: S,
    qOff: qc,
    kOff: kc,
    vOff: vc,
  };
  return attentionOp(q, k, v, [B, H], T, S, D, layout, [B, T, H * D], opts);
}
