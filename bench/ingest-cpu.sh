#!/usr/bin/env bash
# bench/ingest-cpu.sh: CPU time per accepted request of corral-web, Redis and the load
# generator, and the web's page faults, at a fixed rate, worker stopped; prints one table.
#
#   bench/ingest-cpu.sh [--json] [--no-build] [--keep]
#
# Throughput on a shared 2-core machine swings by a quarter from one run to the next; CPU time
# per request at a rate the machine sustains swings much less, so this is the measure for
# comparing two builds or settings of the ingest path (run them in alternation). Starts
# corral-beat, then BENCH_RUNS (2) times a fresh corral-web on a queue of its own with no depth
# limit, sends BENCH_RATE (6000) requests/s for BENCH_SECONDS (15) at up to 64 in flight, and
# reads the web's CPU time (utime + stime) and page faults (minflt + majflt) from
# /proc/PID/stat before and after, Redis' from INFO cpu, and the load generator's from
# getrusage. BENCH_RATE=0 sends as fast as 64 connections allow (phase (b) of
# bench/cluster.sh), which shows where the two cores go at the ceiling. Settings go through
# the environment to every process (for example MIMALLOC_PURGE_DELAY=0). PostgreSQL and Redis
# as in bench/cluster.sh.

set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
bench_init ingest-cpu "$@"

RUNS=${BENCH_RUNS:-2}
RATE=${BENCH_RATE:-6000}
SECONDS_LOAD=${BENCH_SECONDS:-15}

build_release
start_services
RUN_ID=$(date +%s)
BEAT_PORT=$(free_port)
WEB_PORT=$(free_port)
start_cluster_process corral-beat beat "$BEAT_PORT"
bootstrap_cluster "$WEB_PORT"
HZ=$(getconf CLK_TCK)

# stat_fields PID: CPU clock ticks (utime + stime) and page faults (minflt + majflt).
stat_fields() {
    # the command name (field 2) may hold spaces: count from after its closing parenthesis
    sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13, $8 + $10 }'
}

# redis_cpu: Redis' CPU seconds so far (user + system).
redis_cpu() {
    redis-cli -u "$REDIS_URL" info cpu | tr -d '\r' |
        awk -F: '$1 == "used_cpu_sys" || $1 == "used_cpu_user" { s += $2 } END { printf "%.6f", s }'
}

# per_request SECONDS COUNT: microseconds per request.
per_request() { awk -v s="$1" -v n="$2" 'BEGIN { printf "%.1f", s * 1e6 / n }'; }

command -v redis-cli >/dev/null || die "redis-cli is needed (Redis' CPU time)"
if [ "$RATE" = 0 ]; then
    RATE_ARGS=()
    RATE_TEXT="as fast as 64 connections allow"
else
    RATE_ARGS=(--rate "$RATE")
    RATE_TEXT="at $RATE requests/s (at most 64 in flight)"
fi

row run "accepted/s" "statuses" "CPU per request, us: web" "Redis" "load generator" "all three" "web page faults per request" "latency p50 / p99, ms"
for run in $(seq 1 "$RUNS"); do
    QUEUE=bench-cpu-$RUN_ID-$run
    start_cluster_process corral-web "web-$run" "$WEB_PORT" CORRAL_QUEUE__NAME="$QUEUE" \
        CORRAL_QUEUE__MAX_DEPTH=100000000
    WEB_PID=$BG_PID
    read -r CPU0 FAULTS0 < <(stat_fields "$WEB_PID")
    REDIS0=$(redis_cpu)
    LOADGEN_CPU_FILE=$BENCH_WORK/run-$run.cpu
    loadgen "run-$run" --dsn "$DSN" --duration "$SECONDS_LOAD" "${RATE_ARGS[@]}" --concurrency 64
    read -r CPU1 FAULTS1 < <(stat_fields "$WEB_PID")
    REDIS1=$(redis_cpu)
    R=$BENCH_WORK/run-$run.json
    ACCEPTED=$(jget "$R" accepted)
    [ "${ACCEPTED:-0}" -gt 0 ] || die "run $run: nothing accepted"
    WEB_S=$(awk -v t=$((CPU1 - CPU0)) -v hz="$HZ" 'BEGIN { printf "%.6f", t / hz }')
    REDIS_S=$(awk -v a="$REDIS0" -v b="$REDIS1" 'BEGIN { printf "%.6f", b - a }')
    LOADGEN_S=$(cat "$BENCH_WORK/run-$run.cpu")
    row "$run" "$(fmt0 "$(jget "$R" accepted_per_sec)")" "$(jget "$R" statuses | tr -d ' "{}')" \
        "$(per_request "$WEB_S" "$ACCEPTED")" "$(per_request "$REDIS_S" "$ACCEPTED")" \
        "$(per_request "$LOADGEN_S" "$ACCEPTED")" \
        "$(per_request "$(awk -v a="$WEB_S" -v b="$REDIS_S" -v c="$LOADGEN_S" 'BEGIN { print a + b + c }')" "$ACCEPTED")" \
        "$(awk -v f=$((FAULTS1 - FAULTS0)) -v a="$ACCEPTED" 'BEGIN { printf "%.2f", f / a }')" \
        "$(jget "$R" latency.p50_ms) / $(jget "$R" latency.p99_ms)"
    stop_pid "$WEB_PID"
    redis_forget "$QUEUE"
done
note "Load: corral-loadgen $RATE_TEXT for ${SECONDS_LOAD}s, ~5 KB events with 15 frames over 50 groups, no worker. CPU time: the web's from /proc/PID/stat (ticks of 1/${HZ} s), Redis' from INFO cpu (Redis serves only this benchmark if it is a throwaway one), the load generator's from getrusage."
print_table
