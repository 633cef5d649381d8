"""Reads a GGUF file with the reference `gguf` package (gguf.GGUFReader) and prints it as JSON.

Usage: gguf_reference_read.py FILE.gguf
Output: {"metadata": {key: VALUE}, "tensors": [{"name", "type", "ne", "hex", "offset"}]} where VALUE is
{"t": type, "v": scalar} or {"t": "arr", "e": element type, "v": [VALUE...]}; "offset" is the absolute file
offset of the tensor's bytes. GGUFReader flattens nested arrays in ReaderField.contents(), so nesting is
rebuilt from the field's raw parts, which GGUFReader lists in file order.
"""
import json
import sys

import gguf
from gguf import GGUFValueType as VT

TYPE_NAMES = {VT.UINT8: "u8", VT.INT8: "i8", VT.UINT16: "u16", VT.INT16: "i16", VT.UINT32: "u32",
              VT.INT32: "i32", VT.FLOAT32: "f32", VT.BOOL: "bool", VT.STRING: "str", VT.ARRAY: "arr",
              VT.UINT64: "u64", VT.INT64: "i64", VT.FLOAT64: "f64"}


def walk(parts, i, vtype):
    """Decodes the value of type vtype whose first part is parts[i]; returns (json value, next index)."""
    if vtype == VT.STRING:
        return {"t": "str", "v": bytes(parts[i + 1]).decode("utf-8")}, i + 2
    if vtype == VT.ARRAY:
        et = VT(int(parts[i][0]))
        n = int(parts[i + 1][0])
        i += 2
        items = []
        for _ in range(n):
            item, i = walk(parts, i, et)
            items.append(item)
        return {"t": "arr", "e": TYPE_NAMES[et], "v": items}, i
    x = parts[i][0].item()
    if vtype == VT.BOOL:
        x = bool(x)
    elif vtype in (VT.FLOAT32, VT.FLOAT64):
        x = float(x)
    return {"t": TYPE_NAMES[vtype], "v": x}, i + 1


def main():
    reader = gguf.GGUFReader(sys.argv[1])
    meta = {}
    for name, field in reader.fields.items():
        if name.startswith("GGUF."):
            continue  # the reader's pseudo-fields for the header
        # parts: key length, key bytes, value type, then the value's parts.
        value, end = walk(field.parts, 3, VT(int(field.parts[2][0])))
        assert end == len(field.parts), name
        meta[name] = value
    tensors = []
    for t in reader.tensors:
        raw = reader.data[t.data_offset:t.data_offset + t.n_bytes]
        tensors.append({"name": t.name, "type": int(t.tensor_type), "ne": [int(d) for d in t.shape],
                        "hex": bytes(raw).hex(), "offset": int(t.data_offset)})
    json.dump({"metadata": meta, "tensors": tensors}, sys.stdout)


if __name__ == "__main__":
    main()
