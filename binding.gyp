{
  "targets": [
    {
      "target_name": "transformer_native",
      "sources": [
        "native/addon.c",
        "native/pool.c",
        "native/kernels.c",
        "native/blas.c"
      ],
      "cflags": ["-std=gnu11", "-O3", "-ffp-contract=fast", "-fno-math-errno", "-fno-trapping-math", "-Wall", "-Wno-unused-parameter"],
      "cflags!": ["-O2"],
      "defines": ["NAPI_VERSION=8"],
      "libraries": ["-lopenblas", "-lpthread", "-lm"]
    }
  ]
}
