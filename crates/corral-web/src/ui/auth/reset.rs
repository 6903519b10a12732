//! Password resets: the form that asks for a link, the mail with the link,
//! and the form behind the link that sets a new password.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use corral_core::StoreError;
use serde::Deserialize;

use super::{
    ClientIp, check_new_password, email_key, password_failure, set_password_everywhere, well_formed,
};
use crate::mail;
use crate::session::sha256_hex;
use crate::state::AppState;
use crate::ui::{STYLESHEET_URL, UiError, VisitorForm, render};

/// Reset mails per address per window: enough for a lost mail, too few
/// to flood someone's inbox.
const RESET_MAILS_PER_EMAIL: i64 = 3;
const RESET_REQUESTS_PER_IP: i64 = 20;

#[derive(Template)]
#[template(path = "auth/reset.html")]
struct ResetPage {
    stylesheet: &'static str,
    can_mail: bool,
    /// The address a link was asked for (whether or not it has an account).
    sent_to: Option<String>,
}

pub(super) async fn page(State(state): State<AppState>) -> Result<Response, UiError> {
    render(&ResetPage {
        stylesheet: STYLESHEET_URL.as_str(),
        can_mail: mail::can_send(&state.config),
        sent_to: None,
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct ResetRequestForm {
    email: String,
}

/// Mails a reset link when the address has an account. The answer is the
/// same, and as quick, either way: the mail leaves in the background.
pub(super) async fn request(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    VisitorForm(form): VisitorForm<ResetRequestForm>,
) -> Result<Response, UiError> {
    let can_mail = mail::can_send(&state.config);
    let email = form.email.trim().to_lowercase();
    if can_mail && !email.is_empty() {
        mail_reset_link(&state, &email, &ip).await?;
    }
    render(&ResetPage {
        stylesheet: STYLESHEET_URL.as_str(),
        can_mail,
        sent_to: (can_mail && !email.is_empty()).then(|| form.email.trim().to_string()),
    })
}

async fn mail_reset_link(state: &AppState, email: &str, ip: &str) -> Result<(), StoreError> {
    let now = Utc::now();
    // the sign-in throttle's fixed windows, under keys of their own
    let by_email = state
        .store
        .count_login_failure(&email_key("reset", email), now)
        .await?;
    let by_ip = state
        .store
        .count_login_failure(&format!("reset-ip:{ip}"), now)
        .await?;
    if by_email > RESET_MAILS_PER_EMAIL || by_ip > RESET_REQUESTS_PER_IP {
        tracing::debug!(ip = %ip, "password reset mail throttled");
        return Ok(());
    }
    let user = match state.store.user_by_email(email).await {
        Ok(u) if u.is_active => u,
        Ok(_) | Err(StoreError::NotFound(_)) | Err(StoreError::Invalid { .. }) => return Ok(()),
        Err(e) => return Err(e),
    };
    let base = mail::local_base_url(&state.config);
    let link = mail::reset_link_under(&state.store, user.id, &base).await?;
    let config = state.config.clone();
    tokio::spawn(async move {
        let body = mail::reset_mail(&link);
        match mail::send(&config, &user.email, "Reset your Corral password", body).await {
            Ok(()) => tracing::info!(user.id = user.id, "password reset mail sent"),
            Err(e) => tracing::error!(user.id = user.id, error = %e, "password reset mail failed"),
        }
    });
    Ok(())
}

#[derive(Template)]
#[template(path = "auth/reset_token.html")]
struct ResetTokenPage {
    stylesheet: &'static str,
    token: String,
    error: Option<String>,
}

pub(super) async fn form(Path(token): Path<String>) -> Result<Response, UiError> {
    if !well_formed(&token) {
        return Err(UiError::InvalidLink("reset"));
    }
    // the token is checked (and used up) when the form is sent
    render(&ResetTokenPage {
        stylesheet: STYLESHEET_URL.as_str(),
        token,
        error: None,
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct NewPasswordForm {
    password: String,
    confirm: String,
}

pub(super) async fn set_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(token): Path<String>,
    VisitorForm(form): VisitorForm<NewPasswordForm>,
) -> Result<Response, UiError> {
    if !well_formed(&token) {
        return Err(UiError::InvalidLink("reset"));
    }
    // a typo must not use up the link
    if let Err(problem) = check_new_password(&form.password, &form.confirm) {
        let mut page = render(&ResetTokenPage {
            stylesheet: STYLESHEET_URL.as_str(),
            token: token.clone(),
            error: Some(problem.to_string()),
        })?;
        *page.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        return Ok(page);
    }
    // nor busy hashers: a turn first, then the link
    let hasher = state
        .passwords
        .reserve()
        .await
        .map_err(|e| password_failure(&state, e))?;
    let user_id = match state
        .store
        .take_password_reset(&sha256_hex(&token), Utc::now())
        .await
    {
        Ok(id) => id,
        Err(StoreError::NotFound(_)) => return Err(UiError::InvalidLink("reset")),
        Err(e) => return Err(e.into()),
    };
    let hash = hasher
        .hash(form.password)
        .await
        .map_err(|e| password_failure(&state, e))?;
    drop(hasher);
    set_password_everywhere(&state, user_id, &hash, None, &ip).await?;
    Ok(Redirect::to("/login?notice=password_reset").into_response())
}
