//! Throwaway databases: a fresh PostgreSQL database or SQLite file per test.
//!
//! A migrated PostgreSQL database is a copy of a template (`CREATE DATABASE … TEMPLATE`),
//! migrated once for all test processes rather than once per test: nextest runs every test in
//! a process of its own, and migrating was most of a short test's time. The template is named
//! after a hash of the migration files, so changed migrations get a new one; it is built under
//! an advisory lock, so concurrent processes build it once; and it is published by renaming it
//! only once migrated and disconnected, so a process that finds it can copy it at once.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use corral_core::Store;
use corral_store::PgStore;
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};

const PREFIX: &str = "corral_test_";

/// Databases left behind by crashed runs are dropped after this long.
const STALE_AFTER: Duration = Duration::from_secs(24 * 3600);

const TEMPLATE_PREFIX: &str = "corral_tpl_";

/// Templates of other migrations are dropped after this long. Not at once: another checkout
/// sharing the server may still be running its tests from one (and if it is not done in an
/// hour, it builds it again).
const STALE_TEMPLATE_AFTER: Duration = Duration::from_secs(3600);

/// Advisory lock key serializing template builds across processes ("corral-t" in ASCII).
const TEMPLATE_LOCK: i64 = 0x636f_7272_616c_2d74;

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

/// `admin` with its database replaced by `name`.
fn database_url(admin: &str, name: &str) -> String {
    let mut url =
        url::Url::parse(admin).unwrap_or_else(|e| panic!("DATABASE_URL is not a URL: {e}"));
    url.set_path(&format!("/{name}"));
    url.to_string()
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
    /// A database with Corral's migrations applied, copied from the template. Migrating it
    /// again finds nothing to do.
    pub async fn new() -> TestPg {
        TestPg::create(true).await
    }

    /// An empty database, for tests of migrating itself (or of running before anyone has).
    pub async fn empty() -> TestPg {
        TestPg::create(false).await
    }

    async fn create(migrated: bool) -> TestPg {
        let admin = admin_url();
        let mut conn = admin_connection(&admin).await;
        if !SWEPT.swap(true, Ordering::SeqCst) {
            drop_stale(&mut conn).await;
        }
        let name = format!("{PREFIX}{}_{:016x}", unix_secs(), rand::random::<u64>());
        if migrated {
            let template = template_name();
            let mut attempt = 0;
            loop {
                ensure_template(&admin, &mut conn, &template).await;
                let created = sqlx::query(AssertSqlSafe(format!(
                    "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
                )))
                .execute(&mut conn)
                .await;
                match created {
                    Ok(_) => break,
                    // in use: a connection to it still closing; gone: swept by another
                    // checkout's run (`ensure_template` builds it again)
                    Err(e) if attempt < 20 && error_code_in(&e, &[IN_USE, NO_SUCH_DATABASE]) => {
                        attempt += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(e) => panic!("cannot create test database {name} from {template}: {e}"),
                }
            }
        } else {
            sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                .execute(&mut conn)
                .await
                .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        }
        let _ = conn.close().await;
        TestPg {
            url: database_url(&admin, &name),
            name,
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

/// Drops `corral_test_*` databases created more than a day ago, and templates of other
/// migrations created more than an hour ago.
async fn drop_stale(conn: &mut PgConnection) {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT datname::text FROM pg_database WHERE datname LIKE 'corral\\_test\\_%'",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap_or_default();
    let now = unix_secs();
    let mut doomed: Vec<String> = names
        .into_iter()
        .filter(|name| {
            let created = name
                .strip_prefix(PREFIX)
                .and_then(|rest| rest.split('_').next())
                .and_then(|secs| secs.parse::<u64>().ok());
            created.is_some_and(|c| now.saturating_sub(c) > STALE_AFTER.as_secs())
        })
        .collect();

    // A template's creation time is its comment (see `build_template`); one without a comment
    // is being built right now.
    let templates: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT datname::text, shobj_description(oid, 'pg_database') FROM pg_database \
         WHERE datname LIKE 'corral\\_tpl\\_%'",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap_or_default();
    let current = template_name();
    doomed.extend(
        templates
            .into_iter()
            .filter(|(name, created)| {
                let created = created.as_deref().and_then(|c| c.parse::<u64>().ok());
                *name != current
                    && created
                        .is_some_and(|c| now.saturating_sub(c) > STALE_TEMPLATE_AFTER.as_secs())
            })
            .map(|(name, _)| name),
    );
    for name in doomed {
        let _ = sqlx::query(AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
        )))
        .execute(&mut *conn)
        .await;
    }
}

/// `object_in_use`: "source database … is being accessed by other users".
const IN_USE: &str = "55006";
/// `invalid_catalog_name`: no such database.
const NO_SUCH_DATABASE: &str = "3D000";

fn error_code_in(e: &sqlx::Error, codes: &[&str]) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|code| codes.contains(&code.as_ref()))
}

