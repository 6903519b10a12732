//! Cleaning an event the way Sentry's ingestion (Relay) does before anything
//! is derived from it: defaults filled in, shapes unified, strings bounded and
//! the tags Sentry derives from the event added.
//!
//! Normalization never fails: whatever an SDK sent, the event that comes out
//! has a level, a platform, a timestamp near the server's clock and bounded
//! strings, so the steps after it (summary, grouping, storage) can rely on that.

mod format;
mod tags;

use chrono::{DateTime, Duration, Utc};
use corral_protocol::{
    Breadcrumb, Event, Exception, Frame, Level, LogEntry, Stacktrace, Timestamp, User, Values,
    value_to_string,
};
use serde_json::Value;

pub(crate) use format::format_message;

/// Longest accepted string per field, in characters (Relay's limits).
pub mod limits {
    pub const MESSAGE: usize = 8192;
    pub const CULPRIT: usize = 200;
    pub const TRANSACTION: usize = 200;
    pub const RELEASE: usize = 200;
    pub const DIST: usize = 64;
    pub const ENVIRONMENT: usize = 64;
    pub const LOGGER: usize = 64;
    pub const SERVER_NAME: usize = 200;
    pub const EXCEPTION_TYPE: usize = 256;
    pub const EXCEPTION_VALUE: usize = 8192;
    /// Function, module, package and symbol names.
    pub const SYMBOL: usize = 256;
    /// File names and paths.
    pub const PATH: usize = 256;
    /// A line of source context.
    pub const CONTEXT_LINE: usize = 512;
    /// A string inside a frame's local variables.
    pub const VAR_VALUE: usize = 512;
    /// How deep local variables are kept; deeper values become their JSON text.
    pub const VAR_DEPTH: usize = 5;
    pub const TAG_KEY: usize = 200;
    pub const TAG_VALUE: usize = 200;
    /// The most recent breadcrumbs kept.
    pub const BREADCRUMBS: usize = 100;
    pub const USER_FIELD: usize = 128;
    pub const URL: usize = 2048;
}

/// How far in the future an event's timestamp may be before the server's clock
/// is trusted instead.
const MAX_FUTURE_SECS: i64 = 60;
/// How old an event's timestamp may be before the server's clock is trusted
/// instead.
const MAX_AGE_DAYS: i64 = 30;

/// The platforms Sentry knows (and `csp`, which ingest gives browser
/// security reports); anything else is stored as `other`.
const VALID_PLATFORMS: &[&str] = &[
    "as3",
    "c",
    "cfml",
    "cocoa",
    "csharp",
    "csp",
    "elixir",
    "haskell",
    "go",
    "groovy",
    "java",
    "javascript",
    "native",
    "node",
    "objc",
    "other",
    "perl",
    "php",
    "python",
    "ruby",
];

/// Cleans an event in place the way Sentry's normalization does: level
/// (default "error"), platform (default "other"), timestamp (missing, more
/// than 60 s in the future or older than 30 days → `received_at`), a `message`
/// given as an object or string moved into `logentry` when logentry is absent,
/// tags trimmed and bounded (empty dropped, first of duplicates wins), long
/// strings truncated on char boundaries, frames with Relay's file-name rules
/// (in_app kept as sent), and Sentry's derived tags added when absent: level,
/// environment, release, dist, server_name, transaction, logger, url,
/// handled/mechanism, the `os`/`runtime`/`browser`/`device` contexts, user.
pub fn normalize(event: &mut Event, received_at: DateTime<Utc>) {
    let is_transaction = event.ty.as_deref() == Some("transaction");

    event.level = Some(event.level.unwrap_or(if is_transaction {
        Level::Info
    } else {
        Level::Error
    }));
    event.platform = Some(normalize_platform(event.platform.as_deref()));
    event.timestamp = Some(Timestamp(clamp_timestamp(
        event.timestamp.map(|t| t.0),
        received_at,
    )));

    trim_field(&mut event.transaction, limits::TRANSACTION);
    trim_field(&mut event.release, limits::RELEASE);
    trim_field(&mut event.dist, limits::DIST);
    trim_field(&mut event.environment, limits::ENVIRONMENT);
    trim_field(&mut event.logger, limits::LOGGER);
    trim_field(&mut event.server_name, limits::SERVER_NAME);
    trim_field(&mut event.culprit, limits::CULPRIT);

    normalize_message(event);

    if let Some(exceptions) = &mut event.exception {
        for exception in &mut exceptions.values {
            normalize_exception(exception);
        }
        exceptions
            .values
            .retain(|e| e.ty.is_some() || e.value.is_some());
        if exceptions.values.is_empty() {
            event.exception = None;
        }
    }
    if let Some(stacktrace) = &mut event.stacktrace {
        normalize_stacktrace(stacktrace);
    }
    if let Some(threads) = &mut event.threads {
        for thread in &mut threads.values {
            if let Some(stacktrace) = &mut thread.stacktrace {
                normalize_stacktrace(stacktrace);
            }
        }
    }
    if let Some(breadcrumbs) = &mut event.breadcrumbs {
        normalize_breadcrumbs(breadcrumbs);
    }
    if let Some(user) = &mut event.user {
        normalize_user(user);
    }
    if let Some(request) = &mut event.request {
        trim_field(&mut request.url, limits::URL);
    }
    if let Some(fingerprint) = &mut event.fingerprint {
        fingerprint.retain(|part| !part.trim().is_empty());
        if fingerprint.is_empty() {
            event.fingerprint = None;
        }
    }

    tags::normalize_tags(event);
}

