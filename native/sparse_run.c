/*
 * The run path of the sparse attention kernel (sparse_attention.c; the specification is
 * src/backend/js-sparse.ts): R consecutive query rows whose key lists extend each other (a
 * run: BigBird's, block-local's, image-block's and fixed's blocks, causal or not) gather
 * their K keys and values once, or read them where they lie when they are a few long ranges
 * (sp_key_ranges), and run per head as GEMMs, like the fused attention: the forward's scores
 * (R, K) = q k^T and out = P v, the backward's dP, dv, dq and dk. Also the gather and
 * scatter of key rows and the streaming store of the saved weights that the masked-block
 * path (sparse_block.c) shares.
 *
 * Shape letters: H heads, D head width, R rows of the run, K its keys, W = (h1 - h0) D.
 */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gemm.h"
#include "kernels.h"
#include "sparse_attention.h"
#include "vmath.h"

HOT void sp_gather(const sp_ctx *c, int64_t n, const int32_t *keys, int64_t K, int64_t h0,
                   int64_t h1, float *kg, float *vg) {
  const att_geom *g = &c->g;
  const size_t W = (size_t)((h1 - h0) * g->D), c0 = (size_t)(h0 * g->D);
  for (int64_t j = 0; j < K; j++) {
    const int64_t s = keys[j];
    memcpy(kg + j * W, c->k + sp_row(n, g->kvRows, s, g->ldk) + c0, W * sizeof(float));
    memcpy(vg + j * W, c->v + sp_row(n, g->kvRows, s, g->ldv) + c0, W * sizeof(float));
  }
}

/* Whether scr holds the gathered rows of exactly these K keys of batch block n, with room
 * for `need` floats (so sp_grow keeps them). */
static int sp_same_keys(const sp_scratch *scr, int64_t n, const int32_t *keys, int64_t K,
                        size_t need) {
  return scr->cached && scr->kn == n && scr->K == K && need <= scr->n &&
         (scr->keys == keys || memcmp(scr->keys, keys, (size_t)K * sizeof(int32_t)) == 0);
}

static void sp_cache_keys(sp_scratch *scr, int64_t n, const int32_t *keys, int64_t K) {
  scr->cached = 1;
  scr->kn = n;
  scr->keys = keys;
  scr->K = K;
}

/* A run reads its keys in place when they are a few long ranges of consecutive positions
 * (BigBird's window, global and random blocks: 64 keys or more each): per range, GEMMs on
 * the key and value rows where they lie (leading dimension ld), and the backward adds into
 * dk and dv directly. Else (image-block's rows of a few keys) the keys are gathered. The
 * gather and the scatter back were 20% of BigBird's step at T 8192. */
#define SP_DIRECT_MIN_RANGE 32
/* Runs of more ranges than this gather their keys (a fixed-size list on the stack). */
#define SP_RANGES_MAX 64

/* The ranges of consecutive keys in keys[0 .. K): range i is keys[seg[i] .. seg[i + 1]).
 * Returns their count when all average at least SP_DIRECT_MIN_RANGE keys, else 0 (gather).
 * seg has room for K / SP_DIRECT_MIN_RANGE + 2 entries. */
static int64_t sp_key_ranges(const int32_t *keys, int64_t K, int64_t *seg) {
  const int64_t most = K / SP_DIRECT_MIN_RANGE;
  if (most < 1) return 0;
  int64_t m = 0;
  seg[0] = 0;
  for (int64_t j = 1; j < K; j++)
    if (keys[j] != keys[j - 1] + 1) {
      if (++m >= most) return 0;
      seg[m] = j;
    }
  seg[++m] = K;
  return m;
}

/* The number of ranges sp_key_ranges may return for K keys, plus its sentinel. */
static inline int64_t sp_ranges_room(int64_t K) { return K / SP_DIRECT_MIN_RANGE + 2; }

/* dst[0 .. n) = src[0 .. n), with non-temporal stores past dst's first 64-byte boundary when
 * the CPU has AVX-512: the weights are written once here and read back only by the
 * backward, long after they left the cache, so the stores skip the read for ownership. */
__attribute__((target("avx512f"))) static void sp_store_stream_512(float *dst, const float *src,
                                                                   int64_t n) {
  int64_t i = 0;
  for (; i < n && ((uintptr_t)(dst + i) & 63); i++) dst[i] = src[i];
  for (; i + 16 <= n; i += 16) _mm512_stream_ps(dst + i, _mm512_loadu_ps(src + i));
  for (; i < n; i++) dst[i] = src[i];
}

