/*
 * Tiled (FlashAttention) attention on OpenBLAS: the attention of k_attention_forward /
 * k_attention_backward (blas.c) in memory linear in T, with no (T, S) buffer kept.
 * Dao et al. 2022, "FlashAttention", Algorithm 1 (forward: per query block, key blocks
 * visited with a running row max m and sum l, the online softmax of Milakov & Gimelshein
 * 2018; only out and lse = m + log l are written) and Algorithm 2 (backward: the weights
 * recomputed block by block from lse), with FlashAttention-2's Delta = rowsum(dout * out)
 * (Dao 2023, Sec. 3.1). The js kernels (src/backend/js-flash.ts) are the specification.
 *
 * Tiles of FA_BQ queries x FA_BK keys; every product is one GEMM (gemm_rm) on a tile:
 *   forward   S = scale q_i k_j^T;  acc_i += P v_j
 *   backward  S; dP = dout_i v_j^T; dv_j += P_drop^T dout_i; dq_i += dS k_j; dk_j += dS^T q_i
 * Threads: the forward runs (bh, query block) tasks on the pool; the backward runs
 * (bh, key-block group) tasks, each owning its dk, dv rows; with fewer slices than twice
 * the threads the keys of a slice are split in groups whose dq parts (T, D each) are
 * summed at the end. Scratch per thread: a few tiles.
 * Dropout regenerates the counter-based mask of k_dropout_mask (kernels.c) at element
 * (bh*T + t)*S + s, so a tiled call equals the fused one with that mask.
 *
 * Shape letters: BH slices, H heads, T queries, S keys, D head width.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "gemm.h"
#include "ftz.h"
#include "kernels.h"
#include "pool.h"
#include "vmath.h"

#define FA_BQ 64
#define FA_BK 256

typedef struct {
  float *out, *lse, *dq, *dk, *dv, *dqpart;
  /* The backward's mask gradient, per work item (BH * groups rows of T + S - 1 diagonals;
   * NULL: none asked), summed into dmask by k_flash_attention_backward. */
  float *dmpart;
  const float *q, *k, *v, *mask, *dout, *o, *delta;
  /* Keys per batch block (slice b reads kvLen[b / H]; NULL: all S): keys past it are
   * masked, as a right-padded key padding mask would (then the mask can be a relative
   * bias's diagonals). */
  const int32_t *kvLen;
  att_geom g;
  fa_drop drop;
  int64_t nqb, nkb, groups;
  float *scratch; /* per thread: `per` floats (3 tiles, an accumulator, m and l) */
  size_t per;
} fa_ctx;

/* Offsets of slice bh = n*H + h in the head layout (see src/backend/types.ts). */
#define FA_ROW(g, bh, L, ld) (((bh) / (g)->H) * (L) * (ld) + ((bh) % (g)->H) * (g)->D)

/* The same counter-based hash as k_dropout_mask (MurmurHash3's finalizer). */
static inline uint32_t fa_fmix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  return h ^ (h >> 16);
}

/* row[j] *= mask element (base + j) for j in [0, n). */
static void fa_apply_drop(float *row, int64_t n, const fa_drop *d, int64_t base) {
  const uint32_t k0 = d->key0, k1 = d->key1;
  for (int64_t j = 0; j < n; j++) {
    const uint32_t u = fa_fmix32(fa_fmix32((uint32_t)(base + j) + k0) ^ k1);
    row[j] *= (uint64_t)u < d->thr ? 0.0f : d->keep;
  }
}

/* Keys [0, L) that query t may see. */
static inline int64_t fa_visible(const att_geom *g, int64_t t) {
  if (!g->causal) return g->S;
  int64_t L = t + g->S - g->T + 1;
  return L < 0 ? 0 : L > g->S ? g->S : L;
}

/* Scores of query rows [t0, t0+nq) of slice b against keys [s0, s0+nk) into sc (ld FA_BK):
 * scale q k^T + mask; columns a causal row cannot see, or past kvLen, are -inf. */
