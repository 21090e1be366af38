#!/usr/bin/env bash
# Repeats `perflab sweep --preset cpu_vision --quick` N times (docs/statistics.md, "How a sweep
# measures": calibration) and prints how often one sweep's p50 falls inside another
# sweep's intervals, and whether the recommendations agree. Every sweep runs under the
# shared timing lock; the load average is printed with each.
#   scripts/calibrate-sweep.sh [N] [OUTDIR] [PERFLAB...]
# With several PERFLAB binaries the sweeps alternate between them (e.g. to compare with
# an older build), each binary's files in OUTDIR/<i>/.
set -euo pipefail
N=${1:-5}
OUT=${2:-results/calibrate-sweep}
shift 2 || true
BINS=("$@")
[ ${#BINS[@]} -gt 0 ] || BINS=(./bin/perflab)
export PERFLAB_MODELS_DIR=${PERFLAB_MODELS_DIR:-$PWD/models/exported}
# Measurements take the timing lock; PERFLAB_TIMING_LOCKED=1 says the caller holds it.
locked() { if [ -n "${PERFLAB_TIMING_LOCKED:-}" ]; then "$@"; else flock /tmp/perflab-timing.lock "$@"; fi; }
for i in $(seq 1 "$N"); do
  for b in "${!BINS[@]}"; do
    mkdir -p "$OUT/$b"
    f="$OUT/$b/sweep_$i.jsonl"
    rm -f "$f" "$f.runs"
    start=$(date +%s.%N)
    locked bash -c "echo \"load before: \$(uptime)\"; ${BINS[$b]} sweep --preset cpu_vision --quick --seed $i --out $f --progress none; echo \"load after:  \$(uptime)\""
    end=$(date +%s.%N)
    printf '%s sweep %d: %.1f s (wall, lock wait included)\n' "${BINS[$b]}" "$i" "$(echo "$end - $start" | bc)"
  done
done
for b in "${!BINS[@]}"; do
  echo "== ${BINS[$b]}"
  go run ./scripts/sweepcalib "$OUT/$b"/sweep_*.jsonl
done
