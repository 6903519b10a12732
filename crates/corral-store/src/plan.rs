//! The backend-independent half of the digest and of status changes: which
//! events of a batch are new, which issue each one belongs to, how each event
//! moves its issue's state, and the per-issue aggregates the backends write
//! with one statement per table.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, DurationRound, TimeDelta, Utc};
use corral_core::model::{
    Assignee, EventType, Issue, IssueId, IssueStatus, IssueSubstatus, ProjectId, TagKeyCounts,
    TagValueCount, TeamId, UserId,
};
use corral_core::{DigestInput, DigestOutcome, StatusChange, StoreError};
use uuid::Uuid;

/// An unresolved issue stays `new` this long after it was first seen, then
/// its next event makes it `ongoing` (Sentry's behaviour).
const NEW_FOR: TimeDelta = Duration::days(3);

/// The store keeps times to the millisecond on both backends, so keyset
/// cursors (which carry milliseconds) compare exactly.
pub(crate) fn to_ms(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

pub(crate) fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::hours(1)).unwrap_or(t)
}

pub(crate) fn day_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::days(1)).unwrap_or(t)
}

/// Failed sign-ins are counted in fixed windows of this length.
pub(crate) const LOGIN_WINDOW: TimeDelta = Duration::minutes(15);

/// The start of the login-failure window `t` falls in.
pub(crate) fn login_window(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(LOGIN_WINDOW).unwrap_or(t)
}

/// Caps a caller's page size.
/// Folds rows of (value, the key's events, the key's distinct values), ordered by key and then
/// rank, into one [`TagKeyCounts`] per key keeping `top` values. The queries return at least
/// one row per key, so keys show even when `top` is 0.
pub(crate) fn tag_keys(
    rows: impl IntoIterator<Item = (TagValueCount, i64, i64)>,
    top: u32,
) -> Vec<TagKeyCounts> {
    let mut keys: Vec<TagKeyCounts> = Vec::new();
    for (value, times_seen, unique_values) in rows {
        if keys.last().is_none_or(|k| k.key != value.key) {
            keys.push(TagKeyCounts {
                key: value.key.clone(),
                times_seen,
                unique_values,
                top_values: Vec::new(),
            });
        }
        if let Some(k) = keys
            .last_mut()
            .filter(|k| k.top_values.len() < top as usize)
        {
            k.top_values.push(value);
        }
    }
    keys
}

