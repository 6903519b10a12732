//! Projects, their DSN keys and their teams.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use corral_core::NewProject;
use corral_core::model::{Project, ProjectKey, RateLimit};
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::ApiAuth;
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery, nullable};
use super::orgs::project_teams;
use super::paging::{ListUrl, PageParams};
use super::params::{KeyPath, ProjectPath, ProjectTeamPath, TeamPath};
use super::shapes::{self, ProjectKeyShape, ProjectShape, TeamRef};
use super::slugify;
use crate::access::Action;
use crate::state::AppState;

async fn shape(state: &AppState, p: &Project) -> Result<ProjectShape, ApiError> {
    let teams = state.store.project_teams(p.id).await?;
    Ok(shapes::project(
        p,
        teams.iter().map(TeamRef::from).collect(),
    ))
}

#[utoipa::path(get, path = "/api/0/projects/{org}/{project}/", tag = "projects",
    params(ProjectPath),
    responses((status = 200, body = ProjectShape)),
    security(("token" = ["project:read"])))]
pub async fn get_project(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(p): Path<ProjectPath>,
) -> Result<Json<ProjectShape>, ApiError> {
    auth.require("project:read")?;
    let project = auth.project(&state, &p.org, &p.project).await?;
    Ok(Json(shape(&state, &project).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProjectUpdate {
    pub name: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub platform: Option<Option<String>>,
    /// Slugs do not change; only the current one is accepted.
    pub slug: Option<String>,
    /// Days events are kept; `null` is the server's default.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i32>)]
    pub retention_days: Option<Option<i32>>,
}

/// Changes a project's name, platform or retention (admins).
#[utoipa::path(put, path = "/api/0/projects/{org}/{project}/", tag = "projects",
    params(ProjectPath),
    request_body = ProjectUpdate,
    responses((status = 200, body = ProjectShape)),
    security(("token" = ["project:write"])))]
pub async fn update_project(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(p): Path<ProjectPath>,
    ApiJson(update): ApiJson<ProjectUpdate>,
) -> Result<Json<ProjectShape>, ApiError> {
    auth.require("project:write")?;
    let mut project = auth.project(&state, &p.org, &p.project).await?;
    auth.allow(Action::ManageProjects, project.org_id)?;
    if let Some(slug) = &update.slug
        && *slug != project.slug
    {
        return Err(ApiError::BadRequest(
            "a project's slug cannot change".into(),
        ));
    }
    if update.name.is_some() || update.platform.is_some() {
        let name = update.name.as_deref().unwrap_or(&project.name).to_string();
        let platform = match &update.platform {
            Some(p) => p.clone(),
            None => project.platform.clone(),
        };
        project = state
            .store
            .update_project(project.id, &name, platform.as_deref())
            .await?;
    }
    if let Some(days) = update.retention_days {
        state.store.set_project_retention(project.id, days).await?;
        project = state.store.project_by_id(project.id).await?;
    }
    Ok(Json(shape(&state, &project).await?))
}

/// Deletes a project with its issues, events and keys (admins).
#[utoipa::path(delete, path = "/api/0/projects/{org}/{project}/", tag = "projects",
    params(ProjectPath),
    responses((status = 204, description = "Deleted")),
    security(("token" = ["project:admin"])))]
pub async fn delete_project(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(p): Path<ProjectPath>,
) -> Result<StatusCode, ApiError> {
    auth.require("project:admin")?;
    let project = auth.project(&state, &p.org, &p.project).await?;
    auth.allow(Action::ManageProjects, project.org_id)?;
    state.store.delete_project(project.id).await?;
    state.forget_keys();
    // the store leaves the attachment files to us
    let dir = state.attachments_dir.join(project.id.to_string());
    match tokio::fs::remove_dir_all(&dir).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "removing a deleted project's attachments failed")
        }
    }
    Ok(StatusCode::NO_CONTENT)
}

// --- keys ------------------------------------------------------------------------

#[utoipa::path(get, path = "/api/0/projects/{org}/{project}/keys/", tag = "keys",
    params(ProjectPath, PageParams),
    responses((status = 200, body = [ProjectKeyShape], headers(("Link" = String)))),
    security(("token" = ["project:read"])))]
