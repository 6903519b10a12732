//! Issues and their events on SQLite: lists, status changes, counts.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use corral_core::model::*;
use corral_core::{EventCursor, IssueQuery, IssueSort, StatusChange, StoreError, StoreResult};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};
use uuid::Uuid;

use super::rows::{self, event_columns, issue_columns, ms};
use crate::error::{db, db_err};
use crate::plan::{self, like_pattern, page_limit};

/// Reads issues inside a write transaction (which SQLite already holds
/// exclusively, so no row locks are needed).
pub(super) async fn load_issues(
    tx: &mut SqliteConnection,
    ids: &[IssueId],
) -> StoreResult<HashMap<IssueId, Issue>> {
    let mut out = HashMap::with_capacity(ids.len());
    for id in ids {
        let row = sqlx::query(concat!(
            "SELECT ",
            issue_columns!(),
            " FROM issues i WHERE i.id = ?1"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        if let Some(row) = row {
            out.insert(*id, rows::issue(&row)?);
        }
    }
    Ok(out)
}

/// Writes issue states computed inside the transaction.
pub(super) async fn write_issues(tx: &mut SqliteConnection, issues: &[&Issue]) -> StoreResult<()> {
    for issue in issues {
        sqlx::query(
            "UPDATE issues SET status = ?2, substatus = ?3, level = ?4, title = ?5, culprit = ?6, \
               metadata = ?7, first_seen = ?8, last_seen = ?9, times_seen = ?10, \
               first_release = ?11, last_release = ?12, resolved_at = ?13, \
               resolved_in_release = ?14, ignore_until = ?15, ignore_count = ?16, \
               ignore_count_base = ?17 \
             WHERE id = ?1",
        )
        .bind(issue.id)
        .bind(issue.status.as_str())
        .bind(issue.substatus.as_str())
        .bind(issue.level.as_str())
        .bind(&issue.title)
        .bind(&issue.culprit)
        .bind(issue.metadata.to_string())
        .bind(ms(issue.first_seen))
        .bind(ms(issue.last_seen))
        .bind(issue.times_seen)
        .bind(&issue.first_release)
        .bind(&issue.last_release)
        .bind(issue.resolved_at.map(ms))
        .bind(&issue.resolved_in_release)
        .bind(issue.ignore_until.map(ms))
        .bind(issue.ignore_count)
        .bind(issue.ignore_count_base)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    }
    Ok(())
}

fn sort_column(sort: IssueSort) -> &'static str {
    match sort {
        IssueSort::LastSeen => "i.last_seen",
        IssueSort::FirstSeen => "i.first_seen",
        IssueSort::TimesSeen => "i.times_seen",
    }
}

fn push_filters(qb: &mut QueryBuilder<Sqlite>, q: &IssueQuery) {
    if !q.project_ids.is_empty() {
        qb.push(" AND i.project_id IN (");
        let mut list = qb.separated(", ");
        for p in &q.project_ids {
            list.push_bind(*p);
        }
        qb.push(")");
    }
    if let Some(status) = q.status {
        qb.push(" AND i.status = ").push_bind(status.as_str());
    }
    if !q.levels.is_empty() {
        qb.push(" AND i.level IN (");
        let mut list = qb.separated(", ");
        for l in &q.levels {
            list.push_bind(l.as_str());
        }
        qb.push(")");
    }
    let mut tags: Vec<(&str, &str)> = q
        .tags
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if let Some(r) = &q.release {
        tags.push(("release", r));
    }
    if let Some(e) = &q.environment {
        tags.push(("environment", e));
    }
    for (key, value) in tags {
        qb.push(
            " AND EXISTS (SELECT 1 FROM issue_tag_values t WHERE t.issue_id = i.id AND t.key = ",
        )
        .push_bind(key.to_string())
        .push(" AND t.value = ")
        .push_bind(value.to_string())
        .push(")");
    }
    if let Some(t) = q.first_seen_after {
        qb.push(" AND i.first_seen > ").push_bind(ms(t));
    }
    if let Some(t) = q.last_seen_after {
        qb.push(" AND i.last_seen > ").push_bind(ms(t));
    }
    if let Some(text) = q.text.as_deref().filter(|t| !t.is_empty()) {
        // SQLite's LIKE ignores ASCII case.
        let pattern = like_pattern(text);
        qb.push(" AND (i.title LIKE ")
            .push_bind(pattern.clone())
            .push(" ESCAPE '\\' OR i.culprit LIKE ")
            .push_bind(pattern)
            .push(" ESCAPE '\\')");
    }
}

pub(super) async fn list_issues(pool: &SqlitePool, q: &IssueQuery) -> StoreResult<Vec<Issue>> {
    let column = sort_column(q.sort);
    let mut qb = QueryBuilder::<Sqlite>::new(concat!(
        "SELECT ",
        issue_columns!(),
        " FROM issues i WHERE 1"
    ));
    push_filters(&mut qb, q);
    if let Some(cursor) = q.cursor {
        // Times are stored as milliseconds, the cursor's unit.
        qb.push(format_args!(" AND ({column}, i.id) < ("))
            .push_bind(cursor.sort_value)
            .push(", ")
            .push_bind(cursor.id)
            .push(")");
    }
    qb.push(format_args!(" ORDER BY {column} DESC, i.id DESC LIMIT "))
        .push_bind(page_limit(q.limit));
    qb.build()
        .fetch_all(pool)
        .await
        .map_err(db)?
        .iter()
        .map(rows::issue)
        .collect()
}

pub(super) async fn count_issues(pool: &SqlitePool, q: &IssueQuery) -> StoreResult<i64> {
    let mut qb = QueryBuilder::<Sqlite>::new("SELECT count(*) FROM issues i WHERE 1");
    push_filters(&mut qb, q);
    qb.build_query_scalar().fetch_one(pool).await.map_err(db)
}

pub(super) async fn issue_by_id(pool: &SqlitePool, id: IssueId) -> StoreResult<Issue> {
    let row = sqlx::query(concat!(
        "SELECT ",
        issue_columns!(),
        " FROM issues i WHERE i.id = ?1"
    ))
    .bind(id)
    .fetch_one(pool)
    .await
    .map_err(db_err("issue"))?;
    rows::issue(&row)
}

pub(super) async fn issue_by_short_id(
    pool: &SqlitePool,
    project_id: ProjectId,
    short_id: i64,
) -> StoreResult<Issue> {
    let row = sqlx::query(concat!(
        "SELECT ",
        issue_columns!(),
        " FROM issues i WHERE i.project_id = ?1 AND i.short_id = ?2"
    ))
    .bind(project_id)
    .bind(short_id)
    .fetch_one(pool)
    .await
    .map_err(db_err("issue"))?;
    rows::issue(&row)
}

pub(super) async fn set_issue_status(
    pool: &SqlitePool,
    id: IssueId,
    change: StatusChange,
) -> StoreResult<Issue> {
    plan::validate_status_change(&change)?;
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    let mut issue = load_issues(&mut tx, &[id])
        .await?
        .remove(&id)
        .ok_or(StoreError::NotFound("issue"))?;
    plan::apply_status_change(&mut issue, change, Utc::now());
    write_issues(&mut tx, &[&issue]).await?;
    tx.commit().await.map_err(db)?;
    Ok(issue)
}

pub(super) async fn delete_issue(pool: &SqlitePool, id: IssueId) -> StoreResult<()> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    sqlx::query("DELETE FROM events WHERE issue_id = ?1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    // Hashes, tag values and counts go with it (ON DELETE CASCADE).
    let done = sqlx::query("DELETE FROM issues WHERE id = ?1")
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound("issue"));
    }
    tx.commit().await.map_err(db)
}

