//! API errors: a status and a short `{"detail"}`; never SQL text.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use corral_core::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

use crate::access::Denied;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("authentication credentials were not provided or are invalid")]
    Unauthorized,
    #[error("this token lacks the scope {0}")]
    MissingScope(String),
    /// The caller may see the thing but their role does not allow the change.
    #[error("your role in this organization does not allow this")]
    Forbidden,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the request body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("service unavailable")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

/// What every refusal answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for people.
    pub detail: String,
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiError::NotFound(what),
            StoreError::Conflict(what) => ApiError::Conflict(format!("{what} already exists")),
            StoreError::Invalid { field, reason } => {
                ApiError::BadRequest(format!("invalid {field}: {reason}"))
            }
            // 503 invites a retry: only for what may pass (a lost connection, a busy file)
            e @ StoreError::Database(_) if e.is_transient() => ApiError::Unavailable(e.to_string()),
            e @ StoreError::Database(_) => ApiError::Internal(e.to_string()),
            e @ StoreError::Schema(_) => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<Denied> for ApiError {
    fn from(d: Denied) -> Self {
        match d {
            Denied::NotFound(what) => ApiError::NotFound(what),
            Denied::Forbidden => ApiError::Forbidden,
            Denied::Store(e) => e.into(),
        }
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::MissingScope(_) | ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Internal(detail) | ApiError::Unavailable(detail) => {
                tracing::error!(error = %detail, "api request failed")
            }
            e => tracing::debug!(error = %e, "api request refused"),
        }
        let body = ErrorBody {
            detail: self.to_string(),
        };
        (self.status(), Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use corral_core::DatabaseError;

    use super::*;

    #[test]
    fn only_a_database_failure_that_may_pass_invites_a_retry() {
        let transient = ApiError::from(StoreError::Database(DatabaseError::transient(
            "connection reset",
        )));
        assert_eq!(
            transient.into_response().status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        let permanent = ApiError::from(StoreError::Database(DatabaseError::permanent(
            "value too long for type",
        )));
        assert_eq!(
            permanent.into_response().status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }
}
