"""specula run / perplexity on the real trained models that scripts/fetch-models.sh puts under models/:
Gemma 3 270M (base, Q4_K_M) and SmolLM2-135M-Instruct (Q4_1). Tests that need a missing file are SKIPPED with the
reason.

* SmolLM2 answers simple questions through its own chat template (read from the GGUF), greedy.
* Gemma 3 270M is a base model (no chat tuning, no template in the file): it answers in a few-shot Q/A prompt.
* The perplexity of the first chunks of the wikitext sample is within 2% of the transformers reference's running
  figure after the same chunks (tests/data/real_models/perplexity_reference.json; the CPU kernels' 8-bit
  activation quantization moves it by well under 1% on the full sample).
* The KV cache quality targets hold on Gemma 3 270M (turbo4 and turbo3 mean KL against f16).
"""
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

SPECULA = os.environ["SPECULA_BIN"]
SOURCE = Path(os.environ["SPECULA_SOURCE_DIR"])
SHARED = Path(os.environ["SPECULA_SHARED_DIR"])
GEMMA3 = SOURCE / "models" / "gemma-3-270m-q4_k_m.gguf"
SMOLLM2 = SOURCE / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"


def need(path):
    if not path.exists():
        pytest.skip(f"{path} is not available (run scripts/fetch-models.sh)")
    return str(path)


def run(*args, stdin=None):
    return subprocess.run([SPECULA, *args], capture_output=True, input=stdin, timeout=600)


@pytest.mark.parametrize("question,answer", [
    ("What is the capital of France?", "Paris"),
    ("What is 2 + 2?", "4"),
    ("What color is the sky on a clear day?", "blue"),
    ("Who wrote Romeo and Juliet?", "Shakespeare"),
])
def test_smollm2_chat_answers(question, answer):
    r = run("run", "-m", need(SMOLLM2), "--chat", "-p", question, "--temp", "0", "-n", "48", "-t", "2")
    assert r.returncode == 0, r.stderr.decode()
    text = r.stdout.decode()
    assert answer.lower() in text.lower(), text
    assert "<|im_end|>" not in text and "<|im_start|>" not in text


def test_smollm2_stops_at_end_of_turn():
    r = run("run", "-m", need(SMOLLM2), "--chat", "-p", "What is the capital of France?", "--temp", "0", "-n", "200",
            "-t", "2", "--print-ids")
    assert r.returncode == 0, r.stderr.decode()
    ids = [int(x) for x in r.stdout.decode().strip().splitlines()[-1].split()]
    assert len(ids) < 200  # stopped by the model, not by -n
    assert "Paris" in r.stdout.decode()


FEW_SHOT = "Q: What is the capital of Italy?\nA: Rome.\nQ: {}\nA:"


@pytest.mark.parametrize("question,answer", [
    ("What is the capital of France?", "Paris"),
    ("Who wrote Romeo and Juliet?", "Shakespeare"),
    ("What is 2 + 2?", "4"),
    ("What color is the sky on a clear day?", "blue"),
])
def test_gemma3_few_shot_answers(question, answer):
    r = run("run", "-m", need(GEMMA3), "-p", FEW_SHOT.format(question), "--temp", "0", "-n", "8", "-t", "2",
            "--no-display-prompt")
    assert r.returncode == 0, r.stderr.decode()
    first_line = r.stdout.decode().strip().splitlines()[0]
    assert answer.lower() in first_line.lower(), r.stdout.decode()


def test_gemma3_renders_the_gemma3_chat_template():
    # The file has no chat template; the Gemma 3 format is chosen by name and tokenizes to its control tokens.
    r = run("run", "-m", need(GEMMA3), "--chat", "--chat-template", "gemma3-it", "-p", "Hi", "--temp", "0", "-n", "1",
            "-t", "2", "--print-ids")
    assert r.returncode == 0, r.stderr.decode()


@pytest.mark.parametrize("model,name,chunks", [(GEMMA3, "gemma3-270m", 1), (SMOLLM2, "smollm2-135m", 1)])
def test_perplexity_close_to_transformers(tmp_path, model, name, chunks):
    path = need(model)
    text = (SHARED / "assets" / "text" / "wikitext-2-raw-test.hfsplit.crlf.txt").read_bytes()[:100000]
    sample = tmp_path / "wiki100k.txt"
    sample.write_bytes(text)
    r = run("perplexity", "-m", path, "-f", str(sample), "-c", "512", "--chunks", str(chunks), "-t", "2")
    assert r.returncode == 0, r.stderr.decode()
    out = r.stdout.decode() + r.stderr.decode()
    ours = float(re.search(r"PPL = ([0-9.]+)", out).group(1))
    ref = json.loads((SOURCE / "tests" / "data" / "real_models" / "perplexity_reference.json").read_text())
    want = ref["models"][name]["running_ppl"][chunks - 1]
    assert abs(ours - want) / want < 0.02, (ours, want)


def kl_mean(model, text, *args):
    r = run("kl", "-m", model, "-f", str(text), "-c", "512", "--chunks", "3", "-t", "2", *args)
    assert r.returncode == 0, r.stderr.decode()
    return float(re.search(r"Mean KLD:\s+(\S+)", r.stdout.decode()).group(1))


def test_gemma3_kv_cache_quality_targets(tmp_path):
    """The KV cache issue's targets on the real model (docs/kv-cache.md): mean KL against an f16 cache of turbo4/turbo4
    <= 0.005 and turbo3/turbo3 <= 0.02 on wikitext-2 at c=512, measured with int8x2 activations (with them an f32
    cache is within 2e-4 of f16, so the KL is the cache's). Measured: 0.0013 and 0.0043 on these 765 tokens."""
    model = need(GEMMA3)
    text = tmp_path / "wiki100k.txt"
    text.write_bytes((SHARED / "assets" / "text" / "wikitext-2-raw-test.hfsplit.crlf.txt").read_bytes()[:100000])
    assert kl_mean(model, text, "--activations", "int8x2", "-ctk", "f32", "-ctv", "f32") < 2e-4
    assert kl_mean(model, text, "--activations", "int8x2", "-ctk", "turbo4", "-ctv", "turbo4") <= 0.005
    assert kl_mean(model, text, "--activations", "int8x2", "-ctk", "turbo3", "-ctv", "turbo3") <= 0.02
