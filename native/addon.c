/*
 * N-API entry points of transformer_native.node (and of transformer_testhooks.node, the
 * same sources built with TRANSFORMER_TESTHOOKS, for benchmarks and tests): argument
 * unpacking and validation only. Typed arrays are used in place (zero copy); every length
 * is checked against the sizes before a kernel runs, so a bad call throws a RangeError or
 * TypeError instead of reading or writing out of bounds. Each entry reads its arguments
 * with one get_args() format (as Python's PyArg_ParseTuple); shapes of the rank-generic
 * kernels, the attention geometry and the config arrive packed in Float64Arrays (see
 * src/backend/native.ts). The registrations come from ADDON_EXPORTS of tables.h.
 * Adding a kernel: see native/README.md.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "config.h"
#include "kernels.h"
#include "pool.h"
#include "tables.h"

extern char *openblas_get_config(void);
extern void openblas_set_num_threads(int num_threads);

#define MAX_ARGS 24
#define INT32_LIMIT 2147483647

typedef struct {
  napi_env env;
  napi_value argv[MAX_ARGS];
  size_t argc;
  int err;
} A;

/* Throws a RangeError (the first failure of a call wins). */
static void fail(A *a, const char *code, const char *msg) {
  if (a->err) return;
  a->err = 1;
  bool pending = false;
  napi_is_exception_pending(a->env, &pending);
  if (!pending) napi_throw_range_error(a->env, code, msg);
}

/* Throws a TypeError "<name> must be <what>". */
static void fail_type(A *a, const char *name, const char *what) {
  if (a->err) return;
  char msg[128];
  snprintf(msg, sizeof msg, "%s must be %s", name, what);
  a->err = 1;
  napi_throw_type_error(a->env, "ERR_ARG_TYPE", msg);
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
  fail_type(a, name,
            want == napi_float32_array ? "a Float32Array"
            : want == napi_int32_array ? "an Int32Array"
                                       : "a Float64Array");
  return NULL;
}

static double num(A *a, int i, const char *name) {
  double v = 0;
  if (a->err) return 0;
  if (napi_get_value_double(a->env, a->argv[i], &v) != napi_ok) fail_type(a, name, "a number");
  return v;
}

/* v as an integer; non-negative unless `sign`. */
static int64_t as_int(A *a, double v, int sign, const char *name) {
  if (a->err) return 0;
  if (!(v >= (sign ? -9007199254740991.0 : 0) && v <= 9007199254740991.0) ||
      v != (double)(int64_t)v) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a%s integer", name, sign ? "n" : " non-negative");
    fail(a, "ERR_OUT_OF_RANGE", msg);
    return 0;
  }
  return (int64_t)v;
}

static int flag(A *a, int i, const char *name) {
  bool b = false;
  if (a->err) return 0;
  if (napi_get_value_bool(a->env, a->argv[i], &b) == napi_ok) return b;
  return num(a, i, name) != 0;
}

/* Requires len >= want. */
static void need(A *a, size_t len, int64_t want, const char *name) {
  if (a->err || (int64_t)len >= want) return;
  char msg[160];
  snprintf(msg, sizeof msg, "%s has %zu elements, the sizes need %lld", name, len,
           (long long)want);
  fail(a, "ERR_OUT_OF_RANGE", msg);
}

