//! Running the digest on a queue: an apalis worker with bounded concurrency,
//! retries with backoff, a per-job timeout and panic isolation (both in
//! [`run_job`]'s one layer), and graceful shutdown (in-flight jobs finish;
//! fetched but unstarted ones go back). [`DigestWorker`] is the whole of it
//! as `corral serve` and `corral-worker` run it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use apalis::layers::retry::HasherRng;
use apalis::layers::retry::backoff::{ExponentialBackoff, ExponentialBackoffMaker, MakeBackoff};
use apalis::prelude::*;
use apalis_core::backend::ext::poll_strategy::{PollSnapshot, PollStrategy};
use corral_core::SharedStore;
use corral_core::config::Config;
use tokio::sync::Notify;
use tokio::sync::futures::OwnedNotified;
use tokio_util::sync::CancellationToken;

use crate::batch::Batcher;
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

impl WorkerSettings {
    /// The settings of `worker.*` and `queue.*`, under a name made unique
    /// from `prefix` (see [`unique_worker_name`]).
    pub fn from_config(prefix: &str, config: &Config) -> WorkerSettings {
        WorkerSettings {
            name: unique_worker_name(prefix),
            concurrency: config.worker.concurrency,
            poll_interval: Duration::from_millis(config.queue.poll_interval_ms),
            job_timeout: Duration::from_secs(config.worker.job_timeout_secs),
            shutdown_timeout: Duration::from_secs(config.worker.shutdown_timeout_secs),
        }
    }
}

