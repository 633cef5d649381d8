"""specula embed-image and specula logits --mmproj/--image on the vision fixture: the projected embeddings and the
logits of the image prompt against transformers (from coffee.png through our own decoding and resize), and the
errors for bad images, bad mmproj files and image blocks that do not match their image."""
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

SPECULA = os.environ["SPECULA_BIN"]
SHARED = Path(os.environ["SPECULA_SHARED_DIR"])
VIS = SHARED / "fixtures" / "llamacpp" / "vision"
TEXT = str(VIS / "llamacpp-f32.gguf")
MMPROJ = str(VIS / "mmproj-llamacpp-f32.gguf")
COFFEE = str(SHARED / "assets" / "images" / "coffee.png")
PROMPT = json.loads((VIS / "prompt.json").read_text())


def specula(*args):
    return subprocess.run([SPECULA, *args], capture_output=True, timeout=300)


def ids(tokens):
    return ",".join(str(t) for t in tokens)


def test_embed_image_matches_transformers(tmp_path):
    out = tmp_path / "emb.f32"
    r = specula("embed-image", "--mmproj", MMPROJ, "--image", COFFEE, "--image-max-tokens", "70", "--out", str(out))
    assert r.returncode == 0, r.stderr.decode()
    ref = np.fromfile(VIS / "image_embeds_coffee.f32", "<f4").reshape(60, 48)
    got = np.fromfile(out, "<f4")
    assert got.size == ref.size
    err = np.abs(got.reshape(60, 48) - ref).max() / np.abs(ref).max()
    assert err <= 1e-3, err


def test_embed_image_default_budget_token_count(tmp_path):
    out = tmp_path / "emb.f32"
    r = specula("embed-image", "--mmproj", MMPROJ, "--image", COFFEE, "--out", str(out))
    assert r.returncode == 0, r.stderr.decode()
    # 600x400 at 280 tokens: factor sqrt(2520*256/240000) -> 960x624 -> 60x39 patches -> 20x13 = 260 tokens.
    assert np.fromfile(out, "<f4").size == 260 * 48


@pytest.mark.parametrize("ubatch", ["512", "5"])
def test_logits_with_image_match_transformers(tmp_path, ubatch):
    out = tmp_path / "logits.f32"
    seq = PROMPT["greedy_seq_tokens"]
    r = specula("logits", "-m", TEXT, "--mmproj", MMPROJ, "--image", COFFEE, "--image-max-tokens", "70",
                "--tokens", ids(seq), "--out", str(out), "-ub", ubatch, "-t", "2")
    assert r.returncode == 0, r.stderr.decode()
    ref = np.fromfile(VIS / "greedy_seq_logits.f32", "<f4").reshape(len(seq), 400)
    got = np.fromfile(out, "<f4").reshape(len(seq), 400)
    err = np.abs(got - ref).max() / np.abs(ref[: PROMPT["T"]]).max()
    assert err <= 1e-3, err
    t = PROMPT["T"]
    assert list(got[t - 1: t - 1 + 16].argmax(axis=1)) == PROMPT["generated_tokens"]


def test_soft_token_count_mismatch_is_an_error(tmp_path):
    toks = list(PROMPT["tokens"])
    toks.pop(20)  # 59 soft tokens for a 60-token image
    r = specula("logits", "-m", TEXT, "--mmproj", MMPROJ, "--image", COFFEE, "--image-max-tokens", "70",
                "--tokens", ids(toks), "--out", str(tmp_path / "x.f32"))
    assert r.returncode == 1
    assert "59 soft tokens" in r.stderr.decode() and "60" in r.stderr.decode()


def test_image_needs_mmproj_and_blocks_need_images(tmp_path):
    r = specula("logits", "-m", TEXT, "--image", COFFEE, "--tokens", "2,3", "--out", str(tmp_path / "x.f32"))
    assert r.returncode == 1 and "--mmproj" in r.stderr.decode()
    r = specula("logits", "-m", TEXT, "--mmproj", MMPROJ, "--tokens", ids(PROMPT["tokens"]),
                "--out", str(tmp_path / "x.f32"))
    assert r.returncode == 1 and "image" in r.stderr.decode()


