//! Whatever an SDK sends, preparing it never panics and stays within bounds.

use chrono::{DateTime, Duration, TimeZone, Utc};
use corral_core::model::EventType;
use corral_core::{GROUPING_CONFIG, MAX_CULPRIT_CHARS, MAX_TITLE_CHARS, prepare};
use corral_protocol::Event;
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Field names the event model knows, so random objects often hit real
/// fields (at any depth) instead of landing in `other`. The legacy aliases
/// (`sentry.interfaces.*`) are left out: the event model refuses an object
/// with both a field and its alias (a duplicate field for serde).
const KEYS: &[&str] = &[
    "event_id",
    "timestamp",
    "start_timestamp",
    "type",
    "platform",
    "level",
    "logger",
    "transaction",
    "server_name",
    "release",
    "dist",
    "environment",
    "culprit",
    "message",
    "logentry",
    "exception",
    "stacktrace",
    "threads",
    "tags",
    "extra",
    "user",
    "request",
    "contexts",
    "breadcrumbs",
    "fingerprint",
    "sdk",
    "csp",
    "values",
    "value",
    "module",
    "mechanism",
    "frames",
    "function",
    "raw_function",
    "filename",
    "abs_path",
    "in_app",
    "lineno",
    "context_line",
    "pre_context",
    "vars",
    "params",
    "formatted",
    "handled",
    "synthetic",
    "id",
    "email",
    "ip_address",
    "username",
    "url",
    "name",
    "version",
    "os",
    "runtime",
    "browser",
    "device",
    "raw_description",
    "model",
    "effective_directive",
    "violated-directive",
    "blocked_uri",
    "crashed",
];

/// Strings that exercise the parsers: format templates, fingerprint
/// variables, placeholders, URLs, ids, odd Unicode.
const TRICKY: &[&str] = &[
    "",
    " ",
    "?",
    "%",
    "%s %d %(name)s %.999999f %*d",
    "{} {0} {name} {{ {",
    "{{ default }}",
    "{{ type }}",
    "{{ tags.x }}",
    "<anonymous>",
    "Object.<anonymous>",
    "lambda$main$0",
    "$$Lambda$12/0x0000000800c02a00",
    "http://127.0.0.1:8080/dist/bundle.3f9a2c1b.js?x#y",
    "C:\\a\\b.cs:12:3",
    "actionpack (6.1.7.7) lib/x.rb",
    "0b8b0c5e-8f5c-4a89-9b6a-2f7d0c1e4a11",
    "2026-11-02T12:00:00Z",
    "::1",
    "transaction",
    "{{auto}}",
    "ValueError: bad",
    "\n\r\u{2028}",
    "日本語",
    "e\u{301}\u{301}\u{301}",
    "\u{0}",
];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "\\PC{0,40}",
        2 => proptest::sample::select(TRICKY).prop_map(str::to_owned),
        1 => ("\\PC{0,3}", 150usize..400).prop_map(|(s, n)| s.repeat(n)),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(KEYS).prop_map(str::to_owned),
        1 => text(),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(Value::from),
        (1_000_000_000f64..2_000_000_000f64).prop_map(Value::from),
        text().prop_map(Value::from),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..8)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A random object with event-ish keys at the top.
fn loose_event() -> impl Strategy<Value = Value> {
    prop::collection::vec((key(), json()), 0..16)
        .prop_map(|pairs| Value::Object(pairs.into_iter().collect()))
}

/// A well-shaped error or message event with random contents, to reach the
/// deep paths (frames, chains, fingerprints) more often.
fn shaped_event() -> impl Strategy<Value = Value> {
    let frame = (
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(any::<bool>()),
        prop::option::of(text()),
    )
        .prop_map(|(function, module, filename, in_app, context_line)| {
            serde_json::json!({
                "function": function, "module": module, "filename": filename,
                "in_app": in_app, "context_line": context_line, "lineno": 7,
            })
        });
    let exception = (
        prop::option::of(text()),
        prop::option::of(text()),
        prop::collection::vec(frame, 0..12),
        prop::option::of(any::<bool>()),
    )
        .prop_map(|(ty, value, frames, synthetic)| {
            serde_json::json!({
                "type": ty, "value": value, "stacktrace": {"frames": frames},
                "mechanism": {"type": "generic", "synthetic": synthetic, "handled": synthetic},
            })
        });
    (
        prop::collection::vec(exception, 0..4),
        prop::option::of((text(), json())),
        prop::option::of(prop::collection::vec(text(), 0..4)),
        prop::option::of(text()),
        prop::option::of(text()),
        proptest::sample::select(&["python", "javascript", "node", "java", "native", "csharp", "x"][..]),
        json(),
    )
        .prop_map(
            |(exceptions, message, fingerprint, transaction, kind, platform, contexts)| {
                serde_json::json!({
                    "platform": platform,
                    "type": kind,
                    "exception": exceptions,
                    "logentry": message.map(|(m, params)| serde_json::json!({"message": m, "params": params})),
                    "fingerprint": fingerprint,
                    "transaction": transaction,
                    "contexts": contexts,
                    "request": {"url": "http://example.com/p"},
                    "user": {"id": 1},
                })
            },
        )
}

fn received_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 12, 0, 0).unwrap()
}

fn check(payload: Value) -> Result<(), TestCaseError> {
    let event: Event = serde_json::from_value(payload)
        .map_err(|e| TestCaseError::fail(format!("an object must always read as an event: {e}")))?;
    let input = prepare(7, GROUPING_CONFIG, event.clone(), received_at());

    prop_assert!(input.title.chars().count() <= MAX_TITLE_CHARS);
    prop_assert!(!input.title.is_empty());
    prop_assert!(input.culprit.chars().count() <= MAX_CULPRIT_CHARS);
    prop_assert!(input.timestamp <= received_at() + Duration::seconds(60));
    prop_assert!(input.timestamp >= received_at() - Duration::days(30));
    for hash in &input.hashes {
        prop_assert_eq!(hash.hash.len(), 32);
        prop_assert!(
            hash.hash
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        );
        prop_assert_eq!(&hash.config, GROUPING_CONFIG);
    }
    if input.event_type == EventType::Transaction {
        prop_assert!(input.hashes.is_empty());
    } else {
        prop_assert!(!input.hashes.is_empty());
    }
    for (key, value) in &input.tags {
        prop_assert!(!key.is_empty() && key.chars().count() <= 200);
        prop_assert!(!value.is_empty() && value.chars().count() <= 200);
    }
    let data: Value = serde_json::from_str(&input.data).expect("data is JSON");
    prop_assert!(data.is_object());

    // the same event prepares the same way (ids aside, which may be random)
    let again = prepare(7, GROUPING_CONFIG, event, received_at());
    prop_assert_eq!(&input.hashes, &again.hashes);
    prop_assert_eq!(&input.title, &again.title);

    // and a stored event, read back and prepared again, keeps its issue
    let stored: Event = serde_json::from_str(&input.data).expect("stored data reads back");
    let reread = prepare(7, GROUPING_CONFIG, stored, received_at());
    prop_assert_eq!(&input.hashes, &reread.hashes);
    prop_assert_eq!(&input.title, &reread.title);
    prop_assert_eq!(&input.culprit, &reread.culprit);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn loose_events_prepare_within_bounds(payload in loose_event()) {
        check(payload)?;
    }

    #[test]
    fn shaped_events_prepare_within_bounds(payload in shaped_event()) {
        check(payload)?;
    }
}
