/*
 * N-API entry points of transformer_native.node: argument unpacking and validation only.
 * Typed arrays are used in place (napi_get_typedarray_info, zero copy); every length is
 * checked against the sizes before a kernel runs, so a bad call throws a RangeError
 * instead of reading or writing out of bounds. Shapes and strides of the rank-generic
 * kernels arrive packed in a Float64Array (see src/backend/native.ts).
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "kernels.h"

extern char *openblas_get_config(void);
extern void openblas_set_num_threads(int num_threads);
extern int openblas_get_num_threads(void);

#define MAX_ARGS 24

typedef struct {
  napi_env env;
  napi_value argv[MAX_ARGS];
  size_t argc;
  int err;
} A;

static void fail(A *a, const char *code, const char *msg) {
  if (a->err) return;
  a->err = 1;
  bool pending = false;
  napi_is_exception_pending(a->env, &pending);
  if (!pending) napi_throw_range_error(a->env, code, msg);
}

static int init(A *a, napi_env env, napi_callback_info info, size_t want, const char *fn) {
  a->env = env;
  a->err = 0;
  a->argc = MAX_ARGS;
  if (napi_get_cb_info(env, info, &a->argc, a->argv, NULL, NULL) != napi_ok) {
    fail(a, NULL, "napi_get_cb_info failed");
    return 0;
  }
  if (a->argc < want) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s: expected %zu arguments, got %zu", fn, want, a->argc);
    fail(a, "ERR_ARGS", msg);
    return 0;
  }
  return 1;
}

static int is_nullish(A *a, int i) {
  napi_valuetype t;
  if (napi_typeof(a->env, a->argv[i], &t) != napi_ok) return 0;
  return t == napi_null || t == napi_undefined;
}

static void *typed(A *a, int i, napi_typedarray_type want, size_t *len, int nullable,
                   const char *name) {
  *len = 0;
  if (a->err) return NULL;
  if (nullable && is_nullish(a, i)) return NULL;
  napi_typedarray_type type;
  void *data = NULL;
  bool ok = false;
  napi_is_typedarray(a->env, a->argv[i], &ok);
  if (ok && napi_get_typedarray_info(a->env, a->argv[i], &type, len, &data, NULL, NULL) == napi_ok &&
      type == want) {
    /* An empty view may have a NULL data pointer; give the kernels a valid one. */
    static double empty[1];
    return data ? data : (void *)empty;
  }
  char msg[128];
  snprintf(msg, sizeof msg, "%s must be a %s", name,
           want == napi_float32_array ? "Float32Array"
           : want == napi_int32_array ? "Int32Array"
                                      : "Float64Array");
  a->err = 1;
  napi_throw_type_error(a->env, "ERR_ARG_TYPE", msg);
  return NULL;
}

#define F32(i, name) size_t name##_len; float *name = typed(&a, i, napi_float32_array, &name##_len, 0, #name)
#define F32N(i, name) size_t name##_len; float *name = typed(&a, i, napi_float32_array, &name##_len, 1, #name)
#define I32(i, name) size_t name##_len; int32_t *name = typed(&a, i, napi_int32_array, &name##_len, 0, #name)

static double num(A *a, int i, const char *name) {
  double v = 0;
  if (a->err) return 0;
  if (napi_get_value_double(a->env, a->argv[i], &v) != napi_ok) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a number", name);
    a->err = 1;
    napi_throw_type_error(a->env, "ERR_ARG_TYPE", msg);
  }
  return v;
}

/* A non-negative integer size. */
static int64_t size(A *a, int i, const char *name) {
  double v = num(a, i, name);
  if (a->err) return 0;
  if (!(v >= 0 && v <= 9007199254740991.0) || v != (double)(int64_t)v) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a non-negative integer", name);
    fail(a, "ERR_OUT_OF_RANGE", msg);
    return 0;
  }
  return (int64_t)v;
}

static int64_t integer(A *a, int i, const char *name) {
  double v = num(a, i, name);
  if (a->err) return 0;
  if (v != (double)(int64_t)v) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be an integer", name);
    fail(a, "ERR_OUT_OF_RANGE", msg);
  }
  return (int64_t)v;
}

static int flag(A *a, int i) {
  bool b = false;
  if (a->err) return 0;
  if (napi_get_value_bool(a->env, a->argv[i], &b) == napi_ok) return b;
  double v = num(a, i, "flag");
  return v != 0;
}

/* Requires len >= want. */
static void need(A *a, size_t len, int64_t want, const char *name) {
  if (a->err || (int64_t)len >= want) return;
  char msg[160];
  snprintf(msg, sizeof msg, "%s has %zu elements, the sizes need %lld", name, len,
           (long long)want);
  fail(a, "ERR_OUT_OF_RANGE", msg);
}

