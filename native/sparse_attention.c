/*
 * Sparse attention over a CSR pattern (sparseAttentionForward / sparseAttentionBackward of
 * src/backend/types.ts; src/backend/js-sparse.ts is the specification): the survey's
 * position-based sparse attention (Lin et al. 2021, Sec. 4.1.1) computed sparsely, only
 * the pattern's (query, key) scores, never a (T, S) matrix. Time O(BH nnz D).
 *
 * Query t of every slice attends keys cols[rowPtr[t] .. rowPtr[t+1]); slice b = n*H + h
 * reads the head layout of the fused attention (att_geom: q row (n*T + t)*ldq + h*D, k and v
 * rows (n*kvRows + s)*ld + h*D, out like q with ldo).
 *
 * Three paths, on items of consecutive query rows (sp_plan). Rows whose keys extend each
 * other (a run: the blocks of BigBird, block-local, image-block, fixed, causal or not)
 * gather their keys and values once, or read them in place when they are a few long ranges,
 * and run per head as GEMMs, like the fused attention (the run path, sparse_run.c). The rows
 * between runs (band, strided, dilated, Longformer) go in blocks of up to 64 rows (a band)
 * or 32 to the masked-block path (sparse_block.c): the keys a block's rows share by GEMMs,
 * the others entry by entry. Rows no block can take (random keys, fewer than 4 rows or 4 keys a row on
 * average, non-finite inputs) go row by row on gathered key and value rows, all H heads of a
 * row at once (a key row's H*D columns are contiguous in the head layout), prefetching rows
 * a few entries ahead.
 *
 * Threading (the project's pool): the forward splits the (batch, item) items, each
 * independent, in pieces of about equal entries (sp_pieces); the backward splits the BH
 * slices in one chunk per thread, since rows of one slice accumulate into the same dk/dv
 * rows and slices write disjoint elements (no races, no atomics); a chunk's heads of one
 * batch row run together. (A two-pass backward over query rows, then key rows through the
 * transposed pattern, was measured slower: 590 vs 390 ms for block:block=256 at T 8192,
 * scattered dS stores and two O(BH nnz) buffers.) No reduction is split, but a backward
 * chunk starts at an item that depends on its first head (sp_bwd_heads), so the order in
 * which items add into a dk or dv row, and its last bits, can change with the thread count.
 *
 * Shape letters: BH slices, H heads, T query rows, S keys, D head width, nnz entries.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <immintrin.h>

#include "args.h"
#include "gemm.h"
#include "ftz.h"
#include "kernels.h"
#include "pool.h"
#include "vmath.h"

#include "sparse_attention.h"

/* Forward over query rows (n, t) of all H heads at once: a key row's H*D columns are
 * contiguous, so each gathered key and value row is read whole. */
HOT void sp_fwd_row(const sp_ctx *c, int64_t n, int64_t t) {
  const att_geom *g = &c->g;
  const int64_t T = g->T, D = g->D, H = g->H, nnz = c->nnz;
  {
    const int64_t e0 = c->rowPtr[t], e1 = c->rowPtr[t + 1];
    const float *q = c->q + sp_row(n, T, t, g->ldq);
    float *w = c->weights + n * H * nnz; /* head h's weights at w + h*nnz */
    for (int64_t e = e0; e < e1; e++) {
      const int64_t s = c->cols[e];
      const float *k = c->k + sp_row(n, g->kvRows, s, g->ldk);
      if (e + SP_AHEAD < nnz) { /* ahead across row ends, the value rows too (loop below) */
        const int64_t s2 = c->cols[e + SP_AHEAD];
        sp_prefetch(c->k + sp_row(n, g->kvRows, s2, g->ldk), H * D);
        sp_prefetch(c->v + sp_row(n, g->kvRows, s2, g->ldv), H * D);
      }
      for (int64_t h = 0; h < H; h++)
        w[h * nnz + e] = vdot(q + h * D, k + h * D, D) * g->scale +
                         (c->bias ? c->bias[(n * H + h) * g->maskStrideB + s] : 0.0f);
    }
    for (int64_t h = 0; h < H; h++)
      sp_put_lse(c, n, h, t,
                 e1 > e0 ? k_softmax_row_lse(w + h * nnz + e0, w + h * nnz + e0, e1 - e0)
                         : -INFINITY);
    float *o = c->out + sp_row(n, T, t, g->ldo);
    for (int64_t h = 0; h < H; h++) memset(o + h * D, 0, (size_t)D * sizeof(float));
    const float *dm = c->drop ? c->drop + n * H * nnz : NULL;
    for (int64_t e = e0; e < e1; e++) {
      const float *v = c->v + sp_row(n, g->kvRows, c->cols[e], g->ldv);
      for (int64_t h = 0; h < H; h++) {
        /* No skip of w = 0: a masked key's value still counts as 0 * v (NaN stays NaN). */
        const float wt = dm ? w[h * nnz + e] * dm[h * nnz + e] : w[h * nnz + e];
        float *oh = o + h * D;
        const float *vh = v + h * D;
        _Pragma("GCC ivdep") for (int64_t d = 0; d < D; d++) oh[d] += wt * vh[d];
      }
    }
  }
}

