//! The `corral` command: `corral serve` runs the embedded shape (web, worker
//! and schedules in one process on an SQLite file); the other subcommands
//! administer either shape's database.

pub mod admin;
mod alerts;
pub mod cli;
pub mod serve;

use clap::Parser;
use corral_core::config::{Config, LogFormat};

use crate::cli::{Cli, Command};

/// Parses the command line and runs it.
pub async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut config = Config::load(cli.global.config.as_deref())?;
    // the flag (or CORRAL_DATA_DIR, which clap reads too) wins
    config.data_dir = cli.global.data_dir.clone();
    match cli.command {
        Command::Serve { bind } => {
            init_tracing(&config);
            serve::run(config, bind).await
        }
        Command::SendTestEvent {
            dsn,
            message,
            level,
        } => {
            let id = admin::send_test_event(&dsn, &message, &level).await?;
            if cli.global.json {
                println!("{}", serde_json::json!({ "id": id }));
            } else {
                println!("sent event {id}");
            }
            Ok(())
        }
        command => {
            // admin commands print results on stdout; logs only when asked
            if std::env::var_os("RUST_LOG").is_some() {
                init_tracing(&config);
            }
            admin::run(command, &cli.global, config).await
        }
    }
}

fn init_tracing(config: &Config) {
    corral_runtime::telemetry::init_tracing(
        &config.log_level,
        config.log_format == LogFormat::Json,
    );
}