/* Every element reached by (shape, strides, offset) lies in [0, len). */
static void need_strided(A *a, size_t len, int rank, const int64_t *shape, const int64_t *st,
                         int64_t offset, const char *name) {
  if (a->err) return;
  int64_t lo = offset, hi = offset;
  for (int d = 0; d < rank; d++) {
    if (shape[d] == 0) return;
    int64_t span = (shape[d] - 1) * st[d];
    if (span > 0) hi += span;
    else lo += span;
  }
  if (lo < 0 || hi >= (int64_t)len) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s: strided view reaches [%lld, %lld] outside [0, %zu)", name,
             (long long)lo, (long long)hi, len);
    fail(a, "ERR_OUT_OF_RANGE", msg);
  }
}

/* Reads rank and `count` packed int64 vectors of length rank from a Float64Array. */
static int packed(A *a, int irank, int idims, int count, int64_t out[][MAX_RANK]) {
  int64_t rank = size(a, irank, "rank");
  size_t len;
  double *d = typed(a, idims, napi_float64_array, &len, 0, "dims");
  if (a->err) return 0;
  if (rank > MAX_RANK) {
    fail(a, "ERR_OUT_OF_RANGE", "rank must be <= 6");
    return 0;
  }
  need(a, len, (int64_t)count * MAX_RANK, "dims");
  if (a->err) return 0;
  for (int v = 0; v < count; v++)
    for (int j = 0; j < rank; j++) out[v][j] = (int64_t)d[v * MAX_RANK + j];
  for (int j = 0; j < rank; j++)
    if (out[0][j] < 0) {
      fail(a, "ERR_OUT_OF_RANGE", "shape entries must be >= 0");
      return 0;
    }
  return (int)rank;
}

static int64_t prod(int rank, const int64_t *shape) {
  int64_t n = 1;
  for (int d = 0; d < rank; d++) n *= shape[d];
  return n;
}

#define FN(name) static napi_value name(napi_env env, napi_callback_info info)
#define BEGIN(n, fname) \
  A a;                  \
  if (!init(&a, env, info, n, fname)) return NULL
#define DONE() \
  if (a.err) return NULL

FN(js_matmul) {
  BEGIN(12, "matmul");
  F32(0, out);
  F32(1, A_);
  F32(2, B_);
  int64_t batch = size(&a, 3, "batch"), M = size(&a, 4, "M"), N = size(&a, 5, "N"),
          K = size(&a, 6, "K");
  int tA = flag(&a, 7), tB = flag(&a, 8);
  int64_t sA = size(&a, 9, "strideA"), sB = size(&a, 10, "strideB");
  double beta = num(&a, 11, "beta");
  /* Optional argument 12: bias (N), added to every output row. */
  size_t bias_len = 0;
  float *bias = a.argc > 12 ? typed(&a, 12, napi_float32_array, &bias_len, 1, "bias") : NULL;
  if (bias) need(&a, bias_len, N, "bias");
  if (batch > 0) {
    need(&a, out_len, batch * M * N, "out");
    if (M * K > 0) need(&a, A__len, (batch - 1) * sA + M * K, "a");
    if (K * N > 0) need(&a, B__len, (batch - 1) * sB + K * N, "b");
  }
  if (!a.err && M * N * K > 0 && (M > 2147483647 || N > 2147483647 || K > 2147483647))
    fail(&a, "ERR_OUT_OF_RANGE", "matmul sizes must fit in int32");
  DONE();
  k_matmul(out, A_, B_, batch, M, N, K, tA, tB, sA, sB, (float)beta, bias);
  return NULL;
}

FN(js_binary) {
  BEGIN(6, "binary");
  int op = (int)integer(&a, 0, "op");
  F32(1, out);
  F32(2, x);
  F32(3, y);
  int64_t v[3][MAX_RANK];
  int rank = packed(&a, 4, 5, 3, v);
  DONE();
  if (op < BIN_ADD || op > BIN_DIV) {
    napi_throw_range_error(env, NULL, "unknown binary op");
    return NULL;
  }
  need(&a, out_len, prod(rank, v[0]), "out");
  need_strided(&a, x_len, rank, v[0], v[1], 0, "a");
  need_strided(&a, y_len, rank, v[0], v[2], 0, "b");
  DONE();
  k_binary(op, out, x, y, rank, v[0], v[1], v[2]);
  return NULL;
}

FN(js_unary) {
  BEGIN(4, "unary");
  int op = (int)integer(&a, 0, "op");
  F32(1, out);
  F32(2, x);
  int64_t n = size(&a, 3, "n");
  need(&a, out_len, n, "out");
  need(&a, x_len, n, "x");
  DONE();
  if (op < UN_NEG || op > UN_GELU_TANH) {
    napi_throw_range_error(env, NULL, "unknown unary op");
    return NULL;
  }
  k_unary(op, out, x, n);
  return NULL;
}

