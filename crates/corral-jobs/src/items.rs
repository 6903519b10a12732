//! Reading the envelope items that are not events into Store records.

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use corral_core::model::ProjectId;
use corral_core::{CheckIn, ClientDiscard, SessionCounts, UserReport};
use corral_protocol::{Timestamp, parse_event_id, read_json, value_to_string};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

/// An item's payload could not be read; the job cannot succeed by retrying.
#[derive(Debug, thiserror::Error)]
pub enum ItemError {
    /// The payload is not the JSON the item is read from.
    #[error("invalid {item} item: {source}")]
    Json {
        item: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// The JSON lacks what the item needs, or holds more than allowed.
    #[error("invalid {item} item: {reason}")]
    Invalid { item: &'static str, reason: String },
}

fn invalid(item: &'static str, reason: impl Into<String>) -> ItemError {
    ItemError::Invalid {
        item,
        reason: reason.into(),
    }
}

/// Reads an item's JSON payload.
fn read<T: serde::de::DeserializeOwned>(item: &'static str, payload: &str) -> Result<T, ItemError> {
    read_json(payload.as_bytes()).map_err(|source| ItemError::Json { item, source })
}

fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::hours(1)).unwrap_or(t)
}

#[derive(Deserialize, Default)]
struct SessionAttrs {
    #[serde(default)]
    release: Option<String>,
    #[serde(default)]
    environment: Option<String>,
}

#[derive(Deserialize)]
struct SessionUpdate {
    #[serde(default)]
    started: Option<Timestamp>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    errors: Option<u64>,
    #[serde(default)]
    attrs: Option<SessionAttrs>,
}

/// A `session` item: one update of one session. It counts once, when it
/// ends (status exited, crashed or abnormal; exited with errors is errored).
pub fn session(
    project_id: ProjectId,
    payload: &str,
    received_at: DateTime<Utc>,
) -> Result<Option<SessionCounts>, ItemError> {
    let s: SessionUpdate = read("session", payload)?;
    let attrs = s.attrs.unwrap_or_default();
    let Some(release) = attrs.release.filter(|r| !r.is_empty()) else {
        // Sentry drops sessions without a release: release health needs one
        return Ok(None);
    };
    let started = s.started.map(|t| t.0).unwrap_or(received_at);
    let mut counts = SessionCounts {
        project_id,
        release,
        environment: attrs.environment,
        hour: hour_of(started),
        ..Default::default()
    };
    match s.status.as_deref().unwrap_or("ok") {
        "exited" if s.errors.unwrap_or(0) > 0 => counts.errored = 1,
        "exited" => counts.exited = 1,
        "crashed" => counts.crashed = 1,
        "abnormal" => counts.abnormal = 1,
        "errored" => counts.errored = 1,
        // "ok": the session is still running; it counts when it ends
        _ => return Ok(None),
    }
    Ok(Some(counts))
}

#[derive(Deserialize)]
struct SessionAggregates {
    #[serde(default)]
    aggregates: Vec<Aggregate>,
    #[serde(default)]
    attrs: Option<SessionAttrs>,
}

#[derive(Deserialize)]
struct Aggregate {
    started: Timestamp,
    #[serde(default)]
    exited: i64,
    #[serde(default)]
    errored: i64,
    #[serde(default)]
    crashed: i64,
    #[serde(default)]
    abnormal: i64,
}