/// Cuts `s` to at most `max` characters, ending with `...` when cut (as
/// Sentry's `truncatechars` and Relay's trimming do). Never splits a character.
pub(crate) fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some(_) => {
            let keep = max.saturating_sub(3);
            let end = s.char_indices().nth(keep).map_or(s.len(), |(i, _)| i);
            let mut out = String::with_capacity(end + 3);
            out.push_str(&s[..end]);
            out.push_str(&"..."[..max.min(3)]);
            out
        }
    }
}

/// Truncates a string in place; see [`truncate_chars`].
pub(crate) fn truncate_in_place(s: &mut String, max: usize) {
    if s.len() > max && s.chars().nth(max).is_some() {
        *s = truncate_chars(s, max);
    }
}

/// Trims whitespace, drops an empty value and bounds the rest.
fn trim_field(field: &mut Option<String>, max: usize) {
    if let Some(value) = field.take() {
        let trimmed = value.trim();
        if !trimmed.is_empty() {
            *field = Some(truncate_chars(trimmed, max));
        }
    }
}

/// Bounds a value without trimming whitespace (which may be meaningful, e.g.
/// indentation in a source line); an empty string becomes `None`.
fn bound_field(field: &mut Option<String>, max: usize) {
    if let Some(value) = field {
        if value.is_empty() {
            *field = None;
        } else {
            truncate_in_place(value, max);
        }
    }
}

fn normalize_platform(platform: Option<&str>) -> String {
    let platform = platform.unwrap_or("").trim().to_ascii_lowercase();
    if VALID_PLATFORMS.contains(&platform.as_str()) {
        platform
    } else {
        "other".to_owned()
    }
}

/// SDK clocks drift and buffered events arrive late: a timestamp that cannot be
/// true (future) or that would land outside the retention window (too old) is
/// replaced by the time the server received the event.
fn clamp_timestamp(sent: Option<DateTime<Utc>>, received_at: DateTime<Utc>) -> DateTime<Utc> {
    let latest = received_at
        .checked_add_signed(Duration::seconds(MAX_FUTURE_SECS))
        .unwrap_or(received_at);
    let earliest = received_at
        .checked_sub_signed(Duration::days(MAX_AGE_DAYS))
        .unwrap_or(received_at);
    match sent {
        Some(t) if t >= earliest && t <= latest => t,
        _ => received_at,
    }
}

