/*
 * The one place that decides which library runs a GEMM (issue 15). Every matrix product of
 * the native backend (blas.c, flash_attention.c, sparse_attention.c) calls gemm_rm(); the
 * library is NativeConfig.gemm (GEMM_LIBS of tables.h):
 * - openblas: cblas_sgemm of the OpenBLAS the addon links (Debian 0.3.21, Haswell kernels
 *   under OPENBLAS_CORETYPE=Haswell);
 * - dnnl: oneDNN's dnnl_sgemm (row-major, its JIT picks the CPU's ISA: avx512_core_bf16 on
 *   the project's Zen 5), loaded with dlopen("libdnnl.so.2");
 * - blis: BLIS's bli_sgemm (typed API with strides), dlopen("libblis.so.4"). Debian's BLIS
 *   0.9.0 selects its 'generic' sub-configuration on Zen 5 (family 0x1a) unless
 *   BLIS_ARCH_TYPE=0 (skx) is set in the environment before its first call.
 * - auto (the default): dnnl when it loads, else openblas.
 * Measured (bench/gemm-libs, bench/NOTES.md "GEMM libraries"): oneDNN 1.9-2.1x OpenBLAS's
 * Haswell kernels per thread at 512^3 and the step's shapes; BLIS skx about 1.7x.
 * The optional libraries are loaded at run time (RTLD_LOCAL: BLIS's cblas_sgemm never
 * shadows OpenBLAS's), so the addon builds and runs with OpenBLAS alone.
 *
 * Threads: every library runs single-threaded inside our pool's tasks (blas.c splits big
 * GEMMs over the pool, and the deferred dweight GEMMs run whole on its worker), so no
 * library thread ever competes with the pool. oneDNN sizes its parallel regions by the
 * calling thread's OpenMP ICV: gemm_rm sets it to the library thread count once per thread.
 * gemm_set_library_threads(n) (benchmarks: OpenBLAS-style own threading) changes it for
 * the calling thread.
 *
 * Signals (oneDNN bug uxlfoundation/oneDNN#4845, fixed upstream in 3.11 by PR #4855, present in
 * Debian's 2.6.3): oneDNN's JIT f32 GEMM kernels (jit_avx512_common_gemm_f32, the AVX2 one)
 * point rsp at their heap workspace while they run, so a signal delivered then makes the
 * kernel write its signal frame into the heap: glibc later aborts ("corrupted size vs.
 * prev_size", "free(): invalid pointer"). `node --cpu-prof` (SIGPROF every ~1 ms) hit it on
 * every long-attention row. So no thread runs a oneDNN call with signals unblocked: pool
 * workers block every signal for good when they start (gemm_guard_thread), and the caller's
 * thread blocks them for a whole pool_run (gemm_guard_begin/end, nested by a depth count),
 * else for the one call. A pending signal is delivered when the guard ends. A
 * rt_sigprocmask pair costs ~2 us here, so it is paid per pool_run, not per GEMM (per GEMM
 * it cost +35% on the full-attention row at T 2048, one thread); only while dnnl is active.
 *
 * bf16: gemm_bf16_rm multiplies bf16 inputs (round-to-nearest-even from fp32) accumulating
 * in fp32: oneDNN's dnnl_gemm_bf16bf16f32 (AVX512-BF16), or, without it, the bf16-rounded
 * inputs widened back to fp32 through the chosen sgemm (the same values: a product of
 * two bf16 numbers is exact in fp32).
 */
#include <cblas.h>
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "gemm.h"
#include "kernels.h"

extern void openblas_set_num_threads(int num_threads);

/* oneDNN (dnnl.h): dnnl_status_t is an enum, 0 = dnnl_success; dnnl_dim_t is int64_t. */
typedef int (*dnnl_sgemm_fn)(char, char, int64_t, int64_t, int64_t, float, const float *,
                             int64_t, const float *, int64_t, float, float *, int64_t);
typedef int (*dnnl_bf16_fn)(char, char, int64_t, int64_t, int64_t, float, const uint16_t *,
                            int64_t, const uint16_t *, int64_t, float, float *, int64_t);
typedef struct {
  int major, minor, patch;
  const char *hash;
  unsigned cpu_runtime, gpu_runtime;
} dnnl_version_t;
/* BLIS (blis.h): dim_t and inc_t are int64_t, trans_t 0 (no) / 8 (transpose). */
typedef void (*bli_sgemm_fn)(int, int, int64_t, int64_t, int64_t, const float *, const float *,
                             int64_t, int64_t, const float *, int64_t, int64_t, const float *,
                             float *, int64_t, int64_t);

static struct {
  int tried;
  dnnl_sgemm_fn dnnl_sgemm;
  dnnl_bf16_fn dnnl_bf16;
  void (*omp_set_num_threads)(int);
  const dnnl_version_t *(*dnnl_version)(void);
  bli_sgemm_fn bli_sgemm;
  void (*bli_set_threads)(int64_t);
  const char *(*bli_arch_string)(int);
  int (*bli_arch_query_id)(void);
} L;