FN(js_unary_backward) {
  BEGIN(6, "unaryBackward");
  int op = (int)integer(&a, 0, "op");
  F32(1, dx);
  F32(2, dy);
  F32(3, x);
  F32(4, y);
  int64_t n = size(&a, 5, "n");
  need(&a, dx_len, n, "dx");
  need(&a, dy_len, n, "dy");
  DONE();
  if (op < UN_NEG || op > UN_GELU_TANH) {
    napi_throw_range_error(env, NULL, "unknown unary op");
    return NULL;
  }
  if (op == UN_EXP || op == UN_SQRT || op == UN_TANH) need(&a, y_len, n, "y");
  if (op == UN_LOG || op == UN_RELU || op == UN_GELU || op == UN_GELU_TANH) need(&a, x_len, n, "x");
  /* Optional argument 6: accumulate (default true); false overwrites dx. */
  int accumulate = a.argc > 6 && !is_nullish(&a, 6) ? flag(&a, 6) : 1;
  DONE();
  k_unary_backward(op, dx, dy, x, y, n, accumulate);
  return NULL;
}

FN(js_scalar) {
  BEGIN(5, "scalar");
  int op = (int)integer(&a, 0, "op");
  F32(1, out);
  F32(2, x);
  double s = num(&a, 3, "s");
  int64_t n = size(&a, 4, "n");
  need(&a, out_len, n, "out");
  need(&a, x_len, n, "x");
  DONE();
  if (op < SC_ADD || op > SC_RDIV) {
    napi_throw_range_error(env, NULL, "unknown scalar op");
    return NULL;
  }
  k_scalar(op, out, x, s, n);
  return NULL;
}

FN(js_sum) {
  BEGIN(5, "sum");
  F32(0, out);
  F32(1, x);
  int64_t outer = size(&a, 2, "outer"), dim = size(&a, 3, "dim"), inner = size(&a, 4, "inner");
  need(&a, out_len, outer * inner, "out");
  need(&a, x_len, outer * dim * inner, "x");
  DONE();
  k_sum(out, x, outer, dim, inner);
  return NULL;
}

FN(js_sum_squares) {
  BEGIN(2, "sumSquares");
  F32(0, x);
  int64_t n = size(&a, 1, "n");
  need(&a, x_len, n, "x");
  DONE();
  napi_value r;
  napi_create_double(env, k_sum_squares(x, n), &r);
  return r;
}

FN(js_max) {
  BEGIN(6, "max");
  F32(0, out);
  I32(1, argmax);
  F32(2, x);
  int64_t outer = size(&a, 3, "outer"), dim = size(&a, 4, "dim"), inner = size(&a, 5, "inner");
  need(&a, out_len, outer * inner, "out");
  need(&a, argmax_len, outer * inner, "argmax");
  need(&a, x_len, outer * dim * inner, "x");
  DONE();
  k_max(out, argmax, x, outer, dim, inner);
  return NULL;
}

/* softmax, logSoftmax: (out, x, rows, cols) */
static napi_value rows2(napi_env env, napi_callback_info info, int log) {
  BEGIN(4, log ? "logSoftmax" : "softmax");
  F32(0, out);
  F32(1, x);
  int64_t rows = size(&a, 2, "rows"), cols = size(&a, 3, "cols");
  need(&a, out_len, rows * cols, "out");
  need(&a, x_len, rows * cols, "x");
  DONE();
  if (log) k_log_softmax(out, x, rows, cols);
  else k_softmax(out, x, rows, cols);
  return NULL;
}
FN(js_softmax) { return rows2(env, info, 0); }
FN(js_log_softmax) { return rows2(env, info, 1); }

/* softmaxBackward, logSoftmaxBackward: (dx, dy, y, rows, cols) */
static napi_value rows3(napi_env env, napi_callback_info info, int log) {
  BEGIN(5, log ? "logSoftmaxBackward" : "softmaxBackward");
  F32(0, dx);
  F32(1, dy);
  F32(2, y);
  int64_t rows = size(&a, 3, "rows"), cols = size(&a, 4, "cols");
  need(&a, dx_len, rows * cols, "dx");
  need(&a, dy_len, rows * cols, "dy");
  need(&a, y_len, rows * cols, "y");
  DONE();
  if (log) k_log_softmax_backward(dx, dy, y, rows, cols);
  else k_softmax_backward(dx, dy, y, rows, cols);
  return NULL;
}
FN(js_softmax_backward) { return rows3(env, info, 0); }
FN(js_log_softmax_backward) { return rows3(env, info, 1); }

