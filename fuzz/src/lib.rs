//! The checks the fuzz targets run, one function per target, each taking the
//! raw fuzzer input. No input may panic; where a cheap invariant exists it is
//! asserted (a round trip, a limit, two readers agreeing).
//!
//! The functions live here rather than in `fuzz_targets/` so that
//! corral-protocol's `tests/it/fuzz_corpus.rs` can compile them too and replay
//! the committed corpus and regressions in every test run, without libFuzzer.

use std::io::Write;

use bytes::Bytes;
use corral_protocol::{
    AuthHeaders, DecodeError, Dsn, Envelope, EnvelopeHeaders, Event, ItemType, MAX_ENVELOPE_ITEMS,
    MAX_SECURITY_REPORTS, decode_body, decode_body_with, decode_prefix, parse_security_report,
    resolve_auth,
};
use serde_json::{Map, Value};

/// `Envelope::parse`: an envelope that parses is written and read back to the
/// same envelope (with every `length` explicit), and its header line alone
/// reads as the same headers.
pub fn envelope(data: &[u8]) {
    let first_line = data.split(|b| *b == b'\n').next().unwrap_or(data);
    let line_headers = EnvelopeHeaders::parse_line(first_line);
    let input = Bytes::copy_from_slice(data);
    let Ok(env) = Envelope::parse(input.clone()) else {
        return;
    };
    assert_eq!(line_headers.as_ref(), Ok(&env.headers), "header line alone");
    assert!(env.items.len() <= MAX_ENVELOPE_ITEMS);
    let range = input.as_ptr_range();
    for item in &env.items {
        // payloads are slices of the body, never copies
        let p = item.payload.as_ptr_range();
        assert!(item.payload.is_empty() || (range.start <= p.start && p.end <= range.end));
        if matches!(item.ty(), ItemType::Event | ItemType::Transaction) {
            event(&item.payload);
        }
    }

    let written = env.to_vec();
    let again = Envelope::parse(Bytes::from(written.clone()))
        .unwrap_or_else(|e| panic!("the writer's output does not parse: {e}"));
    let mut expected = env;
    for item in &mut expected.items {
        item.headers.length = Some(item.payload.len() as u64);
    }
    assert_eq!(again, expected, "envelope changed by a write and read");
    assert_eq!(again.to_vec(), written, "writing is not stable");
}

/// The lenient event reader: every JSON object is an event, and an event
/// written and read back is the same event (the worker reads what ingest
/// wrote).
pub fn event(data: &[u8]) {
    let is_object = serde_json::from_slice::<Map<String, Value>>(data).is_ok();
    let event = match Event::from_json(data) {
        Ok(event) => event,
        Err(e) => {
            assert!(!is_object, "a JSON object that is not an event: {e}");
            return;
        }
    };
    // the one-pass reader alone may refuse repeated keys, but never panics
    let _ = serde_json::from_slice::<Event>(data);
    let _ = event.message_text();
    let _ = event.exceptions();
    round_trip_event(&event);
}

fn round_trip_event(event: &Event) {
    let json = serde_json::to_vec(event).expect("an event is written");
    let again = Event::from_json(&json)
        .unwrap_or_else(|e| panic!("a written event does not read back: {e}"));
    assert_eq!(&again, event, "event changed by a write and read");
}