static void fa_scores(float *sc, const fa_ctx *c, int64_t b, int64_t t0, int64_t nq, int64_t s0,
                      int64_t nk) {
  const att_geom *g = &c->g;
  const float *q = c->q + FA_ROW(g, b, g->T, g->ldq) + t0 * g->ldq;
  const float *k = c->k + FA_ROW(g, b, g->kvRows, g->ldk) + s0 * g->ldk;
  gemm_rm(0, 1, (int)nq, (int)nk, (int)g->D, g->scale, q,
              (int)g->ldq, k, (int)g->ldk, 0.0f, sc, FA_BK);
  for (int64_t r = 0; r < nq; r++) {
    float *row = sc + r * FA_BK;
    const int64_t t = t0 + r;
    int64_t L = fa_visible(g, t);
    if (c->kvLen && c->kvLen[b / g->H] < L) L = c->kvLen[b / g->H];
    L -= s0;
    L = L < 0 ? 0 : L > nk ? nk : L;
    if (c->mask) {
      const float *mr = c->mask + b * g->maskStrideB + t * g->maskStrideT + s0;
      for (int64_t s = 0; s < L; s++) row[s] += mr[s];
    }
    for (int64_t s = L; s < nk; s++) row[s] = -INFINITY;
  }
}

/* Keys [0, kend) that some row of the query block [t0, t0+nq) may see. */
static inline int64_t fa_block_keys(const att_geom *g, int64_t t0, int64_t nq) {
  return fa_visible(g, t0 + nq - 1);
}

HOT static void fa_fwd_range(void *p, int64_t i0, int64_t i1, int tid) {
  fa_ctx *c = p;
  const att_geom *g = &c->g;
  const int64_t T = g->T, S = g->S, D = g->D;
  float *sc = c->scratch + (size_t)tid * c->per, *acc = sc + FA_BQ * FA_BK;
  float *m = acc + FA_BQ * D, *l = m + FA_BQ;
  for (int64_t i = i0; i < i1; i++) {
    const int64_t b = i / c->nqb, t0 = (i % c->nqb) * FA_BQ;
    const int64_t nq = T - t0 < FA_BQ ? T - t0 : FA_BQ, kend = fa_block_keys(g, t0, nq);
    const float *v = c->v + FA_ROW(g, b, g->kvRows, g->ldv);
    memset(acc, 0, (size_t)(nq * D) * sizeof(float));
    for (int64_t r = 0; r < nq; r++) m[r] = -INFINITY, l[r] = 0.0f;
    for (int64_t s0 = 0; s0 < kend; s0 += FA_BK) {
      const int64_t nk = kend - s0 < FA_BK ? kend - s0 : FA_BK;
      fa_scores(sc, c, b, t0, nq, s0, nk);
      for (int64_t r = 0; r < nq; r++) {
        float *row = sc + r * FA_BK;
        const float mb = fmaxf(m[r], vmax(row, nk));
        if (mb == -INFINITY) { /* every key so far masked: P = 0 */
          memset(row, 0, (size_t)nk * sizeof(float));
          continue;
        }
        const float corr = vexpf(m[r] - mb); /* 0 when m = -inf */
        l[r] = l[r] * corr + vexp_sum(row, row, nk, mb);
        m[r] = mb;
        if (corr != 1.0f)
          for (int64_t d = 0; d < D; d++) acc[r * D + d] *= corr;
        if (c->drop.on) fa_apply_drop(row, nk, &c->drop, ((b * T) + t0 + r) * S + s0);
      }
      gemm_rm(0, 0, (int)nq, (int)D, (int)nk, 1.0f, sc,
                  FA_BK, v + s0 * g->ldv, (int)g->ldv, 1.0f, acc, (int)D);
    }
    float *o = c->out + FA_ROW(g, b, T, g->ldo) + t0 * g->ldo;
    for (int64_t r = 0; r < nq; r++) {
      const int none = l[r] == 0.0f; /* no visible key: out 0, lse -inf */
      const float inv = none ? 0.0f : 1.0f / l[r];
      for (int64_t d = 0; d < D; d++) o[r * g->ldo + d] = acc[r * D + d] * inv;
      c->lse[b * T + t0 + r] = none ? -INFINITY : m[r] + logf(l[r]);
    }
  }
}

