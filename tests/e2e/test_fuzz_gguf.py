"""A short libFuzzer run of GgufFile::parse (tests/fuzz/gguf_fuzz.cpp) inside the normal test suite.

The fuzzer is compiled with clang++ directly (only the base and GGUF sources, with
-fsanitize=fuzzer,address,undefined) into <build>/fuzz-gguf/, recompiling only what changed, then run for
about 20 seconds on seeds made by GgufWriter plus stories260K.gguf. Any crash, leak, sanitizer report or
violated property (see gguf_fuzz.cpp) fails the test.
"""
import concurrent.futures
import glob
import os
import re
import shutil
import subprocess

SOURCE = os.environ["SPECULA_SOURCE_DIR"]
SHARED = os.environ["SPECULA_SHARED_DIR"]
BUILD = os.path.dirname(os.path.dirname(os.environ["SPECULA_BIN"]))  # <build>/bin/specula
WORK = os.path.join(BUILD, "fuzz-gguf")
SOURCES = ["src/base/check.cpp", "src/base/result.cpp", "src/base/mapped_file.cpp", "src/base/log.cpp",
           "src/format/ggml_type.cpp", "src/format/gguf_value.cpp", "src/format/gguf_reader.cpp",
           "src/format/gguf_writer.cpp", "tests/fuzz/gguf_fuzz.cpp"]
SANITIZE = "-fsanitize=fuzzer{},address,undefined"
FUZZ_SECONDS = 20
MAX_LEN = 16384  # covers stories260K's whole header (its data section starts at byte 14176)


def clang():
    for name in ("clang++", "clang++-14"):
        path = shutil.which(name)
        if path:
            return path
    raise AssertionError("clang++ (with libFuzzer, libclang-rt-dev) is required for the fuzz test")


def build():
    """Compiles stale objects in parallel and links; returns the fuzzer's path."""
    cxx = clang()
    os.makedirs(WORK, exist_ok=True)
    headers = glob.glob(os.path.join(SOURCE, "src/base/*.h")) + glob.glob(os.path.join(SOURCE, "src/format/*.h"))
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
    binary = os.path.join(WORK, "gguf_fuzz")
    if not os.path.exists(binary) or os.path.getmtime(binary) < max(os.path.getmtime(o) for o in objects):
        r = subprocess.run([cxx, SANITIZE.format(""), *objects, "-lfmt", "-o", binary], capture_output=True, text=True)
        assert r.returncode == 0, f"linking the fuzzer failed:\n{r.stderr}"
    return binary


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
