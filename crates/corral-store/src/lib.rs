//! The Store seam on PostgreSQL and SQLite (sqlx), each with its own
//! migrations (`migrations/postgres`, `migrations/sqlite`, recorded in
//! `corral_migrations`).
//!
//! - [`PgStore`]: PostgreSQL; `events` partitioned by day.
//! - [`SqliteStore`]: one SQLite file (WAL), shared with the embedded queue.
//! - [`open_store`]: the right one for a URL.
//!
//! Both run one conformance suite (`tests/conformance.rs`).

mod error;
mod keys;
mod open;
mod plan;
mod postgres;
mod sqlite;
mod validate;

pub use corral_core::{SharedStore, StoreError};
pub use open::open_store;
pub use postgres::PgStore;
pub use sqlite::{SqliteStore, WalCheckpoint};