/* Runs fn over n tasks, on the pool when there are threads and tasks to share. */
static void fa_run(pool_fn fn, fa_ctx *c, int64_t n) {
  const int nt = pool_threads();
  c->per = (size_t)(3 * FA_BQ * FA_BK + FA_BQ * c->g.D + 2 * FA_BQ);
  c->scratch = malloc((size_t)nt * c->per * sizeof(float));
  if (!c->scratch) abort();
  ftz_job job = {fn, c}; /* FTZ | DAZ while the range runs (ftz.h) */
  pool_run(ftz_range, &job, n, nt > 1 && n > 1);
  free(c->scratch);
}

static fa_drop fa_make_drop(double threshold, float keep, uint32_t key0, uint32_t key1) {
  const double tc = ceil(threshold); /* u < threshold <=> u < ceil(threshold), u integer */
  const uint64_t thr = tc <= 0 ? 0 : tc >= 4294967296.0 ? 4294967296ull : (uint64_t)tc;
  return (fa_drop){.on = thr > 0, .thr = thr, .keep = keep, .key0 = key0, .key1 = key1};
}

void k_flash_attention_forward(float *out, float *lse, const float *q, const float *k,
                               const float *v, const float *mask, const att_geom *g,
                               const fa_drop *drop, const int32_t *kvLen) {
  if (g->BH <= 0 || g->T <= 0 || g->D <= 0) {
    for (int64_t i = 0; i < g->BH * g->T; i++) lse[i] = -INFINITY; /* D = 0: no output */
    return;
  }
  fa_ctx c = {.out = out, .lse = lse, .q = q, .k = k, .v = v, .mask = mask, .kvLen = kvLen,
              .g = *g, .drop = *drop,
              .nqb = (g->T + FA_BQ - 1) / FA_BQ};
  fa_run(fa_fwd_range, &c, g->BH * c.nqb);
}

