#!/bin/bash
# RPM tests: build etcd, fleet and fleetnode RPMs, lint them, install/upgrade/erase them in
# a Debian rootfs that has systemd, check the glibc floor, and make a signed yum repo.
# Run as root on Debian 12: `make test-rpm` (or tests/rpm/run.sh). Installs what it needs
# via rpm/deps.sh.
#
# Environment:
#   FLEET_TARBALL         real fleet-v1.0.0-linux-amd64.tar.gz; without it the fleet RPM is
#                         built from placeholder executables (a packaging-layout test only)
#   FLEETNODE_TEST_CACHE  rootfs cache [/var/cache/fleetnode-tests/rpm]: a debootstrap of
#                         bookworm with systemd, one tarball per package list/mirror
#   DEBIAN_MIRROR         mirror for debootstrap [http://deb.debian.org/debian]
#   RPM_WORK              rpmbuild tree, vendor cache, cargo target [REPO/target/rpm]
#   KEEP_TMP=1            keep the temp dir (printed) for inspection
#
# Each check prints PASS/FAIL/SKIP with its reason; the last line counts them, and the
# exit status is nonzero when any check failed.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${FLEETNODE_TEST_CACHE:-/var/cache/fleetnode-tests/rpm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
FLEETNODE_TOOLS=${FLEETNODE_TOOLS:-/var/cache/fleetnode-build}
export RPM_WORK=${RPM_WORK:-$REPO/target/rpm}

