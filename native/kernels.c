/*
 * Element-wise, reduction, normalization, loss, embedding, strided-copy and optimizer
 * kernels. Each mirrors the kernel of the same name in src/backend/js.ts:
 * - sums over a row run in double (as js does), with 8 independent accumulators in a
 *   fixed order, so results are deterministic and independent of the thread count;
 *   except the hot rows of a training step, softmax (attention's too), its backward and
 *   LayerNorm, which run in float with vmath.h's 16-accumulator reductions (also fixed
 *   order): PyTorch's CPU kernels accumulate these in float too, and double halved the
 *   vector width and cost conversions. Measured (768 x 128 LayerNorm, 2 threads, median):
 *   forward 55 -> 15 us, backward 80 -> 29 us; causal attention BH=48, T=64, D=32 forward
 *   380 -> 280 us, backward 650 -> 430 us;
 * - element-wise math runs in float: exp and tanh with the vectorizable vexpf / vtanhf of
 *   vmath.h (<= ~2 ulp), log with logf, gelu's erf with vmath.h's verff_fast (a rational
 *   approximation, absolute error ~1e-7 like PyTorch's; js uses the Numerical Recipes
 *   erfc); scalar and optimizer arithmetic in double like js;
 * - parallel kernels split over rows or column blocks, never inside one reduction.
 */
#include "kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "vmath.h"


#define SQRT1_2_F 0.70710678118654752440f
#define SQRT_2_OVER_PI_F 0.79788456080286535588f
#define INV_SQRT_2PI_F 0.39894228040143267794f

/* ---------- row helpers (double accumulation, fixed order; float ones in vmath.h) ---------- */

static double row_sum(const float *x, int64_t n) {
  double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; j++) s[j] += x[i + j];
  double t = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  for (; i < n; i++) t += x[i];
  return t;
}

/* o[i] = exp(x[i] - shift), vectorized. */
HOT static void vexp_shift(float *o, const float *x, int64_t n, float shift) {
  _Pragma("GCC ivdep") for (int64_t i = 0; i < n; i++) o[i] = vexpf(x[i] - shift);
}

/* sum_j exp(x[j] - mx) in double (chunks of 256 in order), optionally storing the
 * exponentials in e. */
static double row_sum_exp(float *e, const float *x, int64_t n, float mx) {
  float buf[256];
  double t = 0;
  for (int64_t i0 = 0; i0 < n; i0 += 256) {
    int64_t w = n - i0 < 256 ? n - i0 : 256;
    float *dst = e ? e + i0 : buf;
    vexp_shift(dst, x + i0, w, mx);
    t += row_sum(dst, w);
  }
  return t;
}

/* ---------- binary with broadcasting ---------- */

HOT static void bin_inner(int op, float *o, const float *a, int64_t sa, const float *b,
                          int64_t sb, int64_t n) {
/* o[i] = EXPR(x, y) with x = X, y = Y; PRAGMA is _Pragma("GCC ivdep") for the unit-stride
 * and broadcast cases (in place is the only aliasing allowed), empty for the strided one. A
 * broadcast operand is read once, before the loop (xa, yb). */
#define BIN_LOOP(PRAGMA, X, Y, EXPR)                                        \
  PRAGMA for (int64_t i = 0; i < n; i++) {                                  \
    float x = (X), y = (Y);                                                 \
    o[i] = EXPR;                                                            \
  }
#define IVDEP _Pragma("GCC ivdep")
#define BIN_LOOPS(EXPR)                                                     \
  if (sa == 1 && sb == 1) {                                                 \
    BIN_LOOP(IVDEP, a[i], b[i], EXPR)                                       \
  } else if (sa == 1 && sb == 0) {                                          \
    const float yb = b[0];                                                  \
    BIN_LOOP(IVDEP, a[i], yb, EXPR)                                         \
  } else if (sa == 0 && sb == 1) {                                          \
    const float xa = a[0];                                                  \
    BIN_LOOP(IVDEP, xa, b[i], EXPR)                                         \
  } else {                                                                  \
    BIN_LOOP(, a[i * sa], b[i * sb], EXPR)                                  \
  }
  switch (op) {
    case BIN_ADD: BIN_LOOPS(x + y) break;
    case BIN_SUB: BIN_LOOPS(x - y) break;
    case BIN_MUL: BIN_LOOPS(x * y) break;
    default: BIN_LOOPS(x / y) break;
  }
#undef BIN_LOOPS
#undef BIN_LOOP
#undef IVDEP
}

/* Drops size-1 dimensions and merges dimensions contiguous in every operand. Returns the
 * new rank (>= 1), or 0 when the shape is empty (some dimension is 0). */
static int collapse(int rank, const int64_t *shape, const int64_t *s1, const int64_t *s2,
                    int64_t *oshape, int64_t *o1, int64_t *o2) {
  int r = 0;
  for (int d = 0; d < rank; d++) {
    if (shape[d] == 0) return 0;
    if (shape[d] == 1) continue;
    if (r > 0 && o1[r - 1] == s1[d] * shape[d] && (!s2 || o2[r - 1] == s2[d] * shape[d])) {
      oshape[r - 1] *= shape[d];
      o1[r - 1] = s1[d];
      if (s2) o2[r - 1] = s2[d];
      continue;
    }
    oshape[r] = shape[d];
    o1[r] = s1[d];
    if (s2) o2[r] = s2[d];
    r++;
  }
  if (r == 0) {
    oshape[0] = 1;
    o1[0] = 0;
    if (s2) o2[0] = 0;
    r = 1;
  }
  return r;
}

typedef struct {
  int op, rank, accumulate;
  float *out;
  const float *a, *b;
  float *x; /* strided operand (k_strided) */
  int64_t shape[MAX_RANK], sa[MAX_RANK], sb[MAX_RANK];
} nd_ctx;

