#!/usr/bin/env bash
# Renders markdown the way GitHub shows a PR comment or a job summary (GitHub-flavoured
# markdown, Mermaid charts, folded <details>) in headless Chromium and takes screenshots at
# desktop (828 px, the width of a comment on github.com) and mobile (390 px) width:
#
#   scripts/render/render.sh OUT_DIR FILE.md...      -> OUT_DIR/NAME-desktop.png, NAME-mobile.png
#
# e.g. after make e2e: scripts/render/render.sh /tmp/shots /var/tmp/perflab-e2e/logs/*.comment.md
# Installs Debian's chromium and fonts (apt) and marked + mermaid (npm, pinned) under
# /var/tmp/perflab-render the first time. The PNGs are for looking at, not for committing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: render.sh OUT_DIR FILE.md...}; shift
(($#)) || { echo "render: no markdown file given" >&2; exit 2; }
cache=/var/tmp/perflab-render
mkdir -p "$out" "$cache"

missing=()
for p in chromium fonts-dejavu-core fonts-noto-color-emoji; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "render: installing ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ! -f "$cache/node_modules/mermaid/dist/mermaid.min.js" ] || [ ! -f "$cache/node_modules/marked/lib/marked.umd.js" ]; then
  echo "render: npm install marked mermaid" >&2
  npm install --silent --no-audit --no-fund --prefix "$cache" marked@15.0.12 mermaid@11.4.1 >/dev/null
fi

for md in "$@"; do
  name=$(basename "$md" .md)
  html=$out/$name.html
  node "$here/page.js" "$md" "$cache/node_modules" >"$html"
  for view in desktop:828 mobile:390; do
    w=${view#*:}
    chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --force-device-scale-factor=1 \
      --virtual-time-budget=15000 --window-size="$w,2400" \
      --screenshot="$out/$name-${view%%:*}.png" "file://$html" >/dev/null 2>&1
    echo "$out/$name-${view%%:*}.png"
  done
done
