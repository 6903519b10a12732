//! Sending events like an SDK does, and counting what the store kept,
//! for the process tests.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use corral_protocol::Dsn;
use corral_testkit::bin;
use sqlx::{ConnectOptions, Connection};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use uuid::Uuid;

/// Which events got `200` and which did not.
#[derive(Debug, Default)]
pub struct Sent {
    pub ok: Vec<Uuid>,
    pub failed: Vec<Uuid>,
}

/// An envelope with one error event.
pub fn envelope(event_id: Uuid, message: &str) -> Vec<u8> {
    let id = event_id.simple();
    let event = serde_json::json!({
        "event_id": id.to_string(),
        "message": message,
        "level": "error",
        "platform": "python",
    });
    format!("{{\"event_id\":\"{id}\"}}\n{{\"type\":\"event\"}}\n{event}\n").into_bytes()
}

/// Posts one event to the DSN's envelope endpoint; true on `200`.
pub async fn send(client: &reqwest::Client, dsn: &Dsn, event_id: Uuid, message: &str) -> bool {
    let auth = format!(
        "Sentry sentry_key={}, sentry_version=7, sentry_client=corral-tests/1.0",
        dsn.public_key
    );
    match client
        .post(dsn.envelope_url())
        .header("X-Sentry-Auth", auth)
        .header("Content-Type", "application/x-sentry-envelope")
        .body(envelope(event_id, message))
        .send()
        .await
    {
        Ok(r) => r.status().as_u16() == 200,
        Err(_) => false,
    }
}

/// Sends `n` events with distinct ids, `concurrency` at a time; `answered`
/// counts the 200s as they come (to time a crash mid-load).
pub fn spawn_load(
    dsn: &str,
    n: usize,
    concurrency: usize,
    answered: Arc<AtomicUsize>,
) -> tokio::task::JoinHandle<Sent> {
    let dsn: Dsn = dsn.parse().expect("a DSN");
    tokio::spawn(async move {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .expect("http client");
        let limit = Arc::new(Semaphore::new(concurrency));
        let mut tasks = JoinSet::new();
        for i in 0..n {
            let permit = limit.clone().acquire_owned().await.expect("semaphore");
            let (client, dsn, answered) = (client.clone(), dsn.clone(), answered.clone());
            tasks.spawn(async move {
                let id = Uuid::new_v4();
                let ok = send(&client, &dsn, id, &format!("load {}", i % 5)).await;
                if ok {
                    answered.fetch_add(1, Ordering::SeqCst);
                }
                drop(permit);
                (id, ok)
            });
        }
        let mut sent = Sent::default();
        while let Some(r) = tasks.join_next().await {
            let (id, ok) = r.expect("send task");
            if ok {
                sent.ok.push(id);
            } else {
                sent.failed.push(id);
            }
        }
        sent
    })
}

