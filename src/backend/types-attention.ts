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
   * (0 broadcasts; maskStrideT may be negative: a relative-position bias stored as one row
   * of diagonals per slice, read at maskOffset + b*maskStrideB + t*maskStrideT + s). Default 0. */
  maskStrideB?: number;
  maskStrideT?: number;
  /** Forward only: the mask's element offset (>= 0). Default 0. */
  maskOffset?: number;
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
  'maskOffset',
] as const satisfies readonly (keyof AttentionGeometry)[];

/**
 * The sizes and rules of one gathered-attention call (gatheredAttentionForward /
 * gatheredAttentionBackward): the content-based sparse attention of LSH and routing
 * attention (src/attention/gathered.ts), whose plan puts each slice's query rows into G
 * groups of Q slots and gives each group K key slots. All integers >= 0.
 */
export interface GatheredGeometry {
  /** Slices: batch x heads. */
  BH: number;
  /** Groups per slice. */
  G: number;
  /** Query slots per group. */
  Q: number;
  /** Key slots per group. */
  K: number;
  /** Queries per slice (rows of out). */
  T: number;
  /** Slots per query (LSH rounds; routing clusters). */
  M: number;
  /** Rows per slice of q (dense (BH, Lq, D)). */
  Lq: number;
  /** Rows per slice of k and v (dense (BH, Lk, D)); key row r is position r. */
  Lk: number;
  /** Head width. */
  D: number;
  /** Multiplies q k^T. */
  scale: number;
  /** Forbid a key at a position after its query's (query row t is at position qStart + t). */
  causal: boolean;
  /** Position of query row 0. */
  qStart: number;
  /** A query's own position as a key scores GATHERED_SELF_SCORE plus its bias (shared QK). */
  flagSelf: boolean;
  /** Combine a query's slots by their mean (routing); else one softmax over the union of
   * its slots' keys, each slot weighted by its log-sum-exp (LSH's multi-round). */
  mean: boolean;
}

/** GatheredGeometry's fields in the packed order of the addon (native/tables.h). */
export const GATHERED_GEOMETRY_FIELDS = [
  'BH',
  'G',
  'Q',
  'K',
  'T',
  'M',
  'Lq',
  'Lk',
  'D',
  'scale',
  'causal',
  'qStart',
  'flagSelf',
  'mean',
] as const satisfies readonly (keyof GatheredGeometry)[];

/**
 * The score a query gives its own key in shared-QK attention (GatheredGeometry.flagSelf):
 * large and negative, so that a token attends itself only when no other key is allowed
 * (Kitaev et al. 2020, Sec. 2 "Causal masking for shared-QK attention"; trax's -1e5).
 */
export const GATHERED_SELF_SCORE = -1e5;

