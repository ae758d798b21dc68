#!/usr/bin/env bash
# The fleetnode CLI against real components on loopback: a real etcd (Debian's etcd-server,
# v3.4 with --enable-v2) and a real discovery service (Debian's etcd-discovery).
# systemd and fleet parts are covered by the booted-cluster tests (tests/cluster).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-target/debug/fleetnode}
[ -x "$BIN" ] || cargo build -q -p fleetnode --bin fleetnode

work=$(mktemp -d /tmp/fleetnode-cli.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
fail=0
pass() { echo "PASS $*"; }
bad() { echo "FAIL $*"; fail=1; }

# Free loopback ports for this run (bounded search).
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
CP=$(port); PP=$(port); DP=$(port)

etcd --name solo --data-dir "$work/etcd" --enable-v2 \
  --listen-client-urls "http://127.0.0.1:$CP" --advertise-client-urls "http://127.0.0.1:$CP" \
  --listen-peer-urls "http://127.0.0.1:$PP" --initial-advertise-peer-urls "http://127.0.0.1:$PP" \
  --initial-cluster "solo=http://127.0.0.1:$PP" >"$work/etcd.log" 2>&1 &
pids+=($!); etcd_pid=$!
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$CP/health" >/dev/null && break; sleep 0.2; done

mkroot() {  # mkroot NAME PEERS
  mkdir -p "$work/$1/etc"
  cat >"$work/$1/etc/fleetnode.toml" <<TOML
[node]
name = "solo"
address = "127.0.0.1"
[etcd]
peers = { $2 }
client_port = $CP
peer_port = $PP
[fleet]
enabled = false
TOML
}
status_of() {  # status_of JSONFILE CHECK
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(next(c["status"] for c in d["checks"] if c["name"]==sys.argv[2]))' "$1" "$2"
}
detail_of() {
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(next(c["detail"] for c in d["checks"] if c["name"]==sys.argv[2]))' "$1" "$2"
}

# 1. A healthy single-member cluster.
mkroot healthy 'solo = "127.0.0.1"'
rc=0; "$BIN" health --json --root "$work/healthy" >"$work/h1.json" || rc=$?
for c in etcd-health etcd-members etcd-quorum etcd-leader; do
  s=$(status_of "$work/h1.json" $c)
  [ "$s" = ok ] && pass "health $c on a healthy member: ok" || bad "health $c: $s ($(detail_of "$work/h1.json" $c))"
done
detail_of "$work/h1.json" etcd-members | grep -q "solo" && pass "members list this node" || bad "members: $(detail_of "$work/h1.json" etcd-members)"
# The exit status follows the checks: 1 exactly when one failed.
want=0; grep -q '"status": "fail"' "$work/h1.json" && want=1
[ $rc -eq $want ] && pass "health exit status $rc matches its checks" || bad "health exit $rc, expected $want"

# 2. A static peer that never joined: quorum of 2 needs both, so health fails and names it.
mkroot ghost 'solo = "127.0.0.1", ghost = "127.0.0.2"'
rc=0; "$BIN" health --json --root "$work/ghost" >"$work/h2.json" || rc=$?
[ "$(status_of "$work/h2.json" etcd-members)" = warn ] && pass "member count below etcd.peers: warn" || bad "members: $(status_of "$work/h2.json" etcd-members)"
[ "$(status_of "$work/h2.json" etcd-quorum)" = fail ] && detail_of "$work/h2.json" etcd-quorum | grep -q ghost \
  && pass "quorum lost, missing member named: $(detail_of "$work/h2.json" etcd-quorum)" || bad "quorum: $(detail_of "$work/h2.json" etcd-quorum)"
[ $rc -eq 1 ] && pass "health exits 1 without quorum" || bad "health exit $rc without quorum"

# 3. discovery new against a real discovery service backed by this etcd.
if command -v discovery.etcd.io >/dev/null; then
  discovery.etcd.io --addr "127.0.0.1:$DP" --etcd "http://127.0.0.1:$CP" --host "http://127.0.0.1:$DP" >"$work/disc.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$DP/" && break; sleep 0.2; done
  if url=$("$BIN" discovery new --size 3 --endpoint "http://127.0.0.1:$DP" --root "$work/none" 2>"$work/disc.err"); then
    size=$(curl -sf "$url/_config/size" | python3 -c 'import json,sys; print(json.load(sys.stdin)["node"]["value"])' || true)
    [ "$size" = 3 ] && pass "discovery new: $url registered with size 3" || bad "discovery token $url has size '$size'"
  else
    bad "discovery new failed: $(cat "$work/disc.err")"
  fi
  # The same through the node's [proxy]: a real tinyproxy must see the request.
  XP=$(port)
  printf 'Port %s\nListen 127.0.0.1\nAllow 127.0.0.1\nLogFile "%s"\nLogLevel Info\nTimeout 10\n' "$XP" "$work/proxy.log" >"$work/tinyproxy.conf"
  tinyproxy -d -c "$work/tinyproxy.conf" >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$XP") 2>/dev/null && break; sleep 0.2; done
  mkroot proxied 'solo = "127.0.0.1"'
  printf '[proxy]\nhttp = "http://127.0.0.1:%s"\n' "$XP" >>"$work/proxied/etc/fleetnode.toml"
  if url=$("$BIN" discovery new --size 5 --endpoint "http://127.0.0.1:$DP" --root "$work/proxied" 2>"$work/disc2.err"); then
    grep -q "GET http://127.0.0.1:$DP/new?size=5" "$work/proxy.log" \
      && pass "discovery new went through the configured proxy ($url)" || bad "the proxy did not see the request: $(cat "$work/proxy.log")"
  else
    bad "discovery new through the proxy failed: $(cat "$work/disc2.err")"
  fi

  # A node bootstrapping by discovery while etcd is not up: health says why.
  full=$("$BIN" discovery new --size 1 --endpoint "http://127.0.0.1:$DP" --root "$work/none" 2>/dev/null)
  curl -sf -X PUT "$full/8e9e05c52164694d" -d value="other=http://10.9.9.9:2380" >/dev/null
  DEAD=$(port)
  mkdisc() {  # mkdisc NAME TOKEN [PROXYPORT]
    mkdir -p "$work/$1/etc"
    printf '[node]\nname = "solo"\naddress = "127.0.0.1"\n[etcd]\ndiscovery = "%s"\nclient_port = %s\n[fleet]\nenabled = false\n' "$2" "$DEAD" >"$work/$1/etc/fleetnode.toml"
    [ -z "${3:-}" ] || printf '[proxy]\nhttp = "http://127.0.0.1:%s"\n' "$3" >>"$work/$1/etc/fleetnode.toml"
  }
  mkdisc full "$full"
  rc=0; "$BIN" health --json --root "$work/full" >"$work/h4.json" || rc=$?
  [ "$(status_of "$work/h4.json" etcd-discovery)" = fail ] && detail_of "$work/h4.json" etcd-discovery | grep -q "discovery cluster is full: 1 of 1" \
    && pass "a full discovery cluster is named: $(detail_of "$work/h4.json" etcd-discovery | cut -c1-90)..." || bad "full discovery: $(detail_of "$work/h4.json" etcd-discovery)"
  mkdisc noproxy "$url" "$DEAD"
  rc=0; "$BIN" health --json --root "$work/noproxy" >"$work/h5.json" || rc=$?
  [ "$(status_of "$work/h5.json" etcd-discovery)" = fail ] && detail_of "$work/h5.json" etcd-discovery | grep -q "through proxy http://127.0.0.1:$DEAD" \
    && [ $rc -eq 1 ] && pass "proxy down during discovery: $(detail_of "$work/h5.json" etcd-discovery | cut -c1-110)..." || bad "proxy down: $(detail_of "$work/h5.json" etcd-discovery)"
  # The token is a secret: health output (kept in the journal) names the host, never the URL.
  ! grep -q "${url##*/}" "$work/h5.json" && ! grep -q "${full##*/}" "$work/h4.json" \
    && pass "health output does not contain the discovery tokens" || bad "health output leaks a discovery token: $(cat "$work/h4.json" "$work/h5.json")"
else
  bad "discovery.etcd.io is missing (apt-get install etcd-discovery)"
fi

# 4. etcd gone: health fails and says so.
kill "$etcd_pid"; wait "$etcd_pid" 2>/dev/null || true
rc=0; "$BIN" health --json --root "$work/healthy" >"$work/h3.json" || rc=$?
[ "$(status_of "$work/h3.json" etcd-health)" = fail ] && [ $rc -eq 1 ] && pass "etcd down: $(detail_of "$work/h3.json" etcd-health)" || bad "etcd down: rc=$rc $(detail_of "$work/h3.json" etcd-health)"

# 5. The CLI contract: usage errors exit 2; completions and man pages exist.
rc=0; "$BIN" check --format yaml >/dev/null 2>&1 || rc=$?
[ $rc -eq 2 ] && pass "usage error exits 2" || bad "usage error exit $rc"
for sh in bash zsh fish; do
  "$BIN" completions $sh >"$work/completion.$sh" && grep -q "fleetnode" "$work/completion.$sh" && pass "$sh completion" || bad "$sh completion"
done
bash -n "$work/completion.bash" && pass "bash completion parses" || bad "bash completion does not parse"
"$BIN" man --output "$work/man" && grep -q '^.TH fleetnode 1' "$work/man/fleetnode.1" && [ -s "$work/man/fleetnode-health.1" ] \
  && pass "man pages: $(ls "$work/man" | tr '\n' ' ')" || bad "man pages"
# 6. The handwritten man pages render without warnings.
for m in man/*.[0-9]; do
  w=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$m" 2>&1 >/dev/null)
  [ -z "$w" ] && pass "man -l $m: no warnings" || bad "man -l $m: $w"
done
exit $fail
