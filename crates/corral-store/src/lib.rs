//! The Store seam on PostgreSQL and SQLite (sqlx), each with its own
//! migrations (`migrations/postgres`, `migrations/sqlite`, recorded in
//! `corral_migrations`).
//!
//! The Store is written once ([`SqlStore`]): accounts, sign-in, items,
//! issues and the purge are statements shared by both backends, over a small
//! dialect for what PostgreSQL and SQLite spell differently (`dialect.rs`).
//! Each backend keeps what truly differs: its pools, migrations, the digest,
//! partitions and the rollup. Issue state rules live in `corral_core`.
//!
//! - [`PgStore`]: PostgreSQL; `events` partitioned by day.
//! - [`SqliteStore`]: one SQLite file (WAL), shared with the embedded queue.
//! - [`open_store`]: the right one for a [`DatabaseUrl`].
//!
//! Both run one conformance suite (`tests/it/conformance`).

mod accounts;
mod alerts;
mod dialect;
mod error;
mod issues;
mod items;
mod keys;
mod open;
mod postgres;
mod rows;
mod signin;
mod sqlite;
mod store;
mod upkeep;
mod validate;

pub use corral_core::{SharedStore, StoreError};
pub use open::{DatabaseUrl, open_store};
pub use postgres::PgStore;
pub use sqlite::{SqliteStore, WalCheckpoint};
pub use store::SqlStore;
