#!/bin/bash
# Real-boot cluster tests: boots Debian bookworm nodes with systemd-nspawn on a private bridge
# (fn-br0, no uplink), installs fleetnode's RPMs from dist/rpms, and checks etcd and fleet.
#
#   tests/cluster/run.sh [SCENARIO...]    all scenarios, or some: 01 03 04 06 (prefixes)
#   tests/cluster/run.sh --list           the scenarios
#   tests/cluster/run.sh --cleanup        remove what a crashed run left (fn-* nodes, bridge)
#
# Needs root, tests/cluster/deps.sh, and the RPMs in FN_RPM_DIR (tests/cluster/build-rpms.sh, or
# make rpm; `make test-cluster` does all of it). fleet steps need a fleet RPM (or, with
# FN_PAYLOAD=binaries, FLEET_TARBALL / FLEET_BIN_DIR); without, the nodes get
# `[fleet] enabled = false` and the fleet steps are SKIP.
# Output: PASS/FAIL/SKIP lines; journals and consoles in results/cluster/<scenario>/.
# Exit status: 0 when nothing failed, 1 otherwise. See lib.sh for the environment.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
for f in "$HERE"/scenarios/*.sh; do
    # shellcheck disable=SC1090
    source "$f"
done

[ "$(id -u)" = 0 ] || die "run.sh must run as root (systemd-nspawn, bridges, mounts)"

all=$(declare -F | awk '{print $3}' | grep '^scenario_' | sort)
case ${1:-} in
--list) sed 's/^scenario_//' <<<"$all"; exit 0 ;;
--cleanup) cleanup_leftovers; ip link del "$FN_BRIDGE" 2>/dev/null; exit 0 ;;
-h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d'; exit 0 ;;
esac

selected=()
if [ $# -eq 0 ]; then
    mapfile -t selected <<<"$all"
else
    for a in "$@"; do
        m=$(grep "^scenario_$a" <<<"$all") || die "no scenario matches '$a' (--list)"
        mapfile -t -O "${#selected[@]}" selected <<<"$m"
    done
fi

for cmd in systemd-nspawn debootstrap nsenter ip rpm journalctl; do
    command -v "$cmd" >/dev/null || die "$cmd not found: run tests/cluster/deps.sh"
done
if [ "$FN_PAYLOAD" = rpm ]; then
    compgen -G "$FN_RPM_DIR/*.rpm" >/dev/null || die "no RPMs in $FN_RPM_DIR: run tests/cluster/build-rpms.sh (or make test-cluster)"
    log "payload: RPMs from $FN_RPM_DIR: $(cd "$FN_RPM_DIR" && printf '%s ' ./*.rpm)"
else
    log "payload: binaries from $FN_BIN_DIR + host etcd (development fallback, not the RPMs)"
fi
fleet_available && log "fleet: available" || log "fleet: SKIP ($(fleet_skip_reason))"

mkdir -p "$FN_RESULTS"
: >"$FN_RESULTS/summary.txt"
fn_install_traps
t0=$SECONDS
build_rootfs
for s in "${selected[@]}"; do
    run_scenario "${s#scenario_}" "$s"
done
echo "TOTAL: $FN_PASS passed, $FN_FAIL failed, $FN_SKIP skipped in $((SECONDS - t0))s" | tee -a "$FN_RESULTS/summary.txt"
[ "$FN_FAIL" = 0 ]