/* Each thread's scratch, kept from call to call (grown, never freed: at most a few MB a
 * thread). Freed after every call, the next step's malloc of the same (often over glibc's
 * mmap threshold) size faulted in fresh pages, which cost ~13 us per 4 KiB page on this
 * project's VM: 9% of the fixed pattern's step at T 8192. */
static __thread sp_scratch sp_tl_scratch;
static __thread sp_block_scratch sp_tl_block;

/* Forward over pieces [p0, p1) of (batch block, item) items: runs by GEMMs, blocks by the
 * masked-block path. */
static void sp_fwd_range(void *p, int64_t p0, int64_t p1, int tid) {
  (void)tid;
  const sp_ctx *c = p;
  sp_scratch *scr = &sp_tl_scratch;
  sp_block_scratch *blk = &sp_tl_block;
  scr->cached = 0; /* gathered from another call's k, v */
  for (int64_t i = c->piece[p0]; i < c->piece[p1]; i++) {
    const int64_t n = i / c->nruns, j = c->order[i % c->nruns], t0 = c->run[j];
    const int64_t R = c->run[j + 1] - t0;
    if (c->isrun[j])
      sp_fwd_run(c, n, t0, R, scr);
    else
      sp_fwd_block(c, n, t0, R, blk);
  }
  _mm_sfence(); /* the weights' streaming stores are visible before the chunk reports done */
}

/* Whether row t's key list extends row t-1's (row t-1's is a non-empty prefix of row t's). */
static int sp_extends(const int32_t *rowPtr, const int32_t *cols, int64_t t) {
  const int32_t prev = t > 0 ? rowPtr[t] - rowPtr[t - 1] : 0;
  return prev > 0 && rowPtr[t + 1] - rowPtr[t] >= prev &&
         memcmp(cols + rowPtr[t], cols + rowPtr[t - 1], (size_t)prev * sizeof(int32_t)) == 0;
}

/* Stable sort of idx[0 .. n) by key[idx[i]] (insertion into runs of equal keys is rare:
 * merge sort through a scratch copy). */
static void sp_sort_by(int64_t *idx, const int64_t *key, int64_t n) {
  if (n < 2) return;
  int64_t *tmp = malloc((size_t)n * sizeof(int64_t));
  if (!tmp) abort();
  for (int64_t w = 1; w < n; w *= 2) {
    for (int64_t lo = 0; lo < n; lo += 2 * w) {
      const int64_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
      int64_t a = lo, b = mid, o = lo;
      while (a < mid && b < hi) tmp[o++] = key[idx[b]] < key[idx[a]] ? idx[b++] : idx[a++];
      while (a < mid) tmp[o++] = idx[a++];
      while (b < hi) tmp[o++] = idx[b++];
    }
    memcpy(idx, tmp, (size_t)n * sizeof(int64_t));
  }
  free(tmp);
}

/* Splits rows [0, T) of c's pattern into items: runs of >= 2 consecutive rows whose key lists
 * extend each other (isrun 1), and the rows between them in blocks of at most SP_BLOCK_ROWS
 * (band rows) or SP_MIXED_ROWS
 * (isrun 0). Sets c->run, c->isrun (one allocation, freed with c->run), c->nruns, c->width. */
