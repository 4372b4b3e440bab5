/**
 * The attention part of the kernel contract (src/backend/types.ts `Kernels` extends it): the
 * packed geometry of one attention call, the tiled kernel's dropout keys, and the dense
 * fused, tiled (FlashAttention) and sparse (CSR pattern) attention kernels.
 *
 * Shape letters: B batch, H heads, BH batch x heads, T queries, S keys, D head width.
 */
type F32 = Float32Array;
type I32 = Int32Array;

/**
 * The sizes, head layout and attributes of one fused attention call (attentionForward,
 * attentionBackward), in one object instead of positional integers. All integers >= 0.
 * The native backend packs it into a reused Float64Array in the order of
 * ATTENTION_GEOMETRY_FIELDS (no allocation per call); the addon parses and checks it once
 * into one C struct (`att_geom`, native/kernels.h) that both kernels take.
 */
export interface AttentionGeometry {
  /** Slices: batch x heads. H divides BH. */
  BH: number;
  /** Query rows per slice. */
  T: number;
  /** Keys per slice. */
  S: number;
  /** Head width. */
  D: number;
  /** Heads per block of rows (1 for dense (BH, T, D) arrays); see the head layout. */
  H: number;
  /** Row strides of q, k, v and out (each >= H*D; D when dense). */
  ldq: number;
  ldk: number;
  ldv: number;
  ldo: number;
  /** Rows between the batch blocks of k and v (>= S; S when dense). */
  kvRows: number;
  /** Multiplies q k^T (1/sqrt(D) in Eq. 1). */
  scale: number;
  /** Forward only: forbid s > t + (S - T). Default false. */
  causal?: boolean;
  /** Forward only: element strides of the additive mask per slice and per query row
   * (0 broadcasts). Default 0. */
  maskStrideB?: number;
  maskStrideT?: number;
}

/**
 * The dropout of a tiled attention call, regenerated inside the kernel: the element of
 * dropoutMask(n, threshold, keep, key0, key1) at index (bh*T + t)*S + s (see dropoutMask).
 */
export interface AttentionDropout {
  /** p * 2^32. */
  threshold: number;
  /** 1 / (1 - p). */
  keep: number;
  /** uint32 keys, drawn from the op's Generator. */
  key0: number;
  key1: number;
}

/** AttentionGeometry's fields in the packed order of the addon (native/tables.h). */
export const ATTENTION_GEOMETRY_FIELDS = [
  'BH',
  'T',
  'S',
  'D',
  'H',
  'ldq',
  'ldk',
  'ldv',
  'ldo',
  'kvRows',
  'scale',
  'causal',
  'maskStrideB',
  'maskStrideT',
] as const satisfies readonly (keyof AttentionGeometry)[];

/** The attention kernels (see the file's comment). */
export interface AttentionKernels {
  /**
   * Fused scaled dot-product attention, Eq. 1 of Vaswani et al. (2017), Sec. 3.2.1:
   *   weights = softmax(q k^T * scale + mask (+ causal)), out = dropout(weights) v
   * weights (BH, T, S) saved, dense. q, k, v and out are read/written in the head layout
   * below (dense (BH, T, D) / (BH, S, D) when H = 1 and every ld = D).
   * Sizes, layout and attributes come in `geometry` (AttentionGeometry).
   * `mask` is an additive float mask (-Infinity = may not attend) read at
   * mask[b*maskStrideB + t*maskStrideT + s] for b in [0, BH), or null. `causal` forbids
   * s > t + (S - T). A row whose keys are all masked gets weights 0 and out 0; a row whose
   * scores hold a NaN (from q, k or the mask) gets NaN weights and out, and a weight of 0
   * still multiplies its value row (0 * NaN = NaN), as in PyTorch.
   * `dropMask` (BH, T, S) holds 0 or 1/(1-p) per weight (applied after softmax), or null.
   *
   * Head layout (multi-head attention straight on the projections, no permute copies):
   * slice bh = n*H + h (n in [0, BH/H)) of q is rows n*T .. n*T+T-1 of a row-major array
   * with row stride ldq, columns [h*D, h*D + D):
   *   q[bh][t][d] = q[(n*T + t)*ldq + h*D + d],  k[bh][s][d] = k[(n*R + s)*ldk + h*D + d],
   *   v likewise with ldv, out[bh][t][d] = out[(n*T + t)*ldo + h*D + d],
   * with R = kvRows (>= S; S for dense k and v).
   * So q, k, v may be views (subarrays) at column offsets of one packed (B, L, 3C)
   * projection, and out is (B, T, H*D). H divides BH; every ld >= H*D. kvRows > S reads
   * k and v from the first S rows of buffers with room for kvRows (a growing KV cache).
   * @throws RangeError (native) when an array is shorter than the geometry needs, H does
   *   not divide BH, an ld < H*D or kvRows < S.
   */
  attentionForward(
    out: F32,
    weights: F32,
    q: F32,
    k: F32,
    v: F32,
    mask: F32 | null,
    dropMask: F32 | null,
    geometry: Readonly<AttentionGeometry>,
  ): void;
  /**
   * Accumulates dq, dk, dv given dout and the saved weights (pre-dropout softmax), in the
   * head layout of attentionForward (dq like q with ldq, dk/dv like k/v, dout like out).
   * dq, dk, dv may be views into one buffer at different column offsets (disjoint elements).
   * With accumulate false (default true) each slice's elements of dq, dk, dv are
   * overwritten instead; elements outside the layout are left as they are.
   */
  attentionBackward(
    dq: F32,
    dk: F32,
    dv: F32,
    dout: F32,
    q: F32,
    k: F32,
    v: F32,
    weights: F32,
    dropMask: F32 | null,
    geometry: Readonly<AttentionGeometry>,
    accumulate?: boolean,
  ): void;

