//! Beat's work on PostgreSQL: day partitions of `events`, purge by
//! retention, and the hourly-to-daily rollup.

use std::collections::HashSet;
use std::sync::Mutex;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use corral_core::model::{IssueId, ProjectId};
use corral_core::{PurgeReport, StoreError, StoreResult};
use sqlx::{AssertSqlSafe, PgConnection, PgPool};

use corral_core::model::to_ms;

use crate::error::db;
use crate::signin::login_window;

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
/// touched, locked.
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
    for table in ["issue_tag_values", "issue_hourly", "issue_daily"] {
        let column = if table == "issue_tag_values" {
            "times_seen"
        } else {
            "count"
        };
        sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE issue_id = ANY($1) AND {column} <= 0"
        )))
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    }
    Ok(ids)
}

/// Deletes the touched issues that have no events left.
async fn delete_empty_issues(tx: &mut PgConnection, ids: &[IssueId]) -> Result<u64, sqlx::Error> {
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(
        sqlx::query("DELETE FROM issues WHERE id = ANY($1) AND times_seen <= 0")
            .bind(ids)
            .execute(&mut *tx)
            .await?
            .rows_affected(),
    )
}

pub(super) async fn purge(
    pool: &PgPool,
    partitions: &Partitions,
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
        sqlx::query_as("SELECT id, COALESCE(retention_days, $1) FROM projects ORDER BY id")
            .bind(default_days)
            .fetch_all(pool)
            .await
            .map_err(db)?;
    let longest = projects
        .iter()
        .map(|(_, d)| *d)
        .max()
        .unwrap_or(default_days);
    let oldest_kept = now - Duration::days(i64::from(longest));
    let mut report = PurgeReport::default();

    // Whole days older than every project's retention: drop the partition.
    for (day, name) in existing_partitions(pool).await.map_err(db)? {
        let end = oldest_kept.date_naive();
        if day >= end {
            continue;
        }
        let mut tx = pool.begin().await.map_err(db)?;
        let doomed = Doomed::Partition(&name);
        let ids = subtract_counts(&mut tx, &doomed).await.map_err(db)?;
        let count: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT count(*) FROM {name}")))
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        sqlx::query(AssertSqlSafe(format!("DROP TABLE {name}")))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        report.issues_deleted += delete_empty_issues(&mut tx, &ids).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        partitions.forget_all();
        report.events_deleted += u64::try_from(count).unwrap_or(0);
        report.partitions_dropped += 1;
    }

    // Then each project's own retention, to the millisecond.
    for (project, days) in projects {
        let before = now - Duration::days(i64::from(days));
        let mut tx = pool.begin().await.map_err(db)?;
        let doomed = Doomed::Project(project, before);
        let ids = subtract_counts(&mut tx, &doomed).await.map_err(db)?;
        report.events_deleted += doomed
            .run(
                &mut tx,
                "DELETE FROM events WHERE project_id = $1 AND received_at < $2".into(),
            )
            .await
            .map_err(db)?;
        report.issues_deleted += delete_empty_issues(&mut tx, &ids).await.map_err(db)?;
        // An attachment sent with its event was received with it, so it
        // goes with it; one sent later goes when it is as old.
        let paths: Vec<String> = sqlx::query_scalar(
            "DELETE FROM attachments WHERE project_id = $1 AND created_at < $2 RETURNING path",
        )
        .bind(project)
        .bind(before)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        report.attachment_paths.extend(paths);
        for sql in [
            "DELETE FROM event_ids WHERE project_id = $1 AND received_at < $2",
            "DELETE FROM issue_hourly h USING issues i WHERE i.id = h.issue_id \
             AND i.project_id = $1 AND h.hour <= $2 - interval '1 hour'",
            "DELETE FROM issue_daily d USING issues i WHERE i.id = d.issue_id \
             AND i.project_id = $1 AND d.day <= $2 - interval '1 day'",
            // Hours that ended before the cutoff.
            "DELETE FROM session_counts WHERE project_id = $1 AND hour <= $2 - interval '1 hour'",
            "DELETE FROM client_discards WHERE project_id = $1 AND hour <= $2 - interval '1 hour'",
            "DELETE FROM check_ins WHERE project_id = $1 AND received_at < $2",
            "DELETE FROM user_reports WHERE project_id = $1 AND received_at < $2",
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
    sqlx::query("DELETE FROM event_ids WHERE received_at < $1")
        .bind(oldest_kept)
        .execute(pool)
        .await
        .map_err(db)?;
    purge_expired(pool, now).await?;
    Ok(report)
}

/// Sessions, password resets and invitations past their expiry, and
/// login-failure windows that have ended.
async fn purge_expired(pool: &PgPool, now: DateTime<Utc>) -> StoreResult<()> {
    for (sql, at) in [
        ("DELETE FROM sessions WHERE expires_at <= $1", now),
        ("DELETE FROM password_resets WHERE expires_at <= $1", now),
        ("DELETE FROM invitations WHERE expires_at <= $1", now),
        (
            "DELETE FROM login_failures WHERE window_start < $1",
            login_window(now),
        ),
    ] {
        sqlx::query(sql).bind(at).execute(pool).await.map_err(db)?;
    }
    Ok(())
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