/* Walks flat output indices [begin, end) of an nd_ctx in runs along the last dimension. */
#define ND_WALK(C, BEGIN, END, BODY)                                                   \
  do {                                                                                 \
    int r_ = (C)->rank;                                                                \
    int64_t inner_ = (C)->shape[r_ - 1], idx_[MAX_RANK];                               \
    int64_t q_ = (BEGIN) / inner_, j0_ = (BEGIN) % inner_, oa_ = 0, ob_ = 0;           \
    for (int d_ = r_ - 2; d_ >= 0; d_--) {                                             \
      idx_[d_] = q_ % (C)->shape[d_];                                                  \
      q_ /= (C)->shape[d_];                                                            \
      oa_ += idx_[d_] * (C)->sa[d_];                                                   \
      ob_ += idx_[d_] * (C)->sb[d_];                                                   \
    }                                                                                  \
    for (int64_t i_ = (BEGIN); i_ < (END);) {                                          \
      int64_t len = inner_ - j0_;                                                      \
      if (len > (END) - i_) len = (END) - i_;                                          \
      int64_t pos = i_, offA = oa_ + j0_ * (C)->sa[r_ - 1], offB = ob_ + j0_ * (C)->sb[r_ - 1]; \
      BODY;                                                                            \
      i_ += len;                                                                       \
      j0_ = 0;                                                                         \
      for (int d_ = r_ - 2; d_ >= 0; d_--) {                                           \
        idx_[d_]++;                                                                    \
        oa_ += (C)->sa[d_];                                                            \
        ob_ += (C)->sb[d_];                                                            \
        if (idx_[d_] < (C)->shape[d_]) break;                                          \
        oa_ -= (C)->sa[d_] * (C)->shape[d_];                                           \
        ob_ -= (C)->sb[d_] * (C)->shape[d_];                                           \
        idx_[d_] = 0;                                                                  \
      }                                                                                \
    }                                                                                  \
  } while (0)

static void bin_range(void *p, int64_t begin, int64_t end, int tid) {
  (void)tid;
  nd_ctx *c = p;
  int64_t lsa = c->sa[c->rank - 1], lsb = c->sb[c->rank - 1];
  ND_WALK(c, begin, end, bin_inner(c->op, c->out + pos, c->a + offA, lsa, c->b + offB, lsb, len));
}

void k_binary(int op, float *out, const float *a, const float *b, int rank,
              const int64_t *shape, const int64_t *sa, const int64_t *sb) {
  nd_ctx c;
  c.op = op;
  c.out = out;
  c.a = a;
  c.b = b;
  c.rank = collapse(rank, shape, sa, sb, c.shape, c.sa, c.sb);
  if (c.rank == 0) return;
  int64_t n = 1;
  for (int d = 0; d < c.rank; d++) n *= c.shape[d];
  pool_for(bin_range, &c, n, 1);
}

/* ---------- strided copy / accumulate ---------- */

HOT static void strided_inner(float *dense, float *x, int64_t s, int64_t n, int acc) {
  if (acc) {
    if (s == 1) {
      for (int64_t i = 0; i < n; i++) x[i] += dense[i];
    } else if (s == 0) {
      /* A reduction into one element (a broadcast axis): 16 independent partial sums, so
       * the loop vectorizes instead of chaining every add through x[0]. */
      float part[16] = {0};
      int64_t i = 0;
      for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; l++) part[l] += dense[i + l];
      float t = 0;
      for (int l = 0; l < 16; l++) t += part[l];
      for (; i < n; i++) t += dense[i];
      x[0] += t;
    } else {
      for (int64_t i = 0; i < n; i++) x[i * s] += dense[i];
    }
  } else if (s == 1) {
    memcpy(dense, x, (size_t)n * sizeof(float));
  } else {
    for (int64_t i = 0; i < n; i++) dense[i] = x[i * s];
  }
}

static void strided_range(void *p, int64_t begin, int64_t end, int tid) {
  (void)tid;
  nd_ctx *c = p;
  int64_t ls = c->sa[c->rank - 1];
  ND_WALK(c, begin, end,
          ((void)offB, strided_inner(c->out + pos, c->x + offA, ls, len, c->accumulate)));
}

void k_strided(float *dense, float *x, int rank, const int64_t *shape, const int64_t *strides,
               int64_t offset, int accumulate) {
  nd_ctx c;
  c.out = dense;
  c.x = x + offset;
  c.accumulate = accumulate;
  c.rank = collapse(rank, shape, strides, NULL, c.shape, c.sa, NULL);
  if (c.rank == 0) return;
  for (int d = 0; d < c.rank; d++) c.sb[d] = 0;
  int64_t n = 1;
  for (int d = 0; d < c.rank; d++) n *= c.shape[d];
  /* Accumulating through overlapping strides (a stride of 0) is a reduction: keep it serial. */
  int parallel = n >= 2 && n >= POOL_MIN_WORK;
  if (accumulate)
    for (int d = 0; d < c.rank; d++)
      if (c.sa[d] == 0) parallel = 0;
  pool_run(strided_range, &c, n, parallel);
}

/* ---------- unary ---------- */

typedef struct {
  int op;
  float *out;
  const float *x, *y, *dy;
  double s;
  int overwrite; /* unary backward: dx = ... instead of dx += ... */
} ew_ctx;

