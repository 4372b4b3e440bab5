/*
 * The masked-block path of the sparse attention kernel (sparse_attention.c; the
 * specification is src/backend/js-sparse.ts): R consecutive query rows that do not form a
 * run (band, strided, dilated, Longformer rows: each row's keys shifted from the last) are
 * computed together. The keys that at least 1/SPB_SHARE of the block's rows attend (the
 * block's shared keys, U of them: for a band of w keys, about w + R) are gathered once, and
 * per head the scores (R, U) = q k^T, out (R, D) = P v and the backward's dP = dout v^T,
 * dv += P^T dout, dq += dS k, dk += dS^T q run as GEMMs (gemm_rm_tile) on them, with the
 * entries outside a row's pattern 0 in P and dS (their scores are never read). A row's
 * shared keys move between its CSR entries and those (R, U) matrices as segments
 * (spb_segments: vector copies); its other keys (a strided row's far keys, an axial row's
 * grid row) go entry by entry, all heads of an entry at once (a key row's H*D columns are
 * contiguous), in passes before and after the per-head GEMMs. Softmax and the softmax
 * backward run on each row's CSR entries, so the saved weights are the row path's.
 *
 * Equal to the row path within float rounding, and NaN for NaN: a block whose gathered value
 * rows (forward) or key rows, query rows or dout rows (backward) are not all finite goes row
 * by row, since there a 0 weight times a NaN would spread to rows whose pattern lacks the key.
 *
 * Threading as the callers': the forward runs a block's rows for all heads; the backward a
 * block's heads [h0, h1), whose dk and dv rows only this thread writes.
 *
 * Shape letters: H heads, D head width, R rows of the block, U shared keys, HD = H*D.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "sparse_attention.h"
#include "vmath.h"

/* A key is shared (gathered for the GEMMs) when at least R / SPB_SHARE rows attend it. */
#define SPB_SHARE 4
/* Blocks of fewer rows go row by row. */
#define SPB_MIN_ROWS 4
/* So do blocks whose rows attend fewer keys than this on average (a part of a split pattern
 * that holds only the query itself, or 3 keys: a (R, U) GEMM would compute R times too much,
 * and the gathers cost more than the row path's dots). */
#define SPB_MIN_KEYS 4

/* Whether rows [t0, t0 + R) go to the masked-block path (else row by row). */
static int spb_takes(const sp_ctx *c, int64_t t0, int64_t R) {
  return R >= SPB_MIN_ROWS && c->rowPtr[t0 + R] - c->rowPtr[t0] >= SPB_MIN_KEYS * R;
}

void sp_block_free(sp_block_scratch *b) {
  free(b->cnt);
  free(b->segE);
  free(b->f.p);
  free(b->u.p);
  memset(b, 0, sizeof(*b));
}

/* Room for S keys' counts and positions (pos -1 = not shared) and n block entries. */
static void spb_reserve(sp_block_scratch *b, int64_t S, int64_t n) {
  if (S <= b->S && n <= b->cap) return;
  free(b->cnt);
  if (S < b->S) S = b->S;
  if (n < b->cap) n = b->cap;
  b->cnt = malloc((size_t)(2 * S + 2 * n) * sizeof(int32_t));
  if (!b->cnt) abort();
  b->pos = b->cnt + S;
  b->touched = b->pos + S;
  b->keys = b->touched + n;
  memset(b->cnt, 0, (size_t)S * sizeof(int32_t));
  for (int64_t s = 0; s < S; s++) b->pos[s] = -1;
  b->S = S;
  b->cap = n;
}

/* The shared keys of rows [t0, t0 + R): b->keys[0 .. U), b->pos[s] their index (else -1);
 * returns U. spb_release undoes the marks. */
