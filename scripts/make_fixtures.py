#!/usr/bin/python3
"""PyTorch parity fixtures for transformer-ts.

How to run
----------
    /usr/bin/python3 scripts/make_fixtures.py

Use /usr/bin/python3 (Debian's python3-torch 1.13.1, reported as
torch.__version__ == "1.13.0a0"); the pyenv `python3` on PATH has no torch.
The script writes test/fixtures/parity/<case>.safetensors (one file per case),
then re-reads one file with a minimal independent reader as a self-check.
It is deterministic: running it twice gives byte-identical files
(single-threaded CPU math, fixed torch.manual_seed per case, sorted JSON).

File format (safetensors, written by hand)
------------------------------------------
    u64 little-endian N | N bytes JSON header (space padded to a multiple of 8) | data
Header: {"<name>": {"dtype": ..., "shape": [...], "data_offsets": [begin, end]},
         "__metadata__": {"config": <json string>, "torch_version": <str>,
                          "case": <str>, "format": "transformer-ts-parity/1"}}
Offsets are relative to the start of the data section; tensors are stored
contiguously, row-major, little-endian, in sorted name order.
Dtypes: F32 (all floats, float additive masks may contain -inf),
        I32 (integer token ids / targets, converted from int64),
        U8  (boolean masks: 1 = True = may NOT attend, PyTorch's convention).

Sizes: MultiheadAttention cases use embed_dim 48, 6 heads (head width 8);
encoder/decoder layer and nn.Transformer cases use d_model 24, 4 heads (head
width 6), dim_feedforward 48 so the whole set stays < 2 MB (see each config).

Tensor names
------------
    param/<state_dict key>     every entry of module.state_dict(), e.g.
                               param/encoder.layers.0.self_attn.in_proj_weight
    input/<name>               module inputs: MHA: input/query (+ input/key when
                               not self-attention; key is also used as value,
                               config "kv_same": true); encoder layer: input/x;
                               decoder layer: input/tgt, input/memory;
                               Transformer: input/src (B,S,C), input/tgt (B,T,C);
                               LM: input/idx, input/targets (I32);
                               cross-entropy: input/logits, input/targets (I32)
    input/lossWeight           random tensor with the shape of output/out
    mask/<kwarg name>          PyTorch forward kwarg names: src_mask, tgt_mask,
                               memory_mask, src_key_padding_mask,
                               tgt_key_padding_mask, memory_key_padding_mask,
                               attn_mask, key_padding_mask; for the LM case the
                               TransformerEncoder kwarg `mask` -> mask/mask.
                               config "masks" lists them with their kind
                               ("bool" -> U8, "float" -> F32 additive).
    output/out                 module output (MHA: attn_output)
    output/weights             MHA attention weights (only when need_weights)
    grad/<state_dict key>      d loss / d parameter
    grad/input/<name>          d loss / d float input (not lossWeight)

Loss: unless config says otherwise, loss = sum(output/out * input/lossWeight)
(config "loss": "sum(output * input/lossWeight)").  For self-attention MHA
(config "self": true) query = key = value is the same tensor, so
grad/input/query is the total gradient through all three uses.
For cross attention with "kv_same": true, key = value = input/key and
grad/input/key is the total gradient through both uses.

Special cases:
  lm_small: GPT-style decoder LM (wte, wpe, blocks = nn.TransformerEncoder of
    pre-LN gelu layers called with a bool causal `mask`, ln_f, tied head
    F.linear(x, wte.weight)).  Loss = F.cross_entropy(logits.view(-1, V),
    targets.view(-1)) (mean), stored as output/loss (shape []); logits in
    output/logits; grads of all params.  Optimizer trajectories on the same
    batch, each starting from the initial params (param/*):
      output/adamw_losses (10,), after/<key>       AdamW lr 1e-2, betas (0.9, 0.999),
                                                   eps 1e-8, weight_decay 0.1 (all params)
      output/adam_losses  (10,)                    Adam, same but no weight decay
      output/sgd_losses   (10,)                    SGD lr 0.1, momentum 0.9
    losses[i] is the loss evaluated BEFORE step i+1 (losses[0] == output/loss);
    after/<key> are the AdamW params after the 10th step.
  ce_label_smoothing: F.cross_entropy(logits (13,17), targets, ignore_index=0,
    label_smoothing=0.1, reduction='mean'); output/loss, grad/input/logits.

All modules: float32, dropout 0.0, batch_first=True, module.train() with grad
enabled and requires_grad inputs, so PyTorch 1.13's inference fast paths
(native MHA / nested tensors) are never taken; TransformerEncoder is built with
enable_nested_tensor=False where we construct it.  After default init every
parameter is perturbed with p += 0.1 * randn_like(p) (so LayerNorm weights are
not exactly 1, biases not exactly 0).  No query row ever has all of its keys
masked (PyTorch would produce NaN there).
"""

