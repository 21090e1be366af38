#!/usr/bin/env bash
# Calibrates perflab gate on this machine: false alarms in A/A trials (the same model on
# both sides) and detection of a ~10% slower model, with stored baselines and with --ab.
#
# usage: scripts/calibrate-gate.sh [TRIALS] [AB_ROUNDS]
#   TRIALS     trials of each kind (default 20)
#   AB_ROUNDS  rounds per --ab trial (default 6)
# Env: MODEL (built-in vision model, default mobilenet_v3_small), CHANNELS (default 16: the
# extra convolution of scripts/make_slow_model.py, ~10% slower on mobilenet_v3_small at 1
# thread here), ITERS (default 300), METRICS (default p95,throughput), MODES ("stored ab",
# default both). The slowdown actually measured is printed with every trial.
set -euo pipefail
cd "$(dirname "$0")/.."
trials=${1:-20}
rounds=${2:-6}
model=${MODEL:-mobilenet_v3_small}
channels=${CHANNELS:-16}
iters=${ITERS:-300}
metrics=${METRICS:-p95,throughput}
modes=${MODES:-stored ab}
# A private copy of the binary: rebuilding bin/perflab meanwhile does not change the tool under test.
work=$(mktemp -d /tmp/perflab-calibrate.XXXXXX)
cp bin/perflab "$work/perflab"
P=$work/perflab
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 scripts/make_slow_model.py "models/exported/$model.pt" "$work" "$channels"
bench() { # bench FILE -> one JSON record on stdout
  "$P" bench --model "$1" --input 'float32[B,3,224,224]' --compile on --threads 1 --interop-threads 1 \
    --iters "$iters" --warmup 20 --preprocess-iters 0 --json
}
verdict() { /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["verdict"], " ".join("%s:%+.1f%%" % (c["metric"], (c["ratio"]-1)*100) for c in r["comparisons"] if c.get("ratio")))'; }
echo "calibrating perflab gate: $model, slow = plus a 3->$channels conv, $iters iters, metrics $metrics, $trials trials" >&2

{
if [[ " $modes " == *" stored "* ]]; then
  # The baseline is refreshed as main would refresh it: a rolling window of the last 5 runs
  # of the unchanged model, taken at different times during the calibration (not five runs
  # back to back), so it sees the machine's drift as a real history would. The gated
  # configuration has one key: the file is always $work/model.pt.
  refresh() { # one more run of the unchanged model into the baseline
    cp "$work/a.pt" "$work/model.pt"
    bench "$work/model.pt" > "$work/base.jsonl"
    "$P" baseline update --results "$work/base.jsonl" --baseline "$work/baseline.json" --keep 5 --commit calibration >/dev/null
  }
  for k in 1 2 3 4 5; do refresh; done
  for kind in aa slow; do
    for t in $(seq 1 "$trials"); do
      if [ $kind = slow ]; then cp "$work/slow.pt" "$work/model.pt"; else cp "$work/a.pt" "$work/model.pt"; fi
      bench "$work/model.pt" > "$work/trial.jsonl"
      v=$("$P" gate --results "$work/trial.jsonl" --baseline "$work/baseline.json" --metrics "$metrics" --json 2>/dev/null | verdict || true)
      echo "stored $kind $t $v"
      refresh
    done
  done
fi

if [[ " $modes " == *" ab "* ]]; then
  cp "$work/a.pt" "$work/a2.pt"
  for kind in aa slow; do
    b=$work/a2.pt
    [ $kind = slow ] && b=$work/slow.pt
    for t in $(seq 1 "$trials"); do
      v=$("$P" gate --ab "$work/a.pt,$b" --input 'float32[B,3,224,224]' --rounds "$rounds" --iters "$iters" \
            --compile on --threads 1 --metrics "$metrics" --json 2>/dev/null | verdict || true)
      echo "ab $kind $t $v"
    done
  done
fi
} | tee "$work/trials.txt" >&2

/usr/bin/python3 - "$work/trials.txt" <<'PY'
import sys, collections
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
by = collections.defaultdict(list)
for r in rows:
    by[(r[0], r[1])].append(r)
for (mode, kind), rs in sorted(by.items()):
    flagged = sum(1 for r in rs if r[3] == "regression")
    label = "false alarms" if kind == "aa" else "detected"
    print(f"{mode:6s} {kind:4s}: {label} {flagged}/{len(rs)}")
PY
