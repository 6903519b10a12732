//! The Store on PostgreSQL: `events` partitioned by day, concurrent
//! writers ordered by row and advisory locks.

mod dialect;
mod digest;
mod upkeep;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use corral_core::{DigestInput, DigestOutcome, PurgeReport, StoreError, StoreResult};
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres};

use crate::error::{db, migrate_err};
use crate::store::{Backend, SqlStore, migrator};
use upkeep::Partitions;

/// The Store on a PostgreSQL database.
pub type PgStore = SqlStore<PgBackend>;

pub struct PgBackend {
    pool: PgPool,
    partitions: Partitions,
}

impl PgStore {
    /// Connects a pool of at most `max_connections` (no migrations run).
    pub async fn connect(url: &str, max_connections: u32) -> Result<PgStore, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect(url)
            .await
            .map_err(db)?;
        Ok(PgStore::from_pool(pool))
    }

    /// Wraps a pool the caller built.
    pub fn from_pool(pool: PgPool) -> PgStore {
        SqlStore(PgBackend {
            pool,
            partitions: Partitions::default(),
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.0.pool
    }
}

#[async_trait]
impl Backend for PgBackend {
    type Db = Postgres;
    const NAME: &'static str = "postgres";

    fn writer(&self) -> &PgPool {
        &self.pool
    }

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    fn migrations() -> Migrator {
        sqlx::migrate!("migrations/postgres")
    }

    async fn migrate(&self) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        // sqlx holds a session advisory lock while it migrates, so callers
        // in other processes wait and then find nothing left to do.
        match migrator::<Self>().run_direct(None, &mut *conn, false).await {
            Ok(()) => Ok(()),
            Err(e) => {
                // A failed run may leave the lock held by this session: end it.
                let _ = conn.close().await;
                Err(migrate_err(e))
            }
        }
    }

    async fn digest(&self, batch: &[DigestInput]) -> StoreResult<Vec<DigestOutcome>> {
        digest::digest(self, batch).await
    }

    async fn purge(&self, now: DateTime<Utc>, default_days: i32) -> StoreResult<PurgeReport> {
        upkeep::purge(&self.pool, &self.partitions, now, default_days).await
    }

    async fn ensure_partitions(&self, now: DateTime<Utc>, days_ahead: u32) -> StoreResult<u32> {
        upkeep::ensure_partitions(&self.pool, &self.partitions, now, days_ahead).await
    }

    async fn rollup_hourly(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        upkeep::rollup_hourly(&self.pool, before).await
    }
}
