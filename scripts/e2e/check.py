"""Checks what make e2e's act runs did (scripts/e2e/run.sh): python3 check.py LOGS.

LOGS holds, per run NAME: NAME.log (act's output), NAME.rc (its exit code), and
state-N.json (the fake API's state after run N). Prints one line per check and exits 1 when
any fails.
"""
import json
import os
import re
import sys

logs = sys.argv[1]
failed = []
MARKER = "<!-- perflab-gate -->"
BOT = "github-actions[bot]"


def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failed.append(what)


def read(name):
    with open(os.path.join(logs, name)) as f:
        return f.read()


def rc(name):
    return int(read(name + ".rc").strip())


def state(n):
    return json.loads(read("state-%d.json" % n))


def outputs(log):
    """The action's step outputs as act logs them (::set-output:: name=NAME::VALUE)."""
    out = {}
    for m in re.finditer(r"::set-output:: ?(?:name=)?([a-z-]+)=(.*)", log):
        out[m.group(1)] = m.group(2).strip()
    return out


def bot_comments(st, issue):
    return [c for c in st["comments"] if c["issue"] == issue and c["login"] == BOT]


def verdict_consistent(name):
    log, code = read(name + ".log"), rc(name)
    v = outputs(log).get("verdict", "")
    check(v in ("pass", "regression", "inconclusive", "no baseline"), "%s: verdict output %r" % (name, v))
    want = 1 if v == "regression" else 0
    check(code == want, "%s: act exit %d, want %d for verdict %r (never 2)" % (name, code, want, v))
    m = re.search(r"verdict: (.*) \((\d+) regressions\)", log)
    check(m is not None and m.group(1) == v, "%s: a later step read the verdict output (%s)" % (name, m and m.group(0)))
    return v


def records(name):
    path = os.path.join(logs, name)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


# Warnings that describe this machine's load while timing, not the model or the runtime.
LOAD_WARNINGS = ("noisy run", "busy machine")


def clean(r):
    """A record with status ok, outputs (if checked) matching the plain model, and no
    warning besides the load's."""
    bad = [w for w in r.get("warnings", []) if not w.startswith(LOAD_WARNINGS)]
    c = r.get("correctness")
    return r.get("status") == "ok" and (c is None or c.get("ok")) and not bad, bad


# 0. the image itself: libtorch 2.6, a torch 2.x scripted transformer, compile-on outputs.
tr = {r.get("batch_size"): r for r in records("image-transformer.jsonl")}
for b in (1, 4):
    r = tr.get(b)
    ok, bad = clean(r) if r else (False, [])
    check(ok, "image: the torch 2.x scripted nn.TransformerEncoder benches at batch %d with a clean record (%s)"
          % (b, (r or {}).get("error") or bad or ("status " + r["status"] if r else "no record: see image-transformer-b%d.log" % b)))
un = {r.get("batch_size"): r for r in records("image-unseen.jsonl")}
for b in (1, 4):
    r = un.get(b)
    ok, bad = clean(r) if r else (False, [])
    verdict = ((r or {}).get("correctness") or {}).get("verdict")
    check(ok and bool(r.get("inductor_package")) and verdict == "match",
          "image: an AOTInductor package of an unseen model benches as compile inductor at batch %d, outputs %r vs its TorchScript twin, want 'match' (%s)"
          % (b, verdict, (r or {}).get("error") or bad or ("status " + r["status"] if r else "no record: see image-unseen-b%d.log" % b)))
mb = records("image-mobilenet.jsonl")
verdict = mb[0].get("correctness", {}).get("verdict") if mb else None
check(bool(mb) and mb[0].get("compile") is True and verdict == "match",
      "image: mobilenet_v3_small --compile on applied, outputs %r, want 'match' (CPU ISA: oneDNN %s)"
      % (verdict, mb[0]["env"].get("onednn_isa") if mb else "?"))
versions = sorted({r["env"].get("torch", "") for r in list(tr.values()) + mb})
check(bool(versions) and all(v.startswith("2.6") for v in versions), "image: the records say libtorch %s, want 2.6" % versions)
summary = read("image-mobilenet.log") if os.path.exists(os.path.join(logs, "image-mobilenet.log")) else ""
check(re.search(r"env: .*libtorch 2\.6", summary) is not None, "image: perflab bench's summary says libtorch 2.6 (%s)"
      % (re.search(r"env: .*", summary) or [summary[-200:]])[0][:120])

