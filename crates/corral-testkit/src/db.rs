//! Throwaway databases: a fresh PostgreSQL database or SQLite file per test.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};

const PREFIX: &str = "corral_test_";

/// Databases left behind by crashed runs are dropped after this long.
const STALE_AFTER: Duration = Duration::from_secs(24 * 3600);

static SWEPT: AtomicBool = AtomicBool::new(false);

fn admin_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "DATABASE_URL is not set: set DATABASE_URL to a PostgreSQL superuser URL or run \
             the tests with `cargo xtask test`"
        )
    })
}

async fn admin_connection(admin: &str) -> PgConnection {
    let options = PgConnectOptions::from_str(admin)
        .unwrap_or_else(|e| panic!("DATABASE_URL is not a PostgreSQL URL: {e}"));
    options
        .connect()
        .await
        .unwrap_or_else(|e| panic!("cannot connect to DATABASE_URL (is PostgreSQL running?): {e}"))
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A fresh PostgreSQL database, `corral_test_<created unix secs>_<random>`,
/// created through the admin URL in `DATABASE_URL`. Call
/// [`TestPg::cleanup`] at the end; if the test panics first, dropping the
/// value removes the database anyway.
pub struct TestPg {
    name: String,
    url: String,
    admin: String,
    dropped: bool,
}

impl TestPg {
    pub async fn new() -> TestPg {
        let admin = admin_url();
        let mut conn = admin_connection(&admin).await;
        if !SWEPT.swap(true, Ordering::SeqCst) {
            drop_stale(&mut conn).await;
        }
        let name = format!("{PREFIX}{}_{:016x}", unix_secs(), rand::random::<u64>());
        sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        let _ = conn.close().await;
        let mut url =
            url::Url::parse(&admin).unwrap_or_else(|e| panic!("DATABASE_URL is not a URL: {e}"));
        url.set_path(&format!("/{name}"));
        TestPg {
            name,
            url: url.to_string(),
            admin,
            dropped: false,
        }
    }

    /// The URL of the test database.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops the database (ending any connection still open to it).
    pub async fn cleanup(mut self) {
        drop_database(&self.admin, &self.name).await;
        self.dropped = true;
    }
}

impl Drop for TestPg {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        // A panicking test never reaches `cleanup`: drop the database from a
        // thread of its own, since async work cannot run in `drop`.
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(drop_database(&admin, &name));
            }
        })
        .join();
    }
}

async fn drop_database(admin: &str, name: &str) {
    let mut conn = admin_connection(admin).await;
    let _ = sqlx::query(AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
    )))
    .execute(&mut conn)
    .await;
    let _ = conn.close().await;
}

/// Drops `corral_test_*` databases created more than a day ago.
async fn drop_stale(conn: &mut PgConnection) {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT datname::text FROM pg_database WHERE datname LIKE 'corral\\_test\\_%'",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap_or_default();
    let now = unix_secs();
    for name in names {
        let created = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<u64>().ok());
        if created.is_some_and(|c| now.saturating_sub(c) > STALE_AFTER.as_secs()) {
            let _ = sqlx::query(AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
            )))
            .execute(&mut *conn)
            .await;
        }
    }
}

/// A fresh SQLite file in its own temporary directory, removed on drop.
pub struct TestSqlite {
    dir: tempfile::TempDir,
    path: PathBuf,
}

impl TestSqlite {
    pub fn new() -> TestSqlite {
        let dir = tempfile::Builder::new()
            .prefix("corral-test-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"));
        let path = dir.path().join("corral.db");
        TestSqlite { dir, path }
    }

    /// The database file (not created yet).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory holding it (for attachments and the like).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `sqlite://<path>`.
    pub fn url(&self) -> String {
        format!("sqlite://{}", self.path.display())
    }
}

impl Default for TestSqlite {
    fn default() -> Self {
        TestSqlite::new()
    }
}
