/*
 * GEMM-based kernels (matmul, fused attention) on the selected GEMM library (gemm_rm of
 * native/gemm.c: OpenBLAS, oneDNN or BLIS), and the thread count shared by the library and
 * the kernel pool. "OpenBLAS" below stands for the selected library.
 *
 * Threading: one thread count n (NativeConfig.threads) sizes our pool, and
 * OpenBLAS is kept at 1 thread (gemm_set_library_threads(1)): every kernel, GEMMs included,
 * runs on the same n threads, so OpenBLAS's workers (which spin for ~0.1 s after each
 * threaded call by default) never compete with the pool on 2 cores.
 * - A big GEMM (>= SPLIT_GEMM_MIN multiply-adds) is split in blocks of 16 rows of the
 *   output (or 16 columns when M is small) over the pool; each block is a 1-thread sgemm.
 *   Measured on the 2-core dev machine (bench/run.ts --case matmul, medians over runs):
 *   170-200 GFLOP/s on 512x512x512 and 768x128x512, versus 135-182 with OpenBLAS's own
 *   2 threads and 92-105 with 1 thread.
 * - Many small GEMMs (attention over B*H slices, batched matmul of small matrices) are
 *   spread over the pool by slice when each GEMM has >= SLICE_PAR_MIN multiply-adds, else
 *   run on the caller. Measured (bench/run.ts --case attention, causal forward + backward,
 *   median ms; pool / slices in sequence with 2-thread OpenBLAS / 1 thread):
 *     BH=48,  T=S=64,  D=32: 0.91-1.16 / 1.65-2.10 / 1.60-2.09  -> pool, ~1.8x
 *     BH=256, T=S=24,  D=32: pool was 1.6-2.1 vs 1.45-1.55 sequential: concurrent tiny
 *                            sgemm calls contend inside OpenBLAS, so these run on the caller
 *     BH=8,   T=S=256, D=64: 3.0-3.7 / 5.8-7.0 / 6.0-7.4      -> pool, ~1.9x
 *   Sequential 2-thread GEMMs gain nothing at these sizes: OpenBLAS does not thread GEMMs
 *   below 64^3, so they leave a core idle.
 * - A GEMM whose result waits (a linear layer's dweight in backward, k_matmul_deferred) is
 *   queued for the pool's worker, which runs it whole on one thread between the caller's
 *   jobs, while the caller goes on with dx and the rest of the backward pass.
 * setSplitGemm(false) (benchmarks, transformer_testhooks build only) restores OpenBLAS's
 * own threading for comparison.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "gemm.h"
#include "ftz.h"
#include "kernels.h"
#include "pool.h"
#include "vmath.h"


static int g_n_threads = 1;
#ifdef TRANSFORMER_TESTHOOKS
/* 1: big GEMMs are split in row/column blocks over our pool, OpenBLAS always at 1 thread
 * (no OpenBLAS worker threads ever run); 0: OpenBLAS threads itself (benchmarks). */
static int g_split_gemm = 1;
static int g_slices_parallel = 1; /* 0: run slices sequentially with n-thread GEMMs (bench) */

void k_set_slices_parallel(int on) { g_slices_parallel = on != 0; }
#else
/* The production addon always splits GEMMs over the pool and runs slices on it. */
#define g_split_gemm 1
#define g_slices_parallel 1
#endif

void k_set_threads(int n) {
  if (n < 1) n = 1;
  if (n > POOL_MAX_THREADS) n = POOL_MAX_THREADS;
  g_n_threads = n;
  gemm_set_library_threads(g_split_gemm ? 1 : n);
  pool_set_threads(n);
}

#ifdef TRANSFORMER_TESTHOOKS
void k_set_split_gemm(int on) {
  g_split_gemm = on != 0;
  k_set_threads(g_n_threads);
}
#endif

int k_threads(void) { return g_n_threads; }

/* Runs a pool region whose chunks call sgemm, so that at most n threads run: OpenBLAS is
 * single-threaded inside. With slices parallelism off (benchmarks only), the slices run one
 * after another with n-thread OpenBLAS GEMMs instead. */
