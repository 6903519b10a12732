//! Batches digest writes: jobs hand their prepared events to writer tasks that
//! write up to `batch_size` of them per transaction and answer each job only
//! after its batch committed, so a job is acknowledged only once its event is
//! stored. Several writers may share the queue of events (one collects while
//! the others write); on PostgreSQL that overlaps round trips, but writers
//! whose batches touch the same issues wait for each other's row locks, so
//! the default is one. SQLite has one writer anyway.

use std::sync::Arc;
use std::time::Duration;

use corral_core::{DigestInput, DigestOutcome, SharedStore, StoreError};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinHandle;

type Reply = oneshot::Sender<Result<DigestOutcome, BatchError>>;

/// Why an event was not written. Cloned to every job of a failed batch.
#[derive(Clone, Debug, thiserror::Error)]
pub enum BatchError {
    #[error(transparent)]
    Store(Arc<StoreError>),
    /// The store wrote the event's batch but said nothing of the event.
    #[error("digest returned no outcome")]
    NoOutcome,
    #[error("digest batcher stopped")]
    Stopped,
}

impl BatchError {
    pub fn is_transient(&self) -> bool {
        match self {
            BatchError::Store(e) => e.is_transient(),
            BatchError::NoOutcome | BatchError::Stopped => true,
        }
    }
}

/// The sending side; cheap to clone.
#[derive(Clone, Debug)]
pub struct Batcher {
    tx: mpsc::Sender<(DigestInput, Reply)>,
}

impl Batcher {
    /// Starts `writers` writing tasks sharing one queue of events. The returned
    /// handle ends when every `Batcher` clone is dropped and the writers have
    /// written what they hold.
    pub fn spawn(
        store: SharedStore,
        batch_size: usize,
        wait: Duration,
        writers: usize,
    ) -> (Batcher, JoinHandle<()>) {
        let batch_size = batch_size.max(1);
        let writers = writers.max(1);
        let (tx, rx) = mpsc::channel(batch_size * (writers + 1));
        let rx = Arc::new(Mutex::new(rx));
        let tasks: Vec<_> = (0..writers)
            .map(|_| tokio::spawn(run(store.clone(), rx.clone(), batch_size, wait)))
            .collect();
        let handle = tokio::spawn(async move {
            for task in tasks {
                if let Err(e) = task.await {
                    tracing::error!(error = %e, "digest writer ended abnormally");
                }
            }
        });
        (Batcher { tx }, handle)
    }

    /// Writes one event (with others) and returns what the store did with it.
    pub async fn digest(&self, input: DigestInput) -> Result<DigestOutcome, BatchError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((input, reply))
            .await
            .map_err(|_| BatchError::Stopped)?;
        answer.await.unwrap_or(Err(BatchError::Stopped))
    }
}

async fn run(
    store: SharedStore,
    rx: Arc<Mutex<mpsc::Receiver<(DigestInput, Reply)>>>,
    batch_size: usize,
    wait: Duration,
) {
    let mut inputs = Vec::with_capacity(batch_size);
    let mut replies = Vec::with_capacity(batch_size);
    loop {
        {
            // one writer collects at a time; the others write meanwhile
            let mut rx = rx.lock().await;
            let Some((input, reply)) = rx.recv().await else {
                return;
            };
            inputs.push(input);
            replies.push(reply);
            // fill the batch with what is already waiting, then give stragglers
            // a short moment; an idle system writes a lone event at once
            let deadline = tokio::time::Instant::now() + wait;
            while inputs.len() < batch_size {
                let next = match rx.try_recv() {
                    Ok(next) => Some(next),
                    Err(mpsc::error::TryRecvError::Empty) if !wait.is_zero() => {
                        tokio::time::timeout_at(deadline, rx.recv())
                            .await
                            .unwrap_or_default()
                    }
                    Err(_) => None,
                };
                match next {
                    Some((input, reply)) => {
                        inputs.push(input);
                        replies.push(reply);
                    }
                    None => break,
                }
            }
        }
        write(&store, &mut inputs, &mut replies).await;
    }
}

async fn write(store: &SharedStore, inputs: &mut Vec<DigestInput>, replies: &mut Vec<Reply>) {
    metrics::histogram!("corral_digest_batch_size").record(inputs.len() as f64);
    let started = std::time::Instant::now();
    let result = store.digest(inputs).await;
    metrics::histogram!("corral_digest_batch_seconds").record(started.elapsed().as_secs_f64());
    match result {
        Ok(outcomes) => {
            for (reply, outcome) in replies.drain(..).zip(outcomes) {
                let _ = reply.send(Ok(outcome));
            }
        }
        Err(err) if inputs.len() > 1 => {
            // one bad event must not fail its neighbours: write each alone,
            // so only the culprit's job sees the error
            tracing::warn!(error = %err, size = inputs.len(), "digest batch failed, writing events one by one");
            for (input, reply) in inputs.iter().zip(replies.drain(..)) {
                let answer = match store.digest(std::slice::from_ref(input)).await {
                    Ok(mut outcomes) => outcomes.pop().ok_or(BatchError::NoOutcome),
                    Err(e) => Err(BatchError::Store(Arc::new(e))),
                };
                let _ = reply.send(answer);
            }
        }
        Err(err) => {
            let err = BatchError::Store(Arc::new(err));
            for reply in replies.drain(..) {
                let _ = reply.send(Err(err.clone()));
            }
        }
    }
    inputs.clear();
}
