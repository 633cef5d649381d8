"""`specula info` on real assets, checked against independent references: the Python `gguf` package's
GGUFReader (stories260K), the extracted Gemma 4 vocab metadata and special-token table in the shared
assets, and the fixtures' meta.json; plus truncated and corrupted copies, which must fail cleanly."""
import collections
import json
import math
import os
import re
import subprocess

import gguf
import pytest

BIN = os.environ["SPECULA_BIN"]
SHARED = os.environ["SPECULA_SHARED_DIR"]
STORIES = os.path.join(SHARED, "assets/stories260K/stories260K.gguf")
GEMMA_XZ = os.path.join(SHARED, "assets/llamacpp-vocab/ggml-vocab-gemma-4.gguf.xz")
TOKEN_TYPES = {1: "normal", 2: "unknown", 3: "control", 4: "user_defined", 5: "unused", 6: "byte"}


def run_info(*args):
    return subprocess.run([BIN, "info", *args], capture_output=True, text=True, timeout=60)


def line_value(out, label):
    """The text after `label: ` on its line (labels are unique in the output)."""
    m = re.search(r"^\s*" + re.escape(label) + r": (.*)$", out, re.M)
    assert m, f"no '{label}:' line in:\n{out}"
    return m.group(1)


def special_lines(out):
    """{id: (type, text)} from the 'special tokens' block."""
    block = out.split("special tokens:", 1)[1].split("\ntensors:", 1)[0]
    result = {}
    for m in re.finditer(r'^\s+(\d+) (\w+)\s+"(.*)"$', block, re.M):
        result[int(m.group(1))] = (m.group(2), m.group(3))
    return result


@pytest.fixture(scope="module")
def gemma_vocab(tmp_path_factory):
    path = tmp_path_factory.mktemp("vocab") / "ggml-vocab-gemma-4.gguf"
    with open(path, "wb") as f:
        subprocess.run(["xz", "-dkc", GEMMA_XZ], stdout=f, check=True)
    return str(path)


def test_stories260k_matches_gguf_reader():
    r = run_info(STORIES)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    ref = gguf.GGUFReader(STORIES)
    field = lambda k: ref.fields[k].contents()  # noqa: E731
    assert line_value(out, "architecture") == field("general.architecture") == "llama"
    assert int(line_value(out, "block count")) == field("llama.block_count") == 5
    n_kv = len([k for k in ref.fields if not k.startswith("GGUF.")])
    assert line_value(out, "format") == f"GGUF v3, alignment 32, {os.path.getsize(STORIES)} bytes, {n_kv} metadata keys, 48 tensors"
    for key in ("llama.embedding_length", "llama.feed_forward_length", "llama.attention.head_count",
                "llama.attention.head_count_kv", "llama.context_length"):
        assert re.search(rf"^\s+{re.escape(key)}\s+{field(key)}$", out, re.M), key
    # Tokenizer.
    tokens = field("tokenizer.ggml.tokens")
    assert line_value(out, "model") == field("tokenizer.ggml.model")
    assert int(line_value(out, "vocab size")) == len(tokens) == 512
    counts = collections.Counter(field("tokenizer.ggml.token_type"))
    assert line_value(out, "token types") == ", ".join(f"{TOKEN_TYPES[t]} {n}" for t, n in sorted(counts.items()))
    for label, key in (("bos id", "bos_token_id"), ("eos id", "eos_token_id"), ("unk id", "unknown_token_id")):
        i = field("tokenizer.ggml." + key)
        assert line_value(out, label) == f'{i} "{tokens[i]}"'
    assert line_value(out, "pad id").endswith("(no such token)")  # 4294967295 marks "none" in this file
    types = field("tokenizer.ggml.token_type")
    want = {i: (TOKEN_TYPES[t], tokens[i]) for i, t in enumerate(types) if t in (2, 3, 4)}
    assert special_lines(out) == want
    # Tensors: totals and per-type lines from the reader's tensor list.
    total = sum(int(t.n_bytes) for t in ref.tensors)
    params = sum(int(t.n_elements) for t in ref.tensors)
    assert line_value(out, "tensors").startswith(f"{len(ref.tensors)}, {total} bytes (")
    assert line_value(out, "tensors").endswith(f", {params} parameters")
    assert line_value(out, "f32") == f"48 tensors, {total} bytes ({total / 2**20:.2f} MiB)"
    assert "... 16 more (--tensors lists all)" in out
    listed = run_info("--tensors", STORIES).stdout
    for t in ref.tensors:
        dims = ", ".join(str(int(d)) for d in t.shape)
        assert re.search(rf"^\s+{re.escape(t.name)}\s+f32\s+\[{dims}\]\s+{int(t.n_bytes)} bytes$", listed, re.M), t.name


