/*
 * GEMM library selection (native/gemm.c): the one place that decides which library runs a
 * matrix product. Row-major everywhere; a transposed operand is stored (K, M) / (N, K).
 */
#ifndef TRANSFORMER_GEMM_H
#define TRANSFORMER_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "tables.h"

#define GEMM_ENUM(e, name) e,
enum { GEMM_LIBS(GEMM_ENUM) GEMM_LIB_COUNT };
#undef GEMM_ENUM

/** 1 when `lib` (GEMM_LIBS) can run here (GEMM_AUTO and GEMM_OPENBLAS always can). */
int gemm_available(int lib);
/** Makes `lib` the active library (GEMM_AUTO: dnnl when available, else openblas);
 * returns -1 (and changes nothing) when it is not available. */
int gemm_select(int lib);
/** The active library (never GEMM_AUTO). */
int gemm_active(void);
/** Threads inside one library call (1 = always, except OpenBLAS-style benchmarks). */
void gemm_set_library_threads(int n);
/** "dnnl; oneDNN 2.6.3 (bf16 GEMM); BLIS generic": the active library and what loaded. */
/* The signal guard (see gemm.c, "Signals"): while dnnl is the active library, blocks every
 * signal of the calling thread until the matching gemm_guard_end(token) (nests; returns the
 * token, 0 when nothing was blocked). gemm_guard_thread blocks them for good (pool workers). */
int gemm_guard_begin(void);
void gemm_guard_end(int token);
void gemm_guard_thread(void);

void gemm_describe(char *buf, size_t n);

/** c (M, N) = alpha op(a) op(b) + beta c, fp32, on the active library (cblas_sgemm's
 * row-major arguments). */
void gemm_rm(int tA, int tB, int64_t M, int64_t N, int64_t K, float alpha, const float *a,
             int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);

/** gemm_rm without the small-product rule (GEMM_SMALL): on oneDNN whenever it is active.
 * For the attention kernels' tile products, issued by the thousand per call with inner
 * dimension a head's D: the sparse kernel's on key and value rows in place (leading
 * dimension the packed projection's 3*H*D), the gathered kernel's (LSH, routing) on its
 * gathered tiles. There OpenBLAS's packing copies cost more than oneDNN's per-call overhead
 * (BigBird and LSH at T 8192, bench/NOTES.md). */
void gemm_rm_tile(int tA, int tB, int64_t M, int64_t N, int64_t K, float alpha,
                     const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                     float *c, int64_t ldc);

/** Like gemm_rm with bf16 a and b (fp32 accumulation and output). */
void gemm_bf16_rm(int tA, int tB, int64_t M, int64_t N, int64_t K, float alpha,
                  const uint16_t *a, int64_t lda, const uint16_t *b, int64_t ldb, float beta,
                  float *c, int64_t ldc);
/** 1 when gemm_bf16_rm runs a bf16 kernel (oneDNN active), 0 when it widens to fp32. */
int gemm_bf16_native(void);
/** fp32 -> bf16, round to nearest even (NaN stays NaN). */
uint16_t gemm_to_bf16(float f);
void gemm_round_bf16(uint16_t *out, const float *x, int64_t n);

#endif