/// Auth header and DSN parsers. The input is lines: a DSN (also used as the
/// envelope header `dsn`), then `X-Sentry-Auth`, `Authorization` and the
/// query string; an empty or missing line is an absent source.
pub fn auth(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let mut next = || lines.next().filter(|l| !l.is_empty());
    let dsn_text = next();
    let headers = AuthHeaders {
        envelope_dsn: dsn_text,
        x_sentry_auth: next(),
        authorization: next(),
        query: next(),
    };
    if let Some(text) = dsn_text {
        dsn(text);
    }

    let combined = resolve_auth(&headers);
    if let Ok(found) = &combined {
        let key = &found.public_key;
        assert!(!key.is_empty() && key.len() <= 128, "key {key:?}");
        assert!(
            key.bytes()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.')),
            "key {key:?}"
        );
    }
    // Each source alone: the combination succeeds exactly when every source
    // alone succeeds or names no key, at least one names a key, and all the
    // keys named agree.
    let alone = [
        AuthHeaders {
            envelope_dsn: headers.envelope_dsn,
            ..AuthHeaders::default()
        },
        AuthHeaders {
            x_sentry_auth: headers.x_sentry_auth,
            ..AuthHeaders::default()
        },
        AuthHeaders {
            authorization: headers.authorization,
            ..AuthHeaders::default()
        },
        AuthHeaders {
            query: headers.query,
            ..AuthHeaders::default()
        },
    ]
    .map(|h| resolve_auth(&h));
    let mut keys = Vec::new();
    let mut failed = false;
    for result in &alone {
        match result {
            Ok(found) => keys.push(&found.public_key),
            Err(corral_protocol::AuthError::Missing) => {}
            Err(_) => failed = true,
        }
    }
    let agree = keys.windows(2).all(|w| w[0] == w[1]);
    match &combined {
        Ok(found) => {
            assert!(!failed && agree, "combined {combined:?}, alone {alone:?}");
            assert_eq!(keys.first().copied(), Some(&found.public_key));
        }
        Err(e) => assert!(
            failed || !agree || keys.is_empty(),
            "combined fails ({e}) though every source alone agrees: {alone:?}"
        ),
    }
}

/// A DSN that parses is printed back to the text that parses to it, and
/// gives endpoint URLs that are URLs.
fn dsn(text: &str) {
    let Ok(dsn) = text.parse::<Dsn>() else {
        return;
    };
    let printed = dsn.to_string();
    let again: Dsn = printed
        .parse()
        .unwrap_or_else(|e| panic!("{printed:?} (printed from {text:?}) does not parse: {e}"));
    assert_eq!(again, dsn, "DSN changed by printing and parsing");
    assert_eq!(again.to_string(), printed);
    // the text as written, but for the scheme's case and a port's leading
    // zeros (the port is a number)
    if let Some((scheme, rest)) = text.trim().split_once("://") {
        let written = format!("{}://{rest}", scheme.to_ascii_lowercase());
        assert!(
            printed == written || (dsn.port.is_some() && written.contains(":0")),
            "{printed:?} printed from {text:?}"
        );
    }
    for endpoint in [dsn.envelope_url(), dsn.store_url()] {
        let url = url::Url::parse(&endpoint)
            .unwrap_or_else(|e| panic!("endpoint {endpoint:?} of {text:?} is no URL: {e}"));
        assert_eq!(url.scheme(), dsn.scheme);
    }
}

/// The `Content-Encoding` values the decode target chooses from: the low four
/// bits of the first byte pick one.
const ENCODINGS: [&str; 16] = [
    "gzip",
    "deflate",
    "br",
    "zstd",
    "x-gzip",
    "",
    "identity",
    "UTF-8",
    "gzip, br",
    "br,zstd",
    "deflate, gzip",
    "zstd, zstd",
    "GZIP",
    "Br",
    "compress",
    "gzip,",
];

/// Body decoding. The input is `[selector, limit / 64, cut, body…]`: with
/// the selector's high bit clear, `body` is decoded as it is; set, `body` is
/// plain text that is first compressed with one of the codings, and must
/// decode back to itself. The output limit is small (at most ~16 KiB) so each
/// run is fast.
pub fn decode(data: &[u8]) {
    let [selector, limit, cut, body @ ..] = data else {
        return;
    };
    let limit = usize::from(*limit) * 64;
    // where a body still arriving is cut: a fraction of its length
    let cut = body.len() * usize::from(*cut) / 255;
    if selector & 0x80 == 0 {
        let encoding = ENCODINGS[usize::from(selector & 0x0f)];
        decode_any(encoding, body, limit, cut);
    } else {
        decode_compressed(*selector, body, limit, cut);
    }
}

