//! End-to-end tests of the `corral` binaries as processes: the admin CLI, crash durability,
//! faults of PostgreSQL and Redis, memory bounds, the real Sentry SDKs (`common`) and a real
//! browser. One test binary, one module per subject.

mod alerts;
mod browser;
mod cli_admin;
mod cli_alerts;
mod cli_script;
mod common;
mod dead_letter;
mod durability;
mod faults;
mod loadgen;
mod memory_bound;
mod sdk_cluster;
mod sdk_embedded;
mod support;
