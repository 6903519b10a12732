//! The pages of visitors without a session: signing in (throttled per email
//! and client address, per address and per email) and out, password resets
//! and accepting invitations; and what the account settings share with
//! them (checks of names and passwords, hashing, the throttle's keys).
//!
//! - `sign_in`: `/login` and `/logout`;
//! - `reset`: `/reset` and the links it mails;
//! - `invitations`: `/accept/{token}`.
//!
//! Forms here cannot carry a session's CSRF token, so they are read through
//! [`VisitorForm`](super::VisitorForm) and refused when the browser says
//! they come from another site (or from an opaque origin).

mod invitations;
mod reset;
mod sign_in;

use std::convert::Infallible;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum_extra::extract::cookie::CookieJar;
use chrono::{DateTime, Utc};
use corral_core::StoreError;
use corral_core::model::{Session, User, UserId};

use super::{UiError, UiRoutes};
use crate::accounts::PasswordError;
use crate::session::{cookie_hash, sha256_hex};
use crate::state::AppState;

/// The store's fixed throttling window.
const WINDOW_SECS: i64 = 15 * 60;
pub const MIN_PASSWORD_CHARS: usize = 8;
/// argon2 hashes whatever it is given; a bound keeps that cheap.
const MAX_PASSWORD_BYTES: usize = 1024;
const MAX_NAME_CHARS: usize = 200;

pub fn routes() -> UiRoutes {
    UiRoutes::new()
        .visitor_route("/login", get(sign_in::page).post(sign_in::sign_in))
        .route("/logout", post(sign_in::sign_out))
        .visitor_route("/reset", get(reset::page).post(reset::request))
        .visitor_route("/reset/{token}", get(reset::form).post(reset::set_password))
        .visitor_route(
            "/accept/{token}",
            get(invitations::page).post(invitations::accept),
        )
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
pub async fn hash(state: &AppState, password: String) -> Result<String, UiError> {
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
pub fn password_failure(state: &AppState, e: PasswordError) -> UiError {
    UiError::password(e, state.passwords.retry_after_secs())
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

/// Reset and invitation tokens: 32 random bytes as hex.
fn well_formed(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
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
