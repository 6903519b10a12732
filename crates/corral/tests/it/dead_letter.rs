//! `corral dead-letter list --json` and `corral dead-letter replay` against a
//! running server of either shape: jobs that failed past `max_attempts` are
//! listed, a replay whose push fails keeps the letter, and once the cause is
//! fixed a replay stores the event; an item that fails beside good ones is
//! dead-lettered alone and listed with its reason.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use crate::support::{
    self, PG_BREAK_DIGEST, PG_HEAL_DIGEST, SQLITE_BREAK_DIGEST, SQLITE_HEAL_DIGEST, cli, pg_exec,
    sqlite_exec, stored_pg, stored_sqlite, wait_until,
};
use corral_jobs::IngestJob;
use corral_testkit::{Cluster, Embedded, TestPg, redis_url, test_queue_name};
use serde_json::Value;
use uuid::Uuid;

/// The server under test, seen from outside as an operator sees it.
enum Target {
    Embedded { file: PathBuf, url: String },
    Cluster { db_url: String, queue: String },
}

impl Target {
    fn cli(&self, args: &[&str]) -> Output {
        match self {
            Target::Embedded { url, .. } => cli(args, &[("DATABASE_URL", url)]),
            Target::Cluster { db_url, queue } => {
                let redis = redis_url();
                cli(
                    args,
                    &[
                        ("DATABASE_URL", db_url),
                        ("REDIS_URL", &redis),
                        ("CORRAL_QUEUE__NAME", queue),
                    ],
                )
            }
        }
    }

    fn queue_name(&self) -> &str {
        match self {
            Target::Embedded { .. } => "corral-ingest",
            Target::Cluster { queue, .. } => queue,
        }
    }

