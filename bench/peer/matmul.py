#!/usr/bin/python3
"""Peer for bench/matmul.ts: GFLOP/s of numpy's `a @ b` (float32, C-contiguous).

Usage: matmul.py '[[M, N, K, reps], ...]'  (M x K times K x N)
Prints one JSON line per shape: {"M", "N", "K", "median_gflops", "best_gflops", "reps"}.
Timing: 3 warm-up calls, then `reps` timed calls; median and best of the per-call times.
"""
import json
import sys
import time

import numpy as np


def main() -> None:
    shapes = json.loads(sys.argv[1])
    rng = np.random.default_rng(0)
    for m, n, k, reps in shapes:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        for _ in range(3):
            a @ b
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - t0)
        times.sort()
        flops = 2.0 * m * n * k
        print(
            json.dumps(
                {
                    "M": m,
                    "N": n,
                    "K": k,
                    "median_gflops": flops / times[len(times) // 2] / 1e9,
                    "best_gflops": flops / times[0] / 1e9,
                    "reps": reps,
                    "numpy": np.__version__,
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
