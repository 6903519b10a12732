//! Beat: runs the migrations under a lock, then — only in the process that
//! holds the leader lock — the schedules: purge past retention, partition
//! upkeep, and rollups. The embedded server runs the same [`Upkeep`] tasks
//! in-process through [`run_schedules`].

use std::future::Future;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use apalis::prelude::*;
use apalis_cron::{CronScheduler, Tick};
use chrono::Utc;
use corral_core::config::Config;
use corral_core::{PurgeReport, SharedStore, StoreError, StoreReadiness};
use corral_runtime::{CancellationToken, Probes, Readiness, connect_with_retry, telemetry};
use corral_store::PgStore;

/// Days of event partitions kept ready ahead of today.
pub const PARTITION_DAYS_AHEAD: u32 = 3;
/// Hourly counts older than this are folded into daily counts.
pub const ROLLUP_AFTER: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// The periodic tasks; each is safe to run at any time and any number of
/// times (it only does what is due).
pub struct Upkeep {
    pub store: SharedStore,
    pub retention_days: i32,
    /// Where attachments live; the files of purged attachments are deleted
    /// there. `None` leaves files alone (a process without the volume).
    pub attachments_dir: Option<std::path::PathBuf>,
}

impl Upkeep {
    pub async fn purge(&self) -> Result<PurgeReport, StoreError> {
        let report = self.store.purge(Utc::now(), self.retention_days).await?;
        metrics::counter!("corral_purged_events_total").increment(report.events_deleted);
        if let Some(dir) = &self.attachments_dir {
            let mut removed = 0u64;
            for relative in &report.attachment_paths {
                // stored paths are relative and made by ingest; refuse anything
                // that would leave the directory
                let path = std::path::Path::new(relative);
                if path.is_absolute()
                    || path
                        .components()
                        .any(|c| matches!(c, std::path::Component::ParentDir))
                {
                    tracing::warn!(path = %relative, "not deleting an attachment outside the attachments directory");
                    continue;
                }
                match tokio::fs::remove_file(dir.join(path)).await {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        tracing::warn!(path = %relative, error = %e, "deleting an attachment failed")
                    }
                }
            }
            metrics::counter!("corral_purged_attachments_total").increment(removed);
        }
        tracing::info!(
            events = report.events_deleted,
            issues = report.issues_deleted,
            partitions = report.partitions_dropped,
            "purge done"
        );
        Ok(report)
    }

    pub async fn partitions(&self) -> Result<u32, StoreError> {
        let created = self
            .store
            .ensure_partitions(Utc::now(), PARTITION_DAYS_AHEAD)
            .await?;
        if created > 0 {
            tracing::info!(created, "event partitions created");
        }
        Ok(created)
    }

    pub async fn rollup(&self) -> Result<u64, StoreError> {
        let folded = self.store.rollup_hourly(Utc::now() - ROLLUP_AFTER).await?;
        if folded > 0 {
            tracing::info!(rows = folded, "hourly counts rolled up");
        }
        Ok(folded)
    }
}

/// The schedules (cron with seconds; UTC).
pub const PURGE_SCHEDULE: &str = "0 17 3 * * *";
pub const PARTITION_SCHEDULE: &str = "0 5 * * * *";
pub const ROLLUP_SCHEDULE: &str = "0 10 * * * *";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Task {
    Purge,
    Partitions,
    Rollup,
}

async fn on_tick(
    tick: Tick,
    task: Data<Task>,
    upkeep: Data<Arc<Upkeep>>,
) -> Result<(), BoxDynError> {
    tracing::debug!(task = ?*task, at = tick.get_timestamp(), "schedule fired");
    let result = match *task {
        Task::Purge => upkeep.purge().await.map(|_| ()),
        Task::Partitions => upkeep.partitions().await.map(|_| ()),
        Task::Rollup => upkeep.rollup().await.map(|_| ()),
    };
    if let Err(e) = &result {
        tracing::error!(task = ?*task, error = %e, "scheduled task failed");
        metrics::counter!("corral_beat_failures_total").increment(1);
    }
    result.map_err(|e| Box::new(e) as BoxDynError)
}

/// Runs the schedules until `shutdown` resolves. Partitions are ensured once
/// at start, so a fresh install never waits for the first hourly tick.
pub async fn run_schedules<S>(upkeep: Arc<Upkeep>, shutdown: S) -> anyhow::Result<()>
where
    S: Future<Output = ()> + Send + 'static,
{
    if let Err(e) = upkeep.partitions().await {
        tracing::error!(error = %e, "initial partition upkeep failed");
    }
    let mut monitor = Monitor::new();
    for (name, spec, task) in [
        ("beat-purge", PURGE_SCHEDULE, Task::Purge),
        ("beat-partitions", PARTITION_SCHEDULE, Task::Partitions),
        ("beat-rollup", ROLLUP_SCHEDULE, Task::Rollup),
    ] {
        let schedule =
            cron::Schedule::from_str(spec).with_context(|| format!("schedule {spec}"))?;
        let upkeep = upkeep.clone();
        monitor = monitor.register(move |_| {
            WorkerBuilder::new(name)
                .backend(CronScheduler::new(schedule.clone()))
                .data(task)
                .data(upkeep.clone())
                .catch_panic()
                .build(on_tick)
        });
    }
    monitor
        .should_restart(|_, _| true)
        .shutdown_timeout(Duration::from_secs(30))
        .run_with_signal(async move {
            shutdown.await;
            Ok(())
        })
        .await
        .context("beat schedules stopped")
}

