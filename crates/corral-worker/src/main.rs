//! `corral-worker`: the digest of the cluster shape.

use clap::Parser;
use corral_core::config::{Config, LogFormat};

corral_runtime::use_allocator!();

#[derive(Parser)]
#[command(
    version,
    about = "Corral worker: digests queued events into issues (cluster shape)"
)]
struct Args {
    /// A TOML configuration file (environment variables override it).
    #[arg(long, env = "CORRAL_CONFIG")]
    config: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = Config::load(args.config.as_deref())?;
    corral_runtime::telemetry::init_tracing(
        &config.log_level,
        config.log_format == LogFormat::Json,
    );
    corral_worker::run(config).await
}
