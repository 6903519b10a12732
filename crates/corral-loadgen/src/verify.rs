//! Counting stored events through the REST API: the sum of the project's
//! issue counts (each event counts once, duplicates never).

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
    fn follows_only_a_next_link_with_results() {
        let link = "<http://h/a>; rel=\"previous\"; results=\"false\"; cursor=\"0:0:1\", <http://h/a?cursor=5:3:0>; rel=\"next\"; results=\"true\"; cursor=\"5:3:0\"";
        assert_eq!(next_link(link).as_deref(), Some("http://h/a?cursor=5:3:0"));
        let last = "<http://h/a>; rel=\"previous\"; results=\"false\"; cursor=\"0:0:1\", <http://h/a>; rel=\"next\"; results=\"false\"; cursor=\"0:0:0\"";
        assert_eq!(next_link(last), None);
    }
}
