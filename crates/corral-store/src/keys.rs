//! Random public keys and stable lock keys.

use corral_core::model::ProjectId;
use sha2::{Digest, Sha256};

/// A project key's public part: 32 lowercase hex digits from the thread's
/// CSPRNG (ChaCha, seeded by the OS), as Sentry's.
pub(crate) fn new_public_key() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// The PostgreSQL advisory lock key of a grouping hash in a project. It must
/// be the same in every process and build, hence SHA-256 and not std's hasher.
pub(crate) fn hash_lock_key(project_id: ProjectId, hash: &str) -> i64 {
    let mut h = Sha256::new();
    h.update(project_id.to_be_bytes());
    h.update(hash.as_bytes());
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}
