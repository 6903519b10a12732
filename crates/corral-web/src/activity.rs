//! The entries of an issue's timeline that people cause (status changes,
//! assignments, comments), recorded by the API's and the UI's handlers
//! alike; the digest records first seen, regressions and escalations
//! itself. And whether someone gets an issue's workflow mail.
//!
//! An entry is recorded after its change succeeded, and only when the
//! change changed something: resolving a resolved issue again adds no entry
//! and, since the store turns resolves and assignments into triggers for
//! the alert runner, mails nobody twice.

use chrono::{SecondsFormat, Utc};
use corral_core::alerts::{ActivityKind, NewActivity};
use corral_core::model::{Assignee, Issue, IssueStatus, UserId};
use corral_core::{SharedStore, StatusChange, StoreResult};
use serde_json::{Value, json};

/// What a status change of `before` records, if it changes anything.
pub fn status_entry(before: &Issue, change: &StatusChange) -> Option<(ActivityKind, Value)> {
    let ignored_plainly = before.status == IssueStatus::Ignored
        && before.ignore_until.is_none()
        && before.ignore_count.is_none();
    match change {
        StatusChange::Resolve => {
            let already =
                before.status == IssueStatus::Resolved && before.resolved_in_release.is_none();
            (!already).then(|| (ActivityKind::SetResolved, json!({})))
        }
        StatusChange::ResolveInNextRelease { release } => {
            let already = before.status == IssueStatus::Resolved
                && before.resolved_in_release.is_some()
                && before.resolved_in_release == *release;
            (!already).then(|| {
                (
                    ActivityKind::SetResolvedInRelease,
                    json!({"inNextRelease": true, "version": release}),
                )
            })
        }
        StatusChange::Unresolve => (before.status != IssueStatus::Unresolved)
            .then(|| (ActivityKind::SetUnresolved, json!({}))),
        StatusChange::IgnoreForever => {
            (!ignored_plainly).then(|| (ActivityKind::SetIgnored, json!({})))
        }
        // a new time or count starts the ignore again: always a change
        StatusChange::IgnoreUntil(until) => Some((
            ActivityKind::SetIgnored,
            json!({"ignoreUntil": until.to_rfc3339_opts(SecondsFormat::Secs, true)}),
        )),
        StatusChange::IgnoreCount(count) => {
            Some((ActivityKind::SetIgnored, json!({"ignoreCount": count})))
        }
    }
}

/// What assigning `before` to `assignee` records, if it changes anything
/// (Sentry's data: `{"assignee": "7", "assigneeType": "user"}`).
pub fn assignment_entry(
    before: &Issue,
    assignee: Option<Assignee>,
) -> Option<(ActivityKind, Value)> {
    if before.assignee == assignee {
        return None;
    }
    Some(match assignee {
        Some(Assignee::User(id)) => (
            ActivityKind::Assigned,
            json!({"assignee": id.to_string(), "assigneeType": "user"}),
        ),
        Some(Assignee::Team(id)) => (
            ActivityKind::Assigned,
            json!({"assignee": id.to_string(), "assigneeType": "team"}),
        ),
        None => (ActivityKind::Unassigned, json!({})),
    })
}

async fn record(
    store: &SharedStore,
    issue_id: i64,
    entry: Option<(ActivityKind, Value)>,
    actor: UserId,
) -> StoreResult<()> {
    if let Some((kind, data)) = entry {
        let activity = NewActivity {
            issue_id,
            kind,
            user_id: Some(actor),
            data,
        };
        store.add_activity(&activity, Utc::now()).await?;
    }
    Ok(())
}

/// Records that `actor` changed the status of `before` (as it was before).
pub async fn status_changed(
    store: &SharedStore,
    before: &Issue,
    change: &StatusChange,
    actor: UserId,
) -> StoreResult<()> {
    record(store, before.id, status_entry(before, change), actor).await
}

/// Records that `actor` assigned `before` (as it was before) to `assignee`.
pub async fn assigned(
    store: &SharedStore,
    before: &Issue,
    assignee: Option<Assignee>,
    actor: UserId,
) -> StoreResult<()> {
    record(store, before.id, assignment_entry(before, assignee), actor).await
}

/// Records a comment as Sentry's `note`.
pub async fn commented(
    store: &SharedStore,
    issue_id: i64,
    text: &str,
    actor: UserId,
) -> StoreResult<()> {
    let entry = Some((ActivityKind::Note, json!({ "text": text })));
    record(store, issue_id, entry, actor).await
}

