//! What the issue page shows of one event, read from the stored
//! (normalized) event: exceptions with their frames, breadcrumbs, request,
//! user, contexts, SDK, tags and extra data. Everything here is plain text;
//! the template escapes it.

use chrono::{DateTime, Utc};
use corral_core::model::StoredEvent;
use corral_protocol::{Event, Frame, Stacktrace, Tags, value_to_string};
use serde_json::Value;

use super::encode;
use super::when::When;

/// A stack of frames, or an exception with its stack.
pub struct StackSection {
    /// `ZeroDivisionError`, or a thread's name for a thread's stack.
    pub heading: String,
    pub value: Option<String>,
    pub module: Option<String>,
    /// The mechanism's type (`django`, `onerror`, …).
    pub mechanism: Option<String>,
    /// `Some(false)`: not caught by the application.
    pub handled: Option<bool>,
    /// Later sections of a chain say how they relate to the first.
    pub relation: Option<&'static str>,
    /// Newest frame first; runs of library frames grouped.
    pub groups: Vec<FrameGroup>,
    pub frame_count: usize,
}

/// Consecutive frames shown together: one in-app frame, or a run of
/// library frames shown collapsed.
pub struct FrameGroup {
    pub collapsed: bool,
    pub frames: Vec<FrameView>,
}

pub struct FrameView {
    /// File name (or module) where the frame runs.
    pub location: String,
    pub function: Option<String>,
    pub line: Option<String>,
    pub package: Option<String>,
    pub in_app: bool,
    /// Open by default (the newest in-app frame).
    pub open: bool,
    pub context: Vec<ContextLine>,
    /// The first line number of `context`.
    pub context_start: u64,
    pub vars: Vec<(String, String)>,
}

pub struct ContextLine {
    pub text: String,
    /// The line the frame was executing.
    pub current: bool,
}

pub struct BreadcrumbView {
    pub time: Option<When>,
    /// `HH:MM:SS` of the breadcrumb.
    pub clock: String,
    pub category: String,
    pub level: String,
    pub message: String,
    pub data: String,
}

pub struct RequestView {
    pub method: Option<String>,
    pub url: Option<String>,
    /// Query, headers, cookies and environment, those that were sent.
    pub tables: Vec<KeyValues>,
    pub data: Option<String>,
}

pub struct KeyValues {
    pub title: &'static str,
    pub rows: Vec<(String, String)>,
}

pub struct ContextView {
    pub title: String,
    pub key: String,
    /// `Ubuntu 22.04`, `CPython 3.8.2`.
    pub summary: Option<String>,
    pub fields: Vec<(String, String)>,
}

pub struct TagLink {
    pub key: String,
    pub value: String,
    /// The issue list filtered by this tag.
    pub href: String,
}

pub struct EventView {
    /// 32 hex digits.
    pub id: String,
    pub received: When,
    pub occurred: When,
    pub platform: String,
    pub release: Option<String>,
    pub environment: Option<String>,
    pub message: Option<String>,
    pub stacks: Vec<StackSection>,
    pub breadcrumbs: Vec<BreadcrumbView>,
    pub request: Option<RequestView>,
    pub user: Vec<(String, String)>,
    pub contexts: Vec<ContextView>,
    pub sdk: Option<String>,
    pub sdk_fields: Vec<(String, String)>,
    pub tags: Vec<TagLink>,
    pub extra: Vec<(String, String)>,
}

/// Text of a JSON value: strings as they are, the rest as compact JSON.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => value_to_string(other.clone()).unwrap_or_default(),
    }
}

/// Text for a block of data: strings as they are, the rest pretty-printed.
fn block(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

fn pairs_of_object(map: &serde_json::Map<String, Value>) -> Vec<(String, String)> {
    map.iter().map(|(k, v)| (k.clone(), text(v))).collect()
}

/// A query string sent as text, pairs or an object.
fn query_pairs(v: &Value) -> Vec<(String, String)> {
    match v {
        Value::String(s) => {
            let s = s.trim_start_matches('?');
            s.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (decode_component(k), decode_component(v))
                })
                .collect()
        }
        Value::Array(items) => items
            .iter()
            .filter_map(|item| match item {
                Value::Array(pair) if pair.len() == 2 => Some((text(&pair[0]), text(&pair[1]))),
                _ => None,
            })
            .collect(),
        Value::Object(map) => pairs_of_object(map),
        _ => Vec::new(),
    }
}

