//! Issues: lists (per project and across an organization, one search and
//! paging logic), bulk changes, and one issue's status and assignee.

use std::collections::HashSet;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use corral_core::model::{Assignee, Issue, OrgId, Project, ProjectId, UserId};
use corral_core::search::parse_query_as;
use corral_core::{IssueCursor, IssueQuery, IssueSort, StatusChange, StoreError};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::auth::ApiAuth;
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery, nullable, present};
use super::paging::{ListUrl, MAX_LIMIT};
use super::params::{IssuePath, OrgPath, ProjectPath};
use super::shapes::{self, Actors, BulkChange, IssueShape};
use crate::access::Action;
use crate::activity;
use crate::state::AppState;

/// The most issues one bulk request may name.
const MAX_BULK_IDS: usize = 1000;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IssueListParams {
    /// Search, e.g. `is:unresolved level:error browser:Firefox "free text"`
    /// (default `is:unresolved`; empty for every status).
    #[serde(default, deserialize_with = "present")]
    pub query: Option<String>,
    /// `date` (last seen, default), `new` (first seen) or `freq` (events).
    pub sort: Option<String>,
    /// From a `Link` header.
    pub cursor: Option<String>,
    /// Page size (1 to 100, default 25).
    pub limit: Option<u32>,
    /// Only issues with events in this environment.
    pub environment: Option<String>,
    /// Project ids to narrow an organization's list to (`-1`: all).
    #[serde(default)]
    #[param(style = Form, explode)]
    pub project: Vec<i64>,
}

fn sort_param(sort: Option<&str>) -> Result<IssueSort, ApiError> {
    Ok(match sort.unwrap_or("date") {
        "date" | "lastSeen" | "last_seen" => IssueSort::LastSeen,
        "new" | "firstSeen" | "first_seen" => IssueSort::FirstSeen,
        "freq" | "events" | "times_seen" => IssueSort::TimesSeen,
        other => {
            return Err(ApiError::BadRequest(format!(
                "unknown sort {other:?} (expected date, new or freq)"
            )));
        }
    })
}

/// Sentry's cursor form `value:offset:is_prev`; ours carries the last item's
/// sort value and id.
fn parse_cursor(cursor: &str) -> Result<IssueCursor, ApiError> {
    let mut parts = cursor.split(':');
    let sort_value = parts.next().and_then(|v| v.parse().ok());
    let id = parts.next().and_then(|v| v.parse().ok());
    match (sort_value, id) {
        (Some(sort_value), Some(id)) => Ok(IssueCursor { sort_value, id }),
        _ => Err(ApiError::BadRequest(format!("invalid cursor {cursor:?}"))),
    }
}

fn cursor_of(issue: &Issue, sort: IssueSort) -> String {
    let value = match sort {
        IssueSort::LastSeen => issue.last_seen.timestamp_millis(),
        IssueSort::FirstSeen => issue.first_seen.timestamp_millis(),
        IssueSort::TimesSeen => issue.times_seen,
    };
    format!("{value}:{}:0", issue.id)
}

/// Names for the assignees of `issues` (members and teams of the organization,
/// and superusers, who may be assigned without being members).
pub async fn load_actors(
    state: &AppState,
    org_id: OrgId,
    issues: &[&Issue],
) -> Result<Actors, ApiError> {
    let mut actors = Actors::default();
    if issues.iter().all(|i| i.assignee.is_none()) {
        return Ok(actors);
    }
    for m in state.store.list_members(org_id).await? {
        actors.users.insert(m.user.id, m.user);
    }
    // only the organization's own: an assignee who is no longer a member
    // (or a superuser assigned before that was refused) shows as an id
    for t in state.store.list_teams(org_id).await? {
        actors.teams.insert(t.id, t);
    }
    Ok(actors)
}

/// Whom `assigned:me` means: the user and their teams in the organization.
async fn me_in(state: &AppState, auth: &ApiAuth, org_id: OrgId) -> Result<Vec<Assignee>, ApiError> {
    let mut me = vec![Assignee::User(auth.user().id)];
    for team in state.store.teams_of_user(auth.user().id).await? {
        if team.org_id == org_id {
            me.push(Assignee::Team(team.id));
        }
    }
    Ok(me)
}

