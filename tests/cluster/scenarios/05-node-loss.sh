# shellcheck shell=bash disable=SC2317 # helpers called through wait_for/check
# Scenario 5: node loss. Kill one of three nodes (SIGKILL to its PID 1): `fleetnode health` on
# the others warns (etcd-quorum, naming the missing member) and exits 0; kill a second: the last
# node's health exits 1 (quorum lost).
scenario_05_node_loss() {
    local nodes=(fn-node1 fn-node2 fn-node3) n
    for n in "${nodes[@]}"; do make_static_member "$n"; done
    boot_all "${nodes[@]}" || return
    if ! wait_etcd_members fn-node1 3 90; then
        fail "cluster did not form: $(started_members fn-node1) started members"
        debug_node fn-node1
        return
    fi
    _h0() { health_json "$1" && [ "$HEALTH_RC" = 0 ] && [[ " $HEALTH_SUMMARY " == *" etcd-quorum=ok "* ]]; }
    for n in "${nodes[@]}"; do
        wait_for 60 _h0 "$n"
        check "$n: fleetnode health before the loss: exit $HEALTH_RC ($HEALTH_SUMMARY)" \
            test "$HEALTH_RC" = 0 -a -n "$HEALTH_SUMMARY"
    done

    local t0=$SECONDS
    check "fn-node3 killed (SIGKILL to its PID 1, systemd-nspawn gone)" kill_node fn-node3
    save_journal fn-node3
    local d
    _warns() { health_json "$1" && [ "$HEALTH_RC" = 0 ] && [[ " $HEALTH_SUMMARY " == *" etcd-quorum=warn "* ]]; }
    for n in fn-node1 fn-node2; do
        if wait_for 60 _warns "$n"; then
            d=$(health_detail etcd-quorum)
            if grep -q 'fn-node3' <<<"$d"; then
                pass "$n: fleetnode health exits 0 and warns $((SECONDS - t0))s after the loss: etcd-quorum: $d"
            else
                fail "$n: etcd-quorum warns without naming fn-node3: $d"
            fi
        else
            fail "$n: after losing fn-node3: health exit $HEALTH_RC ($HEALTH_SUMMARY), want exit 0 with etcd-quorum=warn"
            echo "$HEALTH_OUT" | sed 's/^/    /' >&2
        fi
    done

    t0=$SECONDS
    check "fn-node2 killed" kill_node fn-node2
    save_journal fn-node2
    _fails() { health_json fn-node1; [ "$HEALTH_RC" = 1 ]; }
    if wait_for 60 _fails; then
        pass "fn-node1: fleetnode health exits 1 $((SECONDS - t0))s after losing 2 of 3 ($HEALTH_SUMMARY; etcd-quorum: $(health_detail etcd-quorum))"
    else
        fail "fn-node1: after losing 2 of 3: health exit $HEALTH_RC ($HEALTH_SUMMARY), want 1"
        echo "$HEALTH_OUT" | sed 's/^/    /' >&2
    fi
    local healthy
    healthy=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["healthy"])' <<<"$HEALTH_OUT" 2>/dev/null)
    check "fn-node1: fleetnode health --json says healthy=false ($healthy)" test "$healthy" = False
}
