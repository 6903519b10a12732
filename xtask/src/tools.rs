//! Checking, before anything starts, that every tool a task needs is installed.
//!
//! Every missing tool gets its own line saying how to install it, and a missing tool is an
//! error: a test run that silently skips what it cannot run would pass on a broken machine.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Result, bail};

/// Where Debian's `postgresql-NN` packages put the server binaries.
const DEBIAN_POSTGRES_ROOT: &str = "/usr/lib/postgresql";

/// What a task is going to use.
pub struct Needs {
    /// `cargo nextest`.
    pub nextest: bool,
    /// PostgreSQL server binaries for a throwaway server.
    pub postgres: bool,
    /// `redis-server` for a throwaway server.
    pub redis: bool,
    /// python3 with venv and node with npm, for the Sentry SDK clients.
    pub sdk_clients: bool,
    /// Chromium and its WebDriver, for the browser tests of the web UI.
    pub browser: bool,
}

/// The tools found; a field is `Some` whenever the matching need was asked for.
pub struct Tools {
    /// The directory holding `initdb`, `pg_ctl` and `postgres`.
    pub postgres_bin: Option<PathBuf>,
    pub redis_server: Option<PathBuf>,
    pub python3: Option<PathBuf>,
    pub npm: Option<PathBuf>,
}

/// Finds every tool `needs` asks for, or fails listing all that are missing.
pub fn check(needs: &Needs) -> Result<Tools> {
    let mut missing = Vec::new();
    let mut tools = Tools {
        postgres_bin: None,
        redis_server: None,
        python3: None,
        npm: None,
    };

    if needs.nextest && !nextest_installed() {
        missing.push("cargo-nextest not found: cargo install cargo-nextest --locked".to_string());
    }
    if needs.postgres {
        tools.postgres_bin = find_postgres_bin();
        if tools.postgres_bin.is_none() {
            missing.push(format!(
                "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in \
                 {DEBIAN_POSTGRES_ROOT}/*/bin: apt-get install -y postgresql"
            ));
        }
    }
    if needs.redis {
        tools.redis_server = which::which("redis-server").ok();
        if tools.redis_server.is_none() {
            missing.push("redis-server not found: apt-get install -y redis-server".to_string());
        }
    }
    if needs.sdk_clients {
        match which::which("python3") {
            Err(_) => missing
                .push("python3 not found: apt-get install -y python3 python3-venv".to_string()),
            Ok(python3) if !has_venv(&python3) => missing.push(format!(
                "{} cannot create virtual environments (no venv/ensurepip module): \
                 apt-get install -y python3-venv",
                python3.display()
            )),
            Ok(python3) => tools.python3 = Some(python3),
        }
        if which::which("node").is_err() {
            missing.push("node not found: apt-get install -y nodejs npm".to_string());
        }
        tools.npm = which::which("npm").ok();
        if tools.npm.is_none() {
            missing.push("npm not found: apt-get install -y npm".to_string());
        }
    }

    if needs.browser {
        missing.extend(missing_browser_tools(|tool| which::which(tool).is_ok()));
    }

    if !missing.is_empty() {
        bail!("missing tools:\n  - {}", missing.join("\n  - "));
    }
    Ok(tools)
}

/// The browser tools (Debian's `chromium` and `chromium-driver`) that `found` does not find,
/// as lines saying how to install them.
fn missing_browser_tools(found: impl Fn(&str) -> bool) -> Vec<String> {
    ["chromium", "chromedriver"]
        .into_iter()
        .filter(|tool| !found(tool))
        .map(|tool| format!("{tool} not found: apt-get install -y chromium chromium-driver"))
        .collect()
}

