//! Tags: the SDK's own, cleaned, then the ones Sentry derives from the event
//! so that every issue can be filtered by level, release, browser, user, …

use std::collections::HashSet;

use corral_protocol::{Event, Tags};
use serde_json::{Map, Value};

use super::{limits, truncate_chars};

/// Context types whose name and version become tags.
const VERSIONED_CONTEXTS: &[&str] = &["os", "runtime", "browser"];

pub(super) fn normalize_tags(event: &mut Event) {
    let mut tags = TagSet::default();
    if let Some(sent) = event.tags.take() {
        for (key, value) in sent.0 {
            tags.add(&key, &value);
        }
    }

    let level = event.level.map(|l| l.as_str());
    for (key, value) in [
        ("level", level),
        ("environment", event.environment.as_deref()),
        ("release", event.release.as_deref()),
        ("dist", event.dist.as_deref()),
        ("server_name", event.server_name.as_deref()),
        ("transaction", event.transaction.as_deref()),
        ("logger", event.logger.as_deref()),
        ("url", event.request.as_ref().and_then(|r| r.url.as_deref())),
    ] {
        if let Some(value) = value {
            tags.add(key, value);
        }
    }

    // The outermost exception that says how it was caught.
    let mechanism = event
        .exceptions()
        .iter()
        .rev()
        .find_map(|e| e.mechanism.as_ref());
    if let Some(mechanism) = mechanism {
        if let Some(handled) = mechanism.handled {
            tags.add("handled", if handled { "yes" } else { "no" });
        }
        if let Some(ty) = &mechanism.ty {
            tags.add("mechanism", ty);
        }
    }

    if let Some(contexts) = &event.contexts {
        for (key, context) in contexts {
            if let Value::Object(context) = context {
                add_context_tags(&mut tags, key, context);
            }
        }
    }

    if let Some(user) = &event.user {
        // Sentry's order of preference for naming a user.
        let ident = [
            ("id", &user.id),
            ("email", &user.email),
            ("username", &user.username),
            ("ip", &user.ip_address),
        ]
        .into_iter()
        .find_map(|(prefix, v)| v.as_deref().map(|v| format!("{prefix}:{v}")));
        if let Some(ident) = ident {
            tags.add("user", &ident);
        }
    }

    event.tags = Some(Tags(tags.pairs));
}

