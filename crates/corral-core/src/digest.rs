//! The plan of a digest batch, before anything is written: which events
//! are new, which issue each one belongs to (by its grouping hashes), how
//! each event moves its issue ([`crate::lifecycle`]), and the per-issue
//! aggregates a store writes with one statement per table.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::lifecycle::{self, ReleaseOrder};
use crate::model::{EventType, Issue, IssueId, ProjectId, hour_of, minute_of, to_ms};
use crate::store::{DigestInput, DigestOutcome, StoreError};

/// One event of a batch that is not a repeat of an earlier one in the same batch.
pub struct BatchEvent<'a> {
    /// Position in the batch (outcomes come back in input order).
    pub index: usize,
    pub input: &'a DigestInput,
    pub timestamp: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    /// The tags stored with the event: the SDK's, plus `release` and
    /// `environment` when the event has them and the tags do not, so that
    /// filters by release and environment go through the same tag counts.
    pub tags: Vec<(String, String)>,
    pub tags_json: String,
    /// Whether the event belongs in an issue (transactions do not).
    pub grouped: bool,
}

impl BatchEvent<'_> {
    pub fn key(&self) -> (ProjectId, Uuid) {
        (self.input.project_id, self.input.event_id)
    }

    /// Distinct (key, value) pairs: an event counts once per tag value.
    pub fn counted_tags(&self) -> impl Iterator<Item = &(String, String)> {
        let mut seen = HashSet::new();
        self.tags.iter().filter(move |kv| seen.insert(*kv))
    }

    /// Every hash that may find an existing issue, primary first.
    fn lookup_hashes(&self) -> impl Iterator<Item = &str> {
        self.input
            .hashes
            .iter()
            .chain(&self.input.secondary_hashes)
            .map(|h| h.hash.as_str())
    }
}

/// The events of a batch minus repeats within it, in input order.
pub fn unique_events(batch: &[DigestInput]) -> Result<Vec<BatchEvent<'_>>, StoreError> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(batch.len());
    for (index, input) in batch.iter().enumerate() {
        if !seen.insert((input.project_id, input.event_id)) {
            continue;
        }
        if serde_json::from_str::<serde::de::IgnoredAny>(&input.data).is_err() {
            return Err(StoreError::Invalid {
                field: "data",
                reason: format!("event {} is not valid JSON", input.event_id),
            });
        }
        let mut tags = input.tags.clone();
        for (key, value) in [
            ("release", &input.release),
            ("environment", &input.environment),
        ] {
            if let Some(value) = value
                && !tags.iter().any(|(k, _)| k == key)
            {
                tags.push((key.to_string(), value.clone()));
            }
        }
        let tags_json = serde_json::to_string(&tags).map_err(|e| StoreError::Invalid {
            field: "tags",
            reason: e.to_string(),
        })?;
        out.push(BatchEvent {
            index,
            input,
            timestamp: to_ms(input.timestamp),
            received_at: to_ms(input.received_at),
            tags,
            tags_json,
            grouped: input.event_type != EventType::Transaction && !input.hashes.is_empty(),
        });
    }
    Ok(out)
}

/// Outcomes for a batch before anything is known: nothing inserted.
pub fn blank_outcomes(batch: &[DigestInput]) -> Vec<DigestOutcome> {
    batch
        .iter()
        .map(|e| DigestOutcome {
            event_id: e.event_id,
            inserted: false,
            issue_id: None,
            new_issue: false,
            regressed: false,
            escalated: false,
        })
        .collect()
}

/// Every `(project, hash)` the grouped events may be found by, sorted and distinct.
pub fn lookup_keys(events: &[&BatchEvent<'_>]) -> Vec<(ProjectId, String)> {
    let mut keys: Vec<(ProjectId, String)> = events
        .iter()
        .filter(|e| e.grouped)
        .flat_map(|e| {
            e.lookup_hashes()
                .map(move |h| (e.input.project_id, h.to_string()))
        })
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// Where an event goes: an issue that exists, or the n-th issue this batch creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    Existing(IssueId),
    New(usize),
}

/// An issue the batch creates, seeded from the event that created it.
pub struct NewIssue<'a> {
    pub project_id: ProjectId,
    pub seed: &'a BatchEvent<'a>,
}

/// A primary hash to attach to an issue.
pub struct HashLink {
    pub project_id: ProjectId,
    pub hash: String,
    pub config: String,
    pub slot: Slot,
}

pub struct Assignment<'a> {
    /// Per event (same order as the events), its issue; `None` for transactions.
    pub slots: Vec<Option<Slot>>,
    pub new_issues: Vec<NewIssue<'a>>,
    pub links: Vec<HashLink>,
}

