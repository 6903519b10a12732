//! Starting without the dependencies: every binary opens its port at once and
//! answers its probes while it connects to PostgreSQL and Redis, retrying
//! with backoff, so an orchestrator sees a live process that is not ready
//! (with the reason) instead of a crash loop; ingest answers 503 with
//! Retry-After meanwhile, and SDKs keep their events and retry.

use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::Request;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::probes::{Starting, starting_routes};

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
/// is cancelled first.
pub async fn connect_with_retry<T, E, F, Fut>(
    what: &str,
    status: &Starting,
    shutdown: &CancellationToken,
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
        if shutdown.is_cancelled() {
            return None;
        }
        status.set(format!("connecting to {what}"));
        let attempt = shutdown.run_until_cancelled(connect()).await?;
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
        shutdown
            .run_until_cancelled(tokio::time::sleep(wait))
            .await?;
        wait = (wait * 2).min(Duration::from_secs(10));
    }
}

/// A probe server that is up before its process connects to anything: the
/// starting routes now, the real ones once [`Swappable::set`] is called.
pub struct Probes {
    pub routes: Swappable,
    pub status: Starting,
    pub server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Probes {
    /// Binds `bind` and serves the starting routes until `shutdown` is
    /// cancelled.
    pub async fn start(
        bind: std::net::SocketAddr,
        name: &str,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<Probes> {
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .with_context(|| format!("binding {bind}"))?;
        tracing::info!(address = %listener.local_addr()?, "{name} health listening");
        let status = Starting::new("connecting to the database");
        let routes = Swappable::new(starting_routes(
            status.clone(),
            Some(crate::telemetry::metrics_handle()),
        ));
        let server = tokio::spawn(crate::serve(
            listener,
            routes.router(),
            shutdown.clone().cancelled_owned(),
        ));
        Ok(Probes {
            routes,
            status,
            server,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn connecting_retries_until_it_succeeds_or_shutdown() {
        let status = Starting::new("starting");
        let shutdown = CancellationToken::new();
        let mut attempts = 0;
        let connected = connect_with_retry("the database", &status, &shutdown, || {
            attempts += 1;
            let attempt = attempts;
            async move {
                if attempt < 3 {
                    Err("connection refused")
                } else {
                    Ok(attempt)
                }
            }
        })
        .await;
        assert_eq!(connected, Some(3));

        let failing = connect_with_retry("Redis", &status, &shutdown, || async {
            Err::<(), _>("connection refused")
        });
        let cancel = async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            assert_eq!(
                status.reason(),
                "Redis is not reachable: connection refused"
            );
            shutdown.cancel();
        };
        let (gave_up, ()) = tokio::join!(failing, cancel);
        assert_eq!(gave_up, None);
    }
}
