//! Running the digest on a queue: an apalis worker with bounded concurrency,
//! retries with backoff, a per-job timeout, panic isolation, and graceful
//! shutdown (in-flight jobs finish; fetched but unstarted ones go back).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use apalis::layers::retry::HasherRng;
use apalis::layers::retry::backoff::{ExponentialBackoff, ExponentialBackoffMaker, MakeBackoff};
use apalis::prelude::*;
use tokio_util::task::AbortOnDropHandle;

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
    let ctx = Arc::clone(&ctx);
    // On the runtime's threads: apalis polls all of a worker's jobs from one
    // task, so parsing and grouping there would use a single core (the
    // cluster benchmark's profile had the worker's main thread at four
    // times the CPU of its other threads). Aborted when apalis drops this
    // future (its backstop timeout, shutdown), as the inline call would be.
    AbortOnDropHandle::new(tokio::spawn(async move {
        run_job(&job, &ctx, attempt, limit).await
    }))
    .await
    .unwrap_or_else(|e| Err(JobError::Transient(format!("the digest task ended: {e}"))))
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
///
/// When apalis' worker dies (its queue or database failed in a way it does
/// not recover from), it is started again after a pause that grows from 1 s
/// to 30 s, under a new name: apalis refuses a name whose heartbeat has not
/// yet expired. What the dead one had claimed goes back to the queue first.
pub async fn run<S>(
    queue: JobQueue,
    ctx: Arc<JobContext>,
    settings: WorkerSettings,
    shutdown: S,
) -> Result<(), WorkerError>
where
    S: Future<Output = ()> + Send + 'static,
{
    use futures::FutureExt;
    let shutdown = shutdown.shared();
    let mut incarnation = 0u32;
    let mut pause = Duration::from_secs(1);
    loop {
        let name = if incarnation == 0 {
            settings.name.clone()
        } else {
            format!("{}-{incarnation}", settings.name)
        };
        let started = std::time::Instant::now();
        let result = run_once(
            queue.clone(),
            ctx.clone(),
            &settings,
            name.clone(),
            shutdown.clone(),
        )
        .await;
        // a graceful stop leaves nothing claimed, so a restart need not wait
        // for orphan recovery
        match queue.release_claimed(&name).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(jobs = n, "claimed jobs returned to the queue"),
            Err(e) => {
                tracing::warn!(error = %e, "returning claimed jobs failed; orphan recovery will")
            }
        }
        if shutdown.clone().now_or_never().is_some() {
            return result;
        }
        if started.elapsed() > Duration::from_secs(60) {
            pause = Duration::from_secs(1);
        }
        tracing::error!(
            worker = %name,
            error = ?result.err(),
            retry_in = ?pause,
            "the digest worker stopped; starting it again"
        );
        metrics::counter!("corral_worker_restarts_total").increment(1);
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = shutdown.clone() => return Ok(()),
        }
        pause = (pause * 2).min(Duration::from_secs(30));
        incarnation += 1;
    }
}

/// One apalis worker under `name`, until `shutdown` or until it dies.
async fn run_once<S>(
    queue: JobQueue,
    ctx: Arc<JobContext>,
    settings: &WorkerSettings,
    name: String,
    shutdown: S,
) -> Result<(), WorkerError>
where
    S: Future<Output = ()> + Send + 'static,
{
    let retries = ctx.max_attempts.saturating_sub(1) as usize;
    let monitor = Monitor::new();
    let monitor = match queue {
        JobQueue::Redis { storage, .. } => {
            let settings = settings.clone();
            monitor.register(move |_restarts| {
                WorkerBuilder::new(name.clone())
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
                WorkerBuilder::new(name.clone())
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
    monitor
        // a dead worker is started again by `run`, after a pause and under
        // a new name; apalis would restart it at once, in a tight loop
        .should_restart(|_ctx, _err| false)
        .shutdown_timeout(settings.shutdown_timeout)
        .run_with_signal(async move {
            shutdown.await;
            Ok(())
        })
        .await
        .map_err(|e| WorkerError(e.to_string()))
}
