#!/usr/bin/env bash
# bench/bugsink.sh: the peer comparison. Corral's embedded shape and Bugsink, each on its own
# SQLite file, get the same load on the same machine in the same run; prints one table with
# the ratio Corral/Bugsink for accepted/s, end-to-end/s and peak memory.
#
#   bench/bugsink.sh [--json] [--no-build] [--keep]
#
# The load (both): a closed loop of BENCH_CONCURRENCY (16) connections for BENCH_SECONDS (30),
# ~5 KB events with 15 frames over 50 groups, then the wait until every accepted event is
# stored (at most BENCH_DRAIN_WAIT, 900 s). Stored events are counted every BENCH_POLL_MS
# (500) ms: through Corral's REST API, and in Bugsink's SQLite database (events_event, read
# only). Peak memory: the highest sum of VmRSS over each server's process tree, sampled every
# 0.25 s (the same method for both); the sum of VmHWM is shown too.
#
# Bugsink: the released package from PyPI (`pip install bugsink`, or bugsink==
# BENCH_BUGSINK_VERSION) in a throwaway virtualenv under $CARGO_TARGET_DIR/bench/, run as its
# Docker image runs it, from the package's own files: the configuration template
# conf_templates/docker.py.template (settings from the environment), gunicorn with the
# package's gunicorn.docker.conf.py (workers = min(cores, 4)) and `bugsink-runsnappea` (the
# template's 2 background workers); listening on 127.0.0.1 only, phone-home off, its own
# SQLite default (WAL). Its event quotas (MAX_EVENTS_PER_5_MINUTES, _PER_HOUR, _PER_MONTH,
# global and per project) are raised to 10^9 and the project's retention to 10^9 events, so
# neither caps the measure. A superuser comes from its `prestart` management command
# (CREATE_SUPERUSER) and the project from its `shell` management command.

set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
bench_init bugsink "$@"

SECONDS_LOAD=${BENCH_SECONDS:-30}
CONCURRENCY=${BENCH_CONCURRENCY:-16}
DRAIN_WAIT=${BENCH_DRAIN_WAIT:-900}
POLL_MS=${BENCH_POLL_MS:-500}
VENV=$CARGO_TARGET_DIR/bench/bugsink-venv
BIG=1000000000

build_release

# ---- Bugsink's virtualenv -------------------------------------------------------------------
WANT=${BENCH_BUGSINK_VERSION:+bugsink==$BENCH_BUGSINK_VERSION}
WANT=${WANT:-bugsink}
if [ ! -x "$VENV/bin/bugsink-manage" ] ||
    { [ -n "${BENCH_BUGSINK_VERSION:-}" ] &&
        [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("bugsink"))')" != "$BENCH_BUGSINK_VERSION" ]; }; then
    log "installing $WANT into $VENV (pip)"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "$WANT" >&2
fi
BUGSINK_VERSION=$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("bugsink"))')
PKG=$("$VENV/bin/python" -c 'import bugsink, os; print(os.path.dirname(bugsink.__file__))')
log "Bugsink $BUGSINK_VERSION"

# ---- Corral, embedded -----------------------------------------------------------------------
start_serve corral "$BENCH_WORK/corral-data"
CORRAL_PID=$BG_PID
sampler_start corral "$CORRAL_PID"
loadgen corral --dsn "$DSN" --duration "$SECONDS_LOAD" --concurrency "$CONCURRENCY" \
    --api-token "$API_TOKEN" --org "$ORG" --project "$PROJECT" --wait "$DRAIN_WAIT" \
    --poll-ms "$POLL_MS"
CORRAL_PEAK=$(sampler_stop corral)
CORRAL_HWM=$(mem_kib "$CORRAL_PID" VmHWM)
stop_pid "$CORRAL_PID"

# ---- Bugsink --------------------------------------------------------------------------------
BS=$BENCH_WORK/bugsink
mkdir -p "$BS"
BS_PORT=$(free_port)
# The Docker image's configuration (settings from the environment), with the paths it
# hard-codes under /tmp moved into this run's directory.
cp "$PKG/conf_templates/docker.py.template" "$BS/bugsink_conf.py"
cat >>"$BS/bugsink_conf.py" <<PY

# added by bench/bugsink.sh: this run's own files instead of fixed paths under /tmp
DATABASES["snappea"]["NAME"] = "$BS/snappea.sqlite3"
BUGSINK["INGEST_STORE_BASE_DIR"] = "$BS/ingestion"
SNAPPEA["WAKEUP_CALLS_DIR"] = "$BS/snappea-wakeup"
PY
export SECRET_KEY
SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')
export PORT=$BS_PORT
export BASE_URL=http://127.0.0.1:$BS_PORT
export DATABASE_PATH=$BS/db.sqlite3
export PHONEHOME=false
export CREATE_SUPERUSER=bench@example.com:bench-password-not-secret
for v in MAX_EVENTS_PER_PROJECT_PER_5_MINUTES MAX_EVENTS_PER_PROJECT_PER_HOUR \
    MAX_EVENTS_PER_PROJECT_PER_MONTH MAX_EVENTS_PER_5_MINUTES MAX_EVENTS_PER_HOUR \
    MAX_EVENTS_PER_MONTH; do
    export "$v=$BIG"
done
manage() { (cd "$BS" && "$VENV/bin/bugsink-manage" "$@"); }
log "Bugsink: migrate, superuser, project"
manage migrate --no-input >"$BENCH_WORK/bugsink-migrate.log" 2>&1 ||
    die "bugsink-manage migrate failed: see $BENCH_WORK/bugsink-migrate.log"
