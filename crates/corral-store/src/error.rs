//! Turning sqlx errors into the Store's typed errors. Whether a database
//! failure may pass is decided here, where the driver's error is known;
//! callers only ask [`StoreError::is_transient`].

use corral_core::{DatabaseError, StoreError, StoreResult};
use sqlx::sqlite::SqliteError;

/// Maps a database error, naming `what` when a unique value was taken or a
/// referenced record was missing (the caller knows which one it wrote).
pub(crate) fn db_err(what: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::RowNotFound => StoreError::NotFound(what),
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::Conflict(what.to_string())
        }
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
            StoreError::NotFound("referenced record")
        }
        sqlx::Error::Database(d) if d.is_check_violation() => StoreError::Invalid {
            field: what,
            reason: d.message().to_string(),
        },
        // PostgreSQL's "data exception" class (22…): a value it refuses to
        // store, such as a NUL character in text or a number out of range.
        // The input is at fault, not the database: retrying cannot help.
        sqlx::Error::Database(d) if d.code().is_some_and(|c| c.starts_with("22")) => {
            StoreError::Invalid {
                field: what,
                reason: "a value the database cannot store (a NUL character, or a number out \
                         of range)"
                    .into(),
            }
        }
        _ => StoreError::Database(classify(e)),
    }
}

/// For statements where no constraint is expected to fail.
pub(crate) fn db(e: sqlx::Error) -> StoreError {
    db_err("record")(e)
}

fn classify(e: sqlx::Error) -> DatabaseError {
    if is_transient(&e) {
        DatabaseError::transient(e)
    } else {
        DatabaseError::permanent(e)
    }
}

/// Whether the same statement may succeed later. Permanent: what the
/// database refuses (a broken constraint, a value it cannot store, a
/// statement it cannot run) and what this build cannot encode or read back.
/// Transient: the database could not be reached, was busy, or gave up on
/// the transaction to let another through; and any other failure the
/// database reports, since a retry is bounded and loses nothing, while a
/// failure wrongly taken as permanent dead-letters work at once.
pub(crate) fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => match d.try_downcast_ref::<SqliteError>() {
            Some(e) => !sqlite_refused(e),
            None => !d.code().is_some_and(|c| postgres_refused(&c)),
        },
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => true,
        _ => false,
    }
}

/// SQLSTATE classes of a refusal: feature not supported (0A), data
/// exception such as a NUL in text or a number out of range (22), integrity
/// constraint (23), syntax error or access rule violation (42), program
/// limit exceeded (54). Connection exceptions (08), serialization failures
/// and deadlocks (40), insufficient resources (53) and operator
/// intervention such as a shutdown or a cancelled statement (57) are not.
fn postgres_refused(code: &str) -> bool {
    matches!(code.get(..2), Some("0A" | "22" | "23" | "42" | "54"))
}

/// SQLite's refusals, by primary result code (the low byte of the extended
/// code): an SQL error such as a missing table, a value too big, a
/// constraint (but not an error a trigger raises, which like PostgreSQL's
/// `RAISE` is not ours to judge), a type mismatch, a parameter out of range.
/// Busy and locked (5, 6), I/O errors (10) and a full disk (13) are not.
fn sqlite_refused(e: &SqliteError) -> bool {
    const ERROR: i32 = 1;
    const TOOBIG: i32 = 18;
    const CONSTRAINT: i32 = 19;
    const CONSTRAINT_TRIGGER: i32 = CONSTRAINT | (7 << 8);
    const MISMATCH: i32 = 20;
    const RANGE: i32 = 25;
    let code = sqlx::error::DatabaseError::code(e)
        .and_then(|c| c.parse::<i32>().ok())
        .unwrap_or(0);
    code != CONSTRAINT_TRIGGER
        && matches!(code & 0xff, ERROR | TOOBIG | CONSTRAINT | MISMATCH | RANGE)
}

pub(crate) fn migrate_err(e: sqlx::migrate::MigrateError) -> StoreError {
    StoreError::Schema(e.to_string())
}

/// A stored value this build cannot read (written by a newer build, or by
/// hand): reading it again fails again.
pub(crate) fn bad_value(column: &str, value: &str) -> StoreError {
    StoreError::Database(DatabaseError::permanent(format!(
        "unexpected value {value:?} in column {column}"
    )))
}