HOT static void unary_range(void *p, int64_t b, int64_t e, int tid) {
  (void)tid;
  ew_ctx *c = p;
  float *o = c->out;
  const float *x = c->x;
  switch (c->op) {
    case UN_NEG:
      _Pragma("GCC ivdep") for (int64_t i = b; i < e; i++) o[i] = -x[i];
      break;
    case UN_EXP:
      _Pragma("GCC ivdep") for (int64_t i = b; i < e; i++) o[i] = vexpf(x[i]);
      break;
    case UN_LOG:
      for (int64_t i = b; i < e; i++) o[i] = logf(x[i]);
      break;
    case UN_SQRT:
      _Pragma("GCC ivdep") for (int64_t i = b; i < e; i++) o[i] = sqrtf(x[i]);
      break;
    case UN_TANH:
      _Pragma("GCC ivdep") for (int64_t i = b; i < e; i++) o[i] = vtanhf(x[i]);
      break;
    case UN_RELU:
      /* x <= 0 ? 0 : x keeps NaN (as torch.relu); x > 0 ? x : 0 made it 0. */
      _Pragma("GCC ivdep") for (int64_t i = b; i < e; i++) o[i] = x[i] <= 0 ? 0.0f : x[i];
      break;
    case UN_GELU:
      _Pragma("GCC ivdep") for (int64_t i = b; i < e; i++) {
        float v = x[i];
        o[i] = 0.5f * v * (1.0f + verff_fast(v * SQRT1_2_F));
      }
      break;
    default:
      /* 0.5 x (1 + tanh(u)) = x sigmoid(2u): no cancellation for negative u. */
      _Pragma("GCC ivdep") for (int64_t i = b; i < e; i++) {
        float v = x[i];
        float u = SQRT_2_OVER_PI_F * (v + 0.044715f * v * v * v);
        o[i] = v / (1.0f + vexpf(-2.0f * u));
      }
      break;
  }
}

void k_unary(int op, float *out, const float *x, int64_t n) {
  ew_ctx c = {.op = op, .out = out, .x = x};
  pool_for(unary_range, &c, n, op == UN_NEG || op == UN_RELU ? 1 : 8);
}

/* gelu'(x) = Phi(x) + x phi(x), with Phi(x) = y / x read off the forward's output
 * y = x Phi(x) (one division instead of a second erf); Phi(0) = 1/2. */
static inline __attribute__((always_inline)) float gelu_grad(float v, float y) {
  float av = v < 0 ? -v : v;
  float cdf = av > 1e-20f ? y / v : 0.5f;
  return cdf + v * INV_SQRT_2PI_F * vexpf(-0.5f * v * v);
}

/* With sg = sigmoid(2u): 0.5 (1 + tanh u) = sg and 1 - tanh^2 u = 4 sg (1 - sg). */
static inline __attribute__((always_inline)) float gelu_tanh_grad(float v) {
  float u = SQRT_2_OVER_PI_F * (v + 0.044715f * v * v * v);
  float sg = 1.0f / (1.0f + vexpf(-2.0f * u));
  float du = SQRT_2_OVER_PI_F * (1.0f + 3.0f * 0.044715f * v * v);
  return sg + 2.0f * v * sg * (1.0f - sg) * du;
}

HOT static void unary_bwd_range(void *p, int64_t b, int64_t e, int tid) {
  (void)tid;
  ew_ctx *c = p;
  float *dx = c->out;
  const float *x = c->x, *y = c->y, *dy = c->dy;
  /* dx = 0 + dy * D(i) (overwrite: a fresh dx may hold any bits; the 0 + makes it the
   * same as accumulating into zeros, -0 included) or dx += dy * D(i). */
#define UNARY_BWD(D)                                                                    \
  if (c->overwrite)                                                                     \
    _Pragma("GCC ivdep") for (int64_t i = b; i < e; i++) dx[i] = 0.0f + dy[i] * (D);    \
  else                                                                                  \
    _Pragma("GCC ivdep") for (int64_t i = b; i < e; i++) dx[i] += dy[i] * (D);          \
  break
  switch (c->op) {
    case UN_NEG:
      UNARY_BWD(-1.0f);
    case UN_EXP:
      UNARY_BWD(y[i]);
    case UN_LOG:
      UNARY_BWD(1.0f / x[i]);
    case UN_SQRT:
      UNARY_BWD(0.5f / y[i]);
    case UN_TANH:
      UNARY_BWD(1.0f - y[i] * y[i]);
    case UN_RELU:
      UNARY_BWD(x[i] > 0 ? 1.0f : 0.0f);
    case UN_GELU:
      UNARY_BWD(gelu_grad(x[i], y[i]));
    default:
      UNARY_BWD(gelu_tanh_grad(x[i]));
  }
#undef UNARY_BWD
}

void k_unary_backward(int op, float *dx, const float *dy, const float *x, const float *y,
                      int64_t n, int accumulate) {
  ew_ctx c = {.op = op, .out = dx, .x = x, .y = y, .dy = dy, .overwrite = !accumulate};
  pool_for(unary_bwd_range, &c, n, op == UN_GELU || op == UN_GELU_TANH ? 8 : 1);
}

/* ---------- scalar (double arithmetic, like js) ---------- */

HOT static void scalar_range(void *p, int64_t b, int64_t e, int tid) {
  (void)tid;
  ew_ctx *c = p;
  float *o = c->out;
  const float *x = c->x;
  const double s = c->s;
  switch (c->op) {
    case SC_ADD:
      _Pragma("GCC ivdep") for (int64_t i = b; i < e; i++) o[i] = (float)((double)x[i] + s);
      break;
    case SC_MUL:
      _Pragma("GCC ivdep") for (int64_t i = b; i < e; i++) o[i] = (float)((double)x[i] * s);
      break;
    case SC_RSUB:
      _Pragma("GCC ivdep") for (int64_t i = b; i < e; i++) o[i] = (float)(s - (double)x[i]);
      break;
    case SC_RDIV:
      _Pragma("GCC ivdep") for (int64_t i = b; i < e; i++) o[i] = (float)(s / (double)x[i]);
      break;
    default:
      if (s == 2.0) {
        _Pragma("GCC ivdep") for (int64_t i = b; i < e; i++) {
          double v = x[i];
          o[i] = (float)(v * v);
        }
      } else if (s == 1.0) {
        _Pragma("GCC ivdep") for (int64_t i = b; i < e; i++) o[i] = x[i];
      } else {
        for (int64_t i = b; i < e; i++) o[i] = (float)pow((double)x[i], s);
      }
      break;
  }
}