/* Requires every x[i] <= INT32_LIMIT (sizes handed to cblas). */
static void need_int32(A *a, const char *what, int n, const int64_t *x) {
  for (int i = 0; i < n && !a->err; i++)
    if (x[i] > INT32_LIMIT) {
      char msg[96];
      snprintf(msg, sizeof msg, "%s must fit in int32", what);
      fail(a, "ERR_OUT_OF_RANGE", msg);
    }
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

/* ---------- the attention geometry (ATT_GEOM_FIELDS of tables.h) ---------- */

#define GEOM_INDEX(f) G_##f,
enum { ATT_GEOM_FIELDS(GEOM_INDEX) G_COUNT };
#undef GEOM_INDEX

/* Parses the packed AttentionGeometry (argument i) and checks it: H >= 1 divides BH,
 * every ld >= H * D, kvRows >= S, the sizes fit in int32. */
static void geometry(A *a, int i, att_geom *g, const char *name) {
  size_t n;
  const double *d = typed(a, i, napi_float64_array, &n, 0, name);
  need(a, n, G_COUNT, name);
  if (a->err) return;
  static const char *const fields[G_COUNT] = {
#define GEOM_NAME(f) #f,
      ATT_GEOM_FIELDS(GEOM_NAME)
#undef GEOM_NAME
  };
  int64_t v[G_COUNT];
  for (int j = 0; j < G_COUNT; j++) v[j] = j == G_scale ? 0 : as_int(a, d[j], 0, fields[j]);
  if (a->err) return;
  *g = (att_geom){.BH = v[G_BH], .T = v[G_T], .S = v[G_S], .D = v[G_D], .H = v[G_H],
                  .ldq = v[G_ldq], .ldk = v[G_ldk], .ldv = v[G_ldv], .ldo = v[G_ldo],
                  .kvRows = v[G_kvRows], .scale = (float)d[G_scale], .causal = v[G_causal] != 0,
                  .maskStrideB = v[G_maskStrideB], .maskStrideT = v[G_maskStrideT]};
  const int64_t HD = g->H * g->D;
  if (g->H < 1 || g->BH % g->H != 0)
    fail(a, "ERR_OUT_OF_RANGE", "attention: H must be >= 1 and divide BH");
  if (g->ldq < HD || g->ldk < HD || g->ldv < HD || g->ldo < HD)
    fail(a, "ERR_OUT_OF_RANGE", "attention: row strides must be >= H * D");
  if (g->kvRows < g->S) fail(a, "ERR_OUT_OF_RANGE", "attention: kvRows must be >= S");
  need_int32(a, "attention: row strides", 4, &v[G_ldq]);
  need_int32(a, "attention: kvRows", 1, &v[G_kvRows]);
  need_int32(a, "attention sizes", 3, &v[G_T]);
}

/* An array in the head layout: BH/H blocks of L used rows of stride ld, `rows` rows apart
 * (rows >= L; rows = L for dense blocks), H*D columns used. */
static void need_heads(A *a, size_t len, const att_geom *g, int64_t L, int64_t rows, int64_t ld,
                       const char *name) {
  if (a->err || g->BH * L * g->D == 0) return;
  need(a, len, ((g->BH / g->H - 1) * rows + L - 1) * ld + g->H * g->D, name);
}

/* q-like (q, out: T rows) and k/v-like (S rows, kvRows apart) arrays; name[3] may be NULL. */
static void need_layout(A *a, const att_geom *g, size_t qn, size_t kn, size_t vn, size_t on,
                        const char *const name[4]) {
  need_heads(a, qn, g, g->T, g->T, g->ldq, name[0]);
  need_heads(a, kn, g, g->S, g->kvRows, g->ldk, name[1]);
  need_heads(a, vn, g, g->S, g->kvRows, g->ldv, name[2]);
  if (name[3]) need_heads(a, on, g, g->T, g->T, g->ldo, name[3]);
}

/* The saved weights and the dropout mask (or NULL): (BH, T, S) each. */
static void need_scores(A *a, const att_geom *g, size_t wn, const float *drop, size_t dn) {
  need(a, wn, g->BH * g->T * g->S, "weights");
  if (drop) need(a, dn, g->BH * g->T * g->S, "dropMask");
}

/* ---------- argument reading ---------- */

/* Reads rank and `count` packed int64 vectors of length rank from a Float64Array. */
static int packed(A *a, int64_t rank, const double *d, size_t len, int count,
                  int64_t out[][MAX_RANK]) {
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

/* The `k`-th space-separated word of `names` (for messages). */
static const char *word(const char *names, int k, char *buf, size_t cap) {
  const char *p = names;
  for (int j = 0; j < k && p; j++) {
    p = strchr(p, ' ');
    if (p) p++;
  }
  size_t n = p ? strcspn(p, " ") : 0;
  if (n >= cap) n = cap - 1;
  memcpy(buf, p ? p : "", n);
  buf[n] = 0;
  return buf;
}

/*
 * Reads the call's arguments by `fmt`, one letter each, into the pointers that follow
 * (names: the argument names, space-separated, for messages):
 *   f  Float32Array        float **, size_t * (length)     F  the same or null (NULL, 0)
 *   i  Int32Array          int32_t **, size_t *            d  Float64Array  double **, size_t *
 *   z  non-negative integer int64_t *                      n  integer       int64_t *
 *   r  number              double *                        b  boolean       int *
 *   v  number or boolean   double * (true 1, false 0)
 *   g  AttentionGeometry   att_geom *                      a  any value     napi_value *
 *   |  the arguments after it are optional: absent or null/undefined leaves the preset value.
 * `npointers` (ARGS counts them) must match the format, else every call throws, so a
 * mismatch shows at the first test. Returns 0 (an exception pending) on a missing or bad
 * argument.
 */
static int get_args(A *a, napi_env env, napi_callback_info info, const char *fn,
                    const char *fmt, const char *names, int npointers, ...) {
  a->env = env;
  a->err = 0;
  a->argc = MAX_ARGS;
  if (napi_get_cb_info(env, info, &a->argc, a->argv, NULL, NULL) != napi_ok) {
    fail(a, NULL, "napi_get_cb_info failed");
    return 0;
  }
  int expect = 0; /* pointers the format reads: one per letter, two per array */
  for (const char *f = fmt; *f; f++) expect += *f == '|' ? 0 : strchr("fFid", *f) ? 2 : 1;
  if (expect != npointers) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s: get_args format '%s' reads %d pointers, %d given", fn, fmt,
             expect, npointers);
    fail(a, "ERR_INTERNAL", msg);
    return 0;
  }
  size_t want = strcspn(fmt, "|");
  if (a->argc < want) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s: expected %zu arguments, got %zu", fn, want, a->argc);
    fail(a, "ERR_ARGS", msg);
    return 0;
  }
  va_list ap;
  va_start(ap, npointers);
  int i = 0, optional = 0;
  for (const char *f = fmt; *f && !a->err; f++) {
    if (*f == '|') {
      optional = 1;
      continue;
    }
    char name[32];
    word(names, i, name, sizeof name);
    const int skip = optional && ((size_t)i >= a->argc || is_nullish(a, i));
    void *p = va_arg(ap, void *);
    size_t *len = (*f == 'f' || *f == 'F' || *f == 'i' || *f == 'd') ? va_arg(ap, size_t *) : NULL;
    if (!skip) switch (*f) {
        case 'f':
        case 'F':
          *(float **)p = typed(a, i, napi_float32_array, len, *f == 'F', name);
          break;
        case 'i': *(int32_t **)p = typed(a, i, napi_int32_array, len, 0, name); break;
        case 'd': *(double **)p = typed(a, i, napi_float64_array, len, 0, name); break;
        case 'z': *(int64_t *)p = as_int(a, num(a, i, name), 0, name); break;
        case 'n': *(int64_t *)p = as_int(a, num(a, i, name), 1, name); break;
        case 'r': *(double *)p = num(a, i, name); break;
        case 'v': {
          bool b;
          *(double *)p = napi_get_value_bool(env, a->argv[i], &b) == napi_ok ? b : num(a, i, name);
          break;
        }
        case 'b': *(int *)p = flag(a, i, name); break;
        case 'g': geometry(a, i, (att_geom *)p, name); break;
        case 'a': *(napi_value *)p = a->argv[i]; break;
        default: fail(a, NULL, "get_args: bad format");
      }
    i++;
  }
  va_end(ap);
  return !a->err;
}

