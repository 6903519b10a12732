//! Counting stored events, for the end-to-end figure: through Corral's REST
//! API (the sum of the project's issue counts: each event counts once,
//! duplicates never), or with a shell command that prints the number (for
//! servers without that API, e.g. a peer counted in its own database).

use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

/// Where to read the project's issues.
#[derive(Clone, Debug)]
pub struct ApiTarget {
    pub base_url: String,
    pub token: String,
    pub org: String,
    pub project: String,
}

fn next_link(link: &str) -> Option<String> {
    link.split(", <").find_map(|part| {
        let part = part.trim_start_matches('<');
        let (url, params) = part.split_once('>')?;
        (params.contains("rel=\"next\"") && params.contains("results=\"true\""))
            .then(|| url.to_string())
    })
}

/// Where the number of stored events comes from.
#[derive(Clone, Debug)]
pub enum Counter {
    /// Corral's REST API.
    Api(ApiTarget),
    /// `sh -c COMMAND`, which prints one non-negative integer.
    Command(String),
}

impl Counter {
    /// The number of events stored now.
    pub async fn stored(&self, client: &reqwest::Client) -> anyhow::Result<u64> {
        match self {
            Counter::Api(api) => stored_events(client, api).await,
            Counter::Command(command) => command_count(command).await,
        }
    }
}

/// How long a counting command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `sh -c command` and reads the integer it prints.
pub async fn command_count(command: &str) -> anyhow::Result<u64> {
    let output = tokio::time::timeout(
        COMMAND_TIMEOUT,
        tokio::process::Command::new("sh")
            .arg("-c")
            .arg(command)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .with_context(|| format!("--count-cmd took longer than {COMMAND_TIMEOUT:?}: {command}"))?
    .with_context(|| format!("running --count-cmd: {command}"))?;
    if !output.status.success() {
        bail!(
            "--count-cmd failed ({}): {command}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    parse_count(&String::from_utf8_lossy(&output.stdout))
        .with_context(|| format!("reading the output of --count-cmd: {command}"))
}

/// The one integer a counting command printed (surrounding blanks allowed).
fn parse_count(text: &str) -> anyhow::Result<u64> {
    let trimmed = text.trim();
    trimmed
        .parse::<u64>()
        .map_err(|_| anyhow::anyhow!("expected one non-negative integer, got {trimmed:?}"))
}

/// The number of events stored in the project's issues, all statuses.
pub async fn stored_events(client: &reqwest::Client, api: &ApiTarget) -> anyhow::Result<u64> {
    let mut url = Some(format!(
        "{}/api/0/projects/{}/{}/issues/?query=&limit=100",
        api.base_url.trim_end_matches('/'),
        api.org,
        api.project
    ));
    let mut total = 0u64;
    let mut pages = 0;
    while let Some(u) = url.take() {
        pages += 1;
        if pages > 10_000 {
            bail!("too many pages of issues");
        }
        let response = client
            .get(&u)
            .bearer_auth(&api.token)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .with_context(|| format!("reading {u}"))?;
        if !response.status().is_success() {
            bail!("{u} answered {}", response.status());
        }
        url = response
            .headers()
            .get("link")
            .and_then(|v| v.to_str().ok())
            .and_then(next_link);
        let issues: Vec<Value> = response.json().await?;
        for issue in issues {
            total += issue["count"]
                .as_str()
                .and_then(|c| c.parse::<u64>().ok())
                .or_else(|| issue["count"].as_u64())
                .unwrap_or(0);
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_is_one_integer() {
        assert_eq!(parse_count(" 42\n").unwrap(), 42);
        assert!(parse_count("").is_err());
        assert!(parse_count("4 2").is_err());
        assert!(parse_count("-1").is_err());
    }

    #[tokio::test]
    async fn a_command_counts() {
        assert_eq!(command_count("echo 7").await.unwrap(), 7);
        let err = command_count("echo oops; exit 3").await.unwrap_err();
        assert!(err.to_string().contains("failed"), "{err}");
        let err = command_count("echo many words").await.unwrap_err();
        assert!(format!("{err:#}").contains("integer"), "{err:#}");
    }

    #[test]
    fn follows_only_a_next_link_with_results() {
        let link = "<http://h/a>; rel=\"previous\"; results=\"false\"; cursor=\"0:0:1\", <http://h/a?cursor=5:3:0>; rel=\"next\"; results=\"true\"; cursor=\"5:3:0\"";
        assert_eq!(next_link(link).as_deref(), Some("http://h/a?cursor=5:3:0"));
        let last = "<http://h/a>; rel=\"previous\"; results=\"false\"; cursor=\"0:0:1\", <http://h/a>; rel=\"next\"; results=\"false\"; cursor=\"0:0:0\"";
        assert_eq!(next_link(last), None);
    }
}
