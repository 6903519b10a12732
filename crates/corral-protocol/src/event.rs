//! The lenient event model.
//!
//! SDKs of every age send events; a field of the wrong shape must never make the
//! whole event unreadable. Each field is therefore read through a lenient
//! deserializer: a value that cannot be understood becomes `None` (or is
//! converted, e.g. a number where a string was expected), and fields Corral does
//! not model are kept in `other` so they survive a round trip.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, TimeZone, Utc};
use serde::de::Deserializer;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};
use uuid::Uuid;

/// Unknown fields of an object, kept verbatim.
pub type Other = Map<String, Value>;

// ---------------------------------------------------------------------------
// lenient field readers (see lenient.rs)

use crate::lenient::{
    LEVEL, LenientRead, TIMESTAMP, TagsVisitor, lenient, lenient_bool, lenient_event_id,
    lenient_object, lenient_string, lenient_string_vec, lenient_u64, lenient_vec_or_empty,
};

/// Turns a JSON value into text the way Sentry displays it.
pub fn value_to_string(v: Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        other => Some(other.to_string()),
    }
}

// ---------------------------------------------------------------------------
// small value types

/// A moment in time; SDKs send seconds since the epoch (integer or float) or an
/// ISO 8601 / RFC 3339 string, with or without a zone (UTC assumed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    pub fn from_secs_f64(secs: f64) -> Option<Timestamp> {
        // up to 9999-12-31T23:59:59Z; NaN is outside the range too
        if !(0.0..=253_402_300_799.0).contains(&secs) {
            return None;
        }
        // microsecond precision: what the wire format carries, without the
        // float's representation error (…20.488 must not become …20.487999)
        let micros = (secs * 1e6).round() as i64;
        Utc.timestamp_micros(micros).single().map(Timestamp)
    }

    pub fn parse_str(s: &str) -> Option<Timestamp> {
        Self::parse_str_exact(s.trim()).map(|t| {
            let micros = t.0.timestamp_micros();
            Timestamp(Utc.timestamp_micros(micros).single().unwrap_or(t.0))
        })
    }

    fn parse_str_exact(s: &str) -> Option<Timestamp> {
        if let Ok(secs) = s.parse::<f64>() {
            return Timestamp::from_secs_f64(secs);
        }
        if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
            return Some(Timestamp(dt.with_timezone(&Utc)));
        }
        // no zone: UTC, with `T` or a space between date and time
        for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
            if let Ok(naive) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
                return Some(Timestamp(Utc.from_utc_datetime(&naive)));
            }
        }
        // a zone without a colon (e.g. +0000)
        if let Ok(dt) = DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z") {
            return Some(Timestamp(dt.with_timezone(&Utc)));
        }
        None
    }

    pub fn as_secs_f64(&self) -> f64 {
        self.0.timestamp() as f64 + f64::from(self.0.timestamp_subsec_micros()) / 1e6
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TIMESTAMP)?
            .ok_or_else(|| serde::de::Error::custom("invalid timestamp"))
    }
}

/// The severity of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Debug,
    Info,
    Warning,
    Error,
    Fatal,
}

impl Level {
    pub fn as_str(&self) -> &'static str {
        match self {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
            Level::Fatal => "fatal",
        }
    }

    /// Parses the level names (and Python's numeric levels) SDKs send.
    pub fn parse(s: &str) -> Option<Level> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "debug" | "trace" | "10" => Level::Debug,
            "info" | "log" | "notice" | "20" => Level::Info,
            "warning" | "warn" | "30" => Level::Warning,
            "error" | "err" | "40" => Level::Error,
            "fatal" | "critical" | "crit" | "50" => Level::Fatal,
            _ => return None,
        })
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Level::parse(s).ok_or_else(|| format!("unknown level {s:?}"))
    }
}

impl Serialize for Level {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Level {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LEVEL)?
            .ok_or_else(|| serde::de::Error::custom("unknown level"))
    }
}

/// A list that SDKs send either bare (`[…]`), wrapped (`{"values": […]}`) or,
/// in old SDKs, as a single object. Always written wrapped.
#[derive(Clone, Debug, PartialEq)]
pub struct Values<T> {
    pub values: Vec<T>,
    pub other: Other,
}

impl<T> Default for Values<T> {
    fn default() -> Self {
        Values {
            values: Vec::new(),
            other: Other::new(),
        }
    }
}

impl<T> Values<T> {
    pub fn new(values: Vec<T>) -> Self {
        Values {
            values,
            other: Other::new(),
        }
    }
}

