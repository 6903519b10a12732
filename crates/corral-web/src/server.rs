//! Building the application and serving it until SIGTERM.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use corral_core::config::Config;
use corral_jobs::JobQueue;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::ingest::quota_redis::RedisQuotas;
use crate::state::AppState;
use crate::{api, health, ingest, telemetry, ui};

/// The whole web application.
pub fn router(state: AppState) -> Router {
    let health = health::routes(state.readiness.clone(), state.metrics.clone());
    Router::new()
        .merge(ingest::routes(&state.config.tunnel_path))
        .merge(api::routes())
        .merge(ui::routes())
        // ingest reads bodies itself, within its own limits
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
        .merge(health)
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(60),
        ))
        .layer(CatchPanicLayer::new())
        .layer(TraceLayer::new_for_http())
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown signal received");
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops
/// accepting and lets in-flight requests finish.
pub async fn serve<F>(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: F,
) -> std::io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// `corral-web`: ingest and API of the cluster shape, on PostgreSQL and Redis.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let database_url = config.require_database_url()?.to_string();
    let redis_url = config.require_redis_url()?.to_string();
    let store = corral_store::open_store(&database_url, config.database.max_connections)
        .await
        .context("opening the database")?;
    let queue = JobQueue::redis(&redis_url, &config.queue)
        .await
        .context("connecting to Redis")?;
    let quotas = Arc::new(RedisQuotas::new(&redis_url, &config.queue.name)?);
    let state = AppState::new(
        store,
        queue,
        quotas,
        config.clone(),
        Some(telemetry::metrics_handle()),
    );
    let _backlog = state.spawn_backlog_monitor(Duration::from_secs(1));
    let bind = config
        .bind
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 8000)));
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding {bind}"))?;
    tracing::info!(address = %listener.local_addr()?, "corral-web listening");
    serve(listener, router(state), shutdown_signal()).await?;
    tracing::info!("corral-web stopped");
    Ok(())
}
