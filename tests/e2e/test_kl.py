"""KV cache types end to end (-ctk/-ctv, `specula kl`):
* the f16 cache reproduces llama.cpp's perplexity oracle for stories260K (llama.cpp's default cache is f16);
* `kl` with f32 on both sides reports exactly what `specula perplexity` reports (independent code path);
* `run` with an f16 cache reproduces llama.cpp's greedy completion;
* codecs that cannot store a head dim are refused with the layer named; bad type names list the valid ones;
* on a random-weight synth model the KL against f16 orders by bits (q8_0 < turbo4 < turbo3 < turbo2);
* a prefill in chunks gives bit-identical logits to token-by-token decoding with packed caches (rows read their
  predecessors' K/V through the codec, as decoding does)."""
import os
import re
import subprocess
from pathlib import Path

import pytest

SPECULA = os.environ["SPECULA_BIN"]
ASSETS = Path(os.environ["SPECULA_SHARED_DIR"]) / "assets"
STORIES = ASSETS / "stories260K"
MODEL = str(STORIES / "stories260K.gguf")
TEXT = str(ASSETS / "text" / "tinystories-valid-subset-30k.txt")


def specula(*args, ok=True):
    r = subprocess.run([SPECULA, *map(str, args)], capture_output=True, text=True, timeout=300)
    if ok:
        assert r.returncode == 0, r.stderr
    return r


def kl_numbers(out):
    ppl = re.search(r"^PPL\s+(\S+)\s+(\S+)", out, re.M)
    return {
        "ppl_base": float(ppl.group(1)),
        "ppl_test": float(ppl.group(2)),
        "mean": float(re.search(r"Mean KLD:\s+(\S+)", out).group(1)),
        "top1": float(re.search(r"Same top-1:\s+(\S+)%", out).group(1)),
    }


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("kl") / "tiny.gguf"
    specula("synth", "--preset", "tiny", "--type", "q8_0", "-o", path, "-q")
    return path


def test_f16_cache_matches_llamacpp_perplexity_oracle():
    # llama-perplexity (f16 KV cache by default): PPL = 5.8585 +/- 0.13908 at c=128, 121 chunks.
    n = kl_numbers(specula("kl", "-m", MODEL, "-f", TEXT, "-c", "128", "-t", "2").stdout)
    assert abs(n["ppl_base"] - 5.8585) <= 0.001
    assert n["ppl_test"] == n["ppl_base"] and n["mean"] == 0.0 and n["top1"] == 100.0


def test_f32_kl_reports_the_perplexity_command_value():
    ppl = specula("perplexity", "-m", MODEL, "-f", TEXT, "-c", "128", "--chunks", "20", "-t", "1").stdout
    want = float(re.search(r"PPL = (\S+)", ppl).group(1))
    out = specula("kl", "-m", MODEL, "-f", TEXT, "-c", "128", "--chunks", "20", "-t", "1", "--base-type-k", "f32",
                  "--base-type-v", "f32", "-ctk", "f32", "-ctv", "f32").stdout
    n = kl_numbers(out)
    assert n["ppl_base"] == want and n["ppl_test"] == want and n["mean"] == 0.0


def test_bf16_cache_is_close_to_f16():
    # bf16 keeps 8 significand bits: K/V relative error <= 2^-9, far below what changes a prediction.
    n = kl_numbers(specula("kl", "-m", MODEL, "-f", TEXT, "-c", "128", "--chunks", "30", "-ctk", "bf16", "-ctv",
                           "bf16").stdout)
    assert 0 < n["mean"] < 1e-3
    assert n["top1"] >= 98.0
    assert abs(n["ppl_test"] - n["ppl_base"]) / n["ppl_base"] < 0.01


def test_run_with_f16_cache_matches_llamacpp_completion():
    r = specula("run", "-m", MODEL, "-p", "Once upon a time", "-n", "64", "--temp", "0", "-t", "1", "-ctk", "f16",
                "-ctv", "f16")
    oracle = (STORIES / "llamacpp-oracle" / "llama-completion_prompt-Once-upon-a-time_n64_temp0.txt").read_text()
    assert r.stdout.rstrip("\n") == oracle.rstrip("\n")


