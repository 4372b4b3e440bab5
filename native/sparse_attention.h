/*
 * Internal to the sparse attention kernel (sparse_attention.c, sparse_block.c): its context,
 * row addressing, per-thread scratch, and the paths each file offers the other.
 *
 * Shape letters: BH slices, H heads, T query rows, S keys, D head width, nnz entries,
 * R rows of a run or block, U keys gathered for a block.
 */
#ifndef TRANSFORMER_SPARSE_ATTENTION_H
#define TRANSFORMER_SPARSE_ATTENTION_H

#include <stdint.h>
#include <stdlib.h>

#include "args.h"
#include "kernels.h"
#include "vmath.h"

typedef struct {
  float *out, *weights, *dq, *dk, *dv;
  const float *q, *k, *v, *dout, *bias, *drop;
  /* Optional (BH, T), row (n*H + h)*T + t: the forward's log-sum-exp of each row's scores
   * (written when non-NULL), and the backward's Delta of each row, used in place of
   * sum(dP P) over the row's entries (when non-NULL: the rows are part of a larger softmax,
   * see F.sparseMultiHeadAttentionParts). */
  float *lse;
  const float *delta;
  const int32_t *rowPtr, *cols;
  /* Items of consecutive query rows: item i is rows [run[i], run[i+1]), a run (isrun[i]:
   * rows whose keys extend each other) or a block of rows for the masked-block path. */
  const int64_t *run;
  const uint8_t *isrun;
  int64_t nruns;
  /* The order items run in (a permutation of [0, nruns)): see sp_plan. */
  const int64_t *order;
  /* The forward's pieces of about equal entries (sp_pieces): piece p is the (batch block,
   * item) items [piece[p], piece[p + 1]) in that order. */
  const int64_t *piece;
  /* ext[t]: row t's keys extend row t-1's (sp_scan; sp_plan's runs). */
  const uint8_t *ext;
  att_geom g;
  int64_t nnz, width;
} sp_ctx;

/* Element offset of row `r` of batch block n (blocks `rows` apart, stride ld), head 0. */
static inline int64_t sp_row(int64_t n, int64_t rows, int64_t r, int64_t ld) {
  return (n * rows + r) * ld;
}

/* Stores the log-sum-exp l of row t, head h, when the caller asked for them. */
static inline void sp_put_lse(const sp_ctx *c, int64_t n, int64_t h, int64_t t, float l) {
  if (c->lse) c->lse[(n * c->g.H + h) * c->g.T + t] = l;
}

/* Row t's Delta for head h: the caller's, else sum(dp[j] w[j]) over its K entries. */
static inline float sp_delta(const sp_ctx *c, int64_t n, int64_t h, int64_t t, const float *dp,
                             const float *w, int64_t K) {
  return c->delta ? c->delta[(n * c->g.H + h) * c->g.T + t] : vdot(dp, w, K);
}

/* Whether row t's keys are one contiguous range of key positions (keys are strictly
 * ascending, so first and last tell; an empty row counts). */
static inline int sp_row_contiguous(const int32_t *rowPtr, const int32_t *cols, int64_t t) {
  const int32_t a = rowPtr[t], z = rowPtr[t + 1];
  return z <= a || cols[z - 1] - cols[a] == z - a - 1;
}

/* A thread's scratch buffer, grown on demand and kept across the runs it computes (a run's
 * buffers are often over glibc's mmap threshold: a malloc per run faulted fresh pages). */
typedef struct {
  float *p;
  size_t n;
  /* The run path's gathered keys (sparse_attention.c): the K keys of batch block kn gathered
   * at the start of p, valid while `cached`; runs with the same key list (an image block's
   * rows, one run per grid row) reuse them. Backward: heads [h0, h1) and whether their dk,
   * dv sums (after the gathered rows) still await their scatter (`pending`). */
  const int32_t *keys;
  int64_t K, kn, h0, h1;
  int cached, pending;
} sp_scratch;

/* At least n floats of s (contents not kept). */
static inline float *sp_grow(sp_scratch *s, size_t n) {
  if (n > s->n) {
    free(s->p);
    s->p = malloc(n * sizeof(float));
    if (!s->p) abort();
    s->n = n;
  }
  return s->p;
}

/* Gathered rows are prefetched this many entries ahead (a row of far keys is a cache miss). */
#define SP_AHEAD 8

/* Prefetch the n floats at x, a cache line (16 floats) at a time. */
static inline void sp_prefetch(const float *x, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) __builtin_prefetch(x + i);
}

/* The same for rows about to be written (dk, dv scattered updates): their cache lines are
 * fetched for ownership ahead of the read-modify-write. */
static inline void sp_prefetchw(float *x, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) __builtin_prefetch(x + i, 1);
}

/* The run path (sparse_run.c): forward of a run of R >= 2 rows from t0 (all heads) and its
 * backward (heads [h0, h1)); sp_flush adds a backward thread's pending gathered dk, dv sums. */
void sp_fwd_run(const sp_ctx *c, int64_t n, int64_t t0, int64_t R, sp_scratch *scr);
void sp_bwd_run(const sp_ctx *c, int64_t n, int64_t h0, int64_t h1, int64_t t0, int64_t R,
                sp_scratch *scr);
void sp_flush(const sp_ctx *c, sp_scratch *scr);

