//! Probes and metrics, served by every binary: `/healthz` (the process is
//! alive), `/readyz` (database and queue reachable, schema current) and
//! `/metrics` (Prometheus text).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use corral_core::SharedStore;
use corral_jobs::JobQueue;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;

/// What `/readyz` checks.
#[derive(Clone)]
pub struct Readiness {
    store: SharedStore,
    queue: Option<JobQueue>,
    /// Once the schema was seen current it stays so (migrations only add).
    schema_current: Arc<AtomicBool>,
}

impl Readiness {
    pub fn new(store: SharedStore, queue: Option<JobQueue>) -> Readiness {
        Readiness {
            store,
            queue,
            schema_current: Arc::new(AtomicBool::new(false)),
        }
    }

    /// `Ok` when this process can do its work; else the reason.
    pub async fn check(&self) -> Result<(), String> {
        let timeout = Duration::from_secs(3);
        tokio::time::timeout(timeout, self.store.ping())
            .await
            .map_err(|_| "database: timed out".to_string())?
            .map_err(|e| format!("database: {e}"))?;
        if !self.schema_current.load(Ordering::Relaxed) {
            let status = tokio::time::timeout(timeout, self.store.schema_status())
                .await
                .map_err(|_| "database: timed out".to_string())?
                .map_err(|e| format!("database: {e}"))?;
            if !status.is_current() {
                return Err(format!(
                    "database schema is not current (applied {:?}, this build needs {:?}); beat runs the migrations",
                    status.applied.last(),
                    status.expected.last()
                ));
            }
            self.schema_current.store(true, Ordering::Relaxed);
        }
        if let Some(queue) = &self.queue {
            tokio::time::timeout(timeout, queue.ping())
                .await
                .map_err(|_| "queue: timed out".to_string())?
                .map_err(|e| format!("queue: {e}"))?;
        }
        Ok(())
    }
}

#[derive(Clone)]
struct HealthState {
    readiness: Readiness,
    metrics: Option<PrometheusHandle>,
}

/// The probe and metrics routes, for any binary.
pub fn routes<S>(readiness: Readiness, metrics: Option<PrometheusHandle>) -> Router<S> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(HealthState { readiness, metrics })
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(s): State<HealthState>) -> Response {
    match s.readiness.check().await {
        Ok(()) => Json(json!({ "status": "ready" })).into_response(),
        Err(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "not ready", "detail": reason })),
        )
            .into_response(),
    }
}

async fn metrics_text(State(s): State<HealthState>) -> Response {
    match &s.metrics {
        Some(handle) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            handle.render(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "metrics are disabled").into_response(),
    }
}
