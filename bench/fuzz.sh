#!/usr/bin/env bash
# bench/fuzz.sh: runs the fuzz targets of fuzz/ (cargo-fuzz, libFuzzer, on stable Rust) for a
# fixed time each; prints one table.
#
#   bench/fuzz.sh [--json] [--no-build] [--keep] [--merge] [TARGET...]
#
# Every target (envelope, event, auth, decode, security_report; or those named) runs for
# FUZZ_SECONDS (60) with `cargo fuzz run --sanitizer none`: stable Rust has no sanitizers, so
# the fuzzer finds panics, failed assertions (the targets' invariants, fuzz/src/lib.rs), aborts,
# inputs slower than FUZZ_TIMEOUT (10) seconds and memory over FUZZ_RSS_MB (2048), not silent
# memory errors (the crates under test have no unsafe code of their own). A run starts from the
# committed corpus (fuzz/corpus/TARGET and fuzz/regressions/TARGET) and writes what it finds to
# its work directory only; with --merge, the inputs it found of at most FUZZ_MERGE_MAX_BYTES
# (512) that add coverage are then merged into fuzz/corpus/TARGET. libFuzzer stops at the first
# crash, so "crashes" is 0 or 1 per target; the input is left in fuzz/artifacts/TARGET/
# (docs/FUZZING.md says how to turn it into a test), and the script exits 1 after the table.
# Executions, execs/s, new units and peak RSS are libFuzzer's final stats
# (-print_final_stats=1); corpus (units/size) and coverage (edges) its last status line.
# Installs cargo-fuzz when missing.

set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

ALL_TARGETS=(envelope event auth decode security_report)
TARGETS=()
FLAGS=()
MERGE=0
for arg in "$@"; do
    case $arg in
        --merge) MERGE=1 ;;
        -*) FLAGS+=("$arg") ;;
        *) TARGETS+=("$arg") ;;
    esac
done
bench_init fuzz ${FLAGS[@]+"${FLAGS[@]}"}
((${#TARGETS[@]})) || TARGETS=("${ALL_TARGETS[@]}")
for t in "${TARGETS[@]}"; do
    [[ " ${ALL_TARGETS[*]} " == *" $t "* ]] || die "unknown target $t (targets: ${ALL_TARGETS[*]})"
done

FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_TIMEOUT=${FUZZ_TIMEOUT:-10}
FUZZ_RSS_MB=${FUZZ_RSS_MB:-2048}
MERGE_MAX_BYTES=${FUZZ_MERGE_MAX_BYTES:-512}
FUZZ_DIR=$REPO_ROOT/fuzz

if ! cargo fuzz --version >/dev/null 2>&1; then
    log "installing cargo-fuzz (cargo install cargo-fuzz --locked)"
    cargo install cargo-fuzz --locked >&2
fi

# `cargo fuzz run` builds too, but a build in the first target's time would eat into its
# figures: build all of them first.
if [ "${BENCH_NO_BUILD:-0}" = 1 ]; then
    log "BENCH_NO_BUILD=1: using the fuzz targets as built"
else
    log "building the fuzz targets into $CARGO_TARGET_DIR (cargo fuzz build --sanitizer none)"
    (cd "$REPO_ROOT" && cargo fuzz build --fuzz-dir "$FUZZ_DIR" --sanitizer none) >&2
fi

# fuzz_run TARGET ARGS...: cargo fuzz run without sanitizer, from the repo root.
fuzz_run() {
    local target=$1
    shift
    (cd "$REPO_ROOT" && cargo fuzz run --fuzz-dir "$FUZZ_DIR" --sanitizer none "$target" "$@")
}

# last_match FILE REGEX: the first group of the last line of FILE matching REGEX (sed -E, no #).
last_match() { sed -nE "s#.*$2.*#\\1#p" "$1" | tail -n 1; }

row target seconds executions "execs/s" corpus "new units" "coverage (edges)" "peak RSS, MiB" crashes verdict
CRASHED=()
for target in "${TARGETS[@]}"; do
    out=$BENCH_WORK/corpus/$target
    mkdir -p "$out" "$FUZZ_DIR/artifacts/$target"
    seeds=("$FUZZ_DIR/corpus/$target")
    [ -d "$FUZZ_DIR/regressions/$target" ] && seeds+=("$FUZZ_DIR/regressions/$target")
    artifacts_before=$(find "$FUZZ_DIR/artifacts/$target" -type f | wc -l)
    logfile=$BENCH_WORK/$target.log
    log "$target: ${FUZZ_SECONDS}s (log $logfile)"
    started=$SECONDS
    status=0
    fuzz_run "$target" "$out" "${seeds[@]}" -- \
        -max_total_time="$FUZZ_SECONDS" -timeout="$FUZZ_TIMEOUT" -rss_limit_mb="$FUZZ_RSS_MB" \
        -print_final_stats=1 >"$logfile" 2>&1 || status=$?
    took=$((SECONDS - started))
    crashes=$(($(find "$FUZZ_DIR/artifacts/$target" -type f | wc -l) - artifacts_before))
    if [ "$status" != 0 ] && [ "$crashes" = 0 ]; then
        tail -n 30 "$logfile" >&2
        die "$target: cargo fuzz run failed (exit $status) without a crash artifact (log above)"
    fi
    verdict=pass
    if [ "$crashes" != 0 ]; then
        verdict=CRASH
        CRASHED+=("$target")
        grep -m1 -A12 -E "panicked at|==ERROR|ERROR: libFuzzer" "$logfile" >&2 || tail -n 30 "$logfile" >&2
        log "$target: crash input in $FUZZ_DIR/artifacts/$target/"
    fi
    if [ "$MERGE" = 1 ]; then
        # only small inputs, so the committed corpus stays small (about 1.5 MB)
        small=$BENCH_WORK/merge/$target
        mkdir -p "$small"
        find "$out" -type f -size -$((MERGE_MAX_BYTES + 1))c -exec cp {} "$small/" \;
        fuzz_run "$target" "$FUZZ_DIR/corpus/$target" "$small" -- -merge=1 \
            >"$BENCH_WORK/$target.merge.log" 2>&1 ||
            die "$target: merge failed (log $BENCH_WORK/$target.merge.log)"
        log "$target: merged into fuzz/corpus/$target: $(grep -o '[0-9]* new files with [0-9]* new features' "$BENCH_WORK/$target.merge.log" | tail -n 1)"
    fi
    row "$target" "$took" \
        "$(last_match "$logfile" 'stat::number_of_executed_units: *([0-9]+)')" \
        "$(last_match "$logfile" 'stat::average_exec_per_sec: *([0-9]+)')" \
        "$(last_match "$logfile" ' corp: ([0-9]+/[0-9]+[a-zA-Z]*)')" \
        "$(last_match "$logfile" 'stat::new_units_added: *([0-9]+)')" \
        "$(last_match "$logfile" ' cov: ([0-9]+)')" \
        "$(last_match "$logfile" 'stat::peak_rss_mb: *([0-9]+)')" \
        "$crashes" "$verdict"
done

note "cargo-fuzz $(cargo fuzz --version | awk '{ print $2 }'), $(rustc --version | awk '{ print $1, $2 }'), --sanitizer none, debug assertions on; ${FUZZ_SECONDS}s per target, one process on one core. Corpus: units/bytes at the end; the run started from fuzz/corpus and fuzz/regressions."
print_table
if ((${#CRASHED[@]})); then
    log "crashed: ${CRASHED[*]} (inputs in fuzz/artifacts/)"
    exit 1
fi
