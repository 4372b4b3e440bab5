/*
 * The native kernels, one C function per kernel of the `Backend` contract in
 * src/backend/types.ts (same argument order: outputs, inputs, sizes, attributes).
 * src/backend/js.ts is the specification of each one's numerics; addon.c validates
 * array lengths before calling in, so these functions trust their arguments.
 */
#ifndef TRANSFORMER_KERNELS_H
#define TRANSFORMER_KERNELS_H

#include <stdint.h>

#include "tables.h"

/* Hot loops get AVX-512 and AVX2 clones picked at load time when the CPU has them (ifunc). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define HOT
#endif


#define MAX_RANK 6

/* Op codes from native/tables.h; *_COUNT bounds them. */
#define OP_ENUM(e, name) e,
enum { BINARY_OPS(OP_ENUM) BIN_COUNT };
enum { UNARY_OPS(OP_ENUM) UN_COUNT };
enum { SCALAR_OPS(OP_ENUM) SC_COUNT };
#undef OP_ENUM

/* One attention call's sizes, head layout and attributes (AttentionGeometry of
 * src/backend/types.ts), parsed and checked once by addon.c; both kernels take it. */
typedef struct {
  int64_t BH, T, S, D, H, ldq, ldk, ldv, ldo, kvRows;
  float scale;
  int causal;
  int64_t maskStrideB, maskStrideT; /* maskStrideT may be negative (a Toeplitz bias) */
  int64_t maskOffset; /* the mask is read from mask + maskOffset (see need_mask in args.c) */
} att_geom;

/* blas.c: GEMM, attention and the OpenBLAS thread count. */
void k_set_threads(int n);
int k_threads(void);
#ifdef TRANSFORMER_TESTHOOKS
/* 1 (default): GEMM-slice kernels run slices on the pool; 0: sequentially (benchmarks). */
void k_set_slices_parallel(int on);
/* 1 (default): split big GEMMs over the pool, OpenBLAS single-threaded; 0: OpenBLAS threads. */
void k_set_split_gemm(int on);
#endif
void k_matmul(float *out, const float *a, const float *b, int64_t batch, int64_t M, int64_t N,
              int64_t K, int transA, int transB, int64_t strideA, int64_t strideB, float beta,
              const float *bias);
/* A 1-batch GEMM run later on a worker; its operands stay untouched until k_drain. */
/* out (M, N) = bf16(a) bf16(b) + beta out with fp32 accumulation (blas.c; the library's
 * bf16 GEMM, see gemm.c); -1 when out of memory. */
int k_matmul_bf16(float *out, const float *a, const float *b, int64_t M, int64_t N, int64_t K,
                  int transA, int transB, float beta);
void k_matmul_deferred(float *out, const float *a, const float *b, int64_t M, int64_t N,
                       int64_t K, int transA, int transB, float beta);
/* Returns when every deferred kernel is done. */
void k_drain(void);
void k_attention_forward(float *out, float *weights, const float *q, const float *k,
                         const float *v, const float *mask, const float *drop,
                         const att_geom *g);
void k_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q,
                          const float *k, const float *v, const float *weights,
                          const float *drop, const att_geom *g, int accumulate);

/* flash_attention.c: tiled attention (no (T, S) buffer). The dropout mask of
 * k_dropout_mask regenerated (on = 0: none): u < thr drops, else the weight times keep. */
typedef struct {
  int on;
  uint64_t thr;
  float keep;
  uint32_t key0, key1;
} fa_drop;
void k_flash_attention_forward(float *out, float *lse, const float *q, const float *k,
                               const float *v, const float *mask, const att_geom *g,
                               const fa_drop *drop, const int32_t *kvLen);
/* dmask (or NULL): the gradient of a relative bias's diagonals (maskStrideT -1, maskOffset
 * T - 1), added to each slice's row at b*maskStrideB. kvLen (or NULL): keys per batch block
 * (slice b: kvLen[b / H]); keys past it are masked. */
void k_flash_attention_backward(float *dq, float *dk, float *dv, const float *dout,
                                const float *q, const float *k, const float *v, const float *out,
                                const float *lse, const float *mask, const att_geom *g,
                                const fa_drop *drop, int accumulate, float *dmask,
                                const int32_t *kvLen);

/* kernels.c */
void k_binary(int op, float *out, const float *a, const float *b, int rank,
              const int64_t *shape, const int64_t *sa, const int64_t *sb);
