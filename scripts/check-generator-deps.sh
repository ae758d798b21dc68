#!/usr/bin/env bash
# The generator runs at every boot: it must link no async runtime, HTTP or D-Bus crate.
set -euo pipefail
cd "$(dirname "$0")/.."
tree=$(cargo tree -q -p fleetnode-generator -e normal --prefix none)
banned='^(tokio|reqwest|hyper|zbus|async-|futures|clap|tracing|nix) '
if echo "$tree" | grep -E "$banned"; then
  echo "FAIL: the generator's dependency tree holds the crates above"; exit 1
fi
echo "PASS generator dependencies: $(echo "$tree" | awk '{print $1}' | sort -u | tr '\n' ' ')"
