#!/usr/bin/env bash
# Measures perflab's reported p50 against a plain C++ libtorch loop on the same model file,
# threads and optimization, interleaved (perflab, C++, perflab, C++, ...) so machine drift
# hits both alike. Prints each round and the median ratio perflab/C++ (target: within 3%).
#
# usage: scripts/bench-overhead.sh [MODEL] [ROUNDS] [ITERS] [THREADS]
#   MODEL   built-in name (default mobilenet_v3_small); tiny_transformer uses token inputs
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-mobilenet_v3_small}
rounds=${2:-6}
iters=${3:-300}
threads=${4:-1}
bin=bin/cxxloop
if [ ! -x "$bin" ] || [ scripts/cxxloop.cc -nt "$bin" ]; then
  echo "building $bin (about 30 s)..." >&2
  g++ -std=c++17 -O2 -Wno-deprecated-declarations -I/usr/include/torch/csrc/api/include \
    scripts/cxxloop.cc -o "$bin" -ltorch -ltorch_cpu -lc10
fi
file=models/exported/$model.pt
tokens=""
[ "$model" = tiny_transformer ] && tokens="--tokens"
ratios=()
printf "%-6s %12s %12s %8s\n" round perflab_p50 cxx_p50 ratio
for r in $(seq 1 "$rounds"); do
  p=$(./bin/perflab bench --model "$model" --iters "$iters" --warmup 20 --threads "$threads" \
        --interop-threads 1 --compile on --preprocess-iters 0 --json |
      /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["latency_p50"])')
  c=$(OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads "$bin" "$file" 1 "$iters" 20 "$threads" 1 $tokens)
  ratio=$(/usr/bin/python3 -c "print(f'{$p/$c:.4f}')")
  ratios+=("$ratio")
  printf "%-6s %12.4f %12.4f %8s\n" "$r" "$p" "$c" "$ratio"
done
/usr/bin/python3 - "${ratios[@]}" <<'PY'
import statistics, sys
r = sorted(float(x) for x in sys.argv[1:])
print(f"median ratio perflab/C++ = {statistics.median(r):.4f} (min {r[0]:.4f}, max {r[-1]:.4f}, {len(r)} rounds)")
PY
