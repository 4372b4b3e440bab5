/*
 * GEMM libraries side by side (issue 15, part 1): Debian's OpenBLAS (cblas_sgemm, under
 * whatever OPENBLAS_CORETYPE the environment sets), BLIS (bli_sgemm, typed API with
 * strides; sub-configuration picked by BLIS_ARCH_TYPE, see run.sh) and oneDNN (dnnl_sgemm),
 * plus a bf16-input fp32-accumulate GEMM: oneDNN's dnnl_gemm_bf16bf16f32 (an exported but
 * undocumented oneDNN symbol, column-major, Fortran-style pointer arguments: used here for
 * the measurement only). Debian's OpenBLAS 0.3.21 is built without BUILD_BFLOAT16: its
 * cblas.h declares cblas_sbgemm but libopenblas.so.0 does not export it.
 *
 * Shapes are M x N x K, out (M, N) = op(A) (M, K) @ op(B) (K, N), row-major, transposes as
 * the native backend calls cblas_sgemm (native/blas.c): NT = B transposed (a linear
 * layer's forward: x W^T), NN (its dx), TN (its dweight, beta 1), and attention's per-head
 * products (batch 48 = B 12 x H 4, T 64, D 32).
 *
 * 1. Correctness: every library against a double-precision reference on every shape and
 *    on odd shapes with all four transposes, padded leading dimensions and beta 1;
 *    error = max |C - C_ref| / max (|alpha| sum_k |a_ik b_kj| + |beta c_ij|), bound 1e-5
 *    for fp32 and 2^-7 for bf16 inputs.
 * 2. Speed: GFLOP/s of the best of N calls, the candidates interleaved in rounds (the
 *    machine is shared), in three modes: 1T (library at 1 thread on the caller),
 *    own2 (library's own threading, 2 threads), split2 (our way: 2 threads, each a
 *    1-thread library call on half the rows, or half the columns when M is small, or
 *    half the batch).
 *
 * Build and run: bench/gemm-libs/run.sh. Not part of CI.
 */
#define _GNU_SOURCE
/* OpenBLAS's cblas.h first: blis.h embeds its own cblas.h behind the same guard. */
#include <cblas.h>
#include <blis-openmp/blis.h> /* Debian: /usr/include/x86_64-linux-gnu/blis-openmp */
#include <math.h>
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

extern void openblas_set_num_threads(int);
extern char *openblas_get_config(void);
/* oneDNN's bf16 GEMM (exported, not in the public headers): dnnl_sgemm's row-major
 * convention with bf16 A and B. */
extern dnnl_status_t dnnl_gemm_bf16bf16f32(char transa, char transb, dnnl_dim_t M,
                                           dnnl_dim_t N, dnnl_dim_t K, float alpha,
                                           const uint16_t *A, dnnl_dim_t lda, const uint16_t *B,
                                           dnnl_dim_t ldb, float beta, float *C, dnnl_dim_t ldc);

enum { LIB_OPENBLAS, LIB_BLIS, LIB_DNNL, LIB_SB_DNNL, NLIB };
static const char *LIB_NAME[NLIB] = {"openblas", "blis", "dnnl", "bf16-dnnl"};
static int lib_is_bf16(int lib) { return lib == LIB_SB_DNNL; }

/* One GEMM call: row-major, out (M, N) with ldc, A (M, K) or (K, M) when tA, B likewise. */
typedef struct {
  int lib, tA, tB;
  int64_t M, N, K, lda, ldb, ldc;
  float alpha, beta;
  const float *a, *b;
  const uint16_t *a16, *b16;
  float *c;
} call_t;

