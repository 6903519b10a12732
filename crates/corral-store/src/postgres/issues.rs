//! Issues and their events on PostgreSQL: lists, status changes, counts.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use corral_core::model::*;
use corral_core::{
    AssignedFilter, EventCursor, IssueQuery, IssueSort, StatusChange, StatusCounts, StoreError,
    StoreResult,
};
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::rows::{self, event_columns, issue_columns};
use crate::error::{db, db_err, found};
use crate::plan::{self, like_pattern, page_limit, to_ms};

/// Longest comment.
const MAX_COMMENT: usize = 10_000;

/// Locks the issues in id order (the order every writer uses) and reads them.
pub(super) async fn lock_issues(
    tx: &mut PgConnection,
    ids: &[IssueId],
) -> Result<HashMap<IssueId, Issue>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = sqlx::query(concat!(
        "SELECT ",
        issue_columns!(),
        " FROM issues i WHERE i.id = ANY($1) ORDER BY i.id FOR UPDATE"
    ))
    .bind(ids)
    .fetch_all(&mut *tx)
    .await?;
    rows.iter()
        .map(|r| {
            let issue = rows::issue(r).map_err(|e| sqlx::Error::Decode(e.into()))?;
            Ok((issue.id, issue))
        })
        .collect()
}

/// Writes issue states computed under their lock; `n` events are added to
/// `times_seen` (the state already counts them).
pub(super) async fn write_issues(
    tx: &mut PgConnection,
    issues: &[(&Issue, i64)],
) -> Result<(), sqlx::Error> {
    if issues.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE issues i SET \
           status = u.status, substatus = u.substatus, level = u.level, title = u.title, \
           culprit = u.culprit, metadata = u.metadata::jsonb, first_seen = u.first_seen, \
           last_seen = u.last_seen, times_seen = i.times_seen + u.n, \
           first_release = u.first_release, last_release = u.last_release, \
           resolved_at = u.resolved_at, resolved_in_release = u.resolved_in_release, \
           ignore_until = u.ignore_until, ignore_count = u.ignore_count, \
           ignore_count_base = u.ignore_count_base \
         FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], \
                     $7::text[], $8::text[], $9::timestamptz[], $10::timestamptz[], $11::text[], \
                     $12::text[], $13::timestamptz[], $14::text[], $15::timestamptz[], \
                     $16::bigint[], $17::bigint[]) \
              AS u(id, n, status, substatus, level, title, culprit, metadata, first_seen, \
                   last_seen, first_release, last_release, resolved_at, resolved_in_release, \
                   ignore_until, ignore_count, ignore_count_base) \
         WHERE i.id = u.id",
    )
    .bind(issues.iter().map(|(i, _)| i.id).collect::<Vec<_>>())
    .bind(issues.iter().map(|(_, n)| *n).collect::<Vec<_>>())
    .bind(
        issues
            .iter()
            .map(|(i, _)| i.status.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        issues
            .iter()
            .map(|(i, _)| i.substatus.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        issues
            .iter()
            .map(|(i, _)| i.level.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        issues
            .iter()
            .map(|(i, _)| i.title.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        issues
            .iter()
            .map(|(i, _)| i.culprit.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        issues
            .iter()
            .map(|(i, _)| i.metadata.to_string())
            .collect::<Vec<_>>(),
    )
    .bind(issues.iter().map(|(i, _)| i.first_seen).collect::<Vec<_>>())
    .bind(issues.iter().map(|(i, _)| i.last_seen).collect::<Vec<_>>())
    .bind(
        issues
            .iter()
            .map(|(i, _)| i.first_release.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(
        issues
            .iter()
            .map(|(i, _)| i.last_release.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(
        issues
            .iter()
            .map(|(i, _)| i.resolved_at)
            .collect::<Vec<_>>(),
    )
    .bind(
        issues
            .iter()
            .map(|(i, _)| i.resolved_in_release.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(
        issues
            .iter()
            .map(|(i, _)| i.ignore_until)
            .collect::<Vec<_>>(),
    )
    .bind(
        issues
            .iter()
            .map(|(i, _)| i.ignore_count)
            .collect::<Vec<_>>(),
    )
    .bind(
        issues
            .iter()
            .map(|(i, _)| i.ignore_count_base)
            .collect::<Vec<_>>(),
    )
    .execute(&mut *tx)
    .await?;
    Ok(())
}

fn sort_column(sort: IssueSort) -> &'static str {
    match sort {
        IssueSort::LastSeen => "i.last_seen",
        IssueSort::FirstSeen => "i.first_seen",
        IssueSort::TimesSeen => "i.times_seen",
    }
}

fn push_filters(qb: &mut QueryBuilder<Postgres>, q: &IssueQuery) {
    if !q.project_ids.is_empty() {
        qb.push(" AND i.project_id = ANY(")
            .push_bind(q.project_ids.clone())
            .push(")");
    }
    if let Some(status) = q.status {
        qb.push(" AND i.status = ").push_bind(status.as_str());
    }
    if !q.levels.is_empty() {
        let levels: Vec<&'static str> = q.levels.iter().map(|l| l.as_str()).collect();
        qb.push(" AND i.level = ANY(").push_bind(levels).push(")");
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
        qb.push(" AND i.first_seen > ").push_bind(t);
    }
    if let Some(t) = q.last_seen_after {
        qb.push(" AND i.last_seen > ").push_bind(t);
    }
    if let Some(text) = q.text.as_deref().filter(|t| !t.is_empty()) {
        let pattern = like_pattern(text);
        qb.push(" AND (i.title ILIKE ")
            .push_bind(pattern.clone())
            .push(" ESCAPE '\\' OR i.culprit ILIKE ")
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
fn push_assignees(qb: &mut QueryBuilder<Postgres>, list: &[Assignee]) {
    let (users, teams) = plan::split_assignees(list);
    qb.push(" AND (i.assignee_user_id = ANY(")
        .push_bind(users)
        .push(") OR i.assignee_team_id = ANY(")
        .push_bind(teams)
        .push("))");
}

pub(super) async fn list_issues(pool: &PgPool, q: &IssueQuery) -> StoreResult<Vec<Issue>> {
    let column = sort_column(q.sort);
    let mut qb = QueryBuilder::<Postgres>::new(concat!(
        "SELECT ",
        issue_columns!(),
        " FROM issues i WHERE TRUE"
    ));
    push_filters(&mut qb, q);
    if let Some(cursor) = q.cursor {
        qb.push(format_args!(" AND ({column}, i.id) < ("));
        match q.sort {
            IssueSort::TimesSeen => qb.push_bind(cursor.sort_value),
            IssueSort::LastSeen | IssueSort::FirstSeen => qb.push_bind(millis(cursor.sort_value)?),
        };
        qb.push(", ").push_bind(cursor.id).push(")");
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

fn millis(ms: i64) -> StoreResult<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).ok_or(StoreError::Invalid {
        field: "cursor",
        reason: format!("{ms} is not a time in milliseconds"),
    })
}

pub(super) async fn count_issues(pool: &PgPool, q: &IssueQuery) -> StoreResult<i64> {
    let mut qb = QueryBuilder::<Postgres>::new("SELECT count(*) FROM issues i WHERE TRUE");
    push_filters(&mut qb, q);
    qb.build_query_scalar().fetch_one(pool).await.map_err(db)
}

pub(super) async fn count_issues_by_status(
    pool: &PgPool,
    q: &IssueQuery,
) -> StoreResult<StatusCounts> {
    let q = IssueQuery {
        status: None,
        ..q.clone()
    };
    let mut qb =
        QueryBuilder::<Postgres>::new("SELECT i.status, count(*) FROM issues i WHERE TRUE");
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

pub(super) async fn issue_by_id(pool: &PgPool, id: IssueId) -> StoreResult<Issue> {
    let row = sqlx::query(concat!(
        "SELECT ",
        issue_columns!(),
        " FROM issues i WHERE i.id = $1"
    ))
    .bind(id)
    .fetch_one(pool)
    .await
    .map_err(db_err("issue"))?;
    rows::issue(&row)
}

pub(super) async fn issue_by_short_id(
    pool: &PgPool,
    project_id: ProjectId,
    short_id: i64,
) -> StoreResult<Issue> {
    let row = sqlx::query(concat!(
        "SELECT ",
        issue_columns!(),
        " FROM issues i WHERE i.project_id = $1 AND i.short_id = $2"
    ))
    .bind(project_id)
    .bind(short_id)
    .fetch_one(pool)
    .await
    .map_err(db_err("issue"))?;
    rows::issue(&row)
}

pub(super) async fn set_issue_status(
    pool: &PgPool,
    id: IssueId,
    change: StatusChange,
) -> StoreResult<Issue> {
    plan::validate_status_change(&change)?;
    let mut tx = pool.begin().await.map_err(db)?;
    let mut issues = lock_issues(&mut tx, &[id]).await.map_err(db)?;
    let mut issue = issues.remove(&id).ok_or(StoreError::NotFound("issue"))?;
    plan::apply_status_change(&mut issue, change, Utc::now());
    write_issues(&mut tx, &[(&issue, 0)]).await.map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok(issue)
}

pub(super) async fn delete_issue(pool: &PgPool, id: IssueId) -> StoreResult<()> {
    if delete_issues(pool, &[id]).await? == 0 {
        return Err(StoreError::NotFound("issue"));
    }
    Ok(())
}

pub(super) async fn delete_issues(pool: &PgPool, ids: &[IssueId]) -> StoreResult<u64> {
    let mut tx = pool.begin().await.map_err(db)?;
    let mut ids: Vec<IssueId> = lock_issues(&mut tx, &plan::sorted_ids(ids))
        .await
        .map_err(db)?
        .into_keys()
        .collect();
    if ids.is_empty() {
        return Ok(0);
    }
    ids.sort_unstable();
    sqlx::query("DELETE FROM events WHERE issue_id = ANY($1)")
        .bind(&ids)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    // Hashes, tag values, counts and comments go with them (ON DELETE CASCADE).
    let done = sqlx::query("DELETE FROM issues WHERE id = ANY($1)")
        .bind(&ids)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok(done.rows_affected())
}

pub(super) async fn set_issues_status(
    pool: &PgPool,
    ids: &[IssueId],
    change: StatusChange,
) -> StoreResult<u64> {
    plan::validate_status_change(&change)?;
    let mut tx = pool.begin().await.map_err(db)?;
    let mut issues: Vec<Issue> = lock_issues(&mut tx, &plan::sorted_ids(ids))
        .await
        .map_err(db)?
        .into_values()
        .collect();
    let now = Utc::now();
    for issue in &mut issues {
        plan::apply_status_change(issue, change.clone(), now);
    }
    let writes: Vec<(&Issue, i64)> = issues.iter().map(|i| (i, 0)).collect();
    write_issues(&mut tx, &writes).await.map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok(issues.len() as u64)
}

pub(super) async fn assign_issue(
    pool: &PgPool,
    id: IssueId,
    assignee: Option<Assignee>,
) -> StoreResult<Issue> {
    let mut tx = pool.begin().await.map_err(db)?;
    let mut issue = lock_issues(&mut tx, &[id])
        .await
        .map_err(db)?
        .remove(&id)
        .ok_or(StoreError::NotFound("issue"))?;
    let allowed = match assignee {
        None => true,
        Some(Assignee::User(user)) => sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM memberships m JOIN projects p ON p.org_id = m.org_id \
               WHERE m.user_id = $1 AND p.id = $2)",
        )
        .bind(user)
        .bind(issue.project_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?,
        Some(Assignee::Team(team)) => sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM teams t JOIN projects p ON p.org_id = t.org_id \
               WHERE t.id = $1 AND p.id = $2)",
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
    sqlx::query("UPDATE issues SET assignee_user_id = $2, assignee_team_id = $3 WHERE id = $1")
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
    pool: &PgPool,
    issue_id: IssueId,
    user_id: UserId,
    text: &str,
) -> StoreResult<Comment> {
    crate::validate::text("text", text, MAX_COMMENT)?;
    let mut tx = pool.begin().await.map_err(db)?;
    let done = sqlx::query("UPDATE issues SET num_comments = num_comments + 1 WHERE id = $1")
        .bind(issue_id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    found(done.rows_affected(), "issue")?;
    let row = sqlx::query(
        "INSERT INTO comments (issue_id, user_id, user_name, text, created_at) \
         SELECT $1, u.id, CASE WHEN u.name = '' THEN u.email ELSE u.name END, $3, $4 \
         FROM users u WHERE u.id = $2 \
         RETURNING id, issue_id, user_id, user_name, text, created_at",
    )
    .bind(issue_id)
    .bind(user_id)
    .bind(text.trim())
    .bind(to_ms(Utc::now()))
    .fetch_one(&mut *tx)
    .await
    .map_err(db_err("user"))?;
    let comment = rows::comment(&row)?;
    tx.commit().await.map_err(db)?;
    Ok(comment)
}

pub(super) async fn list_comments(pool: &PgPool, issue_id: IssueId) -> StoreResult<Vec<Comment>> {
    // The author's current name while the account exists.
    sqlx::query(
        "SELECT c.id, c.issue_id, c.user_id, \
                COALESCE(NULLIF(u.name, ''), u.email, c.user_name) AS user_name, \
                c.text, c.created_at \
         FROM comments c LEFT JOIN users u ON u.id = c.user_id \
         WHERE c.issue_id = $1 ORDER BY c.id",
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
    pool: &PgPool,
    issue_id: IssueId,
    cursor: Option<EventCursor>,
    limit: u32,
) -> StoreResult<Vec<StoredEvent>> {
    sqlx::query(concat!(
        "SELECT ",
        event_columns!(),
        " FROM events e WHERE e.issue_id = $1 \
           AND ($2::timestamptz IS NULL OR (e.received_at, e.event_id) < ($2, $3)) \
         ORDER BY e.received_at DESC, e.event_id DESC LIMIT $4"
    ))
    .bind(issue_id)
    .bind(cursor.map(|c| c.received_at))
    .bind(cursor.map(|c| c.event_id))
    .bind(page_limit(limit))
    .fetch_all(pool)
    .await
    .map_err(db)?
    .iter()
    .map(rows::event)
    .collect()
}

pub(super) async fn latest_event(pool: &PgPool, issue_id: IssueId) -> StoreResult<StoredEvent> {
    list_issue_events(pool, issue_id, None, 1)
        .await?
        .pop()
        .ok_or(StoreError::NotFound("event"))
}

pub(super) async fn event_by_id(
    pool: &PgPool,
    project_id: ProjectId,
    event_id: Uuid,
) -> StoreResult<StoredEvent> {
    // The dedupe table knows the partition key, so only one partition is read.
    let row = sqlx::query(concat!(
        "SELECT ",
        event_columns!(),
        " FROM event_ids d JOIN events e \
           ON e.project_id = d.project_id AND e.event_id = d.event_id \
          AND e.received_at = d.received_at \
         WHERE d.project_id = $1 AND d.event_id = $2"
    ))
    .bind(project_id)
    .bind(event_id)
    .fetch_one(pool)
    .await
    .map_err(db_err("event"))?;
    rows::event(&row)
}

pub(super) async fn issue_tag_values(
    pool: &PgPool,
    issue_id: IssueId,
) -> StoreResult<Vec<TagValueCount>> {
    sqlx::query(
        "SELECT key, value, times_seen, first_seen, last_seen FROM issue_tag_values \
         WHERE issue_id = $1 ORDER BY key, times_seen DESC, value",
    )
    .bind(issue_id)
    .fetch_all(pool)
    .await
    .map_err(db)?
    .iter()
    .map(rows::tag_value)
    .collect()
}

/// Both halves read `issue_tag_values_top_idx` only: the per-key totals by an
/// index-only scan, and each key's top values as the first entries of its range.
pub(super) async fn issue_tag_keys(
    pool: &PgPool,
    issue_id: IssueId,
    top: u32,
) -> StoreResult<Vec<TagKeyCounts>> {
    let rows = sqlx::query(
        "WITH k AS ( \
           SELECT key, sum(times_seen)::bigint AS key_seen, count(*) AS key_values \
           FROM issue_tag_values WHERE issue_id = $1 GROUP BY key \
         ) \
         SELECT k.key, k.key_seen, k.key_values, v.value, v.times_seen, v.first_seen, v.last_seen \
         FROM k CROSS JOIN LATERAL ( \
           SELECT value, times_seen, first_seen, last_seen FROM issue_tag_values t \
           WHERE t.issue_id = $1 AND t.key = k.key ORDER BY times_seen DESC, value LIMIT $2 \
         ) v ORDER BY k.key, v.times_seen DESC, v.value",
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
    pool: &PgPool,
    issue_id: IssueId,
    key: &str,
    offset: u64,
    limit: u32,
) -> StoreResult<Vec<TagValueCount>> {
    sqlx::query(
        "SELECT key, value, times_seen, first_seen, last_seen FROM issue_tag_values \
         WHERE issue_id = $1 AND key = $2 ORDER BY times_seen DESC, value LIMIT $3 OFFSET $4",
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
    pool: &PgPool,
    issue_id: IssueId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> StoreResult<Vec<CountBucket>> {
    sqlx::query(
        "SELECT hour AS start, count FROM issue_hourly \
         WHERE issue_id = $1 AND hour >= $2 AND hour < $3 AND count > 0 ORDER BY hour",
    )
    .bind(issue_id)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
    .map_err(db)?
    .iter()
    .map(rows::bucket)
    .collect()
}

pub(super) async fn issues_hourly_counts(
    pool: &PgPool,
    ids: &[IssueId],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> StoreResult<Vec<(IssueId, CountBucket)>> {
    sqlx::query(
        "SELECT issue_id, hour AS start, count FROM issue_hourly \
         WHERE issue_id = ANY($1) AND hour >= $2 AND hour < $3 AND count > 0 \
         ORDER BY issue_id, hour",
    )
    .bind(ids)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
    .map_err(db)?
    .iter()
    .map(|r| Ok((rows::get(r, "issue_id")?, rows::bucket(r)?)))
    .collect()
}

pub(super) async fn adjacent_events(
    pool: &PgPool,
    issue_id: IssueId,
    cursor: EventCursor,
) -> StoreResult<(Option<Uuid>, Option<Uuid>)> {
    sqlx::query_as(
        "SELECT \
           (SELECT e.event_id FROM events e \
             WHERE e.issue_id = $1 AND (e.received_at, e.event_id) < ($2, $3) \
             ORDER BY e.received_at DESC, e.event_id DESC LIMIT 1), \
           (SELECT e.event_id FROM events e \
             WHERE e.issue_id = $1 AND (e.received_at, e.event_id) > ($2, $3) \
             ORDER BY e.received_at, e.event_id LIMIT 1)",
    )
    .bind(issue_id)
    .bind(cursor.received_at)
    .bind(cursor.event_id)
    .fetch_one(pool)
    .await
    .map_err(db)
}

pub(super) async fn issue_daily_counts(
    pool: &PgPool,
    issue_id: IssueId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> StoreResult<Vec<CountBucket>> {
    sqlx::query(
        "SELECT start, sum(count)::bigint AS count FROM ( \
           SELECT day AS start, count FROM issue_daily \
            WHERE issue_id = $1 AND day >= $2 AND day < $3 \
           UNION ALL \
           SELECT date_trunc('day', hour, 'UTC'), count FROM issue_hourly \
            WHERE issue_id = $1 AND hour >= $2 AND hour < $3 \
         ) c GROUP BY start HAVING sum(count) > 0 ORDER BY start",
    )
    .bind(issue_id)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await
    .map_err(db)?
    .iter()
    .map(rows::bucket)
    .collect()
}
