//! The events the load generator sends: real SDK payloads (the Django
//! fixture's exception, request, contexts and breadcrumbs), stretched to the
//! wanted number of stack frames and varied over distinct groups.
//!
//! Each group's envelope is built once with a placeholder event id; a request
//! copies it and writes a fresh id in place, so generating load costs almost
//! nothing next to sending it.

use serde_json::{Value, json};

const FIXTURE: &str =
    include_str!("../../../tests/fixtures/sentry-events/incoming/python_zero_division.json");

/// 32 characters, the length of an event id, found nowhere else in a payload.
const PLACEHOLDER: &[u8; 32] = b"EVENTIDEVENTIDEVENTIDEVENTID0000";

const ERRORS: &[(&str, &str)] = &[
    ("ZeroDivisionError", "division by zero"),
    ("KeyError", "'customer_id'"),
    (
        "ValueError",
        "invalid literal for int() with base 10: 'abc'",
    ),
    (
        "TypeError",
        "unsupported operand type(s) for +: 'int' and 'NoneType'",
    ),
    (
        "AttributeError",
        "'NoneType' object has no attribute 'items'",
    ),
    (
        "ConnectionError",
        "connection to payments.internal:443 refused",
    ),
];

/// One group's envelope with the placeholder id, and where the id sits.
#[derive(Clone, Debug)]
pub struct Template {
    pub bytes: Vec<u8>,
    offsets: Vec<usize>,
}

impl Template {
    /// The envelope with `event_id` (32 hex digits) written in.
    pub fn render(&self, event_id: &[u8; 32]) -> Vec<u8> {
        let mut out = self.bytes.clone();
        for &at in &self.offsets {
            out[at..at + 32].copy_from_slice(event_id);
        }
        out
    }
}

fn frame(module: &str, function: &str, lineno: u64, in_app: bool, base: &Value) -> Value {
    let mut f = base.clone();
    // two lines of context around each of the application's lines
    if let Some(pre) = f["pre_context"].as_array().cloned() {
        f["pre_context"] = json!(pre[pre.len().saturating_sub(2)..].to_vec());
    }
    if let Some(post) = f["post_context"].as_array().cloned() {
        f["post_context"] = json!(post[..post.len().min(2)].to_vec());
    }
    if !in_app {
        // library frames: where and the line itself; no locals, no
        // surrounding lines
        let f = f.as_object_mut().expect("a frame");
        f.remove("vars");
        f.remove("pre_context");
        f.remove("post_context");
        f.remove("abs_path");
    }
    f["module"] = json!(module);
    f["function"] = json!(function);
    f["filename"] = json!(format!("{}.py", module.replace('.', "/")));
    if in_app {
        f["abs_path"] = json!(format!("/srv/app/{}.py", module.replace('.', "/")));
    }
    f["lineno"] = json!(lineno);
    f["in_app"] = json!(in_app);
    f
}

