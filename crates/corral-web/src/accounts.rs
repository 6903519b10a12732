//! Passwords: argon2id hashes in PHC form (`corral_core::credentials`),
//! computed under a cap.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use corral_core::credentials::{generate_password, hash_password, verify_password};

/// Why a password was not hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Every hasher stayed busy for the whole wait: the caller answers 503.
    #[error("every password hasher is busy")]
    Busy,
    #[error("hashing a password failed: {0}")]
    Failed(String),
}

/// The web process's password hashing. Each argon2 hash holds its memory
/// (m = 19 MiB by default) for tens of milliseconds of CPU; without a cap a
/// burst of sign-ins, which anyone may send, holds that much per request.
/// So hashes run on the blocking threads at most `max_at_once` at a time,
/// and a request waits a bounded time for its turn.
#[derive(Clone)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    wait: Duration,
    running: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

/// A turn at hashing, held from before the work that needs it (so a
/// password reset does not use up its link and then find no hasher).
pub struct Hasher {
    permit: Arc<OwnedSemaphorePermit>,
    running: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

impl Passwords {
    pub fn new(max_at_once: usize, wait: Duration) -> Passwords {
        Passwords {
            permits: Arc::new(Semaphore::new(max_at_once.max(1))),
            wait,
            running: Arc::new(AtomicUsize::new(0)),
            peak: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Waits (a bounded time) for a turn at hashing.
    pub async fn reserve(&self) -> Result<Hasher, PasswordError> {
        let permit =
            match tokio::time::timeout(self.wait, self.permits.clone().acquire_owned()).await {
                Ok(Ok(permit)) => permit,
                // the semaphore is never closed; time is up
                Ok(Err(_)) | Err(_) => {
                    metrics::counter!("corral_password_hashes_refused_total").increment(1);
                    return Err(PasswordError::Busy);
                }
            };
        Ok(Hasher {
            permit: Arc::new(permit),
            running: self.running.clone(),
            peak: self.peak.clone(),
        })
    }

    /// The most hashes that ever ran at once in this process.
    pub fn peak_running(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    /// How long a caller should wait before trying again when busy.
    pub fn retry_after_secs(&self) -> u64 {
        self.wait.as_secs().max(1)
    }
}

impl Hasher {
    /// Hashes a new password.
    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        self.run(move || hash_password(&password))
            .await?
            .map_err(PasswordError::Failed)
    }

    /// Whether `password` matches `hash`. Without a hash (no such user, or
    /// one without a password) it checks against a fixed hash all the same,
    /// so answers take as long whether the account exists or not; the
    /// answer is then `false`.
    pub async fn verify(
        &self,
        password: String,
        hash: Option<String>,
    ) -> Result<bool, PasswordError> {
        self.run(move || match hash {
            Some(hash) => verify_password(&password, &hash),
            None => {
                static NOBODY: LazyLock<String> = LazyLock::new(|| {
                    hash_password("no account has this password").unwrap_or_default()
                });
                let _ = verify_password(&password, &NOBODY);
                false
            }
        })
        .await
    }

    /// Runs `work` on a blocking thread. The turn goes with it: if the
    /// request is dropped meanwhile, the hash still counts until it ends.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let permit = self.permit.clone();
        let running = self.running.clone();
        let peak = self.peak.clone();
        tokio::task::spawn_blocking(move || {
            let _turn = permit;
            let _counted = Running::start(&running, &peak);
            work()
        })
        .await
        .map_err(|e| PasswordError::Failed(e.to_string()))
    }
}

/// Counts a hash as running while it lives.
struct Running<'a>(&'a AtomicUsize);

impl<'a> Running<'a> {
    fn start(running: &'a AtomicUsize, peak: &AtomicUsize) -> Running<'a> {
        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
        peak.fetch_max(now, Ordering::SeqCst);
        metrics::gauge!("corral_password_hashes_running").increment(1.0);
        Running(running)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
        metrics::gauge!("corral_password_hashes_running").decrement(1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hashes_run_under_the_cap() {
        let passwords = Passwords::new(1, Duration::ZERO);
        let turn = passwords.reserve().await.expect("a free turn");
        assert!(matches!(
            passwords.reserve().await,
            Err(PasswordError::Busy)
        ));
        let hash = turn.hash("correct horse".into()).await.unwrap();
        drop(turn);

        // many at once, each waiting its turn: one hash at a time
        let patient = Passwords::new(1, Duration::from_secs(60));
        let checks: Vec<_> = (0..6)
            .map(|i| {
                let passwords = patient.clone();
                let hash = (i % 2 == 0).then(|| hash.clone());
                tokio::spawn(async move {
                    let turn = passwords.reserve().await?;
                    turn.verify("correct horse".into(), hash).await
                })
            })
            .collect();
        let mut answers = Vec::new();
        for check in checks {
            answers.push(check.await.unwrap().unwrap());
        }
        assert_eq!(answers, [true, false, true, false, true, false]);
        assert_eq!(patient.peak_running(), 1);
    }
}