static int g_lib = GEMM_OPENBLAS;  /* the active library (never GEMM_AUTO) */
/* GEMM_AUTO resolved to oneDNN: products of at most GEMM_SMALL multiply-adds go to OpenBLAS.
 * oneDNN 2.6's sgemm costs ~4.5 us a call before any arithmetic (its dispatch, plus the
 * signal guard on the calling thread), OpenBLAS's ~0.7 us. Measured per call on one thread
 * (scripts in bench/NOTES.md): 8^3 0.71 vs 4.90 us, 32^3 1.65 vs 4.86, 64^3 7.2 vs 7.8,
 * 96^3 20.1 vs 13.5, 128^3 45.9 vs 30.0: OpenBLAS up to 64^3, oneDNN above. An explicit
 * TRANSFORMER_GEMM=dnnl keeps every product on oneDNN (the benchmark's comparison). */
#define GEMM_SMALL ((int64_t)64 * 64 * 64)
static int g_small_openblas = 0;
static int g_library_threads = 1;  /* threads inside one library call */
static _Thread_local int t_omp_threads; /* this thread's OpenMP ICV as last set (0: never) */

static void load_libraries(void) {
  if (L.tried) return;
  L.tried = 1;
  void *d = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL);
  if (d) {
    L.dnnl_sgemm = (dnnl_sgemm_fn)dlsym(d, "dnnl_sgemm");
    L.dnnl_bf16 = (dnnl_bf16_fn)dlsym(d, "dnnl_gemm_bf16bf16f32");
    L.dnnl_version = (const dnnl_version_t *(*)(void))dlsym(d, "dnnl_version");
    /* oneDNN's OpenMP runtime, found through its dependencies. */
    L.omp_set_num_threads = (void (*)(int))dlsym(d, "omp_set_num_threads");
    if (!L.dnnl_sgemm || !L.omp_set_num_threads) L.dnnl_sgemm = NULL;
  }
  void *b = dlopen("libblis.so.4", RTLD_NOW | RTLD_LOCAL);
  if (b) {
    L.bli_sgemm = (bli_sgemm_fn)dlsym(b, "bli_sgemm");
    L.bli_set_threads = (void (*)(int64_t))dlsym(b, "bli_thread_set_num_threads");
    L.bli_arch_string = (const char *(*)(int))dlsym(b, "bli_arch_string");
    L.bli_arch_query_id = (int (*)(void))dlsym(b, "bli_arch_query_id");
    void (*bli_init)(void) = (void (*)(void))dlsym(b, "bli_init");
    if (!bli_init || !L.bli_set_threads || !L.bli_arch_string || !L.bli_arch_query_id)
      L.bli_sgemm = NULL;
    /* Before any query: BLIS reads BLIS_ARCH_TYPE here, and querying the architecture of
     * an uninitialized BLIS with that variable set aborts. */
    else bli_init();
  }
}

int gemm_available(int lib) {
  load_libraries();
  switch (lib) {
  case GEMM_AUTO:
  case GEMM_OPENBLAS: return 1;
  case GEMM_DNNL: return L.dnnl_sgemm != NULL;
  case GEMM_BLIS: return L.bli_sgemm != NULL;
  default: return 0;
  }
}

int gemm_select(int lib) {
  if (!gemm_available(lib)) return -1;
  g_small_openblas = lib == GEMM_AUTO && L.dnnl_sgemm != NULL;
  if (lib == GEMM_AUTO) lib = L.dnnl_sgemm ? GEMM_DNNL : GEMM_OPENBLAS;
  g_lib = lib;
  gemm_set_library_threads(g_library_threads);
  return 0;
}

int gemm_active(void) { return g_lib; }

void gemm_set_library_threads(int n) {
  g_library_threads = n < 1 ? 1 : n;
  openblas_set_num_threads(g_lib == GEMM_OPENBLAS ? g_library_threads : 1);
  if (L.bli_set_threads) L.bli_set_threads(g_lib == GEMM_BLIS ? g_library_threads : 1);
  if (L.omp_set_num_threads) {
    L.omp_set_num_threads(g_library_threads);
    t_omp_threads = g_library_threads;
  }
}

void gemm_describe(char *buf, size_t n) {
  load_libraries();
  int len = snprintf(buf, n, "%s", g_lib == GEMM_DNNL ? (g_small_openblas ? "dnnl (products up to 64^3 on openblas)" : "dnnl") : g_lib == GEMM_BLIS ? "blis" : "openblas");
  if (L.dnnl_sgemm && L.dnnl_version && len >= 0 && (size_t)len < n) {
    const dnnl_version_t *v = L.dnnl_version();
    len += snprintf(buf + len, n - (size_t)len, "; oneDNN %d.%d.%d%s", v->major, v->minor, v->patch,
                    L.dnnl_bf16 ? " (bf16 GEMM)" : "");
  }
  if (L.bli_sgemm && len >= 0 && (size_t)len < n)
    snprintf(buf + len, n - (size_t)len, "; BLIS %s", L.bli_arch_string(L.bli_arch_query_id()));
}

