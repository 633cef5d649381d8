"""Bidirectional image attention (Gemma 4 26B/31B, gemma4-spec.md §1.12) through the CLI on the std_bidir fixture
(tests/data/vision_fixtures: a standardized tower, image blocks of 60 and 66 soft tokens, sliding window 24): the
HF folder converted by `specula convert` (text and --mmproj), the two PNGs (one RGBA) decoded, preprocessed and
encoded by specula, and
  * `specula logits --mmproj --image --image`: all 148 logits against transformers' forward, whatever -ub (a -ub
    below an image block is raised for that block, with a log line), also with an f16 KV cache;
  * `specula run --mmproj --image --image`: greedy tokens equal transformers' generate(), and greedy with n-gram
    drafting equals greedy without (the verify path MTP uses; no assistant fits this tiny target);
  * the causal e_clip140 fixture (140-token budget) still matches its own reference.
"""
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

SPECULA = os.environ["SPECULA_BIN"]
SHARED = Path(os.environ["SPECULA_SHARED_DIR"])
FIXTURES = Path(os.environ["SPECULA_SOURCE_DIR"]) / "tests" / "data" / "vision_fixtures"
IMAGES = [str(SHARED / "assets" / "images" / f) for f in ("chelsea.png", "llamacpp-mtmd-test-1-positive.png")]


def specula(*args):
    return subprocess.run([SPECULA, *args], capture_output=True, timeout=300)


def ids(tokens):
    return ",".join(str(t) for t in tokens)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    out = {}
    tmp = tmp_path_factory.mktemp("vision_bidir")
    for name in ("std_bidir", "e_clip140"):
        hf = str(FIXTURES / name / "hf")
        text, mmproj = tmp / f"{name}.gguf", tmp / f"{name}-mmproj.gguf"
        r = specula("convert", hf, "-o", str(text), "--type", "f32", "-q")
        assert r.returncode == 0, r.stderr.decode()
        r = specula("convert", hf, "-o", str(mmproj), "--type", "f32", "--mmproj", "-q")
        assert r.returncode == 0, r.stderr.decode()
        out[name] = (str(text), str(mmproj), json.loads((FIXTURES / name / "prompt.json").read_text()))
    return out


def logits(models, name, tmp_path, *extra):
    text, mmproj, prompt = models[name]
    out = tmp_path / "logits.f32"
    r = specula("logits", "-m", text, "--mmproj", mmproj, "--image", IMAGES[0], "--image", IMAGES[1],
                "--image-max-tokens", str(prompt["max_soft_tokens"]), "--tokens", ids(prompt["tokens"]),
                "--out", str(out), "-t", "2", *extra)
    assert r.returncode == 0, r.stderr.decode()
    return np.fromfile(out, "<f4").reshape(prompt["T"], 400), r.stderr.decode()


@pytest.mark.parametrize("ubatch", ["512", "61", "16"])
def test_logits_from_images_match_transformers(models, tmp_path, ubatch):
    got, err_text = logits(models, "std_bidir", tmp_path, "-ub", ubatch)
    ref = np.fromfile(FIXTURES / "std_bidir" / "logits.f32", "<f4").reshape(got.shape)
    err = np.abs(got - ref).max() / np.abs(ref).max()
    print(f"std_bidir -ub {ubatch}: max err {err:.2e} of max |logit|")
    assert err <= 1e-4, err
    if int(ubatch) < 66:  # the 66-token block does not fit the chunk: raised, and said so
        assert "image block of 66 tokens" in err_text, err_text
    causal = np.fromfile(FIXTURES / "std_bidir" / "logits_causal.f32", "<f4").reshape(got.shape)
    assert np.abs(got - causal).max() > 1.0  # bidirectional attention is what makes the match


def test_logits_with_f16_cache(models, tmp_path):
    got, _ = logits(models, "std_bidir", tmp_path, "-ub", "16", "-ctk", "f16", "-ctv", "f16")
    ref = np.fromfile(FIXTURES / "std_bidir" / "logits.f32", "<f4").reshape(got.shape)
    err = np.abs(got - ref).max() / np.abs(ref).max()
    print(f"std_bidir f16 cache: max err {err:.2e} of max |logit|")
    assert err <= 5e-3, err


def test_causal_fixture_logits(models, tmp_path):
    got, _ = logits(models, "e_clip140", tmp_path, "-ub", "50")  # chunks split its blocks: fine when causal
    ref = np.fromfile(FIXTURES / "e_clip140" / "logits.f32", "<f4").reshape(got.shape)
    err = np.abs(got - ref).max() / np.abs(ref).max()
    print(f"e_clip140 -ub 50: max err {err:.2e} of max |logit|")
    assert err <= 1e-4, err


def run_ids(models, *extra):
    text, mmproj, prompt = models["std_bidir"]
    r = specula("run", "-m", text, "--mmproj", mmproj, "--image", IMAGES[0], "--image", IMAGES[1],
                "--image-max-tokens", "70", "--tokens", ids(prompt["tokens"]), "-n", "8", "--temp", "0",
                "--ignore-eos", "--print-ids", "-t", "2", *extra)
    assert r.returncode == 0, r.stderr.decode()
    last = r.stdout.decode().strip().splitlines()[-1]
    return [int(t) for t in last.split()], r.stderr.decode()


@pytest.mark.parametrize("ubatch", ["512", "16"])
def test_run_greedy_equals_transformers_generate(models, ubatch):
    got, _ = run_ids(models, "-ub", ubatch)
    assert got == models["std_bidir"][2]["generated_tokens"]


def test_run_with_drafting_equals_without(models):
    got, err_text = run_ids(models, "-ub", "16", "--spec-type", "ngram", "--spec-stats")
    assert got == models["std_bidir"][2]["generated_tokens"]
    assert "drafted" in err_text


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("extra", [["-ub", "16"], ["-ub", "512", "--spec-type", "ngram"]])
def test_serve_gives_transformers_greedy_tokens(models, tmp_path, extra):
    """specula serve (llama-server's multimodal /completion): the engine keeps image blocks whole and passes
    embedding rows, from which the model takes each block (bracketed by <|image> and <image|> in the batch)."""
    import base64
    import time

    import requests
    text, mmproj, prompt = models["std_bidir"]
    port = free_port()
    log = open(tmp_path / "serve.log", "wb")
    proc = subprocess.Popen([SPECULA, "serve", "-m", text, "--mmproj", mmproj, "--image-max-tokens", "70",
                             "--host", "127.0.0.1", "--port", str(port), "-t", "2", *extra],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        end = time.time() + 30
        while time.time() < end:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if requests.get(url + "/health", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.05)
        media = [base64.b64encode(Path(p).read_bytes()).decode() for p in IMAGES]
        # prompt.json's text without <bos> (the server adds it); <__media__> marks each image.
        body = {"prompt": {"prompt_string": "Compare<__media__>with<__media__>: the first", "multimodal_data": media},
                "n_predict": 8, "temperature": 0, "ignore_eos": True}
        r = requests.post(url + "/completion", json=body, timeout=120)
        assert r.status_code == 200, r.text
        assert r.json()["tokens_evaluated"] == prompt["T"]
        assert r.json()["tokens"] == prompt["generated_tokens"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
