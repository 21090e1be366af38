#!/usr/bin/env bash
# Measures the whole CI (.ci/run: make test, make test-2.6, make e2e) on a fresh machine of
# this kind (docs/development.md, "How long"): a new privileged container from the Debian
# minbase image (debian:bookworm-slim, made by lib.sh from this machine's Debian archive)
# with nothing cached: no apt lists or archives, no Go module or build cache, no exported
# models (~/.cache/perflab), no trixie root (PERFLAB_TRIXIE_CACHE), and its own Docker daemon
# (started by make e2e inside it) with an empty data root and no images, not even the base
# images. Its /var/tmp, where those caches live, is an empty folder of this machine
# ($FRESH_CI_WORK, default /var/tmp/perflab-fresh-ci.PID: Docker's overlay2 needs a real
# file system under it), removed afterwards unless FRESH_CI_KEEP=1. What such a machine has
# besides (not timed): this machine's Go at /usr/local/go, its CA bundle, make, git and
# procps. This commit's files (git archive HEAD; uncommitted changes are not in it).
# Prints .ci/run's step times and the total. Uses both cores for ~25 min: take every lock
#   flock /tmp/perflab-timing.lock flock /tmp/perflab-trixie.lock flock /tmp/perflab-e2e.lock \
#     env PERFLAB_TIMING_LOCKED=1 heavy bash scripts/e2e/fresh-ci.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/e2e/lib.sh
work=${FRESH_CI_WORK:-/var/tmp/perflab-fresh-ci.$$}
name=perflab-fresh-ci-$$
done_() {
  $DOCKER rm -f "$name" >/dev/null 2>&1 || true
  e2e_stop_dockerd
  # (the trixie root's mounts were made in the container's mount namespace: none is left
  # here; never remove a folder something is still mounted under)
  if [ "${FRESH_CI_KEEP:-0}" = 1 ]; then log "kept $work"
  elif grep -q " $work/" /proc/mounts; then log "something is still mounted under $work: left as it is"
  else $SUDO rm -rf "$work"; fi
}
trap done_ EXIT
e2e_install
e2e_dockerd
e2e_base_images bookworm
if [ -e "$work" ] && [ -n "$(ls -A "$work")" ]; then die "$work is not empty: a fresh run needs an empty folder"; fi
mkdir -p "$work"
echo "load before: $(uptime)"
git archive --format=tar HEAD |
  $DOCKER run --rm -i --name "$name" --network host --privileged \
    -v /usr/local/go:/usr/local/go:ro -v /etc/ssl/certs/ca-certificates.crt:/tmp/host-ca.crt:ro \
    -v "$work:/var/tmp" "debian:bookworm-slim" bash -c '
set -euo pipefail
mkdir -p /src && tar -x -C /src && cd /src
# What a fresh machine of this kind has besides the minbase (not timed): the CA bundle (a
# copy: the ca-certificates package rewrites it), make, git, procps (uptime).
mkdir -p /etc/ssl/certs && cp /tmp/host-ca.crt /etc/ssl/certs/ca-certificates.crt
apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends make git procps >/dev/null
rm -rf /var/lib/apt/lists/*
git init -q && git add -A && git -c user.name=ci -c user.email=ci@example.com commit -q -m fresh
t0=$(date +%s)
.ci/run
t=$(( $(date +%s) - t0 ))
echo "==> fresh .ci/run: $((t / 60)) min $((t % 60)) s"'
echo "load after: $(uptime)"
