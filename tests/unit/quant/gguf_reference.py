"""Independent reference data for the quant codec tests, made with the Python `gguf` package.

  gguf_reference.py gen OUTDIR
      Writes into OUTDIR:
        input.f32                 float32 rows (fixed seed) to quantize, shape given in manifest.json
        py_q_<type>.bin           gguf.quants.quantize(input, type) for the types gguf can quantize
        blocks_<type>.bin         random blocks of every type gguf can dequantize (sane fp16 scales)
        py_deq_<type>.f32         gguf.quants.dequantize(blocks_<type>.bin, type)
        manifest.json             {"rows", "cols", "quantize": [...], "dequantize": {type: n_values}}
  gguf_reference.py dequant OUTDIR TYPE...
      For each TYPE reads OUTDIR/ours_q_<TYPE>.bin (written by the C++ test: its quantization of
      input.f32) and writes OUTDIR/ours_py_deq_<TYPE>.f32 = gguf.quants.dequantize(...).
Type names are gguf's GGMLQuantizationType names (Q4_0, Q4_K, BF16, ...).
"""

import json
import os
import sys

import numpy as np
from gguf import quants
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType as T

COLS = 512  # a multiple of every block size (32 and 256)

# Types gguf 0.19 can quantize (F16 through numpy's float16 cast).
QUANTIZE = ["F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0"]

# Types to cross-check dequantization on random blocks, with the byte offsets of their fp16 scale fields.
DEQUANTIZE_SCALES = {
    "Q4_0": [0], "Q4_1": [0, 2], "Q5_0": [0], "Q5_1": [0, 2], "Q8_0": [0],
    "Q2_K": [80, 82], "Q3_K": [108], "Q4_K": [0, 2], "Q5_K": [0, 2], "Q6_K": [208],
    "IQ4_NL": [0],
}


def input_rows(rng):
    rows = [rng.standard_normal(COLS) * s for s in (1.0, 0.02, 7.5, 1e-3)]
    rows.append(np.zeros(COLS))                                        # all-zero blocks
    rows.append(np.full(COLS, 0.375))                                  # constant blocks
    r = rng.standard_normal(COLS) * 0.1
    r[::37] = 40.0 * np.sign(rng.standard_normal(len(r[::37])))         # outliers of both signs
    rows.append(r)
    rows.append(np.abs(rng.standard_normal(COLS)) + 0.5)               # strictly positive
    rows.append(-np.abs(rng.standard_normal(COLS)) - 0.25)             # strictly negative
    rows.append(rng.uniform(-1, 1, COLS) ** 3)                         # heavy mass near zero
    r = rng.integers(-8, 8, COLS).astype(np.float64) * 0.125           # values on a coarse grid (ties)
    rows.append(r)
    rows.append(rng.standard_cauchy(COLS).clip(-50, 50))               # heavy tails
    return np.stack(rows).astype(np.float32)


def random_blocks(rng, name, n_blocks):
    block_size, type_size = GGML_QUANT_SIZES[T[name]]
    raw = rng.integers(0, 256, (n_blocks, type_size), dtype=np.uint8)
    scales = (rng.standard_normal((n_blocks, len(DEQUANTIZE_SCALES[name]))) * 0.05).astype(np.float16)
    scales[0, :] = 0                                                   # a zero scale
    for k, off in enumerate(DEQUANTIZE_SCALES[name]):
        raw[:, off:off + 2] = scales[:, k:k + 1].view(np.uint8)
    return raw, n_blocks * block_size


def gen(out):
    rng = np.random.default_rng(20240607)
    x = input_rows(rng)
    x.tofile(os.path.join(out, "input.f32"))
    for name in QUANTIZE:
        quants.quantize(x, T[name]).tofile(os.path.join(out, f"py_q_{name}.bin"))
    deq = {}
    for name in DEQUANTIZE_SCALES:
        raw, n = random_blocks(rng, name, 24)
        raw.tofile(os.path.join(out, f"blocks_{name}.bin"))
        quants.dequantize(raw, T[name]).astype(np.float32).tofile(os.path.join(out, f"py_deq_{name}.f32"))
        deq[name] = n
    f16 = (rng.standard_normal(512) * 3).astype(np.float16)
    f16[:4] = [0, -0.0, 6.1e-5, -65504]                                 # zero, signed zero, subnormal edge, max
    f16.view(np.uint8).tofile(os.path.join(out, "blocks_F16.bin"))
    quants.dequantize(f16.view(np.uint8), T.F16).astype(np.float32).tofile(os.path.join(out, "py_deq_F16.f32"))
    deq["F16"] = 512
    bf16 = rng.integers(0, 65536, 512, dtype=np.uint16)
    bf16 = np.where((bf16 & 0x7F80) == 0x7F80, bf16 & 0xBFFF, bf16)     # no inf/nan exponents
    bf16.view(np.uint8).tofile(os.path.join(out, "blocks_BF16.bin"))
    quants.dequantize(bf16.view(np.uint8), T.BF16).astype(np.float32).tofile(os.path.join(out, "py_deq_BF16.f32"))
    deq["BF16"] = 512
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump({"rows": int(x.shape[0]), "cols": COLS, "quantize": QUANTIZE, "dequantize": deq}, f)


def dequant(out, names):
    rows = json.load(open(os.path.join(out, "manifest.json")))["rows"]
    for name in names:
        raw = np.fromfile(os.path.join(out, f"ours_q_{name}.bin"), dtype=np.uint8).reshape(rows, -1)
        y = quants.dequantize(raw, T[name]).astype(np.float32)
        y.tofile(os.path.join(out, f"ours_py_deq_{name}.f32"))


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "gen":
        gen(sys.argv[2])
    elif len(sys.argv) >= 4 and sys.argv[1] == "dequant":
        dequant(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(__doc__)