/// Decodes `%XX` and `+` of a query component; bad escapes stay as sent.
fn decode_component(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()));
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn frame_view(f: &Frame) -> FrameView {
    let location = f
        .filename
        .clone()
        .or_else(|| f.abs_path.clone())
        .or_else(|| f.module.clone())
        .or_else(|| f.package.clone())
        .or_else(|| f.instruction_addr.clone())
        .unwrap_or_else(|| "?".into());
    let line = match (f.lineno, f.colno) {
        (Some(l), Some(c)) => Some(format!("{l}:{c}")),
        (Some(l), None) => Some(l.to_string()),
        _ => None,
    };
    let pre = f.pre_context.clone().unwrap_or_default();
    let post = f.post_context.clone().unwrap_or_default();
    let mut context = Vec::new();
    if let Some(line) = &f.context_line {
        context.extend(pre.iter().map(|t| ContextLine {
            text: t.clone(),
            current: false,
        }));
        context.push(ContextLine {
            text: line.clone(),
            current: true,
        });
        context.extend(post.iter().map(|t| ContextLine {
            text: t.clone(),
            current: false,
        }));
    }
    let context_start = f
        .lineno
        .map(|l| l.saturating_sub(pre.len() as u64).max(1))
        .unwrap_or(1);
    FrameView {
        location,
        function: f.function.clone().or_else(|| f.symbol.clone()),
        line,
        package: f.package.clone(),
        in_app: f.in_app == Some(true),
        open: false,
        context,
        context_start,
        vars: f.vars.as_ref().map(pairs_of_object).unwrap_or_default(),
    }
}

/// Frames newest first; with any in-app frame, each run of library frames
/// becomes one collapsed group (without, nothing is collapsed: there is
/// nothing else to look at).
fn frame_groups(stack: &Stacktrace) -> (Vec<FrameGroup>, usize) {
    let mut frames: Vec<FrameView> = stack.frames.iter().rev().map(frame_view).collect();
    let any_in_app = frames.iter().any(|f| f.in_app);
    if let Some(first) = frames.iter_mut().find(|f| f.in_app || !any_in_app) {
        first.open = true;
    }
    let count = frames.len();
    let mut groups: Vec<FrameGroup> = Vec::new();
    for frame in frames {
        let collapsed = any_in_app && !frame.in_app;
        match groups.last_mut() {
            Some(g) if collapsed && g.collapsed => g.frames.push(frame),
            _ => groups.push(FrameGroup {
                collapsed,
                frames: vec![frame],
            }),
        }
    }
    (groups, count)
}

fn stack_sections(e: &Event) -> Vec<StackSection> {
    let mut sections = Vec::new();
    if let Some(exceptions) = &e.exception {
        // SDKs send the chain oldest (the cause) first; the raised one leads
        for (i, ex) in exceptions.values.iter().rev().enumerate() {
            let (groups, frame_count) =
                ex.stacktrace.as_ref().map(frame_groups).unwrap_or_default();
            sections.push(StackSection {
                heading: ex.ty.clone().unwrap_or_else(|| "Error".into()),
                value: ex.value.clone(),
                module: ex.module.clone(),
                mechanism: ex.mechanism.as_ref().and_then(|m| m.ty.clone()),
                handled: ex.mechanism.as_ref().and_then(|m| m.handled),
                relation: (i > 0).then_some("Caused by"),
                groups,
                frame_count,
            });
        }
    }
    if sections.is_empty() {
        let thread_stack = e.threads.as_ref().and_then(|t| {
            t.values
                .iter()
                .find(|t| t.crashed == Some(true))
                .or_else(|| t.values.iter().find(|t| t.current == Some(true)))
                .or(t.values.first())
                .and_then(|t| {
                    t.stacktrace
                        .as_ref()
                        .map(|s| (t.name.clone().or_else(|| t.id.clone()), s))
                })
        });
        let (heading, stack) = match (&e.stacktrace, thread_stack) {
            (Some(s), _) => ("Stack trace".to_string(), Some(s)),
            (None, Some((name, s))) => (
                name.map(|n| format!("Thread {n}"))
                    .unwrap_or_else(|| "Stack trace".into()),
                Some(s),
            ),
            (None, None) => (String::new(), None),
        };
        if let Some(stack) = stack {
            let (groups, frame_count) = frame_groups(stack);
            sections.push(StackSection {
                heading,
                value: None,
                module: None,
                mechanism: None,
                handled: None,
                relation: None,
                groups,
                frame_count,
            });
        }
    }
    sections
}

