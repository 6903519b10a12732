//! `corral-operator`: reconciles TrackerInstances (see the library docs).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let settings = corral_operator::Settings::from_env()?;
    corral_operator::init_tracing(settings.json_logs);
    corral_operator::run(settings).await
}
