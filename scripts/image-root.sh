#!/usr/bin/env bash
# Assembles the lean Action image's root file system from a built perflab binary (run by the
# Dockerfile's closure stage; docs/image.md, "What is in it"):
#   bash scripts/image-root.sh BINARY ROOT
# ROOT gets the binary as /usr/local/bin/perflab and the shared-library closure it really
# loads: every library the dynamic loader resolves for it (ldd: NEEDED entries, recursively,
# the loader itself included), each copied at its canonical path together with every
# symbolic link on the way to it (so /lib/x86_64-linux-gnu/libblas.so.3 -> /etc/alternatives/
# -> .../openblas-openmp/libblas.so.3 resolves as on the build system), the merged-/usr
# top-level links (/lib -> usr/lib, ...), an ld.so.cache made for ROOT (ldconfig -r), the CA
# bundle, a root-only /etc/passwd and /etc/group, /root and /tmp. Nothing else: no shell,
# no package manager. It fails when a library is not found or the BLAS is not OpenBLAS's OpenMP build.
# libtorch dlopens nothing perflab needs: the only dlopen seen running every built-in
# (LD_DEBUG=files) is UCX's optional modules (libucs -> ucx/*.so, via Open MPI), which
# fail to load even in the full image and are left out.
set -euo pipefail
bin=$1
root=$2
mkdir -p "$root"

# Merged /usr: /lib, /lib64, /bin, ... are links into /usr on Debian since bookworm.
for d in bin sbin lib lib32 lib64 libx32; do
  if [ -L "/$d" ]; then ln -sfn "$(readlink "/$d")" "$root/$d"; fi
done

# copy PATH: PATH at its canonical folder, and, while it is a symbolic link, its target,
# links kept as links.
copy() {
  local p=$1 t
  while :; do
    p="$(realpath -e "$(dirname "$p")")/$(basename "$p")"
    if [ -e "$root$p" ] || [ -L "$root$p" ]; then return 0; fi
    mkdir -p "$root$(dirname "$p")"
    cp -a "$p" "$root$p"
    [ -L "$p" ] || return 0
    t=$(readlink "$p")
    case $t in /*) p=$t ;; *) p=$(dirname "$p")/$t ;; esac
  done
}

ldd_out=$(ldd "$bin")
if grep -q "not found" <<<"$ldd_out"; then
  echo "image-root: $bin: libraries not found:" >&2
  grep "not found" <<<"$ldd_out" >&2
  exit 1
fi
libs=$(awk '$2 == "=>" && $3 ~ /^\// {print $3; next} $1 ~ /^\// {print $1}' <<<"$ldd_out")
n=0
for lib in $libs; do
  copy "$lib"
  n=$((n + 1))
done

# The BLAS libtorch loads must be OpenBLAS's OpenMP build (scripts/blas-openmp.sh): the pthread
# build's own thread pool competes with libtorch's.
for name in libblas.so.3 libopenblas.so.0; do
  lib=$(awk -v n="$name" '$1 == n {print $3}' <<<"$ldd_out")
  [ -n "$lib" ] || [ "$name" != libblas.so.3 ] || { echo "image-root: $bin loads no libblas.so.3" >&2; exit 1; }
  [ -n "$lib" ] || continue
  case "$(readlink -f "$lib")" in
    *openblas-openmp*) ;;
    *) echo "image-root: $name resolves to '$(readlink -f "$lib")', not OpenBLAS's OpenMP build (run scripts/blas-openmp.sh)" >&2; exit 1 ;;
  esac
done

mkdir -p "$root/usr/local/bin" "$root/etc/ssl/certs" "$root/root" "$root/tmp"
cp "$bin" "$root/usr/local/bin/perflab"
cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
echo "root:x:0:0:root:/root:/usr/sbin/nologin" >"$root/etc/passwd"
echo "root:x:0:" >"$root/etc/group"
chmod 700 "$root/root"
chmod 1777 "$root/tmp"
# The loader's cache, for libraries outside its default folders (ld.so.conf.d).
if [ -e /etc/ld.so.conf ]; then cp -a /etc/ld.so.conf "$root/etc/"; fi
if [ -d /etc/ld.so.conf.d ]; then cp -a /etc/ld.so.conf.d "$root/etc/"; fi
ldconfig -X -r "$root"

size=$(du -sb --apparent-size "$root" | cut -f1)
echo "image-root: $n libraries ($(du -cbL $libs | tail -1 | cut -f1) bytes) + the binary -> $root, $size bytes"
