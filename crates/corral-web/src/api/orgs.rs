//! Organizations and their projects.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::ApiAuth;
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery};
use super::paging::{ListUrl, PageParams};
use super::params::OrgPath;
use super::shapes::{self, OrganizationShape, ProjectShape, ProjectTeams};
use crate::access::Action;
use crate::state::AppState;

/// The organizations the caller belongs to (all of them for a superuser).
#[utoipa::path(get, path = "/api/0/organizations/", tag = "organizations",
    params(PageParams),
    responses((status = 200, body = [OrganizationShape], headers(("Link" = String)))),
    security(("token" = ["org:read"])))]
pub async fn list_organizations(
    State(state): State<AppState>,
    auth: ApiAuth,
    at: ListUrl,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Response, ApiError> {
    auth.require("org:read")?;
    let orgs = auth.access.organizations(&state.store).await?;
    let shapes: Vec<OrganizationShape> = orgs
        .iter()
        .map(|o| shapes::organization(o, auth.access.role_in(o.id)))
        .collect();
    page.respond(shapes, &at)
}

#[utoipa::path(get, path = "/api/0/organizations/{org}/", tag = "organizations",
    params(OrgPath),
    responses((status = 200, body = OrganizationShape)),
    security(("token" = ["org:read"])))]
pub async fn get_organization(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(p): Path<OrgPath>,
) -> Result<Json<OrganizationShape>, ApiError> {
    auth.require("org:read")?;
    let org = auth.org(&state, &p.org).await?;
    Ok(Json(shapes::organization(
        &org,
        auth.access.role_in(org.id),
    )))
}

#[derive(Deserialize, ToSchema)]
pub struct OrganizationUpdate {
    /// The new name (the slug stays).
    pub name: Option<String>,
}

/// Renames an organization (owners).
#[utoipa::path(put, path = "/api/0/organizations/{org}/", tag = "organizations",
    params(OrgPath),
    request_body = OrganizationUpdate,
    responses((status = 200, body = OrganizationShape)),
    security(("token" = ["org:write"])))]
pub async fn update_organization(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(p): Path<OrgPath>,
    ApiJson(update): ApiJson<OrganizationUpdate>,
) -> Result<Json<OrganizationShape>, ApiError> {
    auth.require("org:write")?;
    let mut org = auth.org(&state, &p.org).await?;
    auth.allow(Action::ManageOrganization, org.id)?;
    if let Some(name) = &update.name {
        org = state.store.rename_organization(org.id, name).await?;
    }
    Ok(Json(shapes::organization(
        &org,
        auth.access.role_in(org.id),
    )))
}

/// The organization's projects the caller may see.
#[utoipa::path(get, path = "/api/0/organizations/{org}/projects/", tag = "projects",
    params(OrgPath, PageParams),
    responses((status = 200, body = [ProjectShape], headers(("Link" = String)))),
    security(("token" = ["org:read", "project:read"])))]
pub async fn list_org_projects(
    State(state): State<AppState>,
    auth: ApiAuth,
    at: ListUrl,
    Path(p): Path<OrgPath>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Response, ApiError> {
    auth.require_any(&["org:read", "project:read"])?;
    let org = auth.org(&state, &p.org).await?;
    let projects = auth.access.projects_of(&state.store, org.id).await?;
    let teams = project_teams(&state, org.id).await?;
    let shapes: Vec<ProjectShape> = projects
        .iter()
        .map(|p| shapes::project(p, teams.of(p.id)))
        .collect();
    page.respond(shapes, &at)
}

/// Every project the caller may see, across organizations.
#[utoipa::path(get, path = "/api/0/projects/", tag = "projects",
    params(PageParams),
    responses((status = 200, body = [ProjectShape], headers(("Link" = String)))),
    security(("token" = ["project:read"])))]
pub async fn list_projects(
    State(state): State<AppState>,
    auth: ApiAuth,
    at: ListUrl,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Response, ApiError> {
    auth.require("project:read")?;
    let projects = auth.visible_projects(&state).await?;
    let mut orgs: Vec<i64> = projects.iter().map(|p| p.org_id).collect();
    orgs.sort_unstable();
    orgs.dedup();
    let mut teams = std::collections::HashMap::new();
    for org in orgs {
        teams.insert(org, project_teams(&state, org).await?);
    }
    let shapes: Vec<ProjectShape> = projects
        .iter()
        .map(|p| {
            let t = teams.get(&p.org_id).map(|t| t.of(p.id)).unwrap_or_default();
            shapes::project(p, t)
        })
        .collect();
    page.respond(shapes, &at)
}

/// The team links of an organization's projects, with the teams' names.
pub async fn project_teams(state: &AppState, org_id: i64) -> Result<ProjectTeams, ApiError> {
    let links = state.store.project_team_map(org_id).await?;
    if links.is_empty() {
        return Ok(ProjectTeams::default());
    }
    let teams = state.store.list_teams(org_id).await?;
    Ok(ProjectTeams::new(&links, &teams))
}
