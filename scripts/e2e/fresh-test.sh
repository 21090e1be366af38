#!/usr/bin/env bash
# Measures `make test` on a fresh machine of this kind (docs/development.md, "How long"):
# a new container from the Debian minbase image (debian:bookworm-slim, made by lib.sh from
# this machine's Debian archive; nothing cached: no apt lists, no Go module or build cache,
# no exported models), with what such a machine has besides (this machine's Go at
# /usr/local/go, its CA bundle, make and git), and this commit's files (git archive HEAD;
# uncommitted changes are not in it). Prints each step's time and the total. CAP_SYS_ADMIN:
# the full-disk tests mount a tmpfs, as root on a machine can. It runs on a Docker daemon of
# its own (fresh-daemon.sh: never make e2e's, so it needs no e2e lock), stopped and removed
# afterwards.
#   timed bash scripts/e2e/fresh-test.sh [SUITE]   (default bookworm)
set -euo pipefail
cd "$(dirname "$0")/../.."
suite=${1:-bookworm}
source scripts/e2e/fresh-daemon.sh
fresh_daemon "$suite"
name=perflab-fresh-test-$$
echo "load before: $(uptime)"
git archive --format=tar HEAD |
  $DOCKER run --rm -i --name "$name" --network host --cap-add SYS_ADMIN --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
    -v /usr/local/go:/usr/local/go:ro -v /etc/ssl/certs/ca-certificates.crt:/tmp/host-ca.crt:ro \
    "debian:$suite-slim" bash -c '
set -euo pipefail
mkdir -p /src && tar -x -C /src && cd /src
# What a fresh machine of this kind has besides the minbase (not timed): ca-certificates with
# the CA bundle of this machine, make, git.
apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends ca-certificates make git >/dev/null
# The bundle after the package: its postinst rebuilds the bundle from the Debian certificates, which
# would drop a certificate this machine added to its own bundle (e.g. one of a proxy).
cp /tmp/host-ca.crt /etc/ssl/certs/ca-certificates.crt
rm -rf /var/lib/apt/lists/*
git init -q && git add -A && git -c user.name=ci -c user.email=ci@example.com commit -q -m fresh
t0=$(date +%s)
make test
t=$(( $(date +%s) - t0 ))
echo "==> fresh make test: $((t / 60)) min $((t % 60)) s"'
echo "load after: $(uptime)"
