/*
 * Band blocks of the masked-block path (sparse_block.c): R consecutive query rows whose keys
 * are each one range of consecutive positions (a sliding window: local, strided's band,
 * Longformer's window rows), so their shared keys are one range too (spb_contiguous) and
 * every row one segment of it. Such a block reads its key and value rows where they lie
 * (spb_in_place) and, as a run does, softmaxes each row in place of its scores (forward) and
 * turns dP into dS in place (backward), with no copies through the rows' CSR entries.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kernels.h"
#include "sparse_attention.h"
#include "vmath.h"

/* A band block's softmax for head h (every row one segment, no unshared entries): in place
 * of the scores sc (R, U), each row's segment becomes P_drop and the rest of the row 0, and
 * the weights go to the row's CSR entries w (with dropout mask dm, per-key bias). */
HOT void spb_band_softmax(const sp_ctx *c, int64_t n, int64_t h, int64_t t0, int64_t R,
                                 int64_t U, const sp_block_scratch *b, float *sc, float *w,
                                 const float *dm, const float *bias) {
  for (int64_t r = 0; r < R; r++) {
    float *sr = sc + r * U;
    const int64_t e0 = c->rowPtr[t0 + r], len = c->rowPtr[t0 + r + 1] - e0;
    if (len == 0) {
      sp_put_lse(c, n, h, t0 + r, -INFINITY);
      memset(sr, 0, (size_t)U * sizeof(float));
      continue;
    }
    const int64_t p = b->segP[b->rowSeg[r]];
    float *x = sr + p;
    if (bias)
      for (int64_t j = 0; j < len; j++) x[j] += bias[c->cols[e0 + j]];
    sp_put_lse(c, n, h, t0 + r, sp_softmax_store(x, w + e0, len));
    if (dm)
      for (int64_t j = 0; j < len; j++) x[j] *= dm[e0 + j];
    memset(sr, 0, (size_t)p * sizeof(float));
    memset(x + len, 0, (size_t)(U - p - len) * sizeof(float));
  }
}

/* spb_bwd_rows for a band block (every row one segment, no unshared entries), head h: in
 * place in dp (R, U) = dout v^T, each row's segment becomes dS and the rest 0; pm gets
 * P_drop, 0 around the segment. */
HOT void spb_band_bwd_rows(const sp_ctx *c, int64_t n, int64_t h, int64_t t0, int64_t R,
                                  int64_t U, const sp_block_scratch *b, float *dp, float *pm) {
  const float *w = c->weights + (n * c->g.H + h) * c->nnz;
  const float *dm = c->drop ? c->drop + (n * c->g.H + h) * c->nnz : NULL;
  const float scale = c->g.scale;
  for (int64_t r = 0; r < R; r++) {
    float *dpr = dp + r * U, *pr = pm + r * U;
    const int64_t e0 = c->rowPtr[t0 + r], len = c->rowPtr[t0 + r + 1] - e0;
    const int64_t p = len > 0 ? b->segP[b->rowSeg[r]] : 0;
    float *d = dpr + p, *pp = pr + p;
    const float *wr = w + e0;
    if (dm)
      for (int64_t j = 0; j < len; j++) {
        d[j] *= dm[e0 + j];
        pp[j] = wr[j] * dm[e0 + j];
      }
    else {
      memcpy(pp, wr, (size_t)len * sizeof(float));
      wr = pp; /* the copy, in cache */
    }
    const float sum = len > 0 ? sp_delta(c, n, h, t0 + r, d, wr, len) : 0.0f;
    for (int64_t j = 0; j < len; j++) d[j] = wr[j] == 0.0f ? 0.0f : wr[j] * (d[j] - sum) * scale;
    memset(dpr, 0, (size_t)p * sizeof(float));
    memset(d + len, 0, (size_t)(U - p - len) * sizeof(float));
    memset(pr, 0, (size_t)p * sizeof(float));
    memset(pp + len, 0, (size_t)(U - p - len) * sizeof(float));
  }
}
