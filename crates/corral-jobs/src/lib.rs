//! The jobs between ingest and storage, shared by the cluster worker and the
//! embedded server.
//!
//! - [`IngestJob`]: what ingest enqueues (one per accepted request).
//! - [`JobQueue`]: apalis on Redis or on the embedded SQLite file.
//! - [`Batcher`]: groups digest writes into transactions.
//! - [`process`] / [`run_job`]: the digest of one job, item by item, with
//!   dead-lettering of the items that fail; the one timeout and panic layer
//!   around it (`guard`).
//! - [`worker::run`]: the worker loop with retries and graceful shutdown;
//!   [`DigestWorker`]: all of the digest, set up from the configuration.

pub mod alerts;
mod batch;
mod enqueue;
mod guard;
mod handler;
pub mod items;
mod job;
mod queue;
pub mod worker;

pub use alerts::AlertRunner;
pub use batch::{BatchError, Batcher};
pub use enqueue::Enqueuer;
pub use handler::{
    Disposition, ItemFailure, JobContext, JobError, JobReport, disposition, process, run_job,
};
pub use job::{AttachmentRef, IngestJob, JOB_FORMAT, JobItem, Payload};
pub use queue::{JobQueue, QueueDepth, QueueError, redis_connection};
pub use worker::DigestWorker;