FN(js_layer_norm_forward) {
  BEGIN(9, "layerNormForward");
  F32(0, out);
  F32(1, mean);
  F32(2, rstd);
  F32(3, x);
  F32N(4, weight);
  F32N(5, bias);
  int64_t N = size(&a, 6, "N"), C = size(&a, 7, "C");
  double eps = num(&a, 8, "eps");
  need(&a, out_len, N * C, "out");
  need(&a, x_len, N * C, "x");
  need(&a, mean_len, N, "mean");
  need(&a, rstd_len, N, "rstd");
  if (weight) need(&a, weight_len, C, "weight");
  if (bias) need(&a, bias_len, C, "bias");
  DONE();
  k_layer_norm_forward(out, mean, rstd, x, weight, bias, N, C, eps);
  return NULL;
}

FN(js_layer_norm_backward) {
  BEGIN(10, "layerNormBackward");
  F32(0, dx);
  F32N(1, dweight);
  F32N(2, dbias);
  F32(3, dy);
  F32(4, x);
  F32N(5, weight);
  F32(6, mean);
  F32(7, rstd);
  int64_t N = size(&a, 8, "N"), C = size(&a, 9, "C");
  need(&a, dx_len, N * C, "dx");
  need(&a, dy_len, N * C, "dy");
  need(&a, x_len, N * C, "x");
  need(&a, mean_len, N, "mean");
  need(&a, rstd_len, N, "rstd");
  if (dweight) need(&a, dweight_len, C, "dweight");
  if (dbias) need(&a, dbias_len, C, "dbias");
  if (weight) need(&a, weight_len, C, "weight");
  /* Optional argument 10: accumulate into dx (default true); false overwrites dx. */
  int accumulate = a.argc > 10 && !is_nullish(&a, 10) ? flag(&a, 10) : 1;
  DONE();
  k_layer_norm_backward(dx, dweight, dbias, dy, x, weight, mean, rstd, N, C, accumulate);
  return NULL;
}

static void check_ids(A *a, const int32_t *ids, int64_t N, size_t table_len, int64_t C) {
  if (a->err || C == 0) return;
  int64_t V = (int64_t)table_len / C;
  for (int64_t n = 0; n < N; n++)
    if (ids[n] < 0 || ids[n] >= V) {
      char msg[128];
      snprintf(msg, sizeof msg, "id %d at position %lld is outside [0, %lld)", ids[n],
               (long long)n, (long long)V);
      fail(a, "ERR_OUT_OF_RANGE", msg);
      return;
    }
}

FN(js_embedding_forward) {
  BEGIN(5, "embeddingForward");
  F32(0, out);
  F32(1, weight);
  I32(2, ids);
  int64_t N = size(&a, 3, "N"), C = size(&a, 4, "C");
  need(&a, out_len, N * C, "out");
  need(&a, ids_len, N, "ids");
  check_ids(&a, ids, N, weight_len, C);
  DONE();
  k_embedding_forward(out, weight, ids, N, C);
  return NULL;
}

FN(js_embedding_backward) {
  BEGIN(5, "embeddingBackward");
  F32(0, dweight);
  F32(1, dy);
  I32(2, ids);
  int64_t N = size(&a, 3, "N"), C = size(&a, 4, "C");
  need(&a, dy_len, N * C, "dy");
  need(&a, ids_len, N, "ids");
  check_ids(&a, ids, N, dweight_len, C);
  DONE();
  k_embedding_backward(dweight, dy, ids, N, C);
  return NULL;
}

FN(js_cross_entropy_forward) {
  BEGIN(8, "crossEntropyForward");
  F32(0, losses);
  F32(1, lse);
  F32(2, logits);
  I32(3, targets);
  int64_t N = size(&a, 4, "N"), V = size(&a, 5, "V");
  int64_t ignore = integer(&a, 6, "ignoreIndex");
  double ls = num(&a, 7, "labelSmoothing");
  need(&a, losses_len, N, "losses");
  need(&a, lse_len, N, "lse");
  need(&a, targets_len, N, "targets");
  need(&a, logits_len, N * V, "logits");
  DONE();
  k_cross_entropy_forward(losses, lse, logits, targets, N, V, ignore, ls);
  return NULL;
}

