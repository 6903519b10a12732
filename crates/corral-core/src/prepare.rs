//! From an SDK's event to what the digest writes: normalize, name, group.

use chrono::{DateTime, Utc};
use corral_protocol::{Event, Level};
use uuid::Uuid;

use crate::grouping::grouping_hashes;
use crate::model::{EventType, ProjectId};
use crate::normalize::normalize;
use crate::store::DigestInput;
use crate::summary::summarize;

/// normalize + summarize + grouping_hashes → everything the Store's digest
/// needs. The caller has already set `event.event_id` (the envelope header's
/// id wins over the payload's); an event without one gets a random id.
/// `data` is the normalized event as JSON, with Sentry's derived `type`,
/// `culprit`, `title` and `metadata` written into it so readers of the stored
/// event see what the issue shows; `tags` are the normalized tags.
pub fn prepare(
    project_id: ProjectId,
    grouping_config: &str,
    mut event: Event,
    received_at: DateTime<Utc>,
) -> DigestInput {
    normalize(&mut event, received_at);
    let summary = summarize(&event);
    let hashes = match summary.event_type {
        EventType::Transaction => Vec::new(),
        _ => grouping_hashes(&event, grouping_config),
    };

    let event_id = *event.event_id.get_or_insert_with(Uuid::new_v4);
    event.ty = Some(summary.event_type.as_str().to_owned());
    event.culprit = Some(summary.culprit.clone()).filter(|c| !c.is_empty());
    event
        .other
        .insert("title".to_owned(), summary.title.clone().into());
    event
        .other
        .insert("metadata".to_owned(), summary.metadata.clone());

    // Serializing a tree of strings, numbers and maps with string keys cannot
    // fail; an empty object keeps the contract (JSON text) if it ever did.
    let data = serde_json::to_string(&event).unwrap_or_else(|_| "{}".to_owned());

    DigestInput {
        project_id,
        event_id,
        event_type: summary.event_type,
        level: event.level.unwrap_or(Level::Error),
        title: summary.title,
        culprit: summary.culprit,
        metadata: summary.metadata,
        platform: summary.platform,
        release: event.release.clone(),
        environment: event.environment.clone(),
        timestamp: event.timestamp.map_or(received_at, |t| t.0),
        received_at,
        tags: event.tags.take().map(|t| t.0).unwrap_or_default(),
        hashes,
        secondary_hashes: Vec::new(),
        data,
    }
}
