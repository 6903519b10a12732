//! The queue → digest → store path in-process, on both shapes with real
//! services: everything pushed is digested once, bad jobs are dead-lettered
//! once, store failures are retried with backoff and dead-lettered after
//! `max_attempts`, and shutdown loses nothing acknowledged.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::support::{Env, Knobs, Shape, Worker, jobs_total, metrics, wait_until};
use corral_jobs::{IngestJob, JobItem};
use uuid::Uuid;

/// Runs a scenario once per shape, each in its own test (and process).
macro_rules! on_both_shapes {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::Shape::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn redis_postgres() {
                super::$name(super::Shape::RedisPg).await;
            }
        }
    )*};
}

on_both_shapes!(
    every_job_is_digested_once,
    invalid_json_is_dead_lettered_at_once,
    a_transient_failure_is_retried_and_succeeds,
    a_persistent_failure_is_dead_lettered_after_max_attempts,
    shutdown_finishes_jobs_in_flight_and_loses_nothing,
    each_item_is_digested_or_dead_lettered_alone,
    an_event_the_store_refuses_is_dead_lettered_alone_after_max_attempts,
);

/// The attempt number the queue recorded for the only job of the test.
async fn recorded_attempts(env: &Env) -> i64 {
    match &env.queue {
        corral_jobs::JobQueue::Sqlite { pool, config, .. } => {
            sqlx::query_scalar("SELECT attempts FROM Jobs WHERE job_type = ?1")
                .bind(config.queue.as_ref())
                .fetch_one(pool)
                .await
                .expect("the job's row")
        }
        corral_jobs::JobQueue::Redis { config, .. } => {
            let mut conn = env.redis.clone().expect("redis");
            let ids: Vec<String> = redis::cmd("HKEYS")
                .arg(config.job_data_hash())
                .query_async(&mut conn)
                .await
                .expect("HKEYS");
            assert_eq!(ids.len(), 1, "one job in the queue: {ids:?}");
            let attempts: String = redis::cmd("HGET")
                .arg(format!("{}:{}", config.job_meta_hash(), ids[0]))
                .arg("attempts")
                .query_async(&mut conn)
                .await
                .expect("HGET attempts");
            attempts.parse().expect("a number")
        }
    }
}

async fn every_job_is_digested_once(shape: Shape) {
    metrics();
    let env = Env::new(shape).await;
    let ids: Vec<Uuid> = (0..300).map(|_| Uuid::new_v4()).collect();
    for (i, id) in ids.iter().enumerate() {
        env.push(env.job(*id, &format!("boom {}", i % 7))).await;
    }
    // the same job twice (a client retry after a lost answer) …
    let twice = Uuid::new_v4();
    let job = env.job(twice, "twice");
    env.push(job.clone()).await;
    env.push(job).await;
    // … and one event id in two different jobs
    let shared = Uuid::new_v4();
    env.push(env.job(shared, "shared")).await;
    env.push(env.job(shared, "shared")).await;
    let jobs = ids.len() as u64 + 4;

    let worker = Worker::start(&env, &Knobs::default());
    wait_until(Duration::from_secs(30), "every job is done", || async {
        env.done_jobs().await == jobs
    })
    .await;
    worker.stop().await;

    let rows = env.event_rows().await;
    let mut expected: HashSet<Uuid> = ids.iter().copied().collect();
    expected.insert(twice);
    expected.insert(shared);
    assert_eq!(
        rows.keys().copied().collect::<HashSet<_>>(),
        expected,
        "exactly the pushed events are stored"
    );
    let dups: Vec<_> = rows.iter().filter(|(_, n)| **n != 1).collect();
    assert!(dups.is_empty(), "events stored more than once: {dups:?}");
    assert_eq!(
        env.times_seen().await,
        expected.len() as i64,
        "issue counters count each event once"
    );
    assert!(env.store.list_dead_letters(10).await.unwrap().is_empty());
    assert_eq!(env.unfinished_jobs().await, 0);
    assert_eq!(jobs_total("done"), jobs);
    assert_eq!(jobs_total("retry"), 0);
    env.cleanup().await;
}

