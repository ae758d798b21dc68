# shellcheck shell=bash disable=SC2317 # helpers called through wait_for/check
# Scenario 4: full restart. Power off all nodes, boot them again: the cluster re-forms (etcd
# ignores the initial-cluster settings now that its data dir exists), a key written before
# (v3 and v2, fleet's API) is still there.
scenario_04_full_restart() {
    local nodes=(fn-node1 fn-node2 fn-node3) n
    for n in "${nodes[@]}"; do make_static_member "$n"; done
    boot_all "${nodes[@]}" || return
    if ! wait_etcd_members fn-node1 3 90; then
        fail "cluster did not form before the restart"
        debug_node fn-node1
        return
    fi
    local v3=before-restart-$RANDOM v2=v2-$RANDOM
    _put() { etcdctl3 fn-node1 put fn/persist "$v3" >/dev/null; }
    _put2() { in_node fn-node2 curl -sf --max-time 5 -X PUT http://127.0.0.1:2379/v2/keys/fn/persist-v2 -d value="$v2" >/dev/null; }
    if wait_for 30 _put && wait_for 30 _put2; then
        pass "wrote fn/persist=$v3 (v3 API) and /fn/persist-v2=$v2 (v2 API) before the restart"
    else
        fail "could not write the keys before the restart"
        return
    fi
    local id_before
    id_before=$(etcdctl3 fn-node1 endpoint status -w fields 2>/dev/null | awk -F' : ' '/"ClusterID"/ {print $2}')

    local t0=$SECONDS
    for n in "${nodes[@]}"; do kill -s RTMIN+4 "$(node_pid1 "$n")" 2>/dev/null; done
    local clean=1
    for n in "${nodes[@]}"; do poweroff_node "$n" 90 || clean=0; done
    check "all 3 nodes powered off in $((SECONDS - t0))s" test "$clean" = 1

    t0=$SECONDS
    boot_all "${nodes[@]}" || return
    if wait_etcd_members fn-node1 3 120; then
        pass "cluster re-formed after the full restart: 3 started members after $((SECONDS - t0))s"
    else
        fail "cluster did not re-form after the restart: $(started_members fn-node1) started members"
        for n in "${nodes[@]}"; do debug_node "$n"; done
        return
    fi
    local id_after
    id_after=$(etcdctl3 fn-node1 endpoint status -w fields 2>/dev/null | awk -F' : ' '/"ClusterID"/ {print $2}')
    check "same etcd cluster id before and after ($id_before = $id_after)" test -n "$id_before" -a "$id_before" = "$id_after"
    local got
    _get() { got=$(etcdctl3 fn-node3 get --print-value-only fn/persist 2>/dev/null) && [ -n "$got" ]; }
    wait_for 30 _get
    check "fn/persist read on fn-node3 after the restart: '$got' (want '$v3')" test "$got" = "$v3"
    got=$(in_node fn-node1 curl -sf --max-time 5 http://127.0.0.1:2379/v2/keys/fn/persist-v2 2>/dev/null | grep -o '"value":"[^"]*"')
    check "v2 key /fn/persist-v2 after the restart: $got" test "$got" = "\"value\":\"$v2\""
    check_etcd_cluster fn-node1 3 "${nodes[@]}"
    check_fleet_machines fn-node1 3 "${nodes[@]}"
    check_failed_empty "${nodes[@]}"
}
