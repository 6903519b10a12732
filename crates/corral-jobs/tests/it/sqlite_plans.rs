//! The SQLite queue keeps apalis' statements cheap as the table grows: the
//! acknowledgement finds each job by its unique id instead of walking every
//! job its worker ever ran (see `planner_statistics` in queue.rs).

use crate::support::{Env, Shape};
use corral_jobs::JobQueue;

/// The shape of apalis-sqlite's acknowledgement (queries/task/ack.sql):
/// what matters to the planner is the join of `json_each` with `Jobs` on
/// `id`, filtered by `lock_by`.
const ACK: &str = "EXPLAIN QUERY PLAN \
    WITH j AS (SELECT value ->> 'task_id' AS task_id, value ->> 'attempt' AS attempt, \
                      value ->> 'result' AS result, value ->> 'status' AS status \
               FROM json_each(?1)) \
    UPDATE Jobs SET status = j.status, attempts = j.attempt, last_result = j.result, \
                    done_at = strftime('%s', 'now') \
    FROM j WHERE Jobs.id = j.task_id AND Jobs.lock_by = ?2";

async fn ack_plan(pool: &sqlx::SqlitePool) -> String {
    let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(ACK)
        .bind("[]")
        .bind("worker")
        .fetch_all(pool)
        .await
        .expect("EXPLAIN QUERY PLAN");
    rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("\n")
}

#[tokio::test]
async fn acknowledgements_find_jobs_by_id() {
    let env = Env::new(Shape::Sqlite).await;
    let JobQueue::Sqlite { pool, .. } = &env.queue else {
        unreachable!("a SQLite queue")
    };
    let plan = ack_plan(pool).await;
    assert!(
        plan.contains("USING INDEX sqlite_autoindex_Jobs_1 (id=?)"),
        "the job is looked up by id:\n{plan}"
    );
    assert!(
        !plan.contains("LIdx"),
        "not every job of the worker walked:\n{plan}"
    );

    // without the statistics the planner walks the worker's jobs: the
    // check above can fail
    sqlx::query("DELETE FROM sqlite_stat1 WHERE tbl = 'Jobs'")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("ANALYZE sqlite_schema")
        .execute(pool)
        .await
        .unwrap();
    let unguided = ack_plan(pool).await;
    assert!(unguided.contains("LIdx"), "{unguided}");
    env.cleanup().await;
}