    /// `dead-letter list --json`: one object per line.
    fn letters(&self) -> Vec<Value> {
        let out = self.cli(&["--json", "dead-letter", "list"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .expect("utf-8")
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
            .collect()
    }

    async fn sql(&self, embedded: &'static str, cluster: &'static str) {
        match self {
            Target::Embedded { file, .. } => sqlite_exec(file, embedded).await,
            Target::Cluster { db_url, .. } => pg_exec(db_url, cluster).await,
        }
    }

    async fn break_digest(&self) {
        self.sql(SQLITE_BREAK_DIGEST, PG_BREAK_DIGEST).await;
    }

    async fn heal_digest(&self) {
        self.sql(SQLITE_HEAL_DIGEST, PG_HEAL_DIGEST).await;
    }

    /// Makes pushes to the queue fail for real: a trigger refusing new rows
    /// of the embedded queue; the Redis queue's payload hash replaced by a
    /// string, so apalis' push script fails with WRONGTYPE.
    async fn refuse_pushes(&self) {
        match self {
            Target::Embedded { file, .. } => {
                sqlite_exec(
                    file,
                    "CREATE TRIGGER test_refuse BEFORE INSERT ON Jobs \
                     BEGIN SELECT RAISE(ABORT, 'queue refuses'); END",
                )
                .await
            }
            Target::Cluster { queue, .. } => {
                let mut conn = corral_jobs::redis_connection(&redis_url()).await.unwrap();
                let data = format!("{queue}:data");
                let exists: bool = redis::cmd("EXISTS")
                    .arg(&data)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                if exists {
                    let _: () = redis::cmd("RENAME")
                        .arg(&data)
                        .arg(format!("{data}-saved"))
                        .query_async(&mut conn)
                        .await
                        .unwrap();
                }
                let _: () = redis::cmd("SET")
                    .arg(&data)
                    .arg("not a hash")
                    .query_async(&mut conn)
                    .await
                    .unwrap();
            }
        }
    }

    async fn accept_pushes(&self) {
        match self {
            Target::Embedded { file, .. } => sqlite_exec(file, "DROP TRIGGER test_refuse").await,
            Target::Cluster { queue, .. } => {
                let mut conn = corral_jobs::redis_connection(&redis_url()).await.unwrap();
                let data = format!("{queue}:data");
                let _: () = redis::cmd("DEL")
                    .arg(&data)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                let saved: bool = redis::cmd("EXISTS")
                    .arg(format!("{data}-saved"))
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                if saved {
                    let _: () = redis::cmd("RENAME")
                        .arg(format!("{data}-saved"))
                        .arg(&data)
                        .query_async(&mut conn)
                        .await
                        .unwrap();
                }
            }
        }
    }

    /// Dead letter id -> the event its job holds, read from the database.
    async fn letter_events(&self) -> HashMap<i64, Uuid> {
        let rows: Vec<(i64, String)> = match self {
            Target::Embedded { file, .. } => {
                let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", file.display()))
                    .await
                    .unwrap();
                let r = sqlx::query_as("SELECT id, payload FROM dead_letters")
                    .fetch_all(&pool)
                    .await
                    .unwrap();
                pool.close().await;
                r
            }
            Target::Cluster { db_url, .. } => {
                let pool = sqlx::PgPool::connect(db_url).await.unwrap();
                let r = sqlx::query_as("SELECT id, payload FROM dead_letters")
                    .fetch_all(&pool)
                    .await
                    .unwrap();
                pool.close().await;
                r
            }
        };
        rows.into_iter()
            .map(|(id, payload)| {
                let job: IngestJob = serde_json::from_str(&payload).expect("a job");
                (id, job.event_id().expect("an event"))
            })
            .collect()
    }

    async fn stored(&self) -> support::Stored {
        match self {
            Target::Embedded { file, .. } => stored_sqlite(file).await,
            Target::Cluster { db_url, .. } => stored_pg(db_url).await,
        }
    }
}

fn letter_for(letters: &HashMap<i64, Uuid>, event: Uuid) -> i64 {
    *letters
        .iter()
        .find(|(_, e)| **e == event)
        .unwrap_or_else(|| panic!("no dead letter for {event}: {letters:?}"))
        .0
}

async fn dead_letters_are_listed_and_replayed(target: &Target, dsn: &str) {
    target.break_digest().await;
    let dsn: corral_protocol::Dsn = dsn.parse().unwrap();
    let client = reqwest::Client::new();
    let events: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
    for (i, id) in events.iter().enumerate() {
        assert!(support::send(&client, &dsn, *id, &format!("lost {i}")).await);
    }

    // each job fails twice (max_attempts = 2), then lands in the dead letters
    wait_until(Duration::from_secs(30), "three dead letters", || async {
        target.letters().len() == 3
    })
    .await;
    for letter in target.letters() {
        assert_eq!(letter["attempts"], 2, "{letter}");
        assert_eq!(letter["queue"], target.queue_name(), "{letter}");
        let error = letter["error"].as_str().expect("an error");
        assert!(error.contains("injected fault"), "{letter}");
        assert!(letter["id"].as_i64().is_some(), "{letter}");
        assert!(letter["created_at"].as_str().is_some(), "{letter}");
    }
    let letters = target.letter_events().await;
    let mut ids: Vec<Uuid> = letters.values().copied().collect();
    ids.sort();
    let mut sent = events.clone();
    sent.sort();
    assert_eq!(ids, sent, "one letter per event");

    // a replay whose push fails keeps the letter
    target.refuse_pushes().await;
    let first = letter_for(&letters, events[0]);
    let out = target.cli(&["dead-letter", "replay", "--id", &first.to_string()]);
    target.accept_pushes().await;
    assert!(!out.status.success(), "the failed replay must say so");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("kept"), "{stderr}");
    let letters = target.letter_events().await;
    assert_eq!(letters.len(), 3, "{letters:?}");
    let first = letter_for(&letters, events[0]);

    // the cause fixed, a replay stores the event
    target.heal_digest().await;
    let out = target.cli(&["dead-letter", "replay", "--id", &first.to_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("replayed 1 job(s)"));
    wait_until(
        Duration::from_secs(20),
        "the replayed event is stored",
        || async { target.stored().await.rows.contains_key(&events[0]) },
    )
    .await;
    assert_eq!(target.letters().len(), 2);

    let out = target.cli(&["dead-letter", "replay", "--all"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("replayed 2 job(s)"));
    wait_until(Duration::from_secs(20), "every event is stored", || async {
        let stored = target.stored().await;
        events.iter().all(|id| stored.rows.contains_key(id))
    })
    .await;
    assert!(target.letters().is_empty());
    let stored = target.stored().await;
    assert_eq!(stored.rows.len(), 3);
    assert!(stored.rows.values().all(|n| *n == 1));
    assert_eq!(stored.times_seen, 3);
}

/// The event the poison triggers refuse, every time.
const POISONED: &str = "0badc0de0badc0de0badc0de0badc0de";
const SQLITE_POISON: &str = "CREATE TRIGGER test_poison BEFORE INSERT ON event_ids \
    WHEN NEW.event_id = X'0badc0de0badc0de0badc0de0badc0de' \
    BEGIN SELECT RAISE(ABORT, 'injected fault'); END";
const SQLITE_CURE: &str = "DROP TRIGGER test_poison";
const PG_POISON: &str = "CREATE FUNCTION test_poison() RETURNS trigger LANGUAGE plpgsql \
    AS $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$; \
    CREATE TRIGGER test_poison BEFORE INSERT ON event_ids FOR EACH ROW \
    WHEN (NEW.event_id = '0badc0de0badc0de0badc0de0badc0de'::uuid) \
    EXECUTE FUNCTION test_poison();";
const PG_CURE: &str = "DROP TRIGGER test_poison ON event_ids";

/// One envelope of two events; true on `200`.
async fn send_two(dsn: &corral_protocol::Dsn, first: Uuid, second: Uuid) -> bool {
    let event = |id: Uuid, message: &str| {
        serde_json::json!({"event_id": id.simple().to_string(), "message": message,
                           "level": "error", "platform": "python"})
    };
    let body = format!(
        "{{}}\n{{\"type\":\"event\"}}\n{}\n{{\"type\":\"event\"}}\n{}\n",
        event(first, "kept"),
        event(second, "refused by the store")
    );
    let auth = format!(
        "Sentry sentry_key={}, sentry_version=7, sentry_client=corral-tests/1.0",
        dsn.public_key
    );
    reqwest::Client::new()
        .post(dsn.envelope_url())
        .header("X-Sentry-Auth", auth)
        .header("Content-Type", "application/x-sentry-envelope")
        .body(body)
        .send()
        .await
        .is_ok_and(|r| r.status().as_u16() == 200)
}

/// An envelope whose second event the store refuses: the first is stored,
/// the second dead-lettered alone after `max_attempts`, and
/// `dead-letter list` says which event and why; once the cause is fixed a
/// replay stores it.
async fn a_failing_item_is_dead_lettered_alone_and_listed(target: &Target, dsn: &str) {
    target.sql(SQLITE_POISON, PG_POISON).await;
    let dsn: corral_protocol::Dsn = dsn.parse().unwrap();
    let (kept, refused) = (Uuid::new_v4(), Uuid::parse_str(POISONED).unwrap());
    assert!(send_two(&dsn, kept, refused).await);
    wait_until(Duration::from_secs(30), "a dead letter", || async {
        target.letters().len() == 1
    })
    .await;
    assert!(target.stored().await.rows.contains_key(&kept));
    assert!(!target.stored().await.rows.contains_key(&refused));

    let out = target.cli(&["dead-letter", "list"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = String::from_utf8(out.stdout).expect("utf-8");
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 1, "{listed}");
    let fields: Vec<&str> = lines[0].split('\t').collect();
    assert_eq!(fields.len(), 4, "id, time, attempts, reason: {listed}");
    assert_eq!(fields[2], "2", "{listed}");
    assert!(
        fields[3].starts_with(&format!("event {refused}: ")),
        "the reason names the event: {listed}"
    );
    assert!(fields[3].contains("injected fault"), "{listed}");
    let letters = target.letter_events().await;
    assert_eq!(
        letters.values().copied().collect::<Vec<_>>(),
        vec![refused],
        "the letter holds the refused event alone"
    );

    target.sql(SQLITE_CURE, PG_CURE).await;
    let out = target.cli(&["dead-letter", "replay", "--all"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until(
        Duration::from_secs(20),
        "the refused event is stored",
        || async { target.stored().await.rows.contains_key(&refused) },
    )
    .await;
    assert!(target.letters().is_empty());
    let stored = target.stored().await;
    assert_eq!(stored.rows[&kept], 1);
    assert_eq!(stored.rows[&refused], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded() {
    let dir = tempfile::Builder::new()
        .prefix("corral-dead-letter-")
        .tempdir()
        .unwrap();
    let data = dir.path().join("data");
    let file = data.join("corral.sqlite");
    let url = format!("sqlite://{}", file.display());
    let server = Embedded::start(
        &data,
        &[
            ("DATABASE_URL", url.as_str()),
            ("CORRAL_WORKER__MAX_ATTEMPTS", "2"),
        ],
    )
    .await;
    let dsn = server.dsn.clone();
    let target = Target::Embedded { file, url };
    dead_letters_are_listed_and_replayed(&target, &dsn).await;
    a_failing_item_is_dead_lettered_alone_and_listed(&target, &dsn).await;
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_and_redis() {
    let db = TestPg::new().await;
    let queue = test_queue_name();
    let dir = tempfile::Builder::new()
        .prefix("corral-dead-letter-")
        .tempdir()
        .unwrap();
    let cluster = Cluster::start(
        db.url(),
        &redis_url(),
        &queue,
        dir.path(),
        &[("CORRAL_WORKER__MAX_ATTEMPTS", "2")],
    )
    .await;
    let dsn = cluster.dsn.clone();
    let target = Target::Cluster {
        db_url: db.url().to_string(),
        queue: queue.clone(),
    };
    dead_letters_are_listed_and_replayed(&target, &dsn).await;
    a_failing_item_is_dead_lettered_alone_and_listed(&target, &dsn).await;
    drop(cluster);
    let mut conn = corral_jobs::redis_connection(&redis_url()).await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{queue}*"))
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: Result<(), _> = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await;
    }
    db.cleanup().await;
}
