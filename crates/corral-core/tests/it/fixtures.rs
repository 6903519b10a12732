//! Real SDK payloads against what Sentry computed for them
//! (`tests/fixtures/sentry-events`, from GlitchTip's test data).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use corral_core::model::EventType;
use corral_core::{DigestInput, GROUPING_CONFIG, prepare};
use corral_protocol::Event;
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/sentry-events")
}

fn received_at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 12, 0, 0).unwrap()
}

fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn prepared(payload: &Value) -> DigestInput {
    let event: Event = serde_json::from_value(payload.clone()).expect("an event object");
    prepare(1, GROUPING_CONFIG, event, received_at())
}

/// Fields of an expected file that its own payload cannot produce, with why.
/// `js_error_with_context`: Sentry's answer was computed for the event before
/// its stack trace was cut down to one frame (`polyfills.js`); the expected
/// crash location (`errorWithContext` in `/main.js`) appears nowhere in the
/// payload. The test proves that (so the exemption lapses if the fixture is
/// fixed) and checks what the payload's own frame gives instead.
const UNDERIVABLE: &[(&str, &str, &str)] = &[
    (
        "js_error_with_context",
        "culprit",
        "globalZoneAwareCallback(/polyfills.js)",
    ),
    (
        "js_error_with_context",
        "metadata.filename",
        "/polyfills.js",
    ),
    (
        "js_error_with_context",
        "metadata.function",
        "globalZoneAwareCallback",
    ),
];

fn underivable(name: &str, field: &str) -> Option<&'static str> {
    UNDERIVABLE
        .iter()
        .find(|(n, f, _)| *n == name && *f == field)
        .map(|(_, _, ours)| *ours)
}

/// Compares one field; an exempt field must be truly absent from the payload
/// and ours must be what the payload gives.
fn check(
    failures: &mut Vec<String>,
    name: &str,
    raw_payload: &str,
    field: &str,
    ours: Option<&str>,
    expected: Option<&str>,
) {
    if let Some(derived) = underivable(name, field) {
        let expected = expected.unwrap_or_default();
        if expected.is_empty() || raw_payload.contains(expected) {
            failures.push(format!(
                "{name}: {field} {expected:?} is in the payload now; drop its exemption"
            ));
        } else if ours != Some(derived) {
            failures.push(format!("{name}: {field} = {ours:?}, want {derived:?}"));
        }
        return;
    }
    if ours != expected {
        failures.push(format!("{name}: {field} = {ours:?}, want {expected:?}"));
    }
}