void k_unary(int op, float *out, const float *x, int64_t n);
void k_unary_backward(int op, float *dx, const float *dy, const float *x, const float *y,
                      int64_t n, int accumulate);
void k_scalar(int op, float *out, const float *x, double s, int64_t n);
void k_sum(float *out, const float *x, int64_t outer, int64_t dim, int64_t inner);
/* sum_i x[i]^2 in double, in fixed blocks summed in order (gradient clipping). */
double k_sum_squares(const float *x, int64_t n);
void k_max(float *out, int32_t *argmax, const float *x, int64_t outer, int64_t dim,
           int64_t inner);
void k_softmax(float *out, const float *x, int64_t rows, int64_t cols);
void k_softmax_backward(float *dx, const float *dy, const float *y, int64_t rows, int64_t cols);
void k_log_softmax(float *out, const float *x, int64_t rows, int64_t cols);
void k_log_softmax_backward(float *dx, const float *dy, const float *y, int64_t rows,
                            int64_t cols);
/* out[r, j] = scale (exp(x[r, j] - shift[r]) + eps); the backward adds dy (y - scale eps)
 * into dx and subtracts its row sums from dshift (either may be NULL). */
void k_exp_shift(float *out, const float *x, const float *shift, int64_t rows, int64_t cols,
                 float scale, float eps);
void k_exp_shift_backward(float *dx, float *dshift, const float *dy, const float *y,
                          int64_t rows, int64_t cols, float scale, float eps);
void k_layer_norm_forward(float *out, float *mean, float *rstd, const float *x,
                          const float *weight, const float *bias, int64_t N, int64_t C,
                          double eps);
void k_layer_norm_backward(float *dx, float *dweight, float *dbias, const float *dy,
                           const float *x, const float *weight, const float *mean,
                           const float *rstd, int64_t N, int64_t C, int accumulate);
/* word2vec.c: Skip-gram / CBOW with negative sampling over the pool's threads. */
int64_t k_word2vec_train(float *syn0, float *syn1, const int32_t *corpus, int64_t n,
                         const float *keep, const int32_t *table, int64_t table_n, int64_t D,
                         int64_t W, int64_t negative, int64_t epochs, double alpha, int cbow,
                         uint32_t seed);
/* rnn.c: fused GRU / LSTM gate math (see src/backend/types.ts rnnCellForward). */
void k_rnn_cell_forward(float *out, float *saved, const float *gi, const float *gh,
                        const float *prev, int64_t B, int64_t H, int lstm);
void k_rnn_cell_backward(float *dgi, float *dgh, float *dprev, const float *dout,
                         const float *saved, const float *prev, int64_t B, int64_t H, int lstm);
void k_embedding_forward(float *out, const float *weight, const int32_t *ids, int64_t N,
                         int64_t C);
void k_embedding_backward(float *dweight, const float *dy, const int32_t *ids, int64_t N,
                          int64_t C);
void k_cross_entropy_forward(float *losses, float *lse, const float *logits,
                             const int32_t *targets, int64_t N, int64_t V, int64_t ignore,
                             double ls);
void k_cross_entropy_backward(float *dlogits, const float *dlosses, const float *logits,
                              const float *lse, const int32_t *targets, int64_t N, int64_t V,
                              int64_t ignore, double ls, int accumulate);
/* accumulate = 0: out[i] = x[off + ...]; accumulate = 1: x[off + ...] += out[i]. */
void k_strided(float *dense, float *x, int rank, const int64_t *shape, const int64_t *strides,
               int64_t offset, int accumulate);
void k_dropout_mask(float *out, int64_t n, double threshold, float keep, uint32_t key0,
                    uint32_t key1);
void k_adamw_multi(float *const *p, const float *const *g, float *const *m, float *const *v,
                   const int64_t *start, int count, double lr, double b1, double b2,
                   double eps, double wd, double step);
void k_adamw(float *p, const float *g, float *m, float *v, int64_t n, double lr, double b1,
             double b2, double eps, double wd, double step);

/* Softmax of one row (out may equal x); an all -inf row gives zeros, a row holding a NaN
 * gives NaN everywhere. */
void k_softmax_row(float *out, const float *x, int64_t cols);
/* k_softmax_row, returning the row's log-sum-exp (-Infinity for a fully masked row). */
float k_softmax_row_lse(float *out, const float *x, int64_t cols);

#endif