/// Builds the event of group `group` with about `frames` stack frames,
/// padded to roughly `size` bytes of JSON.
pub fn event(group: usize, frames: usize, size: usize) -> Value {
    let mut event: Value = serde_json::from_str(FIXTURE).expect("the fixture is JSON");
    let obj = event.as_object_mut().expect("an object");
    obj.remove("_meta");
    obj.remove("modules");
    obj.remove("breadcrumbs");
    let base_frame = obj["exception"]["values"][0]["stacktrace"]["frames"][0].clone();
    let (ty, value) = ERRORS[group % ERRORS.len()];
    // frames: a framework prelude, then the group's own in-app frames
    let mut list = Vec::with_capacity(frames);
    let framework = frames.saturating_sub(3);
    for i in 0..framework {
        list.push(frame(
            &format!("django.core.handlers.layer{}", i % 5),
            &format!("dispatch_{i}"),
            30 + i as u64,
            false,
            &base_frame,
        ));
    }
    let own = frames - framework;
    for i in 0..own {
        let mut f = frame(
            &format!("shop.views.area{group}"),
            &format!("handle_{group}_{i}"),
            100 + i as u64,
            true,
            &base_frame,
        );
        // locals on the innermost frame only, where the error was raised
        if i + 1 < own {
            f.as_object_mut().expect("a frame").remove("vars");
        }
        list.push(f);
    }
    let exception = &mut obj.get_mut("exception").expect("exception")["values"][0];
    exception["type"] = json!(ty);
    exception["value"] = json!(value);
    exception["stacktrace"]["frames"] = Value::Array(list);
    obj.insert("transaction".into(), json!(format!("/shop/area{group}/")));
    obj.insert("release".into(), json!("shop@2.4.1"));
    obj.insert("environment".into(), json!("production"));
    obj.insert(
        "event_id".into(),
        json!(std::str::from_utf8(PLACEHOLDER).expect("ascii")),
    );
    // trim or pad to the wanted size with breadcrumbs, like a busy request
    let mut text = event.to_string();
    let mut crumb = 0;
    while text.len() < size && crumb < 200 {
        let crumbs = event
            .as_object_mut()
            .expect("an object")
            .entry("breadcrumbs")
            .or_insert_with(|| json!({"values": []}));
        if let Some(values) = crumbs.get_mut("values").and_then(Value::as_array_mut) {
            values.push(json!({
                "category": "query",
                "message": format!("SELECT id, total FROM orders WHERE customer_id = {crumb}"),
                "level": "info",
                "type": "default",
            }));
        }
        crumb += 1;
        text = event.to_string();
    }
    event
}

/// The envelope of group `group` (header with the placeholder id, one event item).
pub fn template(group: usize, frames: usize, size: usize, dsn: &str) -> Template {
    let mut event = event(group, frames, size);
    // the timestamp is the build time: groups are built when a run starts
    event["timestamp"] = json!(chrono::Utc::now().timestamp_millis() as f64 / 1000.0);
    let payload = serde_json::to_vec(&event).expect("serializable");
    let header = json!({
        "event_id": std::str::from_utf8(PLACEHOLDER).expect("ascii"),
        "dsn": dsn,
        "sdk": {"name": "corral.loadgen", "version": env!("CARGO_PKG_VERSION")},
    });
    let mut bytes = serde_json::to_vec(&header).expect("serializable");
    bytes.push(b'\n');
    bytes.extend_from_slice(
        format!("{{\"type\":\"event\",\"length\":{}}}\n", payload.len()).as_bytes(),
    );
    bytes.extend_from_slice(&payload);
    bytes.push(b'\n');
    let offsets = bytes
        .windows(32)
        .enumerate()
        .filter(|(_, w)| *w == PLACEHOLDER)
        .map(|(i, _)| i)
        .collect();
    Template { bytes, offsets }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_real_envelopes_with_the_id_in_place() {
        let t = template(3, 15, 5000, "http://k@127.0.0.1:8000/1");
        assert_eq!(t.offsets.len(), 2, "header and payload carry the id");
        let id = *b"0123456789abcdef0123456789abcdef";
        let bytes = t.render(&id);
        let envelope = corral_protocol::Envelope::parse(bytes.into()).expect("a valid envelope");
        assert_eq!(
            envelope
                .headers
                .event_id
                .map(|u| u.simple().to_string())
                .as_deref(),
            Some("0123456789abcdef0123456789abcdef")
        );
        let event: Value = serde_json::from_slice(&envelope.items[0].payload).unwrap();
        assert_eq!(event["event_id"], "0123456789abcdef0123456789abcdef");
        let frames = event["exception"]["values"][0]["stacktrace"]["frames"]
            .as_array()
            .unwrap();
        assert_eq!(frames.len(), 15);
        let size = envelope.items[0].payload.len();
        assert!((4500..6000).contains(&size), "about 5 KB: {size}");
    }

    #[test]
    fn groups_differ_in_their_in_app_frames() {
        let a = event(1, 15, 5000);
        let b = event(2, 15, 5000);
        let fa = &a["exception"]["values"][0]["stacktrace"]["frames"][14]["function"];
        let fb = &b["exception"]["values"][0]["stacktrace"]["frames"][14]["function"];
        assert_ne!(fa, fb);
    }
}
