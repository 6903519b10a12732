//! The forms of the issue page: status (resolve, resolve in the next
//! release, ignore for a while or for a number of events, unresolve),
//! assignee, comments, and the user's subscription. Changes of the issue
//! are recorded on its timeline ([`crate::activity`]). Each form's CSRF token is checked first (by
//! [`CsrfForm`]), then that the user sees the issue (404) and may triage
//! (403); then each redirects back to the issue with a notice.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Duration, Utc};
use corral_core::model::{Assignee, Issue, Organization};
use corral_core::{StatusChange, StoreError};
use serde::Deserialize;

use super::super::{CsrfForm, UiError};
use super::{encode, visible_issue};
use crate::access::Action;
use crate::activity;
use crate::session::SignedIn;
use crate::state::AppState;

#[derive(Deserialize)]
pub(super) struct StatusForm {
    #[serde(default)]
    action: String,
}

#[derive(Deserialize)]
pub(super) struct AssignForm {
    /// `user:ID`, `team:ID`, or empty to unassign.
    #[serde(default)]
    assignee: String,
}

#[derive(Deserialize)]
pub(super) struct SubscriptionForm {
    /// `true`, `false`, or `default`.
    #[serde(default)]
    subscribed: String,
}

#[derive(Deserialize)]
pub(super) struct CommentForm {
    #[serde(default)]
    text: String,
}

/// The issue and the right to triage it.
async fn triage(
    state: &AppState,
    signed: &SignedIn,
    org: &str,
    id: &str,
) -> Result<(Organization, Issue), UiError> {
    let (org, _, issue) = visible_issue(state, signed, org, id).await?;
    signed.access.require(Action::TriageIssues, org.id)?;
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
    Path((org, id)): Path<(String, String)>,
    CsrfForm(form): CsrfForm<StatusForm>,
) -> Result<Response, UiError> {
    let (org, issue) = triage(&state, &signed, &org, &id).await?;
    let Some((change, notice)) = status_change(&form.action, &issue) else {
        return Err(UiError::BadRequest("unknown action".into()));
    };
    state
        .store
        .set_issue_status(issue.id, change.clone())
        .await?;
    activity::status_changed(&state.store, &issue, &change, signed.access.user.id).await?;
    Ok(back(&org, &issue, notice))
}

pub(super) async fn assign(
    State(state): State<AppState>,
    signed: SignedIn,
    Path((org, id)): Path<(String, String)>,
    CsrfForm(form): CsrfForm<AssignForm>,
) -> Result<Response, UiError> {
    let (org, issue) = triage(&state, &signed, &org, &id).await?;
    let assignee = match form.assignee.trim() {
        "" => None,
        a => Some(a.parse::<Assignee>().map_err(UiError::BadRequest)?),
    };
    let notice = if assignee.is_some() {
        "assigned"
    } else {
        "unassigned"
    };
    match state.store.assign_issue(issue.id, assignee).await {
        Ok(_) => {
            activity::assigned(&state.store, &issue, assignee, signed.access.user.id).await?;
            Ok(back(&org, &issue, notice))
        }
        // the same answer whoever it names: nothing about other organizations
        Err(StoreError::Invalid { .. }) => Err(UiError::BadRequest(
            "not a member and not a team of this organization".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn comment(
    State(state): State<AppState>,
    signed: SignedIn,
    Path((org, id)): Path<(String, String)>,
    CsrfForm(form): CsrfForm<CommentForm>,
) -> Result<Response, UiError> {
    let (org, issue) = triage(&state, &signed, &org, &id).await?;
    match state
        .store
        .add_comment(issue.id, signed.access.user.id, &form.text)
        .await
    {
        Ok(comment) => {
            let actor = signed.access.user.id;
            activity::commented(&state.store, issue.id, &comment.text, actor).await?;
            Ok(back(&org, &issue, "commented"))
        }
        Err(StoreError::Invalid { reason, .. }) => {
            Err(UiError::BadRequest(format!("comment: {reason}")))
        }
        Err(e) => Err(e.into()),
    }
}

/// The user's own mail about the issue: subscribe, unsubscribe, or back to
/// the default (mail while it is assigned to them).
pub(super) async fn subscribe(
    State(state): State<AppState>,
    signed: SignedIn,
    Path((org, id)): Path<(String, String)>,
    CsrfForm(form): CsrfForm<SubscriptionForm>,
) -> Result<Response, UiError> {
    let (org, issue) = triage(&state, &signed, &org, &id).await?;
    let (choice, notice) = match form.subscribed.as_str() {
        "true" => (Some(true), "subscribed"),
        "false" => (Some(false), "unsubscribed"),
        "default" => (None, "subscription_default"),
        _ => return Err(UiError::BadRequest("unknown subscription".into())),
    };
    state
        .store
        .set_issue_subscription(issue.id, signed.access.user.id, choice)
        .await?;
    Ok(back(&org, &issue, notice))
}
