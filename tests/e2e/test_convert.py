"""`specula convert` end to end, checked with the Python `gguf` package (an independent reader and
quantizer):
* the HF folders of ../shared/fixtures/llamacpp converted at f32/f16 equal llama.cpp's own conversions
  (metadata keys, order, value types and values; tensor names, order, types, shapes and bytes). Ignored keys:
  general.name and general.size_label (cosmetic labels llama.cpp derives from the folder name and the
  parameter count) and specula's own gemma4.attention.bidirectional_vision (checked to be present);
* quantized mixes on a synthetic checkpoint with 256-wide rows: tensor types as llama-quantize assigns them
  (derived by hand below from llama.cpp's llama_tensor_get_type), Q8_0 bytes equal gguf.quants.quantize,
  and every tensor dequantizes close to the HF values;
* clear errors for broken inputs."""
import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

import gguf
import numpy as np
import pytest
from gguf import GGMLQuantizationType as Q

SPECULA = os.environ["SPECULA_BIN"]
SHARED = Path(os.environ["SPECULA_SHARED_DIR"])
FIXTURES = SHARED / "fixtures/llamacpp"
IGNORED = {"general.name", "general.size_label", "gemma4.attention.bidirectional_vision"}


def specula(*args, ok=True):
    r = subprocess.run([SPECULA, *map(str, args)], capture_output=True, text=True, timeout=300)
    if ok:
        assert r.returncode == 0, r.stderr
    return r


def fields(reader):
    out = {}
    for k, f in reader.fields.items():
        if k.startswith("GGUF.") or k in IGNORED:
            continue
        out[k] = ([gguf.GGUFValueType(t).name for t in f.types], f.contents())
    return out


@pytest.mark.parametrize("fixture,wtype", [("text_e", "f32"), ("text_e", "f16"), ("text_moe", "f32"),
                                           ("text_moe", "f16"), ("mtp", "f32"), ("vision", "f32")])
def test_equals_llamacpp_conversion(fixture, wtype, tmp_path):
    out = tmp_path / "out.gguf"
    specula("convert", FIXTURES / fixture / "hf", "-o", out, "--type", wtype, "-q", "-t", "2")
    ours = gguf.GGUFReader(out)
    ref = gguf.GGUFReader(FIXTURES / fixture / f"llamacpp-{wtype}.gguf")
    a, b = fields(ours), fields(ref)
    assert list(a) == list(b)
    for k in a:
        assert a[k] == b[k], k
    assert ours.fields["gemma4.attention.bidirectional_vision"].contents() is False
    assert [t.name for t in ours.tensors] == [t.name for t in ref.tensors]
    for x, y in zip(ours.tensors, ref.tensors):
        assert x.tensor_type == y.tensor_type, x.name
        assert list(x.shape) == list(y.shape), x.name
        assert x.data.tobytes() == y.data.tobytes(), x.name


