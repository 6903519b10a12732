//! The durable queue between ingest and the digest: apalis on Redis (cluster
//! shape) or on the SQLite file of the embedded shape.

use std::time::Duration;

use apalis::prelude::TaskSink;
use apalis_redis::{ConnectionManager, RedisStorage};
use apalis_sqlite::SqliteStorage;
use corral_core::config::QueueConfig;
use sqlx::SqlitePool;
use sqlx::sqlite::SqlitePoolOptions;

use crate::job::IngestJob;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue unavailable: {0}")]
    Unavailable(String),
    #[error("queue setup failed: {0}")]
    Setup(String),
}

/// Jobs waiting and running, for backpressure and `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueDepth {
    /// Ready to run now.
    pub pending: u64,
    /// Waiting for a retry or a later start.
    pub scheduled: u64,
    /// Taken by a worker and not yet acknowledged.
    pub running: u64,
}

impl QueueDepth {
    /// Everything not yet done: what ingest compares with `max_depth`.
    pub fn backlog(&self) -> u64 {
        self.pending + self.scheduled + self.running
    }
}

/// A handle on the queue; cheap to clone (clones share connections).
#[derive(Clone)]
pub enum JobQueue {
    Redis {
        storage: RedisStorage<IngestJob, ConnectionManager>,
        conn: ConnectionManager,
        config: apalis_redis::Config,
    },
    Sqlite {
        storage: SqliteStorage<IngestJob>,
        pool: SqlitePool,
        config: apalis_sqlite::Config,
    },
}

impl std::fmt::Debug for JobQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JobQueue::Redis { .. } => "JobQueue::Redis",
            JobQueue::Sqlite { .. } => "JobQueue::Sqlite",
        })
    }
}

/// Redis connection settings every network call of ours relies on.
fn redis_client(url: &str) -> Result<redis::Client, QueueError> {
    redis::Client::open(url).map_err(|e| QueueError::Setup(format!("REDIS_URL: {e}")))
}

/// A connection manager that reconnects, with timeouts on connect and on
/// every command, so a stalled Redis fails requests instead of hanging them.
pub async fn redis_connection(url: &str) -> Result<ConnectionManager, QueueError> {
    let client = redis_client(url)?;
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(5)))
        .set_response_timeout(Some(Duration::from_secs(5)))
        .set_number_of_retries(2);
    tokio::time::timeout(
        Duration::from_secs(10),
        client.get_connection_manager_with_config(config),
    )
    .await
    .map_err(|_| QueueError::Unavailable("timed out connecting to Redis".into()))?
    .map_err(|e| QueueError::Unavailable(e.to_string()))
}

impl JobQueue {
    /// The cluster shape's queue.
    pub async fn redis(url: &str, settings: &QueueConfig) -> Result<JobQueue, QueueError> {
        let conn = redis_connection(url).await?;
        let config = apalis_redis::Config::default()
            .queue(&settings.name)
            .batch_size(64)
            .heartbeat_interval(Duration::from_secs(settings.heartbeat_secs))
            .missed_heartbeats(3);
        let storage = RedisStorage::new(conn.clone()).with_config(config.clone());
        Ok(JobQueue::Redis {
            storage,
            conn,
            config,
        })
    }

    /// The embedded shape's queue, in the same SQLite file as the store.
    ///
    /// apalis' own setup switches its connection to `synchronous = OFF`; it
    /// runs here on a throwaway one-connection pool so the shared pool keeps
    /// the store's durable settings.
    pub async fn sqlite(pool: &SqlitePool, settings: &QueueConfig) -> Result<JobQueue, QueueError> {
        let options = (*pool.connect_options()).clone();
        let setup_pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(|e| QueueError::Setup(e.to_string()))?;
        SqliteStorage::setup(&setup_pool)
            .await
            .map_err(|e| QueueError::Setup(e.to_string()))?;
        setup_pool.close().await;
        let config = apalis_sqlite::Config::default()
            .queue(&settings.name)
            .batch_size(64)
            .heartbeat_interval(Duration::from_secs(settings.heartbeat_secs))
            .missed_heartbeats(3);
        let storage = SqliteStorage::new(pool).with_config(config.clone());
        Ok(JobQueue::Sqlite {
            storage,
            pool: pool.clone(),
            config,
        })
    }