void k_scalar(int op, float *out, const float *x, double s, int64_t n) {
  ew_ctx c = {.op = op, .out = out, .x = x, .s = s};
  pool_for(scalar_range, &c, n, op == SC_POW && s != 2.0 && s != 1.0 ? 8 : 1);
}

/* ---------- sum / max over the middle axis ---------- */

/* Columns per item when summing over rows (inner > 1): 64 keeps the double accumulators in
 * registers and gives a (768, 128) bias gradient 2 items for the pool. */
#define RED_BLOCK 64

typedef struct {
  float *out;
  int32_t *argmax;
  const float *x;
  int64_t outer, dim, inner, nblocks;
} red_ctx;

/* Items are (outer, block of <= RED_BLOCK inner positions), or whole rows when inner == 1. */
HOT static void sum_range(void *p, int64_t b, int64_t e, int tid) {
  (void)tid;
  red_ctx *c = p;
  if (c->inner == 1) {
    for (int64_t o = b; o < e; o++) c->out[o] = (float)row_sum(c->x + o * c->dim, c->dim);
    return;
  }
  double acc[RED_BLOCK];
  for (int64_t it = b; it < e; it++) {
    int64_t o = it / c->nblocks, i0 = (it % c->nblocks) * RED_BLOCK;
    int64_t w = c->inner - i0 < RED_BLOCK ? c->inner - i0 : RED_BLOCK;
    for (int64_t i = 0; i < w; i++) acc[i] = 0;
    for (int64_t d = 0; d < c->dim; d++) {
      const float *xr = c->x + (o * c->dim + d) * c->inner + i0;
      for (int64_t i = 0; i < w; i++) acc[i] += xr[i];
    }
    for (int64_t i = 0; i < w; i++) c->out[o * c->inner + i0 + i] = (float)acc[i];
  }
}

void k_sum(float *out, const float *x, int64_t outer, int64_t dim, int64_t inner) {
  if (inner == 1) {
    red_ctx c = {.out = out, .x = x, .outer = outer, .dim = dim, .inner = 1};
    pool_for(sum_range, &c, outer, dim);
    return;
  }
  int64_t nb = (inner + RED_BLOCK - 1) / RED_BLOCK;
  red_ctx c = {.out = out, .x = x, .outer = outer, .dim = dim, .inner = inner, .nblocks = nb};
  pool_for(sum_range, &c, outer * nb, dim * (inner < RED_BLOCK ? inner : RED_BLOCK));
}

/* ---------- sum of squares (gradient clipping) ---------- */

/* Fixed blocks, summed in block order: the result does not depend on the thread count. */
#define SQ_BLOCK 16384

typedef struct {
  const float *x;
  int64_t n;
  double *partial;
} sq_ctx;

HOT static void sum_sq_range(void *p, int64_t b, int64_t e, int tid) {
  (void)tid;
  sq_ctx *c = p;
  for (int64_t blk = b; blk < e; blk++) {
    const float *x = c->x + blk * SQ_BLOCK;
    int64_t n = c->n - blk * SQ_BLOCK < SQ_BLOCK ? c->n - blk * SQ_BLOCK : SQ_BLOCK;
    double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
      for (int j = 0; j < 8; j++) s[j] += (double)x[i + j] * x[i + j];
    for (int j = 0; i + j < n; j++) s[j] += (double)x[i + j] * x[i + j];
    c->partial[blk] = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  }
}

double k_sum_squares(const float *x, int64_t n) {
  if (n <= 0) return 0;
  int64_t nb = (n + SQ_BLOCK - 1) / SQ_BLOCK;
  double one, *partial = nb == 1 ? &one : malloc((size_t)nb * sizeof(double));
  if (!partial) return NAN;
  sq_ctx c = {x, n, partial};
  pool_for(sum_sq_range, &c, nb, SQ_BLOCK);
  double t = 0;
  for (int64_t i = 0; i < nb; i++) t += partial[i];
  if (partial != &one) free(partial);
  return t;
}

static void max_range(void *p, int64_t b, int64_t e, int tid) {
  (void)tid;
  red_ctx *c = p;
  if (c->inner == 1) { /* rows: a vectorized max and NaN test, then one scan for the index */
    for (int64_t it = b; it < e; it++) {
      const float *xr = c->x + it * c->dim;
      int nan = 0;
      for (int64_t d = 0; d < c->dim; d++) nan |= xr[d] != xr[d];
      const float m = nan ? NAN : vmax(xr, c->dim); /* vmax skips NaN */
      int64_t d = 0;
      while (d + 1 < c->dim && !(nan ? xr[d] != xr[d] : xr[d] == m)) d++;
      c->out[it] = m;
      c->argmax[it] = (int32_t)d; /* the first maximum, or the first NaN */
    }
    return;
  }
  for (int64_t it = b; it < e; it++) {
    int64_t o = it / c->inner, i = it % c->inner;
    const float *xr = c->x + o * c->dim * c->inner + i;
    float m = -INFINITY;
    int32_t am = 0;
    for (int64_t d = 0; d < c->dim; d++) {
      float v = xr[d * c->inner];
      if (v > m || isnan(v)) {
        m = v;
        am = (int32_t)d;
        if (isnan(v)) break;
      }
    }
    c->out[it] = m;
    c->argmax[it] = am;
  }
}

void k_max(float *out, int32_t *argmax, const float *x, int64_t outer, int64_t dim,
           int64_t inner) {
  red_ctx c = {.out = out, .argmax = argmax, .x = x, .outer = outer, .dim = dim, .inner = inner};
  pool_for(max_range, &c, outer * inner, dim);
}

/* ---------- softmax family ---------- */

typedef struct {
  float *out;
  const float *x, *dy, *y;
  float *lse;
  const int32_t *targets;
  const float *weight, *bias;
  float *mean, *rstd, *dweight, *dbias;
  int64_t rows, cols, ignore;
  double eps, ls;
  int accumulate;
  const float *shift; /* expShift: one per row */
  float *dshift;
  float scale;
} row_ctx;

