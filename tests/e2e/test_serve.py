"""specula serve end to end on tiny synthetic models made here (specula synth): the official openai client for
chat (stream and non-stream), completions and models; requests for the llama-server endpoints; concurrency with
more clients than slots and some cancelling mid-stream (the others get exactly the tokens they get alone, greedy);
a bad-input corpus (always a 4xx, the server survives); a flag matrix (starts and serves, or exits non-zero with a
one-line error, never by a signal). Greedy tokens are checked against `specula run` (the single-sequence loop)."""
import concurrent.futures as cf
import json
import os
import subprocess
import time

import openai
import pytest
import requests

import serve_util
from serve_util import free_port, wait_healthy

SPECULA = os.environ["SPECULA_BIN"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("serve")
    tiny, asst = d / "tiny.gguf", d / "asst.gguf"
    for preset, out in (("tiny", tiny), ("tiny-assistant", asst)):
        subprocess.run([SPECULA, "synth", "--preset", preset, "-o", str(out), "-q"], check=True, timeout=60,
                       capture_output=True)
    mmproj = d / "mmproj.gguf"
    mmproj.write_bytes(b"GGUF")
    return {"tiny": str(tiny), "asst": str(asst), "mmproj": str(mmproj), "dir": d}


class Server:
    def __init__(self, model, *args):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([SPECULA, "serve", "-m", model, "--host", "127.0.0.1", "--port", str(self.port),
                                      "-t", "1", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def wait_ready(self, timeout=20):
        return wait_healthy(self.proc, self.url, timeout)

    def alive(self):
        return serve_util.alive(self.proc, self.url)

    def stop(self):
        return serve_util.stop(self.proc)


@pytest.fixture
def server(models):
    started = []

    def start(*args, model=None):
        s = Server(model or models["tiny"], *args)
        started.append(s)
        assert s.wait_ready(), s.proc.stderr.read().decode()
        return s

    yield start
    for s in started:
        assert s.stop() == 0, "the server did not exit cleanly"


def run_greedy(model, ids, n):
    r = subprocess.run([SPECULA, "run", "-m", model, "--tokens", ",".join(map(str, ids)), "-n", str(n), "--temp", "0",
                        "--print-ids", "-t", "1"], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    return [int(x) for x in r.stdout.decode().splitlines()[-1].split()]


def completion(url, ids, n, **extra):
    r = requests.post(url + "/completion", json={"prompt": ids, "n_predict": n, "temperature": 0, **extra}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()


PROMPTS = [[2, 100 + i, 101 + 2 * i, 7 + i, 300 - i] for i in range(6)]


def test_completion_tokens_equal_single_sequence_run(models, server):
    s = server("-np", "2")
    for ids in PROMPTS[:3]:
        body = completion(s.url, ids, 16, ignore_eos=True)
        assert body["tokens"] == run_greedy(models["tiny"], ids, 16)
        assert body["tokens_predicted"] == 16 and body["tokens_evaluated"] == len(ids)
        assert body["timings"]["predicted_n"] == 16


def test_mtp_and_ngram_give_the_plain_greedy_tokens(models, server):
    expected = [run_greedy(models["tiny"], ids, 16) for ids in PROMPTS[:2]]
    for args in (["--mtp-head", models["asst"], "--draft-block-size", "3"], ["--spec-type", "ngram"]):
        s = server("-np", "2", *args)
        for ids, want in zip(PROMPTS[:2], expected):
            body = completion(s.url, ids, 16, ignore_eos=True)
            assert body["tokens"] == want, args
            assert body["timings"]["draft_n"] > 0


def test_openai_client_chat_completions_models(server):
    s = server("-np", "2", "--alias", "tiny-test")
    client = openai.OpenAI(base_url=s.url + "/v1", api_key="none", timeout=30, max_retries=0)
    assert [m.id for m in client.models.list().data] == ["tiny-test"]
    msgs = [{"role": "user", "content": "hello there"}]
    full = client.chat.completions.create(model="tiny-test", messages=msgs, max_tokens=12, temperature=0, seed=1)
    assert full.choices[0].finish_reason in ("stop", "length")
    assert full.usage.completion_tokens <= 12 and full.usage.prompt_tokens > 0
    assert full.usage.total_tokens == full.usage.prompt_tokens + full.usage.completion_tokens
    chunks = list(client.chat.completions.create(model="tiny-test", messages=msgs, max_tokens=12, temperature=0,
                                                 stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == full.choices[0].message.content
    assert chunks[-1].usage.completion_tokens == full.usage.completion_tokens
    # The prompt is the chat template rendering: /apply-template + /tokenize count the same tokens.
    prompt = requests.post(s.url + "/apply-template", json={"messages": msgs}).json()["prompt"]
    toks = requests.post(s.url + "/tokenize", json={"content": prompt, "parse_special": True}).json()["tokens"]
    assert len(toks) == full.usage.prompt_tokens
    comp = client.completions.create(model="tiny-test", prompt="once upon", max_tokens=8, temperature=0)
    assert comp.usage.completion_tokens <= 8 and comp.choices[0].finish_reason in ("stop", "length")
    streamed = "".join(c.choices[0].text for c in client.completions.create(
        model="tiny-test", prompt="once upon", max_tokens=8, temperature=0, stream=True))
    assert streamed == comp.choices[0].text


def test_llama_endpoints(server):
    s = server("--metrics", "-np", "2")
    toks = requests.post(s.url + "/tokenize", json={"content": "hello world"}).json()["tokens"]
    assert requests.post(s.url + "/detokenize", json={"tokens": toks}).json()["content"] == "hello world"
    body = completion(s.url, "hello", 6, ignore_eos=True)
    assert body["tokens_predicted"] == 6 and body["stop_type"] == "limit"
    again = completion(s.url, "hello", 6, ignore_eos=True, id_slot=body["id_slot"])
    assert again["tokens_cached"] > 0 and again["tokens"] == body["tokens"]
    seeded = [completion(s.url, "hello", 8, temperature=1.0, seed=5, ignore_eos=True, cache_prompt=False)["tokens"]
              for _ in range(2)]
    assert seeded[0] == seeded[1]
    props = requests.get(s.url + "/props").json()
    assert props["total_slots"] == 2
    # The engine frees a slot on its step after the last token was sent, so poll briefly.
    deadline = time.time() + 5
    while True:
        slots = requests.get(s.url + "/slots").json()
        metrics = requests.get(s.url + "/metrics").text
        idle = not any(x["is_processing"] for x in slots) and "specula:requests_processing 0" in metrics
        if idle or time.time() > deadline:
            break
        time.sleep(0.05)
    assert len(slots) == 2 and not any(x["is_processing"] for x in slots)
    assert "specula:tokens_predicted_total 28" in metrics  # 6 + 6 + 8 + 8
    assert "specula:requests_processing 0" in metrics
    lines = [l for l in requests.post(s.url + "/completion", json={"prompt": "hi", "n_predict": 4, "stream": True,
                                                                    "ignore_eos": True}).text.split("\n\n") if l]
    events = [json.loads(l[len("data: "):]) for l in lines]
    assert events[-1]["stop"] is True and all(not e["stop"] for e in events[:-1])


def stream_tokens(url, ids, n, cancel_after=None):
    """Streams /completion; returns the concatenated text, or None after closing the connection early."""
    with requests.post(url + "/completion", json={"prompt": ids, "n_predict": n, "temperature": 0, "stream": True,
                                                  "ignore_eos": True}, stream=True, timeout=60) as r:
        assert r.status_code == 200
        text, events = "", 0
        for line in r.iter_lines():
            if not line:
                continue
            e = json.loads(line[len(b"data: "):])
            events += 1
            if cancel_after is not None and events >= cancel_after:
                return None
            text += e["content"]
        return text


def test_concurrent_clients_match_alone_and_cancel(server):
    s = server("-np", "2")
    alone = [stream_tokens(s.url, ids, 40) for ids in PROMPTS]
    with cf.ThreadPoolExecutor(len(PROMPTS)) as pool:
        futs = [pool.submit(stream_tokens, s.url, ids, 40, 3 if i % 3 == 1 else None) for i, ids in enumerate(PROMPTS)]
        got = [f.result() for f in futs]
    for i, (a, g) in enumerate(zip(alone, got)):
        if i % 3 != 1:
            assert g == a
    time.sleep(0.3)
    assert not any(x["is_processing"] for x in requests.get(s.url + "/slots").json())
    assert s.alive()


def test_busy_server_answers_503(server):
    s = server("-np", "1", "-c", "16384")  # one slot (long enough to stay busy) and a queue of 4
    held = [requests.post(s.url + "/completion", json={"prompt": PROMPTS[0], "n_predict": -1, "ignore_eos": True,
                                                       "stream": True}, stream=True, timeout=30) for _ in range(5)]
    try:
        assert all(r.status_code == 200 for r in held)
        r = requests.post(s.url + "/completion", json={"prompt": PROMPTS[1], "n_predict": 4}, timeout=30)
        assert r.status_code == 503 and r.json()["error"]["type"] == "unavailable_error"
    finally:
        for r in held:
            r.close()
    time.sleep(0.5)  # the closed streams cancel their requests; the server serves again
    assert completion(s.url, PROMPTS[1], 4)["tokens_predicted"] == 4
    assert s.alive()


def test_non_streaming_request_is_cancelled_when_the_client_disconnects(server):
    s = server("-np", "1", "-c", "16384", "--metrics")
    with pytest.raises(requests.exceptions.ReadTimeout):  # the client gives up and closes the connection
        requests.post(s.url + "/completion", json={"prompt": PROMPTS[0], "n_predict": -1, "ignore_eos": True},
                      timeout=0.5)
    deadline = time.time() + 3
    while any(x["is_processing"] for x in requests.get(s.url + "/slots").json()) and time.time() < deadline:
        time.sleep(0.05)
    slots = requests.get(s.url + "/slots").json()
    assert not slots[0]["is_processing"] and slots[0]["n_past"] < 2000  # freed long before the context end
    assert completion(s.url, PROMPTS[1], 4)["tokens_predicted"] == 4
    assert s.alive()


def test_n_predict_zero_only_fills_the_cache(server):
    s = server()
    body = completion(s.url, PROMPTS[2], 0)
    assert body["tokens"] == [] and body["tokens_predicted"] == 0 and body["stop_type"] == "limit"
    again = completion(s.url, PROMPTS[2], 3, ignore_eos=True)
    assert again["tokens_cached"] == len(PROMPTS[2]) - 1


BAD = [
    ("/v1/chat/completions", b"{not json", 400),
    ("/v1/chat/completions", b"[1,2]", 400),
    ("/v1/chat/completions", {"messages": "hi"}, 400),
    ("/v1/chat/completions", {"messages": []}, 400),
    ("/v1/chat/completions", {"messages": [{"role": "user"}]}, 400),
    ("/v1/chat/completions", {"messages": [{"role": "wizard", "content": "x"}]}, 400),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": 5}]}, 400),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], "max_tokens": -5}, 400),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], "max_tokens": "ten"}, 400),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], "max_tokens": 10 ** 30}, 400),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], "temperature": 1e308 * 10}, 400),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], "top_p": 2}, 400),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], "n": 2}, 400),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], "frobnicate": 1}, 400),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], "logit_bias": {"abc": 1}}, 400),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], "logit_bias": {"999999": 1}}, 400),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], "stop": [1]}, 400),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}], "stream": "yes"}, 400),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,!!!notbase64"}}]}]}, 400),
    ("/v1/chat/completions", {"messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}]}, 400),
    ("/v1/completions", {"prompt": 5}, 400),
    ("/v1/completions", {"prompt": [1, -3]}, 400),
    ("/v1/completions", {"prompt": "x", "echo": True}, 400),
    ("/completion", {"prompt": "x", "id_slot": 9}, 400),
    ("/completion", {"prompt": []}, 400),
    ("/completion", {"n_predict": 3}, 400),
    ("/tokenize", {"content": 3}, 400),
    ("/detokenize", {"tokens": [10 ** 9]}, 400),
    ("/no/such/endpoint", {}, 404),
]


def test_bad_inputs_are_4xx_and_the_server_survives(server):
    s = server("-np", "1", "-c", "64")
    for path, body, code in BAD:
        data = body if isinstance(body, bytes) else json.dumps(body, allow_nan=True).encode()
        r = requests.post(s.url + path, data=data, headers={"Content-Type": "application/json"}, timeout=30)
        assert r.status_code == code, (path, body, r.status_code, r.text)
        assert "error" in r.json() and r.json()["error"]["code"] == code
    r = requests.post(s.url + "/completion", json={"prompt": "word " * 200})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["type"] == "exceed_context_size_error" and err["n_ctx"] == 64 and err["n_prompt_tokens"] > 64
    r = requests.post(s.url + "/v1/completions", data=b"x" * (10 << 20), timeout=30)
    assert r.status_code == 413
    assert s.alive()


def test_api_key(server):
    s = server("--api-key", "sekrit")
    assert requests.get(s.url + "/health").status_code == 200
    r = requests.get(s.url + "/v1/models")
    assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"
    assert requests.get(s.url + "/v1/models", headers={"Authorization": "Bearer sekrit"}).status_code == 200
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=s.url + "/v1", api_key="wrong", max_retries=0).models.list()


GOOD_FLAGS = [
    ["-np", "1"],
    ["-np", "4", "-c", "8192", "-ub", "64"],
    ["-c", "32", "-n", "8"],
    ["-ctk", "q8_0", "-ctv", "q8_0"],
    ["-ctk", "turbo4", "-ctv", "turbo3", "-ctkd", "turbo4", "-ctvd", "turbo4"],
    ["--mtp-head", "ASST", "-np", "1"],
    ["--mtp-head", "ASST", "--spec-type", "mtp", "--draft-block-size", "2", "-np", "4"],
    ["--spec-type", "ngram", "-np", "4"],
    ["--spec-type", "none"],
    ["--activations", "int8x2", "--spec-type", "ngram"],
    ["--log-format", "json", "--no-slots", "--metrics", "--threads-http", "3", "--timeout", "30"],
]
BAD_FLAGS = [
    (["--spec-type", "mtp"], "--mtp-head"),
    (["--spec-type", "none", "--mtp-head", "ASST"], "--mtp-head"),
    (["-ctk", "q9_9"], "q9_9"),
    (["--mmproj", "MMPROJ", "--image-max-tokens", "100"], "--image-max-tokens"),
    (["--mmproj", "/no/such/file.gguf"], "--mmproj"),
    (["--image-max-tokens", "64"], "--mmproj"),
    (["--lora", "x.gguf"], "--lora"),
    (["--frobnicate"], "--frobnicate"),
    (["-np", "0"], "-np"),
    (["--log-format", "xml"], "--log-format"),
    (["--slots", "--no-slots"], "--no-slots"),
    (["-ub", "1024", "-b", "256"], "-b"),
    (["--activations", "int4"], "--activations"),
]


@pytest.mark.parametrize("flags", GOOD_FLAGS, ids=lambda f: " ".join(f))
def test_flag_matrix_serves(models, server, flags):
    flags = [models["asst"] if f == "ASST" else f for f in flags]
    s = server(*flags)
    r = requests.post(s.url + "/completion", json={"prompt": "hello", "n_predict": 4, "temperature": 0}, timeout=30)
    assert r.status_code == 200 and r.json()["tokens_predicted"] <= 4


@pytest.mark.parametrize("flags,needle", BAD_FLAGS, ids=lambda f: " ".join(f) if isinstance(f, list) else "")
def test_flag_matrix_refuses_with_one_line(models, flags, needle):
    flags = [models["asst"] if f == "ASST" else models["mmproj"] if f == "MMPROJ" else f for f in flags]
    r = subprocess.run([SPECULA, "serve", "-m", models["tiny"], "--port", str(free_port()), *flags],
                       capture_output=True, timeout=30)
    assert r.returncode == 1, r.stderr.decode()
    err = r.stderr.decode().strip()
    assert len(err.splitlines()) == 1 and needle in err, err


def test_reference_command_line_starts(models, server):
    s = server("--mtp-head", models["asst"], "--spec-type", "mtp", "--draft-block-size", "3", "-c", "4096",
               "-ctk", "turbo4", "-ctv", "turbo4", "-ctkd", "turbo4", "-ctvd", "turbo4")
    r = requests.post(s.url + "/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}],
                                                            "max_tokens": 5})
    assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] <= 5


