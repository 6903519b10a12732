//! `corral-worker` of the cluster shape: digests the jobs ingest put in Redis
//! into PostgreSQL, with bounded concurrency and graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use corral_core::config::Config;
use corral_core::{SharedStore, StoreReadiness};
use corral_jobs::{DigestWorker, JobQueue};
use corral_runtime::{CancellationToken, Probes, Readiness, connect_with_retry, telemetry};

/// Waits until the schema this build needs is in place (beat migrates);
/// `false` when `shutdown` is cancelled first.
pub async fn wait_for_schema(store: &SharedStore, shutdown: &CancellationToken) -> bool {
    let mut logged = false;
    loop {
        match store.schema_status().await {
            Ok(s) if s.is_current() => return true,
            Ok(_) if !logged => {
                tracing::info!("waiting for beat to migrate the database");
                logged = true;
            }
            Err(e) => tracing::warn!(error = %e, "reading the schema version failed"),
            Ok(_) => {}
        }
        let waited = shutdown
            .run_until_cancelled(tokio::time::sleep(Duration::from_secs(2)))
            .await;
        if waited.is_none() {
            return false;
        }
    }
}

/// What `/readyz` of the worker checks: the database, then the queue.
fn readiness(store: SharedStore, queue: JobQueue) -> Readiness {
    Readiness::new()
        .require("database", StoreReadiness::new(store), |db| async move {
            db.check().await
        })
        .require("queue", queue, |queue| async move {
            queue.ping().await.map_err(|e| format!("queue: {e}"))
        })
}

pub async fn run(config: Config) -> anyhow::Result<()> {
    let database_url = config.require_database_url()?.to_string();
    let redis_url = config.require_redis_url()?.to_string();

    // the probe port first: a worker whose database or Redis is not there
    // yet is alive and not ready (with the reason), not a crash loop
    let bind = config
        .bind
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 8001)));
    let shutdown = corral_runtime::shutdown_token();
    let Probes {
        routes: probes,
        status,
        server: health,
    } = Probes::start(bind, "corral-worker", &shutdown).await?;
    let max_connections = config.database.max_connections;
    let Some(store) = connect_with_retry("the database", &status, &shutdown, || {
        corral_store::open_store(&database_url, max_connections)
    })
    .await
    else {
        let _ = health.await;
        return Ok(());
    };
    let Some(queue) = connect_with_retry("Redis", &status, &shutdown, || {
        JobQueue::redis(&redis_url, &config.queue)
    })
    .await
    else {
        let _ = health.await;
        return Ok(());
    };
    probes.set(corral_runtime::routes(
        readiness(store.clone(), queue.clone()),
        Some(telemetry::metrics_handle()),
    ));

    if !wait_for_schema(&store, &shutdown).await {
        let _ = health.await;
        return Ok(());
    }

    // alerts: triggers, window conditions and deliveries, beside the digest
    let sender = corral_alerts::Sender::new(store.clone(), &config)?;
    let alerts = tokio::spawn(
        corral_jobs::AlertRunner::new(store.clone(), Arc::new(sender), &config)
            .run(shutdown.clone()),
    );

    let result = DigestWorker::new(store, queue, &config, "digest")
        .run(shutdown.clone())
        .await;
    // the digest ends only on shutdown; the probes and alerts go with it
    shutdown.cancel();
    let _ = alerts.await;
    let _ = health.await;
    tracing::info!("corral-worker stopped");
    result.map_err(Into::into)
}
