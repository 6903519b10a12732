//! Crash durability, as processes: whatever got `200` is stored exactly once,
//! however the digest was interrupted (SIGKILL of the worker or of the whole
//! embedded server mid-load, or SIGTERM).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use crate::support::{
    self, assert_exactly_once, spawn_load, sqlite_jobs, stored_pg, stored_sqlite, wait_answered,
    wait_until,
};
use corral_core::config::QueueConfig;
use corral_jobs::JobQueue;
use corral_testkit::{Cluster, Embedded, TestPg, free_port, redis_url, test_queue_name};

const LOAD: usize = 500;
const CONCURRENCY: usize = 24;

fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("corral-durability-")
        .tempdir()
        .expect("a temporary directory")
}

/// `corral serve` needs the embedded file even though the test harness
/// exports the PostgreSQL admin URL (which child processes inherit).
fn embedded_env(data: &Path) -> (PathBuf, String) {
    let file = data.join("corral.sqlite");
    let url = format!("sqlite://{}", file.display());
    (file, url)
}

async fn queue_of(queue: &str) -> JobQueue {
    JobQueue::redis(
        &redis_url(),
        &QueueConfig {
            name: queue.to_string(),
            ..QueueConfig::default()
        },
    )
    .await
    .expect("the cluster's queue")
}

/// The Redis keys of in-flight sets of every worker (apalis keeps one per worker).
async fn claimed_in_redis(queue: &str) -> u64 {
    let mut conn = corral_jobs::redis_connection(&redis_url())
        .await
        .expect("redis");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{queue}:inflight:*"))
        .query_async(&mut conn)
        .await
        .expect("KEYS");
    let mut n = 0;
    for k in keys {
        let c: u64 = redis::cmd("SCARD")
            .arg(&k)
            .query_async(&mut conn)
            .await
            .expect("SCARD");
        n += c;
    }
    n
}

async fn drop_redis_keys(queue: &str) {
    let mut conn = corral_jobs::redis_connection(&redis_url())
        .await
        .expect("redis");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{queue}*"))
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: Result<(), _> = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await;
    }
}