/// Waits until `answered` reaches `at_least` (fails after 60 s).
pub async fn wait_answered(answered: &AtomicUsize, at_least: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while answered.load(Ordering::SeqCst) < at_least {
        assert!(
            Instant::now() < deadline,
            "only {} events answered",
            answered.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Rows per event id, the sum of issue counters, and unfinished queue work,
/// read straight from the database.
#[derive(Debug)]
pub struct Stored {
    pub rows: HashMap<Uuid, i64>,
    pub times_seen: i64,
    pub dead_letters: i64,
}

pub async fn stored_pg(url: &str) -> Stored {
    let mut conn = sqlx::postgres::PgConnectOptions::from_url(&url.parse().expect("url"))
        .expect("options")
        .connect()
        .await
        .expect("connect");
    let rows: Vec<(Uuid, i64)> =
        sqlx::query_as("SELECT event_id, count(*) FROM events GROUP BY event_id")
            .fetch_all(&mut conn)
            .await
            .expect("events");
    let times_seen: i64 =
        sqlx::query_scalar("SELECT COALESCE(sum(times_seen), 0)::bigint FROM issues")
            .fetch_one(&mut conn)
            .await
            .expect("issues");
    let dead_letters: i64 = sqlx::query_scalar("SELECT count(*) FROM dead_letters")
        .fetch_one(&mut conn)
        .await
        .expect("dead letters");
    let _ = conn.close().await;
    Stored {
        rows: rows.into_iter().collect(),
        times_seen,
        dead_letters,
    }
}

async fn sqlite_conn(file: &Path) -> sqlx::SqliteConnection {
    sqlx::sqlite::SqliteConnectOptions::new()
        .filename(file)
        .busy_timeout(Duration::from_secs(30))
        .connect()
        .await
        .expect("open the SQLite file")
}

pub async fn stored_sqlite(file: &Path) -> Stored {
    let mut conn = sqlite_conn(file).await;
    let rows: Vec<(Uuid, i64)> =
        sqlx::query_as("SELECT event_id, count(*) FROM events GROUP BY event_id")
            .fetch_all(&mut conn)
            .await
            .expect("events");
    let times_seen: i64 = sqlx::query_scalar("SELECT COALESCE(sum(times_seen), 0) FROM issues")
        .fetch_one(&mut conn)
        .await
        .expect("issues");
    let dead_letters: i64 = sqlx::query_scalar("SELECT count(*) FROM dead_letters")
        .fetch_one(&mut conn)
        .await
        .expect("dead letters");
    let _ = conn.close().await;
    Stored {
        rows: rows.into_iter().collect(),
        times_seen,
        dead_letters,
    }
}

/// Jobs in the embedded queue by status (`Failed` split into those due for
/// another try and those given up).
pub async fn sqlite_jobs(file: &Path) -> HashMap<String, i64> {
    let mut conn = sqlite_conn(file).await;
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT CASE WHEN status = 'Failed' AND attempts < max_attempts THEN 'Retrying' \
         ELSE status END, count(*) FROM Jobs GROUP BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .expect("jobs");
    let _ = conn.close().await;
    rows.into_iter().collect()
}

/// Runs SQL on the SQLite file (from outside the server, as an operator would).
pub async fn sqlite_exec(file: &Path, sql: &'static str) {
    let mut conn = sqlite_conn(file).await;
    sqlx::raw_sql(sql).execute(&mut conn).await.expect(sql);
    let _ = conn.close().await;
}

pub async fn pg_exec(url: &str, sql: &'static str) {
    let mut conn = sqlx::postgres::PgConnectOptions::from_url(&url.parse().expect("url"))
        .expect("options")
        .connect()
        .await
        .expect("connect");
    sqlx::raw_sql(sql).execute(&mut conn).await.expect(sql);
    let _ = conn.close().await;
}

/// Makes every digest fail (a trigger on `event_ids`), as a broken database would.
pub const PG_BREAK_DIGEST: &str = "CREATE FUNCTION test_fault() RETURNS trigger LANGUAGE plpgsql \
    AS $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$; \
    CREATE TRIGGER test_fault BEFORE INSERT ON event_ids \
    FOR EACH STATEMENT EXECUTE FUNCTION test_fault();";
pub const PG_HEAL_DIGEST: &str = "DROP TRIGGER test_fault ON event_ids";
pub const SQLITE_BREAK_DIGEST: &str = "CREATE TRIGGER test_fault BEFORE INSERT ON event_ids \
    BEGIN SELECT RAISE(ABORT, 'injected fault'); END";
pub const SQLITE_HEAL_DIGEST: &str = "DROP TRIGGER test_fault";

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
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs the `corral` CLI and returns its output whatever the exit status.
pub fn cli(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin("corral"));
    cmd.args(args).env_remove("DATABASE_URL");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("running corral")
}

/// Asserts that every event answered 200 is stored exactly once and the
/// issue counters count each stored event once.
pub fn assert_exactly_once(sent: &Sent, stored: &Stored) {
    let missing: Vec<_> = sent
        .ok
        .iter()
        .filter(|id| !stored.rows.contains_key(id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged events were lost: {missing:?}",
        missing.len(),
        sent.ok.len()
    );
    let twice: Vec<_> = stored.rows.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "events stored more than once: {twice:?}");
    assert_eq!(
        stored.times_seen,
        stored.rows.len() as i64,
        "issue counters must count each stored event once"
    );
    assert_eq!(stored.dead_letters, 0, "no event was dead-lettered");
}
