//! Comments on issues: Sentry's notes, `/api/0/issues/{id}/comments/`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::ApiAuth;
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery};
use super::paging::{ListUrl, PageParams};
use super::params::IssuePath;
use super::shapes::{self, Actors, CommentShape};
use crate::access::Action;
use crate::activity;
use crate::state::AppState;

/// Names of the organization's members, for comment authors.
async fn authors(state: &AppState, org_id: i64) -> Result<Actors, ApiError> {
    let mut actors = Actors::default();
    for m in state.store.list_members(org_id).await? {
        actors.users.insert(m.user.id, m.user);
    }
    Ok(actors)
}

/// The issue's comments, newest first.
#[utoipa::path(get, path = "/api/0/issues/{id}/comments/", tag = "issues",
    params(IssuePath, PageParams),
    responses((status = 200, body = [CommentShape], headers(("Link" = String)))),
    security(("token" = ["event:read"])))]
pub async fn list_comments(
    State(state): State<AppState>,
    auth: ApiAuth,
    at: ListUrl,
    Path(p): Path<IssuePath>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Response, ApiError> {
    auth.require("event:read")?;
    let (issue, project) = auth.issue(&state, &p.id).await?;
    let mut comments = state.store.list_comments(issue.id).await?;
    comments.reverse();
    let actors = authors(&state, project.org_id).await?;
    let shapes: Vec<CommentShape> = comments
        .iter()
        .map(|c| shapes::comment(c, &actors))
        .collect();
    page.respond(shapes, &at)
}

#[derive(Deserialize, ToSchema)]
pub struct NewComment {
    /// 1 to 10,000 characters.
    pub text: String,
}

/// Adds a comment as the token's user.
#[utoipa::path(post, path = "/api/0/issues/{id}/comments/", tag = "issues",
    params(IssuePath),
    request_body = NewComment,
    responses((status = 201, body = CommentShape)),
    security(("token" = ["event:write"])))]
pub async fn add_comment(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(p): Path<IssuePath>,
    ApiJson(new): ApiJson<NewComment>,
) -> Result<Response, ApiError> {
    auth.require("event:write")?;
    let (issue, project) = auth.issue(&state, &p.id).await?;
    auth.allow(Action::TriageIssues, project.org_id)?;
    let comment = state
        .store
        .add_comment(issue.id, auth.user().id, &new.text)
        .await?;
    activity::commented(&state.store, issue.id, &comment.text, auth.user().id).await?;
    let mut actors = authors(&state, project.org_id).await?;
    // a superuser comments without being a member
    actors
        .users
        .entry(auth.user().id)
        .or_insert_with(|| auth.user().clone());
    Ok((
        StatusCode::CREATED,
        Json(shapes::comment(&comment, &actors)),
    )
        .into_response())
}
