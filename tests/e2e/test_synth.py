"""`specula synth` end to end:
* the tiny preset's vocabulary is a working Gemma 4-style tokenizer: HF `tokenizers` built from the GGUF's
  pieces and merges (byte-fallback BPE, spaces as U+2581) tokenizes text exactly as `specula tokenize` does;
* its chat template renders tool-free conversations exactly as the official gemma4-it template
  (tests/data/chat/gemma4_chat_cases.json, rendered with jinja2 from the official template);
(--vocab with a real Gemma 4 vocabulary is tested in tests/unit/model/synth_vocab_test.cpp: reading 262144
tokens with the Python reader takes over a minute)
* the metadata of the released presets (--dry-run) reads back with the `gguf` package as §1.2 says."""
import json
import os
import subprocess
from pathlib import Path

import gguf
import jinja2
import pytest
from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers

SPECULA = os.environ["SPECULA_BIN"]
SHARED = Path(os.environ["SPECULA_SHARED_DIR"])
SOURCE = Path(os.environ["SPECULA_SOURCE_DIR"])


def specula(*args, ok=True):
    r = subprocess.run([SPECULA, *map(str, args)], capture_output=True, text=True, timeout=300)
    if ok:
        assert r.returncode == 0, r.stderr
    return r


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("synth") / "tiny.gguf"
    specula("synth", "--preset", "tiny", "--type", "q8_0", "-o", path, "-q")
    return path


def hf_tokenizer(reader):
    tokens = reader.fields["tokenizer.ggml.tokens"].contents()
    types = reader.fields["tokenizer.ggml.token_type"].contents()
    merges = [tuple(m.split(" ")) for m in reader.fields["tokenizer.ggml.merges"].contents()]
    vocab = {t: i for i, t in enumerate(tokens)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, byte_fallback=True, unk_token="<unk>", fuse_unk=True))
    tok.normalizer = normalizers.Replace(" ", "\u2581")
    tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse()])
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t, ty in zip(tokens, types) if ty in (3, 4)])
    return tok


TEXTS = ["Hello world", "The capital of France is Paris.", "  two  spaces and\ttabs\nnewlines",
         "unicode: héllo wörld ✓ 日本語 🙂", "<|turn>user\nHi there<turn|>\n<|turn>model\n", "x" * 40,
         "What is the answer? The answer is 42."]


@pytest.mark.parametrize("text", TEXTS)
def test_tiny_tokenizer_matches_hf_tokenizers(tiny, text):
    tok = hf_tokenizer(gguf.GGUFReader(tiny))
    want = tok.encode(text, add_special_tokens=False).ids
    got = specula("tokenize", "-m", tiny, "-p", text, "--no-bos").stdout.split()
    assert [int(x) for x in got] == want
    assert tok.decode(want, skip_special_tokens=False) == text


def test_tiny_tokenizer_adds_bos_and_knows_the_chat_tokens(tiny):
    r = gguf.GGUFReader(tiny)
    tokens = r.fields["tokenizer.ggml.tokens"].contents()
    ids = [int(x) for x in specula("tokenize", "-m", tiny, "-p", "<|turn>user\nHi<turn|>").stdout.split()]
    assert ids[0] == r.fields["tokenizer.ggml.bos_token_id"].contents() == tokens.index("<bos>")
    assert ids[1] == tokens.index("<|turn>") and ids[-1] == tokens.index("<turn|>")


def tool_free(conversation):
    return all(m["role"] in ("system", "developer", "user", "assistant") and not m.get("tool_calls")
               and not m.get("tool_responses") for m in conversation["messages"]) and not conversation.get("tools")


def test_tiny_chat_template_renders_like_gemma4_it(tiny):
    template = gguf.GGUFReader(tiny).fields["tokenizer.chat_template"].contents()
    data = json.loads((SOURCE / "tests/data/chat/gemma4_chat_cases.json").read_text())
    conversations = {c["name"]: c for c in data["conversations"]}
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)  # as transformers renders chat templates
    t = env.from_string(template)
    checked = 0
    for case in data["cases"]:
        conv = conversations[case["conversation"]]
        if case["template"] != "gemma4-it" or not tool_free(conv):
            continue
        got = t.render(messages=conv["messages"], add_generation_prompt=case["add_generation_prompt"],
                       enable_thinking=case["enable_thinking"], bos_token="<bos>", eos_token="<eos>")
        assert got == case["expected"], conv["name"]
        checked += 1
    assert checked >= 20


@pytest.mark.parametrize("preset,layers,hidden,ple,shared", [("e2b", 35, 1536, 256, 20), ("e4b", 42, 2560, 256, 18),
                                                            ("26b-a4b", 30, 2816, 0, 0), ("31b", 60, 5376, 0, 0)])
def test_released_presets_metadata(preset, layers, hidden, ple, shared, tmp_path):
    out = tmp_path / "meta.gguf"
    specula("synth", "--preset", preset, "--type", "q4_k_m", "--dry-run", "-o", out)
    f = gguf.GGUFReader(out).fields
    assert f["gemma4.block_count"].contents() == layers
    assert f["gemma4.embedding_length"].contents() == hidden
    assert f["gemma4.embedding_length_per_layer_input"].contents() == ple
    assert f["gemma4.attention.shared_kv_layers"].contents() == shared
    assert f["gemma4.final_logit_softcapping"].contents() == 30.0
    assert f["general.file_type"].contents() == 15
    assert "tokenizer.ggml.model" not in f  # no tokenizer unless --vocab


def test_tiny_runs(tiny):
    r = specula("run", "-m", tiny, "--chat", "-p", "Hello", "-n", "4", "--temp", "0", "-t", "1")
    assert "generation: 4 tokens" in r.stdout + r.stderr
