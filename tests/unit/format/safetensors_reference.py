"""Independent safetensors reading with struct + json + numpy, for cross-checking the C++ reader.

  safetensors_reference.py dump FILE      prints {name: {"dtype", "shape", "samples"}} for every tensor, where
                                          samples are up to 64 values taken at an even stride, as float64
                                          (integers as ints)
  safetensors_reference.py shard OUT_DIR  writes a 3-shard model (model-0000N-of-00003.safetensors and
                                          model.safetensors.index.json) with F32, F16, BF16, I32 and I64 tensors,
                                          and OUT_DIR/expected.json with every tensor's dtype, shape and values
"""
import json
import os
import struct
import sys

import numpy as np

NP_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16, "I32": np.int32, "I64": np.int64,
             "F64": np.float64}


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        arr = np.frombuffer(body[begin:end], dtype=NP_DTYPES[info["dtype"]]).reshape(info["shape"])
        if info["dtype"] == "BF16":  # bfloat16 is the top half of a float32
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        out[name] = (info["dtype"], info["shape"], arr)
    return out


def values(arr):
    flat = arr.reshape(-1)
    if flat.dtype.kind == "i":
        return [int(x) for x in flat]
    return [float(x) for x in flat.astype(np.float64)]


def dump(path):
    result = {}
    for name, (dtype, shape, arr) in read(path).items():
        flat = arr.reshape(-1)
        stride = max(1, len(flat) // 64)
        result[name] = {"dtype": dtype, "shape": shape, "stride": stride, "samples": values(flat[::stride])}
    json.dump(result, sys.stdout)


def write(path, tensors, metadata=None):
    """tensors: list of (name, dtype string, numpy array holding the raw values)."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    body = b""
    for name, dtype, arr in tensors:
        raw = arr.tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [len(body), len(body) + len(raw)]}
        body += raw
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)  # the reference library pads the header to 8 bytes
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + body)


def shard(out_dir):
    rng = np.random.default_rng(11)
    f32 = rng.standard_normal((4, 6)).astype(np.float32)
    f16 = rng.standard_normal((3, 5)).astype(np.float16)
    bf16_bits = (rng.standard_normal((2, 7)).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
    shards = [
        [("model.embed_tokens.weight", "F32", f32), ("model.norm.weight", "F32", np.arange(6, dtype=np.float32))],
        [("model.layers.0.mlp.up_proj.weight", "F16", f16), ("token_ordering", "I64",
                                                              rng.permutation(10).astype(np.int64) - 3)],
        [("model.layers.0.self_attn.q_proj.weight", "BF16", bf16_bits),
         ("model.layers.0.idx", "I32", np.array([[-2, 2147483647], [0, -2147483648]], dtype=np.int32)),
         ("model.layers.0.empty", "F32", np.zeros((0, 3), dtype=np.float32))],
    ]
    weight_map = {}
    for i, tensors in enumerate(shards):
        fname = f"model-{i + 1:05d}-of-00003.safetensors"
        write(os.path.join(out_dir, fname), tensors, {"format": "pt"})
        for name, _, _ in tensors:
            weight_map[name] = fname
    with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": 1234}, "weight_map": weight_map}, f, indent=2)
    expected = {}
    for fname in sorted(set(weight_map.values())):
        for name, (dtype, shape, arr) in read(os.path.join(out_dir, fname)).items():
            expected[name] = {"dtype": dtype, "shape": shape, "values": values(arr)}
    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump(expected, f)


if __name__ == "__main__":
    {"dump": dump, "shard": shard}[sys.argv[1]](sys.argv[2])
