/*
 * Argument reading and checking of the addon's entry points (args.c): a call's arguments
 * are read by one get_args() format (as Python's PyArg_ParseTuple) into typed C values,
 * and every array length is checked against the sizes before a kernel runs, so a bad call
 * throws a RangeError or TypeError instead of reading or writing out of bounds.
 */
#ifndef TRANSFORMER_ARGS_H
#define TRANSFORMER_ARGS_H

#define NAPI_VERSION 8
#include <node_api.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels.h"
#include "tables.h"

#define MAX_ARGS 24
#define INT32_LIMIT 2147483647

/* One call's arguments and whether a check failed (an exception is then pending). */
typedef struct {
  napi_env env;
  napi_value argv[MAX_ARGS];
  size_t argc;
  int err;
} A;

/* Throws a RangeError (the first failure of a call wins). */
void fail(A *a, const char *code, const char *msg);

/* Throws a TypeError "<name> must be <what>". */
void fail_type(A *a, const char *name, const char *what);

int is_nullish(A *a, int i);

void *typed(A *a, int i, napi_typedarray_type want, size_t *len, int nullable,
            const char *name);

double num(A *a, int i, const char *name);

/* v as an integer; non-negative unless `sign`. */
int64_t as_int(A *a, double v, int sign, const char *name);

int flag(A *a, int i, const char *name);

/* Requires len >= want. */
void need(A *a, size_t len, int64_t want, const char *name);
/* The additive mask of an attention call covers every element it reads,
 * mask[maskOffset + b*maskStrideB + t*maskStrideT + s] for b < BH, t < T, s < S
 * (maskStrideT may be negative); returns the mask moved to its offset, or NULL. */
float *need_mask(A *a, const att_geom *g, float *mask, size_t mask_n);

/* Requires every x[i] <= INT32_LIMIT (sizes handed to cblas). */
void need_int32(A *a, const char *what, int n, const int64_t *x);

/* Every element reached by (shape, strides, offset) lies in [0, len). */
void need_strided(A *a, size_t len, int rank, const int64_t *shape, const int64_t *st,
                  int64_t offset, const char *name);

/* Parses the packed AttentionGeometry (argument i) and checks it: H >= 1 divides BH,
 * every ld >= H * D, kvRows >= S, the sizes fit in int32. */
void geometry(A *a, int i, att_geom *g, const char *name);

/* An array in the head layout: BH/H blocks of L used rows of stride ld, `rows` rows apart
 * (rows >= L; rows = L for dense blocks), H*D columns used. */
void need_heads(A *a, size_t len, const att_geom *g, int64_t L, int64_t rows, int64_t ld,
                const char *name);

/* q-like (q, out: T rows) and k/v-like (S rows, kvRows apart) arrays; name[3] may be NULL. */
void need_layout(A *a, const att_geom *g, size_t qn, size_t kn, size_t vn, size_t on,
                 const char *const name[4]);

/* The saved weights and the dropout mask (or NULL): (BH, T, S) each. */
void need_scores(A *a, const att_geom *g, size_t wn, const float *drop, size_t dn);

/* Reads rank and `count` packed int64 vectors of length rank from a Float64Array. */
int packed(A *a, int64_t rank, const double *d, size_t len, int count,
           int64_t out[][MAX_RANK]);

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
int get_args(A *a, napi_env env, napi_callback_info info, const char *fn,
             const char *fmt, const char *names, int npointers, ...);

/* An op code in [0, count). */
void need_op(A *a, int64_t op, int count, const char *kind);

#define FN(name) napi_value name(napi_env env, napi_callback_info info)
/* Declares `a` and reads the arguments (see get_args); returns on failure. */
#define ARGS(fn, fmt, names, ...) \
  A a;                            \
  if (!get_args(&a, env, info, fn, fmt, names, NARGS(__VA_ARGS__), __VA_ARGS__)) return NULL
/* The number of its arguments (1 to 40). */
#define NARGS(...)                                                                             \
  NARGS_(__VA_ARGS__, 40, 39, 38, 37, 36, 35, 34, 33, 32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, \
         21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1)
#define NARGS_(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, _17, _18, \
               _19, _20, _21, _22, _23, _24, _25, _26, _27, _28, _29, _30, _31, _32, _33, _34,  \
               _35, _36, _37, _38, _39, _40, N, ...)                                            \
  N
/* Array `x` (with length x_n) must hold `want` elements. */
#define NEED(x, want) need(&a, x##_n, (want), #x)
#define DONE() \
  if (a.err) return NULL

/* control.c: the `tables` export (the names of tables.h, in code order). */
napi_value make_tables(napi_env env);

/* The entry points of tables.h (addon.c, control.c), declared once. */
#define DECLARE_EXPORT(name, fn) FN(fn);
ADDON_EXPORTS(DECLARE_EXPORT)
TESTHOOK_EXPORTS(DECLARE_EXPORT)
#undef DECLARE_EXPORT

#endif