/** The attention kernels (see the file's comment). */
export interface AttentionKernels {
  /**
   * Fused scaled dot-product attention, Eq. 1 of Vaswani et al. (2017), Sec. 3.2.1:
   *   weights = softmax(q k^T * scale + mask (+ causal)), out = dropout(weights) v
   * weights (BH, T, S) saved, dense. q, k, v and out are read/written in the head layout
   * below (dense (BH, T, D) / (BH, S, D) when H = 1 and every ld = D).
   * Sizes, layout and attributes come in `geometry` (AttentionGeometry).
   * `mask` is an additive float mask (-Infinity = may not attend) read at
   * mask[maskOffset + b*maskStrideB + t*maskStrideT + s] for b in [0, BH), or null. `causal` forbids
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
   * A fully masked row gets out 0 and lse -Infinity. `kvLen` (or null), one key count in
   * [0, S] per batch block (slice b reads kvLen[b / H]), masks the keys from it on, as a
   * right-padded key padding mask would (the mask can then be a relative bias's
   * diagonals). `dropout` (or null) regenerates,
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
    kvLen?: I32 | null,
  ): void;
  /**
   * Tiled backward (Dao et al. 2022, Algorithm 2 / FlashAttention-2's Delta = rowsum(dout *
   * out)): recomputes the weights block by block from q, k, the mask and the saved `lse`
   * (BH, T), and accumulates dq, dk, dv (overwrites their slices when accumulate is
   * false), as attentionBackward does from the saved weights. Arguments as
   * flashAttentionForward; `out` is its output. `dmask`, when given, receives the gradient
   * of a relative bias's diagonals (RelativeBias: the mask read with maskStrideT -1 from
   * maskOffset T - 1, a row of T + S - 1 values per slice): dmask[maskOffset +
   * b*maskStrideB - t + s] += P (dP - Delta) for every score (t, s) of slice b (added to
   * what is there).
   * @throws RangeError when dmask is given for another mask layout, or is shorter than
   *   the mask; or kvLen is short or out of [0, S] (both kernels).
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
    dmask?: F32 | null,
    kvLen?: I32 | null,
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
   * gets weights 0 and out 0. Time O(BH nnz D), no (T, S) buffer. When `lse` (BH, T) is
   * given, lse[b*T + t] receives row t's log-sum-exp of its scores (-Infinity for a row
   * with no keys or all of them forbidden).
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
    lse?: F32 | null,
  ): void;
  /**
   * Accumulates dq, dk, dv of sparseAttentionForward given dout and the saved weights
   * (BH, nnz), in the same head layout (dq like q, dk/dv like k/v, dout like out). dq, dk,
   * dv may be views into one buffer at different column offsets (disjoint elements).
   * `delta` (BH, T), when given, replaces each row's sum(dP P) over its entries in
   * dS = P (dP - sum) scale (row b*T + t): the rows are part of a softmax over more keys
   * than the pattern's, whose Delta is dout . out of the whole (FlashAttention-2's D),
   * and the weights and dout are scaled to that softmax (F.sparseAttentionParts).
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
    delta?: F32 | null,
  ): void;
  /**
   * The row pass of sparse attention over pattern parts (F.sparseMultiHeadAttentionParts):
   * out[n, i, h] = alpha[(n*H + h)*L + i] * x[n, rows[i], h] (added to out when
   * `accumulate`), rows of (B, L, H*D) float32 holding H heads of D columns.
   * @throws RangeError (native) when an array is shorter than B, L, H, D need or a row index
   *   is outside [0, L).
   */
  headRowsScale(
    out: F32,
    x: F32,
    rows: I32,
    alpha: F32,
    accumulate: boolean,
    B: number,
    L: number,
    H: number,
    D: number,
  ): void;
  /**
   * Per-head row dot products of two (B, L, H*D) arrays: out[(n*H + h)*L + t] =
   * x[n, t, h] . y[n, t, h] (the Delta = dout . out of an attention's backward).
   * @throws RangeError (native) when an array is shorter than B, L, H, D need.
   */
  headRowsDot(out: F32, x: F32, y: F32, B: number, L: number, H: number, D: number): void;
  /**
   * The merge weights of P softmaxes over disjoint (or signed) key sets of the same N rows
   * (F.sparseMultiHeadAttentionParts): given each part's row log-sum-exp lse[p*N + x] and
   * its sign (+1, or -1 for a part whose pairs are taken away),
   *   alpha[p*N + x] = sign_p exp(lse[p*N + x] - m_x) / sum_q sign_q exp(lse[q*N + x] - m_x),
   * m_x = max_p lse[p*N + x]; 0 for every part when m_x is -Infinity (all keys forbidden) or
   * the sum is <= 0, NaN when a NaN is there. Milakov & Gimelshein 2018's merge of partial
   * softmaxes (FlashAttention's split-KV).
   * @param alpha (P*N) float32, written. @param lse (P*N) float32. @param signs (P) float32.
   * @throws RangeError (native) when an array is shorter than P and N need.
   */
  lseMergeWeights(alpha: F32, lse: F32, signs: F32, P: number, N: number): void;