static void run_call(const call_t *x) {
  switch (x->lib) {
  case LIB_OPENBLAS:
    cblas_sgemm(CblasRowMajor, x->tA ? CblasTrans : CblasNoTrans,
                x->tB ? CblasTrans : CblasNoTrans, (int)x->M, (int)x->N, (int)x->K, x->alpha,
                x->a, (int)x->lda, x->b, (int)x->ldb, x->beta, x->c, (int)x->ldc);
    break;
  case LIB_BLIS: {
    float al = x->alpha, be = x->beta;
    bli_sgemm(x->tA ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE,
              x->tB ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, x->M, x->N, x->K, &al, (float *)x->a,
              x->lda, 1, (float *)x->b, x->ldb, 1, &be, x->c, x->ldc, 1);
    break;
  }
  case LIB_DNNL:
    if (dnnl_sgemm(x->tA ? 'T' : 'N', x->tB ? 'T' : 'N', x->M, x->N, x->K, x->alpha, x->a,
                   x->lda, x->b, x->ldb, x->beta, x->c, x->ldc) != dnnl_success)
      abort();
    break;
  case LIB_SB_DNNL:
    if (dnnl_gemm_bf16bf16f32(x->tA ? 'T' : 'N', x->tB ? 'T' : 'N', x->M, x->N, x->K, x->alpha,
                              x->a16, x->lda, x->b16, x->ldb, x->beta, x->c,
                              x->ldc) != dnnl_success)
      abort();
    break;
  }
}

/* ---------- threads ---------- */

static void set_lib_threads(int lib, int n) {
  if (lib == LIB_OPENBLAS) openblas_set_num_threads(n);
  if (lib == LIB_BLIS) bli_thread_set_num_threads(n);
  if (lib == LIB_DNNL || lib == LIB_SB_DNNL) omp_set_num_threads(n);
}

/* One spinning worker for split2: runs job_fn(job_ctx, 1) while the caller runs part 0. */
static _Atomic int g_gen, g_done, g_quit;
static void (*job_fn)(void *, int);
static void *job_ctx;

static void *worker(void *p) {
  (void)p;
  omp_set_num_threads(1);
  int seen = 0;
  for (;;) {
    int g;
    while ((g = atomic_load_explicit(&g_gen, memory_order_acquire)) == seen) {
      if (atomic_load(&g_quit)) return NULL;
      __builtin_ia32_pause();
    }
    seen = g;
    job_fn(job_ctx, 1);
    atomic_store_explicit(&g_done, g, memory_order_release);
  }
}

static void run_parallel(void (*fn)(void *, int), void *ctx) {
  job_fn = fn;
  job_ctx = ctx;
  int g = atomic_load(&g_gen) + 1;
  atomic_store_explicit(&g_gen, g, memory_order_release);
  fn(ctx, 0);
  while (atomic_load_explicit(&g_done, memory_order_acquire) != g) __builtin_ia32_pause();
}

/* ---------- a batch of GEMMs (attention: per head), whole or split in two ---------- */

typedef struct {
  call_t base;
  int64_t batch, sA, sB, sC; /* element strides between the batch's matrices */
} bgemm_t;

static void run_batch_range(const bgemm_t *g, int64_t b0, int64_t b1) {
  for (int64_t i = b0; i < b1; i++) {
    call_t x = g->base;
    x.a += i * g->sA, x.b += i * g->sB, x.c += i * g->sC;
    if (x.a16) x.a16 += i * g->sA, x.b16 += i * g->sB;
    run_call(&x);
  }
}

/* Part `part` of 2 of a batched GEMM: half the batch, else half the rows (or columns). */
static void run_half(void *p, int part) {
  const bgemm_t *g = p;
  if (g->batch >= 2) {
    int64_t h = g->batch / 2;
    run_batch_range(g, part ? h : 0, part ? g->batch : h);
    return;
  }
  call_t x = g->base;
  const int by_rows = x.M >= 64;
  int64_t dim = by_rows ? x.M : x.N, h = (dim / 2 + 15) / 16 * 16;
  if (h > dim) h = dim;
  int64_t lo = part ? h : 0, hi = part ? dim : h;
  if (by_rows) {
    int64_t offA = x.tA ? lo : lo * x.lda;
    x.a += offA;
    if (x.a16) x.a16 += offA;
    x.c += lo * x.ldc;
    x.M = hi - lo;
  } else {
    int64_t offB = x.tB ? lo * x.ldb : lo;
    x.b += offB;
    if (x.b16) x.b16 += offB;
    x.c += lo;
    x.N = hi - lo;
  }
  if ((by_rows ? x.M : x.N) > 0) run_call(&x);
}

