//! What an event is called: its type, title, culprit and metadata, derived the
//! way Sentry derives them (`eventtypes/`, `culprit.py`), so that issues read
//! the same in Corral as in Sentry.

pub(crate) mod csp;

use corral_protocol::{Event, Exception, Frame, Level};
use serde_json::{Map, Value, json};

use crate::model::EventType;
use crate::normalize::{limits, truncate_chars};

/// The longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 256;
/// The longest culprit, in characters.
pub const MAX_CULPRIT_CHARS: usize = limits::CULPRIT;

/// How many characters of the first line of a message or exception value a
/// title shows (Sentry's `truncatechars(…, 100)`).
const TITLE_TEXT_CHARS: usize = 100;
/// Metadata bounds (Sentry trims them the same way).
const METADATA_VALUE_CHARS: usize = 1024;
const METADATA_TYPE_CHARS: usize = 128;

/// An event's name and kind, as shown in issue lists.
#[derive(Clone, Debug, PartialEq)]
pub struct EventSummary {
    pub event_type: EventType,
    pub title: String,
    pub culprit: String,
    /// Sentry's `metadata`: `{type, value, filename, function}` for errors,
    /// `{title}` for messages and transactions, `{directive, uri, message}`
    /// for CSP reports.
    pub metadata: Value,
    pub level: Level,
    pub platform: String,
}

/// Title, culprit, type and metadata as Sentry derives them. Works on any
/// event; on a [`normalize`](crate::normalize)d one it gives what Sentry shows.
pub fn summarize(event: &Event) -> EventSummary {
    let event_type = event_type(event);
    let (title, culprit, metadata) = match event_type {
        EventType::Transaction => {
            let name = event
                .transaction
                .as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .unwrap_or("<unlabeled transaction>");
            (name.to_owned(), name.to_owned(), json!({ "title": name }))
        }
        EventType::Csp => csp::summary(event),
        EventType::Error => {
            let metadata = error_metadata(event);
            (
                error_title(&metadata),
                culprit(event),
                Value::Object(metadata),
            )
        }
        EventType::Default => {
            let title = match message_text(event) {
                Some(message) => truncate_chars(first_line(&message), TITLE_TEXT_CHARS),
                None => "<unlabeled event>".to_owned(),
            };
            let metadata = json!({ "title": title });
            (title, culprit(event), metadata)
        }
    };
    EventSummary {
        event_type,
        title: truncate_chars(&title, MAX_TITLE_CHARS),
        culprit: truncate_chars(&culprit, MAX_CULPRIT_CHARS),
        metadata,
        level: event.level.unwrap_or(Level::Error),
        platform: event.platform.clone().unwrap_or_else(|| "other".to_owned()),
    }
}

/// Sentry's event type: a transaction, a CSP report, an error when there is
/// an exception, else `default`.
pub(crate) fn event_type(event: &Event) -> EventType {
    if event.ty.as_deref() == Some("transaction") {
        EventType::Transaction
    } else if csp::report(event).is_some() {
        EventType::Csp
    } else if !exceptions(event).is_empty() {
        EventType::Error
    } else {
        EventType::Default
    }
}

/// The exceptions that say something (a type or a value), innermost first.
pub(crate) fn exceptions(event: &Event) -> Vec<&Exception> {
    event
        .exceptions()
        .iter()
        .filter(|e| non_empty(&e.ty).is_some() || non_empty(&e.value).is_some())
        .collect()
}

/// The message as a user reads it: the formatted log entry, else its
/// template, else a legacy `message`; whitespace-trimmed, never empty.
pub(crate) fn message_text(event: &Event) -> Option<String> {
    let logentry = event.logentry.as_ref().and_then(|l| {
        non_empty(&l.formatted)
            .or(non_empty(&l.message))
            .map(str::to_owned)
    });
    logentry
        .or_else(|| event.message_text())
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
}

/// A frame's function name, unless it is missing or a placeholder.
pub(crate) fn frame_function(frame: &Frame) -> Option<&str> {
    non_empty(&frame.function).filter(|f| *f != "?")
}

pub(crate) fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|s| !s.trim().is_empty())
}

/// The text before the first line break, by Python's `splitlines` rules.
pub(crate) fn first_line(text: &str) -> &str {
    let end = text
        .find([
            '\n', '\r', '\u{0b}', '\u{0c}', '\u{1c}', '\u{1d}', '\u{1e}', '\u{85}', '\u{2028}',
            '\u{2029}',
        ])
        .unwrap_or(text.len());
    &text[..end]
}

