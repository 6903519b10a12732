//! The issue page's timeline: what happened to the issue (first seen,
//! regressions, status changes, assignments, alerts sent) and its comments,
//! oldest first, each with who and when. Comments come from the comments
//! themselves (older ones have no `note` entry), so `note` entries are
//! left out.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use corral_core::alerts::{Activity, ActivityKind};
use corral_core::model::{Comment, Issue, UserId};
use serde_json::Value;

use super::People;
use super::when::When;

/// One line of the timeline.
pub struct Entry {
    /// The activity's kind (`set_resolved`, …), `note` for comments.
    pub kind: &'static str,
    /// Who: a person, or Corral.
    pub who: String,
    /// What they did: "resolved the issue".
    pub what: String,
    /// More about it: "until 100 more events".
    pub detail: Option<String>,
    /// A comment's text.
    pub text: Option<String>,
    pub when: When,
    at: DateTime<Utc>,
}

/// Names of people who acted but are no members (superusers), by id.
pub type Others = HashMap<UserId, String>;

fn text(data: &Value, key: &str) -> Option<String> {
    match data.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn entry(a: &Activity, people: &People, others: &Others, now: DateTime<Utc>) -> Entry {
    let who = match a.user_id {
        None => "Corral".to_string(),
        Some(id) => people
            .users
            .get(&id)
            .or_else(|| others.get(&id))
            .cloned()
            .unwrap_or_else(|| format!("user {id}")),
    };
    let d = &a.data;
    let (what, detail) = match a.kind {
        ActivityKind::Assigned => {
            let whom = text(d, "assignee")
                .and_then(|id| id.parse::<i64>().ok())
                .map(|id| match text(d, "assigneeType").as_deref() {
                    Some("team") => people.name(&corral_core::model::Assignee::Team(id)),
                    _ => people.name(&corral_core::model::Assignee::User(id)),
                });
            match whom {
                Some(whom) => (format!("assigned the issue to {whom}"), None),
                None => (a.kind.describe().to_string(), None),
            }
        }
        ActivityKind::SetResolvedInRelease => (
            a.kind.describe().to_string(),
            text(d, "version").map(|v| format!("after {v}")),
        ),
        ActivityKind::SetIgnored => (
            a.kind.describe().to_string(),
            text(d, "ignoreUntil")
                .map(|t| format!("until {t}"))
                .or_else(|| text(d, "ignoreCount").map(|n| format!("until {n} more events"))),
        ),
        ActivityKind::AlertSent => (
            a.kind.describe().to_string(),
            text(d, "rule").map(|r| format!("rule “{r}”")),
        ),
        kind => (kind.describe().to_string(), None),
    };
    Entry {
        kind: a.kind.as_str(),
        who,
        what,
        detail,
        text: None,
        when: When::new(a.created_at, now),
        at: a.created_at,
    }
}

/// The timeline of an issue, oldest first.
pub fn timeline(
    issue: &Issue,
    activities: &[Activity],
    comments: &[Comment],
    people: &People,
    others: &Others,
    now: DateTime<Utc>,
) -> Vec<Entry> {
    let mut out: Vec<Entry> = activities
        .iter()
        .filter(|a| a.kind != ActivityKind::Note)
        .map(|a| entry(a, people, others, now))
        .collect();
    // issues older than the timeline have no first_seen entry of their own
    if !activities.iter().any(|a| a.kind == ActivityKind::FirstSeen) {
        out.push(Entry {
            kind: ActivityKind::FirstSeen.as_str(),
            who: "Corral".into(),
            what: ActivityKind::FirstSeen.describe().into(),
            detail: None,
            text: None,
            when: When::new(issue.first_seen, now),
            at: issue.first_seen,
        });
    }
    out.extend(comments.iter().map(|c| Entry {
        kind: ActivityKind::Note.as_str(),
        who: c.user_name.clone(),
        what: "commented".into(),
        detail: None,
        text: Some(c.text.clone()),
        when: When::new(c.created_at, now),
        at: c.created_at,
    }));
    // stable: entries of the same moment keep their order
    out.sort_by_key(|e| e.at);
    out
}

/// The ids of people in `activities` whom `people` does not name.
pub fn strangers(activities: &[Activity], people: &People) -> Vec<UserId> {
    let mut ids: Vec<UserId> = activities
        .iter()
        .filter_map(|a| a.user_id)
        .filter(|id| !people.users.contains_key(id))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

#[cfg(test)]
mod tests {
    use corral_core::model::{EventType, IssueStatus, IssueSubstatus};
    use corral_protocol::Level;
    use serde_json::json;

    use super::*;

    fn activity(
        id: i64,
        kind: ActivityKind,
        user: Option<i64>,
        data: Value,
        at: DateTime<Utc>,
    ) -> Activity {
        Activity {
            id,
            issue_id: 1,
            project_id: 1,
            kind,
            user_id: user,
            data,
            created_at: at,
        }
    }

    #[test]
    fn one_timeline_oldest_first_with_who() {
        let now = Utc::now();
        let t = |mins: i64| now - chrono::Duration::minutes(mins);
        let issue = Issue {
            id: 1,
            project_id: 1,
            short_id: 1,
            status: IssueStatus::Resolved,
            substatus: IssueSubstatus::Ongoing,
            level: Level::Error,
            event_type: EventType::Error,
            title: "t".into(),
            culprit: "c".into(),
            metadata: json!({}),
            first_seen: t(60),
            last_seen: t(1),
            times_seen: 3,
            first_release: None,
            last_release: None,
            resolved_at: None,
            resolved_in_release: None,
            ignore_until: None,
            ignore_count: None,
            ignore_count_base: None,
            assignee: None,
            num_comments: 1,
        };
        let mut people = People::default();
        people.users.insert(7, "Ann".into());
        people.team_slugs.insert(3, "core".into());
        let activities = vec![
            activity(
                1,
                ActivityKind::Assigned,
                Some(7),
                json!({"assignee": "3", "assigneeType": "team"}),
                t(30),
            ),
            activity(
                2,
                ActivityKind::Note,
                Some(7),
                json!({"text": "dup"}),
                t(20),
            ),
            activity(3, ActivityKind::SetResolved, Some(99), json!({}), t(10)),
            activity(
                4,
                ActivityKind::SetIgnored,
                Some(7),
                json!({"ignoreCount": 100}),
                t(5),
            ),
        ];
        let comments = vec![Comment {
            id: 1,
            issue_id: 1,
            user_id: Some(7),
            user_name: "Ann".into(),
            text: "on it".into(),
            created_at: t(20),
        }];
        let others = HashMap::from([(99, "Root".to_string())]);
        assert_eq!(strangers(&activities, &people), vec![99]);
        let lines = timeline(&issue, &activities, &comments, &people, &others, now);
        let kinds: Vec<&str> = lines.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            [
                "first_seen",
                "assigned",
                "note",
                "set_resolved",
                "set_ignored"
            ],
            "the note activity gives way to the comment"
        );
        assert_eq!(lines[0].who, "Corral");
        assert_eq!(lines[1].what, "assigned the issue to #core");
        assert_eq!(lines[2].text.as_deref(), Some("on it"));
        assert_eq!(lines[3].who, "Root");
        assert_eq!(lines[4].detail.as_deref(), Some("until 100 more events"));
    }
}
