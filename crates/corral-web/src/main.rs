//! `corral-web`: the ingest endpoints and REST API of the cluster shape.

use clap::Parser;

corral_core::use_allocator!();

#[derive(Parser)]
#[command(
    version,
    about = "Corral web: Sentry ingest endpoints and REST API (cluster shape)"
)]
struct Args {
    /// A TOML configuration file (environment variables override it).
    #[arg(long, env = "CORRAL_CONFIG")]
    config: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = corral_core::config::Config::load(args.config.as_deref())?;
    corral_web::telemetry::init_tracing(&config);
    corral_web::run(config).await
}
