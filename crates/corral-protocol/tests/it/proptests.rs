//! Property tests: the envelope writer and parser agree on arbitrary
//! envelopes, and no parser panics on arbitrary input.

use std::io::Write;

use bytes::Bytes;
use chrono::{TimeZone, Utc};
use corral_protocol::{
    AuthHeaders, Dsn, Envelope, EnvelopeHeaders, Event, Item, ItemType, Timestamp, decode_body,
    parse_security_report, read_json, repair_json, resolve_auth,
};
use proptest::prelude::*;
use serde::Deserialize;
use serde_json::{Map, Value};
use uuid::Uuid;

const KNOWN_TYPES: [&str; 10] = [
    "event",
    "transaction",
    "attachment",
    "session",
    "sessions",
    "client_report",
    "check_in",
    "user_report",
    "feedback",
    "security",
];

/// JSON values without floats (whose text form need not round-trip exactly).
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The value with NUL replaced by U+FFFD in every key and string, and
/// whether there was one.
fn without_nul(value: Value) -> (Value, bool) {
    let clean = |s: String| {
        let had = s.contains('\0');
        (s.replace('\0', "\u{fffd}"), had)
    };
    match value {
        Value::String(s) => {
            let (s, had) = clean(s);
            (Value::String(s), had)
        }
        Value::Array(items) => {
            let mut any = false;
            let items = items
                .into_iter()
                .map(|v| {
                    let (v, had) = without_nul(v);
                    any |= had;
                    v
                })
                .collect();
            (Value::Array(items), any)
        }
        Value::Object(map) => {
            let mut any = false;
            let map = map
                .into_iter()
                .map(|(k, v)| {
                    let (k, had_k) = clean(k);
                    let (v, had_v) = without_nul(v);
                    any |= had_k || had_v;
                    (k, v)
                })
                .collect();
            (Value::Object(map), any)
        }
        other => (other, false),
    }
}

/// Names the event model reads, at the top level and inside its interfaces.
const MODEL_KEYS: [&str; 48] = [
    "event_id",
    "timestamp",
    "level",
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
    "release",
    "platform",
    "environment",
    "transaction",
    "culprit",
    "logger",
    "server_name",
    "dist",
    "sentry.interfaces.Message",
    "sentry.interfaces.Exception",
    "sentry.interfaces.Stacktrace",
    "sentry.interfaces.User",
    "sentry.interfaces.Http",
    "values",
    "type",
    "value",
    "module",
    "mechanism",
    "handled",
    "frames",
    "filename",
    "function",
    "lineno",
    "in_app",
    "abs_path",
    "formatted",
    "params",
    "id",
    "email",
    "url",
    "name",
    "version",
];

fn event_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(MODEL_KEYS.to_vec()).prop_map(str::to_owned),
        1 => "[a-z_]{1,8}",
    ]
}

/// JSON values whose objects use the model's own field names, so that the
/// readers of nested interfaces are exercised too.
fn eventish_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (0.0f64..2e9).prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        Just(Value::from("2024-05-01T12:00:00Z")),
        Just(Value::from("error")),
    ];
    leaf.prop_recursive(4, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((event_key(), inner), 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Extra header fields, avoiding the names the model reads itself.
fn other_fields(reserved: &'static [&'static str]) -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map("[a-z_]{1,10}|.{0,6}", json_value(), 0..4).prop_map(move |m| {
        m.into_iter()
            .filter(|(k, _)| !reserved.contains(&k.as_str()))
            .collect()
    })
}

fn item_type() -> impl Strategy<Value = ItemType> {
    prop_oneof![
        prop::sample::select(KNOWN_TYPES.to_vec()).prop_map(ItemType::from_name),
        ".{0,16}"
            .prop_filter("an unknown name", |n| !KNOWN_TYPES.contains(&n.as_str()))
            .prop_map(ItemType::Unknown),
    ]
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        // mostly line breaks, the parser's delimiters
        prop::collection::vec(
            prop::sample::select(vec![b'\n', b'\r', b'{', b'}', b'a']),
            0..64
        ),
    ]
}

