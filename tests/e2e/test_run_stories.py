"""specula run / perplexity on the trained stories260K llama model against its published oracles."""
import os
import subprocess
from pathlib import Path

SPECULA = os.environ["SPECULA_BIN"]
ASSETS = Path(os.environ["SPECULA_SHARED_DIR"]) / "assets"
STORIES = ASSETS / "stories260K"
MODEL = str(STORIES / "stories260K.gguf")


def run(*args, stdin=None):
    return subprocess.run([SPECULA, *args], capture_output=True, input=stdin, timeout=300)


def test_greedy_200_steps_from_bos_matches_llama2c_exactly():
    r = run("run", "-m", MODEL, "-p", "", "-n", "200", "--temp", "0", "-t", "1")
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == (STORIES / "expected_greedy_t0_200steps.txt").read_bytes()


def test_greedy_256_steps_matches_karpathy_readme():
    r = run("run", "-m", MODEL, "-p", "", "-n", "256", "--temp", "0", "-t", "1")
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout == (STORIES / "expected_greedy_t0_256steps.txt").read_bytes()


def test_prompt_continuation_matches_llamacpp_oracle():
    # llama-completion echoes the prompt tokens (with SentencePiece's leading space) and ends with two newlines;
    # specula ends with one, so trailing newlines are not compared.
    r = run("run", "-m", MODEL, "-p", "Once upon a time", "-n", "64", "--temp", "0", "-t", "1")
    assert r.returncode == 0, r.stderr.decode()
    oracle = (STORIES / "llamacpp-oracle" / "llama-completion_prompt-Once-upon-a-time_n64_temp0.txt").read_bytes()
    assert r.stdout.rstrip(b"\n") == oracle.rstrip(b"\n")


def test_prompt_from_stdin_and_print_ids():
    r = run("run", "-m", MODEL, "-f", "-", "-n", "8", "--temp", "0", "--print-ids", "-t", "1",
            stdin=b"Once upon a time")
    assert r.returncode == 0, r.stderr.decode()
    lines = r.stdout.decode().splitlines()
    ids = [int(x) for x in lines[-1].split()]
    assert len(ids) == 8
    # The same continuation given as token ids (BOS + "Once upon a time" = 1 403 407 261 378 per the oracle README).
    r2 = run("run", "-m", MODEL, "--tokens", "1,403,407,261,378", "-n", "8", "--temp", "0", "--print-ids", "-t", "1")
    assert r2.returncode == 0, r2.stderr.decode()
    assert [int(x) for x in r2.stdout.decode().splitlines()[-1].split()] == ids


def ppl(text, ctx, extra=()):
    r = run("perplexity", "-m", MODEL, "-f", str(text), "-c", str(ctx), "-t", "1", *extra)
    assert r.returncode == 0, r.stderr.decode()
    line = [l for l in r.stdout.decode().splitlines() if l.startswith("Final estimate")][0]
    return float(line.split("=")[1].split()[0])


def test_perplexity_matches_llamacpp_oracle():
    text = ASSETS / "text" / "tinystories-valid-subset-30k.txt"
    assert abs(ppl(text, 128) - 5.8585) <= 0.01
    assert abs(ppl(text, 256) - 6.2132) <= 0.01


def test_perplexity_on_shakespeare_prefix(tmp_path):
    prefix = tmp_path / "tsh.txt"
    prefix.write_bytes((ASSETS / "text" / "tinyshakespeare.txt").read_bytes()[:100000])
    assert abs(ppl(prefix, 128) - 113.6416) <= 0.01


def test_bad_inputs_fail_cleanly(tmp_path):
    for args in (["run", "-m", MODEL], ["run", "-m", MODEL, "-p", "x", "--tokens", "1"],
                 ["run", "-m", MODEL, "--tokens", "1,99999999"], ["run", "-m", str(tmp_path / "missing.gguf"), "-p", "x"],
                 ["run", "-m", MODEL, "-p", "x", "--top-p", "2"], ["run", "-m", MODEL, "-p", "x", "--bogus"],
                 ["perplexity", "-m", MODEL, "-f", str(STORIES / "expected_greedy_t0_200steps.txt"), "-c", "512"]):
        r = run(*args)
        assert r.returncode == 1, (args, r.returncode, r.stderr)
        assert len(r.stderr.decode().strip().splitlines()) == 1, r.stderr
