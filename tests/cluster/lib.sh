#!/bin/bash
# Real-boot cluster test library: Debian bookworm nodes booted with systemd-nspawn on a private
# bridge, fleetnode's RPMs installed, checks run inside the nodes with nsenter.
# Sourced by tests/cluster/run.sh, tests/cluster/demo.sh and the scenario files.
#
# Everything the harness owns is named fn-*: bridge fn-br0, machines fn-node1..., host-side
# veths vb-fn-node1...; state in $FN_STATE, node trees in $FN_WORK. The bridge has no address,
# the nodes have no gateway: no traffic leaves the bridge.
#
# Functions (the scenario API):
#   build_rootfs                    cached debootstrap rootfs -> $FN_ROOTFS
#   make_node NAME IP TOML          node tree (overlay on the rootfs), payload, config
#   boot_node NAME                  systemd-nspawn --boot in the background, waits for PID 1
#   wait_booted NAME [TIMEOUT]      until `systemctl is-system-running` is running/degraded
#   in_node NAME CMD...             run CMD inside the node (nsenter -a), clean environment
#   wait_for TIMEOUT CMD...         retry CMD every second until it succeeds or TIMEOUT seconds
#   poweroff_node NAME [TIMEOUT]    clean shutdown (systemd poweroff), kill after TIMEOUT
#   save_journal NAME               node journal -> $FN_RESULTS/<scenario>/<node>.journal
#   teardown                        poweroff every node, save journals, remove trees, bridge
#   pass/fail/skip MSG              report lines; fleet_available: FLEET_* set?
#
# Environment:
#   FN_CACHE     cached rootfs and node trees [/var/cache/fleetnode-tests]
#   FN_RESULTS   journals and logs [REPO/results/cluster]
#   FN_RPM_DIR   the RPMs to install [REPO/dist/rpms]
#   FN_PAYLOAD   rpm (default) or binaries (development fallback: target/release + Debian's
#                etcd copied in, no RPMs; needs FN_BIN_DIR [REPO/target/release])
#   FLEET_TARBALL / FLEET_BIN_DIR   fleet v1.0.0 (release tarball or a dir with fleetd,
#                fleetctl); without them (and no fleet RPM in FN_RPM_DIR) fleet steps are SKIP
#   FN_MIRROR    Debian mirror for debootstrap [http://deb.debian.org/debian]
#   FN_KEEP=1    leave nodes running and trees in place (debugging); teardown still on Ctrl-C

set -uo pipefail
# Scenario helpers are small nested functions called through wait_for/check.
# shellcheck disable=SC2317

