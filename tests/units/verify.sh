#!/usr/bin/env bash
# systemd-analyze verify on every generated unit: each golden case's expected output, and the
# generator's real output for every shipped example in etc/examples/.
#
# The units are checked inside a throwaway root (--root) that holds a copy of this host's
# systemd units and stub executables for etcd, fleetd and fleetnode, so the check needs none
# of them installed. Any message from systemd-analyze counts as a failure: it reports unknown
# keys and bad values as warnings with exit status 0.
set -euo pipefail
cd "$(dirname "$0")/../.."
GEN=${GEN:-target/debug/fleetnode-generator}
[ -x "$GEN" ] || { echo "build the generator first (cargo build -p fleetnode-generator)"; exit 2; }
command -v systemd-analyze >/dev/null || { echo "FAIL: systemd-analyze is missing (apt-get install systemd)"; exit 1; }

work=$(mktemp -d /tmp/fleetnode-verify.XXXXXX)
trap 'rm -rf "$work"' EXIT
sysunits=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || echo /lib/systemd/system)

make_root() {   # $1 = root; a fresh root with system units and stub binaries
  mkdir -p "$1/usr/lib/systemd" "$1/usr/bin" "$1/etc/systemd/system"
  cp -a "$sysunits" "$1/usr/lib/systemd/system"
  for b in etcd fleetd fleetnode install cat false; do
    printf '#!/bin/sh\nexit 0\n' > "$1/usr/bin/$b"; chmod +x "$1/usr/bin/$b"
  done
}

fail=0 checked=0
verify_dir() {  # $1 = label, $2 = directory of generated units
  local root="$work/root" units=()
  if [ ! -d "$2" ]; then echo "SKIP $1: no output (unconfigured)"; return; fi
  rm -rf "$root"; make_root "$root"
  cp -a "$2/." "$root/etc/systemd/system/"
  for f in "$2"/*.service "$2"/*.socket; do
    [ -e "$f" ] && units+=("$(basename "$f")")
  done
  if [ ${#units[@]} -eq 0 ]; then echo "SKIP $1: no units (unconfigured)"; return; fi
  local out
  out=$(systemd-analyze verify --man=no --root="$root" "${units[@]}" 2>&1) && [ -z "$out" ] || {
    echo "FAIL $1: systemd-analyze verify ${units[*]}"; echo "$out" | sed 's/^/    /'; fail=1; return; }
  checked=$((checked + 1))
  echo "PASS $1: ${units[*]}"
}

for case in tests/golden/*/; do
  verify_dir "golden $(basename "$case")" "$case/expected"
done

for ex in etc/examples/*.toml; do
  fx="$work/example"; rm -rf "$fx"; mkdir -p "$fx/etc" "$fx/out"
  case $(basename "$ex") in
    [0-9]*)  # a drop-in: on top of the static member example
      mkdir -p "$fx/etc/fleetnode.d"
      cp etc/examples/static-member.toml "$fx/etc/fleetnode.toml"
      cp "$ex" "$fx/etc/fleetnode.d/" ;;
    *) cp "$ex" "$fx/etc/fleetnode.toml" ;;
  esac
  SYSTEMD_LOG_TARGET=console FLEETNODE_ROOT="$fx" "$GEN" "$fx/out" "$fx/out" "$fx/out" 2>"$fx/log"
  if [ -e "$fx/out/fleetnode-config.service" ]; then
    echo "FAIL example $ex is invalid:"; sed 's/^/    /' "$fx/log"; fail=1; continue
  fi
  verify_dir "example $(basename "$ex")" "$fx/out"
done

echo "verified $checked unit sets"
exit $fail
