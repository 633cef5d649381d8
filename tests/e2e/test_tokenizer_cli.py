"""`specula tokenize` / `specula detokenize` end to end.

Expected ids come from llama.cpp: its known-answer file for the llama SentencePiece vocab
(shared/assets/llamacpp-vocab/ggml-vocab-llama-spm.gguf.out), the stories260K oracle README
("Once upon a time" -> [1, 403, 407, 261, 378]) and the Gemma 4 known-answer file (ggml-vocab-gemma-4).
"""
import lzma
import os
import shutil
import subprocess

import pytest

BIN = os.environ["SPECULA_BIN"]
SHARED = os.environ["SPECULA_SHARED_DIR"]
BUILD = os.path.dirname(os.path.dirname(BIN))  # <build>/bin/specula
VOCAB = os.path.join(SHARED, "assets", "llamacpp-vocab")
STORIES = os.path.join(SHARED, "assets", "stories260K", "stories260K.gguf")
LLAMA_SPM = os.path.join(VOCAB, "ggml-vocab-llama-spm.gguf")


def run(*args, ok=True):
    p = subprocess.run([BIN, *args], capture_output=True)
    if ok:
        assert p.returncode == 0, p.stderr.decode()
    return p


@pytest.fixture(scope="module")
def gemma4():
    """ggml-vocab-gemma-4.gguf decompressed into the build folder (shared by the tokenizer tests)."""
    path = os.path.join(BUILD, "test-data", "ggml-vocab-gemma-4.gguf")
    if not os.path.exists(path) or os.path.getsize(path) != 15776467:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.tmp{os.getpid()}"
        with lzma.open(os.path.join(VOCAB, "ggml-vocab-gemma-4.gguf.xz")) as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.replace(tmp, path)
    return path


def ids_of(p):
    return [int(x) for x in p.stdout.decode().split()]


def test_stories_prompt_with_bos():
    assert ids_of(run("tokenize", "-m", STORIES, "-p", "Once upon a time")) == [1, 403, 407, 261, 378]
    assert ids_of(run("tokenize", "-m", STORIES, "-p", "Once upon a time", "--no-bos")) == [403, 407, 261, 378]


def test_llama_known_answer_and_detokenize():
    # ggml-vocab-llama-spm.gguf.out, first text "ied 4 ½ months".
    ids = ids_of(run("tokenize", "-m", LLAMA_SPM, "-p", "ied 4 ½ months", "--no-bos"))
    assert ids == [474, 287, 29871, 29946, 29871, 30226, 7378]
    out = run("detokenize", "-m", LLAMA_SPM, "--ids", " ".join(map(str, ids))).stdout.decode()
    assert out == "ied 4 ½ months\n"


def test_file_input_is_read_as_bytes(tmp_path):
    text = "    Hello\n    Hello"
    f = tmp_path / "in.txt"
    f.write_bytes(text.encode())
    assert ids_of(run("tokenize", "-m", LLAMA_SPM, "-f", str(f), "--no-bos")) == \
        ids_of(run("tokenize", "-m", LLAMA_SPM, "-p", text, "--no-bos"))


def test_gemma4_pieces_and_special_tokens(gemma4):
    # ggml-vocab-gemma-4.gguf.out: "Hello world" -> 9259 1902; BOS is 2.
    assert ids_of(run("tokenize", "-m", gemma4, "-p", "Hello world")) == [2, 9259, 1902]
    lines = run("tokenize", "-m", gemma4, "-p", "Hello world", "--pieces").stdout.decode().splitlines()
    assert lines == ['2 "<bos>"', '9259 "Hello"', '1902 " world"']
    turn = ids_of(run("tokenize", "-m", gemma4, "-p", "<|turn>user", "--no-bos"))
    assert turn[0] == 105
    plain = ids_of(run("tokenize", "-m", gemma4, "-p", "<|turn>user", "--no-bos", "--no-parse-special"))
    assert 105 not in plain
    text = run("detokenize", "-m", gemma4, "--ids", ",".join(map(str, plain))).stdout.decode()
    assert text == "<|turn>user\n"
    rendered = run("detokenize", "-m", gemma4, "--ids", "2 105", "--render-special").stdout.decode()
    assert rendered == "<bos><|turn>\n"


def test_errors_are_messages_not_crashes(tmp_path):
    p = run("tokenize", "-m", STORIES, ok=False)
    assert p.returncode == 1 and b"-p TEXT or -f FILE" in p.stderr
    p = run("tokenize", "-m", str(tmp_path / "missing.gguf"), "-p", "x", ok=False)
    assert p.returncode == 1 and b"missing.gguf" in p.stderr
    p = run("detokenize", "-m", STORIES, "--ids", "1 99999", ok=False)
    assert p.returncode == 1 and b"out of range" in p.stderr
    p = run("detokenize", "-m", STORIES, "--ids", "1 x2", ok=False)
    assert p.returncode == 1 and b"'x2' is not a token id" in p.stderr
    bad = tmp_path / "notgguf.gguf"
    bad.write_bytes(b"not a gguf file at all")
    p = run("tokenize", "-m", str(bad), "-p", "x", ok=False)
    assert p.returncode == 1 and p.stderr
