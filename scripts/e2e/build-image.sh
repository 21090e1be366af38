#!/usr/bin/env bash
# Builds the action's image from this commit's Dockerfile: scripts/e2e/build-image.sh [TAG]
# (default perflab:dev; `make image`). Self-contained on this machine kind: installs
# docker.io and debootstrap when missing, starts a Docker daemon without a bridge network
# when none answers (and stops it again when done, unless KEEP_DOCKERD=1), and makes the
# base images debian:trixie-slim and golang:1.26-trixie from Debian's archive (lib.sh).
# The build reaches Debian's archive and the Go module proxy through the host's network
# (--network host: the daemon has no bridge). Also tags the models stage (python3-torch
# 2.6, the built-ins exported) as TAG-models, for make e2e's checks of the image.
# E2E_TARGET=STAGE builds that Dockerfile stage instead (make image-inductor).
# E2E_SUITE=bookworm builds the former image instead (bookworm bases, libtorch 1.13):
#   E2E_SUITE=bookworm bash scripts/e2e/build-image.sh perflab:bookworm
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/e2e/lib.sh
tag=${1:-perflab:dev}
if [ "${KEEP_DOCKERD:-0}" != 1 ]; then trap e2e_stop_dockerd EXIT; fi
e2e_install
e2e_dockerd
e2e_base_images
version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
log "docker build -t $tag (perflab $version, on debian:$E2E_SUITE-slim)"
start=$(date +%s)
args=(--build-arg PERFLAB_VERSION="$version" --build-arg BASE_IMAGE="debian:$E2E_SUITE-slim"
      --build-arg GO_IMAGE="golang:1.26-$E2E_SUITE")
case $E2E_SUITE in
  trixie) ;;
  bookworm) ;;
  *) die "E2E_SUITE=$E2E_SUITE: the image is built on trixie (libtorch 2.6) or bookworm (1.13)" ;;
esac
build() {
  DOCKER_BUILDKIT=1 $DOCKER build --network host --progress plain "${args[@]}" "$@" . >>"$E2E_STATE/build.log" 2>&1 \
    || { tail -40 "$E2E_STATE/build.log" >&2; die "image build failed (log: $E2E_STATE/build.log)"; }
}
: >"$E2E_STATE/build.log"
if [ -n "${E2E_TARGET:-}" ]; then
  # Another stage than the Action's image (make image-inductor: E2E_TARGET=inductor).
  build --target "$E2E_TARGET" -t "$tag"
else
  build -t "$tag"
  build --target models -t "$tag-models"  # cached: the stage the build above made
fi
size=$($DOCKER image inspect -f '{{.Size}}' "$tag")
log "built $tag in $(( $(date +%s) - start )) s, $((size / 1000000)) MB"
