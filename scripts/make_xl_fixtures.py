#!/usr/bin/python3
"""PyTorch parity fixtures for Transformer-XL's relative attention (src/attention/xl.ts).

Run with Debian's python3-torch (1.13):  /usr/bin/python3 scripts/make_xl_fixtures.py
Writes test/fixtures/parity/xl_<case>.safetensors in make_fixtures.py's format.

The reference is the official code's RelPartialLearnableMultiHeadAttn (kimiyoung/
transformer-xl, pytorch/mem_transformer.py) from the projected heads on: with q the last
qlen of the klen = mlen + qlen positions,
    AC = einsum('ibnd,jbnd->ijbn', q + r_w_bias, k)
    BD = _rel_shift(einsum('ibnd,jnd->ijbn', q + r_r_bias, r_net(pos_emb)))
    score = (AC + BD) * 1/sqrt(d_head), masked by triu(ones(qlen, klen), 1 + mlen)
    out = einsum('ijbn,jbnd->ibnd', softmax_j(score), v)
with pos_emb the sinusoid of positions klen-1 ... 0 in [sin | cos] layout.

Tensors (our batch-first layout): input/q (B, qlen, H*D), input/k and input/v
(B, klen, H*D), input/lossWeight (B, qlen, H*D), param/r_net.weight (C, C),
param/r_w_bias and param/r_r_bias (H, D), output/out (B, qlen, H*D), grad/<param>,
grad/input/<q|k|v>. Loss = sum(out * lossWeight).
"""
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import finish  # noqa: E402

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)


def rel_shift(x):
    """The official _rel_shift over x (qlen, klen, B, H)."""
    zero_pad = torch.zeros((x.size(0), 1, *x.size()[2:]), dtype=x.dtype)
    x_padded = torch.cat([zero_pad, x], dim=1)
    x_padded = x_padded.view(x.size(1) + 1, x.size(0), *x.size()[2:])
    return x_padded[1:].view_as(x)


def pos_emb(klen, demb):
    pos_seq = torch.arange(klen - 1, -1, -1.0)
    inv_freq = 1 / (10000 ** (torch.arange(0.0, demb, 2.0) / demb))
    sinusoid = torch.ger(pos_seq, inv_freq)
    return torch.cat([sinusoid.sin(), sinusoid.cos()], dim=-1)  # (klen, demb)


def rel_attention(q, k, v, r_net, r_w_bias, r_r_bias, H, D):
    """q (B, qlen, H*D), k/v (B, klen, H*D) -> out (B, qlen, H*D)."""
    B, qlen, _ = q.shape
    klen = k.shape[1]
    mlen = klen - qlen
    wq = q.transpose(0, 1).reshape(qlen, B, H, D)
    wk = k.transpose(0, 1).reshape(klen, B, H, D)
    wv = v.transpose(0, 1).reshape(klen, B, H, D)
    r_head_k = r_net(pos_emb(klen, H * D)).view(klen, H, D)
    AC = torch.einsum("ibnd,jbnd->ijbn", (wq + r_w_bias, wk))
    BD = rel_shift(torch.einsum("ibnd,jnd->ijbn", (wq + r_r_bias, r_head_k)))
    score = (AC + BD) * (1 / D**0.5)
    mask = torch.triu(torch.ones(qlen, klen), diagonal=1 + mlen).bool()
    score = score.masked_fill(mask[:, :, None, None], float("-inf"))
    prob = torch.softmax(score, dim=1)
    vec = torch.einsum("ijbn,jbnd->ibnd", (prob, wv))  # (qlen, B, H, D)
    return vec.reshape(qlen, B, H * D).transpose(0, 1).contiguous()


def case(name, seed, *, B, qlen, mlen, H, D):
    torch.manual_seed(seed)
    C = H * D
    klen = mlen + qlen
    r_net = nn.Linear(C, C, bias=False)
    r_w_bias = nn.Parameter(torch.randn(H, D) * 0.5)
    r_r_bias = nn.Parameter(torch.randn(H, D) * 0.5)
    q = torch.randn(B, qlen, C).requires_grad_(True)
    k = torch.randn(B, klen, C).requires_grad_(True)
    v = torch.randn(B, klen, C).requires_grad_(True)
    out = rel_attention(q, k, v, r_net, r_w_bias, r_r_bias, H, D)
    w = torch.randn_like(out)
    (out * w).sum().backward()
    t = {
        "input/q": q.detach(),
        "input/k": k.detach(),
        "input/v": v.detach(),
        "input/lossWeight": w,
        "param/r_net.weight": r_net.weight.detach(),
        "param/r_w_bias": r_w_bias.detach(),
        "param/r_r_bias": r_r_bias.detach(),
        "output/out": out.detach(),
        "grad/r_net.weight": r_net.weight.grad,
        "grad/r_w_bias": r_w_bias.grad,
        "grad/r_r_bias": r_r_bias.grad,
        "grad/input/q": q.grad,
        "grad/input/k": k.grad,
        "grad/input/v": v.grad,
    }
    return finish(name, t, {"B": B, "qlen": qlen, "mlen": mlen, "H": H, "D": D})


if __name__ == "__main__":
    print(case("xl_rel_mem", 11, B=2, qlen=4, mlen=3, H=2, D=4))
    print(case("xl_rel_nomem", 12, B=2, qlen=5, mlen=0, H=3, D=2))
