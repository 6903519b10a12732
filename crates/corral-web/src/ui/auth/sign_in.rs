//! Signing in, with the throttle that slows password guessing, and signing
//! out.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use chrono::{DateTime, Utc};
use corral_core::StoreError;
use serde::Deserialize;

use super::{
    ClientIp, current_session, email_ip_key, email_key, password_failure, safe_next, window_left,
};
use crate::session::{self, SignedIn};
use crate::state::AppState;
use crate::ui::{CsrfForm, STYLESHEET_URL, UiError, VisitorForm, render};

/// Failed sign-ins allowed per email from one client address in a window:
/// what someone mistyping their password meets, and all a guesser at one
/// address gets for one account.
const EMAIL_IP_FAILURES: i64 = 5;
/// Failed sign-ins allowed per client address in a window, whatever the
/// emails.
const IP_FAILURES: i64 = 20;
/// Failed sign-ins allowed per email from every address together in a
/// window. It only slows guessing spread over many addresses: a limit that
/// anyone can run into for any email is a way to lock its owner out, so it
/// is far above [`EMAIL_IP_FAILURES`], and past it an address with no
/// failures in the window still gets its attempt. The owner signing in from
/// their own (clean) address is never refused; a guesser with many addresses
/// gets one guess per fresh address instead of five.
const EMAIL_FAILURES: i64 = 100;
const BAD_CREDENTIALS: &str = "Wrong email or password.";

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
pub(super) struct LoginQuery {
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

pub(super) async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Result<Response, UiError> {
    let next = safe_next(&q.next);
    if current_session(&state, &headers).await?.is_some() {
        return Ok(Redirect::to(&next).into_response());
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
pub(super) struct LoginForm {
    email: String,
    password: String,
    next: String,
}

pub(super) async fn sign_in(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    VisitorForm(form): VisitorForm<LoginForm>,
) -> Result<Response, UiError> {
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
    let Some(attempt) = SignInAttempt::take(&state, &email, &ip, now).await? else {
        tracing::debug!(ip = %ip, "sign-in throttled");
        let wait = window_left(now);
        let minutes = (wait + 59) / 60;
        let mut response = render(&page(format!(
            "Too many failed sign-ins. Try again in {minutes} minute{}.",
            if minutes == 1 { "" } else { "s" }
        )))?;
        *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait));
        return Ok(response);
    };
    let user = match state.store.user_by_email(&email).await {
        Ok(u) => Some(u),
        Err(StoreError::NotFound(_)) | Err(StoreError::Invalid { .. }) => None,
        Err(e) => return Err(e.into()),
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
            attempt.give_back(&state).await?;
            return Err(password_failure(&state, e));
        }
    };
    let user = match user {
        Some(u) if matches && u.is_active => u,
        // the attempt stays taken: a failure
        _ => return render(&page(BAD_CREDENTIALS.into())),
    };
    attempt.succeeded(&state).await?;
    let cookie = session::start(&state, user.id).await?;
    Ok((CookieJar::new().add(cookie), Redirect::to(&next)).into_response())
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

pub(super) async fn sign_out(
    State(state): State<AppState>,
    signed: SignedIn,
    _: CsrfForm,
) -> Result<Response, UiError> {
    state.store.delete_session(&signed.session_hash).await?;
    Ok((
        CookieJar::new().add(session::removal_cookie()),
        Redirect::to("/login?notice=signed_out"),
    )
        .into_response())
}
