#!/usr/bin/env bash
# make e2e: the action, run for real. Builds the action's image from this commit's
# Dockerfile (perflab:dev, as make image does: Debian trixie, libtorch 2.6), checks it
# (0. below), and runs this repository's example workflows (.github/workflows/perf-*.yml,
# verbatim) under act, a real GitHub Actions runner, against a fake GitHub API on loopback
# (internal/github/fakehub), in a scratch repository "acme/models":
#   1. push to main (perf-baseline.yml): the baseline is stored through the contents API.
#   2. pull request #7 (perf-gate.yml): one comment created (a reviewer's comment quoting the
#      marker is left alone), job summary, outputs; exit 1 only on a regression.
#   3. pull request #8 from a fork, read-only token: no comment, no failure for it.
#   4. pull request #7 again against a baseline ten times as fast as this machine: verdict
#      regression, exit 1, the same comment edited.
#   5. A/B pull requests on a model file (#9 ~30% slower from an added block, #10 its
#      same-speed twin): the slow one's comment says where the time went, the twin's does not.
#   6. the inductor Action (inductor/action.yml, image perflab:dev-inductor) twice on a
#      torch.export program of an unseen model: compiled and cached, then the cache hit.
# Before them, 0. the image itself (issue 19): `perflab bench` in it reports libtorch 2.6; a
# TorchScript transformer scripted with torch 2.x (nn.TransformerEncoder, made in the image's
# models stage: python3-torch 2.6) benches at batch 1 and 4 with a clean record; the built-in
# mobilenet_v3_small with --compile on computes the plain model's outputs ("match").
# Installs what it needs (docker.io, debootstrap, act), starts a Docker daemon without a
# bridge network when none runs and stops the one it started. Warm reruns reuse the cached
# base images and image layers under /var/tmp.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
source scripts/e2e/lib.sh

ACT_VERSION=v0.2.89  # github.com/nektos/act, from the Go module proxy
IMAGE=perflab:dev
T0=$(date +%s)
elapsed() { echo "$(( $(date +%s) - T0 )) s"; }