pub(super) async fn list_issue_events(
    pool: &SqlitePool,
    issue_id: IssueId,
    cursor: Option<EventCursor>,
    limit: u32,
) -> StoreResult<Vec<StoredEvent>> {
    sqlx::query(concat!(
        "SELECT ",
        event_columns!(),
        " FROM events e WHERE e.issue_id = ?1 \
           AND (?2 IS NULL OR (e.received_at, e.event_id) < (?2, ?3)) \
         ORDER BY e.received_at DESC, e.event_id DESC LIMIT ?4"
    ))
    .bind(issue_id)
    .bind(cursor.map(|c| ms(c.received_at)))
    .bind(cursor.map(|c| c.event_id))
    .bind(page_limit(limit))
    .fetch_all(pool)
    .await
    .map_err(db)?
    .iter()
    .map(rows::event)
    .collect()
}

pub(super) async fn latest_event(pool: &SqlitePool, issue_id: IssueId) -> StoreResult<StoredEvent> {
    list_issue_events(pool, issue_id, None, 1)
        .await?
        .pop()
        .ok_or(StoreError::NotFound("event"))
}

pub(super) async fn event_by_id(
    pool: &SqlitePool,
    project_id: ProjectId,
    event_id: Uuid,
) -> StoreResult<StoredEvent> {
    let row = sqlx::query(concat!(
        "SELECT ",
        event_columns!(),
        " FROM events e WHERE e.project_id = ?1 AND e.event_id = ?2"
    ))
    .bind(project_id)
    .bind(event_id)
    .fetch_one(pool)
    .await
    .map_err(db_err("event"))?;
    rows::event(&row)
}

pub(super) async fn issue_tag_values(
    pool: &SqlitePool,
    issue_id: IssueId,
) -> StoreResult<Vec<TagValueCount>> {
    sqlx::query(
        "SELECT key, value, times_seen, first_seen, last_seen FROM issue_tag_values \
         WHERE issue_id = ?1 ORDER BY key, times_seen DESC, value",
    )
    .bind(issue_id)
    .fetch_all(pool)
    .await
    .map_err(db)?
    .iter()
    .map(rows::tag_value)
    .collect()
}

pub(super) async fn issue_hourly_counts(
    pool: &SqlitePool,
    issue_id: IssueId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> StoreResult<Vec<CountBucket>> {
    sqlx::query(
        "SELECT hour AS start, count FROM issue_hourly \
         WHERE issue_id = ?1 AND hour >= ?2 AND hour < ?3 AND count > 0 ORDER BY hour",
    )
    .bind(issue_id)
    .bind(ms(from))
    .bind(ms(to))
    .fetch_all(pool)
    .await
    .map_err(db)?
    .iter()
    .map(rows::bucket)
    .collect()
}

pub(super) async fn issue_daily_counts(
    pool: &SqlitePool,
    issue_id: IssueId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> StoreResult<Vec<CountBucket>> {
    sqlx::query(
        "SELECT start, sum(count) AS count FROM ( \
           SELECT day AS start, count FROM issue_daily \
            WHERE issue_id = ?1 AND day >= ?2 AND day < ?3 \
           UNION ALL \
           SELECT hour - hour % 86400000, count FROM issue_hourly \
            WHERE issue_id = ?1 AND hour >= ?2 AND hour < ?3 \
         ) GROUP BY start HAVING sum(count) > 0 ORDER BY start",
    )
    .bind(issue_id)
    .bind(ms(from))
    .bind(ms(to))
    .fetch_all(pool)
    .await
    .map_err(db)?
    .iter()
    .map(rows::bucket)
    .collect()
}