void sp_store_stream(float *dst, const float *src, int64_t n) {
  if (n >= 64 && __builtin_cpu_supports("avx512f"))
    sp_store_stream_512(dst, src, n);
  else
    memcpy(dst, src, (size_t)n * sizeof(float));
}

/* x[0 .. n) *= inv, and dst[0 .. n) = the result, streamed past dst's first 64-byte
 * boundary (sp_store_stream_512's stores). */
__attribute__((target("avx512f"))) static void sp_scale_stream_512(float *dst, float *x,
                                                                   int64_t n, float inv) {
  const __m512 s = _mm512_set1_ps(inv);
  int64_t i = 0;
  for (; i < n && ((uintptr_t)(dst + i) & 63); i++) dst[i] = x[i] *= inv;
  for (; i + 16 <= n; i += 16) {
    const __m512 y = _mm512_mul_ps(_mm512_loadu_ps(x + i), s);
    _mm512_storeu_ps(x + i, y);
    _mm512_stream_ps(dst + i, y);
  }
  for (; i < n; i++) dst[i] = x[i] *= inv;
}

float sp_softmax_store(float *x, float *w, int64_t n) {
  const float mx = vmax(x, n);
  if (n < 64 || mx == -INFINITY || !__builtin_cpu_supports("avx512f")) {
    /* Short rows, masked or NaN rows, CPUs without AVX-512: the row kernel and a store. */
    const float lse = n > 0 ? k_softmax_row_lse(x, x, n) : -INFINITY;
    sp_store_stream(w, x, n);
    return lse;
  }
  const float sum = vexp_sum_avx512(x, x, n, mx);
  sp_scale_stream_512(w, x, n, 1.0f / sum);
  return mx + logf(sum);
}

/* Forward of a run of R >= 2 rows [t0, t0 + R) whose keys extend each other (row r's K_r
 * keys are the first K_r of the last row's K; equal lists, or the causal blocks of BigBird
 * and block-local): the K keys and values gathered once (or read in place, sp_key_ranges),
 * then per head two GEMMs, scores (R, K) = q k^T with the keys past K_r of row r set to
 * -inf, and out (R, D) = P v. (P is 0 past K_r: only a NaN in such a value row could differ
 * from the row-by-row path.) */
HOT void sp_fwd_run(const sp_ctx *c, int64_t n, int64_t t0, int64_t R, sp_scratch *scr) {
  const att_geom *g = &c->g;
  const int64_t D = g->D, H = g->H, HD = H * D, nnz = c->nnz;
  const int64_t eL = c->rowPtr[t0 + R - 1], K = c->rowPtr[t0 + R] - eL; /* the last row */
  const int32_t *keys = c->cols + eL;
  int64_t seg[SP_RANGES_MAX];
  const int64_t m = sp_ranges_room(K) <= SP_RANGES_MAX ? sp_key_ranges(keys, K, seg) : 0;
  const size_t need = (size_t)((m ? 0 : 2 * K * HD) + R * K);
  const int same = !m && sp_same_keys(scr, n, keys, K, need);
  float *buf = sp_grow(scr, need);
  float *kg = buf, *vg = buf + K * HD, *sc = m ? buf : buf + 2 * K * HD; /* sc: (R, K) */
  if (m)
    scr->cached = 0; /* the buffer now holds scores */
  else if (!same) {
    sp_gather(c, n, keys, K, 0, H, kg, vg);
    sp_cache_keys(scr, n, keys, K);
  }
  const float *q = c->q + sp_row(n, g->T, t0, g->ldq);
  for (int64_t h = 0; h < H; h++) {
    float *w = c->weights + (n * H + h) * nnz;
    const float *dm = c->drop ? c->drop + (n * H + h) * nnz : NULL;
    if (!m)
      gemm_rm(0, 1, (int)R, (int)K, (int)D, g->scale, q + h * D, (int)g->ldq, kg + h * D,
              (int)HD, 0.0f, sc, (int)K);
    for (int64_t i = 0; i < m; i++) /* scores of range i: columns seg[i] .. of sc */
      gemm_rm_tile(0, 1, (int)R, (int)(seg[i + 1] - seg[i]), (int)D, g->scale, q + h * D,
              (int)g->ldq, c->k + sp_row(n, g->kvRows, keys[seg[i]], g->ldk) + h * D,
              (int)g->ldk, 0.0f, sc + seg[i], (int)K);
    for (int64_t r = 0; r < R; r++) {
      const int64_t er = c->rowPtr[t0 + r], Kr = c->rowPtr[t0 + r + 1] - er;
      float *sr = sc + r * K;
      if (c->bias) {
        const float *b = c->bias + (n * H + h) * g->maskStrideB;
        for (int64_t j = 0; j < Kr; j++) sr[j] += b[c->cols[eL + j]];
      }
      sp_put_lse(c, n, h, t0 + r, sp_softmax_store(sr, w + er, Kr));
      if (dm)
        for (int64_t j = 0; j < Kr; j++) sr[j] *= dm[er + j];
      for (int64_t j = Kr; j < K; j++) sr[j] = 0.0f;
    }
    float *o = c->out + sp_row(n, g->T, t0, g->ldo) + h * D;
    if (!m)
      gemm_rm(0, 0, (int)R, (int)D, (int)K, 1.0f, sc, (int)K, vg + h * D, (int)HD, 0.0f, o,
              (int)g->ldo);
    for (int64_t i = 0; i < m; i++)
      gemm_rm_tile(0, 0, (int)R, (int)D, (int)(seg[i + 1] - seg[i]), 1.0f, sc + seg[i], (int)K,
              c->v + sp_row(n, g->kvRows, keys[seg[i]], g->ldv) + h * D, (int)g->ldv,
              i ? 1.0f : 0.0f, o, (int)g->ldo);
  }
}

