#!/usr/bin/env bash
# Measures, under act, how long a job using the prebuilt image takes from its start to the
# action's first timed forward: act runs perf-baseline.yml (workflow_dispatch on a branch
# that is not the default one: sweep and report only, no API) with the image make e2e built
# (perflab:dev, standing in for the pulled ghcr.io image; the pull itself is not measured),
# and the script stops it once the first configuration is measured.
#   flock /tmp/perflab-timing.lock bash scripts/e2e/first-forward.sh
# Prints: job start -> action container started, -> sweep started, -> first configuration
# measured (its warm-up and timed forwards done); the first timed forward lies between the
# last two, after the bench process's ~0.9 s start and its warm-up.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
source scripts/e2e/lib.sh
IMAGE=perflab:dev
$DOCKER image inspect "$IMAGE" >/dev/null 2>&1 || die "no $IMAGE: run make image (or make e2e) first"
REPO=$E2E_STATE/first-forward
rm -rf "$REPO"; mkdir -p "$REPO/.github/workflows"
sed "s|^  image: .*|  image: docker://$IMAGE|" action.yml >"$REPO/action.yml"
cp .github/workflows/perf-baseline.yml "$REPO/.github/workflows/"
git -C "$REPO" init -q -b dev
git -C "$REPO" -c user.name=e2e -c user.email=e2e@example.com add -A
git -C "$REPO" -c user.name=e2e -c user.email=e2e@example.com commit -q -m first-forward
git -C "$REPO" remote add origin https://github.com/acme/models.git
echo '{"ref":"refs/heads/dev","repository":{"full_name":"acme/models","default_branch":"main"}}' >"$E2E_STATE/dispatch.json"
log=$E2E_STATE/first-forward.log
echo "load before: $(uptime)"
set +e +o pipefail  # act dies of SIGPIPE once the first configuration is read: expected
( cd "$REPO" && HOME=$E2E_STATE/act-home exec "$ROOT/.tools/act" workflow_dispatch -e "$E2E_STATE/dispatch.json" \
    -W .github/workflows/perf-baseline.yml -P ubuntu-latest="debian:$E2E_SUITE-slim" --pull=false --network host \
    --bind --no-cache-server --action-offline-mode \
    --local-repository "actions/upload-artifact@v4=$ROOT/scripts/e2e/upload-artifact" -s GITHUB_TOKEN=none ) 2>&1 |
  python3 -u -c '
import re, sys, time
t = time.time()
marks = {}
for l in sys.stdin:
    now = time.time() - t
    if "docker run image=perflab" in l and "container" not in marks: marks["container"] = now
    if "| sweep " in l and "sweep" not in marks: marks["sweep"] = now
    m = re.search(r"\| \[1/\d+\] (.*)", l)
    if m:
        print("job start -> action container started: %.1f s" % marks.get("container", -1))
        print("job start -> sweep started:            %.1f s" % marks.get("sweep", -1))
        print("job start -> first configuration done: %.1f s (%s)" % (now, m.group(1).strip()))
        sys.stdout.flush()
        break
' | tee "$log"
set -e -o pipefail
echo "load after: $(uptime)"
left=$($DOCKER ps -aq --filter name=act-perf-baseline || true)
[ -z "$left" ] || $DOCKER rm -f $left >/dev/null
