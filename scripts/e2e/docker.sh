#!/usr/bin/env bash
# Runs docker.io's client against make e2e's / make image's daemon (no bridge network; use
# --network host), starting the daemon for the call when none answers and stopping it after:
#   bash scripts/e2e/docker.sh run --rm --network host perflab:dev bench --model resnet18
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/e2e/lib.sh
trap e2e_stop_dockerd EXIT
e2e_dockerd
rc=0
$DOCKER "$@" || rc=$?
exit $rc
