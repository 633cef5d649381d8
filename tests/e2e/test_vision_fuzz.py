"""A short libFuzzer run of the image path (tests/fuzz/image_fuzz.cpp: decode_image + preprocess_image) inside the
normal test suite.

The fuzzer is compiled with clang++ directly (only the base and image sources, with
-fsanitize=fuzzer,address,undefined) into <build>/fuzz-image/, recompiling only what changed, then run for about
15 seconds on small PNG/BMP/JPEG/GIF seeds that the target writes itself. Any crash, leak, sanitizer report,
memory above the RSS limit or violated property fails the test.
"""
import glob
import os
import re
import subprocess

from fuzz_build import build_fuzzer

SOURCE = os.environ["SPECULA_SOURCE_DIR"]
BUILD = os.path.dirname(os.path.dirname(os.environ["SPECULA_BIN"]))  # <build>/bin/specula
WORK = os.path.join(BUILD, "fuzz-image")
SOURCES = ["src/base/check.cpp", "src/base/result.cpp", "src/base/log.cpp", "src/runtime/image_decode.cpp",
           "src/runtime/image_resize.cpp", "src/runtime/image_exif.cpp", "tests/fuzz/image_fuzz.cpp"]
FUZZ_SECONDS = 15
MAX_LEN = 4096


def build():
    headers = glob.glob(os.path.join(SOURCE, "src/base/*.h")) + [os.path.join(SOURCE, "src/runtime/image.h")]
    return build_fuzzer(SOURCE, WORK, SOURCES, headers, "image_fuzz")


def test_fuzz_image_decode_and_preprocess(tmp_path):
    binary = build()
    seeds = tmp_path / "seeds"
    corpus = tmp_path / "corpus"
    seeds.mkdir()
    corpus.mkdir()
    r = subprocess.run([binary, f"--write-seeds={seeds}"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert len(os.listdir(seeds)) >= 7
    r = subprocess.run([binary, f"-max_total_time={FUZZ_SECONDS}", f"-max_len={MAX_LEN}", "-rss_limit_mb=2048",
                        "-malloc_limit_mb=1024", "-timeout=10", "-print_final_stats=1",
                        "-artifact_prefix=" + str(tmp_path) + "/", str(corpus), str(seeds)],
                       capture_output=True, text=True, timeout=FUZZ_SECONDS + 60)
    log = r.stdout + r.stderr
    for bad in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "property violated",
                "deadly signal", "ERROR: libFuzzer", "out-of-memory", "malloc(", "timeout"):
        assert bad not in log, f"fuzzer found a problem ({bad}):\n{log[-6000:]}"
    assert r.returncode == 0, log[-6000:]
    runs = re.search(r"stat::number_of_executed_units:\s+(\d+)", log)
    assert runs and int(runs.group(1)) > 200, log[-3000:]
