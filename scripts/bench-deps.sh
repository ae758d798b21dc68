#!/usr/bin/env bash
# What `make bench` needs, installed idempotently: hyperfine, valgrind, GNU time, and Debian's
# systemd-zram-generator to compare against.
set -euo pipefail
missing=()
for p in hyperfine valgrind time strace systemd-zram-generator; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
