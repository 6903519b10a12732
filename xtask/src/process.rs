//! Running the commands of a task so that a signal can reach the one in the foreground.
//!
//! On Ctrl-C the terminal signals the whole process group, but a SIGTERM sent to xtask alone
//! (a CI runner giving up, `kill <pid>`) would leave `cargo nextest` running against services
//! that are about to disappear; [`terminate_foreground`] forwards it.

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitCode, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// The pid of the command a task is waiting for, or 0.
static FOREGROUND: AtomicU32 = AtomicU32::new(0);

/// How long the signal handler lets the foreground command wind down.
const GRACE: Duration = Duration::from_secs(15);

/// Runs `cmd` with the terminal's stdin/stdout/stderr and waits for it.
pub fn run(cmd: &mut Command) -> Result<ExitStatus> {
    let mut child = cmd
        .spawn()
        .with_context(|| format!("could not start `{}`", describe(cmd)))?;
    FOREGROUND.store(child.id(), Ordering::SeqCst);
    let status = child.wait();
    FOREGROUND.store(0, Ordering::SeqCst);
    status.with_context(|| format!("waiting for `{}`", describe(cmd)))
}

/// Runs `cmd` and fails unless it exits successfully.
pub fn run_checked(cmd: &mut Command) -> Result<()> {
    let status = run(cmd)?;
    if !status.success() {
        bail!("`{}` failed ({status})", describe(cmd));
    }
    Ok(())
}

/// Runs `cmd` with its output captured, and fails with that output unless it succeeds.
pub fn run_captured(cmd: &mut Command) -> Result<Output> {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("could not start `{}`", describe(cmd)))?;
    FOREGROUND.store(child.id(), Ordering::SeqCst);
    let output = child.wait_with_output();
    FOREGROUND.store(0, Ordering::SeqCst);
    let output = output.with_context(|| format!("waiting for `{}`", describe(cmd)))?;
    if !output.status.success() {
        bail!(
            "`{}` failed ({}):\n{}{}",
            describe(cmd),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(output)
}

/// Asks the foreground command (if any) to stop, and waits a little for it to go.
///
/// Called from the signal handler, before the services are stopped.
pub fn terminate_foreground() {
    let pid = FOREGROUND.load(Ordering::SeqCst);
    if pid == 0 {
        return;
    }
    // `kill(1)` rather than libc: this crate forbids `unsafe`.
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .stderr(Stdio::null())
        .status();
    let deadline = Instant::now() + GRACE;
    while FOREGROUND.load(Ordering::SeqCst) == pid && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The exit code to hand on for a child's status: its own code, or 128 + signal like a shell.
pub fn exit_code(status: ExitStatus) -> ExitCode {
    let code = status
        .code()
        .or_else(|| status.signal().map(|signal| 128 + signal))
        .unwrap_or(1);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// `program arg…` for messages.
pub fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|part| part.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_joins_program_and_arguments() {
        let mut cmd = Command::new("pg_ctl");
        cmd.args(["-D", "/tmp/data", "start"]);
        assert_eq!(describe(&cmd), "pg_ctl -D /tmp/data start");
    }

    #[test]
    fn exit_code_is_the_childs_own() {
        assert_eq!(exit_code(ExitStatus::from_raw(0)), ExitCode::SUCCESS);
        // A raw wait status keeps the exit code in the second byte.
        assert_eq!(
            exit_code(ExitStatus::from_raw(100 << 8)),
            ExitCode::from(100)
        );
        // Killed by SIGTERM (15): like a shell, 128 + 15.
        assert_eq!(exit_code(ExitStatus::from_raw(15)), ExitCode::from(143));
    }

    #[test]
    fn run_captured_reports_the_output_of_a_failure() {
        let error = run_captured(Command::new("sh").args(["-c", "echo broken >&2; exit 3"]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("broken"), "{error}");
        assert!(error.contains("exit status: 3"), "{error}");
    }

    #[test]
    fn run_hands_back_the_status() {
        let status = run(Command::new("sh").args(["-c", "exit 4"])).unwrap();
        assert_eq!(status.code(), Some(4));
    }
}