# 1. push to main: the baseline is stored through the contents API, with [skip ci].
log = read("push.log")
check(rc("push") == 0, "push: act exit %d, want 0" % rc("push"))
st = state(1)
head = st["commits"].get(st["branches"].get("main", ""), {})
files = head.get("files", {})
check("baselines/cpu_vision.json" in files, "push: baselines/cpu_vision.json committed on main (%s)" % sorted(files))
check("[skip ci]" in head.get("message", ""), "push: commit message %r has [skip ci]" % head.get("message", "")[:60])
puts = [r for r in st["requests"] if r["method"] == "PUT" and r["path"].endswith("/contents/baselines/cpu_vision.json")]
check(len(puts) == 1 and puts[0]["status"] == 201, "push: one PUT through the contents API (%s)" % [p["status"] for p in puts])
if "baselines/cpu_vision.json" in files:
    b = json.loads(files["baselines/cpu_vision.json"])
    n = len(b.get("entries", []))
    check(n >= 8 and all(e["runs"][0]["samples_ms"] for e in b["entries"]), "push: the baseline has %d entries with samples" % n)
    check(all(e["model"] == "mobilenet_v3_small" for e in b["entries"]), "push: only the workflow's model was swept")
check("Success - Main ./" in log, "push: act ran the action step to success")
check(outputs(log).get("verdict") == "not gated" or outputs(log).get("verdict") in ("no baseline", "pass", "inconclusive", "regression"),
      "push: verdict output %r" % outputs(log).get("verdict"))
check("stored on main in commit" in log, "push: the log says where the baseline was stored")
check(not re.search(r"e2e-write", log), "push: the token never appears in the log")

# 2. pull request #7: one comment by the bot; the reviewer's quote untouched; summary; outputs.
v = verdict_consistent("pr7-first")
st = state(2)
mine = bot_comments(st, 7)
check(len(mine) == 1 and mine[0]["body"].startswith(MARKER + "\n"), "pr7-first: one bot comment starting with the marker (%d)" % len(mine))
alice = [c for c in st["comments"] if c["login"] == "alice"]
check(len(alice) == 1 and alice[0]["edits"] == 0 and alice[0]["body"].startswith("> " + MARKER), "pr7-first: the reviewer's comment quoting the marker is untouched")
if mine:
    body = mine[0]["body"]
    check("perflab gate" in body and "Recommended configuration" in body and "```mermaid" in body, "pr7-first: the comment has the verdict, the recommendation and the chart")
    check("contents API at the " in body and "baselines/cpu_vision.json" in body, "pr7-first: the comment says which baseline was used")
    check(re.search(r"perflab [0-9a-f]{7}|perflab v\d", body) is not None and "perflab action" not in body, "pr7-first: the footer shows the real version")
out = outputs(read("pr7-first.log"))
check(out.get("results") == "perflab-results/results.jsonl" and out.get("report") == "perflab-results/report.md", "pr7-first: results and report outputs (%s, %s)" % (out.get("results"), out.get("report")))
try:
    rec = json.loads(out.get("recommended-config", ""))
    check(rec["recommendations"][0]["model"] == "mobilenet_v3_small", "pr7-first: recommended-config output is JSON naming the model")
except (ValueError, KeyError, IndexError) as e:
    check(False, "pr7-first: recommended-config output is JSON (%s)" % e)
summary = read("pr7-first.summary.md") if os.path.exists(os.path.join(logs, "pr7-first.summary.md")) else ""
check("perflab gate" in summary and MARKER not in summary, "pr7-first: the job summary has the verdict, no marker")

# 3. fork: read-only token, no comment, no failure for it.
verdict_consistent("fork")
st = state(3)
check(not [c for c in st["comments"] if c["issue"] == 8], "fork: no comment on #8")
posts = [r for r in st["requests"] if r["method"] == "POST" and r["path"].endswith("/issues/8/comments")]
check(len(posts) == 1 and posts[0]["status"] == 403, "fork: the comment was refused (403), once")
flog = read("fork.log")
check("read-only token" in flog and "workflow_run" in flog, "fork: the log explains the read-only token and the workflow_run pattern")

