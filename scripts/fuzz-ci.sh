#!/usr/bin/env bash
# The short fuzzing run of `make test`: each fuzz target for FUZZ_SECONDS (default 30).
# cargo-fuzz needs a nightly toolchain; it is installed when rustup can fetch it. Where it
# cannot, this says so plainly and exits 0 (the long run is `make fuzz`).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-30}
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  if ! rustup toolchain install nightly --profile minimal >/dev/null 2>&1; then
    echo "SKIP fuzzing: no nightly Rust toolchain here and rustup cannot install one (cargo-fuzz needs it)"
    exit 0
  fi
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz
fi
bash fuzz/run.sh "$secs"
for f in fuzz/results/*.txt; do echo "== $f"; head -20 "$f"; done
