/*
 * Gathered attention (gatheredAttentionForward / gatheredAttentionBackward of
 * src/backend/types-attention.ts; src/backend/js-gathered.ts is the specification): the
 * content-based sparse attention of Reformer's LSH attention (Kitaev et al. 2020, Sec. 2)
 * and the Routing Transformer (Roy et al. 2021, Sec. 4), survey Lin et al. 2021, Sec. 4.1.2.
 * A plan puts each slice's query rows into G groups of Q slots and gives each group K key
 * slots; every query slot attends its group's key slots under the plan's rules (empty key
 * slots, causal order, the shared-QK self score, a per-key bias), and a query combines its
 * slots (their mean, or one softmax over their union weighted by each slot's log-sum-exp).
 *
 * Per group, as the fused attention does per block: the Q query rows and K key and value
 * rows are gathered into thread-local tiles, and every product is one GEMM (gemm_rm_tile):
 *   forward   S = scale q_g k_g^T;  slotOut_g = P_drop v_g
 *   backward  S again; dP = dO_g v_g^T; dv_g = P_drop^T dO_g; dq_g = dS k_g; dk_g = dS^T q_g
 * with the weights recomputed from the saved log-sum-exp (FlashAttention's Algorithm 2, Dao
 * et al. 2022; Delta of FlashAttention-2): 'lse' P = exp(s - L_t), dO = dout_t, Delta =
 * dout_t . out_t; mean P = exp(s - lse_slot), dO = dout_t / n_t, Delta = dO . slotOut.
 * No score, mask or gathered tensor outlives a group.
 *
 * Threads (the project's pool): the forward runs groups (each writes its own slots), then
 * query rows (the combination); the backward runs slices, since the groups of one slice
 * scatter into the same dq, dk, dv rows (no atomics, results independent of the thread
 * count).
 *
 * Shape letters: BH slices, G groups per slice, Q query slots and K key slots per group,
 * T queries, M slots per query, Lq query rows, Lk key rows, D head width.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "gemm.h"
#include "ftz.h"
#include "kernels.h"
#include "pool.h"
#include "vmath.h"

/* GATHERED_SELF_SCORE of src/backend/types-attention.ts. */
#define GA_SELF_SCORE -1e5f

typedef struct {
  int64_t BH, G, Q, K, T, M, Lq, Lk, D, qStart;
  float scale;
  int causal, flagSelf, mean;
} ga_geom;

typedef struct {
  ga_geom g;
  float *out, *slotOut, *slotLse, *rowLse, *dq, *dk, *dv;
  const float *q, *k, *v, *bias, *drop, *dout, *outc, *slotOutc, *slotLsec;
  const int32_t *qRow, *kRow, *slot;
} ga_ctx;

/* A thread's tiles, kept between calls (grown, never shrunk): no fresh pages per call. */
static _Thread_local float *t_buf;
static _Thread_local size_t t_cap;

static float *ga_scratch(size_t n) {
  if (n > t_cap) {
    free(t_buf);
    t_buf = malloc(n * sizeof(float));
    if (!t_buf) abort(); /* the addon bounds a group's tiles to 2^28 floats (ga_need) */
    t_cap = n;
  }
  return t_buf;
}

/* Row r of a (BH, L, D) array's slice b. */
#define GA_ROW(x, b, L, r, D) ((x) + ((b) * (L) + (r)) * (D))

/* Gathers group gg's query rows (zeros for empty slots) into qg (Q, D) and its key and value
 * rows (zeros for empty slots) into kg, vg (K, D). */
static void ga_gather(const ga_ctx *c, int64_t b, int64_t gg, float *qg, float *kg, float *vg) {
  const ga_geom *g = &c->g;
  const int64_t Q = g->Q, K = g->K, D = g->D;
  const size_t row = (size_t)D * sizeof(float);
  for (int64_t i = 0; i < Q; i++) {
    const int32_t r = c->qRow[gg * Q + i];
    if (r < 0) memset(qg + i * D, 0, row);
    else memcpy(qg + i * D, GA_ROW(c->q, b, g->Lq, r, D), row);
  }
  for (int64_t j = 0; j < K; j++) {
    const int32_t r = c->kRow[gg * K + j];
    if (r < 0) {
      memset(kg + j * D, 0, row);
      memset(vg + j * D, 0, row);
    } else {
      memcpy(kg + j * D, GA_ROW(c->k, b, g->Lk, r, D), row);
      memcpy(vg + j * D, GA_ROW(c->v, b, g->Lk, r, D), row);
    }
  }
}