static int64_t spb_union(const sp_ctx *c, int64_t t0, int64_t R, sp_block_scratch *b) {
  const int64_t e0 = c->rowPtr[t0], e1 = c->rowPtr[t0 + R];
  spb_reserve(b, c->g.S, e1 - e0);
  /* A band block: every row's keys one contiguous range. All keys from the smallest to the
   * largest are shared (a band of w keys and R rows: w + R - 1 of them, no edge key left to
   * the entry path), without counting: every row then takes the whole-row path. */
  int64_t lo = INT64_MAX, hi = -1, band = e1 > e0;
  for (int64_t t = t0; t < t0 + R && band; t++) {
    const int64_t a = c->rowPtr[t], z = c->rowPtr[t + 1];
    if (z <= a) continue;
    band = sp_row_contiguous(c->rowPtr, c->cols, t);
    if (c->cols[a] < lo) lo = c->cols[a];
    if (c->cols[z - 1] > hi) hi = c->cols[z - 1];
  }
  /* (U <= the entries: the room spb_reserve made for keys and touched) */
  if (band && hi - lo + 1 <= e1 - e0 && (hi - lo + 1) * R <= 2 * (e1 - e0) + R * R) {
    const int64_t U = hi - lo + 1;
    for (int64_t i = 0; i < U; i++) {
      b->keys[i] = (int32_t)(lo + i);
      b->touched[i] = (int32_t)(lo + i);
      b->pos[lo + i] = (int32_t)i;
    }
    b->ntouched = U;
    b->band = 1;
    return U;
  }
  b->band = 0;
  int64_t nt = 0, U = 0;
  for (int64_t e = e0; e < e1; e++) {
    const int32_t s = c->cols[e];
    if (b->cnt[s]++ == 0) b->touched[nt++] = s;
  }
  for (int64_t i = 0; i < nt; i++) {
    const int32_t s = b->touched[i];
    if ((int64_t)b->cnt[s] * SPB_SHARE >= R) b->keys[U++] = s;
  }
  /* Ascending keys (insertion sort: first-touch order is already ascending for bands), so a
   * row whose keys are one contiguous range of shared keys finds them at consecutive
   * positions (spb_segments). */
  for (int64_t i = 1; i < U; i++) {
    const int32_t s = b->keys[i];
    int64_t j = i;
    for (; j > 0 && b->keys[j - 1] > s; j--) b->keys[j] = b->keys[j - 1];
    b->keys[j] = s;
  }
  for (int64_t i = 0; i < U; i++) b->pos[b->keys[i]] = (int32_t)i;
  b->ntouched = nt;
  return U;
}

static void spb_release(sp_block_scratch *b) {
  for (int64_t i = 0; i < b->ntouched; i++) {
    b->cnt[b->touched[i]] = 0;
    b->pos[b->touched[i]] = -1;
  }
  b->ntouched = 0;
}

/* The block's segments: the maximal runs of a row's consecutive entries whose keys are
 * shared at consecutive positions (a band row: one segment of all its entries; a strided
 * row: its band, between its far keys). Per head, a segment's scores, weights and dS move
 * between the row's CSR entries and the block's (R, U) matrices as one vector copy; only
 * the entries outside every segment (unshared keys) go one by one. */
