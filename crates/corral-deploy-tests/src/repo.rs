//! Paths of the files under test, from this crate's place in the workspace.

use std::path::{Path, PathBuf};

/// The workspace root (two levels above this crate).
pub fn root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize()
        .unwrap_or_else(|e| panic!("workspace root {}: {e}", root.display()))
}

/// `charts/corral`.
pub fn chart() -> PathBuf {
    root().join("charts/corral")
}

/// `manifests/`.
pub fn manifests() -> PathBuf {
    root().join("manifests")
}

/// `images/Dockerfile`.
pub fn dockerfile() -> PathBuf {
    root().join("images/Dockerfile")
}