def test_stories260k_greedy_text_matches_the_llama2c_reference(server):
    """stories260K (a trained tiny llama): the served greedy continuation is the reference text's continuation."""
    shared = os.environ["SPECULA_SHARED_DIR"]
    model = os.path.join(shared, "assets", "stories260K", "stories260K.gguf")
    expected = open(os.path.join(shared, "assets", "stories260K", "expected_greedy_t0_200steps.txt")).read()
    s = server("-np", "2", model=model)
    with cf.ThreadPoolExecutor(2) as pool:
        bodies = list(pool.map(lambda _: requests.post(s.url + "/completion", json={
            "prompt": "Once upon a time", "n_predict": 60, "temperature": 0}, timeout=60).json(), range(2)))
    for body in bodies:
        assert body["tokens_predicted"] == 60
        assert expected.startswith("Once upon a time" + body["content"]), body["content"]
    # A stop string cuts the text before its first occurrence (from the reference text, not our own output).
    cut = requests.post(s.url + "/completion", json={"prompt": "Once upon a time", "n_predict": 60, "temperature": 0,
                                                     "stop": ["Lily"]}).json()
    assert cut["content"] == expected[len("Once upon a time"):expected.index("Lily")]
    assert cut["stop_type"] == "word" and cut["stopped_word"] is True
    client = openai.OpenAI(base_url=s.url + "/v1", api_key="none", max_retries=0)
    text = "".join(c.choices[0].text for c in client.completions.create(
        model="x", prompt="Once upon a time", max_tokens=60, temperature=0, stop=["Lily"], stream=True))
    assert text == cut["content"]