static void spb_segments(const sp_ctx *c, int64_t t0, int64_t R, sp_block_scratch *b) {
  const int64_t n = c->rowPtr[t0 + R] - c->rowPtr[t0];
  if (n + R + 1 > b->segCap) {
    free(b->segE);
    b->segCap = n + R + 1;
    b->segE = malloc((size_t)(4 * b->segCap) * sizeof(int32_t));
    if (!b->segE) abort();
    b->segN = b->segE + b->segCap;
    b->segP = b->segN + b->segCap;
    b->rowSeg = b->segP + b->segCap;
  }
  int32_t k = 0;
  if (b->band) { /* a band row is one segment, from its first key's position on */
    for (int64_t r = 0; r < R; r++) {
      const int32_t a = c->rowPtr[t0 + r], z = c->rowPtr[t0 + r + 1];
      b->rowSeg[r] = k;
      if (z <= a) continue;
      b->segE[k] = a;
      b->segN[k] = z - a;
      b->segP[k] = b->pos[c->cols[a]];
      k++;
    }
    b->rowSeg[R] = k;
    return;
  }
  for (int64_t r = 0; r < R; r++) {
    b->rowSeg[r] = k;
    int32_t last = -2; /* the last entry's position, -2 after an unshared one */
    for (int64_t e = c->rowPtr[t0 + r]; e < c->rowPtr[t0 + r + 1]; e++) {
      const int32_t j = b->pos[c->cols[e]];
      if (j < 0) {
        last = -2;
        continue;
      }
      if (last >= 0 && j == last + 1)
        b->segN[k - 1]++;
      else {
        b->segE[k] = (int32_t)e;
        b->segN[k] = 1;
        b->segP[k] = j;
        k++;
      }
      last = j;
    }
  }
  b->rowSeg[R] = k;
}

/* Whether the R rows of x (stride ld, width w) are all finite (an overflowing square also
 * says no: that block just goes row by row). */
static int spb_finite(const float *x, int64_t R, int64_t ld, int64_t w) {
  for (int64_t r = 0; r < R; r++)
    if (!isfinite(vdot(x + r * ld, x + r * ld, w))) return 0;
  return 1;
}

/* The block's unshared entries in order (row by row, ascending, outside every segment):
 * calls body(r, e) for each; the passes below walk them in the same order, so the j-th
 * one has slot j of the unshared buffer. The body is the macro's last argument. */
#define SPB_FOR_UNSHARED(c, b, t0, R, r, e, ...)                                       \
  for (int64_t r = 0; r < (R); r++) {                                                   \
    const int64_t e1_ = (c)->rowPtr[(t0) + r + 1];                                      \
    int64_t e = (c)->rowPtr[(t0) + r];                                                  \
    for (int64_t i_ = (b)->rowSeg[r]; i_ <= (b)->rowSeg[r + 1]; i_++) {                 \
      const int64_t end_ = i_ < (b)->rowSeg[r + 1] ? (b)->segE[i_] : e1_;               \
      for (; e < end_; e++) __VA_ARGS__                                                 \
      if (i_ < (b)->rowSeg[r + 1]) e += (b)->segN[i_];                                  \
    }                                                                                   \
  }

/* Prefetches heads [h0, h0 + nh) of the key or value row (x, stride ld) of the entry
 * SP_AHEAD past e, and the same columns of its gradient row (dx; NULL: none), when that
 * entry is in the row (before e1): the unshared keys are far apart (strided, axial). */
static inline void spb_prefetch_ahead(const sp_ctx *c, int64_t n, int64_t e, int64_t e1,
                                      const float *x, float *dx, int64_t ld, int64_t h0,
                                      int64_t nh) {
  if (e + SP_AHEAD >= e1) return;
  const int64_t at = sp_row(n, c->g.kvRows, c->cols[e + SP_AHEAD], ld) + h0 * c->g.D;
  sp_prefetch(x + at, nh * c->g.D);
  if (dx) sp_prefetchw(dx + at, nh * c->g.D);
}