HOT static void fa_bwd_range(void *p, int64_t i0, int64_t i1, int tid) {
  fa_ctx *c = p;
  const att_geom *g = &c->g;
  const int64_t T = g->T, S = g->S, D = g->D;
  float *P = c->scratch + (size_t)tid * c->per, *dP = P + FA_BQ * FA_BK,
        *Pd = dP + FA_BQ * FA_BK;
  for (int64_t i = i0; i < i1; i++) {
    const int64_t b = i / c->groups, grp = i % c->groups;
    const int64_t oq = FA_ROW(g, b, T, g->ldq), ok = FA_ROW(g, b, g->kvRows, g->ldk),
                  ov = FA_ROW(g, b, g->kvRows, g->ldv), oo = FA_ROW(g, b, T, g->ldo);
    float *dq = c->groups == 1 ? c->dq + oq : c->dqpart + (b * c->groups + grp) * T * D;
    const int ldq = c->groups == 1 ? (int)g->ldq : (int)D;
    const float *lse = c->lse + b * T, *delta = c->delta + b * T;
    const int64_t kb0 = grp * c->nkb / c->groups, kb1 = (grp + 1) * c->nkb / c->groups;
    for (int64_t kb = kb0; kb < kb1; kb++) {
      const int64_t s0 = kb * FA_BK, nk = S - s0 < FA_BK ? S - s0 : FA_BK;
      for (int64_t t0 = 0; t0 < T; t0 += FA_BQ) {
        const int64_t nq = T - t0 < FA_BQ ? T - t0 : FA_BQ;
        if (fa_block_keys(g, t0, nq) <= s0) continue; /* causal: the block sees no key here */
        fa_scores(P, c, b, t0, nq, s0, nk);
        for (int64_t r = 0; r < nq; r++) {
          float *row = P + r * FA_BK;
          const float ml = lse[t0 + r];
          if (ml == -INFINITY) memset(row, 0, (size_t)nk * sizeof(float));
          else
            (void)vexp_sum(row, row, nk, ml);
        }
        const float *dout = c->dout + oo + t0 * g->ldo;
        /* dP (nq, nk) = dout v^T */
        gemm_rm(0, 1, (int)nq, (int)nk, (int)D, 1.0f, dout,
                    (int)g->ldo, c->v + ov + s0 * g->ldv, (int)g->ldv, 0.0f, dP, FA_BK);
        const float *pm = P;
        if (c->drop.on) {
          for (int64_t r = 0; r < nq; r++) {
            memcpy(Pd + r * FA_BK, P + r * FA_BK, (size_t)nk * sizeof(float));
            fa_apply_drop(Pd + r * FA_BK, nk, &c->drop, (b * T + t0 + r) * S + s0);
            /* dP = dP_drop * dropMask */
            fa_apply_drop(dP + r * FA_BK, nk, &c->drop, (b * T + t0 + r) * S + s0);
          }
          pm = Pd;
        }
        /* dv (nk, D) += P_drop^T dout */
        gemm_rm(1, 0, (int)nk, (int)D, (int)nq, 1.0f, pm,
                    FA_BK, dout, (int)g->ldo, 1.0f, c->dv + ov + s0 * g->ldv, (int)g->ldv);
        /* dS = P (dP - Delta) scale, into dP; the mask's gradient P (dP - Delta) added to
         * the item's diagonals (row t, key s: diagonal T - 1 - t + s) */
        for (int64_t r = 0; r < nq; r++) {
          float *ds = dP + r * FA_BK;
          const float *pr = P + r * FA_BK, dl = delta[t0 + r], sc = g->scale;
          if (c->dmpart) {
            float *dm = c->dmpart + i * (T + S - 1) + (T - 1 - (t0 + r) + s0);
            _Pragma("GCC ivdep") for (int64_t s = 0; s < nk; s++) {
              const float raw = pr[s] == 0.0f ? 0.0f : pr[s] * (ds[s] - dl);
              dm[s] += raw;
              ds[s] = raw * sc;
            }
            continue;
          }
          _Pragma("GCC ivdep") for (int64_t s = 0; s < nk; s++)
            ds[s] = pr[s] == 0.0f ? 0.0f : pr[s] * (ds[s] - dl) * sc;
        }
        /* dq (nq, D) += dS k;  dk (nk, D) += dS^T q */
        gemm_rm(0, 0, (int)nq, (int)D, (int)nk, 1.0f, dP,
                    FA_BK, c->k + ok + s0 * g->ldk, (int)g->ldk, 1.0f, dq + t0 * ldq, ldq);
        gemm_rm(1, 0, (int)nk, (int)D, (int)nq, 1.0f, dP,
                    FA_BK, c->q + oq + t0 * g->ldq, (int)g->ldq, 1.0f, c->dk + ok + s0 * g->ldk,
                    (int)g->ldk);
      }
    }
  }
}

/* Zeroes (or leaves) rows [0, L) of slice b's H*D-wide head columns in an array of stride ld. */
static void fa_zero_rows(float *x, const att_geom *g, int64_t L, int64_t rows, int64_t ld) {
  for (int64_t b = 0; b < g->BH; b++)
    for (int64_t r = 0; r < L; r++)
      memset(x + FA_ROW(g, b, rows, ld) + r * ld, 0, (size_t)g->D * sizeof(float));
}

