# shellcheck shell=bash disable=SC2317 # helpers called through wait_for/check
# Scenario 8: nodes provisioned by the Foreman/Satellite snippet. Each node's /etc/fleetnode.toml
# (+ /etc/fleetnode.d/) is what `tests/foreman/render.sh` writes for the "static" parameter set,
# with the host name, address, peers and metadata adapted to the test bridge. Without fleet a
# drop-in /etc/fleetnode.d/90-no-fleet.toml adds `[fleet] enabled = false` (merging on top of the
# snippet's file). The nodes boot into a healthy cluster.
scenario_08_foreman() {
    local nodes=(fn-node1 fn-node2 fn-node3) n
    local render=$FN_REPO/tests/foreman/render.sh params=$FN_REPO/tests/foreman/params/static.yaml
    if ! command -v ruby >/dev/null || [ ! -x "$render" ] || [ ! -f "$params" ]; then
        fail "tests/foreman/render.sh, its static parameter set or ruby missing (tests/foreman/deps.sh)"
        return
    fi
    local peers="fn-node1=$FN_SUBNET.11,fn-node2=$FN_SUBNET.12,fn-node3=$FN_SUBNET.13"
    local d=$FN_RESULTS/$FN_SCENARIO ip yaml out
    for n in "${nodes[@]}"; do
        ip=$(node_ip "$n")
        yaml=$d/$n-params.yaml
        # The static set with this node's identity (host.name/ip are Foreman's host facts).
        sed -e "s/^  name: .*/  name: $n.fleet.test/" -e "s/^  ip: .*/  ip: $ip/" \
            -e "s/^  fleetnode_peers: .*/  fleetnode_peers: \"$peers\"/" \
            -e "s/^  fleetnode_metadata: .*/  fleetnode_metadata: \"$(node_meta_flat "$n")\"/" \
            -e '/^expect_/,$d' "$params" >"$yaml"
        if ! out=$("$render" "$yaml" "$d/$n-tree" 2>"$d/$n-render.err"); then
            fail "$n: render.sh static: $(tail -3 "$d/$n-render.err")"
            return
        fi
        make_node "$n" "$ip" "$(cat "$d/$n-tree/etc/fleetnode.toml")"
        if [ -d "$d/$n-tree/etc/fleetnode.d" ]; then
            cp -a "$d/$n-tree/etc/fleetnode.d/." "$(node_root "$n")/etc/fleetnode.d/"
        fi
        if ! fleet_available; then
            mkdir -p "$(node_root "$n")/etc/fleetnode.d"
            printf '[fleet]\nenabled = false\n' >"$(node_root "$n")/etc/fleetnode.d/90-no-fleet.toml"
        fi
        log "$n: config from the Foreman snippet: $(echo "$out" | sed "s|$d/$n-tree||" | paste -sd ' ')"
    done
    sed 's/^/    fn-node1 \/etc\/fleetnode.toml: /' "$(node_root fn-node1)/etc/fleetnode.toml"
    boot_all "${nodes[@]}" || return
    for n in "${nodes[@]}"; do
        check "$n: fleetnode check accepts the snippet's configuration" in_node "$n" fleetnode check
    done
    check_etcd_cluster fn-node1 3 "${nodes[@]}"
    local names
    names=$(etcdctl3 fn-node1 member list 2>/dev/null | awk -F', ' '{print $3}' | sort | paste -sd ' ')
    check "member names come from the Foreman host names ($names)" test "$names" = "fn-node1 fn-node2 fn-node3"
    check_no_fleet_units "${nodes[@]}"
    check_fleet_machines fn-node1 3 "${nodes[@]}"
    check_health_cli "${nodes[@]}"
    check_failed_empty "${nodes[@]}"
}