/* kb (K): per key slot of group gg of slice b, its additive bias (0 without one), or
 * -INFINITY for an empty slot: the rules that do not depend on the query, once a group. */
HOT static void ga_key_bias(const ga_ctx *c, int64_t b, int64_t gg, float *kb) {
  const int64_t K = c->g.K;
  const int32_t *kr = c->kRow + gg * K;
  const float *bias = c->bias ? c->bias + b * c->g.Lk : NULL;
  for (int64_t j = 0; j < K; j++) kb[j] = kr[j] < 0 ? -INFINITY : bias ? bias[kr[j]] : 0.0f;
}

/* The rules on the K raw scores s (scale q.k) of the query at position p: + kb (bias, empty
 * slots), -INFINITY past p when causal, the self score at p. Branch-free loops (they
 * vectorize). */
HOT static void ga_rules(const ga_ctx *c, const int32_t *kr, const float *kb, int64_t p,
                         float *s) {
  const int64_t K = c->g.K;
  _Pragma("GCC ivdep") for (int64_t j = 0; j < K; j++) s[j] += kb[j];
  if (c->g.causal)
    _Pragma("GCC ivdep") for (int64_t j = 0; j < K; j++) s[j] = kr[j] > p ? -INFINITY : s[j];
  if (c->g.flagSelf)
    _Pragma("GCC ivdep") for (int64_t j = 0; j < K; j++) s[j] = kr[j] == p ? GA_SELF_SCORE + kb[j] : s[j];
}

/* Whether the row holds a NaN (its weights and output are then NaN, as the fused attention's). */
HOT static int ga_has_nan(const float *s, int64_t K) {
  int bad = 0;
  for (int64_t j = 0; j < K; j++) bad |= s[j] != s[j];
  return bad;
}

static size_t ga_fwd_per(const ga_geom *g) {
  return (size_t)(g->Q * g->D + 2 * g->K * g->D + g->Q * g->K + g->K);
}

/* Forward of groups [g0, g1) of all slices (item gg = b*G + group). */
HOT static void ga_fwd_range(void *p, int64_t g0, int64_t g1, int tid) {
  (void)tid;
  const ga_ctx *c = p;
  const ga_geom *g = &c->g;
  const int64_t Q = g->Q, K = g->K, D = g->D;
  float *qg = ga_scratch(ga_fwd_per(g)), *kg = qg + Q * D, *vg = kg + K * D, *S = vg + K * D;
  float *kb = S + Q * K;
  for (int64_t gg = g0; gg < g1; gg++) {
    const int64_t b = gg / g->G;
    float *so = c->slotOut + gg * Q * D;
    int any = 0;
    for (int64_t i = 0; i < Q && !any; i++) any = c->qRow[gg * Q + i] >= 0;
    if (!any || K == 0) {
      memset(so, 0, (size_t)(Q * D) * sizeof(float));
      for (int64_t i = 0; i < Q; i++) c->slotLse[gg * Q + i] = -INFINITY;
      continue;
    }
    ga_gather(c, b, gg, qg, kg, vg);
    ga_key_bias(c, b, gg, kb);
    gemm_rm_tile(0, 1, Q, K, D, g->scale, qg, D, kg, D, 0.0f, S, K);
    for (int64_t i = 0; i < Q; i++) {
      const int64_t qs = gg * Q + i;
      float *s = S + i * K;
      float mx = -INFINITY;
      if (c->qRow[qs] >= 0) {
        ga_rules(c, c->kRow + gg * K, kb, g->qStart + c->qRow[qs], s);
        if (ga_has_nan(s, K)) { /* NaN weights and output */
          for (int64_t j = 0; j < K; j++) s[j] = NAN;
          c->slotLse[qs] = NAN;
          continue;
        }
        mx = vmax(s, K);
      }
      if (mx == -INFINITY) { /* empty or fully forbidden: weights 0, out 0 */
        memset(s, 0, (size_t)K * sizeof(float));
        c->slotLse[qs] = -INFINITY;
        continue;
      }
      const float sum = vexp_sum(s, s, K, mx);
      c->slotLse[qs] = mx + logf(sum);
      const float inv = 1.0f / sum;
      const float *dm = c->drop ? c->drop + qs * K : NULL;
      if (dm)
        _Pragma("GCC ivdep") for (int64_t j = 0; j < K; j++) s[j] *= inv * dm[j];
      else
        _Pragma("GCC ivdep") for (int64_t j = 0; j < K; j++) s[j] *= inv;
    }
    gemm_rm_tile(0, 0, Q, D, K, 1.0f, S, K, vg, D, 0.0f, so, D);
  }
}

