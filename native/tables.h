/*
 * The addon's tables, one X-macro list each: everything that the TypeScript side and the
 * C side must agree on by position is written here once.
 *
 * - BINARY_OPS / UNARY_OPS / SCALAR_OPS: the op enums (BIN_ADD = 0, ...) and their names;
 *   the addon exports the names (`tables.binary`, ...) and src/backend/native.ts derives
 *   its op codes from them (checking them against BINARY_OPS etc. of types.ts at load).
 * - ATT_GEOM_FIELDS: the packed order of AttentionGeometry (src/backend/types.ts).
 * - GATHERED_GEOM_FIELDS: the packed order of GatheredGeometry (src/backend/types-attention.ts).
 * - CONFIG_FIELDS: the packed order of NativeConfig (src/backend/native-config.ts).
 * - ADDON_EXPORTS: the N-API registrations, `X(jsName, c_function)`; the kernels first
 *   (each one a key of `Kernels`, checked by test/backend/contract.test.ts), then the
 *   control entries. TESTHOOK_EXPORTS exist only in the transformer_testhooks build.
 */
#ifndef TRANSFORMER_TABLES_H
#define TRANSFORMER_TABLES_H

/* X(ENUM, "name") */
#define BINARY_OPS(X) X(BIN_ADD, "add") X(BIN_SUB, "sub") X(BIN_MUL, "mul") X(BIN_DIV, "div")

#define UNARY_OPS(X)                                                                    \
  X(UN_NEG, "neg") X(UN_EXP, "exp") X(UN_LOG, "log") X(UN_SQRT, "sqrt") X(UN_TANH, "tanh") \
  X(UN_RELU, "relu") X(UN_GELU, "gelu") X(UN_GELU_TANH, "geluTanh")

#define SCALAR_OPS(X) \
  X(SC_ADD, "add") X(SC_MUL, "mul") X(SC_POW, "pow") X(SC_RSUB, "rsub") X(SC_RDIV, "rdiv")

/* X(field): the Float64Array order of an AttentionGeometry. */
#define ATT_GEOM_FIELDS(X)                                                                 \
  X(BH) X(T) X(S) X(D) X(H) X(ldq) X(ldk) X(ldv) X(ldo) X(kvRows) X(scale) X(causal)       \
  X(maskStrideB) X(maskStrideT) X(maskOffset)

/* X(field): the Float64Array order of a GatheredGeometry (src/backend/types-attention.ts). */
#define GATHERED_GEOM_FIELDS(X)                                                        \
  X(BH) X(G) X(Q) X(K) X(T) X(M) X(Lq) X(Lk) X(D) X(scale) X(causal) X(qStart) X(flagSelf) \
  X(mean)

/* X(field): the Float64Array order of a NativeConfig. */
#define CONFIG_FIELDS(X) \
  X(threads) X(spinUs) X(poolMinWork) X(poolGrain) X(gemmGrain) X(splitGemmMin) X(defer) X(tuneMalloc) \
  X(gemm) X(bf16Gemm)

/* X(ENUM, "name"): the GEMM libraries of NativeConfig.gemm (native/gemm.c). */
#define GEMM_LIBS(X) \
  X(GEMM_AUTO, "auto") X(GEMM_OPENBLAS, "openblas") X(GEMM_DNNL, "dnnl") X(GEMM_BLIS, "blis")

/* X(jsName, c_function) */
#define ADDON_EXPORTS(X)                                                                   \
  X(matmul, js_matmul)                                                                     \
  X(matmulDeferred, js_matmul_deferred)                                                    \
  X(drain, js_drain)                                                                       \
  X(binary, js_binary)                                                                     \
  X(unary, js_unary)                                                                       \
  X(unaryBackward, js_unary_backward)                                                      \
  X(scalar, js_scalar)                                                                     \
  X(sum, js_sum)                                                                           \
  X(sumSquares, js_sum_squares)                                                            \
  X(max, js_max)                                                                           \
  X(softmax, js_softmax)                                                                   \
  X(softmaxBackward, js_softmax_backward)                                                  \
  X(logSoftmax, js_log_softmax)                                                            \
  X(logSoftmaxBackward, js_log_softmax_backward)                                           \
  X(expShift, js_exp_shift)                                                                 \
  X(expShiftBackward, js_exp_shift_backward)                                                \
  X(layerNormForward, js_layer_norm_forward)                                               \
  X(layerNormBackward, js_layer_norm_backward)                                             \
  X(embeddingForward, js_embedding_forward)                                                \
  X(embeddingBackward, js_embedding_backward)                                              \
  X(crossEntropyForward, js_cross_entropy_forward)                                         \
  X(crossEntropyBackward, js_cross_entropy_backward)                                       \
  X(attentionForward, js_attention_forward)                                                \
  X(attentionBackward, js_attention_backward)                                              \
  X(sparseAttentionForward, js_sparse_attention_forward)                                   \
  X(sparseAttentionBackward, js_sparse_attention_backward)                                 \
  X(headRowsScale, js_head_rows_scale)                                                     \
  X(headRowsDot, js_head_rows_dot)                                                         \
  X(lseMergeWeights, js_lse_merge_weights)                                                 \
  X(gatheredAttentionForward, js_gathered_attention_forward)                               \
  X(gatheredAttentionBackward, js_gathered_attention_backward)                             \
  X(lshBuckets, js_lsh_buckets)                                                            \
  X(flashAttentionForward, js_flash_attention_forward)                                      \
  X(flashAttentionBackward, js_flash_attention_backward)                                   \
  X(stridedCopy, js_strided_copy)                                                          \
  X(stridedAccumulate, js_strided_accumulate)                                              \
  X(adamwMulti, js_adamw_multi)                                                            \
  X(dropoutMask, js_dropout_mask)                                                          \
  X(adamw, js_adamw)                                                                       \
  X(rnnCellForward, js_rnn_cell_forward)                                                   \
  X(rnnCellBackward, js_rnn_cell_backward)                                                 \
  X(word2vecTrain, js_word2vec_train)                                                      \
  /* control: not kernels */                                                               \
  X(configure, js_configure)                                                               \
  X(getThreads, js_get_threads)                                                            \
  X(blasConfig, js_blas_config)                                                            \
  X(gemmInfo, js_gemm_info)                                                                \
  X(matmulBf16, js_matmul_bf16)

/* Benchmarks and tests only (transformer_testhooks.node, built with TRANSFORMER_TESTHOOKS). */
#define TESTHOOK_EXPORTS(X)                                                                \
  X(setBlasThreads, js_set_blas_threads)                                                   \
  X(setSlicesParallel, js_set_slices_parallel)                                             \
  X(setSplitGemm, js_set_split_gemm)                                                       \
  X(setDeferDelayUs, js_set_defer_delay_us)

#endif