/// The leader lock's key (PostgreSQL advisory locks take a bigint). Public
/// so operators and tests can find the holder: `pg_locks` shows it as
/// `classid` (high 32 bits) and `objid` (low 32 bits) with `objsubid = 1`.
pub const LEADER_LOCK: i64 = 0x636f_7272_616c_6265; // "corralbe"

/// Holds the leader lock on its own connection while the process lives.
struct Leader {
    conn: sqlx::pool::PoolConnection<sqlx::Postgres>,
}

impl Leader {
    async fn try_acquire(pool: &sqlx::PgPool) -> Result<Option<Leader>, sqlx::Error> {
        let mut conn = pool.acquire().await?;
        let (got,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_lock($1)")
            .bind(LEADER_LOCK)
            .fetch_one(&mut *conn)
            .await?;
        Ok(got.then_some(Leader { conn }))
    }

    /// Whether the lock's connection (and so the lock) is still there.
    async fn alive(&mut self) -> bool {
        let check = sqlx::query("SELECT 1").execute(&mut *self.conn);
        matches!(
            tokio::time::timeout(Duration::from_secs(5), check).await,
            Ok(Ok(_))
        )
    }

    async fn release(mut self) {
        let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(LEADER_LOCK)
            .execute(&mut *self.conn)
            .await;
    }
}

/// Waits for leadership, runs the schedules while it lasts, and goes back
/// to waiting if the lock's connection is lost; returns on shutdown.
async fn lead(pool: sqlx::PgPool, upkeep: Arc<Upkeep>, shutdown: CancellationToken) {
    loop {
        let leader = loop {
            if shutdown.is_cancelled() {
                return;
            }
            match Leader::try_acquire(&pool).await {
                Ok(Some(l)) => break l,
                Ok(None) => tracing::debug!("another beat holds the leader lock"),
                Err(e) => tracing::warn!(error = %e, "leader lock attempt failed"),
            }
            shutdown
                .run_until_cancelled(tokio::time::sleep(Duration::from_secs(10)))
                .await;
        };
        tracing::info!("this beat is the leader: running the schedules");
        metrics::gauge!("corral_beat_leader").set(1.0);
        // the schedules stop on shutdown, or when leadership is lost
        let leading = shutdown.child_token();
        let schedules = tokio::spawn(run_schedules(
            upkeep.clone(),
            leading.clone().cancelled_owned(),
        ));
        let mut leader = leader;
        let lost = loop {
            let checked = shutdown
                .run_until_cancelled(tokio::time::sleep(Duration::from_secs(10)))
                .await;
            if checked.is_none() {
                break false;
            }
            if !leader.alive().await {
                break true;
            }
        };
        leading.cancel();
        let _ = schedules.await;
        metrics::gauge!("corral_beat_leader").set(0.0);
        if lost {
            tracing::warn!("leader lock lost; waiting to lead again");
        } else {
            leader.release().await;
            return;
        }
    }
}

/// `corral-beat` of the cluster shape.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let url = config.require_database_url()?.to_string();

    // health first, so the orchestrator sees a live (not yet ready) process
    // while the database is out of reach and while migrations run
    let bind = config
        .bind
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 8002)));
    let shutdown = corral_runtime::shutdown_token();
    let Probes {
        routes: probes,
        status,
        server: health,
    } = Probes::start(bind, "corral-beat", &shutdown).await?;
    let Some(pg) = connect_with_retry("the database", &status, &shutdown, || {
        PgStore::connect(&url, 4)
    })
    .await
    else {
        let _ = health.await;
        return Ok(());
    };
    let pool = pg.pool().clone();
    let store: SharedStore = Arc::new(pg);
    let readiness = Readiness::new().require(
        "database",
        StoreReadiness::new(store.clone()),
        |db| async move { db.check().await },
    );
    probes.set(corral_runtime::routes(
        readiness,
        Some(telemetry::metrics_handle()),
    ));

    tracing::info!("running migrations");
    let migrated = connect_with_retry(
        "the database (running migrations)",
        &status,
        &shutdown,
        || store.migrate(),
    )
    .await;
    if migrated.is_none() {
        let _ = health.await;
        return Ok(());
    }
    tracing::info!("schema is current");

    let upkeep = Arc::new(Upkeep {
        store,
        retention_days: config.retention_days,
        attachments_dir: Some(config.attachments_dir()),
    });
    let leading = tokio::spawn(lead(pool, upkeep, shutdown.clone()));
    shutdown.cancelled().await;
    let _ = leading.await;
    let _ = health.await;
    tracing::info!("corral-beat stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_parse_and_fire_when_expected() {
        use chrono::{TimeZone, Timelike};
        let after = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
        let purge = cron::Schedule::from_str(PURGE_SCHEDULE).unwrap();
        let next = purge.after(&after).next().unwrap();
        assert_eq!((next.hour(), next.minute()), (3, 17));
        let partitions = cron::Schedule::from_str(PARTITION_SCHEDULE).unwrap();
        let next = partitions.after(&after).next().unwrap();
        assert_eq!((next.hour(), next.minute()), (12, 5));
        let rollup = cron::Schedule::from_str(ROLLUP_SCHEDULE).unwrap();
        assert_eq!(rollup.after(&after).next().unwrap().minute(), 10);
    }
}
