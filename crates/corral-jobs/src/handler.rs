//! The digest of one ingest job: parse, normalize, group and write each item.

use std::sync::Arc;
use std::time::Duration;

use corral_core::model::{Project, ProjectId};
use corral_core::{AttachmentRecord, DigestInput, DigestOutcome, SharedStore, StoreError};
use corral_protocol::Event;
use futures::future::join_all;

use crate::batch::{BatchError, Batcher};
use crate::guard::guarded;
use crate::items::{self, ItemError};
use crate::job::{IngestJob, JOB_FORMAT, JobItem};

/// What a job needs; shared by every job of a worker.
pub struct JobContext {
    pub store: SharedStore,
    pub batcher: Batcher,
    pub queue_name: String,
    /// Attempts before a failing job is dead-lettered.
    pub max_attempts: u32,
    pub max_sessions_per_envelope: usize,
    projects: moka::future::Cache<ProjectId, Arc<Project>>,
}

impl JobContext {
    pub fn new(
        store: SharedStore,
        batcher: Batcher,
        queue_name: impl Into<String>,
        max_attempts: u32,
        max_sessions_per_envelope: usize,
    ) -> JobContext {
        JobContext {
            store,
            batcher,
            queue_name: queue_name.into(),
            max_attempts,
            max_sessions_per_envelope,
            // a project's grouping config changes rarely; a minute of
            // staleness saves a query per event
            projects: moka::future::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(Duration::from_secs(60))
                .build(),
        }
    }

    async fn project(&self, id: ProjectId) -> Result<Arc<Project>, StoreError> {
        if let Some(p) = self.projects.get(&id).await {
            return Ok(p);
        }
        let project = Arc::new(self.store.project_by_id(id).await?);
        self.projects.insert(id, project.clone()).await;
        Ok(project)
    }
}

