//! `JobQueue::vacuum` forgets finished jobs on both queues and never touches
//! waiting ones.

use std::time::Duration;

use crate::support::{Env, Knobs, Shape, Worker, wait_until};
use corral_jobs::JobQueue;
use uuid::Uuid;

/// What the queue keeps, by kind.
#[derive(Debug, PartialEq, Eq)]
struct Kept {
    done: u64,
    /// Job payloads (Redis `:data` entries; SQLite rows).
    payloads: u64,
    /// Redis `:meta:<id>` hashes (SQLite keeps no separate metadata).
    metas: u64,
    pending: u64,
}

async fn kept(env: &Env) -> Kept {
    let pending = env.queue.depth().await.expect("depth").pending;
    match &env.queue {
        JobQueue::Sqlite { pool, config, .. } => {
            let payloads: i64 = sqlx::query_scalar("SELECT count(*) FROM Jobs WHERE job_type = ?1")
                .bind(config.queue.as_ref())
                .fetch_one(pool)
                .await
                .unwrap();
            Kept {
                done: env.done_jobs().await,
                payloads: payloads as u64,
                metas: 0,
                pending,
            }
        }
        JobQueue::Redis { config, .. } => {
            let mut conn = env.redis.clone().unwrap();
            let payloads: u64 = redis::cmd("HLEN")
                .arg(config.job_data_hash())
                .query_async(&mut conn)
                .await
                .unwrap();
            let mut metas = 0u64;
            let mut cursor = 0u64;
            loop {
                let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(format!("{}:*", config.job_meta_hash()))
                    .arg("COUNT")
                    .arg(1000)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                metas += keys.len() as u64;
                cursor = next;
                if cursor == 0 {
                    break;
                }
            }
            Kept {
                done: env.done_jobs().await,
                payloads,
                metas,
                pending,
            }
        }
    }
}

async fn vacuum_removes_only_finished_jobs(shape: Shape) {
    let env = Env::new(shape).await;
    let finished: Vec<Uuid> = (0..50).map(|_| Uuid::new_v4()).collect();
    for id in &finished {
        env.push(env.job(*id, "finished")).await;
    }
    let worker = Worker::start(&env, &Knobs::default());
    wait_until(Duration::from_secs(20), "50 jobs done", || async {
        env.done_jobs().await == 50
    })
    .await;
    worker.stop().await;

    let waiting: Vec<Uuid> = (0..10).map(|_| Uuid::new_v4()).collect();
    for id in &waiting {
        env.push(env.job(*id, "waiting")).await;
    }
    let metas = |n| if shape == Shape::RedisPg { n } else { 0 };
    assert_eq!(
        kept(&env).await,
        Kept {
            done: 50,
            payloads: 60,
            metas: metas(60),
            pending: 10
        }
    );

    // bounded steps
    assert_eq!(env.queue.vacuum(20).await.unwrap(), 20);
    assert_eq!(
        kept(&env).await,
        Kept {
            done: 30,
            payloads: 40,
            metas: metas(40),
            pending: 10
        }
    );
    assert_eq!(env.queue.vacuum(1000).await.unwrap(), 30);
    assert_eq!(env.queue.vacuum(1000).await.unwrap(), 0);
    assert_eq!(
        kept(&env).await,
        Kept {
            done: 0,
            payloads: 10,
            metas: metas(10),
            pending: 10
        }
    );

    // the waiting jobs are intact and still run
    let worker = Worker::start(&env, &Knobs::default());
    wait_until(Duration::from_secs(20), "the waiting jobs ran", || async {
        env.done_jobs().await == 10
    })
    .await;
    worker.stop().await;
    for id in finished.iter().chain(&waiting) {
        assert!(env.stored(*id).await, "{id} stored");
    }
    env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    vacuum_removes_only_finished_jobs(Shape::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_postgres() {
    vacuum_removes_only_finished_jobs(Shape::RedisPg).await;
}