/* In float (vmath.h's vectorized reductions): the softmax of attention runs this per row. */
/* Softmax of one row (out may be x); returns the row's log-sum-exp, max + log(sum exp(x -
 * max)): -Infinity for a row of -Infinity (weights 0), NaN when a NaN is there (weights NaN). */
HOT float k_softmax_row_lse(float *out, const float *x, int64_t cols) {
  float mx = vmax(x, cols);
  if (mx == -INFINITY) {
    /* Every entry is -inf or NaN (vmax skips NaN): a masked row unless a NaN is there. */
    float fill = 0.0f;
    for (int64_t j = 0; j < cols; j++)
      if (x[j] != x[j]) fill = NAN;
    for (int64_t j = 0; j < cols; j++) out[j] = fill;
    return fill == 0.0f ? -INFINITY : NAN;
  }
  const float sum = vexp_sum(out, x, cols, mx), inv = 1.0f / sum;
  _Pragma("GCC ivdep") for (int64_t j = 0; j < cols; j++) out[j] *= inv;
  return mx + logf(sum);
}

HOT void k_softmax_row(float *out, const float *x, int64_t cols) {
  (void)k_softmax_row_lse(out, x, cols);
}

/* The softmax family, one row r of c each (row length C = c->cols), run over the pool by
 * run_rows. */
typedef void (*row_fn)(const row_ctx *c, int64_t r, int64_t C);
typedef struct {
  row_ctx c;
  row_fn fn;
} rows_job;

static void rows_range(void *p, int64_t b, int64_t e, int tid) {
  (void)tid;
  const rows_job *j = p;
  for (int64_t r = b; r < e; r++) j->fn(&j->c, r, j->c.cols);
}

/* Runs fn on every row of c; `cost` per element decides whether the pool splits it. */
static void run_rows(row_ctx c, row_fn fn, int64_t cost) {
  rows_job j = {c, fn};
  pool_for(rows_range, &j, c.rows, c.cols * cost);
}

static void softmax_r(const row_ctx *c, int64_t r, int64_t C) {
  k_softmax_row(c->out + r * C, c->x + r * C, C);
}

HOT static void softmax_bwd_r(const row_ctx *c, int64_t r, int64_t C) {
  float *dx = c->out + r * C;
  const float *dy = c->dy + r * C, *y = c->y + r * C;
  float dot = vdot(dy, y, C);
  _Pragma("GCC ivdep") for (int64_t j = 0; j < C; j++) dx[j] += y[j] * (dy[j] - dot);
}

static void log_softmax_r(const row_ctx *c, int64_t r, int64_t C) {
  const float *x = c->x + r * C;
  float *o = c->out + r * C;
  float mx = vmax(x, C);
  double lse = mx + log(row_sum_exp(NULL, x, C, mx));
  for (int64_t j = 0; j < C; j++) o[j] = (float)(x[j] - lse);
}

static void log_softmax_bwd_r(const row_ctx *c, int64_t r, int64_t C) {
  float *dx = c->out + r * C;
  const float *dy = c->dy + r * C, *y = c->y + r * C;
  double s = row_sum(dy, C);
  for (int64_t j = 0; j < C; j++) dx[j] = (float)(dx[j] + (dy[j] - (double)vexpf(y[j]) * s));
}

void k_softmax(float *out, const float *x, int64_t rows, int64_t cols) {
  run_rows((row_ctx){.out = out, .x = x, .rows = rows, .cols = cols}, softmax_r, 8);
}

void k_softmax_backward(float *dx, const float *dy, const float *y, int64_t rows, int64_t cols) {
  run_rows((row_ctx){.out = dx, .dy = dy, .y = y, .rows = rows, .cols = cols}, softmax_bwd_r, 2);
}

void k_log_softmax(float *out, const float *x, int64_t rows, int64_t cols) {
  run_rows((row_ctx){.out = out, .x = x, .rows = rows, .cols = cols}, log_softmax_r, 8);
}

void k_log_softmax_backward(float *dx, const float *dy, const float *y, int64_t rows,
                            int64_t cols) {
  run_rows((row_ctx){.out = dx, .dy = dy, .y = y, .rows = rows, .cols = cols}, log_softmax_bwd_r,
           8);
}

/* ---------- expShift: FAVOR+'s positive random features in one pass ---------- */

/* out[r, j] = scale (exp(x[r, j] - shift[r]) + eps) (Choromanski et al. 2021, Lemma 1 with
 * performer-pytorch's stabilizer folded into shift). */
HOT static void exp_shift_r(const row_ctx *c, int64_t r, int64_t C) {
  const float *x = c->x + r * C;
  float *o = c->out + r * C;
  const float s = c->shift[r], k = c->scale, ke = c->scale * (float)c->eps;
  _Pragma("GCC ivdep") for (int64_t j = 0; j < C; j++) o[j] = k * vexpf(x[j] - s) + ke;
}

/* g = dy (y - scale eps) (the exponential's own derivative): dx += g, dshift[r] -= sum g. */
HOT static void exp_shift_bwd_r(const row_ctx *c, int64_t r, int64_t C) {
  const float *dy = c->dy + r * C, *y = c->y + r * C;
  const float ke = c->scale * (float)c->eps;
  float *dx = c->out ? c->out + r * C : NULL;
  float sum = 0.0f;
  if (dx) {
    _Pragma("GCC ivdep") for (int64_t j = 0; j < C; j++) {
      const float g = dy[j] * (y[j] - ke);
      dx[j] += g;
      sum += g;
    }
  } else {
    for (int64_t j = 0; j < C; j++) sum += dy[j] * (y[j] - ke);
  }
  if (c->dshift) c->dshift[r] -= sum;
}

