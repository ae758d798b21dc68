#!/bin/bash
# Builds the RPMs the cluster tests install, with no dist/ and no internet release tarballs:
#   etcd       from a release-layout tarball assembled from Debian 12's etcd-server/etcd-client
#              .debs (as tests/rpm/run.sh does; rpm/deps.sh downloads them)
#   fleetnode  from this checkout (rpm/build.sh fleetnode), Release FLEETNODE_RELEASE [1]
#   fleet      only when FLEET_TARBALL or FLEET_BIN_DIR is given; otherwise no fleet RPM is
#              built (and a stale one is removed), so the nodes run without fleet
#
#   fleetnode Release 2 (scenario 07, upgrade) into OUT/upgrade/rpms, from a copy of the tree
#              whose etc/fleetnode.toml gets one marker line, so rpm -U has a changed
#              %config(noreplace) file to put into .rpmnew
#
#   tests/cluster/build-rpms.sh [OUT]      RPMs into OUT/rpms [/var/cache/fleetnode-tests/dist]
#
# Environment: FLEET_TARBALL / FLEET_BIN_DIR; RPM_WORK (rpmbuild tree + cargo target, shared
# with `make test-rpm` by default so CI builds incrementally) [REPO/target/rpm];
# FLEETNODE_TOOLS [/var/cache/fleetnode-build]. Prints the RPM dir on stdout.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
TOOLS=${FLEETNODE_TOOLS:-/var/cache/fleetnode-build}
export RPM_WORK=${RPM_WORK:-$REPO/target/rpm}
log() { echo "build-rpms: $*" >&2; }
die() { echo "build-rpms: error: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (rpm/deps.sh installs packages)"

OUT=${1:-${FN_CACHE:-/var/cache/fleetnode-tests}/dist}
export OUT
mkdir -p "$OUT/rpms" "$OUT/upgrade/rpms" "$RPM_WORK"

"$REPO/rpm/deps.sh" test # rpmbuild, zig, cargo-zigbuild, Debian's etcd .debs

# Stale RPMs (an earlier run with fleet, an older fleetnode) must not be installed.
rm -f "$OUT"/rpms/*.rpm "$OUT"/upgrade/rpms/*.rpm

# etcd: release-layout tarball from the Debian binaries (cached by the .deb's name).
deb=$(ls "$TOOLS"/debs/etcd-server_*.deb | head -n 1)
ver=$(dpkg-deb -f "$deb" Version | sed 's/-[^-]*$//; s/^[0-9]*://; s/+.*//')
tgz=$RPM_WORK/cluster-etcd/etcd-v$ver-linux-amd64.tar.gz
if [ ! -f "$tgz" ]; then
    tmp=$(mktemp -d "$RPM_WORK/etcd-tgz.XXXXXX")
    for d in "$TOOLS"/debs/etcd-server_*.deb "$TOOLS"/debs/etcd-client_*.deb; do dpkg-deb -x "$d" "$tmp/x"; done
    mkdir -p "$tmp/etcd-v$ver-linux-amd64" "$(dirname "$tgz")"
    cp -p "$tmp/x/usr/bin/etcd" "$tmp/x/usr/bin/etcdctl" "$tmp/etcd-v$ver-linux-amd64/"
    printf '# etcd %s (test tarball assembled from Debian binaries)\n' "$ver" >"$tmp/etcd-v$ver-linux-amd64/README.md"
    cp "$REPO/LICENSE" "$tmp/etcd-v$ver-linux-amd64/LICENSE"
    tar -C "$tmp" -czf "$tgz.part" "etcd-v$ver-linux-amd64"
    mv "$tgz.part" "$tgz"
    rm -rf "$tmp"
fi
t0=$SECONDS
ETCD_TARBALL=$tgz "$REPO/rpm/build.sh" etcd >/dev/null 2>"$RPM_WORK/cluster-etcd.log" ||
    { tail -30 "$RPM_WORK/cluster-etcd.log" >&2; die "etcd RPM build failed"; }
log "etcd $ver built in $((SECONDS - t0))s"

# fleet: only from what the user gives us.
fleet_tgz=""
if [ -n "${FLEET_TARBALL:-}" ]; then
    [ -f "$FLEET_TARBALL" ] || die "FLEET_TARBALL=$FLEET_TARBALL not found"
    fleet_tgz=$(cd "$(dirname "$FLEET_TARBALL")" && pwd)/$(basename "$FLEET_TARBALL")
elif [ -n "${FLEET_BIN_DIR:-}" ]; then
    [ -x "$FLEET_BIN_DIR/fleetd" ] && [ -x "$FLEET_BIN_DIR/fleetctl" ] ||
        die "FLEET_BIN_DIR=$FLEET_BIN_DIR has no executable fleetd and fleetctl"
    tmp=$(mktemp -d "$RPM_WORK/fleet-tgz.XXXXXX")
    mkdir -p "$tmp/fleet-v1.0.0-linux-amd64"
    cp -p "$FLEET_BIN_DIR/fleetd" "$FLEET_BIN_DIR/fleetctl" "$tmp/fleet-v1.0.0-linux-amd64/"
    cp "$REPO/LICENSE" "$tmp/fleet-v1.0.0-linux-amd64/LICENSE"
    tar -C "$tmp" -czf "$tmp/fleet-v1.0.0-linux-amd64.tar.gz" fleet-v1.0.0-linux-amd64
    fleet_tgz=$tmp/fleet-v1.0.0-linux-amd64.tar.gz
fi
if [ -n "$fleet_tgz" ]; then
    FLEET_TARBALL=$fleet_tgz "$REPO/rpm/build.sh" fleet >/dev/null 2>"$RPM_WORK/cluster-fleet.log" ||
        { tail -30 "$RPM_WORK/cluster-fleet.log" >&2; die "fleet RPM build failed"; }
    log "fleet built from $fleet_tgz"
else
    log "fleet: not built (FLEET_TARBALL / FLEET_BIN_DIR not set): nodes run without fleet"
fi
case $fleet_tgz in "$RPM_WORK"/fleet-tgz.*) rm -rf "$(dirname "$fleet_tgz")" ;; esac

