//! Choosing the backend from a URL.

use std::path::Path;
use std::sync::Arc;

use corral_core::{SharedStore, StoreError};

use crate::{PgStore, SqliteStore};

/// Opens the right backend from a URL: `postgres://…` or `postgresql://…` ->
/// [`PgStore`]; `sqlite://path`, `sqlite:path` or a plain path ->
/// [`SqliteStore`]. No migrations run.
pub async fn open_store(url: &str, max_connections: u32) -> Result<SharedStore, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Arc::new(PgStore::connect(url, max_connections).await?));
    }
    let path = sqlite_path(url)?;
    Ok(Arc::new(
        SqliteStore::open_with(Path::new(path), max_connections).await?,
    ))
}

fn sqlite_path(url: &str) -> Result<&str, StoreError> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    // Query options are not ours to interpret; the pragmas are fixed.
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    if path.is_empty() || path.contains("://") {
        return Err(StoreError::Invalid {
            field: "database_url",
            reason: format!("{url:?} is neither postgres://… nor sqlite://<path> nor a file path"),
        });
    }
    if path == ":memory:" {
        // Each pooled connection would get its own empty database.
        return Err(StoreError::Invalid {
            field: "database_url",
            reason: "an in-memory SQLite database cannot be shared by a pool; use a file".into(),
        });
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_a_file() {
        assert_eq!(
            sqlite_path("sqlite:///var/lib/corral.db").unwrap(),
            "/var/lib/corral.db"
        );
        assert_eq!(
            sqlite_path("sqlite://corral.db?mode=rwc").unwrap(),
            "corral.db"
        );
        assert_eq!(
            sqlite_path("sqlite:data/corral.db").unwrap(),
            "data/corral.db"
        );
        assert_eq!(sqlite_path("/tmp/x.db").unwrap(), "/tmp/x.db");
        assert!(sqlite_path("mysql://host/db").is_err());
        assert!(sqlite_path("sqlite::memory:").is_err());
        assert!(sqlite_path("").is_err());
    }
}
