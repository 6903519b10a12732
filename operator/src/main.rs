//! `corral-operator`: reconciles TrackerInstances (see the library docs).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = corral_operator::Settings::from_env()?;
    corral_runtime::telemetry::init_tracing("info", settings.json_logs);
    corral_operator::run(settings).await
}
