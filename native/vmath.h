/*
 * vexpf: a branch-free float exp that compilers auto-vectorize (glibc's expf is a scalar
 * call). Cephes expf: round-to-nearest range reduction x = n ln2 + r (ln2 split in two),
 * degree-7 polynomial, scale by 2^n through the exponent bits. Max relative error ~1.5 ulp
 * (checked against double exp). exp(-inf) = 0 exactly (masked softmax entries stay 0),
 * exp(x) = 0 for x < -86.5 (instead of a value < 2.7e-38), inf for x > 88.7, NaN -> NaN.
 */
#ifndef TRANSFORMER_VMATH_H
#define TRANSFORMER_VMATH_H

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

static inline __attribute__((always_inline)) float vexpf(float x) {
  const float lo = -86.5f, hi = 88.7f;
  float xc = x < lo ? lo : x;
  xc = xc > hi ? hi : xc;
  xc = x != x ? 0.0f : xc;
  float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* round(x / ln2) */
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  float y = p * (r * r) + r + 1.0f;
  int32_t bits = ((int32_t)n + 126) << 23; /* 2^(n-1), n in [-125, 128] */
  float s;
  memcpy(&s, &bits, sizeof s);
  float res = y * s * 2.0f;
  res = x < lo ? 0.0f : res;
  res = x > hi ? INFINITY : res;
  return x != x ? x : res;
}

/*
 * vtanhf: Cephes tanhf, branch-free: odd polynomial for |x| < 0.625, else
 * sign(x) (1 - 2 / (exp(2|x|) + 1)). Max relative error ~2 ulp; NaN -> NaN.
 */
static inline __attribute__((always_inline)) float vtanhf(float x) {
  float ax = x < 0 ? -x : x;
  float z = x * x;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  float small = x + x * z * p;
  float big = 1.0f - 2.0f / (vexpf(2.0f * ax) + 1.0f);
  big = x < 0 ? -big : big;
  return ax < 0.625f ? small : big;
}

/*
 * verff_fast: erf(x) as Eigen's generic_fast_erf_float: x clamped to [-4, 4] (erf is +-1 in
 * float beyond), an odd degree-13 over an even degree-8 polynomial in x, one division, no
 * exp; absolute error a few 1e-7. For GELU's forward, 0.5 x (1 + erf(x / sqrt 2)): 4.5x
 * faster than the Numerical Recipes erfc with vexpf it replaces (js's formula; 0.21 vs
 * 0.95 ns an element on one AVX-512 core), absolute error
 * <= 1.5e-6 over [-8, 8] (float rounding of x itself at |x| ~ 6); like PyTorch's own
 * 1 + erf (its erf is Abramowitz-Stegun 7.1.26, absolute error 1.5e-7) the relative error
 * grows where GELU is below ~1e-5 (x < -4.3), an absolute error under 1e-6 there. NaN ->
 * NaN.
 */
static inline __attribute__((always_inline)) float verff_fast(float x) {
  float c = x < -4.0f ? -4.0f : (x > 4.0f ? 4.0f : x);
  c = x != x ? x : c;
  float x2 = c * c;
  float p = -2.72614225801306e-10f;
  p = p * x2 + 2.77068142495902e-08f;
  p = p * x2 - 2.10102402082508e-06f;
  p = p * x2 - 5.69250639462346e-05f;
  p = p * x2 - 7.34990630326855e-04f;
  p = p * x2 - 2.95459980854025e-03f;
  p = p * x2 - 1.60960333262415e-02f;
  float q = -1.45660718464996e-05f;
  q = q * x2 - 2.13374055278905e-04f;
  q = q * x2 - 1.68282697438203e-03f;
  q = q * x2 - 7.37332916720468e-03f;
  q = q * x2 - 1.42647390514189e-02f;
  return c * p / q;
}