/// `NotFound` when an update or delete matched no row.
pub(crate) fn found(rows: u64, what: &'static str) -> StoreResult<()> {
    if rows == 0 {
        Err(StoreError::NotFound(what))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use corral_testkit::{TestPg, TestSqlite};
    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::{Connection, PgConnection, SqliteConnection};

    use super::*;

    /// The error a statement fails with (it must fail).
    async fn failure<'c, E>(executor: E, sql: &'static str) -> sqlx::Error
    where
        E: sqlx::Executor<'c>,
        E::Database: crate::dialect::Dialect,
    {
        match sqlx::query(sql).execute(executor).await {
            Ok(_) => panic!("{sql} succeeded"),
            Err(e) => e,
        }
    }

    #[tokio::test]
    async fn postgres_errors_are_classified() {
        let pg = TestPg::new().await;
        let mut conn = PgConnection::connect(pg.url()).await.unwrap();
        sqlx::query("CREATE TABLE t (v text UNIQUE)")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("INSERT INTO t VALUES ('a')")
            .execute(&mut conn)
            .await
            .unwrap();

        // refusals: the same statement fails again
        let taken = failure(&mut conn, "INSERT INTO t VALUES ('a')").await;
        assert!(matches!(db_err("v")(taken), StoreError::Conflict(_)));
        let nul = sqlx::query("INSERT INTO t VALUES ($1)")
            .bind("a\0b")
            .execute(&mut conn)
            .await
            .unwrap_err();
        assert!(!is_transient(&nul));
        assert!(matches!(db(nul), StoreError::Invalid { .. }));
        let syntax = failure(&mut conn, "SELEC 1").await;
        let syntax = db(syntax);
        assert!(matches!(&syntax, StoreError::Database(_)), "{syntax:?}");
        assert!(!syntax.is_transient());

        // a statement cancelled for taking too long may pass next time
        sqlx::query("SET statement_timeout = 10")
            .execute(&mut conn)
            .await
            .unwrap();
        let cancelled = db(failure(&mut conn, "SELECT pg_sleep(1)").await);
        assert!(cancelled.is_transient(), "{cancelled:?}");

        // so may a connection the server ended, and a pool closed under us
        let ended = failure(&mut conn, "SELECT pg_terminate_backend(pg_backend_pid())").await;
        assert!(db(ended).is_transient());
        let pool = sqlx::PgPool::connect(pg.url()).await.unwrap();
        pool.close().await;
        let closed = db(failure(&pool, "SELECT 1").await);
        assert!(closed.is_transient(), "{closed:?}");

        // the driver's error stays the source
        let StoreError::Database(source) = &closed else {
            panic!("{closed:?}")
        };
        assert!(matches!(
            source.get_ref().downcast_ref::<sqlx::Error>(),
            Some(sqlx::Error::PoolClosed)
        ));
        pg.cleanup().await;
    }

    #[tokio::test]
    async fn sqlite_errors_are_classified() {
        let file = TestSqlite::new();
        let options = SqliteConnectOptions::new()
            .filename(file.path())
            .create_if_missing(true)
            .busy_timeout(Duration::ZERO);
        let mut a = SqliteConnection::connect_with(&options).await.unwrap();
        let mut b = SqliteConnection::connect_with(&options).await.unwrap();
        sqlx::query("CREATE TABLE t (v TEXT UNIQUE); INSERT INTO t VALUES ('a')")
            .execute(&mut a)
            .await
            .unwrap();

        let taken = failure(&mut a, "INSERT INTO t VALUES ('a')").await;
        assert!(!is_transient(&taken));
        assert!(matches!(db_err("v")(taken), StoreError::Conflict(_)));
        let missing = db(failure(&mut a, "SELECT * FROM nowhere").await);
        assert!(!missing.is_transient(), "{missing:?}");

        // an error a trigger raises is not ours to judge: retried
        sqlx::query(
            "CREATE TRIGGER fault BEFORE INSERT ON t BEGIN SELECT RAISE(ABORT, 'fault'); END",
        )
        .execute(&mut a)
        .await
        .unwrap();
        let raised = db(failure(&mut a, "INSERT INTO t VALUES ('b')").await);
        assert!(raised.is_transient(), "{raised:?}");

        // the file's write lock is held by another connection: busy
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut a)
            .await
            .unwrap();
        let busy = db(failure(&mut b, "BEGIN IMMEDIATE").await);
        assert!(busy.is_transient(), "{busy:?}");
    }

    #[test]
    fn unreadable_values_are_permanent_and_text_transient() {
        assert!(!bad_value("status", "sleeping").is_transient());
        assert!(StoreError::Database("down".into()).is_transient());
        assert!(!StoreError::NotFound("issue").is_transient());
    }
}