/* The combination of query rows [r0, r1) of all slices (row = b*T + t). */
HOT static void ga_combine_range(void *p, int64_t r0, int64_t r1, int tid) {
  (void)tid;
  const ga_ctx *c = p;
  const ga_geom *g = &c->g;
  const int64_t M = g->M, D = g->D, GQ = g->G * g->Q;
  for (int64_t row = r0; row < r1; row++) {
    const int64_t b = row / g->T;
    const int32_t *sl = c->slot + row * M;
    float *o = c->out + row * D;
    memset(o, 0, (size_t)D * sizeof(float));
    float L = -INFINITY;
    int64_t n = 0;
    int nan = 0;
    for (int64_t m = 0; m < M; m++) {
      if (sl[m] < 0) continue;
      n++;
      const float l = c->slotLse[b * GQ + sl[m]];
      nan |= l != l;
      if (l > L) L = l;
    }
    if (nan && !g->mean) { /* a NaN slot: NaN weights for every slot, as one softmax's */
      for (int64_t d = 0; d < D; d++) o[d] = NAN;
      c->rowLse[row] = NAN;
      continue;
    }
    if (g->mean) {
      c->rowLse[row] = 0.0f;
      for (int64_t m = 0; m < M; m++) {
        if (sl[m] < 0) continue;
        const float *so = c->slotOut + (b * GQ + sl[m]) * D;
        const float w = 1.0f / (float)n;
        for (int64_t d = 0; d < D; d++) o[d] += so[d] * w;
      }
      continue;
    }
    if (L == -INFINITY) {
      c->rowLse[row] = -INFINITY;
      continue;
    }
    /* Weights exp(lse_m - max) / sum: L = max + log(sum) in one float would lose ~4e-3 of
     * them near the self score (-1e5, float spacing 8e-3). */
    float sum = 0.0f;
    for (int64_t m = 0; m < M; m++)
      if (sl[m] >= 0) sum += expf(c->slotLse[b * GQ + sl[m]] - L);
    c->rowLse[row] = L + logf(sum);
    const float inv = 1.0f / sum;
    for (int64_t m = 0; m < M; m++) {
      if (sl[m] < 0) continue;
      const float w = expf(c->slotLse[b * GQ + sl[m]] - L) * inv;
      const float *so = c->slotOut + (b * GQ + sl[m]) * D;
      for (int64_t d = 0; d < D; d++) o[d] += w * so[d];
    }
  }
}

static void k_gathered_attention_forward(float *out, float *slotOut, float *slotLse, float *rowLse,
                                  const float *q, const float *k, const float *v,
                                  const int32_t *qRow, const int32_t *kRow, const int32_t *slot,
                                  const float *bias, const float *drop, const ga_geom *g) {
  ga_ctx c = {.g = *g, .out = out, .slotOut = slotOut, .slotLse = slotLse, .rowLse = rowLse,
              .q = q, .k = k, .v = v, .qRow = qRow, .kRow = kRow, .slot = slot, .bias = bias,
              .drop = drop};
  const int64_t groups = g->BH * g->G;
  ftz_job job = {ga_fwd_range, &c};
  pool_run(ftz_range, &job, groups, pool_threads() > 1 && groups > 1);
  pool_for(ga_combine_range, &c, g->BH * g->T, g->M * g->D + 1);
}

static size_t ga_bwd_per(const ga_geom *g) {
  const int64_t Q = g->Q, K = g->K, D = g->D;
  /* qg dOg dqg (Q, D); kg vg dkg dvg (K, D); S dP (Q, K); delta, L's max and log-sum (Q);
   * kb (K) */
  return (size_t)(3 * Q * D + 4 * K * D + 2 * Q * K + 3 * Q + K);
}