HOT void sp_scatter(const sp_ctx *c, int64_t n, int64_t h0, int64_t h1, const int32_t *keys,
                int64_t K, const float *dkg, const float *dvg) {
  const att_geom *g = &c->g;
  const int64_t W = (h1 - h0) * g->D, c0 = h0 * g->D;
  for (int64_t j = 0; j < K; j++) {
    float *dk = c->dk + sp_row(n, g->kvRows, keys[j], g->ldk) + c0;
    float *dv = c->dv + sp_row(n, g->kvRows, keys[j], g->ldv) + c0;
    const float *a = dkg + j * W, *b = dvg + j * W;
    _Pragma("GCC ivdep") for (int64_t x = 0; x < W; x++) {
      dk[x] += a[x];
      dv[x] += b[x];
    }
  }
}

/* Adds the run path's pending dk, dv sums (sp_bwd_run) into dk and dv. */
void sp_flush(const sp_ctx *c, sp_scratch *scr) {
  if (!scr->pending) return;
  const int64_t KW = scr->K * (scr->h1 - scr->h0) * c->g.D; /* sp_bwd_run's layout */
  sp_scatter(c, scr->kn, scr->h0, scr->h1, scr->keys, scr->K, scr->p + 2 * KW,
             scr->p + 3 * KW);
  scr->pending = 0;
}

/* dS = P (dP - Delta) scale over a row's K entries, in place in dp; 0 where P = 0 (a masked
 * key: its dP may be anything). */
static inline void sp_ds_row(float *restrict dp, const float *restrict p, int64_t K, float delta,
                             float scale) {
  for (int64_t j = 0; j < K; j++) dp[j] = p[j] == 0.0f ? 0.0f : p[j] * (dp[j] - delta) * scale;
}

/* Backward of heads [h0, h1) of batch block n for a run of R >= 2 rows [t0, t0 + R) (keys
 * as in sp_fwd_run), by GEMMs per head on the gathered keys and values, as the fused
 * attention's backward: dP = dout v^T, dv += P_drop^T dout, dS = P (dP - rowsum(dP P)) scale,
 * dq += dS k, dk += dS^T q, with P and dS 0 past K_r; dk and dv accumulate in (K, H*D)
 * buffers added back at the end (sp_flush), or, for keys read in place (sp_key_ranges),
 * straight into dk and dv: this thread owns heads [h0, h1) of their rows. */