/* dst[0 .. n) = src[0 .. n): the saved weights, written once and read back only by the
 * backward, with non-temporal stores where the CPU has AVX-512 (sparse_attention.c). */
void sp_store_stream(float *dst, const float *src, int64_t n);

/* Softmax of a row of scores x[0 .. n) in place (k_softmax_row_lse's weights: the same
 * vexp_sum), also stored to w as sp_store_stream does, in three passes over the row (max,
 * exp and sum, scale and store) instead of five; returns the row's log-sum-exp (-Infinity
 * for n = 0). */
float sp_softmax_store(float *x, float *w, int64_t n);

/* Heads [h0, h1) of the key and value rows of keys[0 .. K) gathered into (K, W) buffers,
 * W = (h1 - h0) D (the forward's all heads; a backward thread's own heads). */
void sp_gather(const sp_ctx *c, int64_t n, const int32_t *keys, int64_t K, int64_t h0,
               int64_t h1, float *kg, float *vg);

/* Adds the gathered (K, W) dk and dv sums of heads [h0, h1), W = (h1 - h0) D, to the rows
 * of keys[0 .. K). */
void sp_scatter(const sp_ctx *c, int64_t n, int64_t h0, int64_t h1, const int32_t *keys,
                int64_t K, const float *dkg, const float *dvg);

/* The row path (sparse_attention.c): forward of query row t of batch block n, all heads;
 * backward of heads [h0, h1), dp with room for a row's (entry, head) values. */
void sp_fwd_row(const sp_ctx *c, int64_t n, int64_t t);
void sp_bwd_row(const sp_ctx *c, int64_t n, int64_t h0, int64_t h1, int64_t t, float *dp);

/* Rows of a masked block: the rows between runs are cut into blocks of at most
 * SP_BLOCK_ROWS rows when every row's keys are one contiguous range (a band: its block shares
 * the whole range, and bigger GEMMs win), else of at most SP_MIXED_ROWS (far keys, as
 * strided's, are shared by fewer rows of a bigger block). Measured at T 8192, 2 threads:
 * local 57 -> 52 ms with 64-row band blocks; strided 175 -> 199 ms with 64-row mixed ones. */
#define SP_BLOCK_ROWS 64
#define SP_MIXED_ROWS 32

/* A block's scratch (sparse_block.c): per key counts and gathered positions, kept by a thread. */
typedef struct {
  int32_t *cnt, *pos, *touched, *keys;
  int64_t S, cap, ntouched;
  /* Whether spb_union found a band block (every row one contiguous range of keys). */
  int band;
  /* The block's segments (spb_segments): segment i is entries [segE[i], segE[i] + segN[i])
   * at shared positions segP[i] ...; row r's are [rowSeg[r], rowSeg[r + 1]). */
  int32_t *segE, *segN, *segP, *rowSeg;
  int64_t segCap;
  sp_scratch f;
  /* The backward's unshared entries, heads [h0, h1) of each (sp_bwd_block). */
  sp_scratch u;
} sp_block_scratch;

/* The masked-block path (sparse_block.c) for R consecutive query rows from t0 that do not form
 * a run: forward (all heads) and backward (heads [h0, h1)); rows it cannot take go by rows. */
void sp_fwd_block(const sp_ctx *c, int64_t n, int64_t t0, int64_t R, sp_block_scratch *b);
void sp_bwd_block(const sp_ctx *c, int64_t n, int64_t h0, int64_t h1, int64_t t0, int64_t R,
                  sp_block_scratch *b);
void sp_block_free(sp_block_scratch *b);

/* A block's key and value rows for the GEMMs: gathered (ld H*D) or where they lie. */
typedef struct {
  const float *k, *v;
  int64_t ldk, ldv;
} spb_rows;

/* Where the backward adds the block's dk and dv rows: the gathered sums or dk, dv in place. */
typedef struct {
  float *k, *v;
  int64_t ldk, ldv;
} spb_grads;

/* Whether the U shared keys (ascending) are one range of consecutive positions (a band
 * block): the GEMMs then read the key and value rows in place and the backward adds into dk
 * and dv directly, with no gather or scatter (as the runs of sp_key_ranges). */
static inline int spb_contiguous(const sp_block_scratch *b, int64_t U) {
  return U > 0 && b->keys[U - 1] - b->keys[0] == U - 1;
}

/* The key and value rows of batch block n from position s0 on, in place. */
static inline spb_rows spb_in_place(const sp_ctx *c, int64_t n, int64_t s0) {
  const att_geom *g = &c->g;
  return (spb_rows){c->k + sp_row(n, g->kvRows, s0, g->ldk),
                    c->v + sp_row(n, g->kvRows, s0, g->ldv), g->ldk, g->ldv};
}

/* Band blocks (sparse_band.c): a band block's softmax for head h in place of its scores sc
 * (R, U), the weights to the rows' CSR entries w; and its backward rows, dS in place of dP in
 * dp (R, U) and P_drop in pm. */
void spb_band_softmax(const sp_ctx *c, int64_t n, int64_t h, int64_t t0, int64_t R, int64_t U,
                      const sp_block_scratch *b, float *sc, float *w, const float *dm,
                      const float *bias);
void spb_band_bwd_rows(const sp_ctx *c, int64_t n, int64_t h, int64_t t0, int64_t R, int64_t U,
                       const sp_block_scratch *b, float *dp, float *pm);

#endif
