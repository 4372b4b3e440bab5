/*
 * Reformer's LSH buckets (Kitaev et al. 2020, Sec. 2: h(x) = argmax([xR; -xR])) from the
 * rotated rows, for src/attention/lsh.ts; src/backend/js-gathered.ts's lshBuckets is the
 * specification. Threads (the project's pool) split the (bh, l) rows.
 */
#include <stdint.h>

#include "args.h"
#include "kernels.h"
#include "pool.h"

typedef struct {
  int32_t *out;
  const float *proj;
  int64_t L, R, half;
} lsh_ctx;

/* Rows [r0, r1) of (bh, l): each round's argmax over [p; -p] (src/backend/js-gathered.ts's
 * rule), by selects the compiler turns into blends instead of a JavaScript loop's
 * mispredicted branches. */
HOT static void lsh_range(void *p, int64_t r0, int64_t r1, int tid) {
  (void)tid;
  const lsh_ctx *c = p;
  const int64_t L = c->L, R = c->R, half = c->half;
  for (int64_t row = r0; row < r1; row++) {
    const int64_t bh = row / L, l = row % L;
    for (int64_t r = 0; r < R; r++) {
      const float *x = c->proj + (row * R + r) * half;
      float hv = x[0], lv = x[0];
      int32_t hi = 0, lo = 0;
      for (int32_t j = 1; j < half; j++) {
        const float v = x[j];
        hi = v > hv ? j : hi;
        hv = v > hv ? v : hv;
        lo = v < lv ? j : lo;
        lv = v < lv ? v : lv;
      }
      c->out[(bh * R + r) * L + l] = hv >= -lv ? hi : (int32_t)half + lo;
    }
  }
}

/* lshBuckets(out, proj, BH, L, R, half) */
FN(js_lsh_buckets) {
  int32_t *out;
  float *proj;
  size_t out_n, proj_n;
  int64_t BH, L, R, half;
  ARGS("lshBuckets", "ifzzzz", "out proj BH L R half", &out, &out_n, &proj, &proj_n, &BH, &L, &R,
       &half);
  if (BH < 0 || L < 0 || R < 0 || half < 1 || half > INT32_MAX / 2 ||
      (double)BH * (double)L * (double)R * (double)half > 9e15)
    fail(&a, "ERR_OUT_OF_RANGE", "BH, L, R must be >= 0 and half >= 1");
  DONE();
  need(&a, out_n, BH * R * L, "out");
  need(&a, proj_n, BH * L * R * half, "proj");
  DONE();
  lsh_ctx c = {.out = out, .proj = proj, .L = L, .R = R, .half = half};
  pool_for(lsh_range, &c, BH * L, 4 * R * half);
  return NULL;
}
