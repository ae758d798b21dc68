#!/bin/bash
# fuzz/triage.sh [TARGET...]: re-runs every saved crash input of each target (default: all)
# and prints its panic message, so findings can be grouped by cause.
set -u
cd "$(dirname "$0")"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=($(ls artifacts 2>/dev/null))
bin_dir=target/x86_64-unknown-linux-gnu/release
for t in "${targets[@]}"; do
    for f in artifacts/"$t"/*; do
        [ -f "$f" ] || continue
        msg=$("$bin_dir/$t" "$f" 2>&1 | grep -A1 -m1 "panicked at" | tail -1 | cut -c1-160)
        echo "$f: ${msg:-(no panic when re-run)}"
    done
done
