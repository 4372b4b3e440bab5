#!/usr/bin/python3
"""Peer for bench/seq2seq-train.ts (PyTorch 1.13): one Adam step of an encoder-decoder
Transformer (nn.Transformer, batch_first, post-LN, ReLU, dropout 0.1), 3 + 3 layers,
d_model 256, 8 heads, d_ff 512, source and target vocabularies of 8000, batch 32, source
and target length 24: token embeddings scaled by sqrt(d_model), sinusoidal positions,
embedding dropout, a generator tied to the target embedding, padding masks (pad id 0)
and a causal target mask, cross-entropy with label smoothing 0.1, Adam (lr 1e-4).

Usage: seq2seq_train.py '{"threads": 1, "steps": 20, "warmup": 3}'
Shape overrides (bench/scale.ts: seq2seq-base): "V", "C", "H", "FF", "NE", "ND", "B", "S", "T"
replace the constants above (V sets both vocabularies).
Prints {"median_ms", "best_ms", "maxrss_kb"} per step as one JSON line.
"""
import json
import math
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

SV = TV = 8000
C, H, FF, NE, ND, B, S, T = 256, 8, 512, 3, 3, 32, 24, 24


class Seq2Seq(nn.Module):
    def __init__(self):
        super().__init__()
        self.src_tok_emb = nn.Embedding(SV, C)
        self.tgt_tok_emb = nn.Embedding(TV, C)
        pe = torch.zeros(512, C)
        pos = torch.arange(512).unsqueeze(1)
        div = torch.exp(torch.arange(0, C, 2) * (-math.log(10000.0) / C))
        pe[:, 0::2] = torch.sin(pos * div)
        pe[:, 1::2] = torch.cos(pos * div)
        self.register_buffer("pe", pe, persistent=False)
        self.drop = nn.Dropout(0.1)
        self.transformer = nn.Transformer(
            C, H, NE, ND, FF, dropout=0.1, batch_first=True
        )
        self.generator = nn.Linear(C, TV)
        self.generator.weight = self.tgt_tok_emb.weight  # tied

    def embed(self, emb, ids):
        return self.drop(emb(ids) * math.sqrt(C) + self.pe[: ids.shape[1]])

    def forward(self, src, tgt):
        causal = nn.Transformer.generate_square_subsequent_mask(tgt.shape[1])
        h = self.transformer(
            self.embed(self.src_tok_emb, src),
            self.embed(self.tgt_tok_emb, tgt),
            tgt_mask=causal,
            src_key_padding_mask=src == 0,
            tgt_key_padding_mask=tgt == 0,
            memory_key_padding_mask=src == 0,
        )
        return self.generator(h)


def main():
    global SV, TV, C, H, FF, NE, ND, B, S, T
    arg = json.loads(sys.argv[1])
    SV = TV = int(arg.get("V", SV))
    C, H, FF, NE, ND, B, S, T = (int(arg.get(k, v)) for k, v in zip(
        ("C", "H", "FF", "NE", "ND", "B", "S", "T"), (C, H, FF, NE, ND, B, S, T)))
    torch.set_num_threads(int(arg.get("threads", 1)))
    torch.manual_seed(0)
    model = Seq2Seq()
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(0)
    batches = [
        (
            torch.randint(1, SV, (B, S), generator=g),
            torch.randint(1, TV, (B, T), generator=g),
            torch.randint(1, TV, (B, T), generator=g),
        )
        for _ in range(4)
    ]

    def step(i):
        src, tgt_in, tgt_out = batches[i % len(batches)]
        opt.zero_grad(set_to_none=True)
        logits = model(src, tgt_in)
        loss = F.cross_entropy(
            logits.reshape(-1, TV), tgt_out.reshape(-1), ignore_index=0, label_smoothing=0.1
        )
        loss.backward()
        opt.step()

    for i in range(int(arg.get("warmup", 3))):
        step(i)
    ts = []
    for i in range(int(arg.get("steps", 20))):
        t0 = time.perf_counter()
        step(i)
        ts.append((time.perf_counter() - t0) * 1e3)
    ts.sort()
    out = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    out["median_ms"] = ts[len(ts) // 2]
    out["best_ms"] = ts[0]
    out["maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