FN_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FN_REPO=$(cd "$FN_LIB_DIR/../.." && pwd)
FN_CACHE=${FN_CACHE:-/var/cache/fleetnode-tests}
FN_WORK=$FN_CACHE/nodes
FN_STATE=${FN_STATE:-/run/fleetnode-tests}
FN_RESULTS=${FN_RESULTS:-$FN_REPO/results/cluster}
FN_RPM_DIR=${FN_RPM_DIR:-$FN_REPO/dist/rpms}
FN_PAYLOAD=${FN_PAYLOAD:-rpm}
FN_BIN_DIR=${FN_BIN_DIR:-$FN_REPO/target/release}
FN_MIRROR=${FN_MIRROR:-http://deb.debian.org/debian}
FN_BRIDGE="fn-br0"
FN_SUBNET=${FN_SUBNET:-10.231.7}  # /24; nodes get .11, .12, ...; the bridge gets no address
FN_SCENARIO=${FN_SCENARIO:-adhoc}

# Packages of the node rootfs; the cache key is a hash of this list and of the setup below.
# rpm: scenario 07 upgrades fleetnode with the node's own `rpm -U` (scriptlets run for real);
# time: /usr/bin/time -f %M for the bench.
FN_PACKAGES=(systemd systemd-sysv dbus iproute2 openssh-server curl ca-certificates
    procps less rpm time)
FN_ROOTFS_SETUP_VERSION=1

FN_NODES=()          # nodes made in this run, in order
declare -gA FN_PID   # NAME -> systemd-nspawn PID
declare -gA FN_IP    # NAME -> address
FN_PASS=0 FN_FAIL=0 FN_SKIP=0

# ---------------------------------------------------------------------------- reporting
_ts() { date +%H:%M:%S; }
log() { echo "[$(_ts)] $*" >&2; }
die() { echo "[$(_ts)] ERROR: $*" >&2; exit 1; }
pass() { FN_PASS=$((FN_PASS + 1)); echo "PASS: [$FN_SCENARIO] $*"; _record PASS "$*"; }
fail() { FN_FAIL=$((FN_FAIL + 1)); echo "FAIL: [$FN_SCENARIO] $*"; _record FAIL "$*"; }
skip() { FN_SKIP=$((FN_SKIP + 1)); echo "SKIP: [$FN_SCENARIO] $*"; _record SKIP "$*"; }
_record() { mkdir -p "$FN_RESULTS" && echo "$1: [$FN_SCENARIO] $2" >>"$FN_RESULTS/summary.txt"; }
# check MSG CMD...: PASS when CMD succeeds, FAIL otherwise.
check() { local msg=$1; shift; if "$@"; then pass "$msg"; else fail "$msg"; fi; }

# ---------------------------------------------------------------------------- fleet source
# Prints the dir holding fleetd/fleetctl, extracting FLEET_TARBALL once; empty when none.
fleet_bin_dir() {
    if [ -n "${FLEET_BIN_DIR:-}" ]; then
        [ -x "$FLEET_BIN_DIR/fleetd" ] && [ -x "$FLEET_BIN_DIR/fleetctl" ] ||
            die "FLEET_BIN_DIR=$FLEET_BIN_DIR has no executable fleetd and fleetctl"
        echo "$FLEET_BIN_DIR"
    elif [ -n "${FLEET_TARBALL:-}" ]; then
        [ -f "$FLEET_TARBALL" ] || die "FLEET_TARBALL=$FLEET_TARBALL not found"
        local sum dir
        sum=$(sha256sum "$FLEET_TARBALL" | cut -c1-16)
        dir=$FN_CACHE/fleet-$sum
        if [ ! -x "$dir/fleetctl" ]; then
            mkdir -p "$dir.tmp" && tar -xzf "$FLEET_TARBALL" -C "$dir.tmp" --strip-components=1 &&
                rm -rf "$dir" && mv "$dir.tmp" "$dir" || die "cannot extract $FLEET_TARBALL"
        fi
        echo "$dir"
    fi
}

# True when the nodes get fleet: a fleet RPM in rpm mode, or FLEET_TARBALL/FLEET_BIN_DIR.
fleet_available() {
    if [ "$FN_PAYLOAD" = rpm ]; then
        compgen -G "$FN_RPM_DIR/fleet-[0-9]*.rpm" >/dev/null
    else
        [ -n "$(fleet_bin_dir)" ]
    fi
}
fleet_skip_reason() { echo "fleet not available: set FLEET_TARBALL"; }
# skip_fleet STEP: the SKIP line of a fleet step when the nodes have no fleet.
skip_fleet() { skip "$1 ($(fleet_skip_reason))"; }

# ---------------------------------------------------------------------------- rootfs
# Removes a tree we made, unmounting anything left mounted below it first (a failed
# debootstrap leaves /proc mounted), never crossing into another file system.
_rm_tree() {
    local d=$1 m
    [ -e "$d" ] || return 0
    for m in $(awk -v d="$d/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r); do
        umount "$m" 2>/dev/null || umount -l "$m"
    done
    rm -rf --one-file-system "$d"
}
rootfs_key() {
    { printf '%s\n' "${FN_PACKAGES[@]}" | sort; echo "setup=$FN_ROOTFS_SETUP_VERSION";
      echo "mirror=$FN_MIRROR"; } | sha256sum | cut -c1-12
}

# Debian bookworm rootfs with systemd, cached in $FN_CACHE/rootfs-<hash>. Sets FN_ROOTFS.
build_rootfs() {
    FN_ROOTFS=$FN_CACHE/rootfs-$(rootfs_key)
    if [ -f "$FN_ROOTFS/.fleetnode-rootfs-ok" ]; then
        log "rootfs: cached $FN_ROOTFS"
        return 0
    fi
    local tmp=$FN_ROOTFS.tmp
    _rm_tree "$tmp"
    mkdir -p "$FN_CACHE"
    log "rootfs: debootstrap bookworm into $tmp (${FN_PACKAGES[*]})"
    local t0=$SECONDS
    local inc
    inc=$(IFS=,; echo "${FN_PACKAGES[*]}")
    if ! timeout 900 debootstrap --variant=minbase --include="$inc" bookworm "$tmp" "$FN_MIRROR" \
        >"$FN_CACHE/debootstrap.log" 2>&1; then
        tail -20 "$FN_CACHE/debootstrap.log" "$tmp/debootstrap/debootstrap.log" >&2
        _rm_tree "$tmp"
        die "debootstrap failed (log: $FN_CACHE/debootstrap.log)"
    fi
    # Generic node setup (per-node identity comes in make_node).
    rm -f "$tmp"/etc/ssh/ssh_host_*        # per node, in make_node
    : >"$tmp/etc/machine-id"               # per node
    rm -f "$tmp/var/lib/dbus/machine-id"
    mkdir -p "$tmp/var/log/journal"        # persistent journal: read back after poweroff
    systemctl --root="$tmp" enable systemd-networkd.service systemd-networkd-wait-online.service \
        >/dev/null 2>&1 || die "cannot enable systemd-networkd in the rootfs"
    # Nothing in a node may try to reach the outside or fail for reasons unrelated to the test.
    local u
    for u in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service \
        fstrim.timer man-db.timer dpkg-db-backup.timer getty@tty1.service; do
        systemctl --root="$tmp" mask "$u" >/dev/null 2>&1 || true
    done
    echo "pts/0" >>"$tmp/etc/securetty" 2>/dev/null || true
    rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/*
    touch "$tmp/.fleetnode-rootfs-ok"
    _rm_tree "$FN_ROOTFS"
    mv "$tmp" "$FN_ROOTFS"
    log "rootfs: built in $((SECONDS - t0))s: $FN_ROOTFS"
}

# ---------------------------------------------------------------------------- payload
# Installs fleetnode (+ etcd, fleet) into a node root: the RPMs, or the development fallback.
install_payload() {
    local root=$1
    case $FN_PAYLOAD in
    rpm)
        local rpms=("$FN_RPM_DIR"/*.rpm)
        [ -e "${rpms[0]}" ] || die "no RPMs in $FN_RPM_DIR: run make rpm (or FN_PAYLOAD=binaries for development)"
        rpms=()
        local f
        for f in "$FN_RPM_DIR"/*.rpm; do
            case $f in *.src.rpm | */*-debuginfo-* | */*-debugsource-*) continue ;; esac
            rpms+=("$f")
        done
        mkdir -p "$root/var/lib/rpm"
        if ! timeout 300 rpm --root "$root" --dbpath /var/lib/rpm --nodeps -i "${rpms[@]}" \
            >"$root/root/rpm-install.log" 2>&1; then
            cat "$root/root/rpm-install.log" >&2
            die "rpm -i into $root failed"
        fi
        ;;
    binaries)
        [ -x "$FN_BIN_DIR/fleetnode-generator" ] || die "$FN_BIN_DIR/fleetnode-generator missing (cargo build --release)"
        install -D -m 0755 "$FN_BIN_DIR/fleetnode-generator" "$root/usr/lib/systemd/system-generators/fleetnode-generator"
        [ ! -x "$FN_BIN_DIR/fleetnode" ] || install -D -m 0755 "$FN_BIN_DIR/fleetnode" "$root/usr/bin/fleetnode"
        install -m 0755 /usr/bin/etcd /usr/bin/etcdctl "$root/usr/bin/" || die "Debian etcd-server/etcd-client needed on the host"
        install -D -m 0644 "$FN_REPO/etc/sysusers.d/etcd.conf" "$root/usr/lib/sysusers.d/etcd.conf"
        chroot "$root" /bin/sh -c 'getent group etcd >/dev/null || groupadd -r etcd; getent passwd etcd >/dev/null || useradd -r -g etcd -d /var/lib/etcd -s /sbin/nologin etcd'
        local fb
        fb=$(fleet_bin_dir)
        [ -z "$fb" ] || install -m 0755 "$fb/fleetd" "$fb/fleetctl" "$root/usr/bin/"
        ;;
    *) die "FN_PAYLOAD must be rpm or binaries, not $FN_PAYLOAD" ;;
    esac
}

# ---------------------------------------------------------------------------- nodes
node_root() { echo "$FN_WORK/$1/root"; }

# make_node NAME IP TOML: overlay of the rootfs, identity, network, payload, /etc/fleetnode.toml.
make_node() {
    local name=$1 ip=$2 toml=$3
    [[ $name == fn-* ]] || die "node names start with fn-: $name"
    [ -n "${FN_ROOTFS:-}" ] || build_rootfs
    local d=$FN_WORK/$name root
    root=$d/root
    # A node of this name still running (recorded, not torn down) would lose its record below.
    [ ! -e "$FN_STATE/$name.pid" ] || _kill_recorded "$FN_STATE/$name.pid"
    _umount_node "$name"
    _rm_tree "$d"
    mkdir -p "$d/upper" "$d/work" "$root"
    mount -t overlay "overlay-$name" -o "lowerdir=$FN_ROOTFS,upperdir=$d/upper,workdir=$d/work" "$root" ||
        die "cannot mount the overlay for $name"
    FN_NODES+=("$name")
    # shellcheck disable=SC2034 # for scenarios
    FN_IP[$name]=$ip
    echo "$name" >"$root/etc/hostname"
    printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.1.1\t%s\n' "$name" >"$root/etc/hosts"
    # fleet identifies machines by /etc/machine-id: unique per node.
    tr -d '-' </proc/sys/kernel/random/uuid >"$root/etc/machine-id"
    mkdir -p "$root/etc/systemd/network"
    # Sorts before the shipped 80-container-host0.network (DHCP): static address, no gateway.
    cat >"$root/etc/systemd/network/10-host0.network" <<EOF
[Match]
Name=host0

[Network]
Address=$ip/24
LinkLocalAddressing=no
IPv6AcceptRA=no
EOF
    chroot "$root" ssh-keygen -A >/dev/null 2>&1 || true
    install_payload "$root"
    printf '%s\n' "$toml" >"$root/etc/fleetnode.toml"
    chmod 0640 "$root/etc/fleetnode.toml"  # as the RPM ships it (FN_PAYLOAD=binaries creates it)
    log "node $name: $ip, machine-id $(cat "$root/etc/machine-id")"
}

# The PID (host namespace) of the node's PID 1: the child of systemd-nspawn whose NSpid is 1.
node_pid1() {
    local name=$1 np=${FN_PID[$1]:-} c
    [ -n "$np" ] || return 1
    for c in $(pgrep -P "$np" 2>/dev/null); do
        if awk '/^NSpid:/ { exit !($NF == 1 && NF > 2) }' "/proc/$c/status" 2>/dev/null; then
            echo "$c"
            return 0
        fi
    done
    return 1
}

boot_node() {
    local name=$1 root
    root=$(node_root "$name")
    mkdir -p "$FN_STATE" "$FN_RESULTS/$FN_SCENARIO"
    ip link show "$FN_BRIDGE" >/dev/null 2>&1 || make_bridge
    # FN_DETACH=1 (the demo): own session, so the nodes outlive the shell that started them.
    ${FN_DETACH:+setsid} systemd-nspawn -D "$root" --boot --register=no --keep-unit --machine="$name" \
        --network-bridge="$FN_BRIDGE" --console=read-only \
        </dev/null >>"$FN_RESULTS/$FN_SCENARIO/$name.console" 2>&1 &
    FN_PID[$name]=$!
    # PID and start time: a leftover PID is only killed if it is still this process.
    echo "${FN_PID[$name]} $(awk '{print $22}' "/proc/${FN_PID[$name]}/stat" 2>/dev/null)" \
        >"$FN_STATE/$name.pid"
    local i
    for ((i = 0; i < 100; i++)); do
        node_pid1 "$name" >/dev/null && { log "node $name: booting (nspawn PID ${FN_PID[$name]}, PID 1 = $(node_pid1 "$name"))"; return 0; }
        kill -0 "${FN_PID[$name]}" 2>/dev/null || break
        sleep 0.2
    done
    tail -20 "$FN_RESULTS/$FN_SCENARIO/$name.console" >&2
    die "node $name did not start (see $FN_RESULTS/$FN_SCENARIO/$name.console)"
}

# in_node NAME CMD...: runs CMD in all of the node's namespaces with a clean environment.
# Extra environment: in_node NAME env VAR=value CMD...
in_node() {
    local name=$1; shift
    local pid
    pid=$(node_pid1 "$name") || { echo "in_node: $name is not running" >&2; return 125; }
    timeout --kill-after=5 "${FN_CMD_TIMEOUT:-60}" nsenter -t "$pid" -a -- /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 TERM=dumb SYSTEMD_COLORS=0 SYSTEMD_PAGER= "$@"
}

# wait_for TIMEOUT CMD...: retries every second until CMD (a command or function) succeeds;
# false after TIMEOUT seconds. in_node bounds each try (FN_CMD_TIMEOUT, default 60s).
wait_for() {
    local t=$1; shift
    local end=$((SECONDS + t))
    while true; do
        if "$@" >/dev/null 2>&1; then return 0; fi
        [ $SECONDS -lt $end ] || return 1
        sleep 1
    done
}

_booted() { local s; s=$(in_node "$1" systemctl is-system-running 2>/dev/null); [[ $s == running || $s == degraded ]]; }
wait_booted() {
    local name=$1 t=${2:-120} t0=$SECONDS
    if wait_for "$t" _booted "$name"; then
        log "node $name: booted in $((SECONDS - t0))s ($(in_node "$name" systemctl is-system-running 2>/dev/null))"
        return 0
    fi
    log "node $name: not booted after ${t}s: $(in_node "$name" systemctl is-system-running 2>&1)"
    return 1
}

save_journal() {
    local name=$1 root out
    root=$(node_root "$name")
    out=$FN_RESULTS/$FN_SCENARIO/$name.journal
    mkdir -p "$(dirname "$out")"
    if [ -d "$root/var/log/journal" ]; then
        journalctl -D "$root/var/log/journal" -o short-precise --no-pager >"$out" 2>&1 || true
    fi
}

# poweroff_node NAME [TIMEOUT]: SIGRTMIN+4 to PID 1 (systemd: poweroff), SIGTERM/SIGKILL to
# systemd-nspawn after TIMEOUT.
poweroff_node() {
    local name=$1 t=${2:-60} np=${FN_PID[$1]:-} pid i
    [ -n "$np" ] || return 0
    if pid=$(node_pid1 "$name"); then
        kill -s RTMIN+4 "$pid" 2>/dev/null || true
    fi
    for ((i = 0; i < t * 5; i++)); do
        kill -0 "$np" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$np" 2>/dev/null; then
        log "node $name: no clean poweroff in ${t}s, killing it (PID 1, then systemd-nspawn $np)"
        if pid=$(node_pid1 "$name"); then kill -KILL "$pid" 2>/dev/null; fi
        for ((i = 0; i < 25; i++)); do kill -0 "$np" 2>/dev/null || break; sleep 0.2; done
        kill -TERM "$np" 2>/dev/null
        sleep 5
        kill -KILL "$np" 2>/dev/null
    fi
    wait "$np" 2>/dev/null
    unset "FN_PID[$name]"
    rm -f "$FN_STATE/$name.pid"
}

_umount_node() {
    local root=$FN_WORK/$1/root
    if mountpoint -q "$root" 2>/dev/null; then
        umount "$root" 2>/dev/null || umount -l "$root"
    fi
}

FN_HOST_NETWORK_FILE=/run/systemd/network/10-fn-unmanaged.network
make_bridge() {
    # A host running systemd-networkd would configure the nspawn veths (80-container-vb.network:
    # DHCP server, IPMasquerade): keep its hands off everything named fn-*/vb-fn-*.
    if [ -d /run/systemd/system ] && systemctl is-active -q systemd-networkd.service 2>/dev/null; then
        mkdir -p /run/systemd/network
        printf '[Match]\nName=fn-* vb-fn-*\n\n[Link]\nUnmanaged=yes\n' >"$FN_HOST_NETWORK_FILE"
        networkctl reload 2>/dev/null || true
    fi
    if [ "$(cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null)" = 1 ] &&
        command -v iptables >/dev/null && iptables -S FORWARD 2>/dev/null | grep -q '^-P FORWARD DROP'; then
        log "warning: br_netfilter is active and iptables FORWARD policy is DROP (docker?): traffic between nodes on $FN_BRIDGE may be dropped"
    fi
    ip link add "$FN_BRIDGE" type bridge || die "cannot create bridge $FN_BRIDGE"
    # No address on the host side: the nodes reach only each other.
    sysctl -q -w "net.ipv6.conf.$FN_BRIDGE.disable_ipv6=1" 2>/dev/null || true
    ip link set "$FN_BRIDGE" up
}

# Removes what a crashed earlier run left: nspawn processes recorded in $FN_STATE (only when the
# recorded PID is still that systemd-nspawn process), overlay mounts, fn- links.
# _kill_recorded FILE: kills the systemd-nspawn recorded in $FN_STATE/NAME.pid, if it is still
# that process (PID and start time), and removes the record.
_kill_recorded() {
    local f=$1 pid st name i
    name=$(basename "$f" .pid)
    read -r pid st <"$f"
    if [ -n "$pid" ] && [ "$(awk '{print $22}' "/proc/$pid/stat" 2>/dev/null)" = "$st" ] &&
        grep -qa "machine=$name" "/proc/$pid/cmdline" 2>/dev/null; then
        log "leftover: killing systemd-nspawn $pid ($name)"
        # The container's PID 1 first: SIGKILLing only systemd-nspawn can leave it orphaned.
        local c
        for c in $(pgrep -P "$pid" 2>/dev/null); do
            awk '/^NSpid:/ { exit !($NF == 1 && NF > 2) }' "/proc/$c/status" 2>/dev/null && kill -KILL "$c"
        done
        kill -TERM "$pid" 2>/dev/null
        for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
}
cleanup_leftovers() {
    local f
    for f in "$FN_STATE"/fn-*.pid; do
        [ -e "$f" ] || continue
        _kill_recorded "$f"
    done
    if [ -d "$FN_WORK" ]; then
        for f in "$FN_WORK"/fn-*; do
            [ -d "$f" ] || continue
            _umount_node "$(basename "$f")"
            _rm_tree "$f"
        done
    fi
    teardown_netns
    rm -rf "${FN_STATE:?}/tls"  # scenario 11's test CA
    local l
    for l in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E '^(fn-|vb-fn-)'); do
        log "leftover: deleting link $l"
        ip link del "$l" 2>/dev/null || true
    done
}

# Poweroff all nodes (in parallel), save their journals, remove trees and the bridge.
teardown() {
    local name
    if [ "${FN_KEEP:-0}" = 1 ] && [ "${FN_INTERRUPTED:-0}" != 1 ]; then
        log "nodes left running: ${FN_NODES[*]:-} ($([ "$FN_SCENARIO" = demo ] && echo "make demo-down" || echo "tests/cluster/run.sh --cleanup"))"
        return 0
    fi
    for name in "${FN_NODES[@]}"; do
        local pid
        pid=$(node_pid1 "$name") && kill -s RTMIN+4 "$pid" 2>/dev/null
    done
    for name in "${FN_NODES[@]}"; do
        poweroff_node "$name" 60
        save_journal "$name"
        _umount_node "$name"
        _rm_tree "${FN_WORK:?}/$name"
    done
    FN_NODES=()
    teardown_netns
    rm -rf "${FN_STATE:?}/tls"  # scenario 11's test CA
    ip link del "$FN_BRIDGE" 2>/dev/null || true
    if [ -e "$FN_HOST_NETWORK_FILE" ]; then
        rm -f "$FN_HOST_NETWORK_FILE"
        networkctl reload 2>/dev/null || true
    fi
}

# ---------------------------------------------------------------------------- helpers
# A static-peers member config: member_toml NAME IP "name=ip ..." [METADATA]
member_toml() {
    local name=$1 ip=$2 peers=$3 meta=${4:-} p first=1
    local peerlist=""
    for p in $peers; do
        [ $first = 1 ] || peerlist+=", "
        peerlist+="\"${p%%=*}\" = \"${p#*=}\""
        first=0
    done
    cat <<EOF
[node]
name = "$name"
address = "$ip"

[etcd]
role = "member"
peers = { $peerlist }
cluster_token = "fn-test"
EOF
    # Without fleet binaries the nodes run etcd only: no fleet unit may exist.
    if ! fleet_available; then
        printf '\n[fleet]\nenabled = false\n'
    elif [ -n "$meta" ]; then
        printf '\n[fleet]\nmetadata = { %s }\n' "$meta"
    fi
}

# FN_ETCD_TLS: set (to the node's certificate dir) by TLS scenarios: etcdctl3 and etcd_curl then
# speak https to the local member with the node's CA and client certificate.
FN_ETCD_TLS=""
_etcd_tls_args() {
    [ -z "$FN_ETCD_TLS" ] || echo "--cacert $FN_ETCD_TLS/ca.crt --cert $FN_ETCD_TLS/server.crt --key $FN_ETCD_TLS/server.key"
}
_etcd_scheme() { if [ -n "$FN_ETCD_TLS" ]; then echo https; else echo http; fi; }
# shellcheck disable=SC2046 # word splitting of the TLS arguments is intended
etcdctl3() { local n=$1; shift; in_node "$n" env ETCDCTL_API=3 etcdctl --endpoints="$(_etcd_scheme)://127.0.0.1:2379" $(_etcd_tls_args) --command-timeout=5s "$@"; }
# etcd_curl NODE PATH: GET the local member's client API (exit status of curl -sf).
# shellcheck disable=SC2046
etcd_curl() { in_node "$1" curl -sf --max-time 5 $(_etcd_tls_args) "$(_etcd_scheme)://127.0.0.1:2379$2"; }

# Number of started members as seen by NODE.
started_members() { etcdctl3 "$1" member list 2>/dev/null | grep -c ', started, '; }
_members_eq() { [ "$(started_members "$1")" = "$2" ]; }

# The node whose /v2/stats/leader answers (only the leader does); prints "NAME FOLLOWERS".
find_leader() {
    local n out
    for n in "$@"; do
        out=$(etcd_curl "$n" /v2/stats/leader 2>/dev/null) || continue
        echo "$n $(grep -o '"latency"' <<<"$out" | wc -l)"
        return 0
    done
    return 1
}

# Shows how a failed check looked: unit status and the last journal lines, into the log.
debug_node() {
    local n=$1
    {
        echo "---- $n: systemctl --failed"
        in_node "$n" systemctl --failed --no-legend 2>&1
        echo "---- $n: systemctl status etcd fleet"
        in_node "$n" systemctl status --no-pager -n 20 etcd.service fleet.service 2>&1
    } | sed "s/^/    /" >&2
}

# Standard scenario wrapper: trap, leftovers, run, teardown. scenario NAME FUNCTION
run_scenario() {
    FN_SCENARIO=$1
    local fn=$2 t0=$SECONDS
    rm -rf "${FN_RESULTS:?}/$FN_SCENARIO"
    mkdir -p "$FN_RESULTS/$FN_SCENARIO"
    log "=== scenario $FN_SCENARIO"
    cleanup_leftovers
    make_bridge
    local before=$FN_FAIL
    FN_SCRUB=()
    "$fn"
    teardown
    _scrub_results
    log "=== scenario $FN_SCENARIO done in $((SECONDS - t0))s ($((FN_FAIL - before)) failures)"
    echo "TIME: [$FN_SCENARIO] $((SECONDS - t0))s" | tee -a "$FN_RESULTS/summary.txt"
}

# FN_SCRUB: secrets a scenario made up (a proxy password, a discovery token). etcd logs them
# and the proxy logs the token, so after teardown they are replaced by <scrubbed> in the
# scenario's results (journals, logs).
FN_SCRUB=()
_scrub_results() {
    local s f
    for s in "${FN_SCRUB[@]}"; do
        [ -n "$s" ] || continue
        for f in "$FN_RESULTS/$FN_SCENARIO"/*; do
            [ -f "$f" ] && grep -qaF -e "$s" "$f" && sed -i "s|$s|<scrubbed>|g" "$f"
        done
    done
    FN_SCRUB=()
}

fn_install_traps() {
    trap 'FN_INTERRUPTED=1; echo "interrupted: tearing down" >&2; teardown; exit 130' INT TERM
    trap 'teardown' EXIT
}

# kill_node NAME: abrupt node loss: SIGKILL to the node's PID 1 (from the parent PID namespace
# that kills the whole container), then waits (bounded) for its systemd-nspawn to exit.
kill_node() {
    local name=$1 np=${FN_PID[$1]:-} pid i
    [ -n "$np" ] || return 1
    pid=$(node_pid1 "$name") || return 1
    kill -KILL "$pid"
    for ((i = 0; i < 100; i++)); do
        kill -0 "$np" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$np" 2>/dev/null; then
        kill -KILL "$np" 2>/dev/null
        sleep 1
    fi
    wait "$np" 2>/dev/null
    unset "FN_PID[$name]"
    rm -f "$FN_STATE/$name.pid"
    ! kill -0 "$np" 2>/dev/null
}

# health_json NODE: `fleetnode health --json` inside NODE; sets HEALTH_RC, HEALTH_OUT and
# HEALTH_SUMMARY ("name=status ...").
# shellcheck disable=SC2034 # HEALTH_* are read by the scenarios
health_json() {
    HEALTH_RC=0
    HEALTH_OUT=$(in_node "$1" fleetnode health --json 2>/dev/null) || HEALTH_RC=$?
    HEALTH_SUMMARY=$(python3 -c 'import json,sys; print(" ".join(c["name"]+"="+c["status"] for c in json.load(sys.stdin)["checks"]))' <<<"$HEALTH_OUT" 2>/dev/null)
}
# health_detail NAME: the detail of check NAME in HEALTH_OUT.
health_detail() {
    python3 -c 'import json,sys; print([c["detail"] for c in json.load(sys.stdin)["checks"] if c["name"]==sys.argv[1]][0])' "$1" <<<"$HEALTH_OUT" 2>/dev/null
}

# ---------------------------------------------------------------------------- discovery + proxy
# Two test hosts as network namespaces running the host's Debian binaries:
#   fn-disc   only on bridge fn-br1 ($FN_DISC_SUBNET.2): etcd (its own, loopback only) and
#             discovery.etcd.io (Debian's etcd-discovery) on port 8087
#   fn-proxy  on fn-br0 ($FN_SUBNET.2) and fn-br1 ($FN_DISC_SUBNET.3): tinyproxy on port 8888
# The nodes are only on fn-br0, with no route to fn-br1: they reach discovery only through the
# proxy. Processes are recorded in $FN_STATE/netns-*.pid and killed by PID; `teardown` and
# `cleanup_leftovers` delete the namespaces and bridge.
FN_DISC_SUBNET=${FN_DISC_SUBNET:-10.231.8}
FN_BRIDGE1="fn-br1"
FN_NETNS=()
FN_DISC_URL="http://$FN_DISC_SUBNET.2:8087"
# shellcheck disable=SC2034 # used by the scenarios
FN_PROXY_URL="http://$FN_SUBNET.2:8888"

# _netns_link NETNS HOSTIF BRIDGE IFNAME ADDR/24: a veth from BRIDGE into NETNS.
_netns_link() {
    local ns=$1 hif=$2 br=$3 ifn=$4 addr=$5
    ip link add "$hif" type veth peer name "$hif-p" || return 1
    ip link set "$hif-p" netns "$ns" && ip -n "$ns" link set "$hif-p" name "$ifn" &&
        ip link set "$hif" master "$br" && ip link set "$hif" up &&
        ip -n "$ns" addr add "$addr" dev "$ifn" && ip -n "$ns" link set "$ifn" up
}
_netns_add() {
    ip netns add "$1" || return 1
    FN_NETNS+=("$1")
    ip -n "$1" link set lo up
}
# _netns_run NETNS NAME CMD...: CMD in the background inside NETNS, PID recorded.
_netns_run() {
    local ns=$1 name=$2; shift 2
    ip netns exec "$ns" "$@" </dev/null >>"$FN_RESULTS/$FN_SCENARIO/$name.log" 2>&1 &
    echo "$! $ns" >"$FN_STATE/netns-$name.pid"
}
_port_open() { ip netns exec "$1" bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null; }

# make_discovery_env: the two hosts, etcd, discovery.etcd.io and tinyproxy running.
make_discovery_env() {
    local d=$FN_RESULTS/$FN_SCENARIO
    mkdir -p "$FN_STATE" "$d"
    ip link show "$FN_BRIDGE" >/dev/null 2>&1 || make_bridge
    ip link add "$FN_BRIDGE1" type bridge && ip link set "$FN_BRIDGE1" up || return 1
    sysctl -q -w "net.ipv6.conf.$FN_BRIDGE1.disable_ipv6=1" 2>/dev/null || true
    _netns_add fn-disc && _netns_add fn-proxy || return 1
    _netns_link fn-disc fn-disc0 "$FN_BRIDGE1" eth0 "$FN_DISC_SUBNET.2/24" || return 1
    _netns_link fn-proxy fn-pxy0 "$FN_BRIDGE" eth0 "$FN_SUBNET.2/24" || return 1
    _netns_link fn-proxy fn-pxy1 "$FN_BRIDGE1" eth1 "$FN_DISC_SUBNET.3/24" || return 1
    rm -rf "$FN_STATE/disc-etcd"
    _netns_run fn-disc disc-etcd etcd --name disc --data-dir "$FN_STATE/disc-etcd" --enable-v2 \
        --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
        --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
        --initial-cluster disc=http://127.0.0.1:2380
    wait_for 30 _port_open fn-disc 127.0.0.1 2379 || { log "discovery etcd did not start"; return 1; }
    _netns_run fn-disc discovery discovery.etcd.io --addr "$FN_DISC_SUBNET.2:8087" \
        --etcd http://127.0.0.1:2379 --host "$FN_DISC_URL"
    # FN_PROXY_AUTH="user password": the proxy only serves clients that send these credentials
    # (the file is 0600: it may hold the password).
    (
        umask 077
        printf 'Port 8888\nListen %s\nAllow %s.0/24\nLogFile "%s"\nLogLevel Info\nTimeout 30\nMaxClients 50\n' \
            "$FN_SUBNET.2" "$FN_SUBNET" "$d/tinyproxy.log" >"$FN_STATE/tinyproxy.conf"
        [ -z "${FN_PROXY_AUTH:-}" ] || printf 'BasicAuth %s\n' "$FN_PROXY_AUTH" >>"$FN_STATE/tinyproxy.conf"
    )
    : >"$d/tinyproxy.log"
    wait_for 30 _port_open fn-disc "$FN_DISC_SUBNET.2" 8087 || { log "discovery.etcd.io did not start"; return 1; }
    [ "${FN_PROXY_DOWN:-0}" = 1 ] || proxy_start
}

# proxy_start: tinyproxy in fn-proxy, bounded wait for its port.
proxy_start() {
    _netns_run fn-proxy tinyproxy tinyproxy -d -c "$FN_STATE/tinyproxy.conf"
    wait_for 30 _port_open fn-proxy "$FN_SUBNET.2" 8888 || { log "tinyproxy did not start"; return 1; }
}

# Kills the recorded namespace processes (only while their netns is still ours), deletes fn-*
# namespaces and fn-br1.
teardown_netns() {
    local f pid ns name p
    for f in "$FN_STATE"/netns-*.pid; do
        [ -e "$f" ] || continue
        read -r pid ns <"$f"
        name=$(basename "$f" .pid)
        if [ -n "$pid" ] && ip netns pids "$ns" 2>/dev/null | grep -qx "$pid"; then
            kill -TERM "$pid" 2>/dev/null
        fi
        rm -f "$f"
    done
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^fn-'); do
        # Whatever still runs in our namespaces was started by us (ip netns exec).
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$p" 2>/dev/null; done
        for _ in 1 2 3 4 5 6 7 8 9 10; do [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && break; sleep 0.3; done
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
    FN_NETNS=()
    # Host ends of the veths: a namespace can outlive `ip netns del` for a while (sockets of
    # killed processes), and its veth pairs with it.
    for p in fn-disc0 fn-pxy0 fn-pxy1; do ip link del "$p" 2>/dev/null; done
    ip link del "$FN_BRIDGE1" 2>/dev/null || true
    rm -rf "$FN_STATE/disc-etcd" "$FN_STATE/tinyproxy.conf"
}

# adopt_running: takes over the nodes a previous run left running on purpose (the demo), from
# $FN_STATE/*.pid (only while the recorded PID is still that systemd-nspawn), so `teardown`
# powers them off cleanly and saves their journals.
adopt_running() {
    local f pid st name
    for f in "$FN_STATE"/fn-*.pid; do
        [ -e "$f" ] || continue
        name=$(basename "$f" .pid)
        read -r pid st <"$f"
        if [ -n "$pid" ] && [ "$(awk '{print $22}' "/proc/$pid/stat" 2>/dev/null)" = "$st" ] &&
            grep -qa "machine=$name" "/proc/$pid/cmdline" 2>/dev/null; then
            FN_PID[$name]=$pid
            FN_NODES+=("$name")
        fi
    done
}
