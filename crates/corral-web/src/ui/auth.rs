//! The pages of visitors without a session: signing in (throttled per email
//! and client address, per address and per email), signing out, password
//! resets and accepting invitations.
//!
//! Forms here cannot carry a session's CSRF token, so they are refused when
//! the browser says they come from another site (or from an opaque origin).

use std::convert::Infallible;
use std::net::SocketAddr;

use askama::Template;
use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::Form;
use axum_extra::extract::cookie::CookieJar;
use chrono::{DateTime, Utc};
use corral_core::model::{Invitation, Role, Session, User, UserId};
use corral_core::{NewUser, StoreError};
use serde::Deserialize;

use super::{STYLESHEET_URL, render, store_failure};
use crate::access::Access;
use crate::accounts::PasswordError;
use crate::mail;
use crate::session::{self, SignedIn, cookie_hash, sha256_hex};
use crate::state::AppState;

/// Failed sign-ins allowed per email from one client address in a window:
/// what someone mistyping their password meets, and all a guesser at one
/// address gets for one account.
pub const EMAIL_IP_FAILURES: i64 = 5;
/// Failed sign-ins allowed per client address in a window, whatever the
/// emails.
pub const IP_FAILURES: i64 = 20;
/// Failed sign-ins allowed per email from every address together in a
/// window. It only slows guessing spread over many addresses: a limit that
/// anyone can run into for any email is a way to lock its owner out, so it
/// is far above [`EMAIL_IP_FAILURES`], and past it an address with no
/// failures in the window still gets its attempt. The owner signing in from
/// their own (clean) address is never refused; a guesser with many addresses
/// gets one guess per fresh address instead of five.
pub const EMAIL_FAILURES: i64 = 100;
/// The store's fixed throttling window.
const WINDOW_SECS: i64 = 15 * 60;
/// Reset mails per address per window: enough for a lost mail, too few
/// to flood someone's inbox.
const RESET_MAILS_PER_EMAIL: i64 = 3;
const RESET_REQUESTS_PER_IP: i64 = 20;
pub const MIN_PASSWORD_CHARS: usize = 8;
/// argon2 hashes whatever it is given; a bound keeps that cheap.
const MAX_PASSWORD_BYTES: usize = 1024;
const MAX_NAME_CHARS: usize = 200;

const BAD_CREDENTIALS: &str = "Wrong email or password.";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/reset", get(reset_page).post(request_reset))
        .route("/reset/{token}", get(reset_form).post(reset_password))
        .route("/accept/{token}", get(accept_page).post(accept))
}

// --- shared with the settings pages -------------------------------------------

/// Checks a new password and its confirmation.
pub fn check_new_password(password: &str, confirm: &str) -> Result<(), &'static str> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err("The new password must have at least 8 characters.");
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err("The new password is too long (at most 1024 bytes).");
    }
    if password != confirm {
        return Err("The two new passwords differ.");
    }
    Ok(())
}

/// Checks a person's name: 1 to 200 characters once trimmed.
pub fn check_name(name: &str) -> Result<&str, &'static str> {
    let name = name.trim();
    if name.is_empty() {
        Err("The name must not be empty.")
    } else if name.chars().count() > MAX_NAME_CHARS {
        Err("The name is too long (at most 200 characters).")
    } else {
        Ok(name)
    }
}

/// Hashes a new password in a turn of the capped hashers.
pub async fn hash(state: &AppState, password: String) -> Result<String, Response> {
    let hasher = state
        .passwords
        .reserve()
        .await
        .map_err(|e| password_failure(state, e))?;
    hasher
        .hash(password)
        .await
        .map_err(|e| password_failure(state, e))
}

/// The answer when a password could not be hashed or checked: 503 with
/// Retry-After when every hasher stayed busy.
pub fn password_failure(state: &AppState, e: PasswordError) -> Response {
    match e {
        PasswordError::Busy => {
            tracing::debug!("password hashers busy");
            let status = StatusCode::SERVICE_UNAVAILABLE;
            let mut response = (
                status,
                super::error_page(
                    status,
                    "too many passwords are being checked right now; try again in a moment",
                ),
            )
                .into_response();
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(state.passwords.retry_after_secs()),
            );
            response
        }
        PasswordError::Failed(e) => {
            tracing::error!(error = %e, "hashing a password failed");
            internal_error()
        }
    }
}

fn internal_error() -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        super::error_page(StatusCode::INTERNAL_SERVER_ERROR, "something went wrong"),
    )
        .into_response()
}