async fn invalid_json_is_dead_lettered_at_once(shape: Shape) {
    metrics();
    let env = Env::new(shape).await;
    let bad_id = Uuid::new_v4();
    let bad = IngestJob::new(
        env.project,
        chrono::Utc::now(),
        vec![JobItem::Event {
            event_id: bad_id,
            payload: "{\"message\": \"cut short".into(),
        }],
    );
    env.push(bad.clone()).await;
    let good = Uuid::new_v4();
    env.push(env.job(good, "fine")).await;

    let worker = Worker::start(&env, &Knobs::default());
    wait_until(Duration::from_secs(20), "both jobs are done", || async {
        env.done_jobs().await == 2
    })
    .await;
    // a job retried in a loop would add letters (or run again) meanwhile
    tokio::time::sleep(Duration::from_millis(1500)).await;
    worker.stop().await;

    let letters = env.store.list_dead_letters(10).await.unwrap();
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0];
    assert!(letter.error.contains("invalid JSON"), "{}", letter.error);
    assert!(
        letter.error.contains(&bad_id.to_string()),
        "{}",
        letter.error
    );
    assert_eq!(letter.attempts, 1, "never retried");
    assert_eq!(letter.queue, env.queue.name());
    let kept: IngestJob = serde_json::from_str(&letter.payload).expect("the job is kept");
    assert_eq!(kept, bad);
    assert_eq!(jobs_total("retry"), 0);
    assert_eq!(jobs_total("dead_letter"), 1);
    assert_eq!(env.apalis_dead_jobs().await, 0);
    assert_eq!(env.unfinished_jobs().await, 0);
    assert!(env.stored(good).await);
    assert!(!env.stored(bad_id).await);
    env.cleanup().await;
}

fn event_item(event_id: Uuid, payload: String) -> JobItem {
    JobItem::Event {
        event_id,
        payload: payload.into(),
    }
}

/// The one item a dead letter's job holds.
fn letter_item(letter: &corral_core::model::DeadLetter) -> JobItem {
    let job: IngestJob = serde_json::from_str(&letter.payload).expect("a job");
    assert_eq!(job.items.len(), 1, "{job:?}");
    job.items.into_iter().next().expect("an item")
}