impl<T: Serialize> Serialize for Values<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(1 + self.other.len()))?;
        map.serialize_entry("values", &self.values)?;
        for (k, v) in &self.other {
            if k != "values" {
                map.serialize_entry(k, v)?;
            }
        }
        map.end()
    }
}

impl<'de, T: LenientRead> Deserialize<'de> for Values<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Values::read(d)?.unwrap_or_default())
    }
}

/// Tags, sent as a map `{k: v}` or a list of pairs `[[k, v]]` (or of
/// `{"key", "value"}` objects). Values are kept as text. Written as a list of
/// pairs, in the order received.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tags(pub Vec<(String, String)>);

impl Tags {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Sets a tag, replacing an existing value of the same key.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let key = key.into();
        let value = value.into();
        if let Some(slot) = self.0.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = value;
        } else {
            self.0.push((key, value));
        }
    }
}

impl Serialize for Tags {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Tags {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(d.deserialize_any(TagsVisitor)?.unwrap_or_default())
    }
}

/// HTTP headers or cookies: a map or a list of pairs; written as pairs.
pub type Headers = Tags;

// ---------------------------------------------------------------------------
// interfaces

/// A message with optional format parameters (`sentry.interfaces.Message`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// The message template, before formatting (e.g. `"user %s not found"`).
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub message: Option<String>,
    /// The message after formatting.
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub formatted: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
    #[serde(flatten)]
    pub other: Other,
}

impl LogEntry {
    /// What a user reads: the formatted message, else the template.
    pub fn display(&self) -> Option<&str> {
        self.formatted
            .as_deref()
            .filter(|s| !s.is_empty())
            .or(self.message.as_deref().filter(|s| !s.is_empty()))
    }
}

/// How an exception was caught.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Mechanism {
    #[serde(
        rename = "type",
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub ty: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub handled: Option<bool>,
    #[serde(
        default,
        deserialize_with = "lenient_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub synthetic: Option<bool>,
    #[serde(flatten)]
    pub other: Other,
}

/// One exception of a (possibly chained) error.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Exception {
    #[serde(
        rename = "type",
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub ty: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub value: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub module: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub mechanism: Option<Mechanism>,
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub stacktrace: Option<Stacktrace>,
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub raw_stacktrace: Option<Stacktrace>,
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub thread_id: Option<String>,
    #[serde(flatten)]
    pub other: Other,
}

/// A stack trace; frames are ordered oldest call first, the crashing frame last.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stacktrace {
    #[serde(default, deserialize_with = "lenient_vec_or_empty")]
    pub frames: Vec<Frame>,
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub frames_omitted: Option<Vec<u64>>,
    #[serde(
        default,
        deserialize_with = "lenient_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub registers: Option<Map<String, Value>>,
    #[serde(flatten)]
    pub other: Other,
}

/// One stack frame.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub filename: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub abs_path: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub function: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub raw_function: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub module: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub package: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub platform: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub lineno: Option<u64>,
    #[serde(
        default,
        deserialize_with = "lenient_u64",
        skip_serializing_if = "Option::is_none"
    )]
    pub colno: Option<u64>,
    #[serde(
        default,
        deserialize_with = "lenient_string_vec",
        skip_serializing_if = "Option::is_none"
    )]
    pub pre_context: Option<Vec<String>>,
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub context_line: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_string_vec",
        skip_serializing_if = "Option::is_none"
    )]
    pub post_context: Option<Vec<String>>,
    #[serde(
        default,
        deserialize_with = "lenient_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub in_app: Option<bool>,
    #[serde(
        default,
        deserialize_with = "lenient_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub vars: Option<Map<String, Value>>,
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub instruction_addr: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub symbol: Option<String>,
    #[serde(flatten)]
    pub other: Other,
}

/// A thread, possibly with its own stack trace.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Thread {
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub crashed: Option<bool>,
    #[serde(
        default,
        deserialize_with = "lenient_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub current: Option<bool>,
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub stacktrace: Option<Stacktrace>,
    #[serde(flatten)]
    pub other: Other,
}

/// The user affected by an event.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct User {
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub email: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub ip_address: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub username: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    #[serde(flatten)]
    pub other: Other,
}

/// The HTTP request during which an event happened.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Request {
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub url: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_string: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookies: Option<Value>,
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub headers: Option<Headers>,
    #[serde(
        default,
        deserialize_with = "lenient_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub env: Option<Map<String, Value>>,
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub fragment: Option<String>,
    #[serde(flatten)]
    pub other: Other,
}

/// A breadcrumb: something that happened before the event.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Breadcrumb {
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub timestamp: Option<Timestamp>,
    #[serde(
        rename = "type",
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub ty: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub category: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub message: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub level: Option<Level>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
    #[serde(flatten)]
    pub other: Other,
}