def test_mutated_bodies_never_crash_the_server(server):
    import random
    rng = random.Random(11)
    s = server("-np", "2", "-c", "128")
    valid = json.dumps({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 3, "temperature": 0.5,
                        "stop": ["x"], "logit_bias": {"5": 1}}).encode()
    for i in range(150):
        body = bytearray(valid)
        for _ in range(rng.randint(1, 6)):
            op = rng.random()
            pos = rng.randrange(len(body))
            if op < 0.4:
                body[pos] = rng.randrange(256)
            elif op < 0.7:
                del body[pos]
            else:
                body[pos:pos] = bytes([rng.randrange(256)])
        path = rng.choice(["/v1/chat/completions", "/v1/completions", "/completion", "/tokenize", "/apply-template"])
        r = requests.post(s.url + path, data=bytes(body), timeout=30)
        assert r.status_code in (200, 400, 404), (path, bytes(body), r.status_code, r.text)
    assert s.alive()


def test_startup_failures_are_one_line(models, server):
    s = server()
    for args in (["-m", models["tiny"], "--port", str(s.port)], ["-m", "/no/such/model.gguf", "--port", str(free_port())],
                 ["-m", models["asst"], "--port", str(free_port())],
                 ["-m", models["tiny"], "--mmproj", models["mmproj"], "--port", str(free_port())]):
        r = subprocess.run([SPECULA, "serve", "--host", "127.0.0.1", "-t", "1", *args], capture_output=True, timeout=30)
        err = r.stderr.decode().strip().splitlines()
        assert r.returncode == 1 and err[-1].startswith("specula serve: "), r.stderr.decode()
