#!/bin/bash
# Installs what the real-boot cluster tests (tests/cluster/run.sh, demo.sh) need on a Debian 12
# host, idempotently: only missing packages are installed. Run as root.
#
# etcd-server/etcd-client: the nodes get etcd from the etcd RPM; the host's copies serve the
# development fallback (FN_PAYLOAD=binaries), etcdctl on the host, and the discovery service's
# backing etcd in scenario 02. The host's own
# etcd.service, started by the package, is stopped and disabled when this script installed it:
# the tests never use it (nor tinyproxy.service).
set -euo pipefail

PKGS=(
    systemd-container # systemd-nspawn
    debootstrap       # the cached node rootfs (Debian bookworm)
    iproute2          # ip link: the fn-br0 bridge
    util-linux        # nsenter, mountpoint
    rpm               # rpm --root: installs dist/rpms/*.rpm into the node trees
    etcd-server       # see above
    etcd-client
    ca-certificates
    curl
    etcd-discovery    # scenarios 02, 10: discovery.etcd.io, run in a network namespace
    tinyproxy         # scenarios 02, 10: the proxy host
    python3           # JSON of `fleetnode health --json`
    openssl           # scenario 11: the test's own CA and node certificates (none committed)
)

[ "$(id -u)" = 0 ] || { echo "deps.sh: must run as root" >&2; exit 1; }

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    echo "deps.sh: all present: ${PKGS[*]}"
    exit 0
fi
echo "deps.sh: installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The packages' own daemons (started by their postinst) are never used by the tests.
if [ -d /run/systemd/system ]; then
    [[ " ${missing[*]} " != *" etcd-server "* ]] || systemctl disable --now etcd.service >/dev/null 2>&1 || true
    [[ " ${missing[*]} " != *" tinyproxy "* ]] || systemctl disable --now tinyproxy.service >/dev/null 2>&1 || true
fi
echo "deps.sh: done"
