//! Browser security reports (Content Security Policy violations) turned into
//! events, with the message, culprit and tags Sentry derives for them.
//!
//! Browsers send two forms to `/api/{project}/security/`:
//! - the classic `report-uri` body: `{"csp-report": {"blocked-uri": …}}`
//!   with kebab-case keys;
//! - the Reporting API (`report-to`): a JSON list of
//!   `{"type": "csp-violation", "body": {"blockedURL": …}}` with camelCase
//!   keys, possibly mixed with reports of other types (which are skipped).

use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::event::{Event, Headers, Level, LogEntry, Request, Tags, value_to_string};

/// The most CSP reports one body may turn into events; browsers batch a few.
pub const MAX_SECURITY_REPORTS: usize = 100;

/// Why a body is not a usable security report.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecurityReportError {
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    #[error("not a security report (expected {{\"csp-report\": …}} or a list of reports)")]
    NotAReport,
    #[error("unsupported security report type {0:?}")]
    Unsupported(String),
    #[error("CSP report is not an object")]
    InvalidCspReport,
    #[error("CSP report names no directive")]
    MissingDirective,
    #[error("the report list holds no CSP violation")]
    NoCspViolation,
    #[error("too many reports (more than {max})")]
    TooManyReports { max: usize },
}

/// Turns a security report body into one event per CSP violation.
///
/// The events have no `event_id` or `timestamp`: the caller assigns them on
/// receipt, as for any event.
pub fn parse_security_report(body: &[u8]) -> Result<Vec<Event>, SecurityReportError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| SecurityReportError::InvalidJson(e.to_string()))?;
    match value {
        Value::Array(reports) => {
            let mut events = Vec::new();
            for report in reports {
                let Value::Object(report) = report else {
                    continue;
                };
                if report.get("type").and_then(Value::as_str) != Some("csp-violation") {
                    continue;
                }
                if events.len() == MAX_SECURITY_REPORTS {
                    return Err(SecurityReportError::TooManyReports {
                        max: MAX_SECURITY_REPORTS,
                    });
                }
                events.push(reporting_api_event(report)?);
            }
            if events.is_empty() {
                return Err(SecurityReportError::NoCspViolation);
            }
            Ok(events)
        }
        Value::Object(mut map) => {
            if let Some(report) = map.shift_remove("csp-report") {
                return Ok(vec![csp_event(report, None)?]);
            }
            match map.get("type").and_then(Value::as_str) {
                // a single Reporting API report, not in a list
                Some("csp-violation") => Ok(vec![reporting_api_event(map)?]),
                Some(other) => Err(SecurityReportError::Unsupported(other.to_owned())),
                None => match ["expect-ct-report", "expect-staple-report", "known-pins"]
                    .into_iter()
                    .find(|key| map.contains_key(*key))
                {
                    Some(key) => Err(SecurityReportError::Unsupported(
                        key.trim_end_matches("-report").to_owned(),
                    )),
                    None => Err(SecurityReportError::NotAReport),
                },
            }
        }
        _ => Err(SecurityReportError::NotAReport),
    }
}

/// A Reporting API report: the CSP report is its `body`.
fn reporting_api_event(mut report: Map<String, Value>) -> Result<Event, SecurityReportError> {
    let user_agent = report
        .get("user_agent")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let body = report.shift_remove("body").unwrap_or(Value::Null);
    csp_event(body, user_agent)
}

/// The fields of a CSP report, read from any of the spellings browsers use.
#[derive(Debug, Default)]
struct CspReport {
    effective_directive: Option<String>,
    blocked_uri: String,
    document_uri: Option<String>,
    original_policy: Option<String>,
    referrer: Option<String>,
    status_code: Option<u64>,
    violated_directive: String,
    source_file: Option<String>,
    line_number: Option<u64>,
    column_number: Option<u64>,
    script_sample: Option<String>,
    disposition: Option<String>,
    other: Map<String, Value>,
}

