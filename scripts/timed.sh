#!/usr/bin/env bash
# Runs a step and prints how long it took: bash scripts/timed.sh NAME CMD...
# (the Makefile's test steps and .ci/run use it). Exit code: CMD's.
name=$1
shift
t0=$(date +%s.%N)
rc=0
"$@" || rc=$?
printf '==> %s: %.1f s%s\n' "$name" "$(echo "$(date +%s.%N) $t0" | awk '{print $1 - $2}')" "$([ $rc = 0 ] || echo " (failed: exit $rc)")" >&2
exit $rc