/// A job of several items where one event is not JSON at all (ingest
/// never writes it, a hand-made replay may) and one check-in lacks its
/// monitor: those two are dead-lettered, each alone and with its reason;
/// every other item is written, the event holding what serde_json refuses
/// (a lone surrogate, NUL, a number out of range, deep nesting) included.
async fn each_item_is_digested_or_dead_lettered_alone(shape: Shape) {
    metrics();
    let env = Env::new(shape).await;
    let good = [Uuid::new_v4(), Uuid::new_v4()];
    let (broken, odd, check_in_id) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let deep = format!("{}{}", "[".repeat(300), "]".repeat(300));
    let odd_payload = format!(
        r#"{{"message":"cut \ud83d","level":"warning","tags":{{"k\u0000":"v\u0000"}},"extra":{{"big":1e400,"deep":{deep}}},"user":{{"id":"\u0000"}}}}"#
    );
    let job = IngestJob::new(
        env.project,
        chrono::Utc::now(),
        vec![
            event_item(good[0], r#"{"message":"good one"}"#.into()),
            event_item(broken, "{\"message\": \"cut short".into()),
            event_item(odd, odd_payload),
            JobItem::CheckIn {
                payload: format!(
                    r#"{{"check_in_id":"{}","status":"ok"}}"#,
                    Uuid::new_v4().simple()
                )
                .into(),
            },
            JobItem::CheckIn {
                payload: format!(
                    r#"{{"check_in_id":"{}","monitor_slug":"nightly","status":"ok"}}"#,
                    check_in_id.simple()
                )
                .into(),
            },
            event_item(good[1], r#"{"message":"good two"}"#.into()),
        ],
    );
    env.push(job.clone()).await;

    let worker = Worker::start(&env, &Knobs::default());
    wait_until(Duration::from_secs(20), "the job is done", || async {
        env.done_jobs().await == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    worker.stop().await;

    for id in [good[0], good[1], odd] {
        assert!(env.stored(id).await, "event {id} is stored");
    }
    assert!(!env.stored(broken).await);
    let stored = env.store.event_by_id(env.project, odd).await.unwrap();
    assert_eq!(stored.title, "cut \u{fffd}");
    assert!(
        stored
            .tags
            .contains(&("k\u{fffd}".to_owned(), "v\u{fffd}".to_owned())),
        "{:?}",
        stored.tags
    );
    assert_eq!(stored.data["extra"]["big"], "1e400");
    assert_eq!(stored.data["user"]["id"], "\u{fffd}");
    let check_ins = env.store.list_check_ins(env.project, 10).await.unwrap();
    assert_eq!(check_ins.len(), 1, "{check_ins:?}");
    assert_eq!(check_ins[0].check_in_id, check_in_id);

    let mut letters = env.store.list_dead_letters(10).await.unwrap();
    letters.sort_by_key(|l| l.id);
    assert_eq!(letters.len(), 2, "{letters:?}");
    let (not_json, no_monitor) = (&letters[0], &letters[1]);
    assert!(
        not_json
            .error
            .starts_with(&format!("event {broken}: invalid JSON")),
        "{}",
        not_json.error
    );
    assert_eq!(letter_item(not_json), job.items[1]);
    assert_eq!(
        no_monitor.error,
        "check-in: invalid check_in item: missing monitor_slug"
    );
    assert_eq!(letter_item(no_monitor), job.items[3]);
    for letter in &letters {
        assert_eq!(letter.attempts, 1, "never retried: {letter:?}");
        assert_eq!(letter.queue, env.queue.name());
    }
    assert_eq!(jobs_total("retry"), 0);
    assert_eq!(jobs_total("dead_letter"), 1);
    assert_eq!(env.apalis_dead_jobs().await, 0);
    assert_eq!(env.unfinished_jobs().await, 0);
    env.cleanup().await;
}

/// An event the store refuses on every try (as PostgreSQL refused NUL) is
/// retried with its job, then dead-lettered alone after `max_attempts`; its
/// neighbours are stored on the first attempt and counted once.
async fn an_event_the_store_refuses_is_dead_lettered_alone_after_max_attempts(shape: Shape) {
    metrics();
    let env = Env::new(shape).await;
    let (before, refused, after) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    env.poison(refused).await;
    let job = IngestJob::new(
        env.project,
        chrono::Utc::now(),
        [before, refused, after]
            .iter()
            .map(|id| event_item(*id, r#"{"message":"same issue"}"#.into()))
            .collect(),
    );
    env.push(job.clone()).await;
    let knobs = Knobs {
        max_attempts: 2,
        ..Knobs::default()
    };
    let worker = Worker::start(&env, &knobs);
    wait_until(Duration::from_secs(30), "a dead letter", || async {
        !env.store.list_dead_letters(10).await.unwrap().is_empty()
    })
    .await;
    wait_until(Duration::from_secs(20), "the job is done", || async {
        env.done_jobs().await == 1
    })
    .await;
    worker.stop().await;

    assert!(env.stored(before).await);
    assert!(env.stored(after).await);
    assert!(!env.stored(refused).await);
    assert_eq!(env.times_seen().await, 2, "the retry counted nothing twice");
    let letters = env.store.list_dead_letters(10).await.unwrap();
    assert_eq!(letters.len(), 1, "{letters:?}");
    let letter = &letters[0];
    assert!(
        letter.error.starts_with(&format!("event {refused}: ")),
        "{}",
        letter.error
    );
    assert!(letter.error.contains("injected fault"), "{}", letter.error);
    assert_eq!(letter.attempts, 2);
    assert_eq!(letter_item(letter), job.items[1]);
    assert_eq!(jobs_total("retry"), 1);
    assert_eq!(jobs_total("dead_letter"), 1);
    assert_eq!(env.unfinished_jobs().await, 0);
    env.cleanup().await;
}

async fn a_transient_failure_is_retried_and_succeeds(shape: Shape) {
    metrics();
    let env = Env::new(shape).await;
    let knobs = Knobs {
        max_attempts: 5,
        ..Knobs::default()
    };
    env.break_digest().await;
    let id = Uuid::new_v4();
    env.push(env.job(id, "comes through")).await;
    let worker = Worker::start(&env, &knobs);
    wait_until(
        Duration::from_secs(10),
        "a first failed attempt",
        || async { jobs_total("retry") >= 1 },
    )
    .await;
    env.heal().await;
    wait_until(Duration::from_secs(20), "the event is stored", || async {
        env.stored(id).await
    })
    .await;
    wait_until(Duration::from_secs(10), "the job is done", || async {
        env.done_jobs().await == 1
    })
    .await;
    worker.stop().await;

    let retries = jobs_total("retry");
    assert!(
        (1..u64::from(knobs.max_attempts)).contains(&retries),
        "{retries} retries"
    );
    assert_eq!(jobs_total("dead_letter"), 0);
    assert!(env.store.list_dead_letters(10).await.unwrap().is_empty());
    assert_eq!(env.event_rows().await.get(&id), Some(&1));
    assert_eq!(env.times_seen().await, 1);
    assert_eq!(recorded_attempts(&env).await, retries as i64 + 1);
    if let Some(tries) = env.failed_digest_tries().await {
        assert_eq!(tries as u64, retries, "one failed digest per retry");
    }
    env.cleanup().await;
}

async fn a_persistent_failure_is_dead_lettered_after_max_attempts(shape: Shape) {
    metrics();
    let env = Env::new(shape).await;
    let knobs = Knobs {
        max_attempts: 3,
        ..Knobs::default()
    };
    env.break_digest().await;
    let id = Uuid::new_v4();
    let job = env.job(id, "never stored");
    env.push(job.clone()).await;
    let started = Instant::now();
    let worker = Worker::start(&env, &knobs);
    wait_until(Duration::from_secs(20), "a dead letter", || async {
        !env.store.list_dead_letters(10).await.unwrap().is_empty()
    })
    .await;
    let took = started.elapsed();
    wait_until(Duration::from_secs(10), "the job is done", || async {
        env.done_jobs().await == 1
    })
    .await;
    // nothing more happens to it
    tokio::time::sleep(Duration::from_millis(1500)).await;
    worker.stop().await;

    let letters = env.store.list_dead_letters(10).await.unwrap();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0].attempts, knobs.max_attempts as i32);
    assert!(
        letters[0].error.contains("injected fault"),
        "{}",
        letters[0].error
    );
    assert_eq!(
        serde_json::from_str::<IngestJob>(&letters[0].payload).unwrap(),
        job
    );
    assert_eq!(jobs_total("retry"), u64::from(knobs.max_attempts) - 1);
    assert_eq!(jobs_total("dead_letter"), 1);
    assert_eq!(recorded_attempts(&env).await, i64::from(knobs.max_attempts));
    if let Some(tries) = env.failed_digest_tries().await {
        assert_eq!(tries, i64::from(knobs.max_attempts), "digest tries");
    }
    // two backoffs of at least 200 ms and 400 ms lie between the three tries
    assert!(took >= Duration::from_millis(600), "took only {took:?}");
    assert!(!env.stored(id).await);
    assert_eq!(env.apalis_dead_jobs().await, 0);
    assert_eq!(env.unfinished_jobs().await, 0);
    env.cleanup().await;
}

/// A digest stuck on a lock past the job timeout on every attempt ends as a
/// dead letter too (PostgreSQL: the Redis queue is not blocked by the lock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_timing_out_on_every_attempt_is_dead_lettered() {
    metrics();
    let env = Env::new(Shape::RedisPg).await;
    let knobs = Knobs {
        max_attempts: 2,
        job_timeout: Duration::from_millis(400),
        ..Knobs::default()
    };
    let lock = env.lock_writes().await;
    let id = Uuid::new_v4();
    env.push(env.job(id, "slow")).await;
    let worker = Worker::start(&env, &knobs);
    wait_until(Duration::from_secs(15), "a dead letter", || async {
        !env.store.list_dead_letters(10).await.unwrap().is_empty()
    })
    .await;
    let letters = env.store.list_dead_letters(10).await.unwrap();
    assert_eq!(letters[0].attempts, 2, "{letters:?}");
    assert!(
        letters[0].error.contains("timed out"),
        "{}",
        letters[0].error
    );
    lock.release().await;
    wait_until(Duration::from_secs(10), "the job is done", || async {
        env.done_jobs().await == 1
    })
    .await;
    worker.stop().await;
    assert_eq!(env.apalis_dead_jobs().await, 0);
    assert_eq!(env.store.list_dead_letters(10).await.unwrap().len(), 1);
    env.cleanup().await;
}

/// A lock held for a moment (longer than the job timeout) delays the event
/// but does not lose it or dead-letter it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_locked_for_a_moment_is_waited_out() {
    metrics();
    let env = Env::new(Shape::RedisPg).await;
    let knobs = Knobs {
        max_attempts: 5,
        job_timeout: Duration::from_millis(400),
        ..Knobs::default()
    };
    let lock = env.lock_writes().await;
    let id = Uuid::new_v4();
    env.push(env.job(id, "waits")).await;
    let worker = Worker::start(&env, &knobs);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(!env.stored(id).await);
    lock.release().await;
    wait_until(Duration::from_secs(15), "the job is done", || async {
        env.done_jobs().await == 1
    })
    .await;
    worker.stop().await;
    assert_eq!(env.event_rows().await.get(&id), Some(&1));
    assert!(env.store.list_dead_letters(10).await.unwrap().is_empty());
    assert!(
        recorded_attempts(&env).await >= 2,
        "the first attempt timed out"
    );
    env.cleanup().await;
}

async fn shutdown_finishes_jobs_in_flight_and_loses_nothing(shape: Shape) {
    metrics();
    let env = Env::new(shape).await;
    let knobs = Knobs {
        concurrency: 8,
        batch_size: 4,
        ..Knobs::default()
    };
    // enough that the worker cannot digest them all between the first
    // stored event and the write lock (400 were, once jobs ran in parallel)
    let ids: Vec<Uuid> = (0..4000).map(|_| Uuid::new_v4()).collect();
    let jobs: Vec<_> = ids.iter().map(|id| env.job(*id, "many")).collect();
    for chunk in jobs.chunks(1000) {
        env.queue.push_bulk(chunk.to_vec()).await.expect("push");
    }
    let worker = Worker::start(&env, &knobs);
    wait_until(Duration::from_secs(20), "the worker is busy", || async {
        !env.event_rows().await.is_empty()
    })
    .await;
    // hold the digest while jobs are in flight, then ask for shutdown
    let lock = env.lock_writes().await;
    let stored_at_signal = env.event_rows().await.len();
    let stop = tokio::spawn(worker.stop());
    tokio::time::sleep(Duration::from_millis(300)).await;
    lock.release().await;
    let took = stop.await.expect("stop");
    assert!(took < knobs.shutdown_timeout, "shutdown took {took:?}");

    let stored = env.event_rows().await;
    let done = env.done_jobs().await;
    assert!(
        stored.len() > stored_at_signal,
        "jobs in flight at the signal finished ({stored_at_signal} before, {} after)",
        stored.len()
    );
    assert!(
        stored.len() as u64 >= done,
        "every acknowledged job is stored ({done} done, {} stored)",
        stored.len()
    );
    assert!(
        (stored.len() as u64) < ids.len() as u64,
        "the test needs jobs left at shutdown"
    );
    assert_eq!(
        env.claimed_jobs().await,
        0,
        "a graceful stop returns what it claimed"
    );

    // a new worker finishes the rest, each event once
    let worker = Worker::start(&env, &Knobs::default());
    wait_until(Duration::from_secs(30), "every event is stored", || async {
        env.event_rows().await.len() == ids.len()
    })
    .await;
    wait_until(Duration::from_secs(20), "every job is done", || async {
        env.unfinished_jobs().await == 0
    })
    .await;
    worker.stop().await;
    let rows = env.event_rows().await;
    assert!(rows.values().all(|n| *n == 1), "duplicates: {rows:?}");
    assert_eq!(env.times_seen().await, ids.len() as i64);
    assert!(env.store.list_dead_letters(10).await.unwrap().is_empty());
    env.cleanup().await;
}