/// Whether someone gets the workflow mail of an issue (as the worker's
/// alert runner decides it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subscription {
    /// Their own choice for the issue, if they made one.
    pub chosen: Option<bool>,
    /// What holds: the choice, else whether the issue is assigned to them
    /// (or to a team of theirs).
    pub subscribed: bool,
}

/// `user_id`'s subscription to the issue.
pub async fn subscription(
    store: &SharedStore,
    issue: &Issue,
    user_id: UserId,
) -> StoreResult<Subscription> {
    let chosen = store
        .issue_subscriptions(issue.id)
        .await?
        .into_iter()
        .find(|(user, _)| *user == user_id)
        .map(|(_, subscribed)| subscribed);
    let subscribed = match (chosen, issue.assignee) {
        (Some(s), _) => s,
        (None, Some(Assignee::User(u))) => u == user_id,
        (None, Some(Assignee::Team(t))) => store
            .teams_of_user(user_id)
            .await?
            .iter()
            .any(|team| team.id == t),
        (None, None) => false,
    };
    Ok(Subscription { chosen, subscribed })
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use corral_core::model::{EventType, IssueSubstatus};
    use corral_protocol::Level;

    use super::*;

    fn issue(status: IssueStatus) -> Issue {
        let t = Utc::now();
        Issue {
            id: 1,
            project_id: 1,
            short_id: 1,
            status,
            substatus: IssueSubstatus::Ongoing,
            level: Level::Error,
            event_type: EventType::Error,
            title: "t".into(),
            culprit: "c".into(),
            metadata: json!({}),
            first_seen: t,
            last_seen: t,
            times_seen: 1,
            first_release: None,
            last_release: Some("1.0".into()),
            resolved_at: None,
            resolved_in_release: None,
            ignore_until: None,
            ignore_count: None,
            ignore_count_base: None,
            assignee: None,
            num_comments: 0,
        }
    }

    #[test]
    fn only_changes_are_recorded() {
        let open = issue(IssueStatus::Unresolved);
        let resolved = issue(IssueStatus::Resolved);
        let kind = |i: &Issue, c: StatusChange| status_entry(i, &c).map(|(k, _)| k);
        assert_eq!(
            kind(&open, StatusChange::Resolve),
            Some(ActivityKind::SetResolved)
        );
        assert_eq!(kind(&resolved, StatusChange::Resolve), None);
        assert_eq!(kind(&open, StatusChange::Unresolve), None);
        assert_eq!(
            kind(&resolved, StatusChange::Unresolve),
            Some(ActivityKind::SetUnresolved)
        );
        let next = StatusChange::ResolveInNextRelease {
            release: Some("1.0".into()),
        };
        assert_eq!(
            kind(&resolved, next.clone()),
            Some(ActivityKind::SetResolvedInRelease),
            "a plain resolve becomes one in the next release"
        );
        let mut waiting = resolved.clone();
        waiting.resolved_in_release = Some("1.0".into());
        assert_eq!(kind(&waiting, next), None);
        let ignored = issue(IssueStatus::Ignored);
        assert_eq!(kind(&ignored, StatusChange::IgnoreForever), None);
        assert_eq!(
            kind(&ignored, StatusChange::IgnoreCount(10)),
            Some(ActivityKind::SetIgnored)
        );
        let (_, data) = status_entry(
            &open,
            &StatusChange::IgnoreUntil(Utc::now() + Duration::hours(1)),
        )
        .unwrap();
        assert!(data["ignoreUntil"].is_string(), "{data}");
    }

    #[test]
    fn assignments_name_whom() {
        let open = issue(IssueStatus::Unresolved);
        let (kind, data) = assignment_entry(&open, Some(Assignee::Team(4))).unwrap();
        assert_eq!(kind, ActivityKind::Assigned);
        assert_eq!(data, json!({"assignee": "4", "assigneeType": "team"}));
        assert_eq!(assignment_entry(&open, None), None, "already nobody's");
        let mut mine = open.clone();
        mine.assignee = Some(Assignee::User(2));
        assert_eq!(
            assignment_entry(&mine, None).map(|(k, _)| k),
            Some(ActivityKind::Unassigned)
        );
        assert_eq!(assignment_entry(&mine, Some(Assignee::User(2))), None);
    }
}
