//! The REST API under `/api/0/`, in Sentry's paths and shapes, for scripts,
//! `sentry-cli` and tests. Bearer tokens carry Sentry-style scopes; a token
//! sees only the projects of its user's organizations.

mod auth;
mod error;
mod shapes;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{Duration, Utc};
use corral_core::model::{Issue, Project};
use corral_core::search::parse_query;
use corral_core::{EventCursor, IssueCursor, IssueQuery, IssueSort, StatusChange};
use serde::Deserialize;
use serde_json::Value;

pub use self::auth::{ApiAuth, hash_token, new_token_secret};
use self::error::ApiError;
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/0/organizations/", get(list_organizations))
        .route("/api/0/projects/", get(list_projects))
        .route("/api/0/projects/{org}/{project}/", get(get_project))
        .route("/api/0/projects/{org}/{project}/keys/", get(list_keys))
        .route("/api/0/projects/{org}/{project}/issues/", get(list_issues))
        .route(
            "/api/0/issues/{id}/",
            get(get_issue).put(update_issue).delete(delete_issue),
        )
        .route("/api/0/issues/{id}/events/", get(list_issue_events))
        .route("/api/0/issues/{id}/events/latest/", get(latest_event))
        .route(
            "/api/0/projects/{org}/{project}/events/{event_id}/",
            get(get_event),
        )
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

async fn list_organizations(
    State(state): State<AppState>,
    auth: ApiAuth,
) -> Result<Json<Vec<Value>>, ApiError> {
    auth.require("org:read")?;
    let orgs = state.store.list_organizations().await?;
    let member_of: Vec<i64> = if auth.user.is_superuser {
        orgs.iter().map(|o| o.id).collect()
    } else {
        state
            .store
            .memberships_of_user(auth.user.id)
            .await?
            .iter()
            .map(|m| m.org_id)
            .collect()
    };
    Ok(Json(
        orgs.iter()
            .filter(|o| member_of.contains(&o.id))
            .map(shapes::organization)
            .collect(),
    ))
}

async fn list_projects(
    State(state): State<AppState>,
    auth: ApiAuth,
) -> Result<Json<Vec<Value>>, ApiError> {
    auth.require("project:read")?;
    let projects = auth.visible_projects(&state).await?;
    Ok(Json(projects.iter().map(shapes::project).collect()))
}

