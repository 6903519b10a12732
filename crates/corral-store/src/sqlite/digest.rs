//! The digest on SQLite: one `BEGIN IMMEDIATE` transaction per batch, so
//! batches are serialized by SQLite's single writer and a new hash can only
//! ever create one issue.
//!
//! Each table is written with multi-row statements (`VALUES (…), (…)`), a
//! few per batch rather than one per event, tag or hour: every statement
//! costs a round trip to sqlx's SQLite thread, which is most of the time a
//! statement takes. They are not kept prepared (`persistent(false)`): their
//! text changes with the number of rows, and would push the fixed
//! statements out of the connection's cache.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use corral_core::model::{Issue, IssueId, ProjectId};
use corral_core::{DigestInput, DigestOutcome, StoreResult};
use sqlx::query_builder::Separated;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};
use uuid::Uuid;

use corral_core::digest::{self as plan, BatchEvent, Slot};
use corral_core::lifecycle::{ReleaseOrder, seed_issue};

use super::dialect::{from_ms, load_issues, rows_per_statement, write_issues};
use crate::dialect::Dialect;
use crate::error::db;

fn ms(t: DateTime<Utc>) -> i64 {
    Sqlite::time(t)
}

pub(super) async fn digest(
    pool: &SqlitePool,
    batch: &[DigestInput],
) -> StoreResult<Vec<DigestOutcome>> {
    let events = plan::unique_events(batch)?;
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    let outcomes = digest_in(&mut tx, batch, &events).await?;
    crate::alerts::record_decisions::<Sqlite>(&mut tx, batch, &outcomes)
        .await
        .map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok(outcomes)
}

/// Runs `head VALUES (…), (…) tail` over `rows`, in as many statements as
/// SQLite's limit on bound values needs; `push` binds one row's `columns`
/// values.
async fn insert_rows<T>(
    tx: &mut SqliteConnection,
    head: &str,
    columns: usize,
    rows: &[T],
    tail: &str,
    mut push: impl FnMut(Separated<'_, Sqlite, &'static str>, &T),
) -> StoreResult<()> {
    for chunk in rows.chunks(rows_per_statement(columns)) {
        let mut qb = QueryBuilder::<Sqlite>::new(head);
        qb.push_values(chunk, &mut push);
        qb.push(tail);
        qb.build()
            .persistent(false)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
    }
    Ok(())
}

