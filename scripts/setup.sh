#!/usr/bin/env bash
# Installs the system packages perflab needs (Debian bookworm), only those missing.
# Idempotent and quick when everything is there. Run by `make setup` (and so by
# `make test` and `make demo`).
set -euo pipefail

packages=(
  g++                   # cgo builds internal/torch's C++ shim
  libtorch-dev          # libtorch 1.13 headers and libraries (CPU)
  libopenblas0-pthread  # fast BLAS for libtorch (the default reference BLAS is ~40x slower)
  python3-torch         # only to export the built-in models to TorchScript
  python3-torchvision
  libjemalloc2          # --allocator jemalloc (LD_PRELOAD in the benchmark process)
  libtcmalloc-minimal4  # --allocator tcmalloc
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# libtorch uses whatever libblas.so.3 resolves to: make sure it is OpenBLAS (pthread).
blas=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || true)
case "$blas" in
  *openblas-pthread*) ;;
  *)
    echo "setup: pointing libblas.so.3 at OpenBLAS (pthread); was ${blas:-unset}"
    sudo=""; if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    $sudo update-alternatives --set libblas.so.3-x86_64-linux-gnu /usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3
    ;;
esac

if ! command -v go >/dev/null 2>&1; then
  echo "setup: Go is not on PATH (need Go >= 1.26; /usr/local/go/bin on this machine kind)" >&2
  exit 1
fi
