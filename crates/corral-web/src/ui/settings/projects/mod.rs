//! `/settings/{org}/projects/`: projects with their platform, retention,
//! teams and DSN keys (copyable DSNs, SDK set-up snippets). Members read
//! the projects they can see; admins and owners change them.
//!
//! - `list`: the organization's projects, and new ones;
//! - `project`: one project's page, its settings and its deletion;
//! - `teams`: the teams that have the project;
//! - `keys`: its DSN keys, their labels, rate limits and state.

mod keys;
mod list;
mod project;
mod teams;

use axum::routing::{get, post};
use corral_core::model::{Organization, Project};

use super::{organization, require};
use crate::access::Action;
use crate::session::SignedIn;
use crate::state::AppState;
use crate::ui::{UiError, UiRoutes};

/// Offered in the platform field (any short lowercase name is accepted).
const PLATFORMS: &[&str] = &[
    "python",
    "javascript",
    "node",
    "rust",
    "go",
    "java",
    "ruby",
    "php",
    "csharp",
    "elixir",
    "cocoa",
    "native",
    "other",
];
/// The longest retention one may set, in days (ten years).
const MAX_RETENTION_DAYS: i32 = 3650;
const MAX_RATE: i64 = 1_000_000_000;

pub fn routes() -> UiRoutes {
    UiRoutes::new()
        .route(
            "/settings/{org}/projects/",
            get(list::page).post(list::create),
        )
        .route(
            "/settings/{org}/projects/{project}/",
            get(project::page).post(project::update),
        )
        .route(
            "/settings/{org}/projects/{project}/delete",
            post(project::delete),
        )
        .route("/settings/{org}/projects/{project}/teams", post(teams::add))
        .route(
            "/settings/{org}/projects/{project}/teams/{team}/remove",
            post(teams::remove),
        )
        .route(
            "/settings/{org}/projects/{project}/keys",
            post(keys::create),
        )
        .route(
            "/settings/{org}/projects/{project}/keys/{key}/",
            post(keys::update),
        )
        .route(
            "/settings/{org}/projects/{project}/keys/{key}/active",
            post(keys::set_active),
        )
        .route(
            "/settings/{org}/projects/{project}/keys/{key}/delete",
            post(keys::delete),
        )
}

fn list_path(org: &Organization) -> String {
    format!("/settings/{}/projects/", org.slug)
}

fn project_path(project: &Project) -> String {
    format!("/settings/{}/projects/{}/", project.org_slug, project.slug)
}

/// An optional name of a platform: short, lowercase letters, digits, `-._`.
fn check_platform(platform: &str) -> Result<Option<String>, String> {
    let platform = platform.trim();
    if platform.is_empty() {
        return Ok(None);
    }
    let ok = platform.len() <= 64
        && platform.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.' || b == b'_'
        });
    if ok {
        Ok(Some(platform.to_string()))
    } else {
        Err(format!(
            "{platform:?} is not a platform name (lowercase letters, digits, '-', '.', '_')."
        ))
    }
}

/// Empty means the server's default.
fn check_retention(days: &str) -> Result<Option<i32>, String> {
    let days = days.trim();
    if days.is_empty() {
        return Ok(None);
    }
    match days.parse::<i32>() {
        Ok(d) if (1..=MAX_RETENTION_DAYS).contains(&d) => Ok(Some(d)),
        _ => Err(format!(
            "Retention must be a number of days from 1 to {MAX_RETENTION_DAYS}, or empty for the server's default."
        )),
    }
}

/// Empty means unlimited.
fn check_rate(what: &str, value: &str) -> Result<Option<i64>, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    match value.parse::<i64>() {
        Ok(n) if (1..=MAX_RATE).contains(&n) => Ok(Some(n)),
        _ => Err(format!(
            "The limit per {what} must be a whole number from 1 to {MAX_RATE}, or empty for no limit."
        )),
    }
}

/// The organization and a project the user can see (404 otherwise).
async fn visible(
    state: &AppState,
    signed: &SignedIn,
    org: &str,
    project: &str,
) -> Result<(Organization, Project), UiError> {
    let org = organization(state, signed, org).await?;
    let project = signed
        .access
        .project(&state.store, &org.slug, project)
        .await?;
    Ok((org, project))
}

/// The organization and project of a change, once the project's visibility
/// and the user's role (admin) are checked.
async fn for_change(
    state: &AppState,
    signed: &SignedIn,
    org: &str,
    project: &str,
) -> Result<(Organization, Project), UiError> {
    let (org, project) = visible(state, signed, org, project).await?;
    require(signed, Action::ManageProjects, org.id)?;
    Ok((org, project))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_checked() {
        assert_eq!(check_platform(" python "), Ok(Some("python".into())));
        assert_eq!(check_platform(""), Ok(None));
        assert!(check_platform("Py thon").is_err());
        assert_eq!(check_retention(""), Ok(None));
        assert_eq!(check_retention("90"), Ok(Some(90)));
        for bad in ["0", "-1", "3651", "ten"] {
            assert!(check_retention(bad).is_err(), "{bad}");
        }
        assert_eq!(check_rate("minute", " "), Ok(None));
        assert_eq!(check_rate("minute", "60"), Ok(Some(60)));
        for bad in ["0", "-5", "1.5", "x"] {
            assert!(check_rate("minute", bad).is_err(), "{bad}");
        }
    }
}
