//! How an issue's state moves, decided here and only persisted by the store:
//! a new issue starts `unresolved`/`new` and turns `ongoing` three days after
//! it was first seen; an event reopens a resolved issue as `regressed` (after
//! "resolve in next release", only an event of a newer release does); an
//! ignored issue whose time or count is up turns `escalating`; and a user's
//! status change.

use std::collections::HashMap;

use chrono::{DateTime, Duration, TimeDelta, Utc};

use crate::digest::BatchEvent;
use crate::model::{Issue, IssueStatus, IssueSubstatus, ProjectId, to_ms};
use crate::store::{StatusChange, StoreError};

/// An unresolved issue stays `new` this long after it was first seen, then
/// its next event makes it `ongoing` (Sentry's behaviour).
const NEW_FOR: TimeDelta = Duration::days(3);

/// When releases were first seen, to tell which of two is newer: `(first
/// seen, id)`, the id breaking ties between releases first seen together.
pub type ReleaseOrder = HashMap<(ProjectId, String), (DateTime<Utc>, i64)>;

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

/// A fresh issue for the event that creates it; [`apply_event`] then counts
/// that event like any other.
pub fn seed_issue(seed: &BatchEvent<'_>) -> Issue {
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

/// What one event did to its issue's status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Transition {
    /// A resolved issue was reopened.
    pub regressed: bool,
    /// An ignored issue's time or count ran out.
    pub escalated: bool,
}

/// One event's effect on its issue: counts, status, and the fields the
/// latest event sets.
pub fn apply_event(
    issue: &mut Issue,
    event: &BatchEvent<'_>,
    releases: &ReleaseOrder,
) -> Transition {
    let input = event.input;
    let had_events = issue.times_seen > 0;
    let mut moved = Transition::default();
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
                    moved.regressed = true;
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
                    moved.escalated = true;
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
    moved
}

fn clear_ignore(issue: &mut Issue) {
    issue.ignore_until = None;
    issue.ignore_count = None;
    issue.ignore_count_base = None;
}

/// Checks a status change before it is applied.
pub fn validate_status_change(change: &StatusChange) -> Result<(), StoreError> {
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

/// A user's status change.
pub fn apply_status_change(issue: &mut Issue, change: StatusChange, now: DateTime<Utc>) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
