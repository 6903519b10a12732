#!/usr/bin/env bash
# bench/latency.sh: freshness — how long after its `200` an event can be read through the REST
# API — for both shapes, on a quiet machine, at half capacity, and with the cores shared with
# two busy loops; prints one table.
#
#   bench/latency.sh [--json] [--no-build] [--keep] [--fast-db] [--shape embedded|cluster]
#
# Each phase sends BENCH_PROBES (40) probe events one at a time, BENCH_PROBE_GAP_MS (400) ms
# apart (stretched by up to a quarter at random), and times each from its 200 until
# /api/0/projects/{org}/{project}/events/{id}/ answers 200, polled every BENCH_PROBE_POLL_MS
# (5) ms (corral-loadgen --probe-gap-ms). Phases:
#   idle    nothing else runs;
#   half    a background load at half the shape's capacity (BENCH_HALF_RATE, or half of what a
#           BENCH_CAPACITY_SECONDS (15) s closed loop of 16 connections digests end to end);
#   busy    two `yes > /dev/null` loops share the cores (as a build or another service would).
# Target, both shapes and every phase: p50 <= 250 ms, p99 <= 1000 ms.
# The cluster runs beat, web and one worker on PostgreSQL and Redis as in bench/cluster.sh.

set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SHAPES=(embedded cluster)
ARGS=()
while [ $# -gt 0 ]; do
    case $1 in
        --shape)
            [ $# -ge 2 ] || { echo "--shape needs embedded or cluster" >&2; exit 2; }
            case $2 in embedded | cluster) SHAPES=("$2") ;; *) echo "unknown shape: $2" >&2; exit 2 ;; esac
            shift
            ;;
        *) ARGS+=("$1") ;;
    esac
    shift
done
bench_init latency "${ARGS[@]}"

PROBES=${BENCH_PROBES:-40}
GAP_MS=${BENCH_PROBE_GAP_MS:-400}
POLL_MS=${BENCH_PROBE_POLL_MS:-5}
CAPACITY_SECONDS=${BENCH_CAPACITY_SECONDS:-15}

build_release

# probe_phase SHAPE PHASE: the probes, as a table row; with the phase's extra load around it.
probe_phase() {
    local shape=$1 phase=$2 name="$1-$2" bg="" busy=()
    wait_quiet "$name"
    case $phase in
        half)
            local rate=${BENCH_HALF_RATE:-$HALF_RATE}
            log "$name: background load at $rate req/s"
            # long enough to outlast the probes; stopped when they end
            start_bg "$name-load" "$BIN/corral-loadgen" --dsn "$DSN" --rate "$rate" \
                --concurrency 64 --duration 900
            bg=$BG_PID
            sleep 3
            ;;
        busy)
            local i
            for i in 1 2; do
                start_bg "$name-yes$i" sh -c 'exec yes > /dev/null'
                busy+=("$BG_PID")
            done
            sleep 1
            ;;
    esac
    loadgen "$name" --dsn "$DSN" --probe-gap-ms "$GAP_MS" --count "$PROBES" --poll-ms "$POLL_MS" \
        --wait 60 --api-token "$API_TOKEN" --org "$ORG" --project "$PROJECT"
    [ -n "$bg" ] && stop_pid "$bg"
    local p
    for p in "${busy[@]}"; do stop_pid "$p"; done
    local f=$BENCH_WORK/$name.json label
    case $phase in
        idle) label="quiet machine" ;;
        half) label="background load at ${BENCH_HALF_RATE:-$HALF_RATE} req/s (half capacity)" ;;
        busy) label="two busy loops on the cores" ;;
    esac
    local p50 p99
    p50=$(jget "$f" p50_ms)
    p99=$(jget "$f" p99_ms)
    row "$shape, $label" "p50 ms" "$p50" "<= 250" "$(check "$p50" -le 250)"
    row "" "p99 ms" "$p99" "<= 1000" "$(check "$p99" -le 1000)"
    row "" "p90 / max ms" "$(jget "$f" p90_ms) / $(jget "$f" max_ms)" "" ""
    row "" "missing / not accepted" "$(jget "$f" missing) / $(jget "$f" not_accepted)" "0 / 0" \
        "$(check "$(($(jget "$f" missing) + $(jget "$f" not_accepted)))" -eq 0)"
}

# capacity: half of what a short closed loop digests end to end, as HALF_RATE.
capacity() {
    local shape=$1
    loadgen "$shape-capacity" --dsn "$DSN" --duration "$CAPACITY_SECONDS" --concurrency 16 \
        --wait-retry-after --api-token "$API_TOKEN" --org "$ORG" --project "$PROJECT" --wait 600
    HALF_RATE=$(awk -v c="$(jget "$BENCH_WORK/$shape-capacity.json" end_to_end.events_per_sec)" \
        'BEGIN { r = c / 2; if (r < 10) r = 10; printf "%.0f", r }')
    note "$shape: capacity $(fmt0 "$(jget "$BENCH_WORK/$shape-capacity.json" end_to_end.events_per_sec)") events/s end to end (${CAPACITY_SECONDS}s closed loop, 16 conns); half is $HALF_RATE req/s."
}

row test metric measured target verdict
for shape in "${SHAPES[@]}"; do
    case $shape in
        embedded)
            start_serve serve "$BENCH_WORK/corral-data"
            SERVE_PID=$BG_PID
            [ -n "${BENCH_HALF_RATE:-}" ] || capacity embedded
            for phase in idle half busy; do probe_phase embedded "$phase"; done
            stop_pid "$SERVE_PID"
            ;;
        cluster)
            start_services
            BEAT_PORT=$(free_port)
            WEB_PORT=$(free_port)
            WORKER_PORT=$(free_port)
            start_cluster_process corral-beat beat "$BEAT_PORT"
            bootstrap_cluster "$WEB_PORT"
            start_cluster_process corral-web web "$WEB_PORT"
            start_cluster_process corral-worker worker "$WORKER_PORT"
            [ -n "${BENCH_HALF_RATE:-}" ] || capacity cluster
            for phase in idle half busy; do probe_phase cluster "$phase"; done
            ;;
    esac
done
note "Probes: $PROBES per phase, ${GAP_MS} ms apart (+0-25%), the API polled every ${POLL_MS} ms (the resolution); ~5 KB events of their own issue. Load on the same 2 cores."
print_table
