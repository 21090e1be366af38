#!/usr/bin/env bash
# Measures the Action image's cold start (docs/image.md, "Cold start"): the image saved to a
# tarball and removed from the daemon, then `docker load` (standing in for the pull: no
# registry here) and `docker run IMAGE bench` of the built-in mobilenet_v3_small with one
# timed forward and no warm-up, from the `docker run` call to the first output line (the
# bench's result, printed right after its timed forward) and to the container's exit.
#   flock /tmp/perflab-timing.lock bash scripts/e2e/cold-start.sh [IMAGE]   (default perflab:dev)
# The loaded layers are in the page cache afterwards, as they are on a runner right after a
# pull. The image keeps its tags (removed, then given back after the load).
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/e2e/lib.sh
trap e2e_stop_dockerd EXIT
e2e_dockerd
image=${1:-perflab:dev}
$DOCKER image inspect "$image" >/dev/null 2>&1 || die "no $image: run make image first"
tags=$($DOCKER image inspect -f '{{range .RepoTags}}{{.}} {{end}}' "$image")
size=$($DOCKER image inspect -f '{{.Size}}' "$image")
tar=$E2E_STATE/cold-start.tar
echo "load before: $(uptime)"
$DOCKER save -o "$tar" "$image"
echo "image $image: $size bytes (docker image inspect); saved tarball $(stat -c %s "$tar") bytes"
# shellcheck disable=SC2086
$DOCKER rmi $tags >/dev/null
t0=$(date +%s.%N)
$DOCKER load -i "$tar" >/dev/null
t1=$(date +%s.%N)
rm -f "$tar"
for t in $tags; do $DOCKER tag "$image" "$t" 2>/dev/null || true; done
echo "docker load: $(python3 -c "print(round($t1 - $t0, 2))") s"
$DOCKER run --rm --network host "$image" bench --model mobilenet_v3_small --iters 1 --warmup 0 2>&1 |
  python3 -u -c '
import sys, time
t0 = float(sys.argv[1])
first = None
for l in sys.stdin:
    if first is None:
        first = time.time() - t0
        print("docker run -> first output (the bench result, after its timed forward): %.2f s" % first)
    sys.stderr.write("  | " + l)
print("docker run -> container exited: %.2f s" % (time.time() - t0))
' "$(date +%s.%N)"
echo "load after: $(uptime)"
