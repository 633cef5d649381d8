"""Builds a libFuzzer target with clang++ directly (only the sources it needs, -fsanitize=fuzzer,address,undefined)
for the in-suite fuzz runs, recompiling only what changed. Imported by tests/e2e/test_*fuzz*.py."""
import concurrent.futures
import os
import shutil
import subprocess

SANITIZE = "-fsanitize=fuzzer{},address,undefined"


def clang():
    for name in ("clang++", "clang++-14"):
        path = shutil.which(name)
        if path:
            return path
    raise AssertionError("clang++ (with libFuzzer, libclang-rt-dev) is required for the fuzz test")


def build_fuzzer(source_dir, work_dir, sources, headers, name):
    """Compiles stale objects of `sources` (paths relative to source_dir) in parallel into work_dir and links
    work_dir/name; an object is stale when older than its source or any of `headers`. Returns the binary's path."""
    cxx = clang()
    os.makedirs(work_dir, exist_ok=True)
    newest_header = max(os.path.getmtime(h) for h in headers)
    flags = ["-std=c++20", "-O1", "-gline-tables-only", "-fno-omit-frame-pointer", SANITIZE.format("-no-link"),
             "-fno-sanitize-recover=undefined", "-I", os.path.join(source_dir, "src")]

    def compile_one(src):
        obj = os.path.join(work_dir, src.replace("/", "_") + ".o")
        path = os.path.join(source_dir, src)
        if not os.path.exists(obj) or os.path.getmtime(obj) < max(os.path.getmtime(path), newest_header):
            r = subprocess.run([cxx, *flags, "-c", path, "-o", obj + ".tmp"], capture_output=True, text=True)
            assert r.returncode == 0, f"compiling {src} failed:\n{r.stderr}"
            os.replace(obj + ".tmp", obj)
        return obj

    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        objects = list(pool.map(compile_one, sources))
    binary = os.path.join(work_dir, name)
    if not os.path.exists(binary) or os.path.getmtime(binary) < max(os.path.getmtime(o) for o in objects):
        r = subprocess.run([cxx, SANITIZE.format(""), *objects, "-lfmt", "-o", binary], capture_output=True, text=True)
        assert r.returncode == 0, f"linking the fuzzer failed:\n{r.stderr}"
    return binary
