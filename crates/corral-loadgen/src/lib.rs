//! `corral-loadgen`: sends real Sentry envelopes to a DSN at a fixed
//! concurrency or a fixed rate, for a count or a duration, and measures
//! ingest (requests/s, accepted/s, statuses, refusals with `Retry-After`,
//! latency percentiles) and, by polling the REST API or a counting command,
//! the end-to-end rate: events digested into issues per second from the
//! first send to the last digest, how long the backlog took to drain, and
//! whether every accepted event was stored.
//!
//! With `--probe-gap-ms` it measures freshness instead: events one at a time,
//! each timed from its `200` until the REST API returns it.
//!
//! It is bounded on purpose: loopback targets only, and a count or a
//! duration must always be given.

pub mod payload;
mod probe;
mod report;
mod send;
mod verify;

pub use probe::{ProbeOptions, ProbeReport, probe};
pub use report::{EndToEnd, Latency, Report};
pub use send::{Load, Options, run};
pub use verify::{ApiTarget, Counter, command_count, stored_events};
