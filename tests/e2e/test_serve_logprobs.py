"""specula serve logprobs on a tiny synthetic model (specula synth): the official openai client for chat (logprobs +
top_logprobs, stream and non-stream) and completions (legacy logprobs), llama-server's /completion n_probs. The values
are checked against an independent computation: `specula logits` (a plain prefill of prompt + generated tokens, f32
KV cache on both sides) and numpy's log-softmax of its rows. Speculative decoding (n-gram, MTP) must attach the same
values. --chat-template-file: the shared Gemma 4 templates are recognised, other files refused with one line."""
import json
import os
import subprocess

import numpy as np
import openai
import pytest
import requests

from test_serve import SPECULA, Server, free_port

F32 = ["-ctk", "f32", "-ctv", "f32"]
SHARED = os.environ["SPECULA_SHARED_DIR"]
PROMPT = [2, 105, 7, 33, 105, 7, 33, 105, 7]  # repetitive: the n-gram drafter finds continuations
N = 32
TOP = 5


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("logprobs")
    tiny, asst = d / "tiny.gguf", d / "asst.gguf"
    for preset, out in (("tiny", tiny), ("tiny-assistant", asst)):
        subprocess.run([SPECULA, "synth", "--preset", preset, "-o", str(out), "-q"], check=True, timeout=60,
                       capture_output=True)
    return {"tiny": str(tiny), "asst": str(asst), "dir": d}


@pytest.fixture(scope="module")
def server(models):
    started = {}

    def start(*args):
        if args not in started:
            s = Server(models["tiny"], "-np", "1", *F32, *args)
            assert s.wait_ready(), s.proc.stderr.read().decode()
            started[args] = s
        return started[args]

    yield start
    for s in started.values():
        assert s.stop() == 0, "the server did not exit cleanly"