FAKEHUB_PID=""
cleanup() {
  local rc=$?
  if [ -n "$FAKEHUB_PID" ]; then kill "$FAKEHUB_PID" 2>/dev/null || true; wait "$FAKEHUB_PID" 2>/dev/null || true; fi
  # act leaves its containers behind when it is interrupted.
  local left
  left=$($DOCKER ps -aq --filter name=act-perf- 2>/dev/null || true)
  if [ -n "$left" ]; then $DOCKER rm -f $left >/dev/null 2>&1 || true; fi
  e2e_stop_dockerd
  if [ $rc = 0 ]; then log "PASS in $(elapsed)"; else log "FAIL (exit $rc) after $(elapsed); logs in $E2E_STATE/logs"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

e2e_install
mkdir -p .tools "$E2E_STATE"
if ! .tools/act --version 2>/dev/null | grep -q "${ACT_VERSION#v}"; then
  log "installing act $ACT_VERSION"
  GOBIN=$ROOT/.tools go install "github.com/nektos/act@$ACT_VERSION"
fi
go build -o .tools/fakehub ./internal/github/fakehub/cmd/fakehub

e2e_dockerd
# Containers and volumes an interrupted earlier run left in the data root would clash with
# this run's (act names them by workflow and job).
left=$($DOCKER ps -aq --filter name=act- 2>/dev/null || true)
if [ -n "$left" ]; then $DOCKER rm -f $left >/dev/null 2>&1 || true; fi
vols=$($DOCKER volume ls -q --filter name=act- 2>/dev/null || true)
if [ -n "$vols" ]; then $DOCKER volume rm -f $vols >/dev/null 2>&1 || true; fi
e2e_base_images
bash scripts/e2e/build-image.sh "$IMAGE"

# The scratch repository: the action (pointed at the image just built, as this
# repository's CI points it at its Dockerfile) and the example workflows, verbatim.
REPO=$E2E_STATE/repo
LOGS=$E2E_STATE/logs
rm -rf "$REPO" "$LOGS"; mkdir -p "$REPO/.github/workflows" "$LOGS"
sed "s|^  image: .*|  image: docker://$IMAGE|" action.yml >"$REPO/action.yml"
grep -q "image: docker://$IMAGE" "$REPO/action.yml" || die "action.yml has no runs.image line to point at $IMAGE"
cp .github/workflows/perf-gate.yml .github/workflows/perf-baseline.yml "$REPO/.github/workflows/"
git -C "$REPO" init -q -b main
git -C "$REPO" -c user.name=e2e -c user.email=e2e@example.com add -A
git -C "$REPO" -c user.name=e2e -c user.email=e2e@example.com commit -q -m "acme/models with perflab's example workflows"
git -C "$REPO" remote add origin https://github.com/acme/models.git
SHA=$(git -C "$REPO" rev-parse HEAD)

# 0. The image itself: perflab bench in it, on a transformer scripted with torch 2.x and on
#    the built-in mobilenet_v3_small with --compile on (records and summaries in $LOGS).
log "checking the image: perflab bench in $IMAGE"
img_start=$(date +%s)
$DOCKER run --rm --network host -v "$ROOT/scripts/e2e:/e2e:ro" -v "$LOGS:/logs" "$IMAGE-models" \
  python3 /e2e/transformer.py /logs/transformer.pt >"$LOGS/image-transformer-export.log" 2>&1 \
  || { cat "$LOGS/image-transformer-export.log" >&2; die "scripting the transformer with the image's python3-torch failed"; }
for b in 1 4; do
  $DOCKER run --rm --network host -v "$LOGS:/logs" "$IMAGE" bench --model /logs/transformer.pt \
    --input 'float32[B,32,64]' --batch-size "$b" --iters 50 --warmup 5 --out "/logs/image-transformer.jsonl" \
    >"$LOGS/image-transformer-b$b.log" 2>&1 || echo "exit $?" >>"$LOGS/image-transformer-b$b.log"
done
# An AOTInductor package of a model perflab has never seen (compiled by the models stage's
# python3-torch, as a user would), with its TorchScript twin beside it: compile inductor at
# batch 1 and 4 in the Action's image, outputs checked against the twin.
$DOCKER run --rm --network host -v "$ROOT/scripts/e2e:/e2e:ro" -v "$LOGS:/logs" "$IMAGE-models" \
  python3 /e2e/unseen_pt2.py /logs/unseen >"$LOGS/image-unseen-export.log" 2>&1 \
  || { cat "$LOGS/image-unseen-export.log" >&2; die "compiling an AOTInductor package with the image's python3-torch failed"; }
for b in 1 4; do
  $DOCKER run --rm --network host -v "$LOGS:/logs" "$IMAGE" bench --model /logs/unseen.pt2 \
    --compile inductor --batch-size "$b" --iters 30 --warmup 3 --out /logs/image-unseen.jsonl \
    >"$LOGS/image-unseen-b$b.log" 2>&1 || echo "exit $?" >>"$LOGS/image-unseen-b$b.log"
done
$DOCKER run --rm --network host -v "$LOGS:/logs" "$IMAGE" bench --model mobilenet_v3_small \
  --compile on --iters 20 --warmup 3 --out /logs/image-mobilenet.jsonl \
  >"$LOGS/image-mobilenet.log" 2>&1 || echo "exit $?" >>"$LOGS/image-mobilenet.log"
log "image checked in $(( $(date +%s) - img_start )) s (results: python3 scripts/e2e/check.py)"

# The fake API, on loopback only.
rm -f "$E2E_STATE/fakehub.url"
.tools/fakehub -repo acme/models -addr 127.0.0.1:0 -addr-file "$E2E_STATE/fakehub.url" 2>"$LOGS/fakehub.log" &
FAKEHUB_PID=$!
for _ in $(seq 1 50); do [ -s "$E2E_STATE/fakehub.url" ] && break; sleep 0.1; done
API=$(cat "$E2E_STATE/fakehub.url")
hub() { curl -sfS -X POST "$API/_fakehub/$1" -d "$2" >/dev/null; }
state() { curl -sfS "$API/_fakehub/state"; }
hub commit "{\"branch\":\"main\",\"sha\":\"$SHA\",\"files\":{\"README.md\":\"acme models\"}}"

mkdir -p "$E2E_STATE/act-home"
# act asks for a default image on its first run unless it has a config file.
echo "-P ubuntu-latest=debian:$E2E_SUITE-slim" >"$E2E_STATE/act-home/.actrc"

# run_act NAME EVENT WORKFLOW TOKEN EVENT.json: runs one workflow; its exit code is kept in
# $LOGS/NAME.rc and its log in $LOGS/NAME.log.
run_act() {
  local name=$1 event=$2 workflow=$3 token=$4 payload=$5 start rc=0
  start=$(date +%s)
  log "act $event ($name): $workflow"
  ( cd "$REPO" && HOME=$E2E_STATE/act-home "$ROOT/.tools/act" "$event" -e "$payload" \
      -W ".github/workflows/$workflow" -P ubuntu-latest="debian:$E2E_SUITE-slim" \
      --pull=false --network host --bind --no-cache-server --action-offline-mode \
      --local-repository "actions/upload-artifact@v4=$ROOT/scripts/e2e/upload-artifact" \
      --env GITHUB_API_URL="$API" --env GITHUB_SERVER_URL=https://github.com --env GITHUB_RUN_ID=4242 \
      -s GITHUB_TOKEN="$token" ) 2>&1 | stamp >"$LOGS/$name.log" || rc=$?
  echo "$rc" >"$LOGS/$name.rc"
  # From the job's start to the first configuration's result (its timed forwards done).
  local first
  first=$(grep -m1 -E '\| \[1/[0-9]+\] ' "$LOGS/$name.log" | awk '{print $1}')
  log "act $name: exit $rc in $(( $(date +%s) - start )) s; first configuration measured at ${first:-?} s after act started"
}

# stamp prefixes each line with the seconds since it started (act's own log has no times).
stamp() { python3 -u -c 'import sys, time
t = time.time()
for l in sys.stdin: sys.stdout.write("%7.2f %s" % (time.time() - t, l))'; }

pr_event() { # NUMBER HEAD_REPO HEAD_SHA BASE_SHA
  cat <<JSON
{"action":"synchronize","number":$1,
 "pull_request":{"number":$1,"state":"open","title":"e2e",
   "head":{"ref":"feature","sha":"$3","repo":{"full_name":"$2"}},
   "base":{"ref":"main","sha":"$4","repo":{"full_name":"acme/models"}}},
 "repository":{"full_name":"acme/models","default_branch":"main","private":false},
 "sender":{"login":"alice","type":"User"}}
JSON
}

# 1. push to main: the baseline is stored.
cat >"$E2E_STATE/push.json" <<JSON
{"ref":"refs/heads/main","before":"0000000000000000000000000000000000000000","after":"$SHA",
 "repository":{"full_name":"acme/models","default_branch":"main","private":false},
 "pusher":{"name":"alice"},"sender":{"login":"alice","type":"User"}}
JSON
run_act push push perf-baseline.yml e2e-write "$E2E_STATE/push.json"
state >"$LOGS/state-1.json"

# The pull requests branch off main after the baseline commit: their base (base.sha) has it.
MAIN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["branches"]["main"])' "$LOGS/state-1.json")

# 2. pull request #7, with a reviewer's comment quoting the marker already there.
hub comment '{"issue":7,"login":"alice","type":"User","body":"> <!-- perflab-gate -->\n> ### perflab gate: regression\n\nIs this real?"}'
pr_event 7 acme/models "$SHA" "$MAIN" >"$E2E_STATE/pr7.json"
run_act pr7-first pull_request perf-gate.yml e2e-write "$E2E_STATE/pr7.json"
cp "$REPO/perflab-results/summary.md" "$LOGS/pr7-first.summary.md" 2>/dev/null || true
state >"$LOGS/state-2.json"

# 3. pull request #8 from a fork: read-only token.
pr_event 8 forker/models "$SHA" "$MAIN" >"$E2E_STATE/pr8.json"
run_act fork pull_request perf-gate.yml e2e-read "$E2E_STATE/pr8.json"
state >"$LOGS/state-3.json"

# 4. pull request #7 again, against a baseline 10x faster than this machine (between two runs
#    on a loaded 2-core machine latencies drift by 2x, so a 2x faster baseline is not enough).
python3 - "$LOGS/state-3.json" >"$E2E_STATE/fast-baseline.json" <<'PY'
import json, sys
st = json.load(open(sys.argv[1]))
b = json.loads(st["commits"][st["branches"]["main"]]["files"]["baselines/cpu_vision.json"])
for e in b["entries"]:
    for r in e["runs"]:
        r["samples_ms"] = [round(s / 10, 4) for s in r["samples_ms"]]
        for k in ("latency_p50", "latency_p95", "latency_p99"):
            r[k] = r[k] / 10
        r["throughput_rps"] = r["throughput_rps"] * 10
        r.pop("other_cpus", None)  # contention unknown: the verdict must not depend on the load now
json.dump(b, sys.stdout, indent=2)
PY
python3 -c 'import json,sys; print(json.dumps({"branch":"main","sha":"'"$(printf fa57%.0s {1..10})"'","files":{"baselines/cpu_vision.json":open(sys.argv[1]).read()}}))' \
  "$E2E_STATE/fast-baseline.json" | curl -sfS -X POST "$API/_fakehub/commit" -d @- >/dev/null
pr_event 7 acme/models "$SHA" fa57fa57fa57fa57fa57fa57fa57fa57fa57fa57 >"$E2E_STATE/pr7-fast.json" # base.sha: the fast baseline's commit
rm -rf "$REPO/perflab-results"
run_act pr7-regression pull_request perf-gate.yml e2e-write "$E2E_STATE/pr7-fast.json"
state >"$LOGS/state-4.json"

# 5. A/B pull requests on a model file of the repository (perf/models.yaml: models/net.pt at
#    compile on, the base's file given by the base-models input): #9 adds a block (~30%
#    slower), #10 retrains the weights (the same speed). The first must fail with a "Where the
#    time went" section naming the added operators, the second must have none; the traces go
#    into the uploaded results (perflab-results/profiles).
$DOCKER run --rm --network host -v "$ROOT/scripts/e2e:/e2e:ro" -v "$LOGS:/logs" "$IMAGE-models" \
  python3 /e2e/ab_models.py /logs >"$LOGS/ab-models.log" 2>&1 \
  || { cat "$LOGS/ab-models.log" >&2; die "writing the A/B models with the image's python3-torch failed"; }
mkdir -p "$REPO/perf" "$REPO/models" "$REPO/base-models/models"
cat >"$REPO/perf/models.yaml" <<'YAML'
name: models
description: the repository's CNN at compile on (make e2e's A/B pull requests)
iters: 200
warmup: 10
max_seconds: 10
grid: {models: [models/net.pt], inputs: ['float32[B,3,128,128]'], batch_size: [1], threads: [1], compile: [on]}
YAML
sed -e 's|^\( *\)preset: .*|\1preset: perf/models.yaml|' -e '/^ *models: mobilenet_v3_small/d' \
  -e 's|^\( *\)quick: true|\1base-models: base-models|' \
  .github/workflows/perf-gate.yml >"$REPO/.github/workflows/perf-gate-ab.yml"
