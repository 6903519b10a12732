#!/usr/bin/env bash
# bench/embedded.sh: the embedded shape (`corral serve` on SQLite) end to end; prints one table.
#
#   bench/embedded.sh [--json] [--no-build] [--keep]
#
# A fresh data directory; a closed loop of BENCH_E2E_CONCURRENCY (16) connections for
# BENCH_E2E_SECONDS (60); end-to-end/s counts events digested into issues (REST API) from the
# first send to the last digest; every accepted event must be stored. Peak RSS is the
# process's VmHWM.

set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
bench_init embedded "$@"

E2E_SECONDS=${BENCH_E2E_SECONDS:-60}
E2E_CONCURRENCY=${BENCH_E2E_CONCURRENCY:-16}
DRAIN_WAIT=${BENCH_DRAIN_WAIT:-900}

build_release
start_serve serve "$BENCH_WORK/corral-data"
SERVE_PID=$BG_PID
alert_rules -u DATABASE_URL CORRAL_DATA_DIR="$BENCH_WORK/corral-data"
IDLE_RSS=$(mem_kib "$SERVE_PID" VmRSS)
loadgen e2e --dsn "$DSN" --duration "$E2E_SECONDS" --concurrency "$E2E_CONCURRENCY" \
    --api-token "$API_TOKEN" --org "$ORG" --project "$PROJECT" --wait "$DRAIN_WAIT"
R=$BENCH_WORK/e2e.json
HWM=$(mem_kib "$SERVE_PID" VmHWM)
DB_BYTES=$(du -sb "$BENCH_WORK/corral-data" | cut -f1)
stop_pid "$SERVE_PID"

row test metric measured target verdict
E2E=$(fmt0 "$(jget "$R" end_to_end.events_per_sec)")
ALL=$(jget "$R" end_to_end.all_stored)
row "end to end, ${E2E_SECONDS}s, $E2E_CONCURRENCY conns" "end-to-end events/s" "$E2E" ">= 2000" "$(check "$E2E" -ge 2000)"
row "" "accepted/s" "$(fmt0 "$(jget "$R" accepted_per_sec)")" "" ""
row "" "statuses" "$(jget "$R" statuses | tr -d ' "{}')" "" ""
row "" "latency p50 / p99 / max, ms" "$(jget "$R" latency.p50_ms) / $(jget "$R" latency.p99_ms) / $(jget "$R" latency.max_ms)" "" ""
row "" "every accepted event stored" "$ALL ($(jget "$R" accepted) accepted, $(jget "$R" end_to_end.stored) stored)" "yes" "$(if [ "$ALL" = yes ]; then echo pass; else echo MISS; fi)"
row "" "drain after last send, s" "$(jget "$R" end_to_end.drain_seconds)" "" ""
row "" "RSS after start / peak, MiB" "$(mib "$IDLE_RSS") / $(mib "$HWM")" "" ""
row "" "data directory after the run, MiB" "$(mib $((DB_BYTES / 1024)))" "" ""
note "Alert rules on the project: ${BENCH_ALERT_RULES:-10} (BENCH_ALERT_RULES)."
note "Load: corral-loadgen, ~5 KB events with 15 frames over 50 groups, on the same 2 cores as the server. Logs at CORRAL_LOG_LEVEL=$CORRAL_LOG_LEVEL. Raw report: $BENCH_RESULTS/embedded-$BENCH_STAMP-e2e.json"
print_table
