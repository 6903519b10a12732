//! The digest on SQLite: one `BEGIN IMMEDIATE` transaction per batch, so
//! batches are serialized by SQLite's single writer and a new hash can only
//! ever create one issue.

use std::collections::{BTreeSet, HashMap};

use corral_core::model::{Issue, IssueId, ProjectId};
use corral_core::{DigestInput, DigestOutcome, StoreResult};
use sqlx::{SqliteConnection, SqlitePool};

use super::issues::{load_issues, write_issues};
use super::rows::{from_ms, ms};
use crate::error::db;
use crate::plan::{self, BatchEvent, ReleaseOrder, Slot};

pub(super) async fn digest(
    pool: &SqlitePool,
    batch: &[DigestInput],
) -> StoreResult<Vec<DigestOutcome>> {
    let events = plan::unique_events(batch)?;
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    let outcomes = digest_in(&mut tx, batch, &events).await?;
    tx.commit().await.map_err(db)?;
    Ok(outcomes)
}

async fn digest_in(
    tx: &mut SqliteConnection,
    batch: &[DigestInput],
    events: &[BatchEvent<'_>],
) -> StoreResult<Vec<DigestOutcome>> {
    let mut outcomes = plan::blank_outcomes(batch);
    let mut fresh: Vec<&BatchEvent<'_>> = Vec::with_capacity(events.len());
    for event in events {
        let done = sqlx::query(
            "INSERT INTO event_ids (project_id, event_id, received_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(event.input.project_id)
        .bind(event.input.event_id)
        .bind(ms(event.received_at))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if done.rows_affected() == 1 {
            fresh.push(event);
        }
    }
    if fresh.is_empty() {
        return Ok(outcomes);
    }

    let mut found: HashMap<(ProjectId, String), IssueId> = HashMap::new();
    for (project, hash) in plan::lookup_keys(&fresh) {
        let issue: Option<IssueId> = sqlx::query_scalar(
            "SELECT issue_id FROM issue_hashes WHERE project_id = ?1 AND hash = ?2",
        )
        .bind(project)
        .bind(&hash)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        if let Some(issue) = issue {
            found.insert((project, hash), issue);
        }
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
        let seed = plan::seed_issue(new.seed);
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

    for link in &assignment.links {
        sqlx::query(
            "INSERT INTO issue_hashes (project_id, hash, config, issue_id) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(link.project_id)
        .bind(&link.hash)
        .bind(&link.config)
        .bind(resolve(link.slot))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    }

    let releases = plan::releases_seen(&fresh);
    for ((project, version), first_seen) in &releases {
        sqlx::query(
            "INSERT INTO releases (project_id, version, first_seen) VALUES (?1, ?2, ?3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(project)
        .bind(version)
        .bind(ms(*first_seen))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    }

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
    for (project, version) in wanted {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT first_seen, id FROM releases WHERE project_id = ?1 AND version = ?2",
        )
        .bind(project)
        .bind(&version)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        if let Some((first_seen, id)) = row {
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

    for (event, issue_id) in fresh.iter().zip(&issue_of) {
        let input = event.input;
        sqlx::query(
            "INSERT INTO events (project_id, event_id, issue_id, event_type, level, title, culprit, \
                                 platform, release, environment, timestamp, received_at, tags, data) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        )
        .bind(input.project_id)
        .bind(input.event_id)
        .bind(issue_id)
        .bind(input.event_type.as_str())
        .bind(input.level.as_str())
        .bind(&input.title)
        .bind(&input.culprit)
        .bind(&input.platform)
        .bind(&input.release)
        .bind(&input.environment)
        .bind(ms(event.timestamp))
        .bind(ms(event.received_at))
        .bind(&event.tags_json)
        .bind(&input.data)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    }
    let touched: Vec<&Issue> = fx.counts.keys().map(|id| &issues[id]).collect();
    write_issues(tx, &touched).await?;
    for ((issue, key, value), (n, first, last)) in &fx.tags {
        sqlx::query(
            "INSERT INTO issue_tag_values (issue_id, key, value, times_seen, first_seen, last_seen) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (issue_id, key, value) DO UPDATE SET \
               times_seen = times_seen + excluded.times_seen, \
               first_seen = min(first_seen, excluded.first_seen), \
               last_seen = max(last_seen, excluded.last_seen)",
        )
        .bind(issue)
        .bind(key)
        .bind(value)
        .bind(n)
        .bind(ms(*first))
        .bind(ms(*last))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    }
    for ((issue, hour), n) in &fx.hours {
        sqlx::query(
            "INSERT INTO issue_hourly (issue_id, hour, count) VALUES (?1, ?2, ?3) \
             ON CONFLICT (issue_id, hour) DO UPDATE SET count = count + excluded.count",
        )
        .bind(issue)
        .bind(ms(*hour))
        .bind(n)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    }
    Ok(outcomes)
}