manage migrate snappea --database=snappea --no-input >>"$BENCH_WORK/bugsink-migrate.log" 2>&1 ||
    die "bugsink-manage migrate snappea failed"
manage prestart >>"$BENCH_WORK/bugsink-migrate.log" 2>&1 || die "bugsink-manage prestart failed"
BS_DSN=$(manage shell -c "
from projects.models import Project
p = Project.objects.create(name='load', retention_max_event_count=$BIG)
print(p.dsn)" 2>>"$BENCH_WORK/bugsink-migrate.log" | tail -n 1)
case $BS_DSN in
    http://*@127.0.0.1:"$BS_PORT"/*) ;;
    *) die "unexpected Bugsink DSN: $BS_DSN" ;;
esac
start_bg bugsink-gunicorn sh -c "cd '$BS' && exec '$VENV/bin/gunicorn' --config '$PKG/gunicorn.docker.conf.py' --bind '127.0.0.1:$BS_PORT' bugsink.wsgi"
GUNICORN_PID=$BG_PID
start_bg bugsink-snappea sh -c "cd '$BS' && exec '$VENV/bin/bugsink-runsnappea'"
SNAPPEA_PID=$BG_PID
wait_ready "http://127.0.0.1:$BS_PORT/health/ready" "$GUNICORN_PID" bugsink-gunicorn
if command -v sqlite3 >/dev/null; then
    COUNT_CMD="sqlite3 -readonly -cmd '.timeout 10000' '$BS/db.sqlite3' 'select count(*) from events_event'"
else
    COUNT_CMD="python3 -c 'import sqlite3; print(sqlite3.connect(\"file:$BS/db.sqlite3?mode=ro\", uri=True).execute(\"select count(*) from events_event\").fetchone()[0])'"
fi
sleep 2 # let its workers finish booting
sampler_start bugsink "$GUNICORN_PID" "$SNAPPEA_PID"
loadgen bugsink --dsn "$BS_DSN" --duration "$SECONDS_LOAD" --concurrency "$CONCURRENCY" \
    --count-cmd "$COUNT_CMD" --wait "$DRAIN_WAIT" --poll-ms "$POLL_MS"
BUGSINK_PEAK=$(sampler_stop bugsink)
BUGSINK_HWM=$(($(mem_kib "$GUNICORN_PID" VmHWM) + $(mem_kib "$SNAPPEA_PID" VmHWM)))
BUGSINK_PROCS=$(($(proc_tree "$GUNICORN_PID" | wc -l) + $(proc_tree "$SNAPPEA_PID" | wc -l)))
stop_pid "$SNAPPEA_PID" 30
stop_pid "$GUNICORN_PID" 30

# ---- the table ------------------------------------------------------------------------------
C=$BENCH_WORK/corral.json
B=$BENCH_WORK/bugsink.json
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "n/a" }'; }
C_ACC=$(jget "$C" accepted_per_sec)
B_ACC=$(jget "$B" accepted_per_sec)
C_E2E=$(jget "$C" end_to_end.events_per_sec)
B_E2E=$(jget "$B" end_to_end.events_per_sec)
row metric "Corral (embedded)" "Bugsink $BUGSINK_VERSION" "Corral/Bugsink"
row "accepted/s" "$(fmt0 "$C_ACC")" "$(fmt0 "$B_ACC")" "$(ratio "$C_ACC" "$B_ACC")"
row "end-to-end events/s" "$(fmt0 "$C_E2E")" "$(fmt0 "$B_E2E")" "$(ratio "$C_E2E" "$B_E2E")"
row "peak memory, MiB (sampled sum of VmRSS)" "$(mib "$CORRAL_PEAK")" "$(mib "$BUGSINK_PEAK")" "$(ratio "$CORRAL_PEAK" "$BUGSINK_PEAK")"
row "sum of VmHWM, MiB" "$(mib "$CORRAL_HWM")" "$(mib "$BUGSINK_HWM")" "$(ratio "$CORRAL_HWM" "$BUGSINK_HWM")"
row "processes" "1" "$BUGSINK_PROCS" ""
row "sent / accepted" "$(jget "$C" sent) / $(jget "$C" accepted)" "$(jget "$B" sent) / $(jget "$B" accepted)" ""
row "statuses" "$(jget "$C" statuses | tr -d ' "{}')" "$(jget "$B" statuses | tr -d ' "{}')" ""
row "latency p50 / p99, ms" "$(jget "$C" latency.p50_ms) / $(jget "$C" latency.p99_ms)" "$(jget "$B" latency.p50_ms) / $(jget "$B" latency.p99_ms)" ""
row "every accepted event stored" "$(jget "$C" end_to_end.all_stored)" "$(jget "$B" end_to_end.all_stored)" ""
row "drain after last send, s" "$(jget "$C" end_to_end.drain_seconds)" "$(jget "$B" end_to_end.drain_seconds)" ""
note "Same load for both: ${SECONDS_LOAD}s closed loop, $CONCURRENCY connections, ~5 KB events (15 frames, 50 groups), corral-loadgen on the same 2 cores. Corral first, then Bugsink, one after the other in this run."
note "Bugsink $BUGSINK_VERSION from PyPI, as its Docker image runs it: gunicorn ($PKG/gunicorn.docker.conf.py) + bugsink-runsnappea, SQLite (WAL), quotas and retention raised to $BIG; stored = rows in events_event."
print_table
