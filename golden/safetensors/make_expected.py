#!/usr/bin/python3
"""Independent oracle for the SafeTensors reader test (tests/formats/safetensors_test.cc).

Parses each .safetensors file here by hand (struct + json, numpy for the values; no ironmill code and
no safetensors package, which Debian does not ship) and writes expected.json with, per file: the header
length, the __metadata__, and per tensor: dtype, shape, data_offsets, FNV-1a 64 of the raw bytes, the
float64 sum of all values, and the first and last value.

Run: /usr/bin/python3 golden/safetensors/make_expected.py   (rewrites golden/safetensors/expected.json)
"""
import json
import os
import struct

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
FILES = ["qwen3-bf16.safetensors", "llama-tied-gqa1-f16.safetensors", "llama-golden-f32-i32.safetensors"]
NUMPY = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
         "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}


def fnv1a64(data: bytes) -> str:
    h = 0xcbf29ce484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def decode(dtype: str, raw: bytes) -> np.ndarray:
    if dtype == "BF16":  # bf16 is the top half of an fp32
        return (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    return np.frombuffer(raw, dtype=np.dtype(NUMPY[dtype]).newbyteorder("<")).astype(np.float64)


def describe(path: str) -> dict:
    blob = open(path, "rb").read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = blob[8 + n:]
    out = {"header_bytes": n, "metadata": header.pop("__metadata__", {}), "tensors": {}}
    for name, info in sorted(header.items()):
        b, e = info["data_offsets"]
        raw = data[b:e]
        vals = decode(info["dtype"], raw)
        assert vals.size == int(np.prod(info["shape"], dtype=np.int64)), name
        out["tensors"][name] = {
            "dtype": info["dtype"], "shape": info["shape"], "data_offsets": [b, e],
            "fnv1a64": fnv1a64(raw), "sum": float(np.sum(vals)),
            "first": float(vals[0]) if vals.size else None, "last": float(vals[-1]) if vals.size else None,
        }
    return out


def main():
    expected = {f: describe(os.path.join(HERE, f)) for f in FILES}
    with open(os.path.join(HERE, "expected.json"), "w") as fh:
        json.dump(expected, fh, indent=1, sort_keys=True)
        fh.write("\n")


if __name__ == "__main__":
    main()
