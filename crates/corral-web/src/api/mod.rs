//! The REST API under `/api/0/`, in Sentry's paths and shapes, for scripts,
//! `sentry-cli` and tests.
//!
//! Bearer tokens carry Sentry-style scopes; a token acts for its user, and
//! [`Access`](crate::access::Access) decides what that user sees (404
//! otherwise) and may change (403). Every list pages with cursors in
//! Sentry's `Link` header. The routes are registered together with their
//! OpenAPI operations (utoipa-axum), so the document at
//! [`OPENAPI_PATH`] always describes exactly the routes served.

mod activity;
mod alerts;
mod auth;
mod comments;
mod error;
mod events;
mod extract;
mod index;
mod issues;
mod members;
mod notifications;
mod openapi;
mod orgs;
mod paging;
mod params;
mod projects;
mod shapes;
mod tags;
mod teams;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use self::auth::{ApiAuth, TOKEN_PREFIX, hash_token, new_token_secret};
pub use self::error::ApiError;
pub use self::openapi::OPENAPI_PATH;
use self::paging::ListUrl;
use crate::state::AppState;

/// Every API route with its OpenAPI operation: the one list of the API.
fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(index::index))
        // organizations
        .routes(routes!(orgs::list_organizations))
        .routes(routes!(orgs::get_organization, orgs::update_organization))
        .routes(routes!(orgs::list_org_projects))
        // projects and keys
        .routes(routes!(orgs::list_projects))
        .routes(routes!(
            projects::get_project,
            projects::update_project,
            projects::delete_project
        ))
        .routes(routes!(projects::list_keys, projects::create_key))
        .routes(routes!(projects::update_key, projects::delete_key))
        .routes(routes!(
            projects::add_project_team,
            projects::remove_project_team
        ))
        // teams
        .routes(routes!(teams::list_teams, teams::create_team))
        .routes(routes!(teams::get_team, teams::delete_team))
        .routes(routes!(
            projects::list_team_projects,
            projects::create_team_project
        ))
        .routes(routes!(teams::add_team_member, teams::remove_team_member))
        // members
        .routes(routes!(members::list_members, members::invite_member))
        .routes(routes!(
            members::get_member,
            members::update_member,
            members::remove_member
        ))
        // issues
        .routes(routes!(
            issues::list_org_issues,
            issues::bulk_update_org_issues,
            issues::bulk_delete_org_issues
        ))
        .routes(routes!(
            issues::list_project_issues,
            issues::bulk_update_project_issues,
            issues::bulk_delete_project_issues
        ))
        .routes(routes!(
            issues::get_issue,
            issues::update_issue,
            issues::delete_issue
        ))
        .routes(routes!(comments::list_comments, comments::add_comment))
        .routes(routes!(activity::list_activities))
        .routes(routes!(
            notifications::get_subscription,
            notifications::set_subscription
        ))
        // events and tags
        .routes(routes!(events::list_issue_events))
        .routes(routes!(events::latest_event))
        .routes(routes!(events::get_issue_event))
        .routes(routes!(events::get_project_event))
        .routes(routes!(tags::list_issue_tags))
        .routes(routes!(tags::list_tag_values))
        // alerts
        .routes(routes!(
            alerts::channels::list_channels,
            alerts::channels::create_channel
        ))
        .routes(routes!(
            alerts::channels::get_channel,
            alerts::channels::update_channel,
            alerts::channels::delete_channel
        ))
        .routes(routes!(alerts::channels::test_channel))
        .routes(routes!(
            alerts::rules::list_rules,
            alerts::rules::create_rule
        ))
        .routes(routes!(
            alerts::rules::get_rule,
            alerts::rules::update_rule,
            alerts::rules::delete_rule
        ))
        .routes(routes!(alerts::rules::test_rule))
        .routes(routes!(alerts::rules::get_mute, alerts::rules::set_mute))
        .routes(routes!(alerts::deliveries::list_rule_deliveries))
        .routes(routes!(alerts::deliveries::list_org_deliveries))
        // people's mail
        .routes(routes!(
            notifications::get_settings,
            notifications::update_settings
        ))
}

/// The API's routes and its OpenAPI document at [`OPENAPI_PATH`].
pub fn routes() -> Router<AppState> {
    let (router, doc) = api_router().split_for_parts();
    let doc = openapi::finish(doc);
    router.merge(openapi::serve(&doc))
}

/// The OpenAPI document [`routes`] serves.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    openapi::finish(api_router().into_openapi())
}

/// The public base URL: configured, else from the request's `Host`.
fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(url) = &state.config.base_url {
        return url.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

impl FromRequestParts<AppState> for ListUrl {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let base = base_url(state, &parts.headers);
        Ok(ListUrl {
            url: format!("{base}{}", parts.uri.path()),
            query: parts.uri.query().map(str::to_string),
            base,
        })
    }
}

/// Sentry's slugs from a name: lowercase letters, digits and `-`, at most 50.
fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.trim().chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() || c == '_' {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_end_matches('-').chars().take(50).collect();
    slug.trim_end_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_from_names() {
        assert_eq!(slugify("Web Frontend"), "web-frontend");
        assert_eq!(slugify("  API (v2) / EU  "), "api-v2-eu");
        assert_eq!(slugify("snake_case"), "snake_case");
        assert_eq!(slugify("Ünïcode"), "n-code");
        assert_eq!(slugify(&"x".repeat(80)).len(), 50);
        assert_eq!(slugify("!!!"), "");
    }
}