/* ---------- data ---------- */

static uint64_t g_seed = 88172645463325252ull;
static float frand(void) {
  g_seed ^= g_seed << 13, g_seed ^= g_seed >> 7, g_seed ^= g_seed << 17;
  return (float)((g_seed >> 11) * (1.0 / 9007199254740992.0)) - 0.5f;
}
static float *rnd(int64_t n) {
  float *p = aligned_alloc(64, (size_t)((n * 4 + 63) / 64 * 64));
  for (int64_t i = 0; i < n; i++) p[i] = frand();
  return p;
}
/* Round to nearest even bf16. */
static uint16_t to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  u += 0x7fff + ((u >> 16) & 1);
  return (uint16_t)(u >> 16);
}
static uint16_t *bf16_of(const float *x, int64_t n) {
  uint16_t *p = aligned_alloc(64, (size_t)((n * 2 + 63) / 64 * 64));
  for (int64_t i = 0; i < n; i++) p[i] = to_bf16(x[i]);
  return p;
}
static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

/* ---------- correctness ---------- */

/* Relative error of c (after the call) against the double reference from c0 (before). */
static double check(const call_t *x, const float *c0) {
  double maxerr = 0, maxscale = 1e-30;
  for (int64_t i = 0; i < x->M; i++)
    for (int64_t j = 0; j < x->N; j++) {
      double s = 0, sa = 0;
      for (int64_t k = 0; k < x->K; k++) {
        double av = x->tA ? x->a[k * x->lda + i] : x->a[i * x->lda + k];
        double bv = x->tB ? x->b[j * x->ldb + k] : x->b[k * x->ldb + j];
        s += av * bv, sa += fabs(av * bv);
      }
      double ref = x->alpha * s + x->beta * c0[i * x->ldc + j];
      double scale = fabs(x->alpha) * sa + fabs(x->beta * c0[i * x->ldc + j]);
      double e = fabs(x->c[i * x->ldc + j] - ref);
      if (e > maxerr) maxerr = e;
      if (scale > maxscale) maxscale = scale;
    }
  return maxerr / maxscale;
}

static int correctness(int nlibs, const int *libs) {
  /* Odd shapes, all transposes, padded leading dimensions, beta 0 and 1, alpha != 1. */
  const int64_t shapes[][3] = {{1, 1, 1},   {17, 33, 65},  {65, 128, 768}, {130, 7, 31},
                               {64, 64, 32}, {768, 65, 128}, {3, 300, 2}};
  int bad = 0;
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
    for (int t = 0; t < 8; t++) {
      int tA = t & 1, tB = (t >> 1) & 1, b1 = t >> 2;
      int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
      int64_t lda = (tA ? M : K) + 3, ldb = (tB ? K : N) + 5, ldc = N + 2;
      int64_t na = (tA ? K : M) * lda, nb = (tB ? N : K) * ldb, nc = M * ldc;
      float *a = rnd(na), *b = rnd(nb), *c0 = rnd(nc), *c = rnd(nc);
      uint16_t *a16 = bf16_of(a, na), *b16 = bf16_of(b, nb);
      /* bf16 rows are checked against the bf16-rounded inputs' exact product plus the
       * input rounding: the reference uses the fp32 inputs, so allow 2^-7. */
      for (int l = 0; l < nlibs; l++) {
        memcpy(c, c0, (size_t)nc * 4);
        call_t x = {libs[l], tA, tB, M, N, K, lda, ldb, ldc, 0.75f, b1 ? 1.0f : 0.0f,
                    a, b, a16, b16, c};
        set_lib_threads(libs[l], 1);
        run_call(&x);
        double e = check(&x, c0), bound = lib_is_bf16(libs[l]) ? 1.0 / 128 : 1e-5;
        if (!(e <= bound)) {
          printf("FAIL %s %ldx%ldx%ld %c%c beta %d: rel err %.3g > %.3g\n", LIB_NAME[libs[l]],
                 (long)M, (long)N, (long)K, tA ? 'T' : 'N', tB ? 'T' : 'N', b1, e, bound);
          bad++;
        }
      }
      free(a), free(b), free(c0), free(c), free(a16), free(b16);
    }
  return bad;
}

