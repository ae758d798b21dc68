# shellcheck shell=bash disable=SC2317 # helpers called through wait_for/check
# Scenario 7: upgrade on a running node. The admin has modified /etc/fleetnode.toml; a newer
# fleetnode build (Release 2, whose shipped fleetnode.toml differs) is installed with the node's
# own `rpm -U` (scriptlets run inside the node for real). The modified config is kept, the
# packaged one lands in fleetnode.toml.rpmnew, the node stays healthy and etcd keeps running.
#
# The Release 2 RPM: $FN_UPGRADE_RPM_DIR [dirname(FN_RPM_DIR)/upgrade/rpms], made by
# tests/cluster/build-rpms.sh.
scenario_07_upgrade() {
    local nodes=(fn-node1 fn-node2 fn-node3) up=fn-node2 n
    local dir=${FN_UPGRADE_RPM_DIR:-$(dirname "$FN_RPM_DIR")/upgrade/rpms} rpm2="" f
    for f in "$dir"/fleetnode-[0-9]*-2.*rpm; do
        case $f in *.src.rpm) ;; *) [ -f "$f" ] && rpm2=$f ;; esac
    done
    if [ -z "$rpm2" ]; then
        fail "no fleetnode Release 2 RPM in $dir (tests/cluster/build-rpms.sh builds it)"
        return
    fi
    for n in "${nodes[@]}"; do make_static_member "$n"; done
    boot_all "${nodes[@]}" || return
    if ! wait_etcd_members fn-node1 3 90; then
        fail "cluster did not form: $(started_members fn-node1) started members"
        return
    fi
    local root before1 v1 pid1 out rc=0
    root=$(node_root "$up")
    # The admin's local change (a valid one: a different health interval).
    in_node "$up" sh -c 'printf "\n# local change by the admin\n[health]\ninterval = \"45s\"\n" >>/etc/fleetnode.toml'
    before1=$(sha256sum <"$root/etc/fleetnode.toml")
    v1=$(in_node "$up" rpm --dbpath /var/lib/rpm -q fleetnode 2>&1)
    pid1=$(in_node "$up" systemctl show -p MainPID --value etcd.service)
    _up_h0() { health_json "$up" && [ "$HEALTH_RC" = 0 ]; }
    wait_for 60 _up_h0
    check "$up: healthy before the upgrade ($v1; $HEALTH_SUMMARY)" test "$HEALTH_RC" = 0

    cp "$rpm2" "$root/root/"
    out=$(FN_CMD_TIMEOUT=120 in_node "$up" rpm --dbpath /var/lib/rpm -U --nodeps "/root/$(basename "$rpm2")" 2>&1) || rc=$?
    echo "$out" | sed "s/^/    $up# rpm -U: /"
    check "$up: rpm -U $(basename "$rpm2") exits 0 ($rc)" test "$rc" = 0
    # What EL's systemd file trigger does after a package changed unit files / generators.
    in_node "$up" systemctl daemon-reload
    local v2
    v2=$(in_node "$up" rpm --dbpath /var/lib/rpm -q fleetnode 2>&1)
    check "$up: rpm -q fleetnode: $v1 -> $v2" eval '[[ $v2 == fleetnode-*-2.* ]]'
    check "$up: the locally modified /etc/fleetnode.toml is kept (same sha256)" \
        test "$(sha256sum <"$root/etc/fleetnode.toml")" = "$before1"
    check "$up: interval = \"45s\" still in /etc/fleetnode.toml" grep -q 'interval = "45s"' "$root/etc/fleetnode.toml"
    check "$up: /etc/fleetnode.toml.rpmnew created with the packaged (Release 2) file" \
        grep -q 'fleetnode-cluster-test: Release 2' "$root/etc/fleetnode.toml.rpmnew"
    _up_h() { health_json "$up" && [ "$HEALTH_RC" = 0 ]; }
    wait_for 60 _up_h
    check "$up: fleetnode health exits 0 after the upgrade ($HEALTH_SUMMARY)" test "$HEALTH_RC" = 0
    local st pid2
    st=$(etcdctl3 fn-node1 member list 2>/dev/null | grep ", $up, ")
    check "$up: still a started etcd member ($st)" grep -q ', started, ' <<<"$st"
    pid2=$(in_node "$up" systemctl show -p MainPID --value etcd.service)
    check "$up: etcd.service not restarted by the upgrade (MainPID $pid1 -> $pid2)" test "$pid1" = "$pid2" -a "$pid2" != 0
    check_failed_empty "$up"
}
