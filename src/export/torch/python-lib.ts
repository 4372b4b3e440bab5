/**
 * The fixed part of the exported modeling.py: a safetensors reader and writer (the format
 * only: an 8-byte little-endian header length, a JSON header, the raw bytes; no package
 * needed), multi-head attention under torch.nn.MultiheadAttention's parameter names, the
 * encoder and decoder layers under torch.nn.TransformerEncoderLayer's and
 * TransformerDecoderLayer's names (pre- or post-LN, relu or gelu), and the positional
 * encodings. modeling.ts adds the model's own classes.
 *
 * Kept as Python text in a TypeScript string so the compiled package carries it.
 */

/** Python source: imports, safetensors I/O, attention, layers, positions. */
export const PYTHON_LIB = String.raw`import json
import math
import os
import struct
from types import SimpleNamespace

import torch
import torch.nn as nn
import torch.nn.functional as F

_DTYPES = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16,
           "BF16": torch.bfloat16, "I32": torch.int32, "I64": torch.int64}
_NAMES = {v: k for k, v in _DTYPES.items()}


def load_safetensors(path):
    """Read a safetensors file: ({name: tensor}, metadata). Little-endian machines."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    metadata = header.pop("__metadata__", {}) or {}
    out = {}
    for name, h in header.items():
        a, b = h["data_offsets"]
        dtype = _DTYPES[h["dtype"]]
        raw = bytearray(data[8 + n + a:8 + n + b])
        t = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        out[name] = t.reshape(h["shape"])
    return out, metadata


def save_safetensors(path, tensors, metadata=None):
    """Write {name: tensor} as safetensors (atomically: a temporary file, then rename).
    Tied tensors are written under each of their names, as transformer-ts reads them."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().to("cpu").contiguous()
        blob = t.numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": _NAMES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)


def causal_mask(T):
    """(T, T) float mask, -inf above the diagonal (torch.nn.Transformer.generate_square_subsequent_mask)."""
    return torch.full((T, T), float("-inf")).triu(1)


class MultiheadAttention(nn.Module):
    """Eq. 1 (Sec. 3.2.1) with h heads, batch first, torch.nn.MultiheadAttention's parameters:
    in_proj_weight (3C, C) holds W_Q, W_K, W_V; in_proj_bias (3C); out_proj is W_O.
    Dropout on the attention weights. A query whose keys are all masked gets zeros."""

    def __init__(self, cfg):
        super().__init__()
        C = cfg.dModel
        self.nhead = cfg.nhead
        self.p = cfg.dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * C, C))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * C))
        self.out_proj = nn.Linear(C, C)

    def forward(self, x, memory, attn_mask=None, key_padding_mask=None):
        """x (B, T, C) queries; memory (B, S, C) keys and values (x itself for self-attention);
        attn_mask (T, S) additive float; key_padding_mask (B, S) bool, True = padding."""
        B, T, C = x.shape
        S = memory.shape[1]
        H, D = self.nhead, C // self.nhead
        w, b = self.in_proj_weight, self.in_proj_bias
        if memory is x:
            q, k, v = F.linear(x, w, b).chunk(3, dim=-1)  # (B, T, C) each
        else:
            q = F.linear(x, w[:C], b[:C])  # (B, T, C)
            k, v = F.linear(memory, w[C:], b[C:]).chunk(2, dim=-1)  # (B, S, C) each
        q = q.view(B, T, H, D).transpose(1, 2)  # (B, H, T, D)
        k = k.view(B, S, H, D).transpose(1, 2)  # (B, H, S, D)
        v = v.view(B, S, H, D).transpose(1, 2)  # (B, H, S, D)
        scores = q @ k.transpose(-2, -1) / math.sqrt(D)  # (B, H, T, S)
        if attn_mask is not None:
            scores = scores + attn_mask
        if key_padding_mask is not None:
            scores = scores.masked_fill(key_padding_mask[:, None, None, :], float("-inf"))
        dead = torch.isneginf(scores).all(dim=-1, keepdim=True)  # (B, H, T, 1): no key left
        weights = torch.softmax(scores.masked_fill(dead, 0.0), dim=-1).masked_fill(dead, 0.0)
        weights = F.dropout(weights, self.p, self.training)
        out = (weights @ v).transpose(1, 2).reshape(B, T, C)  # (B, T, C)
        return self.out_proj(out)


def _sublayer(x, norm, dropout, block, norm_first):
    """Residual sub-layer: pre-LN x + Sublayer(LN(x)), or the paper's post-LN LN(x + Sublayer(x))."""
    if norm_first:
        return x + dropout(block(norm(x)))
    return norm(x + dropout(block(x)))


class _FeedForward(nn.Module):
    """FFN(x) = act(x W1 + b1) W2 + b2 (Sec. 3.3): linear1, dropout, linear2."""

    def feed_forward(self, x):
        act = F.gelu if self.cfg.activation == "gelu" else F.relu
        return self.linear2(self.dropout(act(self.linear1(x))))


class EncoderLayer(_FeedForward):
    """Self-attention then FFN (Sec. 3.1), torch.nn.TransformerEncoderLayer's names."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.linear1 = nn.Linear(cfg.dModel, cfg.dimFeedforward)
        self.dropout = nn.Dropout(cfg.dropout)
        self.linear2 = nn.Linear(cfg.dimFeedforward, cfg.dModel)
        self.self_attn = MultiheadAttention(cfg)
        self.norm1 = nn.LayerNorm(cfg.dModel, eps=cfg.layerNormEps)
        self.norm2 = nn.LayerNorm(cfg.dModel, eps=cfg.layerNormEps)
        self.dropout1 = nn.Dropout(cfg.dropout)
        self.dropout2 = nn.Dropout(cfg.dropout)

    def forward(self, x, attn_mask=None, key_padding_mask=None):
        nf = self.cfg.normFirst
        sa = lambda y: self.self_attn(y, y, attn_mask, key_padding_mask)  # noqa: E731
        x = _sublayer(x, self.norm1, self.dropout1, sa, nf)
        return _sublayer(x, self.norm2, self.dropout2, self.feed_forward, nf)


class DecoderLayer(_FeedForward):
    """Masked self-attention, cross-attention over the memory (Sec. 3.2.3), FFN;
    torch.nn.TransformerDecoderLayer's names."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.linear1 = nn.Linear(cfg.dModel, cfg.dimFeedforward)
        self.dropout = nn.Dropout(cfg.dropout)
        self.linear2 = nn.Linear(cfg.dimFeedforward, cfg.dModel)
        self.self_attn = MultiheadAttention(cfg)
        self.multihead_attn = MultiheadAttention(cfg)
        self.norm1 = nn.LayerNorm(cfg.dModel, eps=cfg.layerNormEps)
        self.norm2 = nn.LayerNorm(cfg.dModel, eps=cfg.layerNormEps)
        self.norm3 = nn.LayerNorm(cfg.dModel, eps=cfg.layerNormEps)
        self.dropout1 = nn.Dropout(cfg.dropout)
        self.dropout2 = nn.Dropout(cfg.dropout)
        self.dropout3 = nn.Dropout(cfg.dropout)

    def forward(self, x, memory, tgt_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None):
        nf = self.cfg.normFirst
        sa = lambda y: self.self_attn(y, y, tgt_mask, tgt_key_padding_mask)  # noqa: E731
        ca = lambda y: self.multihead_attn(y, memory, None, memory_key_padding_mask)  # noqa: E731
        x = _sublayer(x, self.norm1, self.dropout1, sa, nf)
        x = _sublayer(x, self.norm2, self.dropout2, ca, nf)
        return _sublayer(x, self.norm3, self.dropout3, self.feed_forward, nf)


class LearnedPositions(nn.Module):
    """Learned absolute positions (GPT's wpe): weight (maxLen, C) added to the embeddings."""

    def __init__(self, max_len, C):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(max_len, C))

    def forward(self, x):
        return x + self.weight[:x.shape[1]]


class SinusoidalPositions(nn.Module):
    """The fixed sinusoids of Sec. 3.5 (computed in double, stored as float32); no parameters."""

    def __init__(self, max_len, C):
        super().__init__()
        table = torch.zeros(max_len, C, dtype=torch.float64)
        for i in range(0, C, 2):
            angle = torch.arange(max_len, dtype=torch.float64) / math.pow(10000, i / C)
            table[:, i] = torch.sin(angle)
            if i + 1 < C:
                table[:, i + 1] = torch.cos(angle)
        self.register_buffer("table", table.float(), persistent=False)

    def forward(self, x):
        return x + self.table[:x.shape[1]]


def padding_mask(ids, pad_id):
    """(B, L) bool, True at padding."""
    return ids == pad_id
`;