FN(js_cross_entropy_backward) {
  BEGIN(10, "crossEntropyBackward");
  F32(0, dlogits);
  F32(1, dlosses);
  F32(2, logits);
  F32(3, lse);
  I32(4, targets);
  int64_t N = size(&a, 5, "N"), V = size(&a, 6, "V");
  int64_t ignore = integer(&a, 7, "ignoreIndex");
  double ls = num(&a, 8, "labelSmoothing");
  int accumulate = flag(&a, 9);
  need(&a, dlogits_len, N * V, "dlogits");
  need(&a, logits_len, N * V, "logits");
  need(&a, dlosses_len, N, "dlosses");
  need(&a, lse_len, N, "lse");
  need(&a, targets_len, N, "targets");
  DONE();
  k_cross_entropy_backward(dlogits, dlosses, logits, lse, targets, N, V, ignore, ls, accumulate);
  return NULL;
}

/* matmulDeferred(out, a, b, M, N, K, tA, tB, beta) */
FN(js_matmul_deferred) {
  BEGIN(9, "matmulDeferred");
  F32(0, o);
  F32(1, x);
  F32(2, y);
  int64_t M = size(&a, 3, "M"), N = size(&a, 4, "N"), K = size(&a, 5, "K");
  int tA = flag(&a, 6), tB = flag(&a, 7);
  double beta = num(&a, 8, "beta");
  need(&a, o_len, M * N, "out");
  need(&a, x_len, M * K, "a");
  need(&a, y_len, K * N, "b");
  if (!a.err && (M > 2147483647 || N > 2147483647 || K > 2147483647))
    fail(&a, "ERR_OUT_OF_RANGE", "matmulDeferred sizes must fit in int32");
  DONE();
  k_matmul_deferred(o, x, y, M, N, K, tA, tB, (float)beta);
  return NULL;
}

FN(js_drain) {
  (void)info;
  (void)env;
  k_drain();
  return NULL;
}

/* The head layout's sizes (H, ldq, ldk, ldv, ldo) from argument i on: H >= 1 divides BH,
 * every ld >= H * D. */
#define ATT_LAYOUT(i)                                                                     \
  int64_t H = size(&a, (i), "H"), ldq = size(&a, (i) + 1, "ldq"),                         \
          ldk = size(&a, (i) + 2, "ldk"), ldv = size(&a, (i) + 3, "ldv"),                 \
          ldo = size(&a, (i) + 4, "ldo");                                                 \
  if (!a.err && (H < 1 || BH % H != 0))                                                   \
    fail(&a, "ERR_OUT_OF_RANGE", "attention: H must be >= 1 and divide BH");              \
  if (!a.err && (ldq < H * D || ldk < H * D || ldv < H * D || ldo < H * D))               \
    fail(&a, "ERR_OUT_OF_RANGE", "attention: row strides must be >= H * D");              \
  if (!a.err && (ldq > 2147483647 || ldk > 2147483647 || ldv > 2147483647 ||              \
                 ldo > 2147483647))                                                       \
    fail(&a, "ERR_OUT_OF_RANGE", "attention: row strides must fit in int32")

/* An array in the head layout: BH/H blocks of L used rows of stride ld, `rows` rows apart
 * (rows >= L; rows = L for dense blocks), H*D columns used. */
static void need_heads_rows(A *a, size_t len, int64_t BH, int64_t H, int64_t L, int64_t rows,
                            int64_t D, int64_t ld, const char *name) {
  if (a->err || BH * L * D == 0) return;
  need(a, len, ((BH / H - 1) * rows + L - 1) * ld + H * D, name);
}
static void need_heads(A *a, size_t len, int64_t BH, int64_t H, int64_t L, int64_t D,
                       int64_t ld, const char *name) {
  need_heads_rows(a, len, BH, H, L, L, D, ld, name);
}

/* kvRows (argument i): rows between the batch blocks of k and v, >= S. */
static int64_t kv_rows(A *a, int i, int64_t S) {
  int64_t r = size(a, i, "kvRows");
  if (!a->err && r < S) fail(a, "ERR_OUT_OF_RANGE", "attention: kvRows must be >= S");
  if (!a->err && r > 2147483647) fail(a, "ERR_OUT_OF_RANGE", "attention: kvRows must fit in int32");
  return r;
}

