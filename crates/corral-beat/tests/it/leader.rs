//! Beat as processes on one PostgreSQL database: migrations run once even
//! when two beats start together, exactly one beat holds the leader lock, a
//! killed leader is replaced, and web and worker stay not-ready until beat
//! has migrated.

use std::time::{Duration, Instant};

use corral_beat::LEADER_LOCK;
use corral_testkit::{Process, TestPg, bin, free_port, redis_url, test_queue_name};

fn log_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("corral-beat-")
        .tempdir()
        .expect("a temporary directory")
}

/// A binary of the cluster shape on the test database, with its probes on `port`.
fn start(name: &str, db: &TestPg, queue: &str, port: u16, logs: &std::path::Path) -> Process {
    Process::spawn(
        name,
        &bin(name),
        &[],
        &[
            ("DATABASE_URL", db.url().to_string()),
            ("REDIS_URL", redis_url()),
            ("CORRAL_QUEUE__NAME", queue.to_string()),
            ("CORRAL_QUEUE__HEARTBEAT_SECS", "2".to_string()),
            ("CORRAL_BIND", format!("127.0.0.1:{port}")),
        ],
        logs,
    )
}

async fn status(url: &str) -> Option<u16> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .ok()?;
    client
        .get(url)
        .send()
        .await
        .ok()
        .map(|r| r.status().as_u16())
}

/// Backends of this database holding the leader lock.
async fn lock_holders(pool: &sqlx::PgPool) -> Vec<i32> {
    sqlx::query_scalar(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND ((classid::int8 << 32) | objid::int8) = $1",
    )
    .bind(LEADER_LOCK)
    .fetch_all(pool)
    .await
    .expect("pg_locks")
}

/// Whether the beat on `port` reports itself the leader (`/metrics`).
async fn leads(port: u16) -> bool {
    let Ok(r) = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await else {
        return false;
    };
    r.text()
        .await
        .unwrap_or_default()
        .lines()
        .any(|l| l.trim() == "corral_beat_leader 1")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_beats_migrate_once_and_one_leads_at_a_time() {
    let db = TestPg::empty().await;
    let logs = log_dir();
    let queue = test_queue_name();
    let ports = [free_port(), free_port()];
    // both at once on an empty database
    let mut beats = [
        start("corral-beat", &db, &queue, ports[0], logs.path()),
        start("corral-beat", &db, &queue, ports[1], logs.path()),
    ];
    for (beat, port) in beats.iter_mut().zip(ports) {
        beat.wait_ready(
            &format!("http://127.0.0.1:{port}/readyz"),
            Duration::from_secs(60),
        )
        .await;
    }
    let pool = sqlx::PgPool::connect(db.url()).await.expect("connect");
    let versions: Vec<(i64, i64, bool)> = sqlx::query_as(
        "SELECT version, count(*), bool_and(success) FROM corral_migrations GROUP BY version",
    )
    .fetch_all(&pool)
    .await
    .expect("migrations");
    assert!(!versions.is_empty());
    for (version, count, success) in &versions {
        assert_eq!((*count, *success), (1, true), "migration {version}");
    }

    // exactly one leader, the one holding the lock
    let deadline = Instant::now() + Duration::from_secs(15);
    let leader = loop {
        let holders = lock_holders(&pool).await;
        let leading = [leads(ports[0]).await, leads(ports[1]).await];
        if holders.len() == 1 && leading.iter().filter(|l| **l).count() == 1 {
            break usize::from(leading[1]);
        }
        assert!(
            holders.len() <= 1 && !(leading[0] && leading[1]),
            "two leaders: {holders:?} {leading:?}"
        );
        assert!(Instant::now() < deadline, "no leader: {holders:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let follower = 1 - leader;
    // and it stays so
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(lock_holders(&pool).await.len(), 1);
    assert!(!leads(ports[follower]).await);

    // a killed leader is replaced
    let old_holder = lock_holders(&pool).await;
    beats[leader].kill_hard();
    let killed = Instant::now();
    let deadline = killed + Duration::from_secs(15);
    loop {
        let holders = lock_holders(&pool).await;
        if holders.len() == 1 && holders != old_holder && leads(ports[follower]).await {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no takeover in 15 s: {holders:?}\n{}",
            beats[follower].log_tail()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(beats[follower].exited().is_none());

    // the new leader lets go on SIGTERM
    assert_eq!(
        beats[follower].terminate(Duration::from_secs(40)).await,
        Some(0)
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while !lock_holders(&pool).await.is_empty() {
        assert!(Instant::now() < deadline, "the lock outlived its beat");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    pool.close().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_and_worker_are_not_ready_until_beat_has_migrated() {
    let db = TestPg::empty().await;
    let logs = log_dir();
    let queue = test_queue_name();
    let (web_port, worker_port, beat_port) = (free_port(), free_port(), free_port());
    let mut web = start("corral-web", &db, &queue, web_port, logs.path());
    let mut worker = start("corral-worker", &db, &queue, worker_port, logs.path());
    for (p, port) in [(&mut web, web_port), (&mut worker, worker_port)] {
        // alive …
        p.wait_ready(
            &format!("http://127.0.0.1:{port}/healthz"),
            Duration::from_secs(60),
        )
        .await;
    }
    // … but not ready, for as long as nobody migrates
    for _ in 0..3 {
        for (name, port) in [("web", web_port), ("worker", worker_port)] {
            assert_eq!(
                status(&format!("http://127.0.0.1:{port}/readyz")).await,
                Some(503),
                "{name} on an empty database"
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let mut beat = start("corral-beat", &db, &queue, beat_port, logs.path());
    beat.wait_ready(
        &format!("http://127.0.0.1:{beat_port}/readyz"),
        Duration::from_secs(60),
    )
    .await;
    web.wait_ready(
        &format!("http://127.0.0.1:{web_port}/readyz"),
        Duration::from_secs(20),
    )
    .await;
    worker
        .wait_ready(
            &format!("http://127.0.0.1:{worker_port}/readyz"),
            Duration::from_secs(20),
        )
        .await;
    drop((web, worker, beat));
    db.cleanup().await;
}
