#!/usr/bin/env bash
# The web UI's latency benchmark (docs/PERFORMANCE.md, "Web UI"): fills a PostgreSQL database with
# 10,000 issues and 1,000,000 events by SQL, starts the release build of corral-web on it, signs in
# and measures the issue list and issue pages (p50/p95/p99). See
# crates/corral-web/examples/ui_bench.rs for what it does; arguments go to it (`--help`).
#
# Needs PostgreSQL (DATABASE_URL, default postgres://root@127.0.0.1:5432/postgres: the benchmark
# makes its own database `corral_ui_bench` there) and Redis (REDIS_URL, default
# redis://127.0.0.1:6379). The data takes about 3 GB.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo build --release -p corral-web --bin corral-web --example ui_bench
cargo run --release --quiet -p corral-web --example ui_bench -- "$@"
