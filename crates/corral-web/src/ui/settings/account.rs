//! `/settings/account/`: the user's name, mail settings, password, sessions
//! and API tokens.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use corral_core::alerts::NotificationSettings;
use corral_core::model::{ALL_SCOPES, TokenId};
use serde::Deserialize;

use super::{Notice, NoticeQuery, done, minute, refusal, with_status};
use crate::api::{hash_token, new_token_secret};
use crate::session::SignedIn;
use crate::state::AppState;
use crate::ui::auth::{
    ClientIp, check_name, check_new_password, password_failure, set_password_everywhere,
};
use crate::ui::{Chrome, CsrfForm, UiError, UiRoutes, missing, render};

const PAGE: &str = "/settings/account/";

pub fn routes() -> UiRoutes {
    UiRoutes::new()
        .route(PAGE, get(page))
        .route("/settings/account/name", post(rename))
        .route("/settings/account/password", post(change_password))
        .route("/settings/account/sessions", post(end_other_sessions))
        .route("/settings/account/tokens", post(create_token))
        .route("/settings/account/tokens/{id}/delete", post(delete_token))
        .route("/settings/account/notifications", post(notifications))
}

struct TokenRow {
    id: TokenId,
    name: String,
    scopes: String,
    created: String,
    last_used: String,
}

/// One resource's scopes, as a row of checkboxes.
struct ScopeGroup {
    resource: &'static str,
    scopes: Vec<&'static str>,
}

/// A token just created: its secret is shown this once.
struct NewToken {
    name: String,
    secret: String,
}

#[derive(Template)]
#[template(path = "settings/account.html")]
struct AccountPage {
    chrome: Chrome,
    notice: Option<Notice>,
    name: String,
    email: String,
    tokens: Vec<TokenRow>,
    scope_groups: Vec<ScopeGroup>,
    new_token: Option<NewToken>,
    notifications: NotificationSettings,
}

impl AccountPage {
    /// The level part of a scope (`read` of `event:read`).
    fn level<'a>(&self, scope: &'a str) -> &'a str {
        scope.split_once(':').map(|(_, l)| l).unwrap_or(scope)
    }
}

fn scope_groups() -> Vec<ScopeGroup> {
    let mut groups: Vec<ScopeGroup> = Vec::new();
    for scope in ALL_SCOPES {
        let resource = scope.split_once(':').map(|(r, _)| r).unwrap_or(scope);
        match groups.last_mut() {
            Some(g) if g.resource == resource => g.scopes.push(scope),
            _ => groups.push(ScopeGroup {
                resource,
                scopes: vec![scope],
            }),
        }
    }
    groups
}

