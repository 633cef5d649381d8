"""specula serve with images (--mmproj), end to end.

Models: the vision fixture (llama.cpp's text + mmproj GGUFs of a tiny random Gemma 4 with transformers' greedy
tokens for coffee.png), and for MTP + images `synth --preset tiny` + `tiny-assistant` + `tiny-mmproj`.

Checked: the served greedy continuation of the fixture's image prompt equals transformers' (also with a prefill
chunk smaller than the image block); the official openai client sends a data URI; greedy tokens of image requests
are the same with MTP on and off, alone and concurrently with text requests on -np 4; /metrics splits the
speculation counters by request kind consistently with the responses' timings; the prompt cache never reuses
another image's positions; the reference command line of ARCHITECTURE.md starts, logs that speculation covers
image requests, and drafts on both kinds; bad image inputs are 400 and the server keeps serving."""
import base64
import concurrent.futures as cf
import json
import os
import random
import re
import struct
import subprocess
import time
import zlib
from pathlib import Path

import openai
import pytest
import requests

import serve_util
from serve_util import free_port, wait_healthy

SPECULA = os.environ["SPECULA_BIN"]
SHARED = Path(os.environ["SPECULA_SHARED_DIR"])
VIS = SHARED / "fixtures" / "llamacpp" / "vision"
IMAGES = SHARED / "assets" / "images"
PROMPT = json.loads((VIS / "prompt.json").read_text())


def data_uri(path):
    mime = "image/jpeg" if str(path).endswith(".jpg") else "image/png"
    return f"data:{mime};base64," + base64.b64encode(Path(path).read_bytes()).decode()


def b64(path):
    return base64.b64encode(Path(path).read_bytes()).decode()


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("serve_images")
    out = {"vtext": str(VIS / "llamacpp-f32.gguf"), "vmm": str(VIS / "mmproj-llamacpp-f32.gguf")}
    for preset, name in (("tiny", "tiny"), ("tiny-assistant", "asst"), ("tiny-mmproj", "mm256")):
        out[name] = str(d / f"{name}.gguf")
        subprocess.run([SPECULA, "synth", "--preset", preset, "-o", out[name], "-q"], check=True, timeout=60,
                       capture_output=True)
    out["dir"] = d
    return out


class Server:
    """A `specula serve` process whose log goes to a file (read with log())."""

    def __init__(self, log_dir, model, *args):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = Path(log_dir) / f"serve-{self.port}.log"
        self.log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen([SPECULA, "serve", "-m", model, "--host", "127.0.0.1", "--port", str(self.port),
                                      *args], stdout=self.log_file, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout=30):
        return wait_healthy(self.proc, self.url, timeout)

    def log(self):
        return self.log_path.read_text(errors="replace")

    def alive(self):
        return serve_util.alive(self.proc, self.url)

    def stop(self):
        rc = serve_util.stop(self.proc)
        self.log_file.close()
        return rc


@pytest.fixture
def server(models):
    started = []

    def start(model, *args):
        s = Server(models["dir"], model, "-t", "2", *args)
        started.append(s)
        assert s.wait_ready(), s.log()
        return s

    yield start
    for s in started:
        assert s.stop() == 0, "the server did not exit cleanly:\n" + s.log()[-2000:]


def chat_image(url, image, text="Describe the image in detail.", n=16, **extra):
    msgs = [{"role": "user", "content": [{"type": "text", "text": text},
                                         {"type": "image_url", "image_url": {"url": data_uri(image)}}]}]
    r = requests.post(url + "/v1/chat/completions", json={"messages": msgs, "max_tokens": n, "temperature": 0,
                                                          **extra}, timeout=120)
    assert r.status_code == 200, r.text
    return r.json()


def media_completion(url, text, images, n=16, **extra):
    """/completion with llama-server's multimodal prompt; returns the body (tokens included)."""
    body = {"prompt": {"prompt_string": text, "multimodal_data": [b64(i) for i in images]}, "n_predict": n,
            "temperature": 0, "ignore_eos": True, **extra}
    r = requests.post(url + "/completion", json=body, timeout=120)
    assert r.status_code == 200, r.text
    return r.json()


def text_completion(url, ids, n=16, **extra):
    r = requests.post(url + "/completion", json={"prompt": ids, "n_predict": n, "temperature": 0, "ignore_eos": True,
                                                 **extra}, timeout=120)
    assert r.status_code == 200, r.text
    return r.json()


FIXTURE_TEXT = "What is on the table?\n\n<__media__>\n\nIt shows"  # prompt.json's text; the server adds <bos>
COFFEE = IMAGES / "coffee.png"