/// The SDK that sent the event.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ClientSdk {
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub version: Option<String>,
    #[serde(flatten)]
    pub other: Other,
}

// ---------------------------------------------------------------------------
// the event

/// An error or message event as any Sentry SDK sends it (also the legacy
/// `sentry.interfaces.*` names of old clients).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Event {
    #[serde(
        default,
        deserialize_with = "lenient_event_id",
        serialize_with = "serialize_event_id",
        skip_serializing_if = "Option::is_none"
    )]
    pub event_id: Option<Uuid>,
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub timestamp: Option<Timestamp>,
    /// For transactions: when the transaction started.
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub start_timestamp: Option<Timestamp>,
    #[serde(
        rename = "type",
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub ty: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub platform: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub level: Option<Level>,
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub logger: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub transaction: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub server_name: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub release: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub dist: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub environment: Option<String>,
    /// The culprit as the SDK sent it (old SDKs); Corral derives its own.
    #[serde(
        default,
        deserialize_with = "lenient_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub culprit: Option<String>,
    /// The plain message. Old SDKs send `message` as an object (then it is
    /// read into `logentry` during normalization).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Value>,
    #[serde(
        default,
        alias = "sentry.interfaces.Message",
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub logentry: Option<LogEntry>,
    #[serde(
        default,
        alias = "sentry.interfaces.Exception",
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub exception: Option<Values<Exception>>,
    #[serde(
        default,
        alias = "sentry.interfaces.Stacktrace",
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub stacktrace: Option<Stacktrace>,
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub threads: Option<Values<Thread>>,
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub tags: Option<Tags>,
    #[serde(
        default,
        deserialize_with = "lenient_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub extra: Option<Map<String, Value>>,
    #[serde(
        default,
        alias = "sentry.interfaces.User",
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub user: Option<User>,
    #[serde(
        default,
        alias = "sentry.interfaces.Http",
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub request: Option<Request>,
    #[serde(
        default,
        deserialize_with = "lenient_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub contexts: Option<Map<String, Value>>,
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub breadcrumbs: Option<Values<Breadcrumb>>,
    #[serde(
        default,
        deserialize_with = "lenient_string_vec",
        skip_serializing_if = "Option::is_none"
    )]
    pub fingerprint: Option<Vec<String>>,
    #[serde(
        default,
        deserialize_with = "lenient_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub modules: Option<Map<String, Value>>,
    #[serde(
        default,
        deserialize_with = "lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub sdk: Option<ClientSdk>,
    /// Everything else the SDK sent (spans, measurements, debug_meta, …).
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// The `sentry.interfaces.*` names of old clients and the fields they alias.
const LEGACY_NAMES: [(&str, &str); 5] = [
    ("sentry.interfaces.Message", "logentry"),
    ("sentry.interfaces.Exception", "exception"),
    ("sentry.interfaces.Stacktrace", "stacktrace"),
    ("sentry.interfaces.User", "user"),
    ("sentry.interfaces.Http", "request"),
];

/// Writes an event id as Sentry does: 32 lowercase hex digits.
fn serialize_event_id<S: Serializer>(id: &Option<Uuid>, s: S) -> Result<S::Ok, S::Error> {
    match id {
        Some(id) => s.serialize_str(&format_event_id(id)),
        None => s.serialize_none(),
    }
}

/// Parses an event id in any of the forms SDKs use: 32 hex digits, or a
/// hyphenated UUID, in either case.
pub fn parse_event_id(s: &str) -> Option<Uuid> {
    Uuid::try_parse(s.trim()).ok()
}

/// Formats an event id the way Sentry does: 32 lowercase hex digits.
pub fn format_event_id(id: &Uuid) -> String {
    id.simple().to_string()
}

impl Event {
    /// Reads an event from JSON. Only input that is not a JSON object fails:
    /// what serde_json cannot build a value from is repaired first (see
    /// [`crate::read_json`]).
    pub fn from_json(bytes: &[u8]) -> Result<Event, serde_json::Error> {
        crate::json::read_with(bytes, Event::from_exact_json)
    }

    fn from_exact_json(bytes: &[u8]) -> Result<Event, serde_json::Error> {
        // One pass over the text, straight into the model. The derived reader
        // refuses a repeated key ("duplicate field") and a field sent under
        // both its current and its legacy name; such an event is read again
        // through a map, which keeps the last value of a repeated key, and
        // where the current name wins over the legacy one.
        if let Ok(event) = serde_json::from_slice::<Event>(bytes) {
            return Ok(event);
        }
        let mut map: Map<String, Value> = serde_json::from_slice(bytes)?;
        for (legacy, current) in LEGACY_NAMES {
            if map.contains_key(current) {
                map.shift_remove(legacy);
            }
        }
        Event::deserialize(Value::Object(map))
    }

