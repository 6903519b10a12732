//! What every request handler shares.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use corral_core::config::Config;
use corral_core::model::KeyAuth;
use corral_core::quota::Quotas;
use corral_core::{SharedStore, StoreError, StoreReadiness};
use corral_jobs::{Enqueuer, JobQueue};
use corral_runtime::Readiness;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::accounts::Passwords;
use crate::ingest::body::MemoryBudget;

/// Shared state of the web server; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub store: SharedStore,
    pub queue: JobQueue,
    /// Where ingest pushes jobs: coalesced into bulk queue operations.
    pub enqueuer: Enqueuer,
    pub quotas: Arc<dyn Quotas>,
    pub config: Arc<Config>,
    pub budget: MemoryBudget,
    /// For the envelope headers of requests whose key is not known yet.
    pub unauthenticated_budget: MemoryBudget,
    pub attachments_dir: PathBuf,
    pub readiness: Readiness,
    pub metrics: Option<PrometheusHandle>,
    /// Password hashing, capped (`auth.max_concurrent_hashes`).
    pub passwords: Passwords,
    /// Jobs waiting in the queue, refreshed in the background.
    backlog: Arc<AtomicU64>,
    /// How long a test notification waits for its outcome, in milliseconds.
    test_notification_wait_ms: AtomicU64,
    /// Public key -> the key (or `None`: unknown), for a short while, so
    /// ingest does not ask the database per event and an unknown-key flood
    /// does not reach it either.
    keys: moka::future::Cache<String, Option<Arc<KeyAuth>>>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// How long a key's state (active, limits) may be stale in a web process.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(30);

/// How long a test notification waits for the worker to send it before it
/// answers that the delivery is still pending.
pub const TEST_NOTIFICATION_WAIT: Duration = Duration::from_secs(15);

impl AppState {
    pub fn new(
        store: SharedStore,
        queue: JobQueue,
        quotas: Arc<dyn Quotas>,
        config: Arc<Config>,
        metrics: Option<PrometheusHandle>,
    ) -> AppState {
        let budget = MemoryBudget::new(
            config.ingest.memory_budget_bytes,
            config.ingest.memory_budget_per_address_bytes,
        );
        let unauthenticated_budget = MemoryBudget::new(
            config.ingest.unauthenticated_budget_bytes,
            config.ingest.unauthenticated_per_address_bytes,
        );
        let readiness = readiness(store.clone(), queue.clone());
        // SQLite has one writer at a time: one pusher; Redis takes several
        let parallel = if queue.backend() == "sqlite" { 1 } else { 4 };
        let (enqueuer, _pushers) = Enqueuer::spawn(queue.clone(), 256, parallel);
        AppState(Arc::new(Inner {
            attachments_dir: config.attachments_dir(),
            store,
            queue,
            enqueuer,
            quotas,
            budget,
            unauthenticated_budget,
            readiness,
            metrics,
            passwords: Passwords::new(
                config.auth.max_concurrent_hashes,
                Duration::from_millis(config.auth.hash_wait_ms),
            ),
            backlog: Arc::new(AtomicU64::new(0)),
            test_notification_wait_ms: AtomicU64::new(TEST_NOTIFICATION_WAIT.as_millis() as u64),
            keys: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(KEY_CACHE_TTL)
                .build(),
            config,
        }))
    }

    /// The key for a public key: `Ok(None)` when it does not exist.
    pub async fn key_auth(&self, public_key: &str) -> Result<Option<Arc<KeyAuth>>, StoreError> {
        if let Some(hit) = self.keys.get(public_key).await {
            return Ok(hit);
        }
        let found = match self.store.key_auth(public_key).await {
            Ok(k) => Some(Arc::new(k)),
            Err(StoreError::NotFound(_)) => None,
            Err(e) => return Err(e),
        };
        self.keys
            .insert(public_key.to_string(), found.clone())
            .await;
        Ok(found)
    }

    /// Forgets cached keys (after a key was changed in this process).
    pub fn forget_keys(&self) {
        self.keys.invalidate_all();
    }

    /// How long a test notification waits for its outcome
    /// ([`TEST_NOTIFICATION_WAIT`] unless changed).
    pub fn test_notification_wait(&self) -> Duration {
        Duration::from_millis(self.test_notification_wait_ms.load(Ordering::Relaxed))
    }

    /// Changes how long test notifications wait (tests without a worker
    /// shorten it, so that a request does not wait 15 s for nothing).
    pub fn set_test_notification_wait(&self, wait: Duration) {
        self.test_notification_wait_ms
            .store(wait.as_millis() as u64, Ordering::Relaxed);
    }

    pub fn backlog(&self) -> u64 {
        self.backlog.load(Ordering::Relaxed)
    }

    /// Keeps the queue backlog figure fresh until the state is dropped.
    pub fn spawn_backlog_monitor(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(&self.0);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { break };
                match inner.queue.depth().await {
                    Ok(depth) => {
                        inner.backlog.store(depth.backlog(), Ordering::Relaxed);
                        metrics::gauge!("corral_queue_pending").set(depth.pending as f64);
                        metrics::gauge!("corral_queue_scheduled").set(depth.scheduled as f64);
                        metrics::gauge!("corral_queue_running").set(depth.running as f64);
                    }
                    Err(e) => tracing::warn!(error = %e, "reading queue depth failed"),
                }
                metrics::gauge!("corral_ingest_memory_bytes")
                    .set(inner.budget.in_use_bytes() as f64);
            }
        })
    }
}

/// What `/readyz` of a web process checks: the database, then the queue.
fn readiness(store: SharedStore, queue: JobQueue) -> Readiness {
    Readiness::new()
        .require("database", StoreReadiness::new(store), |db| async move {
            db.check().await
        })
        .require("queue", queue, |queue| async move {
            queue.ping().await.map_err(|e| format!("queue: {e}"))
        })
}
