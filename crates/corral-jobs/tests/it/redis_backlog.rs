//! A long backlog on the Redis queue never stops the worker.
//!
//! apalis' fetch moves every due task of its scheduled set to the pending
//! list with one Lua `unpack`, which fails past about 8,000 values; its own
//! push puts every new task in that set. Corral pushes straight to the
//! pending list, moves apalis' due retries over in bounded steps
//! (`promote_due`), and starts a worker that died again, under a new name.

use std::time::Duration;

use crate::support::{Env, Knobs, Shape, Worker, wait_until};
use corral_jobs::{IngestJob, JobQueue};
use uuid::Uuid;

/// More than one Lua `unpack` takes.
const BACKLOG: usize = 9_000;

fn keys(env: &Env) -> (String, String) {
    let JobQueue::Redis { config, .. } = &env.queue else {
        unreachable!("a Redis queue")
    };
    (config.scheduled_jobs_set(), config.active_jobs_list())
}

async fn push_backlog(env: &Env) -> Vec<Uuid> {
    let ids: Vec<Uuid> = (0..BACKLOG).map(|_| Uuid::new_v4()).collect();
    let jobs: Vec<IngestJob> = ids.iter().map(|id| env.job(*id, "backlog")).collect();
    for chunk in jobs.chunks(1000) {
        env.queue.push_bulk(chunk.to_vec()).await.expect("push");
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_go_to_the_pending_list_and_a_long_backlog_is_fetched() {
    let env = Env::new(Shape::RedisPg).await;
    push_backlog(&env).await;
    let (scheduled, pending) = keys(&env);
    let mut conn = env.redis.clone().expect("redis");
    let in_scheduled: u64 = redis::cmd("ZCARD")
        .arg(&scheduled)
        .query_async(&mut conn)
        .await
        .unwrap();
    let in_pending: u64 = redis::cmd("LLEN")
        .arg(&pending)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!((in_scheduled, in_pending), (0, BACKLOG as u64));

    let worker = Worker::start(
        &env,
        &Knobs {
            concurrency: 256,
            batch_size: 256,
            ..Knobs::default()
        },
    );
    wait_until(
        Duration::from_secs(60),
        "the worker digests the backlog",
        || async { env.done_jobs().await >= 1_000 },
    )
    .await;
    worker.stop().await;
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn due_retries_are_moved_in_bounded_steps_and_a_dead_worker_comes_back() {
    let env = Env::new(Shape::RedisPg).await;
    push_backlog(&env).await;
    // what apalis' own push (or a burst of retries) leaves: every task in
    // the scheduled set, due
    let (scheduled, pending) = keys(&env);
    let mut conn = env.redis.clone().expect("redis");
    let ids: Vec<String> = redis::cmd("LRANGE")
        .arg(&pending)
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut zadd = redis::cmd("ZADD");
    zadd.arg(&scheduled);
    for id in &ids {
        zadd.arg(1).arg(id);
    }
    let _: () = zadd.query_async(&mut conn).await.unwrap();
    let _: () = redis::cmd("DEL")
        .arg(&pending)
        .query_async(&mut conn)
        .await
        .unwrap();

    // apalis' fetch cannot move that many: the worker dies, and is started
    // again after a pause
    let worker = Worker::start(&env, &Knobs::default());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        env.done_jobs().await,
        0,
        "the fetch fails while the set is long"
    );

    // bounded steps, as corral-worker's upkeep takes them
    let first = env.queue.promote_due(1000).await.expect("promote");
    assert_eq!(first, 1000);
    while env.queue.promote_due(1000).await.expect("promote") > 0 {}
    let left: u64 = redis::cmd("ZCARD")
        .arg(&scheduled)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(left, 0);

    // the restarted worker fetches again
    wait_until(
        Duration::from_secs(60),
        "a restarted worker digests",
        || async { env.done_jobs().await >= 1_000 },
    )
    .await;
    worker.stop().await;
    env.cleanup().await;
}

/// A push Redis refuses is an error, and leaves nothing behind: no id on
/// the pending list, no metadata, no signal. (Redis does not roll a
/// MULTI/EXEC back when a command in it fails; a push built that way once
/// published ids without payloads and reported success.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_push_is_an_error_and_publishes_nothing() {
    let env = Env::new(Shape::RedisPg).await;
    let JobQueue::Redis { config, .. } = &env.queue else {
        unreachable!("a Redis queue")
    };
    let mut conn = env.redis.clone().expect("redis");
    // the payload hash is a string: its HSET fails with WRONGTYPE
    let _: () = redis::cmd("SET")
        .arg(config.job_data_hash())
        .arg("not a hash")
        .query_async(&mut conn)
        .await
        .unwrap();
    let jobs: Vec<IngestJob> = (0..3).map(|_| env.job(Uuid::new_v4(), "refused")).collect();
    let err = env
        .queue
        .push_bulk(jobs)
        .await
        .expect_err("a push into a broken queue fails");
    assert!(err.to_string().contains("WRONGTYPE"), "{err}");
    let pending: u64 = redis::cmd("LLEN")
        .arg(config.active_jobs_list())
        .query_async(&mut conn)
        .await
        .unwrap();
    let signal: u64 = redis::cmd("LLEN")
        .arg(config.signal_list())
        .query_async(&mut conn)
        .await
        .unwrap();
    let meta: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", config.job_meta_hash()))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!((pending, signal, meta), (0, 0, Vec::<String>::new()));

    // once the hash is back, the same queue takes pushes again
    let _: () = redis::cmd("DEL")
        .arg(config.job_data_hash())
        .query_async(&mut conn)
        .await
        .unwrap();
    env.queue
        .push(env.job(Uuid::new_v4(), "accepted"))
        .await
        .expect("push");
    let pending: u64 = redis::cmd("LLEN")
        .arg(config.active_jobs_list())
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(pending, 1);
    env.cleanup().await;
}
