#!/usr/bin/env bash
# Measures perflab load's own error: the latency floor of a ~0 ms service (a TorchScript
# `x + 1`, a few microseconds of compute) and the load generator's issue lag (how late it
# released requests after their scheduled times) at 100, 1,000 and 10,000 req/s. Every
# latency perflab load reports includes these. Runs under the timing lock and prints the
# machine's load with the figures (goal on a quiet machine: p50 floor <= 0.1 ms, lag p99
# <= 0.2 ms).
#
# usage: scripts/load-floor.sh [PERFLAB] [ROUNDS]
#   PERFLAB  the binary to measure (default bin/perflab, built by `make build`)
#   ROUNDS   runs per rate (default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
# Measurements take the timing lock; PERFLAB_TIMING_LOCKED=1 says the caller holds it.
locked() { if [ -n "${PERFLAB_TIMING_LOCKED:-}" ]; then "$@"; else flock /tmp/perflab-timing.lock "$@"; fi; }
bin=${1:-bin/perflab}
rounds=${2:-2}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 - "$tmp/addone.pt" <<'PY'
import sys, torch
class AddOne(torch.nn.Module):
    def forward(self, x):
        return x + 1
torch.jit.save(torch.jit.trace(AddOne(), torch.zeros(1, 8)), sys.argv[1])  # traced: no source file needed
PY
echo "load before: $(uptime)"
printf "%8s %5s %8s %10s %10s %10s %12s %12s\n" rate round requests lat_p50_ms lat_p99_ms compute_p50 lag_p50_ms lag_p99_ms
for rate in 100 1000 10000; do
  case $rate in 100) dur=10s ;; 1000) dur=5s ;; *) dur=3s ;; esac
  for r in $(seq 1 "$rounds"); do
    locked "$bin" load --model "$tmp/addone.pt" --input 'float32[B,8]' \
        --rate "$rate" --duration "$dur" --warmup 1s --threads 1 --compile off --seed "$r" --json |
      /usr/bin/python3 -c '
import json, sys
r = json.load(sys.stdin); l = r["load"]
print("%8s %5s %8d %10.3f %10.3f %10.4f %12.4f %12.4f" % (sys.argv[1], sys.argv[2], l["requests"],
      r["latency_p50"], r["latency_p99"], l["compute_ms"]["p50"], l.get("issue_lag_p50_ms", float("nan")), l["issue_lag_p99_ms"]))
' "$rate" "$r"
  done
done
echo "load after:  $(uptime)"