static void sp_plan(sp_ctx *c) {
  const int32_t *rowPtr = c->rowPtr, *cols = c->cols;
  const uint8_t *ext = c->ext;
  const int64_t T = c->g.T;
  int64_t *run = malloc((size_t)(T + 1) * (sizeof(int64_t) + 1)), n = 0, width = 0;
  if (!run) abort();
  uint8_t *isrun = (uint8_t *)(run + T + 1);
  for (int64_t t = 0; t < T; t++)
    if (rowPtr[t + 1] - rowPtr[t] > width) width = rowPtr[t + 1] - rowPtr[t];
  for (int64_t t = 0; t < T;) {
    int64_t e = t + 1;
    while (e < T && ext[e]) e++;
    if (e - t < 2) { /* row t is alone: a block up to the next run's first row */
      const int band = sp_row_contiguous(rowPtr, cols, t); /* a band block: all rows contiguous */
      const int64_t most = band ? SP_BLOCK_ROWS : SP_MIXED_ROWS;
      while (e < T && e - t < most && !(e + 1 < T && ext[e + 1]) &&
             (!band || sp_row_contiguous(rowPtr, cols, e)))
        e++;
    }
    isrun[n] = e - t >= 2 && ext[t + 1];
    run[n++] = t;
    t = e;
  }
  run[n] = T;
  c->run = run;
  c->isrun = isrun;
  c->nruns = n;
  c->width = width;
  /* Items ordered by their first row's smallest key (stable): strided rows t, t + l, ... share
   * their far keys and start with the same one (t mod l), so their blocks run one after the
   * other while those key rows are still in cache (measured: strided, T 8192, kernel forward 210 -> ~110 ms);
   * a band or block pattern keeps its row order. */
  int64_t *order = malloc((size_t)(2 * n + 1) * sizeof(int64_t));
  if (!order) abort();
  int64_t *first = order + n;
  for (int64_t i = 0; i < n; i++) {
    order[i] = i;
    first[i] = rowPtr[run[i] + 1] > rowPtr[run[i]] ? cols[rowPtr[run[i]]] : -1;
  }
  sp_sort_by(order, first, n);
  c->order = order;
}

/* Pieces per thread of the forward, claimed one by one (pool_run_grain). */
#define SP_PIECES 4

/* Cuts the forward's nb * nruns (batch block, item) items, in their order, into pieces of
 * about equal entries, SP_PIECES a thread, claimed one at a time: as contiguous chunks of
 * equal item counts, BigBird's global rows (one run of 128 rows by all 8,192 keys at T 8192,
 * a fifth of the entries) left one thread a third more work than the other (measured:
 * forward 31.5 -> 27 ms, T 8192, 2 threads). Sets c->piece; returns the piece count. */
static int64_t sp_pieces(sp_ctx *c, int64_t nb) {
  const int64_t items = nb * c->nruns, total = nb * (c->nnz + c->nruns); /* +1 an item */
  int64_t P = (int64_t)pool_threads() * SP_PIECES;
  if (P > items) P = items;
  int64_t *piece = malloc((size_t)(P + 1) * sizeof(int64_t));
  if (!piece) abort();
  int64_t p = 0, acc = 0;
  piece[0] = 0;
  for (int64_t i = 0; i < items && p + 1 < P; i++) {
    const int64_t j = c->order[i % c->nruns];
    acc += c->rowPtr[c->run[j + 1]] - c->rowPtr[c->run[j]] + 1;
    if (acc * P >= total * (p + 1)) piece[++p] = i + 1;
  }
  if (piece[p] < items) piece[++p] = items; /* the last piece ends at the last item */
  c->piece = piece;
  return p;
}

/* Asks for transparent huge pages under the 2 MB-aligned interior of a large fresh buffer (the
 * weights, a new (BH, nnz) array each step): its first touch then faults once per 2 MB, not
 * per 4 KB page (measured: the 4 KB faults of fixed's 83 MB weights at T 8192 cost more than
 * the kernel itself). Advice only: any failure is ignored. */
