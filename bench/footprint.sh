#!/usr/bin/env bash
# bench/footprint.sh: memory of each binary, idle after start and at its peak under load;
# prints one table.
#
#   bench/footprint.sh [--json] [--no-build] [--keep] [--fast-db]
#
# Starts corral-beat, corral-web and corral-worker (cluster shape, a fresh database) and
# `corral serve` (a fresh SQLite file), waits until each answers /readyz and then
# BENCH_IDLE_SETTLE (5) seconds, and reads VmRSS: the idle figure. Then loads the cluster and
# then the embedded shape, each with a closed loop of 16 connections for BENCH_LOAD_SECONDS
# (20) until everything accepted is digested, and reads VmHWM: the peak.
# PostgreSQL and Redis as in bench/cluster.sh.

set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
bench_init footprint "$@"

SETTLE=${BENCH_IDLE_SETTLE:-5}
LOAD_SECONDS=${BENCH_LOAD_SECONDS:-20}

build_release
start_services
declare -A PID IDLE PEAK
BEAT_PORT=$(free_port)
WEB_PORT=$(free_port)
WORKER_PORT=$(free_port)
start_cluster_process corral-beat beat "$BEAT_PORT"
PID[beat]=$BG_PID
bootstrap_cluster "$WEB_PORT"
CLUSTER_DSN=$DSN CLUSTER_TOKEN=$API_TOKEN CLUSTER_ORG=$ORG CLUSTER_PROJECT=$PROJECT
start_cluster_process corral-web web "$WEB_PORT"
PID[web]=$BG_PID
start_cluster_process corral-worker worker "$WORKER_PORT"
PID[worker]=$BG_PID
start_serve serve "$BENCH_WORK/corral-data"
PID[serve]=$BG_PID

log "idle: waiting ${SETTLE}s after start"
sleep "$SETTLE"
for p in beat web worker serve; do
    IDLE[$p]=$(mem_kib "${PID[$p]}" VmRSS)
done

loadgen cluster --dsn "$CLUSTER_DSN" --duration "$LOAD_SECONDS" --concurrency 16 \
    --api-token "$CLUSTER_TOKEN" --org "$CLUSTER_ORG" --project "$CLUSTER_PROJECT" --wait 900
loadgen embedded --dsn "$DSN" --duration "$LOAD_SECONDS" --concurrency 16 \
    --api-token "$API_TOKEN" --org "$ORG" --project "$PROJECT" --wait 900
for p in beat web worker serve; do
    PEAK[$p]=$(mem_kib "${PID[$p]}" VmHWM)
done

row process "idle RSS, MiB" target verdict "peak RSS under load, MiB"
row corral-web "$(mib "${IDLE[web]}")" "<= 20" "$(check "$(mib "${IDLE[web]}")" -le 20)" "$(mib "${PEAK[web]}")"
row corral-worker "$(mib "${IDLE[worker]}")" "<= 20" "$(check "$(mib "${IDLE[worker]}")" -le 20)" "$(mib "${PEAK[worker]}")"
row corral-beat "$(mib "${IDLE[beat]}")" "<= 15" "$(check "$(mib "${IDLE[beat]}")" -le 15)" "$(mib "${PEAK[beat]}")"
row "corral serve" "$(mib "${IDLE[serve]}")" "<= 30" "$(check "$(mib "${IDLE[serve]}")" -le 30)" "$(mib "${PEAK[serve]}")"
note "Idle: VmRSS ${SETTLE}s after /readyz answered. Peak: VmHWM after ${LOAD_SECONDS}s of 16 connections (cluster: $(fmt0 "$(jget "$BENCH_WORK/cluster.json" accepted_per_sec)") accepted/s, $(fmt0 "$(jget "$BENCH_WORK/cluster.json" end_to_end.events_per_sec)") end-to-end/s; embedded: $(fmt0 "$(jget "$BENCH_WORK/embedded.json" accepted_per_sec)") accepted/s, $(fmt0 "$(jget "$BENCH_WORK/embedded.json" end_to_end.events_per_sec)") end-to-end/s) and the digest of everything accepted."
print_table
