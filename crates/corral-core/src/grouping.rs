//! Grouping: which events are the same problem. Each event is described by
//! one or more lists of strings (its *components*); events whose components
//! hash alike belong to one issue.
//!
//! In precedence order, an event is described by:
//! 1. its `fingerprint`, when it sends one (`{{ default }}` expands to the
//!    description below, other `{{ … }}` variables to event fields);
//! 2. the stack traces of its exception chain: each exception's type and its
//!    frames' module (else stable file name) and stable function name, never
//!    line numbers. When any frame is in-app, the in-app frames alone give the
//!    primary description and all frames a fallback one, so library frames
//!    never split an issue;
//! 3. for an exception without a usable stack trace: its type and its value
//!    with numbers, ids, addresses and dates replaced by placeholders;
//! 4. the message template (`logentry.message` before formatting, else the
//!    formatted message with placeholders);
//! 5. a stand-alone stack trace (the event's, or its only thread's).
//!
//! Only strings and their byte lengths go into the hash (MD5), so grouping is
//! the same on every platform and in every run.

mod names;
mod params;

use corral_protocol::{Event, Exception, Frame};
use md5::{Digest, Md5};

use crate::model::EventType;
use crate::store::GroupHash;
use crate::summary::{
    crash_frame, csp, event_type, exceptions, frame_function, message_text, non_empty,
};

/// The grouping configuration new projects use; stored with every hash so a
/// future algorithm can run beside this one while projects move over.
pub const GROUPING_CONFIG: &str = "corral:2026-11";

/// A source line stands in for a missing function name only when it is short
/// enough to be a statement rather than minified code.
const MAX_CONTEXT_LINE_FOR_GROUPING: usize = 120;

/// Grouping hashes (32 lowercase hex digits, the MD5 of the grouping
/// components) in precedence order, without duplicates; empty for
/// transactions. Every hash carries `config`.
pub fn grouping_hashes(event: &Event, config: &str) -> Vec<GroupHash> {
    let mut hashes: Vec<GroupHash> = Vec::new();
    for components in grouping_components(event) {
        let hash = hash_components(&components);
        if !hashes.iter().any(|h| h.hash == hash) {
            hashes.push(GroupHash {
                hash,
                config: config.to_owned(),
            });
        }
    }
    hashes
}

/// The descriptions [`grouping_hashes`] hashes, in the same order: useful to
/// show why two events did or did not group together.
pub fn grouping_components(event: &Event) -> Vec<Vec<String>> {
    let default = match event_type(event) {
        EventType::Transaction => return Vec::new(),
        EventType::Csp => vec![csp::grouping_components(event)],
        EventType::Error | EventType::Default => default_variants(event),
    };
    fingerprint_variants(event, &default).unwrap_or(default)
}

fn hash_components(components: &[String]) -> String {
    let mut md5 = Md5::new();
    for component in components {
        // Length-prefixed, so ["ab", "c"] and ["a", "bc"] differ.
        md5.update(component.len().to_string().as_bytes());
        md5.update(b":");
        md5.update(component.as_bytes());
    }
    hex::encode(md5.finalize())
}

fn platform(event: &Event) -> &str {
    event.platform.as_deref().unwrap_or("other")
}

fn default_variants(event: &Event) -> Vec<Vec<String>> {
    let platform = platform(event);
    let exceptions = exceptions(event);
    if !exceptions.is_empty() {
        return exception_variants(&exceptions, platform);
    }
    if let Some(template) = message_template(event) {
        return vec![vec!["message".to_owned(), params::parameterize(&template)]];
    }
    if let Some(frames) = standalone_frames(event) {
        let variants: Vec<Vec<String>> = frame_sets(frames.iter().collect())
            .into_iter()
            .filter_map(|set| {
                let described = describe_frames(&set, platform)?;
                Some(
                    std::iter::once("stacktrace".to_owned())
                        .chain(described)
                        .collect(),
                )
            })
            .collect();
        if !variants.is_empty() {
            return dedup(variants);
        }
    }
    vec![vec!["unlabeled".to_owned()]]
}