async fn get_project(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path((org, slug)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    auth.require("project:read")?;
    let project = auth.project(&state, &org, &slug).await?;
    Ok(Json(shapes::project(&project)))
}

async fn list_keys(
    State(state): State<AppState>,
    auth: ApiAuth,
    headers: HeaderMap,
    Path((org, slug)): Path<(String, String)>,
) -> Result<Json<Vec<Value>>, ApiError> {
    auth.require("project:read")?;
    let project = auth.project(&state, &org, &slug).await?;
    let keys = state.store.list_project_keys(project.id).await?;
    let base = base_url(&state, &headers);
    Ok(Json(
        keys.iter().map(|k| shapes::project_key(k, &base)).collect(),
    ))
}

#[derive(Deserialize)]
struct IssueListParams {
    query: Option<String>,
    sort: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

fn sort_param(sort: Option<&str>) -> Result<IssueSort, ApiError> {
    Ok(match sort.unwrap_or("date") {
        "date" | "lastSeen" | "last_seen" => IssueSort::LastSeen,
        "new" | "firstSeen" | "first_seen" => IssueSort::FirstSeen,
        "freq" | "events" | "times_seen" => IssueSort::TimesSeen,
        other => {
            return Err(ApiError::BadRequest(format!(
                "unknown sort {other:?} (expected date, new or freq)"
            )));
        }
    })
}

/// Sentry's cursor form `value:offset:is_prev`; ours carries the last item's
/// sort value and id.
fn parse_cursor(cursor: &str) -> Result<IssueCursor, ApiError> {
    let mut parts = cursor.split(':');
    let sort_value = parts.next().and_then(|v| v.parse().ok());
    let id = parts.next().and_then(|v| v.parse().ok());
    match (sort_value, id) {
        (Some(sort_value), Some(id)) => Ok(IssueCursor { sort_value, id }),
        _ => Err(ApiError::BadRequest(format!("invalid cursor {cursor:?}"))),
    }
}

fn cursor_of(issue: &Issue, sort: IssueSort) -> String {
    let value = match sort {
        IssueSort::LastSeen => issue.last_seen.timestamp_millis(),
        IssueSort::FirstSeen => issue.first_seen.timestamp_millis(),
        IssueSort::TimesSeen => issue.times_seen,
    };
    format!("{value}:{}:0", issue.id)
}

/// Sentry's `Link` header: a previous (never followed here) and a next link.
fn link_header(url: &str, next: Option<String>) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    let prev = format!("<{url}>; rel=\"previous\"; results=\"false\"; cursor=\"0:0:1\"");
    match next {
        Some(c) => format!(
            "{prev}, <{url}{sep}cursor={c}>; rel=\"next\"; results=\"true\"; cursor=\"{c}\""
        ),
        None => format!("{prev}, <{url}>; rel=\"next\"; results=\"false\"; cursor=\"0:0:0\""),
    }
}

async fn list_issues(
    State(state): State<AppState>,
    auth: ApiAuth,
    headers: HeaderMap,
    Path((org, slug)): Path<(String, String)>,
    Query(params): Query<IssueListParams>,
) -> Result<Response, ApiError> {
    auth.require("event:read")?;
    let project = auth.project(&state, &org, &slug).await?;
    let sort = sort_param(params.sort.as_deref())?;
    let limit = params.limit.unwrap_or(25).clamp(1, 100);
    let base = IssueQuery {
        project_ids: vec![project.id],
        sort,
        limit: limit + 1,
        cursor: params.cursor.as_deref().map(parse_cursor).transpose()?,
        ..Default::default()
    };
    // Sentry's default view is the unresolved issues
    let text = params.query.as_deref().unwrap_or("is:unresolved");
    let query =
        parse_query(text, base, Utc::now()).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let mut issues = state.store.list_issues(&query).await?;
    let more = issues.len() > limit as usize;
    issues.truncate(limit as usize);
    let next = more.then(|| cursor_of(issues.last().expect("a full page"), sort));
    let base_url = base_url(&state, &headers);
    let body: Vec<Value> = issues
        .iter()
        .map(|i| shapes::issue(i, &project, &base_url))
        .collect();
    // the links keep the request's query, sort and page size: clients follow them as given
    let mut kept = Vec::new();
    if let Some(q) = &params.query {
        kept.push(format!("query={}", urlencode(q)));
    }
    if let Some(s) = &params.sort {
        kept.push(format!("sort={}", urlencode(s)));
    }
    if params.limit.is_some() {
        kept.push(format!("limit={limit}"));
    }
    let mut page_url = format!("{base_url}/api/0/projects/{org}/{slug}/issues/");
    if !kept.is_empty() {
        page_url.push_str(&format!("?{}", kept.join("&")));
    }
    let mut response = Json(body).into_response();
    if let Ok(v) = HeaderValue::from_str(&link_header(&page_url, next)) {
        response.headers_mut().insert(header::LINK, v);
    }
    Ok(response)
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn issue_and_project(
    state: &AppState,
    auth: &ApiAuth,
    id: &str,
) -> Result<(Issue, Project), ApiError> {
    let id: i64 = id.parse().map_err(|_| ApiError::NotFound("issue"))?;
    let issue = state.store.issue_by_id(id).await?;
    let project = auth
        .visible_projects(state)
        .await?
        .into_iter()
        .find(|p| p.id == issue.project_id)
        .ok_or(ApiError::NotFound("issue"))?;
    Ok((issue, project))
}

async fn get_issue(
    State(state): State<AppState>,
    auth: ApiAuth,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    auth.require("event:read")?;
    let (issue, project) = issue_and_project(&state, &auth, &id).await?;
    Ok(Json(shapes::issue(
        &issue,
        &project,
        &base_url(&state, &headers),
    )))
}

#[derive(Deserialize)]
struct IssueUpdate {
    status: Option<String>,
    #[serde(default, rename = "statusDetails")]
    status_details: Option<StatusDetails>,
}

#[derive(Deserialize, Default)]
struct StatusDetails {
    #[serde(default, rename = "inNextRelease")]
    in_next_release: Option<bool>,
    /// Minutes.
    #[serde(default, rename = "ignoreDuration")]
    ignore_duration: Option<i64>,
    #[serde(default, rename = "ignoreCount")]
    ignore_count: Option<i64>,
    #[serde(default, rename = "ignoreUntil")]
    ignore_until: Option<chrono::DateTime<Utc>>,
}

fn status_change(update: IssueUpdate, issue: &Issue) -> Result<StatusChange, ApiError> {
    let details = update.status_details.unwrap_or_default();
    let status = update
        .status
        .ok_or_else(|| ApiError::BadRequest("status is required".into()))?;
    Ok(match status.as_str() {
        "resolvedInNextRelease" => StatusChange::ResolveInNextRelease {
            release: issue.last_release.clone(),
        },
        "resolved" if details.in_next_release == Some(true) => StatusChange::ResolveInNextRelease {
            release: issue.last_release.clone(),
        },
        "resolved" => StatusChange::Resolve,
        "unresolved" => StatusChange::Unresolve,
        "ignored" | "archived" | "muted" => {
            if let Some(minutes) = details.ignore_duration.filter(|m| *m > 0) {
                StatusChange::IgnoreUntil(Utc::now() + Duration::minutes(minutes))
            } else if let Some(until) = details.ignore_until {
                StatusChange::IgnoreUntil(until)
            } else if let Some(count) = details.ignore_count.filter(|c| *c > 0) {
                StatusChange::IgnoreCount(count)
            } else {
                StatusChange::IgnoreForever
            }
        }
        other => {
            return Err(ApiError::BadRequest(format!(
                "unknown status {other:?} (expected resolved, resolvedInNextRelease, unresolved or ignored)"
            )));
        }
    })
}

async fn update_issue(
    State(state): State<AppState>,
    auth: ApiAuth,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    auth.require("event:write")?;
    let (issue, project) = issue_and_project(&state, &auth, &id).await?;
    let update: IssueUpdate = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?;
    let change = status_change(update, &issue)?;
    let issue = state.store.set_issue_status(issue.id, change).await?;
    Ok(Json(shapes::issue(
        &issue,
        &project,
        &base_url(&state, &headers),
    )))
}

async fn delete_issue(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    auth.require("event:admin")?;
    let (issue, _) = issue_and_project(&state, &auth, &id).await?;
    state.store.delete_issue(issue.id).await?;
    Ok(axum::http::StatusCode::ACCEPTED.into_response())
}

#[derive(Deserialize)]
struct EventListParams {
    cursor: Option<String>,
    limit: Option<u32>,
    full: Option<bool>,
}

fn parse_event_cursor(cursor: &str) -> Result<EventCursor, ApiError> {
    let bad = || ApiError::BadRequest(format!("invalid cursor {cursor:?}"));
    let (millis, id) = cursor.split_once(':').ok_or_else(bad)?;
    let millis: i64 = millis.parse().map_err(|_| bad())?;
    let event_id =
        corral_protocol::parse_event_id(id.split(':').next().unwrap_or("")).ok_or_else(bad)?;
    Ok(EventCursor {
        received_at: chrono::DateTime::from_timestamp_millis(millis).ok_or_else(bad)?,
        event_id,
    })
}

async fn list_issue_events(
    State(state): State<AppState>,
    auth: ApiAuth,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(params): Query<EventListParams>,
) -> Result<Response, ApiError> {
    auth.require("event:read")?;
    let (issue, _) = issue_and_project(&state, &auth, &id).await?;
    let limit = params.limit.unwrap_or(50).clamp(1, 100);
    let cursor = params
        .cursor
        .as_deref()
        .map(parse_event_cursor)
        .transpose()?;
    let mut events = state
        .store
        .list_issue_events(issue.id, cursor, limit + 1)
        .await?;
    let more = events.len() > limit as usize;
    events.truncate(limit as usize);
    let next = more.then(|| {
        let last = events.last().expect("a full page");
        format!(
            "{}:{}:0",
            last.received_at.timestamp_millis(),
            last.event_id.simple()
        )
    });
    let full = params.full.unwrap_or(false);
    let body: Vec<Value> = events
        .iter()
        .map(|e| {
            if full {
                shapes::event(e)
            } else {
                shapes::event_summary(e)
            }
        })
        .collect();
    let mut url = format!(
        "{}/api/0/issues/{}/events/?limit={limit}",
        base_url(&state, &headers),
        issue.id
    );
    if full {
        url.push_str("&full=true");
    }
    let mut response = Json(body).into_response();
    if let Ok(v) = HeaderValue::from_str(&link_header(&url, next)) {
        response.headers_mut().insert(header::LINK, v);
    }
    Ok(response)
}

async fn latest_event(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    auth.require("event:read")?;
    let (issue, _) = issue_and_project(&state, &auth, &id).await?;
    let event = state.store.latest_event(issue.id).await?;
    Ok(Json(shapes::event(&event)))
}

async fn get_event(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path((org, slug, event_id)): Path<(String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    auth.require("event:read")?;
    let project = auth.project(&state, &org, &slug).await?;
    let event_id = corral_protocol::parse_event_id(&event_id).ok_or(ApiError::NotFound("event"))?;
    let event = state.store.event_by_id(project.id, event_id).await?;
    Ok(Json(shapes::event(&event)))
}