/* Forward of R query rows [t0, t0 + R) of batch block n, all heads. */
HOT void sp_fwd_block(const sp_ctx *c, int64_t n, int64_t t0, int64_t R, sp_block_scratch *b) {
  const att_geom *g = &c->g;
  const int64_t T = g->T, D = g->D, H = g->H, HD = H * D, nnz = c->nnz;
  const int64_t U = spb_takes(c, t0, R) ? spb_union(c, t0, R, b) : 0;
  const int inplace = spb_contiguous(b, U);
  float *buf = sp_grow(&b->f, (size_t)((inplace ? 0 : 2 * U * HD) + 2 * R * U + 1));
  float *sc = inplace ? buf : buf + 2 * U * HD, *pm = sc + R * U; /* sc, pm (R, U) */
  spb_rows kv = {buf, buf + U * HD, HD, HD};
  if (inplace)
    kv = spb_in_place(c, n, b->keys[0]);
  else if (U > 0)
    sp_gather(c, n, b->keys, U, 0, H, buf, buf + U * HD);
  if (U == 0 || !spb_finite(kv.v, U, kv.ldv, HD)) {
    spb_release(b);
    for (int64_t t = t0; t < t0 + R; t++) sp_fwd_row(c, n, t);
    return;
  }
  spb_segments(c, t0, R, b);
  const int32_t *segE = b->segE, *segN = b->segN, *segP = b->segP;
  /* The unshared entries' scores, all heads of an entry at once (its key row's H*D columns
   * are contiguous: one pass over the far rows instead of one per head). */
  SPB_FOR_UNSHARED(c, b, t0, R, r, e, {
    const float *qr = c->q + sp_row(n, T, t0 + r, g->ldq);
    const int64_t s = c->cols[e];
    spb_prefetch_ahead(c, n, e, e1_, c->k, NULL, g->ldk, 0, H);
    const float *k = c->k + sp_row(n, g->kvRows, s, g->ldk);
    for (int64_t h = 0; h < H; h++)
      c->weights[(n * H + h) * nnz + e] =
          vdot(qr + h * D, k + h * D, D) * g->scale +
          (c->bias ? c->bias[(n * H + h) * g->maskStrideB + s] : 0.0f);
  });
  for (int64_t h = 0; h < H; h++) {
    float *w = c->weights + (n * H + h) * nnz;
    const float *dm = c->drop ? c->drop + (n * H + h) * nnz : NULL;
    const float *bias = c->bias ? c->bias + (n * H + h) * g->maskStrideB : NULL;
    const float *q = c->q + sp_row(n, T, t0, g->ldq) + h * D;
    float *o = c->out + sp_row(n, T, t0, g->ldo) + h * D;
    gemm_rm_tile(0, 1, R, U, D, g->scale, q, g->ldq, kv.k + h * D, kv.ldk, 0.0f, sc, U);
    if (b->band) { /* P in place of the scores, as a run's: the row's segment, 0 around it */
      spb_band_softmax(c, n, h, t0, R, U, b, sc, w, dm, bias);
      gemm_rm_tile(0, 0, R, D, U, 1.0f, sc, U, kv.v + h * D, kv.ldv, 0.0f, o, g->ldo);
      continue;
    }
    memset(pm, 0, (size_t)(R * U) * sizeof(float));
    for (int64_t r = 0; r < R; r++) {
      const int64_t e0 = c->rowPtr[t0 + r], e1 = c->rowPtr[t0 + r + 1];
      for (int64_t i = b->rowSeg[r]; i < b->rowSeg[r + 1]; i++) { /* unshared: done above */
        const float *src = sc + r * U + segP[i];
        const int64_t e = segE[i];
        if (bias)
          for (int64_t x = 0; x < segN[i]; x++) w[e + x] = src[x] + bias[c->cols[e + x]];
        else
          memcpy(w + e, src, (size_t)segN[i] * sizeof(float));
      }
      sp_put_lse(c, n, h, t0 + r,
                 e1 > e0 ? k_softmax_row_lse(w + e0, w + e0, e1 - e0) : -INFINITY);
      for (int64_t i = b->rowSeg[r]; i < b->rowSeg[r + 1]; i++) {
        float *dst = pm + r * U + segP[i];
        const int64_t a = segE[i];
        if (dm)
          for (int64_t x = 0; x < segN[i]; x++) dst[x] = w[a + x] * dm[a + x];
        else
          memcpy(dst, w + a, (size_t)segN[i] * sizeof(float));
      }
    }
    gemm_rm_tile(0, 0, R, D, U, 1.0f, pm, U, kv.v + h * D, kv.ldv, 0.0f, o, g->ldo);
  }
  /* The rows' unshared keys: out += P v entry by entry, all heads of an entry at once. */
  SPB_FOR_UNSHARED(c, b, t0, R, r, e, {
    float *orow = c->out + sp_row(n, T, t0 + r, g->ldo);
    spb_prefetch_ahead(c, n, e, e1_, c->v, NULL, g->ldv, 0, H);
    const float *v = c->v + sp_row(n, g->kvRows, c->cols[e], g->ldv);
    for (int64_t h = 0; h < H; h++) {
      const int64_t we = (n * H + h) * nnz + e;
      const float wt = c->drop ? c->weights[we] * c->drop[we] : c->weights[we];
      float *oh = orow + h * D;
      const float *vh = v + h * D;
      _Pragma("GCC ivdep") for (int64_t d = 0; d < D; d++) oh[d] += wt * vh[d];
    }
  });
  spb_release(b);
}

