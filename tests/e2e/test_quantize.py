"""`specula quantize` end to end, checked with the Python `gguf` package: the output file reads back with
GGUFReader, tensor types follow llama.cpp's recipe rules (restated here from llama-quantize, independently
of the C++ code), metadata is copied with general.file_type / quantization_version set, and gguf's own
dequantization of every tensor is close to the original weights."""
import os
import subprocess

import gguf
import numpy as np
import pytest
from gguf import GGMLQuantizationType as Q

BIN = os.environ["SPECULA_BIN"]
SHARED = os.environ["SPECULA_SHARED_DIR"]
STORIES = os.path.join(SHARED, "assets/stories260K/stories260K.gguf")
TEXT_E = os.path.join(SHARED, "fixtures/llamacpp/text_e/llamacpp-f32.gguf")

# Relative RMS error bounds (error / RMS of the tensor) well above each format's noise on Gaussian data.
REL_RMS = {Q.F32: 0.0, Q.F16: 1e-3, Q.BF16: 8e-3, Q.Q8_0: 0.01, Q.Q6_K: 0.03, Q.Q5_K: 0.06, Q.Q5_0: 0.07,
           Q.Q5_1: 0.07, Q.Q4_K: 0.12, Q.Q4_0: 0.13}


def quantize(src, dst, qtype, *extra):
    return subprocess.run([BIN, "quantize", *extra, str(src), str(dst), qtype], capture_output=True, text=True,
                          timeout=120)


def field(reader, key):
    return reader.fields[key].contents()


def weights(reader):
    """{name: (type, ggml shape, float32 values)} using gguf's dequantizer."""
    out = {}
    for t in reader.tensors:
        values = gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float32).reshape(-1)
        out[t.name] = (t.tensor_type, [int(d) for d in t.shape], values)
    return out


def use_more_bits(i, n):
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def check_close(original, quantized):
    assert original.keys() == quantized.keys()
    for name, (otype, oshape, ovals) in original.items():
        qtype, qshape, qvals = quantized[name]
        assert qshape == oshape, name
        rms = float(np.sqrt(np.mean(ovals.astype(np.float64) ** 2))) or 1.0
        err = float(np.sqrt(np.mean((qvals.astype(np.float64) - ovals) ** 2)))
        assert err <= REL_RMS[qtype] * rms + 1e-12, f"{name} ({qtype.name}): rel rms error {err / rms:.4f}"


def test_stories_q8_0(tmp_path):
    out = tmp_path / "q8.gguf"
    r = quantize(STORIES, out, "q8_0")
    assert r.returncode == 0, r.stderr
    assert "Q8_0" in r.stdout and "file_type 7" in r.stdout
    src, dst = gguf.GGUFReader(STORIES), gguf.GGUFReader(out)
    assert field(dst, "general.file_type") == 7
    assert field(dst, "general.quantization_version") == 2
    assert field(dst, "tokenizer.ggml.tokens") == field(src, "tokenizer.ggml.tokens")
    assert field(dst, "llama.block_count") == field(src, "llama.block_count")
    ws = weights(dst)
    for name, (qtype, shape, _) in ws.items():
        if len(shape) < 2 or "norm" in name:
            want = Q.F32
        else:
            want = Q.Q8_0 if shape[0] % 32 == 0 else Q.F16   # llama.cpp refuses rows like 172; specula uses F16
        assert qtype == want, name
    assert ws["blk.0.ffn_down.weight"][0] == Q.F16             # row length 172
    check_close(weights(src), ws)


def write_llama_like(path, n_layers=8, hidden=256, ffn=512, vocab=96, tied=False):
    """A small f32 llama-architecture file with K-quant friendly rows (256 and 512) plus one odd tensor."""
    rng = np.random.default_rng(5)
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(n_layers)
    w.add_string("general.name", "tiny")
    w.add_file_type(0)

    def add(name, *shape):
        w.add_tensor(name, (rng.standard_normal(shape) / np.sqrt(shape[-1])).astype(np.float32))

    add("token_embd.weight", vocab, hidden)
    w.add_tensor("output_norm.weight", np.ones(hidden, np.float32))
    if not tied:
        add("output.weight", vocab, hidden)
    for i in range(n_layers):
        p = f"blk.{i}."
        w.add_tensor(p + "attn_norm.weight", np.ones(hidden, np.float32))
        add(p + "attn_q.weight", hidden, hidden)
        add(p + "attn_k.weight", 64, hidden)
        add(p + "attn_v.weight", 64, hidden)
        add(p + "attn_output.weight", hidden, hidden)
        w.add_tensor(p + "ffn_norm.weight", np.ones(hidden, np.float32))
        add(p + "ffn_gate.weight", ffn, hidden)
        add(p + "ffn_up.weight", ffn, hidden)
        add(p + "ffn_down.weight", hidden, ffn)
    add("blk.0.odd_proj.weight", 8, 96)   # row 96: a multiple of 32, not of 256
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def expected_k_m(name, shape, n_layers, base, tied):
    """The Q4_K_M / Q5_K_M rules of llama-quantize for this model."""
    if name.endswith("norm.weight") or len(shape) < 2:
        return Q.F32
    if name == "output.weight" or (tied and name == "token_embd.weight"):
        t = Q.Q6_K
    elif ("attn_v.weight" in name or "ffn_down" in name) and use_more_bits(int(name.split(".")[1]), n_layers):
        t = Q.Q6_K
    else:
        t = base
    if shape[0] % 256 != 0:
        t = {Q.Q4_K: Q.Q5_0, Q.Q5_K: Q.Q5_1, Q.Q6_K: Q.Q8_0}[t]
    return t