#[test]
fn title_culprit_and_metadata_match_sentry() {
    let dir = fixtures();
    let incoming_dir = dir.join("incoming");
    let mut names: Vec<String> = fs::read_dir(&incoming_dir)
        .unwrap_or_else(|e| panic!("{}: {e}", incoming_dir.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .collect();
    names.sort();
    assert!(
        !names.is_empty(),
        "no fixtures in {}",
        incoming_dir.display()
    );

    let mut failures = Vec::new();
    let mut checked = 0;
    for file in &names {
        let name = file.trim_end_matches(".json");
        let expected_path = dir.join("expected").join(file);
        if !expected_path.exists() {
            failures.push(format!("{name}: no expected/{file}"));
            continue;
        }
        let raw = fs::read_to_string(incoming_dir.join(file)).unwrap();
        let payload: Value = serde_json::from_str(&raw).unwrap();
        let expected = read_json(&expected_path);
        let input = prepared(&payload);

        let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
        let check = |failures: &mut Vec<String>,
                     field: &str,
                     ours: Option<String>,
                     want: Option<String>| {
            check(
                failures,
                name,
                &raw,
                field,
                ours.as_deref(),
                want.as_deref(),
            )
        };
        check(
            &mut failures,
            "type",
            Some(input.event_type.as_str().to_owned()),
            text(&expected, "type"),
        );
        check(
            &mut failures,
            "title",
            Some(input.title.clone()),
            text(&expected, "title"),
        );
        check(
            &mut failures,
            "culprit",
            Some(input.culprit.clone()),
            text(&expected, "culprit"),
        );
        for key in ["type", "value", "filename", "function", "title"] {
            check(
                &mut failures,
                &format!("metadata.{key}"),
                text(&input.metadata, key),
                text(&expected["metadata"], key),
            );
        }
        if input.event_type != EventType::Transaction && input.hashes.is_empty() {
            failures.push(format!("{name}: no grouping hash"));
        }
        checked += 1;
    }

    assert!(failures.is_empty(), "mismatches:\n{}", failures.join("\n"));
    assert_eq!(checked, names.len());
    assert!(checked > 0);
    println!("checked {checked} of {} sentry fixtures", names.len());
}

/// Tags whose expected value its payload cannot produce: the expected
/// `django_message_params` comes from another run of the same program (its
/// server name, also in the request's environment, differs from the payload's).
const UNDERIVABLE_TAGS: &[(&str, &str)] = &[("django_message_params", "server_name")];

/// Tags Corral derives from a payload, compared with the tags Sentry showed.
/// Sentry also parses the User-Agent header into browser/os tags and fills in
/// the client's IP for the `user` tag; neither is in the payload, so those
/// expected tags are left out unless the payload carries the source.
#[test]
fn derived_tags_match_sentry() {
    let dir = fixtures();
    let mut failures = Vec::new();
    let mut compared = 0;
    for entry in fs::read_dir(dir.join("incoming")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let raw = fs::read_to_string(&path).unwrap();
        let payload: Value = serde_json::from_str(&raw).unwrap();
        let expected = read_json(&dir.join("expected").join(path.file_name().unwrap()));
        let ours: BTreeMap<String, String> = prepared(&payload).tags.into_iter().collect();
        let theirs: BTreeMap<String, String> = expected["tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["key"].as_str().unwrap().to_owned(),
                    t["value"].as_str().unwrap().to_owned(),
                )
            })
            .collect();

        let mut derived: Vec<String> = [
            "level",
            "environment",
            "release",
            "dist",
            "server_name",
            "transaction",
            "logger",
            "url",
            "handled",
            "mechanism",
        ]
        .map(str::to_owned)
        .to_vec();
        if let Some(contexts) = payload["contexts"].as_object() {
            for key in contexts.keys() {
                derived.push(key.clone());
                derived.push(format!("{key}.name"));
            }
        }
        let client_ip = theirs.get("user").is_some_and(|u| u.starts_with("ip:"))
            && payload["user"]["ip_address"].is_null();
        if !client_ip {
            derived.push("user".to_owned());
        }

        for key in &derived {
            if UNDERIVABLE_TAGS.contains(&(name.as_str(), key.as_str())) {
                let theirs = theirs.get(key).map_or("", String::as_str);
                if theirs.is_empty() || raw.contains(theirs) {
                    failures.push(format!(
                        "{name}: tag {key} {theirs:?} is in the payload now; drop its exemption"
                    ));
                }
                continue;
            }
            if ours.get(key) != theirs.get(key) {
                failures.push(format!(
                    "{name}: tag {key} = {:?}, Sentry {:?}",
                    ours.get(key),
                    theirs.get(key)
                ));
            }
            compared += 1;
        }
    }
    assert!(failures.is_empty(), "mismatches:\n{}", failures.join("\n"));
    assert!(compared > 0);
}

#[test]
fn transaction_is_named_and_not_grouped() {
    let envelope = read_json(&fixtures().join("transactions/django_simple.json"));
    let items = envelope.as_array().expect("an envelope as a JSON array");
    let payload = items
        .iter()
        .find(|item| item["type"] == "transaction" && item.get("spans").is_some())
        .expect("a transaction payload");
    let input = prepared(payload);
    assert_eq!(input.event_type, EventType::Transaction);
    assert_eq!(input.title, payload["transaction"].as_str().unwrap());
    assert_eq!(input.title, "/");
    assert!(input.hashes.is_empty());
    let data: Value = serde_json::from_str(&input.data).unwrap();
    assert!(data["spans"].as_array().is_some_and(|s| !s.is_empty()));
}

#[test]
fn prepared_data_is_the_normalized_event() {
    let payload = read_json(&fixtures().join("incoming/python_logging.json"));
    let input = prepared(&payload);
    let data: Value = serde_json::from_str(&input.data).unwrap();
    assert_eq!(
        corral_protocol::parse_event_id(data["event_id"].as_str().unwrap()),
        corral_protocol::parse_event_id("d2e68809a8524be4b1a1d314a1f159ec")
    );
    assert_eq!(
        input.event_id.simple().to_string(),
        "d2e68809a8524be4b1a1d314a1f159ec"
    );
    assert_eq!(data["title"], input.title.as_str());
    assert_eq!(data["culprit"], "/logger-warning/");
    assert_eq!(data["type"], "default");
    assert_eq!(data["logentry"]["formatted"], "This is a warning: warning");
    assert_eq!(data["logentry"]["message"], "This is a warning: %s");
    // four years old: outside the window, so the server's clock
    assert_eq!(input.timestamp, received_at());
    assert_eq!(input.environment.as_deref(), Some("production"));
    assert_eq!(input.hashes[0].config, GROUPING_CONFIG);
    assert_eq!(input.hashes[0].hash.len(), 32);
    assert!(
        input.hashes[0]
            .hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    let tags: Vec<(String, String)> = serde_json::from_value(data["tags"].clone()).unwrap();
    assert_eq!(tags, input.tags);
}
