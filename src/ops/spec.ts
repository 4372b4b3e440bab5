/**
 * The op contract (tfjs `kernel_names.ts` style): every differentiable op's name and the
 * attributes its forward saves for the backward. `OpName` keys both the tape
 * (autograd.ts) and the gradient table (gradients.ts), which is exhaustive over it.
 *
 * Inputs are listed in the order the op records them; `null` inputs (an absent bias) are
 * allowed where noted.
 */
import type {
  AttentionDropout,
  AttentionGeometry,
  BinaryOp,
  GatheredGeometry,
  ScalarOp,
  UnaryOp,
} from '../backend/types.js';

export interface OpAttrs {
  /** inputs [a, b]; out[b] = op(a[b]) @ op(b[b]); batch strides 0 broadcast. */
  matmul: {
    batch: number;
    M: number;
    N: number;
    K: number;
    transA: boolean;
    transB: boolean;
    strideA: number;
    strideB: number;
  };
  /**
   * inputs [x, weight, bias | null]: y (N, out) = x (N, in) W^T (in, out) + b, where W is
   * rows [rowStart, rowStart + out) of weight and b the same entries of bias.
   */
  linear: { N: number; inFeatures: number; outFeatures: number; rowStart: number };
  /** inputs [a, b] with broadcasting over `shape`. */
  binary: { op: BinaryOp; shape: number[]; aStrides: number[]; bStrides: number[] };
  /** inputs [x]: out = x op s. */
  scalar: { op: ScalarOp; s: number };
  /** inputs [x]. */
  unary: { op: UnaryOp };
  /** inputs [x]: sum over the middle axis of (outer, dim, inner). */
  sum: { outer: number; dim: number; inner: number };
  /** inputs [x]: max over the middle axis; argmax saved. */
  max: { outer: number; dim: number; inner: number; argmax: Int32Array };
  /** inputs [x]: a view with another shape. */
  reshape: Record<string, never>;
  /** inputs [x]: out = gather of x at `strides` from `offset` over the output shape. */
  gather: { shape: number[]; strides: number[]; offset: number };
  /** inputs [...parts] along `axis`; `sizes` per part. */
  concat: { axis: number; sizes: number[]; outShape: number[] };
  /** inputs [x] over the last axis. */
  softmax: { rows: number; cols: number };
  /** inputs [x] over the last axis. */
  logSoftmax: { rows: number; cols: number };
  /** inputs [x (rows, cols), shift (rows)]: scale * (exp(x - shift) + eps). */
  expShift: { rows: number; cols: number; scale: number; eps: number };
  /** inputs [x, weight | null, bias | null]. */
  layerNorm: { N: number; C: number; mean: Float32Array; rstd: Float32Array };
  /** inputs [weight]: rows `ids` gathered. */
  embedding: { ids: Int32Array; N: number; C: number };
  /** inputs [x]: masked positions replaced by a constant. `mask` broadcast by strides. */
  maskedFill: { mask: Uint8Array; shape: number[]; maskStrides: number[] };
  /** inputs [logits]: per-row losses (N). */
  crossEntropy: {
    targets: Int32Array;
    lse: Float32Array;
    N: number;
    V: number;
    ignoreIndex: number;
    labelSmoothing: number;
  };
  /**
   * inputs [q, k, v] (possibly the same tensor): fused scaled dot-product attention;
   * weights saved. q, k, v are read at element offsets qOff, kOff, vOff in the kernels'
   * head layout (H, row strides ldq, ldk, ldv, ldo, kvRows; see the attentionForward kernel).
   */
  /** inputs [gi, gh, prev]: one fused GRU/LSTM step (backend rnnCellForward); gates saved. */
  rnnCell: { B: number; H: number; lstm: boolean; saved: Float32Array };
  attention: AttentionGeometry & {
    weights: Float32Array;
    dropMask: Float32Array | null;
    qOff: number;
    kOff: number;
    vOff: number;
  };
  /**
   * inputs [q, k, v] or [q, k, v, table]: the same attention tiled (FlashAttention,
   * flashAttentionForward); the per-row logsumexp (BH, T), the additive mask and the dropout
   * keys saved instead of the weights. `table` is a learned relative bias's diagonals
   * (T + S - 1, H) (RelativeBias.table; the mask holds its values); its gradient comes from
   * the kernel's dmask.
   */
  tiledAttention: AttentionGeometry & {
    lse: Float32Array;
    mask: Float32Array | null;
    dropout: AttentionDropout | null;
    /** Keys per batch block, or null (flashAttentionForward's kvLen). */
    kvLen: Int32Array | null;
    qOff: number;
    kOff: number;
    vOff: number;
  };
  /**
   * inputs [q, k, v] (possibly the same tensor): sparse attention over the CSR pattern
   * (rowPtr, cols); weights (BH, nnz) saved. Layout and offsets as `attention`.
   */
  sparseAttention: AttentionGeometry & {
    rowPtr: Int32Array;
    cols: Int32Array;
    weights: Float32Array;
    dropMask: Float32Array | null;
    qOff: number;
    kOff: number;
    vOff: number;
  };
  /**
   * inputs [q, k, v] (possibly the same tensor): sparse attention over disjoint pattern
   * parts merged by log-sum-exp (sparse-parts.ts); each part's weights, order, packed
   * inputs and merge weights saved.
   */
  sparseAttentionParts: SparsePartsAttrs;
  /**
   * inputs [q, k, v] (B, H, L, D): attention within a gather plan's groups
   * (gatheredAttentionForward); its slot outputs and log-sum-exps saved for the backward.
   */
  gatheredAttention: GatheredGeometry & {
    qRow: Int32Array;
    kRow: Int32Array;
    slot: Int32Array;
    bias: Float32Array | null;
    dropMask: Float32Array | null;
    slotOut: Float32Array;
    slotLse: Float32Array;
    rowLse: Float32Array;
  };
}

export type OpName = keyof OpAttrs;

/** What a part of sparseAttentionParts saves for the backward (./sparse-parts.ts). */
export interface SavedPart {
  /** The part's CSR pattern (F.SparsePattern's rows; not imported: ./sparse.ts records). */
  pattern: { readonly rowPtr: Int32Array; readonly cols: Int32Array };
  order: Int32Array | null;
  /** The inverse of order (position -> index in the order), or null. */
  inverse: Int32Array | null;
  /** The (B*L) row ids of the part's order, n*L + order[i], or null. */
  ids: Int32Array | null;
  /**
   * q, k, v in the part's order, or null (the inputs themselves): the one packed input's
   * rows gathered whole when q, k, v are one tensor (same columns), else (B, L, 3C) rows
   * [q | k | v].
   */
  packed: Float32Array | null;
  /** The per-key bias (B*H slices of L keys, stride sB) with its keys in the part's order. */
  bias: { data: Float32Array; sB: number } | null;
  /** PatternPart.sign. */
  sign: 1 | -1;
  weights: Float32Array;
  dropMask: Float32Array | null;
  /** (B*H, L) merge weight alpha_p of each query, in position order (< 0 for sign -1). */
  alpha: Float32Array;
}

/** The attributes of sparseAttentionParts' tape node (./sparse-parts.ts). */
export interface SparsePartsAttrs {
  B: number;
  H: number;
  L: number;
  D: number;
  scale: number;
  qOff: number;
  kOff: number;
  vOff: number;
  ldq: number;
  ldk: number;
  ldv: number;
  /** q, k and v are one tensor: a part's order gathers its rows whole. */
  whole: boolean;
  parts: SavedPart[];
}