fn breadcrumbs(e: &Event, now: DateTime<Utc>) -> Vec<BreadcrumbView> {
    let Some(crumbs) = &e.breadcrumbs else {
        return Vec::new();
    };
    crumbs
        .values
        .iter()
        .rev()
        .map(|b| BreadcrumbView {
            time: b.timestamp.map(|t| When::new(t.0, now)),
            clock: b
                .timestamp
                .map(|t| t.0.format("%H:%M:%S").to_string())
                .unwrap_or_default(),
            category: b
                .category
                .clone()
                .or_else(|| b.ty.clone())
                .unwrap_or_default(),
            level: b.level.map(|l| l.as_str().to_string()).unwrap_or_default(),
            message: b.message.clone().unwrap_or_default(),
            data: b
                .data
                .as_ref()
                .filter(|d| !d.is_null() && d.as_object().is_none_or(|o| !o.is_empty()))
                .map(text)
                .unwrap_or_default(),
        })
        .collect()
}

fn tag_pairs(tags: &Option<Tags>) -> Vec<(String, String)> {
    tags.as_ref().map(|t| t.0.clone()).unwrap_or_default()
}

fn request(e: &Event) -> Option<RequestView> {
    let r = e.request.as_ref()?;
    let tables = [
        (
            "Query",
            r.query_string.as_ref().map(query_pairs).unwrap_or_default(),
        ),
        ("Headers", tag_pairs(&r.headers)),
        (
            "Cookies",
            r.cookies.as_ref().map(query_pairs).unwrap_or_default(),
        ),
        (
            "Environment",
            r.env.as_ref().map(pairs_of_object).unwrap_or_default(),
        ),
    ]
    .into_iter()
    .filter(|(_, rows)| !rows.is_empty())
    .map(|(title, rows)| KeyValues { title, rows })
    .collect();
    Some(RequestView {
        method: r.method.clone(),
        url: r.url.clone(),
        tables,
        data: r
            .data
            .as_ref()
            .filter(|d| !d.is_null())
            .map(block)
            .filter(|d| !d.is_empty()),
    })
}

fn user(e: &Event) -> Vec<(String, String)> {
    let Some(u) = &e.user else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (k, v) in [
        ("ID", &u.id),
        ("Email", &u.email),
        ("Username", &u.username),
        ("Name", &u.name),
        ("IP address", &u.ip_address),
    ] {
        if let Some(v) = v {
            out.push((k.to_string(), v.clone()));
        }
    }
    out.extend(pairs_of_object(&u.other));
    out
}

/// Known contexts first, in Sentry's order; the rest by name.
const KNOWN_CONTEXTS: &[(&str, &str)] = &[
    ("os", "Operating system"),
    ("runtime", "Runtime"),
    ("browser", "Browser"),
    ("device", "Device"),
    ("app", "App"),
    ("gpu", "GPU"),
    ("culture", "Culture"),
    ("trace", "Trace"),
];

