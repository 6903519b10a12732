//! `corral`: the embedded server and the admin CLI.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    corral::main().await
}
