//! Browser sessions: a random cookie whose SHA-256 the store keeps, a CSRF
//! token per session (checked on every form by the UI's `CsrfForm`), and the
//! `SignedIn` extractor.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use chrono::{Duration, Utc};
use corral_core::StoreError;
use corral_core::model::{Session, UserId};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::access::Access;
use crate::state::AppState;
use crate::ui::UiError;

pub const SESSION_COOKIE: &str = "corral_session";
/// A session ends after this long without use.
pub const SESSION_LIFETIME: Duration = Duration::days(14);
/// Sessions are extended at most this often (one write per day of use).
const EXTEND_AFTER: Duration = Duration::days(1);

/// 32 random bytes as hex.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

pub fn sha256_hex(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether cookies must be `Secure` (the public URL is https).
pub(crate) fn secure(state: &AppState) -> bool {
    state
        .config
        .base_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"))
}

/// Starts a session for `user_id`; returns the cookie to set.
pub async fn start(state: &AppState, user_id: UserId) -> Result<Cookie<'static>, StoreError> {
    let secret = random_token();
    state
        .store
        .create_session(
            &sha256_hex(&secret),
            user_id,
            &random_token(),
            Utc::now() + SESSION_LIFETIME,
        )
        .await?;
    Ok(session_cookie(secret, secure(state)))
}

fn session_cookie(value: String, secure: bool) -> Cookie<'static> {
    // no Max-Age: the browser forgets it when it closes, the server after
    // SESSION_LIFETIME without use
    let mut c = Cookie::new(SESSION_COOKIE, value);
    c.set_http_only(true);
    c.set_same_site(SameSite::Lax);
    c.set_path("/");
    c.set_secure(secure);
    c
}

/// A cookie that removes the session cookie.
pub fn removal_cookie() -> Cookie<'static> {
    let mut c = Cookie::from(SESSION_COOKIE);
    c.set_path("/");
    c.make_removal();
    c
}

/// The SHA-256 of the request's session cookie, if it has one.
pub fn cookie_hash(jar: &CookieJar) -> Option<String> {
    jar.get(SESSION_COOKIE)
        .map(|c| c.value())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(sha256_hex)
}

/// A signed-in user with their access, for pages.
pub struct SignedIn {
    pub access: Access,
    pub session: Session,
    /// The SHA-256 of the session cookie (to end this session).
    pub session_hash: String,
}

impl SignedIn {
    pub fn csrf_token(&self) -> &str {
        &self.session.csrf_token
    }
}

/// The session's CSRF token, left in the request's extensions by
/// [`SignedIn`] for the form extractor that runs after it
/// ([`CsrfForm`](crate::ui::CsrfForm)).
#[derive(Clone, Debug)]
pub(crate) struct SessionCsrf(pub String);

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Where a signed-out visitor goes: the login page, then back.
fn to_login(parts: &Parts) -> Response {
    let next = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let next: String = form_urlencoded_component(next);
    Redirect::to(&format!("/login?next={next}")).into_response()
}

fn form_urlencoded_component(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let jar = CookieJar::from_headers(&parts.headers);
        let Some(hash) = cookie_hash(&jar) else {
            return Err(to_login(parts));
        };
        let now = Utc::now();
        let (session, user) = match state.store.session_by_hash(&hash, now).await {
            Ok(found) => found,
            Err(StoreError::NotFound(_)) => return Err(to_login(parts)),
            Err(e) => return Err(UiError::from(e).into_response()),
        };
        if !user.is_active {
            return Err(to_login(parts));
        }
        if session.expires_at - now < SESSION_LIFETIME - EXTEND_AFTER {
            // sliding expiry; failing to extend is not worth failing the page
            if let Err(e) = state
                .store
                .extend_session(&hash, now + SESSION_LIFETIME)
                .await
            {
                tracing::warn!(error = %e, "extending a session failed");
            }
        }
        let access = Access::load(&state.store, user)
            .await
            .map_err(|e| UiError::from(e).into_response())?;
        parts
            .extensions
            .insert(SessionCsrf(session.csrf_token.clone()));
        Ok(SignedIn {
            access,
            session,
            session_hash: hash,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_hashes() {
        let a = random_token();
        assert_eq!(a.len(), 64);
        assert_ne!(a, random_token());
        assert_eq!(sha256_hex("x").len(), 64);
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn the_cookie_is_http_only_and_lax() {
        let c = session_cookie("v".into(), true);
        let text = c.to_string();
        assert!(text.contains("HttpOnly"), "{text}");
        assert!(text.contains("SameSite=Lax"), "{text}");
        assert!(text.contains("Secure"), "{text}");
        assert!(text.contains("Path=/"), "{text}");
        assert!(
            !session_cookie("v".into(), false)
                .to_string()
                .contains("Secure")
        );
    }
}
