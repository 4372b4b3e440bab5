#!/usr/bin/python3
"""Peer for bench/lm-train.ts, bench/generate.ts and bench/lm-memory.ts (PyTorch 1.13).

The case-1 model: nn.Embedding for tokens and positions, nn.TransformerEncoder of 4
norm_first layers (width 128, 4 heads, d_ff 512, GELU, dropout 0) with a causal mask,
a final LayerNorm, and a head tied to the token embedding; AdamW (lr 1e-3).
Data: random (B, T) windows of tinyshakespeare (characters, vocabulary 65).

Usage: lm_train.py '{"mode": "train"|"generate"|"mem", "threads": 1, ...}'
  train:    {"steps", "warmup"} -> {"median_ms", "best_ms"} per AdamW step
  generate: {"new_tokens", "prompt_len", "reps", "block"} -> {"median_ms"} for greedy
            generation, re-running the model on the growing sequence (cropped to the
            context); "block" (default 64) sizes the position table and the context
  mem:      {"steps"} -> {"maxrss_kb"} (resource.getrusage ru_maxrss after that many steps)
Shape overrides (bench/scale.ts: lm-gpt2, lm-scaling): "V", "T", "C", "H", "L", "FF", "B"
replace the case-1 constants (ids stay tinyshakespeare's characters, valid for any V >= 65).
Prints one JSON line (train also gives "maxrss_kb"). OPENBLAS_NUM_THREADS is set by the caller.
"""
import json
import os
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

V, T, C, H, L, FF, B = 65, 64, 128, 4, 4, 512, 12
HERE = os.path.dirname(os.path.abspath(__file__))


class GPT(nn.Module):
    def __init__(self, block=T):
        super().__init__()
        self.block = block
        self.wte = nn.Embedding(V, C)
        self.wpe = nn.Embedding(block, C)
        layer = nn.TransformerEncoderLayer(
            C, H, FF, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, L, enable_nested_tensor=False)
        self.ln_f = nn.LayerNorm(C)
        nn.init.normal_(self.wte.weight, std=0.02)
        nn.init.normal_(self.wpe.weight, std=0.02)
        self.register_buffer(
            "mask", nn.Transformer.generate_square_subsequent_mask(block), persistent=False
        )

    def forward(self, idx):
        t = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(t))
        x = self.blocks(x, mask=self.mask[:t, :t])
        return F.linear(self.ln_f(x), self.wte.weight)  # head tied to wte


def tokens():
    with open(os.path.join(HERE, "..", "..", "data", "tinyshakespeare.txt"), encoding="utf8") as f:
        text = f.read()
    chars = sorted(set(text))
    ix = {c: i for i, c in enumerate(chars)}
    return torch.tensor([ix[c] for c in text], dtype=torch.long)


def batch(data, g):
    starts = torch.randint(len(data) - T - 1, (B,), generator=g)
    x = torch.stack([data[s : s + T] for s in starts])
    y = torch.stack([data[s + 1 : s + T + 1] for s in starts])
    return x, y


def main():
    global V, T, C, H, L, FF, B
    arg = json.loads(sys.argv[1])
    V, T, C, H, L, FF, B = (int(arg.get(k, v)) for k, v in zip(
        ("V", "T", "C", "H", "L", "FF", "B"), (V, T, C, H, L, FF, B)))
    torch.set_num_threads(int(arg.get("threads", 1)))
    torch.manual_seed(1337)
    model = GPT(int(arg.get("block", T)))
    data = tokens()
    g = torch.Generator().manual_seed(0)
    mode = arg.get("mode", "train")
    out = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    if mode in ("train", "mem"):
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        batches = [batch(data, g) for _ in range(8)]

        def step(i):
            x, y = batches[i % len(batches)]
            opt.zero_grad(set_to_none=True)
            logits = model(x)
            loss = F.cross_entropy(logits.view(-1, V), y.view(-1))
            loss.backward()
            opt.step()

        if mode == "mem":
            for i in range(int(arg.get("steps", 50))):
                step(i)
            out["maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        else:
            for i in range(int(arg.get("warmup", 5))):
                step(i)
            ts = []
            for i in range(int(arg.get("steps", 30))):
                t0 = time.perf_counter()
                step(i)
                ts.append((time.perf_counter() - t0) * 1e3)
            ts.sort()
            out["median_ms"] = ts[len(ts) // 2]
            out["best_ms"] = ts[0]
            out["maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    elif mode == "generate":
        model.eval()
        n_new = int(arg.get("new_tokens", 256))
        prompt = data[: int(arg.get("prompt_len", 8))].view(1, -1)

        def gen():
            idx = prompt
            with torch.no_grad():
                for _ in range(n_new):
                    logits = model(idx[:, -model.block :])
                    nxt = logits[:, -1, :].argmax(-1, keepdim=True)
                    idx = torch.cat([idx, nxt], dim=1)
            return idx

        gen()
        ts = []
        for _ in range(int(arg.get("reps", 3))):
            t0 = time.perf_counter()
            gen()
            ts.append((time.perf_counter() - t0) * 1e3)
        ts.sort()
        out["median_ms"] = ts[len(ts) // 2]
        out["best_ms"] = ts[0]
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