/// One page of the issues of `projects` (the ones the caller may see), as
/// both issue lists answer it.
async fn issue_page(
    state: &AppState,
    auth: &ApiAuth,
    projects: &[Project],
    org_id: OrgId,
    params: &IssueListParams,
    at: &ListUrl,
) -> Result<Response, ApiError> {
    let sort = sort_param(params.sort.as_deref())?;
    let limit = params.limit.unwrap_or(25).clamp(1, MAX_LIMIT);
    let cursor = params.cursor.as_deref().map(parse_cursor).transpose()?;
    if projects.is_empty() {
        // an empty project list means "every project" to the store
        return Ok(at.respond(Vec::<IssueShape>::new(), None, None));
    }
    // Sentry's default view is the unresolved issues
    let text = params.query.as_deref().unwrap_or("is:unresolved");
    // who "me" is costs a query: only when the search can mention it
    let me = if text.contains("me") {
        Some(me_in(state, auth, org_id).await?)
    } else {
        None
    };
    let base = IssueQuery {
        project_ids: projects.iter().map(|p| p.id).collect(),
        environment: params.environment.clone(),
        sort,
        limit: limit + 1,
        cursor,
        ..Default::default()
    };
    let query = parse_query_as(text, base, Utc::now(), me.as_deref())
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let mut issues = state.store.list_issues(&query).await?;
    let more = issues.len() > limit as usize;
    issues.truncate(limit as usize);
    let next = issues
        .last()
        .filter(|_| more)
        .map(|last| cursor_of(last, sort));
    let refs: Vec<&Issue> = issues.iter().collect();
    let actors = load_actors(state, org_id, &refs).await?;
    let body: Vec<IssueShape> = issues
        .iter()
        .filter_map(|i| {
            let p = projects.iter().find(|p| p.id == i.project_id)?;
            Some(shapes::issue(i, p, &actors, &at.base))
        })
        .collect();
    Ok(at.respond(body, None, next.as_deref()))
}

/// The visible projects of an organization, narrowed by `project=` ids
/// (404 for ids the caller may not see).
async fn org_projects(
    state: &AppState,
    auth: &ApiAuth,
    org_id: OrgId,
    wanted: &[i64],
) -> Result<Vec<Project>, ApiError> {
    let visible = auth.access.projects_of(&state.store, org_id).await?;
    if wanted.is_empty() || wanted.contains(&-1) {
        return Ok(visible);
    }
    for id in wanted {
        if !visible.iter().any(|p| p.id == *id) {
            return Err(ApiError::NotFound("project"));
        }
    }
    Ok(visible
        .into_iter()
        .filter(|p| wanted.contains(&p.id))
        .collect())
}

/// The organization's issues in the projects the caller may see.
#[utoipa::path(get, path = "/api/0/organizations/{org}/issues/", tag = "issues",
    params(OrgPath, IssueListParams),
    responses((status = 200, body = [IssueShape], headers(("Link" = String)))),
    security(("token" = ["event:read"])))]
pub async fn list_org_issues(
    State(state): State<AppState>,
    auth: ApiAuth,
    at: ListUrl,
    Path(p): Path<OrgPath>,
    ApiQuery(params): ApiQuery<IssueListParams>,
) -> Result<Response, ApiError> {
    auth.require("event:read")?;
    let org = auth.org(&state, &p.org).await?;
    let projects = org_projects(&state, &auth, org.id, &params.project).await?;
    issue_page(&state, &auth, &projects, org.id, &params, &at).await
}

#[utoipa::path(get, path = "/api/0/projects/{org}/{project}/issues/", tag = "issues",
    params(ProjectPath, IssueListParams),
    responses((status = 200, body = [IssueShape], headers(("Link" = String)))),
    security(("token" = ["event:read"])))]
pub async fn list_project_issues(
    State(state): State<AppState>,
    auth: ApiAuth,
    at: ListUrl,
    Path(p): Path<ProjectPath>,
    ApiQuery(params): ApiQuery<IssueListParams>,
) -> Result<Response, ApiError> {
    auth.require("event:read")?;
    let project = auth.project(&state, &p.org, &p.project).await?;
    let org_id = project.org_id;
    issue_page(&state, &auth, &[project], org_id, &params, &at).await
}

// --- changes -----------------------------------------------------------------------

/// A change of one issue or many. At least `status` or `assignedTo`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssueUpdate {
    /// `resolved`, `resolvedInNextRelease`, `unresolved` or `ignored`.
    pub status: Option<String>,
    pub status_details: Option<StatusDetailsBody>,
    /// Sentry's older way to ignore for a while: minutes (with `ignored`
    /// or `muted`).
    pub snooze_duration: Option<i64>,
    /// `user:ID`, `team:ID`, a member's email, or `""`/`null` to unassign.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub assigned_to: Option<Option<String>>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusDetailsBody {
    /// With `resolved`: reopen only for a newer release than the latest seen.
    pub in_next_release: Option<bool>,
    /// With `ignored`: minutes.
    pub ignore_duration: Option<i64>,
    /// With `ignored`: until this many more events.
    pub ignore_count: Option<i64>,
    /// With `ignored`: until then.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ignore_until: Option<DateTime<Utc>>,
}

