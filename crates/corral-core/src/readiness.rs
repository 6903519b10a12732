//! Whether the store can serve this build, as a process's `/readyz` asks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::SharedStore;

/// The store's part of readiness: it answers, and its schema has every
/// migration this build needs. Cheap to clone (clones share what they saw).
#[derive(Clone)]
pub struct StoreReadiness {
    store: SharedStore,
    /// Once the schema was seen current it stays so (migrations only add).
    schema_current: Arc<AtomicBool>,
}

impl StoreReadiness {
    pub fn new(store: SharedStore) -> StoreReadiness {
        StoreReadiness {
            store,
            schema_current: Arc::new(AtomicBool::new(false)),
        }
    }

    /// `Ok` when the store is usable; else the reason, for the probe.
    pub async fn check(&self) -> Result<(), String> {
        self.store
            .ping()
            .await
            .map_err(|e| format!("database: {e}"))?;
        if !self.schema_current.load(Ordering::Relaxed) {
            let status = self
                .store
                .schema_status()
                .await
                .map_err(|e| format!("database: {e}"))?;
            if !status.is_current() {
                return Err(format!(
                    "database schema is not current (applied {:?}, this build needs {:?}); beat runs the migrations",
                    status.applied.last(),
                    status.expected.last()
                ));
            }
            self.schema_current.store(true, Ordering::Relaxed);
        }
        Ok(())
    }
}