/// The in-app frames (when there are any), then all frames.
fn frame_sets(frames: Vec<&Frame>) -> Vec<Vec<&Frame>> {
    let in_app: Vec<&Frame> = frames
        .iter()
        .copied()
        .filter(|f| f.in_app == Some(true))
        .collect();
    if in_app.is_empty() {
        vec![frames]
    } else {
        vec![in_app, frames]
    }
}

fn exception_frames(exception: &Exception) -> &[Frame] {
    exception
        .stacktrace
        .as_ref()
        .map(|s| s.frames.as_slice())
        .unwrap_or(&[])
}

/// One description from the in-app frames of the whole chain (when any frame
/// is in-app), one from all frames.
fn exception_variants(exceptions: &[&Exception], platform: &str) -> Vec<Vec<String>> {
    let any_in_app = exceptions
        .iter()
        .flat_map(|e| exception_frames(e))
        .any(|f| f.in_app == Some(true));
    let mut variants = Vec::new();
    if any_in_app {
        variants.push(describe_chain(exceptions, platform, true));
    }
    variants.push(describe_chain(exceptions, platform, false));
    dedup(variants)
}

fn describe_chain(exceptions: &[&Exception], platform: &str, in_app_only: bool) -> Vec<String> {
    let mut components = vec!["exception".to_owned()];
    for exception in exceptions {
        let ty = non_empty(&exception.ty)
            .and_then(names::module)
            .unwrap_or_else(|| "<no-type>".to_owned());
        components.push(ty);
        let frames: Vec<&Frame> = exception_frames(exception)
            .iter()
            .filter(|f| !in_app_only || f.in_app == Some(true))
            .collect();
        match describe_frames(&frames, platform) {
            Some(described) => {
                components.push("frames".to_owned());
                components.extend(described);
            }
            // No stack trace worth the name (none, or no frame has a
            // function): the value says what went wrong.
            None => {
                components.push("value".to_owned());
                components.push(params::parameterize(
                    non_empty(&exception.value).unwrap_or(""),
                ));
            }
        }
    }
    components
}

/// A frame as grouping sees it.
#[derive(PartialEq)]
struct FrameKey {
    location: String,
    function: String,
}

/// The frames' stable names, recursion collapsed; `None` when no frame names
/// its code (a stack of anonymous frames in one file tells nothing apart).
fn describe_frames(frames: &[&Frame], platform: &str) -> Option<Vec<String>> {
    let mut keys: Vec<FrameKey> = Vec::with_capacity(frames.len());
    let mut informative = false;
    for frame in frames {
        let Some(key) = frame_key(frame, platform) else {
            continue;
        };
        informative |= !key.function.is_empty();
        // Recursion depth must not split an issue.
        if keys.last() != Some(&key) {
            keys.push(key);
        }
    }
    informative.then(|| {
        keys.into_iter()
            .flat_map(|k| [k.location, k.function])
            .collect()
    })
}

/// Where the frame is (module, else file) and what runs there (function,
/// else a short source line); `None` when neither is known.
fn frame_key(frame: &Frame, platform: &str) -> Option<FrameKey> {
    let platform = non_empty(&frame.platform).unwrap_or(platform);
    let location = non_empty(&frame.module)
        .and_then(names::module)
        .or_else(|| non_empty(&frame.filename).and_then(names::filename))
        .or_else(|| non_empty(&frame.abs_path).and_then(names::filename));
    let function = frame_function(frame)
        .and_then(|f| names::function(f, platform))
        .or_else(|| {
            let line = frame.context_line.as_deref()?;
            let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
            (!line.is_empty() && line.chars().count() <= MAX_CONTEXT_LINE_FOR_GROUPING)
                .then(|| format!("context:{line}"))
        });
    if location.is_none() && function.is_none() {
        return None;
    }
    Some(FrameKey {
        location: location.unwrap_or_default(),
        function: function.unwrap_or_default(),
    })
}

