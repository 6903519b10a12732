//! The durable queue between ingest and the digest: apalis on Redis (cluster
//! shape) or on the SQLite file of the embedded shape.

use std::sync::Arc;
use std::time::Duration;

use apalis_redis::{ConnectionManager, RedisStorage};
use apalis_sqlite::SqliteStorage;
use corral_core::config::QueueConfig;
use sqlx::SqlitePool;
use sqlx::sqlite::SqlitePoolOptions;

use crate::job::IngestJob;

/// Why a queue operation failed. The cause is kept, so whether trying again
/// may help is decided from it ([`QueueError::is_transient`]).
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// Redis refused a command or could not be reached.
    #[error("queue unavailable: {0}")]
    Redis(#[from] redis::RedisError),
    /// The embedded queue's SQLite file failed.
    #[error("queue unavailable: {0}")]
    Sqlite(#[from] sqlx::Error),
    /// The queue did not answer in time.
    #[error("queue unavailable: timed out {0}")]
    TimedOut(&'static str),
    /// Redis published fewer jobs than were pushed.
    #[error("queue unavailable: published {pushed} of {expected} jobs to the queue")]
    Incomplete { pushed: u64, expected: usize },
    /// The enqueuer's pushers are gone (the process is stopping).
    #[error("queue unavailable: the enqueuer stopped")]
    Stopped,
    /// A job could not be written as JSON.
    #[error("job not serializable: {0}")]
    Encode(#[from] serde_json::Error),
    /// `REDIS_URL` is not a Redis URL.
    #[error("queue setup failed: REDIS_URL: {0}")]
    RedisUrl(#[source] redis::RedisError),
    /// Creating the queue's tables, or moving jobs in, failed.
    #[error("queue setup failed: {what}: {source}")]
    Setup {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// One failed push, answered to each job it carried.
    #[error(transparent)]
    Shared(#[from] Arc<QueueError>),
}

impl QueueError {
    /// Whether the same operation may succeed later: a connection lost or
    /// refused, a busy database, a timeout. A bad URL, a job that does not
    /// serialize or a command the server refuses stay as they are.
    pub fn is_transient(&self) -> bool {
        match self {
            QueueError::Redis(e) => !matches!(e.retry_method(), redis::RetryMethod::NoRetry),
            QueueError::Sqlite(e) => sqlite_is_transient(e),
            QueueError::TimedOut(_) | QueueError::Incomplete { .. } | QueueError::Stopped => true,
            // at start, where a failure fails the start
            QueueError::Encode(_) | QueueError::RedisUrl(_) | QueueError::Setup { .. } => false,
            QueueError::Shared(e) => e.is_transient(),
        }
    }
}

/// SQLite's result codes that may clear by themselves (the low byte of an
/// extended code): busy, locked, an I/O error, a full disk.
fn sqlite_is_transient(e: &sqlx::Error) -> bool {
    const BUSY: i64 = 5;
    const LOCKED: i64 = 6;
    const IOERR: i64 = 10;
    const FULL: i64 = 13;
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|code| code.parse::<i64>().ok())
            .is_some_and(|code| matches!(code & 0xff, BUSY | LOCKED | IOERR | FULL)),
        _ => false,
    }
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
        /// Notified after every push: the embedded shape's worker shares the
        /// process and starts fetching at once instead of at its next poll.
        pushed: Arc<tokio::sync::Notify>,
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
    redis::Client::open(url).map_err(QueueError::RedisUrl)
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
    .map_err(|_| QueueError::TimedOut("connecting to Redis"))?
    .map_err(QueueError::Redis)
}

/// Pushes jobs onto apalis' Redis queue in apalis' own layout (payload in
/// the data hash, metadata hash per task, id on the pending list), in one
/// round trip of two commands.
///
/// apalis' own push puts every task in its *scheduled* set, due at once,
/// and its fetch moves all due tasks to the pending list with a single Lua
/// `unpack`, which fails past about 8,000 values. So a backlog of that size
/// (a worker restarting under load, or stopped for a minute) would stop
/// every fetch for good. Pushing straight to the pending list never builds
/// that set; [`JobQueue::promote_due`] keeps apalis' own retries in it few.
///
/// The payloads go in first, with one plain multi-field `HSET`; then a
/// small script publishes them (metadata, pending list, signal), but only
/// ids whose payload is in the data hash. Why not one script: a script
/// copies every ~5 KB payload into a Lua string and back, which a Redis
/// profile of the ingest benchmark had at twice the CPU of the plain
/// `HSET`. Why not MULTI/EXEC: Redis does not roll a transaction back when
/// one of its commands fails at run time (say WRONGTYPE), so the ids would
/// be published without their payloads — and the error, in one element of
/// the EXEC reply, is easy to miss. Here a failed `HSET` writes nothing and
/// makes the script fail before it writes anything (it reads the data hash
/// first), and either error is this function's error.
async fn redis_push(
    conn: &mut ConnectionManager,
    config: &apalis_redis::Config,
    jobs: &[IngestJob],
) -> Result<(), QueueError> {
    const PUBLISH: &str = r"
        local pushed = 0
        for i = 2, #ARGV do
            local id = ARGV[i]
            if redis.call('HEXISTS', KEYS[1], id) == 1 then
                redis.call('HSET', KEYS[4] .. ':' .. id, 'attempts', 0,
                    'max_attempts', ARGV[1], 'status', 'Pending', 'idempotency_key', '')
                redis.call('RPUSH', KEYS[2], id)
                pushed = pushed + 1
            end
        end
        if pushed > 0 then
            redis.call('DEL', KEYS[3])
            redis.call('LPUSH', KEYS[3], 1)
        end
        return pushed
        ";
    // new ULIDs: nothing already in the data hash is overwritten
    let ids: Vec<String> = jobs
        .iter()
        .map(|_| ulid::Ulid::generate().to_string())
        .collect();
    let mut data = redis::cmd("HSET");
    data.arg(config.job_data_hash());
    for (id, job) in ids.iter().zip(jobs) {
        let payload = serde_json::to_vec(job)?;
        data.arg(id).arg(payload);
    }
    let mut publish = redis::cmd("EVAL");
    publish
        .arg(PUBLISH)
        .arg(4)
        .arg(config.job_data_hash())
        .arg(config.active_jobs_list())
        .arg(config.signal_list())
        .arg(config.job_meta_hash())
        // what apalis writes when a task sets none; our retries are counted
        // by the worker (worker.max_attempts), not by this
        .arg(APALIS_MAX_ATTEMPTS)
        .arg(&ids);
    let mut pipe = redis::pipe();
    pipe.add_command(data).add_command(publish);
    // a non-atomic pipeline answers every reply, and an error reply of
    // either command fails the query
    let (_added, pushed): (u64, u64) = pipe.query_async(conn).await?;
    if pushed != ids.len() as u64 {
        return Err(QueueError::Incomplete {
            pushed,
            expected: ids.len(),
        });
    }
    Ok(())
}

/// apalis' default `max_attempts` for a task.
const APALIS_MAX_ATTEMPTS: u32 = 25;

/// Rows per INSERT of [`sqlite_push`]: two bound values a row, far below
/// SQLite's limit of 32,766 variables a statement.
const SQLITE_PUSH_ROWS: usize = 512;

/// Inserts jobs into apalis' SQLite `Jobs` table in apalis' own row format
/// (JSON payload, ULID id, `Pending`, no attempts yet, due now, priority 0,
/// empty metadata, no idempotency key), with one multi-row INSERT per
/// [`SQLITE_PUSH_ROWS`] jobs, in one transaction.
///
/// apalis' own `push_bulk` runs one INSERT per job, each a round trip to
/// sqlx's SQLite thread on the queue's one connection — which the worker's
/// fetches and acknowledgements wait for too.
async fn sqlite_push(
    pool: &SqlitePool,
    config: &apalis_sqlite::Config,
    jobs: &[IngestJob],
) -> Result<(), QueueError> {
    let payloads = jobs
        .iter()
        .map(|job| serde_json::to_vec(job).map(|p| (ulid::Ulid::generate().to_string(), p)))
        .collect::<Result<Vec<_>, _>>()?;
    let run_at = chrono::Utc::now().timestamp();
    let mut tx = pool.begin().await?;
    for chunk in payloads.chunks(SQLITE_PUSH_ROWS) {
        let mut insert = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO Jobs (job, id, job_type, status, attempts, max_attempts, run_at, \
             last_result, lock_at, lock_by, done_at, priority, metadata, idempotency_key) ",
        );
        insert.push_values(chunk, |mut row, (id, payload)| {
            row.push_bind(payload.as_slice())
                .push_bind(id.as_str())
                .push_bind(config.queue.as_ref())
                .push("'Pending', 0")
                .push_bind(i64::from(APALIS_MAX_ATTEMPTS))
                .push_bind(run_at)
                .push("NULL, NULL, NULL, NULL, 0, '{}', NULL");
        });
        insert.build().persistent(false).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Tells SQLite's query planner what apalis' `Jobs` table looks like under
/// load: `lock_by` is shared by every job a worker ever ran (until the vacuum
/// removes them), `id` is unique. Without statistics the planner guesses the
/// opposite for apalis' acknowledgement statement and walks every job of the
/// worker once per acknowledged job. Written by hand (SQLite allows that)
/// over what `ANALYZE` measured, which is whatever the table holds at start,
/// often nothing.
async fn planner_statistics(pool: &SqlitePool) -> Result<(), sqlx::Error> {
    // creates sqlite_stat1 when missing; the limit keeps it quick on a
    // long backlog
    sqlx::query("PRAGMA analysis_limit = 1000")
        .execute(pool)
        .await?;
    sqlx::query("ANALYZE Jobs").execute(pool).await?;
    let mut tx = pool.begin().await?;
    sqlx::query(
        "DELETE FROM sqlite_stat1 WHERE tbl = 'Jobs' \
         AND idx IN ('LIdx', 'sqlite_autoindex_Jobs_1')",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES \
         ('Jobs', 'LIdx', '100000 50000'), ('Jobs', 'sqlite_autoindex_Jobs_1', '100000 1')",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    sqlx::query("ANALYZE sqlite_schema").execute(pool).await?;
    Ok(())
}

impl JobQueue {
    /// The cluster shape's queue.
    pub async fn redis(url: &str, settings: &QueueConfig) -> Result<JobQueue, QueueError> {
        let conn = redis_connection(url).await?;
        // No per-task leases: apalis' lease script removes each fetched id
        // from the pending list again (LREM, a scan of the whole backlog per
        // task), although fetching already took it off. A fetched task sits
        // in the worker's in-flight set, from which orphan recovery and
        // `release_claimed` put it back; leases add nothing to that. No
        // pub/sub events either: nothing listens.
        let config = apalis_redis::Config::default()
            .queue(&settings.name)
            .lock_tasks(false)
            .emit_events(false)
            .batch_size(settings.fetch_batch.max(1))
            .heartbeat_interval(Duration::from_secs(settings.heartbeat_secs))
            .missed_heartbeats(3);
        let storage = RedisStorage::new(conn.clone()).with_config(config.clone());
        Ok(JobQueue::Redis {
            storage,
            conn,
            config,
        })
    }

    /// Moves the jobs a queue in another SQLite file holds (`Jobs` in
    /// `other_file`, e.g. the separate queue file an earlier version kept
    /// beside the store's) into this queue, in one transaction, so an
    /// upgrade loses nothing it had acknowledged. Returns how many moved; a
    /// file without a queue table moves nothing. Only for SQLite queues.
    pub async fn adopt_sqlite_jobs(&self, other_file: &std::path::Path) -> Result<u64, QueueError> {
        let JobQueue::Sqlite { pool, .. } = self else {
            return Ok(0);
        };
        let setup = |source: sqlx::Error| QueueError::Setup {
            what: other_file.display().to_string(),
            source: source.into(),
        };
        let mut conn = pool.acquire().await.map_err(setup)?;
        sqlx::query("ATTACH DATABASE ?1 AS other")
            .bind(other_file.to_string_lossy().into_owned())
            .execute(&mut *conn)
            .await
            .map_err(setup)?;
        let moved = async {
            let has_jobs: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM other.sqlite_master WHERE type = 'table' AND name = 'Jobs'",
            )
            .fetch_one(&mut *conn)
            .await?;
            if has_jobs == 0 {
                return Ok(0);
            }
            sqlx::query("BEGIN IMMEDIATE").execute(&mut *conn).await?;
            let moved = async {
                let n = sqlx::query("INSERT OR IGNORE INTO main.Jobs SELECT * FROM other.Jobs")
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                sqlx::query("DELETE FROM other.Jobs")
                    .execute(&mut *conn)
                    .await?;
                Ok::<u64, sqlx::Error>(n)
            }
            .await;
            let end = if moved.is_ok() { "COMMIT" } else { "ROLLBACK" };
            sqlx::query(end).execute(&mut *conn).await?;
            moved
        }
        .await;
        // detach whatever happened, so the pooled connection is as before
        let detached = sqlx::query("DETACH DATABASE other")
            .execute(&mut *conn)
            .await;
        let moved = moved.map_err(setup)?;
        detached.map_err(setup)?;
        Ok(moved)
    }

    /// What a worker in this process waits on besides its poll interval:
    /// notified after every push (SQLite queues only; a Redis queue's pushes
    /// come from other processes).
    pub fn pushed(&self) -> Option<Arc<tokio::sync::Notify>> {
        match self {
            JobQueue::Sqlite { pushed, .. } => Some(pushed.clone()),
            JobQueue::Redis { .. } => None,
        }
    }

    /// The embedded shape's queue on `pool`: the store's writing connection,
    /// so the queue lives in the store's one SQLite file.
    ///
    /// apalis' own setup switches its connection to `synchronous = OFF`; it
    /// runs here on a throwaway one-connection pool so the shared pool keeps
    /// the store's durable settings.
    pub async fn sqlite(pool: &SqlitePool, settings: &QueueConfig) -> Result<JobQueue, QueueError> {
        fn setup(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> QueueError {
            QueueError::Setup {
                what: "the embedded queue".into(),
                source: source.into(),
            }
        }
        let options = (*pool.connect_options()).clone();
        let setup_pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(setup)?;
        SqliteStorage::setup(&setup_pool).await.map_err(setup)?;
        planner_statistics(&setup_pool).await.map_err(setup)?;
        setup_pool.close().await;
        // the shared pool's connection reads the statistics now, not at its
        // next schema change
        sqlx::query("ANALYZE sqlite_schema")
            .execute(pool)
            .await
            .map_err(setup)?;
        // No per-task locks: apalis' lock statement looks for the ids among
        // every waiting job (a scan of the backlog per fetch). A fetched job
        // is already `Queued` under this worker's name, which is what orphan
        // recovery and `release_claimed` go by.
        let config = apalis_sqlite::Config::default()
            .queue(&settings.name)
            .lock_tasks(false)
            .batch_size(settings.fetch_batch.max(1))
            .heartbeat_interval(Duration::from_secs(settings.heartbeat_secs))
            .missed_heartbeats(3);
        let storage = SqliteStorage::new(pool).with_config(config.clone());
        Ok(JobQueue::Sqlite {
            storage,
            pool: pool.clone(),
            config,
            pushed: Arc::new(tokio::sync::Notify::new()),
        })
    }

    /// Moves up to `limit` due tasks from apalis' scheduled set (its
    /// retries) to the pending list, so that the set never holds more due
    /// tasks than apalis' fetch can move at once. Returns how many moved;
    /// nothing to do on SQLite.
    pub async fn promote_due(&self, limit: u64) -> Result<u64, QueueError> {
        let JobQueue::Redis { conn, config, .. } = self else {
            return Ok(0);
        };
        let mut conn = conn.clone();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let script = redis::Script::new(
            r"
            local ids = redis.call('ZRANGEBYSCORE', KEYS[1], 0, ARGV[1], 'LIMIT', 0, ARGV[2])
            for _, id in ipairs(ids) do
                redis.call('RPUSH', KEYS[2], id)
                redis.call('ZREM', KEYS[1], id)
            end
            if #ids > 0 then
                redis.call('DEL', KEYS[3])
                redis.call('LPUSH', KEYS[3], 1)
            end
            return #ids
            ",
        );
        let mut moved = script.prepare_invoke();
        moved
            .key(config.scheduled_jobs_set())
            .key(config.active_jobs_list())
            .key(config.signal_list())
            .arg(now)
            .arg(limit);
        tokio::time::timeout(Duration::from_secs(10), moved.invoke_async(&mut conn))
            .await
            .map_err(|_| QueueError::TimedOut("promoting retries"))?
            .map_err(QueueError::Redis)
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
        self.push_bulk(vec![job]).await
    }

    /// Enqueues jobs in one operation: one Redis script call or one SQLite
    /// transaction, so all of them are stored or none.
    pub async fn push_bulk(&self, jobs: Vec<IngestJob>) -> Result<(), QueueError> {
        if jobs.is_empty() {
            return Ok(());
        }
        let limit = Duration::from_secs(10);
        let timed_out = |_| QueueError::TimedOut("enqueueing");
        match self {
            JobQueue::Redis { conn, config, .. } => {
                let mut conn = conn.clone();
                tokio::time::timeout(limit, redis_push(&mut conn, config, &jobs))
                    .await
                    .map_err(timed_out)?
            }
            JobQueue::Sqlite {
                pool,
                config,
                pushed,
                ..
            } => {
                tokio::time::timeout(limit, sqlite_push(pool, config, &jobs))
                    .await
                    .map_err(timed_out)??;
                pushed.notify_one();
                Ok(())
            }
        }
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
                    .await?;
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
                let counts: Vec<u64> = pipe.query_async(&mut conn).await?;
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
                .await?;
                Ok(QueueDepth {
                    pending: row.0.max(0) as u64,
                    scheduled: row.1.max(0) as u64,
                    running: row.2.max(0) as u64,
                })
            }
        }
    }

    /// Closes an SQLite queue's connection (its WAL is checkpointed); a
    /// Redis queue's connection closes when its last clone is dropped.
    pub async fn close(&self) {
        if let JobQueue::Sqlite { pool, .. } = self {
            pool.close().await;
        }
    }

    /// Answers only when the queue's server can be reached.
    pub async fn ping(&self) -> Result<(), QueueError> {
        match self {
            JobQueue::Redis { conn, .. } => {
                let mut conn = conn.clone();
                let _: String = redis::cmd("PING").query_async(&mut conn).await?;
                Ok(())
            }
            JobQueue::Sqlite { pool, .. } => sqlx::query("SELECT 1")
                .execute(pool)
                .await
                .map(|_| ())
                .map_err(QueueError::from),
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
                    .map_err(QueueError::from)
            }
            JobQueue::Sqlite { pool, config, .. } => {
                let released = sqlx::query(
                    "UPDATE Jobs SET status = 'Pending', lock_by = NULL, lock_at = NULL \
                     WHERE job_type = ?1 AND lock_by = ?2 AND status IN ('Queued', 'Running')",
                )
                .bind(config.queue.as_ref())
                .bind(worker)
                .execute(pool)
                .await?;
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
                    .await?;
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
                .await?;
                Ok(done.rows_affected())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_connections_and_timeouts_are_transient_bad_input_is_not() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(QueueError::Redis(redis::RedisError::from(refused)).is_transient());
        assert!(QueueError::Sqlite(sqlx::Error::PoolTimedOut).is_transient());
        assert!(QueueError::TimedOut("enqueueing").is_transient());
        assert!(QueueError::Shared(Arc::new(QueueError::Stopped)).is_transient());

        let not_json = serde_json::from_str::<u8>("x").unwrap_err();
        assert!(!QueueError::Encode(not_json).is_transient());
        assert!(!QueueError::Sqlite(sqlx::Error::RowNotFound).is_transient());
        let url = redis::Client::open("not a url").unwrap_err();
        assert!(!QueueError::RedisUrl(url).is_transient());
    }
}
