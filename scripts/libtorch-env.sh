#!/usr/bin/env bash
# libtorch-env.sh DIR: prints the cgo environment (export lines, for eval) that builds
# perflab against the libtorch in DIR instead of the system's (`make build LIBTORCH=DIR`):
#   - a libtorch zip's folder (DIR/include, DIR/lib), or
#   - a pip-installed torch's package folder, e.g. .../site-packages/torch (same layout).
# Headers come from DIR/include and DIR/include/torch/csrc/api/include, libraries from
# DIR/lib with an rpath to it (the binary finds them at run time without LD_LIBRARY_PATH),
# and _GLIBCXX_USE_CXX11_ABI as that libtorch was built (pip wheels before torch 2.7 use 0).
# On anything that is not a libtorch it prints one line saying what is missing and fails.
set -euo pipefail

dir=${1:?usage: libtorch-env.sh DIR (a libtorch zip folder or a pip torch package folder)}
dir=$(cd "$dir" 2>/dev/null && pwd) || { echo "LIBTORCH=$1: no such directory" >&2; exit 1; }
for f in include/torch/script.h include/torch/csrc/api/include/torch/version.h lib/libtorch_cpu.so lib/libc10.so; do
  if [ ! -e "$dir/$f" ]; then
    echo "LIBTORCH=$dir is not a libtorch: no $f (want a libtorch zip folder, or a pip torch's site-packages/torch)" >&2
    exit 1
  fi
done
ver=$(sed -n 's/^#define TORCH_VERSION_\(MAJOR\|MINOR\) \([0-9]*\).*/\2/p' "$dir/include/torch/csrc/api/include/torch/version.h" | paste -sd.)
case "$ver" in
  1.1[3-9] | 1.[2-9][0-9] | [2-9].*) ;;
  *) echo "LIBTORCH=$dir is libtorch ${ver:-of unknown version}: perflab needs 1.13 or later" >&2; exit 1 ;;
esac

# The C++ ABI: TorchConfig.cmake says it; else libc10's symbols do.
abi=""
if [ -f "$dir/share/cmake/Torch/TorchConfig.cmake" ]; then
  abi=$(sed -n 's/.*-D_GLIBCXX_USE_CXX11_ABI=\([01]\).*/\1/p' "$dir/share/cmake/Torch/TorchConfig.cmake" | head -1)
fi
if [ -z "$abi" ]; then
  if nm -D --defined-only "$dir/lib/libc10.so" 2>/dev/null | grep '__cxx11' >/dev/null; then abi=1; else abi=0; fi
fi

echo "export CGO_CPPFLAGS='-I$dir/include -I$dir/include/torch/csrc/api/include'"
echo "export CGO_CXXFLAGS='-O2 -D_GLIBCXX_USE_CXX11_ABI=$abi'"
echo "export CGO_LDFLAGS='-L$dir/lib -Wl,-rpath,$dir/lib'"
echo "echo 'building against libtorch $ver in $dir (CXX11 ABI $abi)' >&2"