/* Backward pre-pass over the unshared entries, heads [h0, h1) of an entry at once (a key
 * row's H*D columns are contiguous: one pass over the far rows, not one per head):
 * ub[j*nh + h - h0] = dP_drop of entry j, and dv += P_drop dout. */
HOT static void spb_bwd_unshared_dv(const sp_ctx *c, int64_t n, int64_t h0, int64_t h1,
                                    int64_t t0, int64_t R, const sp_block_scratch *b,
                                    float *ub) {
  const att_geom *g = &c->g;
  const int64_t T = g->T, D = g->D, H = g->H, nnz = c->nnz, nh = h1 - h0;
  int64_t j = 0;
  SPB_FOR_UNSHARED(c, b, t0, R, r, e, {
    const float *dout = c->dout + sp_row(n, T, t0 + r, g->ldo);
    const int64_t ov = sp_row(n, g->kvRows, c->cols[e], g->ldv);
    spb_prefetch_ahead(c, n, e, e1_, c->v, c->dv, g->ldv, h0, nh);
    for (int64_t h = h0; h < h1; h++) {
      const int64_t we = (n * H + h) * nnz + e;
      const float m = c->drop ? c->drop[we] : 1.0f, pd = c->weights[we] * m;
      const float *dh = dout + h * D;
      ub[j * nh + h - h0] = vdot(dh, c->v + ov + h * D, D) * m;
      float *dv = c->dv + ov + h * D;
      _Pragma("GCC ivdep") for (int64_t d = 0; d < D; d++) dv[d] += pd * dh[d];
    }
    j++;
  });
}

/* Backward post-pass: dq += dS k and dk += dS^T q for the unshared entries, heads [h0, h1)
 * of an entry at once, with dS in ub (spb_bwd_rows put it there). */
HOT static void spb_bwd_unshared_dqk(const sp_ctx *c, int64_t n, int64_t h0, int64_t h1,
                                     int64_t t0, int64_t R, const sp_block_scratch *b,
                                     const float *ub) {
  const att_geom *g = &c->g;
  const int64_t T = g->T, D = g->D, nh = h1 - h0;
  int64_t j = 0;
  SPB_FOR_UNSHARED(c, b, t0, R, r, e, {
    const float *q = c->q + sp_row(n, T, t0 + r, g->ldq);
    float *dq = c->dq + sp_row(n, T, t0 + r, g->ldq);
    const int64_t ok = sp_row(n, g->kvRows, c->cols[e], g->ldk);
    spb_prefetch_ahead(c, n, e, e1_, c->k, c->dk, g->ldk, h0, nh);
    for (int64_t h = h0; h < h1; h++) {
      const float ds = ub[j * nh + h - h0];
      const float *k = c->k + ok + h * D, *qh = q + h * D;
      float *dk = c->dk + ok + h * D, *dqh = dq + h * D;
      _Pragma("GCC ivdep") for (int64_t d = 0; d < D; d++) {
        dqh[d] += ds * k[d];
        dk[d] += ds * qh[d];
      }
    }
    j++;
  });
}

