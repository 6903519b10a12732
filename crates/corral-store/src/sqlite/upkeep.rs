//! Beat's work on SQLite: counters of purged events and the hourly-to-daily
//! rollup.

use chrono::{DateTime, Utc};
use corral_core::StoreResult;
use corral_core::model::{IssueId, ProjectId};
use sqlx::{Sqlite, SqliteConnection, SqlitePool};

use crate::dialect::Dialect;
use crate::error::db;

/// Takes one project's events received before `before` out of their
/// issues' counters (times seen, tag values, hourly or, once rolled up, daily
/// counts); returns the issues touched.
pub(super) async fn subtract_counts(
    tx: &mut SqliteConnection,
    project: ProjectId,
    before: DateTime<Utc>,
) -> StoreResult<Vec<IssueId>> {
    let before = Sqlite::time(before);
    let ids: Vec<IssueId> = sqlx::query_scalar(
        "SELECT DISTINCT issue_id FROM events \
         WHERE project_id = ?1 AND received_at < ?2 AND issue_id IS NOT NULL ORDER BY issue_id",
    )
    .bind(project)
    .bind(before)
    .fetch_all(&mut *tx)
    .await
    .map_err(db)?;
    if ids.is_empty() {
        return Ok(ids);
    }
    let statements = [
        "UPDATE issues SET times_seen = times_seen - g.n \
         FROM (SELECT issue_id, count(*) AS n FROM events \
               WHERE project_id = ?1 AND received_at < ?2 AND issue_id IS NOT NULL \
               GROUP BY issue_id) AS g \
         WHERE issues.id = g.issue_id",
        "UPDATE issue_tag_values SET times_seen = times_seen - g.n \
         FROM (SELECT issue_id, k, v, count(*) AS n FROM ( \
                 SELECT DISTINCT e.issue_id, e.event_id, \
                        json_extract(x.value, '$[0]') AS k, json_extract(x.value, '$[1]') AS v \
                 FROM events e, json_each(e.tags) AS x \
                 WHERE e.project_id = ?1 AND e.received_at < ?2 AND e.issue_id IS NOT NULL \
               ) GROUP BY issue_id, k, v) AS g \
         WHERE issue_tag_values.issue_id = g.issue_id AND issue_tag_values.key = g.k \
           AND issue_tag_values.value = g.v",
        // Hours already rolled up are taken from their day; this runs before
        // the hourly update so that "no hourly row" still means "rolled up".
        "UPDATE issue_daily SET count = count - r.n \
         FROM (SELECT d.issue_id, d.hour - d.hour % 86400000 AS day, sum(d.n) AS n FROM ( \
                 SELECT issue_id, timestamp - timestamp % 3600000 AS hour, count(*) AS n \
                 FROM events WHERE project_id = ?1 AND received_at < ?2 AND issue_id IS NOT NULL \
                 GROUP BY 1, 2) AS d \
               WHERE NOT EXISTS (SELECT 1 FROM issue_hourly h \
                                 WHERE h.issue_id = d.issue_id AND h.hour = d.hour) \
               GROUP BY 1, 2) AS r \
         WHERE issue_daily.issue_id = r.issue_id AND issue_daily.day = r.day",
        "UPDATE issue_hourly SET count = count - d.n \
         FROM (SELECT issue_id, timestamp - timestamp % 3600000 AS hour, count(*) AS n \
               FROM events WHERE project_id = ?1 AND received_at < ?2 AND issue_id IS NOT NULL \
               GROUP BY 1, 2) AS d \
         WHERE issue_hourly.issue_id = d.issue_id AND issue_hourly.hour = d.hour",
    ];
    for sql in statements {
        sqlx::query(sql)
            .bind(project)
            .bind(before)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
    }
    Ok(ids)
}

pub(super) async fn rollup_hourly(pool: &SqlitePool, before: DateTime<Utc>) -> StoreResult<u64> {
    let before = Sqlite::time(before);
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    sqlx::query(
        "INSERT INTO issue_daily (issue_id, day, count) \
         SELECT issue_id, hour - hour % 86400000, sum(count) FROM issue_hourly \
         WHERE hour < ?1 GROUP BY 1, 2 \
         ON CONFLICT (issue_id, day) DO UPDATE SET count = count + excluded.count",
    )
    .bind(before)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    let moved = sqlx::query("DELETE FROM issue_hourly WHERE hour < ?1")
        .bind(before)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
    tx.commit().await.map_err(db)?;
    Ok(moved)
}
