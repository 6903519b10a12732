//! Turning sqlx errors into the Store's typed errors.

use corral_core::{StoreError, StoreResult};

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
        _ => StoreError::Database(e.to_string()),
    }
}

/// For statements where no constraint is expected to fail.
pub(crate) fn db(e: sqlx::Error) -> StoreError {
    db_err("record")(e)
}

pub(crate) fn migrate_err(e: sqlx::migrate::MigrateError) -> StoreError {
    StoreError::Schema(e.to_string())
}

/// A stored value this build cannot read (written by a newer build, or by hand).
pub(crate) fn bad_value(column: &str, value: &str) -> StoreError {
    StoreError::Database(format!("unexpected value {value:?} in column {column}"))
}

/// `NotFound` when an update or delete matched no row.
pub(crate) fn found(rows: u64, what: &'static str) -> StoreResult<()> {
    if rows == 0 {
        Err(StoreError::NotFound(what))
    } else {
        Ok(())
    }
}
