#!/usr/bin/env bash
# Installs the system packages perflab needs, only those missing: Debian bookworm
# (libtorch 1.13) or trixie (libtorch 2.6), told from /etc/os-release. Anywhere else it says
# what to install instead and stops before changing anything. With LIBTORCH set (make build
# LIBTORCH=DIR: your own libtorch), libtorch itself is not installed. Idempotent and quick
# when everything is there. Run by `make setup` (and so by `make test` and `make demo`).
#   bash scripts/setup.sh [compiler|build|all]   (default all)
# compiler: g++ only; build: what compiling perflab needs (g++, libtorch-dev, OpenBLAS); all:
# everything (python3-torch for the model export, the allocators). make test installs them in
# that order, one apt transaction each, so that Go compiles while apt installs the rest.
# PERFLAB_SETUP_EXTRA="PKG..." adds Debian packages to the first transaction (.ci/run: the
# debootstrap its libtorch 2.6 leg needs, installed without a second apt running beside make
# test's).
set -euo pipefail
group=${1:-all}
case "$group" in
  compiler | build | all) ;;
  *) echo "setup: unknown group '$group' (compiler, build or all)" >&2; exit 2 ;;
esac

# shellcheck disable=SC1091
. "${PERFLAB_OS_RELEASE:-/etc/os-release}" 2>/dev/null || true
os="${ID:-unknown}:${VERSION_CODENAME:-}"

packages=(
  g++                   # cgo builds internal/torch's C++ shim
  libtorch-dev          # libtorch headers and libraries (CPU): 1.13 on bookworm, 2.6 on trixie
  libopenblas0-openmp   # fast BLAS for libtorch (the reference BLAS is ~40x slower), on libtorch's OpenMP threads
  python3-torch         # only to export the built-in models to TorchScript
  python3-torchvision
  libjemalloc2          # --allocator jemalloc (LD_PRELOAD in the benchmark process)
)
case "$os" in
  debian:bookworm) packages+=(libtcmalloc-minimal4) ;;   # --allocator tcmalloc
  debian:trixie) packages+=(libtcmalloc-minimal4t64) ;;  # (renamed in trixie)
  *)
    if [ -n "${LIBTORCH:-}" ] && command -v g++ >/dev/null && command -v go >/dev/null; then
      echo "setup: ${PRETTY_NAME:-unknown system}: installing nothing; building with g++, $(go version | cut -d' ' -f3) and LIBTORCH=$LIBTORCH"
      exit 0
    fi
    cat >&2 <<MSG
setup: this is ${PRETTY_NAME:-an unknown system}; setup installs packages on Debian bookworm (libtorch 1.13)
and trixie (libtorch 2.6) only. Install instead, then build with LIBTORCH=:
  - a C++17 compiler (g++) and Go >= 1.26 (/usr/local/go/bin on PATH)
  - libtorch 1.13 or later for the CPU: the cxx11-ABI zip from https://pytorch.org (unzip it,
    LIBTORCH=.../libtorch) or a pip torch (LIBTORCH=\$(python3 -c 'import torch, os; print(os.path.dirname(torch.__file__))'))
  - OpenBLAS's OpenMP build if your libtorch uses the system BLAS (libopenblas0-openmp: the pthread
    build's own threads compete with libtorch's, docs/runtimes.md); jemalloc and tcmalloc for --allocator
  - python3 with torch and torchvision, to export the built-in models (make models PYTHON=...)
  then: make build LIBTORCH=/path/to/libtorch   (docs/runtimes.md)
MSG
    exit 1
    ;;
esac
if [ -n "${LIBTORCH:-}" ]; then
  # Your own libtorch: Debian's is not needed (the models are still exported with python3-torch).
  packages=("${packages[@]/libtorch-dev/}")
fi
case "$group" in
  compiler) packages=(g++) ;;
  build) packages=(g++ libopenblas0-openmp)
    if [ -z "${LIBTORCH:-}" ]; then packages+=(libtorch-dev); fi ;;
esac
# shellcheck disable=SC2206
packages+=(${PERFLAB_SETUP_EXTRA:-})

missing=()
for p in "${packages[@]}"; do
  [ -n "$p" ] || continue
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  # Another apt (another group of a parallel make, an engineer's) may hold dpkg's lock: wait.
  apt=($sudo apt-get -o DPkg::Lock::Timeout=600)
  # The package lists are fetched again unless an earlier group of this setup fetched them
  # (lists younger than an hour); if those turn out stale (a 404), once more.
  fresh=""
  if ! find /var/lib/apt/lists -maxdepth 1 -name '*InRelease' -mmin -60 2>/dev/null | grep -q .; then
    "${apt[@]}" update -q
    fresh=1
  fi
  if ! "${apt[@]}" install -y -q --no-install-recommends "${missing[@]}"; then
    [ -z "$fresh" ] || exit 1
    "${apt[@]}" update -q
    "${apt[@]}" install -y -q --no-install-recommends "${missing[@]}"
  fi
fi
[ "$group" != compiler ] || exit 0

# libtorch uses whatever libblas.so.3 (and libopenblas.so.0) resolve to: make them OpenBLAS's
# OpenMP build, which runs on libtorch's own threads.
sudo=""; if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
$sudo bash "$(dirname "$0")/blas-openmp.sh" | sed 's/^blas-openmp/setup/'

if ! command -v go >/dev/null 2>&1; then
  echo "setup: Go is not on PATH (need Go >= 1.26; /usr/local/go/bin on this machine kind)" >&2
  exit 1
fi