static void sp_advise_huge(void *p, size_t bytes) {
#ifdef MADV_HUGEPAGE
  const uintptr_t huge = (uintptr_t)2 << 20, a = ((uintptr_t)p + huge - 1) & ~(huge - 1);
  const uintptr_t b = ((uintptr_t)p + bytes) & ~(huge - 1);
  if (b > a) (void)madvise((void *)a, b - a, MADV_HUGEPAGE);
#else
  (void)p;
  (void)bytes;
#endif
}

static void k_sparse_attention_forward(float *out, float *weights, const float *q,
                                       const float *k, const float *v, const int32_t *rowPtr,
                                       const int32_t *cols, const float *bias,
                                       const float *drop, float *lse, const uint8_t *ext,
                                       const att_geom *g) {
  const int64_t nb = g->BH / g->H, T = g->T;
  if (nb <= 0 || T <= 0) return;
  sp_advise_huge(weights, (size_t)(g->BH * rowPtr[T]) * sizeof(float));
  sp_ctx c = {.out = out, .weights = weights, .q = q, .k = k, .v = v, .bias = bias,
              .drop = drop, .lse = lse, .rowPtr = rowPtr, .cols = cols, .g = *g,
              .nnz = rowPtr[T], .ext = ext};
  sp_plan(&c);
  const int64_t P = sp_pieces(&c, nb);
  /* Cost: entries times the heads' width (a dot and an axpy each). */
  const int parallel = P >= 2 && 2 * nb * (c.nnz + c.nruns) * (g->H * g->D + 1) >= POOL_MIN_WORK;
  ftz_job job = {sp_fwd_range, &c};
  pool_run_grain(ftz_range, &job, P, parallel, SP_PIECES);
  free((void *)c.run);
  free((void *)c.order);
  free((void *)c.piece);
}

/* Backward of heads [h0, h1) of batch block n for query row t; dp holds (entry, head). */
HOT void sp_bwd_row(const sp_ctx *c, int64_t n, int64_t h0, int64_t h1, int64_t t,
                           float *dp) {
  const att_geom *g = &c->g;
  const int64_t T = g->T, D = g->D, H = g->H, nnz = c->nnz, nh = h1 - h0;
  const float *w = c->weights + n * H * nnz; /* head h's weights at w + h*nnz */
  const float *dm = c->drop ? c->drop + n * H * nnz : NULL;
  {
    const int64_t e0 = c->rowPtr[t], e1 = c->rowPtr[t + 1];
    const float *dout = c->dout + sp_row(n, T, t, g->ldo);
    /* dP_drop[e] = dout . v[s]; dv[s] += P_drop[e] * dout */
    for (int64_t e = e0; e < e1; e++) {
      float *dv = c->dv + sp_row(n, g->kvRows, c->cols[e], g->ldv);
      const float *v = c->v + sp_row(n, g->kvRows, c->cols[e], g->ldv);
      /* Ahead across row ends (the next rows run next): this row's and the next rows' v, dv
       * and the k, dk rows of the dq/dk loop below, fetched once here. */
      if (e + SP_AHEAD < nnz) {
        const int64_t s2 = c->cols[e + SP_AHEAD];
        const int64_t ov = sp_row(n, g->kvRows, s2, g->ldv) + h0 * D;
        const int64_t ok2 = sp_row(n, g->kvRows, s2, g->ldk) + h0 * D;
        sp_prefetch(c->v + ov, nh * D);
        sp_prefetchw(c->dv + ov, nh * D);
        sp_prefetch(c->k + ok2, nh * D);
        sp_prefetchw(c->dk + ok2, nh * D);
      }
      for (int64_t h = h0; h < h1; h++) {
        const float m = dm ? dm[h * nnz + e] : 1.0f, pd = w[h * nnz + e] * m;
        const float *oh = dout + h * D;
        float *dvh = dv + h * D;
        dp[(e - e0) * nh + h - h0] = vdot(oh, v + h * D, D) * m;
        _Pragma("GCC ivdep") for (int64_t d = 0; d < D; d++) dvh[d] += pd * oh[d];
      }
    }
    /* dS = P * (dP - sum(dP * P)) * scale, 0 where P = 0 (masked keys), in place in dp */
    for (int64_t h = h0; h < h1; h++) {
      const float *wh = w + h * nnz;
      float sum = 0.0f;
      if (c->delta)
        sum = c->delta[(n * H + h) * T + t];
      else
        for (int64_t e = e0; e < e1; e++) sum += dp[(e - e0) * nh + h - h0] * wh[e];
      for (int64_t e = e0; e < e1; e++) {
        float *x = dp + (e - e0) * nh + h - h0;
        *x = wh[e] == 0.0f ? 0.0f : wh[e] * (*x - sum) * g->scale;
      }
    }
    /* dq[t] += dS k[s]; dk[s] += dS q[t] */
    const int64_t oq = sp_row(n, T, t, g->ldq);
    const float *q = c->q + oq;
    float *dq = c->dq + oq;
    for (int64_t e = e0; e < e1; e++) {
      const int64_t ok = sp_row(n, g->kvRows, c->cols[e], g->ldk);
      for (int64_t h = h0; h < h1; h++) {
        const float ds = dp[(e - e0) * nh + h - h0];
        const float *kh = c->k + ok + h * D, *qh = q + h * D;
        float *dkh = c->dk + ok + h * D, *dqh = dq + h * D;
        _Pragma("GCC ivdep") for (int64_t d = 0; d < D; d++) {
          dqh[d] += ds * kh[d];
          dkh[d] += ds * qh[d];
        }
      }
    }
  }
}