void k_flash_attention_backward(float *dq, float *dk, float *dv, const float *dout,
                                const float *q, const float *k, const float *v, const float *out,
                                const float *lse, const float *mask, const att_geom *g,
                                const fa_drop *drop, int accumulate, float *dmask,
                                const int32_t *kvLen) {
  const int64_t BH = g->BH, T = g->T, S = g->S, D = g->D;
  if (BH <= 0 || T <= 0 || S <= 0 || D <= 0) return;
  if (!accumulate) {
    fa_zero_rows(dq, g, T, T, g->ldq);
    fa_zero_rows(dk, g, S, g->kvRows, g->ldk);
    fa_zero_rows(dv, g, S, g->kvRows, g->ldv);
  }
  /* Delta (BH, T) = rowsum(dout * out) */
  float *delta = malloc((size_t)(BH * T) * sizeof(float));
  if (!delta) abort();
  for (int64_t b = 0; b < BH; b++)
    for (int64_t t = 0; t < T; t++) {
      const int64_t o = FA_ROW(g, b, T, g->ldo) + t * g->ldo;
      delta[b * T + t] = vdot(dout + o, out + o, D);
    }
  const int nt = pool_threads();
  const int64_t nkb = (S + FA_BK - 1) / FA_BK;
  int64_t groups = 1;
  if (BH < 2 * nt) groups = (2 * nt + BH - 1) / BH;
  if (groups > nkb) groups = nkb;
  fa_ctx c = {.dq = dq, .dk = dk, .dv = dv, .dout = dout, .q = q, .k = k, .v = v, .o = out,
              .lse = (float *)lse, .mask = mask, .delta = delta, .kvLen = kvLen, .g = *g,
              .drop = *drop, .nkb = nkb, .groups = groups};
  if (groups > 1) {
    c.dqpart = calloc((size_t)(BH * groups * T * D), sizeof(float));
    if (!c.dqpart) abort();
  }
  const int64_t nd = T + S - 1; /* diagonals of a slice */
  if (dmask) {
    c.dmpart = calloc((size_t)(BH * groups * nd), sizeof(float));
    if (!c.dmpart) abort();
  }
  fa_run(fa_bwd_range, &c, BH * groups);
  if (dmask) { /* the items' diagonals into each slice's row of the mask's gradient */
    for (int64_t i = 0; i < BH * groups; i++) {
      float *dm = dmask + (i / groups) * g->maskStrideB;
      const float *part = c.dmpart + i * nd;
      for (int64_t x = 0; x < nd; x++) dm[x] += part[x];
    }
    free(c.dmpart);
  }
  if (groups > 1) {
    for (int64_t b = 0; b < BH; b++)
      for (int64_t grp = 0; grp < groups; grp++) {
        const float *part = c.dqpart + (b * groups + grp) * T * D;
        float *d0 = dq + FA_ROW(g, b, T, g->ldq);
        for (int64_t t = 0; t < T; t++)
          for (int64_t d = 0; d < D; d++) d0[t * g->ldq + d] += part[t * D + d];
      }
    free(c.dqpart);
  }
  free(delta);
}

/* ---------- entry points ---------- */

/* The dropout packed as (threshold, keep, key0, key1), checked as dropoutMask does. */
static fa_drop fa_dropout_arg(A *a, const double *d, size_t n) {
  need(a, n, 4, "dropout");
  if (a->err) return (fa_drop){0};
  if (!(d[2] >= 0 && d[2] <= 0xffffffffu && d[3] >= 0 && d[3] <= 0xffffffffu) ||
      d[2] != floor(d[2]) || d[3] != floor(d[3]))
    fail(a, "ERR_OUT_OF_RANGE", "flash attention: key0 and key1 must be uint32");
  return fa_make_drop(d[0], (float)d[1], (uint32_t)d[2], (uint32_t)d[3]);
}

/* kvLen (or NULL): one key count in [0, S] per batch block (BH / H of them). */
static void need_kv_len(A *a, const att_geom *g, const int32_t *kvLen, size_t n) {
  if (!kvLen || a->err) return;
  const int64_t blocks = g->H > 0 ? g->BH / g->H : 0;
  need(a, n, blocks, "kvLen");
  for (int64_t i = 0; i < blocks && !a->err; i++)
    if (kvLen[i] < 0 || kvLen[i] > g->S) fail(a, "ERR_OUT_OF_RANGE", "kvLen must be in [0, S]");
}

