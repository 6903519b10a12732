# shellcheck shell=bash
# shellcheck disable=SC2034 # globals set here (DSN, API_TOKEN, …) are read by the scripts
# Shared helpers for the bench/ scripts. Sourced, never run:
#
#   . "$(dirname "${BASH_SOURCE[0]}")/common.sh"
#   bench_init NAME "$@"
#
# What it gives a script:
# - release binaries built once per script run (`build_release`), into CARGO_TARGET_DIR;
# - free loopback ports, background processes that are stopped on any exit (`start_bg`),
#   readiness waits on /readyz (`wait_ready`);
# - memory readings from /proc (VmRSS, VmHWM) summed over a process and its descendants,
#   and a sampler for the peak of the summed VmRSS of a process tree;
# - a throwaway PostgreSQL and Redis, started by `cargo xtask services` exactly as the
#   test suite starts them, unless DATABASE_URL and REDIS_URL are already set;
# - one table per script on stdout (`row`, `print_table`), JSON with --json, and the raw
#   loadgen reports kept under $CARGO_TARGET_DIR/bench/results/.
#
# Progress goes to stderr; stdout carries only the table (or the JSON).
#
# Environment (all optional):
#   CARGO_TARGET_DIR    where binaries are built (default: <repo>/target)
#   BENCH_NO_BUILD=1    use the binaries as they are, do not run cargo build
#   BENCH_KEEP=1        keep the run's work directory (logs, databases) after exit
#   DATABASE_URL, REDIS_URL   use these servers instead of throwaway ones (cluster shape);
#                       a database named corral_bench_<run> is created in the server and
#                       dropped afterwards
#   BENCH_FAST_DB=1     (or --fast-db) throwaway servers without durability (PostgreSQL fsync
#                       and synchronous_commit off, Redis without its append-only file), for
#                       comparing with figures from before durable runs; the default is
#                       PostgreSQL's own durable settings and Redis with appendonly + everysec.
#                       The table says which settings the servers actually ran with.

set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$REPO_ROOT/target}
BIN=$CARGO_TARGET_DIR/release

BENCH_NAME=""
BENCH_JSON=0
BENCH_WORK=""
BENCH_RESULTS=""
BENCH_STAMP=""
BENCH_LOADAVG=""
# Background processes to stop on exit, in start order.
BENCH_PIDS=()
# The last process started by start_bg.
BG_PID=""
# Table rows: tab-separated cells; the first row is the header.
BENCH_ROWS=()
# Named loadgen reports (JSON files) that go into the JSON output.
BENCH_REPORTS=()
BENCH_NOTES=()
BENCH_QUIET=()

log() { printf '[%s %s] %s\n' "$BENCH_NAME" "$(date +%H:%M:%S)" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

# bench_init NAME ARGS...: parses the common flags, makes the work directory, sets the traps.
bench_init() {
    BENCH_NAME=$1
    shift
    while [ $# -gt 0 ]; do
        case $1 in
            --json) BENCH_JSON=1 ;;
            --no-build) BENCH_NO_BUILD=1 ;;
            --fast-db) BENCH_FAST_DB=1 ;;
            --keep) BENCH_KEEP=1 ;;
            -h | --help)
                sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2
                exit 0
                ;;
            *) die "unknown argument: $1 (try --help)" ;;
        esac
        shift
    done
    [ "$(uname -s)" = Linux ] || die "the benchmarks read /proc: Linux only"
    command -v python3 >/dev/null || die "python3 is needed (JSON, free ports)"
    command -v curl >/dev/null || die "curl is needed"
    mkdir -p "$CARGO_TARGET_DIR/bench/results"
    BENCH_WORK=$(mktemp -d "$CARGO_TARGET_DIR/bench/$BENCH_NAME.XXXXXX")
    BENCH_RESULTS=$CARGO_TARGET_DIR/bench/results
    BENCH_STAMP=$(date -u +%Y%m%dT%H%M%SZ)
    BENCH_LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    log "work directory $BENCH_WORK"
}