/// The session of the request, if it has a live one (pages that also
/// serve visitors).
pub async fn current_session(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(Session, User, String)>, StoreError> {
    let jar = CookieJar::from_headers(headers);
    let Some(hash) = cookie_hash(&jar) else {
        return Ok(None);
    };
    match state.store.session_by_hash(&hash, Utc::now()).await {
        Ok((s, u)) if u.is_active => Ok(Some((s, u, hash))),
        Ok(_) | Err(StoreError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Cross-site forms are refused; so are forms from an opaque origin
/// (`Origin: null`, e.g. a sandboxed frame), which could otherwise sign a
/// victim into an attacker's account.
fn verify_visitor_origin(state: &AppState, headers: &HeaderMap) -> Result<(), Response> {
    if headers
        .get(header::ORIGIN)
        .is_some_and(|o| o.as_bytes() == b"null")
    {
        return Err((
            StatusCode::FORBIDDEN,
            super::error_page(StatusCode::FORBIDDEN, "the form was sent from another site"),
        )
            .into_response());
    }
    session::verify_origin(state, headers)
}

/// Only paths of this site: `/x`, never `//host` or `/\host` (which
/// browsers read as another host) or anything with control characters.
pub fn safe_next(next: &str) -> String {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control)
        && next.len() <= 2000;
    if ok { next.to_string() } else { "/".into() }
}

/// The client's address, from the connection (no proxy header is trusted).
pub struct ClientIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_canonical().to_string())
            .unwrap_or_else(|| "unknown".into());
        Ok(ClientIp(ip))
    }
}

/// Seconds until the throttling window `now` falls in ends.
fn window_left(now: DateTime<Utc>) -> i64 {
    WINDOW_SECS - now.timestamp().rem_euclid(WINDOW_SECS)
}

/// Emails are throttled by their lowercase form; absurdly long input by
/// its hash, to stay within the store's key length.
fn email_key(prefix: &str, email: &str) -> String {
    if email.len() <= 254 {
        format!("{prefix}:{email}")
    } else {
        format!("{prefix}:{}", sha256_hex(email))
    }
}

/// A throttling key for one email from one client address.
fn email_ip_key(email: &str, ip: &str) -> String {
    email_key(&format!("email-ip:{ip}"), email)
}

// --- signing in and out -------------------------------------------------------

#[derive(Template)]
#[template(path = "auth/login.html")]
struct LoginPage {
    stylesheet: &'static str,
    next: String,
    email: String,
    notice: Option<&'static str>,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LoginQuery {
    next: String,
    notice: String,
}

fn login_notice(code: &str) -> Option<&'static str> {
    match code {
        "signed_out" => Some("You are signed out."),
        "password_reset" => Some("Your password was changed. Sign in with the new one."),
        "password_changed" => Some("Your password was changed."),
        _ => None,
    }
}

async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let next = safe_next(&q.next);
    match current_session(&state, &headers).await {
        Ok(Some(_)) => return Redirect::to(&next).into_response(),
        Ok(None) => {}
        Err(e) => return store_failure(e),
    }
    render(&LoginPage {
        stylesheet: STYLESHEET_URL.as_str(),
        next,
        email: String::new(),
        notice: login_notice(&q.notice),
        error: None,
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LoginForm {
    email: String,
    password: String,
    next: String,
}

async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if let Err(refused) = verify_visitor_origin(&state, &headers) {
        return refused;
    }
    let email = form.email.trim().to_lowercase();
    let next = safe_next(&form.next);
    let page = |error: String| LoginPage {
        stylesheet: STYLESHEET_URL.as_str(),
        next: next.clone(),
        email: form.email.trim().to_string(),
        notice: None,
        error: Some(error),
    };
    let now = Utc::now();
    // the attempt is taken before the password is looked at, so parallel
    // requests cannot all pass a check made before any of them counted
    let attempt = match SignInAttempt::take(&state, &email, &ip, now).await {
        Ok(Some(attempt)) => attempt,
        Ok(None) => {
            tracing::debug!(ip = %ip, "sign-in throttled");
            let wait = window_left(now);
            let minutes = (wait + 59) / 60;
            let mut response = render(&page(format!(
                "Too many failed sign-ins. Try again in {minutes} minute{}.",
                if minutes == 1 { "" } else { "s" }
            )));
            *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait));
            return response;
        }
        Err(e) => return store_failure(e),
    };
    let user = match state.store.user_by_email(&email).await {
        Ok(u) => Some(u),
        Err(StoreError::NotFound(_)) | Err(StoreError::Invalid { .. }) => None,
        Err(e) => return store_failure(e),
    };
    // unknown emails are checked against a fixed hash, in the same turns
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    let checked = match state.passwords.reserve().await {
        Ok(hasher) => hasher.verify(form.password.clone(), stored).await,
        Err(e) => Err(e),
    };
    let matches = match checked {
        Ok(m) => m,
        Err(e) => {
            // the password was not looked at: not a failure
            if let Err(e) = attempt.give_back(&state).await {
                return store_failure(e);
            }
            return password_failure(&state, e);
        }
    };
    let user = match user {
        Some(u) if matches && u.is_active => u,
        // the attempt stays taken: a failure
        _ => return render(&page(BAD_CREDENTIALS.into())),
    };
    if let Err(e) = attempt.succeeded(&state).await {
        return store_failure(e);
    }
    match session::start(&state, user.id).await {
        Ok(cookie) => (CookieJar::new().add(cookie), Redirect::to(&next)).into_response(),
        Err(e) => store_failure(e),
    }
}

