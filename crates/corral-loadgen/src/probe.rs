//! Freshness probes: how long after its `200` an event can be read.
//!
//! One event at a time, a gap apart: send it, and from its `200` poll the
//! REST API (`/api/0/projects/{org}/{project}/events/{id}/`) every few
//! milliseconds until the event is there. The time from the `200` to the
//! first answer that has it is the event's freshness: what a user who just
//! saw an error waits before Corral shows it. Meant to run beside other
//! load (the bench's background load, busy loops) and measure what a single
//! event meets then.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;

use crate::payload::template;
use crate::verify::ApiTarget;

#[derive(Clone, Debug)]
pub struct ProbeOptions {
    pub dsn: String,
    pub api: ApiTarget,
    /// How many probes.
    pub count: u64,
    /// Between the end of one probe and the send of the next; each gap is
    /// stretched by up to a quarter at random, so probes do not fall in step
    /// with a periodic task of the server.
    pub gap: Duration,
    /// Between two reads of the API while waiting for one event.
    pub poll: Duration,
    /// How long one event may take to show up before it counts as missing.
    pub give_up: Duration,
    pub frames: usize,
    pub event_bytes: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct ProbeReport {
    pub target: String,
    pub probes: u64,
    /// Probes whose send was not answered `200` (not measured).
    pub not_accepted: u64,
    /// Accepted probes not readable within the give-up time.
    pub missing: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Every measured freshness, in milliseconds, in send order.
    pub samples_ms: Vec<f64>,
    /// The poll interval: the measurement's resolution.
    pub poll_ms: f64,
}

/// The `q` quantile (0..=1) of sorted samples, nearest rank.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A small pseudo-random stretch in 0..=0.25 from the probe's number.
fn jitter(i: u64) -> f64 {
    let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17);
    (x % 1000) as f64 / 4000.0
}

pub async fn probe(options: ProbeOptions) -> anyhow::Result<ProbeReport> {
    let dsn: corral_protocol::Dsn = options.dsn.parse().context("invalid DSN")?;
    crate::send::check_loopback(&dsn)?;
    if options.count == 0 || options.count > 100_000 {
        bail!("--count must be between 1 and 100000 for probes");
    }
    if options.poll < Duration::from_millis(1) || options.poll > Duration::from_secs(1) {
        bail!("--poll-ms must be between 1 and 1000 for probes");
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .build()?;
    let auth = format!(
        "Sentry sentry_key={}, sentry_version=7, sentry_client=corral-loadgen/{}",
        dsn.public_key,
        env!("CARGO_PKG_VERSION")
    );
    let envelope_url = dsn.envelope_url();
    let base = options.api.base_url.trim_end_matches('/');
    // a group of its own, so probes never share an issue with the background load
    let tpl = template(7919, options.frames, options.event_bytes, &options.dsn);

    let mut samples = Vec::with_capacity(options.count as usize);
    let (mut not_accepted, mut missing) = (0u64, 0u64);
    for i in 0..options.count {
        if i > 0 {
            tokio::time::sleep(options.gap.mul_f64(1.0 + jitter(i))).await;
        }
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mut id_bytes = [0u8; 32];
        id_bytes.copy_from_slice(id.as_bytes());
        let sent = client
            .post(&envelope_url)
            .header("x-sentry-auth", &auth)
            .header("content-type", "application/x-sentry-envelope")
            .body(tpl.render(&id_bytes))
            .send()
            .await;
        let accepted_at = Instant::now();
        match sent {
            Ok(r) if r.status().as_u16() == 200 => {}
            _ => {
                not_accepted += 1;
                continue;
            }
        }
        let url = format!(
            "{base}/api/0/projects/{}/{}/events/{id}/",
            options.api.org, options.api.project
        );
        let found = loop {
            let r = client
                .get(&url)
                .bearer_auth(&options.api.token)
                .send()
                .await
                .with_context(|| format!("reading {url}"))?;
            match r.status().as_u16() {
                200 => break Some(accepted_at.elapsed()),
                404 => {}
                s => bail!("{url} answered {s}: check --api-token, --org, --project"),
            }
            if accepted_at.elapsed() > options.give_up {
                break None;
            }
            tokio::time::sleep(options.poll).await;
        };
        match found {
            Some(d) => samples.push(d.as_secs_f64() * 1000.0),
            None => missing += 1,
        }
    }
    let mut sorted = samples.clone();
    sorted.sort_by(f64::total_cmp);
    Ok(ProbeReport {
        target: envelope_url,
        probes: options.count,
        not_accepted,
        missing,
        p50_ms: quantile(&sorted, 0.50),
        p90_ms: quantile(&sorted, 0.90),
        p99_ms: quantile(&sorted, 0.99),
        max_ms: sorted.last().copied().unwrap_or(0.0),
        samples_ms: samples,
        poll_ms: options.poll.as_secs_f64() * 1000.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let s: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&s, 0.5), 50.0);
        assert_eq!(quantile(&s, 0.99), 99.0);
        assert_eq!(quantile(&s, 1.0), 100.0);
        assert_eq!(quantile(&[3.0], 0.99), 3.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
        // eight samples: p99 is the largest
        let eight = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        assert_eq!(quantile(&eight, 0.99), 8.0);
    }

    #[test]
    fn jitter_stays_within_a_quarter() {
        let all: Vec<f64> = (0..1000).map(jitter).collect();
        assert!(all.iter().all(|j| (0.0..=0.25).contains(j)));
        assert!(all.iter().any(|j| *j > 0.2) && all.iter().any(|j| *j < 0.05));
    }
}
