#!/usr/bin/python3
"""PyTorch parity fixtures for the recurrent layers (src/rnn/recurrent.ts).

Run with Debian's python3-torch (1.13):  /usr/bin/python3 scripts/make_rnn_fixtures.py
Writes test/fixtures/parity/rnn_<case>.safetensors in make_fixtures.py's format:
param/<state_dict key>, input/x (B, T, I), input/h0 [input/c0] (L*K, B, H),
input/lengths (I32, B), input/lossWeight (B, T, K*H), input/hWeight [input/cWeight]
(L*K, B, H), output/out, output/hN [output/cN], grad/<key>, grad/input/<name>.
Loss = sum(out * lossWeight) + sum(hN * hWeight) [+ sum(cN * cWeight)].
Sequences of different lengths go through pack_padded_sequence (enforce_sorted=False)
and pad_packed_sequence, so padded positions output zeros and the final states are
those of each sequence's last real token.
"""
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_fixtures import finish, perturb  # noqa: E402

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)


def case(name, seed, *, cell, I, H, L, bidirectional, B, T, lengths, init_state):
    torch.manual_seed(seed)
    cls = nn.GRU if cell == "gru" else nn.LSTM
    m = cls(I, H, num_layers=L, bidirectional=bidirectional, batch_first=True)
    perturb(m)
    K = 2 if bidirectional else 1
    x = torch.randn(B, T, I).requires_grad_(True)
    inputs = {"x": x}
    state = None
    if init_state:
        h0 = torch.randn(L * K, B, H).requires_grad_(True)
        inputs["h0"] = h0
        if cell == "lstm":
            c0 = torch.randn(L * K, B, H).requires_grad_(True)
            inputs["c0"] = c0
            state = (h0, c0)
        else:
            state = h0
    lens = torch.tensor(lengths, dtype=torch.int64)
    packed = nn.utils.rnn.pack_padded_sequence(x, lens, batch_first=True, enforce_sorted=False)
    out_p, st = m(packed, state)
    out, _ = nn.utils.rnn.pad_packed_sequence(out_p, batch_first=True, total_length=T)
    hN, cN = (st if cell == "lstm" else (st, None))
    w = torch.randn_like(out)
    wh = torch.randn_like(hN)
    loss = (out * w).sum() + (hN * wh).sum()
    tensors = {"input/lossWeight": w, "input/hWeight": wh, "input/lengths": lens}
    if cN is not None:
        wc = torch.randn_like(cN)
        loss = loss + (cN * wc).sum()
        tensors["input/cWeight"] = wc
        tensors["output/cN"] = cN.detach().clone()
    for k, v in m.state_dict().items():
        tensors["param/" + k] = v.detach().clone()
    loss.backward()
    for k, p in m.named_parameters():
        tensors["grad/" + k] = p.grad.detach().clone()
    for k, t in inputs.items():
        tensors["input/" + k] = t.detach().clone()
        tensors["grad/input/" + k] = t.grad.detach().clone()
    tensors["output/out"] = out.detach().clone()
    tensors["output/hN"] = hN.detach().clone()
    config = dict(cell=cell, inputSize=I, hiddenSize=H, numLayers=L,
                  bidirectional=bidirectional, B=B, T=T, initState=init_state)
    print(finish("rnn_" + name, tensors, config))


def main():
    case("gru_1l", 1, cell="gru", I=5, H=7, L=1, bidirectional=False, B=3, T=6,
         lengths=[6, 6, 6], init_state=True)
    case("gru_2l_bi_lengths", 2, cell="gru", I=5, H=6, L=2, bidirectional=True, B=3, T=7,
         lengths=[7, 3, 5], init_state=False)
    case("lstm_1l", 3, cell="lstm", I=4, H=6, L=1, bidirectional=False, B=2, T=5,
         lengths=[5, 5], init_state=True)
    case("lstm_2l_bi_lengths", 4, cell="lstm", I=5, H=4, L=2, bidirectional=True, B=3, T=6,
         lengths=[2, 6, 4], init_state=True)


if __name__ == "__main__":
    main()
