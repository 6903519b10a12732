//! Choosing the backend from a URL: the one place a database URL is read.

use std::path::PathBuf;
use std::sync::Arc;

use corral_core::{SharedStore, StoreError};

use crate::{PgStore, SqliteStore};

/// A database URL, read: `postgres://…` or `postgresql://…` for
/// PostgreSQL; `sqlite://path`, `sqlite:path` or a plain path for an SQLite
/// file (query options are ignored: the store sets its own pragmas).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseUrl {
    Postgres(String),
    Sqlite(PathBuf),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<DatabaseUrl, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseUrl::Postgres(url.to_string()));
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        let path = path.split_once('?').map_or(path, |(p, _)| p);
        if path.is_empty() || path.contains("://") {
            return Err(StoreError::Invalid {
                field: "database_url",
                reason: format!(
                    "{url:?} is neither postgres://… nor sqlite://<path> nor a file path"
                ),
            });
        }
        if path == ":memory:" {
            // Each pooled connection would get its own empty database.
            return Err(StoreError::Invalid {
                field: "database_url",
                reason: "an in-memory SQLite database cannot be shared by a pool; use a file"
                    .into(),
            });
        }
        Ok(DatabaseUrl::Sqlite(PathBuf::from(path)))
    }

    /// Opens the store (no migrations run) with at most `max_connections`:
    /// PostgreSQL's pool, or SQLite's readers beside its one writer.
    pub async fn open(&self, max_connections: u32) -> Result<SharedStore, StoreError> {
        Ok(match self {
            DatabaseUrl::Postgres(url) => Arc::new(PgStore::connect(url, max_connections).await?),
            DatabaseUrl::Sqlite(path) => {
                Arc::new(SqliteStore::open_with(path, max_connections).await?)
            }
        })
    }
}

/// Opens the right backend for `url` ([`DatabaseUrl`]). No migrations run.
pub async fn open_store(url: &str, max_connections: u32) -> Result<SharedStore, StoreError> {
    DatabaseUrl::parse(url)?.open(max_connections).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite_path(url: &str) -> Result<PathBuf, StoreError> {
        match DatabaseUrl::parse(url)? {
            DatabaseUrl::Sqlite(path) => Ok(path),
            DatabaseUrl::Postgres(url) => panic!("{url} is not SQLite"),
        }
    }

    #[test]
    fn sqlite_urls_name_a_file() {
        assert_eq!(
            sqlite_path("sqlite:///var/lib/corral.db").unwrap(),
            PathBuf::from("/var/lib/corral.db")
        );
        assert_eq!(
            sqlite_path("sqlite://corral.db?mode=rwc").unwrap(),
            PathBuf::from("corral.db")
        );
        assert_eq!(
            sqlite_path("sqlite:data/corral.db").unwrap(),
            PathBuf::from("data/corral.db")
        );
        assert_eq!(
            sqlite_path("/tmp/x.db").unwrap(),
            PathBuf::from("/tmp/x.db")
        );
        assert!(sqlite_path("mysql://host/db").is_err());
        assert!(sqlite_path("sqlite::memory:").is_err());
        assert!(sqlite_path("").is_err());
    }

    #[test]
    fn postgres_urls_are_kept_whole() {
        for url in ["postgres://u@h/db?sslmode=require", "postgresql://h/db"] {
            assert_eq!(
                DatabaseUrl::parse(url).unwrap(),
                DatabaseUrl::Postgres(url.into())
            );
        }
    }
}