/* Backward of one head h of the block: dp (R, U) = dout v^T on entry, then the block's rows'
 * dS in dp and P_drop in pm (both 0 outside the patterns). The unshared entries' dP_drop
 * come from ub (spb_bwd_unshared_dv) and their dS go back into it (for
 * spb_bwd_unshared_dqk); rb has room for a row's entries. Segments as spb_segments. */
HOT static void spb_bwd_rows(const sp_ctx *c, int64_t n, int64_t h, int64_t h0, int64_t nh,
                             int64_t t0, int64_t R, int64_t U, const sp_block_scratch *b,
                             float *dp, float *pm, float *rb, float *ub) {
  const att_geom *g = &c->g;
  const int64_t H = g->H, nnz = c->nnz;
  const float *w = c->weights + (n * H + h) * nnz;
  const float *dm = c->drop ? c->drop + (n * H + h) * nnz : NULL;
  const int32_t *segE = b->segE, *segN = b->segN, *segP = b->segP;
  float *uh = ub + (h - h0); /* entry j's slot: uh[j * nh] */
  int64_t j = 0;            /* unshared entries so far */
  for (int64_t r = 0; r < R; r++) {
    const int64_t e0 = c->rowPtr[t0 + r], e1 = c->rowPtr[t0 + r + 1];
    const int64_t k0 = b->rowSeg[r], k1 = b->rowSeg[r + 1];
    float *dpr = dp + r * U, *pr = pm + r * U;
    /* dP_drop per entry (a segment's from dp, P_drop into pm; an unshared one's from ub) */
    int64_t e = e0, j0 = j;
    for (int64_t i = k0; i <= k1; i++) {
      const int64_t end = i < k1 ? segE[i] : e1;
      for (; e < end; e++) rb[e - e0] = uh[j++ * nh];
      if (i == k1) break;
      const float *dps = dpr + segP[i];
      float *ps = pr + segP[i];
      if (dm)
        for (int64_t x = 0; x < segN[i]; x++) {
          rb[e - e0 + x] = dps[x] * dm[e + x];
          ps[x] = w[e + x] * dm[e + x];
        }
      else {
        memcpy(rb + (e - e0), dps, (size_t)segN[i] * sizeof(float));
        memcpy(ps, w + e, (size_t)segN[i] * sizeof(float));
      }
      e += segN[i];
    }
    /* dS = P (dP - sum(dP P)) scale, 0 where P = 0; a segment's into dp, others into ub */
    const float sum = sp_delta(c, n, h, t0 + r, rb, w + e0, e1 - e0);
    memset(dpr, 0, (size_t)U * sizeof(float));
    e = e0;
    j = j0;
    for (int64_t i = k0; i <= k1; i++) {
      const int64_t end = i < k1 ? segE[i] : e1;
      for (; e < end; e++)
        uh[j++ * nh] = w[e] == 0.0f ? 0.0f : w[e] * (rb[e - e0] - sum) * g->scale;
      if (i == k1) break;
      float *dps = dpr + segP[i];
      const float *wr = w + e, *rr = rb + (e - e0);
      for (int64_t x = 0; x < segN[i]; x++)
        dps[x] = wr[x] == 0.0f ? 0.0f : wr[x] * (rr[x] - sum) * g->scale;
      e += segN[i];
    }
  }
}