/// Why a job, or one of its items, failed. The cause is kept:
/// [`JobError::is_transient`] asks it whether another attempt may succeed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The store failed (it knows whether that may pass).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Writing the event's digest batch failed.
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// An item that is not an event could not be read.
    #[error(transparent)]
    Item(#[from] ItemError),
    /// An event that is not JSON the digest reads.
    #[error("invalid JSON: {0}")]
    InvalidJson(#[source] serde_json::Error),
    /// A job written in a format this worker does not read.
    #[error("unknown job format {0} (this worker reads {JOB_FORMAT})")]
    UnknownFormat(u16),
    /// The digest panicked: a bug that another attempt will not fix.
    #[error("the digest panicked: {0}")]
    Panicked(String),
    /// The digest ran out of time (a lock, a slow database).
    #[error("timed out after {0:?}")]
    TimedOut(Duration),
    /// The digest's task was cancelled (the runtime is stopping).
    #[error("the digest task was cancelled")]
    Cancelled,
    /// Items failed that may succeed on another attempt: their reasons.
    #[error("{0}")]
    ItemsToRetry(String),
    /// The job's project no longer exists: nothing to do.
    #[error("project {0} no longer exists")]
    ProjectGone(ProjectId),
    /// The job could not be written as a dead letter (it is tried again).
    #[error("dead-lettering failed: {0}")]
    DeadLetter(#[source] StoreError),
    /// The dead letter's write did not finish in time (tried again).
    #[error("dead-lettering failed: timed out after {0:?}")]
    DeadLetterTimedOut(Duration),
    /// The job could not be written as JSON for its dead letter.
    #[error("job not serializable: {0}")]
    Encode(#[source] serde_json::Error),
}

impl JobError {
    /// Whether another attempt may succeed: what the store or the batcher
    /// say of their errors, running out of time, and writing the dead
    /// letter; never what is wrong with the job itself.
    pub fn is_transient(&self) -> bool {
        match self {
            JobError::Store(e) => e.is_transient(),
            JobError::Batch(e) => e.is_transient(),
            JobError::TimedOut(_)
            | JobError::Cancelled
            | JobError::ItemsToRetry(_)
            | JobError::DeadLetter(_)
            | JobError::DeadLetterTimedOut(_) => true,
            JobError::Item(_)
            | JobError::InvalidJson(_)
            | JobError::UnknownFormat(_)
            | JobError::Panicked(_)
            | JobError::ProjectGone(_)
            | JobError::Encode(_) => false,
        }
    }
}

/// What one job did, for logs, metrics and follow-ups.
#[derive(Debug, Default)]
pub struct JobReport {
    pub outcomes: Vec<DigestOutcome>,
    pub other_items: usize,
    /// The items that could not be digested, in the job's order; every
    /// other item is written.
    pub failed: Vec<ItemFailure>,
}

/// An item of a job that could not be digested.
#[derive(Debug)]
pub struct ItemFailure {
    /// Its place in the job's items.
    pub index: usize,
    pub error: JobError,
}

/// Digests every item of a job, each on its own: an item that fails is
/// reported in [`JobReport::failed`] and the others are written all the
/// same. Idempotent: events are keyed by `(project, event_id)` and
/// attachments by their path, so running a job again after a crash changes
/// nothing that was already written. `Err` is for what fails the job as a
/// whole (its format, its project).
pub async fn process(job: &IngestJob, ctx: &JobContext) -> Result<JobReport, JobError> {
    if job.format != JOB_FORMAT {
        return Err(JobError::UnknownFormat(job.format));
    }
    let project = match ctx.project(job.project_id).await {
        Ok(p) => p,
        Err(StoreError::NotFound(_)) => return Err(JobError::ProjectGone(job.project_id)),
        Err(e) => return Err(e.into()),
    };
    let mut report = JobReport::default();

    // events first (concurrently, so they share digest batches), then what
    // refers to them
    let mut digests = Vec::new();
    for (index, item) in job.items.iter().enumerate() {
        let (event_id, payload) = match item {
            JobItem::Event { event_id, payload }
            | JobItem::Transaction { event_id, payload }
            | JobItem::Security { event_id, payload } => (*event_id, payload),
            _ => continue,
        };
        match prepare_event(&project, event_id, payload, job.received_at) {
            Ok(input) => digests.push(async move { (index, ctx.batcher.digest(input).await) }),
            Err(error) => report.failed.push(ItemFailure { index, error }),
        }
    }
    for (index, result) in join_all(digests).await {
        match result {
            Ok(outcome) => report.outcomes.push(outcome),
            Err(e) => report.failed.push(ItemFailure {
                index,
                error: e.into(),
            }),
        }
    }

    for (index, item) in job.items.iter().enumerate() {
        match write_item(item, job, ctx).await {
            Ok(false) => {}
            Ok(true) => report.other_items += 1,
            Err(error) => report.failed.push(ItemFailure { index, error }),
        }
    }
    report.failed.sort_by_key(|f| f.index);
    Ok(report)
}

/// An event's payload read, normalized and grouped.
fn prepare_event(
    project: &Project,
    event_id: uuid::Uuid,
    payload: &str,
    received_at: chrono::DateTime<chrono::Utc>,
) -> Result<DigestInput, JobError> {
    let mut event = Event::from_json(payload.as_bytes()).map_err(JobError::InvalidJson)?;
    event.event_id = Some(event_id);
    // The job's guard (`guard::guarded`) is the one timeout/panic layer around a job; this is
    // not a second one but the item boundary: a panic here is a bug met by this event's content,
    // and it fails this event alone, not its neighbours in the job.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        corral_core::prepare(project.id, &project.grouping_config, event, received_at)
    }))
    .map_err(|panic| JobError::Panicked(crate::guard::panic_message(panic.as_ref())))
}

