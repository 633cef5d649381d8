"""A short libFuzzer run of the image path (tests/fuzz/image_fuzz.cpp: decode_image + preprocess_image) inside the
normal test suite.

The fuzzer is compiled with clang++ directly (only the base and image sources, with
-fsanitize=fuzzer,address,undefined) into <build>/fuzz-image/, recompiling only what changed, then run for about
15 seconds on small PNG/BMP/JPEG/GIF seeds that the target writes itself. Any crash, leak, sanitizer report,
memory above the RSS limit or violated property fails the test.
"""
import concurrent.futures
import glob
import os
import re
import shutil
import subprocess

SOURCE = os.environ["SPECULA_SOURCE_DIR"]
BUILD = os.path.dirname(os.path.dirname(os.environ["SPECULA_BIN"]))  # <build>/bin/specula
WORK = os.path.join(BUILD, "fuzz-image")
SOURCES = ["src/base/check.cpp", "src/base/result.cpp", "src/base/log.cpp", "src/runtime/image_decode.cpp",
           "src/runtime/image_resize.cpp", "src/runtime/image_exif.cpp", "tests/fuzz/image_fuzz.cpp"]
SANITIZE = "-fsanitize=fuzzer{},address,undefined"
FUZZ_SECONDS = 15
MAX_LEN = 4096


def clang():
    for name in ("clang++", "clang++-14"):
        path = shutil.which(name)
        if path:
            return path
    raise AssertionError("clang++ (with libFuzzer, libclang-rt-dev) is required for the fuzz test")


def build():
    cxx = clang()
    os.makedirs(WORK, exist_ok=True)
    headers = glob.glob(os.path.join(SOURCE, "src/base/*.h")) + [os.path.join(SOURCE, "src/runtime/image.h")]
    newest_header = max(os.path.getmtime(h) for h in headers)
    flags = ["-std=c++20", "-O1", "-gline-tables-only", "-fno-omit-frame-pointer", SANITIZE.format("-no-link"),
             "-fno-sanitize-recover=undefined", "-I", os.path.join(SOURCE, "src")]

    def compile_one(src):
        obj = os.path.join(WORK, src.replace("/", "_") + ".o")
        path = os.path.join(SOURCE, src)
        if not os.path.exists(obj) or os.path.getmtime(obj) < max(os.path.getmtime(path), newest_header):
            r = subprocess.run([cxx, *flags, "-c", path, "-o", obj + ".tmp"], capture_output=True, text=True)
            assert r.returncode == 0, f"compiling {src} failed:\n{r.stderr}"
            os.replace(obj + ".tmp", obj)
        return obj

    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        objects = list(pool.map(compile_one, SOURCES))
    binary = os.path.join(WORK, "image_fuzz")
    if not os.path.exists(binary) or os.path.getmtime(binary) < max(os.path.getmtime(o) for o in objects):
        r = subprocess.run([cxx, SANITIZE.format(""), *objects, "-lfmt", "-o", binary], capture_output=True, text=True)
        assert r.returncode == 0, f"linking the fuzzer failed:\n{r.stderr}"
    return binary


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
