#!/usr/bin/env bash
# Does the attribution ("Where the time went") still name a change's operators when other
# work slows some of its profiled rounds? Runs `perflab bench --model BASE --ab-with HEAD
# --explain` N times per binary, alternating binaries, while a background load runs bursts
# of 2 busy processes (20-120 ms, then 100-500 ms idle: the CPU both cores share), and prints
# per run which rows were shown. Compare an older build with BIN... (docs/profile.md).
#   scripts/attribution-bursts.sh BASE HEAD INPUT [N] [BIN...]
# e.g. make e2e's A/B models (written by scripts/e2e/ab_models.py into its logs folder):
#   timed scripts/attribution-bursts.sh /var/tmp/perflab-e2e/logs/base.pt \
#     /var/tmp/perflab-e2e/logs/slow.pt 'float32[B,3,128,128]' 10 /tmp/perflab-old ./bin/perflab
# HEAD = BASE (a copy) counts rows shown where nothing changed. Run it under the timing lock.
set -euo pipefail
[ $# -ge 3 ] || { sed -n '2,11p' "$0" >&2; exit 2; }
BASE=$1 HEAD=$2 INPUT=$3 N=${4:-10}
shift 3; [ $# -gt 0 ] && shift
BINS=("$@")
[ ${#BINS[@]} -gt 0 ] || BINS=(./bin/perflab)
OUT=$(mktemp -d)
python3 - "$((N * ${#BINS[@]} * 10 + 60))" <<'PY' &
import os, random, sys, time
end = time.time() + float(sys.argv[1])
random.seed(1)
while time.time() < end:
    busy = random.uniform(0.02, 0.12)
    pids = []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:
            stop = time.time() + busy
            while time.time() < stop:
                pass
            os._exit(0)
        pids.append(pid)
    for pid in pids:
        os.waitpid(pid, 0)
    time.sleep(random.uniform(0.1, 0.5))
PY
LOAD=$!
trap 'kill $LOAD 2>/dev/null; rm -rf "$OUT"' EXIT
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq 1 "$N"); do
  for b in "${!BINS[@]}"; do
    f="$OUT/$b-$i.json"
    "${BINS[$b]}" bench --model "$BASE" --ab-with "$HEAD" --input "$INPUT" --explain --profile-forwards 60 \
      --iters 60 --threads 1 --compile on --explain-out "$f" >/dev/null 2>"$OUT/err" || { echo "${BINS[$b]} run $i: $(tail -1 "$OUT/err")"; continue; }
    python3 - "$f" "${BINS[$b]}" "$i" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))
rows = a["rows"] or []
shown = ", ".join("%s %s %+.3f" % (r["op"], r["shapes"][:30], r["change_ms"]) for r in rows) or "none"
print("%s run %s: timed %+.3f ms, profiled %+.3f ms; %d of %d rows shown: %s" % (
    sys.argv[2], sys.argv[3], a["timed_head_ms"] - a["timed_base_ms"], a["change_ms"], len(rows), len(rows) + a["other_rows"], shown))
PY
  done
done