fn item() -> impl Strategy<Value = Item> {
    (
        item_type(),
        payload(),
        prop::option::of(".{0,20}"),
        prop::option::of(".{0,20}"),
        prop::option::of("[a-z.]{0,20}"),
        other_fields(&[
            "type",
            "length",
            "content_type",
            "filename",
            "attachment_type",
        ]),
    )
        .prop_map(
            |(ty, payload, content_type, filename, attachment_type, other)| {
                let mut item = Item::new(ty, payload);
                item.headers.content_type = content_type;
                item.headers.filename = filename;
                item.headers.attachment_type = attachment_type;
                item.headers.other = other;
                item
            },
        )
}

fn envelope_headers() -> impl Strategy<Value = EnvelopeHeaders> {
    (
        prop::option::of(any::<u128>().prop_map(Uuid::from_u128)),
        prop::option::of(".{0,40}"),
        prop::option::of(0i64..253_402_300_799_999_999),
        other_fields(&["event_id", "dsn", "sent_at"]),
    )
        .prop_map(|(event_id, dsn, micros, other)| EnvelopeHeaders {
            event_id,
            dsn,
            sent_at: micros.map(|m| Timestamp(Utc.timestamp_micros(m).unwrap())),
            other,
        })
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn brotli(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        w.write_all(data).unwrap();
    }
    out
}

fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(data, 3).unwrap()
}

