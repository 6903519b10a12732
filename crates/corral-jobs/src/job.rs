//! What ingest puts on the queue: one job per accepted request, holding every
//! item of the envelope the digest must handle.

use chrono::{DateTime, Utc};
use corral_core::model::ProjectId;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The version of the job format; a worker refuses (dead-letters) jobs of a
/// version it does not know instead of guessing.
pub const JOB_FORMAT: u16 = 1;

/// One accepted ingest request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IngestJob {
    pub format: u16,
    /// Unique per accepted request; makes non-event items idempotent.
    pub job_id: Uuid,
    pub project_id: ProjectId,
    /// When ingest accepted the request (server clock).
    pub received_at: DateTime<Utc>,
    pub items: Vec<JobItem>,
}

/// An envelope item worth keeping. JSON payloads are kept as text: they were
/// checked to be JSON objects by ingest and are parsed once, by the digest.
/// On the queue they are embedded in the job as JSON, not as strings (see
/// [`embedded_json`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", try_from = "ItemFields")]
pub enum JobItem {
    /// An error or message event. `event_id` is final (the envelope header's
    /// id wins over the payload's; one was generated when neither had it).
    Event {
        event_id: Uuid,
        payload: Payload,
    },
    /// A performance transaction; stored as an event of type transaction.
    Transaction {
        event_id: Uuid,
        payload: Payload,
    },
    /// An event made from a browser security (CSP) report.
    Security {
        event_id: Uuid,
        payload: Payload,
    },
    /// An attachment already written to disk by ingest.
    Attachment(AttachmentRef),
    /// A single `session` update.
    Session {
        payload: Payload,
    },
    /// Pre-aggregated `sessions`.
    Sessions {
        payload: Payload,
    },
    ClientReport {
        payload: Payload,
    },
    CheckIn {
        payload: Payload,
    },
    /// Old-style `user_report` (name, email, comments for an event).
    UserReport {
        payload: Payload,
    },
    /// The newer `feedback` item: an event with a `contexts.feedback`.
    Feedback {
        event_id: Uuid,
        payload: Payload,
    },
}

/// What a [`JobItem`] is read through. serde reads an internally tagged enum
/// by buffering each item in a generic tree first, which an embedded payload
/// would go through too (and a raw JSON value cannot); a plain struct is
/// read straight from the text.
#[derive(Deserialize)]
struct ItemFields {
    #[serde(rename = "type")]
    kind: String,
    event_id: Option<Uuid>,
    #[serde(default, deserialize_with = "embedded_json::deserialize")]
    payload: Option<Payload>,
    name: Option<String>,
    content_type: Option<String>,
    attachment_type: Option<String>,
    size: Option<u64>,
    path: Option<String>,
}

impl TryFrom<ItemFields> for JobItem {
    type Error = String;

    fn try_from(f: ItemFields) -> Result<Self, String> {
        let ItemFields {
            kind,
            event_id,
            payload,
            name,
            content_type,
            attachment_type,
            size,
            path,
        } = f;
        let missing = |field: &str| format!("job item of type {kind}: missing field `{field}`");
        let event_id = event_id.ok_or_else(|| missing("event_id"));
        let payload = payload.ok_or_else(|| missing("payload"));
        Ok(match kind.as_str() {
            "event" => JobItem::Event {
                event_id: event_id?,
                payload: payload?,
            },
            "transaction" => JobItem::Transaction {
                event_id: event_id?,
                payload: payload?,
            },
            "security" => JobItem::Security {
                event_id: event_id?,
                payload: payload?,
            },
            "feedback" => JobItem::Feedback {
                event_id: event_id?,
                payload: payload?,
            },
            "session" => JobItem::Session { payload: payload? },
            "sessions" => JobItem::Sessions { payload: payload? },
            "client_report" => JobItem::ClientReport { payload: payload? },
            "check_in" => JobItem::CheckIn { payload: payload? },
            "user_report" => JobItem::UserReport { payload: payload? },
            "attachment" => JobItem::Attachment(AttachmentRef {
                event_id: event_id?,
                name: name.ok_or_else(|| missing("name"))?,
                content_type,
                attachment_type,
                size: size.ok_or_else(|| missing("size"))?,
                path: path.ok_or_else(|| missing("path"))?,
            }),
            other => return Err(format!("unknown job item type `{other}`")),
        })
    }
}

