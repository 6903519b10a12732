//! The two queue shapes on real services (an SQLite file; Redis next to a
//! fresh PostgreSQL database), a digest worker running on them, and real
//! ways to make the store fail: a lock held by another connection, and a
//! trigger that refuses every event.

#![allow(dead_code)]

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use corral_core::config::QueueConfig;
use corral_core::model::ProjectId;
use corral_core::{IssueQuery, NewProject, SharedStore, Store};
use corral_jobs::worker::{WorkerSettings, unique_worker_name};
use corral_jobs::{Batcher, IngestJob, JobContext, JobItem, JobQueue};
use corral_store::{PgStore, SqliteStore};
use corral_testkit::{TestPg, TestSqlite, redis_url, test_queue_name};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use sqlx::{Connection, Executor};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Embedded: the queue in the store's SQLite file.
    Sqlite,
    /// Cluster: Redis queue, PostgreSQL store.
    RedisPg,
}

/// A store, a queue and a project on real services; removed on drop.
pub struct Env {
    pub shape: Shape,
    pub store: SharedStore,
    pub queue: JobQueue,
    pub project: ProjectId,
    pub sqlite: Option<Arc<SqliteStore>>,
    pub pg: Option<Arc<PgStore>>,
    pub redis: Option<redis::aio::ConnectionManager>,
    db: Db,
}

enum Db {
    Sqlite(TestSqlite),
    Pg(Option<TestPg>),
}

pub fn queue_settings() -> QueueConfig {
    QueueConfig {
        name: test_queue_name(),
        heartbeat_secs: 2,
        poll_interval_ms: 20,
        ..QueueConfig::default()
    }
}

impl Env {
    pub async fn new(shape: Shape) -> Env {
        let settings = queue_settings();
        let (store, queue, sqlite, pg, redis, db): (SharedStore, _, _, _, _, _) = match shape {
            Shape::Sqlite => {
                let file = TestSqlite::new();
                let store = Arc::new(SqliteStore::open(file.path()).await.expect("sqlite"));
                store.migrate().await.expect("migrate");
                // in the store's file, as `corral serve` has it
                let queue = JobQueue::sqlite(store.pool(), &settings)
                    .await
                    .expect("sqlite queue");
                (
                    store.clone(),
                    queue,
                    Some(store),
                    None,
                    None,
                    Db::Sqlite(file),
                )
            }
            Shape::RedisPg => {
                let db = TestPg::new().await;
                let store = Arc::new(PgStore::connect(db.url(), 8).await.expect("postgres"));
                store.migrate().await.expect("migrate");
                let queue = JobQueue::redis(&redis_url(), &settings)
                    .await
                    .expect("redis queue");
                let redis = corral_jobs::redis_connection(&redis_url())
                    .await
                    .expect("redis");
                (
                    store.clone(),
                    queue,
                    None,
                    Some(store),
                    Some(redis),
                    Db::Pg(Some(db)),
                )
            }
        };
        let org = store
            .create_organization("acme", "Acme")
            .await
            .expect("organization");
        let project = store
            .create_project(NewProject {
                org_id: org.id,
                slug: "backend".into(),
                name: "Backend".into(),
                platform: None,
            })
            .await
            .expect("project")
            .id;
        Env {
            shape,
            store,
            queue,
            project,
            sqlite,
            pg,
            redis,
            db,
        }
    }

    /// A job holding one event.
    pub fn job(&self, event_id: Uuid, message: &str) -> IngestJob {
        self.job_at(event_id, message, Utc::now())
    }

    pub fn job_at(&self, event_id: Uuid, message: &str, at: DateTime<Utc>) -> IngestJob {
        IngestJob::new(
            self.project,
            at,
            vec![JobItem::Event {
                event_id,
                payload: serde_json::json!({ "message": message, "level": "error" })
                    .to_string()
                    .into(),
            }],
        )
    }

    pub async fn push(&self, job: IngestJob) {
        self.queue.push(job).await.expect("push");
    }

    /// Whether the store holds the event.
    pub async fn stored(&self, event_id: Uuid) -> bool {
        match self.store.event_by_id(self.project, event_id).await {
            Ok(_) => true,
            Err(corral_core::StoreError::NotFound(_)) => false,
            Err(e) => panic!("event_by_id: {e}"),
        }
    }