#define FN(name) static napi_value name(napi_env env, napi_callback_info info)
/* Declares `a` and reads the arguments (see get_args); returns on failure. */
#define ARGS(fn, fmt, names, ...) \
  A a;                            \
  if (!get_args(&a, env, info, fn, fmt, names, NARGS(__VA_ARGS__), __VA_ARGS__)) return NULL
/* The number of its arguments (1 to 24). */
#define NARGS(...) NARGS_(__VA_ARGS__, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, \
                          10, 9, 8, 7, 6, 5, 4, 3, 2, 1)
#define NARGS_(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, _17, _18, \
               _19, _20, _21, _22, _23, _24, N, ...)                                            \
  N
/* Array `x` (with length x_n) must hold `want` elements. */
#define NEED(x, want) need(&a, x##_n, (want), #x)
#define DONE() \
  if (a.err) return NULL

/* An op code in [0, count). */
static void need_op(A *a, int64_t op, int count, const char *kind) {
  char msg[64];
  snprintf(msg, sizeof msg, "unknown %s op", kind);
  if (op < 0 || op >= count) fail(a, NULL, msg);
}

/* ---------- kernels ---------- */

FN(js_matmul) {
  float *out, *x, *y, *bias = NULL;
  size_t out_n, x_n, y_n, bias_n = 0;
  int64_t d[4], sA, sB; /* batch, M, N, K */
  int tA, tB;
  double beta;
  ARGS("matmul", "fffzzzzbbzzr|F", "out a b batch M N K transA transB strideA strideB beta bias",
       &out, &out_n, &x, &x_n, &y, &y_n, &d[0], &d[1], &d[2], &d[3], &tA, &tB, &sA, &sB, &beta,
       &bias, &bias_n);
  const int64_t batch = d[0], M = d[1], N = d[2], K = d[3];
  if (bias) NEED(bias, N);
  if (batch > 0) {
    NEED(out, batch * M * N);
    if (M * K > 0) need(&a, x_n, (batch - 1) * sA + M * K, "a");
    if (K * N > 0) need(&a, y_n, (batch - 1) * sB + K * N, "b");
  }
  if (M * N * K > 0) need_int32(&a, "matmul sizes", 3, &d[1]);
  DONE();
  k_matmul(out, x, y, batch, M, N, K, tA, tB, sA, sB, (float)beta, bias);
  return NULL;
}

/* matmulDeferred(out, a, b, M, N, K, tA, tB, beta) */
FN(js_matmul_deferred) {
  float *o, *x, *y;
  size_t o_n, x_n, y_n;
  int64_t d[3]; /* M, N, K */
  int tA, tB;
  double beta;
  ARGS("matmulDeferred", "fffzzzbbr", "out a b M N K transA transB beta", &o, &o_n, &x, &x_n,
       &y, &y_n, &d[0], &d[1], &d[2], &tA, &tB, &beta);
  need(&a, o_n, d[0] * d[1], "out");
  need(&a, x_n, d[0] * d[2], "a");
  need(&a, y_n, d[2] * d[1], "b");
  need_int32(&a, "matmulDeferred sizes", 3, d);
  DONE();
  k_matmul_deferred(o, x, y, d[0], d[1], d[2], tA, tB, (float)beta);
  return NULL;
}

FN(js_drain) {
  (void)info;
  (void)env;
  k_drain();
  return NULL;
}

FN(js_binary) {
  int64_t op, rank;
  float *out, *x, *y;
  double *dims;
  size_t out_n, x_n, y_n, dims_n;
  ARGS("binary", "nfffzd", "op out a b rank dims", &op, &out, &out_n, &x, &x_n, &y, &y_n, &rank,
       &dims, &dims_n);
  int64_t v[3][MAX_RANK];
  int r = packed(&a, rank, dims, dims_n, 3, v);
  need_op(&a, op, BIN_COUNT, "binary");
  DONE();
  int64_t n = 1;
  for (int d = 0; d < r; d++) n *= v[0][d];
  NEED(out, n);
  need_strided(&a, x_n, r, v[0], v[1], 0, "a");
  need_strided(&a, y_n, r, v[0], v[2], 0, "b");
  DONE();
  k_binary((int)op, out, x, y, r, v[0], v[1], v[2]);
  return NULL;
}

FN(js_unary) {
  int64_t op, n;
  float *out, *x;
  size_t out_n, x_n;
  ARGS("unary", "nffz", "op out x n", &op, &out, &out_n, &x, &x_n, &n);
  NEED(out, n);
  NEED(x, n);
  need_op(&a, op, UN_COUNT, "unary");
  DONE();
  k_unary((int)op, out, x, n);
  return NULL;
}

