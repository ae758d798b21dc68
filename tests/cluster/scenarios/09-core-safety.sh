# shellcheck shell=bash disable=SC2317,SC2016 # helpers called through wait_for/check; $(...) runs in the node
# Scenario 9: `fleetnode core` on a booted node, as root, in the core user's home that the core
# user controls: idempotence (a second run changes nothing and says so), the managed block
# keeps keys added by hand, and a symlink planted in the home is refused, never followed
# (the file it points at is unchanged). A one-member cluster is enough.
scenario_09_core_safety() {
    local n=fn-node1 ip
    ip=$(node_ip fn-node1)
    make_node "$n" "$ip" "$(member_toml "$n" "$ip" "fn-node1=$ip")"
    boot_all "$n" || return
    wait_etcd_members "$n" 1 90 || { fail "$n: etcd did not start"; debug_node "$n"; return; }
    # fleetnode-core.service ran at boot; wait for it (it is ordered early, but be bounded).
    _core_done() { [ "$(in_node "$1" systemctl show -p ActiveState --value fleetnode-core.service)" = active ]; }
    check "$n: fleetnode-core.service ran at boot" wait_for 60 _core_done "$n"
    check "$n: user core exists with home /home/core" in_node "$n" sh -c 'getent passwd core | grep -q ":/home/core:/bin/bash$"'
    check "$n: ~core/.ssh is 0700 core:core" in_node "$n" sh -c '[ "$(stat -c %a:%U:%G /home/core/.ssh)" = 700:core:core ]'
    check "$n: the generated key is 0600 core:core" in_node "$n" sh -c '[ "$(stat -c %a:%U /home/core/.ssh/id_ecdsa)" = 600:core ]'

    # Idempotence: once the keys are exchanged, a second run changes nothing and says so.
    in_node "$n" fleetnode core >/dev/null 2>&1
    local out rc=0
    out=$(in_node "$n" fleetnode core 2>&1) || rc=$?
    if [ $rc = 0 ] && grep -q "nothing changed" <<<"$out"; then
        pass "$n: a second fleetnode core changes nothing and says so"
    else
        fail "$n: second fleetnode core: exit $rc: $out"
    fi

    # A key added by hand outside the managed block survives a run.
    in_node "$n" sh -c 'echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHandAddedKeyForTheTest admin@hand" >> /home/core/.ssh/authorized_keys'
    in_node "$n" fleetnode core >/dev/null 2>&1
    check "$n: a key added by hand survives fleetnode core" \
        in_node "$n" grep -q "HandAddedKeyForTheTest" /home/core/.ssh/authorized_keys
    check "$n: the managed block holds this node's own core key" \
        in_node "$n" sh -c 'sed -n "/^# BEGIN fleetnode/,/^# END fleetnode/p" /home/core/.ssh/authorized_keys | grep -qF "$(cut -d" " -f2 /home/core/.ssh/id_ecdsa.pub)"'

    # The core user plants a symlink to a root-owned file in place of authorized_keys.
    in_node "$n" sh -c 'echo "root-only content" > /root/target && chmod 600 /root/target &&
        rm -f /home/core/.ssh/authorized_keys && ln -s /root/target /home/core/.ssh/authorized_keys &&
        chown -h core:core /home/core/.ssh/authorized_keys'
    rc=0
    out=$(in_node "$n" fleetnode core 2>&1) || rc=$?
    if [ $rc = 1 ] && grep -q "refusing to follow a symlink" <<<"$out"; then
        pass "$n: a planted authorized_keys symlink is refused (exit 1: $(grep -m1 'refusing' <<<"$out"))"
    else
        fail "$n: planted symlink: exit $rc: $out"
    fi
    check "$n: the symlink's target is unchanged (content and mode 600 root)" \
        in_node "$n" sh -c '[ "$(cat /root/target)" = "root-only content" ] && [ "$(stat -c %a:%U /root/target)" = 600:root ]'

    # A symlinked ~/.ssh directory is refused too.
    in_node "$n" sh -c 'rm -rf /home/core/.ssh && mkdir -p /root/sshdir && ln -s /root/sshdir /home/core/.ssh && chown -h core:core /home/core/.ssh'
    rc=0
    out=$(in_node "$n" fleetnode core 2>&1) || rc=$?
    if [ $rc = 1 ] && grep -q "refusing to follow a symlink" <<<"$out" && [ -z "$(in_node "$n" ls -A /root/sshdir)" ]; then
        pass "$n: a planted ~/.ssh symlink is refused and nothing is written through it"
    else
        fail "$n: planted ~/.ssh: exit $rc, /root/sshdir: $(in_node "$n" ls -A /root/sshdir | tr '\n' ' '): $out"
    fi
}