/* Backward of heads [h0, h1) of batch block n: runs by GEMMs, blocks by the masked-block path.
 * The items start at item nruns * h0 / H and wrap around: the threads that split a batch
 * block's heads then work on rows far apart, not on the same dk, dv rows at the same time
 * (measured: image-block, T 8192, 2 threads, backward 34 -> 28.5 ms; the dk, dv scatter's
 * loads took 4.6x as long as on one thread when both walked the rows together). */
static void sp_bwd_heads(const sp_ctx *c, int64_t n, int64_t h0, int64_t h1,
                         sp_scratch *scr, sp_block_scratch *blk) {
  const int64_t start = c->nruns * h0 / c->g.H;
  for (int64_t y = 0; y < c->nruns; y++) {
    const int64_t x = start + y < c->nruns ? start + y : start + y - c->nruns;
    const int64_t i = c->order[x], t0 = c->run[i], R = c->run[i + 1] - t0;
    if (c->isrun[i])
      sp_bwd_run(c, n, h0, h1, t0, R, scr);
    else
      sp_bwd_block(c, n, h0, h1, t0, R, blk);
  }
  sp_flush(c, scr);
}

/* Backward over the slices [b0, b1) (b = n*H + h): the rows of one slice accumulate into the
 * same dk and dv rows and slices write disjoint elements, so a slice is one thread's (no
 * races); a chunk's heads of one batch block run together (their rows are contiguous). */
static void sp_bwd_range(void *p, int64_t b0, int64_t b1, int tid) {
  (void)tid;
  const sp_ctx *c = p;
  const int64_t H = c->g.H;
  sp_tl_scratch.cached = 0; /* gathered from another call's k, v */
  sp_tl_scratch.pending = 0;
  for (int64_t n = b0 / H; n * H < b1; n++) {
    const int64_t h0 = b0 > n * H ? b0 - n * H : 0, h1 = b1 < (n + 1) * H ? b1 - n * H : H;
    sp_bwd_heads(c, n, h0, h1, &sp_tl_scratch, &sp_tl_block);
  }
}