async fn digest_in(
    tx: &mut SqliteConnection,
    batch: &[DigestInput],
    events: &[BatchEvent<'_>],
) -> StoreResult<Vec<DigestOutcome>> {
    let mut outcomes = plan::blank_outcomes(batch);
    let mut inserted: HashSet<(ProjectId, Uuid)> = HashSet::with_capacity(events.len());
    for chunk in events.chunks(rows_per_statement(3)) {
        let mut qb = QueryBuilder::<Sqlite>::new(
            "INSERT INTO event_ids (project_id, event_id, received_at) ",
        );
        qb.push_values(chunk, |mut b, event| {
            b.push_bind(event.input.project_id)
                .push_bind(event.input.event_id)
                .push_bind(ms(event.received_at));
        });
        qb.push(" ON CONFLICT DO NOTHING RETURNING project_id, event_id");
        let rows: Vec<(i64, Uuid)> = qb
            .build_query_as()
            .persistent(false)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
        inserted.extend(rows);
    }
    let fresh: Vec<&BatchEvent<'_>> = events
        .iter()
        .filter(|e| inserted.contains(&e.key()))
        .collect();
    if fresh.is_empty() {
        return Ok(outcomes);
    }

    let mut found: HashMap<(ProjectId, String), IssueId> = HashMap::new();
    let keys = plan::lookup_keys(&fresh);
    for chunk in keys.chunks(rows_per_statement(2)) {
        let mut qb = QueryBuilder::<Sqlite>::new("WITH wanted (project_id, hash) AS (");
        qb.push_values(chunk, |mut b, (project, hash)| {
            b.push_bind(*project).push_bind(hash.clone());
        });
        qb.push(
            ") SELECT h.project_id, h.hash, h.issue_id FROM wanted w \
             JOIN issue_hashes h ON h.project_id = w.project_id AND h.hash = w.hash",
        );
        let rows: Vec<(i64, String, IssueId)> = qb
            .build_query_as()
            .persistent(false)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
        found.extend(rows.into_iter().map(|(p, h, i)| ((p, h), i)));
    }
    let assignment = plan::assign(&fresh, &found);

    let mut next: HashMap<ProjectId, i64> = HashMap::new();
    for (project, n) in assignment.new_issues_per_project() {
        let first: i64 = sqlx::query_scalar(
            "UPDATE projects SET next_short_id = next_short_id + ?2 WHERE id = ?1 \
             RETURNING next_short_id - ?2",
        )
        .bind(project)
        .bind(n)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        next.insert(project, first);
    }
    let mut new_ids: Vec<IssueId> = Vec::with_capacity(assignment.new_issues.len());
    for new in &assignment.new_issues {
        let seed = seed_issue(new.seed);
        let counter = next.get_mut(&new.project_id).expect("counter per project");
        let short_id = *counter;
        *counter += 1;
        let id: IssueId = sqlx::query_scalar(
            "INSERT INTO issues (project_id, short_id, status, substatus, level, event_type, \
                                 title, culprit, metadata, first_seen, last_seen, times_seen) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, 0) RETURNING id",
        )
        .bind(seed.project_id)
        .bind(short_id)
        .bind(seed.status.as_str())
        .bind(seed.substatus.as_str())
        .bind(seed.level.as_str())
        .bind(seed.event_type.as_str())
        .bind(&seed.title)
        .bind(&seed.culprit)
        .bind(seed.metadata.to_string())
        .bind(ms(seed.first_seen))
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        new_ids.push(id);
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

    insert_rows(
        tx,
        "INSERT INTO issue_hashes (project_id, hash, config, issue_id) ",
        4,
        &assignment.links,
        " ON CONFLICT DO NOTHING",
        |mut b, link| {
            b.push_bind(link.project_id)
                .push_bind(link.hash.clone())
                .push_bind(link.config.clone())
                .push_bind(resolve(link.slot));
        },
    )
    .await?;

    let releases = plan::releases_seen(&fresh);
    let seen: Vec<(&(ProjectId, String), &DateTime<Utc>)> = releases.iter().collect();
    insert_rows(
        tx,
        "INSERT INTO releases (project_id, version, first_seen) ",
        3,
        &seen,
        " ON CONFLICT DO NOTHING",
        |mut b, ((project, version), first_seen)| {
            b.push_bind(*project)
                .push_bind(version.clone())
                .push_bind(ms(**first_seen));
        },
    )
    .await?;

    let mut ids: Vec<IssueId> = issue_of.iter().flatten().copied().collect();
    ids.sort_unstable();
    ids.dedup();
    let mut issues = load_issues(tx, &ids).await?;

    let mut wanted: BTreeSet<(ProjectId, String)> = releases.into_keys().collect();
    for issue in issues.values() {
        if let Some(r) = &issue.resolved_in_release {
            wanted.insert((issue.project_id, r.clone()));
        }
    }
    let mut order = ReleaseOrder::new();
    let wanted: Vec<(ProjectId, String)> = wanted.into_iter().collect();
    for chunk in wanted.chunks(rows_per_statement(2)) {
        let mut qb = QueryBuilder::<Sqlite>::new("WITH wanted (project_id, version) AS (");
        qb.push_values(chunk, |mut b, (project, version)| {
            b.push_bind(*project).push_bind(version.clone());
        });
        qb.push(
            ") SELECT r.project_id, r.version, r.first_seen, r.id FROM wanted w \
             JOIN releases r ON r.project_id = w.project_id AND r.version = w.version",
        );
        let rows: Vec<(i64, String, i64, i64)> = qb
            .build_query_as()
            .persistent(false)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
        for (project, version, first_seen, id) in rows {
            order.insert((project, version), (from_ms("first_seen", first_seen)?, id));
        }
    }

    let fx = plan::apply_events(
        &fresh,
        &issue_of,
        &created_by,
        &mut issues,
        &order,
        &mut outcomes,
    );

    let rows: Vec<(&&BatchEvent<'_>, &Option<IssueId>)> = fresh.iter().zip(&issue_of).collect();
    insert_rows(
        tx,
        "INSERT INTO events (project_id, event_id, issue_id, event_type, level, title, culprit, \
                                 platform, release, environment, timestamp, received_at, tags, data) ",
        14,
        &rows,
        "",
        |mut b, (event, issue_id)| {
            let input = event.input;
            b.push_bind(input.project_id)
                .push_bind(input.event_id)
                .push_bind(**issue_id)
                .push_bind(input.event_type.as_str())
                .push_bind(input.level.as_str())
                .push_bind(input.title.clone())
                .push_bind(input.culprit.clone())
                .push_bind(input.platform.clone())
                .push_bind(input.release.clone())
                .push_bind(input.environment.clone())
                .push_bind(ms(event.timestamp))
                .push_bind(ms(event.received_at))
                .push_bind(event.tags_json.clone())
                .push_bind(input.data.clone());
        },
    )
    .await?;
    let touched: Vec<&Issue> = fx.counts.keys().map(|id| &issues[id]).collect();
    write_issues(tx, &touched).await?;
    let tags: Vec<_> = fx.tags.iter().collect();
    insert_rows(
        tx,
        "INSERT INTO issue_tag_values (issue_id, key, value, times_seen, first_seen, last_seen) ",
        6,
        &tags,
        " ON CONFLICT (issue_id, key, value) DO UPDATE SET \
               times_seen = times_seen + excluded.times_seen, \
               first_seen = min(first_seen, excluded.first_seen), \
               last_seen = max(last_seen, excluded.last_seen)",
        |mut b, ((issue, key, value), (n, first, last))| {
            b.push_bind(*issue)
                .push_bind(key.clone())
                .push_bind(value.clone())
                .push_bind(*n)
                .push_bind(ms(*first))
                .push_bind(ms(*last));
        },
    )
    .await?;
    let hours: Vec<_> = fx.hours.iter().collect();
    insert_rows(
        tx,
        "INSERT INTO issue_hourly (issue_id, hour, count) ",
        3,
        &hours,
        " ON CONFLICT (issue_id, hour) DO UPDATE SET count = count + excluded.count",
        |mut b, ((issue, hour), n)| {
            b.push_bind(*issue).push_bind(ms(*hour)).push_bind(**n);
        },
    )
    .await?;
    let minutes: Vec<_> = fx.minutes.iter().collect();
    insert_rows(
        tx,
        "INSERT INTO issue_minutely (project_id, minute, issue_id, count) ",
        4,
        &minutes,
        " ON CONFLICT (project_id, minute, issue_id) DO UPDATE SET count = count + excluded.count",
        |mut b, ((project, issue, minute), n)| {
            b.push_bind(*project)
                .push_bind(ms(*minute))
                .push_bind(*issue)
                .push_bind(**n);
        },
    )
    .await?;
    Ok(outcomes)
}