fn contexts(e: &Event) -> Vec<ContextView> {
    let Some(map) = &e.contexts else {
        return Vec::new();
    };
    let mut views: Vec<(usize, ContextView)> = map
        .iter()
        .filter_map(|(key, value)| {
            let obj = value.as_object()?;
            // the key names the context; `type` says which kind it is
            // (`server-os` of type `os`)
            let kind = obj.get("type").and_then(Value::as_str).unwrap_or(key);
            let rank = KNOWN_CONTEXTS
                .iter()
                .position(|(k, _)| *k == kind || *k == key)
                .unwrap_or(KNOWN_CONTEXTS.len());
            let title = KNOWN_CONTEXTS
                .get(rank)
                .map(|(_, t)| t.to_string())
                .unwrap_or_else(|| key.clone());
            let name = obj.get("name").map(text);
            let version = obj.get("version").map(text);
            let summary = match (name, version) {
                (Some(n), Some(v)) => Some(format!("{n} {v}")),
                (Some(n), None) => Some(n),
                (None, Some(v)) => Some(v),
                (None, None) => None,
            };
            let fields = obj
                .iter()
                .filter(|(k, _)| k.as_str() != "type")
                .map(|(k, v)| (k.clone(), text(v)))
                .collect();
            Some((
                rank,
                ContextView {
                    title,
                    key: key.clone(),
                    summary,
                    fields,
                },
            ))
        })
        .collect();
    views.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.key.cmp(&b.1.key)));
    views.into_iter().map(|(_, v)| v).collect()
}

/// The issue list of the organization filtered by a tag.
fn tag_href(org: &str, key: &str, value: &str) -> String {
    let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        "/organizations/{}/issues/?query={}",
        encode(org),
        encode(&format!("{key}:\"{escaped}\""))
    )
}