static void k_sparse_attention_backward(float *dq, float *dk, float *dv, const float *dout,
                                        const float *q, const float *k, const float *v,
                                        const int32_t *rowPtr, const int32_t *cols,
                                        const float *weights, const float *drop,
                                        const float *delta, const uint8_t *ext,
                                        const att_geom *g) {
  const int64_t T = g->T;
  if (g->BH <= 0 || T <= 0) return;
  sp_ctx c = {.dq = dq, .dk = dk, .dv = dv, .dout = dout, .q = q, .k = k, .v = v,
              .weights = (float *)weights, .drop = drop, .delta = delta, .rowPtr = rowPtr,
              .cols = cols, .g = *g, .nnz = rowPtr[T], .ext = ext};
  sp_plan(&c);
  /* One chunk per thread: consecutive slices, so a thread's heads share their rows. */
  const int parallel = g->BH >= 2 && g->BH * 4 * (c.nnz + 1) * (g->D + 1) >= POOL_MIN_WORK;
  ftz_job job = {sp_bwd_range, &c};
  pool_run_grain(ftz_range, &job, g->BH, parallel, 1);
  free((void *)c.run);
  free((void *)c.order);
}

/* ---------- entry points ---------- */

/* rowPtr (T + 1) from 0, non-decreasing, within cols (the columns: sp_scan). */
static void need_pattern(A *a, const att_geom *g, const int32_t *rowPtr, size_t rp_n,
                         size_t cols_n) {
  need(a, rp_n, g->T + 1, "rowPtr");
  if (a->err) return;
  if (rowPtr[0] != 0) fail(a, "ERR_OUT_OF_RANGE", "rowPtr[0] must be 0");
  for (int64_t t = 0; t < g->T && !a->err; t++)
    if (rowPtr[t + 1] < rowPtr[t]) fail(a, "ERR_OUT_OF_RANGE", "rowPtr must be non-decreasing");
  if (a->err) return;
  need(a, cols_n, rowPtr[g->T], "cols");
}

typedef struct {
  const int32_t *rowPtr, *cols;
  uint32_t S;
  uint8_t *ext;
  int range[POOL_MAX_THREADS], order[POOL_MAX_THREADS];
} sp_scan_ctx;

/* Rows [t0, t1): a row's keys strictly ascending (else order), its first and last in [0, S)
 * (range; with the order, all are), and ext[t] = sp_extends (sp_plan's runs). */
HOT static void sp_scan_range(void *p, int64_t t0, int64_t t1, int tid) {
  sp_scan_ctx *s = p;
  const int32_t *rowPtr = s->rowPtr, *cols = s->cols;
  int range = 0, order = 0;
  for (int64_t t = t0; t < t1; t++) {
    const int64_t a = rowPtr[t], z = rowPtr[t + 1];
    if (z > a) range |= ((uint32_t)cols[a] >= s->S) | ((uint32_t)cols[z - 1] >= s->S);
    for (int64_t e = a + 1; e < z; e++) order |= cols[e] <= cols[e - 1];
    s->ext[t] = (uint8_t)sp_extends(rowPtr, cols, t);
  }
  s->range[tid] |= range;
  s->order[tid] |= order;
}

/* Checks the columns of a pattern whose rowPtr need_pattern accepted, and returns the rows'
 * ext flags for sp_plan (T bytes; the caller frees them), or NULL after fail(). The block
 * paths read a row's keys as a sorted set (sparse_block.c spb_segments, spb_union's band
 * test): a row's keys must be strictly ascending (F.sparseAttention's patterns are). One
 * pass over the entries on the pool, which sp_plan's run test (sp_extends, a memcmp of each
 * row with the one before) shares: at T 8192 BigBird's 5M entries took 2.1 ms to check and
 * 1 ms to plan, both on one thread, in the forward and again in the backward. */
static uint8_t *sp_scan(A *a, const att_geom *g, const int32_t *rowPtr, const int32_t *cols) {
  sp_scan_ctx s = {.rowPtr = rowPtr, .cols = cols, .S = (uint32_t)g->S};
  s.ext = malloc((size_t)g->T + 1);
  if (!s.ext) abort();
  const int64_t T = g->T;
  if (T > 0) pool_for(sp_scan_range, &s, T, rowPtr[T] / T + 1);
  int range = 0, order = 0;
  for (int i = 0; i < POOL_MAX_THREADS; i++) {
    range |= s.range[i];
    order |= s.order[i];
  }
  if (!range && !order) return s.ext;
  free(s.ext);
  if (range)
    fail(a, "ERR_OUT_OF_RANGE", "cols must be in [0, S)");
  else
    fail(a, "ERR_OUT_OF_RANGE", "cols of each row must be strictly ascending");
  return NULL;
}