    pub fn backend(&self) -> &'static str {
        match self {
            JobQueue::Redis { .. } => "redis",
            JobQueue::Sqlite { .. } => "sqlite",
        }
    }

    pub fn name(&self) -> &str {
        match self {
            JobQueue::Redis { config, .. } => config.queue.as_ref(),
            JobQueue::Sqlite { config, .. } => config.queue.as_ref(),
        }
    }

    /// Enqueues a job; when this returns `Ok` the job is durably stored
    /// (the Redis script ran / the SQLite transaction committed).
    pub async fn push(&self, job: IngestJob) -> Result<(), QueueError> {
        let result = match self {
            JobQueue::Redis { storage, .. } => {
                let mut storage = storage.clone();
                tokio::time::timeout(Duration::from_secs(10), storage.push(job))
                    .await
                    .map_err(|_| QueueError::Unavailable("timed out enqueueing".into()))?
                    .map_err(|e| e.to_string())
            }
            JobQueue::Sqlite { storage, .. } => {
                let mut storage = storage.clone();
                tokio::time::timeout(Duration::from_secs(10), storage.push(job))
                    .await
                    .map_err(|_| QueueError::Unavailable("timed out enqueueing".into()))?
                    .map_err(|e| e.to_string())
            }
        };
        result.map_err(QueueError::Unavailable)
    }

    /// How many jobs wait and run.
    pub async fn depth(&self) -> Result<QueueDepth, QueueError> {
        match self {
            JobQueue::Redis { conn, config, .. } => {
                let mut conn = conn.clone();
                let now = chrono::Utc::now().timestamp();
                let workers: Vec<String> = redis::cmd("ZRANGE")
                    .arg(config.workers_set())
                    .arg(0)
                    .arg(-1)
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| QueueError::Unavailable(e.to_string()))?;
                let mut pipe = redis::pipe();
                pipe.cmd("LLEN").arg(config.active_jobs_list());
                pipe.cmd("ZCOUNT")
                    .arg(config.scheduled_jobs_set())
                    .arg("-inf")
                    .arg(now);
                pipe.cmd("ZCOUNT")
                    .arg(config.scheduled_jobs_set())
                    .arg(format!("({now}"))
                    .arg("+inf");
                for w in &workers {
                    pipe.cmd("SCARD")
                        .arg(format!("{}:{w}", config.inflight_jobs_set()));
                }
                let counts: Vec<u64> = pipe
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| QueueError::Unavailable(e.to_string()))?;
                Ok(QueueDepth {
                    pending: counts.first().copied().unwrap_or(0)
                        + counts.get(1).copied().unwrap_or(0),
                    scheduled: counts.get(2).copied().unwrap_or(0),
                    running: counts.iter().skip(3).sum(),
                })
            }
            JobQueue::Sqlite { pool, config, .. } => {
                let now = chrono::Utc::now().timestamp();
                let row: (i64, i64, i64) = sqlx::query_as(
                    "SELECT \
                       COALESCE(SUM(status = 'Pending' AND run_at <= ?2), 0), \
                       COALESCE(SUM(status = 'Pending' AND run_at > ?2), 0), \
                       COALESCE(SUM(status IN ('Queued', 'Running')), 0) \
                     FROM Jobs WHERE job_type = ?1 \
                       AND status IN ('Pending', 'Queued', 'Running')",
                )
                .bind(config.queue.as_ref())
                .bind(now)
                .fetch_one(pool)
                .await
                .map_err(|e| QueueError::Unavailable(e.to_string()))?;
                Ok(QueueDepth {
                    pending: row.0.max(0) as u64,
                    scheduled: row.1.max(0) as u64,
                    running: row.2.max(0) as u64,
                })
            }
        }
    }

    /// Answers only when the queue's server can be reached.
    pub async fn ping(&self) -> Result<(), QueueError> {
        match self {
            JobQueue::Redis { conn, .. } => {
                let mut conn = conn.clone();
                let _: String = redis::cmd("PING")
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| QueueError::Unavailable(e.to_string()))?;
                Ok(())
            }
            JobQueue::Sqlite { pool, .. } => sqlx::query("SELECT 1")
                .execute(pool)
                .await
                .map(|_| ())
                .map_err(|e| QueueError::Unavailable(e.to_string())),
        }
    }

    /// Puts back on the queue what worker `worker` claimed and did not
    /// finish; call it once that worker has stopped. apalis returns the
    /// tasks of its local buffer on shutdown, but not a batch whose fetch
    /// was under way when shutdown began (nor tasks cut short by the
    /// shutdown timeout): without this they would wait for orphan recovery
    /// (three missed heartbeats). Returns how many went back.
    pub async fn release_claimed(&self, worker: &str) -> Result<u64, QueueError> {
        match self {
            JobQueue::Redis { conn, config, .. } => {
                let mut conn = conn.clone();
                // what apalis' own orphan recovery does, for this one worker
                let script = redis::Script::new(
                    r"
                    local ids = redis.call('SMEMBERS', KEYS[3])
                    if #ids > 0 then
                        redis.call('RPUSH', KEYS[2], unpack(ids))
                        redis.call('DEL', KEYS[3])
                        redis.call('DEL', KEYS[4])
                        redis.call('LPUSH', KEYS[4], 1)
                    end
                    redis.call('ZREM', KEYS[1], ARGV[1])
                    return #ids
                    ",
                );
                script
                    .key(config.workers_set())
                    .key(config.active_jobs_list())
                    .key(format!("{}:{worker}", config.inflight_jobs_set()))
                    .key(config.signal_list())
                    .arg(worker)
                    .invoke_async(&mut conn)
                    .await
                    .map_err(|e| QueueError::Unavailable(e.to_string()))
            }
            JobQueue::Sqlite { pool, config, .. } => {
                let released = sqlx::query(
                    "UPDATE Jobs SET status = 'Pending', lock_by = NULL, lock_at = NULL \
                     WHERE job_type = ?1 AND lock_by = ?2 AND status IN ('Queued', 'Running')",
                )
                .bind(config.queue.as_ref())
                .bind(worker)
                .execute(pool)
                .await
                .map_err(|e| QueueError::Unavailable(e.to_string()))?;
                Ok(released.rows_affected())
            }
        }
    }

    /// Forgets finished jobs (apalis keeps them): at most `limit` per call,
    /// so one run never blocks the queue's server for long. Returns how many
    /// were removed.
    pub async fn vacuum(&self, limit: u64) -> Result<u64, QueueError> {
        match self {
            JobQueue::Redis { conn, config, .. } => {
                let mut conn = conn.clone();
                // finished ids are in :done (and :dead for apalis' own give-ups,
                // which our handler never produces: it dead-letters into the store)
                let script = redis::Script::new(
                    r"
                    local ids = redis.call('SPOP', KEYS[1], ARGV[1])
                    for _, id in ipairs(ids) do
                        redis.call('HDEL', KEYS[2], id)
                        redis.call('DEL', KEYS[3] .. ':' .. id)
                    end
                    return #ids
                    ",
                );
                let removed: u64 = script
                    .key(config.done_jobs_set())
                    .key(config.job_data_hash())
                    .key(config.job_meta_hash())
                    .arg(limit)
                    .invoke_async(&mut conn)
                    .await
                    .map_err(|e| QueueError::Unavailable(e.to_string()))?;
                Ok(removed)
            }
            JobQueue::Sqlite { pool, config, .. } => {
                let done = sqlx::query(
                    "DELETE FROM Jobs WHERE rowid IN ( \
                       SELECT rowid FROM Jobs WHERE job_type = ?1 AND status = 'Done' LIMIT ?2)",
                )
                .bind(config.queue.as_ref())
                .bind(limit as i64)
                .execute(pool)
                .await
                .map_err(|e| QueueError::Unavailable(e.to_string()))?;
                Ok(done.rows_affected())
            }
        }
    }
}