  /**
   * Attention within the groups of a gather plan (Lin et al. 2021, Sec. 4.1.2; Reformer's
   * LSH attention, Kitaev et al. 2020, Sec. 2; the Routing Transformer, Roy et al. 2021),
   * fused: no gathered copies, score tensors or masks. Per slice b, group g (gg = b*G + g):
   * query slot i (qs = gg*Q + i) holds query row qRow[qs] (-1: empty), key slot j holds key
   * row kRow[gg*K + j] (-1: empty, never attended). Slot qs's score for key slot j (key row
   * s, query position p = qStart + qRow[qs]) is
   *   -Infinity                  when s < 0, or causal and s > p,
   *   SELF_SCORE + bias[b, s]    when flagSelf and s = p,
   *   q . k_s * scale + bias[b, s]  otherwise (bias (BH, Lk) additive per key, or 0),
   * its weights the softmax over its K slots, slotLse[qs] their log-sum-exp (-Infinity when
   * all are forbidden) and slotOut[qs] = sum_j weight_j * dropMask[qs*K + j] * v_s (0 when
   * none). Query t of slice b has the slots slot[(b*T + t)*M + m] (a slot index g*Q + i
   * within the slice, or -1); out[b, t] combines them: with `mean`, their average (0 when
   * none; rowLse 0); else sum_m exp(slotLse_m - L) slotOut_m with L = rowLse[b, t] = log
   * sum_m exp(slotLse_m) (-Infinity and out 0 when every slot is empty or forbidden).
   * q (BH, Lq, D) with Lq = T (query row t is query t), k and v (BH, Lk, D), out (BH, T,
   * D), slotOut (BH*G*Q, D), slotLse (BH*G*Q) and rowLse (BH*T) written whole; dropMask
   * (BH*G*Q*K) of 0 or 1/(1-p), or null. A slot's scores holding a NaN give it NaN weights,
   * lse and output (and, with 'lse', its query NaN), as attentionForward's rows.
   * @throws RangeError (native) when an array is shorter than the geometry needs, a size
   *   overflows, Lq != T, a row index is outside its range, or the slot lists and qRow
   *   disagree (a query names a slot that holds another query, or a filled slot is unnamed).
   */
  gatheredAttentionForward(
    out: F32,
    slotOut: F32,
    slotLse: F32,
    rowLse: F32,
    q: F32,
    k: F32,
    v: F32,
    qRow: I32,
    kRow: I32,
    slot: I32,
    bias: F32 | null,
    dropMask: F32 | null,
    geometry: Readonly<GatheredGeometry>,
  ): void;
  /**
   * Accumulates dq, dk, dv of gatheredAttentionForward given dout and the forward's out,
   * slotOut and slotLse (the weights recomputed group by group; a query's log-normalizer
   * recomputed from its slots' log-sum-exps as a maximum plus a log-sum, since one float
   * near the self score's -1e5 would lose ~4e-3 of it). The self score is a constant: no
   * gradient reaches q or k through it.
   */
  gatheredAttentionBackward(
    dq: F32,
    dk: F32,
    dv: F32,
    dout: F32,
    out: F32,
    slotOut: F32,
    slotLse: F32,
    q: F32,
    k: F32,
    v: F32,
    qRow: I32,
    kRow: I32,
    slot: I32,
    bias: F32 | null,
    dropMask: F32 | null,
    geometry: Readonly<GatheredGeometry>,
  ): void;
  /**
   * Reformer's LSH buckets from the rotated rows (Kitaev et al. 2020, Sec. 2: h(x) =
   * argmax([xR; -xR])): out[(bh*R + r)*L + l] = the argmax over [p; -p] of the round-r
   * projections p = proj[((bh*L + l)*R + r)*half ..][0 .. half) of row (bh, l), the first of
   * equals: the largest projection's index, or half + the smallest's when its negation is
   * larger (a NaN compares false: it never wins).
   * @param out (BH*R*L) int32, written. @param proj (BH*L*R*half) float32.
   * @throws RangeError (native) when an array is shorter than the sizes need or half < 1.
   */
  lshBuckets(out: I32, proj: F32, BH: number, L: number, R: number, half: number): void;
}
