#!/usr/bin/env bash
# Calibrates perflab's gate on this machine, in the flows users run (docs/calibration.md):
#
#   pr      the Action's pull-request flow with NO stored baseline: a temporary git
#           repository whose PR commit replaces models/m.pt; `perflab action` on a simulated
#           pull_request event A/B-tests the PR's file against the base's (interleaved, with
#           confirmation looks). Kinds: slow30 (~30% slower), slow10 (~10%), twin (same
#           architecture, other weights: same speed). Counts failed checks and time per PR.
#   stored  the product's stored-baseline flow: a baseline refreshed RUNS times (default 3)
#           from a sweep of the unchanged model, as the Action on main does (`perflab sweep`
#           of a one-configuration preset, 3 worker processes, one record; `perflab baseline
#           update` stores it as one run of the entry), then each trial is one such sweep of
#           the trial's model gated against it with `perflab gate` (the Action's default
#           metrics p95, p99, throughput): slow2x, slow10, aa (the same model). Each line
#           says the machine factor the gate divided out (the reference workload's time in
#           the trial over the baseline's; "-" = not corrected).
#   ab      `perflab gate --ab` (interleaved in one process) on slow10 and aa.
#
# usage: scripts/calibrate-gate.sh [PR_TRIALS] [STORED_TRIALS]
#   PR_TRIALS      pull requests of each kind (default 10: the full calibration)
#   STORED_TRIALS  stored-baseline trials of each kind (default 10)
# Env: MODES (default "pr stored"), KEEP (stored mode: a folder to keep the baseline and
# every trial's records in, to gate them again offline), MODEL (built-in vision model, default
# mobilenet_v3_small), CH10 / CH30 / CH2X (channels of scripts/make_slow_model.py's extra
# convolution: default 44, 64, 192: with compile off, 44 channels cost mobilenet_v3_small
# ~8% here, 64 ~27%, 192 ~2x (p95 +72..+163%, throughput -49..-59% in the stored
# calibration); not monotonic: 300 and 340-360 cost much less than 320 and 384, see
# docs/calibration.md), RUNS (stored baseline runs, default 3), ITERS (stored: a
# sweep's timed iterations over its 3 workers; ab: per run; default 400), AB_ROUNDS (ab mode, default 6), PR_METRICS / PR_ITERS (the
# Action's metrics and iters inputs in the pr flow: default p95,throughput and 200, the
# sweep's and each A/B run's iterations), COMPILE (default off: on this
# machine's AVX-512 CPU, freeze + optimize_for_inference changes the seeded
# mobilenet_v3_small's outputs beyond tolerance, so compile=on records are not usable). The change actually measured is
# printed with every trial. Run it under the timing lock:
#   flock /tmp/perflab-timing.lock scripts/calibrate-gate.sh 10 10
set -euo pipefail
cd "$(dirname "$0")/.."
pr_trials=${1:-10}
stored_trials=${2:-10}
modes=${MODES:-pr stored}
model=${MODEL:-mobilenet_v3_small}
ch10=${CH10:-44}
ch30=${CH30:-64}
ch2x=${CH2X:-192}
runs=${RUNS:-3}
if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && KEEP=$(cd "$KEEP" && pwd); fi
iters=${ITERS:-400}
ab_rounds=${AB_ROUNDS:-6}
compile=${COMPILE:-off}
pr_metrics=${PR_METRICS:-p95,throughput}
pr_iters=${PR_ITERS:-200}
# A private copy of the binary: rebuilding bin/perflab meanwhile does not change the tool under test.
work=$(mktemp -d /tmp/perflab-calibrate.XXXXXX)
cp bin/perflab "$work/perflab"
P=$work/perflab
export PERFLAB_MODELS_DIR=${PERFLAB_MODELS_DIR:-$PWD/models/exported}
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 scripts/make_slow_model.py "$PERFLAB_MODELS_DIR/$model.pt" "$work" "$ch10" "$ch30" "$ch2x"
echo "calibrating perflab gate: $model (compile $compile, 1 thread); slow10/slow30/slow2x = plus a 3->$ch10/$ch30/$ch2x conv;" \
     "$pr_trials PRs and $stored_trials stored trials of each kind; load: $(uptime | sed 's/.*load average: //')" >&2