/// The event's own stack trace, else the only thread's.
fn standalone_frames(event: &Event) -> Option<&[Frame]> {
    if let Some(stacktrace) = event.stacktrace.as_ref().filter(|s| !s.frames.is_empty()) {
        return Some(&stacktrace.frames);
    }
    let threads = &event.threads.as_ref()?.values;
    let stacktraces: Vec<_> = threads
        .iter()
        .filter_map(|t| t.stacktrace.as_ref())
        .filter(|s| !s.frames.is_empty())
        .collect();
    match stacktraces.as_slice() {
        [only] => Some(&only.frames),
        _ => {
            // Several threads: the one that crashed.
            threads
                .iter()
                .filter(|t| t.crashed == Some(true))
                .find_map(|t| t.stacktrace.as_ref())
                .filter(|s| !s.frames.is_empty())
                .map(|s| s.frames.as_slice())
        }
    }
}

/// The template before formatting, else the message itself.
fn message_template(event: &Event) -> Option<String> {
    event
        .logentry
        .as_ref()
        .and_then(|l| non_empty(&l.message))
        .map(|m| m.trim().to_owned())
        .or_else(|| message_text(event))
}

fn dedup(variants: Vec<Vec<String>>) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::with_capacity(variants.len());
    for variant in variants {
        if !out.contains(&variant) {
            out.push(variant);
        }
    }
    out
}

fn is_default(part: &str) -> bool {
    variable_name(part).is_some_and(|name| name == "default")
}

/// `{{ name }}` → `name` (lowercase).
fn variable_name(part: &str) -> Option<String> {
    let inner = part.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    Some(inner.trim().to_ascii_lowercase())
}

/// The fingerprint's descriptions: one per default description when it uses
/// `{{ default }}`, else one. `None` when the fingerprint is absent, empty, or
/// only `{{ default }}` (which means "as usual").
fn fingerprint_variants(event: &Event, default: &[Vec<String>]) -> Option<Vec<Vec<String>>> {
    let parts: Vec<&str> = event
        .fingerprint
        .as_ref()?
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .collect();
    if parts.iter().all(|p| is_default(p)) {
        return None;
    }
    let resolved: Vec<Option<String>> = parts
        .iter()
        .map(|p| (!is_default(p)).then(|| resolve_part(event, p)))
        .collect();
    let bases: Vec<&[String]> = if resolved.iter().any(Option::is_none) {
        default.iter().map(Vec::as_slice).collect()
    } else {
        vec![&[]]
    };
    Some(
        bases
            .into_iter()
            .map(|base| {
                let mut components = vec!["fingerprint".to_owned()];
                for part in &resolved {
                    match part {
                        Some(value) => components.push(value.clone()),
                        None => {
                            components.push("{{ default }}".to_owned());
                            components.extend(base.iter().cloned());
                        }
                    }
                }
                components
            })
            .collect(),
    )
}

/// A fingerprint part: a literal, or a `{{ variable }}` filled from the event.
fn resolve_part(event: &Event, part: &str) -> String {
    let Some(name) = variable_name(part) else {
        return part.to_owned();
    };
    let outermost = exceptions(event).last().copied();
    let crash = crash_frame(event);
    let or = |value: Option<String>, missing: &str| value.unwrap_or_else(|| missing.to_owned());
    match name.as_str() {
        "type" | "error.type" => or(
            outermost.and_then(|e| non_empty(&e.ty)).map(str::to_owned),
            "<no-type>",
        ),
        "value" | "error.value" => or(
            outermost
                .and_then(|e| non_empty(&e.value))
                .map(params::parameterize),
            "<no-value>",
        ),
        "message" => or(message_text(event), "<no-message>"),
        "transaction" => or(
            non_empty(&event.transaction).map(str::to_owned),
            "<no-transaction>",
        ),
        "function" => or(
            crash
                .and_then(frame_function)
                .and_then(|f| names::function(f, platform(event))),
            "<no-function>",
        ),
        "module" => or(
            crash
                .and_then(|f| non_empty(&f.module))
                .and_then(names::module),
            "<no-module>",
        ),
        "level" => or(event.level.map(|l| l.as_str().to_owned()), "<no-level>"),
        "logger" => or(non_empty(&event.logger).map(str::to_owned), "<no-logger>"),
        _ => match name.strip_prefix("tags.") {
            Some(key) => or(
                event
                    .tags
                    .as_ref()
                    .and_then(|t| t.get(key))
                    .map(str::to_owned),
                "<no-value-for-tag>",
            ),
            None => part.to_owned(),
        },
    }
}