/// The status change a body asks for, if any. `ResolveInNextRelease` is
/// completed per issue (with its latest release).
fn status_change(update: &IssueUpdate) -> Result<Option<StatusChange>, ApiError> {
    let Some(status) = update.status.as_deref() else {
        return Ok(None);
    };
    let details = update.status_details.as_ref();
    let next_release = StatusChange::ResolveInNextRelease { release: None };
    Ok(Some(match status {
        "resolvedInNextRelease" => next_release,
        "resolved" if details.and_then(|d| d.in_next_release) == Some(true) => next_release,
        "resolved" => StatusChange::Resolve,
        "unresolved" => StatusChange::Unresolve,
        "ignored" | "archived" | "muted" => {
            let d = details;
            let minutes = d.and_then(|d| d.ignore_duration).or(update.snooze_duration);
            if let Some(minutes) = minutes.filter(|m| *m > 0) {
                StatusChange::IgnoreUntil(Utc::now() + Duration::minutes(minutes))
            } else if let Some(until) = d.and_then(|d| d.ignore_until) {
                StatusChange::IgnoreUntil(until)
            } else if let Some(count) = d.and_then(|d| d.ignore_count).filter(|c| *c > 0) {
                StatusChange::IgnoreCount(count)
            } else {
                StatusChange::IgnoreForever
            }
        }
        other => {
            return Err(ApiError::BadRequest(format!(
                "unknown status {other:?} (expected resolved, resolvedInNextRelease, unresolved or ignored)"
            )));
        }
    }))
}

/// The one answer to every `assignedTo` that names no member or team of the
/// organization, whether the user exists elsewhere, is a superuser, or does
/// not exist: it tells a member nothing about other organizations.
fn not_assignable() -> ApiError {
    ApiError::BadRequest(
        "invalid assignedTo: not a member and not a team of the issue's organization".into(),
    )
}

/// Whom `assignedTo` names in the organization: `Some(None)` unassigns.
/// Emails (Sentry's usernames) are looked up among its members only; the
/// store checks ids.
async fn assignee_of(
    state: &AppState,
    org_id: OrgId,
    update: &IssueUpdate,
) -> Result<Option<Option<Assignee>>, ApiError> {
    let Some(raw) = &update.assigned_to else {
        return Ok(None);
    };
    let raw = raw.as_deref().map(str::trim).unwrap_or("");
    if raw.is_empty() {
        return Ok(Some(None));
    }
    if let Ok(a) = raw.parse::<Assignee>() {
        return Ok(Some(Some(a)));
    }
    if let Ok(id) = raw.parse::<i64>() {
        return Ok(Some(Some(Assignee::User(id))));
    }
    let members = state.store.list_members(org_id).await?;
    members
        .iter()
        .find(|m| m.user.email.eq_ignore_ascii_case(raw))
        .map(|m| Some(Some(Assignee::User(m.user.id))))
        .ok_or_else(not_assignable)
}

/// Checks a body before anything changes: something to change, a known status.
fn check_update(update: &IssueUpdate) -> Result<Option<StatusChange>, ApiError> {
    let change = status_change(update)?;
    if change.is_none() && update.assigned_to.is_none() {
        return Err(ApiError::BadRequest(
            "nothing to change: give status or assignedTo".into(),
        ));
    }
    Ok(change)
}

