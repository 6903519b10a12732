//! Running the digest on a queue: an apalis worker with bounded concurrency,
//! retries with backoff, a per-job timeout, panic isolation, and graceful
//! shutdown (in-flight jobs finish; fetched but unstarted ones go back).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use apalis::layers::retry::HasherRng;
use apalis::layers::retry::backoff::{ExponentialBackoff, ExponentialBackoffMaker, MakeBackoff};
use apalis::prelude::*;

use crate::handler::{JobContext, JobError, run_job};
use crate::job::IngestJob;
use crate::queue::JobQueue;

#[derive(Clone, Debug)]
pub struct WorkerSettings {
    /// Unique among live workers of the queue (e.g. host name and pid).
    pub name: String,
    pub concurrency: usize,
    pub poll_interval: Duration,
    pub job_timeout: Duration,
    pub shutdown_timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
#[error("worker stopped: {0}")]
pub struct WorkerError(String);

/// A name no other live worker has: apalis refuses two live workers of one name.
pub fn unique_worker_name(prefix: &str) -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "local".into());
    format!(
        "{prefix}-{host}-{}-{}",
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// How long one attempt may digest.
#[derive(Clone, Copy, Debug)]
struct JobTimeout(Duration);

async fn handle(
    job: IngestJob,
    ctx: Data<Arc<JobContext>>,
    timeout: Data<JobTimeout>,
    attempt: Attempt,
) -> Result<(), JobError> {
    // apalis' lifecycle layer adds one to the task's counter (0 when pushed)
    // before every run, in-process retries included: the first run sees 1
    // (tests/digest.rs checks the count against max_attempts)
    let attempt = u32::try_from(attempt.current()).unwrap_or(u32::MAX).max(1);
    let JobTimeout(limit) = *timeout;
    run_job(&job, &ctx, attempt, limit).await
}

/// The worker-level timeout is only a backstop for a handler stuck beyond
/// its own timeout (e.g. while dead-lettering): a job it cuts short is not
/// dead-lettered, so it must never fire first.
fn backstop(job_timeout: Duration) -> Duration {
    job_timeout * 2 + Duration::from_secs(30)
}

fn backoff() -> ExponentialBackoff<HasherRng> {
    ExponentialBackoffMaker::new(
        Duration::from_millis(200),
        Duration::from_secs(10),
        0.5,
        HasherRng::default(),
    )
    .expect("valid backoff bounds")
    .make_backoff()
}

/// Runs the digest until `shutdown` resolves, then drains.
pub async fn run<S>(
    queue: JobQueue,
    ctx: Arc<JobContext>,
    settings: WorkerSettings,
    shutdown: S,
) -> Result<(), WorkerError>
where
    S: Future<Output = ()> + Send + 'static,
{
    let retries = ctx.max_attempts.saturating_sub(1) as usize;
    let claims = queue.clone();
    let name = settings.name.clone();
    let monitor = Monitor::new();
    let monitor = match queue {
        JobQueue::Redis { storage, .. } => {
            let settings = settings.clone();
            monitor.register(move |_restarts| {
                WorkerBuilder::new(settings.name.clone())
                    .backend(storage.clone().poll_with_interval(settings.poll_interval))
                    .data(ctx.clone())
                    .data(JobTimeout(settings.job_timeout))
                    .concurrency(settings.concurrency)
                    .retry(RetryPolicy::retries(retries).with_backoff(backoff()))
                    .timeout(backstop(settings.job_timeout))
                    .catch_panic()
                    .build(handle)
            })
        }
        JobQueue::Sqlite { storage, .. } => {
            let settings = settings.clone();
            monitor.register(move |_restarts| {
                WorkerBuilder::new(settings.name.clone())
                    .backend(storage.clone().poll_with_interval(settings.poll_interval))
                    .data(ctx.clone())
                    .data(JobTimeout(settings.job_timeout))
                    .concurrency(settings.concurrency)
                    .retry(RetryPolicy::retries(retries).with_backoff(backoff()))
                    .timeout(backstop(settings.job_timeout))
                    .catch_panic()
                    .build(handle)
            })
        }
    };
    let result = monitor
        // a worker whose backend failed (Redis or the database went away)
        // is started again rather than ending the process
        .should_restart(|_ctx, _err| true)
        .shutdown_timeout(settings.shutdown_timeout)
        .run_with_signal(async move {
            shutdown.await;
            Ok(())
        })
        .await
        .map_err(|e| WorkerError(e.to_string()));
    // a graceful stop leaves nothing claimed, so a restart need not wait
    // for orphan recovery
    match claims.release_claimed(&name).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(jobs = n, "claimed jobs returned to the queue"),
        Err(e) => tracing::warn!(error = %e, "returning claimed jobs failed; orphan recovery will"),
    }
    result
}