    /// The exceptions, outermost (the one finally raised) last, as SDKs send them.
    pub fn exceptions(&self) -> &[Exception] {
        self.exception
            .as_ref()
            .map(|v| v.values.as_slice())
            .unwrap_or(&[])
    }

    /// The text of `message`, whatever shape it came in.
    pub fn message_text(&self) -> Option<String> {
        match &self.message {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Object(obj)) => obj
                .get("formatted")
                .or_else(|| obj.get("message"))
                .and_then(|v| value_to_string(v.clone())),
            Some(other) => value_to_string(other.clone()),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timestamps_as_numbers_and_strings() {
        let a: Timestamp = serde_json::from_value(json!(1588437260.488)).unwrap();
        let b: Timestamp = serde_json::from_value(json!("2020-05-02T16:34:20.488Z")).unwrap();
        let c: Timestamp = serde_json::from_value(json!("2020-05-02T16:34:20.488")).unwrap();
        let d: Timestamp = serde_json::from_value(json!("1588437260.488")).unwrap();
        assert_eq!(a, b);
        assert_eq!(b, c);
        assert_eq!(c, d);
        assert!(serde_json::from_value::<Timestamp>(json!("yesterday")).is_err());
    }

    #[test]
    fn tags_as_map_or_pairs() {
        let map: Tags = serde_json::from_value(json!({"a": "1", "b": 2})).unwrap();
        let pairs: Tags = serde_json::from_value(json!([["a", "1"], ["b", 2]])).unwrap();
        let objs: Tags =
            serde_json::from_value(json!([{"key": "a", "value": "1"}, {"key": "b", "value": 2}]))
                .unwrap();
        assert_eq!(map, pairs);
        assert_eq!(pairs, objs);
        assert_eq!(map.get("b"), Some("2"));
    }

    #[test]
    fn exception_as_list_wrapped_or_single() {
        let list: Event = serde_json::from_value(json!({"exception": [{"type": "E"}]})).unwrap();
        let wrapped: Event =
            serde_json::from_value(json!({"exception": {"values": [{"type": "E"}]}})).unwrap();
        let legacy: Event =
            serde_json::from_value(json!({"sentry.interfaces.Exception": {"type": "E"}})).unwrap();
        assert_eq!(list.exceptions()[0].ty.as_deref(), Some("E"));
        assert_eq!(list.exception, wrapped.exception);
        assert_eq!(list.exception, legacy.exception);
    }

    #[test]
    fn wrong_shapes_do_not_fail_the_event() {
        let event: Event = serde_json::from_value(json!({
            "level": 12345,
            "timestamp": {"not": "a time"},
            "tags": "nope",
            "user": "bob",
            "release": 42,
            "exception": {"values": [{"type": "E", "value": {"code": 7}, "stacktrace": {"frames": [1, {"function": "f", "lineno": "12"}]}}]},
            "spans": [{"op": "db"}],
        }))
        .unwrap();
        assert_eq!(event.level, None);
        assert_eq!(event.timestamp, None);
        assert_eq!(event.release.as_deref(), Some("42"));
        let exc = &event.exceptions()[0];
        assert_eq!(exc.value.as_deref(), Some(r#"{"code":7}"#));
        let frames = &exc.stacktrace.as_ref().unwrap().frames;
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].lineno, Some(12));
        assert!(event.other.contains_key("spans"));
    }

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let input = json!({
            "event_id": "dd9e1afb828a44d5b4df0183adaee5d8",
            "message": "hello",
            "debug_meta": {"images": []},
            "exception": {"values": [{"type": "E", "custom": true, "stacktrace": {"frames": [{"function": "f", "weird": 1}]}}]},
        });
        let event: Event = serde_json::from_value(input).unwrap();
        let again: Event = serde_json::from_value(serde_json::to_value(&event).unwrap()).unwrap();
        assert_eq!(event, again);
        let out = serde_json::to_value(&again).unwrap();
        assert_eq!(out["event_id"], json!("dd9e1afb828a44d5b4df0183adaee5d8"));
        assert_eq!(out["debug_meta"], json!({"images": []}));
        assert_eq!(out["exception"]["values"][0]["custom"], json!(true));
        assert_eq!(
            out["exception"]["values"][0]["stacktrace"]["frames"][0]["weird"],
            json!(1)
        );
    }

