//! Records in Sentry's API shapes (field names and types as Sentry's, e.g.
//! ids and `count` as strings), so Sentry tooling reads them unchanged.

use chrono::{DateTime, SecondsFormat, Utc};
use corral_core::model::{
    Issue, IssueStatus, Organization, Project, ProjectKey, StoredEvent, format_short_id,
};
use serde_json::{Value, json};

fn time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn organization(o: &Organization) -> Value {
    json!({
        "id": o.id.to_string(),
        "slug": o.slug,
        "name": o.name,
        "dateCreated": time(&o.created_at),
        "status": {"id": "active", "name": "active"},
    })
}

pub fn project(p: &Project) -> Value {
    json!({
        "id": p.id.to_string(),
        "slug": p.slug,
        "name": p.name,
        "platform": p.platform,
        "dateCreated": time(&p.created_at),
        "isMember": true,
        "status": "active",
        "organization": {
            "id": p.org_id.to_string(),
            "slug": p.org_slug,
        },
    })
}

/// A key with its DSNs, as Sentry lists them.
pub fn project_key(k: &ProjectKey, base_url: &str) -> Value {
    let (scheme, host) = base_url.split_once("://").unwrap_or(("http", base_url));
    let dsn = format!("{scheme}://{}@{host}/{}", k.public_key, k.project_id);
    let security = format!(
        "{base_url}/api/{}/security/?sentry_key={}",
        k.project_id, k.public_key
    );
    let rate_limit = k
        .rate_limit
        .per_minute
        .map(|count| json!({"window": 60, "count": count}))
        .or_else(|| {
            k.rate_limit
                .per_hour
                .map(|count| json!({"window": 3600, "count": count}))
        });
    json!({
        "id": k.public_key,
        "name": k.label,
        "label": k.label,
        "public": k.public_key,
        "secret": Value::Null,
        "projectId": k.project_id,
        "isActive": k.is_active,
        "rateLimit": rate_limit,
        "dateCreated": time(&k.created_at),
        "dsn": {
            "public": dsn,
            "secret": dsn,
            "csp": security,
            "security": security,
            "store": format!("{base_url}/api/{}/store/", k.project_id),
            "envelope": format!("{base_url}/api/{}/envelope/", k.project_id),
        },
    })
}

pub fn issue(i: &Issue, p: &Project, base_url: &str) -> Value {
    let mut status_details = serde_json::Map::new();
    if let Some(release) = &i.resolved_in_release {
        status_details.insert("inNextRelease".into(), json!(true));
        status_details.insert("inRelease".into(), json!(release));
    }
    if let Some(until) = &i.ignore_until {
        status_details.insert("ignoreUntil".into(), json!(time(until)));
    }
    if let Some(count) = i.ignore_count {
        status_details.insert("ignoreCount".into(), json!(count));
    }
    json!({
        "id": i.id.to_string(),
        "shortId": format_short_id(&p.slug, i.short_id),
        "title": i.title,
        "culprit": i.culprit,
        "permalink": format!("{base_url}/organizations/{}/issues/{}/", p.org_slug, i.id),
        "level": i.level.as_str(),
        "status": i.status.as_str(),
        // Sentry has no substatus for resolved issues
        "substatus": (i.status != IssueStatus::Resolved).then(|| i.substatus.as_str()),
        "statusDetails": status_details,
        "isPublic": false,
        "platform": p.platform,
        "project": {
            "id": p.id.to_string(),
            "name": p.name,
            "slug": p.slug,
            "platform": p.platform,
        },
        "type": i.event_type.as_str(),
        "issueType": "error",
        "issueCategory": "error",
        "metadata": i.metadata,
        "numComments": 0,
        "assignedTo": Value::Null,
        "isBookmarked": false,
        "isSubscribed": false,
        "hasSeen": false,
        "annotations": [],
        "count": i.times_seen.to_string(),
        "userCount": 0,
        "firstSeen": time(&i.first_seen),
        "lastSeen": time(&i.last_seen),
        "firstRelease": i.first_release.as_ref().map(|v| json!({"version": v})),
        "lastRelease": i.last_release.as_ref().map(|v| json!({"version": v})),
        "logger": Value::Null,
        "shareId": Value::Null,
    })
}

fn tags(e: &StoredEvent) -> Vec<Value> {
    e.tags
        .iter()
        .map(|(k, v)| json!({"key": k, "value": v}))
        .collect()
}

fn message_of(e: &StoredEvent) -> String {
    let d = &e.data;
    d.pointer("/logentry/formatted")
        .or_else(|| d.pointer("/logentry/message"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_default()
}

/// The short form used in event lists.
pub fn event_summary(e: &StoredEvent) -> Value {
    json!({
        "id": e.event_id.simple().to_string(),
        "eventID": e.event_id.simple().to_string(),
        "groupID": e.issue_id.map(|i| i.to_string()),
        "projectID": e.project_id.to_string(),
        "title": e.title,
        "message": message_of(e),
        "culprit": e.culprit,
        "platform": e.platform,
        "event.type": e.event_type.as_str(),
        "dateCreated": time(&e.timestamp),
        "dateReceived": time(&e.received_at),
        "tags": tags(e),
        "user": e.data.get("user").cloned().unwrap_or(Value::Null),
    })
}

/// Sentry's `entries`: the interfaces of the event, each typed.
fn entries(d: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(exception) = d.get("exception") {
        out.push(json!({"type": "exception", "data": exception}));
    }
    if let Some(st) = d.get("stacktrace") {
        out.push(json!({"type": "stacktrace", "data": st}));
    }
    if let Some(threads) = d.get("threads") {
        out.push(json!({"type": "threads", "data": threads}));
    }
    if let Some(logentry) = d.get("logentry") {
        out.push(json!({"type": "message", "data": logentry}));
    }
    if let Some(request) = d.get("request") {
        out.push(json!({"type": "request", "data": request}));
    }
    if let Some(breadcrumbs) = d.get("breadcrumbs") {
        out.push(json!({"type": "breadcrumbs", "data": breadcrumbs}));
    }
    if let Some(csp) = d.get("csp") {
        out.push(json!({"type": "csp", "data": csp}));
    }
    out
}

/// The full event.
pub fn event(e: &StoredEvent) -> Value {
    let d = &e.data;
    let mut v = event_summary(e);
    let obj = v.as_object_mut().expect("an object");
    obj.insert("type".into(), json!(e.event_type.as_str()));
    obj.insert(
        "metadata".into(),
        d.get("metadata").cloned().unwrap_or(json!({})),
    );
    obj.insert("entries".into(), Value::Array(entries(d)));
    for (name, key) in [
        ("contexts", "contexts"),
        ("sdk", "sdk"),
        ("fingerprints", "fingerprint"),
        ("extra", "extra"),
        ("release", "release"),
        ("dist", "dist"),
        ("environment", "environment"),
    ] {
        obj.insert(name.into(), d.get(key).cloned().unwrap_or(Value::Null));
    }
    obj.insert("level".into(), json!(e.level.as_str()));
    obj.entry("size")
        .or_insert_with(|| json!(d.to_string().len()));
    v
}
