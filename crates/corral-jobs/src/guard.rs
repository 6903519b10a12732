//! The one layer around every job's digest: it runs on a task of its own,
//! within the job's time, and a panic in it is the job's failure, not the
//! worker's. The apalis worker adds no timeout or panic layer of its own.

use std::future::Future;
use std::time::Duration;

use tokio_util::task::AbortOnDropHandle;

use crate::handler::JobError;

/// Runs `work` on the runtime's threads, for at most `limit`; running out
/// of time is [`JobError::TimedOut`] and a panic [`JobError::Panicked`].
///
/// On a task of its own because apalis polls all of a worker's jobs from
/// one task, so parsing and grouping there would use a single core (the
/// cluster benchmark's profile had the worker's main thread at four times
/// the CPU of its other threads). The task is aborted when this future is
/// dropped (time is up, or apalis drops the job at shutdown), as inline
/// work would be.
pub(crate) async fn guarded<T, F>(limit: Duration, work: F) -> Result<T, JobError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, JobError>> + Send + 'static,
{
    let task = AbortOnDropHandle::new(tokio::spawn(work));
    match tokio::time::timeout(limit, task).await {
        Ok(Ok(result)) => result,
        Ok(Err(ended)) => match ended.try_into_panic() {
            Ok(panic) => Err(JobError::Panicked(panic_message(panic.as_ref()))),
            Err(_) => Err(JobError::Cancelled),
        },
        Err(_) => Err(JobError::TimedOut(limit)),
    }
}

pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_or_the_time_running_out_is_the_jobs_failure() {
        let done = guarded(Duration::from_secs(5), async { Ok(7) }).await;
        assert_eq!(done.unwrap(), 7);

        let panicked = guarded::<(), _>(Duration::from_secs(5), async {
            panic!("a bug met by this event");
        })
        .await
        .unwrap_err();
        assert!(!panicked.is_transient());
        assert_eq!(
            panicked.to_string(),
            "the digest panicked: a bug met by this event"
        );

        let slow = guarded::<(), _>(Duration::from_millis(20), async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(())
        })
        .await
        .unwrap_err();
        assert!(slow.is_transient());
        assert!(slow.to_string().starts_with("timed out after"), "{slow}");
    }
}