import copy
import hashlib
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "test", "fixtures", "parity")
LOSS_DESC = "sum(output * input/lossWeight)"

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)


# --------------------------------------------------------------------------
# safetensors writer / reader
# --------------------------------------------------------------------------

def _to_numpy(t):
    if isinstance(t, torch.Tensor):
        t = t.detach().cpu().contiguous()
        if t.dtype == torch.bool:
            return t.numpy().astype("<u1"), "U8"
        if t.dtype in (torch.int64, torch.int32, torch.int16, torch.int8):
            return t.numpy().astype("<i4"), "I32"
        if t.dtype == torch.uint8:
            return t.numpy().astype("<u1"), "U8"
        if t.dtype.is_floating_point:
            return t.to(torch.float32).numpy().astype("<f4"), "F32"
    raise TypeError(f"unsupported tensor {type(t)} {getattr(t, 'dtype', None)}")


def write_safetensors(path, tensors, metadata):
    header = {}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        arr, dtype = _to_numpy(tensors[name])
        data = np.ascontiguousarray(arr).tobytes()
        header[name] = {
            "dtype": dtype,
            "shape": list(arr.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    hjson = json.dumps(header, sort_keys=True, separators=(",", ":"), allow_nan=False).encode("utf-8")
    hjson += b" " * ((-len(hjson)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    """Minimal independent reader (struct only, no numpy) for the self-check."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack_from("<Q", raw, 0)
    assert n % 8 == 0, "header length not a multiple of 8"
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    fmt = {"F32": ("f", 4), "I32": ("i", 4), "U8": ("B", 1)}
    expected = 0
    for name in sorted(k for k in header if k != "__metadata__"):
        info = header[name]
        b, e = info["data_offsets"]
        assert b == expected, f"{name}: non-contiguous layout"
        expected = e
        code, size = fmt[info["dtype"]]
        count = math.prod(info["shape"]) if info["shape"] else 1
        assert e - b == count * size, f"{name}: size mismatch"
        out[name] = (info["dtype"], info["shape"], struct.unpack_from("<%d%s" % (count, code), raw, base + b))
    assert base + expected == len(raw), "trailing bytes"
    return header.get("__metadata__", {}), out


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def perturb(module):
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.1 * torch.randn_like(p))


def tail_padding(lengths, S):
    """(B, S) bool mask, True at positions >= length (tail padding)."""
    m = torch.zeros(len(lengths), S, dtype=torch.bool)
    for b, n in enumerate(lengths):
        assert 1 <= n <= S
        m[b, n:] = True
    return m


def causal_bool(T):
    return torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)


def rand_input(*shape):
    return torch.randn(*shape, dtype=torch.float32).requires_grad_(True)


def mask_entry(kind, shape):
    return {"kind": kind, "shape": list(shape)}


def collect_grads(tensors, module, inputs):
    for k, p in module.named_parameters():
        assert p.grad is not None, k
        tensors["grad/" + k] = p.grad.detach().clone()
    for name, t in inputs.items():
        assert t.grad is not None, name
        tensors["grad/input/" + name] = t.grad.detach().clone()


def params(tensors, module, prefix="param/"):
    sd = module.state_dict()
    names = [k for k, _ in module.named_parameters()]
    assert sorted(names) == sorted(sd.keys()), "state_dict has non-parameter entries"
    for k, v in sd.items():
        tensors[prefix + k] = v.detach().clone()


def finish(case, tensors, config):
    for name, t in tensors.items():
        if name.startswith("mask/"):
            continue
        if t.dtype.is_floating_point:
            assert torch.isfinite(t).all(), f"{case}: non-finite values in {name}"
    config = dict(config)
    config["case"] = case
    meta = {
        "config": json.dumps(config, sort_keys=True),
        "case": case,
        "torch_version": torch.__version__,
        "format": "transformer-ts-parity/1",
    }
    path = os.path.join(OUT_DIR, case + ".safetensors")
    write_safetensors(path, tensors, meta)
    return path


# --------------------------------------------------------------------------
# MultiheadAttention cases
# --------------------------------------------------------------------------

# MultiheadAttention cases: embed_dim 48, 6 heads (head width 8).
E, H = 48, 6
# Layer / full-Transformer cases use a smaller width to keep the fixtures
# under 2 MB (params + grads dominate): d_model 24, 4 heads (head width 6).
LE, LH, LFF = 24, 4, 48


def mha_case(case, seed, *, B, T, S, self_attn, need_weights, average, attn_mask_fn=None, kpm_lengths=None):
    torch.manual_seed(seed)
    mha = nn.MultiheadAttention(E, H, dropout=0.0, batch_first=True)
    perturb(mha)
    mha.train()
    query = rand_input(B, T, E)
    inputs = {"query": query}
    if self_attn:
        assert S == T
        key = value = query
    else:
        key = rand_input(B, S, E)
        value = key
        inputs["key"] = key
    masks = {}
    mask_cfg = {}
    kpm = None
    if kpm_lengths is not None:
        kpm = tail_padding(kpm_lengths, S)
        masks["key_padding_mask"] = kpm
        mask_cfg["key_padding_mask"] = mask_entry("bool", kpm.shape)
    attn_mask = None
    if attn_mask_fn is not None:
        attn_mask, kind = attn_mask_fn(B, T, S, kpm)
        masks["attn_mask"] = attn_mask
        mask_cfg["attn_mask"] = mask_entry(kind, attn_mask.shape)
    out, w = mha(query, key, value, key_padding_mask=kpm, need_weights=need_weights,
                 attn_mask=attn_mask, average_attn_weights=average)
    loss_weight = torch.randn(out.shape)
    tensors = {}
    params(tensors, mha)
    for n, t in inputs.items():
        tensors["input/" + n] = t.detach().clone()
    tensors["input/lossWeight"] = loss_weight
    for n, m in masks.items():
        tensors["mask/" + n] = m
    tensors["output/out"] = out.detach().clone()
    if need_weights:
        tensors["output/weights"] = w.detach().clone()
    else:
        assert w is None
    (out * loss_weight).sum().backward()
    collect_grads(tensors, mha, inputs)
    config = {
        "kind": "MultiheadAttention",
        "embed_dim": E, "num_heads": H, "dropout": 0.0, "bias": True,
        "add_bias_kv": False, "add_zero_attn": False, "kdim": None, "vdim": None,
        "batch_first": True,
        "self": self_attn, "kv_same": True,
        "need_weights": need_weights, "average_attn_weights": average,
        "batch": B, "tgt_len": T, "src_len": S,
        "masks": mask_cfg,
        "loss": LOSS_DESC,
    }
    return finish(case, tensors, config)


def causal_attn_mask(B, T, S, kpm):
    assert T == S
    return causal_bool(T), "bool"


def per_head_random_mask(B, T, S, kpm):
    # (B*H, T, S) bool; rows grouped batch-major (index b*H + h), as in PyTorch.
    m = torch.rand(B * H, T, S) < 0.4
    for i in range(B * H):
        b = i // H
        valid = S if kpm is None else int((~kpm[b]).sum())
        for t in range(T):
            j = int(torch.randint(valid, ()))
            m[i, t, j] = False  # guarantee one attendable, non-padded key per row
    return m, "bool"


def float_additive_mask(B, T, S, kpm):
    m = -2.0 * torch.rand(T, S)  # finite negatives
    m[torch.rand(T, S) < 0.15] = 0.0
    m[torch.rand(T, S) < 0.3] = float("-inf")
    for t in range(T):
        j = int(torch.randint(S, ()))
        m[t, j] = -0.5  # at least one finite entry per row
    assert torch.isinf(m).any()
    return m, "float"


# --------------------------------------------------------------------------
# Encoder / decoder layer cases
# --------------------------------------------------------------------------

def layer_config(kind, activation, norm_first, eps=1e-5):
    return {
        "kind": kind, "d_model": LE, "nhead": LH, "dim_feedforward": LFF, "dropout": 0.0,
        "activation": activation, "layer_norm_eps": eps, "batch_first": True,
        "norm_first": norm_first,
    }


def enc_layer_case(case, seed, *, activation, norm_first, B, S, causal, kpm_lengths):
    torch.manual_seed(seed)
    layer = nn.TransformerEncoderLayer(LE, LH, LFF, 0.0, activation, batch_first=True, norm_first=norm_first)
    perturb(layer)
    layer.train()
    x = rand_input(B, S, LE)
    masks, mask_cfg = {}, {}
    if causal:
        masks["src_mask"] = causal_bool(S)
        mask_cfg["src_mask"] = mask_entry("bool", (S, S))
    if kpm_lengths is not None:
        masks["src_key_padding_mask"] = tail_padding(kpm_lengths, S)
        mask_cfg["src_key_padding_mask"] = mask_entry("bool", (B, S))
    out = layer(x, src_mask=masks.get("src_mask"), src_key_padding_mask=masks.get("src_key_padding_mask"))
    loss_weight = torch.randn(out.shape)
    tensors = {}
    params(tensors, layer)
    tensors["input/x"] = x.detach().clone()
    tensors["input/lossWeight"] = loss_weight
    for n, m in masks.items():
        tensors["mask/" + n] = m
    tensors["output/out"] = out.detach().clone()
    (out * loss_weight).sum().backward()
    collect_grads(tensors, layer, {"x": x})
    config = layer_config("TransformerEncoderLayer", activation, norm_first)
    config.update({"batch": B, "src_len": S, "masks": mask_cfg, "loss": LOSS_DESC})
    return finish(case, tensors, config)


def dec_layer_case(case, seed, *, activation, norm_first, B, T, S, causal, tgt_kpm_lengths, mem_kpm_lengths):
    torch.manual_seed(seed)
    layer = nn.TransformerDecoderLayer(LE, LH, LFF, 0.0, activation, batch_first=True, norm_first=norm_first)
    perturb(layer)
    layer.train()
    tgt = rand_input(B, T, LE)
    memory = rand_input(B, S, LE)
    masks, mask_cfg = {}, {}
    if causal:
        masks["tgt_mask"] = causal_bool(T)
        mask_cfg["tgt_mask"] = mask_entry("bool", (T, T))
    if tgt_kpm_lengths is not None:
        masks["tgt_key_padding_mask"] = tail_padding(tgt_kpm_lengths, T)
        mask_cfg["tgt_key_padding_mask"] = mask_entry("bool", (B, T))
    if mem_kpm_lengths is not None:
        masks["memory_key_padding_mask"] = tail_padding(mem_kpm_lengths, S)
        mask_cfg["memory_key_padding_mask"] = mask_entry("bool", (B, S))
    out = layer(tgt, memory, tgt_mask=masks.get("tgt_mask"),
                tgt_key_padding_mask=masks.get("tgt_key_padding_mask"),
                memory_key_padding_mask=masks.get("memory_key_padding_mask"))
    loss_weight = torch.randn(out.shape)
    tensors = {}
    params(tensors, layer)
    tensors["input/tgt"] = tgt.detach().clone()
    tensors["input/memory"] = memory.detach().clone()
    tensors["input/lossWeight"] = loss_weight
    for n, m in masks.items():
        tensors["mask/" + n] = m
    tensors["output/out"] = out.detach().clone()
    (out * loss_weight).sum().backward()
    collect_grads(tensors, layer, {"tgt": tgt, "memory": memory})
    config = layer_config("TransformerDecoderLayer", activation, norm_first)
    config.update({"batch": B, "tgt_len": T, "src_len": S, "masks": mask_cfg, "loss": LOSS_DESC})
    return finish(case, tensors, config)


# --------------------------------------------------------------------------
# Full nn.Transformer cases
# --------------------------------------------------------------------------

def transformer_case(case, seed, *, activation, norm_first, n_enc, n_dec, eps=1e-5, B, S, T,
                     causal=None, src_lengths=None, tgt_lengths=None):
    """causal: None | 'float' (generate_square_subsequent_mask) | 'bool'."""
    torch.manual_seed(seed)
    model = nn.Transformer(d_model=LE, nhead=LH, num_encoder_layers=n_enc, num_decoder_layers=n_dec,
                           dim_feedforward=LFF, dropout=0.0, activation=activation,
                           layer_norm_eps=eps, batch_first=True, norm_first=norm_first)
    model.encoder.enable_nested_tensor = False  # constructor does not expose it in 1.13
    perturb(model)
    model.train()
    src = rand_input(B, S, LE)
    tgt = rand_input(B, T, LE)
    masks, mask_cfg = {}, {}
    if causal == "float":
        masks["tgt_mask"] = nn.Transformer.generate_square_subsequent_mask(T)
        mask_cfg["tgt_mask"] = mask_entry("float", (T, T))
    elif causal == "bool":
        masks["tgt_mask"] = causal_bool(T)
        mask_cfg["tgt_mask"] = mask_entry("bool", (T, T))
    if src_lengths is not None:
        masks["src_key_padding_mask"] = tail_padding(src_lengths, S)
        masks["memory_key_padding_mask"] = tail_padding(src_lengths, S)
        mask_cfg["src_key_padding_mask"] = mask_entry("bool", (B, S))
        mask_cfg["memory_key_padding_mask"] = mask_entry("bool", (B, S))
    if tgt_lengths is not None:
        masks["tgt_key_padding_mask"] = tail_padding(tgt_lengths, T)
        mask_cfg["tgt_key_padding_mask"] = mask_entry("bool", (B, T))
    out = model(src, tgt, **masks)
    loss_weight = torch.randn(out.shape)
    tensors = {}
    params(tensors, model)
    tensors["input/src"] = src.detach().clone()
    tensors["input/tgt"] = tgt.detach().clone()
    tensors["input/lossWeight"] = loss_weight
    for n, m in masks.items():
        tensors["mask/" + n] = m
    tensors["output/out"] = out.detach().clone()
    (out * loss_weight).sum().backward()
    collect_grads(tensors, model, {"src": src, "tgt": tgt})
    config = {
        "kind": "Transformer",
        "d_model": LE, "nhead": LH, "num_encoder_layers": n_enc, "num_decoder_layers": n_dec,
        "dim_feedforward": LFF, "dropout": 0.0, "activation": activation,
        "layer_norm_eps": eps, "batch_first": True, "norm_first": norm_first,
        "custom_encoder": None, "custom_decoder": None,
        "final_norms": "encoder.norm and decoder.norm LayerNorms always present (nn.Transformer default)",
        "batch": B, "src_len": S, "tgt_len": T,
        "masks": mask_cfg, "loss": LOSS_DESC,
    }
    return finish(case, tensors, config)


# --------------------------------------------------------------------------
# Decoder-only LM (GPT-style)
# --------------------------------------------------------------------------

class DecoderLM(nn.Module):
    def __init__(self, vocab, block, d, heads, layers, eps=1e-5):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(block, d)
        layer = nn.TransformerEncoderLayer(d, heads, 4 * d, 0.0, "gelu", layer_norm_eps=eps,
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.ln_f = nn.LayerNorm(d, eps=eps)

    def forward(self, idx, mask):
        T = idx.shape[1]
        pos = torch.arange(T)
        x = self.wte(idx) + self.wpe(pos)
        x = self.blocks(x, mask=mask)
        x = self.ln_f(x)
        return F.linear(x, self.wte.weight)


def lm_case(case, seed):
    V, T, D, NH, L, B = 11, 9, 32, 4, 2, 3
    torch.manual_seed(seed)
    model = DecoderLM(V, T, D, NH, L)
    perturb(model)
    model.train()
    idx = torch.randint(V, (B, T))
    targets = torch.randint(V, (B, T))
    mask = causal_bool(T)
    init_state = copy.deepcopy(model.state_dict())

    def loss_fn():
        logits = model(idx, mask)
        return logits, F.cross_entropy(logits.view(-1, V), targets.view(-1))

    tensors = {}
    params(tensors, model)
    tensors["input/idx"] = idx
    tensors["input/targets"] = targets
    tensors["mask/mask"] = mask
    logits, loss = loss_fn()
    tensors["output/logits"] = logits.detach().clone()
    tensors["output/loss"] = loss.detach().clone()
    loss.backward()
    collect_grads(tensors, model, {})

    optims = [
        ("adamw", "after/", lambda ps: torch.optim.AdamW(ps, lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)),
        ("adam", None, lambda ps: torch.optim.Adam(ps, lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)),
        ("sgd", None, lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9)),
    ]
    for name, prefix, make in optims:
        model.load_state_dict(init_state)
        opt = make(model.parameters())
        losses = []
        for _ in range(10):
            opt.zero_grad()
            _, l = loss_fn()
            losses.append(l.detach().clone())
            l.backward()
            opt.step()
        tensors[f"output/{name}_losses"] = torch.stack(losses)
        if prefix is not None:
            params(tensors, model, prefix)
    assert torch.equal(tensors["output/adamw_losses"][0], tensors["output/loss"])

    config = {
        "kind": "DecoderLM",
        "vocab_size": V, "block_size": T, "d_model": D, "nhead": NH, "num_layers": L,
        "dim_feedforward": 4 * D, "dropout": 0.0, "activation": "gelu", "layer_norm_eps": 1e-5,
        "norm_first": True, "batch_first": True, "tied_head": True, "batch": B,
        "architecture": "x = wte(idx) + wpe(arange(T)); x = blocks(x, mask=causal bool); "
                        "x = ln_f(x); logits = x @ wte.weight.T",
        "masks": {"mask": mask_entry("bool", (T, T))},
        "loss": "cross_entropy(output/logits.view(-1, V), input/targets.view(-1)), reduction mean; NOT lossWeight",
        "optimizers": {
            "adamw": {"class": "AdamW", "lr": 1e-2, "betas": [0.9, 0.999], "eps": 1e-8,
                      "weight_decay": 0.1, "amsgrad": False, "steps": 10,
                      "losses": "output/adamw_losses", "final_params": "after/<key>"},
            "adam": {"class": "Adam", "lr": 1e-2, "betas": [0.9, 0.999], "eps": 1e-8,
                     "weight_decay": 0.0, "amsgrad": False, "steps": 10,
                     "losses": "output/adam_losses"},
            "sgd": {"class": "SGD", "lr": 0.1, "momentum": 0.9, "dampening": 0.0,
                    "nesterov": False, "weight_decay": 0.0, "steps": 10,
                    "losses": "output/sgd_losses"},
            "note": "each run starts from param/*; losses[i] is evaluated before step i+1 on the same batch",
        },
    }
    return finish(case, tensors, config)


def ce_case(case, seed):
    N, V = 13, 17
    torch.manual_seed(seed)
    logits = rand_input(N, V)
    targets = torch.randint(V, (N,))
    targets[[2, 7, 11]] = 0  # ignored
    loss = F.cross_entropy(logits, targets, ignore_index=0, label_smoothing=0.1, reduction="mean")
    loss.backward()
    tensors = {
        "input/logits": logits.detach().clone(),
        "input/targets": targets,
        "output/loss": loss.detach().clone(),
        "grad/input/logits": logits.grad.detach().clone(),
    }
    config = {
        "kind": "cross_entropy", "ignore_index": 0, "label_smoothing": 0.1, "reduction": "mean",
        "weight": None, "n": N, "num_classes": V,
        "loss": "F.cross_entropy(input/logits, input/targets, ignore_index=0, label_smoothing=0.1, reduction='mean')",
    }
    return finish(case, tensors, config)


# --------------------------------------------------------------------------

def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    paths = []
    paths.append(mha_case("mha_self_kpm", 1, B=3, T=7, S=7, self_attn=True, need_weights=True,
                          average=True, kpm_lengths=[7, 5, 3]))
    paths.append(mha_case("mha_self_causal_perhead", 2, B=2, T=7, S=7, self_attn=True, need_weights=True,
                          average=False, attn_mask_fn=causal_attn_mask))
    paths.append(mha_case("mha_cross_both", 3, B=2, T=5, S=7, self_attn=False, need_weights=True,
                          average=True, attn_mask_fn=per_head_random_mask, kpm_lengths=[7, 4]))
    paths.append(mha_case("mha_float_mask", 4, B=2, T=5, S=7, self_attn=False, need_weights=False,
                          average=True, attn_mask_fn=float_additive_mask))
    paths.append(enc_layer_case("enc_layer_post_relu", 5, activation="relu", norm_first=False, B=3, S=7,
                                causal=True, kpm_lengths=[7, 6, 4]))
    paths.append(enc_layer_case("enc_layer_pre_gelu", 6, activation="gelu", norm_first=True, B=2, S=7,
                                causal=False, kpm_lengths=[5, 7]))
    paths.append(dec_layer_case("dec_layer_post_relu", 7, activation="relu", norm_first=False, B=3, T=5, S=7,
                                causal=True, tgt_kpm_lengths=[5, 4, 2], mem_kpm_lengths=[7, 3, 6]))
    paths.append(dec_layer_case("dec_layer_pre_gelu", 8, activation="gelu", norm_first=True, B=2, T=5, S=7,
                                causal=True, tgt_kpm_lengths=None, mem_kpm_lengths=None))
    paths.append(transformer_case("transformer_post_relu_both", 9, activation="relu", norm_first=False,
                                  n_enc=2, n_dec=2, B=3, S=7, T=5, causal="float",
                                  src_lengths=[7, 5, 4], tgt_lengths=[5, 3, 4]))
    paths.append(transformer_case("transformer_pre_gelu_causal", 10, activation="gelu", norm_first=True,
                                  n_enc=2, n_dec=2, B=2, S=7, T=5, causal="float"))
    paths.append(transformer_case("transformer_post_relu_padding", 11, activation="relu", norm_first=False,
                                  n_enc=2, n_dec=2, B=3, S=7, T=5, src_lengths=[6, 7, 3],
                                  tgt_lengths=[5, 2, 4]))
    paths.append(transformer_case("transformer_pre_relu_eps", 12, activation="relu", norm_first=True,
                                  n_enc=1, n_dec=3, eps=1e-6, B=2, S=7, T=5, causal="bool",
                                  src_lengths=[7, 4], tgt_lengths=[3, 5]))
    paths.append(lm_case("lm_small", 13))
    paths.append(ce_case("ce_label_smoothing", 14))

    self_check()

    total = 0
    for p in paths:
        size = os.path.getsize(p)
        total += size
        with open(p, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()[:16]
        print(f"{os.path.relpath(p, ROOT)}  {size} bytes  sha256:{digest}")
    print(f"total {total} bytes, torch {torch.__version__}")
    assert total < 2 * 1024 * 1024, "fixtures too large"


def self_check():
    """Re-read a file with the struct-only reader and compare against a
    recomputation in torch (catches layout / dtype / offset bugs)."""
    path = os.path.join(OUT_DIR, "mha_cross_both.safetensors")
    meta, t = read_safetensors(path)
    cfg = json.loads(meta["config"])
    assert meta["torch_version"] == torch.__version__
    assert cfg["kind"] == "MultiheadAttention" and cfg["masks"]["attn_mask"]["shape"] == [2 * H, 5, 7]

    def tt(name):
        dtype, shape, vals = t[name]
        x = torch.tensor(vals, dtype={"F32": torch.float32, "I32": torch.int32, "U8": torch.uint8}[dtype])
        return x.reshape(shape)

    mha = nn.MultiheadAttention(cfg["embed_dim"], cfg["num_heads"], dropout=0.0, batch_first=True)
    mha.load_state_dict({k[len("param/"):]: tt(k) for k in t if k.startswith("param/")})
    q, k = tt("input/query"), tt("input/key")
    # train-mode slow path; same ops as the generator -> bitwise equal
    mha.train()
    q.requires_grad_(True)
    k.requires_grad_(True)
    out, w = mha(q, k, k, key_padding_mask=tt("mask/key_padding_mask").bool(),
                 attn_mask=tt("mask/attn_mask").bool(), need_weights=True,
                 average_attn_weights=cfg["average_attn_weights"])
    assert torch.equal(out.detach(), tt("output/out")), "self-check: output mismatch"
    assert torch.equal(w.detach(), tt("output/weights")), "self-check: weights mismatch"
    (out * tt("input/lossWeight")).sum().backward()
    assert torch.equal(mha.in_proj_weight.grad, tt("grad/in_proj_weight")), "self-check: grad mismatch"
    assert torch.equal(k.grad, tt("grad/input/key")), "self-check: input grad mismatch"

    # -inf round trip in a float mask, U8 masks and I32 ids
    _, t2 = read_safetensors(os.path.join(OUT_DIR, "transformer_post_relu_both.safetensors"))
    dtype, shape, vals = t2["mask/tgt_mask"]
    assert dtype == "F32" and shape == [5, 5] and vals[1] == -math.inf and vals[0] == 0.0
    _, t3 = read_safetensors(os.path.join(OUT_DIR, "lm_small.safetensors"))
    assert t3["input/idx"][0] == "I32" and t3["mask/mask"][0] == "U8"
    print("self-check OK", file=sys.stderr)


if __name__ == "__main__":
    main()