    /// Rows per event id in `events` (straight SQL: `event_by_id` would hide
    /// a duplicate).
    pub async fn event_rows(&self) -> std::collections::HashMap<Uuid, i64> {
        match (&self.sqlite, &self.pg) {
            (Some(s), _) => sqlx::query_as::<_, (Uuid, i64)>(
                "SELECT event_id, count(*) FROM events GROUP BY event_id",
            )
            .fetch_all(s.read_pool())
            .await
            .expect("count events")
            .into_iter()
            .collect(),
            (_, Some(p)) => sqlx::query_as::<_, (Uuid, i64)>(
                "SELECT event_id, count(*) FROM events GROUP BY event_id",
            )
            .fetch_all(p.pool())
            .await
            .expect("count events")
            .into_iter()
            .collect(),
            _ => unreachable!(),
        }
    }

    /// The sum of `times_seen` over every issue of the project.
    pub async fn times_seen(&self) -> i64 {
        let issues = self
            .store
            .list_issues(&IssueQuery {
                project_ids: vec![self.project],
                limit: 1000,
                ..Default::default()
            })
            .await
            .expect("issues");
        issues.iter().map(|i| i.times_seen).sum()
    }

    /// Finished jobs as the queue records them (SQLite rows with status
    /// Done; members of Redis' `:done` set).
    pub async fn done_jobs(&self) -> u64 {
        match &self.queue {
            JobQueue::Sqlite { pool, config, .. } => {
                let n: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM Jobs WHERE job_type = ?1 AND status = 'Done'",
                )
                .bind(config.queue.as_ref())
                .fetch_one(pool)
                .await
                .expect("done jobs");
                n as u64
            }
            JobQueue::Redis { config, .. } => {
                let mut conn = self.redis.clone().expect("redis");
                redis::cmd("SCARD")
                    .arg(config.done_jobs_set())
                    .query_async(&mut conn)
                    .await
                    .expect("SCARD done")
            }
        }
    }

    /// Jobs that are neither done nor given up: waiting, claimed, or failed
    /// and due for another try.
    pub async fn unfinished_jobs(&self) -> u64 {
        match &self.queue {
            JobQueue::Sqlite { pool, config, .. } => {
                let n: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM Jobs WHERE job_type = ?1 \
                     AND (status IN ('Pending', 'Queued', 'Running') \
                          OR (status = 'Failed' AND attempts < max_attempts))",
                )
                .bind(config.queue.as_ref())
                .fetch_one(pool)
                .await
                .expect("unfinished jobs");
                n as u64
            }
            JobQueue::Redis { .. } => self.queue.depth().await.expect("depth").backlog(),
        }
    }

    /// Jobs a worker has claimed and not finished (SQLite rows Queued or
    /// Running; members of Redis' per-worker in-flight sets).
    pub async fn claimed_jobs(&self) -> u64 {
        match &self.queue {
            JobQueue::Sqlite { pool, config, .. } => {
                let n: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM Jobs WHERE job_type = ?1 \
                     AND status IN ('Queued', 'Running')",
                )
                .bind(config.queue.as_ref())
                .fetch_one(pool)
                .await
                .expect("claimed jobs");
                n as u64
            }
            JobQueue::Redis { config, .. } => {
                let mut conn = self.redis.clone().expect("redis");
                let keys: Vec<String> = redis::cmd("KEYS")
                    .arg(format!("{}:*", config.inflight_jobs_set()))
                    .query_async(&mut conn)
                    .await
                    .expect("KEYS");
                let mut n = 0;
                for key in keys {
                    let c: u64 = redis::cmd("SCARD")
                        .arg(key)
                        .query_async(&mut conn)
                        .await
                        .expect("SCARD");
                    n += c;
                }
                n
            }
        }
    }

    /// Jobs apalis itself gave up on (never ours: the handler dead-letters
    /// into the store instead).
    pub async fn apalis_dead_jobs(&self) -> u64 {
        match &self.queue {
            JobQueue::Sqlite { pool, config, .. } => {
                let n: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM Jobs WHERE job_type = ?1 \
                     AND (status = 'Killed' OR (status = 'Failed' AND attempts >= max_attempts))",
                )
                .bind(config.queue.as_ref())
                .fetch_one(pool)
                .await
                .expect("dead jobs");
                n as u64
            }
            JobQueue::Redis { config, .. } => {
                let mut conn = self.redis.clone().expect("redis");
                redis::cmd("SCARD")
                    .arg(config.dead_jobs_set())
                    .query_async(&mut conn)
                    .await
                    .expect("SCARD dead")
            }
        }
    }

    /// Makes every digest fail with a database error (a trigger on
    /// `event_ids`), until [`Env::heal`]. On PostgreSQL each try is counted
    /// by a sequence, which a rollback does not undo.
    pub async fn break_digest(&self) {
        match (&self.sqlite, &self.pg) {
            (Some(s), _) => {
                s.pool()
                    .execute(
                        "CREATE TRIGGER test_fault BEFORE INSERT ON event_ids \
                         BEGIN SELECT RAISE(ABORT, 'injected fault'); END",
                    )
                    .await
                    .expect("create trigger");
            }
            (_, Some(p)) => {
                p.pool()
                    .execute(
                        "CREATE SEQUENCE test_fault_tries; \
                         CREATE FUNCTION test_fault() RETURNS trigger LANGUAGE plpgsql AS $$ \
                         BEGIN PERFORM nextval('test_fault_tries'); \
                         RAISE EXCEPTION 'injected fault'; END $$; \
                         CREATE TRIGGER test_fault BEFORE INSERT ON event_ids \
                         FOR EACH STATEMENT EXECUTE FUNCTION test_fault();",
                    )
                    .await
                    .expect("create trigger");
            }
            _ => unreachable!(),
        }
    }

    /// Makes the digest of one event fail with a database error (a row
    /// trigger on `event_ids`), every time; the others are written.
    pub async fn poison(&self, event_id: Uuid) {
        match (&self.sqlite, &self.pg) {
            (Some(s), _) => {
                let sql = format!(
                    "CREATE TRIGGER test_poison BEFORE INSERT ON event_ids \
                     WHEN NEW.event_id = X'{}' \
                     BEGIN SELECT RAISE(ABORT, 'injected fault'); END",
                    event_id.simple()
                );
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(s.pool())
                    .await
                    .expect("create trigger");
            }
            (_, Some(p)) => {
                let sql = format!(
                    "CREATE FUNCTION test_poison() RETURNS trigger LANGUAGE plpgsql AS $$ \
                     BEGIN RAISE EXCEPTION 'injected fault'; END $$; \
                     CREATE TRIGGER test_poison BEFORE INSERT ON event_ids \
                     FOR EACH ROW WHEN (NEW.event_id = '{event_id}'::uuid) \
                     EXECUTE FUNCTION test_poison();"
                );
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(p.pool())
                    .await
                    .expect("create trigger");
            }
            _ => unreachable!(),
        }
    }

    pub async fn heal(&self) {
        match (&self.sqlite, &self.pg) {
            (Some(s), _) => {
                s.pool()
                    .execute("DROP TRIGGER test_fault")
                    .await
                    .expect("drop trigger");
            }
            (_, Some(p)) => {
                p.pool()
                    .execute("DROP TRIGGER test_fault ON event_ids")
                    .await
                    .expect("drop trigger");
            }
            _ => unreachable!(),
        }
    }

    /// How many digests reached the broken table (PostgreSQL only).
    pub async fn failed_digest_tries(&self) -> Option<i64> {
        let p = self.pg.as_ref()?;
        let (value, called): (i64, bool) =
            sqlx::query_as("SELECT last_value, is_called FROM test_fault_tries")
                .fetch_one(p.pool())
                .await
                .expect("sequence");
        Some(if called { value } else { 0 })
    }

    /// Holds the write lock the digest needs, from another connection:
    /// `LOCK TABLE event_ids IN EXCLUSIVE MODE` on PostgreSQL (writers wait,
    /// readers such as the test's own checks do not), `BEGIN IMMEDIATE` on
    /// SQLite (which also stalls the queue in the same file).
    pub async fn lock_writes(&self) -> WriteLock {
        match (&self.sqlite, &self.pg) {
            (Some(s), _) => {
                let options = (*s.pool().connect_options()).clone();
                let mut conn = sqlx::SqliteConnection::connect_with(&options)
                    .await
                    .expect("lock connection");
                conn.execute("BEGIN IMMEDIATE")
                    .await
                    .expect("BEGIN IMMEDIATE");
                WriteLock::Sqlite(conn)
            }
            (_, Some(p)) => {
                let options = (*p.pool().connect_options()).clone();
                let mut conn = sqlx::PgConnection::connect_with(&options)
                    .await
                    .expect("lock connection");
                conn.execute("BEGIN; LOCK TABLE event_ids IN EXCLUSIVE MODE")
                    .await
                    .expect("LOCK TABLE");
                WriteLock::Pg(conn)
            }
            _ => unreachable!(),
        }
    }

    /// Removes the test's Redis keys and database.
    pub async fn cleanup(mut self) {
        if let (Some(conn), JobQueue::Redis { config, .. }) = (&self.redis, &self.queue) {
            let mut conn = conn.clone();
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{}*", config.queue.as_ref()))
                .query_async(&mut conn)
                .await
                .unwrap_or_default();
            if !keys.is_empty() {
                let _: Result<(), _> = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await;
            }
        }
        if let Some(p) = &self.pg {
            p.pool().close().await;
        }
        if let Db::Pg(db) = &mut self.db
            && let Some(db) = db.take()
        {
            db.cleanup().await;
        }
    }
}

