//! Real Sentry SDKs, installed by `cargo xtask test`: the Python `sentry-sdk`
//! (and `sentry-cli`) in a virtualenv, and `@sentry/node` in tests/sdk.

use std::path::PathBuf;
use std::process::{Command, Output};

fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with `cargo xtask test`, which installs the SDKs")
    })
}

/// The virtualenv's Python, with `sentry_sdk` importable.
pub fn python() -> PathBuf {
    PathBuf::from(required_env("CORRAL_TEST_PYTHON"))
}

/// The `sentry-cli` binary.
pub fn sentry_cli() -> PathBuf {
    PathBuf::from(required_env("CORRAL_TEST_SENTRY_CLI"))
}

/// The `node_modules` folder holding `@sentry/node`.
pub fn node_modules() -> PathBuf {
    PathBuf::from(required_env("CORRAL_TEST_NODE_MODULES"))
}

fn checked(what: &str, out: Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs a Python script with `SENTRY_DSN` set; returns its stdout.
pub fn run_python(script: &str, dsn: &str, envs: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(python());
    cmd.arg("-c").arg(script).env("SENTRY_DSN", dsn);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    checked("python", cmd.output().expect("running python"))
}

/// Runs a Node.js script (CommonJS) with `SENTRY_DSN` set; returns its stdout.
pub fn run_node(script: &str, dsn: &str, envs: &[(&str, &str)]) -> String {
    let mut cmd = Command::new("node");
    cmd.arg("-e")
        .arg(script)
        .env("SENTRY_DSN", dsn)
        .env("NODE_PATH", node_modules());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    checked("node", cmd.output().expect("running node"))
}

/// Runs `sentry-cli` with the DSN in the environment; returns its stdout.
pub fn run_sentry_cli(args: &[&str], dsn: &str) -> String {
    let out = Command::new(sentry_cli())
        .args(args)
        .env("SENTRY_DSN", dsn)
        .env("SENTRY_LOG_LEVEL", "warn")
        .output()
        .expect("running sentry-cli");
    checked("sentry-cli", out)
}
