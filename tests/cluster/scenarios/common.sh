# shellcheck shell=bash disable=SC2317 # helpers called through wait_for/check
# Shared steps of the scenarios (sourced by run.sh and demo.sh after lib.sh).

# The static 3-node cluster: fn-node1..3 at $FN_SUBNET.11-13, region/az metadata per node.
FN_STATIC_PEERS="fn-node1=$FN_SUBNET.11 fn-node2=$FN_SUBNET.12 fn-node3=$FN_SUBNET.13"
node_ip() { echo "$FN_SUBNET.1${1#fn-node}"; }
node_meta() { local i=${1#fn-node}; echo "region = \"region-$(((i + 1) % 2 + 1))\", az = \"az-$i\""; }
node_meta_flat() { local i=${1#fn-node}; echo "az=az-$i,region=region-$(((i + 1) % 2 + 1))"; }

make_static_member() {
    local n=$1
    make_node "$n" "$(node_ip "$n")" "$(member_toml "$n" "$(node_ip "$n")" "$FN_STATIC_PEERS" "$(node_meta "$n")")"
}

# boot_all NODE...: boots in parallel, then waits for each (bounded); FAIL per node not booted.
boot_all() {
    local n ok=0
    for n in "$@"; do boot_node "$n"; done
    for n in "$@"; do
        if wait_booted "$n" 120; then ok=$((ok + 1)); else fail "$n: systemd did not finish booting in 120s"; fi
    done
    [ "$ok" = $# ]
}

# wait_etcd_members NODE COUNT TIMEOUT: until NODE sees COUNT started members.
wait_etcd_members() {
    local n=$1 want=$2 t=$3 t0=$SECONDS
    if wait_for "$t" _members_eq "$n" "$want"; then
        log "etcd: $want started members seen from $n after $((SECONDS - t0))s"
        return 0
    fi
    return 1
}

# fleet_machines NODE: list-machines lines (no header) as seen from NODE.
fleet_machines() { in_node "$1" fleetctl list-machines --full --no-legend 2>/dev/null; }
_fleet_count_eq() { [ "$(fleet_machines "$1" | grep -c .)" = "$2" ]; }

# check_failed_empty NODE...: `systemctl --failed` lists nothing. A unit that failed with
# status 219/CGROUP ("Failed to attach to cgroup") is a host problem, not the node's: hosts
# with a cgroup v1 hierarchy not managed by systemd (some CI sandboxes) show it now and then;
# it is reported in the PASS line instead of failing the check.
check_failed_empty() {
    local n out u st real noise
    for n in "$@"; do
        out=$(in_node "$n" systemctl --failed --no-legend --plain 2>&1 | awk '{print $1}')
        real="" noise=""
        for u in $out; do
            st=$(in_node "$n" systemctl show -p ExecMainStatus --value "$u" 2>/dev/null)
            if [ "$st" = 219 ]; then noise+=" $u"; else real+=" $u"; fi
        done
        if [ -z "$real" ]; then
            pass "$n: systemctl --failed is empty${noise:+ (ignored, 219/CGROUP host cgroup issue:$noise)}"
        else
            fail "$n: systemctl --failed:$real${noise:+ (and 219/CGROUP:$noise)}"
            for u in $real; do
                in_node "$n" systemctl status --no-pager -n 15 "$u" 2>&1 | sed 's/^/    /' >&2
            done
        fi
    done
}

# check_etcd_cluster NODE COUNT NODES...: COUNT started members (from NODE), the leader among
# NODES reports COUNT-1 followers.
check_etcd_cluster() {
    local n=$1 want=$2; shift 2
    if wait_etcd_members "$n" "$want" 90; then
        pass "etcdctl member list on $n: $want started members"
        etcdctl3 "$n" member list 2>&1 | sed 's/^/    /'
    else
        fail "etcdctl member list on $n: $(started_members "$n") started members, want $want"
        etcdctl3 "$n" member list 2>&1 | sed 's/^/    /'
        debug_node "$n"
        return
    fi
    local leader
    _leader_ok() { leader=$(find_leader "$@") && [ "${leader#* }" = "$((want - 1))" ]; }
    if wait_for 30 _leader_ok "$@"; then
        leader=$(find_leader "$@")
        pass "leader ${leader% *}: /v2/stats/leader shows ${leader#* } followers"
    else
        fail "no leader with $((want - 1)) followers in /v2/stats/leader (got: ${leader:-no leader})"
    fi
}

# check_fleet_machines NODE COUNT MEMBERS...: list-machines --full shows COUNT machines, each
# MEMBER with its address, machine-id and metadata.
check_fleet_machines() {
    local n=$1 want=$2; shift 2
    if ! fleet_available; then skip_fleet "fleetctl list-machines"; return; fi
    if ! wait_for 90 _fleet_count_eq "$n" "$want"; then
        fail "fleetctl list-machines on $n: $(fleet_machines "$n" | grep -c .) machines, want $want"
        fleet_machines "$n" | sed 's/^/    /'
        debug_node "$n"
        return
    fi
    local out m ok=1 mid
    out=$(fleet_machines "$n")
    echo "$out" | sed 's/^/    /'
    for m in "$@"; do
        mid=$(cat "$(node_root "$m")/etc/machine-id")
        if ! grep -qE "^${mid}[[:space:]]+$(node_ip "$m")[[:space:]]+$(node_meta_flat "$m")\$" <<<"$out"; then
            fail "fleetctl list-machines: no line '$mid $(node_ip "$m") $(node_meta_flat "$m")'"
            ok=0
        fi
    done
    [ $ok = 0 ] || pass "fleetctl list-machines --full on $n: $want machines with their ids, addresses, metadata"
}

FN_HELLO_HOST=""
# check_fleet_hello NODE NODES...: fleetctl start of a Hello World unit; it runs on one node.
check_fleet_hello() {
    local n=$1; shift
    if ! fleet_available; then skip_fleet "fleetctl start hello.service"; return; fi
    cat >"$(node_root "$n")/root/hello.service" <<'UNIT'
[Unit]
Description=Hello World (fleetnode cluster test)

[Service]
ExecStart=/bin/sh -c "while true; do echo Hello World; sleep 1; done"
UNIT
    local out t0=$SECONDS
    if ! out=$(FN_CMD_TIMEOUT=90 in_node "$n" sh -c 'cd /root && fleetctl start --block-attempts=60 hello.service' 2>&1); then
        fail "fleetctl start hello.service: $out"
        return
    fi
    log "fleetctl start: $out"
    local line ip host
    _hello_running() { line=$(in_node "$n" fleetctl list-units --no-legend --full --fields=unit,machine,active,sub 2>/dev/null | grep '^hello.service') && grep -q 'active[[:space:]]*running' <<<"$line"; }
    if ! wait_for 60 _hello_running; then
        fail "hello.service not active/running in fleetctl list-units: ${line:-none}"
        return
    fi
    ip=$(grep -oE "$FN_SUBNET\.[0-9]+" <<<"$line" | head -1)
    host=fn-node${ip##*.1}
    FN_HELLO_HOST=$host
    _hello_logged() { in_node "$host" journalctl -u hello.service --no-pager -o cat | grep -q 'Hello World'; }
    if wait_for 30 _hello_logged; then
        pass "fleetctl start hello.service: running on $host ($ip) after $((SECONDS - t0))s, journal shows Hello World"
    else
        fail "hello.service: no Hello World in the journal of $host ($line)"
    fi
}

# check_health_unit NODE...: starts fleetnode-health.service (oneshot: `fleetnode health`) now
# instead of waiting for its timer (OnBootSec=1min), and wants it to succeed.
check_health_unit() {
    local n
    for n in "$@"; do
        if ! in_node "$n" systemctl cat fleetnode-health.service >/dev/null 2>&1; then
            skip "$n: fleetnode-health.service not installed (FN_PAYLOAD=$FN_PAYLOAD)"
            continue
        fi
        if in_node "$n" systemctl start fleetnode-health.service >/dev/null 2>&1; then
            pass "$n: fleetnode-health.service (fleetnode health) succeeded"
        else
            fail "$n: fleetnode-health.service failed"
            in_node "$n" journalctl -u fleetnode-health.service -b --no-pager -o cat -n 12 2>&1 | sed 's/^/    /' >&2
        fi
    done
}

# check_health_cli NODE...: `fleetnode health` exits 0 (bounded wait: a fresh cluster converges)
# and `fleetnode health --json` says healthy, with every check named and none failed.
check_health_cli() {
    local n out rc healthy summary
    for n in "$@"; do
        _health_ok() { in_node "$n" fleetnode health >/dev/null 2>&1; }
        wait_for 60 _health_ok
        rc=0
        out=$(in_node "$n" fleetnode health 2>&1) || rc=$?
        if [ $rc = 0 ]; then
            pass "$n: fleetnode health exits 0"
        else
            fail "$n: fleetnode health exits $rc"
            echo "$out" | sed 's/^/    /' >&2
        fi
        rc=0
        out=$(in_node "$n" fleetnode health --json 2>/dev/null) || rc=$?
        healthy=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["healthy"])' <<<"$out" 2>/dev/null)
        summary=$(python3 -c 'import json,sys; print(" ".join(c["name"]+"="+c["status"] for c in json.load(sys.stdin)["checks"]))' <<<"$out" 2>/dev/null)
        if [ $rc = 0 ] && [ "$healthy" = True ] && [[ " $summary " != *=fail* ]] && [[ " $summary " == *" etcd-quorum=ok "* ]]; then
            pass "$n: fleetnode health --json: healthy ($summary)"
        else
            fail "$n: fleetnode health --json: exit $rc, healthy=${healthy:-?} ($summary)"
            echo "$out" | sed 's/^/    /' >&2
        fi
    done
}

# sync_core_keys NODE...: `fleetnode core --sync` on every node, twice: the first pass
# publishes each node's keys, the second authorizes/learns the ones published after it ran.
sync_core_keys() {
    local n pass_ ok=1
    for pass_ in 1 2; do
        for n in "$@"; do
            in_node "$n" fleetnode core --sync >"$FN_RESULTS/$FN_SCENARIO/$n.core-sync-$pass_.log" 2>&1 || ok=0
        done
    done
    [ $ok = 1 ]
}

# check_fleet_remote NODES...: `fleetctl status` and `fleetctl journal` of hello.service from a
# node that does NOT run it, as the core user with an ssh-agent holding ~core/.ssh/id_ecdsa,
# strict host key checking, stdin closed (a prompt would read EOF and fail).
check_fleet_remote() {
    if ! fleet_available; then skip_fleet "fleetctl status/journal from another node as core"; return; fi
    if [ -z "$FN_HELLO_HOST" ]; then fail "fleetctl status/journal: hello.service is not running"; return; fi
    local n other=""
    if sync_core_keys "$@"; then
        pass "fleetnode core --sync on ${*} (twice)"
    else
        fail "fleetnode core --sync failed on some node (logs: $FN_RESULTS/$FN_SCENARIO/*.core-sync-*.log)"
    fi
    for n in "$@"; do [ "$n" = "$FN_HELLO_HOST" ] || { other=$n; break; }; done
    local kh
    kh=$(in_node "$other" cat /home/core/.fleetctl/known_hosts 2>/dev/null | awk '!/^#/ {print $1}' | paste -sd ' ')
    check "$other: ~core/.fleetctl/known_hosts lists $FN_HELLO_HOST's address ($kh)" \
        eval '[[ " $kh " == *" $(node_ip "$FN_HELLO_HOST") "* ]]'
    local script out rc
    # shellcheck disable=SC2016 # expanded by the core user's shell
    script='eval "$(ssh-agent -s)" >/dev/null || exit 97
trap "ssh-agent -k >/dev/null" EXIT
ssh-add -q ~/.ssh/id_ecdsa || exit 98
echo "== status"
fleetctl --strict-host-key-checking=true status hello.service || exit 1
echo "== journal"
fleetctl --strict-host-key-checking=true journal --lines 5 hello.service || exit 2'
    rc=0
    out=$(FN_CMD_TIMEOUT=60 in_node "$other" runuser -l core -c "$script" </dev/null 2>&1) || rc=$?
    echo "$out" | sed "s/^/    $other\$ /"
    local status journal
    status=$(sed -n '/^== status/,/^== journal/p' <<<"$out")
    journal=$(sed -n '/^== journal/,$p' <<<"$out")
    if [ $rc != 1 ] && [ $rc != 97 ] && [ $rc != 98 ] && grep -q 'Active: active (running)' <<<"$status" &&
        grep -q 'hello.service' <<<"$status" && ! grep -qi 'are you sure\|yes/no' <<<"$out"; then
        pass "fleetctl status hello.service from $other (runs on $FN_HELLO_HOST) as core, strict host key checking, no prompt"
    else
        fail "fleetctl status hello.service from $other (runs on $FN_HELLO_HOST) as core: exit $rc"
    fi
    if [ $rc = 0 ] && [ "$(grep -c 'Hello World' <<<"$journal")" -ge 1 ]; then
        pass "fleetctl journal hello.service from $other: $(grep -c 'Hello World' <<<"$journal") Hello World lines"
    else
        fail "fleetctl journal hello.service from $other: exit $rc, no Hello World"
    fi
}

# check_no_fleet_units NODE...: without fleet the nodes are configured `[fleet] enabled =
# false`: the generator must write no fleet unit at all.
check_no_fleet_units() {
    fleet_available && return 0
    local n gen
    for n in "$@"; do
        gen=$(in_node "$n" sh -c 'ls /run/systemd/generator; systemctl list-unit-files --no-legend "fleet*" | cut -d" " -f1' 2>/dev/null | grep -E '^fleet\.(service|socket)$' | paste -sd ' ')
        check "$n: [fleet] enabled = false: no fleet unit generated (${gen:-none})" test -z "$gen"
    done
}

# ---------------------------------------------------------------------------- discovery
# discovery_toml NAME IP URL: a member bootstrapping from the discovery URL through the proxy
# FN_PROXY_URL (a scenario may shadow it with `local`, e.g. with credentials).
discovery_toml() {
    local name=$1 ip=$2 url=$3
    cat <<EOF2
[node]
name = "$name"
address = "$ip"

[etcd]
role = "member"
discovery = "$url"
cluster_token = "fn-test-disc"

[proxy]
http = "$FN_PROXY_URL"
https = "$FN_PROXY_URL"
no_proxy = ["$FN_SUBNET.0/24"]
EOF2
    if fleet_available; then
        printf '\n[fleet]\nmetadata = { %s }\n' "$(node_meta "$name")"
    else
        printf '\n[fleet]\nenabled = false\n'
    fi
}

# need_discovery_tools: discovery.etcd.io, tinyproxy and etcd on the host, or a FAIL.
need_discovery_tools() {
    command -v discovery.etcd.io >/dev/null && command -v tinyproxy >/dev/null && command -v etcd >/dev/null && return 0
    fail "discovery.etcd.io, tinyproxy or etcd missing on the host (tests/cluster/deps.sh)"
    return 1
}

# discovery_new SIZE VAR: a token made as an operator would (`fleetnode discovery new`, the
# binary installed in fn-node1's tree) on the discovery side; its URL into VAR. fn-node1's tree
# is made first if needed (make_node must not run in a subshell: the node would be forgotten).
discovery_new() {
    local size=$1 err=$FN_RESULTS/$FN_SCENARIO/discovery-new.err u
    [[ " ${FN_NODES[*]} " == *" fn-node1 "* ]] || make_node fn-node1 "$(node_ip fn-node1)" "# placeholder"
    u=$(ip netns exec fn-disc "$(node_root fn-node1)/usr/bin/fleetnode" discovery new \
        --endpoint "$FN_DISC_URL" --size "$size" --root "$FN_STATE/no-root" 2>>"$err")
    if [[ $u != "$FN_DISC_URL"/* ]]; then
        fail "fleetnode discovery new --size $size: $u $(cat "$err")"
        return 1
    fi
    printf -v "$2" '%s' "$u"
}

# make_discovery_members URL NODE...: each NODE a member with discovery_toml; a node whose tree
# exists already (fn-node1 after discovery_new) only gets its configuration.
make_discovery_members() {
    local url=$1 n toml; shift
    for n in "$@"; do
        toml=$(discovery_toml "$n" "$(node_ip "$n")" "$url")
        if [[ " ${FN_NODES[*]} " == *" $n "* ]]; then
            printf '%s\n' "$toml" >"$(node_root "$n")/etc/fleetnode.toml"
        else
            make_node "$n" "$(node_ip "$n")" "$toml"
        fi
    done
}
