//! `/settings/{org}/members/`: members with their roles and teams, role
//! changes and removal (owners), invitations (admins and owners; only
//! owners invite owners).

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::Utc;
use corral_core::StoreError;
use corral_core::model::{Organization, Role, UserId};
use serde::Deserialize;

use super::{
    Notice, NoticeQuery, OrgNav, day, display_name, done, minute, organization, refusal, require,
    with_status,
};
use crate::access::{Action, Denied};
use crate::mail;
use crate::session::{SignedIn, random_token, sha256_hex};
use crate::state::AppState;
use crate::ui::{Chrome, CsrfForm, UiError, UiRoutes, render};

const ROLES: [Role; 3] = [Role::Member, Role::Admin, Role::Owner];

pub fn routes() -> UiRoutes {
    UiRoutes::new()
        .route("/settings/{org}/members/", get(page))
        .route("/settings/{org}/members/invite", post(invite))
        .route("/settings/{org}/members/{user_id}/role", post(change_role))
        .route("/settings/{org}/members/{user_id}/remove", post(remove))
        .route("/settings/{org}/invitations/{id}/revoke", post(revoke))
}

fn members_path(org: &Organization) -> String {
    format!("/settings/{}/members/", org.slug)
}

struct MemberRow {
    user_id: UserId,
    name: String,
    email: String,
    role: Role,
    teams: String,
    joined: String,
    is_you: bool,
}

struct InvitationRow {
    id: i64,
    email: String,
    role: Role,
    invited_by: String,
    expires: String,
    expired: bool,
    can_revoke: bool,
}

/// An invitation just made: its link is shown this once.
struct NewInvitation {
    email: String,
    link: String,
    mailed: bool,
}

#[derive(Template)]
#[template(path = "settings/members.html")]
struct MembersPage {
    chrome: Chrome,
    nav: OrgNav,
    notice: Option<Notice>,
    members: Vec<MemberRow>,
    roles: Vec<Role>,
    /// Roles the user may invite with (empty: no invite form).
    grantable: Vec<Role>,
    invitations: Vec<InvitationRow>,
    new_invitation: Option<NewInvitation>,
    email: String,
}