impl Assignment<'_> {
    /// How many issues each project needs short ids for, by project.
    pub fn new_issues_per_project(&self) -> BTreeMap<ProjectId, i64> {
        let mut n = BTreeMap::new();
        for issue in &self.new_issues {
            *n.entry(issue.project_id).or_insert(0) += 1;
        }
        n
    }
}

/// Finds each grouped event's issue by its hashes (primary, then the others,
/// then the secondary ones), or plans a new issue; hashes that find nothing
/// are attached to the chosen issue, so later events of the batch find it too.
pub fn assign<'a>(
    events: &[&'a BatchEvent<'a>],
    found: &HashMap<(ProjectId, String), IssueId>,
) -> Assignment<'a> {
    let mut known: HashMap<(ProjectId, &str), Slot> = found
        .iter()
        .map(|((p, h), id)| ((*p, h.as_str()), Slot::Existing(*id)))
        .collect();
    let mut out = Assignment {
        slots: Vec::with_capacity(events.len()),
        new_issues: Vec::new(),
        links: Vec::new(),
    };
    for &event in events {
        if !event.grouped {
            out.slots.push(None);
            continue;
        }
        let project = event.input.project_id;
        let slot = event
            .lookup_hashes()
            .find_map(|h| known.get(&(project, h)).copied())
            .unwrap_or_else(|| {
                out.new_issues.push(NewIssue {
                    project_id: project,
                    seed: event,
                });
                Slot::New(out.new_issues.len() - 1)
            });
        for hash in &event.input.hashes {
            known.entry((project, &hash.hash)).or_insert_with(|| {
                out.links.push(HashLink {
                    project_id: project,
                    hash: hash.hash.clone(),
                    config: hash.config.clone(),
                    slot,
                });
                slot
            });
        }
        out.slots.push(Some(slot));
    }
    out
}

/// Releases the batch's new events carry, with the earliest time each was received.
pub fn releases_seen(events: &[&BatchEvent<'_>]) -> BTreeMap<(ProjectId, String), DateTime<Utc>> {
    let mut out: BTreeMap<(ProjectId, String), DateTime<Utc>> = BTreeMap::new();
    for e in events {
        if let Some(r) = &e.input.release {
            let t = out
                .entry((e.input.project_id, r.clone()))
                .or_insert(e.received_at);
            *t = (*t).min(e.received_at);
        }
    }
    out
}

/// One tag value's share of a batch: events, first seen, last seen.
pub type TagDelta = (i64, DateTime<Utc>, DateTime<Utc>);

/// What the batch does to the issues it touches, aggregated for the writes.
#[derive(Default)]
pub struct Effects {
    /// Issue id -> events added.
    pub counts: BTreeMap<IssueId, i64>,
    /// (issue, key, value) -> (events, first seen, last seen).
    pub tags: BTreeMap<(IssueId, String, String), TagDelta>,
    /// (issue, hour) -> events.
    pub hours: BTreeMap<(IssueId, DateTime<Utc>), i64>,
    /// (project, issue, minute received) -> events: the alert rules' window
    /// counts (`issue_minutely`).
    pub minutes: BTreeMap<(ProjectId, IssueId, DateTime<Utc>), i64>,
}

/// Moves each issue's state event by event (in input order), fills in the
/// outcomes, and aggregates the counts.
pub fn apply_events(
    events: &[&BatchEvent<'_>],
    issue_of: &[Option<IssueId>],
    created_by: &HashMap<IssueId, usize>,
    issues: &mut HashMap<IssueId, Issue>,
    releases: &ReleaseOrder,
    outcomes: &mut [DigestOutcome],
) -> Effects {
    let mut fx = Effects::default();
    for (event, issue_id) in events.iter().zip(issue_of) {
        let outcome = &mut outcomes[event.index];
        outcome.inserted = true;
        outcome.issue_id = *issue_id;
        let Some(issue_id) = issue_id else { continue };
        let Some(issue) = issues.get_mut(issue_id) else {
            continue;
        };
        if created_by.get(issue_id) == Some(&event.index) {
            outcome.new_issue = true;
        }
        let moved = lifecycle::apply_event(issue, event, releases);
        outcome.regressed = moved.regressed;
        outcome.escalated = moved.escalated;
        *fx.counts.entry(*issue_id).or_insert(0) += 1;
        *fx.hours
            .entry((*issue_id, hour_of(event.timestamp)))
            .or_insert(0) += 1;
        *fx.minutes
            .entry((issue.project_id, *issue_id, minute_of(event.received_at)))
            .or_insert(0) += 1;
        for (k, v) in event.counted_tags() {
            let entry = fx.tags.entry((*issue_id, k.clone(), v.clone())).or_insert((
                0,
                event.timestamp,
                event.timestamp,
            ));
            entry.0 += 1;
            entry.1 = entry.1.min(event.timestamp);
            entry.2 = entry.2.max(event.timestamp);
        }
    }
    fx
}