def reference_logprobs(models, ids):
    """log_softmax of `specula logits` rows for the token sequence `ids` (row i predicts ids[i + 1])."""
    out = models["dir"] / "logits.f32"
    r = subprocess.run([SPECULA, "logits", "-m", models["tiny"], "--tokens", ",".join(map(str, ids)), "--out",
                        str(out), "-t", "1", *F32], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    rows = np.fromfile(out, dtype=np.float32).reshape(len(ids), -1).astype(np.float64)
    m = rows.max(axis=1, keepdims=True)
    return rows - m - np.log(np.exp(rows - m).sum(axis=1, keepdims=True))


def llama_completion(url, **extra):
    r = requests.post(url + "/completion", json={"prompt": PROMPT, "n_predict": N, "temperature": 0,
                                                 "ignore_eos": True, "n_probs": TOP, **extra}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


def check_against_reference(models, prompt, entries):
    """entries: [{id, logprob, top_logprobs: [{id, logprob}]}] of the tokens generated after `prompt`."""
    gen = [e["id"] for e in entries]
    ref = reference_logprobs(models, prompt + gen[:-1])
    for i, e in enumerate(entries):
        row = ref[len(prompt) - 1 + i]
        assert abs(e["logprob"] - row[e["id"]]) < 1e-4, (i, e["logprob"], row[e["id"]])
        order = np.argsort(-row, kind="stable")[:TOP]
        assert [t["id"] for t in e["top_logprobs"]] == order.tolist(), i
        assert np.allclose([t["logprob"] for t in e["top_logprobs"]], row[order], atol=1e-4), i


def test_completion_n_probs_match_an_independent_log_softmax(models, server):
    s = server()
    body = llama_completion(s.url)
    probs = body["completion_probabilities"]
    assert [p["id"] for p in probs] == body["tokens"] and len(probs) == N
    for p in probs:
        assert set(p) == {"id", "token", "logprob", "bytes", "top_logprobs"}
        assert len(p["top_logprobs"]) == TOP
        assert all(set(t) == {"id", "token", "logprob", "bytes"} for t in p["top_logprobs"])
        top = p["top_logprobs"]
        assert top[0]["id"] == p["id"] and top[0]["logprob"] == p["logprob"]  # greedy: the emitted token is top-1
        assert all(t["logprob"] <= 0 for t in top) and p["logprob"] <= 0
        assert sum(np.exp(t["logprob"]) for t in top) <= 1 + 1e-6
        assert all(a["logprob"] >= b["logprob"] for a, b in zip(top, top[1:]))
        assert bytes(p["bytes"]).decode("utf-8", "replace").startswith(p["token"])
    check_against_reference(models, PROMPT, probs)
    # Streaming: each event carries the probabilities of its own tokens; together the same list.
    r = requests.post(s.url + "/completion", json={"prompt": PROMPT, "n_predict": N, "temperature": 0,
                                                   "ignore_eos": True, "n_probs": TOP, "stream": True}, timeout=60)
    lines = [l for l in r.content.decode("utf-8").split("\n\n") if l]
    streamed = [p for l in lines for p in json.loads(l[len("data: "):]).get("completion_probabilities", [])]
    assert streamed == probs
    assert "completion_probabilities" not in llama_completion(s.url, n_probs=0)


@pytest.mark.parametrize("spec", [("--spec-type", "ngram"), ("--mtp-head", "ASST", "--draft-block-size", "3")],
                         ids=["ngram", "mtp"])
def test_speculative_decoding_attaches_the_same_logprobs(models, server, spec):
    plain = llama_completion(server().url)
    s = server(*[models["asst"] if a == "ASST" else a for a in spec])
    body = llama_completion(s.url)
    assert body["timings"]["draft_n"] > 0
    if spec[0] == "--spec-type":  # the n-gram drafts of this prompt are partly accepted (the random tiny MTP
        assert body["timings"]["draft_n_accepted"] > 0  # assistant's are not: its rounds commit row 0's token)
    assert body["tokens"] == plain["tokens"]
    for a, b in zip(body["completion_probabilities"], plain["completion_probabilities"]):
        assert abs(a["logprob"] - b["logprob"]) < 1e-4
        assert [t["id"] for t in a["top_logprobs"]] == [t["id"] for t in b["top_logprobs"]]
        assert np.allclose([t["logprob"] for t in a["top_logprobs"]], [t["logprob"] for t in b["top_logprobs"]],
                           atol=1e-4)


def test_openai_chat_logprobs_stream_and_non_stream(models, server):
    s = server()
    client = openai.OpenAI(base_url=s.url + "/v1", api_key="none", timeout=30, max_retries=0)
    msgs = [{"role": "user", "content": "hello there"}]
    args = dict(model="x", messages=msgs, max_tokens=N, temperature=0, logprobs=True, top_logprobs=TOP)
    full = client.chat.completions.create(**args)
    content = full.choices[0].logprobs.content
    assert len(content) == full.usage.completion_tokens
    for c in content:
        assert c.top_logprobs[0].token == c.token and c.top_logprobs[0].logprob == c.logprob
        assert c.logprob <= 0 and sum(np.exp(t.logprob) for t in c.top_logprobs) <= 1 + 1e-6
        assert isinstance(c.bytes, list) and len(c.top_logprobs) == TOP
    chunks = list(client.chat.completions.create(**args, stream=True))
    streamed = [c for ch in chunks if ch.choices and ch.choices[0].logprobs for c in ch.choices[0].logprobs.content]
    assert [c.model_dump() for c in streamed] == [c.model_dump() for c in content]
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == full.choices[0].message.content
    # The values are those of the rendered prompt's tokens (independent log-softmax).
    prompt = requests.post(s.url + "/apply-template", json={"messages": msgs}).json()["prompt"]
    ids = requests.post(s.url + "/tokenize", json={"content": prompt, "parse_special": True}).json()["tokens"]
    entries = [{"id": c.model_extra["id"], "logprob": c.logprob,
                "top_logprobs": [{"id": t.model_extra["id"], "logprob": t.logprob} for t in c.top_logprobs]}
               for c in content]
    check_against_reference(models, ids, entries)
    plain = client.chat.completions.create(model="x", messages=msgs, max_tokens=4, temperature=0)
    assert plain.choices[0].logprobs is None
    no_top = client.chat.completions.create(model="x", messages=msgs, max_tokens=4, temperature=0, logprobs=True)
    assert all(c.top_logprobs == [] for c in no_top.choices[0].logprobs.content)


def test_openai_completions_logprobs(server):
    s = server()
    client = openai.OpenAI(base_url=s.url + "/v1", api_key="none", timeout=30, max_retries=0)
    ref = llama_completion(s.url)["completion_probabilities"]
    comp = client.completions.create(model="x", prompt=PROMPT, max_tokens=N, temperature=0, logprobs=TOP,
                                     extra_body={"ignore_eos": True})
    lp = comp.choices[0].logprobs
    assert lp.token_logprobs == [p["logprob"] for p in ref]
    assert lp.tokens == [p["token"] for p in ref]
    assert [len(t) for t in lp.top_logprobs] <= [TOP] * N
    for top, p in zip(lp.top_logprobs, ref):
        want = {}
        for t in p["top_logprobs"]:  # tokens of equal text share a key: the most likely keeps it
            want.setdefault(t["token"], t["logprob"])
        assert top == want
    assert lp.text_offset[0] == 0 and lp.text_offset == sorted(lp.text_offset)
    streamed = [c.choices[0].logprobs for c in client.completions.create(
        model="x", prompt=PROMPT, max_tokens=N, temperature=0, logprobs=TOP, stream=True,
        extra_body={"ignore_eos": True}) if c.choices[0].logprobs]
    assert sum((x.token_logprobs for x in streamed), []) == lp.token_logprobs
    assert sum((x.text_offset for x in streamed), []) == lp.text_offset


BAD = [
    ("/v1/chat/completions", {"top_logprobs": 2}),
    ("/v1/chat/completions", {"logprobs": False, "top_logprobs": 2}),
    ("/v1/chat/completions", {"logprobs": True, "top_logprobs": 21}),
    ("/v1/chat/completions", {"logprobs": True, "top_logprobs": -1}),
    ("/v1/chat/completions", {"logprobs": 3}),
    ("/v1/completions", {"logprobs": 21}),
    ("/v1/completions", {"logprobs": True}),
    ("/completion", {"n_probs": 21}),
    ("/completion", {"n_probs": 2, "post_sampling_probs": True}),
]


def test_bad_logprobs_values_are_400(server):
    s = server()
    for path, extra in BAD:
        body = {"messages": [{"role": "user", "content": "x"}]} if "chat" in path else {"prompt": "x"}
        body["n_predict" if path == "/completion" else "max_tokens"] = 2
        r = requests.post(s.url + path, json={**body, **extra}, timeout=30)
        assert r.status_code == 400 and r.json()["error"]["code"] == 400, (path, extra, r.text)
    client = openai.OpenAI(base_url=s.url + "/v1", api_key="none", timeout=30, max_retries=0)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="x", messages=[{"role": "user", "content": "x"}], top_logprobs=3)
    assert s.alive()


@pytest.mark.parametrize("name,variant", [("google-gemma-4-31B-it.jinja", "gemma4-it"),
                                          ("google-gemma-4-31B-it-interleaved.jinja", "gemma4-it-interleaved"),
                                          ("gemma4-26B-A4B-from-vocab-gguf.chat_template.jinja", "gemma4-early")])
def test_chat_template_file_is_recognised(models, name, variant):
    s = Server(models["tiny"], "--chat-template-file", os.path.join(SHARED, "assets", "gemma", name))
    try:
        assert s.wait_ready(), s.proc.stderr.read().decode()
        assert requests.get(s.url + "/props").json()["chat_template"] == variant
        r = requests.post(s.url + "/apply-template", json={"messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 200 and "<|turn>user" in r.json()["prompt"]
    finally:
        assert s.stop() == 0


def test_chat_template_file_refusals_are_one_line(models):
    bogus = models["dir"] / "bogus.jinja"
    bogus.write_text("{% for m in messages %}{{ m.content }}{% endfor %}")
    for path in (os.path.join(SHARED, "assets", "gemma", "google-gemma-2-2b-it.jinja"), str(bogus),
                 str(models["dir"] / "missing.jinja")):
        r = subprocess.run([SPECULA, "serve", "-m", models["tiny"], "--port", str(free_port()),
                            "--chat-template-file", path], capture_output=True, timeout=30)
        assert r.returncode == 1, r.stderr.decode()
        err = r.stderr.decode().strip()
        assert len(err.splitlines()) == 1 and path in err, err