impl CspReport {
    fn read(value: Value) -> Result<CspReport, SecurityReportError> {
        let Value::Object(mut map) = value else {
            return Err(SecurityReportError::InvalidCspReport);
        };
        let map = &mut map;
        Ok(CspReport {
            effective_directive: text(
                map,
                &[
                    "effective-directive",
                    "effectiveDirective",
                    "effective_directive",
                ],
            ),
            // browsers leave it out for inline violations
            blocked_uri: text(
                map,
                &["blocked-uri", "blockedURL", "blockedURI", "blocked_uri"],
            )
            .unwrap_or_else(|| "self".to_owned()),
            document_uri: text(
                map,
                &["document-uri", "documentURL", "documentURI", "document_uri"],
            ),
            original_policy: text(
                map,
                &["original-policy", "originalPolicy", "original_policy"],
            ),
            referrer: text(map, &["referrer"]),
            status_code: number(map, &["status-code", "statusCode", "status_code"]),
            violated_directive: text(
                map,
                &[
                    "violated-directive",
                    "violatedDirective",
                    "violated_directive",
                ],
            )
            .unwrap_or_default(),
            source_file: text(map, &["source-file", "sourceFile", "source_file"]),
            line_number: number(map, &["line-number", "lineNumber", "line_number"]),
            column_number: number(map, &["column-number", "columnNumber", "column_number"]),
            script_sample: text(
                map,
                &["script-sample", "sample", "scriptSample", "script_sample"],
            ),
            disposition: text(map, &["disposition"]),
            other: std::mem::take(map),
        })
    }

    /// The directive that was enforced, e.g. `script-src`. Firefox sends no
    /// `effective-directive`; then it is the first word of the violated one.
    fn directive(&self) -> Option<String> {
        let first_word = |s: &str| s.split_whitespace().next().map(str::to_ascii_lowercase);
        self.effective_directive
            .as_deref()
            .and_then(first_word)
            .or_else(|| first_word(&self.violated_directive))
    }

    /// What a user reads, e.g. `Blocked 'script' from 'evil.com'`.
    fn message(&self, directive: &str) -> String {
        let blocked = self.blocked_uri.as_str();
        if matches!(directive, "script-src" | "script-src-elem") {
            match blocked {
                "inline" => return "Blocked unsafe inline 'script'".to_owned(),
                "eval" => return "Blocked unsafe eval() 'script'".to_owned(),
                _ => {}
            }
        }
        let kind = match directive {
            "child-src" => Some("child"),
            "connect-src" => Some("connect"),
            "font-src" => Some("font"),
            "img-src" => Some("image"),
            "manifest-src" => Some("manifest"),
            "media-src" => Some("media"),
            "object-src" => Some("object"),
            "script-src" | "script-src-elem" => Some("script"),
            "style-src" | "style-src-elem" => Some("style"),
            _ => None,
        };
        if is_local(blocked) || blocked == "inline" {
            return match (directive, kind) {
                ("script-src", _) => "Blocked unsafe (eval() or inline) 'script'".to_owned(),
                ("script-src-elem", _) => "Blocked inline 'script' element".to_owned(),
                ("script-src-attr", _) => "Blocked inline script attribute".to_owned(),
                ("style-src-elem", _) => "Blocked inline 'style' element".to_owned(),
                ("style-src-attr", _) => "Blocked inline style attribute".to_owned(),
                (_, Some(kind)) => format!("Blocked inline '{kind}'"),
                (directive, None) => format!("Blocked inline '{directive}'"),
            };
        }
        let uri = normalize_uri(blocked);
        match (directive, kind) {
            ("form-action", _) => format!("Blocked 'form' action to '{uri}'"),
            ("script-src-attr", _) => format!("Blocked inline script attribute from '{uri}'"),
            ("style-src-attr", _) => format!("Blocked style attribute from '{uri}'"),
            (_, Some(kind)) => format!("Blocked '{kind}' from '{uri}'"),
            (directive, None) => format!("Blocked '{directive}' from '{uri}'"),
        }
    }

