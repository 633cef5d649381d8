"""Writes GGUF files with the reference `gguf` package (gguf.GGUFWriter) and dumps what it wrote as JSON.

Usage: gguf_reference_write.py OUT_DIR
For each alignment A in (32, 64, 256) it writes OUT_DIR/ref-A.gguf and OUT_DIR/ref-A.json. The JSON is built
from this script's own inputs (never from reading the file back): {"metadata": {key: VALUE}, "tensors": [...]}
where VALUE is {"t": type, "v": scalar} or {"t": "arr", "e": element type, "v": [VALUE...]} and every tensor
is {"name", "type" (ggml id), "ne" (ggml order), "hex" (its bytes)}. float32 values are given as the exact
double of the float32 that the file holds.
"""
import json
import os
import sys

import numpy as np
import gguf
from gguf import GGUFValueType as VT, GGMLQuantizationType as QT

TYPE_NAMES = {VT.UINT8: "u8", VT.INT8: "i8", VT.UINT16: "u16", VT.INT16: "i16", VT.UINT32: "u32",
              VT.INT32: "i32", VT.FLOAT32: "f32", VT.BOOL: "bool", VT.STRING: "str", VT.ARRAY: "arr",
              VT.UINT64: "u64", VT.INT64: "i64", VT.FLOAT64: "f64"}


def expected(value, vtype, sub_type=None):
    """The JSON description of a value as GGUFWriter stores it (python ints in nested lists become i32,
    floats f32, as gguf.GGUFValueType.get_type decides)."""
    if vtype == VT.ARRAY:
        et = sub_type if sub_type is not None else VT.get_type(value[0])
        return {"t": "arr", "e": TYPE_NAMES[et], "v": [expected(x, et) for x in value]}
    if vtype == VT.FLOAT32:
        value = float(np.float32(value))
    return {"t": TYPE_NAMES[vtype], "v": value}


SCALARS = [
    ("test.u8", 250, VT.UINT8), ("test.i8", -120, VT.INT8), ("test.u16", 65000, VT.UINT16),
    ("test.i16", -32000, VT.INT16), ("test.u32", 4000000000, VT.UINT32), ("test.i32", -2000000000, VT.INT32),
    ("test.u64", 18446744073709551000, VT.UINT64), ("test.i64", -9223372036854775000, VT.INT64),
    ("test.f32", 0.1, VT.FLOAT32), ("test.f64", 2.718281828459045, VT.FLOAT64), ("test.bool_t", True, VT.BOOL),
    ("test.bool_f", False, VT.BOOL), ("test.str", "héllo ▁world\n<start_of_turn>", VT.STRING),
    ("test.str_empty", "", VT.STRING),
]

ARRAYS = [
    ("test.arr_u8", [0, 1, 255], VT.UINT8), ("test.arr_i8", [-128, 0, 127], VT.INT8),
    ("test.arr_u16", [0, 65535], VT.UINT16), ("test.arr_i16", [-32768, 32767], VT.INT16),
    ("test.arr_u32", [0, 4294967295, 7], VT.UINT32), ("test.arr_i32", [-5, 0, 2147483647], VT.INT32),
    ("test.arr_u64", [0, 18446744073709551615], VT.UINT64),
    ("test.arr_i64", [-9223372036854775808, 9223372036854775807], VT.INT64),
    ("test.arr_f32", [1.5, -0.3, 1e-20, 3.4e38], VT.FLOAT32), ("test.arr_f64", [1e-300, -2.5, 1e300], VT.FLOAT64),
    ("test.arr_bool", [True, False, True], VT.BOOL), ("test.arr_str", ["a", "", "▁b", "<0x0A>"], VT.STRING),
]

NESTED = [
    ("test.nested_i32", [[1, 2, 3], [4], [-5, 6]]),
    ("test.nested_str", [["x", "yz"], ["", "w"]]),
    ("test.nested_f32", [[0.25, 0.1], [-1.0]]),
    ("test.nested3", [[[1, 2], [3]], [[4, 5, 6]]]),
    ("test.nested_bool", [[True], [False, True]]),
]


def tensors():
    rng = np.random.default_rng(7)
    q8 = rng.integers(0, 256, size=(2, 2 * 34), dtype=np.uint8)  # 2 rows of 64 q8_0 values
    q4k = rng.integers(0, 256, size=(1, 144), dtype=np.uint8)     # 1 row of 256 q4_K values
    return [
        # (name, array, raw_dtype, ggml type id, ne)
        ("t.f32", rng.standard_normal((3, 5)).astype(np.float32), None, 0, [5, 3]),
        ("t.f16", rng.standard_normal(7).astype(np.float16), None, 1, [7]),
        ("t.i8", rng.integers(-128, 128, size=(2, 2, 3), dtype=np.int8), None, 24, [3, 2, 2]),
        ("t.i32", rng.integers(-2**31, 2**31, size=(4,), dtype=np.int32), None, 26, [4]),
        ("t.bf16", rng.integers(0, 65536, size=(2, 3), dtype=np.uint16), QT.BF16, 30, [3, 2]),
        ("t.q8_0", q8, QT.Q8_0, 8, [64, 2]),
        ("t.q4_k", q4k, QT.Q4_K, 12, [256, 1]),
    ]


def write(out_dir, alignment):
    path = os.path.join(out_dir, f"ref-{alignment}.gguf")
    w = gguf.GGUFWriter(path, "testarch")
    meta = {"general.architecture": expected("testarch", VT.STRING)}
    if alignment != 32:
        w.add_custom_alignment(alignment)
        meta["general.alignment"] = expected(alignment, VT.UINT32)
    for key, value, vtype in SCALARS:
        w.add_key_value(key, value, vtype)
        meta[key] = expected(value, vtype)
    for key, value, et in ARRAYS:
        w.add_key_value(key, value, VT.ARRAY, sub_type=et)
        meta[key] = expected(value, VT.ARRAY, et)
    for key, value in NESTED:
        w.add_array(key, value)
        meta[key] = expected(value, VT.ARRAY)
    infos = []
    for name, arr, raw, type_id, ne in tensors():
        w.add_tensor(name, arr, raw_dtype=raw)
        infos.append({"name": name, "type": type_id, "ne": ne, "hex": arr.tobytes().hex()})
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with open(os.path.join(out_dir, f"ref-{alignment}.json"), "w") as f:
        json.dump({"metadata": meta, "tensors": infos}, f)


def main():
    for alignment in (32, 64, 256):
        write(sys.argv[1], alignment)


if __name__ == "__main__":
    main()
