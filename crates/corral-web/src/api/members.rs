//! Members of an organization: listing, invitations, roles, removal.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use corral_core::model::{OrgId, Role, UserId};
use serde::Deserialize;
use utoipa::ToSchema;

use super::auth::ApiAuth;
use super::error::ApiError;
use super::extract::{ApiJson, ApiQuery};
use super::paging::{ListUrl, PageParams};
use super::params::{MemberPath, OrgPath};
use super::shapes::{self, MemberShape};
use crate::access::Action;
use crate::mail;
use crate::session::{random_token, sha256_hex};
use crate::state::AppState;

/// The user id a path names (`me` is the caller); 404 for anything else.
pub fn member_id(auth: &ApiAuth, raw: &str) -> Result<UserId, ApiError> {
    if raw == "me" {
        return Ok(auth.user().id);
    }
    raw.parse().map_err(|_| ApiError::NotFound("member"))
}

/// One member in Sentry's shape; 404 when the user is not a member.
pub async fn member_shape(
    state: &AppState,
    org_id: OrgId,
    user_id: UserId,
) -> Result<MemberShape, ApiError> {
    let teams = state.store.list_teams(org_id).await?;
    state
        .store
        .list_members(org_id)
        .await?
        .iter()
        .find(|m| m.user.id == user_id)
        .map(|m| shapes::member(m, &teams))
        .ok_or(ApiError::NotFound("member"))
}

#[utoipa::path(get, path = "/api/0/organizations/{org}/members/", tag = "members",
    params(OrgPath, PageParams),
    responses((status = 200, body = [MemberShape], headers(("Link" = String)))),
    security(("token" = ["member:read"])))]
pub async fn list_members(
    State(state): State<AppState>,
    auth: ApiAuth,
    at: ListUrl,
    Path(p): Path<OrgPath>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Response, ApiError> {
    auth.require("member:read")?;
    let org = auth.org(&state, &p.org).await?;
    let teams = state.store.list_teams(org.id).await?;
    let members = state.store.list_members(org.id).await?;
    let shapes: Vec<MemberShape> = members.iter().map(|m| shapes::member(m, &teams)).collect();
    page.respond(shapes, &at)
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewMember {
    pub email: String,
    /// `member` (default), `admin` or `owner`; admins invite members and admins.
    pub role: Option<String>,
    /// Sentry's newer name for `role`.
    pub org_role: Option<String>,
}

fn role_of(role: Option<&str>, org_role: Option<&str>) -> Result<Option<Role>, ApiError> {
    role.or(org_role)
        .map(|r| r.parse::<Role>().map_err(ApiError::BadRequest))
        .transpose()
}

/// Invites an email to the organization. The invitation link is mailed when
/// mail is configured; otherwise (or when sending fails) it is in the
/// answer's `inviteLink`, for the caller to pass on.
#[utoipa::path(post, path = "/api/0/organizations/{org}/members/", tag = "members",
    params(OrgPath),
    request_body = NewMember,
    responses((status = 201, body = MemberShape)),
    security(("token" = ["member:write"])))]
pub async fn invite_member(
    State(state): State<AppState>,
    auth: ApiAuth,
    at: ListUrl,
    Path(p): Path<OrgPath>,
    ApiJson(new): ApiJson<NewMember>,
) -> Result<Response, ApiError> {
    auth.require("member:write")?;
    let org = auth.org(&state, &p.org).await?;
    auth.allow(Action::ManageProjects, org.id)?;
    let role = role_of(new.role.as_deref(), new.org_role.as_deref())?.unwrap_or(Role::Member);
    if !auth.access.can_grant(org.id, role) {
        return Err(ApiError::Forbidden);
    }
    let email = new.email.trim();
    let members = state.store.list_members(org.id).await?;
    if members
        .iter()
        .any(|m| m.user.email.eq_ignore_ascii_case(email))
    {
        return Err(ApiError::Conflict(format!(
            "{email} is already a member of {}",
            org.slug
        )));
    }
    let token = random_token();
    let invitation = state
        .store
        .create_invitation(
            org.id,
            email,
            role,
            &sha256_hex(&token),
            Some(auth.user().id),
            Utc::now() + mail::INVITATION_LIFETIME,
        )
        .await?;
    let link_under = |base: &str| format!("{}/accept/{token}", base.trim_end_matches('/'));
    let mut shown = None;
    if mail::can_send(&state.config) {
        // mailed links use the configured URL, never the request's Host
        let link = link_under(&mail::local_base_url(&state.config));
        let inviter = if auth.user().name.is_empty() {
            auth.user().email.clone()
        } else {
            auth.user().name.clone()
        };
        let body = mail::invitation_mail(&org.name, &inviter, role.as_str(), &link);
        let subject = format!("Join {} on Corral", org.name);
        if let Err(e) = mail::send(&state.config, &invitation.email, &subject, body).await {
            tracing::warn!(error = %e, "mailing an invitation failed; the link is in the answer");
            shown = Some(link);
        }
    } else {
        shown = Some(link_under(&at.base));
    }
    Ok((
        StatusCode::CREATED,
        Json(shapes::invitation(&invitation, shown)),
    )
        .into_response())
}

#[utoipa::path(get, path = "/api/0/organizations/{org}/members/{member_id}/", tag = "members",
    params(MemberPath),
    responses((status = 200, body = MemberShape)),
    security(("token" = ["member:read"])))]
pub async fn get_member(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(p): Path<MemberPath>,
) -> Result<Json<MemberShape>, ApiError> {
    auth.require("member:read")?;
    let org = auth.org(&state, &p.org).await?;
    let user_id = member_id(&auth, &p.member_id)?;
    Ok(Json(member_shape(&state, org.id, user_id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberUpdate {
    /// `owner`, `admin` or `member`.
    pub role: Option<String>,
    /// Sentry's newer name for `role`.
    pub org_role: Option<String>,
}

/// Changes a member's role (owners). The last owner cannot be demoted.
#[utoipa::path(put, path = "/api/0/organizations/{org}/members/{member_id}/", tag = "members",
    params(MemberPath),
    request_body = MemberUpdate,
    responses((status = 200, body = MemberShape)),
    security(("token" = ["member:write"])))]
pub async fn update_member(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(p): Path<MemberPath>,
    ApiJson(update): ApiJson<MemberUpdate>,
) -> Result<Json<MemberShape>, ApiError> {
    auth.require("member:write")?;
    let org = auth.org(&state, &p.org).await?;
    let user_id = member_id(&auth, &p.member_id)?;
    // 404 for non-members before 403 for the role
    member_shape(&state, org.id, user_id).await?;
    auth.allow(Action::ManageOrganization, org.id)?;
    if let Some(role) = role_of(update.role.as_deref(), update.org_role.as_deref())? {
        state.store.set_membership(org.id, user_id, role).await?;
    }
    Ok(Json(member_shape(&state, org.id, user_id).await?))
}

/// Removes a member from the organization and its teams (owners). The last
/// owner cannot be removed.
#[utoipa::path(delete, path = "/api/0/organizations/{org}/members/{member_id}/", tag = "members",
    params(MemberPath),
    responses((status = 204, description = "Removed")),
    security(("token" = ["member:admin"])))]
pub async fn remove_member(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(p): Path<MemberPath>,
) -> Result<StatusCode, ApiError> {
    auth.require("member:admin")?;
    let org = auth.org(&state, &p.org).await?;
    let user_id = member_id(&auth, &p.member_id)?;
    member_shape(&state, org.id, user_id).await?;
    auth.allow(Action::ManageOrganization, org.id)?;
    state.store.remove_membership(org.id, user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