HOT void sp_bwd_run(const sp_ctx *c, int64_t n, int64_t h0, int64_t h1, int64_t t0,
                       int64_t R, sp_scratch *scr) {
  const att_geom *g = &c->g;
  const int64_t T = g->T, D = g->D, H = g->H, W = (h1 - h0) * D, nnz = c->nnz;
  const int64_t eL = c->rowPtr[t0 + R - 1], K = c->rowPtr[t0 + R] - eL;
  const int32_t *keys = c->cols + eL;
  int64_t seg[SP_RANGES_MAX];
  const int64_t m = sp_ranges_room(K) <= SP_RANGES_MAX ? sp_key_ranges(keys, K, seg) : 0;
  /* Gathered: heads [h0, h1) of the key and value rows and their dk, dv sums, (K, W) each. */
  const size_t need = (size_t)((m ? 0 : 4 * K * W) + 2 * R * K);
  const int same =
      !m && sp_same_keys(scr, n, keys, K, need) && scr->h0 == h0 && scr->h1 == h1;
  if (!same) sp_flush(c, scr); /* the previous keys' dk, dv sums */
  float *buf = sp_grow(scr, need);
  float *kg = buf, *vg = kg + K * W, *dkg = vg + K * W, *dvg = dkg + K * W;
  float *dp = m ? buf : dvg + K * W, *pd = dp + R * K; /* (R, K) each */
  if (m)
    scr->cached = 0; /* keys read in place, dk and dv added in place */
  else if (!same) { /* else the same keys: their rows and dk, dv sums go on */
    sp_gather(c, n, keys, K, h0, h1, kg, vg);
    sp_cache_keys(scr, n, keys, K);
    scr->h0 = h0;
    scr->h1 = h1;
  }
  scr->pending = !m;
  /* Fresh keys: each head's dk and dv sums start from its one GEMM each (no memset). */
  const float beta = same ? 1.0f : 0.0f;
  const float *q = c->q + sp_row(n, T, t0, g->ldq), *dout = c->dout + sp_row(n, T, t0, g->ldo);
  float *dq = c->dq + sp_row(n, T, t0, g->ldq);
  const int ldq = (int)g->ldq, ldo = (int)g->ldo;
  for (int64_t h = h0; h < h1; h++) {
    const float *w = c->weights + (n * H + h) * nnz;
    const float *dm = c->drop ? c->drop + (n * H + h) * nnz : NULL;
    if (!m)
      gemm_rm(0, 1, (int)R, (int)K, (int)D, 1.0f, dout + h * D, ldo, vg + (h - h0) * D, (int)W, 0.0f,
              dp, (int)K);
    for (int64_t i = 0; i < m; i++)
      gemm_rm_tile(0, 1, (int)R, (int)(seg[i + 1] - seg[i]), (int)D, 1.0f, dout + h * D, ldo,
              c->v + sp_row(n, g->kvRows, keys[seg[i]], g->ldv) + h * D, (int)g->ldv, 0.0f,
              dp + seg[i], (int)K);
    for (int64_t r = 0; r < R; r++) {
      const int64_t er = c->rowPtr[t0 + r], Kr = c->rowPtr[t0 + r + 1] - er;
      float *pr = pd + r * K;
      for (int64_t j = 0; j < Kr; j++) pr[j] = dm ? w[er + j] * dm[er + j] : w[er + j];
      for (int64_t j = Kr; j < K; j++) pr[j] = 0.0f;
    }
    if (!m)
      gemm_rm(1, 0, (int)K, (int)D, (int)R, 1.0f, pd, (int)K, dout + h * D, ldo, beta,
              dvg + (h - h0) * D, (int)W);
    for (int64_t i = 0; i < m; i++)
      gemm_rm_tile(1, 0, (int)(seg[i + 1] - seg[i]), (int)D, (int)R, 1.0f, pd + seg[i], (int)K,
              dout + h * D, ldo, 1.0f,
              c->dv + sp_row(n, g->kvRows, keys[seg[i]], g->ldv) + h * D, (int)g->ldv);
    for (int64_t r = 0; r < R; r++) {
      const int64_t er = c->rowPtr[t0 + r], Kr = c->rowPtr[t0 + r + 1] - er;
      float *dpr = dp + r * K;
      const float *wr = dm ? w + er : pd + r * K; /* without dropout, pd's row is the copy */
      if (dm)
        for (int64_t j = 0; j < Kr; j++) dpr[j] *= dm[er + j];
      sp_ds_row(dpr, wr, Kr, sp_delta(c, n, h, t0 + r, dpr, wr, Kr), g->scale);
      for (int64_t j = Kr; j < K; j++) dpr[j] = 0.0f;
    }
    if (!m) {
      gemm_rm(0, 0, (int)R, (int)D, (int)K, 1.0f, dp, (int)K, kg + (h - h0) * D, (int)W, 1.0f,
              dq + h * D, ldq);
      gemm_rm(1, 0, (int)K, (int)D, (int)R, 1.0f, dp, (int)K, q + h * D, ldq, beta,
              dkg + (h - h0) * D, (int)W);
    }
    for (int64_t i = 0; i < m; i++) {
      const int64_t len = seg[i + 1] - seg[i], s0 = keys[seg[i]];
      float *dk = c->dk + sp_row(n, g->kvRows, s0, g->ldk) + h * D;
      const float *k = c->k + sp_row(n, g->kvRows, s0, g->ldk) + h * D;
      gemm_rm_tile(0, 0, (int)R, (int)D, (int)len, 1.0f, dp + seg[i], (int)K, k,
                      (int)g->ldk, 1.0f, dq + h * D, ldq);
      gemm_rm_tile(1, 0, (int)len, (int)D, (int)R, 1.0f, dp + seg[i], (int)K, q + h * D,
                      ldq, 1.0f, dk, (int)g->ldk);
    }
  }
}
