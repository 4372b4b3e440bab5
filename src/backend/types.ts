/**
 * The backend contract: every numeric kernel the library runs, on flat typed arrays.
 *
 * Two implementations exist: `js` (pure TypeScript, `src/backend/js.ts`), which is the
 * specification of every kernel, and `native` (N-API addon in C, `native/`), which is
 * "otherwise identical" and is tested against `js` (llm.c's `matmul_forward_naive`
 * convention). `Backend` is an exhaustive mapped type over `KernelName`, so a backend
 * that misses a kernel is a compile error.
 *
 * Conventions (llm.c `train_gpt2.c`):
 * - Signatures put outputs first, then inputs, then sizes and attributes.
 * - All arrays are dense, row-major (C order) and do not alias, except that the element-wise
 *   kernels (binary, unary, scalar) allow `out` to be the same array as an input, and the
 *   attention kernels' strided head layout (see attentionForward).
 * - Forward kernels overwrite their outputs. Backward kernels ACCUMULATE into their
 *   gradient outputs with `+=` (callers zero them first when needed).
 * - float32 everywhere; token ids and class targets are int32.
 *
 * Shape letters: N rows, C columns (feature width), B batch, H heads, T query length,
 * S key length, D head width, V vocabulary, M/K/N matrix sizes.
 *
 * Adding a kernel: the checklist in native/README.md (Kernels here, the js reference, the C
 * kernel, one ADDON_EXPORTS line in native/tables.h, the wrapper, the contract test).
 */

import type { AttentionKernels } from './types-attention.js';
import type { SequenceKernels } from './types-sequence.js';

export type F32 = Float32Array;
export type I32 = Int32Array;

export {
  ATTENTION_GEOMETRY_FIELDS,
  GATHERED_GEOMETRY_FIELDS,
  GATHERED_SELF_SCORE,
  type GatheredGeometry,
  type AttentionDropout,
  type AttentionGeometry,
  type AttentionKernels,
} from './types-attention.js';
export type { SequenceKernels, Word2VecParams } from './types-sequence.js';

/**
 * Op names of the element-wise kernels, in the order of their integer codes in the native
 * addon (native/tables.h is the one table both sides follow; the native backend checks at
 * load time that the addon's names are these, in this order).
 */
export const BINARY_OPS = ['add', 'sub', 'mul', 'div'] as const;
/** `gelu` is the exact erf form; `geluTanh` the tanh approximation. */
export const UNARY_OPS = ['neg', 'exp', 'log', 'sqrt', 'tanh', 'relu', 'gelu', 'geluTanh'] as const;
/** out = x op s: `pow` is x ** s, `rsub` is s - x, `rdiv` is s / x. */
export const SCALAR_OPS = ['add', 'mul', 'pow', 'rsub', 'rdiv'] as const;

/** Element-wise binary operations with broadcasting. */
export type BinaryOp = (typeof BINARY_OPS)[number];

/** Element-wise unary operations. `gelu` is the exact erf form; `geluTanh` the tanh approximation. */
export type UnaryOp = (typeof UNARY_OPS)[number];

/** Scalar operations: out = x op s. `pow` is x ** s, `rsub` is s - x, `rdiv` is s / x. */
export type ScalarOp = (typeof SCALAR_OPS)[number];

/** The scalar arguments of the AdamW kernels, in order (the same for adamw and adamwMulti). */
export type AdamWHyper = [
  lr: number,
  beta1: number,
  beta2: number,
  eps: number,
  weightDecay: number,
  step: number,
];

/**
 * One GEMM, out (M, N) = op(a) op(b) + beta out: a is (M, K), or (K, M) when transA; b is
 * (K, N), or (N, K) when transB; float32 row-major; beta 0 or 1.
 */
export type SingleGemm = (
  out: F32,
  a: F32,
  b: F32,
  M: number,
  N: number,
  K: number,
  transA: boolean,
  transB: boolean,
  beta: number,
) => void;

export interface Kernels extends AttentionKernels, SequenceKernels {
  /**
   * Batched GEMM: for each b in [0, batch):
   *   out[b] = op(A[b]) @ op(B[b]) + beta * out[b]
   * op(A) is (M, K): A[b] is stored (M, K), or (K, M) when transA.
   * op(B) is (K, N): B[b] is stored (K, N), or (N, K) when transB.
   * out[b] is (M, N) at offset b*M*N. A[b] starts at b*strideA, B[b] at b*strideB
   * (a stride of 0 broadcasts one matrix over the batch). beta is 0 or 1.
   * `bias` (N), when given, is then added to every row: out[b][m][n] += bias[n] (the
   * native backend adds it to each block right after that block's product, while it is
   * still in cache; nn.Linear's forward).
   */
  matmul(
    out: F32,
    a: F32,
    b: F32,
    batch: number,
    M: number,
    N: number,
    K: number,
    transA: boolean,
    transB: boolean,
    strideA: number,
    strideB: number,
    beta: number,
    bias?: F32 | null,
  ): void;