/*
 * Float row reductions with 16 independent accumulators (one AVX-512 vector, two AVX2),
 * combined in a fixed tree: vectorized, and deterministic (the same order whatever thread
 * runs the row). The accumulators spread a sum over 16 partial sums, so for the row
 * lengths of a Transformer (<= a few thousand) the rounding error stays near float's
 * epsilon times log2(n / 16), like PyTorch's own vectorized CPU reductions.
 */
#define VACC 16
#define VINLINE static inline __attribute__((always_inline))

VINLINE float vacc_total(const float *s) {
  float t[8];
  for (int j = 0; j < 8; j++) t[j] = s[j] + s[j + 8];
  for (int j = 0; j < 4; j++) t[j] += t[j + 4];
  return (t[0] + t[2]) + (t[1] + t[3]);
}

/* sum_i x[i] */
VINLINE float vsum(const float *x, int64_t n) {
  float s[VACC] = {0};
  int64_t i = 0;
  for (; i + VACC <= n; i += VACC)
    for (int j = 0; j < VACC; j++) s[j] += x[i + j];
  for (int j = 0; i + j < n; j++) s[j] += x[i + j];
  return vacc_total(s);
}

/* sum_i x[i] y[i] */
VINLINE float vdot(const float *x, const float *y, int64_t n) {
  float s[VACC] = {0};
  int64_t i = 0;
  for (; i + VACC <= n; i += VACC)
    for (int j = 0; j < VACC; j++) s[j] += x[i + j] * y[i + j];
  for (int j = 0; i + j < n; j++) s[j] += x[i + j] * y[i + j];
  return vacc_total(s);
}

/* sum_i (x[i] - m)^2 */
VINLINE float vsum_sq_dev(const float *x, int64_t n, float m) {
  float s[VACC] = {0};
  int64_t i = 0;
  for (; i + VACC <= n; i += VACC)
    for (int j = 0; j < VACC; j++) {
      float d = x[i + j] - m;
      s[j] += d * d;
    }
  for (int j = 0; i + j < n; j++) {
    float d = x[i + j] - m;
    s[j] += d * d;
  }
  return vacc_total(s);
}

/* max_i x[i] over x[0 .. n), n a multiple of 16, with AVX-512: one 16-lane GCC vector with
 * the compare and select spelled out (vmax below). */
typedef float vmax_f32x16 __attribute__((vector_size(64)));
typedef int32_t vmax_i32x16 __attribute__((vector_size(64)));
static __attribute__((target("avx512f"), noinline, unused)) float vmax_avx512(const float *x,
                                                                             int64_t n) {
  vmax_f32x16 s;
  for (int j = 0; j < 16; j++) s[j] = -INFINITY;
  for (int64_t i = 0; i < n; i += 16) {
    vmax_f32x16 v;
    memcpy(&v, x + i, sizeof v);
    const vmax_i32x16 gt = v > s; /* all ones where v > s (never for a NaN) */
    s = (vmax_f32x16)(((vmax_i32x16)v & gt) | ((vmax_i32x16)s & ~gt));
  }
  float m = s[0];
  for (int j = 1; j < 16; j++) m = s[j] > m ? s[j] : m;
  return m;
}

/* max_i x[i] (-inf for n = 0; NaN entries are skipped, as by a > comparison). Long rows go
 * to vmax_avx512 where the CPU has AVX-512: written as 16 scalar `x > s ? x : s` lanes (not
 * IEEE max), GCC compiles this loop to scalar vmaxss even for AVX-512 (20% of the sparse
 * attention forward's softmax at T 8192), and a 16-lane vector type is lowered lane by lane
 * through memory for targets without 64-byte vectors (baseline and AVX2 code). */
VINLINE float vmax(const float *x, int64_t n) {
  float m = -INFINITY;
  int64_t i = 0;
  if (n >= 64 && __builtin_cpu_supports("avx512f")) {
    i = n & ~(int64_t)15;
    m = vmax_avx512(x, i);
  }
  float s[VACC];
  for (int j = 0; j < VACC; j++) s[j] = m;
  for (; i + VACC <= n; i += VACC)
    for (int j = 0; j < VACC; j++) s[j] = x[i + j] > s[j] ? x[i + j] : s[j];
  for (int j = 0; i + j < n; j++) s[j] = x[i + j] > s[j] ? x[i + j] : s[j];
  m = s[0];
  for (int j = 1; j < VACC; j++) m = s[j] > m ? s[j] : m;
  return m;
}

