//! `corral-worker` of the cluster shape: digests the jobs ingest put in Redis
//! into PostgreSQL, with bounded concurrency and graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use corral_core::SharedStore;
use corral_core::config::Config;
use corral_jobs::worker::{WorkerSettings, unique_worker_name};
use corral_jobs::{Batcher, JobContext, JobQueue};
use tokio::sync::watch;

/// Waits until the schema this build needs is in place (beat migrates).
pub async fn wait_for_schema(store: &SharedStore, mut shutdown: watch::Receiver<bool>) -> bool {
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
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = shutdown.changed() => {
                if *shutdown.borrow() {
                    return false;
                }
            }
        }
    }
}

/// Removes finished jobs from the queue now and then (apalis keeps them), and
/// moves due retries to the pending list in bounded steps (see
/// [`JobQueue::promote_due`]).
pub fn spawn_queue_vacuum(
    queue: JobQueue,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.changed() => {
                    if *shutdown.borrow() {
                        return;
                    }
                }
            }
            loop {
                match queue.promote_due(1000).await {
                    Ok(n) if n >= 1000 => continue,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "promoting due retries failed");
                        break;
                    }
                }
            }
            // drain in bounded steps so the queue's server is never blocked long
            loop {
                match queue.vacuum(2000).await {
                    Ok(n) if n >= 2000 => continue,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "queue vacuum failed");
                        break;
                    }
                }
            }
        }
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
    let (shutdown_tx, shutdown_rx) = corral_web::startup::shutdown_flag();
    let corral_web::startup::Probes {
        routes: probes,
        status,
        server: health,
    } = corral_web::startup::Probes::start(bind, "corral-worker", shutdown_rx.clone()).await?;
    let mut stopped = shutdown_rx.clone();
    let max_connections = config.database.max_connections;
    let Some(store) =
        corral_web::startup::connect_with_retry("the database", &status, &mut stopped, || {
            corral_store::open_store(&database_url, max_connections)
        })
        .await
    else {
        let _ = health.await;
        return Ok(());
    };
    let Some(queue) =
        corral_web::startup::connect_with_retry("Redis", &status, &mut stopped, || {
            JobQueue::redis(&redis_url, &config.queue)
        })
        .await
    else {
        let _ = health.await;
        return Ok(());
    };
    let readiness = corral_web::health::Readiness::new(store.clone(), Some(queue.clone()));
    probes.set(corral_web::health::routes(
        readiness,
        Some(corral_web::telemetry::metrics_handle()),
    ));

    if !wait_for_schema(&store, shutdown_rx.clone()).await {
        let _ = health.await;
        return Ok(());
    }

    let (batcher, batch_task) = Batcher::spawn(
        store.clone(),
        config.worker.batch_size,
        Duration::from_millis(config.worker.batch_wait_ms),
        config.worker.batch_writers,
    );
    let ctx = Arc::new(JobContext::new(
        store.clone(),
        batcher,
        queue.name(),
        config.worker.max_attempts,
        config.ingest.max_sessions_per_envelope,
    ));
    let vacuum = spawn_queue_vacuum(queue.clone(), shutdown_rx.clone());
    let settings = WorkerSettings {
        name: unique_worker_name("digest"),
        concurrency: config.worker.concurrency,
        poll_interval: Duration::from_millis(config.queue.poll_interval_ms),
        job_timeout: Duration::from_secs(config.worker.job_timeout_secs),
        shutdown_timeout: Duration::from_secs(config.worker.shutdown_timeout_secs),
    };
    tracing::info!(name = %settings.name, concurrency = settings.concurrency, "corral-worker started");
    let mut worker_stop = shutdown_rx.clone();
    let result = corral_jobs::worker::run(queue, ctx, settings, async move {
        let _ = worker_stop.wait_for(|s| *s).await;
    })
    .await;
    // the batcher ends once the last job context is gone, after writing
    // what it holds
    let _ = batch_task.await;
    let _ = shutdown_tx.send(true);
    let _ = vacuum.await;
    let _ = health.await;
    tracing::info!("corral-worker stopped");
    result.map_err(Into::into)
}