def test_gemma4_vocab_matches_asset_tables(gemma_vocab):
    r = run_info(gemma_vocab)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    meta = open(os.path.join(SHARED, "assets/gemma/gemma4-vocab-gguf-metadata.txt"), encoding="utf-8").read()
    assert line_value(out, "architecture") == "gemma4"
    assert "gemma4.block_count 30" in meta
    assert int(line_value(out, "block count")) == 30
    assert line_value(out, "format").endswith("42 metadata keys, 0 tensors") and "kv 42" in meta
    assert line_value(out, "model") == "gemma4"
    assert int(line_value(out, "vocab size")) == 262144
    assert line_value(out, "merges") == "514906"
    # The special-token table lists every control (3) and user-defined (4) token.
    rows = [l.split("\t") for l in open(os.path.join(SHARED, "assets/gemma/gemma4-special-tokens.tsv"),
                                        encoding="utf-8").read().splitlines()[1:]]
    want = {int(i): (TOKEN_TYPES[int(t)], text) for i, text, t in rows}
    assert len(want) == 24
    assert special_lines(out) == want
    assert line_value(out, "special tokens") == "24"
    n_control = sum(1 for t, _ in want.values() if t == "control")
    n_user = sum(1 for t, _ in want.values() if t == "user_defined")
    # 256 byte-fallback tokens <0x00>..<0xFF>; everything else is normal.
    assert line_value(out, "token types") == (f"normal {262144 - 24 - 256}, control {n_control}, "
                                              f"user_defined {n_user}, byte 256")
    for label, want_line in (("bos id", '2 "<bos>"'), ("eos id", '1 "<eos>"'), ("pad id", '0 "<pad>"'),
                             ("unk id", '3 "<unk>"'), ("mask id", '4 "<mask>"')):
        assert line_value(out, label) == want_line
    assert line_value(out, "tensors").startswith("0, 0 bytes")


def test_safetensors_folder():
    folder = os.path.join(SHARED, "fixtures/llamacpp/text_e/hf")
    meta = json.load(open(os.path.join(SHARED, "fixtures/llamacpp/text_e/meta.json")))
    r = run_info(folder)
    assert r.returncode == 0, r.stderr
    n = len(meta["hf_tensors"])
    assert line_value(r.stdout, "format") == f"safetensors, 1 shard, {n} tensors"
    params = sum(math.prod(t["shape"]) for t in meta["hf_tensors"])
    assert line_value(r.stdout, "tensors") == f"{n}, {params * 4} bytes ({params * 4 / 2**20:.2f} MiB), {params} parameters"
    assert line_value(r.stdout, "F32") == f"{n} tensors, {params * 4} bytes ({params * 4 / 2**20:.2f} MiB)"
    assert line_value(r.stdout, "format") == f"safetensors, 1 shard, {n} tensors"


def expect_clean_failure(r, what):
    assert r.returncode == 1, f"{what}: returncode {r.returncode} (negative = killed by a signal)\n{r.stderr}"
    assert r.stdout == "", what
    assert r.stderr.startswith("specula info: "), (what, r.stderr)
    assert r.stderr.endswith("\n") and r.stderr.count("\n") == 1, (what, r.stderr)


def test_truncated_and_corrupted_files_fail_cleanly(tmp_path, gemma_vocab):
    data = open(STORIES, "rb").read()
    cases = {}
    for n in (0, 3, 10, 24, 100, 1000, 5000, 20000, 600000, len(data) - 1):
        cases[f"stories-cut-{n}"] = data[:n]
    cases["bad-magic"] = b"GGUX" + data[4:]
    cases["huge-kv-count"] = data[:16] + (2**62).to_bytes(8, "little") + data[24:]
    cases["huge-string"] = data[:24] + (2**60).to_bytes(8, "little") + data[32:]
    cases["garbage"] = bytes(range(256)) * 4
    gemma = open(gemma_vocab, "rb").read()
    cases["gemma-cut-half"] = gemma[:len(gemma) // 2]
    cases["gemma-cut-start"] = gemma[:4096]
    for name, content in cases.items():
        path = tmp_path / f"{name}.gguf"
        path.write_bytes(content)
        expect_clean_failure(run_info(str(path)), name)
    expect_clean_failure(run_info(str(tmp_path / "missing.gguf")), "missing file")
    expect_clean_failure(run_info(str(tmp_path)), "folder without a model")
    bad_st = tmp_path / "bad.safetensors"
    bad_st.write_bytes((100).to_bytes(8, "little") + b'{"a": {"dtype": "F32"')
    expect_clean_failure(run_info(str(bad_st)), "bad safetensors")
