//! Real Sentry SDKs, installed by `cargo xtask test` from the pins in
//! tests/sdk: the Python `sentry-sdk`, newest major (and `sentry-cli`) in one
//! virtualenv and the 2.x major in another, and `@sentry/node`,
//! `@sentry/browser` and esbuild in tests/sdk/node_modules.

use std::path::PathBuf;
use std::process::{Command, Output};

fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with `cargo xtask test`, which installs the SDKs")
    })
}

/// The virtualenv's Python, with the newest `sentry_sdk` importable.
pub fn python() -> PathBuf {
    PathBuf::from(required_env("CORRAL_TEST_PYTHON"))
}

/// A major release line of the Python `sentry-sdk` the tests run against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PythonSdk {
    /// sentry-sdk 3.x, what `pip install sentry-sdk` gives today
    /// (tests/sdk/requirements.txt).
    V3,
    /// sentry-sdk 2.x, still in many applications
    /// (tests/sdk/requirements-sdk2.txt).
    V2,
}

impl PythonSdk {
    /// The Python of the virtualenv that has this major installed.
    pub fn python(self) -> PathBuf {
        match self {
            PythonSdk::V3 => python(),
            PythonSdk::V2 => PathBuf::from(required_env("CORRAL_TEST_PYTHON_SDK2")),
        }
    }

    /// The major version, as `sentry_sdk.VERSION` starts.
    pub fn major(self) -> u32 {
        match self {
            PythonSdk::V3 => 3,
            PythonSdk::V2 => 2,
        }
    }
}

/// The `sentry-cli` binary.
pub fn sentry_cli() -> PathBuf {
    PathBuf::from(required_env("CORRAL_TEST_SENTRY_CLI"))
}

/// The `node_modules` folder holding `@sentry/node` and `@sentry/browser`.
pub fn node_modules() -> PathBuf {
    PathBuf::from(required_env("CORRAL_TEST_NODE_MODULES"))
}

/// The installed `@sentry/browser`'s version (what tests/sdk/package.json pins).
pub fn browser_sdk_version() -> String {
    let manifest = node_modules().join("@sentry/browser/package.json");
    let text = std::fs::read_to_string(&manifest)
        .unwrap_or_else(|e| panic!("reading {}: {e}", manifest.display()));
    let manifest: serde_json::Value = serde_json::from_str(&text).expect("a package.json");
    manifest["version"]
        .as_str()
        .expect("a version in @sentry/browser's package.json")
        .to_string()
}

/// `@sentry/browser` as one classic script that defines the global `Sentry`,
/// like Sentry's CDN bundle (the npm package ships only modules): esbuild
/// bundles every export of the package, unminified, so stack traces in a
/// failure stay readable.
pub fn browser_bundle() -> String {
    use std::io::Write;

    let node_modules = node_modules();
    // esbuild resolves the packages of its standard input from the working directory
    let project = node_modules
        .parent()
        .unwrap_or_else(|| panic!("{} has no parent", node_modules.display()));
    let mut esbuild = Command::new(node_modules.join(".bin/esbuild"))
        .args([
            "--bundle",
            "--format=iife",
            "--global-name=Sentry",
            "--target=chrome120",
            "--log-level=warning",
        ])
        .current_dir(project)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("running esbuild from node_modules/.bin");
    esbuild
        .stdin
        .take()
        .expect("esbuild's stdin")
        .write_all(b"export * from \"@sentry/browser\";\n")
        .expect("writing to esbuild");
    let bundle = checked("esbuild", esbuild.wait_with_output().expect("esbuild"));
    assert!(
        bundle.contains("sentry.javascript.browser"),
        "the bundle holds the browser SDK"
    );
    bundle
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
