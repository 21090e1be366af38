#!/usr/bin/env bash
# Points libblas.so.3, liblapack.so.3 and libopenblas.so.0 at OpenBLAS's OpenMP build
# (libopenblas0-openmp), which does its work on libtorch's own OpenMP threads. Debian's
# default, the pthread build, keeps a second pool whose threads spin after each BLAS call
# beside OpenMP's, and the two compete for the cores: on 2 vCPUs, 2 intra-op threads ran up
# to ~25x slower than with the OpenMP build (docs/runtimes.md, "BLAS and OpenMP: one thread pool").
# Idempotent: changes only what points elsewhere, and says so. Needs root. Used by
# scripts/setup.sh, scripts/test-libtorch26.sh (in the trixie root) and the Dockerfile.
set -euo pipefail
found=""
for dir in /usr/lib/*-linux-gnu/openblas-openmp; do
  [ -d "$dir" ] || continue
  found=1
  triplet=$(basename "$(dirname "$dir")")
  for lib in libblas.so.3 liblapack.so.3 libopenblas.so.0; do
    [ -e "$dir/$lib" ] || continue
    if [ "$(readlink -f "/usr/lib/$triplet/$lib")" != "$(readlink -f "$dir/$lib")" ]; then
      update-alternatives --set "$lib-$triplet" "$dir/$lib" >/dev/null
      echo "blas-openmp: $lib now OpenBLAS's OpenMP build ($dir/$lib)"
    fi
  done
done
if [ -z "$found" ]; then
  echo "blas-openmp: OpenBLAS's OpenMP build is not installed (no /usr/lib/<triplet>/openblas-openmp): apt-get install libopenblas0-openmp" >&2
  exit 1
fi
