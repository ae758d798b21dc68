# shellcheck shell=bash disable=SC2317 # helpers called through wait_for/check
# Scenario 11: TLS end to end, and etcd SIGKILLed. A CA and per-node certificates made by the
# test (openssl, in $FN_STATE, removed afterwards; nothing committed); [etcd.tls] with client
# and peer TLS and client-certificate auth on both. etcd forms over https; clients without a
# certificate, with one from another CA, or over plain http are refused; fleet works (it can
# only reach etcd over TLS); `fleetnode health`, `status` and `core --sync` use the same
# certificates. Then etcd is SIGKILLed on one node: systemd restarts it and it catches up with
# a write made while it was down.

FN_TLS_NODE_DIR=/etc/pki/etcd

# tls_cert DIR NAME CA SAN: an EC P-256 key and a certificate signed by CA (DIR/CA.crt/.key),
# usable as server and client (etcd's peers and fleet present the same certificate both ways).
tls_cert() {
    local d=$1 name=$2 ca=$3 san=$4
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/$name.key" \
        -out "$d/$name.csr" -subj "/CN=$name" 2>/dev/null &&
        openssl x509 -req -in "$d/$name.csr" -CA "$d/$ca.crt" -CAkey "$d/$ca.key" -CAcreateserial \
            -days 2 -out "$d/$name.crt" -extfile <(printf '%s\n' "subjectAltName=$san" \
                "extendedKeyUsage=serverAuth,clientAuth" "keyUsage=critical,digitalSignature" \
                "basicConstraints=CA:FALSE") 2>/dev/null
}
tls_ca() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1/$2.key" \
        -out "$1/$2.crt" -days 2 -subj "/CN=fleetnode test $2" 2>/dev/null
}

# tls_install NODE DIR: the node's certificates into /etc/pki/etcd; keys root:etcd 0640 (etcd
# runs as etcd, fleet and fleetnode as root).
tls_install() {
    local n=$1 d=$2 r
    r=$(node_root "$n")
    install -d -m 0755 "$r$FN_TLS_NODE_DIR"
    install -m 0644 "$d/ca.crt" "$r$FN_TLS_NODE_DIR/ca.crt"
    install -m 0644 "$d/$n.crt" "$r$FN_TLS_NODE_DIR/server.crt"
    install -m 0644 "$d/$n-peer.crt" "$r$FN_TLS_NODE_DIR/peer.crt"
    install -m 0640 "$d/$n.key" "$r$FN_TLS_NODE_DIR/server.key"
    install -m 0640 "$d/$n-peer.key" "$r$FN_TLS_NODE_DIR/peer.key"
    chroot "$r" chgrp etcd "$FN_TLS_NODE_DIR/server.key" "$FN_TLS_NODE_DIR/peer.key"
}

tls_toml() {
    cat <<EOF

[etcd.tls]
ca = "$FN_TLS_NODE_DIR/ca.crt"
cert = "$FN_TLS_NODE_DIR/server.crt"
key = "$FN_TLS_NODE_DIR/server.key"
peer_ca = "$FN_TLS_NODE_DIR/ca.crt"
peer_cert = "$FN_TLS_NODE_DIR/peer.crt"
peer_key = "$FN_TLS_NODE_DIR/peer.key"
client_cert_auth = true
peer_client_cert_auth = true
EOF
}

