#!/bin/sh
# Builds and runs bench/gemm-libs/gemm_libs.c (issue 15 part 1), then numpy's peer on the
# same shapes (bench/peer/matmul.py on the PATH python3, numpy's own OpenBLAS with its own
# kernel choice: OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset for that command only), at 2
# and 1 OpenBLAS threads. Not part of CI.
# Usage: bench/gemm-libs/run.sh [rounds] [shape index]
# BLIS_ARCH_TYPE picks BLIS's sub-configuration (0 skx, 6 zen3, 7 zen2, 8 zen, 3 haswell);
# Debian's BLIS 0.9.0 selects 'generic' on this Zen 5 (family 0x1a) by itself. Default here: 0.
set -e
here=$(dirname "$0")
out=${TMPDIR:-/tmp}/gemm_libs
cc -O2 -std=gnu11 -fopenmp "$here/gemm_libs.c" -o "$out" \
  -lopenblas -L/usr/lib/x86_64-linux-gnu/blis-openmp -lblis -ldnnl -lpthread -lm
BLIS_ARCH_TYPE=${BLIS_ARCH_TYPE:-0} "$out" "$@"
# The same shapes as SHAPES of gemm_libs.c: [M, N, K, reps, tA, tB, batch].
shapes='[[512,512,512,200],[1024,1024,1024,40],[768,384,128,400,0,1,1],[768,512,128,400,0,1,1],
[768,128,512,400,0,1,1],[768,128,128,400,0,1,1],[768,65,128,400,0,1,1],[768,512,128,400],
[768,128,512,400],[768,128,384,400],[512,128,768,400,1,0,1],[128,512,768,400,1,0,1],
[384,128,768,400,1,0,1],[65,128,768,400,1,0,1],[64,64,32,200,0,1,48],[64,32,64,200,0,0,48],
[64,32,64,200,1,0,48]]'
for t in 2 1; do
  echo "numpy peer, OPENBLAS_NUM_THREADS=$t (best GFLOP/s):"
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=$t python3 \
    "$here/../peer/matmul.py" "$shapes" |
    python3 -c 'import sys, json
for l in sys.stdin:
    r = json.loads(l)
    print("  %dx%dx%d %s%s batch %d: %.0f (%s, numpy %s)" % (r["M"], r["N"], r["K"], "T" if r["tA"] else "N", "T" if r["tB"] else "N", r["batch"], r["best_gflops"], r["blas"], r["numpy"]))'
done
