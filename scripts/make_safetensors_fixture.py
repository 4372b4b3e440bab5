#!/usr/bin/env python3
"""Write test/fixtures/io/reference.safetensors and reference.json from PyTorch tensors.

The TypeScript reader/writer in src/io/safetensors.ts is tested against these files
(test/io/safetensors.test.ts): the test parses the .safetensors file, compares every value with
the JSON, and re-serializes the JSON's tensors to check our writer is byte-for-byte identical.

The official `safetensors` Python package is not available here: Debian has no
python3-safetensors package and only the npm and Debian registries are reachable. So the file is
written BY HAND, following the safetensors format spec (huggingface/safetensors README and the
reference writer `prepare`/`serialize` in safetensors/src/tensor.rs):
  - 8-byte little-endian u64 header length N, then N bytes of UTF-8 JSON, then the data;
  - the JSON has no whitespace (json.dumps separators (',', ':'), non-ASCII kept raw),
    "__metadata__" first when given, then one entry per tensor as
    {"dtype":..,"shape":[..],"data_offsets":[begin,end]};
  - tensors laid out by descending dtype rank (the reference Dtype enum order, "increasing
    alignment order"), then by name (UTF-8 bytewise), contiguously from offset 0;
  - the header is padded with spaces to a multiple of 8 bytes.
The tensor values and their raw bytes (including the float32 -> float16 / bfloat16 rounding)
come from PyTorch, never from our code.

Requirements: Debian's python3-torch (made with 1.13.1) for /usr/bin/python3:

    /usr/bin/python3 scripts/make_safetensors_fixture.py

The output is deterministic (fixed values, fixed seed).

Manual interop check of a file written by the TypeScript writer:

    /usr/bin/python3 scripts/make_safetensors_fixture.py --check FILE

reads FILE with an independent strict reader written from the spec, loads every tensor into
torch and prints name, dtype, shape and values.
"""

import json
import math
import os
import struct
import sys

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "test", "fixtures", "io")

# Reference Dtype enum order (safetensors/src/tensor.rs); the writer sorts by descending rank.
RANK = ["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32",
        "F32", "F64", "I64", "U64"]
TORCH_DTYPE = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL",
}
FROM_CODE = {v: k for k, v in TORCH_DTYPE.items()}
ITEMSIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
            "U8": 1, "BOOL": 1}


def raw_bytes(t):
    """Little-endian, row-major bytes of a tensor (this script only runs on little-endian hosts)."""
    t = t.contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def json_value(x):
    """A float as JSON; non-finite values as the strings "inf", "-inf", "nan"."""
    if isinstance(x, float):
        if math.isnan(x):
            return "nan"
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        if x == 0.0 and math.copysign(1.0, x) < 0:
            return "-0"
    return x


def serialize(tensors, metadata=None):
    """Safetensors bytes for {name: torch.Tensor}, laid out like the reference writer."""
    items = sorted(tensors.items(),
                   key=lambda kv: (-RANK.index(TORCH_DTYPE[kv[1].dtype]), kv[0].encode("utf-8")))
    header = {}
    if metadata is not None:
        header["__metadata__"] = dict(sorted(metadata.items()))
    offset = 0
    blobs = []
    for name, t in items:
        data = raw_bytes(t)
        header[name] = {"dtype": TORCH_DTYPE[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def check(path):
    """Read a safetensors file with a strict reader written from the spec; print its tensors."""
    buf = open(path, "rb").read()
    assert len(buf) >= 8, "shorter than 8 bytes"
    (n,) = struct.unpack("<Q", buf[:8])
    assert n <= 100_000_000 and 8 + n <= len(buf), f"bad header length {n}"
    assert n % 8 == 0, f"header length {n} is not a multiple of 8 (reference writers pad it)"
    header = json.loads(buf[8:8 + n].decode("utf-8"))
    data = buf[8 + n:]
    meta = header.pop("__metadata__", None)
    entries = sorted(header.items(), key=lambda kv: tuple(kv[1]["data_offsets"]))
    pos = 0
    for name, e in entries:
        begin, end = e["data_offsets"]
        numel = math.prod(e["shape"])
        assert begin == pos and end - begin == numel * ITEMSIZE[e["dtype"]], f"bad offsets: {name}"
        assert begin % ITEMSIZE[e["dtype"]] == 0, f"{name} is not aligned to its itemsize"
        pos = end
    assert pos == len(data), "data section not exactly covered"
    print(f"{path}: {len(entries)} tensors, metadata={meta}")
    for name, e in entries:
        begin, end = e["data_offsets"]
        dt = FROM_CODE[e["dtype"]]
        raw = bytearray(data[begin:end])
        if end == begin:
            t = torch.empty(e["shape"], dtype=dt)
        else:
            t = torch.frombuffer(raw, dtype=dt).reshape(e["shape"])
        print(f"  {name}: {e['dtype']} {list(t.shape)} {t.flatten().tolist()}")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        check(sys.argv[2])
        return
    assert sys.byteorder == "little"
    torch.manual_seed(0)
    # float32 inputs chosen to exercise float16/bfloat16 rounding: ties to even, overflow to inf,
    # subnormals, underflow to zero, signed zero, NaN.
    src = torch.tensor([1.0, -2.5, 1.0 / 3.0, 65504.0, 65520.0, 65519.0, 1e-8, 6e-8, 3e-5,
                        1.0 + 2.0 ** -11, 1.0 + 3 * 2.0 ** -11, -0.0, 0.1, float("inf"),
                        float("-inf"), float("nan"), 1.0 + 2.0 ** -8, 1.0 + 3 * 2.0 ** -8,
                        3.0e38, -1e-40], dtype=torch.float32)
    tensors = {
        "embed.weight": torch.randn(3, 4, dtype=torch.float32),
        "ids": torch.tensor([[-2147483648, 2147483647, 0], [-1, 5, 123456]], dtype=torch.int64),
        "mask": torch.tensor([[[True, False], [False, True]], [[True, True], [False, False]]]),
        "half": src.to(torch.float16).reshape(4, 5),
        "bhalf": src.to(torch.bfloat16).reshape(4, 5),
        "scalar": torch.tensor(3.25, dtype=torch.float32),
        "empty": torch.zeros(0, 3, dtype=torch.float32),
        "double": torch.tensor([math.pi, -1e300], dtype=torch.float64),
        "i32": torch.tensor([-7, 0, 2 ** 31 - 1], dtype=torch.int32),
        "i16": torch.tensor([-32768, 32767], dtype=torch.int16),
        "i8": torch.tensor([-128, 127, 3], dtype=torch.int8),
        "u8": torch.tensor([0, 255], dtype=torch.uint8),
    }
    metadata = {"format": "pt"}

    blob = serialize(tensors, metadata)
    os.makedirs(OUT_DIR, exist_ok=True)
    with open(os.path.join(OUT_DIR, "reference.safetensors"), "wb") as f:
        f.write(blob)

    expected = {"metadata": metadata, "source_f32": [json_value(x) for x in src.tolist()],
                "tensors": {}}
    for name, t in tensors.items():
        values = t.flatten().tolist()
        if t.dtype.is_floating_point:
            values = [json_value(float(x)) for x in values]
        elif t.dtype == torch.bool:
            values = [1 if x else 0 for x in values]
        expected["tensors"][name] = {"dtype": TORCH_DTYPE[t.dtype], "shape": list(t.shape),
                                     "values": values}
    with open(os.path.join(OUT_DIR, "reference.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
    print(f"wrote {len(blob)} bytes, {len(tensors)} tensors to {OUT_DIR}")


if __name__ == "__main__":
    main()