FN(js_unary_backward) {
  int64_t op, n;
  float *dx, *dy, *x, *y;
  size_t dx_n, dy_n, x_n, y_n;
  int accumulate = 1;
  ARGS("unaryBackward", "nffffz|b", "op dx dy x y n accumulate", &op, &dx, &dx_n, &dy, &dy_n,
       &x, &x_n, &y, &y_n, &n, &accumulate);
  NEED(dx, n);
  NEED(dy, n);
  need_op(&a, op, UN_COUNT, "unary");
  /* The derivative reads y = op(x) for exp, sqrt, tanh and x for the others but neg. */
  if (op == UN_EXP || op == UN_SQRT || op == UN_TANH) NEED(y, n);
  else if (op != UN_NEG) NEED(x, n);
  DONE();
  k_unary_backward((int)op, dx, dy, x, y, n, accumulate);
  return NULL;
}

FN(js_scalar) {
  int64_t op, n;
  float *out, *x;
  size_t out_n, x_n;
  double s;
  ARGS("scalar", "nffrz", "op out x s n", &op, &out, &out_n, &x, &x_n, &s, &n);
  NEED(out, n);
  NEED(x, n);
  need_op(&a, op, SC_COUNT, "scalar");
  DONE();
  k_scalar((int)op, out, x, s, n);
  return NULL;
}

/* sum(out, x, outer, dim, inner) and max(out, argmax, x, outer, dim, inner): out (and
 * argmax) (outer, inner), x (outer, dim, inner). */
static napi_value reduce(napi_env env, napi_callback_info info, int is_max) {
  float *out, *x;
  int32_t *argmax = NULL;
  size_t out_n, x_n, argmax_n = 0;
  int64_t outer, dim, inner;
  if (is_max) {
    ARGS("max", "fifzzz", "out argmax x outer dim inner", &out, &out_n, &argmax, &argmax_n, &x,
         &x_n, &outer, &dim, &inner);
    NEED(argmax, outer * inner);
    NEED(out, outer * inner);
    NEED(x, outer * dim * inner);
    DONE();
    k_max(out, argmax, x, outer, dim, inner);
  } else {
    ARGS("sum", "ffzzz", "out x outer dim inner", &out, &out_n, &x, &x_n, &outer, &dim, &inner);
    NEED(out, outer * inner);
    NEED(x, outer * dim * inner);
    DONE();
    k_sum(out, x, outer, dim, inner);
  }
  return NULL;
}
FN(js_sum) { return reduce(env, info, 0); }
FN(js_max) { return reduce(env, info, 1); }

FN(js_sum_squares) {
  float *x;
  size_t x_n;
  int64_t n;
  ARGS("sumSquares", "fz", "x n", &x, &x_n, &n);
  NEED(x, n);
  DONE();
  napi_value r;
  napi_create_double(env, k_sum_squares(x, n), &r);
  return r;
}

/* softmax, logSoftmax (out, x, rows, cols) and their backwards (dx, dy, y, rows, cols). */
enum { ROW_SOFTMAX, ROW_LOG_SOFTMAX, ROW_SOFTMAX_BWD, ROW_LOG_SOFTMAX_BWD };
static napi_value rows(napi_env env, napi_callback_info info, int kind) {
  static const char *const fn[] = {"softmax", "logSoftmax", "softmaxBackward",
                                   "logSoftmaxBackward"};
  float *o, *x, *y = NULL;
  size_t o_n, x_n, y_n = 0;
  int64_t rows, cols;
  const int bwd = kind >= ROW_SOFTMAX_BWD;
  if (bwd) {
    ARGS(fn[kind], "fffzz", "dx dy y rows cols", &o, &o_n, &x, &x_n, &y, &y_n, &rows, &cols);
    need(&a, o_n, rows * cols, "dx");
    need(&a, x_n, rows * cols, "dy");
    need(&a, y_n, rows * cols, "y");
    DONE();
  } else {
    ARGS(fn[kind], "ffzz", "out x rows cols", &o, &o_n, &x, &x_n, &rows, &cols);
    need(&a, o_n, rows * cols, "out");
    need(&a, x_n, rows * cols, "x");
    DONE();
  }
  switch (kind) {
    case ROW_SOFTMAX: k_softmax(o, x, rows, cols); break;
    case ROW_LOG_SOFTMAX: k_log_softmax(o, x, rows, cols); break;
    case ROW_SOFTMAX_BWD: k_softmax_backward(o, x, y, rows, cols); break;
    default: k_log_softmax_backward(o, x, y, rows, cols); break;
  }
  return NULL;
}
FN(js_softmax) { return rows(env, info, ROW_SOFTMAX); }
FN(js_log_softmax) { return rows(env, info, ROW_LOG_SOFTMAX); }
FN(js_softmax_backward) { return rows(env, info, ROW_SOFTMAX_BWD); }
FN(js_log_softmax_backward) { return rows(env, info, ROW_LOG_SOFTMAX_BWD); }

/* Per-row statistics (mean, rstd: N) and optional per-column vectors (C) of LayerNorm. */
static void need_ln(A *a, int64_t N, int64_t C, size_t mean_n, size_t rstd_n,
                    const float *const col[3], const size_t col_n[3], const char *const name[3]) {
  need(a, mean_n, N, "mean");
  need(a, rstd_n, N, "rstd");
  for (int j = 0; j < 3; j++)
    if (col[j]) need(a, col_n[j], C, name[j]);
}

