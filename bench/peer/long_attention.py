#!/usr/bin/python3
"""Peer for bench/long-attention.ts (PyTorch 1.13): one nn.MultiheadAttention layer.

Self-attention, batch_first, embed_dim H * D, H heads, dropout 0, no mask, need_weights
False; one step is the forward and the backward from d out = w (the gradient of sum(out * w),
without the loss's own ops) w.r.t. the input (B, T, H*D).
Timing as the case: the first step is a warm-up; then steps until 5 or 10 s (median ms),
or the first step alone when it took over 3 s.

Usage: long_attention.py '{"B": 1, "H": 4, "D": 32, "T": 2048, "threads": 2}'
Prints one JSON line {"ms", "rss_mb", "steps", "torch"}, or {"error": "oom"} when torch
cannot allocate (the caller caps the memory with ulimit -v). OPENBLAS_NUM_THREADS is set
by the caller.
"""
import json
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn


def main() -> None:
    a = json.loads(sys.argv[1])
    torch.set_num_threads(int(a.get("threads", 1)))
    torch.manual_seed(0)
    B, H, D, T = a["B"], a["H"], a["D"], a["T"]
    C = H * D
    mha = nn.MultiheadAttention(C, H, dropout=0.0, batch_first=True)
    x = torch.randn(B, T, C, requires_grad=True)
    w = torch.randn(B, T, C)

    def step() -> float:
        t0 = time.perf_counter()
        out, _ = mha(x, x, x, need_weights=False)
        out.backward(w)
        x.grad = None
        mha.zero_grad(set_to_none=True)
        return (time.perf_counter() - t0) * 1000.0

    try:
        first = step()
        times = []
        if first <= 3000:
            t0 = time.perf_counter()
            while len(times) < 5 and time.perf_counter() - t0 < 10:
                times.append(step())
    except (RuntimeError, MemoryError) as e:
        if isinstance(e, MemoryError) or "memory" in str(e).lower() or "alloc" in str(e).lower():
            print(json.dumps({"error": "oom"}), flush=True)
            return
        raise
    ms = statistics.median(times) if times else first
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(
        json.dumps({"ms": ms, "rss_mb": rss, "steps": len(times) + 1, "torch": torch.__version__}),
        flush=True,
    )


if __name__ == "__main__":
    main()
