//! Writes the seed inputs of every fuzz target into `fuzz/corpus/<target>/`,
//! from the real SDK payloads in `tests/fixtures/sentry-events/` and a few
//! hand-written forms the fixtures lack:
//!
//!     cargo run --manifest-path fuzz/Cargo.toml --example seed_corpus
//!
//! Seeds are named `seed-…`; what the fuzzer adds is named by content hash.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

fn main() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fixtures = fuzz.join("../tests/fixtures/sentry-events");
    let corpus = fuzz.join("corpus");

    let events = read_dir(&fixtures.join("incoming"))
        .into_iter()
        .chain(
            read_dir(&fixtures.join("transactions"))
                .into_iter()
                .map(|(name, json)| {
                    // the transaction fixture is an envelope; its payload is the event
                    let parts: Vec<Value> = serde_json::from_slice(&json).expect("a JSON array");
                    (name, serde_json::to_vec(&parts[2]).expect("JSON"))
                }),
        )
        .map(|(name, json)| (name, compact(&json)))
        .collect::<Vec<_>>();

    // envelope: the fixture envelopes in wire form, and each event wrapped
    // with and without item lengths, with an attachment after it
    let dir = target_dir(&corpus, "envelope");
    for (name, json) in read_dir(&fixtures.join("envelopes"))
        .into_iter()
        .chain(read_dir(&fixtures.join("transactions")))
    {
        let parts: Vec<Value> = serde_json::from_slice(&json).expect("a JSON array");
        let lines: Vec<String> = parts.iter().map(Value::to_string).collect();
        write(&dir, &name, lines.join("\n").as_bytes());
    }
    for (name, event) in events.iter().filter(|(_, e)| e.len() <= 8 * 1024) {
        let header = br#"{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","dsn":"https://e12d836b15bb49d7bbf99e64295d995b@o1.ingest.example.com/42","sent_at":"2024-02-27T14:26:53.408Z"}"#;
        let mut with_length = header.to_vec();
        with_length.extend_from_slice(
            format!("\n{{\"type\":\"event\",\"length\":{}}}\n", event.len()).as_bytes(),
        );
        with_length.extend_from_slice(event);
        with_length.extend_from_slice(b"\n{\"type\":\"attachment\",\"length\":7,\"filename\":\"a.txt\",\"content_type\":\"text/plain\",\"attachment_type\":\"event.attachment\"}\nhello\r\n\n");
        write(&dir, &format!("{name}-length"), &with_length);
        let mut without = header.to_vec();
        without.extend_from_slice(b"\n{\"type\":\"event\"}\n");
        without.extend_from_slice(event);
        without.extend_from_slice(b"\n{\"type\":\"client_report\"}\n{\"discarded_events\":[{\"reason\":\"queue_overflow\",\"category\":\"error\",\"quantity\":1}]}\n");
        write(&dir, &format!("{name}-no-length"), &without);
    }
    write(
        &dir,
        "sessions",
        b"{\"sent_at\":1709044013.408}\n{\"type\":\"session\",\"length\":0}\n\n{\"type\":\"sessions\"}\n{\"aggregates\":[{\"started\":\"2024-02-27T14:00:00Z\",\"exited\":3}],\"attrs\":{\"release\":\"a@1\"}}\n{\"type\":\"profile_chunk\",\"length\":3}\nabc\n",
    );

    // event: the fixture events as sent, and forms old SDKs use
    let dir = target_dir(&corpus, "event");
    for (name, event) in &events {
        write(&dir, name, event);
    }
    write(
        &dir,
        "legacy-and-repeated",
        br#"{"release":"a","level":"error","release":2,"level":40,"timestamp":"2020-05-02 16:34:20.488","sentry.interfaces.Exception":{"type":"Old","value":7},"sentry.interfaces.User":{"id":"7"},"sentry.interfaces.Message":{"message":"x %s","params":["y"]},"tags":[["a","1"],{"key":"b","value":2}],"fingerprint":"{{ default }}"}"#,
    );
    write(
        &dir,
        "wrong-shapes",
        br#"{"event_id":"DD9E1AFB-828A-44D5-B4DF-0183ADAEE5D8","level":12345,"timestamp":{"not":"a time"},"tags":"nope","user":"bob","exception":{"values":[{"type":"E","value":{"code":7},"stacktrace":{"frames":[1,{"function":"f","lineno":"12","in_app":"yes","vars":{"a":[1]}}]}}]},"breadcrumbs":[{"timestamp":1588437260.488,"message":1}],"spans":[{"op":"db"}]}"#,
    );

    // auth: lines of DSN, X-Sentry-Auth, Authorization and query string
    let dir = target_dir(&corpus, "auth");
    let key = "e12d836b15bb49d7bbf99e64295d995b";
    for (name, text) in [
        (
            "all-four",
            format!(
                "https://{key}@o1.ingest.example.com/42\nSentry sentry_key={key}, sentry_version=7, sentry_client=sentry.python/1.32.0\nSentry sentry_key={}\n?sentry_key={key}&sentry_version=7",
                key.to_uppercase()
            ),
        ),
        (
            "x-sentry-auth",
            format!("\nsentry_version=7,sentry_key= \"{key}\" ,sentry_secret=x"),
        ),
        (
            "query",
            format!("\n\nBearer abc\nsentry_key={key}&key={key}"),
        ),
        (
            "dsn-secret-port-path",
            format!("HTTP://{key}:s3cr3t@[::1]:9000/sentry/prefix/7\n\n\nfoo=bar"),
        ),
        (
            "mismatch",
            format!("https://{key}@h/1\nSentry sentry_key=abc"),
        ),
        ("dsn-ipv4", "https://k.e-y_@127.0.0.1:0/p-1".to_owned()),
    ] {
        write(&dir, name, text.as_bytes());
    }

    // decode: [selector, limit / 64, cut, body]; selectors below 0x80 decode
    // the body as sent in one of the codings (fuzz/src/lib.rs, ENCODINGS),
    // those above compress it first
    let dir = target_dir(&corpus, "decode");
    let small: Vec<&(String, Vec<u8>)> = events.iter().filter(|(_, e)| e.len() <= 3000).collect();
    for (i, (name, event)) in small.iter().enumerate() {
        let limit = if i % 3 == 0 { 16 } else { 255 }; // 1 KiB: some over the limit
        let cut = (i * 37 % 256) as u8;
        for (selector, coding, body) in [
            (0u8, "gzip", gzip(event)),
            (1, "zlib", zlib(event)),
            (1, "deflate", raw_deflate(event)),
            (2, "br", brotli(event)),
            (3, "zstd", zstd(event)),
            (8, "gzip-br", brotli(&gzip(event))),
            (9, "br-zstd", zstd(&brotli(event))),
            (6, "identity", event.to_vec()),
        ] {
            let mut input = vec![selector, limit, cut];
            input.extend_from_slice(&body);
            write(&dir, &format!("{name}-{coding}"), &input);
        }
        let mut plain = vec![0x80 + (i % 6) as u8, limit, cut];
        plain.extend_from_slice(event);
        write(&dir, &format!("{name}-compress"), &plain);
    }
    // a bomb: 1 MiB of zeros in a few KiB, against a 16 KiB limit
    let zeros = vec![0u8; 1 << 20];
    for (selector, coding, body) in [(0u8, "gzip", gzip(&zeros)), (3, "zstd", zstd(&zeros))] {
        let mut input = vec![selector, 255, 128];
        input.extend_from_slice(&body);
        write(&dir, &format!("bomb-{coding}"), &input);
    }

    // security_report: the fixture, and the other forms browsers send
    let dir = target_dir(&corpus, "security_report");
    for (name, json) in read_dir(&fixtures.join("csp")) {
        write(&dir, &name, &json);
    }
    for (name, text) in [
        (
            "reporting-api-list",
            r#"[{"type":"deprecation","body":{"id":"x"}},{"type":"csp-violation","age":10,"url":"https://example.com/page","user_agent":"Mozilla/5.0","body":{"documentURL":"https://example.com/page","blockedURL":"https://evil.com:8443/x.js?a=1","effectiveDirective":"script-src-elem","originalPolicy":"script-src 'self'; report-to csp","disposition":"enforce","statusCode":200,"lineNumber":"12","sample":""}},{"type":"csp-violation","body":{"documentURL":"https://example.com/","blockedURL":"inline","effectiveDirective":"script-src"}}]"#,
        ),
        (
            "reporting-api-single",
            r#"{"type":"csp-violation","body":{"blockedURL":"eval","effectiveDirective":"script-src"}}"#,
        ),
        (
            "firefox",
            r#"{"csp-report":{"blocked-uri":"self","document-uri":"moz-extension://abc/page.html","original-policy":"default-src 'self'","referrer":"https://a.example/","violated-directive":"style-src-attr moz-extension://abc data: blob: 'self' example.com https://example.com:443","source-file":"moz-extension://abc/x.js","line-number":3,"column-number":"9","script-sample":"color: red"}}"#,
        ),
        (
            "stripe",
            r#"{"csp-report":{"blocked-uri":"https://api.stripe.com/v1/tokens?card[number]=4242#x","document-uri":"https://shop.example/pay","effective-directive":"connect-src","violated-directive":"connect-src 'self'","status-code":"0"}}"#,
        ),
        (
            "data-scheme",
            r#"{"csp-report":{"blocked-uri":"data","effective-directive":"img-src","violated-directive":"img-src 'none'","document-uri":"about:blank"}}"#,
        ),
        ("other-types", r#"{"expect-ct-report":{}}"#),
    ] {
        write(&dir, name, text.as_bytes());
    }
}

fn target_dir(corpus: &Path, target: &str) -> PathBuf {
    let dir = corpus.join(target);
    fs::create_dir_all(&dir).expect("corpus directory");
    dir
}

/// `(file stem, contents)` of the JSON files in `dir`, sorted by name.
fn read_dir(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let stem = p
                .file_stem()
                .expect("a name")
                .to_string_lossy()
                .into_owned();
            (stem, fs::read(&p).expect("readable"))
        })
        .collect();
    files.sort();
    files
}

/// JSON without the fixtures' indentation, as SDKs send it.
fn compact(json: &[u8]) -> Vec<u8> {
    let value: Value = serde_json::from_slice(json).expect("JSON");
    serde_json::to_vec(&value).expect("JSON")
}

fn write(dir: &Path, name: &str, data: &[u8]) {
    fs::write(dir.join(format!("seed-{name}")), data).expect("writable corpus");
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("in memory");
    e.finish().expect("in memory")
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("in memory");
    e.finish().expect("in memory")
}

fn raw_deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).expect("in memory");
    e.finish().expect("in memory")
}

fn brotli(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        w.write_all(data).expect("in memory");
    }
    out
}

fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::bulk::compress(data, 3).expect("in memory")
}
