//! The forms of the issue page: status (resolve, resolve in the next
//! release, ignore for a while or for a number of events, unresolve),
//! assignee and comments. Each checks the CSRF token first, then that the
//! user sees the issue (404) and may triage (403), then redirects back to
//! the issue with a notice.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Form;
use chrono::{Duration, Utc};
use corral_core::model::{Assignee, Issue, Organization};
use corral_core::{StatusChange, StoreError};
use serde::Deserialize;

use super::super::{denied, store_failure};
use super::{bad_request, encode, visible_issue};
use crate::access::Action;
use crate::session::SignedIn;
use crate::state::AppState;

#[derive(Deserialize)]
pub(super) struct StatusForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    action: String,
}

#[derive(Deserialize)]
pub(super) struct AssignForm {
    #[serde(default)]
    csrf_token: String,
    /// `user:ID`, `team:ID`, or empty to unassign.
    #[serde(default)]
    assignee: String,
}

#[derive(Deserialize)]
pub(super) struct CommentForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    text: String,
}

/// The CSRF check, the issue and the right to triage it.
async fn triage(
    state: &AppState,
    signed: &SignedIn,
    headers: &HeaderMap,
    token: &str,
    org: &str,
    id: &str,
) -> Result<(Organization, Issue), Response> {
    signed.verify_csrf(state, headers, token)?;
    let (org, _, issue) = visible_issue(state, signed, org, id).await?;
    signed
        .access
        .require(Action::TriageIssues, org.id)
        .map_err(denied)?;
    Ok((org, issue))
}

fn back(org: &Organization, issue: &Issue, notice: &str) -> Response {
    Redirect::to(&format!(
        "/organizations/{}/issues/{}/?notice={notice}",
        encode(&org.slug),
        issue.id
    ))
    .into_response()
}

/// What a status button asks for.
fn status_change(action: &str, issue: &Issue) -> Option<(StatusChange, &'static str)> {
    let until = |d: Duration| StatusChange::IgnoreUntil(Utc::now() + d);
    Some(match action {
        "resolve" => (StatusChange::Resolve, "resolved"),
        "resolve_next" => (
            StatusChange::ResolveInNextRelease {
                release: issue.last_release.clone(),
            },
            "resolved_next",
        ),
        "unresolve" => (StatusChange::Unresolve, "unresolved"),
        "ignore" | "ignore_forever" => (StatusChange::IgnoreForever, "ignored"),
        "ignore_30m" => (until(Duration::minutes(30)), "ignored"),
        "ignore_2h" => (until(Duration::hours(2)), "ignored"),
        "ignore_24h" => (until(Duration::hours(24)), "ignored"),
        "ignore_10" => (StatusChange::IgnoreCount(10), "ignored"),
        "ignore_100" => (StatusChange::IgnoreCount(100), "ignored"),
        _ => return None,
    })
}

pub(super) async fn status(
    State(state): State<AppState>,
    signed: SignedIn,
    headers: HeaderMap,
    Path((org, id)): Path<(String, String)>,
    Form(form): Form<StatusForm>,
) -> Response {
    let (org, issue) = match triage(&state, &signed, &headers, &form.csrf_token, &org, &id).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let Some((change, notice)) = status_change(&form.action, &issue) else {
        return bad_request("unknown action");
    };
    match state.store.set_issue_status(issue.id, change).await {
        Ok(_) => back(&org, &issue, notice),
        Err(e) => store_failure(e),
    }
}

pub(super) async fn assign(
    State(state): State<AppState>,
    signed: SignedIn,
    headers: HeaderMap,
    Path((org, id)): Path<(String, String)>,
    Form(form): Form<AssignForm>,
) -> Response {
    let (org, issue) = match triage(&state, &signed, &headers, &form.csrf_token, &org, &id).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let assignee = match form.assignee.trim() {
        "" => None,
        a => match a.parse::<Assignee>() {
            Ok(a) => Some(a),
            Err(e) => return bad_request(&e),
        },
    };
    let notice = if assignee.is_some() {
        "assigned"
    } else {
        "unassigned"
    };
    match state.store.assign_issue(issue.id, assignee).await {
        Ok(_) => back(&org, &issue, notice),
        // the same answer whoever it names: nothing about other organizations
        Err(StoreError::Invalid { .. }) => {
            bad_request("not a member and not a team of this organization")
        }
        Err(e) => store_failure(e),
    }
}

pub(super) async fn comment(
    State(state): State<AppState>,
    signed: SignedIn,
    headers: HeaderMap,
    Path((org, id)): Path<(String, String)>,
    Form(form): Form<CommentForm>,
) -> Response {
    let (org, issue) = match triage(&state, &signed, &headers, &form.csrf_token, &org, &id).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    match state
        .store
        .add_comment(issue.id, signed.access.user.id, &form.text)
        .await
    {
        Ok(_) => back(&org, &issue, "commented"),
        Err(StoreError::Invalid { reason, .. }) => bad_request(&format!("comment: {reason}")),
        Err(e) => store_failure(e),
    }
}