/* dst[i] = exp(x[i] - m) over [0, n) with AVX-512 (dst may be x; x <= m: a softmax row less
 * its max), returning their sum, added in vsum's order (lane j of one 16-lane vector sums
 * entries j mod 16, then vacc_total). vexpf's polynomial (Cephes expf) with 2^n applied by
 * vscalefps instead of the exponent bits, about half vexpf's instructions: below -86.5
 * (e^-86.5 is near float's smallest normal) the result is 0, as vexpf's, so masked keys
 * (-Infinity) get weight 0 and no denormal reaches the GEMMs; a NaN stays NaN. Maximum
 * relative error 8.4e-8 over [-88, 0], as vexpf's. */
static __attribute__((target("avx512f"), noinline, unused)) float
vexp_sum_avx512(float *dst, const float *x, int64_t n, float m) {
  const __m512 vm = _mm512_set1_ps(m), lo = _mm512_set1_ps(-86.5f);
  const __m512 log2e = _mm512_set1_ps(1.44269504088896341f);
  const __m512 c1 = _mm512_set1_ps(-0.693359375f), c2 = _mm512_set1_ps(2.12194440e-4f);
  const __m512 p0 = _mm512_set1_ps(1.9875691500e-4f), p1 = _mm512_set1_ps(1.3981999507e-3f);
  const __m512 p2 = _mm512_set1_ps(8.3334519073e-3f), p3 = _mm512_set1_ps(4.1665795894e-2f);
  const __m512 p4 = _mm512_set1_ps(1.6666665459e-1f), p5 = _mm512_set1_ps(5.0000001201e-1f);
  const __m512 one = _mm512_set1_ps(1.0f);
  __m512 acc = _mm512_setzero_ps();
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
    const __m512 t = _mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + i), vm);
    const __m512 tc = _mm512_max_ps(lo, t); /* NaN t stays NaN (max returns its 2nd operand) */
    const __m512 nn = _mm512_roundscale_ps(_mm512_mul_ps(tc, log2e),
                                           _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fmadd_ps(nn, c1, tc);
    r = _mm512_fmadd_ps(nn, c2, r);
    __m512 p = _mm512_fmadd_ps(p0, r, p1);
    p = _mm512_fmadd_ps(p, r, p2);
    p = _mm512_fmadd_ps(p, r, p3);
    p = _mm512_fmadd_ps(p, r, p4);
    p = _mm512_fmadd_ps(p, r, p5);
    const __m512 y = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), one);
    /* 0 below lo (and where masked off), else y 2^n; NaN lanes compare unordered: kept. */
    const __mmask16 keep = k & _mm512_cmp_ps_mask(t, lo, _CMP_NLT_UQ);
    const __m512 e = _mm512_maskz_mov_ps(keep, _mm512_scalef_ps(y, nn));
    _mm512_mask_storeu_ps(dst + i, k, e);
    acc = _mm512_add_ps(acc, e);
  }
  float s[VACC];
  _mm512_storeu_ps(s, acc);
  return vacc_total(s);
}

/* dst[i] = exp(x[i] - m) over [0, n) (dst may be x), returning their sum in vsum's order:
 * vexp_sum_avx512 where the CPU has AVX-512 and the row is long, else vexpf and vsum. */
VINLINE float vexp_sum(float *dst, const float *x, int64_t n, float m) {
  if (n >= 16 && __builtin_cpu_supports("avx512f")) return vexp_sum_avx512(dst, x, n, m);
  _Pragma("GCC ivdep") for (int64_t i = 0; i < n; i++) dst[i] = vexpf(x[i] - m);
  return vsum(dst, n);
}

#endif