/// Old SDKs send `message` (a string or a `{message, params, formatted}`
/// object) instead of `logentry`; Sentry reads it as the log entry. Then the
/// template is formatted with its parameters, as Relay does.
fn normalize_message(event: &mut Event) {
    let logentry_empty = event
        .logentry
        .as_ref()
        .is_none_or(|l| l.message.is_none() && l.formatted.is_none());
    if logentry_empty && let Some(message) = event.message.take() {
        event.logentry = Some(match message {
            Value::Object(obj) => serde_json::from_value::<LogEntry>(Value::Object(obj.clone()))
                .unwrap_or_else(|_| LogEntry {
                    formatted: value_to_string(Value::Object(obj)),
                    ..LogEntry::default()
                }),
            other => LogEntry {
                formatted: value_to_string(other),
                ..LogEntry::default()
            },
        });
    }

    let Some(logentry) = &mut event.logentry else {
        return;
    };
    bound_field(&mut logentry.message, limits::MESSAGE);
    bound_field(&mut logentry.formatted, limits::MESSAGE);
    if logentry.formatted.is_none()
        && let (Some(template), Some(params)) = (&logentry.message, &logentry.params)
    {
        logentry.formatted =
            format_message(template, params).map(|s| truncate_chars(&s, limits::MESSAGE));
    }
    // Relay keeps only `formatted` when the template adds nothing.
    if logentry.formatted.is_none() || logentry.message == logentry.formatted {
        logentry.formatted = logentry.message.take();
    }
    if logentry.formatted.is_none() {
        event.logentry = None;
    }
}

fn normalize_exception(exception: &mut Exception) {
    bound_field(&mut exception.ty, limits::EXCEPTION_TYPE);
    bound_field(&mut exception.value, limits::EXCEPTION_VALUE);
    bound_field(&mut exception.module, limits::SYMBOL);
    if let Some(ty) = &mut exception.ty {
        let trimmed = ty.trim();
        if trimmed.is_empty() {
            exception.ty = None;
        } else if trimmed.len() != ty.len() {
            *ty = trimmed.to_owned();
        }
    }
    // Some SDKs send only a value like "ValueError: bad input".
    if exception.ty.is_none()
        && let Some((ty, value)) = exception.value.as_deref().and_then(split_type_from_value)
    {
        exception.ty = Some(ty);
        exception.value = Some(value).filter(|v| !v.is_empty());
    }
    if let Some(stacktrace) = &mut exception.stacktrace {
        normalize_stacktrace(stacktrace);
    }
}

/// `"Name: rest"` where `Name` is one word → `("Name", "rest")`.
fn split_type_from_value(value: &str) -> Option<(String, String)> {
    let (ty, rest) = value.split_once(':')?;
    let is_word = !ty.is_empty() && ty.chars().all(|c| c.is_alphanumeric() || c == '_');
    is_word.then(|| (ty.to_owned(), rest.trim().to_owned()))
}

fn normalize_stacktrace(stacktrace: &mut Stacktrace) {
    for frame in &mut stacktrace.frames {
        normalize_frame(frame);
    }
}

fn normalize_frame(frame: &mut Frame) {
    for (field, max) in [
        (&mut frame.filename, limits::PATH),
        (&mut frame.abs_path, limits::PATH),
        (&mut frame.function, limits::SYMBOL),
        (&mut frame.raw_function, limits::SYMBOL),
        (&mut frame.module, limits::SYMBOL),
        (&mut frame.package, limits::PATH),
        (&mut frame.symbol, limits::SYMBOL),
        (&mut frame.context_line, limits::CONTEXT_LINE),
    ] {
        bound_field(field, max);
    }
    // "?" is how browsers and symbolizers say "no name".
    if frame.function.as_deref() == Some("?") {
        frame.function = None;
    }
    if frame.symbol.as_deref() == Some("?") {
        frame.symbol = None;
    }
    // Relay: the path as sent is the absolute one; the file name is its path
    // part when it is a URL.
    if frame.abs_path.is_none() {
        frame.abs_path = frame.filename.take();
    }
    if frame.filename.is_none()
        && let Some(abs_path) = &frame.abs_path
    {
        frame.filename = Some(url_path(abs_path).unwrap_or_else(|| abs_path.clone()));
    }
    for lines in [&mut frame.pre_context, &mut frame.post_context]
        .into_iter()
        .flatten()
    {
        for line in lines.iter_mut() {
            truncate_in_place(line, limits::CONTEXT_LINE);
        }
    }
    if let Some(vars) = &mut frame.vars {
        for value in vars.values_mut() {
            bound_value(value, 1);
        }
    }
}

/// The path of an `http(s):`/`file:` URL, unless it is empty or `/`.
fn url_path(abs_path: &str) -> Option<String> {
    let is_url = ["file:", "http:", "https:", "applewebdata:"]
        .iter()
        .any(|scheme| abs_path.starts_with(scheme));
    if !is_url {
        return None;
    }
    let url = url::Url::parse(abs_path).ok()?;
    let path = url.path();
    (!path.is_empty() && path != "/").then(|| path.to_owned())
}

