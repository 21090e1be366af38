"""Checks make e2e's inductor Action runs (scripts/e2e/inductor.sh): python3
check_inductor.py LOGS. Prints one line per check, then the first (compiling) and the
cached run's times; exits 1 when a check fails.
"""
import json
import os
import sys

logs = sys.argv[1]
failed = []


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failed.append(what)


def read(name, default=""):
    p = os.path.join(logs, name)
    return open(p).read() if os.path.exists(p) else default


def records(name):
    return [json.loads(l) for l in read(name).splitlines() if l.strip()]


runs = {}
for name in ("inductor-first", "inductor-cached"):
    rc = read(name + ".rc", "?").strip()
    check(rc == "0", "%s: act exit %s, want 0" % (name, rc))
    recs = records(name + ".jsonl")
    ind = {r.get("batch_size"): r for r in recs if r.get("compile_requested") == "inductor"}
    off = {r.get("batch_size"): r for r in recs if r.get("compile_requested") == "off"}
    for b in (1, 4):
        r = ind.get(b) or {}
        verdict = (r.get("correctness") or {}).get("verdict")
        check(r.get("status") == "ok" and r.get("inductor_package") and verdict == "match",
              "%s: the unseen model's torch.export program benched as compile inductor at batch %d, outputs %r vs its TorchScript twin, want 'match' (%s)"
              % (name, b, verdict, r.get("error") or ("status %s" % r.get("status") if r else "no record")))
        check((off.get(b) or {}).get("status") == "ok", "%s: its TorchScript twin benched at batch %d (compile off)" % (name, b))
    caches = sorted(r.get("compile_cache", "") for r in ind.values())
    runs[name] = (ind, read(name + ".seconds", "?").strip())
    if name == "inductor-first":
        # Compiled once in this run: one miss; a second configuration waits for it and hits.
        check(caches.count("miss") == 1 and set(caches) <= {"miss", "hit"},
              "%s: the program compiled once (compile_cache %s, want one miss)" % (name, caches))
    else:
        check(caches and set(caches) == {"hit"}, "%s: the kept cache folder hit (compile_cache %s)" % (name, caches))
    secs = {r.get("compile_seconds") for r in ind.values()}
    isas = {r.get("compile_isa") for r in ind.values()}
    check(len(secs) == 1 and all(s and s > 0 for s in secs) and len(isas) == 1 and None not in isas,
          "%s: records carry compile_seconds %s and compile_isa %s" % (name, sorted(secs, key=str), sorted(isas, key=str)))
    entries = read(name + ".cache-entries").split()
    check(len([e for e in entries if not e.endswith(".lock")]) == 1,
          "%s: one entry in the workspace's .perflab-aoti (%s)" % (name, entries))

first, cached = runs.get("inductor-first"), runs.get("inductor-cached")
if first and cached and first[0] and cached[0]:
    sec = next(iter(first[0].values())).get("compile_seconds")
    print("inductor Action: first run (compiles) %s s, cached run %s s; compile %s s, ISA %s; p50 ms at batch 1/4: %s (first), %s (cached)"
          % (first[1], cached[1], sec, next(iter(first[0].values())).get("compile_isa"),
             "/".join("%.2f" % first[0][b]["latency_p50"] for b in (1, 4) if b in first[0]),
             "/".join("%.2f" % cached[0][b]["latency_p50"] for b in (1, 4) if b in cached[0])))
if failed:
    print("e2e inductor: %d check(s) failed" % len(failed))
    sys.exit(1)
print("e2e inductor: all checks passed")