scenario_11_tls() {
    local nodes=(fn-node1 fn-node2 fn-node3) n
    command -v openssl >/dev/null || { fail "openssl missing on the host (tests/cluster/deps.sh)"; return; }
    local d=$FN_STATE/tls
    rm -rf "$d" && install -d -m 0700 "$d"
    local ok=1 ip
    tls_ca "$d" ca && tls_ca "$d" rogue-ca || ok=0
    for n in "${nodes[@]}"; do
        ip=$(node_ip "$n")
        tls_cert "$d" "$n" ca "IP:$ip,IP:127.0.0.1,DNS:localhost,DNS:$n" || ok=0
        tls_cert "$d" "$n-peer" ca "IP:$ip,DNS:$n" || ok=0
    done
    tls_cert "$d" rogue rogue-ca "IP:127.0.0.1,DNS:localhost" || ok=0
    if [ $ok = 0 ]; then fail "openssl could not make the test CA and certificates"; return; fi
    pass "test CA, 3 server/client and 3 peer certificates (EC P-256), and a rogue CA, made in $d"
    for n in "${nodes[@]}"; do
        make_node "$n" "$(node_ip "$n")" "$(member_toml "$n" "$(node_ip "$n")" "$FN_STATIC_PEERS" "$(node_meta "$n")")$(tls_toml)"
        tls_install "$n" "$d"
    done
    if ! install -m 0644 "$d/rogue.crt" "$d/rogue.key" "$(node_root fn-node1)/root/"; then
        fail "cannot install the rogue certificate into fn-node1"
        return
    fi
    boot_all "${nodes[@]}" || return

    # shellcheck disable=SC2034 # read by etcdctl3/etcd_curl (lib.sh) through dynamic scoping
    local FN_ETCD_TLS=$FN_TLS_NODE_DIR
    check_etcd_cluster fn-node1 3 "${nodes[@]}"
    local urls
    urls=$(etcdctl3 fn-node1 member list 2>/dev/null | awk -F', ' '{print $4 "," $5}' | tr ',' '\n' | grep -v '^$' | sort -u)
    check "every peer and client URL in the member list is https ($(paste -sd ' ' <<<"$urls"))" \
        eval '[ -n "$urls" ] && ! grep -qv "^https://" <<<"$urls"'

    # Who etcd accepts and refuses, tried from fn-node1. Each refusal is paired with the same
    # request that succeeds with the right certificate, so a refusal cannot come from a typo.
    local ca=$FN_TLS_NODE_DIR/ca.crt c=$FN_TLS_NODE_DIR
    local local_api=https://127.0.0.1:2379 peer2
    peer2="https://$(node_ip fn-node2):2380"
    _try() { TRY_OUT=$(in_node fn-node1 curl -sSf --http1.1 --max-time 5 "$@" 2>&1); TRY_RC=$?; TRY_OUT=${TRY_OUT:0:300}; }
    _accepted() { _try "$@"; [ "$TRY_RC" = 0 ]; }
    # A TLS refusal: etcd ends the connection during or right after the handshake: curl 35
    # (handshake), 56 (the alert, on receive), 55 or 16 (with TLS 1.3 the client may already be
    # sending when the alert arrives). Not any error: a key file curl cannot load is 58, a
    # server certificate it does not trust 60, no listener 7, an HTTP error 22.
    _tls_refused() { [[ $TRY_RC == 16 || $TRY_RC == 35 || $TRY_RC == 55 || $TRY_RC == 56 ]]; }
    _refused() { _try "$@"; _tls_refused; }
    _try --cacert "$ca" --cert "$c/server.crt" --key "$c/server.key" "$local_api/health"
    check "client API with the node's certificate: $TRY_OUT" eval '[ "$TRY_RC" = 0 ] && [[ $TRY_OUT == *"\"health\":\"true\""* ]]'
    check "client API with the node's certificate: /v2/keys answers" _accepted --cacert "$ca" --cert "$c/server.crt" --key "$c/server.key" "$local_api/v2/keys"
    check "client API without a certificate is refused in the TLS handshake" _refused --cacert "$ca" "$local_api/v2/keys"
    log "    curl $TRY_RC: $TRY_OUT"
    check "client API with a certificate from another CA is refused in the TLS handshake" \
        _refused --cacert "$ca" --cert /root/rogue.crt --key /root/rogue.key "$local_api/v2/keys"
    log "    curl $TRY_RC: $TRY_OUT"
    _try http://127.0.0.1:2379/v2/keys
    check "plain http to the client port gets no HTTP answer (curl $TRY_RC: $TRY_OUT)" test "$TRY_RC" = 52
    _try --cacert "$ca" --cert "$c/peer.crt" --key "$c/peer.key" "$peer2/version"
    check "fn-node2's peer port answers fn-node1's peer certificate: $TRY_OUT" eval '[ "$TRY_RC" = 0 ] && [[ $TRY_OUT == *etcdserver* ]]'
    check "fn-node2's peer port refuses a client without a certificate by a TLS alert" _refused --cacert "$ca" "$peer2/version"
    log "    curl $TRY_RC: $TRY_OUT"
    check "fn-node2's peer port refuses a certificate from another CA by a TLS alert" \
        _refused --cacert "$ca" --cert /root/rogue.crt --key /root/rogue.key "$peer2/version"
    log "    curl $TRY_RC: $TRY_OUT"

    # fleetnode's own clients, and fleet, with the same certificates.
    check_health_cli "${nodes[@]}"
    local st
    st=$(in_node fn-node1 fleetnode status --json 2>/dev/null | python3 -c 'import json,sys; m=json.load(sys.stdin)["members"]; print(len(m), sum(1 for x in m if x.get("healthy")), sum(1 for x in m if x.get("leader")))' 2>/dev/null)
    check "fleetnode status --json over TLS: members, healthy, leaders = $st" test "$st" = "3 3 1"
    check_fleet_machines fn-node1 3 "${nodes[@]}"
    check_fleet_hello fn-node1 "${nodes[@]}"
    if fleet_available; then
        check_fleet_remote "${nodes[@]}"
    else
        check "fleetnode core --sync over TLS on every node (twice)" sync_core_keys "${nodes[@]}"
        local kh
        kh=$(in_node fn-node1 cat /home/core/.fleetctl/known_hosts 2>/dev/null | awk '!/^#/ {print $1}' | sort | paste -sd ' ')
        check "fn-node1: ~core/.fleetctl/known_hosts has the host keys of fn-node2 and fn-node3, exchanged through etcd over TLS ($kh)" \
            eval '[[ " $kh " == *" $(node_ip fn-node2) "* && " $kh " == *" $(node_ip fn-node3) "* ]]'
    fi

    # etcd SIGKILLed on a follower (the victim); a write through another node while it is down.
    local leader victim writer pid nr0 t0 val
    if ! leader=$(find_leader "${nodes[@]}"); then
        fail "no leader found before the SIGKILL"
        return
    fi
    leader=${leader% *}
    for n in "${nodes[@]}"; do [ "$n" = "$leader" ] || { victim=$n; break; }; done
    for n in "${nodes[@]}"; do [ "$n" = "$victim" ] || { writer=$n; break; }; done
    pid=$(in_node "$victim" systemctl show -p MainPID --value etcd.service)
    nr0=$(in_node "$victim" systemctl show -p NRestarts --value etcd.service)
    val="written-while-down-$RANDOM"
    t0=$SECONDS
    in_node "$victim" kill -KILL "$pid"
    local put down
    _put() { put=$(etcdctl3 "$writer" put /fleetnode-test/fault "$val" 2>&1) && [ "$put" = OK ]; }
    wait_for 15 _put
    # Still down after the write returned (RestartSec=5s): the write is one it missed.
    down=$(in_node "$victim" systemctl show -p ActiveState,SubState --value etcd.service | paste -sd /)
    check "etcd (PID $pid) SIGKILLed on $victim (a follower; leader $leader); a write through $writer meanwhile: $put; $victim's etcd.service then: $down" \
        eval '[ "$put" = OK ] && [[ $down != active/* ]]'
    _restarted() {
        local a p r
        a=$(in_node "$victim" systemctl is-active etcd.service)
        p=$(in_node "$victim" systemctl show -p MainPID --value etcd.service)
        r=$(in_node "$victim" systemctl show -p NRestarts --value etcd.service)
        [ "$a" = active ] && [ "$p" != "$pid" ] && [ "$p" != 0 ] && [ "$r" = $((nr0 + 1)) ]
    }
    if wait_for 60 _restarted; then
        pass "systemd restarted etcd on $victim after $((SECONDS - t0))s (NRestarts $nr0 -> $((nr0 + 1)), PID $(in_node "$victim" systemctl show -p MainPID --value etcd.service))"
    else
        fail "etcd on $victim not restarted in 60s: $(in_node "$victim" systemctl is-active etcd.service), NRestarts $(in_node "$victim" systemctl show -p NRestarts --value etcd.service)"
        debug_node "$victim"
    fi
    local killed
    killed=$(in_node "$victim" journalctl -b -u etcd.service --no-pager -o cat | grep -m1 'status=9/KILL')
    check "$victim's journal: systemd saw the kill ($killed)" test -n "$killed"
    _caught_up() { [ "$(etcdctl3 "$victim" get --consistency=s --print-value-only /fleetnode-test/fault)" = "$val" ]; }
    if wait_for 30 _caught_up; then
        pass "$victim rejoined: its local (serializable) read returns the write it missed, $((SECONDS - t0))s after the kill"
    else
        fail "$victim did not catch up: local read '$(etcdctl3 "$victim" get --consistency=s --print-value-only /fleetnode-test/fault 2>&1)'"
    fi
    check_etcd_cluster "$victim" 3 "${nodes[@]}"
    check_health_cli "$victim"
    check_failed_empty "${nodes[@]}"
    rm -rf "$d"
}
