//! Every way an ingest request can be refused, with its status and reason.

use axum::Json;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use corral_core::quota::QuotaScope;
use corral_protocol::{AuthError, DecodeError, EnvelopeError};

/// The categories a quota refusal applies to, for `X-Sentry-Rate-Limits`.
pub const RATE_LIMITED_CATEGORIES: &str = "error;default;transaction;security";

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("invalid project id in the URL")]
    BadProjectId,
    #[error("{0}")]
    Auth(#[from] AuthError),
    #[error("unknown public key")]
    UnknownKey,
    #[error("public key is disabled")]
    DisabledKey,
    #[error("the key does not belong to project {0}")]
    WrongProject(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Decode(#[from] DecodeError),
    #[error("invalid envelope: {0}")]
    Envelope(#[from] EnvelopeError),
    #[error("invalid event: {0}")]
    InvalidEvent(String),
    #[error("invalid request: {0}")]
    Invalid(String),
    #[error("rate limited ({} quota)", scope.as_str())]
    RateLimited {
        scope: QuotaScope,
        retry_after_secs: u64,
    },
    #[error("server busy, retry later")]
    Overloaded { retry_after_secs: u64 },
    #[error("timed out reading the request body")]
    BodyTimeout,
    #[error("event queue unavailable, retry later")]
    QueueUnavailable,
    #[error("no space left to store attachments, retry later")]
    StorageFull,
    #[error("internal error")]
    Internal(String),
}

impl IngestError {
    pub fn status(&self) -> StatusCode {
        match self {
            IngestError::BadProjectId
            | IngestError::Envelope(_)
            | IngestError::InvalidEvent(_)
            | IngestError::Invalid(_) => StatusCode::BAD_REQUEST,
            IngestError::Auth(_) | IngestError::UnknownKey => StatusCode::UNAUTHORIZED,
            IngestError::DisabledKey | IngestError::WrongProject(_) => StatusCode::FORBIDDEN,
            IngestError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            IngestError::Decode(DecodeError::TooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            IngestError::Decode(DecodeError::Unsupported(_)) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            IngestError::Decode(_) => StatusCode::BAD_REQUEST,
            IngestError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            IngestError::Overloaded { .. } | IngestError::QueueUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            IngestError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            IngestError::StorageFull => StatusCode::INSUFFICIENT_STORAGE,
            IngestError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The reason label of `corral_ingest_dropped_total`.
    pub fn drop_reason(&self) -> &'static str {
        match self {
            IngestError::RateLimited { .. } => "quota",
            IngestError::TooLarge(_) | IngestError::Decode(DecodeError::TooLarge { .. }) => "size",
            IngestError::Auth(_)
            | IngestError::UnknownKey
            | IngestError::DisabledKey
            | IngestError::WrongProject(_) => "auth",
            IngestError::Overloaded { .. } | IngestError::QueueUnavailable => "overload",
            IngestError::StorageFull => "storage",
            IngestError::BodyTimeout => "timeout",
            IngestError::Internal(_) => "internal",
            IngestError::BadProjectId
            | IngestError::Decode(_)
            | IngestError::Envelope(_)
            | IngestError::InvalidEvent(_)
            | IngestError::Invalid(_) => "invalid",
        }
    }
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        let status = self.status();
        metrics::counter!("corral_ingest_dropped_total", "reason" => self.drop_reason())
            .increment(1);
        if status.is_server_error() && !matches!(self, IngestError::Overloaded { .. }) {
            tracing::error!(error = %self, detail = ?self, "ingest failed");
        } else {
            tracing::debug!(error = %self, status = status.as_u16(), "ingest refused");
        }
        let detail = self.to_string();
        let mut response = (status, Json(serde_json::json!({ "detail": detail }))).into_response();
        let headers = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&detail) {
            headers.insert(HeaderName::from_static("x-sentry-error"), v);
        }
        match self {
            IngestError::RateLimited {
                scope,
                retry_after_secs,
            } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
                let limits = format!(
                    "{retry_after_secs}:{RATE_LIMITED_CATEGORIES}:{}",
                    scope.as_str()
                );
                if let Ok(v) = HeaderValue::from_str(&limits) {
                    headers.insert(HeaderName::from_static("x-sentry-rate-limits"), v);
                }
            }
            IngestError::Overloaded { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            IngestError::QueueUnavailable => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(5u64));
            }
            IngestError::StorageFull => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(60u64));
            }
            _ => {}
        }
        response
    }
}
