#!/bin/bash
# shellcheck disable=SC2034 # FN_* globals are read by lib.sh
# Booted-cluster figures as a markdown section on stdout (benches/bench.py pastes it into
# BENCHMARKS.md under "## Health check and cluster bring-up"); progress goes to stderr.
#
#   tests/cluster/bench.sh          (make bench-cluster; root)
#
# 1. On a healthy booted node of the static 3-node cluster: `fleetnode health` wall time (median
#    of BENCH_HEALTH_RUNS [20]) and peak RSS (/usr/bin/time -f %M), beside the same checks done
#    by hand: `etcdctl endpoint health` + `fleetctl list-machines` + `systemctl is-active etcd
#    fleet` (fleet parts only when fleet is available).
# 2. Bring-up, from the first `systemd-nspawn --boot` to every node's `fleetnode health` exiting
#    0 (polled every 0.2 s): 3 and 5 static nodes, 3 nodes via discovery behind the proxy.
# RPMs: FN_RPM_DIR, else /var/cache/fleetnode-tests/dist/rpms, else built by build-rpms.sh.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -z "${FN_RPM_DIR:-}" ]; then
    for d in "$HERE/../../dist/rpms" /var/cache/fleetnode-tests/dist/rpms; do
        if compgen -G "$d/fleetnode-[0-9]*.rpm" >/dev/null; then FN_RPM_DIR=$(cd "$d" && pwd); break; fi
    done
