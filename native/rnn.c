/*
 * Fused gate math of one recurrent step (torch.nn.GRU / LSTM equations), forward and
 * backward; mirrors src/backend/js-rnn.ts (the specification). The projections gi = W_ih x
 * + b_ih and gh = W_hh h + b_hh are GEMMs elsewhere; these kernels replace the dozen
 * element-wise ops per step the autograd path would run. Rows split over the pool.
 * exp and tanh are vmath.h's vectorizable float versions (a few ulp from js's double).
 *
 * Layout: gi, gh (B, G*H) with the gates' blocks of H along each row, G = 3 (GRU: r, z, n)
 * or 4 (LSTM: i, f, g, o). GRU saved (B, 4H) = [r, z, n, gh_n]; LSTM saved (B, 5H) =
 * [i, f, g, o, tanh(c')]; LSTM out (B, 2H) = [h', c'].
 */
#include "kernels.h"

#include "pool.h"
#include "vmath.h"

typedef struct {
  float *out, *saved, *dgi, *dgh, *dprev;
  const float *gi, *gh, *prev, *dout, *csaved;
  int64_t H;
} rnn_ctx;

static inline __attribute__((always_inline)) float sigm(float x) { return 1.0f / (1.0f + vexpf(-x)); }

HOT static void gru_fwd_range(void *p, int64_t b0, int64_t b1, int tid) {
  (void)tid;
  rnn_ctx *c = p;
  const int64_t H = c->H;
  for (int64_t b = b0; b < b1; b++) {
    const float *gi = c->gi + b * 3 * H, *gh = c->gh + b * 3 * H, *h = c->prev + b * H;
    float *s = c->saved + b * 4 * H, *o = c->out + b * H;
    _Pragma("GCC ivdep") for (int64_t j = 0; j < H; j++) {
      float r = sigm(gi[j] + gh[j]);
      float z = sigm(gi[H + j] + gh[H + j]);
      float ghn = gh[2 * H + j];
      float n = vtanhf(gi[2 * H + j] + r * ghn);
      s[j] = r;
      s[H + j] = z;
      s[2 * H + j] = n;
      s[3 * H + j] = ghn;
      o[j] = (1.0f - z) * n + z * h[j];
    }
  }
}

HOT static void lstm_fwd_range(void *p, int64_t b0, int64_t b1, int tid) {
  (void)tid;
  rnn_ctx *c = p;
  const int64_t H = c->H;
  for (int64_t b = b0; b < b1; b++) {
    const float *gi = c->gi + b * 4 * H, *gh = c->gh + b * 4 * H, *cp = c->prev + b * H;
    float *s = c->saved + b * 5 * H, *o = c->out + b * 2 * H;
    _Pragma("GCC ivdep") for (int64_t j = 0; j < H; j++) {
      float i = sigm(gi[j] + gh[j]);
      float f = sigm(gi[H + j] + gh[H + j]);
      float g = vtanhf(gi[2 * H + j] + gh[2 * H + j]);
      float og = sigm(gi[3 * H + j] + gh[3 * H + j]);
      float cn = f * cp[j] + i * g;
      float tc = vtanhf(cn);
      s[j] = i;
      s[H + j] = f;
      s[2 * H + j] = g;
      s[3 * H + j] = og;
      s[4 * H + j] = tc;
      o[j] = og * tc;
      o[H + j] = cn;
    }
  }
}

void k_rnn_cell_forward(float *out, float *saved, const float *gi, const float *gh,
                        const float *prev, int64_t B, int64_t H, int lstm) {
  rnn_ctx c = {.out = out, .saved = saved, .gi = gi, .gh = gh, .prev = prev, .H = H};
  pool_for(lstm ? lstm_fwd_range : gru_fwd_range, &c, B, H * 32);
}

/* Accumulate v into gate k of row b of dgi and dgh (either may be null). */
#define PUT(k, v)                                  \
  do {                                             \
    float v_ = (v);                                \
    if (c->dgi) c->dgi[o + (k) * H + j] += v_;     \
    if (c->dgh) c->dgh[o + (k) * H + j] += v_;     \
  } while (0)

HOT static void gru_bwd_range(void *p, int64_t b0, int64_t b1, int tid) {
  (void)tid;
  rnn_ctx *c = p;
  const int64_t H = c->H;
  for (int64_t b = b0; b < b1; b++) {
    const float *s = c->csaved + b * 4 * H, *h = c->prev + b * H, *dh = c->dout + b * H;
    const int64_t o = b * 3 * H;
    for (int64_t j = 0; j < H; j++) {
      float r = s[j], z = s[H + j], n = s[2 * H + j], ghn = s[3 * H + j];
      float dan = dh[j] * (1.0f - z) * (1.0f - n * n);
      float daz = dh[j] * (h[j] - n) * z * (1.0f - z);
      float dar = dan * ghn * r * (1.0f - r);
      if (c->dprev) c->dprev[b * H + j] += dh[j] * z;
      PUT(0, dar);
      PUT(1, daz);
      if (c->dgi) c->dgi[o + 2 * H + j] += dan;
      if (c->dgh) c->dgh[o + 2 * H + j] += dan * r;
    }
  }
}

HOT static void lstm_bwd_range(void *p, int64_t b0, int64_t b1, int tid) {
  (void)tid;
  rnn_ctx *c = p;
  const int64_t H = c->H;
  for (int64_t b = b0; b < b1; b++) {
    const float *s = c->csaved + b * 5 * H, *cp = c->prev + b * H, *d = c->dout + b * 2 * H;
    const int64_t o = b * 4 * H;
    for (int64_t j = 0; j < H; j++) {
      float i = s[j], f = s[H + j], g = s[2 * H + j], og = s[3 * H + j], tc = s[4 * H + j];
      float dh = d[j];
      float dc = d[H + j] + dh * og * (1.0f - tc * tc);
      if (c->dprev) c->dprev[b * H + j] += dc * f;
      PUT(0, dc * g * i * (1.0f - i));
      PUT(1, dc * cp[j] * f * (1.0f - f));
      PUT(2, dc * i * (1.0f - g * g));
      PUT(3, dh * tc * og * (1.0f - og));
    }
  }
}

void k_rnn_cell_backward(float *dgi, float *dgh, float *dprev, const float *dout,
                         const float *saved, const float *prev, int64_t B, int64_t H, int lstm) {
  rnn_ctx c = {.dgi = dgi, .dgh = dgh, .dprev = dprev, .dout = dout, .csaved = saved,
               .prev = prev, .H = H};
  pool_for(lstm ? lstm_bwd_range : gru_bwd_range, &c, B, H * 32);
}
