//! What the alert pages show of deliveries: the log's rows, and the outcome
//! of a test notification (`?test=ID,ID`, where the form that sent it
//! redirected to; the page reads them again, so a reload shows whether a
//! pending one went out since).

use std::collections::HashMap;

use corral_core::alerts::{Channel, ChannelId, Delivery, DeliveryStatus, DeliveryTarget};
use corral_core::{SharedStore, StoreError, StoreResult};

use super::minute;
use crate::alerts::{finished, outcome_summary};

/// The most deliveries a test names in a link.
const MAX_TEST_IDS: usize = 20;

/// One row of a delivery log.
pub struct DeliveryRow {
    pub when: String,
    pub channel: String,
    /// Why: `new_issue`, `test`, …
    pub kind: &'static str,
    /// `sent`, `failed`, `queued`, `retrying`, `sending`.
    pub outcome: &'static str,
    pub attempts: i32,
    /// The response's HTTP status (or SMTP code), or empty.
    pub response: String,
    pub error: String,
    /// The issue's short id and page, when it was about one.
    pub issue: Option<(String, String)>,
}

impl DeliveryRow {
    pub fn new(d: &Delivery, channels: &HashMap<ChannelId, String>) -> DeliveryRow {
        DeliveryRow {
            when: minute(&d.created_at),
            channel: match d.target {
                DeliveryTarget::Channel(id) => channels
                    .get(&id)
                    .cloned()
                    .unwrap_or_else(|| format!("deleted channel {id}")),
                DeliveryTarget::User(id) => format!("workflow mail to user {id}"),
            },
            kind: d.message.kind.as_str(),
            outcome: match d.status {
                DeliveryStatus::Sent => "sent",
                DeliveryStatus::Dead => "failed",
                DeliveryStatus::Sending => "sending",
                DeliveryStatus::Pending if d.attempts > 0 => "retrying",
                DeliveryStatus::Pending => "queued",
            },
            attempts: d.attempts,
            response: d
                .last_status_code
                .map(|c| c.to_string())
                .unwrap_or_default(),
            error: d.last_error.clone().unwrap_or_default(),
            issue: d
                .message
                .issue
                .as_ref()
                .map(|i| (i.short_id.clone(), i.url.clone())),
        }
    }
}

/// Channel names by id.
pub fn channel_names(channels: &[Channel]) -> HashMap<ChannelId, String> {
    channels.iter().map(|c| (c.id, c.name.clone())).collect()
}

/// A test notification's outcome, as its page shows it.
pub struct TestView {
    /// Every delivery has its outcome.
    pub done: bool,
    pub summary: String,
    pub rows: Vec<DeliveryRow>,
}

/// The ids of `?test=`.
pub fn test_ids(raw: &str) -> Vec<i64> {
    raw.split(',')
        .filter_map(|id| id.trim().parse().ok())
        .take(MAX_TEST_IDS)
        .collect()
}

/// The deliveries `?test=` names that `belongs` lets through (a link cannot
/// show another organization's deliveries); `None` when it names none.
pub async fn test_view(
    store: &SharedStore,
    raw: &str,
    channels: &HashMap<ChannelId, String>,
    belongs: impl Fn(&Delivery) -> bool,
) -> StoreResult<Option<TestView>> {
    let mut found = Vec::new();
    for id in test_ids(raw) {
        match store.delivery_by_id(id).await {
            Ok(d) if belongs(&d) => found.push(d),
            Ok(_) | Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    if found.is_empty() {
        return Ok(None);
    }
    let done = found.iter().all(finished);
    Ok(Some(TestView {
        done,
        summary: capital(&outcome_summary(&found, done)),
        rows: found
            .iter()
            .map(|d| DeliveryRow::new(d, channels))
            .collect(),
    }))
}

/// `?test=` for deliveries.
pub fn test_query(deliveries: &[Delivery]) -> String {
    deliveries
        .iter()
        .map(|d| d.id.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn capital(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => {
            let mut out: String = first.to_uppercase().collect();
            out.push_str(chars.as_str());
            out.push('.');
            out
        }
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_links_name_a_few_ids() {
        assert_eq!(test_ids("3,4, 5,x"), vec![3, 4, 5]);
        assert_eq!(test_ids(""), Vec::<i64>::new());
        let many = (0..100)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(test_ids(&many).len(), MAX_TEST_IDS);
    }
}
