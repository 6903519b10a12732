//! Attachments, release health, client reports, check-ins, user feedback and
//! dead letters on SQLite.

use chrono::Utc;
use corral_core::model::{DeadLetter, ProjectId};
use corral_core::{
    AttachmentRecord, CheckIn, ClientDiscard, SessionCounts, StoreError, StoreResult, UserReport,
};
use sqlx::SqlitePool;
use uuid::Uuid;

use super::rows::{self, get, ms, time};
use crate::error::{db, db_err};
use crate::plan::{hour_of, page_limit};

pub(super) async fn add_attachment(pool: &SqlitePool, a: &AttachmentRecord) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO attachments (project_id, event_id, name, content_type, attachment_type, \
                                  size, path, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
         ON CONFLICT (project_id, event_id, path) DO NOTHING",
    )
    .bind(a.project_id)
    .bind(a.event_id)
    .bind(&a.name)
    .bind(&a.content_type)
    .bind(&a.attachment_type)
    .bind(a.size)
    .bind(&a.path)
    .bind(ms(a.created_at))
    .execute(pool)
    .await
    .map_err(db_err("attachment"))?;
    Ok(())
}

pub(super) async fn list_attachments(
    pool: &SqlitePool,
    project_id: ProjectId,
    event_id: Uuid,
) -> StoreResult<Vec<AttachmentRecord>> {
    let rows = sqlx::query(
        "SELECT project_id, event_id, name, content_type, attachment_type, size, path, created_at \
         FROM attachments WHERE project_id = ?1 AND event_id = ?2 ORDER BY id",
    )
    .bind(project_id)
    .bind(event_id)
    .fetch_all(pool)
    .await
    .map_err(db)?;
    rows.iter()
        .map(|r| {
            Ok(AttachmentRecord {
                project_id: get(r, "project_id")?,
                event_id: get(r, "event_id")?,
                name: get(r, "name")?,
                content_type: get(r, "content_type")?,
                attachment_type: get(r, "attachment_type")?,
                size: get(r, "size")?,
                path: get(r, "path")?,
                created_at: time(r, "created_at")?,
            })
        })
        .collect()
}

pub(super) async fn add_session_counts(
    pool: &SqlitePool,
    counts: &[SessionCounts],
) -> StoreResult<()> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    for c in counts {
        sqlx::query(
            "INSERT INTO session_counts (project_id, release, environment, hour, exited, errored, \
                                         crashed, abnormal) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
             ON CONFLICT (project_id, release, environment, hour) DO UPDATE SET \
               exited = session_counts.exited + excluded.exited, \
               errored = session_counts.errored + excluded.errored, \
               crashed = session_counts.crashed + excluded.crashed, \
               abnormal = session_counts.abnormal + excluded.abnormal",
        )
        .bind(c.project_id)
        .bind(&c.release)
        .bind(c.environment.as_deref().unwrap_or(""))
        .bind(ms(hour_of(c.hour)))
        .bind(c.exited)
        .bind(c.errored)
        .bind(c.crashed)
        .bind(c.abnormal)
        .execute(&mut *tx)
        .await
        .map_err(db_err("session counts"))?;
    }
    tx.commit().await.map_err(db)
}

pub(super) async fn session_totals(
    pool: &SqlitePool,
    project_id: ProjectId,
) -> StoreResult<Vec<SessionCounts>> {
    let rows = sqlx::query(
        "SELECT release, environment, min(hour) AS hour, sum(exited) AS exited, \
                sum(errored) AS errored, sum(crashed) AS crashed, \
                sum(abnormal) AS abnormal \
         FROM session_counts WHERE project_id = ?1 \
         GROUP BY release, environment ORDER BY release, environment",
    )
    .bind(project_id)
    .fetch_all(pool)
    .await
    .map_err(db)?;
    rows.iter()
        .map(|r| {
            let environment: String = get(r, "environment")?;
            Ok(SessionCounts {
                project_id,
                release: get(r, "release")?,
                environment: (!environment.is_empty()).then_some(environment),
                hour: time(r, "hour")?,
                exited: get(r, "exited")?,
                errored: get(r, "errored")?,
                crashed: get(r, "crashed")?,
                abnormal: get(r, "abnormal")?,
            })
        })
        .collect()
}

pub(super) async fn add_client_discards(
    pool: &SqlitePool,
    discards: &[ClientDiscard],
) -> StoreResult<()> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    for d in discards {
        sqlx::query(
            "INSERT INTO client_discards (project_id, reason, category, hour, quantity) \
             VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (project_id, reason, category, hour) DO UPDATE SET \
               quantity = client_discards.quantity + excluded.quantity",
        )
        .bind(d.project_id)
        .bind(&d.reason)
        .bind(&d.category)
        .bind(ms(hour_of(d.hour)))
        .bind(d.quantity)
        .execute(&mut *tx)
        .await
        .map_err(db_err("client discards"))?;
    }
    tx.commit().await.map_err(db)
}

pub(super) async fn client_discard_totals(
    pool: &SqlitePool,
    project_id: ProjectId,
) -> StoreResult<Vec<ClientDiscard>> {
    let rows = sqlx::query(
        "SELECT reason, category, min(hour) AS hour, sum(quantity) AS quantity \
         FROM client_discards WHERE project_id = ?1 \
         GROUP BY reason, category ORDER BY reason, category",
    )
    .bind(project_id)
    .fetch_all(pool)
    .await
    .map_err(db)?;
    rows.iter()
        .map(|r| {
            Ok(ClientDiscard {
                project_id,
                reason: get(r, "reason")?,
                category: get(r, "category")?,
                quantity: get(r, "quantity")?,
                hour: time(r, "hour")?,
            })
        })
        .collect()
}