@pytest.mark.parametrize("qtype,base,ftype,tied", [("q4_k_m", Q.Q4_K, 15, False), ("Q5_K_M", Q.Q5_K, 17, True),
                                                   ("q4_k", Q.Q4_K, 15, True)])
def test_k_quant_mix(tmp_path, qtype, base, ftype, tied):
    src_path, out = tmp_path / "f32.gguf", tmp_path / "out.gguf"
    write_llama_like(src_path, tied=tied)
    r = quantize(src_path, out, qtype)
    assert r.returncode == 0, r.stderr
    dst = gguf.GGUFReader(out)
    assert field(dst, "general.file_type") == ftype
    ws = weights(dst)
    got = {name: qt for name, (qt, _, _) in ws.items()}
    want = {name: expected_k_m(name, shape, 8, base, tied) for name, (_, shape, _) in ws.items()}
    assert got == want
    n_q6 = sum(1 for n, t in got.items() if t == Q.Q6_K and ("attn_v" in n or "ffn_down" in n))
    assert n_q6 == 2 * 4   # layers 0, 3, 6, 7 of 8 (i < 1, i >= 7, (i - 1) % 3 == 2)
    check_close(weights(gguf.GGUFReader(src_path)), ws)


def test_text_e_q4_k_m_and_pure(tmp_path):
    out = tmp_path / "q4km.gguf"
    r = quantize(TEXT_E, out, "q4_k_m", "-t", "2")
    assert r.returncode == 0, r.stderr
    src, dst = gguf.GGUFReader(TEXT_E), gguf.GGUFReader(out)
    assert len(dst.tensors) == len(src.tensors)
    assert field(dst, "gemma4.attention.sliding_window_pattern") == field(src, "gemma4.attention.sliding_window_pattern")
    ws = weights(dst)
    # Tied embeddings: token_embd takes the output rule; its 48-wide rows fit no block type -> F16.
    assert ws["token_embd.weight"][0] == Q.F16
    assert ws["per_layer_model_proj.weight"][0] == Q.F32        # never quantized
    assert ws["blk.0.ffn_down.weight"][0] == Q.Q8_0             # more bits (Q6_K), 64-wide rows -> Q8_0
    assert ws["blk.1.ffn_down.weight"][0] == Q.Q5_0             # Q4_K, 64-wide rows -> Q5_0
    check_close(weights(src), ws)
    pure = tmp_path / "pure.gguf"
    assert quantize(TEXT_E, pure, "q4_k_m", "--pure").returncode == 0
    assert weights(gguf.GGUFReader(pure))["blk.0.ffn_down.weight"][0] == Q.Q5_0


def test_errors(tmp_path):
    r = quantize(STORIES, tmp_path / "x.gguf", "q3_k_m")
    assert r.returncode != 0 and "q4_k_m" in r.stderr and not (tmp_path / "x.gguf").exists()
    r = quantize(tmp_path / "missing.gguf", tmp_path / "x.gguf", "q8_0")
    assert r.returncode != 0 and "missing.gguf" in r.stderr
    q8 = tmp_path / "q8.gguf"
    assert quantize(STORIES, q8, "q8_0").returncode == 0
    r = quantize(q8, tmp_path / "q4.gguf", "q4_0")
    assert r.returncode != 0 and "--allow-requantize" in r.stderr
    r = quantize(q8, tmp_path / "q4.gguf", "q4_0", "--allow-requantize")
    assert r.returncode == 0, r.stderr
    assert gguf.GGUFReader(tmp_path / "q4.gguf").fields["general.file_type"].contents() == 2
