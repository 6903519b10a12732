//! Issues and their events on SQLite: lists, status changes, counts.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use corral_core::model::*;
use corral_core::{
    AssignedFilter, EventCursor, IssueQuery, IssueSort, StatusChange, StatusCounts, StoreError,
    StoreResult,
};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};
use uuid::Uuid;

use super::rows::{self, event_columns, issue_columns, ms};
use crate::error::{db, db_err, found};
use crate::plan::{self, like_pattern, page_limit};

/// Longest comment.
const MAX_COMMENT: usize = 10_000;

/// Reads issues inside a write transaction (which SQLite already holds
/// exclusively, so no row locks are needed): one statement per
/// [`rows_per_statement`] issues.
pub(super) async fn load_issues(
    tx: &mut SqliteConnection,
    ids: &[IssueId],
) -> StoreResult<HashMap<IssueId, Issue>> {
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(rows_per_statement(1)) {
        let mut qb = QueryBuilder::<Sqlite>::new(concat!(
            "SELECT ",
            issue_columns!(),
            " FROM issues i WHERE i.id IN ("
        ));
        let mut list = qb.separated(", ");
        for id in chunk {
            list.push_bind(*id);
        }
        qb.push(")");
        for row in qb
            .build()
            .persistent(false)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?
        {
            let issue = rows::issue(&row)?;
            out.insert(issue.id, issue);
        }
    }
    Ok(out)
}

/// Writes issue states computed inside the transaction: one `UPDATE … FROM
/// (VALUES …)` per [`rows_per_statement`] issues.
pub(super) async fn write_issues(tx: &mut SqliteConnection, issues: &[&Issue]) -> StoreResult<()> {
    for chunk in issues.chunks(rows_per_statement(17)) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "WITH v (id, status, substatus, level, title, culprit, metadata, first_seen, \
               last_seen, times_seen, first_release, last_release, resolved_at, \
               resolved_in_release, ignore_until, ignore_count, ignore_count_base) AS (",
        );
        qb.push_values(chunk, |mut b, issue| {
            b.push_bind(issue.id)
                .push_bind(issue.status.as_str())
                .push_bind(issue.substatus.as_str())
                .push_bind(issue.level.as_str())
                .push_bind(issue.title.clone())
                .push_bind(issue.culprit.clone())
                .push_bind(issue.metadata.to_string())
                .push_bind(ms(issue.first_seen))
                .push_bind(ms(issue.last_seen))
                .push_bind(issue.times_seen)
                .push_bind(issue.first_release.clone())
                .push_bind(issue.last_release.clone())
                .push_bind(issue.resolved_at.map(ms))
                .push_bind(issue.resolved_in_release.clone())
                .push_bind(issue.ignore_until.map(ms))
                .push_bind(issue.ignore_count)
                .push_bind(issue.ignore_count_base);
        });
        qb.push(
            ") UPDATE issues SET status = v.status, substatus = v.substatus, level = v.level, \
               title = v.title, culprit = v.culprit, metadata = v.metadata, \
               first_seen = v.first_seen, last_seen = v.last_seen, times_seen = v.times_seen, \
               first_release = v.first_release, last_release = v.last_release, \
               resolved_at = v.resolved_at, resolved_in_release = v.resolved_in_release, \
               ignore_until = v.ignore_until, ignore_count = v.ignore_count, \
               ignore_count_base = v.ignore_count_base \
             FROM v WHERE issues.id = v.id",
        );
        qb.build()
            .persistent(false)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
    }
    Ok(())
}

/// Rows per multi-row statement with `columns` bound values a row: SQLite
/// takes at most 32,766 bound values in one statement.
pub(super) fn rows_per_statement(columns: usize) -> usize {
    (30_000 / columns.max(1)).max(1)
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
    match &q.assigned {
        None => {}
        Some(AssignedFilter::Assigned) => {
            qb.push(" AND (i.assignee_user_id IS NOT NULL OR i.assignee_team_id IS NOT NULL)");
        }
        Some(AssignedFilter::Unassigned) => {
            qb.push(" AND i.assignee_user_id IS NULL AND i.assignee_team_id IS NULL");
        }
        Some(AssignedFilter::To(a)) => push_assignees(qb, std::slice::from_ref(a)),
        Some(AssignedFilter::ToAnyOf(list)) => push_assignees(qb, list),
    }
}