fn decode_any(encoding: &str, body: &[u8], limit: usize, cut: usize) {
    let full = decode_body(Some(encoding), body, limit);
    if let Ok(out) = &full {
        assert!(out.len() <= limit, "{} bytes out, limit {limit}", out.len());
    }

    // With a memory budget of half the limit: the same answer, or refused
    // for want of memory; and never more granted than the budget holds.
    let budget = limit / 2;
    let mut granted = 0usize;
    let mut reserve = |n: usize| {
        if granted + n > budget {
            return false;
        }
        granted += n;
        true
    };
    match decode_body_with(Some(encoding), body, limit, &mut reserve) {
        Err(DecodeError::OverBudget) => {}
        budgeted => assert_eq!(budgeted, full, "budgeted decoding differs"),
    }
    assert!(granted <= budget);

    // What ingest reads before the key is known: a prefix of the body gives
    // a prefix of the output.
    for (input, max) in [(body, limit), (&body[..cut], limit), (body, limit / 3)] {
        let Ok(prefix) = decode_prefix(Some(encoding), input, max) else {
            continue;
        };
        assert!(
            prefix.len() <= max,
            "{} bytes of prefix, max {max}",
            prefix.len()
        );
        if let Ok(out) = &full {
            assert!(
                out.starts_with(&prefix),
                "decode_prefix of {} of {} bytes is not a prefix of the body ({encoding:?})",
                input.len(),
                body.len()
            );
        }
    }
}

fn decode_compressed(selector: u8, text: &[u8], limit: usize, cut: usize) {
    // the limit holds for every stage's output, the last one's and any before
    let mut largest = text.len();
    let (encoding, compressed) = match selector % 6 {
        0 => ("gzip", gzip(text)),
        1 => ("deflate", zlib(text)),
        2 => ("deflate", raw_deflate(text)),
        3 => ("br", brotli(text)),
        4 => ("zstd", zstd(text)),
        _ => {
            let inner = gzip(text);
            largest = largest.max(inner.len());
            ("gzip, br", brotli(&inner))
        }
    };
    let decoded = decode_body(Some(encoding), &compressed, limit);
    if largest <= limit {
        assert_eq!(decoded.as_deref(), Ok(text), "{encoding} round trip");
    } else {
        assert_eq!(decoded, Err(DecodeError::TooLarge { limit }), "{encoding}");
    }
    // the start of a valid stream, still arriving, is not an error
    for input in [&compressed[..], &compressed[..cut.min(compressed.len())]] {
        match decode_prefix(Some(encoding), input, limit) {
            Ok(prefix) => {
                assert!(prefix.len() <= limit);
                assert!(
                    text.starts_with(&prefix),
                    "{encoding} prefix is not the text's"
                );
            }
            Err(e) => panic!(
                "{encoding}: {} of {} bytes of a valid stream: {e}",
                input.len(),
                compressed.len()
            ),
        }
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("in memory");
    e.finish().expect("in memory")
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("in memory");
    e.finish().expect("in memory")
}

fn raw_deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("in memory");
    e.finish().expect("in memory")
}

fn brotli(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 1, 16);
        w.write_all(data).expect("in memory");
    }
    out
}

fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::bulk::compress(data, 1).expect("in memory")
}

/// `parse_security_report`: one to `MAX_SECURITY_REPORTS` events, each with
/// a message, a culprit and its directive tag, that survive being stored as
/// JSON and read back.
pub fn security_report(data: &[u8]) {
    let Ok(events) = parse_security_report(data) else {
        return;
    };
    assert!(!events.is_empty() && events.len() <= MAX_SECURITY_REPORTS);
    for event in &events {
        let message = event.logentry.as_ref().and_then(|l| l.formatted.as_deref());
        assert!(message.is_some_and(|m| !m.is_empty()), "no message");
        assert!(event.culprit.is_some(), "no culprit");
        let directive = event
            .tags
            .as_ref()
            .and_then(|t| t.get("effective-directive"));
        assert!(directive.is_some_and(|d| !d.is_empty()), "no directive");
        round_trip_event(event);
    }
}