void k_exp_shift(float *out, const float *x, const float *shift, int64_t rows, int64_t cols,
                 float scale, float eps) {
  run_rows((row_ctx){.out = out, .x = x, .shift = shift, .rows = rows, .cols = cols,
                     .scale = scale, .eps = eps},
           exp_shift_r, 4);
}

void k_exp_shift_backward(float *dx, float *dshift, const float *dy, const float *y,
                          int64_t rows, int64_t cols, float scale, float eps) {
  run_rows((row_ctx){.out = dx, .dshift = dshift, .dy = dy, .y = y, .rows = rows, .cols = cols,
                     .scale = scale, .eps = eps},
           exp_shift_bwd_r, 2);
}

/* ---------- layer norm ---------- */

/* s1 = sum dn, s2 = sum dn * xhat with dn = dy * w (or dy), xhat = (x - m) * rs, in float
 * with 16 accumulators each (as vmath.h's reductions). */
VINLINE void ln_bwd_sums(const float *x, const float *dy, const float *w, int64_t C, float m,
                         float rs, float *s1o, float *s2o) {
  float a[VACC] = {0}, b[VACC] = {0};
  int64_t i = 0;
  for (; i + VACC <= C; i += VACC)
    for (int j = 0; j < VACC; j++) {
      float dn = w ? dy[i + j] * w[i + j] : dy[i + j];
      a[j] += dn;
      b[j] += dn * ((x[i + j] - m) * rs);
    }
  for (int j = 0; i + j < C; j++) {
    float dn = w ? dy[i + j] * w[i + j] : dy[i + j];
    a[j] += dn;
    b[j] += dn * ((x[i + j] - m) * rs);
  }
  *s1o = vacc_total(a);
  *s2o = vacc_total(b);
}

HOT static void ln_fwd_range(void *p, int64_t b, int64_t e, int tid) {
  (void)tid;
  row_ctx *c = p;
  int64_t C = c->cols;
  const float *w = c->weight, *bi = c->bias;
  for (int64_t n = b; n < e; n++) {
    const float *x = c->x + n * C;
    float *o = c->out + n * C;
    float m = vsum(x, C) / (float)C;
    float v = vsum_sq_dev(x, C, m) / (float)C;
    float rs = (float)(1.0 / sqrt((double)v + c->eps));
    if (w && bi)
      _Pragma("GCC ivdep") for (int64_t i = 0; i < C; i++) o[i] = (x[i] - m) * rs * w[i] + bi[i];
    else if (w)
      _Pragma("GCC ivdep") for (int64_t i = 0; i < C; i++) o[i] = (x[i] - m) * rs * w[i];
    else if (bi)
      _Pragma("GCC ivdep") for (int64_t i = 0; i < C; i++) o[i] = (x[i] - m) * rs + bi[i];
    else
      _Pragma("GCC ivdep") for (int64_t i = 0; i < C; i++) o[i] = (x[i] - m) * rs;
    c->mean[n] = m;
    c->rstd[n] = rs;
  }
}

void k_layer_norm_forward(float *out, float *mean, float *rstd, const float *x,
                          const float *weight, const float *bias, int64_t N, int64_t C,
                          double eps) {
  row_ctx c = {.out = out, .mean = mean, .rstd = rstd, .x = x, .weight = weight, .bias = bias,
               .rows = N, .cols = C, .eps = eps};
  pool_for(ln_fwd_range, &c, N, C * 4);
}

/* Phase 1, over rows: dx. */
HOT static void ln_bwd_dx_range(void *p, int64_t b, int64_t e, int tid) {
  (void)tid;
  row_ctx *c = p;
  int64_t C = c->cols;
  const float *w = c->weight;
  for (int64_t n = b; n < e; n++) {
    const float *x = c->x + n * C, *dy = c->dy + n * C;
    float *dx = c->out + n * C;
    const float m = c->mean[n], rs = c->rstd[n];
    float s1, s2;
    ln_bwd_sums(x, dy, w, C, m, rs, &s1, &s2);
    s1 /= (float)C;
    s2 /= (float)C;
    /* Not keep * dx: a fresh (overwritten) dx may hold NaN bits. */
    if (c->accumulate)
      _Pragma("GCC ivdep") for (int64_t i = 0; i < C; i++) {
        float dn = w ? dy[i] * w[i] : dy[i];
        dx[i] += rs * (dn - s1 - (x[i] - m) * rs * s2);
      }
    else
      _Pragma("GCC ivdep") for (int64_t i = 0; i < C; i++) {
        float dn = w ? dy[i] * w[i] : dy[i];
        dx[i] = rs * (dn - s1 - (x[i] - m) * rs * s2);
      }
  }
}

#define LN_COLS 64

/* Phase 2, over blocks of LN_COLS columns: dweight, dbias (all rows, in row order). */
HOT static void ln_bwd_dw_range(void *p, int64_t b, int64_t e, int tid) {
  (void)tid;
  row_ctx *c = p;
  int64_t C = c->cols;
  float aw[LN_COLS], ab[LN_COLS];
  for (int64_t blk = b; blk < e; blk++) {
    int64_t c0 = blk * LN_COLS, w = C - c0 < LN_COLS ? C - c0 : LN_COLS;
    for (int64_t i = 0; i < w; i++) aw[i] = ab[i] = 0;
    for (int64_t n = 0; n < c->rows; n++) {
      const float *x = c->x + n * C + c0, *dy = c->dy + n * C + c0;
      const float m = c->mean[n], rs = c->rstd[n];
      _Pragma("GCC ivdep") for (int64_t i = 0; i < w; i++) {
        aw[i] += dy[i] * ((x[i] - m) * rs);
        ab[i] += dy[i];
      }
    }
    if (c->dweight)
      for (int64_t i = 0; i < w; i++) c->dweight[c0 + i] += aw[i];
    if (c->dbias)
      for (int64_t i = 0; i < w; i++) c->dbias[c0 + i] += ab[i];
  }
}

