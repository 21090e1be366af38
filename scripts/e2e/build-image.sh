#!/usr/bin/env bash
# Builds the action's image from this commit's Dockerfile: scripts/e2e/build-image.sh TAG.
# Needs a running daemon (DOCKER_HOST) with debian:bookworm-slim and golang:1.26-bookworm
# (scripts/e2e/lib.sh makes them). The build reaches Debian's archive and the Go module
# proxy through the host's network (--network host: the daemon has no bridge).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/e2e/lib.sh
tag=${1:?usage: build-image.sh TAG}
version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
log "docker build -t $tag (perflab $version)"
start=$(date +%s)
DOCKER_BUILDKIT=1 $DOCKER build --network host --progress plain \
  --build-arg PERFLAB_VERSION="$version" -t "$tag" . >"$E2E_STATE/build.log" 2>&1 \
  || { tail -40 "$E2E_STATE/build.log" >&2; die "image build failed (log: $E2E_STATE/build.log)"; }
size=$($DOCKER image inspect -f '{{.Size}}' "$tag")
log "built $tag in $(( $(date +%s) - start )) s, $((size / 1000000)) MB"