/* Backward of slices [b0, b1): every group of a slice, in order. */
HOT static void ga_bwd_range(void *p, int64_t b0, int64_t b1, int tid) {
  (void)tid;
  const ga_ctx *c = p;
  const ga_geom *g = &c->g;
  const int64_t Q = g->Q, K = g->K, D = g->D, M = g->M, GQ = g->G * g->Q;
  float *qg = ga_scratch(ga_bwd_per(g)), *dOg = qg + Q * D, *dqg = dOg + Q * D;
  float *kg = dqg + Q * D, *vg = kg + K * D, *dkg = vg + K * D, *dvg = dkg + K * D;
  float *S = dvg + K * D, *dP = S + Q * K, *delta = dP + Q * K, *Lrow = delta + Q;
  float *Lsum = Lrow + Q, *kb = Lsum + Q;
  for (int64_t b = b0; b < b1; b++)
    for (int64_t gi = 0; gi < g->G; gi++) {
      const int64_t gg = b * g->G + gi;
      int any = 0;
      /* Per slot: dO (scaled dout of its query), Delta and the log-normalizer L. */
      for (int64_t i = 0; i < Q; i++) {
        const int64_t qs = gg * Q + i;
        const int32_t t = c->qRow[qs];
        float *dOi = dOg + i * D;
        Lrow[i] = -INFINITY;
        if (t < 0) {
          memset(dOi, 0, (size_t)D * sizeof(float));
          continue;
        }
        const int64_t row = b * g->T + t;
        const float *dout = c->dout + row * D;
        /* The query's slots: their count (mean) or the union's log-normalizer as a maximum
         * and a log-sum (P = exp((s - max) - logsum), exact near the self score). */
        const int32_t *sl = c->slot + row * M;
        int64_t n = 0;
        float mx = -INFINITY, sum = 0.0f;
        for (int64_t m = 0; m < M; m++)
          if (sl[m] >= 0) {
            n++;
            mx = fmaxf(mx, c->slotLsec[b * GQ + sl[m]]);
          }
        if (!g->mean && mx > -INFINITY)
          for (int64_t m = 0; m < M; m++)
            if (sl[m] >= 0) sum += expf(c->slotLsec[b * GQ + sl[m]] - mx);
        const float w = g->mean ? 1.0f / (float)n : 1.0f;
        for (int64_t d = 0; d < D; d++) dOi[d] = dout[d] * w;
        delta[i] = g->mean ? vdot(dOi, c->slotOutc + qs * D, D) : vdot(dout, c->outc + row * D, D);
        Lrow[i] = g->mean ? c->slotLsec[qs] : mx;
        Lsum[i] = g->mean ? 0.0f : logf(sum);
        any |= Lrow[i] != -INFINITY; /* NaN too: its gradients are NaN */
      }
      if (!any || K == 0) continue;
      ga_gather(c, b, gg, qg, kg, vg);
      ga_key_bias(c, b, gg, kb);
      gemm_rm_tile(0, 1, Q, K, D, g->scale, qg, D, kg, D, 0.0f, S, K);
      gemm_rm_tile(0, 1, Q, K, D, 1.0f, dOg, D, vg, D, 0.0f, dP, K);
      for (int64_t i = 0; i < Q; i++) {
        const int64_t qs = gg * Q + i;
        float *s = S + i * K, *dp = dP + i * K;
        if (Lrow[i] == -INFINITY) { /* an empty or fully forbidden slot: no gradient */
          memset(s, 0, (size_t)K * sizeof(float));
          memset(dp, 0, (size_t)K * sizeof(float));
          continue;
        }
        const int64_t p = g->qStart + c->qRow[qs];
        const int32_t *kr = c->kRow + gg * K;
        ga_rules(c, kr, kb, p, s);
        const float L = Lrow[i], ls = Lsum[i], dl = delta[i], sc = g->scale;
        const float *dm = c->drop ? c->drop + qs * K : NULL;
        /* P (exp(-inf) = 0), dS = P (drop dP - Delta) scale into dp, P drop into s */
        if (dm) {
          _Pragma("GCC ivdep") for (int64_t j = 0; j < K; j++) {
            const float P = vexpf((s[j] - L) - ls);
            dp[j] = P * (dm[j] * dp[j] - dl) * sc;
            s[j] = P * dm[j];
          }
        } else {
          _Pragma("GCC ivdep") for (int64_t j = 0; j < K; j++) {
            const float P = vexpf((s[j] - L) - ls);
            dp[j] = P * (dp[j] - dl) * sc;
            s[j] = P;
          }
        }
        if (g->flagSelf) /* a constant score: no gradient to q, k */
          _Pragma("GCC ivdep") for (int64_t j = 0; j < K; j++) dp[j] = kr[j] == p ? 0.0f : dp[j];
      }
      gemm_rm_tile(1, 0, K, D, Q, 1.0f, S, K, dOg, D, 0.0f, dvg, D);  /* P_drop^T dO */
      gemm_rm_tile(0, 0, Q, D, K, 1.0f, dP, K, kg, D, 0.0f, dqg, D);  /* dS k */
      gemm_rm_tile(1, 0, K, D, Q, 1.0f, dP, K, qg, D, 0.0f, dkg, D);  /* dS^T q */
      for (int64_t i = 0; i < Q; i++) {
        const int32_t t = c->qRow[gg * Q + i];
        if (t < 0) continue;
        float *dq = GA_ROW(c->dq, b, g->Lq, t, D);
        for (int64_t d = 0; d < D; d++) dq[d] += dqg[i * D + d];
      }
      for (int64_t j = 0; j < K; j++) {
        const int32_t r = c->kRow[gg * K + j];
        if (r < 0) continue;
        float *dk = GA_ROW(c->dk, b, g->Lk, r, D), *dv = GA_ROW(c->dv, b, g->Lk, r, D);
        for (int64_t d = 0; d < D; d++) {
          dk[d] += dkg[j * D + d];
          dv[d] += dvg[j * D + d];
        }
      }
    }
}