void k_layer_norm_backward(float *dx, float *dweight, float *dbias, const float *dy,
                           const float *x, const float *weight, const float *mean,
                           const float *rstd, int64_t N, int64_t C, int accumulate) {
  row_ctx c = {.accumulate = accumulate, .out = dx, .dweight = dweight, .dbias = dbias, .dy = dy, .x = x,
               .weight = weight, .mean = (float *)mean, .rstd = (float *)rstd, .rows = N,
               .cols = C};
  pool_for(ln_bwd_dx_range, &c, N, C * 4);
  if (dweight || dbias) {
    int64_t nb = (C + LN_COLS - 1) / LN_COLS;
    pool_run(ln_bwd_dw_range, &c, nb, nb >= 2 && N * C >= POOL_MIN_WORK);
  }
}

/* ---------- embedding ---------- */

typedef struct {
  float *out;
  const float *in;
  const int32_t *ids;
  int64_t N, C;
} emb_ctx;

static void emb_fwd_range(void *p, int64_t b, int64_t e, int tid) {
  (void)tid;
  emb_ctx *c = p;
  for (int64_t n = b; n < e; n++)
    memcpy(c->out + n * c->C, c->in + (int64_t)c->ids[n] * c->C, (size_t)c->C * sizeof(float));
}

void k_embedding_forward(float *out, const float *weight, const int32_t *ids, int64_t N,
                         int64_t C) {
  emb_ctx c = {.out = out, .in = weight, .ids = ids, .N = N, .C = C};
  pool_for(emb_fwd_range, &c, N, C);
}

#define EMB_COLS 64

/* Over column blocks, so repeated ids are summed in row order by one thread. */
static void emb_bwd_range(void *p, int64_t b, int64_t e, int tid) {
  (void)tid;
  emb_ctx *c = p;
  int64_t c0 = b * EMB_COLS, c1 = e * EMB_COLS < c->C ? e * EMB_COLS : c->C;
  for (int64_t n = 0; n < c->N; n++) {
    float *dw = c->out + (int64_t)c->ids[n] * c->C;
    const float *dy = c->in + n * c->C;
    for (int64_t i = c0; i < c1; i++) dw[i] += dy[i];
  }
}

void k_embedding_backward(float *dweight, const float *dy, const int32_t *ids, int64_t N,
                          int64_t C) {
  emb_ctx c = {.out = dweight, .in = dy, .ids = ids, .N = N, .C = C};
  int64_t nb = (C + EMB_COLS - 1) / EMB_COLS;
  pool_run(emb_bwd_range, &c, nb, nb >= 2 && N * C >= POOL_MIN_WORK);
}

/* ---------- cross-entropy ---------- */

static void ce_fwd_range(void *p, int64_t b, int64_t e, int tid) {
  (void)tid;
  row_ctx *c = p;
  int64_t V = c->cols;
  for (int64_t n = b; n < e; n++) {
    const float *x = c->x + n * V;
    float mx = vmax(x, V);
    double s = row_sum_exp(NULL, x, V, mx);
    double sumLogits = row_sum(x, V);
    double l = mx + log(s);
    c->lse[n] = (float)l;
    int64_t t = c->targets[n];
    if (t == c->ignore) {
      c->out[n] = 0;
      continue;
    }
    double xt = (t >= 0 && t < V) ? (double)x[t] : NAN; /* js reads undefined -> NaN */
    double nll = l - xt;
    double smooth = l - sumLogits / (double)V;
    c->out[n] = (float)((1 - c->ls) * nll + c->ls * smooth);
  }
}

void k_cross_entropy_forward(float *losses, float *lse, const float *logits,
                             const int32_t *targets, int64_t N, int64_t V, int64_t ignore,
                             double ls) {
  row_ctx c = {.out = losses, .lse = lse, .x = logits, .targets = targets, .rows = N, .cols = V,
               .ignore = ignore, .ls = ls};
  pool_for(ce_fwd_range, &c, N, V * 8);
}

/* dl[v] = (float)(dl[v] + g (e[v] - u)) in double, vectorizable. */
HOT static void ce_bwd_chunk(float *dl, const float *e, int64_t w, double g, double u, int acc) {
  if (acc) {
    _Pragma("GCC ivdep") for (int64_t v = 0; v < w; v++)
      dl[v] = (float)(dl[v] + g * ((double)e[v] - u));
  } else {
    _Pragma("GCC ivdep") for (int64_t v = 0; v < w; v++) dl[v] = (float)(g * ((double)e[v] - u));
  }
}

static void ce_bwd_range(void *p, int64_t b, int64_t e_, int tid) {
  (void)tid;
  row_ctx *c = p;
  int64_t V = c->cols;
  double u = c->ls / (double)V, hot = 1 - c->ls;
  float e[256];
  for (int64_t n = b; n < e_; n++) {
    int64_t t = c->targets[n];
    float *dl = c->out + n * V;
    if (t == c->ignore) {
      if (!c->accumulate) memset(dl, 0, (size_t)V * sizeof(float));
      continue;
    }
    const float *x = c->x + n * V;
    double g = c->dy[n];
    float l = c->lse[n];
    /* dl[v] += g (p_v - u) in vectorized chunks, then the target's -hot term: the target
     * element gets (float)(dl + g (p - u - hot)) from its value before the row, exactly
     * as one pass computing every element with (v == t ? hot : 0) would. */
    float dl_t = (t >= 0 && t < V && c->accumulate) ? dl[t] : 0.0f;
    for (int64_t v0 = 0; v0 < V; v0 += 256) {
      int64_t w = V - v0 < 256 ? V - v0 : 256;
      vexp_shift(e, x + v0, w, l);
      ce_bwd_chunk(dl + v0, e, w, g, u, c->accumulate);
    }
    if (t >= 0 && t < V) dl[t] = (float)(dl_t + g * ((double)vexpf(x[t] - l) - u - hot));
  }
}

