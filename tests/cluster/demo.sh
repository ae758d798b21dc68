#!/bin/bash
# Demo: boots a 3-node static cluster (systemd-nspawn, fleetnode's RPMs), shows etcd's member
# list, the units fleetnode-generator wrote on one node, and fleet's machines when fleet is
# available; waits for Enter (or --no-wait), then tears everything down.
#
#   tests/cluster/demo.sh [--no-wait]          (make demo)
#
# Same environment as tests/cluster/run.sh (lib.sh): FN_RPM_DIR, FN_PAYLOAD, FLEET_TARBALL...
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$HERE/lib.sh"
# shellcheck source=scenarios/common.sh
source "$HERE/scenarios/common.sh"

wait_enter=1
case ${1:-} in
--no-wait) wait_enter=0 ;;
"") ;;
*) sed -n '2,/^set -uo/p' "$0" | sed '$d'; exit 2 ;;
esac
[ -t 0 ] || wait_enter=0
[ "$(id -u)" = 0 ] || die "demo.sh must run as root"
[ "$FN_PAYLOAD" != rpm ] || compgen -G "$FN_RPM_DIR/*.rpm" >/dev/null ||
    die "no RPMs in $FN_RPM_DIR: run make rpm first"

FN_SCENARIO=demo
FN_KEEP=0
rm -rf "${FN_RESULTS:?}/demo"
mkdir -p "$FN_RESULTS/demo"
fn_install_traps
cleanup_leftovers
build_rootfs
make_bridge
nodes=(fn-node1 fn-node2 fn-node3)
t0=$SECONDS
for n in "${nodes[@]}"; do make_static_member "$n" 2>/dev/null; done
boot_all "${nodes[@]}" || die "nodes did not boot"
wait_etcd_members fn-node1 3 90 || die "etcd cluster did not form (journals: $FN_RESULTS/demo/)"
echo
echo "==== 3 nodes booted, etcd cluster formed in $((SECONDS - t0))s"
echo
echo "==== fn-node1: /etc/fleetnode.toml"
cat "$(node_root fn-node1)/etc/fleetnode.toml"
echo
echo "==== fn-node1: ETCDCTL_API=3 etcdctl member list -w table"
etcdctl3 fn-node1 member list -w table
echo
echo "==== fn-node1: units written by fleetnode-generator (systemctl cat etcd fleet fleet.socket)"
in_node fn-node1 systemctl cat etcd.service fleet.service fleet.socket
echo
if fleet_available; then
    wait_for 60 _fleet_count_eq fn-node1 3
    echo "==== fn-node1: fleetctl list-machines"
    in_node fn-node1 fleetctl list-machines
else
    echo "==== fleet: not available ($(fleet_skip_reason))"
fi
echo
echo "Nodes: ${nodes[*]} on bridge $FN_BRIDGE ($FN_SUBNET.0/24, no uplink)."
echo "Inside a node: nsenter -t \$(pgrep -P <nspawn pid>) -a bash   (nspawn PIDs: $(for n in "${nodes[@]}"; do printf '%s=%s ' "$n" "${FN_PID[$n]}"; done))"
if [ $wait_enter = 1 ]; then
    read -r -p "Press Enter to tear down the cluster... " _
fi
echo "tearing down"
