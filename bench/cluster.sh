#!/usr/bin/env bash
# bench/cluster.sh: the cluster shape (corral-beat + corral-web + corral-worker on PostgreSQL
# and Redis) under load; prints one table.
#
#   bench/cluster.sh [--json] [--no-build] [--keep] [--fast-db]
#
# (a) end to end: a closed loop of BENCH_E2E_CONCURRENCY (32) connections for
#     BENCH_E2E_SECONDS (60); end-to-end/s counts events digested into issues from the first
#     send to the last digest; every accepted event must be stored. A connection refused with
#     Retry-After waits that long first, as an SDK does. BENCH_E2E_RATE=N offers
#     N requests/s instead (at most BENCH_E2E_CONCURRENCY in flight): whether the cluster keeps
#     up with that rate for the whole run, where the closed loop finds the most it digests
#     while ingest takes all the CPU it can.
# (b) ingest alone, worker stopped: 64 connections for BENCH_INGEST_SECONDS (15), with the
#     queue's max depth raised (BENCH_INGEST_MAX_DEPTH, 10000000) so backpressure does not cut
#     in; the queue it fills is deleted afterwards, never digested.
# (c) overload: a fixed rate of BENCH_OVERLOAD_FACTOR (10) x the end-to-end rate of (a)
#     (or BENCH_OVERLOAD_RATE) for BENCH_OVERLOAD_SECONDS (30), at most 512 requests in flight;
#     the server refuses because CORRAL_QUEUE__MAX_DEPTH is BENCH_OVERLOAD_MAX_DEPTH (50000)
#     and the ingest memory budget is the default (256 MiB). Peak RSS per process (VmHWM),
#     refusals (429/503 with Retry-After), loss, and the drain time after the load stops.
#
# Before (b) and (c) the script runs VACUUM (ANALYZE) on the benchmark database, and before
# each phase it waits (at most 60 s) until the machine is quiet, so what the previous phase left
# to do (PostgreSQL's autovacuum of its inserts) is not measured in the next.
# Every phase starts fresh web and worker processes (so VmHWM is the phase's own peak); beat
# runs throughout. One project without quotas. PostgreSQL and Redis: DATABASE_URL and
# REDIS_URL if both are set, otherwise throwaway servers from `cargo xtask services --durable`
# (PostgreSQL's durable defaults: fsync and synchronous_commit on; Redis with its append-only
# file fsynced every second), or without durability with --fast-db (BENCH_FAST_DB=1), to
# compare with figures from before. The notes under the table say what the servers ran with.

set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
bench_init cluster "$@"

E2E_SECONDS=${BENCH_E2E_SECONDS:-60}
E2E_CONCURRENCY=${BENCH_E2E_CONCURRENCY:-32}
E2E_RATE=${BENCH_E2E_RATE:-}
INGEST_SECONDS=${BENCH_INGEST_SECONDS:-15}
INGEST_MAX_DEPTH=${BENCH_INGEST_MAX_DEPTH:-10000000}
OVERLOAD_SECONDS=${BENCH_OVERLOAD_SECONDS:-30}
OVERLOAD_FACTOR=${BENCH_OVERLOAD_FACTOR:-10}
OVERLOAD_MAX_DEPTH=${BENCH_OVERLOAD_MAX_DEPTH:-50000}
DRAIN_WAIT=${BENCH_DRAIN_WAIT:-900}

build_release
start_services
RUN_ID=$(date +%s)

BEAT_PORT=$(free_port)
WEB_PORT=$(free_port)
WORKER_PORT=$(free_port)
start_cluster_process corral-beat beat "$BEAT_PORT"
BEAT_PID=$BG_PID
bootstrap_cluster "$WEB_PORT"
alert_rules

# ---- (a) end to end -----------------------------------------------------------------------
QUEUE_A=bench-e2e-$RUN_ID
start_cluster_process corral-web web-a "$WEB_PORT" CORRAL_QUEUE__NAME="$QUEUE_A"
WEB_PID=$BG_PID
start_cluster_process corral-worker worker-a "$WORKER_PORT" CORRAL_QUEUE__NAME="$QUEUE_A"
WORKER_PID=$BG_PID
wait_quiet "(a)"
# a closed loop waits out Retry-After as SDKs do; a fixed rate does not
E2E_RATE_ARGS=(--wait-retry-after)
E2E_LABEL="(a) end to end, ${E2E_SECONDS}s, $E2E_CONCURRENCY conns"
if [ -n "$E2E_RATE" ]; then
    E2E_RATE_ARGS=(--rate "$E2E_RATE")
    E2E_LABEL="(a) end to end, ${E2E_SECONDS}s at $E2E_RATE req/s"
