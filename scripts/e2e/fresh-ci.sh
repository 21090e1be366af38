#!/usr/bin/env bash
# Measures the whole CI (.ci/run: make test, make test-2.6, make e2e) on a fresh machine of
# this kind (docs/development.md, "How long"): a new container (with what a Docker daemon inside needs) from the Debian
# minbase image (debian:bookworm-slim, made by lib.sh from this machine's Debian archive)
# with nothing cached: no apt lists or archives, no Go module or build cache, no exported
# models (~/.cache/perflab), no trixie root (PERFLAB_TRIXIE_CACHE), and its own Docker daemon
# (started by make e2e inside it) with an empty data root and no images, not even the base
# images. Its /var/tmp, where those caches live, is an empty folder of this machine
# ($FRESH_WORK/var-tmp: Docker's overlay2 needs a real file system under it). What such a
# machine has besides (not timed): this machine's Go at /usr/local/go, its CA bundle, make,
# git and procps. This commit's files (git archive HEAD; uncommitted changes are not in it).
# The container runs on a Docker daemon of this script's own (fresh-daemon.sh), stopped and
# removed afterwards with $FRESH_WORK (FRESH_KEEP=1 keeps it). Prints .ci/run's step times
# and the total. Uses both cores for ~25 min and shares no cache or lock with anyone:
#   timed bash scripts/e2e/fresh-ci.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/e2e/fresh-daemon.sh
fresh_daemon bookworm
mkdir -p "$FRESH_WORK/var-tmp"
# The logs of .ci/run's background steps, kept on this machine after the run.
FRESH_LOGS=${FRESH_LOGS:-/tmp/perflab-fresh-ci-logs.$$}
mkdir -p "$FRESH_LOGS"
name=perflab-fresh-ci-$$
# A Docker daemon, chroot and mounts inside the container: what --privileged gives, but
# --privileged fails here (this machine's capability bounding set lacks CAP_SYS_RESOURCE,
# "unable to apply caps"): every other capability, no seccomp, AppArmor or masked /proc
# paths, every device, the cgroup file system writable.
dind=(--cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined --security-opt apparmor=unconfined
      --security-opt systempaths=unconfined --device-cgroup-rule "a *:* rwm" -v /sys/fs/cgroup:/sys/fs/cgroup)
echo "load before: $(uptime)"
git archive --format=tar HEAD |
  $DOCKER run --rm -i --name "$name" --network host "${dind[@]}" \
    -v /usr/local/go:/usr/local/go:ro -v /etc/ssl/certs/ca-certificates.crt:/tmp/host-ca.crt:ro \
    -v "$FRESH_WORK/var-tmp:/var/tmp" -v "$FRESH_LOGS:/ci-logs" -e CI_LOGS=/ci-logs "debian:bookworm-slim" bash -c '
set -euo pipefail
mkdir -p /src && tar -x -C /src && cd /src
# What a fresh machine of this kind has besides the minbase (not timed): ca-certificates with
# the CA bundle of this machine, make, git, procps (uptime).
apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends ca-certificates make git procps >/dev/null
# The bundle after the package: its postinst rebuilds the bundle from the Debian certificates, which
# would drop a certificate this machine added to its own bundle (e.g. one of a proxy).
cp /tmp/host-ca.crt /etc/ssl/certs/ca-certificates.crt
rm -rf /var/lib/apt/lists/*
git init -q && git add -A && git -c user.name=ci -c user.email=ci@example.com commit -q -m fresh
t0=$(date +%s)
.ci/run
t=$(( $(date +%s) - t0 ))
echo "==> fresh .ci/run: $((t / 60)) min $((t % 60)) s"'
echo "load after: $(uptime)"
echo "background steps' logs: $FRESH_LOGS"
