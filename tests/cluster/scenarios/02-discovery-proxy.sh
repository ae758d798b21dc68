# shellcheck shell=bash disable=SC2317 # helpers called through wait_for/check
# Scenario 2: discovery behind a proxy. A discovery service (Debian's discovery.etcd.io backed by
# its own etcd) on fn-br1, which the nodes (fn-br0 only) reach solely through tinyproxy on a
# host on both bridges. The nodes get the token URL (`fleetnode discovery new`) and [proxy] with
# the node subnet in no_proxy; the cluster forms; the proxy log shows the discovery requests
# from every node and no peer traffic.
scenario_02_discovery_proxy() {
    local nodes=(fn-node1 fn-node2 fn-node3) n
    need_discovery_tools || return
    if ! make_discovery_env; then
        fail "discovery host / proxy host did not come up (logs: $FN_RESULTS/$FN_SCENARIO/)"
        return
    fi
    pass "discovery.etcd.io on $FN_DISC_URL (fn-br1), tinyproxy on $FN_PROXY_URL (fn-br0 + fn-br1)"
    local url
    discovery_new 3 url || return
    pass "fleetnode discovery new --size 3: $url"
    local token=${url##*/}
    make_discovery_members "$url" "${nodes[@]}"
    local t0=$SECONDS
    boot_all "${nodes[@]}" || return
    # The isolation this scenario relies on: no direct way to the discovery host.
    check "fn-node1 cannot reach $FN_DISC_URL directly (no route)" \
        eval '! in_node fn-node1 curl -s --noproxy "*" --max-time 3 -o /dev/null "$FN_DISC_URL/"'
    if wait_etcd_members fn-node1 3 120; then
        pass "cluster formed through discovery + proxy: 3 started members $((SECONDS - t0))s after boot"
        etcdctl3 fn-node1 member list 2>&1 | sed 's/^/    /'
    else
        fail "discovery cluster: $(started_members fn-node1) started members after 120s"
        for n in "${nodes[@]}"; do debug_node "$n"; done
    fi
    local size
    size=$(ip netns exec fn-disc curl -sf --max-time 5 "$url" |
        python3 -c 'import json,sys; print(len([x for x in json.load(sys.stdin)["node"].get("nodes",[]) if not x["key"].endswith("/_config")]))' 2>/dev/null)
    check "the discovery token lists 3 registered members ($size)" test "$size" = 3
    check_health_cli "${nodes[@]}"
    check_fleet_machines fn-node1 3 "${nodes[@]}"

    local plog=$FN_RESULTS/$FN_SCENARIO/tinyproxy.log reqs
    reqs=$(grep -E 'Request \(file descriptor [0-9]+\): ' "$plog" | sed 's/.*Request (file descriptor [0-9]*): //')
    echo "$reqs" | sort | uniq -c | sort -rn | head -8 | sed 's/^/    proxy: /'
    check "proxy log: discovery requests for the token ($(grep -c "$token" <<<"$reqs") requests)" \
        grep -q "GET $FN_DISC_URL/$token" <<<"$reqs"
    for n in "${nodes[@]}"; do
        check "proxy log: connections from $n ($(node_ip "$n"))" \
            grep -qE "Connect \(file descriptor [0-9]+\): .*\b$(node_ip "$n" | sed 's/\./\\./g')\b" "$plog"
    done
    local peer
    peer=$(grep -E "$FN_SUBNET\.|:2380|:2379" <<<"$reqs" | head -3)
    check "proxy log: no peer traffic (no request to a node address or :2379/:2380)${peer:+: $peer}" test -z "$peer"
    check_failed_empty "${nodes[@]}"
}