/// Applies a checked change to issues the caller may change (`issues` as
/// they were before), and records it on each issue's timeline as `actor`'s.
async fn apply(
    state: &AppState,
    issues: &[Issue],
    change: Option<StatusChange>,
    assignee: Option<Option<Assignee>>,
    actor: UserId,
) -> Result<(), ApiError> {
    if let Some(assignee) = assignee {
        // first, so an assignee outside the organization changes nothing
        for issue in issues {
            match state.store.assign_issue(issue.id, assignee).await {
                Ok(_) => {}
                Err(StoreError::Invalid {
                    field: "assignee", ..
                }) => return Err(not_assignable()),
                Err(e) => return Err(e.into()),
            }
        }
        for issue in issues {
            activity::assigned(&state.store, issue, assignee, actor).await?;
        }
    }
    match change {
        None => {}
        Some(StatusChange::ResolveInNextRelease { .. }) => {
            for issue in issues {
                let change = StatusChange::ResolveInNextRelease {
                    release: issue.last_release.clone(),
                };
                state
                    .store
                    .set_issue_status(issue.id, change.clone())
                    .await?;
                activity::status_changed(&state.store, issue, &change, actor).await?;
            }
        }
        Some(change) => {
            let ids: Vec<i64> = issues.iter().map(|i| i.id).collect();
            state.store.set_issues_status(&ids, change.clone()).await?;
            for issue in issues {
                activity::status_changed(&state.store, issue, &change, actor).await?;
            }
        }
    }
    Ok(())
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BulkParams {
    /// The issues to change (repeat: `?id=1&id=2`); ids the caller may not
    /// see are left alone.
    #[serde(default)]
    #[param(style = Form, explode)]
    pub id: Vec<i64>,
    /// Project ids to narrow an organization's issues to (`-1`: all).
    #[serde(default)]
    #[param(style = Form, explode)]
    pub project: Vec<i64>,
}

/// The named issues that are in `projects`.
async fn bulk_issues(
    state: &AppState,
    ids: &[i64],
    projects: &[Project],
) -> Result<Vec<Issue>, ApiError> {
    if ids.is_empty() {
        return Err(ApiError::BadRequest(
            "name the issues to change with ?id= (repeat it for several)".into(),
        ));
    }
    if ids.len() > MAX_BULK_IDS {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_BULK_IDS} issues at once, got {}",
            ids.len()
        )));
    }
    let allowed: HashSet<ProjectId> = projects.iter().map(|p| p.id).collect();
    let unique: HashSet<i64> = ids.iter().copied().collect();
    let mut issues = Vec::new();
    for id in unique {
        match state.store.issue_by_id(id).await {
            Ok(issue) if allowed.contains(&issue.project_id) => issues.push(issue),
            Ok(_) | Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    issues.sort_by_key(|i| i.id);
    Ok(issues)
}

async fn bulk_update(
    state: &AppState,
    org_id: OrgId,
    projects: &[Project],
    ids: &[i64],
    update: IssueUpdate,
    actor: UserId,
) -> Result<Response, ApiError> {
    let change = check_update(&update)?;
    let assignee = assignee_of(state, org_id, &update).await?;
    let issues = bulk_issues(state, ids, projects).await?;
    if issues.is_empty() {
        // as Sentry: ids out of reach change nothing and say nothing
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    apply(state, &issues, change.clone(), assignee, actor).await?;
    let first = state.store.issue_by_id(issues[0].id).await?;
    let mut answer = BulkChange::default();
    if change.is_some() {
        answer.status = Some(first.status.as_str());
        answer.status_details = Some(shapes::status_details(&first));
    }
    if let Some(assignee) = assignee {
        let actors = load_actors(state, org_id, &[&first]).await?;
        answer.assigned_to = Some(assignee.map(|a| actors.actor(&a)));
    }
    Ok(Json(answer).into_response())
}

async fn bulk_delete(
    state: &AppState,
    projects: &[Project],
    ids: &[i64],
) -> Result<StatusCode, ApiError> {
    let issues = bulk_issues(state, ids, projects).await?;
    if !issues.is_empty() {
        let ids: Vec<i64> = issues.iter().map(|i| i.id).collect();
        state.store.delete_issues(&ids).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Changes the status or assignee of the named issues of the project.
/// Answers the fields it changed, or 204 when none of the ids is the
/// project's.
#[utoipa::path(put, path = "/api/0/projects/{org}/{project}/issues/", tag = "issues",
    params(ProjectPath, BulkParams),
    request_body = IssueUpdate,
    responses((status = 200, body = BulkChange), (status = 204, description = "No issue matched")),
    security(("token" = ["event:write"])))]
pub async fn bulk_update_project_issues(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(p): Path<ProjectPath>,
    ApiQuery(params): ApiQuery<BulkParams>,
    ApiJson(update): ApiJson<IssueUpdate>,
) -> Result<Response, ApiError> {
    auth.require("event:write")?;
    let project = auth.project(&state, &p.org, &p.project).await?;
    auth.allow(Action::TriageIssues, project.org_id)?;
    let org_id = project.org_id;
    let actor = auth.user().id;
    bulk_update(&state, org_id, &[project], &params.id, update, actor).await
}

/// Deletes the named issues of the project (admins).
#[utoipa::path(delete, path = "/api/0/projects/{org}/{project}/issues/", tag = "issues",
    params(ProjectPath, BulkParams),
    responses((status = 204, description = "Deleted")),
    security(("token" = ["event:admin"])))]
pub async fn bulk_delete_project_issues(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(p): Path<ProjectPath>,
    ApiQuery(params): ApiQuery<BulkParams>,
) -> Result<StatusCode, ApiError> {
    auth.require("event:admin")?;
    let project = auth.project(&state, &p.org, &p.project).await?;
    auth.allow(Action::DeleteIssues, project.org_id)?;
    bulk_delete(&state, &[project], &params.id).await
}

