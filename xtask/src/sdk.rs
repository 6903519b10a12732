//! The real Sentry clients the end-to-end tests drive: sentry-sdk and sentry-cli in a Python
//! venv at `target/sdk-venv`, and @sentry/node in `tests/sdk/node_modules`.
//!
//! Both are installed from the pinned files in `tests/sdk/`, and only when those files changed
//! since the last install (a stamp file beside the install holds their contents).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::process::run_checked;

/// Where the pinned requirement files live, relative to the workspace root.
const SDK_DIR: &str = "tests/sdk";
/// The Python venv, relative to the workspace root (git-ignored with `target/`).
const VENV_DIR: &str = "target/sdk-venv";
/// The stamp file's name, inside the install it describes.
const STAMP: &str = ".corral-xtask-stamp";

/// Paths to the installed clients, handed to the tests as environment variables.
pub struct SdkClients {
    python: PathBuf,
    sentry_cli: PathBuf,
    node_modules: PathBuf,
}

impl SdkClients {
    /// `CORRAL_TEST_PYTHON`, `CORRAL_TEST_SENTRY_CLI` and `CORRAL_TEST_NODE_MODULES`.
    pub fn env(&self) -> [(&'static str, &Path); 3] {
        [
            ("CORRAL_TEST_PYTHON", &self.python),
            ("CORRAL_TEST_SENTRY_CLI", &self.sentry_cli),
            ("CORRAL_TEST_NODE_MODULES", &self.node_modules),
        ]
    }
}

/// Installs what is missing or outdated and returns where the clients are.
pub fn prepare(root: &Path, python3: &Path, npm: &Path) -> Result<SdkClients> {
    let sdk_dir = root.join(SDK_DIR);
    let (python, sentry_cli) = prepare_python(root, &sdk_dir, python3)?;
    let node_modules = prepare_node(&sdk_dir, npm)?;
    Ok(SdkClients {
        python,
        sentry_cli,
        node_modules,
    })
}

/// A venv with `tests/sdk/requirements.txt` installed; returns its python and sentry-cli.
fn prepare_python(root: &Path, sdk_dir: &Path, python3: &Path) -> Result<(PathBuf, PathBuf)> {
    let venv = root.join(VENV_DIR);
    let python = venv.join("bin/python");
    let sentry_cli = venv.join("bin/sentry-cli");
    let requirements = sdk_dir.join("requirements.txt");
    let wanted = stamp_of(&[&requirements])?;
    if is_current(&venv.join(STAMP), &wanted) && python.is_file() && sentry_cli.is_file() {
        return Ok((python, sentry_cli));
    }

    eprintln!(
        "xtask: installing the Python SDK clients into {}",
        venv.display()
    );
    // A fresh venv, so that packages dropped from the requirements do not linger.
    if venv.exists() {
        std::fs::remove_dir_all(&venv)
            .with_context(|| format!("removing the old venv {}", venv.display()))?;
    }
    run_checked(Command::new(python3).args(["-m", "venv"]).arg(&venv))?;
    run_checked(
        Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--no-input"])
            .args(["--disable-pip-version-check", "--requirement"])
            .arg(&requirements),
    )?;
    write_stamp(&venv.join(STAMP), &wanted)?;
    Ok((python, sentry_cli))
}

/// `npm ci` in `tests/sdk` from its lock file; returns the absolute `node_modules`.
fn prepare_node(sdk_dir: &Path, npm: &Path) -> Result<PathBuf> {
    let node_modules = sdk_dir.join("node_modules");
    let wanted = stamp_of(&[
        &sdk_dir.join("package.json"),
        &sdk_dir.join("package-lock.json"),
    ])?;
    if is_current(&node_modules.join(STAMP), &wanted) {
        return Ok(node_modules);
    }

    eprintln!(
        "xtask: installing the Node SDK into {}",
        node_modules.display()
    );
    // `npm ci` installs exactly the lock file and replaces node_modules (and our stamp).
    run_checked(
        Command::new(npm)
            .current_dir(sdk_dir)
            .args(["ci", "--no-audit", "--no-fund"]),
    )?;
    write_stamp(&node_modules.join(STAMP), &wanted)?;
    Ok(node_modules)
}

/// The stamp for a set of files: their names and contents, so any edit shows.
fn stamp_of(files: &[&Path]) -> Result<Vec<u8>> {
    let mut stamp = Vec::new();
    for file in files {
        let contents =
            std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        stamp.extend_from_slice(format!("== {} {}\n", file.display(), contents.len()).as_bytes());
        stamp.extend_from_slice(&contents);
    }
    Ok(stamp)
}

/// Whether the stamp at `path` says the install matches `wanted`.
fn is_current(path: &Path, wanted: &[u8]) -> bool {
    std::fs::read(path).is_ok_and(|stamp| stamp == wanted)
}

/// Records a finished install; written last, so an interrupted install is redone.
fn write_stamp(path: &Path, stamp: &[u8]) -> Result<()> {
    std::fs::write(path, stamp).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_matches_until_a_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let requirements = dir.path().join("requirements.txt");
        let stamp_file = dir.path().join(STAMP);
        std::fs::write(&requirements, "sentry-sdk==2.75.0\n").unwrap();

        let stamp = stamp_of(&[&requirements]).unwrap();
        assert!(!is_current(&stamp_file, &stamp), "no stamp yet");
        write_stamp(&stamp_file, &stamp).unwrap();
        assert!(is_current(
            &stamp_file,
            &stamp_of(&[&requirements]).unwrap()
        ));

        std::fs::write(&requirements, "sentry-sdk==2.76.0\n").unwrap();
        assert!(!is_current(
            &stamp_file,
            &stamp_of(&[&requirements]).unwrap()
        ));
    }

    #[test]
    fn moving_text_between_files_changes_the_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, "xy").unwrap();
        std::fs::write(&b, "").unwrap();
        let before = stamp_of(&[&a, &b]).unwrap();
        std::fs::write(&a, "x").unwrap();
        std::fs::write(&b, "y").unwrap();
        assert_ne!(before, stamp_of(&[&a, &b]).unwrap());
    }

    #[test]
    fn a_missing_requirement_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let error = stamp_of(&[&dir.path().join("requirements.txt")]).unwrap_err();
        assert!(error.to_string().contains("requirements.txt"));
    }

    #[test]
    fn the_pinned_files_exist() {
        let sdk_dir = crate::workspace_root().join(SDK_DIR);
        for file in ["requirements.txt", "package.json", "package-lock.json"] {
            assert!(sdk_dir.join(file).is_file(), "{file} is missing");
        }
    }
}
