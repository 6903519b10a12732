//! The issue page: what the issue is, how often it happens, its tag values,
//! one of its events in full (the latest, or one named in the URL, with
//! links to the older and newer one), its timeline (activity and comments),
//! the action forms and the user's subscription; and the event's raw JSON.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use corral_core::model::{Issue, IssueStatus, Project, StoredEvent, TagKeyCounts, format_short_id};
use corral_core::{EventCursor, StoreError};
use serde::Deserialize;
use uuid::Uuid;

use super::super::charts::{self, Chart};
use super::super::{Chrome, UiError, render};
use super::event::EventView;
use super::timeline::{Entry, Others, strangers, timeline};
use super::when::When;
use super::{People, encode, notice_text, visible_issue};
use crate::access::Action;
use crate::activity::{Subscription, subscription};
use crate::session::SignedIn;
use crate::state::AppState;

/// Tag values shown per key.
const TOP_VALUES: usize = 5;

struct IssueView {
    title: String,
    culprit: String,
    level: &'static str,
    status: &'static str,
    /// Sentry has none for resolved issues.
    substatus: Option<&'static str>,
    /// How long an ignore lasts, or what a resolve waits for.
    status_detail: Option<String>,
    short_id: String,
    count: i64,
    first_seen: When,
    last_seen: When,
    first_release: Option<String>,
    last_release: Option<String>,
    project_name: String,
    project_slug: String,
    assignee: Option<String>,
    unresolved: bool,
}

struct TagShare {
    value: String,
    count: i64,
    percent: u32,
    href: String,
}

struct TagBreakdown {
    key: String,
    total: i64,
    values: Vec<TagShare>,
    /// Values beyond the top ones.
    others: usize,
}

/// Whether the user gets the issue's workflow mail, and why.
struct SubscriptionView {
    subscribed: bool,
    /// Why, in a few words.
    reason: &'static str,
    /// Their workflow mail is off in their settings.
    workflow_off: bool,
}

struct Choice {
    value: String,
    label: String,
    selected: bool,
}

#[derive(Template)]
#[template(path = "issues/issue.html")]
struct IssuePage {
    chrome: Chrome,
    org: String,
    /// `/organizations/{org}/issues/{id}/`
    base: String,
    notice: Option<String>,
    issue: IssueView,
    /// The last day by hour and the last month by day.
    charts: Vec<Chart>,
    tags: Vec<TagBreakdown>,
    event: Option<EventView>,
    older: Option<String>,
    newer: Option<String>,
    json_href: Option<String>,
    timeline: Vec<Entry>,
    subscription: SubscriptionView,
    members: Vec<Choice>,
    teams: Vec<Choice>,
    can_triage: bool,
}

#[derive(Deserialize, Default)]
pub(super) struct PageParams {
    notice: Option<String>,
}

fn status_detail(i: &Issue) -> Option<String> {
    match i.status {
        IssueStatus::Resolved => Some(match &i.resolved_in_release {
            Some(r) => format!("in the next release after {r}"),
            None => match i.resolved_at {
                Some(t) => format!("since {}", t.format("%Y-%m-%d %H:%M UTC")),
                None => return None,
            },
        }),
        IssueStatus::Ignored => Some(match (i.ignore_until, i.ignore_count) {
            (Some(t), _) => format!("until {}", t.format("%Y-%m-%d %H:%M UTC")),
            (None, Some(n)) => {
                let so_far = i.times_seen - i.ignore_count_base.unwrap_or(i.times_seen);
                format!("until {n} more events ({so_far} so far)")
            }
            (None, None) => "forever".into(),
        }),
        IssueStatus::Unresolved => None,
    }
}

fn tag_breakdowns(org: &str, keys: &[TagKeyCounts]) -> Vec<TagBreakdown> {
    keys.iter()
        .map(|k| {
            let total = k.times_seen;
            TagBreakdown {
                values: k
                    .top_values
                    .iter()
                    .take(TOP_VALUES)
                    .map(|v| TagShare {
                        href: format!(
                            "/organizations/{}/issues/?query={}",
                            encode(org),
                            encode(&format!(
                                "{}:\"{}\"",
                                k.key,
                                v.value.replace('\\', "\\\\").replace('"', "\\\"")
                            ))
                        ),
                        value: v.value.clone(),
                        count: v.times_seen,
                        percent: if total > 0 {
                            ((v.times_seen as f64 * 100.0) / total as f64).round() as u32
                        } else {
                            0
                        },
                    })
                    .collect(),
                others: usize::try_from(k.unique_values)
                    .unwrap_or(0)
                    .saturating_sub(k.top_values.len().min(TOP_VALUES)),
                total,
                key: k.key.clone(),
            }
        })
        .collect()
}