# The change a report measured, e.g. "p95:+11.2% throughput:-9.8%".
changes() { /usr/bin/python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["verdict"].replace(" ","_"), " ".join("%s:%+.1f%%" % (c["metric"], (c["ratio"]-1)*100) for c in r["comparisons"] if c.get("ratio")) or "-")' "$1"; }

{
# cal_preset MODEL ITERS: the one-configuration preset both modes measure (batch 1, one
# thread, $compile), on stdout.
cal_preset() {
  cat <<YAML
name: cal
iters: $2
warmup: 20
grid:
  models: [$1]
  inputs: ['float32[B,3,224,224]']
  batch_size: [1]
  threads: [1]
  interop_threads: [1]
  compile: ["$compile"]
YAML
}

if [[ " $modes " == *" pr "* ]]; then
  # One pull request: a fresh repository whose base commit holds a.pt as models/m.pt and
  # whose PR commit replaces it with $2; perflab action on its pull_request event.
  pr() { # pr KIND FILE TRIAL
    local repo=$work/repo-$1-$3
    mkdir -p "$repo/models" "$repo/perf"
    cal_preset models/m.pt "$pr_iters" > "$repo/perf/cal.yaml"
    cp "$work/a.pt" "$repo/models/m.pt"
    git -C "$repo" init -q -b main && git -C "$repo" add -A
    git -C "$repo" -c user.email=cal@perflab -c user.name=cal commit -q -m base
    local base; base=$(git -C "$repo" rev-parse HEAD)
    cp "$2" "$repo/models/m.pt"
    git -C "$repo" -c user.email=cal@perflab -c user.name=cal commit -q -am pr
    local head; head=$(git -C "$repo" rev-parse HEAD)
    printf '{"action":"synchronize","number":1,"repository":{"full_name":"cal/cal","default_branch":"main"},"pull_request":{"number":1,"base":{"ref":"main","sha":"%s","repo":{"full_name":"cal/cal"}},"head":{"ref":"pr","sha":"%s","repo":{"full_name":"cal/cal"}}}}' \
      "$base" "$head" > "$work/event.json"
    local t0 t1 code=0
    t0=$(date +%s.%N)
    (cd "$repo" && env -i PATH="$PATH" HOME="$HOME" PERFLAB_MODELS_DIR="$PERFLAB_MODELS_DIR" GITHUB_EVENT_NAME=pull_request \
      GITHUB_EVENT_PATH="$work/event.json" GITHUB_REPOSITORY=cal/cal GITHUB_WORKSPACE="$repo" GITHUB_SHA="$head" \
      INPUT_PRESET=perf/cal.yaml INPUT_COMMENT=false INPUT_METRICS="$pr_metrics" INPUT_ITERS="$pr_iters" "$P" action >"$work/pr.log" 2>&1) || code=$?
    t1=$(date +%s.%N)
    echo "pr $1 $3 exit=$code $(changes "$repo/perflab-results/verdict.json") seconds=$(printf '%.0f' "$(echo "$t1 - $t0" | bc)")"
    rm -rf "$repo"
  }
  for t in $(seq 1 "$pr_trials"); do # kinds interleaved: drift hits all kinds alike
    pr slow30 "$work/slow-$ch30.pt" "$t"
    pr slow10 "$work/slow-$ch10.pt" "$t"
    pr twin "$work/twin.pt" "$t"
  done
fi

if [[ " $modes " == *" stored "* ]]; then
  # One configuration, the PR flow's preset with the stored mode's iterations; the model is
  # always $work/st/model.pt (one key for baseline and trials).
  mkdir -p "$work/st"
  cal_preset model.pt "$iters" > "$work/st/cal.yaml"
  bench() { # bench FILE -> the sweep's one JSON record on stdout (3 worker processes, as the Action runs it)
    cp "$1" "$work/st/model.pt"
    rm -f "$work/st/out.jsonl"
    (cd "$work/st" && "$P" sweep --preset cal.yaml --out out.jsonl --progress none >/dev/null 2>&1) || true
    cat "$work/st/out.jsonl"
  }
  rm -f "$work/baseline.json"
  for k in $(seq 1 "$runs"); do
    bench "$work/a.pt" > "$work/base.jsonl"
    "$P" baseline update --results "$work/base.jsonl" --baseline "$work/baseline.json" --keep "$runs" --commit "main$k" >/dev/null
    if [ -n "${KEEP:-}" ]; then cp "$work/base.jsonl" "$KEEP/base-$k.jsonl"; fi
  done
  if [ -n "${KEEP:-}" ]; then cp "$work/baseline.json" "$KEEP/baseline.json"; fi
  for t in $(seq 1 "$stored_trials"); do
    for kind in slow2x slow10 aa; do
      case $kind in slow2x) f=$work/slow-$ch2x.pt;; slow10) f=$work/slow-$ch10.pt;; aa) f=$work/a.pt;; esac
      t0=$(date +%s.%N)
      bench "$f" > "$work/trial.jsonl"
      if [ -n "${KEEP:-}" ]; then cp "$work/trial.jsonl" "$KEEP/trial-$kind-$t.jsonl"; fi
      code=0
      "$P" gate --results "$work/trial.jsonl" --baseline "$work/baseline.json" --json > "$work/verdict.json" 2>/dev/null || code=$?
      t1=$(date +%s.%N)
      mde=$(/usr/bin/python3 -c 'import json,sys; print("%.0f%%" % (100*json.load(open(sys.argv[1])).get("min_detectable",0)))' "$work/verdict.json")
      mf=$(/usr/bin/python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["comparisons"]; print("%.2f" % c[0]["machine_factor"] if c and c[0].get("machine_factor") else "-")' "$work/verdict.json")
      echo "stored $kind $t exit=$code $(changes "$work/verdict.json") machine=$mf detectable=$mde seconds=$(printf '%.0f' "$(echo "$t1 - $t0" | bc)")"
    done
  done
fi

if [[ " $modes " == *" ab "* ]]; then
  cp "$work/a.pt" "$work/a2.pt"
  for t in $(seq 1 "$stored_trials"); do
    for kind in slow10 aa; do
      b=$work/a2.pt
      [ $kind = slow10 ] && b=$work/slow-$ch10.pt
      code=0
      "$P" gate --ab "$work/a.pt,$b" --input 'float32[B,3,224,224]' --rounds "$ab_rounds" --iters "$iters" \
        --compile "$compile" --threads 1 --json > "$work/verdict.json" 2>/dev/null || code=$?
      echo "ab $kind $t exit=$code $(changes "$work/verdict.json")"
    done
  done
fi
} | tee "$work/trials.txt" >&2

