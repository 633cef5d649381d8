"""The `specula serve` flag matrix: every combination of
  {--mtp-head or not} x {--spec-type unset|none|mtp|ngram} x {--mmproj or not} x {-np 1|4} x {-c 48|8192}
  x {KV cache type: f32 f16 bf16 q8_0 q4_0 turbo2 turbo3 turbo4 for K and V alike, plus mixed K/V pairs}
(768 command lines; the draft cache types -ctkd/-ctvd follow -ctk/-ctv when a drafter is given) either starts and
serves a text request (and, with --mmproj, an image request: 200, or a clean exceed_context_size_error when the
image block cannot fit -c 48) and exits 0 on SIGTERM, or exits 1 at once with a one-line error. Nothing ends by a
signal. Every server is a real start of tiny models (synth tiny + tiny-assistant + tiny-mmproj), several at a
time. Contradictory speculation flags must be refused; every other
combination must serve (the tiny model's head dims suit every codec)."""
import base64
import concurrent.futures as cf
import itertools
import os
import subprocess
import tempfile

import pytest
import requests

from serve_util import free_port, wait_healthy
from test_serve_images import png

SPECULA = os.environ["SPECULA_BIN"]

CODECS = [(t, t) for t in ("f32", "f16", "bf16", "q8_0", "q4_0", "turbo2", "turbo3", "turbo4")] + [
    ("q8_0", "turbo4"), ("turbo4", "q8_0"), ("f16", "q4_0"), ("turbo3", "turbo2")]
SPECS = [None, "none", "mtp", "ngram"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("serve_matrix")
    out = {}
    for preset, name in (("tiny", "tiny"), ("tiny-assistant", "asst"), ("tiny-mmproj", "mmproj")):
        out[name] = str(d / f"{name}.gguf")
        subprocess.run([SPECULA, "synth", "--preset", preset, "-o", out[name], "-q"], check=True, timeout=60,
                       capture_output=True)
    out["image"] = "data:image/png;base64," + base64.b64encode(png(64, 48, seed=3)).decode()
    out["dir"] = d
    return out


def expected_refusal(head, spec):
    """The speculation flags contradict each other (config/speculative.h)."""
    return (head and spec in ("none", "ngram")) or (not head and spec == "mtp")


def command(files, head, spec, mmproj, np_, ctx, codec, port):
    k, v = codec
    args = [SPECULA, "serve", "-m", files["tiny"], "--host", "127.0.0.1", "--port", str(port), "-t", "1",
            "-np", str(np_), "-c", str(ctx), "-ctk", k, "-ctv", v]
    if head:
        args += ["--mtp-head", files["asst"], "-ctkd", k, "-ctvd", v]
    if spec:
        args += ["--spec-type", spec]
    if mmproj:
        args += ["--mmproj", files["mmproj"], "--image-max-tokens", "70"]
    return args


def check_requests(url, mmproj, ctx, files):
    """'' when the server answered as expected, else what went wrong."""
    r = requests.post(url + "/completion", json={"prompt": "hello", "n_predict": 3, "temperature": 0}, timeout=60)
    if r.status_code != 200 or r.json()["tokens_predicted"] > 3:
        return f"text request: {r.status_code} {r.text[:200]}"
    if not mmproj:
        return ""
    msgs = [{"role": "user", "content": [{"type": "text", "text": "what is it"},
                                         {"type": "image_url", "image_url": {"url": files["image"]}}]}]
    r = requests.post(url + "/v1/chat/completions", json={"messages": msgs, "max_tokens": 3, "temperature": 0},
                      timeout=60)
    if ctx < 100:
        ok = r.status_code == 400 and r.json()["error"]["type"] == "exceed_context_size_error"
    else:
        ok = r.status_code == 200 and r.json()["usage"]["completion_tokens"] <= 3
    return "" if ok else f"image request: {r.status_code} {r.text[:200]}"


def run_one(files, combo):
    """run_once, again on another port when the one picked was taken meanwhile (other tests run in parallel)."""
    for _ in range(3):
        problem = run_once(files, combo)
        if "cannot listen on" not in problem:
            return problem
    return problem


def run_once(files, combo):
    head, spec, mmproj, np_, ctx, codec = combo
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # A log file of its own: two concurrent starts can pick the same port number, and a shared name would let one
    # truncate the other's log.
    log = tempfile.TemporaryFile(dir=files["dir"])
    proc = subprocess.Popen(command(files, head, spec, mmproj, np_, ctx, codec, port), stdout=subprocess.DEVNULL,
                            stderr=log)
    try:
        if expected_refusal(head, spec):
            rc = proc.wait(timeout=30)
            log.seek(0)
            lines = log.read().decode(errors="replace").strip().splitlines()
            if rc != 1 or len(lines) != 1 or not lines[0].startswith("specula serve: "):
                return f"expected a one-line refusal, got rc {rc}: {lines}"
            return ""
        if not wait_healthy(proc, url, 30, poll=0.02, raise_on_timeout=False):
            log.seek(0)
            return f"did not start (rc {proc.poll()}): {log.read().decode(errors='replace')[-400:]}"
        problem = check_requests(url, mmproj, ctx, files)
        proc.terminate()
        rc = proc.wait(timeout=30)
        if rc != 0:
            problem += f" exit {rc} after SIGTERM"
        return problem
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()


@pytest.mark.parametrize("codec", CODECS, ids=lambda c: f"{c[0]}-{c[1]}")
def test_flag_matrix_starts_and_serves_or_refuses_cleanly(files, codec):
    combos = list(itertools.product([False, True], SPECS, [False, True], [1, 4], [48, 8192], [codec]))
    with cf.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda c: run_one(files, c), combos))
    failures = [(c[:5], r) for c, r in zip(combos, results) if r]
    assert not failures, f"{len(failures)} of {len(combos)} failed: {failures[:5]}"