FN(js_layer_norm_forward) {
  float *out, *mean, *rstd, *x, *weight, *bias;
  size_t out_n, mean_n, rstd_n, x_n, weight_n, bias_n;
  int64_t N, C;
  double eps;
  ARGS("layerNormForward", "ffffFFzzr", "out mean rstd x weight bias N C eps", &out, &out_n,
       &mean, &mean_n, &rstd, &rstd_n, &x, &x_n, &weight, &weight_n, &bias, &bias_n, &N, &C,
       &eps);
  NEED(out, N * C);
  NEED(x, N * C);
  need_ln(&a, N, C, mean_n, rstd_n, (const float *[3]){weight, bias, NULL},
          (size_t[3]){weight_n, bias_n, 0}, (const char *[3]){"weight", "bias", ""});
  DONE();
  k_layer_norm_forward(out, mean, rstd, x, weight, bias, N, C, eps);
  return NULL;
}

FN(js_layer_norm_backward) {
  float *dx, *dweight, *dbias, *dy, *x, *weight, *mean, *rstd;
  size_t dx_n, dweight_n, dbias_n, dy_n, x_n, weight_n, mean_n, rstd_n;
  int64_t N, C;
  int accumulate = 1;
  ARGS("layerNormBackward", "fFFffFffzz|b", "dx dweight dbias dy x weight mean rstd N C accumulate",
       &dx, &dx_n, &dweight, &dweight_n, &dbias, &dbias_n, &dy, &dy_n, &x, &x_n, &weight,
       &weight_n, &mean, &mean_n, &rstd, &rstd_n, &N, &C, &accumulate);
  NEED(dx, N * C);
  NEED(dy, N * C);
  NEED(x, N * C);
  need_ln(&a, N, C, mean_n, rstd_n, (const float *[3]){dweight, dbias, weight},
          (size_t[3]){dweight_n, dbias_n, weight_n},
          (const char *[3]){"dweight", "dbias", "weight"});
  DONE();
  k_layer_norm_backward(dx, dweight, dbias, dy, x, weight, mean, rstd, N, C, accumulate);
  return NULL;
}

/* embeddingForward(out, weight, ids, N, C) / embeddingBackward(dweight, dy, ids, N, C): the
 * table (V, C) is weight or dweight, the rows (N, C) out or dy; every id in [0, V). */
static napi_value embedding(napi_env env, napi_callback_info info, int bwd) {
  float *arr[2]; /* out, weight (forward) or dweight, dy (backward) */
  size_t arr_n[2], ids_n;
  int32_t *ids;
  int64_t N, C;
  ARGS(bwd ? "embeddingBackward" : "embeddingForward", "ffizz",
       bwd ? "dweight dy ids N C" : "out weight ids N C", &arr[0], &arr_n[0], &arr[1], &arr_n[1],
       &ids, &ids_n, &N, &C);
  const int t = bwd ? 0 : 1; /* which one is the table (V, C) */
  float *table = arr[t], *rows = arr[1 - t];
  const size_t table_n = arr_n[t];
  need(&a, arr_n[1 - t], N * C, bwd ? "dy" : "out");
  NEED(ids, N);
  const int64_t V = C == 0 ? 0 : (int64_t)table_n / C;
  for (int64_t n = 0; n < N && C > 0 && !a.err; n++)
    if (ids[n] < 0 || ids[n] >= V) {
      char msg[128];
      snprintf(msg, sizeof msg, "id %d at position %lld is outside [0, %lld)", ids[n],
               (long long)n, (long long)V);
      fail(&a, "ERR_OUT_OF_RANGE", msg);
    }
  DONE();
  if (bwd) k_embedding_backward(table, rows, ids, N, C);
  else k_embedding_forward(rows, table, ids, N, C);
  return NULL;
}
FN(js_embedding_forward) { return embedding(env, info, 0); }
FN(js_embedding_backward) { return embedding(env, info, 1); }

/* The row vectors (N) and the logits (N, V) of cross-entropy. */
static void need_ce(A *a, int64_t N, int64_t V, size_t logits_n, size_t lse_n, size_t targets_n,
                    size_t per_row_n, const char *per_row) {
  need(a, logits_n, N * V, "logits");
  need(a, lse_n, N, "lse");
  need(a, targets_n, N, "targets");
  need(a, per_row_n, N, per_row);
}

FN(js_cross_entropy_forward) {
  float *losses, *lse, *logits;
  int32_t *targets;
  size_t losses_n, lse_n, logits_n, targets_n;
  int64_t N, V, ignore;
  double ls;
  ARGS("crossEntropyForward", "fffizznr", "losses lse logits targets N V ignoreIndex labelSmoothing",
       &losses, &losses_n, &lse, &lse_n, &logits, &logits_n, &targets, &targets_n, &N, &V,
       &ignore, &ls);
  need_ce(&a, N, V, logits_n, lse_n, targets_n, losses_n, "losses");
  DONE();
  k_cross_entropy_forward(losses, lse, logits, targets, N, V, ignore, ls);
  return NULL;
}

FN(js_cross_entropy_backward) {
  float *dlogits, *dlosses, *logits, *lse;
  int32_t *targets;
  size_t dlogits_n, dlosses_n, logits_n, lse_n, targets_n;
  int64_t N, V, ignore;
  double ls;
  int accumulate;
  ARGS("crossEntropyBackward", "ffffizznrb",
       "dlogits dlosses logits lse targets N V ignoreIndex labelSmoothing accumulate", &dlogits,
       &dlogits_n, &dlosses, &dlosses_n, &logits, &logits_n, &lse, &lse_n, &targets, &targets_n,
       &N, &V, &ignore, &ls, &accumulate);
  NEED(dlogits, N * V);
  need_ce(&a, N, V, logits_n, lse_n, targets_n, dlosses_n, "dlosses");
  DONE();
  k_cross_entropy_backward(dlogits, dlosses, logits, lse, targets, N, V, ignore, ls, accumulate);
  return NULL;
}

