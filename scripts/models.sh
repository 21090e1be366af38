#!/usr/bin/env bash
# Exports the built-in models into OUT (default models/exported) with models/export.py, or
# copies them from the export cache when the same inputs were exported before: the cache
# key is export.py's SHA-256 and the torch and torchvision versions (weights are seeded, so
# the same inputs give the same files). Run by `make models` (and so by make test and
# make demo); quick when OUT already holds that key's export.
#   PYTHON=/usr/bin/python3 bash scripts/models.sh [OUT]
# The cache: $PERFLAB_MODEL_CACHE, default ${XDG_CACHE_HOME:-~/.cache}/perflab/models, one
# folder per key (a CI can keep it between runs, e.g. actions/cache keyed by the same
# inputs). PERFLAB_MODEL_CACHE=off exports every time the key changes and keeps no copy.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-models/exported}
python=${PYTHON:-/usr/bin/python3}
cache=${PERFLAB_MODEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/perflab/models}

# The torch and torchvision versions: dpkg's answer for Debian's python3 (milliseconds),
# else the interpreter's own (importing torch takes seconds).
versions=""
if [ "$python" = /usr/bin/python3 ]; then
  versions=$(dpkg-query -W -f='${Package}=${Version} ' python3-torch python3-torchvision 2>/dev/null || true)
fi
case "$versions" in
  *python3-torch=?*python3-torchvision=?*) ;;
  *) versions=$("$python" -c 'import torch, torchvision; print("torch=" + torch.__version__, "torchvision=" + torchvision.__version__)') ;;
esac
key=$( (sha256sum models/export.py | cut -d' ' -f1; echo "$versions") | sha256sum | cut -c1-16)

if [ "$(cat "$out/.export-key" 2>/dev/null)" = "$key" ]; then
  exit 0
fi
if [ "$cache" != off ] && [ -s "$cache/$key/.export-key" ]; then
  echo "models: $out from the export cache ($cache/$key: same export.py, $versions)"
  rm -rf "$out"
  mkdir -p "$(dirname "$out")"
  cp -a "$cache/$key" "$out"
  exit 0
fi
echo "models: exporting into $out ($versions)"
rm -rf "$out"
"$python" models/export.py --out "$out"
echo "$key" >"$out/.export-key"
if [ "$cache" != off ]; then
  mkdir -p "$cache"
  rm -rf "$cache/$key.tmp"
  cp -a "$out" "$cache/$key.tmp"
  rm -rf "$cache/$key"
  mv "$cache/$key.tmp" "$cache/$key"
fi