    /// Found by fuzzing (fuzz/regressions/security_report/): serde_json's
    /// default float parsing may be one unit in the last place off, so a
    /// kept number changed each time an event was written and read again
    /// (ingest writes, the worker reads, the store writes). With
    /// `float_roundtrip` the number read is the one written.
    #[test]
    fn kept_floats_survive_round_trips() {
        let input = br#"{"extra":{"big":1997777777777777777777777777777777777777777777777777777777777777777777777777777777777777777,"x":1.9977777777777774e+90},"measurements":{"lcp":{"value":0.30000000000000004}}}"#;
        let event = Event::from_json(input).unwrap();
        let mut current = event.clone();
        for _ in 0..3 {
            current = Event::from_json(&serde_json::to_vec(&current).unwrap()).unwrap();
            assert_eq!(current, event);
        }
        // the nearest double, as Python's float() also reads it
        let extra = event.extra.as_ref().unwrap();
        assert_eq!(extra["big"].to_string(), "1.9977777777777779e+90");
        assert_eq!(extra["x"].to_string(), "1.9977777777777774e+90");
    }

    #[test]
    fn repeated_keys_and_legacy_duplicates_do_not_fail_the_event() {
        let event = Event::from_json(
            br#"{"release":"a","level":"error","release":"b","level":"info",
                "exception":{"values":[{"type":"New"}]},
                "sentry.interfaces.Exception":{"type":"Old"},
                "sentry.interfaces.User":{"id":"7"}}"#,
        )
        .unwrap();
        assert_eq!(event.release.as_deref(), Some("b"));
        assert_eq!(event.level, Some(Level::Info));
        assert_eq!(event.exceptions()[0].ty.as_deref(), Some("New"));
        assert_eq!(event.user.unwrap().id.as_deref(), Some("7"));
        assert!(Event::from_json(b"[1]").is_err());
        assert!(Event::from_json(b"{").is_err());
    }

    #[test]
    fn json_serde_json_refuses_is_read_all_the_same() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let text = format!(
            r#"{{"message":"cut \ud83d here","level":"warning",
                "tags":{{"k\udc00":"v"}},"extra":{{"big":1e400,"deep":{deep}}},
                "exception":{{"values":[{{"type":"Type\ud83d","value":"1e400"}}]}}}}"#
        );
        let event = Event::from_json(text.as_bytes()).unwrap();
        assert_eq!(event.message_text().as_deref(), Some("cut \u{fffd} here"));
        assert_eq!(event.level, Some(Level::Warning));
        assert_eq!(event.tags.as_ref().unwrap().get("k\u{fffd}"), Some("v"));
        assert_eq!(event.extra.as_ref().unwrap()["big"], json!("1e400"));
        assert!(event.extra.as_ref().unwrap()["deep"].is_array());
        assert_eq!(event.exceptions()[0].ty.as_deref(), Some("Type\u{fffd}"));
    }

    #[test]
    fn nul_never_reaches_a_string() {
        let event = Event::from_json(
            br#"{"message":"a\u0000b","tags":[["t\u0000","v\u0000"]],
                "user":{"id":"u\u0000","email":"\u0000@x"},
                "exception":{"values":[{"type":"E\u0000","value":"v"}]},
                "contexts":{"c\u0000":{"k":"\u0000"}},"extra":{"x":["\u0000"]}}"#,
        )
        .unwrap();
        let text = serde_json::to_string(&event).unwrap();
        assert!(!text.contains("\\u0000"), "{text}");
        assert_eq!(event.message_text().as_deref(), Some("a\u{fffd}b"));
        assert_eq!(
            event.tags.as_ref().unwrap().get("t\u{fffd}"),
            Some("v\u{fffd}")
        );
        let user = event.user.as_ref().unwrap();
        assert_eq!(user.id.as_deref(), Some("u\u{fffd}"));
        assert_eq!(user.email.as_deref(), Some("\u{fffd}@x"));
        assert_eq!(event.exceptions()[0].ty.as_deref(), Some("E\u{fffd}"));
        assert_eq!(
            event.contexts.as_ref().unwrap()["c\u{fffd}"]["k"],
            json!("\u{fffd}")
        );
    }

    #[test]
    fn event_ids_in_both_forms() {
        let a = parse_event_id("dd9e1afb828a44d5b4df0183adaee5d8").unwrap();
        let b = parse_event_id("DD9E1AFB-828A-44D5-B4DF-0183ADAEE5D8").unwrap();
        assert_eq!(a, b);
        assert_eq!(format_event_id(&a), "dd9e1afb828a44d5b4df0183adaee5d8");
        assert!(parse_event_id("not-an-id").is_none());
    }
}
