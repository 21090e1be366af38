#!/usr/bin/env bash
# Measures the CPU serving knobs (--allocator, --omp-wait, --pin) against the default on
# this machine, interleaved: each round runs one process per variant, in a shuffled order,
# back to back under the timing lock, so drift hits every variant alike. Prints, per model
# and thread count, each variant's median ratio to the default over the rounds (with the
# range) for p50 and p95, and its median p95/p50 (the tail the knob leaves).
#
# usage: scripts/knob-ab.sh [ROUNDS] [MODELS] [THREADS]
#   ROUNDS   rounds per model and thread count (default 5)
#   MODELS   comma-separated built-ins (default mobilenet_v3_small,resnet18)
#   THREADS  comma-separated thread counts (default 1,2)
# PERFLAB=path selects the binary (default bin/perflab); ITERS overrides the iterations.
set -euo pipefail
cd "$(dirname "$0")/.."
# Measurements take the timing lock; PERFLAB_TIMING_LOCKED=1 says the caller holds it.
locked() { if [ -n "${PERFLAB_TIMING_LOCKED:-}" ]; then "$@"; else flock /tmp/perflab-timing.lock "$@"; fi; }
rounds=${1:-5}
IFS=, read -r -a models <<<"${2:-mobilenet_v3_small,resnet18}"
IFS=, read -r -a threads <<<"${3:-1,2}"
bin=${PERFLAB:-bin/perflab}
export PERFLAB_MODELS_DIR=${PERFLAB_MODELS_DIR:-$PWD/models/exported}
variants=("default" "--allocator jemalloc" "--allocator tcmalloc" "--omp-wait passive" "--omp-wait active" "--pin cores")
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "load before: $(uptime)"
for m in "${models[@]}"; do
  iters=${ITERS:-300}
  [ "$m" = resnet18 ] && iters=${ITERS:-100}
  for t in "${threads[@]}"; do
    for r in $(seq 1 "$rounds"); do
      order=$(printf '%s\n' "${variants[@]}" | shuf)
      lines=$(locked bash -c '
        while IFS= read -r v; do
          k=$v; [ "$k" = default ] && k=""
          '"$bin"' bench --model '"$m"' --threads '"$t"' --interop-threads 1 --compile on --iters '"$iters"' \
            --warmup 20 --preprocess-iters 0 --json $k | /usr/bin/python3 -c "import json,sys; r=json.load(sys.stdin); print(\"$v\", r[\"latency_p50\"], r[\"latency_p95\"], sep=\"\t\")"
        done' <<<"$order")
      while IFS=$'\t' read -r v p50 p95; do
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$m" "$t" "$r" "$v" "$p50" "$p95" >>"$out"
      done <<<"$lines"
    done
  done
done
echo "load after:  $(uptime)"
/usr/bin/python3 - "$out" <<'PY'
import collections, statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
runs = collections.defaultdict(dict)  # (model, threads) -> round -> variant -> (p50, p95)
for m, t, r, v, p50, p95 in rows:
    runs[(m, int(t))].setdefault(r, {})[v] = (float(p50), float(p95))
def stat(xs):
    xs = sorted(xs)
    return f"{statistics.median(xs):6.3f} [{xs[0]:.3f}, {xs[-1]:.3f}]"
for (m, t), rounds in sorted(runs.items()):
    base = [rd["default"] for rd in rounds.values()]
    print(f"\n{m} b1 threads {t} ({len(rounds)} rounds); default p50 {statistics.median(b[0] for b in base):.3f} ms, "
          f"p95 {statistics.median(b[1] for b in base):.3f} ms, p95/p50 {statistics.median(b[1]/b[0] for b in base):.2f}")
    print(f"  {'variant':22s} {'p50 ratio [range]':>24s} {'p95 ratio [range]':>24s} {'p95/p50':>8s}")
    variants = sorted({v for rd in rounds.values() for v in rd if v != "default"})
    for v in variants:
        pairs = [(rd[v], rd["default"]) for rd in rounds.values() if v in rd and "default" in rd]
        print(f"  {v:22s} {stat([a[0]/b[0] for a, b in pairs]):>24s} {stat([a[1]/b[1] for a, b in pairs]):>24s} "
              f"{statistics.median(a[1]/a[0] for a, _ in pairs):8.2f}")
PY
