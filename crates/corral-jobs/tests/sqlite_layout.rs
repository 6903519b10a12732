//! The embedded queue has its own SQLite file. Jobs an older version queued in
//! the store's file are moved over, once, in one transaction, and digested.

mod support;

use corral_core::config::QueueConfig;
use corral_jobs::JobQueue;
use std::time::Duration;
use support::{Env, Knobs, Shape, Worker, queue_settings, wait_until};
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_queued_in_the_store_file_move_to_the_queue_file() {
    let env = Env::new(Shape::Sqlite).await;
    let store = env.sqlite.clone().expect("an SQLite store");
    // the old layout: the same queue's table in the store's own file
    let settings = QueueConfig {
        name: env.queue.name().to_string(),
        ..queue_settings()
    };
    let old = JobQueue::sqlite(store.pool(), &settings)
        .await
        .expect("queue in the store's file");
    let ids: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
    old.push_bulk(ids.iter().map(|id| env.job(*id, "from before")).collect())
        .await
        .expect("push");
    assert_eq!(old.depth().await.unwrap().pending, 3);
    assert_eq!(env.queue.depth().await.unwrap().pending, 0);

    assert_eq!(env.queue.adopt_sqlite_jobs(store.path()).await.unwrap(), 3);
    assert_eq!(
        old.depth().await.unwrap().pending,
        0,
        "the old table is emptied"
    );
    assert_eq!(env.queue.depth().await.unwrap().pending, 3);
    // a second start finds nothing more to move
    assert_eq!(env.queue.adopt_sqlite_jobs(store.path()).await.unwrap(), 0);

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
async fn a_store_file_without_a_queue_table_moves_nothing() {
    let env = Env::new(Shape::Sqlite).await;
    let store = env.sqlite.clone().expect("an SQLite store");
    assert_eq!(env.queue.adopt_sqlite_jobs(store.path()).await.unwrap(), 0);
    // and the queue still works afterwards (the store file was detached)
    let id = Uuid::new_v4();
    env.push(env.job(id, "after")).await;
    assert_eq!(env.queue.depth().await.unwrap().pending, 1);
    env.cleanup().await;
}