# 4. pull request #7 against a ten times faster baseline: regression, exit 1, same comment edited.
code = rc("pr7-regression")
rlog = read("pr7-regression.log")
check(code == 1, "pr7-regression: act exit %d, want 1" % code)
check(outputs(rlog).get("verdict") == "regression", "pr7-regression: verdict output %r" % outputs(rlog).get("verdict"))
check(int(outputs(rlog).get("regressions", "0")) > 0, "pr7-regression: regressions output %s" % outputs(rlog).get("regressions"))
check("::error" in rlog and "perflab regression" in rlog, "pr7-regression: regressions annotated as errors")
st = state(4)
mine = bot_comments(st, 7)
check(len(mine) == 1 and mine[0]["edits"] == 1, "pr7-regression: the same comment edited (%s)" % [(c["id"], c["edits"]) for c in mine])
if mine:
    check("regression" in mine[0]["body"].split("\n", 3)[1], "pr7-regression: the comment's heading says regression")
alice = [c for c in st["comments"] if c["login"] == "alice"]
check(len(alice) == 1 and alice[0]["edits"] == 0, "pr7-regression: the reviewer's comment is still untouched")



# 5. A/B pull requests on models/net.pt: #9 adds a block (conv 64->64 3x3, batch norm, GELU
#    at 32x32), #10 is its same-speed twin.
SECTION = re.compile(r"<details><summary>Where the time went[^<]*</summary>(.*?)</details>", re.S)
ROW = re.compile(r"^\| ([+-][0-9.]+) ms \| (-?\d+)% \| [^|]* \| [^|]* \| `([^`]*)` \| `?([^`|]*)`? \|$", re.M)
TIMED = re.compile(r"Timed: base ([0-9.]+) ms, head ([0-9.]+) ms \(([+-][0-9.]+) ms\)")
# The added block's operators: its convolution (64->64 at 32x32, BN folded in at compile on)
# and its GELU.
ADDED = (("conv", "[1,64,32,32] [64,64,3,3]"), ("gelu", "[1,64,32,32]"))


def check_ab_pr(name, issue, slow):
    if not os.path.exists(os.path.join(logs, name + ".log")):
        check(False, "%s: no act log (the A/B pull requests did not run)" % name)
        return
    v = verdict_consistent(name)
    mine = bot_comments(state(5), issue)
    check(len(mine) == 1, "%s: one bot comment on #%d (%d)" % (name, issue, len(mine)))
    body = mine[0]["body"] if mine else ""
    sections = SECTION.findall(body)
    artifact = read(name + ".artifact").split() if os.path.exists(os.path.join(logs, name + ".artifact")) else []
    traces = [f for f in artifact if f.startswith("perflab-results/profiles/") and f.endswith(".trace.json")]
    if not slow:
        check(v != "regression", "%s: the same-speed twin's verdict %r, want no regression" % (name, v))
        check(not sections and "Where the time went" not in body, "%s: no \"Where the time went\" section (%d)" % (name, len(sections)))
        return
    check(v == "regression", "%s: the ~30%% slower pull request's verdict %r, want regression" % (name, v))
    check(len(sections) >= 1, "%s: the comment has a collapsed \"Where the time went\" section (%d)" % (name, len(sections)))
    if not sections:
        return
    sec = sections[0]
    rows = [(float(ms), op, shapes.strip()) for ms, _, op, shapes in ROW.findall(sec)]
    added = [(ms, op, sh) for ms, op, sh in rows if any(k in op and sh.startswith(s) for k, s in ADDED)]
    names = ["%s %s %+.3f" % (op, sh, ms) for ms, op, sh in rows[:4]]
    check(bool(added) and rows and rows[0] in added,
          "%s: the top row is an added operator with its shapes (top rows: %s)" % (name, names))
    t = TIMED.search(sec)
    gained = sum(ms for ms, _, _ in added)
    timed = float(t.group(3)) if t else 0.0
    check(t is not None and timed > 0 and gained >= 0.5 * timed,
          "%s: the added operators' rows account for %.3f ms of the %+.3f ms timed change, want at least half" % (name, gained, timed))
    check(len(traces) == 2, "%s: both sides' traces in the uploaded results (%s)" % (name, traces or artifact[:6]))
    for f in traces:
        named = sec.count(os.path.basename(f))
        check(named >= 1, "%s: the comment names the trace %s" % (name, os.path.basename(f)))


check_ab_pr("pr9-slow", 9, True)
check_ab_pr("pr10-twin", 10, False)

if failed:
    print("e2e: %d check(s) failed" % len(failed))
    sys.exit(1)
print("e2e: all checks passed")