/* ---------- speed ---------- */

typedef struct {
  const char *name;
  int64_t batch, M, N, K;
  int tA, tB;
  float beta;
} shape_t;

/* The case-1 training step's products (bench/lm-floor.ts recordStepGemms, 4 layers,
 * width 128, d_ff 512, vocab 65, B 12 x T 64 = 768 tokens, H 4 x D 32), and squares. */
static const shape_t SHAPES[] = {
    {"512^3", 1, 512, 512, 512, 0, 0, 0},
    {"1024^3", 1, 1024, 1024, 1024, 0, 0, 0},
    {"qkv fwd", 1, 768, 384, 128, 0, 1, 0},
    {"ff1 fwd", 1, 768, 512, 128, 0, 1, 0},
    {"ff2 fwd", 1, 768, 128, 512, 0, 1, 0},
    {"out fwd", 1, 768, 128, 128, 0, 1, 0},
    {"head fwd", 1, 768, 65, 128, 0, 1, 0},
    {"ff2 dx", 1, 768, 512, 128, 0, 0, 0},
    {"ff1 dx", 1, 768, 128, 512, 0, 0, 0},
    {"qkv dx", 1, 768, 128, 384, 0, 0, 0},
    {"ff1 dW", 1, 512, 128, 768, 1, 0, 1},
    {"ff2 dW", 1, 128, 512, 768, 1, 0, 1},
    {"qkv dW", 1, 384, 128, 768, 1, 0, 1},
    {"head dW", 1, 65, 128, 768, 1, 0, 1},
    {"att qk^T", 48, 64, 64, 32, 0, 1, 0},
    {"att pv", 48, 64, 32, 64, 0, 0, 0},
    {"att dk", 48, 64, 32, 64, 1, 0, 1},
};
#define NSHAPES ((int)(sizeof SHAPES / sizeof SHAPES[0]))
enum { MODE_1T, MODE_OWN2, MODE_SPLIT2, NMODE };
static const char *MODE_NAME[NMODE] = {"1T", "own2", "split2"};

/* Best seconds per call over `reps` calls of g in `mode`. split2's worker spins only
 * while split2 runs, so it takes no core from the other modes. */