static void k_gathered_attention_backward(float *dq, float *dk, float *dv, const float *dout,
                                          const float *out, const float *slotOut,
                                          const float *slotLse, const float *q, const float *k,
                                          const float *v, const int32_t *qRow,
                                          const int32_t *kRow, const int32_t *slot,
                                          const float *bias, const float *drop, const ga_geom *g) {
  ga_ctx c = {.g = *g, .dq = dq, .dk = dk, .dv = dv, .dout = dout, .outc = out,
              .slotOutc = slotOut, .slotLsec = slotLse, .q = q, .k = k, .v = v, .qRow = qRow,
              .kRow = kRow, .slot = slot, .bias = bias, .drop = drop};
  ftz_job job = {ga_bwd_range, &c};
  pool_run(ftz_range, &job, g->BH, pool_threads() > 1 && g->BH > 1);
}

/* ---------- the addon entries ---------- */

/* GATHERED_GEOM_FIELDS of tables.h, read and checked. */
#define GG_INDEX(f) GG_##f,
enum { GATHERED_GEOM_FIELDS(GG_INDEX) GG_COUNT };
#undef GG_INDEX

static void ga_geometry(A *a, const double *d, size_t n, ga_geom *g) {
  need(a, n, GG_COUNT, "geometry");
  if (a->err) return;
  static const char *const fields[GG_COUNT] = {
#define GG_NAME(f) #f,
      GATHERED_GEOM_FIELDS(GG_NAME)
#undef GG_NAME
  };
  int64_t v[GG_COUNT];
  for (int j = 0; j < GG_COUNT; j++) v[j] = j == GG_scale ? 0 : as_int(a, d[j], 0, fields[j]);
  if (a->err) return;
  *g = (ga_geom){.BH = v[GG_BH], .G = v[GG_G], .Q = v[GG_Q], .K = v[GG_K], .T = v[GG_T],
                 .M = v[GG_M], .Lq = v[GG_Lq], .Lk = v[GG_Lk], .D = v[GG_D],
                 .qStart = v[GG_qStart], .scale = (float)d[GG_scale], .causal = v[GG_causal] != 0,
                 .flagSelf = v[GG_flagSelf] != 0, .mean = v[GG_mean] != 0};
  need_int32(a, "gathered attention sizes", 9, v);
}