/* oneDNN reads the calling thread's OpenMP ICV: pool workers start at the CPU count. */
static inline void omp_threads_for_this_thread(void) {
  if (t_omp_threads != 1 && g_library_threads == 1) {
    L.omp_set_num_threads(1);
    t_omp_threads = 1;
  }
}

/* This thread's guard depth (> 0: its signals are blocked; workers: for good) and the mask
 * the outermost gemm_guard_begin replaced. */
static _Thread_local int t_guard_depth;
static _Thread_local sigset_t t_guard_saved;

int gemm_guard_begin(void) {
  if (g_lib != GEMM_DNNL) return 0;
  if (t_guard_depth++ == 0) {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &t_guard_saved);
  }
  return 1;
}

void gemm_guard_end(int token) {
  if (token && --t_guard_depth == 0) pthread_sigmask(SIG_SETMASK, &t_guard_saved, NULL);
}

void gemm_guard_thread(void) {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  t_guard_depth = 1; /* never ends */
}

static void gemm_rm_on(int small_openblas, int tA, int tB, int64_t M, int64_t N, int64_t K,
                       float alpha, const float *a, int64_t lda, const float *b, int64_t ldb,
                       float beta, float *c, int64_t ldc) {
  switch (g_lib) {
  case GEMM_DNNL: {
    if (small_openblas && M * N * K <= GEMM_SMALL) break; /* OpenBLAS below */
    omp_threads_for_this_thread();
    const int guard = gemm_guard_begin();
    const int status = L.dnnl_sgemm(tA ? 'T' : 'N', tB ? 'T' : 'N', M, N, K, alpha, a, lda, b,
                                    ldb, beta, c, ldc);
    gemm_guard_end(guard);
    if (status == 0) return;
    break; /* oneDNN refused (it checks its arguments): OpenBLAS below */
  }
  case GEMM_BLIS:
    L.bli_sgemm(tA ? 8 : 0, tB ? 8 : 0, M, N, K, &alpha, a, lda, 1, b, ldb, 1, &beta, c, ldc, 1);
    return;
  default: break;
  }
  cblas_sgemm(CblasRowMajor, tA ? CblasTrans : CblasNoTrans, tB ? CblasTrans : CblasNoTrans,
              (int)M, (int)N, (int)K, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

void gemm_rm(int tA, int tB, int64_t M, int64_t N, int64_t K, float alpha, const float *a,
             int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc) {
  gemm_rm_on(g_small_openblas, tA, tB, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
}

void gemm_rm_tile(int tA, int tB, int64_t M, int64_t N, int64_t K, float alpha,
                     const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                     float *c, int64_t ldc) {
  gemm_rm_on(0, tA, tB, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
}

/* ---------- bf16 ---------- */

uint16_t gemm_to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

HOT void gemm_round_bf16(uint16_t *out, const float *x, int64_t n) {
  for (int64_t i = 0; i < n; i++) out[i] = gemm_to_bf16(x[i]);
}

int gemm_bf16_native(void) { return L.dnnl_bf16 != NULL && g_lib == GEMM_DNNL; }

/* Per-thread widening scratch for the fallback. */
static _Thread_local float *t_wide;
static _Thread_local size_t t_wide_len;

static float *wide(size_t n) {
  if (t_wide_len < n) {
    free(t_wide);
    t_wide = malloc(n * sizeof(float));
    t_wide_len = t_wide ? n : 0;
  }
  return t_wide;
}

/* The stored extent of a row-major operand: rows x ld. */
static void widen(float *out, const uint16_t *x, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    uint32_t u = (uint32_t)x[i] << 16;
    memcpy(out + i, &u, 4);
  }
}

void gemm_bf16_rm(int tA, int tB, int64_t M, int64_t N, int64_t K, float alpha,
                  const uint16_t *a, int64_t lda, const uint16_t *b, int64_t ldb, float beta,
                  float *c, int64_t ldc) {
  if (gemm_bf16_native()) {
    omp_threads_for_this_thread();
    const int guard = gemm_guard_begin();
    const int status = L.dnnl_bf16(tA ? 'T' : 'N', tB ? 'T' : 'N', M, N, K, alpha, a, lda, b,
                                   ldb, beta, c, ldc);
    gemm_guard_end(guard);
    if (status == 0) return;
  }
  /* Stored extents: A (tA ? K : M) rows of lda, B (tB ? N : K) rows of ldb. */
  const int64_t na = ((tA ? K : M) - 1) * lda + (tA ? M : K);
  const int64_t nb = ((tB ? N : K) - 1) * ldb + (tB ? K : N);
  float *w = wide((size_t)(na + nb));
  if (!w) abort();
  widen(w, a, na);
  widen(w + na, b, nb);
  gemm_rm(tA, tB, M, N, K, alpha, w, lda, w + na, ldb, beta, c, ldc);
}