/* flashAttentionForward(out, lse, q, k, v, mask, dropout, geometry, kvLen?) */
FN(js_flash_attention_forward) {
  float *out, *lse, *q, *k, *v, *mask;
  int32_t *kvLen = NULL;
  double *drop;
  size_t out_n, lse_n, q_n, k_n, v_n, mask_n, drop_n, kvLen_n = 0;
  att_geom g;
  ARGS("flashAttentionForward", "fffffFdg|i", "out lse q k v mask dropout geometry kvLen", &out,
       &out_n, &lse, &lse_n, &q, &q_n, &k, &k_n, &v, &v_n, &mask, &mask_n, &drop, &drop_n, &g,
       &kvLen, &kvLen_n);
  need_layout(&a, &g, q_n, k_n, v_n, out_n, (const char *[4]){"q", "k", "v", "out"});
  NEED(lse, g.BH * g.T);
  mask = need_mask(&a, &g, mask, mask_n);
  need_kv_len(&a, &g, kvLen, kvLen_n);
  const fa_drop d = fa_dropout_arg(&a, drop, drop_n);
  DONE();
  k_flash_attention_forward(out, lse, q, k, v, mask, &g, &d, kvLen);
  return NULL;
}

/* flashAttentionBackward(dq, dk, dv, dout, q, k, v, out, lse, mask, dropout, geometry,
 * accumulate?, dmask?, kvLen?) */
FN(js_flash_attention_backward) {
  float *dq, *dk, *dv, *dout, *q, *k, *v, *out, *lse, *mask, *dmask = NULL;
  int32_t *kvLen = NULL;
  double *drop;
  size_t dq_n, dk_n, dv_n, dout_n, q_n, k_n, v_n, out_n, lse_n, mask_n, drop_n, dmask_n = 0;
  size_t kvLen_n = 0;
  att_geom g;
  int accumulate = 1;
  ARGS("flashAttentionBackward", "fffffffffFdg|bFi",
       "dq dk dv dout q k v out lse mask dropout geometry accumulate dmask kvLen", &dq, &dq_n,
       &dk, &dk_n, &dv, &dv_n, &dout, &dout_n, &q, &q_n, &k, &k_n, &v, &v_n, &out, &out_n, &lse,
       &lse_n, &mask, &mask_n, &drop, &drop_n, &g, &accumulate, &dmask, &dmask_n, &kvLen,
       &kvLen_n);
  need_kv_len(&a, &g, kvLen, kvLen_n);
  need_layout(&a, &g, q_n, k_n, v_n, dout_n, (const char *[4]){"q", "k", "v", "dout"});
  need_layout(&a, &g, dq_n, dk_n, dv_n, out_n, (const char *[4]){"dq", "dk", "dv", "out"});
  NEED(lse, g.BH * g.T);
  /* The mask's gradient: a relative bias's layout only (one row of T + S - 1 diagonals per
   * slice, read with maskStrideT -1 from maskOffset T - 1), the same size as the mask. */
  if (dmask && (!mask || g.maskStrideT != -1 || g.maskOffset != g.T - 1 || g.BH <= 0 ||
                g.T <= 0 || g.S <= 0))
    fail(&a, "ERR_OUT_OF_RANGE",
         "dmask: only a relative bias's gradient (maskStrideT -1, maskOffset T - 1)");
  if (dmask) need(&a, dmask_n, mask_n, "dmask");
  mask = need_mask(&a, &g, mask, mask_n);
  const fa_drop d = fa_dropout_arg(&a, drop, drop_n);
  DONE();
  k_flash_attention_backward(dq, dk, dv, dout, q, k, v, out, lse, mask, &g, &d, accumulate,
                             dmask, kvLen);
  return NULL;
}
