#!/usr/bin/env bash
# Print a directory whose `node` is the Node.js release line asked for (default 24, the LTS the
# suite runs on): the machine's own node when it is that line (22 also needs >= 22.19), else the
# official binary that the npm registry's `node` package ships, installed once into .node/LINE.
#   PATH="$(bash scripts/node.sh 24):$PATH"
set -euo pipefail
cd "$(dirname "$0")/.."
line="${1:-24}"
fits() {
  local v
  v=$("$1" -p 'process.versions.node' 2>/dev/null) || return 1
  local major=${v%%.*} rest=${v#*.}
  local minor=${rest%%.*}
  [ "$major" = "$line" ] && { [ "$major" != 22 ] || [ "$minor" -ge 19 ]; }
}
if command -v node >/dev/null 2>&1 && fits "$(command -v node)"; then
  dirname "$(command -v node)"
  exit 0
fi
dir="$PWD/.node/$line"
if ! fits "$dir/node_modules/.bin/node"; then
  echo "node.sh: installing Node $line from the npm registry's node package into $dir" >&2
  mkdir -p "$dir"
  [ -f "$dir/package.json" ] || echo '{"private":true}' >"$dir/package.json"
  spec="node@$line"
  [ "$line" = 22 ] && spec="node@>=22.19 <23"
  (cd "$dir" && npm install --no-audit --no-fund --loglevel=error "$spec" >&2)
fi
echo "$dir/node_modules/.bin"