/* Slices with fewer multiply-adds per GEMM than this run on the caller only: concurrent
 * tiny sgemm calls contend inside OpenBLAS (its per-call buffer allocation), measured
 * slower than one thread for BH=256, T=S=24, D=32 (18K per GEMM). */
#define SLICE_PAR_MIN 32768

static void run_gemm_region(pool_fn fn, void *ctx, int64_t n, int64_t gemm_size) {
  if (g_n_threads < 2 || gemm_size < SLICE_PAR_MIN) {
    fn(ctx, 0, n, 0);
  } else if (!g_slices_parallel) {
    if (g_split_gemm) gemm_set_library_threads(g_n_threads);
    fn(ctx, 0, n, 0);
    if (g_split_gemm) gemm_set_library_threads(1);
  } else {
    if (!g_split_gemm) gemm_set_library_threads(1);
    pool_run(fn, ctx, n, n >= 2);
    if (!g_split_gemm) gemm_set_library_threads(g_n_threads);
  }
}

/* Per-thread scratch, grown on demand and kept (attention needs 2 x T*S floats). */
static float *g_scratch[POOL_MAX_THREADS];
static size_t g_scratch_len[POOL_MAX_THREADS];

static float *scratch(int tid, size_t n) {
  if (g_scratch_len[tid] < n) {
    free(g_scratch[tid]);
    g_scratch[tid] = malloc(n * sizeof(float));
    g_scratch_len[tid] = g_scratch[tid] ? n : 0;
  }
  return g_scratch[tid];
}

/* ---------- matmul ---------- */

/* One GEMM, whole or split in blocks of rows of out (or columns when M is small) over the
 * pool; fp32 operands a, b, or bf16 operands a16, b16 (k_matmul_bf16). */
typedef struct {
  float *out;
  const float *a, *b;
  int64_t M, N, K, blk;
  int tA, tB, byRows;
  float beta;
  const float *bias; /* added to every row after the product, or NULL */
  const uint16_t *a16, *b16; /* bf16 operands instead of a, b, or NULL */
} split_ctx;

/* out[m][n0 + j] += bias[n0 + j] for rows [m0, m1), columns [n0, n1); row stride ldo. */
HOT static void add_bias(float *out, const float *bias, int64_t m0, int64_t m1, int64_t n0,
                         int64_t n1, int64_t ldo) {
  for (int64_t m = m0; m < m1; m++) {
    float *o = out + m * ldo;
    _Pragma("GCC ivdep") for (int64_t j = n0; j < n1; j++) o[j] += bias[j];
  }
}

/* The (M, N) block of out at element offset offC, from a and b at offsets offA, offB. */
static void block_gemm(const split_ctx *c, int64_t offA, int64_t offB, int64_t offC, int64_t M,
                       int64_t N) {
  const int64_t lda = c->tA ? c->M : c->K, ldb = c->tB ? c->K : c->N;
  if (c->a16)
    gemm_bf16_rm(c->tA, c->tB, M, N, c->K, 1.0f, c->a16 + offA, lda, c->b16 + offB, ldb, c->beta,
                 c->out + offC, c->N);
  else
    gemm_rm(c->tA, c->tB, M, N, c->K, 1.0f, c->a + offA, lda, c->b + offB, ldb, c->beta,
            c->out + offC, c->N);
}

static void split_range(void *p, int64_t b0, int64_t b1, int tid) {
  (void)tid;
  split_ctx *c = p;
  if (c->byRows) {
    int64_t m0 = b0 * c->blk, m1 = b1 * c->blk < c->M ? b1 * c->blk : c->M;
    block_gemm(c, c->tA ? m0 : m0 * c->K, 0, m0 * c->N, m1 - m0, c->N);
    /* While this block of out is still in this core's cache. */
    if (c->bias) add_bias(c->out, c->bias, m0, m1, 0, c->N, c->N);
  } else {
    int64_t n0 = b0 * c->blk, n1 = b1 * c->blk < c->N ? b1 * c->blk : c->N;
    block_gemm(c, 0, c->tB ? n0 * c->K : n0, n0, c->M, n1 - n0);
    if (c->bias) add_bias(c->out, c->bias, 0, c->M, n0, n1, c->N);
  }
}

