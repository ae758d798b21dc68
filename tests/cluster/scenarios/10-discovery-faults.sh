# shellcheck shell=bash disable=SC2317 # helpers called through wait_for/check
# Scenario 10: discovery faults and secrets, on booted nodes. The proxy (tinyproxy with Basic
# auth) is down when the nodes boot: etcd keeps retrying the discovery service and
# `fleetnode health` names the proxy. The proxy comes up and the cluster forms. An
# unprivileged user on a node learns neither the proxy password nor the discovery URL (systemctl
# show/cat, D-Bus, /proc, the generator directory, every readable file under /etc /run /var
# /tmp /home). A fourth node given the same (now full) token: etcd exits with "cluster is full"
# instead of joining or turning into a proxy, systemd gives up after its start limit, and
# `fleetnode health` says so. fn-node4 then gets a new token through `fleetnode apply`, and its
# bootstrap is interrupted (etcd restarted while it waits): health explains the dead end.

# secrets_seen_by NODE USER PATTERNFILE: what USER can read that holds a secret: the output of
# systemctl show/cat, show-environment, /proc/*/environ+cmdline and the journal (printed, for
# the caller to search), then "FILES:" and the readable files under /etc /run /var /tmp /home
# that contain a line of PATTERNFILE (grep -f: the secrets never appear on a command line).
_secrets_script='
systemctl show etcd.service fleet.service fleetnode-health.service fleetnode-core.service 2>&1
systemctl cat etcd.service fleet.service fleetnode-health.service 2>&1
systemctl show-environment 2>&1
busctl get-property org.freedesktop.systemd1 /org/freedesktop/systemd1/unit/etcd_2eservice org.freedesktop.systemd1.Service Environment 2>&1
for p in /proc/[0-9]*; do tr "\0" " " <"$p/environ" 2>/dev/null; tr "\0" " " <"$p/cmdline" 2>/dev/null; echo; done
journalctl -b --no-pager -o cat 2>&1 | tail -n 2000
cat /run/systemd/generator/* /run/systemd/generator/*/* 2>&1
echo FILES:
grep -rIlsF -f "$1" --exclude=.fn-secrets /etc /run /var /tmp /home
exit 0'
secrets_seen_by() {
    local n=$1 user=$2 pf=$3
    if [ "$user" = root ]; then
        FN_CMD_TIMEOUT=120 in_node "$n" sh -c "$_secrets_script" sh "$pf"
    else
        FN_CMD_TIMEOUT=120 in_node "$n" runuser -u "$user" -- sh -c "$_secrets_script" sh "$pf"
    fi
}

