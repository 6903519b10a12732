//! The real Sentry clients the end-to-end tests drive: the newest sentry-sdk and sentry-cli in a
//! Python venv at `target/sdk-venv`, the previous sentry-sdk major (still widely installed) in a
//! second venv at `target/sdk2-venv`, and @sentry/node and @sentry/browser in
//! `tests/sdk/node_modules`.
//!
//! All are installed from the pinned files in `tests/sdk/`, and only when those files changed
//! since the last install (a stamp file beside the install holds their contents).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::process::run_checked;

/// Where the pinned requirement files live, relative to the workspace root.
const SDK_DIR: &str = "tests/sdk";
/// The Python venv with the newest sentry-sdk and the other Python tools the tests use,
/// relative to the workspace root (git-ignored with `target/`).
const VENV_DIR: &str = "target/sdk-venv";
/// Its requirements, in [`SDK_DIR`].
const REQUIREMENTS: &str = "requirements.txt";
/// The Python venv with sentry-sdk 2.x, the previous major, relative to the workspace root.
const VENV_SDK2_DIR: &str = "target/sdk2-venv";
/// Its requirements, in [`SDK_DIR`].
const REQUIREMENTS_SDK2: &str = "requirements-sdk2.txt";
/// The stamp file's name, inside the install it describes.
const STAMP: &str = ".corral-xtask-stamp";

/// Paths to the installed clients, handed to the tests as environment variables.
pub struct SdkClients {
    python: PathBuf,
    python_sdk2: PathBuf,
    sentry_cli: PathBuf,
    node_modules: PathBuf,
}

impl SdkClients {
    /// `CORRAL_TEST_PYTHON` (newest sentry-sdk), `CORRAL_TEST_PYTHON_SDK2` (sentry-sdk 2.x),
    /// `CORRAL_TEST_SENTRY_CLI` and `CORRAL_TEST_NODE_MODULES`.
    pub fn env(&self) -> [(&'static str, &Path); 4] {
        [
            ("CORRAL_TEST_PYTHON", &self.python),
            ("CORRAL_TEST_PYTHON_SDK2", &self.python_sdk2),
            ("CORRAL_TEST_SENTRY_CLI", &self.sentry_cli),
            ("CORRAL_TEST_NODE_MODULES", &self.node_modules),
        ]
    }
}

/// Installs what is missing or outdated and returns where the clients are.
pub fn prepare(root: &Path, python3: &Path, npm: &Path) -> Result<SdkClients> {
    let sdk_dir = root.join(SDK_DIR);
    let venv = prepare_venv(
        &root.join(VENV_DIR),
        &sdk_dir.join(REQUIREMENTS),
        &["sentry-cli"],
        python3,
    )?;
    let venv_sdk2 = prepare_venv(
        &root.join(VENV_SDK2_DIR),
        &sdk_dir.join(REQUIREMENTS_SDK2),
        &[],
        python3,
    )?;
    let node_modules = prepare_node(&sdk_dir, npm)?;
    Ok(SdkClients {
        python: venv.join("bin/python"),
        python_sdk2: venv_sdk2.join("bin/python"),
        sentry_cli: venv.join("bin/sentry-cli"),
        node_modules,
    })
}

/// The venv at `venv` with `requirements` installed, holding `bin/python` and every program of
/// `programs` in `bin/`; returns `venv`.
fn prepare_venv(
    venv: &Path,
    requirements: &Path,
    programs: &[&str],
    python3: &Path,
) -> Result<PathBuf> {
    let python = venv.join("bin/python");
    let wanted = stamp_of(&[requirements])?;
    let installed = std::iter::once("python")
        .chain(programs.iter().copied())
        .all(|program| venv.join("bin").join(program).is_file());
    if is_current(&venv.join(STAMP), &wanted) && installed {
        return Ok(venv.to_path_buf());
    }

    eprintln!(
        "xtask: installing {} into {}",
        requirements.display(),
        venv.display()
    );
    // A fresh venv, so that packages dropped from the requirements do not linger.
    if venv.exists() {
        std::fs::remove_dir_all(venv)
            .with_context(|| format!("removing the old venv {}", venv.display()))?;
    }
    run_checked(Command::new(python3).args(["-m", "venv"]).arg(venv))?;
    run_checked(
        Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--no-input"])
            .args(["--disable-pip-version-check", "--requirement"])
            .arg(requirements),
    )?;
    write_stamp(&venv.join(STAMP), &wanted)?;
    Ok(venv.to_path_buf())
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
        "xtask: installing the JavaScript SDKs into {}",
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
        for file in [
            REQUIREMENTS,
            REQUIREMENTS_SDK2,
            "package.json",
            "package-lock.json",
        ] {
            assert!(sdk_dir.join(file).is_file(), "{file} is missing");
        }
    }

