//! `corral`: the embedded server and the admin CLI.

use std::process::ExitCode;

corral_runtime::use_allocator!();

#[tokio::main]
async fn main() -> ExitCode {
    match corral::main().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // the reason and its causes on one line; no backtrace
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
