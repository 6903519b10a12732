//! Accepting an invitation: a signed-in user with the invited email joins
//! with one button; a visitor whose email has no account yet creates one.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar};
use chrono::Utc;
use corral_core::model::{Invitation, Role, Session, User, UserId};
use corral_core::{NewUser, StoreError};
use serde::Deserialize;

use super::{check_name, check_new_password, current_session, hash, well_formed};
use crate::session::{self, sha256_hex};
use crate::state::AppState;
use crate::ui::{STYLESHEET_URL, UiError, VisitorForm, check_token, render};

/// What the invitation page offers the visitor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AcceptMode {
    /// Signed in with the invited email: one button.
    Join,
    /// Signed in as someone else.
    WrongUser,
    /// The email has an account: sign in first.
    SignIn,
    /// A new account: name and password.
    Register,
}

#[derive(Template)]
#[template(path = "auth/accept.html")]
struct AcceptPage {
    stylesheet: &'static str,
    token: String,
    org_name: String,
    email: String,
    role: Role,
    mode: AcceptMode,
    signed_in_as: String,
    csrf_token: String,
    name: String,
    error: Option<String>,
}

impl AcceptPage {
    fn login_link(&self) -> String {
        format!("/login?next=/accept/{}", self.token)
    }
}

/// The invitation behind a link, with the visitor's session and whether
/// an account has the invited email.
struct AcceptContext {
    invitation: Invitation,
    org_name: String,
    org_slug: String,
    session: Option<(Session, User, String)>,
    account_exists: bool,
}

async fn accept_context(
    state: &AppState,
    headers: &HeaderMap,
    token: &str,
) -> Result<AcceptContext, UiError> {
    let invalid = UiError::InvalidLink("invitation");
    if !well_formed(token) {
        return Err(invalid);
    }
    let invitation = match state
        .store
        .invitation_by_hash(&sha256_hex(token), Utc::now())
        .await
    {
        Ok(i) => i,
        Err(StoreError::NotFound(_)) => return Err(invalid),
        Err(e) => return Err(e.into()),
    };
    let org = state.store.organization_by_id(invitation.org_id).await?;
    let session = current_session(state, headers).await?;
    let account_exists = match state.store.user_by_email(&invitation.email).await {
        Ok(_) => true,
        Err(StoreError::NotFound(_)) => false,
        Err(e) => return Err(e.into()),
    };
    Ok(AcceptContext {
        invitation,
        org_name: org.name,
        org_slug: org.slug,
        session,
        account_exists,
    })
}

impl AcceptContext {
    fn mode(&self) -> AcceptMode {
        match &self.session {
            Some((_, user, _)) if user.email.eq_ignore_ascii_case(&self.invitation.email) => {
                AcceptMode::Join
            }
            Some(_) => AcceptMode::WrongUser,
            None if self.account_exists => AcceptMode::SignIn,
            None => AcceptMode::Register,
        }
    }

    fn page(&self, token: &str, name: &str, error: Option<String>) -> AcceptPage {
        AcceptPage {
            stylesheet: STYLESHEET_URL.as_str(),
            token: token.to_string(),
            org_name: self.org_name.clone(),
            email: self.invitation.email.clone(),
            role: self.invitation.role,
            mode: self.mode(),
            signed_in_as: self
                .session
                .as_ref()
                .map(|(_, u, _)| u.email.clone())
                .unwrap_or_default(),
            csrf_token: self
                .session
                .as_ref()
                .map(|(s, _, _)| s.csrf_token.clone())
                .unwrap_or_default(),
            name: name.to_string(),
            error,
        }
    }
}

pub(super) async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Result<Response, UiError> {
    let ctx = accept_context(&state, &headers, &token).await?;
    render(&ctx.page(&token, "", None))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct AcceptForm {
    /// Sent when the page was shown to a signed-in user, who joins with
    /// their session.
    csrf_token: String,
    name: String,
    password: String,
    confirm: String,
}

/// The form is a visitor's (a new account) or a signed-in user's (joining
/// with their session): the Origin is checked for both, the session's CSRF
/// token for the second.
pub(super) async fn accept(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
    VisitorForm(form): VisitorForm<AcceptForm>,
) -> Result<Response, UiError> {
    let ctx = accept_context(&state, &headers, &token).await?;
    let again = |status: StatusCode, error: &str| {
        let mut r = render(&ctx.page(&token, &form.name, Some(error.to_string())))?;
        *r.status_mut() = status;
        Ok(r)
    };
    match ctx.mode() {
        AcceptMode::Join => {
            let Some((session, user, _)) = &ctx.session else {
                return Err(UiError::Internal("joining without a session"));
            };
            check_token(&session.csrf_token, &form.csrf_token)?;
            join(&state, &ctx.invitation, user.id).await?;
            joined(&ctx.org_slug, None)
        }
        AcceptMode::WrongUser => again(
            StatusCode::FORBIDDEN,
            "This invitation is for another email address.",
        ),
        AcceptMode::SignIn => again(
            StatusCode::CONFLICT,
            "An account with this email exists: sign in to accept.",
        ),
        AcceptMode::Register => {
            let name = match check_name(&form.name) {
                Ok(n) => n.to_string(),
                Err(problem) => return again(StatusCode::UNPROCESSABLE_ENTITY, problem),
            };
            if let Err(problem) = check_new_password(&form.password, &form.confirm) {
                return again(StatusCode::UNPROCESSABLE_ENTITY, problem);
            }
            let password_hash = hash(&state, form.password.clone()).await?;
            let user = match state
                .store
                .create_user(NewUser {
                    email: ctx.invitation.email.clone(),
                    name,
                    password_hash: Some(password_hash),
                    is_superuser: false,
                })
                .await
            {
                Ok(u) => u,
                Err(StoreError::Conflict(_)) => {
                    return again(
                        StatusCode::CONFLICT,
                        "An account with this email exists: sign in to accept.",
                    );
                }
                Err(e) => return Err(e.into()),
            };
            join(&state, &ctx.invitation, user.id).await?;
            let cookie = session::start(&state, user.id).await?;
            joined(&ctx.org_slug, Some(cookie))
        }
    }
}

/// Makes the user a member with the invited role (a member who already
/// has a higher role keeps it) and uses up the invitation.
async fn join(
    state: &AppState,
    invitation: &Invitation,
    user_id: UserId,
) -> Result<(), StoreError> {
    let current = state
        .store
        .memberships_of_user(user_id)
        .await?
        .into_iter()
        .find(|m| m.org_id == invitation.org_id)
        .map(|m| m.role);
    if current.is_none_or(|role| role < invitation.role) {
        state
            .store
            .set_membership(invitation.org_id, user_id, invitation.role)
            .await?;
    }
    state.store.delete_invitation(invitation.id).await?;
    tracing::info!(
        org.id = invitation.org_id,
        user.id = user_id,
        "invitation accepted"
    );
    Ok(())
}

fn joined(org_slug: &str, cookie: Option<Cookie<'static>>) -> Result<Response, UiError> {
    let to = Redirect::to(&format!("/organizations/{org_slug}/issues/?notice=joined"));
    Ok(match cookie {
        Some(c) => (CookieJar::new().add(c), to).into_response(),
        None => to.into_response(),
    })
}
