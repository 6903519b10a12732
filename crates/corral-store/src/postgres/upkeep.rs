//! Beat's work on PostgreSQL: day partitions of `events` (created ahead,
//! dropped whole by the purge), counters of purged events, and the
//! hourly-to-daily rollup.

use std::collections::HashSet;
use std::sync::Mutex;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use corral_core::model::{IssueId, ProjectId, to_ms};
use corral_core::{PurgeReport, StoreResult};
use sqlx::{AssertSqlSafe, PgConnection, PgPool, Postgres};

use crate::dialect::Sql;
use crate::error::db;

/// Advisory lock key serializing partition creation across processes
/// ("corral-p" in ASCII).
const PARTITION_LOCK: i64 = 0x636f_7272_616c_2d70;

/// The days whose partition this process knows exists, so the digest asks
/// PostgreSQL only once per day.
#[derive(Default)]
pub(crate) struct Partitions {
    known: Mutex<HashSet<NaiveDate>>,
}

impl Partitions {
    pub(crate) async fn ensure(&self, pool: &PgPool, day: NaiveDate) -> Result<bool, sqlx::Error> {
        if self.lock().contains(&day) {
            return Ok(false);
        }
        let created = create_partition(pool, day).await?;
        self.lock().insert(day);
        Ok(created)
    }

