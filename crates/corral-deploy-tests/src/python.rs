//! Running the virtualenv's Python: the bridge script and the tools' own command lines.

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde::de::DeserializeOwned;
use serde_json::Value;

/// The virtualenv's Python with the deployment tools installed (`CORRAL_TEST_PYTHON`).
///
/// Panics when it is not set: these checks must run, never be skipped.
pub fn python() -> PathBuf {
    match std::env::var_os("CORRAL_TEST_PYTHON") {
        Some(python) if !python.is_empty() => PathBuf::from(python),
        _ => panic!(
            "CORRAL_TEST_PYTHON is not set: run the tests with `cargo xtask test`, which installs \
             helm-python-sdk, kubernetes-validate, jsonschema and dockerfile-parse \
             (tests/sdk/requirements.txt) into target/sdk-venv and points CORRAL_TEST_PYTHON at it"
        ),
    }
}

fn bridge_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("py/deploy_check.py")
}

/// Runs `python ARGS…` with `stdin` as its standard input.
pub(crate) fn run<I, S>(args: I, stdin: &[u8]) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let python = python();
    let mut child = Command::new(&python)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {}: {e}", python.display()));
    let mut input = child.stdin.take().expect("piped stdin");
    input.write_all(stdin).expect("writing to python's stdin");
    drop(input);
    child.wait_with_output().expect("waiting for python")
}

/// Runs one subcommand of `py/deploy_check.py` with `input` as JSON on stdin and decodes the
/// JSON it prints. A failing tool is a failing test: it panics with the tool's stderr.
pub(crate) fn bridge<T: DeserializeOwned>(args: &[&str], input: &Value) -> T {
    let script = bridge_script();
    let argv = std::iter::once(script.as_os_str()).chain(args.iter().map(OsStr::new));
    let output = run(argv, input.to_string().as_bytes());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "deploy_check.py {args:?} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("deploy_check.py {args:?} printed no JSON ({e}):\n{stdout}"))
}

/// A path as a command-line argument (the repository's paths are UTF-8).
pub(crate) fn arg(path: &Path) -> &str {
    path.to_str()
        .unwrap_or_else(|| panic!("{} is not UTF-8", path.display()))
}