/// Writes an item that is not an event; `Ok(false)` for events (written by
/// the batcher).
async fn write_item(item: &JobItem, job: &IngestJob, ctx: &JobContext) -> Result<bool, JobError> {
    let (pid, at) = (job.project_id, job.received_at);
    match item {
        JobItem::Event { .. } | JobItem::Transaction { .. } | JobItem::Security { .. } => {
            return Ok(false);
        }
        JobItem::Attachment(a) => {
            ctx.store
                .add_attachment(&AttachmentRecord {
                    project_id: pid,
                    event_id: a.event_id,
                    name: a.name.clone(),
                    content_type: a.content_type.clone(),
                    attachment_type: a.attachment_type.clone(),
                    size: a.size as i64,
                    path: a.path.clone(),
                    created_at: at,
                })
                .await?;
        }
        JobItem::Session { payload } => {
            if let Some(counts) = items::session(pid, payload, at)? {
                ctx.store.add_session_counts(&[counts]).await?;
            }
        }
        JobItem::Sessions { payload } => {
            let counts = items::sessions(pid, payload, ctx.max_sessions_per_envelope)?;
            if !counts.is_empty() {
                ctx.store.add_session_counts(&counts).await?;
            }
        }
        JobItem::ClientReport { payload } => {
            let discards = items::client_report(pid, payload, at)?;
            if !discards.is_empty() {
                ctx.store.add_client_discards(&discards).await?;
            }
        }
        JobItem::CheckIn { payload } => {
            ctx.store
                .add_check_in(&items::check_in(pid, payload, at)?)
                .await?;
        }
        JobItem::UserReport { payload } => {
            ctx.store
                .add_user_report(&items::user_report(pid, payload, at)?)
                .await?;
        }
        JobItem::Feedback { event_id, payload } => {
            ctx.store
                .add_user_report(&items::feedback(pid, *event_id, payload, at)?)
                .await?;
        }
    }
    Ok(true)
}

/// What to do with a job that failed on attempt `attempt` (1-based).
#[derive(Debug, PartialEq, Eq)]
pub enum Disposition {
    Retry,
    DeadLetter,
    Drop,
}

pub fn disposition(error: &JobError, attempt: u32, max_attempts: u32) -> Disposition {
    match error {
        JobError::ProjectGone(_) => Disposition::Drop,
        e if e.is_transient() && attempt < max_attempts => Disposition::Retry,
        _ => Disposition::DeadLetter,
    }
}

/// Runs a job to its end state: `Ok` when it is done, dead-lettered or
/// dropped (the queue may forget it); `Err` when it should be retried.
/// The digest goes through [`guarded`], the one layer around every job: it
/// may take `timeout` at most, and running out of time is a transient
/// failure like any other, so a job that times out on every attempt is
/// dead-lettered too; a panic is permanent.
///
/// Items fail one by one: while one that failed may succeed on another
/// attempt, the job is retried (what was written is written once, see
/// [`process`]); then each item that failed is dead-lettered alone, with its
/// reason, and the job is done: its other items are stored.
pub async fn run_job(
    job: IngestJob,
    ctx: Arc<JobContext>,
    attempt: u32,
    timeout: Duration,
) -> Result<(), JobError> {
    let job = Arc::new(job);
    let started = std::time::Instant::now();
    let result = guarded(timeout, {
        let (job, ctx) = (job.clone(), ctx.clone());
        async move { process(&job, &ctx).await }
    })
    .await;
    metrics::histogram!("corral_job_seconds").record(started.elapsed().as_secs_f64());
    let report = match result {
        Ok(report) => report,
        Err(error) => return settle(&job, &ctx, attempt, timeout, error).await,
    };
    record(&report, &job);
    if report.failed.is_empty() {
        metrics::counter!("corral_jobs_total", "result" => "done").increment(1);
        return Ok(());
    }
    let retry = report
        .failed
        .iter()
        .any(|f| disposition(&f.error, attempt, ctx.max_attempts) == Disposition::Retry);
    if retry {
        let reasons: Vec<String> = report.failed.iter().map(|f| reason(&job, f)).collect();
        let error = JobError::ItemsToRetry(reasons.join("; "));
        return settle(&job, &ctx, attempt, timeout, error).await;
    }
    for failure in &report.failed {
        let why = reason(&job, failure);
        dead_letter(&job.with_only(failure.index), &ctx, attempt, timeout, &why).await?;
        tracing::error!(job.id = %job.job_id, project.id = job.project_id, attempt, error = %why, "job item dead-lettered");
    }
    metrics::counter!("corral_jobs_total", "result" => "dead_letter").increment(1);
    Ok(())
}

