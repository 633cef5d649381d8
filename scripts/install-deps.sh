#!/usr/bin/env bash
# Installs what specula needs to build and test, idempotently:
#   * Debian packages for everything the product links, the toolchain and the test tools;
#   * a project-local Python virtual environment (.venv) with the test-time references and clients
#     listed in requirements-dev.txt (from PyPI).
# Nothing is downloaded from anywhere else. Safe to run repeatedly; it only acts on what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  build-essential cmake ninja-build pkg-config git xz-utils curl
  clang libclang-rt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev libcpp-httplib-dev libstb-dev libfmt-dev libcli11-dev
  python3 python3-venv python3-pip
)

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing Debian packages: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Python venv for test-time tools. Re-created only when requirements-dev.txt changes.
VENV=.venv
STAMP="$VENV/.requirements.sha256"
want=$(sha256sum requirements-dev.txt | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$STAMP" 2>/dev/null)" != "$want" ]; then
  echo "install-deps: preparing $VENV (PyPI: $(grep -v '^#' requirements-dev.txt | tr '\n' ' '))"
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements-dev.txt
  echo "$want" > "$STAMP"
fi
