//! The extractors of the UI's forms. Every state-changing route reads its
//! form through one of them, so the checks against forged requests run
//! before the handler does and a new form cannot leave them out:
//!
//! - [`CsrfForm`]: a signed-in user's form, with the session's CSRF token
//!   (and, when the browser sends one, an Origin of this site);
//! - [`VisitorForm`]: a form of visitors without a session (signing in,
//!   resets, invitations), which cannot carry a token: refused when the
//!   browser says it comes from another site or from an opaque origin;
//! - [`VisitorPost`]: the same check for a visitor's POST whose body does
//!   not matter (unsubscribing, where the link's token is the credential).
//!
//! Either answers 403 with the error page when a check fails; a body that is
//! not a form is refused as axum's `Form` refuses it (415, 413, 422).

use axum::extract::{FromRequest, FromRequestParts, RawForm, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::UiError;
use crate::session::{SessionCsrf, SignedIn, constant_time_eq, secure};
use crate::state::AppState;

const EXPIRED: &str =
    "the form expired or did not come from this site; reload the page and try again";
const CROSS_SITE: &str = "the form was sent from another site";

/// A form whose only field is the CSRF token (buttons that do one thing).
#[derive(Debug, Default, Deserialize)]
pub struct NoFields {}

/// A signed-in user's form, once its CSRF token matched the session's and
/// its Origin (if any) is this site. Visitors without a session are sent to
/// sign in, as by [`SignedIn`].
#[derive(Debug)]
pub struct CsrfForm<T = NoFields>(pub T);

/// A visitor's form, once its Origin (if any) is this site.
#[derive(Debug)]
pub struct VisitorForm<T>(pub T);

/// A visitor's POST whose body says nothing the handler needs, once its
/// Origin (if any) is this site: the body is not read, so it may come in
/// any encoding (RFC 8058's one-click unsubscribe arrives as
/// `multipart/form-data` or as a urlencoded form, from mail providers that
/// send no Origin).
#[derive(Debug)]
pub struct VisitorPost;

impl<T: DeserializeOwned> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        // `SignedIn` leaves the token when the handler takes it too, which
        // saves looking the session up twice
        let expected = match parts.extensions.get::<SessionCsrf>() {
            Some(SessionCsrf(token)) => token.clone(),
            None => {
                SignedIn::from_request_parts(&mut parts, state)
                    .await?
                    .session
                    .csrf_token
            }
        };
        let origin = check_origin(state, &parts.headers);
        let bytes = form_bytes(Request::from_parts(parts, body), state).await?;
        let Token { csrf_token } = serde_html_form::from_bytes(&bytes).unwrap_or_default();
        check_token(&expected, &csrf_token)
            .and(origin)
            .map_err(IntoResponse::into_response)?;
        deserialize(&bytes).map(CsrfForm)
    }
}

impl<T: DeserializeOwned> FromRequest<AppState> for VisitorForm<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let origin = check_visitor_origin(state, request.headers());
        let bytes = form_bytes(request, state).await?;
        origin.map_err(IntoResponse::into_response)?;
        deserialize(&bytes).map(VisitorForm)
    }
}

impl FromRequestParts<AppState> for VisitorPost {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        check_visitor_origin(state, &parts.headers).map_err(IntoResponse::into_response)?;
        Ok(VisitorPost)
    }
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Token {
    csrf_token: String,
}

async fn form_bytes(request: Request, state: &AppState) -> Result<bytes::Bytes, Response> {
    RawForm::from_request(request, state)
        .await
        .map(|RawForm(bytes)| bytes)
        .map_err(IntoResponse::into_response)
}

fn deserialize<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Response> {
    serde_html_form::from_bytes(bytes).map_err(|e| {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("Failed to deserialize form body: {e}"),
        )
            .into_response()
    })
}

/// A form's CSRF token against its session's: 403 when they differ.
pub fn check_token(expected: &str, given: &str) -> Result<(), UiError> {
    if constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        Ok(())
    } else {
        Err(UiError::Forbidden(EXPIRED))
    }
}

/// Refuses (403) a request whose Origin header names another site. A
/// signed-in form from an opaque origin (`Origin: null`) still needs the
/// session's token, so it is let through to that check.
fn check_origin(state: &AppState, headers: &HeaderMap) -> Result<(), UiError> {
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok())
        && origin != "null"
        && !same_origin(state, headers, origin)
    {
        return Err(UiError::Forbidden(CROSS_SITE));
    }
    Ok(())
}

/// Cross-site forms are refused; so are forms from an opaque origin
/// (`Origin: null`, e.g. a sandboxed frame), which could otherwise sign a
/// victim into an attacker's account.
fn check_visitor_origin(state: &AppState, headers: &HeaderMap) -> Result<(), UiError> {
    if headers
        .get(header::ORIGIN)
        .is_some_and(|o| o.as_bytes() == b"null")
    {
        return Err(UiError::Forbidden(CROSS_SITE));
    }
    check_origin(state, headers)
}

fn same_origin(state: &AppState, headers: &HeaderMap, origin: &str) -> bool {
    let expected = match &state.config.base_url {
        Some(base) => base.trim_end_matches('/').to_string(),
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("");
            let scheme = if secure(state) { "https" } else { "http" };
            format!("{scheme}://{host}")
        }
    };
    // the origin is scheme://host[:port], the base URL may carry a path
    expected == origin || expected.starts_with(&format!("{origin}/"))
}
