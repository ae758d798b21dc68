#!/usr/bin/env bash
# The Foreman/Satellite provisioning snippets in foreman/, rendered with Ruby's ERB through
# tests/foreman/shim.rb for every parameter set in tests/foreman/params/:
#   - every template has Foreman's metadata header and uses only what safe mode allows;
#   - fleetnode_config: refused parameter sets fail the rendering with their message; the
#     others render shell that passes bash -n and shellcheck, writes a tree that parses as
#     TOML with exactly the expected values (hostile values round-trip, nothing expands),
#     and that `fleetnode check --root` accepts (or rejects with the expected message);
#     accepted trees render etcd/fleet units with `fleetnode render`;
#   - fleetnode_setup runs with stub yum/rpm and the real fleetnode: succeeds, or fails
#     loudly (non-zero, "fleetnode provisioning FAILED") on a rejected config or a failed install;
#   - the repository snippets, the Kickstart default hooks, and the example kickstart
#     (ksvalidator, RHEL8 and RHEL9 syntax).
# Prints PASS/FAIL lines; exit 1 if anything failed.
#
#   tests/foreman/run.sh              # FLEETNODE=path/to/fleetnode to pick the binary
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
FOREMAN_TOOLS=${FOREMAN_TOOLS:-/var/cache/fleetnode-foreman}
KSVALIDATOR=$FOREMAN_TOOLS/venv/bin/ksvalidator

bash "$here/deps.sh"

FLEETNODE=${FLEETNODE:-}
if [ -z "$FLEETNODE" ]; then
    for f in "${CARGO_TARGET_DIR:-$repo/target}/debug/fleetnode" "$repo/target/debug/fleetnode"; do
        [ -x "$f" ] && { FLEETNODE=$f; break; }
    done
fi
if [ -z "$FLEETNODE" ] || [ ! -x "$FLEETNODE" ]; then
    echo "tests/foreman/run.sh: no fleetnode binary: cargo build -p fleetnode --bin fleetnode, or set FLEETNODE" >&2
    exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
passes=0
pass() { echo "PASS $*"; passes=$((passes + 1)); }
fail() { echo "FAIL $*"; failures=$((failures + 1)); }
indent() { sed 's/^/    | /'; }
shim() { ruby "$here/shim.rb" "$@"; }
meta() { shim meta "$1" "$2"; }

# Stubs for the provisioning commands fleetnode_setup runs; the real fleetnode is in PATH.
stubs=$tmp/stubs
mkdir -p "$stubs"
for cmd in yum rpm dnf logger; do
    # shellcheck disable=SC2016 # $* and ${STUB_..._RC} expand when the stub runs
    printf '#!/bin/sh\necho "%s $*" >>"%s/calls.log"\nexit "${STUB_%s_RC:-0}"\n' "$cmd" "$stubs" "${cmd^^}" >"$stubs/$cmd"
    chmod +x "$stubs/$cmd"
done
ln -s "$(cd "$(dirname "$FLEETNODE")" && pwd)/$(basename "$FLEETNODE")" "$stubs/fleetnode"

shellcheck_ok() { # FILE: bash -n and shellcheck, as the %post shell
    local f=$1 out
    if ! out=$(bash -n "$f" 2>&1); then echo "$out"; return 1; fi
    shellcheck -s bash "$f"
}

# ---- 1. metadata and safe mode --------------------------------------------------------------
while IFS= read -r line; do
    case $line in
    ok*) pass "lint: ${line#ok   }" ;;
    *) fail "lint: ${line#bad  }" ;;
    esac
done < <(shim lint || true)

