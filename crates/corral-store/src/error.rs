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

/// Whether the same statement may succeed later: the database could not be
/// reached, was busy, or gave up on the transaction to let another one
/// through. A refused statement or value, a broken constraint or a row this
/// build cannot decode fail again.
pub(crate) fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => true,
        sqlx::Error::Database(d) => match d.try_downcast_ref::<SqliteError>() {
            Some(e) => sqlite_transient(e),
            None => d.code().is_some_and(|c| postgres_transient(&c)),
        },
        _ => false,
    }
}

/// SQLSTATE classes and codes that name a passing condition: connection
/// exception (08), serialization failure and deadlock (40), insufficient
/// resources such as too many connections or a full disk (53), operator
/// intervention such as a shutdown or a cancelled statement (57), system
/// error such as an I/O error (58), and a lock not available (55P03).
fn postgres_transient(code: &str) -> bool {
    matches!(code.get(..2), Some("08" | "40" | "53" | "57" | "58")) || code == "55P03"
}

/// SQLite's primary result codes (the low byte of the extended code) for a
/// passing condition.
fn sqlite_transient(e: &SqliteError) -> bool {
    const BUSY: i32 = 5;
    const LOCKED: i32 = 6;
    const NOMEM: i32 = 7;
    const IOERR: i32 = 10;
    const FULL: i32 = 13;
    const CANTOPEN: i32 = 14;
    let code = sqlx::error::DatabaseError::code(e)
        .and_then(|c| c.parse::<i32>().ok())
        .unwrap_or(0);
    matches!(code & 0xff, BUSY | LOCKED | NOMEM | IOERR | FULL | CANTOPEN)
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
