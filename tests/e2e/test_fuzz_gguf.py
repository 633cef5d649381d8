"""A short libFuzzer run of GgufFile::parse (tests/fuzz/gguf_fuzz.cpp) inside the normal test suite.

The fuzzer is compiled with clang++ directly (only the base and GGUF sources, with
-fsanitize=fuzzer,address,undefined) into <build>/fuzz-gguf/, recompiling only what changed, then run for
about 20 seconds on seeds made by GgufWriter plus stories260K.gguf. Any crash, leak, sanitizer report or
violated property (see gguf_fuzz.cpp) fails the test.
"""
import glob
import os
import re
import shutil
import subprocess

from fuzz_build import build_fuzzer

SOURCE = os.environ["SPECULA_SOURCE_DIR"]
SHARED = os.environ["SPECULA_SHARED_DIR"]
BUILD = os.path.dirname(os.path.dirname(os.environ["SPECULA_BIN"]))  # <build>/bin/specula
WORK = os.path.join(BUILD, "fuzz-gguf")
SOURCES = ["src/base/check.cpp", "src/base/result.cpp", "src/base/mapped_file.cpp", "src/base/log.cpp",
           "src/format/ggml_type.cpp", "src/format/gguf_value.cpp", "src/format/gguf_reader.cpp",
           "src/format/gguf_writer.cpp", "tests/fuzz/gguf_fuzz.cpp"]
FUZZ_SECONDS = 20
MAX_LEN = 16384  # covers stories260K's whole header (its data section starts at byte 14176)


def build():
    headers = glob.glob(os.path.join(SOURCE, "src/base/*.h")) + glob.glob(os.path.join(SOURCE, "src/format/*.h"))
    return build_fuzzer(SOURCE, WORK, SOURCES, headers, "gguf_fuzz")


def test_fuzz_gguf_parse(tmp_path):
    binary = build()
    seeds = tmp_path / "seeds"
    corpus = tmp_path / "corpus"
    seeds.mkdir()
    corpus.mkdir()
    r = subprocess.run([binary, f"--write-seeds={seeds}"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert len(os.listdir(seeds)) >= 4
    shutil.copy(os.path.join(SHARED, "assets/stories260K/stories260K.gguf"), seeds)
    r = subprocess.run([binary, f"-max_total_time={FUZZ_SECONDS}", f"-max_len={MAX_LEN}", "-rss_limit_mb=2048",
                        "-timeout=10", "-print_final_stats=1", "-artifact_prefix=" + str(tmp_path) + "/",
                        str(corpus), str(seeds)],
                       capture_output=True, text=True, timeout=FUZZ_SECONDS + 60)
    log = r.stdout + r.stderr
    for bad in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "property violated",
                "deadly signal", "ERROR: libFuzzer"):
        assert bad not in log, f"fuzzer found a problem ({bad}):\n{log[-6000:]}"
    assert r.returncode == 0, log[-6000:]
    runs = re.search(r"stat::number_of_executed_units:\s+(\d+)", log)
    assert runs and int(runs.group(1)) > 1000, log[-3000:]