  /**
   * A GEMM whose result is not needed at once (batch 1; operands and beta as matmul):
   * out = op(a) op(b) + beta out, possibly run later on another thread. Until `drain()`
   * returns, `out` must not be read or written, and `a`, `b` not written, by anyone else.
   * The native backend queues it for its pool's worker, which runs it between the
   * caller's kernels (a linear layer's dweight in backward, so the pass goes on with dx);
   * the js backend runs it at once.
   */
  matmulDeferred: SingleGemm;

  /** Returns when every kernel queued by matmulDeferred is done. */
  drain(): void;

  /**
   * out[i] = a[ia] op b[ib] over the dense output `shape`; `aStrides`/`bStrides` are element
   * strides per output dimension (0 on a broadcast dimension). rank <= 6.
   */
  binary(
    op: BinaryOp,
    out: F32,
    a: F32,
    b: F32,
    shape: readonly number[],
    aStrides: readonly number[],
    bStrides: readonly number[],
  ): void;

  /** out[i] = op(x[i]) for i < n. */
  unary(op: UnaryOp, out: F32, x: F32, n: number): void;

  /**
   * dx[i] += dy[i] * op'(x[i]), where y = op(x) is given for ops whose derivative uses it.
   * With accumulate false (default true), dx is overwritten (its contents may be arbitrary).
   */
  unaryBackward(
    op: UnaryOp,
    dx: F32,
    dy: F32,
    x: F32,
    y: F32,
    n: number,
    accumulate?: boolean,
  ): void;

  /** out[i] = x[i] op s. */
  scalar(op: ScalarOp, out: F32, x: F32, s: number, n: number): void;

  /**
   * Sum over the middle axis of x viewed as (outer, dim, inner): out (outer, inner).
   */
  sum(out: F32, x: F32, outer: number, dim: number, inner: number): void;

  /**
   * sum_i x[i]^2 over the first n elements, accumulated in double (the global gradient
   * norm of clipping). The native backend sums fixed blocks of 16384 in parallel and adds
   * their sums in block order, so the result does not depend on the thread count.
   */
  sumSquares(x: F32, n: number): number;

  /**
   * Max over the middle axis of x viewed as (outer, dim, inner): out (outer, inner) and the
   * index of the first maximum in `argmax` (int32, same shape).
   */
  max(out: F32, argmax: I32, x: F32, outer: number, dim: number, inner: number): void;

  /**
   * Softmax over the last axis of x (rows, cols). Numerically stable (max subtracted). A
   * row of only -Infinity gives zeros; a row holding a NaN gives NaN everywhere.
   */
  softmax(out: F32, x: F32, rows: number, cols: number): void;
  /** dx += y * (dy - sum(dy * y)) per row, where y = softmax(x). */
  softmaxBackward(dx: F32, dy: F32, y: F32, rows: number, cols: number): void;
  /** Log-softmax over the last axis of x (rows, cols). */
  logSoftmax(out: F32, x: F32, rows: number, cols: number): void;
  /** dx += dy - exp(y) * sum(dy) per row, where y = logSoftmax(x). */
  logSoftmaxBackward(dx: F32, dy: F32, y: F32, rows: number, cols: number): void;
  /**
   * out[r, j] = scale * (exp(x[r, j] - shift[r]) + eps) over x (rows, cols) and shift (rows):
   * the positive random features of FAVOR+ (Choromanski et al. 2021, Lemma 1; performer-
   * pytorch's stabilizer folded into shift) in one pass instead of five.
   */
  expShift(
    out: F32,
    x: F32,
    shift: F32,
    rows: number,
    cols: number,
    scale: number,
    eps: number,
  ): void;
  /**
   * With y = expShift(x, shift) and g = dy * (y - scale * eps): dx += g and dshift[r] -= sum_j
   * g[r, j]. dx or dshift may be null (not wanted).
   */
  expShiftBackward(
    dx: F32 | null,
    dshift: F32 | null,
    dy: F32,
    y: F32,
    rows: number,
    cols: number,
    scale: number,
    eps: number,
  ): void;

  /**
   * Layer normalization over the last axis (Ba et al., 2016), as torch.nn.LayerNorm:
   * out = (x - mean) * rstd * weight + bias, rstd = 1/sqrt(var + eps), var biased.
   * x, out (N, C); mean, rstd (N) saved for the backward; weight, bias (C) or null.
   */
  layerNormForward(
    out: F32,
    mean: F32,
    rstd: F32,
    x: F32,
    weight: F32 | null,
    bias: F32 | null,
    N: number,
    C: number,
    eps: number,
  ): void;
  /**
   * Accumulates dx (N, C), dweight (C), dbias (C) (either may be null). With accumulate
   * false (default true), dx is overwritten instead (its contents may be arbitrary).
   */
  layerNormBackward(
    dx: F32,
    dweight: F32 | null,
    dbias: F32 | null,
    dy: F32,
    x: F32,
    weight: F32 | null,
    mean: F32,
    rstd: F32,
    N: number,
    C: number,
    accumulate?: boolean,
  ): void;