fi
# shellcheck source=lib.sh
source "$HERE/lib.sh"
# shellcheck disable=SC1090
for f in "$HERE"/scenarios/*.sh; do source "$f"; done
[ "$(id -u)" = 0 ] || die "bench.sh must run as root"
if ! compgen -G "$FN_RPM_DIR/fleetnode-[0-9]*.rpm" >/dev/null; then
    "$HERE/deps.sh" >&2 && FN_RPM_DIR=$("$HERE/build-rpms.sh") || die "cannot build the RPMs"
fi
RUNS=${BENCH_HEALTH_RUNS:-20}
FN_SCENARIO=bench
mkdir -p "$FN_RESULTS/bench"
fn_install_traps
cleanup_leftovers
build_rootfs >&2

median() { sort -n | awk '{a[NR]=$1} END {if (NR == 0) print "?"; else if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
now() { date +%s.%N; }
mono() { awk '{print $1}' /proc/uptime; } # ~CLOCK_MONOTONIC in s (no suspend on a test host)

# phases T0MONO NODES...: sets PHASES to where the bring-up time goes, as the latest node's
# offsets from T0: PID 1 started, etcd.service active (Type=notify: etcd joined and serves),
# systemd finished booting. From the nodes' own systemd timestamps (CLOCK_MONOTONIC, us).
phases() {
    local t0=$1 n a b c pa=0 pb=0 pc=0; shift
    for n in "$@"; do
        a=$(in_node "$n" systemctl show -p UserspaceTimestampMonotonic --value 2>/dev/null)
        b=$(in_node "$n" systemctl show -p ActiveEnterTimestampMonotonic --value etcd.service 2>/dev/null)
        c=$(in_node "$n" systemctl show -p FinishTimestampMonotonic --value 2>/dev/null)
        pa=$(awk -v x="${a:-0}" -v p="$pa" -v t="$t0" 'BEGIN {v = x / 1e6 - t; print (v > p ? v : p)}')
        pb=$(awk -v x="${b:-0}" -v p="$pb" -v t="$t0" 'BEGIN {v = x / 1e6 - t; print (v > p ? v : p)}')
        pc=$(awk -v x="${c:-0}" -v p="$pc" -v t="$t0" 'BEGIN {v = x / 1e6 - t; print (v > p ? v : p)}')
    done
    PHASES=$(printf 'PID 1 running %.1f s, etcd.service active %.1f s, boot finished %.1f s' "$pa" "$pb" "$pc")
}

# up_static N: seconds from the first boot to every node's `fleetnode health` exit 0.
_all_healthy() { local n; for n in "$@"; do in_node "$n" fleetnode health >/dev/null 2>&1 || return 1; done; }
# _poll_healthy T0 TIMEOUT NODES...: sets UP to the elapsed seconds, or "timeout". (No command
# substitution around these: the nodes must be booted by this shell, not a subshell.)
_poll_healthy() {
    local t0=$1 t=$2; shift 2
    local end=$((SECONDS + t))
    while [ $SECONDS -lt $end ]; do
        if _all_healthy "$@"; then UP=$(awk -v a="$t0" -v b="$(now)" 'BEGIN {printf "%.1f", b - a}'); return 0; fi
        sleep 0.2
    done
    UP="timeout (${t}s)"
    return 1
}
up_static() {
    local count=$1 i peers="" n t0
    local nodes=()
    for ((i = 1; i <= count; i++)); do nodes+=("fn-node$i"); peers+="fn-node$i=$FN_SUBNET.1$i "; done
    make_bridge
    for n in "${nodes[@]}"; do make_node "$n" "$(node_ip "$n")" "$(member_toml "$n" "$(node_ip "$n")" "$peers" "$(node_meta "$n")")" 2>/dev/null; done
    t0=$(now) T0MONO=$(mono)
    for n in "${nodes[@]}"; do boot_node "$n" 2>/dev/null; done
    _poll_healthy "$t0" 180 "${nodes[@]}" && phases "$T0MONO" "${nodes[@]}"
}
up_discovery() {
    local nodes=(fn-node1 fn-node2 fn-node3) n url t0
    make_bridge
    make_discovery_env >&2 || { UP="discovery env failed"; return 1; }
    discovery_new 3 url || { UP="discovery new failed"; return 1; }
    make_discovery_members "$url" "${nodes[@]}"
    t0=$(now) T0MONO=$(mono)
    for n in "${nodes[@]}"; do boot_node "$n" 2>/dev/null; done
    _poll_healthy "$t0" 240 "${nodes[@]}" && phases "$T0MONO" "${nodes[@]}"
}

# ---- 1. health check cost, on a healthy node of the 3-node cluster
PHASES=""
up_static 3; up3=$UP ph3=$PHASES
log "3 static nodes healthy after ${up3}s"
fleet_on=0
fleet_available && fleet_on=1
if [ $fleet_on = 1 ]; then
    manual='ETCDCTL_API=3 etcdctl --endpoints=http://127.0.0.1:2379 endpoint health && fleetctl list-machines >/dev/null && systemctl is-active etcd fleet'
    manual_label='`etcdctl endpoint health` + `fleetctl list-machines` + `systemctl is-active etcd fleet`'
else
    manual='ETCDCTL_API=3 etcdctl --endpoints=http://127.0.0.1:2379 endpoint health && systemctl is-active etcd'
    manual_label='`etcdctl endpoint health` + `systemctl is-active etcd` (no fleet)'
fi
# Runs CMD RUNS times inside fn-node2; prints "wall_us rss_kb" lines.
measure() {
    # shellcheck disable=SC2016
    FN_CMD_TIMEOUT=300 in_node fn-node2 sh -c 'for i in $(seq "$1"); do
        s=$(date +%s%N); /usr/bin/time -f %M -o /tmp/bench-rss sh -c "$2" >/dev/null 2>&1 || echo "exit $? in run $i" >&2
        e=$(date +%s%N); echo $(( (e - s) / 1000 )) $(tail -1 /tmp/bench-rss); done' sh "$RUNS" "$1"
}
out_h=$(measure 'fleetnode health')
out_m=$(measure "$manual")
h_ms=$(awk '{print $1/1000}' <<<"$out_h" | median | xargs printf '%.1f')
h_rss=$(awk '{print $2}' <<<"$out_h" | sort -n | tail -1)
m_ms=$(awk '{print $1/1000}' <<<"$out_m" | median | xargs printf '%.1f')
m_rss=$(awk '{print $2}' <<<"$out_m" | sort -n | tail -1)
checks=$(in_node fn-node2 fleetnode health --json 2>/dev/null | python3 -c 'import json,sys; print(", ".join(c["name"]+" "+str(round(c["duration_ms"],1))+" ms" for c in json.load(sys.stdin)["checks"]))')
teardown >&2

# ---- 2. bring-up
PHASES=""; up_static 5; up5=$UP ph5=$PHASES; log "5 static nodes: ${up5}s"; teardown >&2
PHASES=""; up_discovery; upd=$UP phd=$PHASES; log "3 discovery nodes: ${upd}s"; teardown >&2
# A second 3-node static run: one figure is not a measurement.
up_static 3; up3b=$UP; log "3 static nodes (2nd run): ${up3b}s"; teardown >&2

cat <<EOF
Measured by \`tests/cluster/bench.sh\` on $(nproc) CPUs ($(uname -r)), Debian bookworm nodes
under systemd-nspawn, etcd $(etcd --version 2>/dev/null | awk '/etcd Version/ {print $3}'), fleet: $([ $fleet_on = 1 ] && echo "v1.0.0" || echo "not available (nodes run \`[fleet] enabled = false\`)").

**One health check** on a healthy node of the static 3-node cluster (median of $RUNS runs, wall
time including process start; peak RSS of the largest process, \`/usr/bin/time -f %M\`):

| command | median wall | peak RSS |
|---|---|---|
| \`fleetnode health\` | ${h_ms} ms | ${h_rss} KiB |
| $manual_label | ${m_ms} ms | ${m_rss} KiB |

\`fleetnode health\` per check (one run): $checks.

**Bring-up**: from the first \`systemd-nspawn --boot\` to every node's \`fleetnode health\` exiting 0
(polled every 0.2 s; includes systemd boot, the generator, etcd's election$([ $fleet_on = 1 ] && echo ", fleet registering")):

| cluster | seconds | target | latest node, from the first boot |
|---|---|---|---|
| 3 static members | ${up3} (2nd run: ${up3b}) | 10 | ${ph3} |
| 5 static members | ${up5} | 10 | ${ph5} |
| 3 members via discovery behind tinyproxy | ${upd} | 20 | ${phd} |
EOF
