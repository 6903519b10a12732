//! Content-Security-Policy reports: what Sentry calls them and how it groups
//! them (by the directive and the blocked origin).

use corral_protocol::Event;
use serde_json::{Map, Value, json};

/// What a blocked URI of `'self'`, inline code or eval becomes.
const LOCAL: &str = "'self'";

/// The event's CSP interface (`csp`, or the legacy `sentry.interfaces.Csp`).
pub(crate) fn report(event: &Event) -> Option<&Map<String, Value>> {
    ["csp", "sentry.interfaces.Csp"]
        .iter()
        .find_map(|key| event.other.get(*key)?.as_object())
}

/// A field of the report, by its snake_case or its hyphenated (browser) name.
fn field<'a>(report: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    report
        .get(name)
        .or_else(|| report.get(&name.replace('_', "-")))
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The directive that was violated, e.g. `style-src-elem`.
fn directive(report: &Map<String, Value>) -> String {
    field(report, "effective_directive")
        .or_else(|| {
            field(report, "violated_directive")?
                .split_whitespace()
                .next()
        })
        .unwrap_or("default-src")
        .to_ascii_lowercase()
}

/// Inline code and eval are reported as a blocked URI of `inline`/`eval`
/// (or nothing); everything else by its origin: the host for http(s), else
/// the scheme (`data:`, `blob:`, …).
fn normalized_uri(report: &Map<String, Value>) -> String {
    let uri = field(report, "blocked_uri").unwrap_or("");
    let lower = uri.to_ascii_lowercase();
    if matches!(lower.as_str(), "" | "self" | "'self'" | "inline" | "eval") {
        return LOCAL.to_owned();
    }
    let Some((scheme, rest)) = lower.split_once(':') else {
        return format!("{lower}:");
    };
    if matches!(scheme, "http" | "https") {
        let host = rest.trim_start_matches('/');
        let host = host.split(['/', '?', '#']).next().unwrap_or("");
        if !host.is_empty() {
            return host.to_owned();
        }
    }
    format!("{scheme}:")
}

/// A blocked inline script is `unsafe-inline` or `unsafe-eval`, by what the
/// browser said it blocked.
fn local_script_violation(report: &Map<String, Value>, directive: &str) -> Option<&'static str> {
    if !directive.starts_with("script-src") && directive != "default-src" {
        return None;
    }
    match field(report, "blocked_uri")?.to_ascii_lowercase().as_str() {
        "eval" => Some("unsafe-eval"),
        "inline" => Some("unsafe-inline"),
        _ => None,
    }
}

fn message(directive: &str, uri: &str) -> String {
    let local = uri == LOCAL;
    let fixed = |from: &str, inline: &str| {
        if local {
            inline.to_owned()
        } else {
            from.replace("{uri}", uri)
        }
    };
    match directive {
        "unsafe-inline" => "Blocked unsafe inline 'script'".to_owned(),
        "unsafe-eval" => "Blocked unsafe eval() 'script'".to_owned(),
        "child-src" => fixed("Blocked 'child' from '{uri}'", "Blocked inline 'child'"),
        "connect-src" => fixed("Blocked connection to '{uri}'", "Blocked inline 'connect'"),
        "font-src" => fixed("Blocked font from '{uri}'", "Blocked inline 'font'"),
        "img-src" => fixed("Blocked image from '{uri}'", "Blocked inline image"),
        "media-src" => fixed("Blocked media from '{uri}'", "Blocked inline media"),
        "object-src" => fixed("Blocked 'object' from '{uri}'", "Blocked inline 'object'"),
        "script-src" | "script-src-elem" => fixed(
            "Blocked 'script' from '{uri}'",
            "Blocked unsafe (eval() or inline) 'script'",
        ),
        "style-src" | "style-src-elem" => {
            fixed("Blocked 'style' from '{uri}'", "Blocked inline 'style'")
        }
        other => {
            if local {
                format!("Blocked inline '{other}'")
            } else {
                format!("Blocked '{other}' from '{uri}'")
            }
        }
    }
}

/// (title, culprit, metadata) of a CSP report. Ingest's report parser
/// already writes Sentry's message and culprit into the event; those win, and
/// the report itself is the fallback for events from elsewhere.
pub(crate) fn summary(event: &Event) -> (String, String, Value) {
    let empty = Map::new();
    let report = report(event).unwrap_or(&empty);
    let effective = directive(report);
    let directive = local_script_violation(report, &effective)
        .map(str::to_owned)
        .unwrap_or(effective);
    let uri = normalized_uri(report);
    let title = event
        .logentry
        .as_ref()
        .and_then(|l| l.display())
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| message(&directive, &uri));
    let culprit = event
        .culprit
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .or_else(|| field(report, "violated_directive"))
        .map(str::to_owned)
        .unwrap_or_else(|| directive.clone());
    let metadata = json!({"directive": directive, "uri": uri, "message": title});
    (title, culprit, metadata)
}

/// What a CSP report is grouped by.
pub(crate) fn grouping_components(event: &Event) -> Vec<String> {
    let empty = Map::new();
    let report = report(event).unwrap_or(&empty);
    let effective = directive(report);
    let directive = local_script_violation(report, &effective)
        .map(str::to_owned)
        .unwrap_or(effective);
    vec!["csp".to_owned(), directive, normalized_uri(report)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EventType;
    use crate::summarize;

    fn csp_event(report: Value) -> Event {
        let mut event = Event::default();
        event.other.insert("csp".into(), report);
        event
    }

    #[test]
    fn browser_report_title() {
        // the report of fixtures/sentry-events/csp/mozilla_example.json
        let event = csp_event(json!({
            "blocked-uri": "http://example.com/css/style.css",
            "document-uri": "http://example.com/signup.html",
            "effective-directive": "style-src-elem",
            "violated-directive": "style-src-elem",
        }));
        let s = summarize(&event);
        assert_eq!(s.event_type, EventType::Csp);
        assert_eq!(s.title, "Blocked 'style' from 'example.com'");
        assert_eq!(s.culprit, "style-src-elem");
        assert_eq!(s.metadata["uri"], json!("example.com"));
    }

    #[test]
    fn ingest_message_and_culprit_win() {
        let body =
            include_bytes!("../../../../tests/fixtures/sentry-events/csp/mozilla_example.json");
        let events = corral_protocol::parse_security_report(body).unwrap();
        let mut event = events.into_iter().next().unwrap();
        crate::normalize(&mut event, chrono::Utc::now());
        let s = summarize(&event);
        assert_eq!(s.event_type, EventType::Csp);
        assert_eq!(s.title, "Blocked 'style' from 'example.com'");
        assert_eq!(s.culprit, "style-src-elem");
        assert_eq!(event.platform.as_deref(), Some("csp"));
        let mut edited = event.clone();
        edited.culprit = Some("style-src-elem cdn.example.com".into());
        assert_eq!(summarize(&edited).culprit, "style-src-elem cdn.example.com");
    }

    #[test]
    fn inline_and_scheme_uris() {
        let inline =
            csp_event(json!({"effective_directive": "script-src", "blocked_uri": "inline"}));
        assert_eq!(summarize(&inline).title, "Blocked unsafe inline 'script'");
        let data = csp_event(
            json!({"effective_directive": "img-src", "blocked_uri": "data:image/png;base64,xx"}),
        );
        assert_eq!(summarize(&data).title, "Blocked image from 'data:'");
        assert_eq!(grouping_components(&data), vec!["csp", "img-src", "data:"]);
    }
}