/// An item's JSON payload, as text, and whether that text is known to be
/// one JSON value (not a string) with nothing around it.
///
/// Known, it is written into the job's JSON as itself without another
/// look; unknown, it is checked when the job is written (see
/// [`embedded_json`]). Ingest has parsed every event payload before it
/// builds the job, so a second parse to write it was a second full scan of
/// every ~5 KB event on the ingest path.
#[derive(Clone, Debug)]
pub struct Payload {
    text: String,
    json: bool,
}

impl Payload {
    /// Text of any shape; checked when the job is written.
    pub fn new(text: String) -> Self {
        Payload { text, json: false }
    }

    /// Text the caller has parsed as exactly one JSON object or array: it
    /// starts with `{` or `[` and ends with the matching bracket. Debug
    /// builds check it.
    pub fn parsed_json(text: String) -> Self {
        debug_assert!(
            embedded_json::embeddable(&text).is_some(),
            "not exactly one JSON object or array: {text:?}"
        );
        Payload { text, json: true }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl std::ops::Deref for Payload {
    type Target = str;

    fn deref(&self) -> &str {
        &self.text
    }
}

/// Equal when the texts are (what is known about them is not compared).
impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl From<String> for Payload {
    fn from(text: String) -> Self {
        Payload::new(text)
    }
}

impl From<&str> for Payload {
    fn from(text: &str) -> Self {
        Payload::new(text.to_owned())
    }
}

impl Serialize for Payload {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.json {
            embedded_json::Parsed(&self.text).serialize(serializer)
        } else {
            embedded_json::serialize(&self.text, serializer)
        }
    }
}

/// How a payload travels in the job's JSON: a JSON object or array is written
/// as itself, anything else as a string; both read back as the same text.
///
/// Written as a string, a 5 KB event was escaped character by character
/// (`format_escaped_str_contents` was a tenth of `corral-web`'s CPU under
/// the ingest benchmark) and unescaped again by the worker. Jobs written as
/// strings (before this encoding) still read.
mod embedded_json {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use serde_json::value::RawValue;

    /// Embedded as JSON only when the value is exactly the text, with no
    /// whitespace around it (which the raw value would not keep).
    pub(super) fn embeddable(text: &str) -> Option<&RawValue> {
        let bytes = text.as_bytes();
        match (bytes.first(), bytes.last()) {
            (Some(b'{'), Some(b'}')) | (Some(b'['), Some(b']')) => {
                serde_json::from_str::<&RawValue>(text).ok()
            }
            _ => None,
        }
    }

    pub fn serialize<S: Serializer>(text: &str, serializer: S) -> Result<S::Ok, S::Error> {
        match embeddable(text) {
            Some(raw) => raw.serialize(serializer),
            None => serializer.serialize_str(text),
        }
    }

    /// Text known to be one JSON value, written as itself without being
    /// parsed again: through serde_json's raw value protocol (the name under
    /// which its `RawValue` serializes itself, a string field of a struct of
    /// that name). `payload_known_to_be_json_is_written_as_itself` in the
    /// tests fails if serde_json ever changes it.
    pub(super) struct Parsed<'a>(pub &'a str);

    const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

    impl Serialize for Parsed<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeStruct as _;
            let mut raw = serializer.serialize_struct(RAW_VALUE_TOKEN, 1)?;
            raw.serialize_field(RAW_VALUE_TOKEN, self.0)?;
            raw.end()
        }
    }

    /// Items without a payload (attachments) have none.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<super::Payload>, D::Error> {
        let Some(raw) = Option::<Box<RawValue>>::deserialize(deserializer)? else {
            return Ok(None);
        };
        if raw.get().starts_with('"') {
            // a job written before payloads were embedded
            serde_json::from_str(raw.get())
                .map(|text| Some(super::Payload::new(text)))
                .map_err(D::Error::custom)
        } else {
            // serde_json has just parsed it: one JSON value, without the
            // whitespace around it
            Ok(Some(super::Payload {
                text: Box::<str>::from(raw).into_string(),
                json: true,
            }))
        }
    }
}

impl JobItem {
    /// What the item is, for logs and dead letters: its type, and its event.
    pub fn describe(&self) -> String {
        match self {
            JobItem::Event { event_id, .. } => format!("event {event_id}"),
            JobItem::Transaction { event_id, .. } => format!("transaction {event_id}"),
            JobItem::Security { event_id, .. } => format!("security report {event_id}"),
            JobItem::Feedback { event_id, .. } => format!("feedback {event_id}"),
            JobItem::Attachment(a) => format!("attachment {:?} of event {}", a.name, a.event_id),
            JobItem::Session { .. } => "session".into(),
            JobItem::Sessions { .. } => "sessions".into(),
            JobItem::ClientReport { .. } => "client report".into(),
            JobItem::CheckIn { .. } => "check-in".into(),
            JobItem::UserReport { .. } => "user report".into(),
        }
    }
}