/* GEMMs with at least this many multiply-adds are split over the pool
 * (NativeConfig.splitGemmMin, default 8M). 8M: every GEMM of a case-1
 * training step (768 rows, >= 12.6M) is split, while the 64-row GEMMs of generation
 * (<= 4.2M) run whole on the caller: measured on bench/run.ts --case generate, splitting
 * those cost more in pool wake-ups than it saved (matmul time 433-473 ms at 1M versus
 * 274-288 ms at 16M per 256 tokens, on the shared 2-core machine). */
#define SPLIT_GEMM_MIN g_config.splitGemmMin

/* Chunks per thread of a split GEMM (NativeConfig.gemmGrain, default 1). 1: each chunk
 * is one sgemm that packs the shared operand again, so more chunks cost more packing than
 * their load balancing saves; measured (bench/profile-lm.ts, min of 5 runs) 37.6 ms a
 * case-1 step at 1 against 40.4 at 2 and 40.6 at 4, and 128x512x768 (A transposed) at
 * 181 GFLOP/s against 173 at 2. The chunks are still claimed dynamically. */
#define GEMM_GRAIN ((int)g_config.gemmGrain)

/* Runs c (M, N, K > 0) whole on the caller or split over the pool. */
static void gemm_run(split_ctx *c, int may_split) {
  const int64_t M = c->M, N = c->N, K = c->K;
  /* Not while deferred GEMMs keep the worker busy (backward's dx beside the queued
   * dweights): the caller would run both halves itself, packing the shared operand twice.
   * Decided on pool_has_deferred (the call sequence), not on whether the worker happens to
   * be busy: a split and a whole GEMM can differ in the last bits, and runs must not. */
  if (may_split && g_split_gemm && g_n_threads >= 2 && M * N * K >= SPLIT_GEMM_MIN &&
      !pool_has_deferred()) {
    /* Blocks of 16 rows (or columns); rows when M is large enough to give every thread
     * several blocks' worth, else columns. */
    c->blk = 16;
    c->byRows = M >= N || M >= 64 * g_n_threads;
    int64_t dim = c->byRows ? M : N;
    int64_t nb = (dim + c->blk - 1) / c->blk;
    pool_run_grain(split_range, c, nb, nb >= 2, GEMM_GRAIN);
    return;
  }
  block_gemm(c, 0, 0, 0, M, N);
  if (c->bias) add_bias(c->out, c->bias, 0, M, 0, N, N);
}

static int round_operands_bf16(split_ctx *c);

static void gemm1(float *out, const float *a, const float *b, int64_t M, int64_t N, int64_t K,
                  int transA, int transB, float beta, int may_split, const float *bias) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    if (beta == 0) memset(out, 0, (size_t)(M * N) * sizeof(float));
    if (bias) add_bias(out, bias, 0, M, 0, N, N);
    return;
  }
  split_ctx c = {out, a, b, M, N, K, 16, transA, transB, 1, beta, bias, NULL, NULL};
  /* NativeConfig.bf16Gemm (TRANSFORMER_PRECISION=bf16): bf16 operands, fp32 accumulation
   * (without memory for the copies, fp32). */
  if (g_config.bf16Gemm) (void)round_operands_bf16(&c);
  gemm_run(&c, may_split);
}

/* bf16 copies of the operands of the GEMMs a thread starts (matmulBf16, and every matmul
 * under NativeConfig.bf16Gemm: the caller's, the pool's slices, the deferred dweights on
 * the worker), grown on demand; a split GEMM's blocks only read its starter's copy. */
static _Thread_local uint16_t *t_bf16;
static _Thread_local size_t t_bf16_len;

/* Sets c->a16, c->b16 to bf16 copies (nearest even) of c->a (M x K) and c->b (K x N). */
static int round_operands_bf16(split_ctx *c) {
  size_t need = (size_t)(c->M * c->K + c->K * c->N);
  if (t_bf16_len < need) {
    free(t_bf16);
    t_bf16 = malloc(need * sizeof(uint16_t));
    t_bf16_len = t_bf16 ? need : 0;
    if (!t_bf16) return -1;
  }
  gemm_round_bf16(t_bf16, c->a, c->M * c->K);
  gemm_round_bf16(t_bf16 + c->M * c->K, c->b, c->K * c->N);
  c->a16 = t_bf16;
  c->b16 = t_bf16 + c->M * c->K;
  return 0;
}