# A checkpoint like text_e (PLE, KV sharing, double-wide MLP, sliding + full layers) with rows that are
# multiples of 256, so that the K-quants apply.
def make_checkpoint(folder: Path):
    src = FIXTURES / "text_e/hf"
    folder.mkdir()
    for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(src / f, folder / f)
    config = json.loads((src / "config.json").read_text())
    tc = config["text_config"]
    tc.update(hidden_size=256, intermediate_size=256, num_attention_heads=4, num_key_value_heads=1, head_dim=64,
              global_head_dim=128, hidden_size_per_layer_input=32)
    (folder / "config.json").write_text(json.dumps(config))
    L, H, P, V, F = 8, 256, 32, tc["vocab_size"], 256
    rng = np.random.default_rng(1)
    shapes = {"embed_tokens.weight": (V, H), "embed_tokens_per_layer.weight": (V, L * P),
              "per_layer_model_projection.weight": (L * P, H), "per_layer_projection_norm.weight": (P,),
              "norm.weight": (H,)}
    for i, t in enumerate(tc["layer_types"]):
        d = 64 if t == "sliding_attention" else 128
        ff = F if i < 4 else 2 * F
        p = f"layers.{i}."
        shapes.update({p + "input_layernorm.weight": (H,), p + "self_attn.q_proj.weight": (4 * d, H),
                       p + "self_attn.q_norm.weight": (d,), p + "self_attn.o_proj.weight": (H, 4 * d),
                       p + "post_attention_layernorm.weight": (H,), p + "pre_feedforward_layernorm.weight": (H,),
                       p + "mlp.gate_proj.weight": (ff, H), p + "mlp.up_proj.weight": (ff, H),
                       p + "mlp.down_proj.weight": (H, ff), p + "post_feedforward_layernorm.weight": (H,),
                       p + "per_layer_input_gate.weight": (P, H), p + "per_layer_projection.weight": (H, P),
                       p + "post_per_layer_input_norm.weight": (H,), p + "layer_scalar": (1,)})
        if i < 4:
            shapes.update({p + "self_attn.k_proj.weight": (d, H), p + "self_attn.v_proj.weight": (d, H),
                           p + "self_attn.k_norm.weight": (d,)})
    tensors = {}
    for name, shape in shapes.items():
        if len(shape) == 1:
            v = rng.uniform(0.5, 1.5, shape)
        else:
            v = rng.standard_normal(shape) / np.sqrt(shape[-1])
        tensors["model.language_model." + name] = v.astype(np.float32)
    header, offset = {}, 0
    for name in sorted(tensors):
        n = tensors[name].nbytes
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + n]}
        offset += n
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(folder / "model.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for name in sorted(tensors):
            f.write(tensors[name].tobytes())
    return tensors


def hf_name(gguf_name):
    table = {"token_embd.weight": "embed_tokens.weight", "per_layer_token_embd.weight": "embed_tokens_per_layer.weight",
             "per_layer_model_proj.weight": "per_layer_model_projection.weight",
             "per_layer_proj_norm.weight": "per_layer_projection_norm.weight", "output_norm.weight": "norm.weight"}
    if gguf_name in table:
        return "model.language_model." + table[gguf_name]
    _, i, rest = gguf_name.split(".", 2)
    per_layer = {"attn_norm.weight": "input_layernorm.weight", "attn_q.weight": "self_attn.q_proj.weight",
                 "attn_k.weight": "self_attn.k_proj.weight", "attn_v.weight": "self_attn.v_proj.weight",
                 "attn_output.weight": "self_attn.o_proj.weight", "attn_q_norm.weight": "self_attn.q_norm.weight",
                 "attn_k_norm.weight": "self_attn.k_norm.weight",
                 "post_attention_norm.weight": "post_attention_layernorm.weight",
                 "ffn_norm.weight": "pre_feedforward_layernorm.weight", "ffn_gate.weight": "mlp.gate_proj.weight",
                 "ffn_up.weight": "mlp.up_proj.weight", "ffn_down.weight": "mlp.down_proj.weight",
                 "post_ffw_norm.weight": "post_feedforward_layernorm.weight",
                 "inp_gate.weight": "per_layer_input_gate.weight", "proj.weight": "per_layer_projection.weight",
                 "post_norm.weight": "post_per_layer_input_norm.weight", "layer_output_scale.weight": "layer_scalar"}
    return f"model.language_model.layers.{i}.{per_layer[rest]}"


def use_more_bits(i, n):  # llama.cpp's rule for the _M mixes
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def expected_type(name, n_dims, ftype):
    """The type llama-quantize gives each tensor of the checkpoint above (after the converter's f16)."""
    if n_dims == 1 or name.endswith("_norm.weight") or name == "rope_freqs.weight":
        return Q.F32
    if name == "per_layer_model_proj.weight":
        return Q.F16  # never quantized by llama-quantize; the converter wrote it as f16
    cols_32_only = name.endswith(".proj.weight")  # rows of 32 values: no K-quant fits
    if ftype == "q8_0":
        return Q.Q8_0
    # q4_k_m
    if name == "token_embd.weight":
        return Q.Q6_K  # tied embeddings: the output matrix rule
    if name.startswith("blk."):
        layer = int(name.split(".")[1])
        if name.endswith("attn_v.weight") and use_more_bits(layer, 4):  # 4 attn_v tensors, layers 0..3
            return Q.Q6_K
        if name.endswith("ffn_down.weight") and use_more_bits(layer, 8):
            return Q.Q6_K
    return Q.Q5_0 if cols_32_only else Q.Q4_K


# Relative RMS error bounds after dequantization, per type (loose upper bounds of these formats' error on
# Gaussian data: Q4_K ~ 0.1, Q5_0 ~ 0.05, Q6_K ~ 0.025, Q8_0 ~ 0.006).
BOUND = {Q.F32: 0.0, Q.F16: 1e-3, Q.Q8_0: 0.01, Q.Q6_K: 0.04, Q.Q5_0: 0.06, Q.Q4_K: 0.12}


@pytest.mark.parametrize("ftype", ["q8_0", "q4_k_m"])
def test_quantized_mixes(ftype, tmp_path):
    tensors = make_checkpoint(tmp_path / "hf")
    out = tmp_path / "out.gguf"
    specula("convert", tmp_path / "hf", "-o", out, "--type", ftype, "-q")
    r = gguf.GGUFReader(out)
    assert r.fields["general.file_type"].contents() == {"q8_0": 7, "q4_k_m": 15}[ftype]
    for t in r.tensors:
        if t.name == "rope_freqs.weight":
            continue
        src = tensors[hf_name(t.name)]
        assert t.tensor_type == expected_type(t.name, src.ndim, ftype), t.name
        got = gguf.quants.dequantize(t.data, t.tensor_type).reshape(src.shape)
        rel = np.sqrt(np.mean((got - src) ** 2) / np.mean(src ** 2))
        assert rel <= BOUND[t.tensor_type], (t.name, t.tensor_type.name, rel)
        if t.tensor_type == Q.Q8_0:
            want = gguf.quants.quantize(src, Q.Q8_0)
            assert t.data.tobytes() == want.tobytes(), t.name


def test_broken_inputs_give_clear_errors(tmp_path):
    hf = tmp_path / "hf"
    shutil.copytree(FIXTURES / "text_e/hf", hf)
    config = json.loads((hf / "config.json").read_text())
    del config["text_config"]["hidden_size"]
    config["text_config"]["num_kv_shared_layers"] = 9
    (hf / "config.json").write_text(json.dumps(config))
    r = specula("convert", hf, "-o", tmp_path / "x.gguf", ok=False)
    assert r.returncode == 1
    assert "text_config.hidden_size" in r.stderr and "num_kv_shared_layers" in r.stderr, r.stderr
    assert not (tmp_path / "x.gguf").exists()

    config["architectures"] = ["MistralForCausalLM"]
    (hf / "config.json").write_text(json.dumps(config))
    r = specula("convert", hf, "-o", tmp_path / "x.gguf", ok=False)
    assert r.returncode == 1 and "MistralForCausalLM" in r.stderr, r.stderr

    r = specula("convert", FIXTURES / "text_e/hf", "-o", tmp_path / "x.gguf", "--type", "q3_xyz", ok=False)
    assert r.returncode == 1 and "q3_xyz" in r.stderr.lower(), r.stderr
    r = specula("convert", FIXTURES / "text_e/hf", ok=False)
    assert r.returncode != 0 and "-o" in r.stderr
    r = specula("convert", tmp_path / "nowhere", "-o", tmp_path / "x.gguf", ok=False)
    assert r.returncode == 1 and "config.json" in r.stderr