@pytest.mark.parametrize("cmd", ["run", "kl", "bench", "logits"])
def test_turbo_on_head_dim_8_is_refused_naming_the_layer(cmd, tmp_path):
    extra = {"run": ["-p", "x", "-n", "1"], "kl": ["-f", TEXT], "bench": ["-p", "4", "-n", "1"],
             "logits": ["--tokens", "1,2", "--out", tmp_path / "x.f32"]}[cmd]
    r = specula(cmd, "-m", MODEL, *extra, "-ctk", "turbo4", ok=False)
    assert r.returncode != 0
    assert "layer 0 K" in r.stderr and "power of two" in r.stderr


def test_unknown_cache_type_lists_the_valid_ones():
    r = specula("run", "-m", MODEL, "-p", "x", "-ctv", "q5_1", ok=False)
    assert r.returncode != 0
    assert "-ctv" in r.stderr and "turbo3" in r.stderr and "q8_0" in r.stderr


def test_kl_orders_by_bits_on_synth_tiny(tiny):
    means = {}
    for t in ["q8_0", "turbo4", "turbo3", "turbo2"]:
        n = kl_numbers(specula("kl", "-m", tiny, "-f", TEXT, "-c", "256", "--chunks", "4", "-ctk", t, "-ctv",
                               t).stdout)
        means[t] = n["mean"]
    assert 0 < means["q8_0"] < means["turbo4"] < means["turbo3"] < means["turbo2"], means


@pytest.mark.parametrize("types", [("turbo3", "turbo3"), ("q4_0", "turbo4"), ("turbo2", "bf16")])
def test_chunked_prefill_equals_token_by_token(tiny, tmp_path, types):
    tokens = ",".join(str(2 + (i * 37) % 400) for i in range(80))  # 80 > window 32 + 16 + 1: the ring wraps
    outs = []
    for ub in ["1", "16"]:
        out = tmp_path / f"l{ub}.f32"
        specula("logits", "-m", tiny, "--tokens", tokens, "--out", out, "-ub", ub, "-ctk", types[0], "-ctv", types[1])
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


def test_bench_reports_the_cache(tiny):
    out = specula("bench", "-m", tiny, "-p", "40", "-n", "4", "-ub", "16", "-ctk", "turbo4", "-ctv", "turbo3",
                  "--bandwidth", "10").stdout
    assert "kv cache: K turbo4, V turbo3" in out


def test_recent_window_and_activation_precision(tiny):
    """The recent window (default 128 positions at f16) lowers turbo3's KL; --kv-recent 0 turns it off. With float32
    or int8x2 activations an f32 cache is nearly indistinguishable from f16 (the int8 activation rounding is what
    amplifies it); --base-activations f32 compares against a float reference."""
    def mean(*extra):
        r = specula("kl", "-m", tiny, "-f", TEXT, "-c", "256", "--chunks", "4", *extra)
        return kl_numbers(r.stdout)["mean"], r.stderr

    with_window, _ = mean("-ctk", "turbo3", "-ctv", "turbo3")
    without, _ = mean("-ctk", "turbo3", "-ctv", "turbo3", "--kv-recent", "0")
    assert with_window < 0.5 * without, (with_window, without)
    int8, _ = mean("-ctk", "f32", "-ctv", "f32")
    float32, err = mean("-ctk", "f32", "-ctv", "f32", "--activations", "f32")
    assert "baseline f16/f16 (f32 activations), test f32/f32 (f32 activations)" in err
    assert float32 < 0.1 * int8, (float32, int8)
    int8x2, _ = mean("-ctk", "f32", "-ctv", "f32", "--activations", "int8x2")
    assert int8x2 < 0.1 * int8, (int8x2, int8)
    # Against a float32 reference, int8x2 is much closer than int8 (same f16 cache in both passes).
    vs_int8, _ = mean("--base-activations", "f32")
    vs_int8x2, err = mean("--base-activations", "f32", "--activations", "int8x2")
    assert "baseline f16/f16 (f32 activations), test f16/f16 (int8x2 activations)" in err
    assert vs_int8x2 < 0.1 * vs_int8, (vs_int8x2, vs_int8)
    bad = specula("kl", "-m", tiny, "-f", TEXT, "--activations", "int4", ok=False)
    assert bad.returncode != 0 and "--activations must be int8, int8x2 or f32" in bad.stderr