T=$(mktemp -d /tmp/fleetnode-rpm-test.XXXXXX)
server_pid=""
cleanup() {
    local rc=$?
    [ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true
    if [ "${KEEP_TMP:-0}" = 1 ]; then
        echo "kept $T"
    else
        rm -rf --one-file-system "$T"
    fi
    exit $rc
}
trap cleanup EXIT
export OUT=$T/dist # the tests never touch dist/ of the checkout
LOG=$T/logs
mkdir -p "$LOG"

passed=0 failed=0 skipped=0
pass() { echo "PASS: $1"; passed=$((passed + 1)); }
fail() { echo "FAIL: $1${2:+ -- $2}"; failed=$((failed + 1)); }
skip() { echo "SKIP: $1 -- $2"; skipped=$((skipped + 1)); }
# check NAME CMD...: PASS when CMD succeeds, else FAIL with the command's last output lines.
check() {
    local name=$1; shift
    local out
    if out=$("$@" 2>&1); then pass "$name"; else fail "$name" "$(echo "$out" | tail -n 5 | tr '\n' ' ')"; fi
}
finish() {
    echo "rpm: $passed passed, $failed failed, $skipped skipped"
    if [ "$failed" -eq 0 ]; then exit 0; else exit 1; fi
}
# fatal NAME REASON: a failed step that later checks depend on.
fatal() { fail "$1" "$2"; echo "stopping: later checks depend on '$1'"; finish; }

if [ "$(id -u)" != 0 ]; then
    echo "tests/rpm/run.sh must run as root (rpm --root, chroot, debootstrap)" >&2
    exit 1
fi

echo "== dependencies (rpm/deps.sh test)"
"$REPO/rpm/deps.sh" test || fatal "install test dependencies" "rpm/deps.sh failed"

# --- inputs ---------------------------------------------------------------------------
# etcd: a release-layout tarball from Debian 12's etcd-server/etcd-client binaries.
deb_dir="$FLEETNODE_TOOLS/debs"
etcd_deb=$(ls "$deb_dir"/etcd-server_*.deb | head -n 1)
etcd_version=$(dpkg-deb -f "$etcd_deb" Version | sed 's/-[^-]*$//; s/^[0-9]*://; s/+.*//')
mkdir -p "$T/debx" "$T/in/etcd-v$etcd_version-linux-amd64"
for deb in "$deb_dir"/etcd-server_*.deb "$deb_dir"/etcd-client_*.deb; do dpkg-deb -x "$deb" "$T/debx"; done
cp -p "$T/debx/usr/bin/etcd" "$T/debx/usr/bin/etcdctl" "$T/in/etcd-v$etcd_version-linux-amd64/"
printf '# etcd %s (test tarball assembled from Debian binaries)\n' "$etcd_version" \
    >"$T/in/etcd-v$etcd_version-linux-amd64/README.md"
# Upstream tarballs carry LICENSE (Apache-2.0 for etcd and fleet alike); so do ours.
cp "$REPO/LICENSE" "$T/in/etcd-v$etcd_version-linux-amd64/LICENSE"
export ETCD_TARBALL="$T/in/etcd-v$etcd_version-linux-amd64.tar.gz"
tar -C "$T/in" -czf "$ETCD_TARBALL" "etcd-v$etcd_version-linux-amd64"

# fleet: the real tarball when given, else placeholder executables.
if [ -n "${FLEET_TARBALL:-}" ]; then
    real_fleet=1
    echo "== fleet: using FLEET_TARBALL=$FLEET_TARBALL (real fleet)"
else
    real_fleet=0
    echo "== fleet: FLEET_TARBALL not set: the fleet RPM is built from PLACEHOLDER executables;"
    echo "   real fleet is NOT used, so the fleet checks below test the packaging layout only"
    f="$T/in/fleet-v1.0.0-linux-amd64"
    mkdir -p "$f"
    # ELF placeholders (a copy of /usr/bin/false), as the real ones are ELF executables.
    for b in fleetd fleetctl; do
        cp /usr/bin/false "$f/$b"
        chmod 0755 "$f/$b"
    done
    cp "$REPO/LICENSE" "$f/LICENSE"
    export FLEET_TARBALL="$T/in/fleet-v1.0.0-linux-amd64.tar.gz"
    tar -C "$T/in" -czf "$FLEET_TARBALL" "fleet-v1.0.0-linux-amd64"
fi
fleet_label() { if [ "$real_fleet" = 1 ]; then echo "$1"; else echo "$1 [packaging-layout only: placeholder fleet, real fleet not used]"; fi; }

# --- build ----------------------------------------------------------------------------
echo "== build"
if etcd_rpm=$("$REPO/rpm/build.sh" etcd 2>"$LOG/etcd.log") && [ -f "$etcd_rpm" ]; then
    pass "build etcd $etcd_version RPM from a release-layout tarball of Debian's binaries"
else
    tail -n 20 "$LOG/etcd.log"; fatal "build etcd RPM" "see above"
fi
if fleet_rpm=$("$REPO/rpm/build.sh" fleet 2>"$LOG/fleet.log") && [ -f "$fleet_rpm" ]; then
    pass "$(fleet_label "build fleet RPM")"
else
    tail -n 20 "$LOG/fleet.log"; fatal "build fleet RPM" "see above"
fi
start=$SECONDS
if fleetnode_rpm=$(FLEETNODE_RELEASE=1 "$REPO/rpm/build.sh" fleetnode 2>"$LOG/fleetnode.log") && [ -f "$fleetnode_rpm" ]; then
    pass "build fleetnode RPM offline from source + vendor tarballs ($((SECONDS - start))s)"
else
    tail -n 30 "$LOG/fleetnode.log"; fatal "build fleetnode RPM" "see above"
fi
check "fleetnode was built with cargo zigbuild --frozen for glibc 2.28" \
    grep -q 'cargo zigbuild --frozen --release --target x86_64-unknown-linux-gnu.2.28' "$LOG/fleetnode.log"

# etcd 3.6 must be refused with a clear message.
mkdir -p "$T/in36"
cp "$ETCD_TARBALL" "$T/in36/etcd-v3.6.0-linux-amd64.tar.gz"
if ETCD_TARBALL="$T/in36/etcd-v3.6.0-linux-amd64.tar.gz" OUT="$T/dist36" \
    "$REPO/rpm/build.sh" etcd >"$LOG/etcd36.log" 2>&1; then
    fail "etcd 3.6 refused" "rpmbuild succeeded"
elif grep -q 'etcd 3.6 removed the v2 API that fleet v1.0.0 needs' "$LOG/etcd36.log"; then
    pass "etcd 3.6 is refused: '$(grep -o 'etcd 3.6.0 cannot.*needs' "$LOG/etcd36.log" | head -n 1)'"
else
    fail "etcd 3.6 refused with a clear message" "$(tail -n 3 "$LOG/etcd36.log" | tr '\n' ' ')"
fi

# --- lint -----------------------------------------------------------------------------
echo "== rpmlint"
# One run per package (rpmlint 2.4 leaks spec files between SRPMs of one run); the counts
# come from each run's summary line.
npkg=0 nerr=0 nwarn=0
: >"$LOG/rpmlint.log"
for p in "$OUT"/rpms/*.rpm "$OUT"/srpms/*.rpm; do
    rpmlint -c "$REPO/rpm/rpmlint.toml" "$p" >>"$LOG/rpmlint.log" 2>&1 || true
done
while read -r np ne nw; do
    npkg=$((npkg + np)) nerr=$((nerr + ne)) nwarn=$((nwarn + nw))
done < <(sed -n 's/^ *\([0-9]*\) packages and [0-9]* specfiles checked; \([0-9]*\) errors, \([0-9]*\) warnings.*/\1 \2 \3/p' "$LOG/rpmlint.log")
if [ "$npkg" = 6 ] && [ "$nerr" = 0 ]; then
    pass "rpmlint: $nerr errors on 3 RPMs + 3 SRPMs ($nwarn warnings)"
else
    grep ': E: ' "$LOG/rpmlint.log" || true
    fail "rpmlint: 0 errors on 3 RPMs + 3 SRPMs" "$npkg packages checked, $nerr errors"
fi
# Every filter in the config has a reason comment right above it.
if awk '/^Filters *= *\[/{f=1; next} f && /^\]/{f=0} f && /^ *"/{ if (prev !~ /^ *# *[^ ]/) bad++ } {prev=$0} END{exit bad>0}' "$REPO/rpm/rpmlint.toml"; then
    pass "rpmlint.toml: every filter carries a reason comment"
else
    fail "rpmlint.toml: every filter carries a reason comment"
fi

# --- glibc floor ----------------------------------------------------------------------
echo "== glibc floor (EL8: 2.28)"
newest_req=$(rpm -qpR "$fleetnode_rpm" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1)
if [ -z "$newest_req" ]; then
    fail "rpm -qpR fleetnode lists libc symbol versions" "none found: dependency generation broken?"
elif [ "$(printf '%s\n2.28\n' "$newest_req" | sort -V | tail -n 1)" = 2.28 ]; then
    pass "rpm -qpR fleetnode: newest glibc symbol version is GLIBC_$newest_req (none >= 2.29)"
else
    fail "rpm -qpR fleetnode: no GLIBC_2.29 or later" "found GLIBC_$newest_req"
fi
mkdir -p "$T/x"
(cd "$T/x" && rpm2cpio "$fleetnode_rpm" | cpio -idm --quiet)
for bin in usr/bin/fleetnode usr/lib/systemd/system-generators/fleetnode-generator; do
    newest=$(objdump -T "$T/x/$bin" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1)
    if [ -n "$newest" ] && [ "$(printf '%s\n2.28\n' "$newest" | sort -V | tail -n 1)" = 2.28 ]; then
        pass "objdump -T /$bin: newest GLIBC_$newest"
    else
        fail "objdump -T /$bin: no symbol beyond GLIBC_2.28" "newest GLIBC_${newest:-none}"
    fi
done

# --- rootfs ---------------------------------------------------------------------------
echo "== Debian rootfs with systemd"
ROOTFS_PKGS="systemd"
key=$(printf 'bookworm minbase %s %s v1' "$ROOTFS_PKGS" "$MIRROR" | sha256sum | cut -c1-12)
rootfs_tar="$CACHE/rootfs-bookworm-$key.tar"
mkdir -p "$CACHE"
if [ ! -f "$rootfs_tar" ]; then
    echo "   debootstrap bookworm (+$ROOTFS_PKGS) from $MIRROR into the cache $rootfs_tar"
    build=$(mktemp -d "$CACHE/rootfs-build.XXXXXX")
    # Never descend into mounts (debootstrap mounts proc/sys inside while it runs).
    drop_build() { umount -R "$build/root/proc" "$build/root/sys" 2>/dev/null || true; rm -rf --one-file-system "$build"; }
    if debootstrap --variant=minbase --include="${ROOTFS_PKGS// /,}" bookworm "$build/root" "$MIRROR" \
        >"$LOG/debootstrap.log" 2>&1; then
        rm -f "$build/root/var/cache/apt/archives/"*.deb
        tar -C "$build/root" --one-file-system --numeric-owner -cf "$rootfs_tar.part.$$" .
        mv "$rootfs_tar.part.$$" "$rootfs_tar"
        drop_build
    else
        drop_build
        tail -n 20 "$LOG/debootstrap.log"
        fatal "debootstrap bookworm with systemd" "see above"
    fi
fi
R=$T/root
mkdir -p "$R"
tar -C "$R" --numeric-owner -xf "$rootfs_tar"
[ -x "$R/usr/bin/systemctl" ] || fatal "rootfs has systemd" "no /usr/bin/systemctl in $rootfs_tar"
pass "fresh Debian rootfs with systemd $(chroot "$R" systemctl --version | head -n 1 | cut -d' ' -f2)"
# EL's release package ends the preset list with "disable *" (99-default-disable.preset);
# Debian enables everything by default, which would hide a missing line in our preset.
mkdir -p "$R/usr/lib/systemd/system-preset"
echo 'disable *' >"$R/usr/lib/systemd/system-preset/99-default-disable.preset"

rpmr() { rpm --root "$R" --dbpath /var/lib/rpm "$@"; }
rpmr --initdb

# owner NAME -> uid via the rootfs' own passwd/group (the host may not know etcd).
uid_of() { awk -F: -v n="$1" '$1 == n {print $3}' "$R/etc/passwd"; }
gid_of() { awk -F: -v n="$1" '$1 == n {print $3}' "$R/etc/group"; }
# expect PATH MODE USER GROUP: the file in the root has exactly that octal mode and owner.
expect() {
    local p=$1 mode=$2 user=$3 group=$4 got want
    if [ ! -e "$R$p" ] && [ ! -L "$R$p" ]; then fail "$p present" "missing"; return; fi
    got=$(stat -c '%a %u %g' "$R$p")
    want="$mode $(uid_of "$user") $(gid_of "$group")"
    if [ "$got" = "$want" ]; then pass "$p: $mode $user:$group"; else fail "$p: $mode $user:$group" "got mode/uid/gid $got, want $want"; fi
}
# Every file rpm recorded for the installed packages is on disk with the recorded mode/owner.
verify_db_files() {
    local bad=0 n=0 path mode user group
    while IFS=$'\t' read -r path mode user group; do
        n=$((n + 1))
        if [ ! -e "$R$path" ] && [ ! -L "$R$path" ]; then echo "missing $path"; bad=1; continue; fi
        local got want
        got=$(stat -c '%f %u %g' "$R$path")
        want=$(printf '%x %s %s' "$mode" "$(uid_of "$user")" "$(gid_of "$group")")
        [ "$got" = "$want" ] || { echo "$path: got $got want $want"; bad=1; }
    done < <(rpmr -qa --qf '[%{FILENAMES}\t%{FILEMODES}\t%{FILEUSERNAME}\t%{FILEGROUPNAME}\n]')
    echo "$n files checked"
    return $bad
}

# --- install --------------------------------------------------------------------------
echo "== install into the rootfs (rpm --root R --dbpath /var/lib/rpm --nodeps)"
if rpmr -i --nodeps "$etcd_rpm" "$fleet_rpm" "$fleetnode_rpm" >"$LOG/install.log" 2>&1; then
    if grep -Eiq 'scriptlet failed|warning: %(pre|post)' "$LOG/install.log"; then
        fail "install: scriptlets run without error" "$(grep -Ei 'scriptlet|warning' "$LOG/install.log" | head -n 3 | tr '\n' ' ')"
    else
        pass "install etcd, fleet, fleetnode: rpm exit 0, no scriptlet error"
    fi
else
    cat "$LOG/install.log"; fatal "install the three RPMs" "rpm -i failed"
fi
check "rpm -V: installed files match the rpm database" rpmr -V --nodeps etcd fleet fleetnode
if out=$(verify_db_files); then pass "every packaged file present with rpm's mode and owner ($(tail -n 1 <<<"$out"))"; else fail "every packaged file present with rpm's mode and owner" "$(head -n 5 <<<"$out" | tr '\n' ' ')"; fi

# etcd user and group, created by %pre in the rootfs.
if grep -q '^etcd:' "$R/etc/group" && awk -F: '$1=="etcd" && $6=="/var/lib/etcd" && $7=="/sbin/nologin" {ok=1} END{exit !ok}' "$R/etc/passwd"; then
    pass "%pre created system user etcd (home /var/lib/etcd, shell /sbin/nologin) and group etcd"
else
    fail "%pre created user and group etcd" "$(grep '^etcd:' "$R/etc/passwd" "$R/etc/group" | tr '\n' ' ')"
fi
uid=$(uid_of etcd)
if [ -n "$uid" ] && [ "$uid" -lt 1000 ]; then pass "etcd is a system uid ($uid)"; else fail "etcd is a system uid" "uid '$uid'"; fi

expect /usr/bin/etcd 755 root root
expect /usr/bin/etcdctl 755 root root
expect /var/lib/etcd 700 etcd etcd
expect /usr/lib/sysusers.d/etcd.conf 644 root root
expect /usr/bin/fleetd 755 root root
expect /usr/bin/fleetctl 755 root root
expect /usr/bin/fleetnode 755 root root
expect /usr/lib/systemd/system-generators/fleetnode-generator 755 root root
expect /usr/lib/systemd/system/fleetnode-core.service 644 root root
expect /usr/lib/systemd/system/fleetnode-health.service 644 root root
expect /usr/lib/systemd/system/fleetnode-health.timer 644 root root
expect /usr/lib/systemd/system-preset/90-fleetnode.preset 644 root root
expect /etc/fleetnode.toml 640 root root
expect /etc/fleetnode.d 755 root root
check "no etcd.service, fleet.service or fleet.socket shipped (the generator owns them)" \
    bash -c "! rpm --root '$R' --dbpath /var/lib/rpm -ql etcd fleet fleetnode | grep -E '/(etcd|fleet)\.(service|socket)\$'"
check "/usr/bin/etcd is Debian's etcd binary, byte for byte" cmp "$T/debx/usr/bin/etcd" "$R/usr/bin/etcd"
check "/usr/bin/etcdctl is Debian's etcdctl binary, byte for byte" cmp "$T/debx/usr/bin/etcdctl" "$R/usr/bin/etcdctl"
check "installed etcd runs: etcd --version reports $etcd_version" \
    bash -c "chroot '$R' /usr/bin/etcd --version | grep -q 'etcd Version: $etcd_version'"
check "$(fleet_label "/usr/bin/fleetd is the tarball's fleetd")" \
    bash -c "tar -xOzf '$FLEET_TARBALL' fleet-v1.0.0-linux-amd64/fleetd | cmp - '$R/usr/bin/fleetd'"
for u in fleetnode-core.service fleetnode-health.service fleetnode-health.timer; do
    check "$u installed as in etc/units/" cmp "$REPO/etc/units/$u" "$R/usr/lib/systemd/system/$u"
done
check "sysusers.d/etcd.conf installed as in etc/sysusers.d/" cmp "$REPO/etc/sysusers.d/etcd.conf" "$R/usr/lib/sysusers.d/etcd.conf"
check "/etc/fleetnode.toml is the shipped etc/fleetnode.toml" cmp "$REPO/etc/fleetnode.toml" "$R/etc/fleetnode.toml"
check "/etc/fleetnode.toml is fully commented (no active line)" \
    bash -c "! grep -Ev '^[[:space:]]*(#|\$)' '$R/etc/fleetnode.toml'"
check "rpm marks /etc/fleetnode.toml as %config(noreplace)" \
    bash -c "rpm --root '$R' --dbpath /var/lib/rpm -q --qf '[%{FILEFLAGS:fflags} %{FILENAMES}\n]' fleetnode | grep -Eq '^cn +/etc/fleetnode.toml\$'"
check "etcd ships its LICENSE as %license" \
    bash -c "rpm --root '$R' --dbpath /var/lib/rpm -qL etcd | grep -q '/usr/share/licenses/etcd.*/LICENSE\$'"
check "LICENSE shipped as %license" \
    bash -c "rpm --root '$R' --dbpath /var/lib/rpm -qL fleetnode | grep -q '/usr/share/licenses/fleetnode.*/LICENSE\$'"
if [ -d "$REPO/etc/examples" ]; then
    check "example drop-ins shipped as %doc" \
        bash -c "rpm --root '$R' --dbpath /var/lib/rpm -qd fleetnode | grep -q '/etc/examples/\\|/examples/'"
else
    skip "example drop-ins shipped as %doc" "etc/examples/ does not exist yet"
fi

# Man pages (man/<name>.<section> in the tree) are installed, gzipped, in man<section>/.
pages=("$REPO"/man/*.[1-8])
if [ -e "${pages[0]}" ]; then
    for page in "${pages[@]}"; do
        name=${page##*/}
        check "man page $name installed as $(printf '/usr/share/man/man%s/%s.gz' "${name##*.}" "$name")" \
            bash -c "zcat '$R/usr/share/man/man${name##*.}/$name.gz' | cmp - '$page'"
    done
else
    skip "man pages installed" "no man/ pages in the tree yet"
fi
check "installed fleetnode runs in the rootfs (fleetnode --help exits 0)" chroot "$R" /usr/bin/fleetnode --help

# %post ran `systemctl preset` in the rootfs: the preset enabled core and the timer.
# (Debian's systemctl links to /lib/systemd/system, the same directory with merged /usr.)
check "%post enabled fleetnode-core.service (multi-user.target.wants symlink)" \
    test "$(chroot "$R" readlink -f /etc/systemd/system/multi-user.target.wants/fleetnode-core.service)" = /usr/lib/systemd/system/fleetnode-core.service
check "%post enabled fleetnode-health.timer (timers.target.wants symlink)" \
    test "$(chroot "$R" readlink -f /etc/systemd/system/timers.target.wants/fleetnode-health.timer)" = /usr/lib/systemd/system/fleetnode-health.timer
check "systemctl is-enabled (in the rootfs): core and timer enabled" \
    bash -c "[ \"\$(chroot '$R' systemctl is-enabled fleetnode-core.service fleetnode-health.timer | sort -u)\" = enabled ]"
check "systemd-analyze verify of the three units in the rootfs" \
    chroot "$R" systemd-analyze verify --man=no /usr/lib/systemd/system/fleetnode-core.service \
    /usr/lib/systemd/system/fleetnode-health.service /usr/lib/systemd/system/fleetnode-health.timer

# The generator from the RPM runs on this glibc and, unconfigured, writes no etcd/fleet unit.
mkdir -p "$R/tmp/gen/normal" "$R/tmp/gen/early" "$R/tmp/gen/late"
if chroot "$R" /usr/lib/systemd/system-generators/fleetnode-generator /tmp/gen/normal /tmp/gen/early /tmp/gen/late \
    >"$LOG/generator.log" 2>&1; then
    if find "$R/tmp/gen" -name 'etcd.service' -o -name 'fleet.service' -o -name 'fleet.socket' | grep -q .; then
        fail "unconfigured node: the generator writes no etcd/fleet units" "$(cd "$R/tmp/gen" && find . -type f | tr '\n' ' ')"
    else
        pass "unconfigured node: the installed generator exits 0 and writes no etcd/fleet units"
    fi
else
    fail "the installed generator exits 0" "$(tail -n 3 "$LOG/generator.log" | tr '\n' ' ')"
fi

# --- upgrade --------------------------------------------------------------------------
echo "== upgrade fleetnode with a locally modified /etc/fleetnode.toml"
echo '# local edit by the rpm test' >>"$R/etc/fleetnode.toml"
cp -p "$R/etc/fleetnode.toml" "$T/local.toml"
# Release 2 comes from a copy of the tree whose default config differs (as a real new
# default would); without a difference rpm keeps the local file and writes no .rpmnew.
SRC2=$T/src2
mkdir -p "$SRC2"
(cd "$REPO" && git ls-files -z --cached --others --exclude-standard | grep -zv '^\(target\|dist\)/' |
    while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
    cpio -0 -pdm --quiet "$SRC2")
printf '# (default changed in release 2 by the rpm test)\n' >>"$SRC2/etc/fleetnode.toml"
start=$SECONDS
if fleetnode2_rpm=$(SRCDIR=$SRC2 FLEETNODE_RELEASE=2 "$REPO/rpm/build.sh" fleetnode 2>"$LOG/fleetnode2.log") && [ -f "$fleetnode2_rpm" ]; then
    pass "build fleetnode release 2 ($((SECONDS - start))s, incremental)"
else
    tail -n 20 "$LOG/fleetnode2.log"; fatal "build fleetnode release 2" "see above"
fi
if rpmr -U --nodeps "$fleetnode2_rpm" >"$LOG/upgrade.log" 2>&1 && ! grep -Eiq 'scriptlet failed' "$LOG/upgrade.log"; then
    pass "rpm -U to $(rpmr -q fleetnode): exit 0, no scriptlet error"
else
    fail "rpm -U fleetnode release 2" "$(tail -n 3 "$LOG/upgrade.log" | tr '\n' ' ')"
fi
check "upgrade: release 2 is installed" test "$(rpmr -q --qf '%{RELEASE}' fleetnode)" = 2
check "upgrade: the locally modified /etc/fleetnode.toml is kept" cmp "$T/local.toml" "$R/etc/fleetnode.toml"
check "upgrade: the new default lands as /etc/fleetnode.toml.rpmnew" cmp "$SRC2/etc/fleetnode.toml" "$R/etc/fleetnode.toml.rpmnew"
check "upgrade: rpm reports the .rpmnew" grep -q 'created as /etc/fleetnode.toml.rpmnew' "$LOG/upgrade.log"
check "upgrade: fleetnode-core.service and the timer stay enabled" \
    bash -c "[ \"\$(chroot '$R' systemctl is-enabled fleetnode-core.service fleetnode-health.timer | sort -u)\" = enabled ]"

# --- erase ----------------------------------------------------------------------------
echo "== erase"
mkdir -p "$R/var/lib/etcd/member/snap"
echo 'cluster data' >"$R/var/lib/etcd/member/snap/db"
chroot "$R" chown -R etcd:etcd /var/lib/etcd/member
if rpmr -e --nodeps fleetnode fleet etcd >"$LOG/erase.log" 2>&1 && ! grep -Eiq 'scriptlet failed' "$LOG/erase.log"; then
    pass "rpm -e fleetnode fleet etcd: exit 0, no scriptlet error"
else
    fail "rpm -e fleetnode fleet etcd" "$(tail -n 3 "$LOG/erase.log" | tr '\n' ' ')"
fi
check "erase: no package left in the database" bash -c "[ -z \"\$(rpm --root '$R' --dbpath /var/lib/rpm -qa)\" ]"
check "erase: /var/lib/etcd contents are kept" grep -qx 'cluster data' "$R/var/lib/etcd/member/snap/db"
expect /var/lib/etcd 700 etcd etcd
check "erase: binaries removed" bash -c "! ls '$R/usr/bin/etcd' '$R/usr/bin/fleetd' '$R/usr/bin/fleetnode' 2>/dev/null"
check "erase: %preun disabled the units (no wants/ symlinks left)" \
    bash -c "! ls '$R'/etc/systemd/system/*.wants/fleetnode-* 2>/dev/null"
check "erase: the modified /etc/fleetnode.toml is saved as .rpmsave" cmp "$T/local.toml" "$R/etc/fleetnode.toml.rpmsave"

# --- repository -----------------------------------------------------------------------
echo "== yum repository"
export GNUPGHOME=$T/gnupg
mkdir -m 0700 "$GNUPGHOME"
gpg --batch --quiet --passphrase '' --quick-gen-key 'fleetnode rpm test <rpm-test@example.invalid>' rsa3072 sign 1d \
    >"$LOG/gpg.log" 2>&1 || fatal "create a throwaway GPG key" "$(tail -n 3 "$LOG/gpg.log")"
fpr=$(gpg --batch --with-colons --list-secret-keys 2>/dev/null | awk -F: '/^fpr/ {print $10; exit}')
# Only the release-1 packages go into the repo.
rm -f "$fleetnode2_rpm"
if GPG_KEY=$fpr "$REPO/rpm/build.sh" repo >"$LOG/repo.log" 2>&1; then
    pass "make repo with GPG_KEY (throwaway key ${fpr: -16})"
else
    cat "$LOG/repo.log"; fatal "make repo with GPG_KEY" "see above"
fi
RP=$OUT/repo
n=$(zcat "$RP"/repodata/*-primary.xml.gz | grep -c '<package type="rpm">' || true)
check "repodata lists the 3 packages" test "$n" = 3
mkdir -p "$T/keydb"
rpm --dbpath "$T/keydb" --initdb
rpm --dbpath "$T/keydb" -K "$RP"/Packages/*.rpm >"$LOG/k-nokey.log" 2>&1 || true
check "control: rpm -K without the public key does not pass the signatures" \
    bash -c "grep -c 'signatures OK' '$LOG/k-nokey.log' | grep -qx 0"
rpm --dbpath "$T/keydb" --import "$RP/RPM-GPG-KEY-fleetnode"
for p in "$RP"/Packages/*.rpm; do
    line=$(rpm --dbpath "$T/keydb" -K "$p" 2>&1 || true)
    if [[ $line == *": digests signatures OK" ]]; then pass "rpm -K $(basename "$p"): digests signatures OK"; else fail "rpm -K $(basename "$p")" "$line"; fi
done
check "RPM signed with the test key (rpm -qpi Signature)" \
    bash -c "rpm --dbpath '$T/keydb' -qpi '$RP'/Packages/fleetnode-*.rpm | grep -i '^Signature' | grep -qi '${fpr: -16}'"
gpg --batch --quiet --no-default-keyring --keyring "$T/pub.kbx" --import "$RP/RPM-GPG-KEY-fleetnode" 2>/dev/null
check "repomd.xml.asc verifies with the exported public key (gpgv)" \
    gpgv --keyring "$T/pub.kbx" "$RP/repodata/repomd.xml.asc" "$RP/repodata/repomd.xml"
cp "$RP/repodata/repomd.xml" "$T/repomd.tampered"
echo '<!-- tampered -->' >>"$T/repomd.tampered"
check "control: a tampered repomd.xml fails gpgv" \
    bash -c "! gpgv --keyring '$T/pub.kbx' '$RP/repodata/repomd.xml.asc' '$T/repomd.tampered'"
check "fleetnode.repo: gpgcheck=1, repo_gpgcheck=1, gpgkey next to the repo" \
    bash -c "grep -qx 'gpgcheck=1' '$RP/fleetnode.repo' && grep -qx 'repo_gpgcheck=1' '$RP/fleetnode.repo' && grep -qx 'gpgkey=file://$RP/RPM-GPG-KEY-fleetnode' '$RP/fleetnode.repo' && grep -qx 'baseurl=file://$RP' '$RP/fleetnode.repo'"

# Unsigned repo: no key, no signature, gpgcheck off.
if env -u GPG_KEY "$REPO/rpm/build.sh" repo >"$LOG/repo-unsigned.log" 2>&1 &&
    [ ! -e "$RP/repodata/repomd.xml.asc" ] && grep -qx 'gpgcheck=0' "$RP/fleetnode.repo" &&
    rpm -qp --qf '%{SIGPGP:pgpsig}%{RSAHEADER:pgpsig}\n' "$RP"/Packages/etcd-*.rpm 2>/dev/null | grep -q '(none)(none)'; then
    pass "make repo without GPG_KEY: unsigned RPMs, no repomd.xml.asc, gpgcheck=0"
else
    fail "make repo without GPG_KEY" "$(tail -n 3 "$LOG/repo-unsigned.log" | tr '\n' ' ')"
fi

# --- make sources, against a release mirror on loopback ------------------------------
echo "== sources: download + sha256 check against a mirror on 127.0.0.1"
M=$T/mirror
mkdir -p "$M/etcd/v$etcd_version" "$M/fleet/v1.0.0"
cp "$ETCD_TARBALL" "$M/etcd/v$etcd_version/"
(cd "$M/etcd/v$etcd_version" && sha256sum "etcd-v$etcd_version-linux-amd64.tar.gz" >SHA256SUMS)
cp "$FLEET_TARBALL" "$M/fleet/v1.0.0/"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server --bind 127.0.0.1 --directory "$M" "$port" >"$LOG/http.log" 2>&1 &
server_pid=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/" >/dev/null 2>&1 && break; sleep 0.1; done
fleet_sha=$(sha256sum "$FLEET_TARBALL" | cut -d' ' -f1)
src_env=(ETCD_VERSION="$etcd_version" ETCD_DOWNLOAD_URL="http://127.0.0.1:$port/etcd"
    FLEET_DOWNLOAD_URL="http://127.0.0.1:$port/fleet")
if env "${src_env[@]}" OUT="$T/src-ok" FLEET_SHA256="$fleet_sha" "$REPO/rpm/build.sh" sources >"$LOG/sources-ok.log" 2>&1 &&
    cmp -s "$ETCD_TARBALL" "$T/src-ok/sources/etcd-v$etcd_version-linux-amd64.tar.gz" &&
    cmp -s "$FLEET_TARBALL" "$T/src-ok/sources/fleet-v1.0.0-linux-amd64.tar.gz"; then
    pass "sources: both tarballs downloaded, etcd checked against SHA256SUMS, fleet against FLEET_SHA256"
else
    fail "sources: download and check" "$(tail -n 3 "$LOG/sources-ok.log" | tr '\n' ' ')"
fi
sed -i 's/^[0-9a-f]\{8\}/00000000/' "$M/etcd/v$etcd_version/SHA256SUMS"
if env "${src_env[@]}" OUT="$T/src-bad" FLEET_SHA256="$fleet_sha" "$REPO/rpm/build.sh" sources >"$LOG/sources-bad.log" 2>&1; then
    fail "sources: a wrong published sha256 is rejected" "succeeded"
elif grep -q 'sha256 .*, published 00000000' "$LOG/sources-bad.log" && [ ! -e "$T/src-bad/sources/etcd-v$etcd_version-linux-amd64.tar.gz" ]; then
    pass "sources: a tarball not matching etcd's SHA256SUMS is rejected and not kept"
else
    fail "sources: a wrong published sha256 is rejected" "$(tail -n 2 "$LOG/sources-bad.log" | tr '\n' ' ')"
fi
(cd "$M/etcd/v$etcd_version" && sha256sum "etcd-v$etcd_version-linux-amd64.tar.gz" >SHA256SUMS)
if env "${src_env[@]}" OUT="$T/src-nofleetsum" "$REPO/rpm/build.sh" sources >"$LOG/sources-nofleetsum.log" 2>&1; then
    fail "sources: fleet without FLEET_SHA256 is refused" "succeeded"
elif grep -q 'publishes no checksum' "$LOG/sources-nofleetsum.log" && [ ! -e "$T/src-nofleetsum/sources/fleet-v1.0.0-linux-amd64.tar.gz" ]; then
    pass "sources: fleet without FLEET_SHA256 is refused (fleet publishes no checksum)"
else
    fail "sources: fleet without FLEET_SHA256 is refused" "$(tail -n 2 "$LOG/sources-nofleetsum.log" | tr '\n' ' ')"
fi
kill "$server_pid" 2>/dev/null || true
wait "$server_pid" 2>/dev/null || true
server_pid=""

if [ "$real_fleet" = 0 ]; then
    echo "NOTE: fleet checks used placeholder executables (FLEET_TARBALL not set): packaging layout only."
fi
finish
