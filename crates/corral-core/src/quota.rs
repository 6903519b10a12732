//! Rate limits on ingest: events per minute and per hour, per key and per
//! project, in fixed windows. One check is one atomic operation: either every
//! counter is under its limit and all of them move, or none moves and the
//! caller learns which limit was hit and when it resets.
//!
//! [`MemoryQuotas`] serves the embedded shape; the cluster shape keeps the
//! counters in Redis (crate `corral-web`) so every web replica shares them.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::config::QuotaConfig;
use crate::model::{KeyId, ProjectId, RateLimit};

/// Which limit refused an event; Sentry SDKs read it from `X-Sentry-Rate-Limits`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuotaScope {
    Key,
    Project,
}

impl QuotaScope {
    pub fn as_str(&self) -> &'static str {
        match self {
            QuotaScope::Key => "key",
            QuotaScope::Project => "project",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuotaDecision {
    Accepted,
    Limited {
        scope: QuotaScope,
        /// Seconds until the window that refused the event ends.
        retry_after_secs: u64,
    },
}

/// One counter to move: its identity, window length and limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuotaCounter {
    /// e.g. `k:12:m` (key 12, minute window).
    pub name: String,
    pub scope: QuotaScope,
    pub window_secs: u64,
    pub limit: u64,
}

/// The counters that apply to one request, from the key's and project's
/// limits and the server defaults (the lower of a set value and the default).
pub fn counters_for(
    key_id: KeyId,
    key_limit: RateLimit,
    project_id: ProjectId,
    project_limit: RateLimit,
    defaults: &QuotaConfig,
) -> Vec<QuotaCounter> {
    fn lower(a: Option<i64>, b: Option<i64>) -> Option<u64> {
        let v = match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        v.map(|v| v.max(0) as u64)
    }
    let mut out = Vec::with_capacity(4);
    let mut add = |scope: QuotaScope, id: i64, tag: &str, window_secs: u64, limit: Option<u64>| {
        if let Some(limit) = limit {
            let prefix = match scope {
                QuotaScope::Key => "k",
                QuotaScope::Project => "p",
            };
            out.push(QuotaCounter {
                name: format!("{prefix}:{id}:{tag}"),
                scope,
                window_secs,
                limit,
            });
        }
    };
    add(
        QuotaScope::Key,
        key_id,
        "m",
        60,
        lower(key_limit.per_minute, defaults.key_events_per_minute),
    );
    add(
        QuotaScope::Key,
        key_id,
        "h",
        3600,
        lower(key_limit.per_hour, defaults.key_events_per_hour),
    );
    add(
        QuotaScope::Project,
        project_id,
        "m",
        60,
        lower(project_limit.per_minute, defaults.project_events_per_minute),
    );
    add(
        QuotaScope::Project,
        project_id,
        "h",
        3600,
        lower(project_limit.per_hour, defaults.project_events_per_hour),
    );
    out
}

/// The start of the fixed window `now` falls in, in seconds since the epoch.
pub fn window_start(now: DateTime<Utc>, window_secs: u64) -> u64 {
    let secs = now.timestamp().max(0) as u64;
    secs - secs % window_secs
}

/// Seconds until the window `now` falls in ends (at least 1).
pub fn seconds_left(now: DateTime<Utc>, window_secs: u64) -> u64 {
    let secs = now.timestamp().max(0) as u64;
    (window_start(now, window_secs) + window_secs)
        .saturating_sub(secs)
        .max(1)
}

#[derive(Debug, thiserror::Error)]
#[error("quota store unavailable: {0}")]
pub struct QuotaError(pub String);

/// Checks and counts `quantity` events against every counter at once.
#[async_trait]
pub trait Quotas: Send + Sync + 'static {
    async fn check(
        &self,
        counters: &[QuotaCounter],
        quantity: u64,
        now: DateTime<Utc>,
    ) -> Result<QuotaDecision, QuotaError>;
}

/// In-process counters for the embedded shape.
#[derive(Debug, Default)]
pub struct MemoryQuotas {
    /// counter name -> (window start, count)
    counters: Mutex<HashMap<String, (u64, u64)>>,
}

impl MemoryQuotas {
    pub fn new() -> MemoryQuotas {
        MemoryQuotas::default()
    }
}