fn is_synthetic(exception: &Exception) -> bool {
    exception
        .mechanism
        .as_ref()
        .and_then(|m| m.synthetic)
        .unwrap_or(false)
}

/// `{type, value, filename, function}` from the outermost exception and the
/// frame it crashed in.
fn error_metadata(event: &Event) -> Map<String, Value> {
    let mut metadata = Map::new();
    let exceptions = exceptions(event);
    let Some(exception) = exceptions.last() else {
        return metadata;
    };
    let value = exception.value.as_deref().unwrap_or("");
    metadata.insert(
        "value".into(),
        truncate_chars(value, METADATA_VALUE_CHARS).into(),
    );
    // A synthetic exception's type is made up by the SDK (e.g. "SIGSEGV"
    // wrappers); Sentry leaves it out so the title names the function.
    if !is_synthetic(exception) {
        let ty = non_empty(&exception.ty).unwrap_or("Error");
        metadata.insert(
            "type".into(),
            truncate_chars(ty, METADATA_TYPE_CHARS).into(),
        );
    }
    if let Some(frame) = crash_frame(event) {
        let filename = non_empty(&frame.filename).or(non_empty(&frame.abs_path));
        if let Some(filename) = filename {
            metadata.insert(
                "filename".into(),
                truncate_chars(filename, limits::PATH).into(),
            );
        }
        if let Some(function) = frame_function(frame) {
            metadata.insert(
                "function".into(),
                truncate_chars(function, limits::SYMBOL).into(),
            );
        }
    }
    metadata
}