/* attentionForward(out, weights, q, k, v, mask, dropMask, geometry) */
FN(js_attention_forward) {
  float *out, *weights, *q, *k, *v, *mask, *drop;
  size_t out_n, weights_n, q_n, k_n, v_n, mask_n, drop_n;
  att_geom g;
  ARGS("attentionForward", "fffffFFg", "out weights q k v mask dropMask geometry", &out, &out_n,
       &weights, &weights_n, &q, &q_n, &k, &k_n, &v, &v_n, &mask, &mask_n, &drop, &drop_n, &g);
  need_layout(&a, &g, q_n, k_n, v_n, out_n, (const char *[4]){"q", "k", "v", "out"});
  need_scores(&a, &g, weights_n, drop, drop_n);
  if (mask && g.BH * g.T * g.S > 0)
    NEED(mask, (g.BH - 1) * g.maskStrideB + (g.T - 1) * g.maskStrideT + g.S);
  DONE();
  k_attention_forward(out, weights, q, k, v, mask, drop, &g);
  return NULL;
}

/* attentionBackward(dq, dk, dv, dout, q, k, v, weights, dropMask, geometry, accumulate?) */
FN(js_attention_backward) {
  float *dq, *dk, *dv, *dout, *q, *k, *v, *weights, *drop;
  size_t dq_n, dk_n, dv_n, dout_n, q_n, k_n, v_n, weights_n, drop_n;
  att_geom g;
  int accumulate = 1;
  ARGS("attentionBackward", "ffffffffFg|b",
       "dq dk dv dout q k v weights dropMask geometry accumulate", &dq, &dq_n, &dk, &dk_n, &dv,
       &dv_n, &dout, &dout_n, &q, &q_n, &k, &k_n, &v, &v_n, &weights, &weights_n, &drop, &drop_n,
       &g, &accumulate);
  need_layout(&a, &g, q_n, k_n, v_n, dout_n, (const char *[4]){"q", "k", "v", "dout"});
  need_layout(&a, &g, dq_n, dk_n, dv_n, 0, (const char *[4]){"dq", "dk", "dv", NULL});
  need_scores(&a, &g, weights_n, drop, drop_n);
  DONE();
  k_attention_backward(dq, dk, dv, dout, q, k, v, weights, drop, &g, accumulate);
  return NULL;
}

/* stridedCopy(out, x, rank, dims, offset) / stridedAccumulate(x, g, rank, dims, offset) */
static napi_value strided(napi_env env, napi_callback_info info, int acc) {
  float *first, *second;
  double *dims;
  size_t first_n, second_n, dims_n;
  int64_t rank, offset;
  ARGS(acc ? "stridedAccumulate" : "stridedCopy", "ffzdn",
       acc ? "x g rank dims offset" : "out x rank dims offset", &first, &first_n, &second,
       &second_n, &rank, &dims, &dims_n, &offset);
  int64_t v[2][MAX_RANK];
  int r = packed(&a, rank, dims, dims_n, 2, v);
  DONE();
  float *dense = acc ? second : first, *x = acc ? first : second;
  size_t dense_n = acc ? second_n : first_n, x_n = acc ? first_n : second_n;
  int64_t n = 1;
  for (int d = 0; d < r; d++) n *= v[0][d];
  need(&a, dense_n, n, acc ? "g" : "out");
  need_strided(&a, x_n, r, v[0], v[1], offset, "x");
  DONE();
  k_strided(dense, x, r, v[0], v[1], offset, acc);
  return NULL;
}
FN(js_strided_copy) { return strided(env, info, 0); }
FN(js_strided_accumulate) { return strided(env, info, 1); }

FN(js_adamw) {
  float *p, *g, *m, *v;
  size_t p_n, g_n, m_n, v_n;
  int64_t n;
  double h[6]; /* lr, beta1, beta2, eps, weightDecay, step */
  ARGS("adamw", "ffffzrrrrrr", "param grad m v n lr beta1 beta2 eps weightDecay step", &p, &p_n,
       &g, &g_n, &m, &m_n, &v, &v_n, &n, &h[0], &h[1], &h[2], &h[3], &h[4], &h[5]);
  need(&a, p_n, n, "param");
  need(&a, g_n, n, "grad");
  NEED(m, n);
  NEED(v, n);
  DONE();
  k_adamw(p, g, m, v, n, h[0], h[1], h[2], h[3], h[4], h[5]);
  return NULL;
}

/* The Float32Array elements of JS array `arr` (n of them) into out[0..n), lengths in lens. */
static void f32_list(A *a, napi_value arr, uint32_t n, float **out, int64_t *lens,
                     const char *name) {
  for (uint32_t j = 0; j < n && !a->err; j++) {
    napi_value el;
    napi_typedarray_type type;
    size_t len = 0;
    void *data = NULL;
    bool ok = false;
    if (napi_get_element(a->env, arr, j, &el) == napi_ok) napi_is_typedarray(a->env, el, &ok);
    if (!ok || napi_get_typedarray_info(a->env, el, &type, &len, &data, NULL, NULL) != napi_ok ||
        type != napi_float32_array) {
      char what[64];
      snprintf(what, sizeof what, "%s[%u]", name, j);
      fail_type(a, what, "a Float32Array");
      return;
    }
    static float empty[1];
    out[j] = data ? (float *)data : empty;
    lens[j] = (int64_t)len;
  }
}

