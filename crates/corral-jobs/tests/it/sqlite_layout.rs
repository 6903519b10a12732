//! The embedded queue lives in the store's SQLite file. Jobs an earlier
//! version queued in a file of their own are moved in, once, in one
//! transaction, and digested; our multi-row push writes apalis' rows.

use crate::support::{Env, Knobs, Shape, Worker, queue_settings, wait_until};
use corral_core::config::QueueConfig;
use corral_jobs::JobQueue;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use std::time::Duration;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_queued_in_a_separate_file_move_to_the_store_file() {
    let env = Env::new(Shape::Sqlite).await;
    let store = env.sqlite.clone().expect("an SQLite store");
    // the earlier layout: the same queue's table in a file beside the store's
    let legacy = store.path().with_file_name("legacy-queue.sqlite");
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            SqliteConnectOptions::new()
                .filename(&legacy)
                .create_if_missing(true),
        )
        .await
        .expect("legacy queue file");
    let settings = QueueConfig {
        name: env.queue.name().to_string(),
        ..queue_settings()
    };
    let old = JobQueue::sqlite(&pool, &settings)
        .await
        .expect("queue in its own file");
    let ids: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
    old.push_bulk(ids.iter().map(|id| env.job(*id, "from before")).collect())
        .await
        .expect("push");
    assert_eq!(old.depth().await.unwrap().pending, 3);
    assert_eq!(env.queue.depth().await.unwrap().pending, 0);

    assert_eq!(env.queue.adopt_sqlite_jobs(&legacy).await.unwrap(), 3);
    assert_eq!(
        old.depth().await.unwrap().pending,
        0,
        "the old table is emptied"
    );
    assert_eq!(env.queue.depth().await.unwrap().pending, 3);
    // a second start finds nothing more to move
    assert_eq!(env.queue.adopt_sqlite_jobs(&legacy).await.unwrap(), 0);
    pool.close().await;

    let worker = Worker::start(&env, &Knobs::default());
    wait_until(
        Duration::from_secs(15),
        "the moved jobs are digested",
        || async { env.done_jobs().await == 3 },
    )
    .await;
    worker.stop().await;
    for id in &ids {
        assert!(env.stored(*id).await, "{id} stored");
    }
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_without_a_queue_table_moves_nothing() {
    let env = Env::new(Shape::Sqlite).await;
    let store = env.sqlite.clone().expect("an SQLite store");
    let empty = store.path().with_file_name("empty.sqlite");
    assert_eq!(env.queue.adopt_sqlite_jobs(&empty).await.unwrap(), 0);
    // and the queue still works afterwards (the other file was detached)
    let id = Uuid::new_v4();
    env.push(env.job(id, "after")).await;
    assert_eq!(env.queue.depth().await.unwrap().pending, 1);
    env.cleanup().await;
}

/// Our SQLite push writes apalis' own row format (apalis' worker fetches
/// these rows), and a push larger than one INSERT's rows lands whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_push_writes_apalis_rows() {
    use apalis::prelude::TaskSink;
    let env = Env::new(Shape::Sqlite).await;
    let JobQueue::Sqlite { storage, pool, .. } = &env.queue else {
        panic!("an SQLite queue");
    };
    let theirs = Uuid::new_v4();
    let mut apalis_storage = storage.clone();
    apalis_storage
        .push(env.job(theirs, "pushed by apalis"))
        .await
        .expect("apalis push");
    let ours = Uuid::new_v4();
    env.push(env.job(ours, "pushed by corral")).await;

    // every column but the id, the payload and the time due is the same
    let rows: Vec<(String, i64, i64, String, i64, Option<String>)> = sqlx::query_as(
        "SELECT job_type, attempts, max_attempts, status, priority, metadata \
         FROM Jobs ORDER BY rowid",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0], rows[1], "apalis' row, then ours");
    let nulls: Vec<(i64,)> = sqlx::query_as(
        "SELECT (last_result IS NULL) + (lock_at IS NULL) + (lock_by IS NULL) \
           + (done_at IS NULL) + (idempotency_key IS NULL) FROM Jobs ORDER BY rowid",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(nulls, vec![(5,), (5,)]);
    let ids: Vec<(String,)> = sqlx::query_as("SELECT id FROM Jobs ORDER BY rowid")
        .fetch_all(pool)
        .await
        .unwrap();
    assert!(
        ids.iter()
            .all(|(id,)| id.len() == 26 && id.parse::<ulid::Ulid>().is_ok()),
        "ULID ids: {ids:?}"
    );

    // more than one INSERT's worth in one push
    let many: Vec<Uuid> = (0..1100).map(|_| Uuid::new_v4()).collect();
    env.queue
        .push_bulk(many.iter().map(|id| env.job(*id, "many")).collect())
        .await
        .expect("bulk push");
    assert_eq!(env.queue.depth().await.unwrap().pending, 1102);

    let worker = Worker::start(&env, &Knobs::default());
    wait_until(Duration::from_secs(60), "every job is digested", || async {
        env.done_jobs().await == 1102
    })
    .await;
    worker.stop().await;
    for id in [theirs, ours].iter().chain(&many) {
        assert!(env.stored(*id).await, "{id} stored");
    }
    env.cleanup().await;
}