pub async fn list_keys(
    State(state): State<AppState>,
    auth: ApiAuth,
    at: ListUrl,
    Path(p): Path<ProjectPath>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Response, ApiError> {
    auth.require("project:read")?;
    let project = auth.project(&state, &p.org, &p.project).await?;
    let keys = state.store.list_project_keys(project.id).await?;
    let shapes: Vec<ProjectKeyShape> = keys
        .iter()
        .map(|k| shapes::project_key(k, &at.base))
        .collect();
    page.respond(shapes, &at)
}

/// A key's rate limit: `count` events per `window` seconds (60 or 3600).
/// `null` (or both fields `null`) removes the limit.
#[derive(Deserialize, ToSchema)]
pub struct RateLimitBody {
    pub window: Option<i64>,
    pub count: Option<i64>,
}

fn rate_limit(body: Option<RateLimitBody>) -> Result<RateLimit, ApiError> {
    let Some(RateLimitBody { window, count }) = body else {
        return Ok(RateLimit::default());
    };
    match (window, count) {
        (None, None) => Ok(RateLimit::default()),
        (Some(60), Some(count)) => Ok(RateLimit {
            per_minute: Some(count),
            per_hour: None,
        }),
        (Some(3600), Some(count)) => Ok(RateLimit {
            per_minute: None,
            per_hour: Some(count),
        }),
        (Some(w), Some(_)) => Err(ApiError::BadRequest(format!(
            "rateLimit.window must be 60 or 3600 seconds, got {w}"
        ))),
        _ => Err(ApiError::BadRequest(
            "rateLimit needs both window and count".into(),
        )),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewKey {
    /// The key's label (default `Default`).
    pub name: Option<String>,
    pub rate_limit: Option<RateLimitBody>,
}

/// Creates a DSN key (admins).
#[utoipa::path(post, path = "/api/0/projects/{org}/{project}/keys/", tag = "keys",
    params(ProjectPath),
    request_body = NewKey,
    responses((status = 201, body = ProjectKeyShape)),
    security(("token" = ["project:write"])))]
pub async fn create_key(
    State(state): State<AppState>,
    auth: ApiAuth,
    at: ListUrl,
    Path(p): Path<ProjectPath>,
    ApiJson(new): ApiJson<NewKey>,
) -> Result<Response, ApiError> {
    auth.require("project:write")?;
    let project = auth.project(&state, &p.org, &p.project).await?;
    auth.allow(Action::ManageProjects, project.org_id)?;
    let limit = rate_limit(new.rate_limit)?;
    let label = new.name.as_deref().unwrap_or("Default");
    let key = state
        .store
        .create_project_key(project.id, label, limit)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(shapes::project_key(&key, &at.base)),
    )
        .into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyUpdate {
    pub name: Option<String>,
    /// Another name for `name`.
    pub label: Option<String>,
    pub is_active: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<RateLimitBody>)]
    pub rate_limit: Option<Option<RateLimitBody>>,
}

async fn key_of(state: &AppState, project: &Project, key_id: &str) -> Result<ProjectKey, ApiError> {
    state
        .store
        .list_project_keys(project.id)
        .await?
        .into_iter()
        .find(|k| k.public_key == key_id)
        .ok_or(ApiError::NotFound("key"))
}

/// Renames, disables or rate-limits a DSN key (admins).
#[utoipa::path(put, path = "/api/0/projects/{org}/{project}/keys/{key_id}/", tag = "keys",
    params(KeyPath),
    request_body = KeyUpdate,
    responses((status = 200, body = ProjectKeyShape)),
    security(("token" = ["project:write"])))]
pub async fn update_key(
    State(state): State<AppState>,
    auth: ApiAuth,
    at: ListUrl,
    Path(p): Path<KeyPath>,
    ApiJson(update): ApiJson<KeyUpdate>,
) -> Result<Json<ProjectKeyShape>, ApiError> {
    auth.require("project:write")?;
    let project = auth.project(&state, &p.org, &p.project).await?;
    let key = key_of(&state, &project, &p.key_id).await?;
    auth.allow(Action::ManageProjects, project.org_id)?;
    // check everything before changing anything
    let limit = update.rate_limit.map(rate_limit).transpose()?;
    if let Some(label) = update.name.as_ref().or(update.label.as_ref()) {
        state.store.set_key_label(key.id, label).await?;
    }
    if let Some(active) = update.is_active {
        state.store.set_key_active(key.id, active).await?;
    }
    if let Some(limit) = limit {
        state.store.set_key_rate_limit(key.id, limit).await?;
    }
    state.forget_keys();
    let key = state.store.key_by_id(key.id).await?;
    Ok(Json(shapes::project_key(&key, &at.base)))
}

/// Deletes a DSN key: SDKs using it are refused from then on (admins).
#[utoipa::path(delete, path = "/api/0/projects/{org}/{project}/keys/{key_id}/", tag = "keys",
    params(KeyPath),
    responses((status = 204, description = "Deleted")),
    security(("token" = ["project:admin"])))]
