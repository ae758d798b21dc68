# shellcheck shell=bash disable=SC2317 # helpers called through wait_for/check
# Scenario 6: a role = "client" fourth node runs fleet only, against the three members.
scenario_06_client() {
    local members=(fn-node1 fn-node2 fn-node3) client=fn-node4 n
    # A client runs fleet only: without fleet there is nothing to boot it for.
    if ! fleet_available; then skip_fleet "$client: role = client node (runs fleet only)"; return; fi
    for n in "${members[@]}"; do make_static_member "$n"; done
    local ip
    ip=$(node_ip "$client")
    make_node "$client" "$ip" "$(cat <<TOML
[node]
name = "$client"
address = "$ip"

[etcd]
role = "client"
endpoints = ["http://$FN_SUBNET.11:2379", "http://$FN_SUBNET.12:2379", "http://$FN_SUBNET.13:2379"]

[fleet]
metadata = { $(node_meta "$client") }
TOML
)"
    boot_all "${members[@]}" "$client" || return
    check_etcd_cluster fn-node1 3 "${members[@]}"

    local gen
    gen=$(in_node "$client" ls /run/systemd/generator 2>/dev/null | paste -sd ' ')
    check "$client: generator wrote fleet.service and fleet.socket, no etcd.service ($gen)" \
        eval '[[ " $gen " == *" fleet.service "* && " $gen " == *" fleet.socket "* && " $gen " != *" etcd.service "* ]]'
    local procs
    procs=$(in_node "$client" pgrep -l -x etcd 2>/dev/null)
    check "$client: no etcd process" test -z "$procs"
    local count
    count=$(etcdctl3 fn-node1 member list 2>/dev/null | grep -c .)
    check "etcd still has 3 members, the client is none ($count)" test "$count" = 3
    _fleet_active() { [ "$(in_node "$client" systemctl is-active fleet.service)" = active ]; }
    check "$client: fleet.service active" wait_for 60 _fleet_active
    local env
    env=$(in_node "$client" systemctl show -p Environment fleet.service 2>/dev/null)
    check "$client: fleet uses the members' endpoints ($(grep -oE 'FLEET_ETCD_SERVERS=[^ ]*' <<<"$env"))" \
        grep -q "FLEET_ETCD_SERVERS=http://$FN_SUBNET.11:2379,http://$FN_SUBNET.12:2379,http://$FN_SUBNET.13:2379" <<<"$env"
    check_fleet_machines "$client" 4 "${members[@]}" "$client"
    check_failed_empty "${members[@]}" "$client"
}
