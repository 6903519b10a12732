//! Project tasks for Corral, run as `cargo xtask <task>` (the alias lives in `.cargo/config.toml`).
//!
//! - `cargo xtask test [ARGS…]` runs the whole test suite the same way on a laptop and in CI:
//!   it checks the tools, starts a throwaway PostgreSQL and Redis (unless `DATABASE_URL` /
//!   `REDIS_URL` are set), installs the real Sentry SDKs the end-to-end tests drive, builds the
//!   binaries and runs `cargo nextest run --workspace --no-fail-fast ARGS…`.
//! - `cargo xtask services [--durable]` starts the same throwaway services and keeps them
//!   running until Ctrl-C, for running single tests by hand; `--durable` gives them durable
//!   settings, as the benchmarks use.
//!
//! Whatever a task starts is stopped again on success, failure, panic, Ctrl-C and SIGTERM.

mod postgres;
mod process;
mod redis;
mod sdk;
mod services;
mod tools;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Result, bail};

use crate::services::{Durability, Services};
use crate::tools::Needs;

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  test [ARGS…]   run the whole test suite: throwaway PostgreSQL and Redis (unless DATABASE_URL /
                 REDIS_URL are set), SDK clients, `cargo build --workspace --bins`, then
                 `cargo nextest run --workspace --no-fail-fast ARGS…`
  services [--durable]
                 start a throwaway PostgreSQL and Redis, print their export lines, and keep them
                 running until Ctrl-C; without durability (fsync off, no append-only file)
                 unless --durable (PostgreSQL's defaults, Redis appendonly + everysec)";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let outcome = match args.next().as_deref() {
        Some("test") => test(args.collect()),
        Some("services") => services(args.collect()),
        Some("help" | "-h" | "--help") => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        Some(other) => {
            eprintln!("xtask: unknown task `{other}`\n\n{USAGE}");
            Ok(ExitCode::from(2))
        }
        None => {
            eprintln!("{USAGE}");
            Ok(ExitCode::from(2))
        }
    };
    services::wait_for_signal_handler();
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("xtask: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// `cargo xtask test`: the one test command of the README and of CI.
///
/// Services start before the build so that a machine that cannot run them fails in seconds,
/// not after a long compile.
fn test(nextest_args: Vec<String>) -> Result<ExitCode> {
    let root = workspace_root();
    let database_url = env_nonempty("DATABASE_URL");
    let redis_url = env_nonempty("REDIS_URL");
    let tools = tools::check(&Needs {
        nextest: true,
        postgres: database_url.is_none(),
        redis: redis_url.is_none(),
        sdk_clients: true,
        browser: true,
    })?;

    // From here on, everything started is stopped when `services` drops or a signal arrives.
    let services = Services::new(130)?;
    let database_url = match (database_url, &tools.postgres_bin) {
        (Some(url), _) => {
            eprintln!("xtask: using DATABASE_URL from the environment");
            url
        }
        (None, Some(bin)) => services.start_postgres(bin, Durability::Fast)?,
        (None, None) => bail!("no DATABASE_URL and no PostgreSQL binaries"),
    };
    let redis_url = match (redis_url, &tools.redis_server) {
        (Some(url), _) => {
            eprintln!("xtask: using REDIS_URL from the environment");
            url
        }
        (None, Some(server)) => services.start_redis(server, Durability::Fast)?,
        (None, None) => bail!("no REDIS_URL and no redis-server"),
    };
    let (Some(python3), Some(npm)) = (&tools.python3, &tools.npm) else {
        bail!("python3 and npm were not checked");
    };
    let clients = sdk::prepare(&root, python3, npm)?;

    eprintln!("xtask: building all binaries");
    let build = process::run(
        cargo()
            .current_dir(&root)
            .args(["build", "--workspace", "--bins"]),
    )?;
    if !build.success() {
        bail!("`cargo build --workspace --bins` failed ({build})");
    }

    eprintln!("xtask: running the tests");
    let mut nextest = cargo();
    nextest
        .current_dir(&root)
        .args(["nextest", "run", "--no-fail-fast"])
        // the whole workspace unless the caller named packages
        .args((!names_packages(&nextest_args)).then_some("--workspace"))
        .args(&nextest_args)
        .env("DATABASE_URL", &database_url)
        .env("REDIS_URL", &redis_url)
        .envs(clients.env());
    let status = process::run(&mut nextest)?;
    drop(services);
    Ok(process::exit_code(status))
}

/// `cargo xtask services [--durable]`: throwaway services for a developer's shell or a
/// benchmark, until Ctrl-C.
fn services(args: Vec<String>) -> Result<ExitCode> {
    let durability = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => Durability::Fast,
        ["--durable"] => Durability::Durable,
        _ => {
            eprintln!("xtask: unknown arguments to `services`: {args:?}\n\n{USAGE}");
            return Ok(ExitCode::from(2));
        }
    };
    let tools = tools::check(&Needs {
        nextest: false,
        postgres: true,
        redis: true,
        sdk_clients: false,
        browser: false,
    })?;
    let (Some(postgres_bin), Some(redis_server)) = (&tools.postgres_bin, &tools.redis_server)
    else {
        bail!("PostgreSQL and redis-server were not checked");
    };
    // Ctrl-C is the normal way out of this task, so it exits successfully.
    let services = Services::new(0)?;
    let database_url = services.start_postgres(postgres_bin, durability)?;
    let redis_url = services.start_redis(redis_server, durability)?;
    println!("export DATABASE_URL={database_url}");
    println!("export REDIS_URL={redis_url}");
    eprintln!("xtask: services are running; press Ctrl-C to stop them");
    loop {
        // The signal handler stops the services and exits the process.
        std::thread::park();
    }
}

/// Whether nextest arguments already choose packages (`-p x`, `--package x`).
fn names_packages(args: &[String]) -> bool {
    args.iter().any(|a| {
        a == "-p"
            || a == "--package"
            || a.starts_with("--package=")
            || (a.starts_with("-p") && a.len() > 2)
    })
}

/// The workspace root: the parent of this crate's directory.
fn workspace_root() -> PathBuf {
    let xtask_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask_dir
        .parent()
        .map_or_else(|| xtask_dir.to_path_buf(), Path::to_path_buf)
}

/// The cargo that runs us (`cargo run` sets `CARGO`), so a toolchain override applies to the
/// commands we start as well.
fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// An environment variable's value, with unset and empty treated alike.
fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// Reads a file for an error message, keeping only its last lines.
fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_packages_narrow_the_run() {
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(names_packages(&args(&["-p", "corral"])));
        assert!(names_packages(&args(&["--package=corral"])));
        assert!(names_packages(&args(&["-pcorral"])));
        assert!(!names_packages(&args(&["-E", "test(sdk)"])));
        assert!(!names_packages(&args(&[])));
    }

    #[test]
    fn workspace_root_holds_the_workspace_manifest() {
        let manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
        assert!(manifest.contains("[workspace]"));
    }

    #[test]
    fn log_tail_keeps_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, "one\ntwo\nthree\n").unwrap();
        assert_eq!(log_tail(&path, 2), "two\nthree");
        assert_eq!(log_tail(&path, 10), "one\ntwo\nthree");
        assert_eq!(log_tail(&dir.path().join("absent"), 3), "");
    }
}