@pytest.mark.parametrize("content", [b"", b"not an image", b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00N \x00\x00N "
                                     b"\x08\x02\x00\x00\x00\x00\x00\x00\x00"])
def test_bad_images_are_errors(tmp_path, content):
    img = tmp_path / "bad.png"
    img.write_bytes(content)
    r = specula("embed-image", "--mmproj", MMPROJ, "--image", str(img), "--out", str(tmp_path / "x.f32"))
    assert r.returncode == 1, r.stderr.decode()
    assert "bad.png" in r.stderr.decode()


def test_truncated_image_is_an_error(tmp_path):
    img = tmp_path / "cut.png"
    img.write_bytes(Path(COFFEE).read_bytes()[:5000])
    r = specula("embed-image", "--mmproj", MMPROJ, "--image", str(img), "--out", str(tmp_path / "x.f32"))
    assert r.returncode == 1 and "cut.png" in r.stderr.decode()


def test_bad_budget_and_bad_mmproj_are_errors(tmp_path):
    r = specula("embed-image", "--mmproj", MMPROJ, "--image", COFFEE, "--image-max-tokens", "100",
                "--out", str(tmp_path / "x.f32"))
    assert r.returncode == 1 and "70, 140, 280, 560 or 1120" in r.stderr.decode()
    r = specula("embed-image", "--mmproj", TEXT, "--image", COFFEE, "--out", str(tmp_path / "x.f32"))
    assert r.returncode == 1 and "clip" in r.stderr.decode()


def rewrite_mmproj(tmp_path, drop=None, projector=None, f16=False):
    """A copy of the fixture mmproj with one tensor dropped or the projector type changed (gguf-py)."""
    import gguf
    src = gguf.GGUFReader(MMPROJ)
    out = tmp_path / "edited.gguf"
    w = gguf.GGUFWriter(str(out), "clip")
    for name, field in src.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        value = field.contents()
        if name == "clip.vision.projector_type" and projector is not None:
            value = projector
        vtype = field.types[0]
        if vtype == gguf.GGUFValueType.ARRAY:
            w.add_key_value(name, value, vtype, sub_type=field.types[-1])
        else:
            w.add_key_value(name, value, vtype)
    for t in src.tensors:
        if t.name == drop:
            continue
        data = np.asarray(t.data).reshape(list(reversed(t.shape.tolist())))
        if f16 and data.ndim >= 2 and t.name != "v.position_embd.weight":  # as llama.cpp's --outtype f16
            w.add_tensor(t.name, data.astype(np.float16))
        else:
            w.add_tensor(t.name, data, raw_dtype=t.tensor_type)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return str(out)


def test_unknown_projector_and_missing_tensor_are_errors(tmp_path):
    bad = rewrite_mmproj(tmp_path, projector="gemma3")
    r = specula("embed-image", "--mmproj", bad, "--image", COFFEE, "--out", str(tmp_path / "x.f32"))
    assert r.returncode == 1 and "gemma3" in r.stderr.decode(), r.stderr.decode()
    bad = rewrite_mmproj(tmp_path, drop="v.blk.1.attn_k.weight")
    r = specula("embed-image", "--mmproj", bad, "--image", COFFEE, "--out", str(tmp_path / "x.f32"))
    assert r.returncode == 1 and "v.blk.1.attn_k.weight" in r.stderr.decode(), r.stderr.decode()


def run_image(*extra):
    return specula("run", "-m", TEXT, "--mmproj", MMPROJ, "--image-max-tokens", "70", "-n", "16", "--temp", "0",
                   "--print-ids", "-t", "2", *extra)


def generated_ids(r):
    assert r.returncode == 0, r.stderr.decode()
    return [int(x) for x in r.stdout.decode().splitlines()[-1].split()]


@pytest.mark.parametrize("extra", [[], ["--spec-type", "ngram", "--draft-block-size", "4"], ["-ub", "7"]],
                         ids=["plain", "ngram-4", "ubatch-7"])