/// `corral_tpl_<hash>`, the hash of corral-store's PostgreSQL migrations (names and contents).
fn template_name() -> String {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(hash_migrations).clone()
}

fn hash_migrations() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../corral-store/migrations/postgres");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read the migrations in {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    files.sort();
    let mut hash = Sha256::new();
    for file in files {
        let contents = std::fs::read(&file)
            .unwrap_or_else(|e| panic!("cannot read migration {}: {e}", file.display()));
        hash.update(file.file_name().unwrap_or_default().as_encoded_bytes());
        hash.update([0]);
        hash.update((contents.len() as u64).to_le_bytes());
        hash.update(&contents);
    }
    format!("{TEMPLATE_PREFIX}{}", &hex::encode(hash.finalize())[..16])
}

async fn database_exists(conn: &mut PgConnection, name: &str) -> bool {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("cannot look for database {name}: {e}"))
}

/// Builds `template` unless it exists. A published template is complete, so only a missing
/// one needs the lock; the lock is a session's, so a builder that dies releases it.
async fn ensure_template(admin: &str, conn: &mut PgConnection, template: &str) {
    if database_exists(conn, template).await {
        return;
    }
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(TEMPLATE_LOCK)
        .execute(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("cannot take the template lock: {e}"));
    if !database_exists(conn, template).await {
        build_template(admin, conn, template).await;
    }
    let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(TEMPLATE_LOCK)
        .execute(&mut *conn)
        .await;
}

async fn execute(conn: &mut PgConnection, sql: String) -> Result<(), sqlx::Error> {
    sqlx::query(AssertSqlSafe(sql))
        .execute(conn)
        .await
        .map(drop)
}

/// Migrates a database under a working name, then renames it to `template`.
async fn build_template(admin: &str, conn: &mut PgConnection, template: &str) {
    let building = format!("{template}_building");
    // left by a builder that died (the lock says no other is at work)
    execute(
        conn,
        format!("DROP DATABASE IF EXISTS \"{building}\" WITH (FORCE)"),
    )
    .await
    .unwrap_or_else(|e| panic!("cannot drop {building}: {e}"));
    execute(conn, format!("CREATE DATABASE \"{building}\""))
        .await
        .unwrap_or_else(|e| panic!("cannot create {building}: {e}"));
    execute(
        conn,
        format!("COMMENT ON DATABASE \"{building}\" IS '{}'", unix_secs()),
    )
    .await
    .unwrap_or_else(|e| panic!("cannot date {building}: {e}"));

    let store = PgStore::connect(&database_url(admin, &building), 1)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {building}: {e}"));
    store
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("cannot migrate the template {building}: {e}"));
    // Nothing may stay connected to a template: copying it would fail.
    store.pool().close().await;
    drop(store);

    let mut attempt = 0;
    loop {
        match execute(
            conn,
            format!("ALTER DATABASE \"{building}\" RENAME TO \"{template}\""),
        )
        .await
        {
            Ok(_) => break,
            Err(e) if attempt < 20 && error_code_in(&e, &[IN_USE]) => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("cannot publish the template {template}: {e}"),
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
