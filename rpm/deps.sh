#!/bin/bash
# Installs what building and testing the RPMs needs on a Debian 12 host, idempotently:
# only what is missing is installed, and `apt-get update` runs only when a package is missing.
#
#   rpm/deps.sh [build|test|all]     (default: all)
#
# build: rpm tooling, createrepo_c, gnupg, cargo-zigbuild (crates.io) and zig (PyPI, in a venv)
# test:  build + debootstrap and Debian's etcd-server/etcd-client .debs (downloaded, not installed,
#        so no etcd daemon is set up on the build host)
#
# Environment:
#   FLEETNODE_TOOLS   where the zig venv and the downloaded .debs live (/var/cache/fleetnode-build)
#   ZIGLANG_VERSION   ziglang version from PyPI (0.13.0.post1)
#   ZIGBUILD_VERSION  cargo-zigbuild version from crates.io (0.20.1)
# Prints nothing on stdout except with -v; progress goes to stderr.
set -euo pipefail

what=${1:-all}
TOOLS=${FLEETNODE_TOOLS:-/var/cache/fleetnode-build}
ZIGLANG_VERSION=${ZIGLANG_VERSION:-0.13.0.post1}
ZIGBUILD_VERSION=${ZIGBUILD_VERSION:-0.20.1}
export DEBIAN_FRONTEND=noninteractive

log() { echo "deps: $*" >&2; }

if [ "$(id -u)" != 0 ]; then
    echo "deps: must run as root (installs Debian packages)" >&2
    exit 1
fi

apt_updated=0
apt_update_once() {
    if [ "$apt_updated" = 0 ]; then
        log "apt-get update"
        apt-get update -q >&2
        apt_updated=1
    fi
}

# apt_install PKG...: installs the packages that are not installed yet.
apt_install() {
    local missing=() p
    for p in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$p")
        fi
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    apt_update_once
    log "apt-get install ${missing[*]}"
    apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
}

build_deps() {
    # rpm brings rpmbuild and rpmsign on Debian; rpm2cpio/cpio for inspecting packages.
    apt_install rpm rpm2cpio cpio rpmlint createrepo-c gnupg python3-venv file binutils curl \
        ca-certificates xz-utils
    # zig from PyPI, in a private venv (Debian's python is externally managed, PEP 668).
    local venv="$TOOLS/zig-venv"
    if ! "$venv/bin/python3" -c "import ziglang" 2>/dev/null ||
        [ "$("$venv/bin/python3" -m pip show ziglang 2>/dev/null | sed -n 's/^Version: //p')" != "$ZIGLANG_VERSION" ]; then
        log "pip install ziglang==$ZIGLANG_VERSION into $venv"
        mkdir -p "$TOOLS"
        python3 -m venv "$venv" >&2
        "$venv/bin/python3" -m pip install -q --disable-pip-version-check "ziglang==$ZIGLANG_VERSION" >&2
    fi
    # cargo-zigbuild from crates.io.
    local cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
    if ! { [ -x "$cargo_bin/cargo-zigbuild" ] &&
        "$cargo_bin/cargo-zigbuild" --version 2>/dev/null | grep -q " $ZIGBUILD_VERSION\$"; }; then
        log "cargo install cargo-zigbuild $ZIGBUILD_VERSION"
        cargo install --locked --quiet cargo-zigbuild --version "$ZIGBUILD_VERSION" >&2
    fi
    # The target std for x86_64-unknown-linux-gnu is the host's; nothing to add with rustup.
}

test_deps() {
    apt_install debootstrap
    # Debian 12's etcd 3.4.23 binaries, for a release-layout etcd tarball.
    local debs="$TOOLS/debs"
    mkdir -p "$debs"
    local p
    for p in etcd-server etcd-client; do
        if ! ls "$debs/${p}_"*.deb >/dev/null 2>&1; then
            if ! apt-cache show "$p" >/dev/null 2>&1; then apt_update_once; fi
            log "apt-get download $p"
            (cd "$debs" && apt-get download -q -o APT::Sandbox::User=root "$p" >&2) || {
                apt_update_once
                (cd "$debs" && apt-get download -q -o APT::Sandbox::User=root "$p" >&2)
            }
        fi
    done
}

case "$what" in
build) build_deps ;;
test) build_deps; test_deps ;;
all) build_deps; test_deps ;;
*) echo "usage: $0 [build|test|all]" >&2; exit 2 ;;
esac