/* out (M, N) = bf16(a) bf16(b) + beta out, fp32 accumulation: the operands rounded to
 * bf16 (nearest even) once, then the product whole or split over the pool as gemm1. */
int k_matmul_bf16(float *out, const float *a, const float *b, int64_t M, int64_t N, int64_t K,
                  int transA, int transB, float beta) {
  if (M == 0 || N == 0) return 0;
  if (K == 0) {
    if (beta == 0) memset(out, 0, (size_t)(M * N) * sizeof(float));
    return 0;
  }
  split_ctx c = {out, a, b, M, N, K, 16, transA, transB, 1, beta, NULL, NULL, NULL};
  if (round_operands_bf16(&c) != 0) return -1;
  gemm_run(&c, 1);
  return 0;
}

typedef struct {
  float *out;
  const float *a, *b;
  int64_t M, N, K, sA, sB;
  int tA, tB, split;
  float beta;
  const float *bias;
} mm_ctx;

static void mm_range(void *p, int64_t b, int64_t e, int tid) {
  (void)tid;
  mm_ctx *c = p;
  for (int64_t i = b; i < e; i++)
    gemm1(c->out + i * c->M * c->N, c->a + i * c->sA, c->b + i * c->sB, c->M, c->N, c->K, c->tA,
          c->tB, c->beta, c->split, c->bias);
}

/* Batched GEMMs at most this big (M*N*K) run in parallel over the batch. */
#define SMALL_GEMM (1 << 21)

void k_matmul(float *out, const float *a, const float *b, int64_t batch, int64_t M, int64_t N,
              int64_t K, int transA, int transB, int64_t strideA, int64_t strideB, float beta,
              const float *bias) {
  if (batch <= 0) return;
  /* A stacked batch against one shared B is one tall GEMM. */
  if (batch > 1 && strideB == 0 && !transA && strideA == M * K) {
    gemm1(out, a, b, batch * M, N, K, 0, transB, beta, 1, bias);
    return;
  }
  mm_ctx c = {out, a, b, M, N, K, strideA, strideB, transA, transB, 1, beta, bias};
  if (batch >= 2 && M * N * K <= SMALL_GEMM) {
    c.split = 0;
    run_gemm_region(mm_range, &c, batch, M * N * K);
  } else {
    mm_range(&c, 0, batch, 0);
  }
}

/* ---------- a GEMM deferred to a worker ---------- */

typedef struct {
  float *out;
  const float *a, *b;
  int64_t M, N, K;
  int tA, tB;
  float beta;
} gemm_job;

static void deferred_gemm(void *p, int64_t b, int64_t e, int tid) {
  (void)b, (void)e, (void)tid;
  const gemm_job *j = p;
  gemm1(j->out, j->a, j->b, j->M, j->N, j->K, j->tA, j->tB, j->beta, 0, NULL);
}

/* A GEMM whose result is not needed until k_drain (a linear layer's dweight in backward):
 * queued for the pool's worker, which runs it whole on one thread between the caller's
 * jobs, so the caller goes on with the backward pass (dx, the element-wise kernels, the
 * JavaScript between kernels) instead of waiting for it. With one thread, or with GEMM
 * splitting off (benchmarks), it runs at once. */
void k_matmul_deferred(float *out, const float *a, const float *b, int64_t M, int64_t N,
                       int64_t K, int transA, int transB, float beta) {
  gemm_job j = {out, a, b, M, N, K, transA, transB, beta};
  if (!g_split_gemm || g_n_threads < 2 || M == 0 || N == 0 || K == 0) {
    gemm1(out, a, b, M, N, K, transA, transB, beta, 1, NULL);
    return;
  }
  pool_defer(deferred_gemm, &j, sizeof j);
}

void k_drain(void) { pool_drain(); }

/* ---------- fused attention ---------- */

typedef struct {
  float *out, *weights, *dq, *dk, *dv;
  const float *q, *k, *v, *mask, *drop, *dout, *w;
  att_geom g;
  float gbeta; /* backward: 1 accumulates into dq, dk, dv; 0 overwrites their slices */
} att_ctx;