/// Assigned to any of `list` (nothing matches an empty list).
fn push_assignees(qb: &mut QueryBuilder<Sqlite>, list: &[Assignee]) {
    let (users, teams) = plan::split_assignees(list);
    qb.push(" AND (0");
    for (column, ids) in [("i.assignee_user_id", users), ("i.assignee_team_id", teams)] {
        if ids.is_empty() {
            continue;
        }
        qb.push(format_args!(" OR {column} IN ("));
        let mut each = qb.separated(", ");
        for id in ids {
            each.push_bind(id);
        }
        qb.push(")");
    }
    qb.push(")");
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

pub(super) async fn count_issues_by_status(
    pool: &SqlitePool,
    q: &IssueQuery,
) -> StoreResult<StatusCounts> {
    let q = IssueQuery {
        status: None,
        ..q.clone()
    };
    let mut qb = QueryBuilder::<Sqlite>::new("SELECT i.status, count(*) FROM issues i WHERE 1");
    push_filters(&mut qb, &q);
    qb.push(" GROUP BY i.status");
    let rows: Vec<(String, i64)> = qb.build_query_as().fetch_all(pool).await.map_err(db)?;
    let mut counts = StatusCounts::default();
    for (status, n) in rows {
        let status = status
            .parse::<IssueStatus>()
            .map_err(|e| StoreError::Database(format!("issues.status: {e}")))?;
        counts.add(status, n);
    }
    Ok(counts)
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
    if delete_issues(pool, &[id]).await? == 0 {
        return Err(StoreError::NotFound("issue"));
    }
    Ok(())
}

pub(super) async fn delete_issues(pool: &SqlitePool, ids: &[IssueId]) -> StoreResult<u64> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    let mut deleted = 0;
    for id in plan::sorted_ids(ids) {
        sqlx::query("DELETE FROM events WHERE issue_id = ?1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        // Hashes, tag values, counts and comments go with it (ON DELETE CASCADE).
        deleted += sqlx::query("DELETE FROM issues WHERE id = ?1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
    }
    tx.commit().await.map_err(db)?;
    Ok(deleted)
}

pub(super) async fn set_issues_status(
    pool: &SqlitePool,
    ids: &[IssueId],
    change: StatusChange,
) -> StoreResult<u64> {
    plan::validate_status_change(&change)?;
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    let mut issues: Vec<Issue> = load_issues(&mut tx, &plan::sorted_ids(ids))
        .await?
        .into_values()
        .collect();
    let now = Utc::now();
    for issue in &mut issues {
        plan::apply_status_change(issue, change.clone(), now);
    }
    let writes: Vec<&Issue> = issues.iter().collect();
    write_issues(&mut tx, &writes).await?;
    tx.commit().await.map_err(db)?;
    Ok(issues.len() as u64)
}

pub(super) async fn assign_issue(
    pool: &SqlitePool,
    id: IssueId,
    assignee: Option<Assignee>,
) -> StoreResult<Issue> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    let mut issue = load_issues(&mut tx, &[id])
        .await?
        .remove(&id)
        .ok_or(StoreError::NotFound("issue"))?;
    let allowed = match assignee {
        None => true,
        Some(Assignee::User(user)) => sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM memberships m JOIN projects p ON p.org_id = m.org_id \
               WHERE m.user_id = ?1 AND p.id = ?2)",
        )
        .bind(user)
        .bind(issue.project_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?,
        Some(Assignee::Team(team)) => sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM teams t JOIN projects p ON p.org_id = t.org_id \
               WHERE t.id = ?1 AND p.id = ?2)",
        )
        .bind(team)
        .bind(issue.project_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?,
    };
    if !allowed {
        return Err(plan::foreign_assignee(assignee));
    }
    let (user, team) = plan::split_assignees(assignee.as_slice());
    sqlx::query("UPDATE issues SET assignee_user_id = ?2, assignee_team_id = ?3 WHERE id = ?1")
        .bind(id)
        .bind(user.first())
        .bind(team.first())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    tx.commit().await.map_err(db)?;
    issue.assignee = assignee;
    Ok(issue)
}