/// [`bulk_update_project_issues`] across the organization's visible projects.
#[utoipa::path(put, path = "/api/0/organizations/{org}/issues/", tag = "issues",
    params(OrgPath, BulkParams),
    request_body = IssueUpdate,
    responses((status = 200, body = BulkChange), (status = 204, description = "No issue matched")),
    security(("token" = ["event:write"])))]
pub async fn bulk_update_org_issues(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(p): Path<OrgPath>,
    ApiQuery(params): ApiQuery<BulkParams>,
    ApiJson(update): ApiJson<IssueUpdate>,
) -> Result<Response, ApiError> {
    auth.require("event:write")?;
    let org = auth.org(&state, &p.org).await?;
    auth.allow(Action::TriageIssues, org.id)?;
    let projects = org_projects(&state, &auth, org.id, &params.project).await?;
    let actor = auth.user().id;
    bulk_update(&state, org.id, &projects, &params.id, update, actor).await
}

/// [`bulk_delete_project_issues`] across the organization's visible projects.
#[utoipa::path(delete, path = "/api/0/organizations/{org}/issues/", tag = "issues",
    params(OrgPath, BulkParams),
    responses((status = 204, description = "Deleted")),
    security(("token" = ["event:admin"])))]
pub async fn bulk_delete_org_issues(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(p): Path<OrgPath>,
    ApiQuery(params): ApiQuery<BulkParams>,
) -> Result<StatusCode, ApiError> {
    auth.require("event:admin")?;
    let org = auth.org(&state, &p.org).await?;
    auth.allow(Action::DeleteIssues, org.id)?;
    let projects = org_projects(&state, &auth, org.id, &params.project).await?;
    bulk_delete(&state, &projects, &params.id).await
}

// --- one issue -------------------------------------------------------------------

async fn issue_shape(
    state: &AppState,
    issue: &Issue,
    project: &Project,
    base: &str,
) -> Result<IssueShape, ApiError> {
    let actors = load_actors(state, project.org_id, &[issue]).await?;
    Ok(shapes::issue(issue, project, &actors, base))
}

#[utoipa::path(get, path = "/api/0/issues/{id}/", tag = "issues",
    params(IssuePath),
    responses((status = 200, body = IssueShape)),
    security(("token" = ["event:read"])))]
pub async fn get_issue(
    State(state): State<AppState>,
    auth: ApiAuth,
    at: ListUrl,
    Path(p): Path<IssuePath>,
) -> Result<Json<IssueShape>, ApiError> {
    auth.require("event:read")?;
    let (issue, project) = auth.issue(&state, &p.id).await?;
    Ok(Json(issue_shape(&state, &issue, &project, &at.base).await?))
}

/// Changes an issue's status or assignee.
#[utoipa::path(put, path = "/api/0/issues/{id}/", tag = "issues",
    params(IssuePath),
    request_body = IssueUpdate,
    responses((status = 200, body = IssueShape)),
    security(("token" = ["event:write"])))]
pub async fn update_issue(
    State(state): State<AppState>,
    auth: ApiAuth,
    at: ListUrl,
    Path(p): Path<IssuePath>,
    ApiJson(update): ApiJson<IssueUpdate>,
) -> Result<Json<IssueShape>, ApiError> {
    auth.require("event:write")?;
    let (issue, project) = auth.issue(&state, &p.id).await?;
    auth.allow(Action::TriageIssues, project.org_id)?;
    let change = check_update(&update)?;
    let assignee = assignee_of(&state, project.org_id, &update).await?;
    let actor = auth.user().id;
    apply(
        &state,
        std::slice::from_ref(&issue),
        change,
        assignee,
        actor,
    )
    .await?;
    let issue = state.store.issue_by_id(issue.id).await?;
    Ok(Json(issue_shape(&state, &issue, &project, &at.base).await?))
}

/// Deletes an issue with its events (admins).
#[utoipa::path(delete, path = "/api/0/issues/{id}/", tag = "issues",
    params(IssuePath),
    responses((status = 202, description = "Deleted")),
    security(("token" = ["event:admin"])))]
pub async fn delete_issue(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(p): Path<IssuePath>,
) -> Result<StatusCode, ApiError> {
    auth.require("event:admin")?;
    let (issue, project) = auth.issue(&state, &p.id).await?;
    auth.allow(Action::DeleteIssues, project.org_id)?;
    state.store.delete_issue(issue.id).await?;
    Ok(StatusCode::ACCEPTED)
}
