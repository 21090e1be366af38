# make e2e, step 6 (issue 23): the inductor Action (inductor/action.yml) under act, on a
# repository holding a model perflab has never seen as a torch.export program
# (models/unseen.pt2, torch.export.save) beside its TorchScript twin (models/unseen.pt).
# Sourced by run.sh after the other act runs (it uses run.sh's IMAGE, ROOT, E2E_STATE, LOGS,
# API, stamp and log). Builds the inductor image (the Dockerfile's inductor target) as
# $IMAGE-inductor, points the repository's inductor/action.yml at it, and runs the
# workflow twice, as two pull requests' checks would run with actions/cache restoring the
# compile cache: PERFLAB_AOTI_CACHE is .perflab-aoti in the workspace (docs/runtimes.md),
# kept between the runs (act --bind: the workspace is the repository folder). The first run
# compiles the program (compile_cache miss), the second finds it (hit); scripts/e2e/
# check_inductor.py checks the records and prints both runs' times.
inductor_e2e() {
  local img=$IMAGE-inductor irepo=$E2E_STATE/repo-inductor start
  start=$(date +%s)
  E2E_TARGET=inductor bash scripts/e2e/build-image.sh "$img"
  rm -rf "$irepo"; mkdir -p "$irepo/inductor" "$irepo/models" "$irepo/perf" "$irepo/.github/workflows"
  sed "s|^  image: .*|  image: docker://$img|" inductor/action.yml >"$irepo/inductor/action.yml"
  grep -q "image: docker://$img" "$irepo/inductor/action.yml" || die "inductor/action.yml has no runs.image line to point at $img"
  $DOCKER run --rm --network host -v "$ROOT/scripts/e2e:/e2e:ro" -v "$irepo/models:/out" "$IMAGE-models" \
    python3 /e2e/unseen_pt2.py /out/unseen --program >"$LOGS/inductor-export.log" 2>&1 \
    || { cat "$LOGS/inductor-export.log" >&2; die "exporting the unseen model's torch.export program failed"; }
  cat >"$irepo/perf/unseen.yaml" <<'YAML'
name: unseen_inductor
description: a model perflab has never seen, TorchScript (off) and its torch.export program compiled by perflab (inductor)
iters: 40
warmup: 3
max_seconds: 3
grid:
  models: [models/unseen.pt]
  inputs: ['float32[B,3,40,40]']
  batch_size: [1, 4]
  threads: [1]
  compile: [off, inductor]
YAML
  cat >"$irepo/.github/workflows/perf-inductor.yml" <<'YAML'
name: perf-inductor
on: push
jobs:
  perf:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      # In a real workflow, before this step: actions/cache@v4 with path .perflab-aoti
      # (docs/runtimes.md); here act's --bind keeps the folder between the two runs.
      - id: perf
        uses: ./inductor
        env:
          PERFLAB_AOTI_CACHE: .perflab-aoti
        with:
          preset: perf/unseen.yaml
          comment: false
          update-baseline: false
          ab: false
      - run: echo "verdict ${{ steps.perf.outputs.verdict }}, results ${{ steps.perf.outputs.results }}"
YAML
  git -C "$irepo" init -q -b main
  git -C "$irepo" -c user.name=e2e -c user.email=e2e@example.com add -A
  git -C "$irepo" -c user.name=e2e -c user.email=e2e@example.com commit -q -m "acme/models: a torch.export program"
  git -C "$irepo" remote add origin https://github.com/acme/models.git
  local sha; sha=$(git -C "$irepo" rev-parse HEAD)
  cat >"$E2E_STATE/push-inductor.json" <<JSON
{"ref":"refs/heads/main","before":"0000000000000000000000000000000000000000","after":"$sha",
 "repository":{"full_name":"acme/models","default_branch":"main","private":false},
 "pusher":{"name":"alice"},"sender":{"login":"alice","type":"User"}}
JSON
  local name t0 rc
  for name in inductor-first inductor-cached; do
    rm -rf "$irepo/perflab-results"
    log "act push ($name): the inductor Action on models/unseen.pt2"
    t0=$(date +%s); rc=0
    ( cd "$irepo" && HOME=$E2E_STATE/act-home "$ROOT/.tools/act" push -e "$E2E_STATE/push-inductor.json" \
        -W .github/workflows/perf-inductor.yml -P ubuntu-latest="debian:$E2E_SUITE-slim" \
        --pull=false --network host --bind --no-cache-server --action-offline-mode \
        --env GITHUB_API_URL="$API" --env GITHUB_SERVER_URL=https://github.com --env GITHUB_RUN_ID=4343 \
        -s GITHUB_TOKEN=e2e-read ) 2>&1 | stamp >"$LOGS/$name.log" || rc=$?
    echo "$rc" >"$LOGS/$name.rc"
    echo "$(( $(date +%s) - t0 ))" >"$LOGS/$name.seconds"
    cp "$irepo/perflab-results/results.jsonl" "$LOGS/$name.jsonl" 2>/dev/null || true
    ls "$irepo/.perflab-aoti" >"$LOGS/$name.cache-entries" 2>/dev/null || true
    log "act $name: exit $rc in $(cat "$LOGS/$name.seconds") s"
  done
  log "inductor Action checked in $(( $(date +%s) - start )) s"
}
inductor_e2e