/// `os`, `runtime` and `browser` contexts give `<key>` = "name version" and
/// `<key>.name`; a `device` context gives `<key>` = its model and
/// `<key>.family`. The key is the context's own (e.g. `server-os`), its type
/// is `type` or else the key.
fn add_context_tags(tags: &mut TagSet, key: &str, context: &Map<String, Value>) {
    let ty = context.get("type").and_then(Value::as_str).unwrap_or(key);
    let text = |field: &str| {
        context
            .get(field)
            .and_then(|v| match v {
                Value::String(s) => Some(s.trim().to_owned()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .filter(|s| !s.is_empty())
    };
    if VERSIONED_CONTEXTS.contains(&ty) {
        // .NET sends only a raw description such as "Linux 5.4.0-… #30 SMP …";
        // its first word is the name.
        let name = text("name").or_else(|| {
            (ty != "browser")
                .then(|| text("raw_description"))
                .flatten()
                .and_then(|raw| raw.split_whitespace().next().map(str::to_owned))
        });
        let Some(name) = name else {
            return;
        };
        if let Some(version) = text("version") {
            tags.add(key, &format!("{name} {version}"));
        }
        tags.add(&format!("{key}.name"), &name);
    } else if ty == "device" {
        if let Some(model) = text("model") {
            tags.add(key, &model);
        }
        if let Some(family) = text("family") {
            tags.add(&format!("{key}.family"), &family);
        }
    }
}

/// Tags in the order they were added; the first value of a key wins.
#[derive(Default)]
struct TagSet {
    pairs: Vec<(String, String)>,
    keys: HashSet<String>,
}

impl TagSet {
    /// Adds a tag unless its key is taken. Keys and values are trimmed and
    /// bounded; empty ones, and values spanning lines (which Sentry rejects:
    /// a tag is a one-line facet), are dropped.
    fn add(&mut self, key: &str, value: &str) {
        let key = key.trim();
        let value = value.trim();
        if key.is_empty() || value.is_empty() || value.contains(['\n', '\r']) {
            return;
        }
        let key = truncate_chars(key, limits::TAG_KEY);
        if self.keys.contains(&key) {
            return;
        }
        self.keys.insert(key.clone());
        self.pairs
            .push((key, truncate_chars(value, limits::TAG_VALUE)));
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use serde_json::json;

    use crate::normalize;

    fn tags_of(value: serde_json::Value) -> Vec<(String, String)> {
        let mut event = serde_json::from_value(value).unwrap();
        normalize(&mut event, Utc::now());
        event.tags.unwrap().0
    }

    fn pair(k: &str, v: &str) -> (String, String) {
        (k.to_owned(), v.to_owned())
    }

    #[test]
    fn sent_tags_are_cleaned() {
        let long = "v".repeat(300);
        let tags = tags_of(json!({
            "level": "info",
            "tags": [[" a ", " 1 "], ["a", "2"], ["", "x"], ["b", ""], ["c", long], ["d", "two\nlines"]],
        }));
        assert_eq!(tags[0], pair("a", "1"));
        assert_eq!(tags[1].0, "c");
        assert_eq!(tags[1].1.chars().count(), 200);
        assert!(tags[1].1.ends_with("..."));
        assert_eq!(tags[2], pair("level", "info"));
        assert_eq!(tags.len(), 3);
    }

    #[test]
    fn sent_tags_win_over_derived_ones() {
        let tags = tags_of(json!({"environment": "prod", "tags": {"environment": "mine"}}));
        assert!(tags.contains(&pair("environment", "mine")));
        assert!(!tags.contains(&pair("environment", "prod")));
    }

    #[test]
    fn derived_tags() {
        let tags = tags_of(json!({
            "level": "warning",
            "environment": "production",
            "release": "app@1.2.3",
            "dist": "7",
            "server_name": "web-1",
            "transaction": "/checkout",
            "logger": "app.views",
            "request": {"url": "https://shop.example/checkout"},
            "exception": [{"type": "E", "mechanism": {"type": "django", "handled": false}}],
            "contexts": {
                "os": {"name": "Linux", "version": "6.1"},
                "runtime": {"name": "CPython", "version": "3.12.1"},
                "browser": {"name": "Firefox", "version": "128.0"},
                "device": {"model": "Pixel 8", "family": "Pixel"},
                "server-os": {"type": "os", "raw_description": "Linux 5.4.0-7626-generic #30 SMP"},
                "trace": {"trace_id": "abc"},
            },
            "user": {"email": "a@example.com", "ip_address": "10.0.0.1"},
        }));
        for expected in [
            pair("level", "warning"),
            pair("environment", "production"),
            pair("release", "app@1.2.3"),
            pair("dist", "7"),
            pair("server_name", "web-1"),
            pair("transaction", "/checkout"),
            pair("logger", "app.views"),
            pair("url", "https://shop.example/checkout"),
            pair("handled", "no"),
            pair("mechanism", "django"),
            pair("os", "Linux 6.1"),
            pair("os.name", "Linux"),
            pair("runtime", "CPython 3.12.1"),
            pair("runtime.name", "CPython"),
            pair("browser", "Firefox 128.0"),
            pair("browser.name", "Firefox"),
            pair("device", "Pixel 8"),
            pair("device.family", "Pixel"),
            pair("server-os.name", "Linux"),
            pair("user", "email:a@example.com"),
        ] {
            assert!(tags.contains(&expected), "missing {expected:?} in {tags:?}");
        }
        assert!(
            !tags
                .iter()
                .any(|(k, _)| k == "server-os" || k.starts_with("trace"))
        );
    }

    #[test]
    fn user_tag_prefers_id_then_email_then_username_then_ip() {
        let user = |u: serde_json::Value| {
            tags_of(json!({"user": u}))
                .into_iter()
                .find(|(k, _)| k == "user")
                .map(|(_, v)| v)
        };
        assert_eq!(
            user(json!({"id": 1, "email": "e@x", "ip_address": "1.2.3.4"})).as_deref(),
            Some("id:1")
        );
        assert_eq!(
            user(json!({"username": "u", "ip_address": "1.2.3.4"})).as_deref(),
            Some("username:u")
        );
        assert_eq!(
            user(json!({"ip_address": "1.2.3.4"})).as_deref(),
            Some("ip:1.2.3.4")
        );
        assert_eq!(user(json!({})), None);
    }
}