t0=$SECONDS
FLEETNODE_RELEASE=1 "$REPO/rpm/build.sh" fleetnode >/dev/null 2>"$RPM_WORK/cluster-fleetnode.log" ||
    { tail -30 "$RPM_WORK/cluster-fleetnode.log" >&2; die "fleetnode RPM build failed"; }
log "fleetnode built in $((SECONDS - t0))s"

# Release 2: the same sources (so cargo's target dir is reused), one marker line appended to
# the shipped /etc/fleetnode.toml.
t0=$SECONDS
# Outside any git work tree (RPM_WORK is inside the checkout by default): rpm/build.sh lists a
# git tree's files with git ls-files, which would list nothing in an ignored directory.
src2=$(mktemp -d /var/tmp/fleetnode-cluster-release2.XXXXXX)
trap 'rm -rf "$src2"' EXIT
(cd "$REPO" && git ls-files -z --cached --others --exclude-standard 2>/dev/null ||
    find . -path ./target -prune -o -path ./dist -prune -o -path ./.git -prune -o \( -type f -o -type l \) -printf '%P\0') |
    (cd "$REPO" && while IFS= read -r -d '' f; do
        case $f in target/* | dist/* | .git/*) continue ;; esac
        [ -e "$f" ] && printf '%s\0' "$f"
    done) | tar -C "$REPO" --null -T - -cf - | tar -C "$src2" -xf -
printf '\n# fleetnode-cluster-test: Release 2 (tests/cluster/build-rpms.sh)\n' >>"$src2/etc/fleetnode.toml"
OUT=$OUT/upgrade SRCDIR=$src2 FLEETNODE_RELEASE=2 "$REPO/rpm/build.sh" fleetnode >/dev/null 2>"$RPM_WORK/cluster-fleetnode2.log" ||
    { tail -30 "$RPM_WORK/cluster-fleetnode2.log" >&2; die "fleetnode Release 2 RPM build failed"; }
rm -rf "$src2"
log "fleetnode Release 2 (upgrade test) built in $((SECONDS - t0))s"
log "RPMs: $(cd "$OUT/rpms" && ls | paste -sd ' ')"
echo "$OUT/rpms"