static double time_best(bgemm_t *g, int mode, int reps) {
  double best = 1e30;
  pthread_t th;
  if (mode == MODE_SPLIT2) {
    atomic_store(&g_quit, 0);
    atomic_store(&g_gen, 0);
    atomic_store(&g_done, 0);
    pthread_create(&th, NULL, worker, NULL);
  }
  for (int r = -2; r < reps; r++) {
    double t0 = now();
    if (mode == MODE_SPLIT2) run_parallel(run_half, g);
    else run_batch_range(g, 0, g->batch);
    double t = now() - t0;
    if (r >= 0 && t < best) best = t;
  }
  if (mode == MODE_SPLIT2) {
    atomic_store(&g_quit, 1);
    pthread_join(th, NULL);
  }
  return best;
}

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 3;
  int only_shape = argc > 2 ? atoi(argv[2]) : -1;
  bli_init();
  printf("OpenBLAS: %s\n", openblas_get_config());
  printf("BLIS %s, sub-configuration %s (BLIS_ARCH_TYPE=%s)\n", bli_info_get_version_str(),
         bli_arch_string(bli_arch_query_id()), getenv("BLIS_ARCH_TYPE") ? getenv("BLIS_ARCH_TYPE") : "unset");
  const dnnl_version_t *v = dnnl_version();
  printf("oneDNN %d.%d.%d, effective ISA 0x%x (avx512_core_bf16 = 0x%x)\n", v->major, v->minor,
         v->patch, (unsigned)dnnl_get_effective_cpu_isa(), (unsigned)dnnl_cpu_isa_avx512_core_bf16);

  const int libs[NLIB] = {LIB_OPENBLAS, LIB_BLIS, LIB_DNNL, LIB_SB_DNNL};
  int bad = correctness(NLIB, libs);
  printf("correctness: %s\n", bad ? "FAILURES above" : "all libraries within bounds");

  /* best[shape][lib][mode] GFLOP/s */
  static double best[NSHAPES][NLIB][NMODE];
  for (int round = 0; round < rounds; round++)
    for (int s = 0; s < NSHAPES; s++) {
      if (only_shape >= 0 && s != only_shape) continue;
      const shape_t *sh = &SHAPES[s];
      int64_t na = sh->M * sh->K, nb = sh->K * sh->N, nc = sh->M * sh->N;
      float *a = rnd(na * sh->batch), *b = rnd(nb * sh->batch), *c = rnd(nc * sh->batch);
      uint16_t *a16 = bf16_of(a, na * sh->batch), *b16 = bf16_of(b, nb * sh->batch);
      double flops = 2.0 * sh->batch * sh->M * sh->N * sh->K;
      int reps = (int)(0.04 / (flops / 150e9));
      if (reps < 5) reps = 5;
      if (reps > 400) reps = 400;
      for (int mode = 0; mode < NMODE; mode++)
        for (int l = 0; l < NLIB; l++) {
          int lib = libs[l];
          set_lib_threads(lib, mode == MODE_OWN2 ? 2 : 1);
          bgemm_t g = {{lib, sh->tA, sh->tB, sh->M, sh->N, sh->K, sh->tA ? sh->M : sh->K,
                        sh->tB ? sh->K : sh->N, sh->N, 1.0f, sh->beta, a, b, a16, b16, c},
                       sh->batch, na, nb, nc};
          double t = time_best(&g, mode, reps);
          double gf = flops / t / 1e9;
          if (gf > best[s][lib][mode]) best[s][lib][mode] = gf;
          set_lib_threads(lib, 1);
          /* Let the library's own workers (OpenBLAS ~0.1 s spin, OpenMP) go idle. */
          if (mode == MODE_OWN2) usleep(120000);
        }
      free(a), free(b), free(c), free(a16), free(b16);
    }

  printf("\nGFLOP/s, best of N calls over %d interleaved rounds (shared machine)\n", rounds);
  printf("| shape | MxNxK | batch | op |");
  for (int mode = 0; mode < NMODE; mode++)
    for (int l = 0; l < NLIB; l++)
      printf(" %s %s |", LIB_NAME[libs[l]], MODE_NAME[mode]);
  printf("\n");
  for (int s = 0; s < NSHAPES; s++) {
    if (only_shape >= 0 && s != only_shape) continue;
    const shape_t *sh = &SHAPES[s];
    printf("| %s | %ldx%ldx%ld | %ld | %c%c b%g |", sh->name, (long)sh->M, (long)sh->N,
           (long)sh->K, (long)sh->batch, sh->tA ? 'T' : 'N', sh->tB ? 'T' : 'N', sh->beta);
    for (int mode = 0; mode < NMODE; mode++)
      for (int l = 0; l < NLIB; l++)
        printf(" %.0f |", best[s][libs[l]][mode]);
    printf("\n");
  }
  return bad ? 1 : 0;
}