/* Offsets of slice bh = n*H + h in the head layout (see src/backend/types.ts). */
#define ATT_ROW(c, bh, L, ld) (((bh) / (c)->g.H) * (L) * (ld) + ((bh) % (c)->g.H) * (c)->g.D)

HOT static void att_fwd_range(void *p, int64_t b0, int64_t b1, int tid) {
  att_ctx *c = p;
  const att_geom *g = &c->g;
  const int64_t T = g->T, S = g->S, D = g->D, off = S - T;
  float *pd = c->drop ? scratch(tid, (size_t)(T * S)) : NULL;
  for (int64_t b = b0; b < b1; b++) {
    const float *q = c->q + ATT_ROW(c, b, T, g->ldq), *k = c->k + ATT_ROW(c, b, g->kvRows, g->ldk),
                *v = c->v + ATT_ROW(c, b, g->kvRows, g->ldv);
    float *w = c->weights + b * T * S, *o = c->out + ATT_ROW(c, b, T, g->ldo);
    /* scores (T, S) = scale * q k^T */
    gemm_rm(0, 1, (int)T, (int)S, (int)D, g->scale, q,
                (int)g->ldq, k, (int)g->ldk, 0.0f, w, (int)S);
    for (int64_t t = 0; t < T; t++) {
      float *row = w + t * S;
      /* Causal: keys s >= L are forbidden; their weights are exactly 0, so the softmax
       * runs over the first L only (the same values as over the row with -inf there). */
      int64_t L = S;
      if (g->causal) {
        L = t + off + 1 < 0 ? 0 : t + off + 1;
        if (L > S) L = S;
      }
      if (c->mask) {
        const float *mr = c->mask + b * g->maskStrideB + t * g->maskStrideT;
        for (int64_t s = 0; s < L; s++) row[s] += mr[s];
      }
      if (L > 0) {
        /* Up to a whole vector (VACC) with -inf: exp gives exactly 0 there and the sums see
         * the same elements in the same accumulators, so the loops have no scalar tail. */
        int64_t Lp = (L + VACC - 1) / VACC * VACC;
        if (Lp > S) Lp = S;
        for (int64_t s = L; s < Lp; s++) row[s] = -INFINITY;
        k_softmax_row(row, row, Lp);
        L = Lp;
      }
      if (L < S) memset(row + L, 0, (size_t)(S - L) * sizeof(float));
    }
    const float *pm = w;
    if (c->drop) {
      const float *dm = c->drop + b * T * S;
      for (int64_t i = 0; i < T * S; i++) pd[i] = w[i] * dm[i];
      pm = pd;
    }
    /* out (T, D) = P (T, S) v (S, D) */
    gemm_rm(0, 0, (int)T, (int)D, (int)S, 1.0f, pm,
                (int)S, v, (int)g->ldv, 0.0f, o, (int)g->ldo);
  }
}

void k_attention_forward(float *out, float *weights, const float *q, const float *k,
                         const float *v, const float *mask, const float *drop,
                         const att_geom *g) {
  const int64_t BH = g->BH, T = g->T, S = g->S, D = g->D, H = g->H;
  if (BH <= 0 || T <= 0) return;
  if (S == 0 || D == 0) {
    /* Degenerate: no keys (all rows masked) or empty heads. */
    if (S == 0) {
      for (int64_t b = 0; b < BH; b++)
        for (int64_t t = 0; t < T; t++)
          memset(out + ((b / H) * T + t) * g->ldo + (b % H) * D, 0, (size_t)D * sizeof(float));
      return;
    }
    /* D == 0: every score is 0 (+ mask); out (BH, T, 0) is empty. */
    for (int64_t b = 0; b < BH; b++)
      for (int64_t t = 0; t < T; t++) {
        float *row = weights + (b * T + t) * S;
        for (int64_t s = 0; s < S; s++) {
          row[s] = mask ? mask[b * g->maskStrideB + t * g->maskStrideT + s] : 0.0f;
          if (g->causal && s > t + (S - T)) row[s] = -INFINITY;
        }
        k_softmax_row(row, row, S);
      }
    return;
  }
  att_ctx c = {.out = out, .weights = weights, .q = q, .k = k, .v = v, .mask = mask,
               .drop = drop, .g = *g};
  ftz_job job = {att_fwd_range, &c};
  run_gemm_region(ftz_range, &job, BH, T * S * D);
}