  /**
   * Tiled (FlashAttention) forward of the same attention as attentionForward, in memory
   * linear in T: per query block, the keys are visited block by block with a running row
   * max and sum (online softmax; Dao et al. 2022, Algorithm 1; Milakov & Gimelshein 2018),
   * and only out and the per-row logsumexp `lse` (BH, T) are written; no (T, S) buffer.
   * Same head layout, mask, causal and NaN rules as attentionForward, except that keys in
   * key blocks a causal row cannot see are skipped (a NaN there does not reach the row).
   * A fully masked row gets out 0 and lse -Infinity. `dropout` (or null) regenerates,
   * element for element, the mask dropoutMask(BH*T*S, ...) would draw with its keys
   * (index (bh*T + t)*S + s), so the result equals attentionForward with that mask.
   */
  flashAttentionForward(
    out: F32,
    lse: F32,
    q: F32,
    k: F32,
    v: F32,
    mask: F32 | null,
    dropout: Readonly<AttentionDropout> | null,
    geometry: Readonly<AttentionGeometry>,
  ): void;
  /**
   * Tiled backward (Dao et al. 2022, Algorithm 2 / FlashAttention-2's Delta = rowsum(dout *
   * out)): recomputes the weights block by block from q, k, the mask and the saved `lse`
   * (BH, T), and accumulates dq, dk, dv (overwrites their slices when accumulate is
   * false), as attentionBackward does from the saved weights. Arguments as
   * flashAttentionForward; `out` is its output.
   */
  flashAttentionBackward(
    dq: F32,
    dk: F32,
    dv: F32,
    dout: F32,
    q: F32,
    k: F32,
    v: F32,
    out: F32,
    lse: F32,
    mask: F32 | null,
    dropout: Readonly<AttentionDropout> | null,
    geometry: Readonly<AttentionGeometry>,
    accumulate?: boolean,
  ): void;
  /**
   * Sparse scaled dot-product attention over a pattern in CSR form (the survey's
   * position-based sparse attention, Lin et al. 2021, Sec. 4.1.1; Child et al. 2019): query
   * t of every slice attends only the keys cols[rowPtr[t] .. rowPtr[t+1]) (each in [0, S),
   * strictly ascending within a row; nnz = rowPtr[T] entries, shared by all slices). For entry e of row t, key s = cols[e]:
   *   weights[b, e] = softmax over the row's entries of (q_t . k_s * scale + bias[b, s])
   *   out_t = sum_e weights[b, e] * dropMask[b, e] * v_s
   * weights (BH, nnz) saved, pre-dropout. q, k, v, out in the head layout of
   * attentionForward (geometry; `causal` and `maskStrideT` are not read: the pattern says
   * which keys a query sees). `bias` is a per-key additive bias read at
   * bias[b*maskStrideB + s] (-Infinity forbids a key: key padding), or null. dropMask
   * (BH, nnz) holds 0 or 1/(1-p), or null. A row with no keys, or all of them forbidden,
   * gets weights 0 and out 0. Time O(BH nnz D), no (T, S) buffer.
   * @throws RangeError (native) when rowPtr is not (T + 1) non-decreasing from 0, a column
   *   is outside [0, S), a row's columns are not strictly ascending, or an array is shorter
   *   than the geometry needs.
   */
  sparseAttentionForward(
    out: F32,
    weights: F32,
    q: F32,
    k: F32,
    v: F32,
    rowPtr: I32,
    cols: I32,
    bias: F32 | null,
    dropMask: F32 | null,
    geometry: Readonly<AttentionGeometry>,
  ): void;
  /**
   * Accumulates dq, dk, dv of sparseAttentionForward given dout and the saved weights
   * (BH, nnz), in the same head layout (dq like q, dk/dv like k/v, dout like out). dq, dk,
   * dv may be views into one buffer at different column offsets (disjoint elements).
   */
  sparseAttentionBackward(
    dq: F32,
    dk: F32,
    dv: F32,
    dout: F32,
    q: F32,
    k: F32,
    v: F32,
    rowPtr: I32,
    cols: I32,
    weights: F32,
    dropMask: F32 | null,
    geometry: Readonly<AttentionGeometry>,
  ): void;
}