/* The length of JS array `arr`, or -1 when it is not an array. */
static int64_t array_length(A *a, napi_value arr) {
  bool is = false;
  uint32_t n = 0;
  napi_is_array(a->env, arr, &is);
  return is && napi_get_array_length(a->env, arr, &n) == napi_ok ? (int64_t)n : -1;
}

/* adamwMulti(params[], grads[], ms[], vs[], lr, beta1, beta2, eps, weightDecay, step) */
FN(js_adamw_multi) {
  napi_value list[4];
  double h[6]; /* lr, beta1, beta2, eps, weightDecay, step */
  ARGS("adamwMulti", "aaaarrrrrr", "params grads m v lr beta1 beta2 eps weightDecay step",
       &list[0], &list[1], &list[2], &list[3], &h[0], &h[1], &h[2], &h[3], &h[4], &h[5]);
  const int64_t count = array_length(&a, list[0]);
  if (count < 0) {
    fail_type(&a, "params", "an array of Float32Array");
    return NULL;
  }
  for (int i = 1; i < 4; i++)
    if (array_length(&a, list[i]) != count)
      fail(&a, "ERR_OUT_OF_RANGE", "adamwMulti: grads, m and v must be arrays as long as params");
  DONE();
  const uint32_t n = (uint32_t)count;
  if (n == 0) return NULL;
  float **ptr = malloc(sizeof(float *) * 4 * n);
  int64_t *len = malloc(sizeof(int64_t) * 4 * n), *start = malloc(sizeof(int64_t) * (n + 1));
  if (!ptr || !len || !start) {
    fail(&a, "ERR_MEMORY", "adamwMulti: out of memory");
  } else {
    static const char *names[4] = {"params", "grads", "m", "v"};
    for (int i = 0; i < 4; i++) f32_list(&a, list[i], n, ptr + (size_t)i * n, len + (size_t)i * n, names[i]);
    start[0] = 0;
    for (uint32_t j = 0; j < n && !a.err; j++) {
      for (int i = 1; i < 4 && !a.err; i++)
        if (len[(size_t)i * n + j] != len[j]) {
          char msg[160];
          snprintf(msg, sizeof msg, "adamwMulti: %s[%u] has %lld elements, params[%u] has %lld",
                   names[i], j, (long long)len[(size_t)i * n + j], j, (long long)len[j]);
          fail(&a, "ERR_OUT_OF_RANGE", msg);
        }
      start[j + 1] = start[j] + len[j];
    }
    if (!a.err)
      k_adamw_multi(ptr, (const float *const *)(ptr + n), ptr + 2 * (size_t)n, ptr + 3 * (size_t)n,
                    start, (int)n, h[0], h[1], h[2], h[3], h[4], h[5]);
  }
  free(ptr);
  free(len);
  free(start);
  return NULL;
}

FN(js_dropout_mask) {
  float *out;
  size_t out_n;
  int64_t n, key0, key1;
  double threshold, keep;
  ARGS("dropoutMask", "fzrrzz", "out n threshold keep key0 key1", &out, &out_n, &n, &threshold,
       &keep, &key0, &key1);
  NEED(out, n);
  if (!a.err && (key0 > 0xffffffffLL || key1 > 0xffffffffLL))
    fail(&a, "ERR_OUT_OF_RANGE", "key0 and key1 must be uint32");
  DONE();
  k_dropout_mask(out, n, threshold, (float)keep, (uint32_t)key0, (uint32_t)key1);
  return NULL;
}

/* ---------- control ---------- */

/*
 * glibc allocator tuning, only when NativeConfig.tuneMalloc asks for it (it changes the
 * host process's allocator). Tensors are typed arrays that node allocates with calloc and
 * frees when collected; glibc serves 0.1-2 MB blocks with mmap/munmap by default (above a
 * 128 KB threshold that only adapts slowly), so each costs page faults and the kernel's
 * zeroing of fresh pages: measured on case 1 of bench/run.ts, a fresh 1.5 MB output made
 * the GELU kernel 4x slower than a reused one. Tuned: mmap only above 32 MB, trim only
 * above 256 MB free at the top. Turning it off again restores glibc's initial 128 KB
 * thresholds (glibc's dynamic adjustment of them stays off once set).
 */
static void tune_malloc(int on) {
#if defined(__GLIBC__)
  static int tuned = 0;
  if (on == tuned) return;
  mallopt(M_MMAP_THRESHOLD, on ? 32 << 20 : 128 << 10);
  mallopt(M_TRIM_THRESHOLD, on ? 256 << 20 : 128 << 10);
  tuned = on;
#endif
}

#define CFG_INDEX(f) CFG_##f,
enum { CONFIG_FIELDS(CFG_INDEX) CFG_COUNT };
#undef CFG_INDEX

/* configure(config: Float64Array in CONFIG_FIELDS order): drains deferred work, then
 * applies the whole config (validated again here; src/backend/native-config.ts names the
 * option in its messages). */
