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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum JobItem {
    /// An error or message event. `event_id` is final (the envelope header's
    /// id wins over the payload's; one was generated when neither had it).
    Event {
        event_id: Uuid,
        payload: String,
    },
    /// A performance transaction; stored as an event of type transaction.
    Transaction {
        event_id: Uuid,
        payload: String,
    },
    /// An event made from a browser security (CSP) report.
    Security {
        event_id: Uuid,
        payload: String,
    },
    /// An attachment already written to disk by ingest.
    Attachment(AttachmentRef),
    /// A single `session` update.
    Session {
        payload: String,
    },
    /// Pre-aggregated `sessions`.
    Sessions {
        payload: String,
    },
    ClientReport {
        payload: String,
    },
    CheckIn {
        payload: String,
    },
    /// Old-style `user_report` (name, email, comments for an event).
    UserReport {
        payload: String,
    },
    /// The newer `feedback` item: an event with a `contexts.feedback`.
    Feedback {
        event_id: Uuid,
        payload: String,
    },
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
    }
}