/* The saved weights and the dropout mask (or NULL): (BH, nnz) each. */
static void need_entries(A *a, const att_geom *g, int64_t nnz, size_t wn, const float *drop,
                         size_t dn) {
  need(a, wn, g->BH * nnz, "weights");
  if (drop) need(a, dn, g->BH * nnz, "dropMask");
}

/* sparseAttentionForward(out, weights, q, k, v, rowPtr, cols, bias, dropMask, geometry,
 * lse?) */
FN(js_sparse_attention_forward) {
  float *out, *weights, *q, *k, *v, *bias, *drop, *lse = NULL;
  int32_t *rowPtr, *cols;
  size_t out_n, weights_n, q_n, k_n, v_n, rowPtr_n, cols_n, bias_n, drop_n, lse_n = 0;
  att_geom g;
  ARGS("sparseAttentionForward", "fffffiiFFg|F",
       "out weights q k v rowPtr cols bias dropMask geometry lse", &out, &out_n, &weights,
       &weights_n, &q, &q_n, &k, &k_n, &v, &v_n, &rowPtr, &rowPtr_n, &cols, &cols_n, &bias,
       &bias_n, &drop, &drop_n, &g, &lse, &lse_n);
  need_layout(&a, &g, q_n, k_n, v_n, out_n, (const char *[4]){"q", "k", "v", "out"});
  need_pattern(&a, &g, rowPtr, rowPtr_n, cols_n);
  DONE();
  need_entries(&a, &g, rowPtr[g.T], weights_n, drop, drop_n);
  if (g.maskOffset != 0 || g.maskStrideT != 0)
    fail(&a, "ERR_OUT_OF_RANGE", "sparse attention: the bias is per key (maskOffset and maskStrideT 0)");
  if (bias && g.BH > 0 && g.T > 0) bias = need_mask(&a, &g, bias, bias_n);
  if (lse) need(&a, lse_n, g.BH * g.T, "lse");
  DONE();
  uint8_t *ext = sp_scan(&a, &g, rowPtr, cols);
  DONE();
  k_sparse_attention_forward(out, weights, q, k, v, rowPtr, cols, bias, drop, lse, ext, &g);
  free(ext);
  return NULL;
}

/* sparseAttentionBackward(dq, dk, dv, dout, q, k, v, rowPtr, cols, weights, dropMask,
 * geometry, delta?) */
FN(js_sparse_attention_backward) {
  float *dq, *dk, *dv, *dout, *q, *k, *v, *weights, *drop, *delta = NULL;
  int32_t *rowPtr, *cols;
  size_t dq_n, dk_n, dv_n, dout_n, q_n, k_n, v_n, rowPtr_n, cols_n, weights_n, drop_n;
  size_t delta_n = 0;
  att_geom g;
  ARGS("sparseAttentionBackward", "fffffffiifFg|F",
       "dq dk dv dout q k v rowPtr cols weights dropMask geometry delta", &dq, &dq_n, &dk,
       &dk_n, &dv, &dv_n, &dout, &dout_n, &q, &q_n, &k, &k_n, &v, &v_n, &rowPtr, &rowPtr_n,
       &cols, &cols_n, &weights, &weights_n, &drop, &drop_n, &g, &delta, &delta_n);
  need_layout(&a, &g, q_n, k_n, v_n, dout_n, (const char *[4]){"q", "k", "v", "dout"});
  need_layout(&a, &g, dq_n, dk_n, dv_n, 0, (const char *[4]){"dq", "dk", "dv", NULL});
  need_pattern(&a, &g, rowPtr, rowPtr_n, cols_n);
  DONE();
  need_entries(&a, &g, rowPtr[g.T], weights_n, drop, drop_n);
  if (delta) need(&a, delta_n, g.BH * g.T, "delta");
  DONE();
  uint8_t *ext = sp_scan(&a, &g, rowPtr, cols);
  DONE();
  k_sparse_attention_backward(dq, dk, dv, dout, q, k, v, rowPtr, cols, weights, drop, delta,
                              ext, &g);
  free(ext);
  return NULL;
}