FN(js_configure) {
  double *d;
  size_t d_n;
  ARGS("configure", "d", "config", &d, &d_n);
  need(&a, d_n, CFG_COUNT, "config");
  DONE();
  native_config c;
#define CFG_READ(f) c.f = as_int(&a, d[CFG_##f], 0, #f);
  CONFIG_FIELDS(CFG_READ)
#undef CFG_READ
  if (!a.err && (c.threads < 1 || c.threads > POOL_MAX_THREADS))
    fail(&a, "ERR_OUT_OF_RANGE", "configure: threads must be in [1, 64]");
  if (!a.err && (c.poolGrain < 1 || c.gemmGrain < 1))
    fail(&a, "ERR_OUT_OF_RANGE", "configure: poolGrain and gemmGrain must be >= 1");
  DONE();
  k_drain();
  g_config = c;
  k_set_threads((int)c.threads);
  tune_malloc(c.tuneMalloc != 0);
  return NULL;
}

FN(js_get_threads) {
  (void)info;
  napi_value r;
  napi_create_int32(env, k_threads(), &r);
  return r;
}

/* openblas_get_config(), e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64". */
FN(js_blas_config) {
  (void)info;
  napi_value r;
  const char *c = openblas_get_config();
  napi_create_string_utf8(env, c ? c : "", NAPI_AUTO_LENGTH, &r);
  return r;
}

#ifdef TRANSFORMER_TESTHOOKS
/* The hooks of TESTHOOK_EXPORTS, one number or boolean argument each. */
enum { HOOK_BLAS_THREADS, HOOK_SLICES_PARALLEL, HOOK_SPLIT_GEMM, HOOK_DEFER_DELAY_US };
static napi_value hook(napi_env env, napi_callback_info info, int which) {
  static const char *const fn[] = {"setBlasThreads", "setSlicesParallel", "setSplitGemm",
                                   "setDeferDelayUs"};
  double v;
  ARGS(fn[which], "v", "value", &v);
  switch (which) {
    /* Benchmarks: OpenBLAS's thread count alone (the pool keeps its size). */
    case HOOK_BLAS_THREADS: openblas_set_num_threads(v < 1 ? 1 : (int)v); break;
    /* Benchmarks: false runs attention / batched-matmul slices one by one with n-thread
     * GEMMs. */
    case HOOK_SLICES_PARALLEL: k_set_slices_parallel(v != 0); break;
    /* Benchmarks: true splits big GEMMs over the pool (OpenBLAS at 1 thread), false lets
     * OpenBLAS thread. */
    case HOOK_SPLIT_GEMM: k_set_split_gemm(v != 0); break;
    /* Tests: workers wait this many microseconds before each deferred task. */
    default: pool_set_defer_delay_us((int64_t)v); break;
  }
  return NULL;
}
FN(js_set_blas_threads) { return hook(env, info, HOOK_BLAS_THREADS); }
FN(js_set_slices_parallel) { return hook(env, info, HOOK_SLICES_PARALLEL); }
FN(js_set_split_gemm) { return hook(env, info, HOOK_SPLIT_GEMM); }
FN(js_set_defer_delay_us) { return hook(env, info, HOOK_DEFER_DELAY_US); }
#define ALL_EXPORTS(X) ADDON_EXPORTS(X) TESTHOOK_EXPORTS(X)
#else
#define ALL_EXPORTS(X) ADDON_EXPORTS(X)
#endif

/* A JS array of the strings `names[0..n)`. */
static napi_value string_array(napi_env env, const char *const *names, size_t n) {
  napi_value arr, s;
  napi_create_array_with_length(env, n, &arr);
  for (size_t i = 0; i < n; i++) {
    napi_create_string_utf8(env, names[i], NAPI_AUTO_LENGTH, &s);
    napi_set_element(env, arr, (uint32_t)i, s);
  }
  return arr;
}

/* exports.tables: the names of tables.h, in code order ({ binary, unary, scalar,
 * attentionGeometry, config: string[], testHooks: boolean }). */
static napi_value make_tables(napi_env env) {
#define OP_NAME(e, name) name,
#define FIELD_NAME(f) #f,
  static const char *const binary[] = {BINARY_OPS(OP_NAME)}, *const unary[] = {UNARY_OPS(OP_NAME)},
                           *const scalar[] = {SCALAR_OPS(OP_NAME)},
                           *const geom[] = {ATT_GEOM_FIELDS(FIELD_NAME)},
                           *const config[] = {CONFIG_FIELDS(FIELD_NAME)};
#undef OP_NAME
#undef FIELD_NAME
#define LIST(x) string_array(env, x, sizeof x / sizeof x[0])
  napi_value t, hooks;
  napi_create_object(env, &t);
  napi_set_named_property(env, t, "binary", LIST(binary));
  napi_set_named_property(env, t, "unary", LIST(unary));
  napi_set_named_property(env, t, "scalar", LIST(scalar));
  napi_set_named_property(env, t, "attentionGeometry", LIST(geom));
  napi_set_named_property(env, t, "config", LIST(config));
#undef LIST
#ifdef TRANSFORMER_TESTHOOKS
  napi_get_boolean(env, true, &hooks);
#else
  napi_get_boolean(env, false, &hooks);
#endif
  napi_set_named_property(env, t, "testHooks", hooks);
  return t;
}

static napi_value Init(napi_env env, napi_value exports) {
  k_set_threads((int)g_config.threads); /* OpenBLAS at 1 thread until configured */
#define P(name, fn) {#name, NULL, fn, NULL, NULL, NULL, napi_enumerable, NULL},
  napi_property_descriptor props[] = {ALL_EXPORTS(P)};
#undef P
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  napi_set_named_property(env, exports, "tables", make_tables(env));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