grep -q "preset: perf/models.yaml" "$REPO/.github/workflows/perf-gate-ab.yml" || die "perf-gate.yml has no preset line to point at perf/models.yaml"
cp "$LOGS/base.pt" "$REPO/base-models/models/net.pt"
for pr in 9:slow 10:twin; do
  n=${pr%%:*} kind=${pr#*:}
  cp "$LOGS/$kind.pt" "$REPO/models/net.pt"
  rm -rf "$REPO/perflab-results"
  pr_event "$n" acme/models "$SHA" "$MAIN" >"$E2E_STATE/pr$n.json"
  run_act "pr$n-$kind" pull_request perf-gate-ab.yml e2e-write "$E2E_STATE/pr$n.json"
  (cd "$REPO" && find perflab-results -type f | sort) >"$LOGS/pr$n-$kind.artifact" 2>/dev/null || true
  cp "$REPO/perflab-results/results.jsonl" "$LOGS/pr$n-$kind.results.jsonl" 2>/dev/null || true
done
state >"$LOGS/state-5.json"

# 6. The inductor Action (inductor/action.yml, its image built from the Dockerfile's inductor
#    target) compiles an unseen model's torch.export program, then hits its compile cache
#    on a second run (scripts/e2e/inductor.sh; checked by scripts/e2e/check_inductor.py).
source scripts/e2e/inductor.sh

log "checking the runs ($(elapsed) so far)"
inductor_rc=0
python3 scripts/e2e/check_inductor.py "$LOGS" || inductor_rc=$?
python3 scripts/e2e/check.py "$LOGS"
[ "$inductor_rc" = 0 ] || die "the inductor Action's checks failed (above)"