/// A `sessions` item: pre-aggregated counts (server-mode SDKs), bounded by
/// `max` buckets per envelope.
pub fn sessions(
    project_id: ProjectId,
    payload: &str,
    max: usize,
) -> Result<Vec<SessionCounts>, ItemError> {
    let s: SessionAggregates = read("sessions", payload)?;
    if s.aggregates.len() > max {
        return Err(invalid(
            "sessions",
            format!(
                "{} aggregates, more than the limit of {max}",
                s.aggregates.len()
            ),
        ));
    }
    let attrs = s.attrs.unwrap_or_default();
    let Some(release) = attrs.release.filter(|r| !r.is_empty()) else {
        return Ok(Vec::new());
    };
    Ok(s.aggregates
        .into_iter()
        .map(|a| SessionCounts {
            project_id,
            release: release.clone(),
            environment: attrs.environment.clone(),
            hour: hour_of(a.started.0),
            exited: a.exited.max(0),
            errored: a.errored.max(0),
            crashed: a.crashed.max(0),
            abnormal: a.abnormal.max(0),
        })
        .collect())
}

#[derive(Deserialize)]
struct ClientReport {
    #[serde(default)]
    timestamp: Option<Timestamp>,
    #[serde(default)]
    discarded_events: Vec<Discarded>,
}

#[derive(Deserialize)]
struct Discarded {
    reason: String,
    category: String,
    quantity: i64,
}

/// A `client_report`: what the SDK dropped on its side, and why.
pub fn client_report(
    project_id: ProjectId,
    payload: &str,
    received_at: DateTime<Utc>,
) -> Result<Vec<ClientDiscard>, ItemError> {
    let r: ClientReport = read("client_report", payload)?;
    let hour = hour_of(r.timestamp.map(|t| t.0).unwrap_or(received_at));
    Ok(r.discarded_events
        .into_iter()
        .filter(|d| d.quantity > 0)
        .map(|d| ClientDiscard {
            project_id,
            reason: truncate(d.reason, 64),
            category: truncate(d.category, 64),
            quantity: d.quantity,
            hour,
        })
        .collect())
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// A `check_in` of a cron monitor.
pub fn check_in(
    project_id: ProjectId,
    payload: &str,
    received_at: DateTime<Utc>,
) -> Result<CheckIn, ItemError> {
    let v: Value = read("check_in", payload)?;
    let field = |k: &str| v.get(k).cloned().and_then(value_to_string);
    let check_in_id = field("check_in_id")
        .and_then(|s| parse_event_id(&s))
        .ok_or_else(|| invalid("check_in", "missing or invalid check_in_id"))?;
    let monitor_slug = field("monitor_slug")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid("check_in", "missing monitor_slug"))?;
    let status = field("status").unwrap_or_else(|| "unknown".into());
    Ok(CheckIn {
        project_id,
        check_in_id,
        monitor_slug: truncate(monitor_slug, 128),
        status: truncate(status, 32),
        duration_secs: v.get("duration").and_then(Value::as_f64),
        environment: field("environment").map(|e| truncate(e, 64)),
        received_at,
        // as read: what serde_json could not read, or a store hold, repaired
        data: v.to_string(),
    })
}

/// A `user_report` (the classic feedback form's body).
pub fn user_report(
    project_id: ProjectId,
    payload: &str,
    received_at: DateTime<Utc>,
) -> Result<UserReport, ItemError> {
    let v: Value = read("user_report", payload)?;
    let field = |k: &str| v.get(k).cloned().and_then(value_to_string);
    let event_id = field("event_id")
        .and_then(|s| parse_event_id(&s))
        .ok_or_else(|| invalid("user_report", "missing or invalid event_id"))?;
    Ok(UserReport {
        project_id,
        event_id,
        name: truncate(field("name").unwrap_or_default(), 128),
        email: truncate(field("email").unwrap_or_default(), 128),
        comments: truncate(field("comments").unwrap_or_default(), 8192),
        received_at,
    })
}