/// An attachment file, relative to the attachments directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttachmentRef {
    pub event_id: Uuid,
    pub name: String,
    pub content_type: Option<String>,
    pub attachment_type: Option<String>,
    pub size: u64,
    pub path: String,
}

impl IngestJob {
    pub fn new(project_id: ProjectId, received_at: DateTime<Utc>, items: Vec<JobItem>) -> Self {
        IngestJob {
            format: JOB_FORMAT,
            job_id: Uuid::new_v4(),
            project_id,
            received_at,
            items,
        }
    }

    /// A job of one of this job's items, to be dead-lettered (and replayed)
    /// alone: the job itself when that is its only item, else a new job
    /// (a new id: the item was accepted, and is replayed, on its own).
    pub fn with_only(&self, index: usize) -> IngestJob {
        if self.items.len() == 1 {
            return self.clone();
        }
        IngestJob::new(
            self.project_id,
            self.received_at,
            self.items.get(index).cloned().into_iter().collect(),
        )
    }

    /// The id of the first event-like item, for logs and the response.
    pub fn event_id(&self) -> Option<Uuid> {
        self.items.iter().find_map(|item| match item {
            JobItem::Event { event_id, .. }
            | JobItem::Transaction { event_id, .. }
            | JobItem::Security { event_id, .. }
            | JobItem::Feedback { event_id, .. } => Some(*event_id),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_json() {
        let job = IngestJob::new(
            7,
            Utc::now(),
            vec![
                JobItem::Event {
                    event_id: Uuid::new_v4(),
                    payload: r#"{"message":"hi"}"#.into(),
                },
                JobItem::Attachment(AttachmentRef {
                    event_id: Uuid::new_v4(),
                    name: "log.txt".into(),
                    content_type: Some("text/plain".into()),
                    attachment_type: None,
                    size: 3,
                    path: "7/ab/cd".into(),
                }),
                JobItem::Sessions {
                    payload: "{}".into(),
                },
            ],
        );
        let text = serde_json::to_string(&job).unwrap();
        let back: IngestJob = serde_json::from_str(&text).unwrap();
        assert_eq!(job, back);
        assert!(text.contains(r#""type":"event""#), "{text}");
        // the payload is embedded as JSON, not escaped into a string
        assert!(text.contains(r#""payload":{"message":"hi"}"#), "{text}");
    }

    #[test]
    fn payload_known_to_be_json_is_written_as_itself() {
        let text = r#"{"message":"h\u00e9 \"quoted\"","n":[1,2.5,null]}"#;
        let job = IngestJob::new(
            7,
            Utc::now(),
            vec![JobItem::Event {
                event_id: Uuid::new_v4(),
                payload: Payload::parsed_json(text.to_owned()),
            }],
        );
        let written = serde_json::to_string(&job).unwrap();
        assert!(
            written.contains(&format!(r#""payload":{text}}}"#)),
            "{written}"
        );
        let back: IngestJob = serde_json::from_str(&written).unwrap();
        assert_eq!(back, job);
        // and what was read back is known to be JSON too: written the same
        assert_eq!(serde_json::to_string(&back).unwrap(), written);
    }

    fn event_with(payload: &str) -> IngestJob {
        IngestJob::new(
            7,
            Utc::now(),
            vec![JobItem::Event {
                event_id: Uuid::new_v4(),
                payload: payload.into(),
            }],
        )
    }

    #[test]
    fn payloads_that_are_not_exactly_an_object_travel_as_strings() {
        for payload in [
            r#" {"message":"hi"}"#,
            "{\"message\":\"hi\"}\n",
            r#""just a string""#,
            "42",
            "",
            "{not json}",
            r#"{"a":1} {"b":2}"#,
            r#"[1,2]"#,
        ] {
            let job = event_with(payload);
            let text = serde_json::to_string(&job).unwrap();
            let back: IngestJob = serde_json::from_str(&text).unwrap();
            assert_eq!(back, job, "{payload:?} came back changed: {text}");
            // as itself only when it is exactly one JSON array or object
            let written = if payload == "[1,2]" {
                payload.to_owned()
            } else {
                serde_json::to_string(payload).unwrap()
            };
            assert!(
                text.contains(&format!(r#""payload":{written}}}"#)),
                "{payload:?}: {text}"
            );
        }
    }

    #[test]
    fn every_item_kind_round_trips() {
        let id = Uuid::new_v4();
        let p = || Payload::from(r#"{"k":[1,"two",{"three":null}]}"#);
        let items = vec![
            JobItem::Event {
                event_id: id,
                payload: p(),
            },
            JobItem::Transaction {
                event_id: id,
                payload: p(),
            },
            JobItem::Security {
                event_id: id,
                payload: p(),
            },
            JobItem::Feedback {
                event_id: id,
                payload: p(),
            },
            JobItem::Session { payload: p() },
            JobItem::Sessions { payload: p() },
            JobItem::ClientReport { payload: p() },
            JobItem::CheckIn { payload: p() },
            JobItem::UserReport { payload: p() },
            JobItem::Attachment(AttachmentRef {
                event_id: id,
                name: "a.txt".into(),
                content_type: None,
                attachment_type: Some("event.attachment".into()),
                size: 0,
                path: "7/aa/bb".into(),
            }),
        ];
        let job = IngestJob::new(7, Utc::now(), items);
        let text = serde_json::to_string(&job).unwrap();
        assert_eq!(serde_json::from_str::<IngestJob>(&text).unwrap(), job);
        assert_eq!(text.matches(r#""payload":{"k":"#).count(), 9, "{text}");
    }

    #[test]
    fn items_of_unknown_type_or_missing_fields_are_refused() {
        for (item, expected) in [
            (
                r#"{"type":"spans","payload":{}}"#,
                "unknown job item type `spans`",
            ),
            (
                r#"{"type":"event","payload":{}}"#,
                "missing field `event_id`",
            ),
            (r#"{"type":"session"}"#, "missing field `payload`"),
        ] {
            let text = format!(
                r#"{{"format":1,"job_id":"{}","project_id":7,"received_at":"2026-12-07T01:00:00Z","items":[{item}]}}"#,
                Uuid::new_v4()
            );
            let err = serde_json::from_str::<IngestJob>(&text)
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{item}: {err}");
        }
    }

    /// Valid JSON that serde_json builds no value from (a lone surrogate, a
    /// number out of range, deep nesting) travels in a job all the same:
    /// the digest reads it, so the queue must not refuse it first.
    #[test]
    fn payloads_serde_json_cannot_build_travel_in_jobs() {
        let deep = format!("{{\"d\":{}{}}}", "[".repeat(500), "]".repeat(500));
        for text in [
            r#"{"m":"\ud83d","k\udc00":1}"#,
            r#"{"n":1e400}"#,
            &deep,
            r#"{"m":"\u0000"}"#,
        ] {
            let job = IngestJob::new(
                7,
                Utc::now(),
                vec![JobItem::Event {
                    event_id: Uuid::new_v4(),
                    payload: Payload::parsed_json(text.to_owned()),
                }],
            );
            let written = serde_json::to_vec(&job).unwrap();
            let back: IngestJob = serde_json::from_slice(&written).unwrap();
            assert_eq!(back, job, "{text}");
        }
    }

    #[test]
    fn one_item_is_dead_lettered_as_a_job_of_its_own() {
        let one = event_with(r#"{"message":"hi"}"#);
        assert_eq!(one.with_only(0), one);
        let mut two = event_with(r#"{"message":"hi"}"#);
        two.items.push(JobItem::CheckIn {
            payload: "{}".into(),
        });
        let alone = two.with_only(1);
        assert_eq!(alone.items, vec![two.items[1].clone()]);
        assert_eq!(
            (alone.project_id, alone.received_at, alone.format),
            (two.project_id, two.received_at, two.format)
        );
        assert_ne!(alone.job_id, two.job_id);
    }

    #[test]
    fn jobs_with_payloads_as_strings_still_read() {
        // the encoding before payloads were embedded
        let id = Uuid::new_v4();
        let text = format!(
            r#"{{"format":1,"job_id":"{id}","project_id":7,"received_at":"2026-12-07T01:00:00Z","items":[{{"type":"event","event_id":"{id}","payload":"{{\"message\":\"hi \\\"there\\\"\"}}"}}]}}"#
        );
        let job: IngestJob = serde_json::from_str(&text).unwrap();
        let JobItem::Event { payload, .. } = &job.items[0] else {
            panic!("not an event: {job:?}");
        };
        assert_eq!(payload.as_str(), r#"{"message":"hi \"there\""}"#);
        // and the same job written now reads back the same
        let again: IngestJob = serde_json::from_str(&serde_json::to_string(&job).unwrap()).unwrap();
        assert_eq!(again, job);
    }
}