/// Bounds strings inside a JSON value and flattens what nests too deep.
fn bound_value(value: &mut Value, depth: usize) {
    match value {
        Value::String(s) => truncate_in_place(s, limits::VAR_VALUE),
        Value::Array(_) | Value::Object(_) if depth >= limits::VAR_DEPTH => {
            let text = value.to_string();
            *value = Value::String(truncate_chars(&text, limits::VAR_VALUE));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| bound_value(v, depth + 1)),
        Value::Object(map) => map.values_mut().for_each(|v| bound_value(v, depth + 1)),
        _ => {}
    }
}

fn normalize_breadcrumbs(breadcrumbs: &mut Values<Breadcrumb>) {
    let values = &mut breadcrumbs.values;
    if values.len() > limits::BREADCRUMBS {
        let excess = values.len() - limits::BREADCRUMBS;
        values.drain(..excess);
    }
    for crumb in values.iter_mut() {
        bound_field(&mut crumb.message, limits::MESSAGE);
    }
}

fn normalize_user(user: &mut User) {
    // `{{auto}}` asks the server to fill in the client's address; ingest does
    // that when it knows it, and a placeholder is no address.
    if user
        .ip_address
        .as_deref()
        .is_some_and(|ip| ip.trim() == "{{auto}}")
    {
        user.ip_address = None;
    }
    for field in [
        &mut user.id,
        &mut user.email,
        &mut user.ip_address,
        &mut user.username,
        &mut user.name,
    ] {
        trim_field(field, limits::USER_FIELD);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn event(value: Value) -> Event {
        serde_json::from_value(value).unwrap()
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, 12, 0, 0).unwrap()
    }

    #[test]
    fn defaults_level_platform_timestamp() {
        let mut e = event(json!({}));
        normalize(&mut e, now());
        assert_eq!(e.level, Some(Level::Error));
        assert_eq!(e.platform.as_deref(), Some("other"));
        assert_eq!(e.timestamp, Some(Timestamp(now())));

        let mut t = event(json!({"type": "transaction", "platform": "Python"}));
        normalize(&mut t, now());
        assert_eq!(t.level, Some(Level::Info));
        assert_eq!(t.platform.as_deref(), Some("python"));

        let mut odd = event(json!({"platform": "cobol"}));
        normalize(&mut odd, now());
        assert_eq!(odd.platform.as_deref(), Some("other"));
    }

    #[test]
    fn timestamps_outside_the_window_become_received_at() {
        let cases = [
            (now() - Duration::seconds(5), now() - Duration::seconds(5)),
            (now() + Duration::seconds(59), now() + Duration::seconds(59)),
            (now() + Duration::seconds(61), now()),
            (now() - Duration::days(29), now() - Duration::days(29)),
            (now() - Duration::days(31), now()),
        ];
        for (sent, expected) in cases {
            let mut e = Event {
                timestamp: Some(Timestamp(sent)),
                ..Event::default()
            };
            normalize(&mut e, now());
            assert_eq!(e.timestamp, Some(Timestamp(expected)), "sent {sent}");
        }
    }

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_chars("héllo wörld", 8), "héllo...");
        assert_eq!(truncate_chars("héllo", 5), "héllo");
        assert_eq!(truncate_chars("日本語のテキスト", 4), "日...");
        assert_eq!(truncate_chars("abcdef", 2), "..");
        let long = "ü".repeat(300);
        let mut e = event(json!({"transaction": long, "environment": long, "release": long}));
        normalize(&mut e, now());
        assert_eq!(e.transaction.unwrap().chars().count(), limits::TRANSACTION);
        assert_eq!(e.environment.unwrap().chars().count(), limits::ENVIRONMENT);
        assert_eq!(e.release.unwrap().chars().count(), limits::RELEASE);
    }

    #[test]
    fn message_string_or_object_becomes_logentry() {
        let mut s = event(json!({"message": "plain text"}));
        normalize(&mut s, now());
        assert_eq!(s.message, None);
        assert_eq!(s.logentry.unwrap().formatted.as_deref(), Some("plain text"));

        let mut o = event(
            json!({"message": {"message": "Here is a new {foo}", "params": {"foo": "error"}}}),
        );
        normalize(&mut o, now());
        let logentry = o.logentry.unwrap();
        assert_eq!(logentry.message.as_deref(), Some("Here is a new {foo}"));
        assert_eq!(logentry.formatted.as_deref(), Some("Here is a new error"));

        // logentry wins over message when both are present
        let mut both = event(json!({"message": "ignored", "logentry": {"message": "kept"}}));
        normalize(&mut both, now());
        assert_eq!(both.logentry.unwrap().formatted.as_deref(), Some("kept"));

        // a template without parameters is the formatted message
        let mut bare = event(json!({"logentry": {"message": "only %s template"}}));
        normalize(&mut bare, now());
        let logentry = bare.logentry.unwrap();
        assert_eq!(logentry.message, None);
        assert_eq!(logentry.formatted.as_deref(), Some("only %s template"));

        let mut empty = event(json!({"message": ""}));
        normalize(&mut empty, now());
        assert_eq!(empty.logentry, None);
    }

    #[test]
    fn exceptions_without_type_or_value_are_dropped() {
        let mut e = event(json!({"exception": [{"module": "x"}, {"value": "KeyError: 'name'"}]}));
        normalize(&mut e, now());
        let exceptions = e.exceptions();
        assert_eq!(exceptions.len(), 1);
        assert_eq!(exceptions[0].ty.as_deref(), Some("KeyError"));
        assert_eq!(exceptions[0].value.as_deref(), Some("'name'"));

        let mut none = event(json!({"exception": []}));
        normalize(&mut none, now());
        assert!(none.exception.is_none());
    }

    #[test]
    fn frames_follow_relay_file_name_rules() {
        let mut e = event(
            json!({"exception": [{"type": "E", "stacktrace": {"frames": [
                {"filename": "http://127.0.0.1:8080/dist/bundle.js", "function": "?", "in_app": true},
                {"filename": "app/models.py", "abs_path": "/srv/app/models.py", "function": "save"},
                {"abs_path": "http://example.com/", "function": "f"},
            ]}}]}),
        );
        normalize(&mut e, now());
        let frames = &e.exceptions()[0].stacktrace.as_ref().unwrap().frames;
        assert_eq!(frames[0].filename.as_deref(), Some("/dist/bundle.js"));
        assert_eq!(
            frames[0].abs_path.as_deref(),
            Some("http://127.0.0.1:8080/dist/bundle.js")
        );
        assert_eq!(frames[0].function, None);
        assert_eq!(frames[0].in_app, Some(true));
        assert_eq!(frames[1].filename.as_deref(), Some("app/models.py"));
        assert_eq!(frames[1].in_app, None);
        assert_eq!(frames[2].filename.as_deref(), Some("http://example.com/"));
    }

    #[test]
    fn frame_vars_are_bounded() {
        let deep = json!({"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}});
        let mut e = event(json!({"stacktrace": {"frames": [
            {"function": "f", "vars": {"s": "x".repeat(2000), "deep": deep}}
        ]}}));
        normalize(&mut e, now());
        let vars = e.stacktrace.unwrap().frames[0].vars.clone().unwrap();
        assert_eq!(
            vars["s"].as_str().unwrap().chars().count(),
            limits::VAR_VALUE
        );
        assert!(vars["deep"]["a"]["b"]["c"].is_object());
        assert_eq!(vars["deep"]["a"]["b"]["c"]["d"], json!(r#"{"e":{"f":1}}"#));
    }

    #[test]
    fn breadcrumbs_keep_the_last_hundred() {
        let crumbs: Vec<Value> = (0..150)
            .map(|i| json!({"message": format!("{i}")}))
            .collect();
        let mut e = event(json!({"breadcrumbs": crumbs}));
        normalize(&mut e, now());
        let values = e.breadcrumbs.unwrap().values;
        assert_eq!(values.len(), 100);
        assert_eq!(values[0].message.as_deref(), Some("50"));
        assert_eq!(values[99].message.as_deref(), Some("149"));
    }

    #[test]
    fn auto_ip_placeholder_is_dropped() {
        let mut e = event(json!({"user": {"ip_address": "{{auto}}", "username": " bob "}}));
        normalize(&mut e, now());
        let user = e.user.unwrap();
        assert_eq!(user.ip_address, None);
        assert_eq!(user.username.as_deref(), Some("bob"));
    }
}