    /// The violated directive, with sources that are the document's own
    /// origin shown as `'self'` (Firefox spells `'self'` out).
    fn culprit(&self) -> String {
        let mut words = self.violated_directive.split_whitespace();
        let Some(first) = words.next() else {
            return String::new();
        };
        let document_uri = self.document_uri.as_deref().unwrap_or("");
        let document = normalize_uri(document_uri);
        let mut culprit = first.to_owned();
        for word in words {
            let _ = write!(
                culprit,
                " {}",
                normalize_source(word, &document, document_uri)
            );
        }
        culprit
    }

    fn tags(&self, directive: &str) -> Tags {
        let mut tags = Tags::default();
        tags.insert("effective-directive", directive);
        tags.insert("blocked-uri", sanitized_blocked_uri(&self.blocked_uri));
        if let Ok(url) = url::Url::parse(&self.blocked_uri)
            && matches!(url.scheme(), "http" | "https")
            && let Some(host) = url.host_str()
        {
            tags.insert("blocked-host", host);
        }
        tags
    }

    fn into_interface(self, directive: &str) -> Value {
        let mut csp = Map::new();
        let mut put = |key: &str, value: Option<Value>| {
            if let Some(value) = value {
                csp.insert(key.to_owned(), value);
            }
        };
        put("effective_directive", Some(Value::from(directive)));
        put("blocked_uri", Some(Value::from(self.blocked_uri)));
        put("document_uri", self.document_uri.map(Value::from));
        put("original_policy", self.original_policy.map(Value::from));
        put("referrer", self.referrer.map(Value::from));
        put("status_code", self.status_code.map(Value::from));
        put(
            "violated_directive",
            Some(Value::from(self.violated_directive)),
        );
        put("source_file", self.source_file.map(Value::from));
        put("line_number", self.line_number.map(Value::from));
        put("column_number", self.column_number.map(Value::from));
        put("script_sample", self.script_sample.map(Value::from));
        put("disposition", self.disposition.map(Value::from));
        for (k, v) in self.other {
            csp.entry(k).or_insert(v);
        }
        Value::Object(csp)
    }
}

/// Removes every spelling of a field; the first present (non-null) one wins.
fn take(map: &mut Map<String, Value>, names: &[&str]) -> Option<Value> {
    let mut found = None;
    for name in names {
        if let Some(v) = map.shift_remove(*name).filter(|v| !v.is_null()) {
            found = found.or(Some(v));
        }
    }
    found
}

fn text(map: &mut Map<String, Value>, names: &[&str]) -> Option<String> {
    take(map, names).and_then(value_to_string)
}

