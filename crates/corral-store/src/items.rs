//! Attachments, release health, client reports, check-ins, user feedback and
//! dead letters.

use chrono::Utc;
use corral_core::model::{DeadLetter, ProjectId, hour_of};
use corral_core::{
    AttachmentRecord, CheckIn, ClientDiscard, SessionCounts, StoreError, StoreResult, UserReport,
};
use sqlx::Executor;
use uuid::Uuid;

use crate::dialect::{Bind, Columns, Dialect, Sql};
use crate::error::{db, db_err};
use crate::rows;

/// Caps a caller's page size.
pub(crate) fn page_limit(limit: u32) -> i64 {
    i64::from(limit.min(1000))
}

impl<D: Dialect> Sql<'_, D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
{
    pub(crate) async fn add_attachment(&self, a: &AttachmentRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO attachments (project_id, event_id, name, content_type, attachment_type, \
                                      size, path, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (project_id, event_id, path) DO NOTHING",
        )
        .param(a.project_id)
        .param(a.event_id)
        .param(&a.name)
        .param(&a.content_type)
        .param(&a.attachment_type)
        .param(a.size)
        .param(&a.path)
        .param(D::time(a.created_at))
        .execute(self.0)
        .await
        .map_err(db_err("attachment"))?;
        Ok(())
    }

