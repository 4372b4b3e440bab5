/*
 * N-API entry points of transformer_native.node (and of transformer_testhooks.node, the
 * same sources built with TRANSFORMER_TESTHOOKS, for benchmarks and tests): one function a
 * kernel, which reads its arguments with one ARGS format and checks every array length
 * (args.h) before one call into the kernel. Shapes of the rank-generic kernels and the
 * attention geometry arrive packed in Float64Arrays (see src/backend/native.ts). The
 * control entries are in control.c; the registrations come from ADDON_EXPORTS of tables.h.
 * Adding a kernel: see native/README.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "config.h"
#include "kernels.h"

#ifdef TRANSFORMER_TESTHOOKS
#define ALL_EXPORTS(X) ADDON_EXPORTS(X) TESTHOOK_EXPORTS(X)
#else
#define ALL_EXPORTS(X) ADDON_EXPORTS(X)
#endif

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

/* expShift(out, x, shift, rows, cols, scale, eps) and expShiftBackward(dx | null, dshift |
 * null, dy, y, rows, cols, scale, eps): FAVOR+'s feature map (kernels.c). */
FN(js_exp_shift) {
  float *out, *x, *shift;
  size_t out_n, x_n, shift_n;
  int64_t R, C;
  double scale, eps;
  ARGS("expShift", "fffzzrr", "out x shift rows cols scale eps", &out, &out_n, &x, &x_n, &shift,
       &shift_n, &R, &C, &scale, &eps);
  need(&a, out_n, R * C, "out");
  need(&a, x_n, R * C, "x");
  need(&a, shift_n, R, "shift");
  DONE();
  k_exp_shift(out, x, shift, R, C, (float)scale, (float)eps);
  return NULL;
}

FN(js_exp_shift_backward) {
  float *dx, *dshift, *dy, *y;
  size_t dx_n, dshift_n, dy_n, y_n;
  int64_t R, C;
  double scale, eps;
  ARGS("expShiftBackward", "FFffzzrr", "dx dshift dy y rows cols scale eps", &dx, &dx_n, &dshift,
       &dshift_n, &dy, &dy_n, &y, &y_n, &R, &C, &scale, &eps);
  if (dx) need(&a, dx_n, R * C, "dx");
  if (dshift) need(&a, dshift_n, R, "dshift");
  need(&a, dy_n, R * C, "dy");
  need(&a, y_n, R * C, "y");
  DONE();
  k_exp_shift_backward(dx, dshift, dy, y, R, C, (float)scale, (float)eps);
  return NULL;
}

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

/* rnnCellForward(out, saved, gi, gh, prev, B, H, lstm): gates G = 3 (GRU) or 4 (LSTM). */
FN(js_rnn_cell_forward) {
  float *out, *saved, *gi, *gh, *prev;
  size_t out_n, saved_n, gi_n, gh_n, prev_n;
  int64_t B, H;
  int lstm;
  ARGS("rnnCellForward", "fffffzzb", "out saved gi gh prev B H lstm", &out, &out_n, &saved,
       &saved_n, &gi, &gi_n, &gh, &gh_n, &prev, &prev_n, &B, &H, &lstm);
  const int64_t G = lstm ? 4 : 3;
  NEED(out, B * H * (lstm ? 2 : 1));
  NEED(saved, B * H * (lstm ? 5 : 4));
  NEED(gi, B * G * H);
  NEED(gh, B * G * H);
  NEED(prev, B * H);
  DONE();
  k_rnn_cell_forward(out, saved, gi, gh, prev, B, H, lstm);
  return NULL;
}

/* rnnCellBackward(dgi, dgh, dprev, dout, saved, prev, B, H, lstm): accumulates. */
FN(js_rnn_cell_backward) {
  float *dgi, *dgh, *dprev, *dout, *saved, *prev;
  size_t dgi_n, dgh_n, dprev_n, dout_n, saved_n, prev_n;
  int64_t B, H;
  int lstm;
  ARGS("rnnCellBackward", "FFFfffzzb", "dgi dgh dprev dout saved prev B H lstm", &dgi, &dgi_n,
       &dgh, &dgh_n, &dprev, &dprev_n, &dout, &dout_n, &saved, &saved_n, &prev, &prev_n, &B,
       &H, &lstm);
  const int64_t G = lstm ? 4 : 3;
  if (dgi) NEED(dgi, B * G * H);
  if (dgh) NEED(dgh, B * G * H);
  if (dprev) NEED(dprev, B * H);
  NEED(dout, B * H * (lstm ? 2 : 1));
  NEED(saved, B * H * (lstm ? 5 : 4));
  NEED(prev, B * H);
  DONE();
  k_rnn_cell_backward(dgi, dgh, dprev, dout, saved, prev, B, H, lstm);
  return NULL;
}

/* word2vecTrain(syn0, syn1, corpus, keepProb, table, D, window, negative, epochs, alpha,
 * cbow, seed): returns the positions trained. Every corpus id must be in [0, V) or -1,
 * every table id in [0, V): checked here, since the kernel indexes the vectors with them. */
FN(js_word2vec_train) {
  float *syn0, *syn1, *keep;
  int32_t *corpus, *table;
  size_t syn0_n, syn1_n, keep_n, corpus_n, table_n;
  int64_t D, W, negative, epochs, seed;
  double alpha;
  int cbow;
  ARGS("word2vecTrain", "ffiifzzzzrbz", "syn0 syn1 corpus table keepProb D window negative epochs alpha cbow seed",
       &syn0, &syn0_n, &syn1, &syn1_n, &corpus, &corpus_n, &table, &table_n, &keep, &keep_n, &D,
       &W, &negative, &epochs, &alpha, &cbow, &seed);
  const int64_t V = (int64_t)keep_n;
  NEED(syn0, V * D);
  NEED(syn1, V * D);
  if (D < 1 || W < 1 || negative < 0 || epochs < 0 || table_n < 1) {
    napi_throw_range_error(env, NULL, "word2vecTrain: D, window, table must be >= 1");
    return NULL;
  }
  for (size_t i = 0; i < corpus_n; i++)
    if (corpus[i] < -1 || corpus[i] >= V) {
      napi_throw_range_error(env, NULL, "word2vecTrain: corpus id out of range");
      return NULL;
    }
  for (size_t i = 0; i < table_n; i++)
    if (table[i] < 0 || table[i] >= V) {
      napi_throw_range_error(env, NULL, "word2vecTrain: table id out of range");
      return NULL;
    }
  DONE();
  int64_t kept = k_word2vec_train(syn0, syn1, corpus, (int64_t)corpus_n, keep, table,
                                  (int64_t)table_n, D, W, negative, epochs, alpha, cbow,
                                  (uint32_t)seed);
  napi_value out;
  napi_create_double(env, (double)kept, &out);
  return out;
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
  mask = need_mask(&a, &g, mask, mask_n);
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