pub(super) async fn add_check_in(pool: &SqlitePool, c: &CheckIn) -> StoreResult<()> {
    // SDKs send `in_progress` and later the result under the same id.
    sqlx::query(
        "INSERT INTO check_ins (project_id, check_in_id, monitor_slug, status, duration_secs, \
                                environment, received_at, data) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
         ON CONFLICT (project_id, check_in_id) DO UPDATE SET \
           monitor_slug = excluded.monitor_slug, status = excluded.status, \
           duration_secs = excluded.duration_secs, environment = excluded.environment, \
           received_at = excluded.received_at, data = excluded.data",
    )
    .bind(c.project_id)
    .bind(c.check_in_id)
    .bind(&c.monitor_slug)
    .bind(&c.status)
    .bind(c.duration_secs)
    .bind(&c.environment)
    .bind(ms(c.received_at))
    .bind(&c.data)
    .execute(pool)
    .await
    .map_err(db_err("check-in"))?;
    Ok(())
}

pub(super) async fn list_check_ins(
    pool: &SqlitePool,
    project_id: ProjectId,
    limit: u32,
) -> StoreResult<Vec<CheckIn>> {
    let rows = sqlx::query(
        "SELECT project_id, check_in_id, monitor_slug, status, duration_secs, environment, \
                received_at, data \
         FROM check_ins WHERE project_id = ?1 ORDER BY received_at DESC, id DESC LIMIT ?2",
    )
    .bind(project_id)
    .bind(page_limit(limit))
    .fetch_all(pool)
    .await
    .map_err(db)?;
    rows.iter()
        .map(|r| {
            Ok(CheckIn {
                project_id: get(r, "project_id")?,
                check_in_id: get(r, "check_in_id")?,
                monitor_slug: get(r, "monitor_slug")?,
                status: get(r, "status")?,
                duration_secs: get(r, "duration_secs")?,
                environment: get(r, "environment")?,
                received_at: time(r, "received_at")?,
                data: get(r, "data")?,
            })
        })
        .collect()
}

pub(super) async fn add_user_report(pool: &SqlitePool, u: &UserReport) -> StoreResult<()> {
    // A retried job or a corrected report replaces the earlier one.
    sqlx::query(
        "INSERT INTO user_reports (project_id, event_id, name, email, comments, received_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
         ON CONFLICT (project_id, event_id) DO UPDATE SET \
           name = excluded.name, email = excluded.email, comments = excluded.comments, \
           received_at = excluded.received_at",
    )
    .bind(u.project_id)
    .bind(u.event_id)
    .bind(&u.name)
    .bind(&u.email)
    .bind(&u.comments)
    .bind(ms(u.received_at))
    .execute(pool)
    .await
    .map_err(db_err("user report"))?;
    Ok(())
}

pub(super) async fn list_user_reports(
    pool: &SqlitePool,
    project_id: ProjectId,
) -> StoreResult<Vec<UserReport>> {
    let rows = sqlx::query(
        "SELECT project_id, event_id, name, email, comments, received_at FROM user_reports \
         WHERE project_id = ?1 ORDER BY received_at DESC, id DESC",
    )
    .bind(project_id)
    .fetch_all(pool)
    .await
    .map_err(db)?;
    rows.iter()
        .map(|r| {
            Ok(UserReport {
                project_id: get(r, "project_id")?,
                event_id: get(r, "event_id")?,
                name: get(r, "name")?,
                email: get(r, "email")?,
                comments: get(r, "comments")?,
                received_at: time(r, "received_at")?,
            })
        })
        .collect()
}

pub(super) async fn add_dead_letter(
    pool: &SqlitePool,
    queue: &str,
    payload: &str,
    error: &str,
    attempts: i32,
) -> StoreResult<DeadLetter> {
    let row = sqlx::query(
        "INSERT INTO dead_letters (queue, payload, error, attempts, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id, queue, payload, error, attempts, created_at",
    )
    .bind(queue)
    .bind(payload)
    .bind(error)
    .bind(attempts)
    .bind(ms(Utc::now()))
    .fetch_one(pool)
    .await
    .map_err(db)?;
    rows::dead_letter(&row)
}

pub(super) async fn list_dead_letters(
    pool: &SqlitePool,
    limit: u32,
) -> StoreResult<Vec<DeadLetter>> {
    sqlx::query(
        "SELECT id, queue, payload, error, attempts, created_at FROM dead_letters \
         ORDER BY id DESC LIMIT ?1",
    )
    .bind(page_limit(limit))
    .fetch_all(pool)
    .await
    .map_err(db)?
    .iter()
    .map(rows::dead_letter)
    .collect()
}

pub(super) async fn take_dead_letter(pool: &SqlitePool, id: i64) -> StoreResult<DeadLetter> {
    let row = sqlx::query(
        "DELETE FROM dead_letters WHERE id = ?1 \
         RETURNING id, queue, payload, error, attempts, created_at",
    )
    .bind(id)
    .fetch_optional(pool)
    .await
    .map_err(db)?
    .ok_or(StoreError::NotFound("dead letter"))?;
    rows::dead_letter(&row)
}
