//! Why a page could not be shown, as the error page with its status. Handlers
//! return `Result<Response, UiError>` and propagate store failures, access
//! refusals and rendering failures with `?`; the page and its log line are
//! decided here, once.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use corral_core::StoreError;

use super::assets::STYLESHEET_URL;
use crate::access::Denied;
use crate::accounts::PasswordError;

/// What the page says when a role does not allow an action.
const ROLE_TOO_LOW: &str = "your role in this organization does not allow this";

/// A page that could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// 404: the thing does not exist, or the user may not know it does.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// 403, with the reason shown.
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// 400, with what was wrong with the request.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 404 for a reset or invitation link that is unknown, used or expired.
    #[error("invalid {0} link")]
    InvalidLink(&'static str),
    /// 503 with `Retry-After`: every password hasher stayed busy.
    #[error("every password hasher is busy")]
    PasswordsBusy { retry_after_secs: u64 },
    /// 500: hashing or checking a password failed.
    #[error(transparent)]
    Password(PasswordError),
    /// The store's failure: 404 for a missing record, 503 when the database
    /// is unreachable, 500 otherwise.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// 500: something that cannot happen did.
    #[error("{0}")]
    Internal(&'static str),
    /// 500: a template failed to render.
    #[error("rendering a page failed: {0}")]
    Render(#[from] askama::Error),
}

impl UiError {
    /// A password failure; `retry_after_secs` is how long a client should
    /// wait when the hashers are busy.
    pub fn password(e: PasswordError, retry_after_secs: u64) -> UiError {
        match e {
            PasswordError::Busy => UiError::PasswordsBusy { retry_after_secs },
            e => UiError::Password(e),
        }
    }
}

impl From<Denied> for UiError {
    fn from(d: Denied) -> UiError {
        match d {
            Denied::NotFound(what) => UiError::NotFound(what),
            Denied::Forbidden => UiError::Forbidden(ROLE_TOO_LOW),
            Denied::Store(e) => UiError::Store(e),
        }
    }
}

/// For `map_err`: a store lookup whose "not found" names what the page
/// looked for (`team`, not the store's `team` or `project`).
pub fn missing(what: &'static str) -> impl FnOnce(StoreError) -> UiError {
    move |e| match e {
        StoreError::NotFound(_) => UiError::NotFound(what),
        e => UiError::Store(e),
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let page = |status: StatusCode, message: &str| (status, error_page(status, message));
        match self {
            UiError::NotFound(what) | UiError::Store(StoreError::NotFound(what)) => {
                page(StatusCode::NOT_FOUND, &format!("{what} not found")).into_response()
            }
            UiError::Forbidden(reason) => page(StatusCode::FORBIDDEN, reason).into_response(),
            UiError::BadRequest(message) => page(StatusCode::BAD_REQUEST, &message).into_response(),
            UiError::InvalidLink(what) => page(
                StatusCode::NOT_FOUND,
                &format!("this {what} link is not valid: it may have been used or have expired"),
            )
            .into_response(),
            UiError::PasswordsBusy { retry_after_secs } => {
                tracing::debug!("password hashers busy");
                (
                    [(header::RETRY_AFTER, HeaderValue::from(retry_after_secs))],
                    page(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "too many passwords are being checked right now; try again in a moment",
                    ),
                )
                    .into_response()
            }
            UiError::Password(e) => {
                tracing::error!(error = %e, "hashing a password failed");
                internal_error()
            }
            UiError::Store(e) if e.is_transient() => {
                tracing::error!(error = %e, "database unavailable");
                page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the database is unavailable; try again shortly",
                )
                .into_response()
            }
            UiError::Store(e) => {
                tracing::error!(error = %e, "store failure");
                internal_error()
            }
            UiError::Internal(what) => {
                tracing::error!(error = what, "internal error");
                internal_error()
            }
            UiError::Render(e) => {
                tracing::error!(error = %e, "rendering a page failed");
                page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the page could not be shown",
                )
                .into_response()
            }
        }
    }
}

fn internal_error() -> Response {
    let status = StatusCode::INTERNAL_SERVER_ERROR;
    (status, error_page(status, "something went wrong")).into_response()
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    reason: &'a str,
    message: &'a str,
    stylesheet: &'static str,
}

/// A plain page for an error status.
pub fn error_page(status: StatusCode, message: &str) -> Html<String> {
    let page = ErrorPage {
        status: status.as_u16(),
        reason: status.canonical_reason().unwrap_or("Error"),
        message,
        stylesheet: STYLESHEET_URL.as_str(),
    };
    Html(page.render().unwrap_or_else(|_| message.to_string()))
}

/// A template as a page.
pub fn render<T: Template>(page: &T) -> Result<Response, UiError> {
    Ok(Html(page.render()?).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn error_pages_escape_their_message() {
        let html = error_page(StatusCode::NOT_FOUND, "<script>x</script> not found").0;
        assert!(html.contains("404 Not Found"));
        assert!(!html.contains("<script>x"), "{html}");
    }

    #[tokio::test]
    async fn each_error_has_its_status_and_message() {
        let cases = [
            (UiError::NotFound("team"), 404, "team not found"),
            (
                UiError::Store(StoreError::NotFound("issue")),
                404,
                "issue not found",
            ),
            (Denied::Forbidden.into(), 403, ROLE_TOO_LOW),
            (Denied::NotFound("project").into(), 404, "project not found"),
            (
                UiError::Store(StoreError::Database("down".into())),
                503,
                "the database is unavailable",
            ),
            (
                UiError::Store(StoreError::Schema("old".into())),
                500,
                "something went wrong",
            ),
            (
                UiError::InvalidLink("reset"),
                404,
                "this reset link is not valid",
            ),
            (
                UiError::BadRequest("invalid cursor".into()),
                400,
                "invalid cursor",
            ),
        ];
        for (error, status, message) in cases {
            let response = error.into_response();
            assert_eq!(response.status().as_u16(), status, "{message}");
            let html = body(response).await;
            assert!(html.contains(message), "{message}: {html}");
        }
        let busy = UiError::password(PasswordError::Busy, 3).into_response();
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(busy.headers()[header::RETRY_AFTER], "3");
    }
}