pub(crate) fn page_limit(limit: u32) -> i64 {
    i64::from(limit.min(1000))
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` substring pattern.
pub(crate) fn like_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// One event of a batch that is not a repeat of an earlier one in the same batch.
pub(crate) struct BatchEvent<'a> {
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
pub(crate) fn unique_events(batch: &[DigestInput]) -> Result<Vec<BatchEvent<'_>>, StoreError> {
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

/// Every `(project, hash)` the grouped events may be found by, sorted and distinct.
pub(crate) fn lookup_keys(events: &[&BatchEvent<'_>]) -> Vec<(ProjectId, String)> {
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
pub(crate) enum Slot {
    Existing(IssueId),
    New(usize),
}

/// An issue the batch creates, seeded from the event that created it.
pub(crate) struct NewIssue<'a> {
    pub project_id: ProjectId,
    pub seed: &'a BatchEvent<'a>,
}

/// A primary hash to attach to an issue.
pub(crate) struct HashLink {
    pub project_id: ProjectId,
    pub hash: String,
    pub config: String,
    pub slot: Slot,
}

pub(crate) struct Assignment<'a> {
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
pub(crate) fn assign<'a>(
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

/// When releases were first seen, to tell which of two is newer: `(first
/// seen, id)`, the id breaking ties between releases first seen together.
pub(crate) type ReleaseOrder = HashMap<(ProjectId, String), (DateTime<Utc>, i64)>;

/// Whether `release` is newer than `than`: first seen after it, or `than`
/// is unknown.
fn release_is_newer(order: &ReleaseOrder, project: ProjectId, release: &str, than: &str) -> bool {
    if release == than {
        return false;
    }
    match (
        order.get(&(project, release.to_string())),
        order.get(&(project, than.to_string())),
    ) {
        (_, None) | (None, _) => true,
        (Some(a), Some(b)) => a > b,
    }
}

/// Releases the batch's new events carry, with the earliest time each was received.
pub(crate) fn releases_seen(
    events: &[&BatchEvent<'_>],
) -> BTreeMap<(ProjectId, String), DateTime<Utc>> {
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
pub(crate) type TagDelta = (i64, DateTime<Utc>, DateTime<Utc>);

/// What the batch does to the issues it touches, aggregated for the writes.
#[derive(Default)]
pub(crate) struct Effects {
    /// Issue id -> events added.
    pub counts: BTreeMap<IssueId, i64>,
    /// (issue, key, value) -> (events, first seen, last seen).
    pub tags: BTreeMap<(IssueId, String, String), TagDelta>,
    /// (issue, hour) -> events.
    pub hours: BTreeMap<(IssueId, DateTime<Utc>), i64>,
}

/// Moves each issue's state event by event (in input order), fills in the
/// outcomes, and aggregates the counts.
pub(crate) fn apply_events(
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
        let (regressed, escalated) = apply_event(issue, event, releases);
        outcome.regressed = regressed;
        outcome.escalated = escalated;
        *fx.counts.entry(*issue_id).or_insert(0) += 1;
        *fx.hours
            .entry((*issue_id, hour_of(event.timestamp)))
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

/// One event's effect on its issue; returns (regressed, escalated).
fn apply_event(issue: &mut Issue, event: &BatchEvent<'_>, releases: &ReleaseOrder) -> (bool, bool) {
    let input = event.input;
    let had_events = issue.times_seen > 0;
    let mut regressed = false;
    let mut escalated = false;
    issue.times_seen += 1;
    if had_events {
        match issue.status {
            IssueStatus::Resolved => {
                let reopen = match (&issue.resolved_in_release, &input.release) {
                    (None, _) => true,
                    (Some(_), None) => false,
                    (Some(r), Some(e)) => release_is_newer(releases, input.project_id, e, r),
                };
                if reopen {
                    issue.status = IssueStatus::Unresolved;
                    issue.substatus = IssueSubstatus::Regressed;
                    issue.resolved_at = None;
                    issue.resolved_in_release = None;
                    regressed = true;
                }
            }
            IssueStatus::Ignored => {
                let time_up = issue.ignore_until.is_some_and(|t| t <= event.received_at);
                let count_up = match (issue.ignore_count, issue.ignore_count_base) {
                    (Some(count), Some(base)) => issue.times_seen - base >= count,
                    _ => false,
                };
                if time_up || count_up {
                    issue.status = IssueStatus::Unresolved;
                    issue.substatus = IssueSubstatus::Escalating;
                    clear_ignore(issue);
                    escalated = true;
                }
            }
            IssueStatus::Unresolved => {
                if issue.substatus == IssueSubstatus::New
                    && event.received_at - issue.first_seen > NEW_FOR
                {
                    issue.substatus = IssueSubstatus::Ongoing;
                }
            }
        }
    }
    let latest = !had_events || event.timestamp >= issue.last_seen;
    if latest {
        issue.level = input.level;
        issue.title = input.title.clone();
        issue.culprit = input.culprit.clone();
        issue.metadata = input.metadata.clone();
        if input.release.is_some() {
            issue.last_release = input.release.clone();
        }
    }
    if issue.first_release.is_none() {
        issue.first_release = input.release.clone();
    }
    if !had_events {
        issue.first_seen = event.timestamp;
        issue.last_seen = event.timestamp;
    } else {
        issue.first_seen = issue.first_seen.min(event.timestamp);
        issue.last_seen = issue.last_seen.max(event.timestamp);
    }
    (regressed, escalated)
}

fn clear_ignore(issue: &mut Issue) {
    issue.ignore_until = None;
    issue.ignore_count = None;
    issue.ignore_count_base = None;
}

/// A user's status change.
pub(crate) fn apply_status_change(issue: &mut Issue, change: StatusChange, now: DateTime<Utc>) {
    let now = to_ms(now);
    clear_ignore(issue);
    issue.resolved_in_release = None;
    match change {
        StatusChange::Unresolve => {
            issue.status = IssueStatus::Unresolved;
            issue.substatus = IssueSubstatus::Ongoing;
            issue.resolved_at = None;
        }
        StatusChange::Resolve => {
            issue.status = IssueStatus::Resolved;
            issue.resolved_at = Some(now);
        }
        StatusChange::ResolveInNextRelease { release } => {
            issue.status = IssueStatus::Resolved;
            issue.resolved_at = Some(now);
            // Without a release to compare with, any new event reopens it.
            issue.resolved_in_release = release;
        }
        StatusChange::IgnoreForever => {
            issue.status = IssueStatus::Ignored;
            issue.substatus = IssueSubstatus::ArchivedForever;
            issue.resolved_at = None;
        }
        StatusChange::IgnoreUntil(until) => {
            issue.status = IssueStatus::Ignored;
            issue.substatus = IssueSubstatus::ArchivedUntilConditionMet;
            issue.resolved_at = None;
            issue.ignore_until = Some(to_ms(until));
        }
        StatusChange::IgnoreCount(count) => {
            issue.status = IssueStatus::Ignored;
            issue.substatus = IssueSubstatus::ArchivedUntilConditionMet;
            issue.resolved_at = None;
            issue.ignore_count = Some(count);
            issue.ignore_count_base = Some(issue.times_seen);
        }
    }
}

/// Checks a status change before it is applied.
pub(crate) fn validate_status_change(change: &StatusChange) -> Result<(), StoreError> {
    if let StatusChange::IgnoreCount(n) = change
        && *n < 1
    {
        return Err(StoreError::Invalid {
            field: "ignore_count",
            reason: format!("must be at least 1, got {n}"),
        });
    }
    Ok(())
}

/// Ids sorted and distinct: the order every writer locks issues in.
pub(crate) fn sorted_ids(ids: &[IssueId]) -> Vec<IssueId> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// User ids and team ids of a list of assignees.
pub(crate) fn split_assignees(list: &[Assignee]) -> (Vec<UserId>, Vec<TeamId>) {
    let mut users = Vec::new();
    let mut teams = Vec::new();
    for a in list {
        match a {
            Assignee::User(id) => users.push(*id),
            Assignee::Team(id) => teams.push(*id),
        }
    }
    (users, teams)
}

/// The error for an assignee outside the issue's organization.
pub(crate) fn foreign_assignee(assignee: Option<Assignee>) -> StoreError {
    let who = match assignee {
        Some(Assignee::User(id)) => format!("user {id} is not a member of"),
        Some(Assignee::Team(id)) => format!("team {id} is not a team of"),
        None => "nobody is outside".into(),
    };
    StoreError::Invalid {
        field: "assignee",
        reason: format!("{who} the issue's organization"),
    }
}

/// Outcomes for a batch before anything is known: nothing inserted.
pub(crate) fn blank_outcomes(batch: &[DigestInput]) -> Vec<DigestOutcome> {
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

/// A fresh issue row for the event that creates it; `apply_events` then
/// counts that event like any other.
pub(crate) fn seed_issue(seed: &BatchEvent<'_>) -> Issue {
    let input = seed.input;
    Issue {
        id: 0,
        project_id: input.project_id,
        short_id: 0,
        status: IssueStatus::Unresolved,
        substatus: IssueSubstatus::New,
        level: input.level,
        event_type: input.event_type,
        title: input.title.clone(),
        culprit: input.culprit.clone(),
        metadata: input.metadata.clone(),
        first_seen: seed.timestamp,
        last_seen: seed.timestamp,
        times_seen: 0,
        first_release: None,
        last_release: None,
        resolved_at: None,
        resolved_in_release: None,
        ignore_until: None,
        ignore_count: None,
        ignore_count_base: None,
        assignee: None,
        num_comments: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }

    #[test]
    fn release_order_uses_first_seen_then_id() {
        let t = Utc::now();
        let mut order = ReleaseOrder::new();
        order.insert((1, "a".into()), (t, 1));
        order.insert((1, "b".into()), (t, 2));
        order.insert((1, "c".into()), (t - Duration::hours(1), 3));
        assert!(release_is_newer(&order, 1, "b", "a"));
        assert!(!release_is_newer(&order, 1, "a", "b"));
        assert!(!release_is_newer(&order, 1, "c", "a"));
        assert!(release_is_newer(&order, 1, "a", "unknown"));
        assert!(!release_is_newer(&order, 1, "a", "a"));
    }
}