scenario_10_discovery_faults() {
    local nodes=(fn-node1 fn-node2 fn-node3) n
    need_discovery_tools || return
    # A password the proxy insists on (tinyproxy BasicAuth takes [A-Za-z0-9]).
    local pass
    pass=pw$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
    FN_SCRUB+=("$pass")
    # Read by make_discovery_env; local, not exported (the password stays out of the
    # environment of the discovery host's processes).
    # shellcheck disable=SC2034
    local FN_PROXY_AUTH="fleet $pass" FN_PROXY_DOWN=1
    if ! make_discovery_env; then
        fail "discovery host did not come up (logs: $FN_RESULTS/$FN_SCENARIO/)"
        return
    fi
    pass "discovery.etcd.io on $FN_DISC_URL; the proxy host $FN_SUBNET.2 is up, tinyproxy is not running"
    local url
    discovery_new 3 url || return
    local token=${url##*/}
    FN_SCRUB+=("$token")
    # discovery_toml (common.sh) writes [proxy] from FN_PROXY_URL: here with the credentials.
    # shellcheck disable=SC2034 # read by discovery_toml through dynamic scoping
    local FN_PROXY_URL="http://fleet:$pass@$FN_SUBNET.2:8888"
    make_discovery_members "$url" "${nodes[@]}"
    # systemd does not finish booting while etcd (Type=notify) waits for discovery: wait for
    # etcd.service to be starting instead.
    _etcd_starting() { [ "$(in_node "$1" systemctl is-active etcd.service)" = activating ]; }
    for n in "${nodes[@]}"; do boot_node "$n"; done
    for n in "${nodes[@]}"; do
        wait_for 120 _etcd_starting "$n" || { fail "$n: etcd.service not starting after 120s"; debug_node "$n"; return; }
    done
    pass "proxy down: the nodes boot, etcd.service is starting on each"

    # 1. The proxy is down: etcd retries (and is not given up on), health names the proxy.
    local j retries
    _retrying() { retries=$(in_node fn-node1 journalctl -b -u etcd.service --no-pager -o cat | grep -c 'retry connecting to discovery service'); [ "$retries" -ge 3 ]; }
    if wait_for 60 _retrying; then
        j=$(in_node fn-node1 journalctl -b -u etcd.service --no-pager -o cat | grep 'failed to get from discovery server' | tail -1 | grep -o '"error":"[^"]*' | cut -c10-)
        pass "proxy down: etcd on fn-node1 retries the discovery service ($retries attempts so far; last: $j)"
    else
        fail "proxy down: etcd on fn-node1 does not retry discovery ($retries attempts in 60s)"
        debug_node fn-node1
    fi
    local st
    st=$(in_node fn-node1 systemctl is-active etcd.service)
    check "proxy down: etcd.service is $st (still starting, not failed), $(in_node fn-node1 systemctl is-system-running) boot" test "$st" = activating
    health_json fn-node1
    local d
    d=$(health_detail etcd-discovery)
    if [ "$HEALTH_RC" = 1 ] && [[ " $HEALTH_SUMMARY " == *" etcd-discovery=fail "* ]] &&
        [[ $d == *proxy* && $d == *"$FN_SUBNET.2:8888"* ]]; then
        pass "proxy down: fleetnode health exits 1 and names the proxy: etcd-discovery: $d"
    else
        fail "proxy down: fleetnode health exit $HEALTH_RC ($HEALTH_SUMMARY), etcd-discovery: $d"
        echo "$HEALTH_OUT" | sed 's/^/    /' >&2
    fi
    local text
    # shellcheck disable=SC2034 # read in the eval below
    text=$(in_node fn-node1 fleetnode health 2>&1)
    check "proxy down: health output (--json and text, stdout and stderr) holds neither the proxy password nor the token" \
        eval '[ -n "$HEALTH_OUT" ] && [[ $text == *etcd-discovery* ]] && [[ $HEALTH_OUT$text != *"$pass"* && $HEALTH_OUT$text != *"$token"* ]]'

    # 2. The proxy comes back: the retries succeed, without touching the nodes.
    local t0=$SECONDS
    if ! proxy_start; then fail "tinyproxy did not start"; return; fi
    if wait_etcd_members fn-node1 3 150; then
        pass "proxy back: the cluster formed through discovery $((SECONDS - t0))s later, no restart by hand"
    else
        fail "proxy back: $(started_members fn-node1) started members after 150s"
        for n in "${nodes[@]}"; do debug_node "$n"; done
        return
    fi
    check_health_cli "${nodes[@]}"
    local code
    code=$(in_node fn-node1 curl -s --max-time 5 -o /dev/null -w '%{http_code}' --proxy "http://$FN_SUBNET.2:8888" "$FN_DISC_URL/")
    check "the proxy refuses a client without the password (HTTP $code): the cluster used the credentials" test "$code" = 407

    # 3. Secrets: an unprivileged user, then root as the control that the search can find them.
    local pf=/home/fn-user/.fn-secrets seen files
    in_node fn-node1 useradd -m -s /bin/sh fn-user
    printf '%s\n%s\n' "$pass" "$token" >"$(node_root fn-node1)$pf"
    in_node fn-node1 chown fn-user: "$pf"
    in_node fn-node1 chmod 0600 "$pf"
    # The control for the unprivileged search: a world-readable file holding the token, planted
    # by the test, must be the one file it finds.
    printf 'planted by the test: %s\n' "$token" >"$(node_root fn-node1)/var/tmp/fn-planted"
    chmod 0644 "$(node_root fn-node1)/var/tmp/fn-planted"
    seen=$(secrets_seen_by fn-node1 fn-user "$pf")
    rm -f "$(node_root fn-node1)/var/tmp/fn-planted"
    files=$(sed -n '/^FILES:$/,$p' <<<"$seen" | sed 1d | grep -vx /var/tmp/fn-planted | paste -sd ' ')
    check "control: fn-user's search finds the world-readable file planted with the token" \
        grep -qx /var/tmp/fn-planted <<<"$seen"
    local out=${seen%FILES:*}
    # The search ran (it saw the units and where their secrets are kept) ...
    if grep -q '^EnvironmentFiles=/run/systemd/generator/fleetnode-etcd.env' <<<"$out" &&
        grep -q '^EnvironmentFiles=/run/systemd/generator/fleetnode-proxy.env' <<<"$out" &&
        grep -q 'ETCD_NAME=fn-node1' <<<"$out"; then
        pass "fn-user sees etcd.service's environment and the names of its secret files ($(wc -l <<<"$out") lines of systemctl show/cat, /proc, journal)"
    else
        fail "fn-user: systemctl show/cat did not show the etcd unit (the search did not run?)"
    fi
    check "fn-user learns neither the proxy password nor the discovery URL from systemctl show/cat, D-Bus, /proc or the generator directory" \
        eval '[[ $out != *"$pass"* && $out != *"$token"* ]]'
    local uj
    uj=$(in_node fn-node1 runuser -u fn-user -- journalctl -b -u etcd.service --no-pager -o cat 2>&1)
    check "fn-user (not in systemd-journal/adm) cannot read etcd's journal, where etcd logs the token: $(head -1 <<<"$uj")" \
        eval '[[ $uj != *"\"level\":"* && $uj != *"$token"* ]]'
    check "fn-user can read no file under /etc /run /var /tmp /home that holds them (${files:-none})" test -z "$files"
    seen=$(secrets_seen_by fn-node1 root "$pf")
    files=$(sed -n '/^FILES:$/,$p' <<<"$seen" | sed 1d | paste -sd ' ')
    local rootj
    rootj=$(in_node fn-node1 journalctl -b -u etcd.service --no-pager -o cat)
    local pw_logged=no
    [[ $rootj != *"$pass"* ]] || pw_logged=yes
    check "control: root reads etcd's journal, and etcd logs the token there (the proxy password too: $pw_logged)" \
        eval '[[ $rootj == *"\"level\":"* && $rootj == *"$token"* ]]'
    check "control: root finds them ($files)" \
        eval '[[ " $files " == *" /run/systemd/generator/fleetnode-etcd.env "* && " $files " == *" /run/systemd/generator/fleetnode-proxy.env "* && " $files " == *" /etc/fleetnode.toml "* ]]'
    local modes
    modes=$(in_node fn-node1 stat -c '%a %U:%G %n' /run/systemd/generator/fleetnode-etcd.env /run/systemd/generator/fleetnode-proxy.env /etc/fleetnode.toml | paste -sd ',')
    check "secret files: $modes" \
        eval '[ "$modes" = "600 root:root /run/systemd/generator/fleetnode-etcd.env,600 root:root /run/systemd/generator/fleetnode-proxy.env,640 root:root /etc/fleetnode.toml" ]'

    # 4. A fourth node with the same token: its cluster is full.
    make_discovery_members "$url" fn-node4
    local t4=$SECONDS
    boot_node fn-node4
    local j4
    _full() { j4=$(in_node fn-node4 journalctl -b -u etcd.service --no-pager -o cat); [[ $j4 == *'failed to bootstrap; discovery token was already used'* ]]; }
    if wait_for 90 _full; then
        pass "fn-node4: etcd exits: $(grep -m1 'discovery token was already used' <<<"$j4" | grep -o '"error":"[^"]*' | cut -c10-)"
    else
        fail "fn-node4: no 'discovery token was already used' from etcd in 90s"
        debug_node fn-node4
    fi
    # It must not have become etcd's v2 proxy (the default fallback).
    check "fn-node4: etcd did not fall back to a v2 proxy (no 'falling back to proxy' in its journal, no proxy/ in its data dir)" \
        eval '[[ $j4 != *"falling back to proxy"* && $j4 != *"v2 proxy started"* ]] && ! in_node fn-node4 test -e /var/lib/etcd/proxy'
    # Restart= retries it; the start limit ends the loop with a failed unit.
    _gave_up() { [ "$(in_node fn-node4 systemctl show -p ActiveState --value etcd.service)" = failed ]; }
    if wait_for 150 _gave_up; then
        pass "fn-node4: systemd gave up on etcd $((SECONDS - t4))s after boot: $(in_node fn-node4 systemctl show -p Result --value etcd.service), after $(in_node fn-node4 systemctl show -p NRestarts --value etcd.service) restarts; systemctl --failed lists it"
    else
        fail "fn-node4: etcd.service still $(in_node fn-node4 systemctl is-active etcd.service) after 150s (NRestarts $(in_node fn-node4 systemctl show -p NRestarts --value etcd.service))"
    fi
    check "fn-node4: etcd serves nothing on 127.0.0.1:2379 (not a member, not a v2 proxy)" \
        eval '! in_node fn-node4 curl -sf --max-time 3 -o /dev/null http://127.0.0.1:2379/v2/keys'
    _says_full() { health_json fn-node4 && [ "$HEALTH_RC" = 1 ] && [[ $(health_detail etcd-discovery) == *"discovery cluster is full: 3 of 3"* ]]; }
    if wait_for 30 _says_full; then
        pass "fn-node4: fleetnode health exits 1: etcd-discovery: $(health_detail etcd-discovery)"
    else
        fail "fn-node4: fleetnode health exit $HEALTH_RC ($HEALTH_SUMMARY), etcd-discovery: $(health_detail etcd-discovery)"
    fi

    # 5. fn-node4 gets a new token (size 2): `fleetnode apply` clears the failed unit and starts
    # etcd, although a failed bootstrap left member/snap in its data dir (no WAL: no data).
    local url2
    discovery_new 2 url2 || return
    FN_SCRUB+=("${url2##*/}")
    sed -i "s|$url|$url2|" "$(node_root fn-node4)/etc/fleetnode.toml"
    local out rc=0
    out=$(FN_CMD_TIMEOUT=150 in_node fn-node4 fleetnode apply 2>&1) || rc=$?
    st=$(in_node fn-node4 systemctl show -p ActiveState,SubState --value etcd.service | paste -sd /)
    if [ $rc = 0 ] && [ "$st" = activating/start ] && grep -q '^etcd.service: \(started\|restarted\)' <<<"$out"; then
        pass "fn-node4: new token + fleetnode apply: etcd.service $st (registered, waiting for its peer): $(grep '^etcd.service: [sr]' <<<"$out" | head -1)"
    else
        fail "fn-node4: fleetnode apply with a new token: exit $rc, etcd.service $st"
        echo "$out" | sed 's/^/    /' >&2
    fi
    _waits() { health_json fn-node4 && [[ $(health_detail etcd-discovery) == "1 of 2 members registered"*"waiting for the others"* ]]; }
    check "fn-node4: fleetnode health: etcd-discovery: $(wait_for 30 _waits; health_detail etcd-discovery)" _waits

    # 6. The bootstrap is interrupted (etcd restarted while it waits): etcd refuses to register
    # again, and health says what happened and what to do.
    in_node fn-node4 systemctl restart --no-block etcd.service
    _refuses() { [[ $(in_node fn-node4 journalctl -b -u etcd.service --no-pager -o cat) == *'member has been registered with discovery service'* ]]; }
    check "fn-node4: restarted while waiting, etcd refuses to register again ('member has been registered with discovery service')" \
        wait_for 60 _refuses
    _interrupted() { health_json fn-node4 && [ "$HEALTH_RC" = 1 ] && [[ $(health_detail etcd-discovery) == *"earlier bootstrap with this token was interrupted"* ]]; }
    if wait_for 60 _interrupted; then
        pass "fn-node4: fleetnode health exits 1: etcd-discovery: $(health_detail etcd-discovery)"
    else
        fail "fn-node4: interrupted bootstrap: health exit $HEALTH_RC, etcd-discovery: $(health_detail etcd-discovery)"
    fi

    local members
    members=$(etcdctl3 fn-node1 member list 2>/dev/null | awk -F', ' '{print $3}' | sort | paste -sd ' ')
    check "the cluster still has exactly fn-node1..3 ($members)" test "$members" = "fn-node1 fn-node2 fn-node3"
    check_failed_empty "${nodes[@]}"
}
