#!/usr/bin/env bash
# Installs what the core tests need, idempotently: only missing packages are installed, and
# `apt-get update` runs only when something is missing. Run as root on Debian 12.
set -euo pipefail

apt_install() {   # apt_install PKG... : installs the packages that are not installed yet
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# systemd-analyze (unit verification), diff (golden diffs), pkg-config (systemd's unit dir).
apt_install systemd diffutils pkg-config ca-certificates
# The CLI tests: a real etcd (v3.4, --enable-v2) and a real discovery service, on loopback.
apt_install etcd-server etcd-client etcd-discovery tinyproxy curl python3 openssh-client man-db

command -v cargo >/dev/null || { echo "cargo is missing: install Rust with rustup (https://rustup.rs)"; exit 1; }
if command -v rustup >/dev/null; then
  for c in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c"
  done
fi
