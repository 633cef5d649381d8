"""specula run with speculative decoding: MTP assistant and n-gram drafting give the same greedy tokens as plain
decoding (the transformers greedy tokens of the mtp fixture), for every cache type; flag contradictions and
incompatible drafters are clear errors."""
import json
import os
import subprocess
from pathlib import Path

import pytest

SPECULA = os.environ["SPECULA_BIN"]
FIX = Path(os.environ["SPECULA_SHARED_DIR"]) / "fixtures" / "llamacpp"
MTP = FIX / "mtp"
TARGET = str(MTP / "llamacpp-f32.gguf")
ASSISTANT = str(MTP / "assistant-llamacpp-f32.gguf")
PROMPTS = json.loads((MTP / "mtp.json").read_text())["prompts"]


def run(*args):
    return subprocess.run([SPECULA, "run", *args], capture_output=True, timeout=300)


def ids_of(r):
    assert r.returncode == 0, r.stderr.decode()
    return [int(x) for x in r.stdout.decode().splitlines()[-1].split()]


def tokens_arg(p):
    return ",".join(str(t) for t in p["tokens"])


@pytest.mark.parametrize("p", PROMPTS, ids=lambda p: f"p{p['index']}")
@pytest.mark.parametrize("extra", [
    ["--mtp-head", ASSISTANT],
    ["--spec-type", "mtp", "--mtp-head", ASSISTANT, "--draft-block-size", "1"],
    ["--spec-type", "draft-mtp", "--spec-draft-model", ASSISTANT, "--spec-draft-n-max", "8"],
    ["--spec-type", "ngram", "--draft-block-size", "5"],
], ids=["mtp-default", "mtp-1", "draft-mtp-8", "ngram-5"])
def test_greedy_tokens_equal_transformers_greedy(p, extra):
    r = run("-m", TARGET, "--tokens", tokens_arg(p), "-n", "24", "--temp", "0", "--print-ids", "-t", "1", *extra)
    assert ids_of(r) == p["plain_greedy_tokens"]
    assert b"speculation:" in r.stderr


@pytest.mark.parametrize("ctk", ["f16", "bf16", "q8_0", "q4_0", "turbo4", "turbo3", "turbo2"])
def test_mtp_equals_plain_decoding_with_compressed_caches(ctk):
    p = PROMPTS[1]
    base = ["-m", TARGET, "--tokens", tokens_arg(p), "-n", "32", "--temp", "0", "--print-ids", "-t", "1",
            "-ctk", ctk, "-ctv", ctk]
    plain = ids_of(run(*base))
    assert ids_of(run(*base, "--mtp-head", ASSISTANT, "--draft-block-size", "3")) == plain
    assert ids_of(run(*base, "--spec-type", "ngram")) == plain


def test_spec_stats_prints_every_round():
    p = PROMPTS[0]
    r = run("-m", TARGET, "--tokens", tokens_arg(p), "-n", "24", "--temp", "0", "--print-ids", "-t", "1",
            "--spec-type", "ngram", "--spec-stats")
    assert ids_of(r) == p["plain_greedy_tokens"]
    err = r.stderr.decode()
    rounds = [line for line in err.splitlines() if line.startswith("round ")]
    assert rounds and all("drafted" in line and "accepted" in line for line in rounds)
    assert "acceptance by draft position" in err


def test_sampling_with_mtp_runs_and_is_reproducible():
    p = PROMPTS[0]
    args = ["-m", TARGET, "--tokens", tokens_arg(p), "-n", "20", "--temp", "0.9", "-s", "7", "--print-ids", "-t", "1",
            "--mtp-head", ASSISTANT]
    a, b = ids_of(run(*args)), ids_of(run(*args))
    assert a == b and len(a) == 20


@pytest.mark.parametrize("extra,message", [
    (["--spec-type", "mtp"], "--mtp-head"),
    (["--spec-type", "none", "--mtp-head", ASSISTANT], "conflicts with --spec-type none"),
    (["--spec-type", "ngram", "--mtp-head", ASSISTANT], "n-gram drafting uses no model"),
    (["--mtp-head", ASSISTANT, "--draft-block-size", "0"], "--draft-block-size must be in [1, 32]"),
    (["--draft-block-size", "4"], "no effect without speculation"),
    (["--spec-stats"], "--spec-stats needs speculation"),
    (["--spec-type", "eagle"], "'eagle' is unknown"),
    (["--mtp-head", TARGET], "is not a Gemma 4 MTP assistant"),
    (["--mtp-head", str(MTP / "missing.gguf")], "missing.gguf"),
])
def test_bad_combinations_are_clear_errors(extra, message):
    r = run("-m", TARGET, "--tokens", "5,6,7", "-n", "4", "--temp", "0", *extra)
    assert r.returncode != 0
    assert message in r.stderr.decode()


def test_assistant_of_another_target_is_refused_naming_both_values():
    r = run("-m", str(FIX / "text_e" / "llamacpp-f32.gguf"), "--tokens", "5,6,7", "-n", "4", "--mtp-head", ASSISTANT)
    assert r.returncode != 0
    err = r.stderr.decode()
    assert "400" in err and "416" in err


def cli(*args):
    return subprocess.run([SPECULA, *args], capture_output=True, timeout=300)


def test_converted_assistant_drafts_the_same_tokens(tmp_path):
    out = tmp_path / "assistant.gguf"
    r = cli("convert", str(MTP / "assistant_hf"), "-o", str(out), "--type", "f32")
    assert r.returncode == 0, r.stderr.decode()
    for p in PROMPTS:
        r = run("-m", TARGET, "--tokens", tokens_arg(p), "-n", "24", "--temp", "0", "--print-ids", "-t", "1",
                "--mtp-head", str(out))
        assert ids_of(r) == p["plain_greedy_tokens"]


def test_synth_tiny_with_tiny_assistant(tmp_path):
    target, assistant = tmp_path / "tiny.gguf", tmp_path / "tiny-assistant.gguf"
    for preset, path in (("tiny", target), ("tiny-assistant", assistant)):
        r = cli("synth", "--preset", preset, "-o", str(path), "-q", "-t", "1")
        assert r.returncode == 0, r.stderr.decode()
    base = ["-m", str(target), "-p", "The cat sat on the mat and the dog sat on the log", "-n", "40", "--temp", "0",
            "--ignore-eos", "--print-ids", "-t", "1"]
    plain = ids_of(run(*base))
    r = run(*base, "--mtp-head", str(assistant), "--draft-block-size", "4")
    assert ids_of(r) == plain
    assert "centroid head" in r.stderr.decode()
    # The tiny assistant does not fit the mtp fixture's target: refused, naming both widths.
    r = run("-m", TARGET, "--tokens", "5,6,7", "-n", "4", "--mtp-head", str(assistant))
    assert r.returncode != 0 and "256" in r.stderr.decode() and "48" in r.stderr.decode()