pub async fn delete_key(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(p): Path<KeyPath>,
) -> Result<StatusCode, ApiError> {
    auth.require("project:admin")?;
    let project = auth.project(&state, &p.org, &p.project).await?;
    let key = key_of(&state, &project, &p.key_id).await?;
    auth.allow(Action::ManageProjects, project.org_id)?;
    state.store.delete_project_key(key.id).await?;
    state.forget_keys();
    Ok(StatusCode::NO_CONTENT)
}

// --- teams of projects ------------------------------------------------------------

/// The team's projects the caller may see.
#[utoipa::path(get, path = "/api/0/teams/{org}/{team}/projects/", tag = "teams",
    params(TeamPath, PageParams),
    responses((status = 200, body = [ProjectShape], headers(("Link" = String)))),
    security(("token" = ["project:read"])))]
pub async fn list_team_projects(
    State(state): State<AppState>,
    auth: ApiAuth,
    at: ListUrl,
    Path(p): Path<TeamPath>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Response, ApiError> {
    auth.require("project:read")?;
    let org = auth.org(&state, &p.org).await?;
    let team = state.store.team_by_slug(org.id, &p.team).await?;
    let links = state.store.project_team_map(org.id).await?;
    let teams = project_teams(&state, org.id).await?;
    let projects: Vec<ProjectShape> = auth
        .access
        .projects_of(&state.store, org.id)
        .await?
        .iter()
        .filter(|p| links.contains(&(p.id, team.id)))
        .map(|p| shapes::project(p, teams.of(p.id)))
        .collect();
    page.respond(projects, &at)
}

#[derive(Deserialize, ToSchema)]
pub struct NewProjectBody {
    pub name: String,
    /// Derived from the name when left out.
    pub slug: Option<String>,
    pub platform: Option<String>,
}

/// Creates a project of the team, with a first DSN key (admins).
#[utoipa::path(post, path = "/api/0/teams/{org}/{team}/projects/", tag = "teams",
    params(TeamPath),
    request_body = NewProjectBody,
    responses((status = 201, body = ProjectShape)),
    security(("token" = ["project:write"])))]
pub async fn create_team_project(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(p): Path<TeamPath>,
    ApiJson(new): ApiJson<NewProjectBody>,
) -> Result<Response, ApiError> {
    auth.require("project:write")?;
    let org = auth.org(&state, &p.org).await?;
    let team = state.store.team_by_slug(org.id, &p.team).await?;
    auth.allow(Action::ManageProjects, org.id)?;
    let slug = match &new.slug {
        Some(s) => s.clone(),
        None => slugify(&new.name),
    };
    let project = state
        .store
        .create_project(NewProject {
            org_id: org.id,
            slug,
            name: new.name.clone(),
            platform: new.platform.clone(),
        })
        .await?;
    state.store.add_project_team(project.id, team.id).await?;
    state
        .store
        .create_project_key(project.id, "Default", RateLimit::default())
        .await?;
    Ok((StatusCode::CREATED, Json(shape(&state, &project).await?)).into_response())
}

/// Gives a team access to a project (admins).
#[utoipa::path(post, path = "/api/0/projects/{org}/{project}/teams/{team}/", tag = "teams",
    params(ProjectTeamPath),
    responses((status = 201, body = ProjectShape)),
    security(("token" = ["project:write"])))]
pub async fn add_project_team(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(p): Path<ProjectTeamPath>,
) -> Result<Response, ApiError> {
    auth.require("project:write")?;
    let project = auth.project(&state, &p.org, &p.project).await?;
    let team = state.store.team_by_slug(project.org_id, &p.team).await?;
    auth.allow(Action::ManageProjects, project.org_id)?;
    state.store.add_project_team(project.id, team.id).await?;
    Ok((StatusCode::CREATED, Json(shape(&state, &project).await?)).into_response())
}

/// Takes a team's access to a project away (admins).
#[utoipa::path(delete, path = "/api/0/projects/{org}/{project}/teams/{team}/", tag = "teams",
    params(ProjectTeamPath),
    responses((status = 200, body = ProjectShape)),
    security(("token" = ["project:write"])))]
pub async fn remove_project_team(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(p): Path<ProjectTeamPath>,
) -> Result<Json<ProjectShape>, ApiError> {
    auth.require("project:write")?;
    let project = auth.project(&state, &p.org, &p.project).await?;
    let team = state.store.team_by_slug(project.org_id, &p.team).await?;
    auth.allow(Action::ManageProjects, project.org_id)?;
    state.store.remove_project_team(project.id, team.id).await?;
    Ok(Json(shape(&state, &project).await?))
}