/// apalis' worker stopped with an error.
#[derive(Debug, thiserror::Error)]
#[error("worker stopped: {0}")]
pub struct WorkerError(#[source] MonitorError);

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
    // (tests/it/digest.rs checks the count against max_attempts)
    let attempt = u32::try_from(attempt.current()).unwrap_or(u32::MAX).max(1);
    let JobTimeout(limit) = *timeout;
    run_job(job, Arc::clone(&ctx), attempt, limit).await
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

/// When apalis' worker looks for jobs: every `period`, and at once when a
/// job is pushed in this process (`pushed`, the embedded shape).
///
/// apalis' own `IntervalStrategy` replaces its timer when it fires without
/// polling the new one, so nothing is registered to wake the worker again;
/// when the fetch that follows completes on its first poll (it finds nothing
/// and the database answered quickly, which a busy machine makes likely), the
/// worker sleeps until its next heartbeat (10 s). Events then waited up to
/// ten seconds for their digest (7.5–9.5 s seen with two busy loops on the
/// cores, `bench/latency.sh`). This strategy polls every timer it arms, so
/// the worker always has a wake-up pending.
pub(crate) struct Wakeup {
    period: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
    pushed: Option<Arc<Notify>>,
    notified: Option<Pin<Box<OwnedNotified>>>,
}

impl Wakeup {
    pub(crate) fn new(period: Duration, pushed: Option<Arc<Notify>>) -> Wakeup {
        Wakeup {
            period,
            timer: Box::pin(tokio::time::sleep(period)),
            pushed,
            notified: None,
        }
    }
}

impl PollStrategy for Wakeup {
    fn poll_drive(&mut self, cx: &mut Context<'_>, _: &PollSnapshot) -> Poll<Option<()>> {
        let mut woken = false;
        if let Some(pushed) = &self.pushed {
            // at most one stored permit: this ends after two rounds
            loop {
                let notified = self
                    .notified
                    .get_or_insert_with(|| Box::pin(pushed.clone().notified_owned()));
                match notified.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        self.notified = None;
                        woken = true;
                    }
                    Poll::Pending => break,
                }
            }
        }
        while self.timer.as_mut().poll(cx).is_ready() {
            woken = true;
            let next = tokio::time::Instant::now() + self.period;
            // the re-armed timer is polled by the next round of the loop,
            // which registers this task to be woken when it fires
            self.timer.as_mut().reset(next);
        }
        if woken {
            Poll::Ready(Some(()))
        } else {
            Poll::Pending
        }
    }
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
                let wakeup = Wakeup::new(settings.poll_interval, None);
                WorkerBuilder::new(name.clone())
                    .backend(storage.clone().poll_with_strategy(wakeup))
                    .data(ctx.clone())
                    .data(JobTimeout(settings.job_timeout))
                    .concurrency(settings.concurrency)
                    .retry(RetryPolicy::retries(retries).with_backoff(backoff()))
                    .build(handle)
            })
        }
        JobQueue::Sqlite {
            storage, pushed, ..
        } => {
            let settings = settings.clone();
            monitor.register(move |_restarts| {
                let wakeup = Wakeup::new(settings.poll_interval, Some(pushed.clone()));
                WorkerBuilder::new(name.clone())
                    .backend(storage.clone().poll_with_strategy(wakeup))
                    .data(ctx.clone())
                    .data(JobTimeout(settings.job_timeout))
                    .concurrency(settings.concurrency)
                    .retry(RetryPolicy::retries(retries).with_backoff(backoff()))
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
        .map_err(WorkerError)
}

/// The digest as `corral serve` and `corral-worker` run it: the batcher,
/// the job context and the apalis worker from the configuration, and the
/// queue's upkeep ([`spawn_queue_vacuum`]) beside them.
pub struct DigestWorker {
    store: SharedStore,
    queue: JobQueue,
    settings: WorkerSettings,
    batch_size: usize,
    batch_wait: Duration,
    batch_writers: usize,
    max_attempts: u32,
    max_sessions_per_envelope: usize,
}

impl DigestWorker {
    /// A worker named after `prefix` (made unique), with `worker.*`,
    /// `queue.*` and `ingest.max_sessions_per_envelope` from `config`.
    pub fn new(store: SharedStore, queue: JobQueue, config: &Config, prefix: &str) -> Self {
        DigestWorker {
            store,
            queue,
            settings: WorkerSettings::from_config(prefix, config),
            batch_size: config.worker.batch_size,
            batch_wait: Duration::from_millis(config.worker.batch_wait_ms),
            batch_writers: config.worker.batch_writers,
            max_attempts: config.worker.max_attempts,
            max_sessions_per_envelope: config.ingest.max_sessions_per_envelope,
        }
    }

    /// Digest writers other than `worker.batch_writers` (SQLite writes
    /// through one connection: more writers would only queue).
    pub fn batch_writers(mut self, writers: usize) -> Self {
        self.batch_writers = writers;
        self
    }

    /// Digests until `shutdown` is cancelled, then drains: jobs in flight
    /// finish, the batcher writes what it holds, the vacuum stops.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), WorkerError> {
        let (batcher, batch_task) = Batcher::spawn(
            self.store.clone(),
            self.batch_size,
            self.batch_wait,
            self.batch_writers,
        );
        let ctx = Arc::new(JobContext::new(
            self.store,
            batcher,
            self.queue.name(),
            self.max_attempts,
            self.max_sessions_per_envelope,
        ));
        let upkeep = shutdown.child_token();
        let vacuum = spawn_queue_vacuum(self.queue.clone(), upkeep.clone());
        tracing::info!(
            name = %self.settings.name,
            concurrency = self.settings.concurrency,
            "digest worker started"
        );
        let result = run(self.queue, ctx, self.settings, shutdown.cancelled_owned()).await;
        // the batcher ends once the last job context is gone, after writing
        // what it holds
        let _ = batch_task.await;
        upkeep.cancel();
        let _ = vacuum.await;
        result
    }
}

/// Removes finished jobs from the queue now and then (apalis keeps them), and
/// moves due retries to the pending list in bounded steps (see
/// [`JobQueue::promote_due`]), until `shutdown` is cancelled.
pub fn spawn_queue_vacuum(
    queue: JobQueue,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while shutdown
            .run_until_cancelled(tokio::time::sleep(Duration::from_secs(1)))
            .await
            .is_some()
        {
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

#[cfg(test)]
mod wakeup_tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A waker that counts its wake-ups.
    struct Counter(AtomicUsize);
    impl futures::task::ArcWake for Counter {
        fn wake_by_ref(me: &Arc<Self>) {
            me.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn drive(w: &mut Wakeup, counter: &Arc<Counter>) -> bool {
        let waker = futures::task::waker(counter.clone());
        let mut cx = Context::from_waker(&waker);
        w.poll_drive(&mut cx, &PollSnapshot::new()).is_ready()
    }

    #[tokio::test]
    async fn after_firing_the_timer_is_armed_and_wakes_the_worker_again() {
        let counter = Arc::new(Counter(AtomicUsize::new(0)));
        let mut w = Wakeup::new(Duration::from_millis(10), None);
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(drive(&mut w, &counter), "the period passed");
        let woken = counter.0.load(Ordering::SeqCst);
        // nothing polls the strategy now (as when the fetch that followed
        // completed at once): the re-armed timer alone must wake the worker
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            counter.0.load(Ordering::SeqCst) > woken,
            "the worker was not woken after the period"
        );
        assert!(drive(&mut w, &counter));
    }

    #[tokio::test]
    async fn a_push_wakes_the_worker_at_once_and_once() {
        let counter = Arc::new(Counter(AtomicUsize::new(0)));
        let pushed = Arc::new(Notify::new());
        let mut w = Wakeup::new(Duration::from_secs(3600), Some(pushed.clone()));
        assert!(!drive(&mut w, &counter), "no push, the period is an hour");
        pushed.notify_one();
        assert_eq!(
            counter.0.load(Ordering::SeqCst),
            1,
            "the push woke the worker"
        );
        assert!(drive(&mut w, &counter));
        assert!(!drive(&mut w, &counter), "once per push");
        // pushes while nobody waits are kept (as one) for the next poll
        pushed.notify_one();
        pushed.notify_one();
        assert!(drive(&mut w, &counter));
        assert!(!drive(&mut w, &counter));
    }
}