fi
loadgen e2e --dsn "$DSN" --duration "$E2E_SECONDS" --concurrency "$E2E_CONCURRENCY" "${E2E_RATE_ARGS[@]}" \
    --api-token "$API_TOKEN" --org "$ORG" --project "$PROJECT" --wait "$DRAIN_WAIT"
A=$BENCH_WORK/e2e.json
A_WEB_HWM=$(mem_kib "$WEB_PID" VmHWM)
A_WORKER_HWM=$(mem_kib "$WORKER_PID" VmHWM)
stop_pid "$WORKER_PID"
stop_pid "$WEB_PID"

# ---- (b) ingest alone -----------------------------------------------------------------------
QUEUE_B=bench-ingest-$RUN_ID
start_cluster_process corral-web web-b "$WEB_PORT" CORRAL_QUEUE__NAME="$QUEUE_B" \
    CORRAL_QUEUE__MAX_DEPTH="$INGEST_MAX_DEPTH"
WEB_PID=$BG_PID
settle_db "(b)"
wait_quiet "(b)"
loadgen ingest --dsn "$DSN" --duration "$INGEST_SECONDS" --concurrency 64
B=$BENCH_WORK/ingest.json
B_WEB_HWM=$(mem_kib "$WEB_PID" VmHWM)
stop_pid "$WEB_PID"
log "deleting the ingest-only queue (never digested)"
redis_forget "$QUEUE_B"

# ---- (c) overload ---------------------------------------------------------------------------
CAPACITY=$(jget "$A" end_to_end.events_per_sec)
RATE=${BENCH_OVERLOAD_RATE:-$(awk -v c="$CAPACITY" -v f="$OVERLOAD_FACTOR" 'BEGIN { r = c * f; if (r < 100) r = 100; printf "%.0f", r }')}
QUEUE_C=bench-overload-$RUN_ID
start_cluster_process corral-web web-c "$WEB_PORT" CORRAL_QUEUE__NAME="$QUEUE_C" \
    CORRAL_QUEUE__MAX_DEPTH="$OVERLOAD_MAX_DEPTH"
WEB_PID=$BG_PID
start_cluster_process corral-worker worker-c "$WORKER_PORT" CORRAL_QUEUE__NAME="$QUEUE_C"
WORKER_PID=$BG_PID
settle_db "(c)"
wait_quiet "(c)"
loadgen overload --dsn "$DSN" --duration "$OVERLOAD_SECONDS" --rate "$RATE" --concurrency 512 \
    --api-token "$API_TOKEN" --org "$ORG" --project "$PROJECT" --wait "$DRAIN_WAIT"
C=$BENCH_WORK/overload.json
C_WEB_HWM=$(mem_kib "$WEB_PID" VmHWM)
C_WORKER_HWM=$(mem_kib "$WORKER_PID" VmHWM)
C_BEAT_HWM=$(mem_kib "$BEAT_PID" VmHWM)
sleep 2 # the backlog gauge is refreshed every second
C_QUEUE_AFTER=$(curl -fsS "http://127.0.0.1:$WEB_PORT/metrics" |
    awk '/^corral_queue_(pending|scheduled|running) / { s += $2 } END { print s + 0 }')
stop_pid "$WORKER_PID"
stop_pid "$WEB_PID"

# ---- the table ------------------------------------------------------------------------------
lost() { # accepted minus stored, "" when not measured
    local f=$1 acc st
    acc=$(jget "$f" accepted)
    st=$(jget "$f" end_to_end.stored)
    [ -n "$st" ] && echo $((acc - st))
}
yes_no_check() { if [ "$1" = yes ]; then echo pass; else echo MISS; fi; }