fn subscription_view(s: Subscription, workflow_off: bool) -> SubscriptionView {
    SubscriptionView {
        subscribed: s.subscribed,
        reason: match (s.chosen, s.subscribed) {
            (Some(true), _) => "you subscribed",
            (Some(false), _) => "you unsubscribed",
            (None, true) => "it is assigned to you",
            (None, false) => "you did not subscribe",
        },
        workflow_off,
    }
}

/// Names of people who acted on the issue without being members.
async fn others(state: &AppState, ids: Vec<i64>) -> Result<Others, UiError> {
    let mut names = Others::new();
    for id in ids {
        match state.store.user_by_id(id).await {
            Ok(u) => {
                names.insert(id, super::display_name(&u.name, &u.email));
            }
            Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(names)
}

/// The issue page with its latest event.
pub(super) async fn latest(
    State(state): State<AppState>,
    signed: SignedIn,
    Path((org, id)): Path<(String, String)>,
    Query(params): Query<PageParams>,
) -> Result<Response, UiError> {
    show(&state, &signed, &org, &id, None, params).await
}

/// The issue page with one of its events.
pub(super) async fn event(
    State(state): State<AppState>,
    signed: SignedIn,
    Path((org, id, event_id)): Path<(String, String, String)>,
    Query(params): Query<PageParams>,
) -> Result<Response, UiError> {
    let event_id = corral_protocol::parse_event_id(&event_id).ok_or(UiError::NotFound("event"))?;
    show(&state, &signed, &org, &id, Some(event_id), params).await
}

/// An event of the issue; transactions and other issues' events are not.
async fn event_of(state: &AppState, issue: &Issue, event_id: Uuid) -> Result<StoredEvent, UiError> {
    match state.store.event_by_id(issue.project_id, event_id).await {
        Ok(e) if e.issue_id == Some(issue.id) => Ok(e),
        Ok(_) | Err(StoreError::NotFound(_)) => Err(UiError::NotFound("event")),
        Err(e) => Err(e.into()),
    }
}

async fn show(
    state: &AppState,
    signed: &SignedIn,
    org_slug: &str,
    id: &str,
    event_id: Option<Uuid>,
    params: PageParams,
) -> Result<Response, UiError> {
    let (org, project, issue) = visible_issue(state, signed, org_slug, id).await?;
    let now = Utc::now();
    let (day_from, day_to) = charts::last_day(now);
    let (month_from, month_to) = charts::last_month(now);
    let store = &state.store;
    let (chrome, event, hourly, daily, tag_values, comments, people) = futures::try_join!(
        Chrome::new(state, signed, Some(&org.slug)),
        async {
            match event_id {
                Some(eid) => event_of(state, &issue, eid).await.map(Some),
                None => match store.latest_event(issue.id).await {
                    Ok(e) => Ok(Some(e)),
                    // every event may have been purged
                    Err(StoreError::NotFound(_)) => Ok(None),
                    Err(e) => Err(e.into()),
                },
            }
        },
        async {
            Ok(store
                .issue_hourly_counts(issue.id, day_from, day_to)
                .await?)
        },
        async {
            Ok(store
                .issue_daily_counts(issue.id, month_from, month_to)
                .await?)
        },
        async { Ok(store.issue_tag_keys(issue.id, TOP_VALUES as u32).await?) },
        async { Ok(store.list_comments(issue.id).await?) },
        People::load(state, org.id),
    )?;
    let me = signed.access.user.id;
    let (activities, subscription, settings) = futures::try_join!(
        store.list_activities(issue.id),
        subscription(store, &issue, me),
        store.notification_settings(me),
    )?;
    let others = others(state, strangers(&activities, &people)).await?;
    let base = format!("/organizations/{}/issues/{}/", encode(&org.slug), issue.id);
    let (older, newer) = match &event {
        Some(e) => {
            store
                .adjacent_events(
                    issue.id,
                    EventCursor {
                        received_at: e.received_at,
                        event_id: e.event_id,
                    },
                )
                .await?
        }
        None => (None, None),
    };
    let event_href = |id: Uuid| format!("{base}events/{}/", id.simple());
    let page = IssuePage {
        issue: issue_view(&issue, &project, &people, now),
        charts: vec![
            charts::hourly("Events in the last 24 hours", &hourly, now, 480, 80),
            charts::daily("Events in the last 30 days", &daily, now, 480, 80),
        ],
        tags: tag_breakdowns(&org.slug, &tag_values),
        json_href: event
            .as_ref()
            .map(|e| format!("{base}events/{}/json", e.event_id.simple())),
        event: event.as_ref().map(|e| EventView::new(e, &org.slug, now)),
        older: older.map(event_href),
        newer: newer.map(event_href),
        timeline: timeline(&issue, &activities, &comments, &people, &others, now),
        subscription: subscription_view(subscription, !settings.workflow),
        members: people
            .members
            .iter()
            .map(|m| Choice {
                value: format!("user:{}", m.user.id),
                label: super::display_name(&m.user.name, &m.user.email),
                selected: issue.assignee == Some(corral_core::model::Assignee::User(m.user.id)),
            })
            .collect(),
        teams: people
            .teams
            .iter()
            .map(|t| Choice {
                value: format!("team:{}", t.id),
                label: format!("#{}", t.slug),
                selected: issue.assignee == Some(corral_core::model::Assignee::Team(t.id)),
            })
            .collect(),
        can_triage: signed.access.can(Action::TriageIssues, org.id),
        notice: params.notice.as_deref().and_then(|k| notice_text(k, None)),
        chrome,
        org: org.slug.clone(),
        base,
    };
    render(&page)
}

fn issue_view(i: &Issue, p: &Project, people: &People, now: DateTime<Utc>) -> IssueView {
    IssueView {
        title: i.title.clone(),
        culprit: i.culprit.clone(),
        level: i.level.as_str(),
        status: i.status.as_str(),
        substatus: (i.status != IssueStatus::Resolved).then(|| i.substatus.as_str()),
        status_detail: status_detail(i),
        short_id: format_short_id(&p.slug, i.short_id),
        count: i.times_seen,
        first_seen: When::new(i.first_seen, now),
        last_seen: When::new(i.last_seen, now),
        first_release: i.first_release.clone(),
        last_release: i.last_release.clone(),
        project_name: p.name.clone(),
        project_slug: p.slug.clone(),
        assignee: i.assignee.as_ref().map(|a| people.name(a)),
        unresolved: i.status == IssueStatus::Unresolved,
    }
}

/// The event as stored, as JSON (same access rules as the page).
pub(super) async fn raw_json(
    State(state): State<AppState>,
    signed: SignedIn,
    Path((org, id, event_id)): Path<(String, String, String)>,
) -> Result<Response, UiError> {
    let (_, _, issue) = visible_issue(&state, &signed, &org, &id).await?;
    let event_id = corral_protocol::parse_event_id(&event_id).ok_or(UiError::NotFound("event"))?;
    let event = event_of(&state, &issue, event_id).await?;
    let body = serde_json::to_string_pretty(&event.data).unwrap_or_else(|_| "{}".into());
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tv(key: &str, value: &str, n: i64) -> corral_core::model::TagValueCount {
        corral_core::model::TagValueCount {
            key: key.into(),
            value: value.into(),
            times_seen: n,
            first_seen: Utc::now(),
            last_seen: Utc::now(),
        }
    }

    /// What the store answers: totals over every value, the top values only.
    fn key(name: &str, values: &[(&str, i64)], top: usize) -> TagKeyCounts {
        TagKeyCounts {
            key: name.into(),
            times_seen: values.iter().map(|v| v.1).sum(),
            unique_values: values.len() as i64,
            top_values: values
                .iter()
                .take(top)
                .map(|v| tv(name, v.0, v.1))
                .collect(),
        }
    }

    #[test]
    fn top_five_values_per_key_with_percentages() {
        let users = [
            ("u0", 50),
            ("u1", 20),
            ("u2", 10),
            ("u3", 10),
            ("u4", 5),
            ("u5", 5),
        ];
        let values = vec![
            key("browser", &[("Firefox", 3), ("Chrome", 1)], TOP_VALUES),
            key("user", &users, TOP_VALUES),
        ];
        let b = tag_breakdowns("acme", &values);
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].key, "browser");
        assert_eq!(b[0].total, 4);
        assert_eq!(
            b[0].values.iter().map(|v| v.percent).collect::<Vec<_>>(),
            vec![75, 25]
        );
        assert_eq!(b[1].values.len(), 5);
        assert_eq!(b[1].others, 1);
        assert_eq!(b[1].values[0].percent, 50);
        assert_eq!(
            b[0].values[0].href,
            "/organizations/acme/issues/?query=browser%3A%22Firefox%22"
        );
    }
}