/// Why an item failed, naming the item: `event <id>: invalid JSON: …`.
fn reason(job: &IngestJob, failure: &ItemFailure) -> String {
    match job.items.get(failure.index) {
        Some(item) => format!("{}: {}", item.describe(), failure.error),
        None => failure.error.to_string(),
    }
}

/// What becomes of a job that failed as a whole.
async fn settle(
    job: &IngestJob,
    ctx: &JobContext,
    attempt: u32,
    timeout: Duration,
    error: JobError,
) -> Result<(), JobError> {
    match disposition(&error, attempt, ctx.max_attempts) {
        Disposition::Retry => {
            tracing::warn!(job.id = %job.job_id, attempt, error = %error, "job failed, will retry");
            metrics::counter!("corral_jobs_total", "result" => "retry").increment(1);
            Err(error)
        }
        Disposition::Drop => {
            tracing::info!(job.id = %job.job_id, error = %error, "job dropped");
            metrics::counter!("corral_jobs_total", "result" => "dropped").increment(1);
            Ok(())
        }
        Disposition::DeadLetter => {
            dead_letter(job, ctx, attempt, timeout, &error.to_string()).await?;
            tracing::error!(job.id = %job.job_id, project.id = job.project_id, attempt, error = %error, "job dead-lettered");
            metrics::counter!("corral_jobs_total", "result" => "dead_letter").increment(1);
            Ok(())
        }
    }
}

/// Writes `job` to the dead letters. A store that does not answer within
/// the job's time leaves the job to be tried again, instead of holding a
/// place of the worker.
async fn dead_letter(
    job: &IngestJob,
    ctx: &JobContext,
    attempt: u32,
    timeout: Duration,
    reason: &str,
) -> Result<(), JobError> {
    let payload = serde_json::to_string(job).map_err(JobError::Encode)?;
    let write = ctx
        .store
        .add_dead_letter(&ctx.queue_name, &payload, reason, attempt as i32);
    tokio::time::timeout(timeout, write)
        .await
        .map_err(|_| JobError::DeadLetterTimedOut(timeout))?
        .map_err(JobError::DeadLetter)?;
    Ok(())
}

fn record(report: &JobReport, job: &IngestJob) {
    for o in &report.outcomes {
        if !o.inserted {
            metrics::counter!("corral_events_duplicate_total").increment(1);
            continue;
        }
        metrics::counter!("corral_events_digested_total").increment(1);
        if o.new_issue {
            metrics::counter!("corral_issues_new_total").increment(1);
            tracing::info!(project.id = job.project_id, issue.id = ?o.issue_id, event.id = %o.event_id, "new issue");
        }
        if o.regressed {
            metrics::counter!("corral_issues_regressed_total").increment(1);
            tracing::info!(project.id = job.project_id, issue.id = ?o.issue_id, event.id = %o.event_id, "issue regressed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_retried_until_the_last_attempt() {
        let t = JobError::TimedOut(Duration::from_secs(1));
        assert_eq!(disposition(&t, 1, 3), Disposition::Retry);
        assert_eq!(disposition(&t, 2, 3), Disposition::Retry);
        assert_eq!(disposition(&t, 3, 3), Disposition::DeadLetter);
        let p = JobError::UnknownFormat(9);
        assert_eq!(disposition(&p, 1, 3), Disposition::DeadLetter);
        assert_eq!(
            disposition(&JobError::ProjectGone(4), 1, 3),
            Disposition::Drop
        );
    }
}