row test metric measured target verdict
E2E=$(fmt0 "$(jget "$A" end_to_end.events_per_sec)")
row "$E2E_LABEL" "end-to-end events/s" "$E2E" ">= 5000" "$(check "$E2E" -ge 5000)"
row "" "accepted/s" "$(fmt0 "$(jget "$A" accepted_per_sec)")" "" ""
row "" "statuses" "$(jget "$A" statuses | tr -d ' "{}')" "" ""
row "" "every accepted event stored" "$(jget "$A" end_to_end.all_stored) ($(jget "$A" accepted) accepted, $(jget "$A" end_to_end.stored) stored)" "yes" "$(yes_no_check "$(jget "$A" end_to_end.all_stored)")"
row "" "drain after last send, s" "$(jget "$A" end_to_end.drain_seconds)" "" ""
row "" "peak RSS web / worker, MiB" "$(mib "$A_WEB_HWM") / $(mib "$A_WORKER_HWM")" "" ""
P99=$(jget "$B" latency.p99_ms)
ACC_B=$(fmt0 "$(jget "$B" accepted_per_sec)")
row "(b) ingest alone, worker stopped, 64 conns, ${INGEST_SECONDS}s" "accepted/s" "$ACC_B" ">= 20000" "$(check "$ACC_B" -ge 20000)"
row "" "latency p99, ms" "$P99" "<= 20" "$(check "$P99" -le 20)"
row "" "latency p50 / max, ms" "$(jget "$B" latency.p50_ms) / $(jget "$B" latency.max_ms)" "" ""
row "" "statuses" "$(jget "$B" statuses | tr -d ' "{}')" "" ""
row "" "peak RSS web, MiB" "$(mib "$B_WEB_HWM")" "" ""
REFUSED=$(jget "$C" refused)
REFUSED_RA=$(jget "$C" refused_with_retry_after)
NOANSWER=$(jget "$C" transport_errors)
LOST_C=$(lost "$C")
row "(c) overload, ${OVERLOAD_SECONDS}s at $RATE req/s offered (${OVERLOAD_FACTOR}x (a))" "achieved requests/s" "$(fmt0 "$(jget "$C" requests_per_sec)")" "" ""
row "" "accepted/s" "$(fmt0 "$(jget "$C" accepted_per_sec)")" "" ""
row "" "statuses" "$(jget "$C" statuses | tr -d ' "{}')" "" ""
row "" "peak RSS web, MiB" "$(mib "$C_WEB_HWM")" "< 200" "$(check "$(mib "$C_WEB_HWM")" -lt 200)"
row "" "peak RSS worker, MiB" "$(mib "$C_WORKER_HWM")" "< 200" "$(check "$(mib "$C_WORKER_HWM")" -lt 200)"
row "" "peak RSS beat (whole run), MiB" "$(mib "$C_BEAT_HWM")" "< 200" "$(check "$(mib "$C_BEAT_HWM")" -lt 200)"
if [ "${REFUSED:-0}" -gt 0 ]; then
    RA_VERDICT=$(check "$REFUSED_RA" -eq "$REFUSED")
else
    RA_VERDICT="MISS (nothing refused)"
fi
row "" "refused 429/503, with Retry-After" "$REFUSED, $REFUSED_RA" "all with Retry-After" "$RA_VERDICT"
row "" "no answer (connection errors, timeouts)" "$NOANSWER" "0" "$(check "$NOANSWER" -eq 0)"
row "" "acknowledged but not stored" "${LOST_C:-not measured}" "0" "$(check "$LOST_C" -eq 0)"
row "" "drain after the load stopped, s" "$(jget "$C" end_to_end.drain_seconds)" "drains" "$(yes_no_check "$(jget "$C" end_to_end.all_stored)")"
row "" "queue backlog after the drain" "$C_QUEUE_AFTER" "0" "$(check "$C_QUEUE_AFTER" -eq 0)"
note "(c) refuses through CORRAL_QUEUE__MAX_DEPTH=$OVERLOAD_MAX_DEPTH (503 + Retry-After once the backlog reaches it) and the default ingest memory budget; capacity for the offered rate is the end-to-end rate of (a)."
note "Alert rules on the project: ${BENCH_ALERT_RULES:-10} (BENCH_ALERT_RULES)."
note "Load: corral-loadgen, ~5 KB events with 15 frames over 50 groups, on the same 2 cores as the servers. Logs at CORRAL_LOG_LEVEL=$CORRAL_LOG_LEVEL. Raw reports: $BENCH_RESULTS/cluster-$BENCH_STAMP-*.json"
note "Quiet machine before each phase: $(IFS=";"; echo "${BENCH_QUIET[*]}" | sed "s/;/; /g")."
print_table
