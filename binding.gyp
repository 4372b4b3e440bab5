{
  "variables": {
    "transformer_sources": [
      "native/addon.c",
      "native/args.c",
      "native/control.c",
      "native/pool.c",
      "native/kernels.c",
      "native/blas.c",
      "native/gemm.c",
      "native/gemm_addon.c",
      "native/rnn.c",
      "native/word2vec.c",
      "native/sparse_attention.c",
      "native/sparse_block.c",
      "native/sparse_run.c",
      "native/sparse_band.c",
      "native/sparse_parts.c",
      "native/flash_attention.c",
      "native/gathered_attention.c",
      "native/lsh_buckets.c"
    ],
    "transformer_cflags": ["-std=gnu11", "-O3", "-ffp-contract=fast", "-fno-math-errno", "-fno-trapping-math", "-fvisibility=hidden", "-Wall", "-Wno-unused-parameter"]
  },
  "targets": [
    {
      "target_name": "transformer_native",
      "sources": ["<@(transformer_sources)"],
      "cflags": ["<@(transformer_cflags)"],
      "cflags!": ["-O2"],
      "defines": ["NAPI_VERSION=8"],
      "libraries": ["-lopenblas", "-ldl", "-lpthread", "-lm"]
    },
    {
      "target_name": "transformer_testhooks",
      "sources": ["<@(transformer_sources)"],
      "cflags": ["<@(transformer_cflags)"],
      "cflags!": ["-O2"],
      "defines": ["NAPI_VERSION=8", "TRANSFORMER_TESTHOOKS"],
      "libraries": ["-lopenblas", "-ldl", "-lpthread", "-lm"]
    }
  ]
}