HOT static void att_bwd_range(void *p, int64_t b0, int64_t b1, int tid) {
  att_ctx *c = p;
  const att_geom *g = &c->g;
  const int64_t T = g->T, S = g->S, D = g->D;
  float *buf = scratch(tid, (size_t)(2 * T * S));
  float *dp = buf, *pd = buf + T * S;
  for (int64_t b = b0; b < b1; b++) {
    const int64_t oq = ATT_ROW(c, b, T, g->ldq), ok = ATT_ROW(c, b, g->kvRows, g->ldk),
                  ov = ATT_ROW(c, b, g->kvRows, g->ldv);
    const float *q = c->q + oq, *k = c->k + ok, *v = c->v + ov;
    const float *w = c->w + b * T * S, *dout = c->dout + ATT_ROW(c, b, T, g->ldo);
    const float *dm = c->drop ? c->drop + b * T * S : NULL;
    float *dq = c->dq + oq, *dk = c->dk + ok, *dv = c->dv + ov;
    const int ldq = (int)g->ldq, ldk = (int)g->ldk, ldv = (int)g->ldv, ldo = (int)g->ldo;
    /* dP_drop (T, S) = dout (T, D) v^T */
    gemm_rm(0, 1, (int)T, (int)S, (int)D, 1.0f, dout,
                ldo, v, ldv, 0.0f, dp, (int)S);
    /* dv (S, D) += P_drop^T (S, T) dout (T, D) */
    const float *pm = w;
    if (dm) {
      for (int64_t i = 0; i < T * S; i++) pd[i] = w[i] * dm[i];
      pm = pd;
    }
    gemm_rm(1, 0, (int)S, (int)D, (int)T, 1.0f, pm,
                (int)S, dout, ldo, c->gbeta, dv, ldv);
    /* dS = P * (dP - sum(dP * P)) * scale, with dP = dP_drop * dropMask; into pd. */
    for (int64_t t = 0; t < T; t++) {
      float *dpr = dp + t * S, *ds = pd + t * S;
      const float *pr = w + t * S;
      /* Trailing weights that are exactly 0 (causal rows, masked keys) have dS = 0 and add
       * nothing to the sum: run the loops over the first L only. */
      int64_t L = S;
      while (L > 0 && pr[L - 1] == 0.0f) L--;
      /* Up to a whole vector (VACC): the padded weights are 0, adding nothing. */
      L = (L + VACC - 1) / VACC * VACC;
      if (L > S) L = S;
      if (dm)
        for (int64_t s = 0; s < L; s++) dpr[s] *= dm[t * S + s];
      const float sum = vdot(dpr, pr, L), sc = g->scale;
      _Pragma("GCC ivdep") for (int64_t s = 0; s < L; s++)
        ds[s] = pr[s] == 0 ? 0.0f : pr[s] * (dpr[s] - sum) * sc;
      if (L < S) memset(ds + L, 0, (size_t)(S - L) * sizeof(float));
    }
    /* dq (T, D) += dS (T, S) k (S, D);  dk (S, D) += dS^T (S, T) q (T, D) */
    gemm_rm(0, 0, (int)T, (int)D, (int)S, 1.0f, pd,
                (int)S, k, ldk, c->gbeta, dq, ldq);
    gemm_rm(1, 0, (int)S, (int)D, (int)T, 1.0f, pd,
                (int)S, q, ldq, c->gbeta, dk, ldk);
  }
}

void k_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                          const float *k, const float *v, const float *weights,
                          const float *drop, const att_geom *g, int accumulate) {
  if (g->BH <= 0 || g->T <= 0 || g->S <= 0 || g->D <= 0) return;
  att_ctx c = {.dq = dq, .dk = dk, .dv = dv, .dout = dout, .q = q, .k = k, .v = v,
               .w = weights, .drop = drop, .g = *g, .gbeta = accumulate ? 1.0f : 0.0f};
  ftz_job job = {att_bwd_range, &c};
  run_gemm_region(ftz_range, &job, g->BH, g->T * g->S * g->D);
}
