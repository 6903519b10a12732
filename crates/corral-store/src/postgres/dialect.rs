//! PostgreSQL's side of the [`Dialect`]: times as `timestamptz`, lists as
//! arrays, row locks, and issue states written through `unnest`.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use corral_core::StoreResult;
use corral_core::model::{Issue, IssueId, ProjectId, to_ms};
use sqlx::postgres::{PgHasArrayType, PgRow};
use sqlx::query::Query;
use sqlx::{PgConnection, Postgres, QueryBuilder, Row};

use crate::dialect::{Column, Columns, Dialect, Param};
use crate::error::db;
use crate::rows::{self, issue_columns};

#[async_trait]
impl Dialect for Postgres {
    const BEGIN: &'static str = "BEGIN";
    const FOR_UPDATE: &'static str = " FOR UPDATE";
    const FOR_NO_KEY_UPDATE: &'static str = " FOR NO KEY UPDATE";
    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";
    const ILIKE: &'static str = "ILIKE";
    const IN_LIST: (&'static str, &'static str) = (" = ANY(", ")");
    const HAS_MIGRATIONS: &'static str =
        "SELECT to_regclass('corral_migrations') IS NOT NULL AS present";
    /// Both halves read `issue_tag_values_top_idx` only: the per-key totals
    /// by an index-only scan, and each key's top values as the first entries
    /// of its range.
    const TAG_KEYS: &'static str = "WITH k AS ( \
           SELECT key, sum(times_seen)::bigint AS key_seen, count(*) AS key_values \
           FROM issue_tag_values WHERE issue_id = $1 GROUP BY key \
         ) \
         SELECT k.key, k.key_seen, k.key_values, v.value, v.times_seen, v.first_seen, \
                v.last_seen \
         FROM k CROSS JOIN LATERAL ( \
           SELECT value, times_seen, first_seen, last_seen FROM issue_tag_values t \
           WHERE t.issue_id = $1 AND t.key = k.key ORDER BY times_seen DESC, value LIMIT $2 \
         ) v ORDER BY k.key, v.times_seen DESC, v.value";

    type Time = DateTime<Utc>;

    fn time(t: DateTime<Utc>) -> DateTime<Utc> {
        to_ms(t)
    }

    fn day_start(column: &str) -> String {
        format!("date_trunc('day', {column}, 'UTC')")
    }

    fn bind<'q, 't, T: Param<'t>>(
        q: Query<'q, Self, Self::Arguments>,
        value: T,
    ) -> Query<'q, Self, Self::Arguments> {
        q.bind(value)
    }

    fn bind_ids<'q>(
        q: Query<'q, Self, Self::Arguments>,
        ids: &[i64],
    ) -> Query<'q, Self, Self::Arguments> {
        q.bind(ids.to_vec())
    }

    fn bind_texts<'q>(
        q: Query<'q, Self, Self::Arguments>,
        texts: &[String],
    ) -> Query<'q, Self, Self::Arguments> {
        q.bind(texts.to_vec())
    }

    fn push_bind<'t, T: Param<'t>>(qb: &mut QueryBuilder<Self>, value: T) {
        qb.push_bind(value);
    }

    fn push_in<T>(qb: &mut QueryBuilder<Self>, values: &[T])
    where
        T: for<'t> Param<'t> + PgHasArrayType + Copy,
    {
        qb.push(" = ANY(").push_bind(values.to_vec()).push(")");
    }

    async fn lock_issues(
        tx: &mut PgConnection,
        ids: &[IssueId],
    ) -> StoreResult<HashMap<IssueId, Issue>> {
        lock_issues(tx, ids).await.map_err(db)
    }

    async fn subtract_counts(
        tx: &mut PgConnection,
        project: ProjectId,
        before: DateTime<Utc>,
    ) -> StoreResult<Vec<IssueId>> {
        super::upkeep::subtract_project_counts(tx, project, before)
            .await
            .map_err(db)
    }

    async fn write_issues(tx: &mut PgConnection, issues: &[(&Issue, i64)]) -> StoreResult<()> {
        write_issues(tx, issues).await.map_err(db)
    }
}

impl Columns for PgRow {
    fn col<T: Column>(&self, column: &str) -> StoreResult<T> {
        self.try_get(column).map_err(db)
    }

    fn time(&self, column: &str) -> StoreResult<DateTime<Utc>> {
        self.col(column)
    }

    fn opt_time(&self, column: &str) -> StoreResult<Option<DateTime<Utc>>> {
        self.col(column)
    }

    fn texts(&self, column: &str) -> StoreResult<Vec<String>> {
        self.try_get(column).map_err(db)
    }
}

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
    .bind(column(issues, |i| i.id))
    .bind(issues.iter().map(|(_, n)| *n).collect::<Vec<_>>())
    .bind(column(issues, |i| i.status.as_str()))
    .bind(column(issues, |i| i.substatus.as_str()))
    .bind(column(issues, |i| i.level.as_str()))
    .bind(column(issues, |i| i.title.as_str()))
    .bind(column(issues, |i| i.culprit.as_str()))
    .bind(column(issues, |i| i.metadata.to_string()))
    .bind(column(issues, |i| i.first_seen))
    .bind(column(issues, |i| i.last_seen))
    .bind(column(issues, |i| i.first_release.as_deref()))
    .bind(column(issues, |i| i.last_release.as_deref()))
    .bind(column(issues, |i| i.resolved_at))
    .bind(column(issues, |i| i.resolved_in_release.as_deref()))
    .bind(column(issues, |i| i.ignore_until))
    .bind(column(issues, |i| i.ignore_count))
    .bind(column(issues, |i| i.ignore_count_base))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// One field of every issue, for an `unnest` column.
fn column<'a, T>(issues: &[(&'a Issue, i64)], field: impl Fn(&'a Issue) -> T) -> Vec<T> {
    issues.iter().map(|(i, _)| field(i)).collect()
}