impl EventView {
    pub fn new(stored: &StoredEvent, org: &str, now: DateTime<Utc>) -> EventView {
        // the stored event is the normalized one; the lenient model reads
        // whatever shape a field has, and an unreadable one is left out
        let e: Event = serde_json::from_value(stored.data.clone()).unwrap_or_default();
        let sdk = e.sdk.as_ref().and_then(|s| match (&s.name, &s.version) {
            (Some(n), Some(v)) => Some(format!("{n} {v}")),
            (Some(n), None) => Some(n.clone()),
            _ => None,
        });
        let sdk_fields = e
            .sdk
            .as_ref()
            .map(|s| pairs_of_object(&s.other))
            .unwrap_or_default();
        EventView {
            id: stored.event_id.simple().to_string(),
            received: When::new(stored.received_at, now),
            occurred: When::new(stored.timestamp, now),
            platform: stored.platform.clone(),
            release: stored.release.clone(),
            environment: stored.environment.clone(),
            message: e
                .logentry
                .as_ref()
                .and_then(|l| l.display())
                .map(str::to_string),
            stacks: stack_sections(&e),
            breadcrumbs: breadcrumbs(&e, now),
            request: request(&e),
            user: user(&e),
            contexts: contexts(&e),
            sdk,
            sdk_fields,
            tags: stored
                .tags
                .iter()
                .map(|(k, v)| TagLink {
                    href: tag_href(org, k, v),
                    key: k.clone(),
                    value: v.clone(),
                })
                .collect(),
            extra: e.extra.as_ref().map(pairs_of_object).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn frame(name: &str, in_app: bool) -> Value {
        json!({"function": name, "filename": format!("{name}.py"), "lineno": 10, "in_app": in_app,
               "pre_context": ["a", "b"], "context_line": "boom()", "post_context": ["c"],
               "vars": {"x": 1, "s": "text"}})
    }

    fn event(data: Value) -> EventView {
        let stored = StoredEvent {
            project_id: 1,
            event_id: uuid::Uuid::nil(),
            issue_id: Some(1),
            event_type: corral_core::model::EventType::Error,
            level: corral_protocol::Level::Error,
            title: "t".into(),
            culprit: "c".into(),
            platform: "python".into(),
            release: None,
            environment: None,
            timestamp: Utc::now(),
            received_at: Utc::now(),
            tags: vec![("browser".into(), "Firefox \"75\"".into())],
            data,
        };
        EventView::new(&stored, "acme", Utc::now())
    }

    #[test]
    fn frames_newest_first_with_library_runs_collapsed() {
        let v = event(json!({"exception": {"values": [{"type": "E", "value": "v",
            "mechanism": {"type": "django", "handled": false},
            "stacktrace": {"frames": [frame("lib1", false), frame("lib2", false),
                                       frame("app1", true), frame("lib3", false), frame("app2", true)]}}]}}));
        let s = &v.stacks[0];
        assert_eq!(s.heading, "E");
        assert_eq!(s.handled, Some(false));
        assert_eq!(s.mechanism.as_deref(), Some("django"));
        assert_eq!(s.frame_count, 5);
        let shape: Vec<(bool, Vec<&str>)> = s
            .groups
            .iter()
            .map(|g| {
                (
                    g.collapsed,
                    g.frames
                        .iter()
                        .map(|f| f.function.as_deref().unwrap())
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            vec![
                (false, vec!["app2"]),
                (true, vec!["lib3"]),
                (false, vec!["app1"]),
                (true, vec!["lib2", "lib1"]),
            ]
        );
        let newest = &s.groups[0].frames[0];
        assert!(newest.open && newest.in_app);
        assert_eq!(newest.context_start, 8);
        assert_eq!(newest.context.len(), 4);
        assert!(newest.context[2].current);
        assert_eq!(
            newest.vars,
            vec![("x".into(), "1".into()), ("s".into(), "text".into())]
        );
        assert!(
            !s.groups[2].frames[0].open,
            "only the newest in-app frame is open"
        );
    }

    #[test]
    fn chains_lead_with_the_raised_exception() {
        let v = event(json!({"exception": {"values": [{"type": "Cause"}, {"type": "Raised"}]}}));
        let names: Vec<_> = v.stacks.iter().map(|s| s.heading.as_str()).collect();
        assert_eq!(names, ["Raised", "Cause"]);
        assert_eq!(v.stacks[1].relation, Some("Caused by"));
    }

    #[test]
    fn request_user_contexts_and_tags() {
        let v = event(json!({
            "request": {"method": "GET", "url": "http://x/", "query_string": "a=1&b=x%20y",
                        "headers": [["Host", "x"]], "data": {"k": [1, 2]}},
            "user": {"id": "7", "email": "u@x", "segment": "paid"},
            "contexts": {"zeta": {"a": 1}, "server-os": {"type": "os", "name": "Linux", "version": "6"},
                         "runtime": {"name": "CPython", "version": "3.12"}},
        }));
        let r = v.request.unwrap();
        assert_eq!(r.tables[0].title, "Query");
        assert_eq!(
            r.tables[0].rows,
            vec![("a".into(), "1".into()), ("b".into(), "x y".into())]
        );
        assert_eq!(r.tables[1].title, "Headers");
        assert_eq!(r.tables[1].rows, vec![("Host".into(), "x".into())]);
        assert_eq!(r.tables.len(), 2, "only what was sent");
        assert!(r.data.unwrap().contains("\"k\""));
        assert_eq!(v.user[0], ("ID".into(), "7".into()));
        assert!(v.user.contains(&("segment".into(), "paid".into())));
        let titles: Vec<_> = v.contexts.iter().map(|c| c.title.as_str()).collect();
        assert_eq!(titles, ["Operating system", "Runtime", "zeta"]);
        assert_eq!(v.contexts[0].summary.as_deref(), Some("Linux 6"));
        assert_eq!(
            v.tags[0].href,
            "/organizations/acme/issues/?query=browser%3A%22Firefox%20%5C%2275%5C%22%22"
        );
    }

    #[test]
    fn query_components_decode_leniently() {
        assert_eq!(decode_component("a+b%2Fc"), "a b/c");
        assert_eq!(decode_component("100%"), "100%");
        assert_eq!(decode_component("%zz"), "%zz");
    }
}
