#!/usr/bin/env python3
"""Peer for bench/matmul.ts and bench/gemm-libs: GFLOP/s of numpy's matmul (float32).

Usage: matmul.py '[[M, N, K, reps], [M, N, K, reps, tA, tB, batch], ...]'
out (M, N) = op(A) (M, K) @ op(B) (K, N); tA: A is stored (K, M) and used transposed
(a.T, a view), tB likewise B stored (N, K); batch > 1 multiplies stacks (np.matmul over
(batch, ., .)). Defaults: tA = tB = 0, batch = 1.
Prints one JSON line per shape: {"M", "N", "K", "tA", "tB", "batch", "median_gflops",
"best_gflops", "reps", "numpy", "blas"}.
Timing: 3 warm-up calls, then `reps` timed calls; median and best of the per-call times.
"""
import json
import sys
import time

import numpy as np


def blas_name() -> str:
    """numpy's BLAS as numpy reports it, e.g. 'scipy-openblas 0.3.31.188.0'."""
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '?')}"
    except Exception:  # older numpy: no mode="dicts"
        return "?"


def main() -> None:
    shapes = json.loads(sys.argv[1])
    rng = np.random.default_rng(0)
    blas = blas_name()
    for entry in shapes:
        m, n, k, reps = entry[:4]
        ta, tb, batch = (list(entry[4:7]) + [0, 0, 1][len(entry[4:7]):])[:3]
        lead = (batch,) if batch > 1 else ()
        a = rng.standard_normal(lead + ((k, m) if ta else (m, k)), dtype=np.float32)
        b = rng.standard_normal(lead + ((n, k) if tb else (k, n)), dtype=np.float32)
        if ta:
            a = np.swapaxes(a, -1, -2)
        if tb:
            b = np.swapaxes(b, -1, -2)
        for _ in range(3):
            a @ b
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - t0)
        times.sort()
        flops = 2.0 * batch * m * n * k
        print(
            json.dumps(
                {
                    "M": m,
                    "N": n,
                    "K": k,
                    "tA": ta,
                    "tB": tb,
                    "batch": batch,
                    "median_gflops": flops / times[len(times) // 2] / 1e9,
                    "best_gflops": flops / times[0] / 1e9,
                    "reps": reps,
                    "numpy": np.__version__,
                    "blas": blas,
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