pub(super) async fn add_comment(
    pool: &SqlitePool,
    issue_id: IssueId,
    user_id: UserId,
    text: &str,
) -> StoreResult<Comment> {
    crate::validate::text("text", text, MAX_COMMENT)?;
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    let done = sqlx::query("UPDATE issues SET num_comments = num_comments + 1 WHERE id = ?1")
        .bind(issue_id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    found(done.rows_affected(), "issue")?;
    let row = sqlx::query(
        "INSERT INTO comments (issue_id, user_id, user_name, text, created_at) \
         SELECT ?1, u.id, CASE WHEN u.name = '' THEN u.email ELSE u.name END, ?3, ?4 \
         FROM users u WHERE u.id = ?2 \
         RETURNING id, issue_id, user_id, user_name, text, created_at",
    )
    .bind(issue_id)
    .bind(user_id)
    .bind(text.trim())
    .bind(ms(Utc::now()))
    .fetch_one(&mut *tx)
    .await
    .map_err(db_err("user"))?;
    let comment = rows::comment(&row)?;
    tx.commit().await.map_err(db)?;
    Ok(comment)
}

pub(super) async fn list_comments(
    pool: &SqlitePool,
    issue_id: IssueId,
) -> StoreResult<Vec<Comment>> {
    // The author's current name while the account exists.
    sqlx::query(
        "SELECT c.id, c.issue_id, c.user_id, \
                COALESCE(NULLIF(u.name, ''), u.email, c.user_name) AS user_name, \
                c.text, c.created_at \
         FROM comments c LEFT JOIN users u ON u.id = c.user_id \
         WHERE c.issue_id = ?1 ORDER BY c.id",
    )
    .bind(issue_id)
    .fetch_all(pool)
    .await
    .map_err(db)?
    .iter()
    .map(rows::comment)
    .collect()
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

/// The window walks `issue_tag_values_top_idx` in (key, rank) order, so it needs no sort;
/// only the top rows leave the database.
pub(super) async fn issue_tag_keys(
    pool: &SqlitePool,
    issue_id: IssueId,
    top: u32,
) -> StoreResult<Vec<TagKeyCounts>> {
    let rows = sqlx::query(
        "SELECT key, value, times_seen, first_seen, last_seen, key_seen, key_values FROM ( \
           SELECT key, value, times_seen, first_seen, last_seen, \
             sum(times_seen) OVER w AS key_seen, count(*) OVER w AS key_values, \
             row_number() OVER (PARTITION BY key ORDER BY times_seen DESC, value) AS rank \
           FROM issue_tag_values WHERE issue_id = ?1 WINDOW w AS (PARTITION BY key) \
         ) v WHERE rank <= ?2 ORDER BY key, rank",
    )
    .bind(issue_id)
    .bind(i64::from(top.max(1)))
    .fetch_all(pool)
    .await
    .map_err(db)?;
    let rows = rows
        .iter()
        .map(|r| {
            Ok((
                rows::tag_value(r)?,
                rows::get(r, "key_seen")?,
                rows::get(r, "key_values")?,
            ))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(plan::tag_keys(rows, top))
}

pub(super) async fn issue_tag_key_values(
    pool: &SqlitePool,
    issue_id: IssueId,
    key: &str,
    offset: u64,
    limit: u32,
) -> StoreResult<Vec<TagValueCount>> {
    sqlx::query(
        "SELECT key, value, times_seen, first_seen, last_seen FROM issue_tag_values \
         WHERE issue_id = ?1 AND key = ?2 ORDER BY times_seen DESC, value LIMIT ?3 OFFSET ?4",
    )
    .bind(issue_id)
    .bind(key)
    .bind(i64::from(limit))
    .bind(i64::try_from(offset).unwrap_or(i64::MAX))
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

pub(super) async fn issues_hourly_counts(
    pool: &SqlitePool,
    ids: &[IssueId],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> StoreResult<Vec<(IssueId, CountBucket)>> {
    // The ids go as one JSON array: no limit on bound parameters.
    let ids = serde_json::to_string(ids).map_err(|e| StoreError::Invalid {
        field: "ids",
        reason: e.to_string(),
    })?;
    sqlx::query(
        "SELECT issue_id, hour AS start, count FROM issue_hourly \
         WHERE issue_id IN (SELECT value FROM json_each(?1)) \
           AND hour >= ?2 AND hour < ?3 AND count > 0 \
         ORDER BY issue_id, hour",
    )
    .bind(ids)
    .bind(ms(from))
    .bind(ms(to))
    .fetch_all(pool)
    .await
    .map_err(db)?
    .iter()
    .map(|r| Ok((rows::get(r, "issue_id")?, rows::bucket(r)?)))
    .collect()
}

pub(super) async fn adjacent_events(
    pool: &SqlitePool,
    issue_id: IssueId,
    cursor: EventCursor,
) -> StoreResult<(Option<Uuid>, Option<Uuid>)> {
    sqlx::query_as(
        "SELECT \
           (SELECT e.event_id FROM events e \
             WHERE e.issue_id = ?1 AND (e.received_at, e.event_id) < (?2, ?3) \
             ORDER BY e.received_at DESC, e.event_id DESC LIMIT 1), \
           (SELECT e.event_id FROM events e \
             WHERE e.issue_id = ?1 AND (e.received_at, e.event_id) > (?2, ?3) \
             ORDER BY e.received_at, e.event_id LIMIT 1)",
    )
    .bind(issue_id)
    .bind(ms(cursor.received_at))
    .bind(cursor.event_id)
    .fetch_one(pool)
    .await
    .map_err(db)
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