    pub(crate) fn forget_all(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<NaiveDate>> {
        // The set is only a cache: a panic elsewhere cannot leave it wrong.
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub(crate) fn partition_name(day: NaiveDate) -> String {
    format!("events_p{}", day.format("%Y%m%d"))
}

fn partition_day(name: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(name.strip_prefix("events_p")?, "%Y%m%d").ok()
}

async fn create_partition(pool: &PgPool, day: NaiveDate) -> Result<bool, sqlx::Error> {
    let name = partition_name(day);
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(PARTITION_LOCK)
        .execute(&mut *tx)
        .await?;
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(&name)
        .fetch_one(&mut *tx)
        .await?;
    if !exists {
        let next = day.succ_opt().unwrap_or(day);
        // The name and bounds come from a date, never from input.
        sqlx::query(AssertSqlSafe(format!(
            "CREATE TABLE {name} PARTITION OF events \
             FOR VALUES FROM ('{day} 00:00:00+00') TO ('{next} 00:00:00+00')"
        )))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(!exists)
}

pub(super) async fn ensure_partitions(
    pool: &PgPool,
    partitions: &Partitions,
    now: DateTime<Utc>,
    days_ahead: u32,
) -> StoreResult<u32> {
    let mut created = 0;
    for ahead in 0..=days_ahead {
        let day = (now + Duration::days(i64::from(ahead))).date_naive();
        if create_partition(pool, day).await.map_err(db)? {
            created += 1;
        }
        partitions.lock().insert(day);
    }
    Ok(created)
}

async fn existing_partitions(pool: &PgPool) -> Result<Vec<(NaiveDate, String)>, sqlx::Error> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = 'events'::regclass",
    )
    .fetch_all(pool)
    .await?;
    let mut days: Vec<(NaiveDate, String)> = names
        .into_iter()
        .filter_map(|n| partition_day(&n).map(|d| (d, n)))
        .collect();
    days.sort();
    Ok(days)
}

/// Which events a purge step removes.
enum Doomed<'a> {
    /// A whole day partition.
    Partition(&'a str),
    /// One project's events received before a time.
    Project(ProjectId, DateTime<Utc>),
}

impl Doomed<'_> {
    /// `FROM … e [join] WHERE …` over the doomed events that belong to issues.
    fn source_sql(&self, join: &str) -> String {
        match self {
            Doomed::Partition(name) => format!("FROM {name} e {join} WHERE e.issue_id IS NOT NULL"),
            Doomed::Project(..) => format!(
                "FROM events e {join} WHERE e.project_id = $1 AND e.received_at < $2 \
                 AND e.issue_id IS NOT NULL"
            ),
        }
    }

    async fn run(&self, tx: &mut PgConnection, sql: String) -> Result<u64, sqlx::Error> {
        let q = sqlx::query(AssertSqlSafe(sql));
        let q = match self {
            Doomed::Partition(_) => q,
            Doomed::Project(p, before) => q.bind(*p).bind(*before),
        };
        Ok(q.execute(&mut *tx).await?.rows_affected())
    }
}

/// Takes the doomed events out of their issues' counters (times seen, tag
/// values, hourly or, once rolled up, daily counts); returns the issues
/// touched, locked. The counters left at zero are the caller's to delete
/// (`delete_spent`).
async fn subtract_counts(
    tx: &mut PgConnection,
    doomed: &Doomed<'_>,
) -> Result<Vec<IssueId>, sqlx::Error> {
    let select_ids = format!(
        "SELECT i.id FROM issues i WHERE i.id IN (SELECT DISTINCT e.issue_id {}) \
         ORDER BY i.id FOR UPDATE",
        doomed.source_sql("")
    );
    let q = sqlx::query_scalar::<_, i64>(AssertSqlSafe(select_ids));
    let q = match doomed {
        Doomed::Partition(_) => q,
        Doomed::Project(p, before) => q.bind(*p).bind(*before),
    };
    let ids = q.fetch_all(&mut *tx).await?;
    if ids.is_empty() {
        return Ok(ids);
    }
    let all = doomed.source_sql("");
    doomed
        .run(
            tx,
            format!(
                "UPDATE issues i SET times_seen = i.times_seen - g.n \
                 FROM (SELECT e.issue_id, count(*) AS n {all} GROUP BY e.issue_id) g \
                 WHERE i.id = g.issue_id"
            ),
        )
        .await?;
    let tagged = doomed.source_sql("CROSS JOIN LATERAL jsonb_array_elements(e.tags) AS x");
    doomed
        .run(
            tx,
            format!(
                "UPDATE issue_tag_values t SET times_seen = t.times_seen - g.n \
                 FROM (SELECT s.issue_id, s.k, s.v, count(*) AS n FROM ( \
                         SELECT DISTINCT e.issue_id, e.event_id, x->>0 AS k, x->>1 AS v {tagged} \
                       ) s GROUP BY s.issue_id, s.k, s.v) g \
                 WHERE t.issue_id = g.issue_id AND t.key = g.k AND t.value = g.v"
            ),
        )
        .await?;
    let hours = format!(
        "SELECT e.issue_id, date_trunc('hour', e.\"timestamp\", 'UTC') AS hour, count(*) AS n \
         {all} GROUP BY 1, 2"
    );
    // Hours already rolled up are taken from their day; this runs before the
    // hourly update so that "no hourly row" still means "rolled up".
    doomed
        .run(
            tx,
            format!(
                "UPDATE issue_daily dd SET count = dd.count - r.n \
                 FROM (SELECT d.issue_id, date_trunc('day', d.hour, 'UTC') AS day, sum(d.n) AS n \
                       FROM ({hours}) d \
                       WHERE NOT EXISTS (SELECT 1 FROM issue_hourly h \
                                         WHERE h.issue_id = d.issue_id AND h.hour = d.hour) \
                       GROUP BY 1, 2) r \
                 WHERE dd.issue_id = r.issue_id AND dd.day = r.day"
            ),
        )
        .await?;
    doomed
        .run(
            tx,
            format!(
                "UPDATE issue_hourly h SET count = h.count - d.n FROM ({hours}) d \
                 WHERE h.issue_id = d.issue_id AND h.hour = d.hour"
            ),
        )
        .await?;
    Ok(ids)
}

/// [`subtract_counts`] for one project's events received before `before`.
pub(super) async fn subtract_project_counts(
    tx: &mut PgConnection,
    project: ProjectId,
    before: DateTime<Utc>,
) -> Result<Vec<IssueId>, sqlx::Error> {
    subtract_counts(tx, &Doomed::Project(project, before)).await
}

pub(super) async fn purge(
    pool: &PgPool,
    partitions: &Partitions,
    now: DateTime<Utc>,
    default_days: i32,
) -> StoreResult<PurgeReport> {
    let now = to_ms(now);
    let sql = Sql(pool);
    let retention = sql.retention(default_days).await?;
    let mut report = PurgeReport::default();
    // Whole days older than every project's retention: drop the partition.
    for (day, name) in existing_partitions(pool).await.map_err(db)? {
        if day >= retention.oldest_kept(now).date_naive() {
            continue;
        }
        let mut tx = pool.begin().await.map_err(db)?;
        let ids = subtract_counts(&mut tx, &Doomed::Partition(&name))
            .await
            .map_err(db)?;
        let count: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT count(*) FROM {name}")))
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query(AssertSqlSafe(format!("DROP TABLE {name}")))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        report.issues_deleted += Sql::<Postgres>::delete_spent(&mut tx, &ids).await?;
        tx.commit().await.map_err(db)?;
        partitions.forget_all();
        report.events_deleted += u64::try_from(count).unwrap_or(0);
        report.partitions_dropped += 1;
    }
    // Then each project's own retention.
    sql.purge_retention(now, &retention, &mut report).await?;
    Ok(report)
}

pub(super) async fn rollup_hourly(pool: &PgPool, before: DateTime<Utc>) -> StoreResult<u64> {
    // One statement: the rows deleted are exactly the rows folded in.
    let moved: i64 = sqlx::query_scalar(
        "WITH moved AS ( \
           DELETE FROM issue_hourly WHERE hour < $1 RETURNING issue_id, hour, count \
         ), folded AS ( \
           INSERT INTO issue_daily (issue_id, day, count) \
           SELECT issue_id, date_trunc('day', hour, 'UTC'), sum(count) FROM moved \
           GROUP BY 1, 2 \
           ON CONFLICT (issue_id, day) DO UPDATE SET count = issue_daily.count + excluded.count \
         ) SELECT count(*) FROM moved",
    )
    .bind(before)
    .fetch_one(pool)
    .await
    .map_err(db)?;
    Ok(u64::try_from(moved).unwrap_or(0))
}