bench_cleanup() {
    local status=$?
    local i
    # Stop in reverse start order: clients before servers.
    for ((i = ${#BENCH_PIDS[@]} - 1; i >= 0; i--)); do
        stop_pid "${BENCH_PIDS[i]}"
    done
    if [ -n "${BENCH_DROP_DB:-}" ]; then
        psql "$BENCH_ADMIN_DB_URL" -qAt -c "DROP DATABASE IF EXISTS $BENCH_DROP_DB WITH (FORCE)" \
            >/dev/null 2>&1 || log "could not drop database $BENCH_DROP_DB"
    fi
    if [ "${BENCH_KEEP:-0}" = 1 ] || [ "$status" != 0 ]; then
        [ -n "$BENCH_WORK" ] && log "kept $BENCH_WORK (logs, data)"
    elif [ -n "$BENCH_WORK" ]; then
        rm -rf "$BENCH_WORK"
    fi
    exit "$status"
}

# build_release: the five release binaries, once per script run.
build_release() {
    if [ "${BENCH_NO_BUILD:-0}" = 1 ]; then
        log "BENCH_NO_BUILD=1: using the binaries in $BIN as they are"
    else
        log "building release binaries into $CARGO_TARGET_DIR (cargo build --release)"
        (cd "$REPO_ROOT" && cargo build --release --quiet \
            -p corral -p corral-web -p corral-worker -p corral-beat -p corral-loadgen) >&2
    fi
    local b
    for b in corral corral-web corral-worker corral-beat corral-loadgen; do
        [ -x "$BIN/$b" ] || die "$BIN/$b is missing (build it, or unset BENCH_NO_BUILD)"
    done
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start_bg NAME COMMAND...: runs COMMAND in the background with its output in
# $BENCH_WORK/NAME.log; sets BG_PID. The process is stopped when the script exits.
start_bg() {
    local name=$1
    shift
    "$@" >"$BENCH_WORK/$name.log" 2>&1 &
    BG_PID=$!
    BENCH_PIDS+=("$BG_PID")
    log "started $name (pid $BG_PID)"
}

# stop_pid PID [SECONDS]: SIGTERM, then SIGKILL after SECONDS (default 15). Quiet if gone.
stop_pid() {
    local pid=$1 grace=${2:-15} waited=0
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    while kill -0 "$pid" 2>/dev/null; do
        if [ "$waited" -ge $((grace * 10)) ]; then
            log "pid $pid did not stop within ${grace}s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    wait "$pid" 2>/dev/null || true
}

# wait_quiet PHASE: before a measured phase, waits until the machine is quiet (under
# BENCH_QUIET_BUSY, 15, percent of all cores busy over one second), for at most
# BENCH_QUIET_WAIT (60) seconds, so work left from the previous phase (PostgreSQL's autovacuum
# and checkpoint after hundreds of thousands of inserts, Redis giving memory back) is not
# counted against this one. Logs how long it waited; never fails.
wait_quiet() {
    local phase=$1 limit=${BENCH_QUIET_WAIT:-60} busy_max=${BENCH_QUIET_BUSY:-15} start=$SECONDS busy=100
    while [ $((SECONDS - start)) -lt "$limit" ]; do
        busy=$(python3 -c '
import time
def snap():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v), v[3] + v[4]
t0, i0 = snap(); time.sleep(1); t1, i1 = snap()
print(round(100 * (1 - (i1 - i0) / max(t1 - t0, 1))))')
        [ "$busy" -lt "$busy_max" ] && break
    done
    log "$phase: machine ${busy}% busy after waiting $((SECONDS - start))s for it to be quiet"
    BENCH_QUIET+=("$phase: waited $((SECONDS - start)) s, ${busy}% busy at the start")
}

# settle_db PHASE: VACUUM (ANALYZE) of the benchmark database before a measured phase, so the
# autovacuum that the previous phase's hundreds of thousands of inserts would start (its
# launcher wakes every minute) runs now, not in the middle of this phase. Logs how long it took.
settle_db() {
    local phase=$1 start=$SECONDS
    psql "$DATABASE_URL" -qAt -c "VACUUM (ANALYZE)" >/dev/null || die "VACUUM before $phase failed"
    log "$phase: VACUUM (ANALYZE) of the benchmark database took $((SECONDS - start))s"
    BENCH_QUIET+=("$phase: VACUUM (ANALYZE) $((SECONDS - start)) s")
}

# wait_ready URL PID NAME [SECONDS]: until URL answers 200, or fail if PID exits or time runs out.
wait_ready() {
    local url=$1 pid=$2 name=$3 timeout=${4:-120} start=$SECONDS
    until curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 30 "$BENCH_WORK/$name.log" >&2 || true
            die "$name exited before $url was ready (log above)"
        fi
        if [ $((SECONDS - start)) -ge "$timeout" ]; then
            tail -n 30 "$BENCH_WORK/$name.log" >&2 || true
            die "$name: $url not ready within ${timeout}s"
        fi
        sleep 0.2
    done
}

# proc_tree PID: PID and all its descendants, one per line.
proc_tree() {
    local pid=$1 child children
    [ -d "/proc/$pid" ] || return 0
    echo "$pid"
    # each thread's children file: pids separated by spaces
    children=$(cat "/proc/$pid/task/"*/children 2>/dev/null || true)
    for child in $children; do
        proc_tree "$child"
    done
}

# mem_kib PID FIELD: FIELD (VmRSS, VmHWM) of PID and its descendants, summed, in KiB.
# Summing VmHWM over several processes gives an upper bound (their peaks need not coincide).
mem_kib() {
    local pid=$1 field=$2 total=0 p v
    for p in $(proc_tree "$pid"); do
        v=$(awk -v f="$field:" '$1 == f { print $2 }' "/proc/$p/status" 2>/dev/null || true)
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

# mib KIB: KiB as MiB with one decimal.
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# sampler_start NAME PID...: samples the summed VmRSS of the PIDs' trees every 0.25 s and
# keeps the peak in $BENCH_WORK/NAME.peak (KiB) until sampler_stop NAME.
sampler_start() {
    local name=$1
    shift
    echo 0 >"$BENCH_WORK/$name.peak"
    (
        peak=0
        while [ -e "$BENCH_WORK/$name.peak" ] && [ ! -e "$BENCH_WORK/$name.stop" ]; do
            sum=0
            for p in "$@"; do
                sum=$((sum + $(mem_kib "$p" VmRSS)))
            done
            if [ "$sum" -gt "$peak" ]; then
                peak=$sum
                echo "$peak" >"$BENCH_WORK/$name.peak.tmp"
                mv "$BENCH_WORK/$name.peak.tmp" "$BENCH_WORK/$name.peak"
            fi
            sleep 0.25
        done
    ) &
    BENCH_PIDS+=("$!")
    eval "BENCH_SAMPLER_$name=$!"
}

# sampler_stop NAME: stops the sampler and prints the peak in KiB.
sampler_stop() {
    local name=$1 var pid
    var="BENCH_SAMPLER_$name"
    pid=${!var}
    touch "$BENCH_WORK/$name.stop"
    wait "$pid" 2>/dev/null || true
    cat "$BENCH_WORK/$name.peak"
}

# jget FILE PATH: a value from a JSON file by a dotted path (a.b.c); "" when absent.
jget() {
    python3 - "$1" "$2" <<'PY'
import json, sys
value = json.load(open(sys.argv[1]))
for part in sys.argv[2].split("."):
    if isinstance(value, dict) and part in value:
        value = value[part]
    else:
        value = None
        break
if value is None:
    print("")
elif isinstance(value, bool):
    print("yes" if value else "no")
elif isinstance(value, float):
    print(f"{value:.2f}")
else:
    print(value if not isinstance(value, (dict, list)) else json.dumps(value))
PY
}

# fmt0 NUMBER: rounded to an integer.
fmt0() { awk -v n="$1" 'BEGIN { printf "%.0f", n }'; }

# check VALUE OP TARGET: "pass" or "MISS" (OP: -ge, -le, -lt, -eq; decimals allowed).
check() {
    local value=$1 op=$2 target=$3
    [ -n "$value" ] || {
        echo "n/a"
        return
    }
    if awk -v v="$value" -v t="$target" -v op="$op" 'BEGIN {
        if (op == "-ge") exit !(v >= t); if (op == "-le") exit !(v <= t);
        if (op == "-lt") exit !(v < t); if (op == "-eq") exit !(v == t); exit 2 }'; then
        echo pass
    else
        echo MISS
    fi
}

# row CELL...: appends a table row (the first call gives the header).
row() {
    local IFS=$'\t'
    BENCH_ROWS+=("$*")
}

# report NAME FILE: names a loadgen JSON report for the JSON output, and keeps a copy.
report() {
    BENCH_REPORTS+=("$1=$2")
    cp "$2" "$BENCH_RESULTS/$BENCH_NAME-$BENCH_STAMP-$1.json"
}

# note TEXT: a line printed under the table (and in the JSON).
note() { BENCH_NOTES+=("$1"); }

# machine_line: date, nproc, CPU model, RAM, and the commit measured.
machine_line() {
    local cpu ram rev
    cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
    ram=$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
    rev=$(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
    if [ -n "$(git -C "$REPO_ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
        rev="$rev+changes"
    fi
    # Other work on the machine skews every figure: say how busy it was.
    printf '%s, %s cores (%s), %s RAM, commit %s, load average at the start %s' \
        "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(nproc)" "${cpu:-unknown CPU}" "$ram" "$rev" \
        "$BENCH_LOADAVG"
}

# print_table: the table (or, with --json, everything as JSON) on stdout.
print_table() {
    local machine
    machine=$(machine_line)
    local table=$BENCH_WORK/table.tsv
    printf '%s\n' "${BENCH_ROWS[@]}" >"$table"
    if [ "$BENCH_JSON" = 1 ]; then
        python3 - "$BENCH_NAME" "$machine" "$table" "${BENCH_REPORTS[@]}" -- "${BENCH_NOTES[@]}" <<'PY'
import json, sys
name, machine, table = sys.argv[1:4]
rest = sys.argv[4:]
split = rest.index("--")
reports = dict(r.split("=", 1) for r in rest[:split])
notes = rest[split + 1:]
lines = [l.rstrip("\n").split("\t") for l in open(table) if l.strip()]
header, body = lines[0], lines[1:]
out = {
    "bench": name,
    "machine": machine,
    "rows": [dict(zip(header, cells)) for cells in body],
    "notes": notes,
    "runs": {k: json.load(open(v)) for k, v in reports.items()},
}
print(json.dumps(out, indent=2))
PY
    else
        printf '%s: %s\n\n' "$BENCH_NAME" "$machine"
        column -t -s $'\t' "$table"
        local n
        for n in "${BENCH_NOTES[@]}"; do
            printf '%s\n' "$n"
        done
    fi
    cp "$table" "$BENCH_RESULTS/$BENCH_NAME-$BENCH_STAMP.tsv"
}

# loadgen NAME ARGS...: runs corral-loadgen with --json into $BENCH_WORK/NAME.json; keeps it.
# With LOADGEN_CPU_FILE set, writes the load generator's CPU seconds (user + system, from
# getrusage once it has exited) to that file.
LOADGEN_CPU_FILE=""
loadgen() {
    local name=$1
    shift
    log "loadgen $name: $*"
    local wrap=()
    if [ -n "$LOADGEN_CPU_FILE" ]; then
        wrap=(python3 -c '
import resource, subprocess, sys
code = subprocess.call(sys.argv[2:])
r = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as f:
    f.write("%.6f\n" % (r.ru_utime + r.ru_stime))
sys.exit(code)' "$LOADGEN_CPU_FILE")
    fi
    "${wrap[@]}" "$BIN/corral-loadgen" --json "$@" >"$BENCH_WORK/$name.json" 2>"$BENCH_WORK/$name.err" || {
        cat "$BENCH_WORK/$name.err" >&2
        die "corral-loadgen failed ($name)"
    }
    report "$name" "$BENCH_WORK/$name.json"
    log "$name: accepted/s $(fmt0 "$(jget "$BENCH_WORK/$name.json" accepted_per_sec)"), end-to-end/s $(jget "$BENCH_WORK/$name.json" end_to_end.events_per_sec)"
}

# ---- the cluster shape's services ----------------------------------------------------------

BENCH_ADMIN_DB_URL=""
BENCH_DROP_DB=""

# start_services: sets DATABASE_URL (a fresh database) and REDIS_URL. Uses the environment's
# servers if both are set; otherwise `cargo xtask services` (throwaway servers on free ports,
# stopped when this script exits).
start_services() {
    local throwaway=""
    if [ -z "${DATABASE_URL:-}" ] || [ -z "${REDIS_URL:-}" ]; then
        throwaway=1
        local durable=(--durable)
        [ "${BENCH_FAST_DB:-0}" = 1 ] && durable=()
        log "starting throwaway PostgreSQL and Redis (cargo xtask services ${durable[*]})"
        (cd "$REPO_ROOT" && cargo build --quiet -p xtask) >&2
        start_bg xtask-services "$CARGO_TARGET_DIR/debug/xtask" services "${durable[@]}"
        local pid=$BG_PID start=$SECONDS
        until grep -q '^export REDIS_URL=' "$BENCH_WORK/xtask-services.log" 2>/dev/null; do
            kill -0 "$pid" 2>/dev/null || {
                cat "$BENCH_WORK/xtask-services.log" >&2
                die "cargo xtask services failed"
            }
            [ $((SECONDS - start)) -lt 120 ] || die "cargo xtask services did not print its URLs"
            sleep 0.2
        done
        DATABASE_URL=$(sed -n 's/^export DATABASE_URL=//p' "$BENCH_WORK/xtask-services.log")
        REDIS_URL=$(sed -n 's/^export REDIS_URL=//p' "$BENCH_WORK/xtask-services.log")
        note "PostgreSQL and Redis: throwaway servers from \`cargo xtask services ${durable[*]}\`."
    else
        log "using DATABASE_URL and REDIS_URL from the environment"
        note "PostgreSQL and Redis: the servers in DATABASE_URL and REDIS_URL."
    fi
    durability_note
    command -v psql >/dev/null || die "psql is needed to create the benchmark database"
    BENCH_ADMIN_DB_URL=$DATABASE_URL
    local db
    db="corral_bench_$(date +%s)_$$"
    psql "$BENCH_ADMIN_DB_URL" -qAt -c "CREATE DATABASE $db" >/dev/null ||
        die "could not create database $db"
    # a throwaway server goes away with everything in it (and is stopped before the cleanup
    # could drop the database); a server of the environment keeps what is not dropped
    [ -n "$throwaway" ] || BENCH_DROP_DB=$db
    DATABASE_URL=$(python3 -c '
import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1])
print(u.urlunsplit((p.scheme, p.netloc, "/" + sys.argv[2], p.query, p.fragment)))' "$DATABASE_URL" "$db")
    export DATABASE_URL REDIS_URL
    log "database $db, Redis $REDIS_URL"
}

# durability_note: what the servers actually run with, read from them (fsync,
# synchronous_commit, full_page_writes; appendonly, appendfsync), as a note under the table.
DB_DURABILITY=""
durability_note() {
    local pg redis
    command -v redis-cli >/dev/null || die "redis-cli is needed to read Redis' settings"
    pg=$(psql "$DATABASE_URL" -qAt -F= -c "SELECT name, setting FROM pg_settings WHERE name IN
        ('fsync', 'synchronous_commit', 'full_page_writes') ORDER BY name" | paste -sd, -) ||
        die "could not read PostgreSQL's settings"
    redis="appendonly=$(redis-cli -u "$REDIS_URL" --raw config get appendonly | sed -n 2p)"
    redis="$redis,appendfsync=$(redis-cli -u "$REDIS_URL" --raw config get appendfsync | sed -n 2p)"
    case $pg in
        *fsync=on*synchronous_commit=on) DB_DURABILITY=durable ;;
        *) DB_DURABILITY="NOT durable" ;;
    esac
    note "Durability ($DB_DURABILITY): PostgreSQL $pg; Redis $redis."
    log "PostgreSQL $pg; Redis $redis"
}

# redis_forget PREFIX: deletes the keys of a queue we filled and will not drain.
redis_forget() {
    command -v redis-cli >/dev/null || return 0
    redis-cli -u "$REDIS_URL" --scan --pattern "$1*" | xargs -r -n 500 redis-cli -u "$REDIS_URL" unlink >/dev/null
}

# ---- Corral processes ---------------------------------------------------------------------

# Logs at warn: the benchmark measures the work, not the log lines.
export CORRAL_LOG_LEVEL=${CORRAL_LOG_LEVEL:-warn}

# start_cluster_process BINARY NAME PORT [VAR=VALUE...]: corral-beat, corral-web or
# corral-worker on 127.0.0.1:PORT with the extra environment, ready (/readyz answers 200)
# when the function returns; sets BG_PID.
start_cluster_process() {
    local binary=$1 name=$2 port=$3
    shift 3
    start_bg "$name" env CORRAL_BIND="127.0.0.1:$port" "$@" "$BIN/$binary"
    wait_ready "http://127.0.0.1:$port/readyz" "$BG_PID" "$name"
}

# bootstrap_cluster WEB_PORT: an admin user, organization, project (no quotas) and API token;
# sets DSN, API_TOKEN, ORG, PROJECT.
bootstrap_cluster() {
    local web_port=$1 out
    ORG=bench
    PROJECT=load
    export CORRAL_BASE_URL="http://127.0.0.1:$web_port"
    CORRAL_PASSWORD=bench-password-not-secret "$BIN/corral" user create \
        --email bench@corral.local --superuser >/dev/null
    "$BIN/corral" org create "$ORG" --owner bench@corral.local >/dev/null
    out=$("$BIN/corral" --json project create --org "$ORG" "$PROJECT")
    DSN=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["dsn"])' "$out")
    out=$("$BIN/corral" --json token create --email bench@corral.local)
    API_TOKEN=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["token"])' "$out")
    unset CORRAL_BASE_URL
}

# alert_rules [CLI ENV…]: BENCH_ALERT_RULES (default 10) active alert rules on the benchmark's
# project, as a team would have them: new issue, regression, escalation, frequency, users and
# event-rate conditions, some with filters, all to one webhook channel. The channel's address is
# loopback, which the outbound policy refuses, so a delivery ends at once (dead) without the
# network: what is measured is the rules' cost to the digest and the alert runner. Run with the
# CLI's database settings in the environment (the arguments are `env` assignments).
alert_rules() {
    local n=${BENCH_ALERT_RULES:-10} i
    [ "$n" -gt 0 ] || return 0
    local cli=(env "$@" "$BIN/corral")
    CORRAL_ALERT_SECRET=bench-webhook-secret-0123456789 "${cli[@]}" alerts channels create \
        --org "$ORG" --name bench-hook --kind webhook --url http://127.0.0.1:9/hook >/dev/null
    local specs=(
        "--condition new_issue"
        "--condition regression"
        "--condition escalating"
        "--condition frequency:1000:5"
        "--condition users:100:5"
        "--condition event_rate:100000:1"
        "--condition new_issue --environment production"
        "--condition frequency:100:1 --level-at-least error"
        "--condition users:10:60"
        "--condition frequency:10000:60 --condition regression"
    )
    for ((i = 0; i < n; i++)); do
        # shellcheck disable=SC2086 # the spec is words
        "${cli[@]}" alerts rules create --org "$ORG" --project "$PROJECT" --name "bench-$i" \
            --channel bench-hook ${specs[$((i % ${#specs[@]}))]} >/dev/null
    done
    log "$n alert rules on $ORG/$PROJECT"
}

# start_serve NAME DATA_DIR: `corral serve` on a fresh SQLite file; sets BG_PID, SERVE_PORT,
# DSN, API_TOKEN, ORG, PROJECT from what its first start prints.
start_serve() {
    local name=$1 dir=$2
    SERVE_PORT=$(free_port)
    mkdir -p "$dir"
    # the embedded shape runs on its own SQLite file, whatever the cluster shape uses
    start_bg "$name" env -u DATABASE_URL -u REDIS_URL CORRAL_ADMIN_EMAIL=bench@corral.local \
        CORRAL_ADMIN_PASSWORD=bench-password-not-secret \
        CORRAL_BASE_URL="http://127.0.0.1:$SERVE_PORT" \
        "$BIN/corral" serve --bind "127.0.0.1:$SERVE_PORT" --data-dir "$dir"
    wait_ready "http://127.0.0.1:$SERVE_PORT/readyz" "$BG_PID" "$name"
    local start=$SECONDS
    until grep -q '^API token: ' "$BENCH_WORK/$name.log"; do
        [ $((SECONDS - start)) -lt 30 ] || die "$name did not print its API token"
        sleep 0.2
    done
    DSN=$(sed -n 's/^DSN: //p' "$BENCH_WORK/$name.log" | head -n 1)
    API_TOKEN=$(sed -n 's/^API token: \([^ ]*\).*/\1/p' "$BENCH_WORK/$name.log" | head -n 1)
    ORG=corral
    PROJECT=default
}
