#!/usr/bin/env bash
# Installs what tests/foreman/run.sh needs, only when missing (idempotent; Debian 12, root):
# Debian's ruby (ERB, Ripper, Psych), shellcheck, python3 (3.11: tomllib), and pykickstart
# (ksvalidator, from PyPI) in a venv under $FOREMAN_TOOLS.
set -euo pipefail

FOREMAN_TOOLS=${FOREMAN_TOOLS:-/var/cache/fleetnode-foreman}
log() { echo "tests/foreman/deps.sh: $*" >&2; }

missing=()
command -v ruby >/dev/null 2>&1 || missing+=(ruby)
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
/usr/bin/python3 -c 'import tomllib, venv, ensurepip' >/dev/null 2>&1 || missing+=(python3 python3-venv)
if [ "${#missing[@]}" -gt 0 ]; then
    [ "$(id -u)" -eq 0 ] || { log "missing ${missing[*]} and not root: install them"; exit 1; }
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! "$FOREMAN_TOOLS/venv/bin/ksvalidator" --help >/dev/null 2>&1; then
    log "installing pykickstart into $FOREMAN_TOOLS/venv"
    mkdir -p "$FOREMAN_TOOLS"
    rm -rf "$FOREMAN_TOOLS/venv"
    /usr/bin/python3 -m venv "$FOREMAN_TOOLS/venv"
    "$FOREMAN_TOOLS/venv/bin/pip" install -q --disable-pip-version-check 'pykickstart>=3.48'
fi
log "ok: $(ruby -v | cut -d' ' -f1-2), shellcheck $(shellcheck --version | sed -n 's/^version: //p'), $("$FOREMAN_TOOLS/venv/bin/python" -c 'import pykickstart; print("pykickstart", pykickstart.__version__ if hasattr(pykickstart, "__version__") else "")' 2>/dev/null)"