proptest! {
    #[test]
    fn envelope_writer_and_parser_agree(
        headers in envelope_headers(),
        items in prop::collection::vec(item(), 0..6),
    ) {
        let mut envelope = Envelope::new(headers);
        for item in items {
            envelope.add_item(item);
        }
        let wire = envelope.to_vec();
        let parsed = Envelope::parse(Bytes::from(wire.clone()));
        prop_assert_eq!(parsed.as_ref(), Ok(&envelope));
        // and writing again gives the same bytes
        prop_assert_eq!(parsed.unwrap().to_vec(), wire);
    }

    #[test]
    fn envelope_parse_never_panics(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = Envelope::parse(Bytes::from(body));
    }

    #[test]
    fn envelope_items_never_panic(
        lines in prop::collection::vec(prop_oneof![
            Just(r#"{"type":"event"}"#.to_owned()),
            (0u64..40).prop_map(|n| format!(r#"{{"type":"attachment","length":{n}}}"#)),
            ".{0,30}",
            Just(String::new()),
        ], 0..12),
        newline_after in prop::collection::vec(any::<bool>(), 12),
    ) {
        let mut body = b"{}\n".to_vec();
        for (line, newline) in lines.iter().zip(newline_after) {
            body.extend_from_slice(line.as_bytes());
            if newline {
                body.push(b'\n');
            }
        }
        if let Ok(envelope) = Envelope::parse(Bytes::from(body)) {
            prop_assert!(envelope.items.len() <= lines.len());
        }
    }

    #[test]
    fn decode_body_never_panics(
        body in prop::collection::vec(any::<u8>(), 0..512),
        encoding in prop::sample::select(vec!["gzip", "deflate", "br", "zstd", "gzip, br", "identity", "x"]),
        limit in 0usize..4096,
    ) {
        if let Ok(out) = decode_body(Some(encoding), &body, limit) {
            prop_assert!(out.len() <= limit);
        }
    }

    /// Valid streams with a few bytes changed reach deeper into the decoders.
    #[test]
    fn damaged_streams_never_panic(
        data in prop::collection::vec(any::<u8>(), 0..2048),
        damage in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        truncate in prop::option::of(any::<prop::sample::Index>()),
    ) {
        for (encoding, mut body) in [
            ("gzip", gzip(&data)),
            ("deflate", zlib(&data)),
            ("br", brotli(&data)),
            ("zstd", zstd(&data)),
        ] {
            for (at, byte) in &damage {
                let i = at.index(body.len());
                body[i] = *byte;
            }
            if let Some(at) = &truncate {
                body.truncate(at.index(body.len()));
            }
            if let Ok(out) = decode_body(Some(encoding), &body, 4096) {
                prop_assert!(out.len() <= 4096);
            }
        }
    }

    #[test]
    fn compressed_bodies_round_trip(data in prop::collection::vec(any::<u8>(), 0..4096)) {
        for (encoding, body) in [
            ("gzip", gzip(&data)),
            ("deflate", zlib(&data)),
            ("br", brotli(&data)),
            ("zstd", zstd(&data)),
        ] {
            prop_assert_eq!(decode_body(Some(encoding), &body, data.len()), Ok(data.clone()));
        }
    }

    #[test]
    fn event_from_json_never_panics(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = Event::from_json(&body);
    }

    /// Objects of the right top-level shape but odd field values are events.
    #[test]
    fn any_json_object_is_an_event(
        fields in prop::collection::btree_map(
            prop_oneof![
                prop::sample::select(vec![
                    "event_id", "timestamp", "level", "message", "logentry", "exception",
                    "stacktrace", "threads", "tags", "extra", "user", "request", "contexts",
                    "breadcrumbs", "fingerprint", "sdk", "release", "platform",
                ]).prop_map(str::to_owned),
                "[a-z_]{1,8}",
            ],
            json_value(),
            0..8,
        )
    ) {
        let object = Value::Object(fields.into_iter().collect());
        let bytes = serde_json::to_vec(&object).unwrap();
        prop_assert!(Event::from_json(&bytes).is_ok());
    }

    /// The one-pass reader and the map-first reader agree on every object,
    /// including repeated keys and fields under their legacy names.
    #[test]
    fn streaming_and_map_readers_agree(
        entries in prop::collection::vec((event_key(), eventish_value()), 0..10)
    ) {
        let mut text = String::from("{");
        for (i, (key, value)) in entries.iter().enumerate() {
            if i > 0 {
                text.push(',');
            }
            text.push_str(&serde_json::to_string(key).unwrap());
            text.push(':');
            text.push_str(&serde_json::to_string(value).unwrap());
        }
        text.push('}');
        let streamed = Event::from_json(text.as_bytes()).unwrap();
        // read as the digest reads JSON (NUL replaced), as `from_json` does
        let mut map: Map<String, Value> = read_json(text.as_bytes()).unwrap();
        for (legacy, current) in [
            ("sentry.interfaces.Message", "logentry"),
            ("sentry.interfaces.Exception", "exception"),
            ("sentry.interfaces.Stacktrace", "stacktrace"),
            ("sentry.interfaces.User", "user"),
            ("sentry.interfaces.Http", "request"),
        ] {
            if map.contains_key(current) {
                map.shift_remove(legacy);
            }
        }
        let mapped = Event::deserialize(Value::Object(map)).unwrap();
        prop_assert_eq!(streamed, mapped);
    }

    /// What serde_json writes is read back as it was, but for NUL, which
    /// becomes U+FFFD in keys and strings alike; only then is it repaired.
    #[test]
    fn written_json_reads_back_with_nul_replaced(value in json_value()) {
        let text = serde_json::to_vec(&value).unwrap();
        let read: Value = read_json(&text).unwrap();
        let (expected, had_nul) = without_nul(value);
        prop_assert_eq!(read, expected);
        prop_assert_eq!(repair_json(&text).is_some(), had_nul);
    }

    #[test]
    fn repair_json_never_panics(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = repair_json(&body);
    }

    /// Repairing never turns text that is not JSON into JSON (ingest embeds
    /// a payload in the job as it came, once the repaired text has read),
    /// nor JSON into something else.
    #[test]
    fn repair_keeps_whether_text_is_json(
        parts in prop::collection::vec(prop::sample::select(vec![
            "{", "}", "[", "]", "\"", ",", ":", "1", "-", "1e400", "\"a\"",
            "\\ud83d", "\\ude00", "\\u0000", "\\\\", "\\n", "x", " ",
        ]), 0..64)
    ) {
        let text = parts.concat();
        let is_json = |t: &[u8]| serde_json::from_slice::<serde::de::IgnoredAny>(t).is_ok();
        if let Some(repaired) = repair_json(text.as_bytes()) {
            prop_assert_eq!(is_json(&repaired), is_json(text.as_bytes()), "{}", text);
        }
    }

    #[test]
    fn dsn_parse_never_panics(text in ".{0,80}") {
        let _ = text.parse::<Dsn>();
    }

    #[test]
    fn dsn_like_text_never_panics(
        text in "(https?|[a-z]{0,5})(://)?[a-z0-9:@\\[\\]/._%-]{0,40}",
    ) {
        if let Ok(dsn) = text.parse::<Dsn>() {
            // whatever parses, formats back to something that parses the same
            prop_assert_eq!(dsn.to_string().parse::<Dsn>(), Ok(dsn));
        }
    }

    #[test]
    fn dsn_round_trip(
        scheme in prop::sample::select(vec!["http", "https"]),
        public_key in "[a-f0-9]{1,32}",
        secret_key in prop::option::of("[a-f0-9]{0,32}"),
        // Labels starting with `xn--` are punycode (IDNA A-labels); most such
        // strings are not valid punycode and are rightly refused as hosts.
        host in "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9-]{0,10}){0,3}"
            .prop_filter("not an IDNA A-label", |h| !h.split('.').any(|l| l.starts_with("xn--"))),
        port in prop::option::of(any::<u16>()),
        path in "(/[a-z0-9_-]{1,8}){0,3}",
        project_id in "[0-9]{1,10}",
    ) {
        let dsn = Dsn {
            scheme: scheme.to_owned(),
            public_key,
            secret_key,
            host,
            port,
            path,
            project_id,
        };
        let text = dsn.to_string();
        prop_assert_eq!(text.parse::<Dsn>(), Ok(dsn.clone()));
        prop_assert!(dsn.envelope_url().starts_with(&dsn.base_url()));
    }

    #[test]
    fn resolve_auth_never_panics(
        x_sentry_auth in prop::option::of(".{0,60}"),
        authorization in prop::option::of("(Sentry |Bearer )?.{0,60}"),
        query in prop::option::of("[?]?(sentry_key=|sentry_version=|&|%|.){0,20}"),
        envelope_dsn in prop::option::of(".{0,60}"),
    ) {
        let headers = AuthHeaders {
            x_sentry_auth: x_sentry_auth.as_deref(),
            authorization: authorization.as_deref(),
            query: query.as_deref(),
            envelope_dsn: envelope_dsn.as_deref(),
        };
        if let Ok(auth) = resolve_auth(&headers) {
            prop_assert!(!auth.public_key.is_empty());
            prop_assert_eq!(auth.public_key.to_ascii_lowercase(), auth.public_key.clone());
        }
    }

    #[test]
    fn parse_security_report_never_panics(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_security_report(&body);
    }

    #[test]
    fn odd_csp_reports_never_panic(
        fields in prop::collection::btree_map(
            prop::sample::select(vec![
                "effective-directive", "violated-directive", "blocked-uri", "document-uri",
                "referrer", "status-code", "line-number", "blockedURL", "documentURL",
                "effectiveDirective", "sample", "other",
            ]).prop_map(str::to_owned),
            prop_oneof![
                json_value(),
                "[a-z-]{0,12}( [a-z:/.'-]{0,16}){0,3}".prop_map(Value::from),
                "(https?|data|blob|xyz)?:?(//)?[a-z.:0-9]{0,16}/?".prop_map(Value::from),
            ],
            0..8,
        ),
        reporting_api in any::<bool>(),
    ) {
        let report = Value::Object(fields.into_iter().collect());
        let body = if reporting_api {
            serde_json::json!([{"type": "csp-violation", "body": report}])
        } else {
            serde_json::json!({"csp-report": report})
        };
        if let Ok(events) = parse_security_report(body.to_string().as_bytes()) {
            prop_assert_eq!(events.len(), 1);
            prop_assert!(events[0].logentry.is_some());
        }
    }
}