    /// The version `name==version` pins in a requirements file.
    fn pinned<'a>(requirements: &'a str, name: &str) -> Option<&'a str> {
        requirements
            .lines()
            .filter_map(|line| line.split_once("=="))
            .find(|(package, _)| package.trim() == name)
            .map(|(_, version)| version.trim())
    }

    fn major(version: &str) -> u32 {
        version
            .split('.')
            .next()
            .and_then(|major| major.parse().ok())
            .unwrap_or_else(|| panic!("no major version in {version:?}"))
    }

    #[test]
    fn the_two_venvs_pin_the_newest_and_the_previous_sentry_sdk_major() {
        let sdk_dir = crate::workspace_root().join(SDK_DIR);
        let read = |file| std::fs::read_to_string(sdk_dir.join(file)).unwrap();
        let (newest, previous) = (read(REQUIREMENTS), read(REQUIREMENTS_SDK2));
        let newest = pinned(&newest, "sentry-sdk").expect("sentry-sdk pinned with ==");
        let previous = pinned(&previous, "sentry-sdk").expect("sentry-sdk pinned with ==");
        assert_eq!(
            major(previous),
            2,
            "{REQUIREMENTS_SDK2} pins sentry-sdk 2.x"
        );
        assert_eq!(
            major(newest),
            major(previous) + 1,
            "{REQUIREMENTS} pins the major after {REQUIREMENTS_SDK2}'s"
        );
    }

    /// The version `package.json` gives a dependency (`"name": "version"` on one line).
    fn npm_pinned<'a>(package_json: &'a str, name: &str) -> Option<&'a str> {
        let key = format!("\"{name}\":");
        package_json
            .lines()
            .find_map(|line| line.trim().strip_prefix(&key))
            .map(|version| version.trim().trim_end_matches(',').trim_matches('"'))
    }

    #[test]
    fn the_readme_names_the_pinned_versions() {
        let root = crate::workspace_root();
        let read = |file: &str| std::fs::read_to_string(root.join(SDK_DIR).join(file)).unwrap();
        let (newest, previous, node) = (
            read(REQUIREMENTS),
            read(REQUIREMENTS_SDK2),
            read("package.json"),
        );
        let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
        for (client, version) in [
            ("Python `sentry-sdk`", pinned(&newest, "sentry-sdk")),
            ("Python `sentry-sdk`", pinned(&previous, "sentry-sdk")),
            ("`sentry-cli`", pinned(&newest, "sentry-cli")),
            ("`@sentry/node`", npm_pinned(&node, "@sentry/node")),
            ("`@sentry/browser`", npm_pinned(&node, "@sentry/browser")),
        ] {
            let version = version.unwrap_or_else(|| panic!("{client} is not pinned"));
            let row = format!("| {client} | {version} |");
            assert!(
                readme.lines().any(|line| line.starts_with(&row)),
                "README.md's tested clients lack the row {row:?}"
            );
        }
    }

    #[test]
    fn pinned_reads_exact_pins_only() {
        let text = "# sentry-sdk==0.1\nsentry-sdk==3.0.1\nsentry-cli == 3.8.2\nurllib3>=2\n";
        assert_eq!(pinned(text, "sentry-sdk"), Some("3.0.1"));
        assert_eq!(pinned(text, "sentry-cli"), Some("3.8.2"));
        assert_eq!(pinned(text, "urllib3"), None);
        assert_eq!(major("3.0.1"), 3);
        let package_json = "{\n  \"dependencies\": {\n    \"@sentry/browser\": \"11.19.0\",\n    \"@sentry/node\": \"11.12.0\"\n  }\n}\n";
        assert_eq!(npm_pinned(package_json, "@sentry/browser"), Some("11.19.0"));
        assert_eq!(npm_pinned(package_json, "@sentry/node"), Some("11.12.0"));
        assert_eq!(npm_pinned(package_json, "esbuild"), None);
    }
}
