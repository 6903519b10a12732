//! API errors: a status and a short `{"detail"}`; never SQL text.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use corral_core::StoreError;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("authentication credentials were not provided or are invalid")]
    Unauthorized,
    #[error("this token lacks the scope {0}")]
    MissingScope(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    #[error("service unavailable")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiError::NotFound(what),
            StoreError::Conflict(what) => ApiError::Conflict(format!("{what} already exists")),
            StoreError::Invalid { field, reason } => {
                ApiError::BadRequest(format!("invalid {field}: {reason}"))
            }
            e @ StoreError::Database(_) => ApiError::Unavailable(e.to_string()),
            e @ StoreError::Schema(_) => ApiError::Internal(e.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::MissingScope(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        match &self {
            ApiError::Internal(detail) | ApiError::Unavailable(detail) => {
                tracing::error!(error = %detail, "api request failed")
            }
            e => tracing::debug!(error = %e, "api request refused"),
        }
        (status, Json(json!({ "detail": self.to_string() }))).into_response()
    }
}
