#!/bin/bash
# Builds fleetnode's RPMs (etcd, fleet, fleetnode), lints them, and makes a yum repository.
# Normally driven by rpm/rpm.mk (make rpm / make repo / make sources); see the variables there.
#
#   rpm/build.sh deps                 install build tools (rpm/deps.sh build)
#   rpm/build.sh sources              download upstream etcd/fleet tarballs, check sha256
#   rpm/build.sh etcd|fleet|fleetnode build one package into $OUT/rpms (SRPM into $OUT/srpms)
#   rpm/build.sh rpm                  all three
#   rpm/build.sh lint                 rpmlint every RPM in $OUT/rpms with rpm/rpmlint.toml
#   rpm/build.sh repo                 $OUT/repo from $OUT/rpms (signed when GPG_KEY is set)
#
# Environment (defaults in brackets):
#   OUT            output folder [REPO/dist]: rpms/, srpms/, repo/, sources/
#   RPM_WORK       scratch: rpmbuild tree, vendor cache, cargo target [REPO/target/rpm]
#   RPM_CARGO_TARGET_DIR  cargo target dir used inside rpmbuild [RPM_WORK/cargo-target]
#   ETCD_TARBALL   etcd-vX.Y.Z-linux-amd64.tar.gz [OUT/sources/etcd-vETCD_VERSION-linux-amd64.tar.gz]
#   ETCD_VERSION   etcd release for `sources` and the default ETCD_TARBALL [3.5.21]
#   FLEET_TARBALL  fleet-v1.0.0-linux-amd64.tar.gz [OUT/sources/fleet-v1.0.0-linux-amd64.tar.gz]
#   FLEET_SHA256   expected sha256 of the fleet tarball, for `sources` (fleet publishes none)
#   ETCD_DOWNLOAD_URL, FLEET_DOWNLOAD_URL  release download bases, for a mirror
#                  [https://github.com/etcd-io/etcd/releases/download, .../coreos/fleet/...]
#   ETCD_RELEASE, FLEET_RELEASE, FLEETNODE_RELEASE   RPM Release numbers [1]
#   SRCDIR         tree that becomes the fleetnode source tarball [REPO]
#   GPG_KEY        key id/fingerprint/email: sign RPMs and repomd.xml (`repo`); GNUPGHOME honoured
#   REPO_BASEURL   baseurl written into fleetnode.repo [file://OUT/repo]
#   FLEETNODE_TOOLS  where rpm/deps.sh put zig [/var/cache/fleetnode-build]
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$REPO/dist}
RPM_WORK=${RPM_WORK:-$REPO/target/rpm}
RPM_CARGO_TARGET_DIR=${RPM_CARGO_TARGET_DIR:-$RPM_WORK/cargo-target}
ETCD_VERSION=${ETCD_VERSION:-3.5.21}
FLEET_VERSION=1.0.0
ETCD_TARBALL=${ETCD_TARBALL:-$OUT/sources/etcd-v$ETCD_VERSION-linux-amd64.tar.gz}
FLEET_TARBALL=${FLEET_TARBALL:-$OUT/sources/fleet-v$FLEET_VERSION-linux-amd64.tar.gz}
SRCDIR=${SRCDIR:-$REPO}
FLEETNODE_TOOLS=${FLEETNODE_TOOLS:-/var/cache/fleetnode-build}
TOPDIR=$RPM_WORK/rpmbuild

log() { echo "rpm/build.sh: $*" >&2; }
die() { echo "rpm/build.sh: error: $*" >&2; exit 1; }

# rpmbuild with the EL macros, our output layout, flat file names. --nodeps: the build host
# is Debian, whose rpm database knows none of the (EL) BuildRequires.
run_rpmbuild() {
    mkdir -p "$TOPDIR"/{SOURCES,SPECS,BUILD,BUILDROOT} "$OUT/rpms" "$OUT/srpms"
    rpmbuild --load "$REPO/rpm/macros.fleetnode" \
        --define "_topdir $TOPDIR" \
        --define "_rpmdir $OUT/rpms" \
        --define "_srcrpmdir $OUT/srpms" \
        --define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
        --nodeps "$@"
}

