//! Building the application and serving it until SIGTERM.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use corral_core::config::{Config, HttpConfig};
use corral_jobs::JobQueue;
use corral_runtime::{ConnectionLimits, Starting, Swappable, telemetry};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::ingest::quota_redis::RedisQuotas;
use crate::state::AppState;
use crate::{api, ingest, ui};

/// The whole web application.
pub fn router(state: AppState) -> Router {
    let health = corral_runtime::routes(state.readiness.clone(), state.metrics.clone());
    // ingest reads bodies itself, within its own limits and memory budget;
    // the API and the UI read theirs through extractors, bounded here
    let https = state
        .config
        .base_url
        .as_deref()
        .is_some_and(|u| u.to_ascii_lowercase().starts_with("https://"));
    let bounded = Router::new()
        .merge(api::routes())
        .merge(ui::routes())
        .layer(DefaultBodyLimit::max(state.config.http.max_body_bytes))
        .layer(axum::middleware::from_fn(bounded_query))
        .layer(axum::middleware::map_response(no_store));
    Router::new()
        .merge(ingest::routes(&state.config.tunnel_path))
        .merge(bounded)
        .with_state(state)
        .layer(axum::middleware::map_response(move |r| hsts(https, r)))
        .merge(health)
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(60),
        ))
        .layer(CatchPanicLayer::new())
        .layer(TraceLayer::new_for_http())
}

/// The longest query string the API and the UI read: lists echo it into
/// their paging links, twice, and clients refuse header lines that long.
const MAX_QUERY_BYTES: usize = 8 * 1024;

async fn bounded_query(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if request
        .uri()
        .query()
        .is_some_and(|q| q.len() > MAX_QUERY_BYTES)
    {
        let detail = format!("the query string is longer than {MAX_QUERY_BYTES} bytes");
        return (
            axum::http::StatusCode::URI_TOO_LONG,
            axum::Json(serde_json::json!({ "detail": detail })),
        )
            .into_response();
    }
    next.run(request).await
}

/// Pages and API answers carry what one user may see: no cache keeps them
/// (static assets set their own caching).
async fn no_store(mut response: axum::response::Response) -> axum::response::Response {
    response
        .headers_mut()
        .entry(axum::http::header::CACHE_CONTROL)
        .or_insert(axum::http::HeaderValue::from_static("no-store"));
    response
}

/// With an https base URL, browsers are told to use nothing else.
async fn hsts(https: bool, mut response: axum::response::Response) -> axum::response::Response {
    if https {
        response.headers_mut().insert(
            axum::http::header::STRICT_TRANSPORT_SECURITY,
            axum::http::HeaderValue::from_static("max-age=31536000"),
        );
    }
    response
}

/// The web server's connection limits, from `http.*`.
pub fn connection_limits(http: &HttpConfig) -> ConnectionLimits {
    ConnectionLimits {
        header_read_timeout: Duration::from_secs(http.header_read_timeout_secs),
        max_connections: http.max_connections,
        max_connections_per_address: http.max_connections_per_address,
    }
}

/// `corral-web`: ingest and API of the cluster shape, on PostgreSQL and Redis.
///
/// The port opens at once; until PostgreSQL and Redis are reached (retried
/// with backoff) `/readyz` says which is missing and ingest answers 503 with
/// Retry-After.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let database_url = config.require_database_url()?.to_string();
    let redis_url = config.require_redis_url()?.to_string();
    let bind = config
        .bind
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 8000)));
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding {bind}"))?;
    tracing::info!(address = %listener.local_addr()?, "corral-web listening");
    let shutdown = corral_runtime::shutdown_token();
    let status = Starting::new("connecting to the database");
    let app = Swappable::new(corral_runtime::starting_routes(
        status.clone(),
        Some(telemetry::metrics_handle()),
    ));
    let server = tokio::spawn(corral_runtime::serve_with(
        listener,
        app.router(),
        shutdown.clone().cancelled_owned(),
        connection_limits(&config.http),
    ));

    let max_connections = config.database.max_connections;
    let store = corral_runtime::connect_with_retry("the database", &status, &shutdown, || {
        corral_store::open_store(&database_url, max_connections)
    })
    .await;
    let queue = match store {
        Some(_) => {
            corral_runtime::connect_with_retry("Redis", &status, &shutdown, || {
                JobQueue::redis(&redis_url, &config.queue)
            })
            .await
        }
        None => None,
    };
    if let (Some(store), Some(queue)) = (store, queue) {
        let quotas = Arc::new(RedisQuotas::new(&redis_url, &config.queue.name)?);
        let state = AppState::new(
            store,
            queue,
            quotas,
            config.clone(),
            Some(telemetry::metrics_handle()),
        );
        let _backlog = state.spawn_backlog_monitor(Duration::from_secs(1));
        app.set(router(state));
        tracing::info!("corral-web ready to serve");
    }
    server.await??;
    tracing::info!("corral-web stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Probe servers use `ConnectionLimits::default()`; it is meant to be
    /// the `http.*` defaults.
    #[test]
    fn the_default_limits_are_those_of_the_configuration() {
        assert_eq!(
            connection_limits(&HttpConfig::default()),
            ConnectionLimits::default()
        );
    }
}
