//! Probes and metrics, served by every binary: `/healthz` (the process is
//! alive), `/readyz` (what it depends on is usable, or why not) and
//! `/metrics` (Prometheus text); first the starting routes, which answer
//! while the process connects, then [`routes`].

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;

type CheckFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;
type Check = Arc<dyn Fn() -> CheckFuture + Send + Sync>;

/// How long one dependency may take to answer `/readyz`.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// What `/readyz` checks: the dependencies a binary names, in order. The
/// checks come from the crates that know the dependency (the store's from
/// `corral-core`, the queue's from `corral-jobs`), so this crate depends on
/// none of them.
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Arc<Vec<(&'static str, Check)>>,
}

impl Readiness {
    pub fn new() -> Readiness {
        Readiness::default()
    }

    /// Adds a dependency: `check(target)` is `Ok` when it is usable, else
    /// the reason, which `/readyz` shows. A check that takes more than 3 s
    /// fails as `"<name>: timed out"`.
    pub fn require<T, F, Fut>(mut self, name: &'static str, target: T, check: F) -> Readiness
    where
        T: Clone + Send + Sync + 'static,
        F: Fn(T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let check: Check = Arc::new(move || Box::pin(check(target.clone())));
        Arc::make_mut(&mut self.checks).push((name, check));
        self
    }

    /// `Ok` when this process can do its work; else the first reason.
    pub async fn check(&self) -> Result<(), String> {
        for (name, check) in self.checks.iter() {
            tokio::time::timeout(CHECK_TIMEOUT, check())
                .await
                .map_err(|_| format!("{name}: timed out"))??;
        }
        Ok(())
    }
}

#[derive(Clone)]
struct ProbeState {
    readiness: Readiness,
    metrics: Option<PrometheusHandle>,
}

/// The probe and metrics routes of a connected process.
pub fn routes<S>(readiness: Readiness, metrics: Option<PrometheusHandle>) -> Router<S> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(ProbeState { readiness, metrics })
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(s): State<ProbeState>) -> Response {
    match s.readiness.check().await {
        Ok(()) => Json(json!({ "status": "ready" })).into_response(),
        Err(reason) => not_ready(reason),
    }
}

fn not_ready(reason: String) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "status": "not ready", "detail": reason })),
    )
        .into_response()
}

async fn metrics_text(State(s): State<ProbeState>) -> Response {
    render_metrics(s.metrics.as_ref())
}

fn render_metrics(metrics: Option<&PrometheusHandle>) -> Response {
    match metrics {
        Some(handle) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            handle.render(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "metrics are disabled").into_response(),
    }
}

/// Why a starting process is not ready yet, for `/readyz`.
#[derive(Clone, Debug)]
pub struct Starting(Arc<RwLock<String>>);

impl Starting {
    pub fn new(reason: impl Into<String>) -> Starting {
        Starting(Arc::new(RwLock::new(reason.into())))
    }

    pub fn set(&self, reason: impl Into<String>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = reason.into();
    }

    pub fn reason(&self) -> String {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// What a process serves until it is connected: `/healthz` (alive),
/// `/readyz` (503 with the reason), `/metrics`, and 503 with Retry-After for
/// everything else.
pub fn starting_routes(status: Starting, metrics: Option<PrometheusHandle>) -> Router {
    let ready_status = status.clone();
    let fallback_status = status;
    Router::new()
        .route("/healthz", get(healthz))
        .route(
            "/readyz",
            get(move || {
                let reason = ready_status.reason();
                async move { not_ready(reason) }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let response = render_metrics(metrics.as_ref());
                async move { response }
            }),
        )
        .fallback(move || {
            let reason = fallback_status.reason();
            async move {
                let detail = format!("starting, retry later: {reason}");
                let mut response = (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(json!({ "detail": detail })),
                )
                    .into_response();
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from(5u64));
                response
            }
        })
}

#[cfg(test)]
mod tests {
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    async fn get(app: Router, path: &str) -> (StatusCode, serde_json::Value) {
        let response = app
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, serde_json::from_slice(&body).unwrap_or_default())
    }

    #[tokio::test]
    async fn readyz_names_the_first_dependency_that_is_not_usable() {
        let ready = Readiness::new().require("database", (), |()| async { Ok(()) });
        let (status, body) = get(routes(ready.clone(), None), "/readyz").await;
        assert_eq!((status, &body["status"]), (StatusCode::OK, &json!("ready")));

        let down = ready
            .clone()
            .require("queue", "refused", |why| async move {
                Err(format!("queue: {why}"))
            })
            .require("never asked", (), |()| async { Err("second".to_string()) });
        let (status, body) = get(routes(down, None), "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["detail"], "queue: refused");

        let (status, body) = get(routes(ready, None), "/healthz").await;
        assert_eq!((status, &body["status"]), (StatusCode::OK, &json!("ok")));
    }

    #[tokio::test(start_paused = true)]
    async fn a_check_that_does_not_answer_times_out() {
        let stuck = Readiness::new().require("database", (), |()| async {
            std::future::pending::<Result<(), String>>().await
        });
        assert_eq!(stuck.check().await.unwrap_err(), "database: timed out");
    }

    #[tokio::test]
    async fn a_starting_process_says_why_it_is_not_ready() {
        let status = Starting::new("connecting to the database");
        let app = starting_routes(status.clone(), None);
        let (code, body) = get(app.clone(), "/readyz").await;
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["detail"], "connecting to the database");
        status.set("Redis is not reachable");
        let response = app
            .oneshot(
                Request::post("/api/1/envelope/")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
        let body = to_bytes(response.into_body(), 1 << 20).await.unwrap();
        assert!(
            String::from_utf8_lossy(&body).contains("Redis is not reachable"),
            "{body:?}"
        );
    }
}