    pub(crate) async fn list_attachments(
        &self,
        project_id: ProjectId,
        event_id: Uuid,
    ) -> StoreResult<Vec<AttachmentRecord>> {
        let rows = sqlx::query(
            "SELECT project_id, event_id, name, content_type, attachment_type, size, path, \
                    created_at \
             FROM attachments WHERE project_id = $1 AND event_id = $2 ORDER BY id",
        )
        .param(project_id)
        .param(event_id)
        .fetch_all(self.0)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(AttachmentRecord {
                    project_id: r.col("project_id")?,
                    event_id: r.col("event_id")?,
                    name: r.col("name")?,
                    content_type: r.col("content_type")?,
                    attachment_type: r.col("attachment_type")?,
                    size: r.col("size")?,
                    path: r.col("path")?,
                    created_at: r.time("created_at")?,
                })
            })
            .collect()
    }

    pub(crate) async fn add_session_counts(&self, counts: &[SessionCounts]) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        for c in counts {
            sqlx::query(
                "INSERT INTO session_counts (project_id, release, environment, hour, exited, \
                                             errored, crashed, abnormal) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (project_id, release, environment, hour) DO UPDATE SET \
                   exited = session_counts.exited + excluded.exited, \
                   errored = session_counts.errored + excluded.errored, \
                   crashed = session_counts.crashed + excluded.crashed, \
                   abnormal = session_counts.abnormal + excluded.abnormal",
            )
            .param(c.project_id)
            .param(&c.release)
            .param(c.environment.as_deref().unwrap_or(""))
            .param(D::time(hour_of(c.hour)))
            .param(c.exited)
            .param(c.errored)
            .param(c.crashed)
            .param(c.abnormal)
            .execute(&mut *tx)
            .await
            .map_err(db_err("session counts"))?;
        }
        tx.commit().await.map_err(db)
    }

    pub(crate) async fn session_totals(
        &self,
        project_id: ProjectId,
    ) -> StoreResult<Vec<SessionCounts>> {
        let rows = sqlx::query(
            "SELECT release, environment, min(hour) AS hour, \
                    CAST(sum(exited) AS BIGINT) AS exited, \
                    CAST(sum(errored) AS BIGINT) AS errored, \
                    CAST(sum(crashed) AS BIGINT) AS crashed, \
                    CAST(sum(abnormal) AS BIGINT) AS abnormal \
             FROM session_counts WHERE project_id = $1 \
             GROUP BY release, environment ORDER BY release, environment",
        )
        .param(project_id)
        .fetch_all(self.0)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                let environment: String = r.col("environment")?;
                Ok(SessionCounts {
                    project_id,
                    release: r.col("release")?,
                    environment: (!environment.is_empty()).then_some(environment),
                    hour: r.time("hour")?,
                    exited: r.col("exited")?,
                    errored: r.col("errored")?,
                    crashed: r.col("crashed")?,
                    abnormal: r.col("abnormal")?,
                })
            })
            .collect()
    }

    pub(crate) async fn add_client_discards(&self, discards: &[ClientDiscard]) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        for d in discards {
            sqlx::query(
                "INSERT INTO client_discards (project_id, reason, category, hour, quantity) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (project_id, reason, category, hour) DO UPDATE SET \
                   quantity = client_discards.quantity + excluded.quantity",
            )
            .param(d.project_id)
            .param(&d.reason)
            .param(&d.category)
            .param(D::time(hour_of(d.hour)))
            .param(d.quantity)
            .execute(&mut *tx)
            .await
            .map_err(db_err("client discards"))?;
        }
        tx.commit().await.map_err(db)
    }

    pub(crate) async fn client_discard_totals(
        &self,
        project_id: ProjectId,
    ) -> StoreResult<Vec<ClientDiscard>> {
        let rows = sqlx::query(
            "SELECT reason, category, min(hour) AS hour, \
                    CAST(sum(quantity) AS BIGINT) AS quantity \
             FROM client_discards WHERE project_id = $1 \
             GROUP BY reason, category ORDER BY reason, category",
        )
        .param(project_id)
        .fetch_all(self.0)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(ClientDiscard {
                    project_id,
                    reason: r.col("reason")?,
                    category: r.col("category")?,
                    quantity: r.col("quantity")?,
                    hour: r.time("hour")?,
                })
            })
            .collect()
    }

    pub(crate) async fn add_check_in(&self, c: &CheckIn) -> StoreResult<()> {
        // SDKs send `in_progress` and later the result under the same id.
        sqlx::query(
            "INSERT INTO check_ins (project_id, check_in_id, monitor_slug, status, \
                                    duration_secs, environment, received_at, data) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (project_id, check_in_id) DO UPDATE SET \
               monitor_slug = excluded.monitor_slug, status = excluded.status, \
               duration_secs = excluded.duration_secs, environment = excluded.environment, \
               received_at = excluded.received_at, data = excluded.data",
        )
        .param(c.project_id)
        .param(c.check_in_id)
        .param(&c.monitor_slug)
        .param(&c.status)
        .param(c.duration_secs)
        .param(&c.environment)
        .param(D::time(c.received_at))
        .param(&c.data)
        .execute(self.0)
        .await
        .map_err(db_err("check-in"))?;
        Ok(())
    }

    pub(crate) async fn list_check_ins(
        &self,
        project_id: ProjectId,
        limit: u32,
    ) -> StoreResult<Vec<CheckIn>> {
        let rows = sqlx::query(
            "SELECT project_id, check_in_id, monitor_slug, status, duration_secs, environment, \
                    received_at, data \
             FROM check_ins WHERE project_id = $1 ORDER BY received_at DESC, id DESC LIMIT $2",
        )
        .param(project_id)
        .param(page_limit(limit))
        .fetch_all(self.0)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(CheckIn {
                    project_id: r.col("project_id")?,
                    check_in_id: r.col("check_in_id")?,
                    monitor_slug: r.col("monitor_slug")?,
                    status: r.col("status")?,
                    duration_secs: r.col("duration_secs")?,
                    environment: r.col("environment")?,
                    received_at: r.time("received_at")?,
                    data: r.col("data")?,
                })
            })
            .collect()
    }

    pub(crate) async fn add_user_report(&self, u: &UserReport) -> StoreResult<()> {
        // A retried job or a corrected report replaces the earlier one.
        sqlx::query(
            "INSERT INTO user_reports (project_id, event_id, name, email, comments, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (project_id, event_id) DO UPDATE SET \
               name = excluded.name, email = excluded.email, comments = excluded.comments, \
               received_at = excluded.received_at",
        )
        .param(u.project_id)
        .param(u.event_id)
        .param(&u.name)
        .param(&u.email)
        .param(&u.comments)
        .param(D::time(u.received_at))
        .execute(self.0)
        .await
        .map_err(db_err("user report"))?;
        Ok(())
    }

    pub(crate) async fn list_user_reports(
        &self,
        project_id: ProjectId,
    ) -> StoreResult<Vec<UserReport>> {
        let rows = sqlx::query(
            "SELECT project_id, event_id, name, email, comments, received_at FROM user_reports \
             WHERE project_id = $1 ORDER BY received_at DESC, id DESC",
        )
        .param(project_id)
        .fetch_all(self.0)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(UserReport {
                    project_id: r.col("project_id")?,
                    event_id: r.col("event_id")?,
                    name: r.col("name")?,
                    email: r.col("email")?,
                    comments: r.col("comments")?,
                    received_at: r.time("received_at")?,
                })
            })
            .collect()
    }

    pub(crate) async fn add_dead_letter(
        &self,
        queue: &str,
        payload: &str,
        error: &str,
        attempts: i32,
    ) -> StoreResult<DeadLetter> {
        let row = sqlx::query(
            "INSERT INTO dead_letters (queue, payload, error, attempts, created_at) \
             VALUES ($1, $2, $3, $4, $5) \
             RETURNING id, queue, payload, error, attempts, created_at",
        )
        .param(queue)
        .param(payload)
        .param(error)
        .param(attempts)
        .param(D::time(Utc::now()))
        .fetch_one(self.0)
        .await
        .map_err(db)?;
        rows::dead_letter(&row)
    }

    pub(crate) async fn list_dead_letters(&self, limit: u32) -> StoreResult<Vec<DeadLetter>> {
        sqlx::query(
            "SELECT id, queue, payload, error, attempts, created_at FROM dead_letters \
             ORDER BY id DESC LIMIT $1",
        )
        .param(page_limit(limit))
        .fetch_all(self.0)
        .await
        .map_err(db)?
        .iter()
        .map(rows::dead_letter)
        .collect()
    }

    pub(crate) async fn take_dead_letter(&self, id: i64) -> StoreResult<DeadLetter> {
        let row = sqlx::query(
            "DELETE FROM dead_letters WHERE id = $1 \
             RETURNING id, queue, payload, error, attempts, created_at",
        )
        .param(id)
        .fetch_optional(self.0)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound("dead letter"))?;
        rows::dead_letter(&row)
    }
}