# ---- 2. every parameter set ------------------------------------------------------------------
for params in "$here"/params/*.yaml; do
    set_name=$(basename "$params" .yaml)
    expect=$(meta "$params" expect)
    message=$(meta "$params" message)
    root=$tmp/$set_name/root
    mkdir -p "$root"
    rc=0
    shim render "$params" fleetnode_config --var "fleetnode_root=$root" >"$tmp/$set_name/config.sh" 2>"$tmp/$set_name/render.err" || rc=$?

    if [ "$expect" = render-error ]; then
        if [ "$rc" -eq 3 ] && grep -Eq -- "$message" "$tmp/$set_name/render.err"; then
            pass "$set_name: rendering refused: $(cut -c1-150 "$tmp/$set_name/render.err")"
        else
            fail "$set_name: expected the rendering to fail with /$message/ (exit $rc)"
            indent <"$tmp/$set_name/render.err"
        fi
        continue
    fi
    if [ "$rc" -ne 0 ]; then
        fail "$set_name: rendering failed (exit $rc)"
        indent <"$tmp/$set_name/render.err"
        continue
    fi
    pass "$set_name: fleetnode_config rendered"

    if out=$(shellcheck_ok "$tmp/$set_name/config.sh" 2>&1); then
        pass "$set_name: fleetnode_config shell passes bash -n and shellcheck"
    else
        fail "$set_name: fleetnode_config shell"
        indent <<<"$out"
    fi

    must_not_exist=$(meta "$params" must_not_exist)
    [ -z "$must_not_exist" ] || rm -f "$must_not_exist"
    if out=$(cd "$tmp" && bash "$tmp/$set_name/config.sh" 2>&1); then
        pass "$set_name: the %post shell wrote $(cd "$root" && find etc -type f | sort | tr '\n' ' ')"
    else
        fail "$set_name: running the %post shell"
        indent <<<"$out"
        continue
    fi
    if [ -n "$must_not_exist" ]; then
        if [ -e "$must_not_exist" ]; then fail "$set_name: a value was expanded by the shell ($must_not_exist exists)"; else pass "$set_name: no value expanded by the shell"; fi
    fi
    for f in $(meta "$params" expect_files | tr -d '[]"' | tr ',' ' '); do
        mode=$(stat -c %a "$root/$f" 2>/dev/null || echo missing)
        if [ "$mode" = 640 ]; then pass "$set_name: $f written, mode 0640"; else fail "$set_name: $f: mode $mode, expected 640"; fi
    done
    if out=$(python3 "$here/tomlcheck.py" "$root" "$(meta "$params" expect_toml)" "$(meta "$params" expect_absent)" 2>&1); then
        pass "$set_name: TOML parses (tomllib) and every expected value round-trips exactly"
    else
        fail "$set_name: TOML values"
        indent <<<"$out"
    fi

    rc=0
    out=$("$FLEETNODE" check --root "$root" 2>&1) || rc=$?
    if [ "$expect" = ok ]; then
        if [ "$rc" -eq 0 ]; then pass "$set_name: fleetnode check: $out"; else fail "$set_name: fleetnode check (exit $rc)"; indent <<<"$out"; fi
        gen=$tmp/$set_name/generated
        if "$FLEETNODE" render --root "$root" --output "$gen" >/dev/null 2>&1 && [ -e "$gen/fleet.service" ]; then
            pass "$set_name: fleetnode render: $(cd "$gen" && find . -maxdepth 1 -name '*.service' -o -maxdepth 1 -name '*.socket' | sed 's|^\./||' | sort | tr '\n' ' ')"
        else
            fail "$set_name: fleetnode render produced no fleet.service"
        fi
    else
        if [ "$rc" -eq 1 ] && grep -Eq -- "$message" <<<"$out"; then
            pass "$set_name: fleetnode check rejects it: $(head -1 <<<"$out" | cut -c1-150)"
        else
            fail "$set_name: expected fleetnode check to fail with /$message/ (exit $rc)"
            indent <<<"$out"
        fi
    fi

    # fleetnode_setup: rendered, linted, and run against the stubs.
    setup=$tmp/$set_name/setup.sh
    setup_root=$tmp/$set_name/setup-root
    mkdir -p "$setup_root"
    if ! shim render "$params" fleetnode_setup --var "fleetnode_root=$setup_root" >"$setup" 2>"$tmp/$set_name/setup.err"; then
        fail "$set_name: fleetnode_setup rendering"
        indent <"$tmp/$set_name/setup.err"
        continue
    fi
    if out=$(shellcheck_ok "$setup" 2>&1); then pass "$set_name: fleetnode_setup shell passes bash -n and shellcheck"; else fail "$set_name: fleetnode_setup shell"; indent <<<"$out"; fi
    rc=0
    out=$(cd "$tmp" && PATH="$stubs:$PATH" bash "$setup" 2>&1) || rc=$?
    if [ "$expect" = ok ]; then
        if [ "$rc" -eq 0 ] && grep -q '^yum -y install fleetnode$' "$stubs/calls.log"; then
            pass "$set_name: fleetnode_setup installs, configures, checks (exit 0)"
        else
            fail "$set_name: fleetnode_setup (exit $rc)"
            indent <<<"$out"
        fi
    else
        if [ "$rc" -ne 0 ] && grep -q 'fleetnode provisioning FAILED: fleetnode check rejected' <<<"$out" && grep -Eq -- "$message" <<<"$out"; then
            pass "$set_name: fleetnode_setup fails the build (exit $rc) with fleetnode's message"
        else
            fail "$set_name: fleetnode_setup should fail loudly (exit $rc)"
            indent <<<"$out"
        fi
    fi
    rm -f "$stubs/calls.log"

    # The example kickstart, as Anaconda would parse it.
    ks=$tmp/$set_name/ks.cfg
    if shim render "$params" 'Kickstart fleetnode example' >"$ks" 2>"$tmp/$set_name/ks.err"; then
        for v in RHEL8 RHEL9; do
            if out=$("$KSVALIDATOR" -v "$v" "$ks" 2>&1); then pass "$set_name: example kickstart passes ksvalidator -v $v"; else fail "$set_name: ksvalidator -v $v"; indent <<<"$out"; fi
        done
    else
        fail "$set_name: example kickstart rendering"
        indent <"$tmp/$set_name/ks.err"
    fi
done

# ---- 3. fleetnode_setup failure paths --------------------------------------------------------
setup_root=$tmp/yumfail/root
mkdir -p "$setup_root"
shim render "$here/params/static.yaml" fleetnode_setup --var "fleetnode_root=$setup_root" >"$tmp/yumfail.sh"
rc=0
out=$(cd "$tmp" && STUB_YUM_RC=1 PATH="$stubs:$PATH" bash "$tmp/yumfail.sh" 2>&1) || rc=$?
if [ "$rc" -ne 0 ] && grep -q 'fleetnode provisioning FAILED: yum -y install fleetnode failed' <<<"$out" && [ ! -e "$setup_root/etc/fleetnode.toml" ]; then
    pass "setup: a failed install stops the %post (exit $rc) before any configuration is written"
else
    fail "setup: a failed install (exit $rc)"
    indent <<<"$out"
fi
rm -f "$stubs/calls.log"

# ---- 4. repository snippets -----------------------------------------------------------------
params=$here/params/interface.yaml   # fleetnode_repo_url=https://repo.example.com/fleetnode/el9/
line=$(shim render "$params" fleetnode_kickstart_repo)
if [ "$line" = 'repo --name=fleetnode --baseurl=https://repo.example.com/fleetnode/el9/' ]; then
    pass "kickstart repo: $line"
else
    fail "kickstart repo: got: $line"
fi
repo_root=$tmp/repo-root
mkdir -p "$repo_root"
shim render "$params" fleetnode_yum_repo --var "fleetnode_root=$repo_root" >"$tmp/yumrepo.sh"
if out=$(shellcheck_ok "$tmp/yumrepo.sh" 2>&1) && bash "$tmp/yumrepo.sh" &&
    out=$(python3 - "$repo_root/etc/yum.repos.d/fleetnode.repo" <<'EOF'
import configparser, sys
c = configparser.ConfigParser(interpolation=None)
c.read(sys.argv[1])
r = c["fleetnode"]
want = {"baseurl": "https://repo.example.com/fleetnode/el9", "enabled": "1", "gpgcheck": "1",
        "repo_gpgcheck": "1", "gpgkey": "https://repo.example.com/fleetnode/el9/RPM-GPG-KEY-fleetnode"}
bad = [f"{k}={r.get(k)!r}, expected {v!r}" for k, v in want.items() if r.get(k) != v]
print("; ".join(bad) if bad else "ok")
sys.exit(1 if bad else 0)
EOF
); then
    pass "yum repo: /etc/yum.repos.d/fleetnode.repo with gpgcheck=1, repo_gpgcheck=1, gpgkey=<baseurl>/RPM-GPG-KEY-fleetnode"
else
    fail "yum repo: $out"
fi
cat >"$tmp/repo-custom.yaml" <<'EOF'
host: {name: infra0.example.com, ip: 10.0.0.10}
params:
  fleetnode_repo_url: http://satellite-less.example.com/fleetnode
  fleetnode_repo_gpgkey_url: https://keys.example.com/RPM-GPG-KEY-ops
  http-proxy: proxy.corp
  http-proxy-port: "3128"
EOF
if shim render "$tmp/repo-custom.yaml" fleetnode_yum_repo | grep -qx 'gpgkey=https://keys.example.com/RPM-GPG-KEY-ops' &&
    [ "$(shim render "$tmp/repo-custom.yaml" fleetnode_kickstart_repo)" = 'repo --name=fleetnode --baseurl=http://satellite-less.example.com/fleetnode --proxy=http://proxy.corp:3128' ]; then
    pass "repo snippets: fleetnode_repo_gpgkey_url and Foreman's http-proxy parameters are used"
else
    fail "repo snippets: custom key URL / installer proxy"
fi
cat >"$tmp/repo-nogpg.yaml" <<'EOF'
host: {name: infra0.example.com, ip: 10.0.0.10}
params: {fleetnode_repo_url: "file:///srv/dist/repo", fleetnode_repo_gpgcheck: false}
EOF
out=$(shim render "$tmp/repo-nogpg.yaml" fleetnode_yum_repo)
if grep -qx 'gpgcheck=0' <<<"$out" && grep -q 'WARNING: fleetnode_repo_gpgcheck is false' <<<"$out" && ! grep -q '^gpgkey=' <<<"$out"; then
    pass "yum repo: fleetnode_repo_gpgcheck=false writes gpgcheck=0 and warns"
else
    fail "yum repo: fleetnode_repo_gpgcheck=false"
fi
for url in 'http://repo.example.com/a b' "http://repo.example.com/\"x" 'repo.example.com/fleetnode'; do
    printf 'host: {name: h.example.com, ip: 10.0.0.1}\nparams:\n  fleetnode_repo_url: %s\n' "'${url//\'/\'\'}'" >"$tmp/badurl.yaml"
    for t in fleetnode_yum_repo fleetnode_kickstart_repo; do
        rc=0
        err=$(shim render "$tmp/badurl.yaml" "$t" 2>&1 >/dev/null) || rc=$?
        if [ "$rc" -eq 3 ] && grep -q 'fleetnode_repo_url .* is not an' <<<"$err"; then pass "$t refuses the URL $url"; else fail "$t accepted the URL $url"; fi
    done
done
printf 'host: {name: h.example.com, ip: 10.0.0.1}\nparams: {}\n' >"$tmp/nourl.yaml"
rc=0
err=$(shim render "$tmp/nourl.yaml" fleetnode_yum_repo 2>&1 >/dev/null) || rc=$?
if [ "$rc" -eq 3 ] && grep -q 'set the fleetnode_repo_url parameter' <<<"$err"; then pass "fleetnode_yum_repo without fleetnode_repo_url: $err"; else fail "fleetnode_yum_repo without fleetnode_repo_url (exit $rc)"; fi
if [ "$(shim render "$tmp/nourl.yaml" fleetnode_kickstart_repo)" = '# fleetnode_kickstart_repo: fleetnode_repo_url is not set; fleetnode comes from the host'"'"'s registered content' ]; then
    pass "fleetnode_kickstart_repo without fleetnode_repo_url renders only a comment"
else
    fail "fleetnode_kickstart_repo without fleetnode_repo_url"
fi

# ---- 5. Kickstart default hooks: only hosts with fleetnode_enabled ---------------------------
on=$here/params/interface.yaml      # fleetnode_enabled: "yes", fleetnode_repo_url set
off=$here/params/hostile-metadata.yaml   # no fleetnode_enabled
post_on=$(shim render "$on" 'Kickstart default custom post')
if grep -q 'fleetnode_setup' <<<"$post_on" && grep -q 'fleetnode_yum_repo' <<<"$post_on" &&
    [ "$(shim render "$on" 'Kickstart default custom repositories')" = 'repo --name=fleetnode --baseurl=https://repo.example.com/fleetnode/el9/' ] &&
    [ "$(shim render "$on" 'Kickstart default custom packages')" = fleetnode ]; then
    pass "hooks: a host with fleetnode_enabled gets the repo line, the package and the setup"
else
    fail "hooks with fleetnode_enabled"
fi
if [ -z "$(shim render "$off" 'Kickstart default custom post' | tr -d '[:space:]')" ] &&
    [ -z "$(shim render "$off" 'Kickstart default custom repositories' | tr -d '[:space:]')" ] &&
    [ -z "$(shim render "$off" 'Kickstart default custom packages' | tr -d '[:space:]')" ]; then
    pass "hooks: a host without fleetnode_enabled renders nothing"
else
    fail "hooks without fleetnode_enabled render something"
fi

# ---- 6. render.sh (for the cluster harness) -------------------------------------------------
if out=$(bash "$here/render.sh" static "$tmp/render-sh" 2>/dev/null) && [ -f "$tmp/render-sh/etc/fleetnode.toml" ] &&
    "$FLEETNODE" check --root "$tmp/render-sh" >/dev/null; then
    pass "render.sh static OUTDIR: $(tr '\n' ' ' <<<"$out")"
else
    fail "render.sh static OUTDIR"
fi
rc=0
bash "$here/render.sh" missing-bootstrap "$tmp/render-sh-missing" >/dev/null 2>&1 || rc=$?
if [ "$rc" -eq 3 ]; then pass "render.sh exits 3 when the snippet refuses the parameters"; else fail "render.sh on a refused set: exit $rc"; fi

echo "== tests/foreman: $passes passed, $failures failed"
[ "$failures" -eq 0 ]