/// Whether `cargo nextest` runs.
fn nextest_installed() -> bool {
    crate::cargo()
        .args(["nextest", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Whether `python3` can make a venv with pip in it (Debian splits that into python3-venv).
fn has_venv(python3: &Path) -> bool {
    Command::new(python3)
        .args(["-c", "import venv, ensurepip"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// The PostgreSQL server binary directory: `initdb` on PATH first (an explicit choice), then
/// Debian's versioned directories, newest version first.
pub fn find_postgres_bin() -> Option<PathBuf> {
    // PATH often holds symlinks (Debian's pg_wrapper, /usr/local/bin links); the real
    // directory also holds pg_isready and postgres, which pg_ctl looks for beside itself.
    let on_path = which::which("initdb")
        .ok()
        .and_then(|initdb| initdb.canonicalize().ok())
        .and_then(|initdb| initdb.parent().map(Path::to_path_buf));
    let versioned = std::fs::read_dir(DEBIAN_POSTGRES_ROOT)
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok().map(|entry| entry.path().join("bin")))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain(newest_first(versioned))
        .find(|dir| is_postgres_bin(dir))
}

/// Whether `dir` holds the server binaries we run.
fn is_postgres_bin(dir: &Path) -> bool {
    ["initdb", "pg_ctl", "postgres"]
        .iter()
        .all(|tool| dir.join(tool).is_file())
}

/// Sorts `/usr/lib/postgresql/<version>/bin` directories, newest version first.
///
/// Versions compare numerically (16 > 9.6); a name that is not a version sorts last.
fn newest_first(mut bin_dirs: Vec<PathBuf>) -> Vec<PathBuf> {
    bin_dirs.sort_by_cached_key(|dir| std::cmp::Reverse(version_of(dir)));
    bin_dirs
}

/// The numeric version in `<root>/<version>/bin`, e.g. `[9, 6]`; empty if there is none.
fn version_of(bin_dir: &Path) -> Vec<u32> {
    let name = bin_dir
        .parent()
        .and_then(Path::file_name)
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.split('.')
        .map_while(|part| {
            let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bin(version: &str) -> PathBuf {
        Path::new(DEBIAN_POSTGRES_ROOT).join(version).join("bin")
    }

    #[test]
    fn newest_version_comes_first() {
        let sorted = newest_first(vec![bin("9.6"), bin("15"), bin("17"), bin("10"), bin("16")]);
        assert_eq!(
            sorted,
            vec![bin("17"), bin("16"), bin("15"), bin("10"), bin("9.6")]
        );
    }

    #[test]
    fn versions_compare_numerically_not_as_text() {
        assert!(version_of(&bin("10")) > version_of(&bin("9.6")));
        assert!(version_of(&bin("9.6")) > version_of(&bin("9.5")));
        assert_eq!(version_of(&bin("18beta1")), vec![18]);
    }

    #[test]
    fn names_without_a_version_sort_last() {
        let sorted = newest_first(vec![bin("common"), bin("14")]);
        assert_eq!(sorted, vec![bin("14"), bin("common")]);
    }

    #[test]
    fn a_directory_without_the_server_binaries_is_not_a_postgres_bin() {
        let dir = tempfile::tempdir().unwrap();
        for tool in ["initdb", "pg_ctl"] {
            std::fs::write(dir.path().join(tool), "").unwrap();
        }
        assert!(!is_postgres_bin(dir.path()));
        std::fs::write(dir.path().join("postgres"), "").unwrap();
        assert!(is_postgres_bin(dir.path()));
    }

    #[test]
    fn a_missing_browser_names_the_packages() {
        let none = missing_browser_tools(|_| false);
        assert_eq!(none.len(), 2);
        assert!(none[0].starts_with("chromium not found"));
        assert!(none[1].starts_with("chromedriver not found"));
        assert!(
            none.iter()
                .all(|l| l.ends_with("apt-get install -y chromium chromium-driver"))
        );
        let no_driver = missing_browser_tools(|tool| tool == "chromium");
        assert_eq!(no_driver.len(), 1);
        assert!(no_driver[0].starts_with("chromedriver"));
        assert!(missing_browser_tools(|_| true).is_empty());
    }

    #[test]
    fn nothing_needed_means_nothing_missing() {
        let needs = Needs {
            nextest: false,
            postgres: false,
            redis: false,
            sdk_clients: false,
            browser: false,
        };
        let tools = check(&needs).unwrap();
        assert!(tools.postgres_bin.is_none() && tools.redis_server.is_none());
    }
}
