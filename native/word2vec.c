/*
 * word2vec training (Mikolov et al. 2013): Skip-gram and CBOW with negative sampling,
 * mirroring src/backend/js-word2vec.ts (the specification) sentence for sentence: reduced
 * windows, subsampling, the unigram^0.75 table, linear learning-rate decay. The corpus is
 * split into one contiguous part per pool thread, each with its own LCG stream (seed +
 * 7919 * thread) and all updating the shared vectors without locks, as word2vec.c does
 * (Hogwild, Recht et al. 2011); with one thread it follows js's draws exactly (dot products
 * in double, as js). The learning rate follows the words done by all threads (a relaxed
 * atomic counter).
 */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "pool.h"

#define MAX_SENTENCE 1000

typedef struct {
  float *syn0, *syn1;
  const int32_t *corpus;
  const float *keep;
  const int32_t *table;
  int64_t n, table_n, D, W, negative, epochs, threads;
  double alpha;
  int cbow;
  uint32_t seed;
  _Atomic int64_t done, kept;
} w2v_ctx;

static inline uint32_t lcg(uint32_t x) { return x * 1664525u + 1013904223u; }

/* One negative-sampling pass of `input` against the targets; accumulates neu1e. */
HOT static void sgns(const float *input, float *syn1, const int64_t *targets, const float *labels,
                     int nt, float alpha, int64_t D, float *neu1e) {
  for (int k = 0; k < nt; k++) {
    float *u = syn1 + targets[k] * D;
    double f = 0;
    for (int64_t d = 0; d < D; d++) f += (double)input[d] * u[d];
    float g = (float)(alpha * (labels[k] - 1.0 / (1.0 + exp(-f))));
    for (int64_t d = 0; d < D; d++) {
      neu1e[d] += g * u[d];
      u[d] += g * input[d];
    }
  }
}

static void w2v_range(void *p, int64_t t0, int64_t t1, int tid) {
  (void)tid;
  w2v_ctx *c = p;
  const int64_t D = c->D, W = c->W;
  float *neu1 = malloc(sizeof(float) * D * 2), *neu1e = neu1 + D;
  int64_t *targets = malloc(sizeof(int64_t) * (c->negative + 1));
  float *labels = malloc(sizeof(float) * (c->negative + 1));
  int32_t *sent = malloc(sizeof(int32_t) * MAX_SENTENCE);
  int64_t *ctx = malloc(sizeof(int64_t) * 2 * W);
  const double total = (double)c->epochs * c->n;
  for (int64_t t = t0; t < t1; t++) {
    const int64_t lo = c->n * t / c->threads, hi = c->n * (t + 1) / c->threads;
    uint32_t rnd = c->seed + 7919u * (uint32_t)t;
    int64_t kept = 0;
    for (int64_t e = 0; e < c->epochs; e++)
      for (int64_t start = lo; start < hi;) {
        int ns = 0;
        int64_t i = start;
        for (; i < hi && c->corpus[i] >= 0 && i - start < MAX_SENTENCE; i++) {
          rnd = lcg(rnd);
          int32_t w = c->corpus[i];
          if (c->keep[w] >= 1 || c->keep[w] > (float)(rnd & 0xffff) / 65536.0f) sent[ns++] = w;
        }
        const int64_t done = atomic_load_explicit(&c->done, memory_order_relaxed);
        double lr_f = 1.0 - done / (total + 1);
        const float lr = (float)(c->alpha * (lr_f > 1e-4 ? lr_f : 1e-4));
        const int brk = i < hi && c->corpus[i] < 0 ? 1 : 0;
        atomic_fetch_add_explicit(&c->done, i - start + brk, memory_order_relaxed);
        start = i + brk;
        kept += ns;
        for (int pos = 0; pos < ns; pos++) {
          const int32_t word = sent[pos];
          rnd = lcg(rnd);
          const int64_t b = rnd % (uint32_t)W;
          int nc = 0;
          for (int64_t a = b; a < 2 * W + 1 - b; a++) {
            if (a == W) continue;
            int64_t q = pos - W + a;
            if (q >= 0 && q < ns) ctx[nc++] = sent[q];
          }
          if (nc == 0) continue;
#define DRAW()                                                             \
  int nt = 0;                                                              \
  targets[nt] = word;                                                      \
  labels[nt++] = 1;                                                        \
  for (int64_t m = 0; m < c->negative; m++) {                              \
    rnd = lcg(rnd);                                                        \
    int32_t tg = c->table[(rnd >> 8) % (uint32_t)c->table_n];              \
    if (tg == word) continue;                                              \
    targets[nt] = tg;                                                      \
    labels[nt++] = 0;                                                      \
  }
          if (c->cbow) {
            memset(neu1, 0, sizeof(float) * D);
            for (int j = 0; j < nc; j++)
              for (int64_t d = 0; d < D; d++) neu1[d] += c->syn0[ctx[j] * D + d];
            for (int64_t d = 0; d < D; d++) neu1[d] /= (float)nc;
            DRAW();
            memset(neu1e, 0, sizeof(float) * D);
            sgns(neu1, c->syn1, targets, labels, nt, lr, D, neu1e);
            for (int j = 0; j < nc; j++)
              for (int64_t d = 0; d < D; d++) c->syn0[ctx[j] * D + d] += neu1e[d];
          } else {
            for (int j = 0; j < nc; j++) {
              DRAW();
              float *v = c->syn0 + ctx[j] * D;
              memset(neu1e, 0, sizeof(float) * D);
              sgns(v, c->syn1, targets, labels, nt, lr, D, neu1e);
              for (int64_t d = 0; d < D; d++) v[d] += neu1e[d];
            }
          }
#undef DRAW
        }
      }
    atomic_fetch_add_explicit(&c->kept, kept, memory_order_relaxed);
  }
  free(neu1);
  free(targets);
  free(labels);
  free(sent);
  free(ctx);
}

int64_t k_word2vec_train(float *syn0, float *syn1, const int32_t *corpus, int64_t n,
                         const float *keep, const int32_t *table, int64_t table_n, int64_t D,
                         int64_t W, int64_t negative, int64_t epochs, double alpha, int cbow,
                         uint32_t seed) {
  const int64_t threads = pool_threads() < n ? pool_threads() : (n > 0 ? n : 1);
  w2v_ctx c = {.syn0 = syn0, .syn1 = syn1, .corpus = corpus, .keep = keep, .table = table,
               .n = n, .table_n = table_n, .D = D, .W = W, .negative = negative,
               .epochs = epochs, .threads = threads, .alpha = alpha, .cbow = cbow, .seed = seed};
  atomic_init(&c.done, 0);
  atomic_init(&c.kept, 0);
  pool_run_grain(w2v_range, &c, threads, threads > 1, 1);
  return atomic_load(&c.kept);
}