/// A `feedback` item: an event whose `contexts.feedback` holds the message.
pub fn feedback(
    project_id: ProjectId,
    event_id: Uuid,
    payload: &str,
    received_at: DateTime<Utc>,
) -> Result<UserReport, ItemError> {
    let v: Value = read("feedback", payload)?;
    let fb = v
        .pointer("/contexts/feedback")
        .ok_or_else(|| invalid("feedback", "missing contexts.feedback"))?;
    let field = |k: &str| fb.get(k).cloned().and_then(value_to_string);
    let about = field("associated_event_id")
        .and_then(|s| parse_event_id(&s))
        .unwrap_or(event_id);
    Ok(UserReport {
        project_id,
        event_id: about,
        name: truncate(field("name").unwrap_or_default(), 128),
        email: truncate(field("contact_email").unwrap_or_default(), 128),
        comments: truncate(field("message").unwrap_or_default(), 8192),
        received_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 12, 34, 56).unwrap()
    }

    #[test]
    fn a_session_counts_when_it_ends() {
        let running = r#"{"sid":"a","status":"ok","started":"2026-11-23T12:00:01Z","attrs":{"release":"1.0"}}"#;
        assert_eq!(session(1, running, now()).unwrap(), None);
        let ended = r#"{"sid":"a","status":"exited","errors":2,"started":"2026-11-23T12:00:01Z","attrs":{"release":"1.0","environment":"prod"}}"#;
        let c = session(1, ended, now()).unwrap().unwrap();
        assert_eq!((c.errored, c.exited, c.crashed), (1, 0, 0));
        assert_eq!(
            c.hour,
            Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap()
        );
        assert_eq!(c.environment.as_deref(), Some("prod"));
        let no_release = r#"{"sid":"a","status":"crashed"}"#;
        assert_eq!(session(1, no_release, now()).unwrap(), None);
        assert!(session(1, "[1,2]", now()).is_err());
    }

    #[test]
    fn aggregates_are_bounded() {
        let agg = r#"{"aggregates":[{"started":"2026-11-23T12:10:00Z","exited":5,"crashed":1},{"started":"2026-11-23T13:10:00Z","errored":2}],"attrs":{"release":"2.0"}}"#;
        let counts = sessions(1, agg, 100).unwrap();
        assert_eq!(counts.len(), 2);
        assert_eq!((counts[0].exited, counts[0].crashed), (5, 1));
        assert_eq!(counts[1].errored, 2);
        let err = sessions(1, agg, 1).unwrap_err();
        assert!(err.to_string().contains("limit"), "{err}");
    }

    #[test]
    fn client_reports_keep_reason_and_category() {
        let r = r#"{"timestamp":"2026-11-23T12:00:00Z","discarded_events":[{"reason":"ratelimit_backoff","category":"error","quantity":3},{"reason":"x","category":"y","quantity":0}]}"#;
        let d = client_report(1, r, now()).unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(
            (d[0].reason.as_str(), d[0].category.as_str(), d[0].quantity),
            ("ratelimit_backoff", "error", 3)
        );
    }

    #[test]
    fn check_ins_and_reports_need_their_ids() {
        let ok = r#"{"check_in_id":"83a7c03ed0a04e1b97e2e3b18d38f244","monitor_slug":"nightly","status":"ok","duration":1.5}"#;
        let c = check_in(1, ok, now()).unwrap();
        assert_eq!(
            (c.monitor_slug.as_str(), c.status.as_str(), c.duration_secs),
            ("nightly", "ok", Some(1.5))
        );
        assert!(check_in(1, r#"{"monitor_slug":"x"}"#, now()).is_err());
        let r = user_report(1, r#"{"event_id":"83a7c03ed0a04e1b97e2e3b18d38f244","name":"Ann","email":"a@x","comments":"broke"}"#, now()).unwrap();
        assert_eq!(r.comments, "broke");
        assert!(user_report(1, r#"{"name":"Ann"}"#, now()).is_err());
        let id = Uuid::new_v4();
        let f = feedback(
            1,
            id,
            r#"{"contexts":{"feedback":{"message":"hi","contact_email":"b@x"}}}"#,
            now(),
        )
        .unwrap();
        assert_eq!(
            (f.event_id, f.comments.as_str(), f.email.as_str()),
            (id, "hi", "b@x")
        );
    }
}
