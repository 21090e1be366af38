#!/usr/bin/env bash
# Measures the README's "Compile modes" table in the inductor image (python3 there runs
# scripts/e2e/compile_modes.py: each built-in x compile off/on/inductor, one perflab bench
# process each, with its peak memory). Takes the timing lock unless the caller holds it
# (PERFLAB_TIMING_LOCKED=1), as the other measurements do:
#   bash scripts/e2e/compile-modes.sh [IMAGE]     (default perflab:dev-inductor; make image-inductor)
# ROUNDS=N repeats every configuration N times (the table shows the median round).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ "${PERFLAB_TIMING_LOCKED:-}" != 1 ]; then
  exec flock /tmp/perflab-timing.lock env PERFLAB_TIMING_LOCKED=1 bash "$0" "$@"
fi
source scripts/e2e/lib.sh
img=${1:-perflab:dev-inductor}
trap e2e_stop_dockerd EXIT
e2e_dockerd
out=$E2E_STATE/compile-modes; rm -rf "$out"; mkdir -p "$out"
log "load before: $(uptime)"
$DOCKER run --rm --network host -e ROUNDS="${ROUNDS:-1}" -e ITERS="${ITERS:-200}" -v "$PWD/scripts/e2e:/e2e:ro" -v "$out:/logs" \
  --entrypoint /usr/bin/python3 "$img" /e2e/compile_modes.py /logs/compile-modes.jsonl
log "load after: $(uptime)"
