# shellcheck shell=bash disable=SC2317 # helpers called through wait_for/check
# Scenario 3: an invalid config on one of three nodes. That node shows fleetnode-config.service
# failed with the diagnostic (file:line:col) and runs no etcd or fleet; the other two keep quorum.
scenario_03_invalid_config() {
    local good=(fn-node1 fn-node2) bad=fn-node3 n
    for n in "${good[@]}"; do make_static_member "$n"; done
    # A typo an admin makes: "adress". The generator must name file, line and column.
    make_node "$bad" "$(node_ip "$bad")" "$(member_toml "$bad" "$(node_ip "$bad")" "$FN_STATIC_PEERS" |
        sed 's/^address = /adress = /')"
    boot_all "${good[@]}" "$bad" || return

    local out
    _cfg_failed() { [ "$(in_node "$bad" systemctl is-failed fleetnode-config.service)" = failed ]; }
    if wait_for 30 _cfg_failed; then
        pass "$bad: fleetnode-config.service failed"
    else
        fail "$bad: fleetnode-config.service is $(in_node "$bad" systemctl is-failed fleetnode-config.service 2>&1), want failed"
    fi
    out=$(in_node "$bad" systemctl status --no-pager -n 20 fleetnode-config.service 2>&1)
    echo "$out" | sed 's/^/    /'
    if grep -qE '/etc/fleetnode\.toml:[0-9]+:[0-9]+: error: .*adress' <<<"$out"; then
        pass "$bad: systemctl status fleetnode-config shows the diagnostic: $(grep -oE '/etc/fleetnode\.toml:[0-9]+:[0-9]+: error: [^(]*' <<<"$out" | head -1)"
    else
        fail "$bad: no '/etc/fleetnode.toml:LINE:COL: error: ...adress...' in systemctl status fleetnode-config"
    fi
    out=$(in_node "$bad" systemctl --failed --no-legend --plain 2>&1 | awk '{print $1}' | grep -v '^systemd-' | paste -sd ' ')
    check "$bad: systemctl --failed lists exactly fleetnode-config.service (got: $out)" \
        test "$out" = fleetnode-config.service
    local procs
    procs=$(in_node "$bad" pgrep -l -x 'etcd|fleetd' 2>/dev/null | paste -sd ' ')
    check "$bad: runs no etcd or fleetd (processes: ${procs:-none})" test -z "$procs"
    local active
    active=$(in_node "$bad" systemctl list-units --no-legend --plain --state=active 'etcd*' 'fleet.*' 2>/dev/null | awk '{print $1}' | paste -sd ' ')
    check "$bad: no active etcd/fleet units (got: ${active:-none})" test -z "$active"

    # Quorum: all 3 members are in the (static) member list, 2 answer as healthy.
    local health
    _two_healthy() { health=$(etcdctl3 fn-node1 endpoint health --cluster 2>&1); [ "$(grep -c 'is healthy' <<<"$health")" = 2 ]; }
    if wait_for 60 _two_healthy; then
        pass "etcdctl endpoint health --cluster: 2 of 3 members healthy ($(grep -oE '[0-9.]+:2379 is healthy' <<<"$health" | cut -d: -f1 | paste -sd ' '))"
    else
        fail "etcdctl endpoint health --cluster: want fn-node1, fn-node2 healthy: $(echo "$health" | paste -sd ';')"
        debug_node fn-node1
    fi
    local v=quorum-$RANDOM
    _put() { etcdctl3 fn-node1 put fn/quorum "$v" >/dev/null; }
    if wait_for 30 _put && [ "$(etcdctl3 fn-node2 get --print-value-only fn/quorum 2>/dev/null)" = "$v" ]; then
        pass "quorum: put on fn-node1, same value read on fn-node2"
    else
        fail "quorum: put fn/quorum on fn-node1 / get on fn-node2 failed"
    fi
    if fleet_available; then
        if wait_for 60 _fleet_count_eq fn-node1 2; then
            pass "fleetctl list-machines on fn-node1: 2 machines (fn-node1, fn-node2)"
        else
            fail "fleetctl list-machines on fn-node1: $(fleet_machines fn-node1 | grep -c .) machines, want 2"
            for n in "${good[@]}"; do
                in_node "$n" journalctl -u fleet.service --no-pager -o cat -n 3 2>&1 | sed "s/^/    $n: /"
            done
        fi
    else
        skip_fleet "fleetctl list-machines"
    fi
    check_failed_empty "${good[@]}"

    # The admin fixes the typo and runs `fleetnode apply` (no reboot): the generator runs again
    # (daemon-reload), etcd (and fleet) start, the node joins, the failed unit is gone.
    local fixed t0=$SECONDS rc=0
    fixed=$(member_toml "$bad" "$(node_ip "$bad")" "$FN_STATIC_PEERS" "$(node_meta "$bad")")
    printf '%s\n' "$fixed" >"$(node_root "$bad")/etc/fleetnode.toml"
    check "$bad: fleetnode check accepts the fixed /etc/fleetnode.toml" in_node "$bad" fleetnode check
    out=$(FN_CMD_TIMEOUT=120 in_node "$bad" fleetnode apply 2>&1) || rc=$?
    echo "$out" | sed "s/^/    $bad# fleetnode apply: /"
    check "$bad: fleetnode apply exits 0 ($rc)" test "$rc" = 0
    if wait_etcd_members fn-node1 3 90; then
        pass "$bad joined after fleetnode apply: 3 started members after $((SECONDS - t0))s"
    else
        fail "$bad did not join after fleetnode apply: $(started_members fn-node1) started members"
        debug_node "$bad"
    fi
    _three_healthy() { health=$(etcdctl3 fn-node1 endpoint health --cluster 2>&1); [ "$(grep -c 'is healthy' <<<"$health")" = 3 ]; }
    if wait_for 60 _three_healthy; then
        pass "etcdctl endpoint health --cluster: 3 of 3 members healthy"
    else
        fail "etcdctl endpoint health --cluster after the fix: $(echo "$health" | paste -sd ';')"
    fi
    local got
    _get3() { got=$(etcdctl3 "$bad" get --print-value-only fn/quorum 2>/dev/null) && [ "$got" = "$v" ]; }
    check "$bad: reads fn/quorum=$v written while it was out" wait_for 30 _get3
    out=$(in_node "$bad" systemctl --failed --no-legend --plain 2>&1 | awk '{print $1}' | paste -sd ' ')
    check "$bad: fleetnode-config.service gone from systemctl --failed (got: ${out:-nothing})" \
        eval '[[ " $out " != *" fleetnode-config.service "* ]]'
    if fleet_available; then
        check_fleet_machines fn-node1 3 "${good[@]}" "$bad"
    else
        skip_fleet "fleetctl list-machines after the fix"
    fi
    _bad_healthy() { health_json "$bad" && [ "$HEALTH_RC" = 0 ]; }
    wait_for 60 _bad_healthy
    check "$bad: fleetnode health exits 0 after the fix ($HEALTH_SUMMARY)" test "$HEALTH_RC" = 0
    check_failed_empty "$bad"
}