@pytest.mark.parametrize("ubatch", ["512", "16"])
def test_fixture_image_prompt_gives_the_transformers_greedy_tokens(models, server, ubatch):
    """prompt.json: transformers' 16 greedy tokens for coffee.png at 70 soft tokens. With -ub 16 the 62-row image
    block is longer than a prefill chunk and is prefilled whole in one."""
    s = server(models["vtext"], "--mmproj", models["vmm"], "--image-max-tokens", "70", "-ub", ubatch)
    body = media_completion(s.url, FIXTURE_TEXT, [COFFEE], n=16)
    assert body["tokens_evaluated"] == PROMPT["T"]
    assert body["tokens"] == PROMPT["generated_tokens"]


def test_openai_client_sends_a_data_uri(models, server):
    s = server(models["vtext"], "--mmproj", models["vmm"], "--image-max-tokens", "70", "--alias", "vis")
    client = openai.OpenAI(base_url=s.url + "/v1", api_key="none", timeout=60, max_retries=0)
    msgs = [{"role": "user", "content": [{"type": "text", "text": "What is on the table?"},
                                         {"type": "image_url", "image_url": {"url": data_uri(COFFEE)}}]}]
    full = client.chat.completions.create(model="vis", messages=msgs, max_tokens=8, temperature=0)
    assert full.choices[0].finish_reason in ("stop", "length")
    # The prompt is the template rendering with one <|image|> placeholder, which becomes <|image>, the image's
    # 60 soft tokens (transformers' processor: 480x288 -> 6x10 pooled grid) and <image|>.
    prompt = requests.post(s.url + "/apply-template", json={"messages": msgs}).json()["prompt"]
    assert prompt.count("<|image|>") == 1
    toks = requests.post(s.url + "/tokenize", json={"content": prompt, "parse_special": True}).json()["tokens"]
    assert full.usage.prompt_tokens == len(toks) - 1 + PROMPT["n_soft_tokens"] + 2
    streamed = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
        model="vis", messages=msgs, max_tokens=8, temperature=0, stream=True))
    assert streamed == full.choices[0].message.content
    assert [m for m in client.models.list().data][0].model_extra["architecture"]["input_modalities"] == ["text",
                                                                                                       "image"]
    assert requests.get(s.url + "/props").json()["modalities"]["vision"] is True


