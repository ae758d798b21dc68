# shellcheck shell=bash disable=SC2317 # helpers called through wait_for/check
# Scenario 1: static 3-node cluster with region/az metadata per node.
scenario_01_static() {
    local nodes=(fn-node1 fn-node2 fn-node3) n
    for n in "${nodes[@]}"; do make_static_member "$n"; done
    boot_all "${nodes[@]}" || return
    check_etcd_cluster fn-node1 3 "${nodes[@]}"
    check_fleet_machines fn-node1 3 "${nodes[@]}"
    check_no_fleet_units "${nodes[@]}"
    check_fleet_hello fn-node1 "${nodes[@]}"
    check_fleet_remote "${nodes[@]}"
    check_health_cli "${nodes[@]}"
    check_health_unit "${nodes[@]}"
    check_failed_empty "${nodes[@]}"
}