async fn show(
    state: &AppState,
    signed: &SignedIn,
    org: &Organization,
    notice: Option<Notice>,
    new_invitation: Option<NewInvitation>,
) -> Result<Response, UiError> {
    let chrome = Chrome::new(state, signed, Some(&org.slug)).await?;
    let nav = OrgNav::new(signed, org, "members");
    let loaded = async {
        let members = state.store.list_members(org.id).await?;
        let teams = state.store.list_teams(org.id).await?;
        let invitations = if nav.can_manage_projects {
            state.store.list_invitations(org.id).await?
        } else {
            Vec::new()
        };
        Ok::<_, StoreError>((members, teams, invitations))
    };
    let (members, teams, invitations) = loaded.await?;
    let team_names: HashMap<_, _> = teams.iter().map(|t| (t.id, t.name.as_str())).collect();
    let names: HashMap<_, _> = members
        .iter()
        .map(|m| (m.user.id, display_name(&m.user)))
        .collect();
    let now = Utc::now();
    let access = &signed.access;
    let showing_link = new_invitation.is_some();
    let mut response = render(&MembersPage {
        grantable: ROLES
            .into_iter()
            .filter(|r| access.can_grant(org.id, *r))
            .collect(),
        members: members
            .iter()
            .map(|m| MemberRow {
                user_id: m.user.id,
                name: display_name(&m.user),
                email: m.user.email.clone(),
                role: m.role,
                teams: m
                    .teams
                    .iter()
                    .filter_map(|t| team_names.get(t).copied())
                    .collect::<Vec<_>>()
                    .join(", "),
                joined: day(&m.created_at),
                is_you: m.user.id == access.user.id,
            })
            .collect(),
        invitations: invitations
            .into_iter()
            .map(|i| InvitationRow {
                id: i.id,
                email: i.email,
                role: i.role,
                invited_by: i
                    .invited_by
                    .and_then(|u| names.get(&u).cloned())
                    .unwrap_or_else(|| "—".into()),
                expires: minute(&i.expires_at),
                expired: i.expires_at <= now,
                can_revoke: access.can_grant(org.id, i.role),
            })
            .collect(),
        chrome,
        nav,
        notice,
        roles: ROLES.to_vec(),
        new_invitation,
        email: String::new(),
    })?;
    if showing_link {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(response)
}

async fn page(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(slug): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, UiError> {
    let org = organization(&state, &signed, &slug).await?;
    show(&state, &signed, &org, q.notice(), None).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct InviteForm {
    email: String,
    role: String,
}

fn plausible_email(email: &str) -> bool {
    email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && (domain == "localhost"
                    || (domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')))
        })
}

async fn invite(
    State(state): State<AppState>,
    signed: SignedIn,
    headers: HeaderMap,
    Path(slug): Path<String>,
    CsrfForm(form): CsrfForm<InviteForm>,
) -> Result<Response, UiError> {
    let org = organization(&state, &signed, &slug).await?;
    require(&signed, Action::ManageProjects, org.id)?;
    let refuse = async |status: StatusCode, problem: String| {
        with_status(
            show(&state, &signed, &org, Some(Notice::error(problem)), None).await,
            status,
        )
    };
    let role: Role = match form.role.parse() {
        Ok(r) => r,
        Err(e) => return refuse(StatusCode::UNPROCESSABLE_ENTITY, e).await,
    };
    if !signed.access.can_grant(org.id, role) {
        return Err(Denied::Forbidden.into());
    }
    let email = form.email.trim().to_string();
    if !plausible_email(&email) {
        return refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{email:?} is not an email address."),
        )
        .await;
    }
    let members = state.store.list_members(org.id).await?;
    if members
        .iter()
        .any(|m| m.user.email.eq_ignore_ascii_case(&email))
    {
        return refuse(
            StatusCode::CONFLICT,
            format!("{email} is already a member."),
        )
        .await;
    }
    let token = random_token();
    if let Err(e) = state
        .store
        .create_invitation(
            org.id,
            &email,
            role,
            &sha256_hex(&token),
            Some(signed.access.user.id),
            Utc::now() + mail::INVITATION_LIFETIME,
        )
        .await
    {
        let (status, notice) = refusal(e)?;
        return with_status(
            show(&state, &signed, &org, Some(notice), None).await,
            status,
        );
    }
    let link = format!(
        "{}/accept/{token}",
        mail::page_base_url(&state.config, &headers)
    );
    let mut mailed = false;
    let mut notice = Notice::ok(format!("{email} is invited as {role}."));
    if mail::can_send(&state.config) {
        let mailed_link = format!("{}/accept/{token}", mail::local_base_url(&state.config));
        let body = mail::invitation_mail(
            &org.name,
            &display_name(&signed.access.user),
            role.as_str(),
            &mailed_link,
        );
        let subject = format!("Join {} on Corral", org.name);
        match mail::send(&state.config, &email, &subject, body).await {
            Ok(()) => mailed = true,
            Err(e) => {
                tracing::error!(org.id = org.id, error = %e, "invitation mail failed");
                notice = Notice::error(format!(
                    "{email} is invited as {role}, but the mail could not be sent: pass the link on yourself."
                ));
            }
        }
    }
    show(
        &state,
        &signed,
        &org,
        Some(notice),
        Some(NewInvitation {
            email,
            link,
            mailed,
        }),
    )
    .await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RoleForm {
    role: String,
}

async fn change_role(
    State(state): State<AppState>,
    signed: SignedIn,
    Path((slug, user_id)): Path<(String, UserId)>,
    CsrfForm(form): CsrfForm<RoleForm>,
) -> Result<Response, UiError> {
    let org = organization(&state, &signed, &slug).await?;
    require(&signed, Action::ManageOrganization, org.id)?;
    let role: Role = match form.role.parse() {
        Ok(r) => r,
        Err(e) => {
            let page = show(&state, &signed, &org, Some(Notice::error(e)), None).await;
            return with_status(page, StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    let members = state.store.list_members(org.id).await?;
    if !members.iter().any(|m| m.user.id == user_id) {
        return Err(UiError::NotFound("member"));
    }
    match state.store.set_membership(org.id, user_id, role).await {
        Ok(()) => done(&members_path(&org), "role_changed"),
        Err(e) => {
            let (status, notice) = refusal(e)?;
            with_status(
                show(&state, &signed, &org, Some(notice), None).await,
                status,
            )
        }
    }
}

async fn remove(
    State(state): State<AppState>,
    signed: SignedIn,
    Path((slug, user_id)): Path<(String, UserId)>,
    _: CsrfForm,
) -> Result<Response, UiError> {
    let org = organization(&state, &signed, &slug).await?;
    require(&signed, Action::ManageOrganization, org.id)?;
    match state.store.remove_membership(org.id, user_id).await {
        // an owner who left has nothing more to see here
        Ok(()) if user_id == signed.access.user.id && !signed.access.user.is_superuser => {
            Ok(Redirect::to("/").into_response())
        }
        Ok(()) => done(&members_path(&org), "member_removed"),
        Err(StoreError::NotFound(_)) => Err(UiError::NotFound("member")),
        Err(e) => {
            let (status, notice) = refusal(e)?;
            with_status(
                show(&state, &signed, &org, Some(notice), None).await,
                status,
            )
        }
    }
}

async fn revoke(
    State(state): State<AppState>,
    signed: SignedIn,
    Path((slug, id)): Path<(String, i64)>,
    _: CsrfForm,
) -> Result<Response, UiError> {
    let org = organization(&state, &signed, &slug).await?;
    require(&signed, Action::ManageProjects, org.id)?;
    let invitation = state
        .store
        .list_invitations(org.id)
        .await?
        .into_iter()
        .find(|i| i.id == id)
        .ok_or(UiError::NotFound("invitation"))?;
    if !signed.access.can_grant(org.id, invitation.role) {
        return Err(Denied::Forbidden.into());
    }
    match state.store.delete_invitation(invitation.id).await {
        Ok(()) | Err(StoreError::NotFound(_)) => done(&members_path(&org), "invitation_revoked"),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plausible_emails() {
        for ok in ["a@b.co", "first.last+tag@example.org", "root@localhost"] {
            assert!(plausible_email(ok), "{ok}");
        }
        for bad in ["", "a", "a@", "@b.co", "a b@c.de", "a@nodot", "a@b.co\n"] {
            assert!(!plausible_email(bad), "{bad:?}");
        }
    }
}