FN(js_attention_forward) {
  BEGIN(21, "attentionForward");
  F32(0, out);
  F32(1, weights);
  F32(2, q);
  F32(3, k);
  F32(4, v);
  F32N(5, mask);
  int64_t msB = size(&a, 6, "maskStrideB"), msT = size(&a, 7, "maskStrideT");
  F32N(8, drop);
  int64_t BH = size(&a, 9, "BH"), T = size(&a, 10, "T"), S = size(&a, 11, "S"),
          D = size(&a, 12, "D");
  double scale = num(&a, 13, "scale");
  int causal = flag(&a, 14);
  ATT_LAYOUT(15);
  int64_t kvRows = kv_rows(&a, 20, S);
  need_heads(&a, out_len, BH, H, T, D, ldo, "out");
  need_heads(&a, q_len, BH, H, T, D, ldq, "q");
  need_heads_rows(&a, k_len, BH, H, S, kvRows, D, ldk, "k");
  need_heads_rows(&a, v_len, BH, H, S, kvRows, D, ldv, "v");
  need(&a, weights_len, BH * T * S, "weights");
  if (drop) need(&a, drop_len, BH * T * S, "dropMask");
  if (mask && BH * T * S > 0) need(&a, mask_len, (BH - 1) * msB + (T - 1) * msT + S, "mask");
  if (!a.err && (T > 2147483647 || S > 2147483647 || D > 2147483647))
    fail(&a, "ERR_OUT_OF_RANGE", "attention sizes must fit in int32");
  DONE();
  k_attention_forward(out, weights, q, k, v, mask, msB, msT, drop, BH, T, S, D, (float)scale,
                      causal, H, ldq, ldk, ldv, ldo, kvRows);
  return NULL;
}

FN(js_attention_backward) {
  BEGIN(20, "attentionBackward");
  F32(0, dq);
  F32(1, dk);
  F32(2, dv);
  F32(3, dout);
  F32(4, q);
  F32(5, k);
  F32(6, v);
  F32(7, weights);
  F32N(8, drop);
  int64_t BH = size(&a, 9, "BH"), T = size(&a, 10, "T"), S = size(&a, 11, "S"),
          D = size(&a, 12, "D");
  double scale = num(&a, 13, "scale");
  ATT_LAYOUT(14);
  int64_t kvRows = kv_rows(&a, 19, S);
  /* Optional argument 20: accumulate into dq, dk, dv (default true); false overwrites. */
  int accumulate = a.argc > 20 && !is_nullish(&a, 20) ? flag(&a, 20) : 1;
  need_heads(&a, dq_len, BH, H, T, D, ldq, "dq");
  need_heads(&a, dout_len, BH, H, T, D, ldo, "dout");
  need_heads(&a, q_len, BH, H, T, D, ldq, "q");
  need_heads_rows(&a, dk_len, BH, H, S, kvRows, D, ldk, "dk");
  need_heads_rows(&a, dv_len, BH, H, S, kvRows, D, ldv, "dv");
  need_heads_rows(&a, k_len, BH, H, S, kvRows, D, ldk, "k");
  need_heads_rows(&a, v_len, BH, H, S, kvRows, D, ldv, "v");
  need(&a, weights_len, BH * T * S, "weights");
  if (drop) need(&a, drop_len, BH * T * S, "dropMask");
  if (!a.err && (T > 2147483647 || S > 2147483647 || D > 2147483647))
    fail(&a, "ERR_OUT_OF_RANGE", "attention sizes must fit in int32");
  DONE();
  k_attention_backward(dq, dk, dv, dout, q, k, v, weights, drop, BH, T, S, D, (float)scale, H,
                       ldq, ldk, ldv, ldo, kvRows, accumulate);
  return NULL;
}

/* stridedCopy(out, x, rank, dims, offset) / stridedAccumulate(x, g, rank, dims, offset) */
static napi_value strided(napi_env env, napi_callback_info info, int acc) {
  BEGIN(5, acc ? "stridedAccumulate" : "stridedCopy");
  F32(0, first);
  F32(1, second);
  int64_t v[2][MAX_RANK];
  int rank = packed(&a, 2, 3, 2, v);
  int64_t offset = integer(&a, 4, "offset");
  DONE();
  float *dense = acc ? second : first, *x = acc ? first : second;
  size_t dense_len = acc ? second_len : first_len, x_len = acc ? first_len : second_len;
  need(&a, dense_len, prod(rank, v[0]), acc ? "g" : "out");
  need_strided(&a, x_len, rank, v[0], v[1], offset, "x");
  DONE();
  k_strided(dense, x, rank, v[0], v[1], offset, acc);
  return NULL;
}
FN(js_strided_copy) { return strided(env, info, 0); }
FN(js_strided_accumulate) { return strided(env, info, 1); }

FN(js_adamw) {
  BEGIN(11, "adamw");
  F32(0, p);
  F32(1, g);
  F32(2, m);
  F32(3, v);
  int64_t n = size(&a, 4, "n");
  double lr = num(&a, 5, "lr"), b1 = num(&a, 6, "beta1"), b2 = num(&a, 7, "beta2"),
         eps = num(&a, 8, "eps"), wd = num(&a, 9, "weightDecay"), step = num(&a, 10, "step");
  need(&a, p_len, n, "param");
  need(&a, g_len, n, "grad");
  need(&a, m_len, n, "m");
  need(&a, v_len, n, "v");
  DONE();
  k_adamw(p, g, m, v, n, lr, b1, b2, eps, wd, step);
  return NULL;
}

