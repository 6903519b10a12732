//! The issue pages: an organization's issue list with bulk actions, an issue
//! with one of its events and its timeline, the event's raw JSON, and the
//! forms that act on an issue (status, assignee, comments) or on the user's
//! mail about it (subscription).
//!
//! Access decides everything: an issue of a project the user cannot see,
//! or of another organization, is 404 like one that does not exist; acting
//! needs [`Action::TriageIssues`](crate::access::Action::TriageIssues) and
//! the session's CSRF token ([`CsrfForm`](super::CsrfForm)).

mod actions;
mod event;
mod list;
mod page;
mod timeline;
mod when;

use std::collections::HashMap;

use axum::extract::Path;
use axum::response::Redirect;
use axum::routing::{get, post};
use corral_core::model::{Assignee, Issue, Member, Organization, Project, Team};

use super::{UiError, UiRoutes, missing};
use crate::access::Denied;
use crate::session::SignedIn;
use crate::state::AppState;

pub fn routes() -> UiRoutes {
    UiRoutes::new()
        .route("/organizations/{org}/issues", get(slash_list))
        .route("/organizations/{org}/issues/", get(list::page))
        .route("/organizations/{org}/issues/bulk", post(list::bulk))
        .route("/organizations/{org}/issues/{id}", get(slash_issue))
        .route("/organizations/{org}/issues/{id}/", get(page::latest))
        .route(
            "/organizations/{org}/issues/{id}/events/{event_id}/",
            get(page::event),
        )
        .route(
            "/organizations/{org}/issues/{id}/events/{event_id}/json",
            get(page::raw_json),
        )
        .route(
            "/organizations/{org}/issues/{id}/status",
            post(actions::status),
        )
        .route(
            "/organizations/{org}/issues/{id}/assign",
            post(actions::assign),
        )
        .route(
            "/organizations/{org}/issues/{id}/comments",
            post(actions::comment),
        )
        .route(
            "/organizations/{org}/issues/{id}/subscription",
            post(actions::subscribe),
        )
}

async fn slash_list(Path(org): Path<String>) -> Redirect {
    Redirect::permanent(&format!("/organizations/{}/issues/", encode(&org)))
}

async fn slash_issue(Path((org, id)): Path<(String, String)>) -> Redirect {
    Redirect::permanent(&format!(
        "/organizations/{}/issues/{}/",
        encode(&org),
        encode(&id)
    ))
}

/// Percent-encodes all but the unreserved characters: safe in a path
/// segment and in a query value alike.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The organization of a URL, if the user belongs to it.
async fn visible_org(
    state: &AppState,
    signed: &SignedIn,
    slug: &str,
) -> Result<Organization, UiError> {
    Ok(signed.access.organization(&state.store, slug).await?)
}

/// The issue of a URL with its organization and project, if the user may
/// see it; 404 otherwise, whatever the reason.
async fn visible_issue(
    state: &AppState,
    signed: &SignedIn,
    org_slug: &str,
    id: &str,
) -> Result<(Organization, Project, Issue), UiError> {
    let org = visible_org(state, signed, org_slug).await?;
    let id: i64 = id.parse().map_err(|_| UiError::NotFound("issue"))?;
    let issue = state
        .store
        .issue_by_id(id)
        .await
        .map_err(missing("issue"))?;
    let project = match signed
        .access
        .project_by_id(&state.store, issue.project_id)
        .await
    {
        Ok(p) if p.org_id == org.id => p,
        Ok(_) | Err(Denied::NotFound(_)) => return Err(UiError::NotFound("issue")),
        Err(d) => return Err(d.into()),
    };
    Ok((org, project, issue))
}

/// Names of an organization's members and teams, for assignees.
#[derive(Default)]
struct People {
    members: Vec<Member>,
    teams: Vec<Team>,
    users: HashMap<i64, String>,
    team_slugs: HashMap<i64, String>,
}

impl People {
    async fn load(state: &AppState, org_id: i64) -> Result<People, UiError> {
        let (members, teams) = futures::try_join!(
            state.store.list_members(org_id),
            state.store.list_teams(org_id)
        )?;
        let users = members
            .iter()
            .map(|m| (m.user.id, display_name(&m.user.name, &m.user.email)))
            .collect();
        let team_slugs = teams.iter().map(|t| (t.id, t.slug.clone())).collect();
        Ok(People {
            members,
            teams,
            users,
            team_slugs,
        })
    }

    /// `Ann`, `#backend`; an id when the member or team is gone.
    fn name(&self, a: &Assignee) -> String {
        match a {
            Assignee::User(id) => self
                .users
                .get(id)
                .cloned()
                .unwrap_or_else(|| format!("user {id}")),
            Assignee::Team(id) => self
                .team_slugs
                .get(id)
                .map(|s| format!("#{s}"))
                .unwrap_or_else(|| format!("team {id}")),
        }
    }
}

fn display_name(name: &str, email: &str) -> String {
    if name.trim().is_empty() {
        email.to_string()
    } else {
        name.to_string()
    }
}

/// The message for a `?notice=` key: only these texts can appear, so a
/// crafted link cannot put words on the page.
fn notice_text(key: &str, n: Option<u64>) -> Option<String> {
    let issues = |n: u64| {
        if n == 1 {
            "1 issue".to_string()
        } else {
            format!("{n} issues")
        }
    };
    Some(match (key, n) {
        ("resolved", Some(n)) => format!("{} resolved.", issues(n)),
        ("ignored", Some(n)) => format!("{} ignored.", issues(n)),
        ("unresolved", Some(n)) => format!("{} unresolved.", issues(n)),
        ("resolved", None) => "Resolved.".into(),
        ("resolved_next", _) => "Resolved in the next release.".into(),
        ("ignored", None) => "Ignored.".into(),
        ("unresolved", None) => "Unresolved.".into(),
        ("assigned", _) => "Assigned.".into(),
        ("unassigned", _) => "Unassigned.".into(),
        ("commented", _) => "Comment added.".into(),
        ("subscribed", _) => {
            "Subscribed: you get mail when the issue is resolved, regresses or is assigned.".into()
        }
        ("unsubscribed", _) => "Unsubscribed: you get no more mail about this issue.".into(),
        ("subscription_default", _) => {
            "You get this issue's mail while it is assigned to you, as by default.".into()
        }
        ("none_selected", _) => "No issues were selected.".into(),
        _ => return None,
    })
}
