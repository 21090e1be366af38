#!/usr/bin/env bash
# The libtorch 2.6 test leg (`make test-2.6`, run by .ci/run): the whole `go test ./...` of
# this tree against Debian trixie's libtorch 2.6, inside a trixie root entered with chroot.
#
# Why a chroot and not a docker image: the root is made once by debootstrap (the way the
# image's bases are made) and kept under $PERFLAB_TRIXIE_CACHE; warm, the leg costs only the
# tests themselves (no daemon, no image build, no layer export), and the Go toolchain, the
# module cache and this source tree are bind-mounted rather than copied.
#
# Cached under $PERFLAB_TRIXIE_CACHE (default /var/tmp/perflab-trixie):
#   root/      the trixie root (debootstrap --variant=minbase, then the packages below)
#   gocache/   the Go build cache for this root (its cgo objects are built against 2.6's
#              headers, so they are never shared with the host's cache)
#   models/    the built-in models exported inside the root by models/export.py (torch 2.6),
#              re-exported when export.py changes: TorchScript (.pt) and AOTInductor
#              packages (.pt2); PERFLAB_TRIXIE_MODELS names another folder (e.g. per branch)
# Idempotent: each step leaves a stamp and is redone only when its input changed. Every
# mount it makes is undone on exit or interrupt. Needs root (or sudo) for debootstrap,
# mount and chroot. Arguments are passed to `go test` (default: ./...); --run CMD ARGS runs
# CMD in this tree inside the root instead (e.g. --run go build -o /tmp/perflab ./cmd/perflab);
# --prepare makes the root and exports the models, and runs nothing (.ci/run: beside make test).
# PERFLAB_TRIXIE_MINBASE_TAR=FILE also saves the minbase root, right after debootstrap, as a
# tarball there (when the root is made, and FILE is not there yet).
set -euo pipefail
{ # read whole before running: editing this file while it runs cannot change what runs
cd "$(dirname "$0")/.."
SRC=$PWD

if [ "$(id -u)" != 0 ]; then exec sudo -E "$0" "$@"; fi
export PATH=/usr/local/go/bin:$PATH

CACHE=${PERFLAB_TRIXIE_CACHE:-/var/tmp/perflab-trixie}
ROOT=$CACHE/root
GO_ROOT=$(go env GOROOT)
GO_MODCACHE=$(go env GOMODCACHE)
GOTESTFLAGS=${GOTESTFLAGS:--timeout 20m}

packages=(
  g++ libtorch-dev libopenblas0-openmp python3-torch python3-torchvision
  libjemalloc2 libtcmalloc-minimal4 git ca-certificates
  # AOTInductor (torch._inductor.aoti_compile_and_package) imports setuptools and compiles
  # C++ with g++ against libtorch-dev's headers.
  python3-setuptools
)

log() { echo "test-2.6: $*"; }

# mirror prints the Debian archive URL the host's apt already uses (deb822 or one-line
# sources), never a hard-coded host.
mirror() {
  local m=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    m=$(awk '/^URIs:/ {for (i = 2; i <= NF; i++) if ($i !~ /security/) {print $i; exit}}' /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$m" ]; then
    m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/ && $i !~ /security/) {print $i; exit}}')
  fi
  if [ -z "$m" ]; then
    echo "test-2.6: no Debian archive URL in /etc/apt/sources.list{,.d/}; set PERFLAB_DEBIAN_MIRROR" >&2
    exit 1
  fi
  echo "$m"
}

mounted=()
cleanup() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
    umount -R "${mounted[$i]}" 2>/dev/null || umount -lR "${mounted[$i]}" 2>/dev/null || true
  done
  mounted=()
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

# bind SRC DST [ro]: DST inside the root.
bind() {
  mkdir -p "$ROOT$2"
  mount --rbind "$1" "$ROOT$2"
  mount --make-rslave "$ROOT$2"
  mounted+=("$ROOT$2")
  if [ "${3:-}" = ro ]; then mount -o remount,bind,ro "$ROOT$2"; fi
}

