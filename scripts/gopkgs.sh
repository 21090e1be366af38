#!/usr/bin/env bash
# Prints the Go packages with tests, split by whether their tests link libtorch (import
# internal/torch, directly or not): bash scripts/gopkgs.sh torch|pure. make test runs the
# pure ones while the torch ones still compile (Makefile, test-prereqs). Packages whose tests
# compare live timings with a model (internal/load: a queue's measured waits against M/D/1)
# count as torch ones: they run with the rest, not beside a compiler using both cores.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  torch) want=1 ;;
  pure) want=0 ;;
  *) echo "usage: scripts/gopkgs.sh torch|pure" >&2; exit 2 ;;
esac
# go list -test lists each package's test binary (PKG.test) with every package it links.
go list -test -f '{{.ImportPath}} {{join .Deps " "}}' ./... |
  awk -v want="$want" '$1 ~ /\.test$/ {
    torch = 0
    for (i = 2; i <= NF; i++) if ($i == "github.com/perflab/perflab/internal/torch") torch = 1
    sub(/\.test$/, "", $1)
    if ($1 == "github.com/perflab/perflab/internal/load") torch = 1
    if (torch == want) print $1
  }'