/* The Float32Array elements of the JS array argument i (n of them) into out[0..n). */
static int f32_list(A *a, int i, uint32_t n, float **out, int64_t *lens, const char *name) {
  if (a->err) return 0;
  for (uint32_t j = 0; j < n; j++) {
    napi_value el;
    napi_typedarray_type type;
    size_t len = 0;
    void *data = NULL;
    bool ok = false;
    if (napi_get_element(a->env, a->argv[i], j, &el) == napi_ok)
      napi_is_typedarray(a->env, el, &ok);
    if (!ok || napi_get_typedarray_info(a->env, el, &type, &len, &data, NULL, NULL) != napi_ok ||
        type != napi_float32_array) {
      char msg[128];
      snprintf(msg, sizeof msg, "%s[%u] must be a Float32Array", name, j);
      a->err = 1;
      napi_throw_type_error(a->env, "ERR_ARG_TYPE", msg);
      return 0;
    }
    static float empty[1];
    out[j] = data ? (float *)data : empty;
    lens[j] = (int64_t)len;
  }
  return 1;
}

/* adamwMulti(params[], grads[], ms[], vs[], lr, beta1, beta2, eps, weightDecay, step) */
FN(js_adamw_multi) {
  BEGIN(10, "adamwMulti");
  uint32_t n = 0;
  bool isArr = false;
  napi_is_array(env, a.argv[0], &isArr);
  if (!isArr || napi_get_array_length(env, a.argv[0], &n) != napi_ok) {
    napi_throw_type_error(env, "ERR_ARG_TYPE", "params must be an array of Float32Array");
    return NULL;
  }
  for (int i = 1; i < 4; i++) {
    uint32_t k = 0;
    isArr = false;
    napi_is_array(env, a.argv[i], &isArr);
    if (!isArr || napi_get_array_length(env, a.argv[i], &k) != napi_ok || k != n) {
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE",
                             "adamwMulti: grads, m and v must be arrays as long as params");
      return NULL;
    }
  }
  double lr = num(&a, 4, "lr"), b1 = num(&a, 5, "beta1"), b2 = num(&a, 6, "beta2"),
         eps = num(&a, 7, "eps"), wd = num(&a, 8, "weightDecay"), step = num(&a, 9, "step");
  DONE();
  if (n == 0) return NULL;
  float **ptr = malloc(sizeof(float *) * 4 * n);
  int64_t *len = malloc(sizeof(int64_t) * 4 * n), *start = malloc(sizeof(int64_t) * (n + 1));
  if (!ptr || !len || !start) {
    free(ptr);
    free(len);
    free(start);
    napi_throw_error(env, "ERR_MEMORY", "adamwMulti: out of memory");
    return NULL;
  }
  static const char *names[4] = {"params", "grads", "m", "v"};
  for (int i = 0; i < 4; i++) f32_list(&a, i, n, ptr + (size_t)i * n, len + (size_t)i * n, names[i]);
  start[0] = 0;
  for (uint32_t j = 0; j < n && !a.err; j++) {
    for (int i = 1; i < 4; i++)
      if (len[(size_t)i * n + j] != len[j]) {
        char msg[160];
        snprintf(msg, sizeof msg, "adamwMulti: %s[%u] has %lld elements, params[%u] has %lld",
                 names[i], j, (long long)len[(size_t)i * n + j], j, (long long)len[j]);
        fail(&a, "ERR_OUT_OF_RANGE", msg);
        break;
      }
    start[j + 1] = start[j] + len[j];
  }
  if (!a.err)
    k_adamw_multi(ptr, (const float *const *)(ptr + n), ptr + 2 * (size_t)n, ptr + 3 * (size_t)n,
                  start, (int)n, lr, b1, b2, eps, wd, step);
  free(ptr);
  free(len);
  free(start);
  return NULL;
}

FN(js_dropout_mask) {
  BEGIN(6, "dropoutMask");
  F32(0, out);
  int64_t n = size(&a, 1, "n");
  double threshold = num(&a, 2, "threshold"), keep = num(&a, 3, "keep");
  int64_t key0 = size(&a, 4, "key0"), key1 = size(&a, 5, "key1");
  need(&a, out_len, n, "out");
  if (!a.err && (key0 > 0xffffffffLL || key1 > 0xffffffffLL))
    fail(&a, "ERR_OUT_OF_RANGE", "key0 and key1 must be uint32");
  DONE();
  k_dropout_mask(out, n, threshold, (float)keep, (uint32_t)key0, (uint32_t)key1);
  return NULL;
}