/// Waits until every acknowledged event is in the cluster's database and
/// the queue has nothing left (so late re-runs had their chance).
async fn settle_cluster(db: &TestPg, queue: &str, sent: &support::Sent) {
    let q = queue_of(queue).await;
    wait_until(
        Duration::from_secs(60),
        "every acknowledged event is stored",
        || async {
            let stored = stored_pg(db.url()).await;
            sent.ok.iter().all(|id| stored.rows.contains_key(id))
        },
    )
    .await;
    wait_until(Duration::from_secs(30), "the queue is drained", || async {
        q.depth().await.expect("depth").backlog() == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_worker_killed_mid_load_loses_nothing() {
    let db = TestPg::new().await;
    let queue = test_queue_name();
    let dir = temp_dir();
    let mut cluster = Cluster::start(db.url(), &redis_url(), &queue, dir.path(), &[]).await;

    let answered = Arc::new(AtomicUsize::new(0));
    let load = spawn_load(&cluster.dsn, LOAD, CONCURRENCY, answered.clone());
    wait_answered(&answered, LOAD / 3).await;
    cluster.worker.kill_hard();
    let sent = load.await.expect("load");
    assert!(
        sent.ok.len() >= LOAD * 9 / 10,
        "web keeps accepting without a worker: {} of {LOAD} answered 200",
        sent.ok.len()
    );
    // jobs the dead worker had claimed stay claimed until a live worker
    // declares it dead
    cluster.restart_worker().await;
    settle_cluster(&db, &queue, &sent).await;
    let stored = stored_pg(db.url()).await;
    assert_exactly_once(&sent, &stored);

    drop(cluster);
    drop_redis_keys(&queue).await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_worker_stops_on_sigterm_and_returns_its_jobs() {
    let db = TestPg::new().await;
    let queue = test_queue_name();
    let dir = temp_dir();
    let mut cluster = Cluster::start(
        db.url(),
        &redis_url(),
        &queue,
        dir.path(),
        &[("CORRAL_WORKER__SHUTDOWN_TIMEOUT_SECS", "5")],
    )
    .await;

    let answered = Arc::new(AtomicUsize::new(0));
    let load = spawn_load(&cluster.dsn, LOAD, CONCURRENCY, answered.clone());
    wait_answered(&answered, LOAD / 3).await;
    let started = Instant::now();
    let code = cluster.worker.terminate(Duration::from_secs(20)).await;
    let took = started.elapsed();
    assert_eq!(code, Some(0), "{}", cluster.worker.log_tail());
    assert!(took < Duration::from_secs(8), "stopping took {took:?}");
    let sent = load.await.expect("load");
    // a graceful stop leaves nothing claimed: no orphan recovery needed
    assert_eq!(
        claimed_in_redis(&queue).await,
        0,
        "jobs left claimed by the stopped worker"
    );

    cluster.restart_worker().await;
    settle_cluster(&db, &queue, &sent).await;
    assert_exactly_once(&sent, &stored_pg(db.url()).await);

    drop(cluster);
    drop_redis_keys(&queue).await;
    db.cleanup().await;
}

/// Waits until every acknowledged event is in the embedded file and its
/// queue has nothing left.
async fn settle_embedded(file: &Path, sent: &support::Sent) {
    wait_until(
        Duration::from_secs(60),
        "every acknowledged event is stored",
        || async {
            let stored = stored_sqlite(file).await;
            sent.ok.iter().all(|id| stored.rows.contains_key(id))
        },
    )
    .await;
    wait_until(Duration::from_secs(30), "the queue is drained", || async {
        let jobs = sqlite_jobs(file).await;
        ["Pending", "Queued", "Running", "Retrying"]
            .iter()
            .all(|s| jobs.get(*s).copied().unwrap_or(0) == 0)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_server_killed_mid_load_loses_nothing() {
    let dir = temp_dir();
    let data = dir.path().join("data");
    let (file, url) = embedded_env(&data);
    let env = [("DATABASE_URL", url.as_str())];
    let mut server = Embedded::start(&data, &env).await;

    let answered = Arc::new(AtomicUsize::new(0));
    let load = spawn_load(&server.dsn, LOAD, CONCURRENCY, answered.clone());
    wait_answered(&answered, LOAD / 3).await;
    server.process.kill_hard();
    let sent = load.await.expect("load");
    assert!(!sent.ok.is_empty());

    // the same data directory, a new port
    let server = Embedded::start_on(&data, free_port(), &env).await;
    settle_embedded(&file, &sent).await;
    assert_exactly_once(&sent, &stored_sqlite(&file).await);
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_server_stops_on_sigterm_and_loses_nothing() {
    let dir = temp_dir();
    let data = dir.path().join("data");
    let (file, url) = embedded_env(&data);
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("CORRAL_WORKER__SHUTDOWN_TIMEOUT_SECS", "5"),
    ];
    let mut server = Embedded::start(&data, &env).await;
    let port = server.port;

    let answered = Arc::new(AtomicUsize::new(0));
    let load = spawn_load(&server.dsn, LOAD, CONCURRENCY, answered.clone());
    wait_answered(&answered, LOAD / 3).await;
    let started = Instant::now();
    let code = server.process.terminate(Duration::from_secs(20)).await;
    let took = started.elapsed();
    assert_eq!(code, Some(0), "{}", server.process.log_tail());
    assert!(took < Duration::from_secs(8), "stopping took {took:?}");
    let sent = load.await.expect("load");
    assert!(!sent.ok.is_empty());
    // a graceful stop leaves nothing claimed by the stopped worker
    let jobs = sqlite_jobs(&file).await;
    assert_eq!(
        jobs.get("Queued").copied().unwrap_or(0) + jobs.get("Running").copied().unwrap_or(0),
        0,
        "jobs left claimed: {jobs:?}"
    );

    // the same data directory and port
    let server = Embedded::start_on(&data, port, &env).await;
    settle_embedded(&file, &sent).await;
    assert_exactly_once(&sent, &stored_sqlite(&file).await);
    drop(server);
}
