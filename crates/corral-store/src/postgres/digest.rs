//! The digest on PostgreSQL: one transaction per batch, one statement per
//! table (arrays through `unnest`), advisory locks so that concurrent batches
//! creating the same new hash end with one issue.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use corral_core::model::{Issue, IssueId, ProjectId};
use corral_core::{DigestInput, DigestOutcome, StoreResult};
use sqlx::{PgConnection, Postgres, Row};
use uuid::Uuid;

use corral_core::digest::{self as plan, BatchEvent, Slot};
use corral_core::lifecycle::{ReleaseOrder, seed_issue};

use super::PgBackend;
use super::dialect::{lock_issues, write_issues};
use crate::error::db;
use crate::keys::hash_lock_key;

/// Deadlocks (possible against purge and rollup) and a partition dropped
/// under our feet are retried this many times.
const ATTEMPTS: usize = 3;

pub(super) async fn digest(
    store: &PgBackend,
    batch: &[DigestInput],
) -> StoreResult<Vec<DigestOutcome>> {
    let events = plan::unique_events(batch)?;
    let days: BTreeSet<_> = events.iter().map(|e| e.received_at.date_naive()).collect();
    let mut attempt = 1;
    loop {
        for day in &days {
            store
                .partitions
                .ensure(&store.pool, *day)
                .await
                .map_err(db)?;
        }
        let mut tx = store.pool.begin().await.map_err(db)?;
        let result = match digest_in(&mut tx, batch, &events).await {
            Ok(outcomes) => {
                match crate::alerts::record_decisions::<Postgres>(&mut tx, batch, &outcomes).await {
                    Ok(()) => tx.commit().await.map(|()| outcomes),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(outcomes) => return Ok(outcomes),
            Err(e) if attempt < ATTEMPTS && retryable(&e) => {
                if is_missing_partition(&e) {
                    store.partitions.forget_all();
                }
                tracing::debug!(error = %e, attempt, "digest batch retried");
                attempt += 1;
            }
            Err(e) => return Err(db(e)),
        }
    }
}

fn retryable(e: &sqlx::Error) -> bool {
    let Some(d) = e.as_database_error() else {
        return false;
    };
    matches!(d.code().as_deref(), Some("40P01" | "40001")) || is_missing_partition(e)
}

fn is_missing_partition(e: &sqlx::Error) -> bool {
    e.as_database_error().is_some_and(|d| {
        d.code().as_deref() == Some("23514") && d.message().contains("no partition")
    })
}

async fn digest_in(
    tx: &mut PgConnection,
    batch: &[DigestInput],
    events: &[BatchEvent<'_>],
) -> Result<Vec<DigestOutcome>, sqlx::Error> {
    let mut outcomes = plan::blank_outcomes(batch);

    // Keys in sorted order, so two batches sharing event ids wait on each
    // other in the same order instead of deadlocking.
    let mut order: Vec<&BatchEvent<'_>> = events.iter().collect();
    order.sort_by_key(|e| e.key());
    let inserted: HashSet<(ProjectId, Uuid)> = sqlx::query_as::<_, (i64, Uuid)>(
        "INSERT INTO event_ids (project_id, event_id, received_at) \
         SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::timestamptz[]) \
         ON CONFLICT DO NOTHING RETURNING project_id, event_id",
    )
    .bind(order.iter().map(|e| e.input.project_id).collect::<Vec<_>>())
    .bind(order.iter().map(|e| e.input.event_id).collect::<Vec<_>>())
    .bind(order.iter().map(|e| e.received_at).collect::<Vec<_>>())
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .collect();
    let fresh: Vec<&BatchEvent<'_>> = events
        .iter()
        .filter(|e| inserted.contains(&e.key()))
        .collect();
    if fresh.is_empty() {
        return Ok(outcomes);
    }

    // Find issues by hash. Hashes that exist never move, so only the
    // missing ones are locked (sorted, all at once) and looked up again.
    let keys = plan::lookup_keys(&fresh);
    let mut found = find_hashes(tx, &keys).await?;
    let missing: Vec<(ProjectId, String)> = keys
        .into_iter()
        .filter(|k| !found.contains_key(k))
        .collect();
    if !missing.is_empty() {
        let mut locks: Vec<i64> = missing.iter().map(|(p, h)| hash_lock_key(*p, h)).collect();
        locks.sort_unstable();
        locks.dedup();
        sqlx::query("SELECT count(pg_advisory_xact_lock(k)) FROM unnest($1::bigint[]) AS k")
            .bind(locks)
            .execute(&mut *tx)
            .await?;
        found.extend(find_hashes(tx, &missing).await?);
    }
    let assignment = plan::assign(&fresh, &found);

    // New issues: short ids from each project's counter (sorted by project).
    let mut new_ids: Vec<IssueId> = Vec::with_capacity(assignment.new_issues.len());
    if !assignment.new_issues.is_empty() {
        let mut next: HashMap<ProjectId, i64> = HashMap::new();
        for (project, n) in assignment.new_issues_per_project() {
            let first: i64 = sqlx::query_scalar(
                "UPDATE projects SET next_short_id = next_short_id + $2 WHERE id = $1 \
                 RETURNING next_short_id - $2",
            )
            .bind(project)
            .bind(n)
            .fetch_one(&mut *tx)
            .await?;
            next.insert(project, first);
        }
        let seeds: Vec<Issue> = assignment
            .new_issues
            .iter()
            .map(|n| {
                let mut issue = seed_issue(n.seed);
                let counter = next.get_mut(&n.project_id).expect("counter per project");
                issue.short_id = *counter;
                *counter += 1;
                issue
            })
            .collect();
        let rows = sqlx::query(
            "INSERT INTO issues (project_id, short_id, status, substatus, level, event_type, title, \
                                 culprit, metadata, first_seen, last_seen, times_seen) \
             SELECT p, s, st, sub, l, t, ti, c, m::jsonb, fs, fs, 0 \
             FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], \
                         $6::text[], $7::text[], $8::text[], $9::text[], $10::timestamptz[]) \
                  AS u(p, s, st, sub, l, t, ti, c, m, fs) \
             RETURNING id, project_id, short_id",
        )
        .bind(seeds.iter().map(|i| i.project_id).collect::<Vec<_>>())
        .bind(seeds.iter().map(|i| i.short_id).collect::<Vec<_>>())
        .bind(seeds.iter().map(|i| i.status.as_str()).collect::<Vec<_>>())
        .bind(seeds.iter().map(|i| i.substatus.as_str()).collect::<Vec<_>>())
        .bind(seeds.iter().map(|i| i.level.as_str()).collect::<Vec<_>>())
        .bind(seeds.iter().map(|i| i.event_type.as_str()).collect::<Vec<_>>())
        .bind(seeds.iter().map(|i| i.title.as_str()).collect::<Vec<_>>())
        .bind(seeds.iter().map(|i| i.culprit.as_str()).collect::<Vec<_>>())
        .bind(seeds.iter().map(|i| i.metadata.to_string()).collect::<Vec<_>>())
        .bind(seeds.iter().map(|i| i.first_seen).collect::<Vec<_>>())
        .fetch_all(&mut *tx)
        .await?;
        let mut by_short: HashMap<(ProjectId, i64), IssueId> = HashMap::new();
        for row in rows {
            by_short.insert(
                (row.try_get("project_id")?, row.try_get("short_id")?),
                row.try_get("id")?,
            );
        }
        for seed in &seeds {
            new_ids.push(by_short[&(seed.project_id, seed.short_id)]);
        }
    }
    let resolve = |slot: Slot| match slot {
        Slot::Existing(id) => id,
        Slot::New(k) => new_ids[k],
    };
    let issue_of: Vec<Option<IssueId>> = assignment.slots.iter().map(|s| s.map(resolve)).collect();
    let created_by: HashMap<IssueId, usize> = assignment
        .new_issues
        .iter()
        .enumerate()
        .map(|(k, n)| (new_ids[k], n.seed.index))
        .collect();

    if !assignment.links.is_empty() {
        let mut links: Vec<_> = assignment.links.iter().collect();
        links.sort_by(|a, b| (a.project_id, &a.hash).cmp(&(b.project_id, &b.hash)));
        sqlx::query(
            "INSERT INTO issue_hashes (project_id, hash, config, issue_id) \
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[]) \
             ON CONFLICT DO NOTHING",
        )
        .bind(links.iter().map(|l| l.project_id).collect::<Vec<_>>())
        .bind(links.iter().map(|l| l.hash.as_str()).collect::<Vec<_>>())
        .bind(links.iter().map(|l| l.config.as_str()).collect::<Vec<_>>())
        .bind(links.iter().map(|l| resolve(l.slot)).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }

    let releases = plan::releases_seen(&fresh);
    if !releases.is_empty() {
        // DO NOTHING takes no row lock on existing releases, so batches of
        // the same release do not queue behind each other.
        sqlx::query(
            "INSERT INTO releases (project_id, version, first_seen) \
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::timestamptz[]) \
             ON CONFLICT DO NOTHING",
        )
        .bind(releases.keys().map(|(p, _)| *p).collect::<Vec<_>>())
        .bind(releases.keys().map(|(_, v)| v.as_str()).collect::<Vec<_>>())
        .bind(releases.values().copied().collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }

    let mut ids: Vec<IssueId> = issue_of.iter().flatten().copied().collect();
    ids.sort_unstable();
    ids.dedup();
    let mut issues = lock_issues(tx, &ids).await?;

    let mut wanted: BTreeSet<(ProjectId, String)> = releases.into_keys().collect();
    for issue in issues.values() {
        if let Some(r) = &issue.resolved_in_release {
            wanted.insert((issue.project_id, r.clone()));
        }
    }
    let order_of_releases = release_order(tx, &wanted).await?;

    let fx = plan::apply_events(
        &fresh,
        &issue_of,
        &created_by,
        &mut issues,
        &order_of_releases,
        &mut outcomes,
    );

    insert_events(tx, &fresh, &issue_of).await?;
    let touched: Vec<(&Issue, i64)> = fx.counts.iter().map(|(id, n)| (&issues[id], *n)).collect();
    write_issues(tx, &touched).await?;
    if !fx.tags.is_empty() {
        sqlx::query(
            "INSERT INTO issue_tag_values (issue_id, key, value, times_seen, first_seen, last_seen) \
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], \
                                  $5::timestamptz[], $6::timestamptz[]) \
             ON CONFLICT (issue_id, key, value) DO UPDATE SET \
               times_seen = issue_tag_values.times_seen + excluded.times_seen, \
               first_seen = LEAST(issue_tag_values.first_seen, excluded.first_seen), \
               last_seen = GREATEST(issue_tag_values.last_seen, excluded.last_seen)",
        )
        .bind(fx.tags.keys().map(|(i, _, _)| *i).collect::<Vec<_>>())
        .bind(fx.tags.keys().map(|(_, k, _)| k.as_str()).collect::<Vec<_>>())
        .bind(fx.tags.keys().map(|(_, _, v)| v.as_str()).collect::<Vec<_>>())
        .bind(fx.tags.values().map(|t| t.0).collect::<Vec<_>>())
        .bind(fx.tags.values().map(|t| t.1).collect::<Vec<_>>())
        .bind(fx.tags.values().map(|t| t.2).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    if !fx.hours.is_empty() {
        sqlx::query(
            "INSERT INTO issue_hourly (issue_id, hour, count) \
             SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::bigint[]) \
             ON CONFLICT (issue_id, hour) DO UPDATE SET count = issue_hourly.count + excluded.count",
        )
        .bind(fx.hours.keys().map(|(i, _)| *i).collect::<Vec<_>>())
        .bind(fx.hours.keys().map(|(_, h)| *h).collect::<Vec<_>>())
        .bind(fx.hours.values().copied().collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    if !fx.minutes.is_empty() {
        sqlx::query(
            "INSERT INTO issue_minutely (project_id, minute, issue_id, count) \
             SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::bigint[], $4::bigint[]) \
             ON CONFLICT (project_id, minute, issue_id) \
             DO UPDATE SET count = issue_minutely.count + excluded.count",
        )
        .bind(fx.minutes.keys().map(|(p, _, _)| *p).collect::<Vec<_>>())
        .bind(fx.minutes.keys().map(|(_, _, m)| *m).collect::<Vec<_>>())
        .bind(fx.minutes.keys().map(|(_, i, _)| *i).collect::<Vec<_>>())
        .bind(fx.minutes.values().copied().collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    Ok(outcomes)
}

async fn find_hashes(
    tx: &mut PgConnection,
    keys: &[(ProjectId, String)],
) -> Result<HashMap<(ProjectId, String), IssueId>, sqlx::Error> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = sqlx::query_as::<_, (i64, String, i64)>(
        "SELECT h.project_id, h.hash, h.issue_id \
         FROM unnest($1::bigint[], $2::text[]) AS k(project_id, hash) \
         JOIN issue_hashes h ON h.project_id = k.project_id AND h.hash = k.hash",
    )
    .bind(keys.iter().map(|(p, _)| *p).collect::<Vec<_>>())
    .bind(keys.iter().map(|(_, h)| h.as_str()).collect::<Vec<_>>())
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows.into_iter().map(|(p, h, i)| ((p, h), i)).collect())
}

async fn release_order(
    tx: &mut PgConnection,
    wanted: &BTreeSet<(ProjectId, String)>,
) -> Result<ReleaseOrder, sqlx::Error> {
    if wanted.is_empty() {
        return Ok(ReleaseOrder::new());
    }
    let rows = sqlx::query_as::<_, (i64, String, DateTime<Utc>, i64)>(
        "SELECT r.project_id, r.version, r.first_seen, r.id \
         FROM unnest($1::bigint[], $2::text[]) AS k(project_id, version) \
         JOIN releases r ON r.project_id = k.project_id AND r.version = k.version",
    )
    .bind(wanted.iter().map(|(p, _)| *p).collect::<Vec<_>>())
    .bind(wanted.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>())
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(p, v, t, id)| ((p, v), (t, id)))
        .collect())
}

async fn insert_events(
    tx: &mut PgConnection,
    fresh: &[&BatchEvent<'_>],
    issue_of: &[Option<IssueId>],
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO events (project_id, event_id, issue_id, event_type, level, title, culprit, \
                             platform, release, environment, \"timestamp\", received_at, tags, data) \
         SELECT p, e, i, t, l, ti, c, pl, r, env, ts, ra, tg::jsonb, d \
         FROM unnest($1::bigint[], $2::uuid[], $3::bigint[], $4::text[], $5::text[], $6::text[], \
                     $7::text[], $8::text[], $9::text[], $10::text[], $11::timestamptz[], \
                     $12::timestamptz[], $13::text[], $14::text[]) \
              AS u(p, e, i, t, l, ti, c, pl, r, env, ts, ra, tg, d)",
    )
    .bind(fresh.iter().map(|e| e.input.project_id).collect::<Vec<_>>())
    .bind(fresh.iter().map(|e| e.input.event_id).collect::<Vec<_>>())
    .bind(issue_of.to_vec())
    .bind(fresh.iter().map(|e| e.input.event_type.as_str()).collect::<Vec<_>>())
    .bind(fresh.iter().map(|e| e.input.level.as_str()).collect::<Vec<_>>())
    .bind(fresh.iter().map(|e| e.input.title.as_str()).collect::<Vec<_>>())
    .bind(fresh.iter().map(|e| e.input.culprit.as_str()).collect::<Vec<_>>())
    .bind(fresh.iter().map(|e| e.input.platform.as_str()).collect::<Vec<_>>())
    .bind(fresh.iter().map(|e| e.input.release.as_deref()).collect::<Vec<_>>())
    .bind(fresh.iter().map(|e| e.input.environment.as_deref()).collect::<Vec<_>>())
    .bind(fresh.iter().map(|e| e.timestamp).collect::<Vec<_>>())
    .bind(fresh.iter().map(|e| e.received_at).collect::<Vec<_>>())
    .bind(fresh.iter().map(|e| e.tags_json.as_str()).collect::<Vec<_>>())
    .bind(fresh.iter().map(|e| e.input.data.as_str()).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}
