/* Argument reading and checking of the addon's entry points; see args.h. */
#include "args.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fail(A *a, const char *code, const char *msg) {
  if (a->err) return;
  a->err = 1;
  bool pending = false;
  napi_is_exception_pending(a->env, &pending);
  if (!pending) napi_throw_range_error(a->env, code, msg);
}

void fail_type(A *a, const char *name, const char *what) {
  if (a->err) return;
  char msg[128];
  snprintf(msg, sizeof msg, "%s must be %s", name, what);
  a->err = 1;
  napi_throw_type_error(a->env, "ERR_ARG_TYPE", msg);
}

int is_nullish(A *a, int i) {
  napi_valuetype t;
  if (napi_typeof(a->env, a->argv[i], &t) != napi_ok) return 0;
  return t == napi_null || t == napi_undefined;
}

void *typed(A *a, int i, napi_typedarray_type want, size_t *len, int nullable,
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

double num(A *a, int i, const char *name) {
  double v = 0;
  if (a->err) return 0;
  if (napi_get_value_double(a->env, a->argv[i], &v) != napi_ok) fail_type(a, name, "a number");
  return v;
}

int64_t as_int(A *a, double v, int sign, const char *name) {
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

float *need_mask(A *a, const att_geom *g, float *mask, size_t mask_n) {
  if (!mask || a->err) return mask;
  if (g->BH * g->T * g->S == 0) return mask; /* nothing is read */
  /* Each field is an integer of at most 2^53 (as_int); their products and sums may still
   * overflow int64 (a wrapped span would pass the check): refused as out of range. */
  int64_t dT, dB, lo, hi;
  if (__builtin_mul_overflow(g->T - 1, g->maskStrideT, &dT) ||
      __builtin_mul_overflow(g->BH - 1, g->maskStrideB, &dB) ||
      __builtin_add_overflow(g->maskOffset, dT < 0 ? dT : 0, &lo) ||
      __builtin_add_overflow(g->maskOffset, dB, &hi) ||
      __builtin_add_overflow(hi, (dT > 0 ? dT : 0) + g->S, &hi)) {
    fail(a, "ERR_OUT_OF_RANGE", "mask: its strides and offset overflow");
    return mask;
  }
  if (lo < 0)
    fail(a, "ERR_OUT_OF_RANGE", "mask: maskOffset + (T - 1) * maskStrideT must be >= 0");
  else
    need(a, mask_n, hi, "mask");
  return mask + g->maskOffset;
}

int flag(A *a, int i, const char *name) {
  bool b = false;
  if (a->err) return 0;
  if (napi_get_value_bool(a->env, a->argv[i], &b) == napi_ok) return b;
  return num(a, i, name) != 0;
}

void need(A *a, size_t len, int64_t want, const char *name) {
  if (a->err || (int64_t)len >= want) return;
  char msg[160];
  snprintf(msg, sizeof msg, "%s has %zu elements, the sizes need %lld", name, len,
           (long long)want);
  fail(a, "ERR_OUT_OF_RANGE", msg);
}

void need_int32(A *a, const char *what, int n, const int64_t *x) {
  for (int i = 0; i < n && !a->err; i++)
    if (x[i] > INT32_LIMIT) {
      char msg[96];
      snprintf(msg, sizeof msg, "%s must fit in int32", what);
      fail(a, "ERR_OUT_OF_RANGE", msg);
    }
}

void need_strided(A *a, size_t len, int rank, const int64_t *shape, const int64_t *st,
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

void geometry(A *a, int i, att_geom *g, const char *name) {
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
  for (int j = 0; j < G_COUNT; j++)
    v[j] = j == G_scale ? 0 : as_int(a, d[j], j == G_maskStrideT, fields[j]);
  if (a->err) return;
  *g = (att_geom){.BH = v[G_BH], .T = v[G_T], .S = v[G_S], .D = v[G_D], .H = v[G_H],
                  .ldq = v[G_ldq], .ldk = v[G_ldk], .ldv = v[G_ldv], .ldo = v[G_ldo],
                  .kvRows = v[G_kvRows], .scale = (float)d[G_scale], .causal = v[G_causal] != 0,
                  .maskStrideB = v[G_maskStrideB], .maskStrideT = v[G_maskStrideT],
                  .maskOffset = v[G_maskOffset]};
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

void need_heads(A *a, size_t len, const att_geom *g, int64_t L, int64_t rows, int64_t ld,
                const char *name) {
  if (a->err || g->BH * L * g->D == 0) return;
  need(a, len, ((g->BH / g->H - 1) * rows + L - 1) * ld + g->H * g->D, name);
}

void need_layout(A *a, const att_geom *g, size_t qn, size_t kn, size_t vn, size_t on,
                 const char *const name[4]) {
  need_heads(a, qn, g, g->T, g->T, g->ldq, name[0]);
  need_heads(a, kn, g, g->S, g->kvRows, g->ldk, name[1]);
  need_heads(a, vn, g, g->S, g->kvRows, g->ldv, name[2]);
  if (name[3]) need_heads(a, on, g, g->T, g->T, g->ldo, name[3]);
}

void need_scores(A *a, const att_geom *g, size_t wn, const float *drop, size_t dn) {
  need(a, wn, g->BH * g->T * g->S, "weights");
  if (drop) need(a, dn, g->BH * g->T * g->S, "dropMask");
}

/* ---------- argument reading ---------- */

int packed(A *a, int64_t rank, const double *d, size_t len, int count,
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

/* Copies the word at *names (up to a space) into buf and moves *names past it. */
static const char *next_word(const char **names, char *buf, size_t cap) {
  size_t n = strcspn(*names, " ");
  memcpy(buf, *names, n < cap ? n : cap - 1);
  buf[n < cap ? n : cap - 1] = 0;
  *names += n + ((*names)[n] == ' ');
  return buf;
}

int get_args(A *a, napi_env env, napi_callback_info info, const char *fn,
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
    next_word(&names, name, sizeof name);
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

void need_op(A *a, int64_t op, int count, const char *kind) {
  char msg[64];
  snprintf(msg, sizeof msg, "unknown %s op", kind);
  if (op < 0 || op >= count) fail(a, NULL, msg);
}
