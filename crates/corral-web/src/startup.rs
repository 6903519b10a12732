//! Starting without the dependencies: every binary opens its port at once and
//! answers its probes while it connects to PostgreSQL and Redis, retrying
//! with backoff, so an orchestrator sees a live process that is not ready
//! (with the reason) instead of a crash loop; ingest answers 503 with
//! Retry-After meanwhile, and SDKs keep their events and retry.

use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;
use tokio::sync::watch;
use tower::ServiceExt;

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
        .route(
            "/healthz",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .route(
            "/readyz",
            get(move || {
                let reason = ready_status.reason();
                async move {
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        Json(json!({ "status": "not ready", "detail": reason })),
                    )
                }
            }),
        )
        .route(
            "/metrics",
            get(move || {
                let text = metrics.as_ref().map(PrometheusHandle::render);
                async move {
                    match text {
                        Some(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
                            .into_response(),
                        None => (StatusCode::NOT_FOUND, "metrics are disabled").into_response(),
                    }
                }
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

/// A router that can be replaced while it is being served: the starting
/// routes first, the application once it is connected. Each request goes to
/// the router in place when it arrives, on old connections too.
#[derive(Clone)]
pub struct Swappable(Arc<RwLock<Router>>);

impl Swappable {
    pub fn new(first: Router) -> Swappable {
        Swappable(Arc::new(RwLock::new(first)))
    }

    pub fn set(&self, next: Router) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = next;
    }

    /// The router to serve: it forwards each request to the one in place.
    pub fn router(&self) -> Router {
        let slot = self.0.clone();
        Router::new().fallback_service(tower::service_fn(move |request: Request| {
            let current = slot.read().unwrap_or_else(|e| e.into_inner()).clone();
            async move { current.oneshot(request).await }
        }))
    }
}

/// Calls `connect` until it succeeds, waiting longer after each failure (up
/// to 10 s) and writing the failure into `status`; `None` when `shutdown`
/// turns true first.
pub async fn connect_with_retry<T, E, F, Fut>(
    what: &str,
    status: &Starting,
    shutdown: &mut watch::Receiver<bool>,
    mut connect: F,
) -> Option<T>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut wait = Duration::from_millis(250);
    let mut logged = false;
    loop {
        if *shutdown.borrow() {
            return None;
        }
        status.set(format!("connecting to {what}"));
        let attempt = tokio::select! {
            result = connect() => result,
            _ = shutdown.wait_for(|s| *s) => return None,
        };
        match attempt {
            Ok(value) => {
                if logged {
                    tracing::info!(dependency = what, "connected");
                }
                return Some(value);
            }
            Err(e) => {
                let reason = format!("{what} is not reachable: {e:#}");
                if !logged {
                    tracing::warn!(dependency = what, error = %format!("{e:#}"), "not reachable yet, retrying");
                    logged = true;
                } else {
                    tracing::debug!(dependency = what, error = %format!("{e:#}"), "still not reachable");
                }
                status.set(reason);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.wait_for(|s| *s) => return None,
        }
        wait = (wait * 2).min(Duration::from_secs(10));
    }
}

/// A shutdown flag set by SIGTERM or Ctrl-C.
pub fn shutdown_flag() -> (watch::Sender<bool>, watch::Receiver<bool>) {
    let (tx, rx) = watch::channel(false);
    let signal_tx = tx.clone();
    tokio::spawn(async move {
        crate::shutdown_signal().await;
        let _ = signal_tx.send(true);
    });
    (tx, rx)
}

/// Resolves once `flag` turns true.
pub async fn when_set(mut flag: watch::Receiver<bool>) {
    let _ = flag.wait_for(|s| *s).await;
}

/// A probe server that is up before its process connects to anything: the
/// starting routes now, the real ones once [`Swappable::set`] is called.
pub struct Probes {
    pub routes: Swappable,
    pub status: Starting,
    pub server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Probes {
    /// Binds `bind` and serves the starting routes until `shutdown` is set.
    pub async fn start(
        bind: std::net::SocketAddr,
        name: &str,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<Probes> {
        use anyhow::Context;
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .with_context(|| format!("binding {bind}"))?;
        tracing::info!(address = %listener.local_addr()?, "{name} health listening");
        let status = Starting::new("connecting to the database");
        let routes = Swappable::new(starting_routes(
            status.clone(),
            Some(crate::telemetry::metrics_handle()),
        ));
        let server = tokio::spawn(crate::serve(listener, routes.router(), when_set(shutdown)));
        Ok(Probes {
            routes,
            status,
            server,
        })
    }
}
