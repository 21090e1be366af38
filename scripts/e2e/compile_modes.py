"""The README's "Compile modes" table: every built-in under compile off, on and inductor,
one `perflab bench` process each (batch 1, 1 thread), with the process's peak memory.
Runs inside the inductor image (it has python3; the perflab binary, libraries and models
are the lean Action image's):
  bash scripts/e2e/compile-modes.sh        (under the timing lock: docker run of this file)
Prints one markdown row per model and writes the records to OUT (default
/logs/compile-modes.jsonl). Peak memory: the bench process's maximum resident set size
(wait4's ru_maxrss), model load, compile, correctness check and timed loop included.
"""
import json
import os
import subprocess
import sys
import time

out = sys.argv[1] if len(sys.argv) > 1 else "/logs/compile-modes.jsonl"
iters = os.environ.get("ITERS", "200")
models = ["mobilenet_v3_small", "tiny_transformer", "resnet18"]
modes = ["off", "on", "inductor"]
rows = {}
for rnd in range(int(os.environ.get("ROUNDS", "1"))):
    for m in models:
        for c in modes:
            if os.path.exists(out + ".tmp"):
                os.remove(out + ".tmp")
            start = time.monotonic()
            p = subprocess.Popen(["perflab", "bench", "--model", m, "--compile", c, "--batch-size", "1", "--threads", "1",
                                  "--iters", iters, "--warmup", "20", "--out", out + ".tmp"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            _, status, ru = os.wait4(p.pid, 0)
            wall = time.monotonic() - start
            err = p.stderr.read().decode()
            r = json.loads(open(out + ".tmp").read().splitlines()[-1]) if os.path.exists(out + ".tmp") else {}
            r["peak_rss_mb"] = ru.ru_maxrss / 1024.0
            r["process_seconds"] = wall
            with open(out, "a") as f:
                f.write(json.dumps(r) + "\n")
            rows.setdefault((m, c), []).append(r)
            print("%s %s: status %s, p50 %.2f ms, rss %.0f MB, %.1f s %s" % (m, c, r.get("status"), r.get("latency_p50", 0), r["peak_rss_mb"], wall, err.strip()[-200:]), file=sys.stderr)

print("| model | compile | p50 / p95 ms | throughput req/s | compile time | process setup s | peak memory MB | outputs |")
print("|---|---|---|---|---|---|---|---|")
for m in models:
    for c in modes:
        rs = sorted(rows[(m, c)], key=lambda r: r.get("latency_p50", 0))
        r = rs[len(rs) // 2]  # the median round by p50
        if r.get("status") != "ok":
            print("| %s | %s | failed: %s | | | | | |" % (m, c, (r.get("error") or "")[:80]))
            continue
        comp = {"off": "none", "on": "in setup (freeze + optimize)", "inductor": "%.1f s, ahead of time (%s kernels)" % (r.get("compile_seconds", 0), r.get("compile_isa", "?"))}[c]
        setup = r["process_seconds"] - r.get("wall_ms", 0) / 1000.0
        corr = (r.get("correctness") or {}).get("verdict", "(reference)" if c == "off" else "?")
        print("| %s | %s | %.2f / %.2f | %.1f | %s | %.1f | %.0f | %s |" % (
            m, c, r["latency_p50"], r["latency_p95"], r["throughput_rps"], comp, setup, r["peak_rss_mb"], corr))