in_root() {
  chroot "$ROOT" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TMPDIR=/tmp \
    PATH=/usr/local/go/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

# 1. The minbase root.
if [ ! -f "$ROOT/.perflab-debootstrap" ]; then
  if ! command -v debootstrap >/dev/null; then
    apt-get install -y -q --no-install-recommends debootstrap >/dev/null 2>&1 ||
      { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends debootstrap >/dev/null; }
  fi
  m=${PERFLAB_DEBIAN_MIRROR:-$(mirror)}
  log "creating a Debian trixie root in $ROOT from $m (once)"
  rm -rf "$ROOT"
  mkdir -p "$CACHE"
  debootstrap --variant=minbase trixie "$ROOT" "$m" >"$CACHE/debootstrap.log" 2>&1 ||
    { tail -20 "$CACHE/debootstrap.log" >&2; echo "test-2.6: debootstrap failed (log: $CACHE/debootstrap.log)" >&2; exit 1; }
  # The minbase as a tarball, before any package is added, when asked (.ci/run: make e2e's
  # debian:trixie-slim base image, which would otherwise be debootstrapped again): without
  # the downloaded packages and the package lists, as scripts/e2e/lib.sh makes its own.
  if [ -n "${PERFLAB_TRIXIE_MINBASE_TAR:-}" ] && [ ! -s "$PERFLAB_TRIXIE_MINBASE_TAR" ]; then
    tar -C "$ROOT" --exclude='./var/cache/apt/archives/*.deb' --exclude='./var/lib/apt/lists/*' \
      -cf "$PERFLAB_TRIXIE_MINBASE_TAR.tmp" . && mv "$PERFLAB_TRIXIE_MINBASE_TAR.tmp" "$PERFLAB_TRIXIE_MINBASE_TAR"
    log "the minbase root saved as $PERFLAB_TRIXIE_MINBASE_TAR"
  fi
  echo "$m" >"$ROOT/.perflab-debootstrap"
fi

# 2. The packages (redone when the list changes).
# Redone only when a package is missing: one not in the stamp (the list last installed) and
# not installed either (several trees share one root: a tree whose list is a superset of the
# stamp's, or a subset, does not reinstall, so trees on either side of a list change never
# take turns running apt-get, and never hold dpkg's lock at the same time).
want="${packages[*]}"
stamp=$(cat "$ROOT/.perflab-packages" 2>/dev/null || true)
needed=""
if [ -z "$stamp" ]; then
  needed=$want
else
  for p in "${packages[@]}"; do
    case " $stamp " in *" $p "*) continue ;; esac
    if [ "$(chroot "$ROOT" dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null)" != "ii " ]; then needed+=" $p"; fi
  done
fi
if [ -n "$needed" ]; then
  log "installing ${packages[*]} in the trixie root (once)"
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
  bind /proc /proc
  bind /dev /dev
  {
    in_root apt-get update -q &&
      in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${packages[@]}" &&
      in_root apt-get clean
  } >"$CACHE/apt.log" 2>&1 || { tail -20 "$CACHE/apt.log" >&2; echo "test-2.6: installing packages in the trixie root failed (log: $CACHE/apt.log)" >&2; exit 1; }
  cleanup
  echo "$want" >"$ROOT/.perflab-packages"
fi
unset stamp needed

# 3. Mounts for the run.
MODELS=${PERFLAB_TRIXIE_MODELS:-$CACHE/models}
mkdir -p "$CACHE/gocache" "$MODELS"
(cd "$SRC" && go mod download) # the root has no network for Go: the host's module cache serves it
bind /proc /proc
bind /sys /sys ro
bind /dev /dev
bind "$GO_ROOT" /usr/local/go ro
bind "$GO_MODCACHE" /gomod ro
bind "$CACHE/gocache" /gocache
bind "$MODELS" /models
bind "$SRC" /src
# libblas.so.3, liblapack.so.3, libopenblas.so.0 -> OpenBLAS's OpenMP build (each run: cheap,
# and a root made by an older tree pointed them at the pthread build).
in_root bash /src/scripts/blas-openmp.sh | sed 's/^blas-openmp/test-2.6/'

# 4. The built-in models, exported with the root's torch 2.6.
sum=$(sha256sum models/export.py | cut -d' ' -f1)
if [ "$(cat "$MODELS/.export-sha256" 2>/dev/null)" != "$sum" ]; then
  log "exporting the built-in models with $(in_root python3 -c 'import torch; print("torch", torch.__version__)')"
  in_root python3 /src/models/export.py --out /models
  echo "$sum" >"$MODELS/.export-sha256"
fi

if [ "${1:-}" = --prepare ]; then
  log "the trixie root and its models are ready in $CACHE"
  exit 0
fi

# 5. The tests (or, with --run CMD..., CMD in /src inside the root: e.g. --run make build).
goenv=(GOCACHE=/gocache GOMODCACHE=/gomod GOPROXY=off GOFLAGS=-buildvcs=false GOTOOLCHAIN=local PERFLAB_MODELS_DIR=/models)
if [ "${1:-}" = --run ]; then
  shift
  in_root env "${goenv[@]}" sh -c 'cd /src && exec "$@"' run "$@"
  exit
fi
log "go test ${*:-./...} against $(in_root dpkg-query -W -f='libtorch-dev ${Version}' libtorch-dev)"
# shellcheck disable=SC2086
in_root env "${goenv[@]}" sh -c 'cd /src && exec go test "$@"' go-test $GOTESTFLAGS "${@:-./...}"
exit
}