# Prints the path of the RPM(s) a spec produces with the given defines.
rpm_paths() {
    local spec=$1; shift
    rpmspec --load "$REPO/rpm/macros.fleetnode" "$@" -q --builtrpms \
        --qf "$OUT/rpms/%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}.rpm\n" "$spec"
}

build_etcd() {
    [ -f "$ETCD_TARBALL" ] || die "etcd tarball not found: $ETCD_TARBALL (set ETCD_TARBALL, or run make sources)"
    local base version
    base=$(basename "$ETCD_TARBALL")
    [[ $base =~ ^etcd-v([0-9][0-9A-Za-z.]*)-linux-amd64\.tar\.gz$ ]] ||
        die "ETCD_TARBALL must be named etcd-vX.Y.Z-linux-amd64.tar.gz, not $base"
    version=${BASH_REMATCH[1]}
    mkdir -p "$TOPDIR/SOURCES"
    cp -p "$ETCD_TARBALL" "$TOPDIR/SOURCES/$base"
    cp -p "$REPO/etc/sysusers.d/etcd.conf" "$TOPDIR/SOURCES/etcd.sysusers.conf"
    log "building etcd $version from $ETCD_TARBALL"
    run_rpmbuild -ba --define "etcd_version $version" \
        --define "etcd_release ${ETCD_RELEASE:-1}" "$REPO/rpm/etcd.spec" >&2
    rpm_paths "$REPO/rpm/etcd.spec" --define "etcd_version $version" --define "etcd_release ${ETCD_RELEASE:-1}"
}

build_fleet() {
    [ -f "$FLEET_TARBALL" ] || die "fleet tarball not found: $FLEET_TARBALL (set FLEET_TARBALL, or run make sources)"
    local base
    base=$(basename "$FLEET_TARBALL")
    [ "$base" = "fleet-v$FLEET_VERSION-linux-amd64.tar.gz" ] ||
        die "FLEET_TARBALL must be named fleet-v$FLEET_VERSION-linux-amd64.tar.gz, not $base"
    mkdir -p "$TOPDIR/SOURCES"
    cp -p "$FLEET_TARBALL" "$TOPDIR/SOURCES/$base"
    log "building fleet $FLEET_VERSION from $FLEET_TARBALL"
    run_rpmbuild -ba --define "fleet_release ${FLEET_RELEASE:-1}" "$REPO/rpm/fleet.spec" >&2
    rpm_paths "$REPO/rpm/fleet.spec" --define "fleet_release ${FLEET_RELEASE:-1}"
}

# The crate version from the workspace, as an RPM version (semver pre-release '-' -> '~').
fleetnode_version() {
    local v
    v=$(cargo metadata --offline --no-deps --format-version 1 --manifest-path "$SRCDIR/Cargo.toml" |
        python3 -c 'import json,sys; print([p["version"] for p in json.load(sys.stdin)["packages"] if p["name"]=="fleetnode"][0])')
    echo "${v//-/\~}"
}