/// A count sent as a number or as text (`"200"`).
fn number(map: &mut Map<String, Value>, names: &[&str]) -> Option<u64> {
    match take(map, names)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn csp_event(report: Value, user_agent: Option<String>) -> Result<Event, SecurityReportError> {
    let report = CspReport::read(report)?;
    let directive = report
        .directive()
        .ok_or(SecurityReportError::MissingDirective)?;

    let mut headers = Headers::default();
    if let Some(referrer) = report.referrer.as_deref().filter(|r| !r.is_empty()) {
        headers.insert("Referer", referrer);
    }
    if let Some(user_agent) = user_agent.filter(|ua| !ua.is_empty()) {
        headers.insert("User-Agent", user_agent);
    }
    let request = Request {
        url: report.document_uri.clone(),
        headers: (!headers.0.is_empty()).then_some(headers),
        ..Request::default()
    };

    let mut event = Event {
        ty: Some("csp".to_owned()),
        platform: Some("csp".to_owned()),
        level: Some(Level::Error),
        logentry: Some(LogEntry {
            formatted: Some(report.message(&directive)),
            ..LogEntry::default()
        }),
        culprit: Some(report.culprit()),
        tags: Some(report.tags(&directive)),
        request: Some(request),
        ..Event::default()
    };
    event
        .other
        .insert("csp".to_owned(), report.into_interface(&directive));
    Ok(event)
}

fn is_local(uri: &str) -> bool {
    matches!(uri, "" | "self" | "'self'")
}

/// Shortens a URI the way Sentry shows it: the host (and port) for web
/// URLs, `scheme:` or `scheme://host` for others, `'self'` for the page itself.
fn normalize_uri(uri: &str) -> String {
    if is_local(uri) {
        return "'self'".to_owned();
    }
    // often only the scheme is reported: `data`, `blob`
    if !uri.contains(':') {
        return unsplit(uri, "");
    }
    let Ok(url) = url::Url::parse(uri) else {
        return uri.to_owned();
    };
    let host = url.host_str().unwrap_or("");
    let base = match url.scheme() {
        "http" | "https" => host.to_owned(),
        scheme => unsplit(scheme, host),
    };
    match url.port() {
        Some(port) => format!("{base}:{port}"),
        None => base,
    }
}

/// Python's `urlunsplit((scheme, host, "", "", ""))`, which Sentry's
/// messages are made with: `//` only for schemes that have a host.
fn unsplit(scheme: &str, host: &str) -> String {
    const WITH_HOST: &[&str] = &[
        "ftp", "http", "gopher", "nntp", "telnet", "imap", "wais", "file", "mms", "https", "shttp",
        "snews", "prospero", "rtsp", "rtspu", "rsync", "svn", "svn+ssh", "sftp", "nfs", "git",
        "git+ssh", "ws", "wss",
    ];
    if !host.is_empty() || WITH_HOST.contains(&scheme) {
        format!("{scheme}://{host}")
    } else if !scheme.is_empty() {
        format!("{scheme}:")
    } else {
        String::new()
    }
}

/// One source of a directive, as written in the culprit.
fn normalize_source(source: &str, document: &str, document_uri: &str) -> String {
    if matches!(
        source,
        "'none'" | "'self'" | "'unsafe-inline'" | "'unsafe-eval'"
    ) {
        return source.to_owned();
    }
    const SCHEMES: &[&str] = &[
        "data:",
        "mediastream:",
        "blob:",
        "filesystem:",
        "http:",
        "https:",
        "file:",
    ];
    if SCHEMES.iter().any(|s| source.starts_with(s)) {
        return if normalize_uri(source) == document {
            "'self'".to_owned()
        } else {
            source.to_owned()
        };
    }
    if source == document {
        return "'self'".to_owned();
    }
    // no scheme: it is the document's, worth spelling out unless it is the web's
    match document_uri.split_once(':').map(|(scheme, _)| scheme) {
        None | Some("http" | "https") => source.to_owned(),
        Some(scheme) => unsplit(scheme, source),
    }
}

/// Stripe puts card data in query strings; keep it out of tags.
fn sanitized_blocked_uri(uri: &str) -> &str {
    if uri.starts_with("https://api.stripe.com/")
        && let Some(end) = uri.find(['?', '#'])
    {
        return &uri[..end];
    }
    uri
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(report: Value) -> Event {
        let events = parse_security_report(report.to_string().as_bytes()).unwrap();
        assert_eq!(events.len(), 1);
        events.into_iter().next().unwrap()
    }

    fn message(event: &Event) -> &str {
        event
            .logentry
            .as_ref()
            .unwrap()
            .formatted
            .as_deref()
            .unwrap()
    }

    #[test]
    fn mozilla_fixture() {
        let body = include_bytes!("../../../tests/fixtures/sentry-events/csp/mozilla_example.json");
        let events = parse_security_report(body).unwrap();
        assert_eq!(events.len(), 1);
        let e = &events[0];
        assert_eq!(message(e), "Blocked 'style' from 'example.com'");
        assert_eq!(e.culprit.as_deref(), Some("style-src-elem"));
        assert_eq!(e.ty.as_deref(), Some("csp"));
        assert_eq!(e.platform.as_deref(), Some("csp"));
        assert_eq!(e.level, Some(Level::Error));
        let tags = e.tags.as_ref().unwrap();
        assert_eq!(tags.get("effective-directive"), Some("style-src-elem"));
        assert_eq!(
            tags.get("blocked-uri"),
            Some("http://example.com/css/style.css")
        );
        assert_eq!(tags.get("blocked-host"), Some("example.com"));
        let request = e.request.as_ref().unwrap();
        assert_eq!(
            request.url.as_deref(),
            Some("http://example.com/signup.html")
        );
        assert_eq!(request.headers, None, "the referrer is empty");
        let csp = &e.other["csp"];
        assert_eq!(csp["status_code"], 200);
        assert_eq!(csp["disposition"], "report");
        assert_eq!(
            csp["original_policy"],
            "default-src 'none'; style-src cdn.example.com; report-to /_/csp-reports"
        );
        // the event survives the trip through JSON a worker will make
        let again = Event::from_json(&serde_json::to_vec(e).unwrap()).unwrap();
        assert_eq!(&again, e);
    }

    #[test]
    fn classic_report_with_referrer() {
        let e = one(json!({"csp-report": {
            "document-uri": "https://example.com/foo/bar",
            "referrer": "https://www.google.com/",
            "violated-directive": "default-src self",
            "original-policy": "default-src self; report-uri /csp-hotline.php",
            "blocked-uri": "http://evilhackerscripts.com"
        }}));
        assert_eq!(
            message(&e),
            "Blocked 'default-src' from 'evilhackerscripts.com'"
        );
        assert_eq!(e.culprit.as_deref(), Some("default-src self"));
        let headers = e.request.as_ref().unwrap().headers.as_ref().unwrap();
        assert_eq!(headers.get("Referer"), Some("https://www.google.com/"));
        assert_eq!(e.other["csp"]["effective_directive"], "default-src");
    }

    #[test]
    fn reporting_api_list() {
        let body = json!([
            {"type": "deprecation", "body": {"id": "x"}},
            {
                "type": "csp-violation",
                "age": 10,
                "url": "https://example.com/page",
                "user_agent": "Mozilla/5.0",
                "body": {
                    "documentURL": "https://example.com/page",
                    "blockedURL": "https://evil.com/x.js",
                    "effectiveDirective": "script-src-elem",
                    "originalPolicy": "script-src 'self'; report-to csp",
                    "disposition": "enforce",
                    "statusCode": 200,
                    "lineNumber": "12",
                    "sample": ""
                }
            },
            {
                "type": "csp-violation",
                "body": {"documentURL": "https://example.com/", "blockedURL": "inline", "effectiveDirective": "script-src"}
            }
        ]);
        let events = parse_security_report(body.to_string().as_bytes()).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(message(&events[0]), "Blocked 'script' from 'evil.com'");
        assert_eq!(
            events[0].culprit.as_deref(),
            Some(""),
            "no violated directive"
        );
        let headers = events[0]
            .request
            .as_ref()
            .unwrap()
            .headers
            .as_ref()
            .unwrap();
        assert_eq!(headers.get("User-Agent"), Some("Mozilla/5.0"));
        assert_eq!(events[0].other["csp"]["line_number"], 12);
        assert_eq!(events[0].other["csp"]["script_sample"], "");
        assert_eq!(message(&events[1]), "Blocked unsafe inline 'script'");

        let single = json!({"type": "csp-violation", "body": {"blockedURL": "eval", "effectiveDirective": "script-src"}});
        assert_eq!(message(&one(single)), "Blocked unsafe eval() 'script'");
    }

    #[test]
    fn messages_like_sentry() {
        let cases = [
            (
                "img-src",
                "http://google.com/foo",
                "Blocked 'image' from 'google.com'",
            ),
            ("style-src", "", "Blocked inline 'style'"),
            (
                "script-src",
                "",
                "Blocked unsafe (eval() or inline) 'script'",
            ),
            (
                "script-src",
                "self",
                "Blocked unsafe (eval() or inline) 'script'",
            ),
            (
                "script-src",
                "data:text/plain;base64,SGVsbG8=",
                "Blocked 'script' from 'data:'",
            ),
            ("script-src", "data", "Blocked 'script' from 'data:'"),
            (
                "style-src-elem",
                "http://fonts.google.com/foo",
                "Blocked 'style' from 'fonts.google.com'",
            ),
            (
                "script-src-elem",
                "http://cdn.ajaxapis.com/foo",
                "Blocked 'script' from 'cdn.ajaxapis.com'",
            ),
            (
                "style-src",
                "http://notlocalhost:8000/lol.css",
                "Blocked 'style' from 'notlocalhost:8000'",
            ),
            (
                "form-action",
                "https://evil.com/post",
                "Blocked 'form' action to 'evil.com'",
            ),
            (
                "connect-src",
                "wss://socket.example.com/ws",
                "Blocked 'connect' from 'wss://socket.example.com'",
            ),
            (
                "frame-ancestors",
                "https://a.com",
                "Blocked 'frame-ancestors' from 'a.com'",
            ),
            ("frame-src", "", "Blocked inline 'frame-src'"),
            (
                "font-src",
                "xyz://host/",
                "Blocked 'font' from 'xyz://host'",
            ),
        ];
        for (directive, blocked, expected) in cases {
            let e = one(json!({"csp-report": {
                "document-uri": "http://example.com/foo",
                "effective-directive": directive,
                "blocked-uri": blocked,
            }}));
            assert_eq!(message(&e), expected, "{directive} {blocked}");
        }
    }

    #[test]
    fn directive_from_violated_when_effective_is_missing() {
        let e = one(json!({"csp-report": {
            "document-uri": "http://example.com/foo",
            "violated-directive": "img-src https://cdn.example.com",
            "blocked-uri": "https://ads.example.net/pixel.gif",
        }}));
        assert_eq!(message(&e), "Blocked 'image' from 'ads.example.net'");
        assert_eq!(
            e.tags.as_ref().unwrap().get("effective-directive"),
            Some("img-src")
        );
        // neither directive: nothing to say what was blocked
        let err = parse_security_report(br#"{"csp-report": {"blocked-uri": "x"}}"#).unwrap_err();
        assert_eq!(err, SecurityReportError::MissingDirective);
    }

    #[test]
    fn culprits_like_sentry() {
        let cases = [
            (
                "http://example.com/foo",
                "style-src http://cdn.example.com",
                "style-src http://cdn.example.com",
            ),
            (
                "http://example.com/foo",
                "style-src cdn.example.com",
                "style-src cdn.example.com",
            ),
            (
                "http://example.com/foo",
                "style-src http://example.com",
                "style-src 'self'",
            ),
            (
                "http://example.com/foo",
                "style-src http://example2.com example.com",
                "style-src http://example2.com 'self'",
            ),
            (
                "http://example.com/foo",
                "script-src 'self' 'unsafe-inline'",
                "script-src 'self' 'unsafe-inline'",
            ),
            (
                "example.com",
                "style-src example2.com",
                "style-src example2.com",
            ),
            (
                "ftp://example.com/foo",
                "style-src cdn.example.com",
                "style-src ftp://cdn.example.com",
            ),
        ];
        for (document, violated, expected) in cases {
            let e = one(json!({"csp-report": {
                "document-uri": document,
                "violated-directive": violated,
                "effective-directive": "style-src",
            }}));
            assert_eq!(
                e.culprit.as_deref(),
                Some(expected),
                "{document} {violated}"
            );
        }
    }

    #[test]
    fn stripe_query_strings_stay_out_of_tags() {
        let e = one(json!({"csp-report": {
            "document-uri": "https://example.com",
            "blocked-uri": "https://api.stripe.com/v1/tokens?card[number]=xxx",
            "effective-directive": "script-src",
        }}));
        let tags = e.tags.as_ref().unwrap();
        assert_eq!(
            tags.get("blocked-uri"),
            Some("https://api.stripe.com/v1/tokens")
        );
        assert_eq!(tags.get("blocked-host"), Some("api.stripe.com"));
    }

    #[test]
    fn missing_blocked_uri_means_self() {
        let e = one(json!({"csp-report": {
            "document-uri": "http://example.com",
            "effective-directive": "script-src",
        }}));
        assert_eq!(message(&e), "Blocked unsafe (eval() or inline) 'script'");
        let tags = e.tags.as_ref().unwrap();
        assert_eq!(tags.get("blocked-uri"), Some("self"));
        assert_eq!(tags.get("blocked-host"), None);
    }

    #[test]
    fn unknown_fields_are_kept_in_the_interface() {
        let e = one(json!({"csp-report": {
            "effective-directive": "img-src",
            "blocked-uri": "https://x.com/a.png",
            "status-code": "404",
            "custom-field": [1, 2],
        }}));
        assert_eq!(e.other["csp"]["status_code"], 404);
        assert_eq!(e.other["csp"]["custom-field"], json!([1, 2]));
    }

    #[test]
    fn what_is_not_a_csp_report() {
        let cases: &[(&[u8], SecurityReportError)] = &[
            (b"{}", SecurityReportError::NotAReport),
            (b"42", SecurityReportError::NotAReport),
            (
                br#"{"csp-report": "x"}"#,
                SecurityReportError::InvalidCspReport,
            ),
            (
                br#"{"csp-report": null}"#,
                SecurityReportError::InvalidCspReport,
            ),
            (
                br#"{"expect-ct-report": {}}"#,
                SecurityReportError::Unsupported("expect-ct".into()),
            ),
            (
                br#"{"known-pins": []}"#,
                SecurityReportError::Unsupported("known-pins".into()),
            ),
            (
                br#"{"type": "network-error", "body": {}}"#,
                SecurityReportError::Unsupported("network-error".into()),
            ),
            (br#"[]"#, SecurityReportError::NoCspViolation),
            (
                br#"[{"type": "deprecation"}, 7]"#,
                SecurityReportError::NoCspViolation,
            ),
            (
                br#"[{"type": "csp-violation"}]"#,
                SecurityReportError::InvalidCspReport,
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(
                &parse_security_report(body).unwrap_err(),
                expected,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert!(matches!(
            parse_security_report(b"{nope"),
            Err(SecurityReportError::InvalidJson(_))
        ));
    }

    #[test]
    fn too_many_reports() {
        let report = json!({"type": "csp-violation", "body": {"effectiveDirective": "img-src", "blockedURL": "https://x.com/"}});
        let ok = Value::Array(vec![report.clone(); MAX_SECURITY_REPORTS]);
        assert_eq!(
            parse_security_report(ok.to_string().as_bytes())
                .unwrap()
                .len(),
            MAX_SECURITY_REPORTS
        );
        let too_many = Value::Array(vec![report; MAX_SECURITY_REPORTS + 1]);
        assert_eq!(
            parse_security_report(too_many.to_string().as_bytes()).unwrap_err(),
            SecurityReportError::TooManyReports {
                max: MAX_SECURITY_REPORTS
            }
        );
    }

    #[test]
    fn normalize_uri_cases() {
        assert_eq!(normalize_uri(""), "'self'");
        assert_eq!(normalize_uri("self"), "'self'");
        assert_eq!(normalize_uri("data"), "data:");
        assert_eq!(normalize_uri("http"), "http://");
        assert_eq!(normalize_uri("http://notlocalhost/"), "notlocalhost");
        assert_eq!(
            normalize_uri("https://notlocalhost/lol.css"),
            "notlocalhost"
        );
        assert_eq!(normalize_uri("data://notlocalhost/"), "data://notlocalhost");
        assert_eq!(
            normalize_uri("http://notlocalhost:8000/"),
            "notlocalhost:8000"
        );
        assert_eq!(normalize_uri("xyz://notlocalhost/"), "xyz://notlocalhost");
        assert_eq!(normalize_uri("::not a url"), "::not a url");
    }
}