  /** out (N, C) = weight[ids[n]] for weight (V, C). Ids are checked by the caller. */
  embeddingForward(out: F32, weight: F32, ids: I32, N: number, C: number): void;
  /** dweight[ids[n]] += dy[n] (scatter-add). */
  embeddingBackward(dweight: F32, dy: F32, ids: I32, N: number, C: number): void;

  /**
   * Cross-entropy from logits (N, V) and int32 targets (N), per row, as
   * torch.nn.functional.cross_entropy(reduction='none', label_smoothing=ls):
   *   loss_n = -(1 - ls) * logp[t_n] - (ls / V) * sum_v logp[v]
   * Rows whose target equals ignoreIndex get loss 0. `lse` (N) receives logsumexp of
   * each row, saved for the backward.
   */
  crossEntropyForward(
    losses: F32,
    lse: F32,
    logits: F32,
    targets: I32,
    N: number,
    V: number,
    ignoreIndex: number,
    labelSmoothing: number,
  ): void;
  /**
   * dlogits (N, V) += dloss[n] * (softmax - ((1-ls) onehot + ls/V)); ignored rows get 0.
   * With accumulate false, dlogits is overwritten (its contents may be arbitrary): = instead
   * of +=, and ignored rows are set to 0.
   */
  crossEntropyBackward(
    dlogits: F32,
    dlosses: F32,
    logits: F32,
    lse: F32,
    targets: I32,
    N: number,
    V: number,
    ignoreIndex: number,
    labelSmoothing: number,
    accumulate: boolean,
  ): void;

  /**
   * Strided gather: out (dense, `shape`) [i0..ik] = x[offset + sum_j i_j * strides[j]].
   * Implements permute/transpose, slice and the copies of concat/split. rank <= 6.
   */
  stridedCopy(
    out: F32,
    x: F32,
    shape: readonly number[],
    strides: readonly number[],
    offset: number,
  ): void;
  /** Inverse of stridedCopy, accumulating: x[offset + sum i_j strides[j]] += g[i]. */
  stridedAccumulate(
    x: F32,
    g: F32,
    shape: readonly number[],
    strides: readonly number[],
    offset: number,
  ): void;

  /**
   * `adamw` over many tensors in one call (a multi-tensor apply, as PyTorch's fused and
   * `_foreach` optimizers): tensor i is params[i], grads[i], m[i], v[i], all of one length;
   * the kernel runs over their concatenation, split over the threads in blocks that may
   * span tensors. Same arithmetic as adamw, element for element.
   * @throws RangeError if the four lists or a tensor's four buffers differ in length.
   */
  adamwMulti(params: F32[], grads: F32[], m: F32[], v: F32[], ...hyper: AdamWHyper): void;

  /**
   * An inverted-dropout mask (Srivastava et al. 2014, Sec. 5.4): out[i] = 0 when u_i <
   * threshold, else keep, with threshold = p * 2^32 (compared exactly in double) and keep =
   * 1 / (1 - p) rounded to float32. u_i is a counter-based draw (as PyTorch's Philox
   * dropout, Salmon et al. 2011, a function of the element index and a key): with
   * fmix32 the finalizer of MurmurHash3,
   *   u_i = fmix32(fmix32((i + key0) mod 2^32) ^ key1)
   * so any chunk of the mask can be drawn on any thread, with the same result.
   * key0 and key1 are uint32 (drawn from the op's Generator).
   */
  dropoutMask(
    out: F32,
    n: number,
    threshold: number,
    keep: number,
    key0: number,
    key1: number,
  ): void;

  /**
   * One AdamW step over a flat buffer (PyTorch torch.optim.AdamW, Loshchilov & Hutter 2019):
   *   p -= lr * wd * p;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
   *   p -= lr * (m / (1-b1^step)) / (sqrt(v / (1-b2^step)) + eps)
   * With weightDecay 0 this is Adam without L2 term. step >= 1.
   */
  adamw(param: F32, grad: F32, m: F32, v: F32, n: number, ...hyper: AdamWHyper): void;
}

/** Names of every kernel. */
export type KernelName = keyof Kernels;

/** A backend: a name plus every kernel (exhaustive). */
export type Backend = { readonly name: 'js' | 'native'; setThreads(n: number): void } & {
  [K in KernelName]: Kernels[K];
};
