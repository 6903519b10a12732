//! Beat's work on SQLite: purge by retention and the hourly-to-daily rollup.

use chrono::{DateTime, Duration, Utc};
use corral_core::model::{IssueId, ProjectId};
use corral_core::{PurgeReport, StoreError, StoreResult};
use sqlx::{SqliteConnection, SqlitePool};

use corral_core::model::to_ms;
use sqlx::Sqlite;

use crate::dialect::Dialect;
use crate::error::db;
use crate::signin::login_window;

fn ms(t: DateTime<Utc>) -> i64 {
    Sqlite::time(t)
}

/// Takes one project's events received before `before` out of their
/// issues' counters (times seen, tag values, hourly or, once rolled up, daily
/// counts); returns the issues touched.
async fn subtract_counts(
    tx: &mut SqliteConnection,
    project: ProjectId,
    before: i64,
) -> StoreResult<Vec<IssueId>> {
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

async fn delete_spent(tx: &mut SqliteConnection, ids: &[IssueId]) -> StoreResult<u64> {
    let mut issues_deleted = 0;
    for id in ids {
        for sql in [
            "DELETE FROM issue_tag_values WHERE issue_id = ?1 AND times_seen <= 0",
            "DELETE FROM issue_hourly WHERE issue_id = ?1 AND count <= 0",
            "DELETE FROM issue_daily WHERE issue_id = ?1 AND count <= 0",
        ] {
            sqlx::query(sql)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        issues_deleted += sqlx::query("DELETE FROM issues WHERE id = ?1 AND times_seen <= 0")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
    }
    Ok(issues_deleted)
}

pub(super) async fn purge(
    pool: &SqlitePool,
    now: DateTime<Utc>,
    default_days: i32,
) -> StoreResult<PurgeReport> {
    if default_days < 1 {
        return Err(StoreError::Invalid {
            field: "default_days",
            reason: format!("must be at least 1, got {default_days}"),
        });
    }
    let now = to_ms(now);
    let projects: Vec<(ProjectId, i32)> =
        sqlx::query_as("SELECT id, COALESCE(retention_days, ?1) FROM projects ORDER BY id")
            .bind(default_days)
            .fetch_all(pool)
            .await
            .map_err(db)?;
    let longest = projects
        .iter()
        .map(|(_, d)| *d)
        .max()
        .unwrap_or(default_days);
    let mut report = PurgeReport::default();
    for (project, days) in projects {
        let before = ms(now - Duration::days(i64::from(days)));
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        let ids = subtract_counts(&mut tx, project, before).await?;
        report.events_deleted +=
            sqlx::query("DELETE FROM events WHERE project_id = ?1 AND received_at < ?2")
                .bind(project)
                .bind(before)
                .execute(&mut *tx)
                .await
                .map_err(db)?
                .rows_affected();
        report.issues_deleted += delete_spent(&mut tx, &ids).await?;
        // An attachment sent with its event was received with it, so it
        // goes with it; one sent later goes when it is as old.
        let paths: Vec<String> = sqlx::query_scalar(
            "DELETE FROM attachments WHERE project_id = ?1 AND created_at < ?2 RETURNING path",
        )
        .bind(project)
        .bind(before)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        report.attachment_paths.extend(paths);
        for sql in [
            "DELETE FROM event_ids WHERE project_id = ?1 AND received_at < ?2",
            "DELETE FROM issue_hourly WHERE hour <= ?2 - 3600000 \
             AND issue_id IN (SELECT id FROM issues WHERE project_id = ?1)",
            "DELETE FROM issue_daily WHERE day <= ?2 - 86400000 \
             AND issue_id IN (SELECT id FROM issues WHERE project_id = ?1)",
            // Hours that ended before the cutoff.
            "DELETE FROM session_counts WHERE project_id = ?1 AND hour <= ?2 - 3600000",
            "DELETE FROM client_discards WHERE project_id = ?1 AND hour <= ?2 - 3600000",
            "DELETE FROM check_ins WHERE project_id = ?1 AND received_at < ?2",
            "DELETE FROM user_reports WHERE project_id = ?1 AND received_at < ?2",
        ] {
            sqlx::query(sql)
                .bind(project)
                .bind(before)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
    }
    // Dedupe rows of projects that no longer exist.
    sqlx::query("DELETE FROM event_ids WHERE received_at < ?1")
        .bind(ms(now - Duration::days(i64::from(longest))))
        .execute(pool)
        .await
        .map_err(db)?;
    purge_expired(pool, now).await?;
    Ok(report)
}

/// Sessions, password resets and invitations past their expiry, and
/// login-failure windows that have ended.
async fn purge_expired(pool: &SqlitePool, now: DateTime<Utc>) -> StoreResult<()> {
    for (sql, at) in [
        ("DELETE FROM sessions WHERE expires_at <= ?1", now),
        ("DELETE FROM password_resets WHERE expires_at <= ?1", now),
        ("DELETE FROM invitations WHERE expires_at <= ?1", now),
        (
            "DELETE FROM login_failures WHERE window_start < ?1",
            login_window(now),
        ),
    ] {
        sqlx::query(sql)
            .bind(ms(at))
            .execute(pool)
            .await
            .map_err(db)?;
    }
    Ok(())
}

pub(super) async fn rollup_hourly(pool: &SqlitePool, before: DateTime<Utc>) -> StoreResult<u64> {
    let before = ms(before);
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