/// The other connection's transaction; [`WriteLock::release`] rolls it back.
pub enum WriteLock {
    Sqlite(sqlx::SqliteConnection),
    Pg(sqlx::PgConnection),
}

impl WriteLock {
    pub async fn release(self) {
        match self {
            WriteLock::Sqlite(mut c) => {
                c.execute("ROLLBACK").await.expect("ROLLBACK");
            }
            WriteLock::Pg(mut c) => {
                c.execute("ROLLBACK").await.expect("ROLLBACK");
            }
        }
    }
}

/// What a test worker is given.
#[derive(Clone, Debug)]
pub struct Knobs {
    pub max_attempts: u32,
    pub concurrency: usize,
    pub job_timeout: Duration,
    pub shutdown_timeout: Duration,
    pub batch_size: usize,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs {
            max_attempts: 3,
            concurrency: 16,
            job_timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(10),
            batch_size: 32,
        }
    }
}

/// `corral_jobs::worker::run` on a task, stopped by [`Worker::stop`].
pub struct Worker {
    stop: watch::Sender<bool>,
    handle: JoinHandle<Result<(), corral_jobs::worker::WorkerError>>,
    batch: JoinHandle<()>,
}

impl Worker {
    pub fn start(env: &Env, knobs: &Knobs) -> Worker {
        let (batcher, batch) = Batcher::spawn(
            env.store.clone(),
            knobs.batch_size,
            Duration::from_millis(5),
            // more than one, so concurrent digest transactions are exercised
            2,
        );
        let ctx = Arc::new(JobContext::new(
            env.store.clone(),
            batcher,
            env.queue.name(),
            knobs.max_attempts,
            100,
        ));
        let settings = WorkerSettings {
            name: unique_worker_name("test"),
            concurrency: knobs.concurrency,
            poll_interval: Duration::from_millis(20),
            job_timeout: knobs.job_timeout,
            shutdown_timeout: knobs.shutdown_timeout,
        };
        let (stop, mut stopped) = watch::channel(false);
        let handle = tokio::spawn(corral_jobs::worker::run(
            env.queue.clone(),
            ctx,
            settings,
            async move {
                let _ = stopped.wait_for(|s| *s).await;
            },
        ));
        Worker {
            stop,
            handle,
            batch,
        }
    }

    /// Signals shutdown and waits for the worker (and its batcher) to end;
    /// returns how long that took.
    pub async fn stop(self) -> Duration {
        let started = Instant::now();
        let _ = self.stop.send(true);
        tokio::time::timeout(Duration::from_secs(30), self.handle)
            .await
            .expect("the worker stops within 30 s")
            .expect("worker task")
            .expect("worker result");
        tokio::time::timeout(Duration::from_secs(30), self.batch)
            .await
            .expect("the batcher stops once the worker is gone")
            .expect("batch task");
        started.elapsed()
    }
}

/// Polls `check` until it holds; panics with `what` after `timeout`.
pub async fn wait_until<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The process-wide metrics recorder (each test runs in its own process
/// under nextest, so counts belong to one test).
pub fn metrics() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .install_recorder()
            .expect("a metrics recorder")
    })
}

/// `corral_jobs_total{result="…"}`, 0 when never counted.
pub fn jobs_total(result: &str) -> u64 {
    let needle = format!("corral_jobs_total{{result=\"{result}\"}} ");
    metrics()
        .render()
        .lines()
        .find_map(|l| l.strip_prefix(needle.as_str()))
        .map(|v| v.trim().parse::<f64>().expect("a number") as u64)
        .unwrap_or(0)
}