/// A sign-in attempt taken from the throttle's counters before its password
/// is checked. It stays counted (a failure) unless it is given back.
struct SignInAttempt {
    now: DateTime<Utc>,
    by_email_ip: String,
    by_ip: String,
    by_email: String,
    /// Not when the per-email limit was passed from a clean address.
    email_taken: bool,
}

impl SignInAttempt {
    /// Takes an attempt from each counter, most specific first; `None` when
    /// one of them is at its limit (then nothing stays taken).
    async fn take(
        state: &AppState,
        email: &str,
        ip: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<SignInAttempt>, StoreError> {
        let store = &state.store;
        let by_email_ip = email_ip_key(email, ip);
        let by_ip = format!("ip:{ip}");
        let by_email = email_key("email", email);
        if store
            .take_login_attempt(&by_email_ip, EMAIL_IP_FAILURES, now)
            .await?
            .is_none()
        {
            return Ok(None);
        }
        let Some(from_ip) = store.take_login_attempt(&by_ip, IP_FAILURES, now).await? else {
            store.return_login_attempt(&by_email_ip, now).await?;
            return Ok(None);
        };
        let email_taken = match store
            .take_login_attempt(&by_email, EMAIL_FAILURES, now)
            .await?
        {
            Some(_) => true,
            // this attempt is the address's first in the window (see EMAIL_FAILURES)
            None if from_ip == 1 => false,
            None => {
                store.return_login_attempt(&by_ip, now).await?;
                store.return_login_attempt(&by_email_ip, now).await?;
                return Ok(None);
            }
        };
        Ok(Some(SignInAttempt {
            now,
            by_email_ip,
            by_ip,
            by_email,
            email_taken,
        }))
    }

    /// The password was not checked: the attempt counts nowhere.
    async fn give_back(self, state: &AppState) -> Result<(), StoreError> {
        let store = &state.store;
        store
            .return_login_attempt(&self.by_email_ip, self.now)
            .await?;
        store.return_login_attempt(&self.by_ip, self.now).await?;
        if self.email_taken {
            store.return_login_attempt(&self.by_email, self.now).await?;
        }
        Ok(())
    }

    /// The right password: the account's failures are forgotten (whoever
    /// sent this knows the password), the address keeps any others'.
    async fn succeeded(self, state: &AppState) -> Result<(), StoreError> {
        let store = &state.store;
        store.clear_login_failures(&self.by_email_ip).await?;
        store.clear_login_failures(&self.by_email).await?;
        store.return_login_attempt(&self.by_ip, self.now).await
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CsrfForm {
    csrf_token: String,
}

async fn logout(
    State(state): State<AppState>,
    signed: SignedIn,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(refused) = signed.verify_csrf(&state, &headers, &form.csrf_token) {
        return refused;
    }
    if let Err(e) = state.store.delete_session(&signed.session_hash).await {
        return store_failure(e);
    }
    (
        CookieJar::new().add(session::removal_cookie()),
        Redirect::to("/login?notice=signed_out"),
    )
        .into_response()
}

// --- password resets ------------------------------------------------------------

#[derive(Template)]
#[template(path = "auth/reset.html")]
struct ResetPage {
    stylesheet: &'static str,
    can_mail: bool,
    /// The address a link was asked for (whether or not it has an account).
    sent_to: Option<String>,
}

async fn reset_page(State(state): State<AppState>) -> Response {
    render(&ResetPage {
        stylesheet: STYLESHEET_URL.as_str(),
        can_mail: mail::can_send(&state.config),
        sent_to: None,
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ResetRequestForm {
    email: String,
}

/// Mails a reset link when the address has an account. The answer is the
/// same, and as quick, either way: the mail leaves in the background.
async fn request_reset(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Form(form): Form<ResetRequestForm>,
) -> Response {
    if let Err(refused) = verify_visitor_origin(&state, &headers) {
        return refused;
    }
    let can_mail = mail::can_send(&state.config);
    let email = form.email.trim().to_lowercase();
    if can_mail
        && !email.is_empty()
        && let Err(e) = mail_reset_link(&state, &email, &ip).await
    {
        return store_failure(e);
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

fn well_formed(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

fn invalid_link(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        super::error_page(
            StatusCode::NOT_FOUND,
            &format!("this {what} link is not valid: it may have been used or have expired"),
        ),
    )
        .into_response()
}

async fn reset_form(Path(token): Path<String>) -> Response {
    if !well_formed(&token) {
        return invalid_link("reset");
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
struct NewPasswordForm {
    password: String,
    confirm: String,
}

async fn reset_password(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    Path(token): Path<String>,
    Form(form): Form<NewPasswordForm>,
) -> Response {
    if let Err(refused) = verify_visitor_origin(&state, &headers) {
        return refused;
    }
    if !well_formed(&token) {
        return invalid_link("reset");
    }
    let again = |status: StatusCode, error: &str| {
        let mut r = render(&ResetTokenPage {
            stylesheet: STYLESHEET_URL.as_str(),
            token: token.clone(),
            error: Some(error.to_string()),
        });
        *r.status_mut() = status;
        r
    };
    // a typo must not use up the link
    if let Err(problem) = check_new_password(&form.password, &form.confirm) {
        return again(StatusCode::UNPROCESSABLE_ENTITY, problem);
    }
    // nor busy hashers: a turn first, then the link
    let hasher = match state.passwords.reserve().await {
        Ok(h) => h,
        Err(e) => return password_failure(&state, e),
    };
    let user_id = match state
        .store
        .take_password_reset(&sha256_hex(&token), Utc::now())
        .await
    {
        Ok(id) => id,
        Err(StoreError::NotFound(_)) => return invalid_link("reset"),
        Err(e) => return store_failure(e),
    };
    let hash = match hasher.hash(form.password).await {
        Ok(h) => h,
        Err(e) => return password_failure(&state, e),
    };
    drop(hasher);
    if let Err(e) = set_password_everywhere(&state, user_id, &hash, None, &ip).await {
        return store_failure(e);
    }
    Redirect::to("/login?notice=password_reset").into_response()
}

/// Sets a new password and ends the user's sessions (but `keep`), and
/// forgets their failed sign-ins: from every address together and from
/// `ip`, the address that changed it (others' stay throttled).
pub async fn set_password_everywhere(
    state: &AppState,
    user_id: UserId,
    hash: &str,
    keep: Option<&str>,
    ip: &str,
) -> Result<(), StoreError> {
    state.store.set_password_hash(user_id, hash).await?;
    let ended = state.store.delete_user_sessions(user_id, keep).await?;
    let user = state.store.user_by_id(user_id).await?;
    let email = user.email.to_lowercase();
    state
        .store
        .clear_login_failures(&email_key("email", &email))
        .await?;
    state
        .store
        .clear_login_failures(&email_ip_key(&email, ip))
        .await?;
    tracing::info!(
        user.id = user_id,
        sessions.ended = ended,
        "password changed"
    );
    Ok(())
}

// --- invitations ----------------------------------------------------------------

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
) -> Result<AcceptContext, Response> {
    if !well_formed(token) {
        return Err(invalid_link("invitation"));
    }
    let invitation = match state
        .store
        .invitation_by_hash(&sha256_hex(token), Utc::now())
        .await
    {
        Ok(i) => i,
        Err(StoreError::NotFound(_)) => return Err(invalid_link("invitation")),
        Err(e) => return Err(store_failure(e)),
    };
    let org = state
        .store
        .organization_by_id(invitation.org_id)
        .await
        .map_err(store_failure)?;
    let session = current_session(state, headers)
        .await
        .map_err(store_failure)?;
    let account_exists = match state.store.user_by_email(&invitation.email).await {
        Ok(_) => true,
        Err(StoreError::NotFound(_)) => false,
        Err(e) => return Err(store_failure(e)),
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

async fn accept_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    match accept_context(&state, &headers, &token).await {
        Ok(ctx) => render(&ctx.page(&token, "", None)),
        Err(r) => r,
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AcceptForm {
    csrf_token: String,
    name: String,
    password: String,
    confirm: String,
}

async fn accept(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token): Path<String>,
    Form(form): Form<AcceptForm>,
) -> Response {
    let ctx = match accept_context(&state, &headers, &token).await {
        Ok(ctx) => ctx,
        Err(r) => return r,
    };
    let again = |status: StatusCode, error: &str| {
        let mut r = render(&ctx.page(&token, &form.name, Some(error.to_string())));
        *r.status_mut() = status;
        r
    };
    match ctx.mode() {
        AcceptMode::Join => {
            let Some((session, user, hash)) = ctx.session.clone() else {
                return internal_error();
            };
            let access = match Access::load(&state.store, user).await {
                Ok(a) => a,
                Err(e) => return store_failure(e),
            };
            let signed = SignedIn {
                access,
                session,
                session_hash: hash,
            };
            if let Err(refused) = signed.verify_csrf(&state, &headers, &form.csrf_token) {
                return refused;
            }
            let user_id = signed.access.user.id;
            if let Err(e) = join(&state, &ctx.invitation, user_id).await {
                return store_failure(e);
            }
            joined(&ctx.org_slug, None)
        }
        AcceptMode::WrongUser => {
            if let Err(refused) = verify_visitor_origin(&state, &headers) {
                return refused;
            }
            again(
                StatusCode::FORBIDDEN,
                "This invitation is for another email address.",
            )
        }
        AcceptMode::SignIn => {
            if let Err(refused) = verify_visitor_origin(&state, &headers) {
                return refused;
            }
            again(
                StatusCode::CONFLICT,
                "An account with this email exists: sign in to accept.",
            )
        }
        AcceptMode::Register => {
            if let Err(refused) = verify_visitor_origin(&state, &headers) {
                return refused;
            }
            let name = match check_name(&form.name) {
                Ok(n) => n.to_string(),
                Err(problem) => return again(StatusCode::UNPROCESSABLE_ENTITY, problem),
            };
            if let Err(problem) = check_new_password(&form.password, &form.confirm) {
                return again(StatusCode::UNPROCESSABLE_ENTITY, problem);
            }
            let password_hash = match hash(&state, form.password.clone()).await {
                Ok(h) => h,
                Err(r) => return r,
            };
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
                Err(e) => return store_failure(e),
            };
            if let Err(e) = join(&state, &ctx.invitation, user.id).await {
                return store_failure(e);
            }
            match session::start(&state, user.id).await {
                Ok(cookie) => joined(&ctx.org_slug, Some(cookie)),
                Err(e) => store_failure(e),
            }
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

fn joined(
    org_slug: &str,
    cookie: Option<axum_extra::extract::cookie::Cookie<'static>>,
) -> Response {
    let to = Redirect::to(&format!("/organizations/{org_slug}/issues/?notice=joined"));
    match cookie {
        Some(c) => (CookieJar::new().add(c), to).into_response(),
        None => to.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(
            safe_next("/organizations/acme/issues/?q=1"),
            "/organizations/acme/issues/?q=1"
        );
        for bad in [
            "",
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "/\tx",
            "javascript:alert(1)",
            "evil",
        ] {
            assert_eq!(safe_next(bad), "/", "{bad:?}");
        }
    }

    #[test]
    fn passwords_and_names() {
        assert!(check_new_password("short", "short").is_err());
        assert!(check_new_password("long enough", "long enougH").is_err());
        assert!(check_new_password("long enough", "long enough").is_ok());
        assert!(check_new_password(&"x".repeat(2000), &"x".repeat(2000)).is_err());
        assert_eq!(check_name("  Ann  "), Ok("Ann"));
        assert!(check_name("   ").is_err());
        assert!(check_name(&"n".repeat(201)).is_err());
    }

    #[test]
    fn windows_end_on_quarter_hours() {
        let t = DateTime::parse_from_rfc3339("2026-01-01T10:14:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(window_left(t), 60);
        let t = DateTime::parse_from_rfc3339("2026-01-01T10:15:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(window_left(t), 900);
    }

    #[test]
    fn long_emails_are_keyed_by_their_hash() {
        assert_eq!(email_key("email", "a@b.c"), "email:a@b.c");
        let long = format!("{}@b.c", "a".repeat(400));
        assert_eq!(email_key("email", &long).len(), "email:".len() + 64);
    }
}
