//! Coalesced enqueueing: requests hand their job to a few pusher tasks that
//! write everything waiting in ONE queue operation (one Redis script, one
//! SQLite transaction) and then answer each request. A request still gets its
//! answer only once its job is durably stored; under load the cost of a push
//! is shared by every request that arrived meanwhile.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::job::IngestJob;
use crate::queue::{JobQueue, QueueError};

type Reply = oneshot::Sender<Result<(), QueueError>>;

/// Waiting pushes beyond this make callers wait (backpressure).
const CHANNEL_CAPACITY: usize = 8192;

/// The sending side; cheap to clone.
#[derive(Clone, Debug)]
pub struct Enqueuer {
    tx: mpsc::Sender<(IngestJob, Reply)>,
    timeout: Duration,
}

impl Enqueuer {
    /// Starts `parallel` pusher tasks writing at most `max_batch` jobs per
    /// operation. They end when every `Enqueuer` clone is dropped, after
    /// writing what they hold.
    pub fn spawn(
        queue: JobQueue,
        max_batch: usize,
        parallel: usize,
    ) -> (Enqueuer, Vec<JoinHandle<()>>) {
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        let rx = Arc::new(Mutex::new(rx));
        let tasks = (0..parallel.max(1))
            .map(|_| tokio::spawn(pusher(queue.clone(), rx.clone(), max_batch.max(1))))
            .collect();
        (
            Enqueuer {
                tx,
                timeout: Duration::from_secs(10),
            },
            tasks,
        )
    }

    /// Enqueues one job; `Ok` means it is durably in the queue.
    pub async fn push(&self, job: IngestJob) -> Result<(), QueueError> {
        let (reply, answer) = oneshot::channel();
        let wait = async {
            self.tx
                .send((job, reply))
                .await
                .map_err(|_| QueueError::Stopped)?;
            answer.await.map_err(|_| QueueError::Stopped)?
        };
        tokio::time::timeout(self.timeout, wait)
            .await
            .map_err(|_| QueueError::TimedOut("enqueueing"))?
    }
}

async fn pusher(
    queue: JobQueue,
    rx: Arc<Mutex<mpsc::Receiver<(IngestJob, Reply)>>>,
    max_batch: usize,
) {
    let mut jobs = Vec::with_capacity(max_batch);
    let mut replies = Vec::with_capacity(max_batch);
    loop {
        {
            // take what is waiting (at least one); other pushers wait here
            // while this one collects, then take the next lot while this one
            // writes
            let mut rx = rx.lock().await;
            let Some((job, reply)) = rx.recv().await else {
                return;
            };
            jobs.push(job);
            replies.push(reply);
            while jobs.len() < max_batch {
                match rx.try_recv() {
                    Ok((job, reply)) => {
                        jobs.push(job);
                        replies.push(reply);
                    }
                    Err(_) => break,
                }
            }
        }
        metrics::histogram!("corral_enqueue_batch_size").record(jobs.len() as f64);
        let result = queue
            .push_bulk(std::mem::take(&mut jobs))
            .await
            .map_err(Arc::new);
        for reply in replies.drain(..) {
            let _ = reply.send(result.clone().map_err(QueueError::Shared));
        }
    }
}
