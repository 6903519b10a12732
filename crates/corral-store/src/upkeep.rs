//! Purge by retention, written once. Each backend takes purged events out of
//! their issues' counters its own way ([`Dialect::subtract_counts`]);
//! PostgreSQL first drops whole day partitions (`postgres/upkeep.rs`).

use chrono::{DateTime, Duration, Utc};
use corral_core::model::{IssueId, ProjectId};
use corral_core::{PurgeReport, StoreError, StoreResult};
use sqlx::{AssertSqlSafe, Executor};

use crate::dialect::{Bind, Columns, Dialect, RowsAffected, Sql};
use crate::error::db;
use crate::signin::login_window;

/// Each project's retention in days: its own, or `default_days`.
pub(crate) struct Retention {
    pub projects: Vec<(ProjectId, i32)>,
    default_days: i32,
}

impl Retention {
    /// The oldest time some project still keeps.
    pub fn oldest_kept(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let longest = self.projects.iter().map(|(_, d)| *d).max();
        now - Duration::days(i64::from(longest.unwrap_or(self.default_days)))
    }
}

impl<D: Dialect> Sql<'_, D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
{
    pub(crate) async fn retention(&self, default_days: i32) -> StoreResult<Retention> {
        if default_days < 1 {
            return Err(StoreError::Invalid {
                field: "default_days",
                reason: format!("must be at least 1, got {default_days}"),
            });
        }
        let projects = sqlx::query(
            "SELECT id, COALESCE(retention_days, $1) AS days FROM projects ORDER BY id",
        )
        .param(default_days)
        .fetch_all(self.0)
        .await
        .map_err(db)?
        .iter()
        .map(|r| Ok((r.col("id")?, r.col("days")?)))
        .collect::<StoreResult<_>>()?;
        Ok(Retention {
            projects,
            default_days,
        })
    }

    /// Purges what each project keeps past its retention, to the
    /// millisecond (one transaction per project), then dedupe rows older
    /// than every retention and expired secrets.
    pub(crate) async fn purge_retention(
        &self,
        now: DateTime<Utc>,
        retention: &Retention,
        report: &mut PurgeReport,
    ) -> StoreResult<()> {
        for &(project, days) in &retention.projects {
            let before = now - Duration::days(i64::from(days));
            let mut tx = self.begin().await?;
            let ids = D::subtract_counts(&mut tx, project, before).await?;
            report.events_deleted +=
                sqlx::query("DELETE FROM events WHERE project_id = $1 AND received_at < $2")
                    .param(project)
                    .param(D::time(before))
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?
                    .rows_affected();
            report.issues_deleted += Self::delete_spent(&mut tx, &ids).await?;
            // An attachment sent with its event was received with it, so it
            // goes with it; one sent later goes when it is as old.
            let paths = sqlx::query(
                "DELETE FROM attachments WHERE project_id = $1 AND created_at < $2 RETURNING path",
            )
            .param(project)
            .param(D::time(before))
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
            for row in paths {
                report.attachment_paths.push(row.col("path")?);
            }
            // Hours and days count as purged once they ended before the cutoff.
            let hour = before - Duration::hours(1);
            let day = before - Duration::days(1);
            for (sql, cutoff) in [
                (
                    "DELETE FROM event_ids WHERE project_id = $1 AND received_at < $2",
                    before,
                ),
                (
                    "DELETE FROM issue_hourly WHERE hour <= $2 \
                     AND issue_id IN (SELECT id FROM issues WHERE project_id = $1)",
                    hour,
                ),
                (
                    "DELETE FROM issue_daily WHERE day <= $2 \
                     AND issue_id IN (SELECT id FROM issues WHERE project_id = $1)",
                    day,
                ),
                (
                    "DELETE FROM session_counts WHERE project_id = $1 AND hour <= $2",
                    hour,
                ),
                (
                    "DELETE FROM client_discards WHERE project_id = $1 AND hour <= $2",
                    hour,
                ),
                (
                    "DELETE FROM check_ins WHERE project_id = $1 AND received_at < $2",
                    before,
                ),
                (
                    "DELETE FROM user_reports WHERE project_id = $1 AND received_at < $2",
                    before,
                ),
                (
                    "DELETE FROM alert_deliveries WHERE project_id = $1 AND created_at < $2 \
                     AND status IN ('sent', 'dead')",
                    before,
                ),
            ] {
                sqlx::query(sql)
                    .param(project)
                    .param(D::time(cutoff))
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
            }
            tx.commit().await.map_err(db)?;
        }
        // Dedupe rows of projects that no longer exist.
        sqlx::query("DELETE FROM event_ids WHERE received_at < $1")
            .param(D::time(retention.oldest_kept(now)))
            .execute(self.0)
            .await
            .map_err(db)?;
        // Sessions, password resets and invitations past their expiry, and
        // login-failure windows that have ended.
        for (sql, at) in [
            ("DELETE FROM sessions WHERE expires_at <= $1", now),
            ("DELETE FROM password_resets WHERE expires_at <= $1", now),
            ("DELETE FROM invitations WHERE expires_at <= $1", now),
            // past the longest action interval a fire no longer holds a rule back
            (
                "DELETE FROM alert_rule_fires WHERE fired_at <= $1",
                now - Duration::minutes(corral_core::alerts::MAX_ACTION_INTERVAL_MINUTES),
            ),
            (
                "DELETE FROM login_failures WHERE window_start < $1",
                login_window(now),
            ),
        ] {
            sqlx::query(sql)
                .param(D::time(at))
                .execute(self.0)
                .await
                .map_err(db)?;
        }
        Ok(())
    }

    /// Deletes the counters that reached zero of the issues a purge
    /// touched, and those issues that have no events left.
    pub(crate) async fn delete_spent(tx: &mut D::Connection, ids: &[IssueId]) -> StoreResult<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let (before, after) = D::IN_LIST;
        let delete = |table: &str, id: &str, column: &str| {
            AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE {id}{before}$1{after} AND {column} <= 0"
            ))
        };
        for (table, column) in [
            ("issue_tag_values", "times_seen"),
            ("issue_hourly", "count"),
            ("issue_daily", "count"),
        ] {
            sqlx::query(delete(table, "issue_id", column))
                .param_ids(ids)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        Ok(sqlx::query(delete("issues", "id", "times_seen"))
            .param_ids(ids)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected())
    }
}
