//! SQLite's side of the [`Dialect`]: times as milliseconds, lists as JSON
//! text or literal lists, no row locks (a writing transaction holds the
//! file's one write lock), and multi-row statements within SQLite's limit
//! on bound values.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use corral_core::StoreResult;
use corral_core::model::{Issue, IssueId, ProjectId};
use sqlx::postgres::PgHasArrayType;
use sqlx::query::Query;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use crate::dialect::{Column, Columns, Dialect, Param};
use crate::error::{bad_value, db};
use crate::rows::{self, issue_columns};

#[async_trait]
impl Dialect for Sqlite {
    const BEGIN: &'static str = "BEGIN IMMEDIATE";
    const FOR_UPDATE: &'static str = "";
    const FOR_NO_KEY_UPDATE: &'static str = "";
    const SKIP_LOCKED: &'static str = "";
    // SQLite's LIKE ignores ASCII case.
    const ILIKE: &'static str = "LIKE";
    const IN_LIST: (&'static str, &'static str) = (" IN (SELECT value FROM json_each(", "))");
    const HAS_MIGRATIONS: &'static str = "SELECT EXISTS (SELECT 1 FROM sqlite_master \
         WHERE type = 'table' AND name = 'corral_migrations') AS present";
    /// The window walks `issue_tag_values_top_idx` in (key, rank) order, so
    /// it needs no sort; only the top rows leave the database.
    const TAG_KEYS: &'static str = "SELECT key, value, times_seen, first_seen, last_seen, key_seen, key_values FROM ( \
           SELECT key, value, times_seen, first_seen, last_seen, \
             sum(times_seen) OVER w AS key_seen, count(*) OVER w AS key_values, \
             row_number() OVER (PARTITION BY key ORDER BY times_seen DESC, value) AS rank \
           FROM issue_tag_values WHERE issue_id = $1 WINDOW w AS (PARTITION BY key) \
         ) v WHERE rank <= $2 ORDER BY key, rank";

    type Time = i64;

    fn time(t: DateTime<Utc>) -> i64 {
        t.timestamp_millis()
    }

    fn day_start(column: &str) -> String {
        format!("{column} - {column} % 86400000")
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
        q.bind(json_list(ids))
    }

    fn bind_texts<'q>(
        q: Query<'q, Self, Self::Arguments>,
        texts: &[String],
    ) -> Query<'q, Self, Self::Arguments> {
        q.bind(json_list(texts))
    }

    fn push_bind<'t, T: Param<'t>>(qb: &mut QueryBuilder<Self>, value: T) {
        qb.push_bind(value);
    }

    /// A literal list, so that a single value (one project) is an equality
    /// the planner can walk an index in order for.
    fn push_in<T>(qb: &mut QueryBuilder<Self>, values: &[T])
    where
        T: for<'t> Param<'t> + PgHasArrayType + Copy,
    {
        qb.push(" IN (");
        let mut list = qb.separated(", ");
        for v in values {
            list.push_bind(*v);
        }
        qb.push(")");
    }

    async fn lock_issues(
        tx: &mut SqliteConnection,
        ids: &[IssueId],
    ) -> StoreResult<HashMap<IssueId, Issue>> {
        load_issues(tx, ids).await
    }

    async fn subtract_counts(
        tx: &mut SqliteConnection,
        project: ProjectId,
        before: DateTime<Utc>,
    ) -> StoreResult<Vec<IssueId>> {
        super::upkeep::subtract_counts(tx, project, before).await
    }

    async fn write_issues(tx: &mut SqliteConnection, issues: &[(&Issue, i64)]) -> StoreResult<()> {
        let issues: Vec<&Issue> = issues.iter().map(|(i, _)| *i).collect();
        write_issues(tx, &issues).await
    }
}

fn json_list<T: serde::Serialize>(values: &[T]) -> String {
    serde_json::to_string(values).expect("a list of numbers or strings is JSON")
}

pub(super) fn from_ms(column: &str, v: i64) -> StoreResult<DateTime<Utc>> {
    DateTime::from_timestamp_millis(v).ok_or_else(|| bad_value(column, &v.to_string()))
}

impl Columns for SqliteRow {
    fn col<T: Column>(&self, column: &str) -> StoreResult<T> {
        self.try_get(column).map_err(db)
    }

    fn time(&self, column: &str) -> StoreResult<DateTime<Utc>> {
        from_ms(column, self.col(column)?)
    }

    fn opt_time(&self, column: &str) -> StoreResult<Option<DateTime<Utc>>> {
        self.col::<Option<i64>>(column)?
            .map(|v| from_ms(column, v))
            .transpose()
    }

    fn texts(&self, column: &str) -> StoreResult<Vec<String>> {
        self.json(column)
    }
}

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
                .push_bind(Sqlite::time(issue.first_seen))
                .push_bind(Sqlite::time(issue.last_seen))
                .push_bind(issue.times_seen)
                .push_bind(issue.first_release.clone())
                .push_bind(issue.last_release.clone())
                .push_bind(issue.resolved_at.map(Sqlite::time))
                .push_bind(issue.resolved_in_release.clone())
                .push_bind(issue.ignore_until.map(Sqlite::time))
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