/* Backward of heads [h0, h1) of R query rows [t0, t0 + R) of batch block n. */
void sp_bwd_block(const sp_ctx *c, int64_t n, int64_t h0, int64_t h1, int64_t t0, int64_t R,
                  sp_block_scratch *b) {
  const att_geom *g = &c->g;
  const int64_t T = g->T, D = g->D, H = g->H, W = (h1 - h0) * D;
  const int64_t U = spb_takes(c, t0, R) ? spb_union(c, t0, R, b) : 0;
  const int inplace = spb_contiguous(b, U);
  const int64_t width = c->width > 0 ? c->width : 1;
  float *buf = sp_grow(&b->f, (size_t)((inplace ? 0 : 4 * U * W) + 2 * R * U + width * H));
  float *dp = inplace ? buf : buf + 4 * U * W, *pm = dp + R * U, *rb = pm + R * U; /* (R, U) */
  /* Heads [h0, h1) of the gathered key and value rows and their gradients' sums (scattered
   * at the end), head h at column (h - h0) D; or, in place, the rows themselves, head h at
   * column h D (this thread alone writes heads [h0, h1) of dk and dv). */
  spb_rows kv = {buf, buf + U * W, W, W};
  spb_grads dkv = {buf + 2 * U * W, buf + 3 * U * W, W, W};
  const int64_t c0 = inplace ? h0 * D : 0; /* head h0's column in kv and dkv */
  const float beta = inplace ? 1.0f : 0.0f; /* gathered: each head's sums start from its GEMM */
  const float *q = c->q + sp_row(n, T, t0, g->ldq), *dout = c->dout + sp_row(n, T, t0, g->ldo);
  if (inplace) {
    kv = spb_in_place(c, n, b->keys[0]);
    const int64_t s0 = b->keys[0];
    dkv = (spb_grads){c->dk + sp_row(n, g->kvRows, s0, g->ldk),
                     c->dv + sp_row(n, g->kvRows, s0, g->ldv), g->ldk, g->ldv};
  } else if (U > 0)
    sp_gather(c, n, b->keys, U, h0, h1, buf, buf + U * W);
  if (U == 0 || !spb_finite(kv.k + c0, U, kv.ldk, W) || !spb_finite(q + h0 * D, R, g->ldq, W) ||
      !spb_finite(dout + h0 * D, R, g->ldo, W)) {
    spb_release(b);
    for (int64_t t = t0; t < t0 + R; t++) sp_bwd_row(c, n, h0, h1, t, rb);
    return;
  }
  spb_segments(c, t0, R, b);
  int64_t unshared = c->rowPtr[t0 + R] - c->rowPtr[t0];
  for (int64_t i = 0; i < b->rowSeg[R]; i++) unshared -= b->segN[i];
  float *ub = sp_grow(&b->u, (size_t)(unshared * (h1 - h0) + 1));
  spb_bwd_unshared_dv(c, n, h0, h1, t0, R, b, ub);
  float *dq = c->dq + sp_row(n, T, t0, g->ldq);
  for (int64_t h = h0; h < h1; h++) {
    const int64_t ck = c0 + (h - h0) * D; /* head h's column in kv and dkv */
    gemm_rm_tile(0, 1, R, U, D, 1.0f, dout + h * D, g->ldo, kv.v + ck, kv.ldv, 0.0f, dp, U);
    if (b->band)
      spb_band_bwd_rows(c, n, h, t0, R, U, b, dp, pm);
    else {
      memset(pm, 0, (size_t)(R * U) * sizeof(float));
      spb_bwd_rows(c, n, h, h0, h1 - h0, t0, R, U, b, dp, pm, rb, ub);
    }
    gemm_rm_tile(1, 0, U, D, R, 1.0f, pm, U, dout + h * D, g->ldo, beta, dkv.v + ck, dkv.ldv);
    gemm_rm_tile(0, 0, R, D, U, 1.0f, dp, U, kv.k + ck, kv.ldk, 1.0f, dq + h * D, g->ldq);
    gemm_rm_tile(1, 0, U, D, R, 1.0f, dp, U, q + h * D, g->ldq, beta, dkv.k + ck, dkv.ldk);
  }
  spb_bwd_unshared_dqk(c, n, h0, h1, t0, R, b, ub);
  if (!inplace) sp_scatter(c, n, h0, h1, b->keys, U, dkv.k, dkv.v);
  spb_release(b);
}