/* Every entry of x (n) in [-1, hi). */
static void ga_rows(A *a, const int32_t *x, int64_t n, int64_t hi, const char *name) {
  for (int64_t i = 0; i < n && !a->err; i++)
    if (x[i] < -1 || x[i] >= hi) {
      char msg[128];
      snprintf(msg, sizeof msg, "%s[%lld] = %d is outside [-1, %lld)", name, (long long)i, x[i],
               (long long)hi);
      fail(a, "ERR_OUT_OF_RANGE", msg);
    }
}

/* The plan and inputs every call shares. */
/* a * b * c, or -1 (and an error) when it overflows int64 or passes 2^40 elements. */
static int64_t ga_size(A *a, int64_t x, int64_t y, int64_t z) {
  int64_t r;
  if (__builtin_mul_overflow(x, y, &r) || __builtin_mul_overflow(r, z, &r) ||
      r > ((int64_t)1 << 40)) {
    fail(a, "ERR_OUT_OF_RANGE", "gathered attention: the geometry's sizes overflow");
    return -1;
  }
  return r;
}

static void ga_need(A *a, const ga_geom *g, size_t q_n, size_t k_n, size_t v_n,
                    const int32_t *qRow, size_t qRow_n, const int32_t *kRow, size_t kRow_n,
                    const int32_t *slot, size_t slot_n, const float *bias, size_t bias_n,
                    const float *drop, size_t drop_n) {
  /* Every product the kernels form, checked first; a thread's tiles stay below 2^28 floats. */
  const int64_t NQ = ga_size(a, g->BH, g->G, g->Q), NK = ga_size(a, g->BH, g->G, g->K);
  const int64_t NS = ga_size(a, g->BH, g->T, g->M), NQK = ga_size(a, NQ < 0 ? 0 : NQ, g->K, 1);
  ga_size(a, NQ < 0 ? 0 : NQ, g->D, 1);
  ga_size(a, g->BH, g->T, g->D);
  ga_size(a, g->BH, g->Lq, g->D);
  ga_size(a, g->BH, g->Lk, g->D);
  if (a->err) return;
  if (g->Q * g->K + (g->Q + g->K) * g->D > ((int64_t)1 << 28))
    fail(a, "ERR_OUT_OF_RANGE", "gathered attention: a group's tiles exceed 2^28 floats");
  if (g->Lq != g->T) fail(a, "ERR_OUT_OF_RANGE", "gathered attention: Lq must equal T");
  if (a->err) return;
  need(a, q_n, g->BH * g->Lq * g->D, "q");
  need(a, k_n, g->BH * g->Lk * g->D, "k");
  need(a, v_n, g->BH * g->Lk * g->D, "v");
  need(a, qRow_n, NQ, "qRow");
  need(a, kRow_n, NK, "kRow");
  need(a, slot_n, NS, "slot");
  if (bias) need(a, bias_n, g->BH * g->Lk, "bias");
  if (drop) need(a, drop_n, NQK, "dropMask");
  if (a->err) return;
  ga_rows(a, qRow, NQ, g->Lq, "qRow");
  ga_rows(a, kRow, NK, g->Lk, "kRow");
  ga_rows(a, slot, NS, g->G * g->Q, "slot");
  if (a->err) return;
  /* The slot lists and qRow agree: query t names slot s only if qRow[s] = t, no slot twice,
   * and every filled query slot is named (the backward finds a slot's query by qRow). */
  uint8_t *named = calloc((size_t)NQ + 1, 1);
  if (!named) {
    fail(a, "ERR_OUT_OF_RANGE", "gathered attention: out of memory");
    return;
  }
  const int64_t GQ = g->G * g->Q;
  int64_t filled = 0, names = 0;
  for (int64_t i = 0; i < NQ; i++) filled += qRow[i] >= 0;
  for (int64_t r = 0; r < g->BH * g->T && !a->err; r++)
    for (int64_t m = 0; m < g->M; m++) {
      const int32_t sl = slot[r * g->M + m];
      if (sl < 0) continue;
      const int64_t qs = (r / g->T) * GQ + sl;
      if (qRow[qs] != r % g->T || named[qs]) {
        fail(a, "ERR_OUT_OF_RANGE",
             "gathered attention: slot and qRow disagree (a query names a slot that holds "
             "another query, or a slot twice)");
        break;
      }
      named[qs] = 1;
      names++;
    }
  if (!a->err && names != filled)
    fail(a, "ERR_OUT_OF_RANGE", "gathered attention: a filled query slot is in no query's slots");
  free(named);
}