echo "load after: $(uptime | sed 's/.*load average: //')" >&2
/usr/bin/python3 - "$work/trials.txt" <<'PY'
import sys, collections, statistics, re
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
by = collections.defaultdict(list)
for r in rows:
    by[(r[0], r[1])].append(r)
for (mode, kind), rs in sorted(by.items()):
    verdicts = collections.Counter(r[4] for r in rs)
    p95 = [float(m.group(1)) for r in rs for m in [re.search(r"p95:([-+0-9.]+)%", " ".join(r))] if m]
    line = f"{mode:6s} {kind:7s}: {len(rs)} trials, verdicts " + ", ".join(f"{v} {n}" for v, n in sorted(verdicts.items()))
    if mode in ("pr", "ab", "stored"):
        failed = sum(1 for r in rs if r[3] == "exit=1")
        line += f"; check failed {failed}/{len(rs)}"
    if p95:
        line += f"; measured p95 change median {statistics.median(p95):+.1f}% (range {min(p95):+.1f}..{max(p95):+.1f}%)"
    tp = [float(m.group(1)) for r in rs for m in [re.search(r"throughput:([-+0-9.]+)%", " ".join(r))] if m]
    if tp:
        line += f", throughput median {statistics.median(tp):+.1f}% (range {min(tp):+.1f}..{max(tp):+.1f}%)"
    secs = [int(x.split("=")[1]) for r in rs for x in r if x.startswith("seconds=")]
    if secs:
        line += f"; time per {'PR' if mode == 'pr' else 'trial'} median {statistics.median(secs):.0f} s (max {max(secs)} s)"
    mf = [float(x.split("=")[1]) for r in rs for x in r if x.startswith("machine=") and x != "machine=-"]
    if mf:
        line += f"; reference workload vs the baseline's (machine factor divided out) median x{statistics.median(mf):.2f} (range {min(mf):.2f}..{max(mf):.2f})"
    det = sorted(float(x.split("=")[1].rstrip("%")) for r in rs for x in r if x.startswith("detectable="))
    if det:
        line += f"; smallest detectable change median {statistics.median(det):.0f}% (range {det[0]:.0f}..{det[-1]:.0f}%)"
    print(line)
PY