def test_run_with_image_gives_transformers_greedy(extra):
    # The fixture's text; the tokenizer adds the <bos> that the reference prompt spells out.
    r = run_image("--image", COFFEE, "-p", "What is on the table?\n\n<|image|>\n\nIt shows", *extra)
    assert generated_ids(r) == PROMPT["generated_tokens"]
    assert "prompt: 89 tokens" in r.stderr.decode()


def n_text_tokens(text):
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(VIS / "hf" / "tokenizer.json"))
    return len(tok.encode(text, add_special_tokens=False).ids)


def test_run_places_images_before_the_text_by_default_and_in_marker_order():
    # bos + one block of 1 + 60 + 1 per image + the text's tokens (HF tokenizers count).
    r = run_image("--image", COFFEE, "-p", "It shows")
    assert r.returncode == 0, r.stderr.decode()
    assert f"prompt: {1 + 62 + n_text_tokens('It shows')} tokens" in r.stderr.decode()
    r2 = run_image("--image", COFFEE, "--image", COFFEE, "-p", "<|image|>It shows<|image|>")
    assert r2.returncode == 0, r2.stderr.decode()
    assert f"prompt: {1 + 2 * 62 + n_text_tokens('It shows')} tokens" in r2.stderr.decode()


def test_run_image_count_must_match_markers():
    r = run_image("--image", COFFEE, "--image", COFFEE, "-p", "<|image|>It shows")
    assert r.returncode == 1 and "2 image(s)" in r.stderr.decode(), r.stderr.decode()
    r = specula("run", "-m", TEXT, "--image", COFFEE, "-p", "x")
    assert r.returncode == 1 and "--mmproj" in r.stderr.decode()


def test_run_chat_with_image():
    r = run_image("--image", COFFEE, "--chat", "-p", "Describe this image.")
    assert r.returncode == 0, r.stderr.decode()
    assert "image " in r.stderr.decode() and "60 soft tokens" in r.stderr.decode()


def test_run_chat_image_prompt_matches_template_rendering():
    """The chat prompt with an image after the text, as the jinja2 rendering of the official gemma4-it template
    (tests/data/chat) tokenized by HF tokenizers, with the one <|image|> expanded to 1 + 60 + 1 tokens."""
    from tokenizers import Tokenizer
    data = json.loads((Path(os.environ["SPECULA_SOURCE_DIR"]) / "tests/data/chat/gemma4_chat_cases.json").read_text())
    conv = next(c for c in data["conversations"] if c["name"] == "image_after_text")
    case = next(c for c in data["cases"] if c["conversation"] == conv["name"] and c["template"] == "gemma4-it"
                and c["add_generation_prompt"] and not c["enable_thinking"])
    tok = Tokenizer.from_file(str(VIS / "hf" / "tokenizer.json"))
    n_expected = len(tok.encode(case["expected"], add_special_tokens=False).ids) + 61
    text = conv["messages"][0]["content"][0]["text"]
    r = run_image("--image", COFFEE, "--chat", "--chat-template", "gemma4-it", "-p", text + "<|image|>")
    assert r.returncode == 0, r.stderr.decode()
    assert f"prompt: {n_expected} tokens" in r.stderr.decode(), (n_expected, r.stderr.decode()[-500:])


def test_f16_mmproj_embeddings_stay_close(tmp_path):
    """An f16 copy of the mmproj (matrices and the patch kernel in f16, as llama.cpp's f16 conversion): the
    embeddings move only by the weight rounding (no f16-weight reference exists for the tower; the README
    measured f16 mmproj effects of 0.2-2.8 % on logits, so 3e-2 of max |ref| is the bar)."""
    f16 = rewrite_mmproj(tmp_path, f16=True)
    out = tmp_path / "emb.f32"
    r = specula("embed-image", "--mmproj", f16, "--image", COFFEE, "--image-max-tokens", "70", "--out", str(out))
    assert r.returncode == 0, r.stderr.decode()
    ref = np.fromfile(VIS / "image_embeds_coffee.f32", "<f4")
    err = np.abs(np.fromfile(out, "<f4") - ref).max() / np.abs(ref).max()
    print(f"f16 mmproj embeddings: err {err:.2e} of max |ref|")
    assert 0 < err <= 3e-2, err
