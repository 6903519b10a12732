//! The Store in one SQLite file: one writer, readers beside it, WAL
//! checkpoints on a connection of their own.

mod dialect;
mod digest;
mod upkeep;

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use corral_core::model::to_ms;
use corral_core::{DigestInput, DigestOutcome, PurgeReport, StoreError, StoreResult};
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};

use crate::dialect::Sql;
use crate::error::{db, migrate_err};
use crate::store::{Backend, SqlStore, migrator};

/// Reading connections in [`SqliteStore::open`]'s pool; they run in
/// parallel under WAL.
const DEFAULT_CONNECTIONS: u32 = 8;

/// The Store in one SQLite file.
///
/// SQLite has one writer at a time. Writes therefore go through a pool of ONE
/// connection, where they queue in order, instead of several connections
/// contending for the file lock (a contended SQLite lock is waited for by
/// sleeping, whole milliseconds at a time, and every write throws away the
/// other connections' page caches). Reads use their own pool.
pub type SqliteStore = SqlStore<SqliteBackend>;

pub struct SqliteBackend {
    /// The writer (one connection).
    pool: SqlitePool,
    /// Connections that only read (`query_only`).
    readers: SqlitePool,
    /// One connection for [`SqliteStore::checkpoint_wal`], opened on first use.
    checkpointer: SqlitePool,
    path: std::path::PathBuf,
}

/// WAL pages after which the writer checkpoints by itself, in its own
/// commit: a backstop for when nobody runs [`SqliteStore::checkpoint_wal`]
/// (the CLI) or it falls behind. SQLite's default of 1,000 pages (4 MiB)
/// put a checkpoint, with its fsyncs, into a commit several times a second
/// under load, while every push and digest waited for that connection.
const WRITER_AUTOCHECKPOINT_PAGES: &str = "16384";

/// What one [`SqliteStore::checkpoint_wal`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WalCheckpoint {
    /// Another checkpoint was running, so this one did nothing.
    pub busy: bool,
    /// Frames in the WAL.
    pub wal_frames: i64,
    /// Frames now copied into the database file.
    pub checkpointed_frames: i64,
}

impl SqliteStore {
    /// Opens (creating if missing) the file with WAL, synchronous=NORMAL,
    /// foreign_keys=ON and a busy timeout. No migrations run.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(path, DEFAULT_CONNECTIONS).await
    }

    /// [`SqliteStore::open`] with a pool of at most `max_connections`.
    pub async fn open_with(path: &Path, max_connections: u32) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30))
            .pragma("temp_store", "memory");
        // Memory: the writer keeps a 16 MiB page cache (the digest's working
        // set), readers SQLite's default 2 MiB each. No memory map: its
        // pages count in the process's RSS once per connection, which put
        // `corral serve` past 300 MiB under load.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                options
                    .clone()
                    .pragma("cache_size", "-16384")
                    .pragma("wal_autocheckpoint", WRITER_AUTOCHECKPOINT_PAGES),
            )
            .await
            .map_err(db)?;
        // a checkpoint reads the WAL and writes the database file: a small
        // page cache is enough
        let checkpointer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .connect_lazy_with(options.clone().pragma("cache_size", "-512"));
        let readers = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect_with(options.pragma("query_only", "true"))
            .await
            .map_err(db)?;
        Ok(SqlStore(SqliteBackend {
            pool,
            readers,
            checkpointer,
            path: path.to_path_buf(),
        }))
    }

    /// Copies what the WAL holds into the database file (a `PASSIVE`
    /// checkpoint), on a connection of its own: the writer and the readers
    /// carry on meanwhile, and the writer's commits no longer do this work
    /// (see [`WRITER_AUTOCHECKPOINT_PAGES`]). `corral serve` calls it in a
    /// loop ([`SqliteStore::run_wal_checkpoints`]).
    pub async fn checkpoint_wal(&self) -> Result<WalCheckpoint, StoreError> {
        let (busy, wal_frames, checkpointed_frames): (i64, i64, i64) =
            sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_one(&self.0.checkpointer)
                .await
                .map_err(db)?;
        Ok(WalCheckpoint {
            busy: busy != 0,
            wal_frames,
            checkpointed_frames,
        })
    }

    /// Checkpoints the WAL every `every` until `stop` resolves, then closes
    /// the checkpointing connection. A failed checkpoint is logged and tried
    /// again next time (the writer's own checkpoint is the backstop).
    pub async fn run_wal_checkpoints(
        &self,
        every: Duration,
        stop: impl std::future::Future<Output = ()>,
    ) {
        let mut stop = std::pin::pin!(stop);
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = tick.tick() => {}
            }
            let started = std::time::Instant::now();
            match self.checkpoint_wal().await {
                Ok(c) => {
                    metrics::histogram!("corral_sqlite_checkpoint_seconds")
                        .record(started.elapsed().as_secs_f64());
                    metrics::gauge!("corral_sqlite_wal_frames").set(c.wal_frames as f64);
                }
                Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
            }
        }
        self.0.checkpointer.close().await;
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.0.path
    }

    /// The writing pool (one connection).
    pub fn pool(&self) -> &SqlitePool {
        &self.0.pool
    }

    /// The read-only pool: what to read with while the writer may be busy.
    pub fn read_pool(&self) -> &SqlitePool {
        &self.0.readers
    }
}

#[async_trait]
impl Backend for SqliteBackend {
    type Db = Sqlite;
    const NAME: &'static str = "sqlite";

    fn writer(&self) -> &SqlitePool {
        &self.pool
    }

    fn reader(&self) -> &SqlitePool {
        &self.readers
    }

    fn migrations() -> Migrator {
        sqlx::migrate!("migrations/sqlite")
    }

    async fn migrate(&self) -> StoreResult<()> {
        // The whole run holds SQLite's write lock, so a concurrent caller
        // waits (busy timeout) and then finds nothing left to do. The
        // migrator's own transactions become savepoints inside this one.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        migrator::<Self>()
            .run_direct(None, &mut *tx, false)
            .await
            .map_err(migrate_err)?;
        tx.commit().await.map_err(db)
    }

    async fn digest(&self, batch: &[DigestInput]) -> StoreResult<Vec<DigestOutcome>> {
        digest::digest(&self.pool, batch).await
    }

    async fn purge(&self, now: DateTime<Utc>, default_days: i32) -> StoreResult<PurgeReport> {
        let now = to_ms(now);
        let sql = Sql(&self.pool);
        let retention = sql.retention(default_days).await?;
        let mut report = PurgeReport::default();
        sql.purge_retention(now, &retention, &mut report).await?;
        Ok(report)
    }

    async fn ensure_partitions(&self, _now: DateTime<Utc>, _days_ahead: u32) -> StoreResult<u32> {
        // One plain table: nothing to prepare.
        Ok(0)
    }

    async fn rollup_hourly(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        upkeep::rollup_hourly(&self.pool, before).await
    }
}