void k_cross_entropy_backward(float *dlogits, const float *dlosses, const float *logits,
                              const float *lse, const int32_t *targets, int64_t N, int64_t V,
                              int64_t ignore, double ls, int accumulate) {
  row_ctx c = {.out = dlogits, .dy = dlosses, .x = logits, .lse = (float *)lse,
               .targets = targets, .rows = N, .cols = V, .ignore = ignore, .ls = ls,
               .accumulate = accumulate};
  pool_for(ce_bwd_range, &c, N, V * 8);
}

/* ---------- AdamW (double arithmetic, like js) ---------- */

typedef struct {
  float *p, *m, *v;
  const float *g;
  double lr, b1, b2, eps, wd, stepSize, bc2Sqrt;
} adam_ctx;

/* Elements [b, e) of one tensor (c's hyperparameters, the given buffers). */
HOT static void adamw_span(const adam_ctx *c, float *P, const float *G, float *M, float *Vv,
                           int64_t b, int64_t e) {
  const double b1 = c->b1, b2 = c->b2, eps = c->eps, decay = 1 - c->lr * c->wd;
  const double ss = c->stepSize, bc2s = c->bc2Sqrt;
  const int wd = c->wd != 0;
  for (int64_t i = b; i < e; i++) {
    double g = G[i];
    float p = P[i];
    if (wd) p = (float)(p * decay);
    float m = (float)(b1 * M[i] + (1 - b1) * g);
    float v = (float)(b2 * Vv[i] + (1 - b2) * g * g);
    double denom = sqrt((double)v) / bc2s + eps;
    M[i] = m;
    Vv[i] = v;
    P[i] = (float)(p - (ss * m) / denom);
  }
}

static void adamw_range(void *pp, int64_t b, int64_t e, int tid) {
  (void)tid;
  adam_ctx *c = pp;
  adamw_span(c, c->p, c->g, c->m, c->v, b, e);
}

static adam_ctx adam_setup(double lr, double b1, double b2, double eps, double wd, double step) {
  double bc1 = 1 - pow(b1, step), bc2 = 1 - pow(b2, step);
  adam_ctx c = {.lr = lr, .b1 = b1, .b2 = b2, .eps = eps, .wd = wd, .stepSize = lr / bc1,
                .bc2Sqrt = sqrt(bc2)};
  return c;
}

void k_adamw(float *p, const float *g, float *m, float *v, int64_t n, double lr, double b1,
             double b2, double eps, double wd, double step) {
  adam_ctx c = adam_setup(lr, b1, b2, eps, wd, step);
  c.p = p;
  c.g = g;
  c.m = m;
  c.v = v;
  pool_for(adamw_range, &c, n, 4);
}

/* Multi-tensor AdamW: the tensors are one index space (start[i] = elements before tensor i),
 * cut in blocks of ADAM_BLOCK elements that the pool runs; a block may span tensors. */
#define ADAM_BLOCK 16384

typedef struct {
  adam_ctx c;
  float *const *p, *const *m, *const *v;
  const float *const *g;
  const int64_t *start; /* count + 1 entries */
  int count;
} adam_multi_ctx;

static void adamw_multi_range(void *pp, int64_t b, int64_t e, int tid) {
  (void)tid;
  const adam_multi_ctx *c = pp;
  int64_t lo = b * ADAM_BLOCK, hi = e * ADAM_BLOCK;
  if (hi > c->start[c->count]) hi = c->start[c->count];
  /* The tensor holding element lo: the last i with start[i] <= lo. */
  int l = 0, r = c->count - 1;
  while (l < r) {
    int mid = (l + r + 1) / 2;
    if (c->start[mid] <= lo) l = mid;
    else r = mid - 1;
  }
  for (int i = l; i < c->count && c->start[i] < hi; i++) {
    int64_t s = c->start[i], n = c->start[i + 1] - s;
    int64_t b0 = lo > s ? lo - s : 0, e0 = hi - s < n ? hi - s : n;
    if (b0 < e0) adamw_span(&c->c, c->p[i], c->g[i], c->m[i], c->v[i], b0, e0);
  }
}

void k_adamw_multi(float *const *p, const float *const *g, float *const *m, float *const *v,
                   const int64_t *start, int count, double lr, double b1, double b2,
                   double eps, double wd, double step) {
  if (count <= 0 || start[count] == 0) return;
  adam_multi_ctx c = {adam_setup(lr, b1, b2, eps, wd, step), p, m, v, g, start, count};
  int64_t blocks = (start[count] + ADAM_BLOCK - 1) / ADAM_BLOCK;
  pool_for(adamw_multi_range, &c, blocks, ADAM_BLOCK * 4);
}

/* ---------- dropout mask ---------- */

static inline uint32_t fmix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  return h ^ (h >> 16);
}

typedef struct {
  float *out;
  double threshold;
  float keep;
  uint32_t key0, key1;
} drop_ctx;

/* u_i = fmix32(fmix32(i + key0) ^ key1) (counter-based, vectorizes); see src/backend/types.ts. */
HOT static void drop_range(void *p, int64_t b, int64_t e, int tid) {
  (void)tid;
  const drop_ctx *c = p;
  const uint32_t k0 = c->key0, k1 = c->key1;
  const float keep = c->keep;
  /* u < threshold <=> u < ceil(threshold) for integer u; thr in [0, 2^32]. */
  const double tc = ceil(c->threshold);
  const uint64_t thr = tc <= 0 ? 0 : tc >= 4294967296.0 ? 4294967296ull : (uint64_t)tc;
  float *o = c->out;
  for (int64_t i = b; i < e; i++) {
    const uint32_t u = fmix32(fmix32((uint32_t)i + k0) ^ k1);
    o[i] = (uint64_t)u < thr ? 0.0f : keep;
  }
}

void k_dropout_mask(float *out, int64_t n, double threshold, float keep, uint32_t key0,
                    uint32_t key1) {
  drop_ctx c = {out, threshold, keep, key0, key1};
  pool_for(drop_range, &c, n, 4);
}