#[async_trait]
impl Quotas for MemoryQuotas {
    async fn check(
        &self,
        counters: &[QuotaCounter],
        quantity: u64,
        now: DateTime<Utc>,
    ) -> Result<QuotaDecision, QuotaError> {
        if counters.is_empty() {
            return Ok(QuotaDecision::Accepted);
        }
        let mut map = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        // drop counters of finished windows now and then, so the map stays
        // as small as the set of active keys
        if map.len() > 10_000 {
            let minute = window_start(now, 60);
            let hour = window_start(now, 3600);
            map.retain(|name, (start, _)| {
                if name.ends_with(":m") {
                    *start >= minute
                } else {
                    *start >= hour
                }
            });
        }
        for c in counters {
            let start = window_start(now, c.window_secs);
            let used = match map.get(&c.name) {
                Some((s, n)) if *s == start => *n,
                _ => 0,
            };
            if used + quantity > c.limit {
                return Ok(QuotaDecision::Limited {
                    scope: c.scope,
                    retry_after_secs: seconds_left(now, c.window_secs),
                });
            }
        }
        for c in counters {
            let start = window_start(now, c.window_secs);
            let slot = map.entry(c.name.clone()).or_insert((start, 0));
            if slot.0 != start {
                *slot = (start, 0);
            }
            slot.1 += quantity;
        }
        Ok(QuotaDecision::Accepted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).unwrap()
    }

    #[test]
    fn the_lower_limit_wins_and_unset_means_unlimited() {
        let defaults = QuotaConfig {
            key_events_per_minute: Some(100),
            project_events_per_hour: Some(1000),
            ..Default::default()
        };
        let key = RateLimit {
            per_minute: Some(10),
            per_hour: None,
        };
        let project = RateLimit {
            per_minute: None,
            per_hour: Some(5000),
        };
        let cs = counters_for(1, key, 2, project, &defaults);
        let limits: Vec<_> = cs.iter().map(|c| (c.name.as_str(), c.limit)).collect();
        assert_eq!(limits, vec![("k:1:m", 10), ("p:2:h", 1000)]);
    }

    #[tokio::test]
    async fn refuses_past_the_limit_until_the_window_ends() {
        let q = MemoryQuotas::new();
        let cs = counters_for(
            1,
            RateLimit {
                per_minute: Some(3),
                per_hour: None,
            },
            2,
            RateLimit::default(),
            &QuotaConfig::default(),
        );
        let t = at(1_700_000_020); // 40 s into a minute
        for _ in 0..3 {
            assert_eq!(q.check(&cs, 1, t).await.unwrap(), QuotaDecision::Accepted);
        }
        assert_eq!(
            q.check(&cs, 1, t).await.unwrap(),
            QuotaDecision::Limited {
                scope: QuotaScope::Key,
                retry_after_secs: 20
            }
        );
        // the next minute starts afresh
        assert_eq!(
            q.check(&cs, 1, at(1_700_000_040)).await.unwrap(),
            QuotaDecision::Accepted
        );
    }

    #[tokio::test]
    async fn a_refused_check_moves_no_counter() {
        let q = MemoryQuotas::new();
        let cs = counters_for(
            1,
            RateLimit {
                per_minute: Some(10),
                per_hour: None,
            },
            2,
            RateLimit {
                per_minute: Some(2),
                per_hour: None,
            },
            &QuotaConfig::default(),
        );
        let t = at(1_700_000_000);
        assert_eq!(q.check(&cs, 2, t).await.unwrap(), QuotaDecision::Accepted);
        for _ in 0..5 {
            assert!(matches!(
                q.check(&cs, 1, t).await.unwrap(),
                QuotaDecision::Limited {
                    scope: QuotaScope::Project,
                    ..
                }
            ));
        }
        // the key counter stayed at 2: a key-only set of counters has room for 8
        let key_only: Vec<_> = cs
            .iter()
            .filter(|c| c.scope == QuotaScope::Key)
            .cloned()
            .collect();
        assert_eq!(
            q.check(&key_only, 8, t).await.unwrap(),
            QuotaDecision::Accepted
        );
        assert!(matches!(
            q.check(&key_only, 1, t).await.unwrap(),
            QuotaDecision::Limited { .. }
        ));
    }
}
