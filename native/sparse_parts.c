/*
 * The row passes of sparse attention over pattern parts (F.sparseMultiHeadAttentionParts,
 * src/ops/sparse-parts.ts; src/backend/js-sparse.ts is the specification): a part's output
 * merged into the whole by its weights alpha, a gradient scaled into a part's order, and the
 * whole softmax's Delta. Both kernels read (B, L, H*D) rows of H heads of D columns, and
 * per-head row values in (B*H, L) layout, value (n*H + h)*L + t.
 *
 *   headRowsScale: out[n, i, h] (+)= alpha[(n*H + h)*L + i] * x[n, rows[i], h]
 *   headRowsDot:   out[(n*H + h)*L + t] = x[n, t, h] . y[n, t, h]
 *   lseMergeWeights: alpha[p*N + x] = sign_p exp(lse[p*N + x] - m_x) / sum_q (the same),
 *                  m_x = max_p lse[p*N + x] (the parts' merge weights)
 *
 * Threads (the project's pool) split the (n, i) rows; each writes its own.
 */
#include <math.h>
#include <stdint.h>

#include "args.h"
#include "kernels.h"
#include "pool.h"
#include "vmath.h"

typedef struct {
  float *out;
  const float *x, *y, *alpha;
  const int32_t *rows;
  int64_t L, H, D;
  int accumulate;
} hr_ctx;

static void hr_scale_range(void *p, int64_t r0, int64_t r1, int tid) {
  (void)tid;
  const hr_ctx *c = p;
  const int64_t L = c->L, H = c->H, D = c->D, C = H * D;
  for (int64_t r = r0; r < r1; r++) {
    const int64_t n = r / L, i = r % L;
    const float *x = c->x + (n * L + c->rows[i]) * C;
    float *o = c->out + r * C;
    for (int64_t h = 0; h < H; h++) {
      const float a = c->alpha[(n * H + h) * L + i];
      if (c->accumulate)
        _Pragma("GCC ivdep") for (int64_t d = h * D; d < (h + 1) * D; d++) o[d] += a * x[d];
      else
        _Pragma("GCC ivdep") for (int64_t d = h * D; d < (h + 1) * D; d++) o[d] = a * x[d];
    }
  }
}

static void hr_dot_range(void *p, int64_t r0, int64_t r1, int tid) {
  (void)tid;
  const hr_ctx *c = p;
  const int64_t L = c->L, H = c->H, D = c->D, C = H * D;
  for (int64_t r = r0; r < r1; r++) {
    const int64_t n = r / L, t = r % L;
    for (int64_t h = 0; h < H; h++)
      c->out[(n * H + h) * L + t] = vdot(c->x + r * C + h * D, c->y + r * C + h * D, D);
  }
}

/* B, L, H, D >= 0 and the (B, L, H*D) rows' size without overflow; returns B*L*H*D. */
static int64_t hr_need_sizes(A *a, int64_t B, int64_t L, int64_t H, int64_t D) {
  if (B < 0 || L < 0 || H < 0 || D < 0) fail(a, "ERR_OUT_OF_RANGE", "B, L, H, D must be >= 0");
  const double n = (double)B * (double)L * (double)H * (double)D;
  if (n > 9e15) fail(a, "ERR_OUT_OF_RANGE", "B*L*H*D overflows");
  return a->err ? 0 : B * L * H * D;
}

/* headRowsScale(out, x, rows, alpha, accumulate, B, L, H, D) */
FN(js_head_rows_scale) {
  float *out, *x, *alpha;
  int32_t *rows;
  size_t out_n, x_n, rows_n, alpha_n;
  int accumulate;
  int64_t B, L, H, D;
  ARGS("headRowsScale", "ffifbzzzz", "out x rows alpha accumulate B L H D", &out, &out_n, &x,
       &x_n, &rows, &rows_n, &alpha, &alpha_n, &accumulate, &B, &L, &H, &D);
  const int64_t n = hr_need_sizes(&a, B, L, H, D);
  need(&a, out_n, n, "out");
  need(&a, x_n, n, "x");
  need(&a, rows_n, L, "rows");
  need(&a, alpha_n, B * H * L, "alpha");
  for (int64_t i = 0; i < L && !a.err; i++)
    if (rows[i] < 0 || rows[i] >= L) fail(&a, "ERR_OUT_OF_RANGE", "rows must be in [0, L)");
  DONE();
  hr_ctx c = {.out = out, .x = x, .alpha = alpha, .rows = rows, .L = L, .H = H, .D = D,
              .accumulate = accumulate};
  pool_for(hr_scale_range, &c, B * L, H * D);
  return NULL;
}

/* headRowsDot(out, x, y, B, L, H, D) */
FN(js_head_rows_dot) {
  float *out, *x, *y;
  size_t out_n, x_n, y_n;
  int64_t B, L, H, D;
  ARGS("headRowsDot", "fffzzzz", "out x y B L H D", &out, &out_n, &x, &x_n, &y, &y_n, &B, &L,
       &H, &D);
  const int64_t n = hr_need_sizes(&a, B, L, H, D);
  need(&a, out_n, B * H * L, "out");
  need(&a, x_n, n, "x");
  need(&a, y_n, n, "y");
  DONE();
  hr_ctx c = {.out = out, .x = x, .y = y, .L = L, .H = H, .D = D};
  pool_for(hr_dot_range, &c, B * L, H * D);
  return NULL;
}

typedef struct {
  float *alpha;
  const float *lse, *signs;
  int64_t P, N;
} lm_ctx;

/* Entries [x0, x1) of every part: the max, then the signed exps and their sum (double, as
 * the specification's), then the scale. */
HOT static void lm_range(void *p, int64_t x0, int64_t x1, int tid) {
  (void)tid;
  const lm_ctx *c = p;
  const int64_t P = c->P, N = c->N;
  for (int64_t x = x0; x < x1; x++) {
    float m = -INFINITY;
    for (int64_t q = 0; q < P; q++) {
      const float l = c->lse[q * N + x];
      if (l > m || l != l) m = l;
    }
    double sum = 0;
    for (int64_t q = 0; q < P; q++) {
      const float e = c->signs[q] * vexpf(c->lse[q * N + x] - m);
      c->alpha[q * N + x] = e;
      sum += e;
    }
    /* Every part's keys forbidden (m -inf), or nothing left: 0. A NaN makes sum NaN. */
    const double inv = m == -INFINITY || sum <= 0 ? 0 : 1 / sum;
    for (int64_t q = 0; q < P; q++)
      c->alpha[q * N + x] = inv == 0 ? 0.0f : (float)(c->alpha[q * N + x] * inv);
  }
}

/* lseMergeWeights(alpha, lse, signs, P, N) */
FN(js_lse_merge_weights) {
  float *alpha, *lse, *signs;
  size_t alpha_n, lse_n, signs_n;
  int64_t P, N;
  ARGS("lseMergeWeights", "fffzz", "alpha lse signs P N", &alpha, &alpha_n, &lse, &lse_n, &signs,
       &signs_n, &P, &N);
  if (P < 0 || N < 0 || (double)P * (double)N > 9e15)
    fail(&a, "ERR_OUT_OF_RANGE", "P and N must be >= 0 (and P*N not overflow)");
  DONE();
  need(&a, alpha_n, P * N, "alpha");
  need(&a, lse_n, P * N, "lse");
  need(&a, signs_n, P, "signs");
  DONE();
  lm_ctx c = {.alpha = alpha, .lse = lse, .signs = signs, .P = P, .N = N};
  pool_for(lm_range, &c, N, 4 * P);
  return NULL;
}