# Files of the source tree: what git tracks or would track (so the uncommitted work of a
# checkout is included, ignored files are not), never target/ or dist/.
source_files() {
    (
        cd "$SRCDIR"
        if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
            git ls-files -z --cached --others --exclude-standard
        else
            find . -path ./target -prune -o -path ./dist -prune -o -path ./.git -prune -o \
                \( -type f -o -type l \) -printf '%P\0'
        fi
    ) | while IFS= read -r -d '' f; do
        case $f in target/* | dist/* | .git/*) continue ;; esac
        [ -e "$SRCDIR/$f" ] || [ -L "$SRCDIR/$f" ] || continue # deleted, not yet committed
        printf '%s\0' "$f"
    done
}

# Vendored crates, cached by the hash of Cargo.lock (cargo vendor is the slow, online part).
vendor_tarball() {
    local version=$1 lock_sha cache
    [ -f "$SRCDIR/Cargo.lock" ] || die "Cargo.lock missing in $SRCDIR (the RPM builds with --frozen)"
    lock_sha=$(sha256sum "$SRCDIR/Cargo.lock" | cut -c1-16)
    cache="$RPM_WORK/vendor-$lock_sha.tar.gz"
    if [ ! -f "$cache" ]; then
        log "cargo vendor (Cargo.lock $lock_sha)"
        local tmp
        tmp=$(mktemp -d "$RPM_WORK/vendor.XXXXXX")
        cargo vendor --locked --quiet --manifest-path "$SRCDIR/Cargo.toml" "$tmp/vendor" >/dev/null
        tar -C "$tmp" --sort=name --owner=0 --group=0 --numeric-owner -czf "$cache.part" vendor
        mv "$cache.part" "$cache"
        rm -rf "$tmp"
    fi
    cp -p "$cache" "$TOPDIR/SOURCES/fleetnode-$version-vendor.tar.gz"
}

build_fleetnode() {
    mkdir -p "$RPM_WORK" "$TOPDIR/SOURCES" "$RPM_WORK/bin"
    # zig from the venv made by rpm/deps.sh, as `zig` on PATH for cargo-zigbuild.
    local venv="$FLEETNODE_TOOLS/zig-venv"
    if ! command -v zig >/dev/null 2>&1; then
        [ -x "$venv/bin/python3" ] || die "zig not found: run rpm/deps.sh build"
        printf '#!/bin/sh\nexec %q -m ziglang "$@"\n' "$venv/bin/python3" >"$RPM_WORK/bin/zig"
        chmod 0755 "$RPM_WORK/bin/zig"
        export PATH="$RPM_WORK/bin:$PATH"
    fi
    export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
    command -v cargo-zigbuild >/dev/null || die "cargo-zigbuild not found: run rpm/deps.sh build"

    local version tarball
    version=$(fleetnode_version)
    tarball="$TOPDIR/SOURCES/fleetnode-$version.tar.gz"
    log "fleetnode $version: source tarball from $SRCDIR"
    source_files | tar -C "$SRCDIR" --no-recursion --null --sort=name \
        --owner=0 --group=0 --numeric-owner \
        --transform "s,^,fleetnode-$version/," -czf "$tarball" -T -
    vendor_tarball "$version"
    local defs=(--define "fleetnode_version $version"
        --define "fleetnode_release ${FLEETNODE_RELEASE:-1}"
        --define "cargo_target_dir $RPM_CARGO_TARGET_DIR")
    log "building fleetnode $version-${FLEETNODE_RELEASE:-1} (cargo zigbuild, glibc 2.28)"
    # rpmbuild resets nothing of PATH/HOME, so cargo, cargo-zigbuild and zig are found.
    run_rpmbuild -ba "${defs[@]}" "$REPO/rpm/fleetnode.spec" >&2
    rpm_paths "$REPO/rpm/fleetnode.spec" "${defs[@]}"
}

# Download the upstream release tarballs and check their sha256. Needs internet access
# (github.com); not runnable on the project's build machines, which have none.
sources() {
    mkdir -p "$OUT/sources"
    command -v curl >/dev/null || die "curl is needed for sources"
    local d="$OUT/sources"
    local etcd_url="${ETCD_DOWNLOAD_URL:-https://github.com/etcd-io/etcd/releases/download}/v$ETCD_VERSION"
    local etcd_tgz="etcd-v$ETCD_VERSION-linux-amd64.tar.gz"
    log "downloading $etcd_url/$etcd_tgz and its SHA256SUMS"
    curl -fsSL --retry 3 -o "$d/$etcd_tgz.part" "$etcd_url/$etcd_tgz"
    curl -fsSL --retry 3 -o "$d/etcd-v$ETCD_VERSION-SHA256SUMS" "$etcd_url/SHA256SUMS"
    local want got
    want=$(awk -v f="$etcd_tgz" '$2 == f || $2 == "*"f {print $1}' "$d/etcd-v$ETCD_VERSION-SHA256SUMS")
    got=$(sha256sum "$d/$etcd_tgz.part" | cut -d' ' -f1)
    [ -n "$want" ] || { rm -f "$d/$etcd_tgz.part"; die "$etcd_tgz is not listed in etcd's SHA256SUMS"; }
    [ "$want" = "$got" ] || { rm -f "$d/$etcd_tgz.part"; die "$etcd_tgz: sha256 $got, published $want"; }
    mv "$d/$etcd_tgz.part" "$d/$etcd_tgz"
    log "etcd: sha256 OK ($got)"

    local fleet_tgz="fleet-v$FLEET_VERSION-linux-amd64.tar.gz"
    local fleet_url="${FLEET_DOWNLOAD_URL:-https://github.com/coreos/fleet/releases/download}/v$FLEET_VERSION/$fleet_tgz"
    log "downloading $fleet_url"
    curl -fsSL --retry 3 -o "$d/$fleet_tgz.part" "$fleet_url"
    got=$(sha256sum "$d/$fleet_tgz.part" | cut -d' ' -f1)
    if [ -n "${FLEET_SHA256:-}" ]; then
        [ "$FLEET_SHA256" = "$got" ] || rm -f "$d/$fleet_tgz.part"
        [ "$FLEET_SHA256" = "$got" ] || die "$fleet_tgz: sha256 $got, expected FLEET_SHA256=$FLEET_SHA256"
        log "fleet: sha256 OK ($got)"
    else
        rm -f "$d/$fleet_tgz.part"
        die "$fleet_tgz downloaded with sha256 $got, but the fleet v$FLEET_VERSION release publishes no checksum file: compare it with a trusted copy, then re-run with FLEET_SHA256=$got"
    fi
    mv "$d/$fleet_tgz.part" "$d/$fleet_tgz"
}

# One rpmlint run per package: rpmlint 2.4 leaks spec files between SRPMs checked in one
# run (a false "multiple-specfiles" error). Fails when any package has an error.
lint() {
    local pkgs=("$OUT"/rpms/*.rpm "$OUT"/srpms/*.rpm) p rc=0
    [ -e "${pkgs[0]}" ] || die "no RPMs in $OUT/rpms"
    for p in "${pkgs[@]}"; do
        [ -e "$p" ] || continue
        rpmlint -c "$REPO/rpm/rpmlint.toml" "$p" || rc=1
    done
    return $rc
}

repo() {
    local rpms=("$OUT"/rpms/*.rpm)
    [ -e "${rpms[0]}" ] || die "no RPMs in $OUT/rpms: run make rpm first"
    local r="$OUT/repo"
    rm -rf "$r"
    mkdir -p "$r/Packages"
    cp -p "${rpms[@]}" "$r/Packages/"
    local gpgcheck=0 keyurl=""
    local base=${REPO_BASEURL:-file://$r}
    if [ -n "${GPG_KEY:-}" ]; then
        log "signing RPMs with $GPG_KEY"
        rpmsign --load "$REPO/rpm/macros.fleetnode" --addsign --define "_gpg_name $GPG_KEY" \
            ${GNUPGHOME:+--define "_gpg_path $GNUPGHOME"} "$r"/Packages/*.rpm >&2 </dev/null
        gpg --batch --yes --armor --export "$GPG_KEY" >"$r/RPM-GPG-KEY-fleetnode"
        gpgcheck=1
        keyurl="$base/RPM-GPG-KEY-fleetnode"
    fi
    createrepo_c --quiet --general-compress-type=gz "$r" >&2
    if [ -n "${GPG_KEY:-}" ]; then
        gpg --batch --yes --local-user "$GPG_KEY" --armor --detach-sign \
            --output "$r/repodata/repomd.xml.asc" "$r/repodata/repomd.xml"
    fi
    {
        echo "[fleetnode]"
        echo "name=fleetnode: etcd, fleet and fleetnode for EL8 and later"
        echo "baseurl=$base"
        echo "enabled=1"
        echo "gpgcheck=$gpgcheck"
        echo "repo_gpgcheck=$gpgcheck"
        [ -z "$keyurl" ] || echo "gpgkey=$keyurl"
    } >"$r/fleetnode.repo"
    log "repository in $r (fleetnode.repo: baseurl=$base, gpgcheck=$gpgcheck)"
}

cmd=${1:-}
shift || true
case "$cmd" in
deps) "$REPO/rpm/deps.sh" build ;;
sources) sources ;;
etcd) build_etcd ;;
fleet) build_fleet ;;
fleetnode) build_fleetnode ;;
rpm) build_etcd; build_fleet; build_fleetnode ;;
lint) lint "$@" ;;
repo) repo ;;
*) sed -n '2,/^set -euo/p' "$0" | sed '$d' >&2; exit 2 ;;
esac
