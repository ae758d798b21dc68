#!/usr/bin/env bash
# Renders a parameter set's configuration tree with the fleetnode_config snippet, as a
# provisioned host would have it:
#
#   tests/foreman/render.sh PARAMSET OUTDIR
#
# PARAMSET: a name in tests/foreman/params/ (static, discovery-proxy, client, ...) or a path to
# such a YAML file. Writes OUTDIR/etc/fleetnode.toml and, when the set has proxy parameters,
# OUTDIR/etc/fleetnode.d/10-proxy.toml (mode 0640), by running the rendered %post shell with
# the fleetnode_root variable set to OUTDIR. Prints the written paths on stdout.
# Exit 3 when the snippet refuses the parameters (message on stderr), 1 on other errors.
# Needs ruby (tests/foreman/deps.sh).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ $# -eq 2 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d' >&2; exit 2; }
params=$1
[ -f "$params" ] || params=$here/params/$1.yaml
[ -f "$params" ] || { echo "render.sh: no parameter set $1 (see $here/params/)" >&2; exit 2; }
mkdir -p "$2"
out=$(cd "$2" && pwd)
script=$(mktemp)
trap 'rm -f "$script"' EXIT
rc=0
ruby "$here/shim.rb" render "$params" fleetnode_config --var "fleetnode_root=$out" >"$script" || rc=$?
[ "$rc" -eq 0 ] || exit "$rc"
bash "$script" >&2
find "$out/etc" -name '*.toml' -type f | sort