def png(width, height, seed=None, rows=None):
    """A PNG (stdlib only): random RGB pixels from `seed`; the IHDR declares width x height, and `rows` (when given)
    limits the pixel rows actually written (a header larger than its data)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    rng = random.Random(seed)
    n_rows = height if rows is None else rows
    raw = b"".join(b"\x00" + rng.randbytes(width * 3) for _ in range(n_rows))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def png_file(tmp_path, name, *args, **kwargs):
    path = Path(tmp_path) / name
    path.write_bytes(png(*args, **kwargs))
    return path


def test_two_images_in_one_message_and_the_prompt_cache(models, server, tmp_path):
    s = server(models["vtext"], "--mmproj", models["vmm"], "--image-max-tokens", "70")
    camera = IMAGES / "camera.png"
    two = media_completion(s.url, "A <__media__> and B <__media__>.", [COFFEE, camera], n=4)
    again = media_completion(s.url, "A <__media__> and B <__media__>.", [COFFEE, camera], n=4)
    assert again["tokens"] == two["tokens"]
    assert again["tokens_cached"] == again["tokens_evaluated"] - 1
    # Two random images of the same size: the same soft-token count, so the same token ids; the second request may
    # reuse only the text before the image block ([<bos>, "x"] plus the space before the marker at most).
    a, b = png_file(tmp_path, "a.png", 96, 64, seed=1), png_file(tmp_path, "b.png", 96, 64, seed=2)
    first = media_completion(s.url, "x <__media__> y", [a], n=4)
    second = media_completion(s.url, "x <__media__> y", [b], n=4)
    assert first["tokens_evaluated"] == second["tokens_evaluated"]
    assert second["tokens_cached"] < 5
    fresh = server(models["vtext"], "--mmproj", models["vmm"], "--image-max-tokens", "70")
    assert media_completion(fresh.url, "x <__media__> y", [b], n=4)["tokens"] == second["tokens"]


GRACE = IMAGES / "grace_hopper.jpg"
TEXT_PROMPTS = [[2, 100 + i, 101 + 2 * i, 7 + i, 300 - i] for i in range(3)]
IMAGE_PROMPTS = [("Describe <__media__> please.", [COFFEE]), ("<__media__> then <__media__>", [GRACE, COFFEE]),
                 ("What is this? <__media__>", [IMAGES / "camera.png"])]


def tiny_vision(models, *args):
    return ["--mmproj", models["mm256"], "--image-max-tokens", "70", *args]


def test_image_greedy_tokens_same_with_mtp_on_and_off(models, server):
    plain = server(models["tiny"], *tiny_vision(models))
    mtp = server(models["tiny"], *tiny_vision(models, "--mtp-head", models["asst"], "--draft-block-size", "3"))
    for text, images in IMAGE_PROMPTS[:2]:
        want = media_completion(plain.url, text, images, n=24)
        got = media_completion(mtp.url, text, images, n=24)
        assert got["tokens"] == want["tokens"]
        assert got["timings"]["draft_n"] > 0 and "draft_n" not in want["timings"]


def test_image_and_text_requests_concurrently_match_alone(models, server):
    s = server(models["tiny"], *tiny_vision(models, "--mtp-head", models["asst"], "-np", "4"))
    jobs = [("image", p) for p in IMAGE_PROMPTS] + [("text", p) for p in TEXT_PROMPTS]

    def run(job):
        kind, p = job
        body = media_completion(s.url, *p, n=20) if kind == "image" else text_completion(s.url, p, n=20)
        return body["tokens"]

    alone = [run(j) for j in jobs]
    with cf.ThreadPoolExecutor(8) as pool:
        together = list(pool.map(run, jobs + jobs))
    assert together == alone + alone
    assert s.alive()


def metric_values(url):
    out = {}
    for line in requests.get(url + "/metrics").text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def wait_idle(url):
    deadline = time.time() + 5
    while any(x["is_processing"] for x in requests.get(url + "/slots").json()) and time.time() < deadline:
        time.sleep(0.05)


@pytest.mark.parametrize("spec", [["--spec-type", "ngram"], ["--mtp-head", "ASST"]], ids=["ngram", "mtp"])
def test_metrics_split_by_request_kind_match_the_timings(models, server, spec):
    spec = [models["asst"] if a == "ASST" else a for a in spec]
    s = server(models["tiny"], *tiny_vision(models, "--metrics", "-np", "2", *spec))
    before = metric_values(s.url)
    sums = {"text": [0, 0], "image": [0, 0]}
    jobs = [("image", p) for p in IMAGE_PROMPTS] + [("text", p) for p in TEXT_PROMPTS]

    def run(job):
        kind, p = job
        body = media_completion(s.url, *p, n=40) if kind == "image" else text_completion(s.url, p, n=40)
        return kind, body["timings"]

    with cf.ThreadPoolExecutor(3) as pool:
        for kind, t in pool.map(run, jobs):
            sums[kind][0] += t.get("draft_n", 0)
            sums[kind][1] += t.get("draft_n_accepted", 0)
    wait_idle(s.url)
    after = metric_values(s.url)
    for kind in ("text", "image"):
        label = f'{{request="{kind}"}}'
        drafted = after["specula:spec_drafted_total" + label] - before["specula:spec_drafted_total" + label]
        accepted = after["specula:spec_accepted_total" + label] - before["specula:spec_accepted_total" + label]
        assert (drafted, accepted) == tuple(sums[kind]), kind
        assert drafted > 0
        by_pos = {k: v for k, v in after.items() if k.startswith("specula:spec_accepted_by_position_total"
                                                                  f'{{request="{kind}"')}
        assert sum(by_pos.values()) == accepted
        drafted_pos = {k: v for k, v in after.items() if k.startswith("specula:spec_drafted_by_position_total"
                                                                      f'{{request="{kind}"')}
        assert sum(drafted_pos.values()) == drafted and len(drafted_pos) <= 3
    total = sum(sums[k][0] for k in sums)
    assert after["specula:spec_decode_num_draft_tokens_total"] - before["specula:spec_decode_num_draft_tokens_total"] == total
    per_pos = [v for k, v in after.items() if k.startswith("specula:spec_decode_num_accepted_tokens_per_pos_total")]
    assert sum(per_pos) == sum(sums[k][1] for k in sums)
    assert after["specula:spec_decode_num_drafts_total"] == sum(
        v for k, v in after.items() if k.startswith("specula:spec_drafted_by_position_total") and 'position="1"' in k)
    assert after["specula:image_requests_total"] == len(IMAGE_PROMPTS)
    assert after["specula:images_encoded_total"] == sum(len(p[1]) for p in IMAGE_PROMPTS)
    if spec[0] == "--spec-type":
        assert sums["text"][1] > 0 and sums["image"][1] > 0  # greedy text of random models repeats: n-grams hit


REFERENCE = ["--mtp-head", "ASST", "--spec-type", "mtp", "--draft-block-size", "3", "--mmproj", "MMPROJ",
             "--host", "127.0.0.1", "-t", "4", "-c", "4096", "-ctk", "turbo4", "-ctv", "turbo4",
             "-ctkd", "turbo4", "-ctvd", "turbo4"]


@pytest.mark.parametrize("slots", [[], ["-np", "4"]], ids=["as-written", "4-slots"])
def test_reference_command_line_drafts_on_text_and_image_requests(models, slots):
    args = [models["asst"] if a == "ASST" else models["mm256"] if a == "MMPROJ" else a for a in REFERENCE] + slots
    s = Server(models["dir"], models["tiny"], *args)
    try:
        assert s.wait_ready(), s.log()
        log = s.log()
        assert "speculative decoding active on all slots (text and image requests)" in log
        assert "speculator: mtp: n_draft=3, centroid head: yes" in log
        assert "vision model: gemma4v, 280 tokens/image" in log
        assert re.search(r"kv pool: .*K turbo4, V turbo4", log), log
        text = requests.post(s.url + "/v1/chat/completions", json={
            "messages": [{"role": "user", "content": "Tell me a story."}], "max_tokens": 12, "temperature": 0})
        assert text.status_code == 200 and text.json()["timings"]["draft_n"] > 0
        image = chat_image(s.url, COFFEE, n=12)
        assert image["timings"]["draft_n"] > 0
        assert image["usage"]["prompt_tokens"] > 260  # 280-token budget: coffee.png becomes 260 soft tokens
    finally:
        assert s.stop() == 0
    # The vision fixture with the same vision and cache flags (its 16-wide sliding heads cannot take turbo4; the
    # fixture has no assistant of its own): one clean line.
    args = ["--mmproj", models["vmm"], *REFERENCE[8:]]
    r = subprocess.run([SPECULA, "serve", "-m", models["vtext"], "--port", str(free_port()), *args],
                       capture_output=True, timeout=60)
    lines = r.stderr.decode().strip().splitlines()
    assert r.returncode == 1 and lines[-1].startswith("specula serve: ") and "turbo4" in lines[-1], r.stderr.decode()


def bad_image_bodies(tmp_path):
    corrupt = b"\x89PNG\r\n\x1a\n" + os.urandom(200)
    huge = png(20000, 20000, seed=0, rows=1)  # stb_image's own header check refuses it ("corrupt")
    big = png(9000, 9000, seed=0, rows=1)      # 81 Mpx: specula's 64 Mpx limit, from the header
    zero = png(0, 0, seed=0, rows=0)
    truncated = (IMAGES / "coffee.png").read_bytes()[:5000]

    def chat(url):
        return {"messages": [{"role": "user", "content": [{"type": "text", "text": "x"},
                                                          {"type": "image_url", "image_url": {"url": url}}]}]}

    def uri(raw):
        return "data:image/png;base64," + base64.b64encode(raw).decode()

    return [
        (chat("data:image/png;base64,!!!notbase64"), "invalid base64"),
        (chat("data:image/png;base64,iVBORw0KGgp"), "invalid base64"),  # non-zero bits after the last byte
        (chat("https://example.com/cat.png"), "remote image URLs are not supported"),
        (chat("file:///etc/passwd"), "file://"),
        (chat("data:text/plain;base64,aGVsbG8="), "image/*"),
        (chat("data:image/png;base64,"), "empty"),
        (chat(uri(corrupt)), "image 1"),
        (chat(uri(huge)), "image 1"),
        (chat(uri(big)), "above the limit"),
        (chat(uri(zero)), "image 1"),
        (chat(uri(truncated)), "image 1"),
        (chat(uri(b"hello world, not an image")), "image 1"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]}, "url"),
        ({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]}, "audio"),
        ({"prompt": {"prompt_string": "a <__media__> b <__media__>", "multimodal_data": [b64(COFFEE)]}}, "marker"),
        ({"prompt": {"prompt_string": "a", "multimodal_data": "x"}}, "multimodal_data"),
        ({"prompt": {"multimodal_data": []}}, "prompt_string"),
    ]


def test_bad_image_inputs_are_400_and_the_server_keeps_serving(models, server, tmp_path):
    s = server(models["vtext"], "--mmproj", models["vmm"], "--image-max-tokens", "70", "-c", "128")
    for body, needle in bad_image_bodies(tmp_path):
        path = "/completion" if "prompt" in body else "/v1/chat/completions"
        r = requests.post(s.url + path, json=body, timeout=60)
        assert r.status_code == 400, (body if len(json.dumps(body)) < 300 else needle, r.text)
        assert needle in r.json()["error"]["message"], (needle, r.text)
    # Three 62-token image blocks do not fit a 128-token context: refused before the third image is encoded.
    r = requests.post(s.url + "/completion", json={"prompt": {"prompt_string": "<__media__>" * 3,
                                                              "multimodal_data": [b64(COFFEE)] * 3}})
    assert r.status_code == 400 and r.json()["error"]["type"] == "exceed_context_size_error", r.text
    assert s.alive()
    assert media_completion(s.url, FIXTURE_TEXT, [COFFEE], n=16)["tokens"] == PROMPT["generated_tokens"]
    # Without --mmproj, images are refused (not a crash), text still works.
    plain = server(models["vtext"])
    r = requests.post(plain.url + "/v1/chat/completions", json=bad_image_bodies(tmp_path)[0][0])
    assert r.status_code == 400 and "--mmproj" in r.json()["error"]["message"]
    r = requests.post(plain.url + "/completion", json={"prompt": {"prompt_string": "<__media__>",
                                                                  "multimodal_data": [b64(COFFEE)]}})
    assert r.status_code == 400 and "--mmproj" in r.json()["error"]["message"]
    assert plain.alive()


def test_image_encoder_waiters_are_bounded(models, server, tmp_path):
    """-np 1 gives a queue of 4 and 7 HTTP workers: while one image encodes (a few hundred ms at 280 tokens here),
    at most 4 more wait for the encoder; the other workers' requests get 503 at once instead of waiting too (which
    would leave no worker for text requests). All others are served."""
    s = server(models["tiny"], "--mmproj", models["mm256"], "--image-max-tokens", "280", "-np", "1")
    photo = png_file(tmp_path, "photo.png", 96, 64, seed=5)  # small body; upscaled to the budget, so a full encode
    body = {"prompt": {"prompt_string": "<__media__>", "multimodal_data": [b64(photo)]}, "n_predict": 1}
    with cf.ThreadPoolExecutor(7) as pool:
        codes = list(pool.map(lambda _: requests.post(s.url + "/completion", json=body, timeout=120), range(7)))
    busy = [r for r in codes if r.status_code == 503]
    assert all(r.status_code in (200, 503) for r in codes), [r.text for r in codes]
    assert busy and "image encoder is busy" in busy[0].json()["error"]["message"]
    assert len(codes) - len(busy) >= 5
    assert s.alive() and text_completion(s.url, TEXT_PROMPTS[0], n=4)["tokens_predicted"] == 4


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_memory_returns_to_idle_after_a_burst(models, server, tmp_path):
    """RSS after a burst of concurrent image and text requests is back within a tolerance of the RSS after the
    first request of each kind (decoded images, embeddings and request buffers are freed)."""
    s = server(models["tiny"], *tiny_vision(models, "--mtp-head", models["asst"], "-np", "4"))
    photos = [png_file(tmp_path, f"p{i}.png", 640, 480, seed=i) for i in range(4)]
    media_completion(s.url, "Look: <__media__>", [photos[0]], n=8)
    text_completion(s.url, TEXT_PROMPTS[0], n=8)
    wait_idle(s.url)
    time.sleep(0.2)
    base = rss_kib(s.proc.pid)
    jobs = [("image", ("Look: <__media__> and <__media__>", [photos[i % 4], photos[(i + 1) % 4]])) for i in range(8)]
    jobs += [("text", TEXT_PROMPTS[i % 3]) for i in range(8)]

    def run(job):
        kind, p = job
        return media_completion(s.url, *p, n=8) if kind == "image" else text_completion(s.url, p, n=8)

    limit = base * 1.1 + 8 * 1024
    for burst in range(3):
        with cf.ThreadPoolExecutor(8) as pool:
            list(pool.map(run, jobs))
        wait_idle(s.url)
        # The engine returns free memory when it goes idle; the HTTP threads finish their writes meanwhile.
        deadline = time.time() + 3
        while rss_kib(s.proc.pid) > limit and time.time() < deadline:
            time.sleep(0.05)
        after = rss_kib(s.proc.pid)
        print(f"RSS after the first requests {base} KiB, after burst {burst + 1} {after} KiB")
        assert after <= limit, (base, after)
