//! What a run measured, as a table or JSON.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct EndToEnd {
    /// Events stored during the run (the project's total moved by this much).
    pub stored: u64,
    /// Whether every accepted event was stored before the wait ran out.
    pub all_stored: bool,
    /// From the first send to the moment the last accepted event was stored.
    pub seconds: f64,
    /// From the end of sending to that moment: how long the backlog took to
    /// drain.
    pub drain_seconds: f64,
    pub events_per_sec: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub target: String,
    pub mode: String,
    pub concurrency: usize,
    pub gzip: bool,
    pub groups: usize,
    pub event_bytes: usize,
    pub sent: u64,
    pub accepted: u64,
    /// Answers 429 and 503: refused for now.
    pub refused: u64,
    /// Of those, the ones with a `Retry-After` header.
    pub refused_with_retry_after: u64,
    /// Requests that got no HTTP answer (connection refused, timeout).
    pub transport_errors: u64,
    pub statuses: BTreeMap<u16, u64>,
    pub send_seconds: f64,
    pub requests_per_sec: f64,
    pub accepted_per_sec: f64,
    pub latency: Latency,
    pub end_to_end: Option<EndToEnd>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "target            {}", self.target)?;
        writeln!(
            f,
            "load              {} (concurrency {}, {} groups, ~{} B/event{})",
            self.mode,
            self.concurrency,
            self.groups,
            self.event_bytes,
            if self.gzip { ", gzip" } else { "" }
        )?;
        writeln!(
            f,
            "sent              {} in {:.2} s",
            self.sent, self.send_seconds
        )?;
        writeln!(f, "requests/s        {:.0}", self.requests_per_sec)?;
        writeln!(f, "accepted/s        {:.0}", self.accepted_per_sec)?;
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect();
        writeln!(
            f,
            "statuses          {}{}",
            statuses.join(", "),
            if self.transport_errors > 0 {
                format!(", no answer: {}", self.transport_errors)
            } else {
                String::new()
            }
        )?;
        if self.refused > 0 {
            writeln!(
                f,
                "refused           {} (429/503), {} with Retry-After",
                self.refused, self.refused_with_retry_after
            )?;
        }
        writeln!(
            f,
            "latency ms        p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
            self.latency.p50_ms, self.latency.p90_ms, self.latency.p99_ms, self.latency.max_ms
        )?;
        match &self.end_to_end {
            Some(e) => {
                writeln!(
                    f,
                    "end-to-end/s      {:.0} ({} stored in {:.2} s, {:.2} s after the last send)",
                    e.events_per_sec, e.stored, e.seconds, e.drain_seconds
                )?;
                writeln!(
                    f,
                    "all accepted      {}",
                    if e.all_stored {
                        "stored"
                    } else {
                        "NOT all stored"
                    }
                )
            }
            None => writeln!(
                f,
                "end-to-end/s      not measured (no --api-token or --count-cmd)"
            ),
        }
    }
}
