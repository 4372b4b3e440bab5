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

export type F32 = Float32Array;
export type I32 = Int32Array;

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

/** The scalar arguments of the AdamW kernels, in order (the same for adamw and adamwMulti). */
export type AdamWHyper = [
  lr: number,
  beta1: number,
  beta2: number,
  eps: number,
  weightDecay: number,
  step: number,
];

export interface Kernels {
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
  matmulDeferred(
    out: F32,
    a: F32,
    b: F32,
    M: number,
    N: number,
    K: number,
    transA: boolean,
    transB: boolean,
    beta: number,
  ): void;

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
   * t of every slice attends only the keys cols[rowPtr[t] .. rowPtr[t+1]) (each in [0, S);
   * nnz = rowPtr[T] entries, shared by all slices). For entry e of row t, key s = cols[e]:
   *   weights[b, e] = softmax over the row's entries of (q_t . k_s * scale + bias[b, s])
   *   out_t = sum_e weights[b, e] * dropMask[b, e] * v_s
   * weights (BH, nnz) saved, pre-dropout. q, k, v, out in the head layout of
   * attentionForward (geometry; `causal` and `maskStrideT` are not read: the pattern says
   * which keys a query sees). `bias` is a per-key additive bias read at
   * bias[b*maskStrideB + s] (-Infinity forbids a key: key padding), or null. dropMask
   * (BH, nnz) holds 0 or 1/(1-p), or null. A row with no keys, or all of them forbidden,
   * gets weights 0 and out 0. Time O(BH nnz D), no (T, S) buffer.
   * @throws RangeError (native) when rowPtr is not (T + 1) non-decreasing from 0, a column
   *   is outside [0, S), or an array is shorter than the geometry needs.
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

  /**
   * Train word vectors in place with negative sampling (Mikolov et al. 2013), as word2vec.c:
   * see src/backend/js-word2vec.ts (the specification). syn0 (V, D) input vectors, syn1
   * (V, D) output vectors; corpus (N) word ids with -1 at sentence breaks; keepProb (V) the
   * subsampling keep probability of each word (>= 1: always kept); table the unigram^0.75
   * negative-sampling table of word ids. Native: the corpus split over the pool's threads,
   * updates racing as in word2vec.c (Hogwild), so more than one thread is not bit-for-bit
   * reproducible. @returns positions trained (after subsampling), over all epochs.
   */
  word2vecTrain(
    syn0: F32,
    syn1: F32,
    corpus: I32,
    keepProb: F32,
    table: I32,
    params: Word2VecParams,
  ): number;

  /**
   * The gate math of one recurrent step, fused (torch.nn.GRU / LSTM equations; the input and
   * recurrent projections gi = W_ih x + b_ih and gh = W_hh h + b_hh come from GEMMs).
   * GRU (gates r, z, n; prev = h (B, H)): out (B, H) = h' = (1 - z) n + z h with
   *   r = sigmoid(gi_r + gh_r), z = sigmoid(gi_z + gh_z), n = tanh(gi_n + r gh_n);
   *   saved (B, 4H) = [r, z, n, gh_n].
   * LSTM (gates i, f, g, o; prev = c (B, H)): out (B, 2H) = [h', c'] with c' = f c + i g,
   *   h' = o tanh(c'); saved (B, 5H) = [i, f, g, o, tanh(c')].
   * gi, gh (B, G*H), G = 3 (GRU) or 4 (LSTM), gates in that order along each row.
   */
  rnnCellForward(
    out: F32,
    saved: F32,
    gi: F32,
    gh: F32,
    prev: F32,
    B: number,
    H: number,
    lstm: boolean,
  ): void;
  /**
   * Backward of rnnCellForward: accumulates dgi, dgh (B, G*H) and dprev (B, H) (any may be
   * null) from dout (the shape of out), with saved and prev of the forward.
   */
  rnnCellBackward(
    dgi: F32 | null,
    dgh: F32 | null,
    dprev: F32 | null,
    dout: F32,
    saved: F32,
    prev: F32,
    B: number,
    H: number,
    lstm: boolean,
  ): void;
}

/** The settings of Kernels.word2vecTrain. */
export interface Word2VecParams {
  /** D, the vector width. */
  dim: number;
  /** Largest window: up to `window` words each side (reduced at random per position). */
  window: number;
  /** Negative samples per prediction. */
  negative: number;
  epochs: number;
  /** Starting learning rate, decayed linearly to alpha * 1e-4. */
  alpha: number;
  /** CBOW (true) or Skip-gram (false). */
  cbow: boolean;
  /** uint32 seed of the per-thread random streams. */
  seed: number;
}

/** Names of every kernel. */
export type KernelName = keyof Kernels;

/** A backend: a name plus every kernel (exhaustive). */
export type Backend = { readonly name: 'js' | 'native'; setThreads(n: number): void } & {
  [K in KernelName]: Kernels[K];
};