FN(js_set_threads) {
  BEGIN(1, "setThreads");
  int64_t n = size(&a, 0, "threads");
  DONE();
  if (n < 1) {
    napi_throw_range_error(env, NULL, "threads must be >= 1");
    return NULL;
  }
  k_set_threads((int)n);
  return NULL;
}

FN(js_get_threads) {
  (void)info;
  napi_value r;
  napi_create_int32(env, k_threads(), &r);
  return r;
}

/* For benchmarks: set OpenBLAS's thread count alone (the pool keeps its size). */
FN(js_set_blas_threads) {
  BEGIN(1, "setBlasThreads");
  int64_t n = size(&a, 0, "threads");
  DONE();
  openblas_set_num_threads(n < 1 ? 1 : (int)n);
  return NULL;
}

/* For benchmarks: 0 runs attention / batched-matmul slices sequentially with n-thread GEMMs. */
FN(js_set_slices_parallel) {
  BEGIN(1, "setSlicesParallel");
  int on = flag(&a, 0);
  DONE();
  k_set_slices_parallel(on);
  return NULL;
}

/* For benchmarks: 1 splits big GEMMs over the pool (OpenBLAS at 1 thread), 0 lets OpenBLAS thread. */
FN(js_set_split_gemm) {
  BEGIN(1, "setSplitGemm");
  int on = flag(&a, 0);
  DONE();
  k_set_split_gemm(on);
  return NULL;
}

FN(js_config) {
  (void)info;
  napi_value r;
  const char *c = openblas_get_config();
  napi_create_string_utf8(env, c ? c : "", NAPI_AUTO_LENGTH, &r);
  return r;
}

static int default_threads(void) {
  const char *e = getenv("TRANSFORMER_THREADS");
  if (e && *e) {
    int n = atoi(e);
    if (n >= 1) return n;
  }
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  return cpus >= 2 ? 2 : 1;
}

/*
 * Tensors are typed arrays that node allocates with calloc and frees when collected. A
 * training step allocates and frees dozens of 0.1-2 MB buffers; glibc serves those with
 * mmap/munmap by default (above a 128 KB threshold that only adapts slowly), so every
 * one costs page faults and the kernel's zeroing of fresh pages: measured on case 1 of
 * bench/run.ts, a fresh 1.5 MB output made the GELU kernel 4x slower than a reused one.
 * Keeping such blocks in the heap (mmap only above 32 MB, trim only above 256 MB free at
 * the top) lets freed buffers be reused. TRANSFORMER_MALLOC=default, or the user's own
 * MALLOC_MMAP_THRESHOLD_, leaves glibc's settings alone.
 */
static void tune_malloc(void) {
#if defined(__GLIBC__)
  const char *e = getenv("TRANSFORMER_MALLOC");
  if ((e && strcmp(e, "default") == 0) || getenv("MALLOC_MMAP_THRESHOLD_")) return;
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
}

static napi_value Init(napi_env env, napi_value exports) {
  static int initialized = 0;
  if (!initialized) {
    initialized = 1;
    tune_malloc();
    k_set_threads(default_threads());
  }
#define P(name, fn) {name, NULL, fn, NULL, NULL, NULL, napi_enumerable, NULL}
  napi_property_descriptor props[] = {
      P("matmul", js_matmul),
      P("binary", js_binary),
      P("unary", js_unary),
      P("unaryBackward", js_unary_backward),
      P("scalar", js_scalar),
      P("sum", js_sum),
      P("sumSquares", js_sum_squares),
      P("max", js_max),
      P("softmax", js_softmax),
      P("softmaxBackward", js_softmax_backward),
      P("logSoftmax", js_log_softmax),
      P("logSoftmaxBackward", js_log_softmax_backward),
      P("layerNormForward", js_layer_norm_forward),
      P("layerNormBackward", js_layer_norm_backward),
      P("embeddingForward", js_embedding_forward),
      P("embeddingBackward", js_embedding_backward),
      P("crossEntropyForward", js_cross_entropy_forward),
      P("crossEntropyBackward", js_cross_entropy_backward),
      P("attentionForward", js_attention_forward),
      P("attentionBackward", js_attention_backward),
      P("stridedCopy", js_strided_copy),
      P("stridedAccumulate", js_strided_accumulate),
      P("adamw", js_adamw),
      P("dropoutMask", js_dropout_mask),
      P("adamwMulti", js_adamw_multi),
      P("matmulDeferred", js_matmul_deferred),
      P("drain", js_drain),
      P("setThreads", js_set_threads),
      P("getThreads", js_get_threads),
      P("setBlasThreads", js_set_blas_threads),
      P("setSlicesParallel", js_set_slices_parallel),
      P("setSplitGemm", js_set_split_gemm),
      P("blasConfig", js_config),
  };
#undef P
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
