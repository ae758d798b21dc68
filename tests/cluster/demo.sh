#!/bin/bash
# shellcheck disable=SC2034 # FN_* globals are read by lib.sh
# Demo: boots the static 3-node cluster (systemd-nspawn, fleetnode's RPMs; fleet when a fleet
# RPM is in FN_RPM_DIR), prints what an operator checks, and leaves the cluster RUNNING.
#
#   tests/cluster/demo.sh            boot and show (make demo-cluster; the RPMs must exist)
#   tests/cluster/demo.sh --down     power the demo nodes off, save journals, remove everything
#                                    (make demo-down)
#
# Same environment as tests/cluster/run.sh (lib.sh): FN_RPM_DIR, FN_PAYLOAD, FLEET_TARBALL...
# On failure or Ctrl-C during the boot, everything is torn down again.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
# shellcheck source=scenarios/common.sh
source "$HERE/scenarios/common.sh"

[ "$(id -u)" = 0 ] || die "demo.sh must run as root"
FN_SCENARIO=demo
case ${1:-} in
--down)
    adopt_running
    log "demo-down: powering off ${FN_NODES[*]:-no running demo nodes}"
    teardown
    cleanup_leftovers
    ip link del "$FN_BRIDGE" 2>/dev/null
    log "demo-down: done (journals: $FN_RESULTS/demo/)"
    exit 0
    ;;
"") ;;
*) sed -n '2,/^set -uo/p' "$0" | sed '$d'; exit 2 ;;
esac
[ "$FN_PAYLOAD" != rpm ] || compgen -G "$FN_RPM_DIR/*.rpm" >/dev/null ||
    die "no RPMs in $FN_RPM_DIR: run make demo-cluster (builds them) or make rpm"

FN_KEEP=0
FN_DETACH=1
rm -rf "${FN_RESULTS:?}/demo"
mkdir -p "$FN_RESULTS/demo"
fn_install_traps
cleanup_leftovers
build_rootfs
make_bridge
nodes=(fn-node1 fn-node2 fn-node3)
for n in "${nodes[@]}"; do make_static_member "$n" 2>/dev/null; done
t0=$SECONDS
boot_all "${nodes[@]}" || die "nodes did not boot (consoles: $FN_RESULTS/demo/)"
wait_etcd_members fn-node1 3 90 || die "etcd cluster did not form (journals: $FN_RESULTS/demo/)"
_healthy() { in_node "$1" fleetnode health >/dev/null 2>&1; }
for n in "${nodes[@]}"; do wait_for 60 _healthy "$n" || die "$n: fleetnode health does not pass"; done
up=$((SECONDS - t0))
if fleet_available; then wait_for 60 _fleet_count_eq fn-node1 3; fi

section() { printf '\n==== %s\n' "$*"; }
section "3 nodes booted; etcd cluster formed and fleetnode health passing on all ${up}s after start"
for n in "${nodes[@]}"; do
    section "$n: systemctl --failed"
    in_node "$n" systemctl --failed --no-pager
done
section "fn-node1: fleetctl list-machines --full"
if fleet_available; then
    in_node fn-node1 fleetctl list-machines --full
else
    echo "SKIP ($(fleet_skip_reason)): the nodes run with [fleet] enabled = false"
fi
section "fn-node1: ETCDCTL_API=3 etcdctl member list -w table"
etcdctl3 fn-node1 member list -w table
leader=$(find_leader "${nodes[@]}")
section "${leader% *}: curl http://127.0.0.1:2379/v2/stats/leader (the leader; ${leader#* } followers)"
in_node "${leader% *}" curl -s --max-time 5 http://127.0.0.1:2379/v2/stats/leader | python3 -m json.tool
section "fn-node1: fleetnode status"
in_node fn-node1 fleetnode status
section "fn-node1: /etc/fleetnode.toml"
cat "$(node_root fn-node1)/etc/fleetnode.toml"

section "The cluster is RUNNING (bridge $FN_BRIDGE, $FN_SUBNET.0/24, no uplink)"
echo "Enter a node (machinectl does not see them: systemd-nspawn --register=no):"
for n in "${nodes[@]}"; do
    printf '  %-9s %s   nsenter -t %s -a /bin/bash -l\n' "$n" "$(node_ip "$n")" "$(node_pid1 "$n")"
done
echo "Inside: systemctl status etcd fleet; fleetnode health; fleetnode status; journalctl -u etcd"
echo "Tear down: make demo-down   (or: tests/cluster/demo.sh --down)"
FN_KEEP=1 # the EXIT trap leaves the nodes running
trap - INT TERM
exit 0