async fn show(
    state: &AppState,
    signed: &SignedIn,
    notice: Option<Notice>,
    new_token: Option<NewToken>,
) -> Result<Response, UiError> {
    let chrome = Chrome::new(state, signed, None).await?;
    let user = &signed.access.user;
    let tokens = state.store.list_api_tokens(user.id).await?;
    let notifications = state.store.notification_settings(user.id).await?;
    let showing_secret = new_token.is_some();
    let mut response = render(&AccountPage {
        chrome,
        notice,
        name: user.name.clone(),
        email: user.email.clone(),
        tokens: tokens
            .into_iter()
            .map(|t| TokenRow {
                id: t.id,
                name: t.name,
                scopes: t.scopes.join(" "),
                created: minute(&t.created_at),
                last_used: t
                    .last_used_at
                    .as_ref()
                    .map(minute)
                    .unwrap_or_else(|| "never".into()),
            })
            .collect(),
        scope_groups: scope_groups(),
        new_token,
        notifications,
    })?;
    if showing_secret {
        // the secret must not linger in caches or the back button
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(response)
}

async fn page(
    State(state): State<AppState>,
    signed: SignedIn,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, UiError> {
    show(&state, &signed, q.notice(), None).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NameForm {
    name: String,
}

async fn rename(
    State(state): State<AppState>,
    signed: SignedIn,
    CsrfForm(form): CsrfForm<NameForm>,
) -> Result<Response, UiError> {
    let name = match check_name(&form.name) {
        Ok(n) => n,
        Err(problem) => {
            let page = show(&state, &signed, Some(Notice::error(problem)), None).await;
            return with_status(page, StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    match state.store.update_user(signed.access.user.id, name).await {
        Ok(_) => done(PAGE, "saved"),
        Err(e) => {
            let (status, notice) = refusal(e)?;
            with_status(show(&state, &signed, Some(notice), None).await, status)
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PasswordForm {
    current: String,
    password: String,
    confirm: String,
}

async fn change_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    signed: SignedIn,
    CsrfForm(form): CsrfForm<PasswordForm>,
) -> Result<Response, UiError> {
    let again = async |status: StatusCode, problem: &str| {
        with_status(
            show(&state, &signed, Some(Notice::error(problem)), None).await,
            status,
        )
    };
    // the stored hash may be newer than the session's copy of the user
    let user = state.store.user_by_id(signed.access.user.id).await?;
    // one turn at the capped hashers for both hashes
    let hasher = state
        .passwords
        .reserve()
        .await
        .map_err(|e| password_failure(&state, e))?;
    let matches = hasher
        .verify(form.current.clone(), user.password_hash.clone())
        .await
        .map_err(|e| password_failure(&state, e))?;
    if !matches {
        return again(StatusCode::FORBIDDEN, "The current password is wrong.").await;
    }
    if let Err(problem) = check_new_password(&form.password, &form.confirm) {
        return again(StatusCode::UNPROCESSABLE_ENTITY, problem).await;
    }
    let hash = hasher
        .hash(form.password)
        .await
        .map_err(|e| password_failure(&state, e))?;
    drop(hasher);
    let keep = Some(signed.session_hash.as_str());
    set_password_everywhere(&state, user.id, &hash, keep, &ip).await?;
    done(PAGE, "password_changed")
}

async fn end_other_sessions(
    State(state): State<AppState>,
    signed: SignedIn,
    _: CsrfForm,
) -> Result<Response, UiError> {
    state
        .store
        .delete_user_sessions(signed.access.user.id, Some(&signed.session_hash))
        .await?;
    done(PAGE, "sessions_ended")
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TokenForm {
    name: String,
    scope: Vec<String>,
}

/// Creates a token and shows its secret on the page this once (it is
/// stored only as a hash, so it cannot be shown again).
async fn create_token(
    State(state): State<AppState>,
    signed: SignedIn,
    CsrfForm(form): CsrfForm<TokenForm>,
) -> Result<Response, UiError> {
    let refuse = async |problem: String| {
        with_status(
            show(&state, &signed, Some(Notice::error(problem)), None).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
    };
    let name = match check_name(&form.name) {
        Ok(n) => n.to_string(),
        Err(_) => return refuse("Give the token a name (at most 200 characters).".into()).await,
    };
    if form.scope.is_empty() {
        return refuse("Choose at least one scope.".into()).await;
    }
    let mut scopes: Vec<String> = Vec::new();
    for scope in &form.scope {
        if !ALL_SCOPES.contains(&scope.as_str()) {
            return refuse(format!("{scope:?} is not a scope.")).await;
        }
        if !scopes.contains(scope) {
            scopes.push(scope.clone());
        }
    }
    let secret = new_token_secret();
    match state
        .store
        .create_api_token(signed.access.user.id, &name, &scopes, &hash_token(&secret))
        .await
    {
        Ok(_) => {
            let notice =
                Notice::ok("The token was created. Copy it now: it will not be shown again.");
            show(
                &state,
                &signed,
                Some(notice),
                Some(NewToken { name, secret }),
            )
            .await
        }
        Err(e) => {
            let (status, notice) = refusal(e)?;
            with_status(show(&state, &signed, Some(notice), None).await, status)
        }
    }
}

async fn delete_token(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(id): Path<TokenId>,
    _: CsrfForm,
) -> Result<Response, UiError> {
    // the store deletes only the user's own tokens
    state
        .store
        .delete_api_token(signed.access.user.id, id)
        .await
        .map_err(missing("token"))?;
    done(PAGE, "token_deleted")
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NotificationsForm {
    alerts: String,
    assigned: String,
    workflow: String,
}

/// The three mail settings; a box left unticked turns its mail off.
async fn notifications(
    State(state): State<AppState>,
    signed: SignedIn,
    CsrfForm(form): CsrfForm<NotificationsForm>,
) -> Result<Response, UiError> {
    let settings = NotificationSettings {
        alerts: !form.alerts.is_empty(),
        assigned: !form.assigned.is_empty(),
        workflow: !form.workflow.is_empty(),
    };
    state
        .store
        .set_notification_settings(signed.access.user.id, &settings)
        .await?;
    done(PAGE, "notifications_saved")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scope_is_offered_once_by_resource() {
        let groups = scope_groups();
        let resources: Vec<_> = groups.iter().map(|g| g.resource).collect();
        assert_eq!(resources, ["org", "project", "team", "member", "event"]);
        let offered: Vec<&str> = groups.iter().flat_map(|g| g.scopes.clone()).collect();
        assert_eq!(offered, ALL_SCOPES);
    }
}
