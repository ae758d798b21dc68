#!/bin/bash
# fuzz/run.sh SECONDS [TARGET...]: a bounded, single-job libFuzzer run of each target
# (default: config merge), SECONDS each. Needs a nightly toolchain and cargo-fuzz:
#     rustup toolchain install nightly && cargo install cargo-fuzz
# The corpus grows in fuzz/corpus/TARGET (seeded from fuzz/seeds/TARGET), crashes land in
# fuzz/artifacts/TARGET/, and fuzz/results/TARGET.txt records the executions, the corpus size
# and every finding with its panic message (fuzz/triage.sh). A crash does not end the run
# (libFuzzer fork mode with one job), so one bug does not hide the next. Reproduce one with
#     cargo +nightly fuzz run TARGET fuzz/artifacts/TARGET/crash-...
# Exit status: 0 without findings, 1 with, 2 on a usage or build error.
set -u
cd "$(dirname "$0")"

secs=${1:-}
if ! [[ "$secs" =~ ^[0-9]+$ ]] || [ "$secs" -lt 1 ]; then
    echo "usage: fuzz/run.sh SECONDS [TARGET...]" >&2
    exit 2
fi
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(config merge)

toolchain=${FUZZ_TOOLCHAIN:-nightly}
export CARGO_TARGET_DIR="$PWD/target"
if ! nice cargo "+$toolchain" fuzz build -O >results.build.log 2>&1; then
    cat results.build.log >&2
    exit 2
fi
rm -f results.build.log

mkdir -p results
found=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    # Seed an empty corpus.
    if [ -z "$(ls -A "corpus/$t")" ] && [ -d "seeds/$t" ]; then
        cp "seeds/$t"/* "corpus/$t/"
    fi
    before=$(ls "artifacts/$t" | wc -l)
    log="results/$t.log"
    # Fork mode with one job: still one fuzzing process at a time, but a crash does not end
    # the run, so one bug does not hide the next. -rss_limit_mb: a config is small.
    nice cargo "+$toolchain" fuzz run -O "$t" "corpus/$t" -- \
        -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
        -max_total_time="$secs" -max_len=8192 -timeout=10 -rss_limit_mb=1024 \
        -dict=config.dict -artifact_prefix="artifacts/$t/" >"$log" 2>&1
    # The last fork-mode status line: "#EXECS: cov: ... oom/timeout/crash: O/T/C time: ...".
    status=$(grep -E '^#[0-9]+: cov:' "$log" | tail -1)
    execs=$(echo "$status" | sed -E 's/^#([0-9]+):.*/\1/')
    otc=$(echo "$status" | grep -oE 'oom/timeout/crash: [0-9]+/[0-9]+/[0-9]+' | cut -d' ' -f2)
    after=$(ls "artifacts/$t" | wc -l)
    new=$((after - before))
    [ "$new" -eq 0 ] || found=1
    {
        echo "target:      $t"
        echo "date:        $(date -u +%Y-%m-%dT%H:%M:%SZ)"
        echo "seconds:     $secs (libFuzzer -fork=1: one job)"
        echo "executions:  ${execs:-0}"
        echo "oom/timeout/crash: ${otc:-?}"
        echo "corpus:      $(ls "corpus/$t" | wc -l) inputs"
        echo "findings:    $new new in this run, $after in artifacts/$t"
        # Each saved input re-run, with its panic message (fork mode logs them per job).
        ./triage.sh "$t" | sed 's/^/  /'
    } | tee "results/$t.txt"
done
exit $found