/* gatheredAttentionForward(out, slotOut, slotLse, rowLse, q, k, v, qRow, kRow, slot, bias,
 * dropMask, geometry) */
FN(js_gathered_attention_forward) {
  float *out, *so, *sl, *rl, *q, *k, *v, *bias, *drop;
  int32_t *qRow, *kRow, *slot;
  double *gd;
  size_t out_n, so_n, sl_n, rl_n, q_n, k_n, v_n, qRow_n, kRow_n, slot_n, bias_n = 0, drop_n = 0,
                                                                          gd_n;
  ARGS("gatheredAttentionForward", "fffffffiiiFFd",
       "out slotOut slotLse rowLse q k v qRow kRow slot bias dropMask geometry", &out, &out_n, &so,
       &so_n, &sl, &sl_n, &rl, &rl_n, &q, &q_n, &k, &k_n, &v, &v_n, &qRow, &qRow_n, &kRow,
       &kRow_n, &slot, &slot_n, &bias, &bias_n, &drop, &drop_n, &gd, &gd_n);
  ga_geom g;
  ga_geometry(&a, gd, gd_n, &g);
  DONE();
  ga_need(&a, &g, q_n, k_n, v_n, qRow, qRow_n, kRow, kRow_n, slot, slot_n, bias, bias_n, drop,
          drop_n);
  need(&a, out_n, g.BH * g.T * g.D, "out");
  need(&a, so_n, g.BH * g.G * g.Q * g.D, "slotOut");
  need(&a, sl_n, g.BH * g.G * g.Q, "slotLse");
  need(&a, rl_n, g.BH * g.T, "rowLse");
  DONE();
  k_gathered_attention_forward(out, so, sl, rl, q, k, v, qRow, kRow, slot, bias, drop, &g);
  return NULL;
}

/* gatheredAttentionBackward(dq, dk, dv, dout, out, slotOut, slotLse, q, k, v, qRow, kRow,
 * slot, bias, dropMask, geometry) */
FN(js_gathered_attention_backward) {
  float *dq, *dk, *dv, *dout, *out, *so, *sl, *q, *k, *v, *bias, *drop;
  int32_t *qRow, *kRow, *slot;
  double *gd;
  size_t dq_n, dk_n, dv_n, dout_n, out_n, so_n, sl_n, q_n, k_n, v_n, qRow_n, kRow_n, slot_n,
      bias_n = 0, drop_n = 0, gd_n;
  ARGS("gatheredAttentionBackward", "ffffffffffiiiFFd",
       "dq dk dv dout out slotOut slotLse q k v qRow kRow slot bias dropMask geometry", &dq,
       &dq_n, &dk, &dk_n, &dv, &dv_n, &dout, &dout_n, &out, &out_n, &so, &so_n, &sl, &sl_n, &q,
       &q_n, &k, &k_n, &v, &v_n, &qRow, &qRow_n, &kRow, &kRow_n, &slot, &slot_n, &bias, &bias_n,
       &drop, &drop_n, &gd, &gd_n);
  ga_geom g;
  ga_geometry(&a, gd, gd_n, &g);
  DONE();
  ga_need(&a, &g, q_n, k_n, v_n, qRow, qRow_n, kRow, kRow_n, slot, slot_n, bias, bias_n, drop,
          drop_n);
  need(&a, dq_n, g.BH * g.Lq * g.D, "dq");
  need(&a, dk_n, g.BH * g.Lk * g.D, "dk");
  need(&a, dv_n, g.BH * g.Lk * g.D, "dv");
  need(&a, dout_n, g.BH * g.T * g.D, "dout");
  need(&a, out_n, g.BH * g.T * g.D, "out");
  need(&a, so_n, g.BH * g.G * g.Q * g.D, "slotOut");
  need(&a, sl_n, g.BH * g.G * g.Q, "slotLse");
  DONE();
  k_gathered_attention_backward(dq, dk, dv, dout, out, so, sl, q, k, v, qRow, kRow, slot, bias,
                                drop, &g);
  return NULL;
}