fn error_title(metadata: &Map<String, Value>) -> String {
    let text = |key: &str| {
        metadata
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    match (text("type"), text("value")) {
        (None, _) => text("function").unwrap_or("<unknown>").to_owned(),
        (Some(ty), None) => ty.to_owned(),
        (Some(ty), Some(value)) => {
            format!(
                "{ty}: {}",
                truncate_chars(first_line(value), TITLE_TEXT_CHARS)
            )
        }
    }
}

/// The frame an error happened in: in the outermost exception's stack trace
/// (else the event's, else the only thread's), the innermost in-app frame,
/// else the innermost frame; frames whose function is redacted or unknown do
/// not count.
pub(crate) fn crash_frame(event: &Event) -> Option<&Frame> {
    let outermost = exceptions(event).last().copied();
    let frames = outermost
        .and_then(|e| e.stacktrace.as_ref())
        .map(|s| s.frames.as_slice())
        .filter(|f| !f.is_empty())
        .or_else(|| {
            event
                .stacktrace
                .as_ref()
                .map(|s| s.frames.as_slice())
                .filter(|f| !f.is_empty())
        })
        .or_else(|| {
            let threads = &event.threads.as_ref()?.values;
            match threads.as_slice() {
                [only] => only.stacktrace.as_ref().map(|s| s.frames.as_slice()),
                _ => None,
            }
        })?;
    let candidates = frames.iter().rev().filter(|f| {
        !matches!(
            f.function.as_deref(),
            Some("<redacted>") | Some("<unknown>")
        )
    });
    let mut fallback = None;
    for frame in candidates {
        if frame.in_app == Some(true) {
            return Some(frame);
        }
        fallback.get_or_insert(frame);
    }
    fallback
}

/// The transaction when there is one, else the crashing frame's location,
/// else the request's URL (Sentry's `get_culprit`).
fn culprit(event: &Event) -> String {
    if let Some(transaction) = non_empty(&event.transaction) {
        return transaction.to_owned();
    }
    let platform = event.platform.as_deref().unwrap_or("other");
    let exceptions = exceptions(event);
    let stacktrace = if let Some(outermost) = exceptions.last() {
        if is_synthetic(outermost) {
            return String::new();
        }
        exceptions
            .iter()
            .rev()
            .filter_map(|e| e.stacktrace.as_ref())
            .find(|s| !s.frames.is_empty())
    } else {
        event.stacktrace.as_ref().filter(|s| !s.frames.is_empty())
    };
    let from_frames = stacktrace
        .map(|s| stacktrace_culprit(&s.frames, platform))
        .filter(|c| !c.is_empty());
    from_frames
        .or_else(|| {
            event
                .request
                .as_ref()
                .and_then(|r| non_empty(&r.url))
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

/// The innermost in-app frame's location, else the innermost frame's.
fn stacktrace_culprit(frames: &[Frame], platform: &str) -> String {
    let mut fallback = None;
    for frame in frames.iter().rev() {
        if frame.in_app == Some(true) {
            let culprit = frame_culprit(frame, platform);
            if !culprit.is_empty() {
                return culprit;
            }
        } else if fallback.is_none() {
            fallback = Some(frame_culprit(frame, platform));
        }
    }
    fallback.unwrap_or_default()
}

/// `module in function`, `function(file)` for JavaScript, the bare function
/// for native code.
fn frame_culprit(frame: &Frame, platform: &str) -> String {
    let platform = non_empty(&frame.platform).unwrap_or(platform);
    let function = frame_function(frame).unwrap_or("?");
    if matches!(platform, "objc" | "cocoa" | "native") {
        return function.to_owned();
    }
    let Some(location) = non_empty(&frame.module).or(non_empty(&frame.filename)) else {
        return String::new();
    };
    if matches!(platform, "javascript" | "node") {
        format!("{function}({location})")
    } else {
        format!("{location} in {function}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn summary(value: Value) -> EventSummary {
        summarize(&serde_json::from_value(value).unwrap())
    }

    #[test]
    fn error_title_uses_first_line_truncated() {
        let long = "x".repeat(150);
        let s = summary(
            json!({"exception": [{"type": "ValueError", "value": format!("{long}\nsecond line")}]}),
        );
        assert_eq!(s.event_type, EventType::Error);
        assert_eq!(s.title, format!("ValueError: {}...", &long[..97]));
        assert_eq!(s.metadata["value"], json!(format!("{long}\nsecond line")));
    }

    #[test]
    fn error_without_value_or_type() {
        assert_eq!(
            summary(json!({"exception": [{"type": "KeyError"}]})).title,
            "KeyError"
        );
        let s = summary(json!({"exception": [{"value": "boom"}]}));
        assert_eq!(s.title, "Error: boom");
        assert_eq!(s.metadata["type"], json!("Error"));
        let synthetic = summary(json!({"platform": "native", "exception": [{
            "type": "SIGSEGV", "value": "segfault", "mechanism": {"type": "signal", "synthetic": true},
            "stacktrace": {"frames": [{"function": "crash_here", "in_app": true}]}
        }]}));
        assert_eq!(synthetic.title, "crash_here");
        assert_eq!(synthetic.culprit, "");
    }

    #[test]
    fn culprit_prefers_transaction_then_in_app_frame_then_url() {
        let frames = json!({"frames": [
            {"module": "lib.http", "function": "send", "in_app": false},
            {"module": "shop.cart", "function": "checkout", "in_app": true},
            {"module": "lib.db", "function": "query", "in_app": false},
        ]});
        let with_tx = summary(
            json!({"transaction": "/cart", "exception": [{"type": "E", "stacktrace": frames}]}),
        );
        assert_eq!(with_tx.culprit, "/cart");
        let from_frame = summary(json!({"exception": [{"type": "E", "stacktrace": frames}]}));
        assert_eq!(from_frame.culprit, "shop.cart in checkout");
        assert_eq!(from_frame.metadata["function"], json!("checkout"));
        let js = summary(
            json!({"platform": "javascript", "exception": [{"type": "E", "stacktrace": {"frames": [
                {"filename": "/app.js", "function": "onClick", "in_app": false}
            ]}}]}),
        );
        assert_eq!(js.culprit, "onClick(/app.js)");
        let url = summary(json!({"message": "m", "request": {"url": "http://x/y"}}));
        assert_eq!(url.culprit, "http://x/y");
    }

    #[test]
    fn message_titles() {
        let s = summary(json!({"logentry": {"formatted": "  hello\nworld  "}}));
        assert_eq!(s.event_type, EventType::Default);
        assert_eq!(s.title, "hello");
        assert_eq!(s.metadata, json!({"title": "hello"}));
        assert_eq!(summary(json!({})).title, "<unlabeled event>");
        assert_eq!(
            summary(json!({"message": "legacy message"})).title,
            "legacy message"
        );
    }

    #[test]
    fn transactions() {
        let s =
            summary(json!({"type": "transaction", "transaction": "GET /users", "level": "info"}));
        assert_eq!(s.event_type, EventType::Transaction);
        assert_eq!(s.title, "GET /users");
        assert_eq!(s.culprit, "GET /users");
        assert_eq!(s.level, Level::Info);
    }

    #[test]
    fn limits_hold_for_huge_input() {
        let huge = "é".repeat(10_000);
        let s = summary(json!({"transaction": huge, "exception": [{"type": huge, "value": huge}]}));
        assert!(s.title.chars().count() <= MAX_TITLE_CHARS);
        assert!(s.culprit.chars().count() <= MAX_CULPRIT_CHARS);
    }
}
