//! Teams: who sees which projects.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use corral_core::model::{Member, Organization, Team};
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::ApiAuth;
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery};
use super::members::member_id;
use super::orgs::project_teams;
use super::paging::{ListUrl, PageParams};
use super::params::{MemberTeamPath, OrgPath, TeamPath};
use super::shapes::{self, MemberShape, TeamShape};
use super::slugify;
use crate::access::Action;
use crate::state::AppState;

/// Teams of an organization as the caller sees them: member counts and the
/// visible projects of each.
async fn team_shapes(
    state: &AppState,
    auth: &ApiAuth,
    org: &Organization,
    teams: &[Team],
) -> Result<Vec<TeamShape>, ApiError> {
    let members = state.store.list_members(org.id).await?;
    let links = state.store.project_team_map(org.id).await?;
    let names = project_teams(state, org.id).await?;
    let projects = auth.access.projects_of(&state.store, org.id).await?;
    let me = auth.user().id;
    Ok(teams
        .iter()
        .map(|t| {
            let in_team: Vec<&Member> =
                members.iter().filter(|m| m.teams.contains(&t.id)).collect();
            let visible = projects
                .iter()
                .filter(|p| links.contains(&(p.id, t.id)))
                .map(|p| shapes::project(p, names.of(p.id)))
                .collect();
            shapes::team(
                t,
                in_team.len(),
                in_team.iter().any(|m| m.user.id == me),
                Some(visible),
            )
        })
        .collect())
}

#[utoipa::path(get, path = "/api/0/organizations/{org}/teams/", tag = "teams",
    params(OrgPath, PageParams),
    responses((status = 200, body = [TeamShape], headers(("Link" = String)))),
    security(("token" = ["org:read", "team:read"])))]
pub async fn list_teams(
    State(state): State<AppState>,
    auth: ApiAuth,
    at: ListUrl,
    Path(p): Path<OrgPath>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Response, ApiError> {
    auth.require_any(&["org:read", "team:read"])?;
    let org = auth.org(&state, &p.org).await?;
    let teams = state.store.list_teams(org.id).await?;
    page.respond(team_shapes(&state, &auth, &org, &teams).await?, &at)
}

#[derive(Deserialize, ToSchema)]
pub struct NewTeam {
    /// Derived from the slug when left out.
    pub name: Option<String>,
    /// Derived from the name when left out.
    pub slug: Option<String>,
}

/// Creates a team (admins).
#[utoipa::path(post, path = "/api/0/organizations/{org}/teams/", tag = "teams",
    params(OrgPath),
    request_body = NewTeam,
    responses((status = 201, body = TeamShape)),
    security(("token" = ["team:write"])))]
pub async fn create_team(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(p): Path<OrgPath>,
    ApiJson(new): ApiJson<NewTeam>,
) -> Result<Response, ApiError> {
    auth.require("team:write")?;
    let org = auth.org(&state, &p.org).await?;
    auth.allow(Action::ManageProjects, org.id)?;
    let (slug, name) = match (new.slug, new.name) {
        (Some(slug), Some(name)) => (slug, name),
        (Some(slug), None) => (slug.clone(), slug),
        (None, Some(name)) => (slugify(&name), name),
        (None, None) => {
            return Err(ApiError::BadRequest("a team needs a name or a slug".into()));
        }
    };
    let team = state.store.create_team(org.id, &slug, &name).await?;
    Ok((
        StatusCode::CREATED,
        Json(shapes::team(&team, 0, false, Some(Vec::new()))),
    )
        .into_response())
}

#[utoipa::path(get, path = "/api/0/teams/{org}/{team}/", tag = "teams",
    params(TeamPath),
    responses((status = 200, body = TeamShape)),
    security(("token" = ["org:read", "team:read"])))]
pub async fn get_team(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(p): Path<TeamPath>,
) -> Result<Json<TeamShape>, ApiError> {
    auth.require_any(&["org:read", "team:read"])?;
    let org = auth.org(&state, &p.org).await?;
    let team = state.store.team_by_slug(org.id, &p.team).await?;
    let mut shapes = team_shapes(&state, &auth, &org, std::slice::from_ref(&team)).await?;
    shapes.pop().map(Json).ok_or(ApiError::NotFound("team"))
}

/// Deletes a team; its issues become unassigned (admins).
#[utoipa::path(delete, path = "/api/0/teams/{org}/{team}/", tag = "teams",
    params(TeamPath),
    responses((status = 204, description = "Deleted")),
    security(("token" = ["team:admin"])))]
pub async fn delete_team(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(p): Path<TeamPath>,
) -> Result<StatusCode, ApiError> {
    auth.require("team:admin")?;
    let org = auth.org(&state, &p.org).await?;
    let team = state.store.team_by_slug(org.id, &p.team).await?;
    auth.allow(Action::ManageProjects, org.id)?;
    state.store.delete_team(team.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The member and team of a member-team path; 404 unless both belong to
/// the organization.
async fn member_and_team(
    state: &AppState,
    auth: &ApiAuth,
    p: &MemberTeamPath,
) -> Result<(Organization, Member, Team), ApiError> {
    let org = auth.org(state, &p.org).await?;
    let user_id = member_id(auth, &p.member_id)?;
    let member = state
        .store
        .list_members(org.id)
        .await?
        .into_iter()
        .find(|m| m.user.id == user_id)
        .ok_or(ApiError::NotFound("member"))?;
    let team = state.store.team_by_slug(org.id, &p.team).await?;
    Ok((org, member, team))
}

/// Adds a member to a team (admins).
#[utoipa::path(post, path = "/api/0/organizations/{org}/members/{member_id}/teams/{team}/", tag = "teams",
    params(MemberTeamPath),
    responses((status = 201, body = MemberShape)),
    security(("token" = ["team:write"])))]
pub async fn add_team_member(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(p): Path<MemberTeamPath>,
) -> Result<Response, ApiError> {
    auth.require("team:write")?;
    let (org, member, team) = member_and_team(&state, &auth, &p).await?;
    auth.allow(Action::ManageProjects, org.id)?;
    if !member.teams.contains(&team.id) {
        state.store.add_team_member(team.id, member.user.id).await?;
    }
    let shape = super::members::member_shape(&state, org.id, member.user.id).await?;
    Ok((StatusCode::CREATED, Json(shape)).into_response())
}

/// Takes a member out of a team (admins).
#[utoipa::path(delete, path = "/api/0/organizations/{org}/members/{member_id}/teams/{team}/", tag = "teams",
    params(MemberTeamPath),
    responses((status = 200, body = MemberShape)),
    security(("token" = ["team:write"])))]
pub async fn remove_team_member(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(p): Path<MemberTeamPath>,
) -> Result<Json<MemberShape>, ApiError> {
    auth.require("team:write")?;
    let (org, member, team) = member_and_team(&state, &auth, &p).await?;
    auth.allow(Action::ManageProjects, org.id)?;
    state
        .store
        .remove_team_member(team.id, member.user.id)
        .await?;
    Ok(Json(
        super::members::member_shape(&state, org.id, member.user.id).await?,
    ))
}
