//! Events of an issue, and one event by id.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use corral_core::EventCursor;
use corral_core::model::{IssueId, StoredEvent};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::ApiAuth;
use super::error::ApiError;
use super::extract::ApiQuery;
use super::paging::{ListUrl, MAX_LIMIT};
use super::params::{IssueEventPath, IssuePath, ProjectEventPath};
use super::shapes::{self, Event, EventSummary};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventListParams {
    /// From a `Link` header.
    pub cursor: Option<String>,
    /// Page size (1 to 100, default 50).
    pub limit: Option<u32>,
    /// Whole events instead of summaries.
    pub full: Option<bool>,
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

/// An event list item: a summary, or the whole event with `full=true`.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum EventListItem {
    Summary(Box<EventSummary>),
    Full(Box<Event>),
}

/// The issue's events, newest first.
#[utoipa::path(get, path = "/api/0/issues/{id}/events/", tag = "events",
    params(IssuePath, EventListParams),
    responses((status = 200, body = [EventListItem], headers(("Link" = String)))),
    security(("token" = ["event:read"])))]
pub async fn list_issue_events(
    State(state): State<AppState>,
    auth: ApiAuth,
    at: ListUrl,
    Path(p): Path<IssuePath>,
    ApiQuery(params): ApiQuery<EventListParams>,
) -> Result<Response, ApiError> {
    auth.require("event:read")?;
    let (issue, _) = auth.issue(&state, &p.id).await?;
    let limit = params.limit.unwrap_or(50).clamp(1, MAX_LIMIT);
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
    let next = events.last().filter(|_| more).map(|last| {
        format!(
            "{}:{}:0",
            last.received_at.timestamp_millis(),
            last.event_id.simple()
        )
    });
    let full = params.full.unwrap_or(false);
    let body: Vec<EventListItem> = events
        .iter()
        .map(|e| {
            if full {
                EventListItem::Full(Box::new(shapes::event(e)))
            } else {
                EventListItem::Summary(Box::new(shapes::event_summary(e)))
            }
        })
        .collect();
    Ok(at.respond(body, None, next.as_deref()))
}

/// The event with the ids of the issue's events before and after it.
async fn with_neighbours(
    state: &AppState,
    issue_id: IssueId,
    e: &StoredEvent,
) -> Result<Event, ApiError> {
    let (older, newer) = state
        .store
        .adjacent_events(
            issue_id,
            EventCursor {
                received_at: e.received_at,
                event_id: e.event_id,
            },
        )
        .await?;
    let mut event = shapes::event(e);
    event.previous_event_id = Some(older.map(|id| id.simple().to_string()));
    event.next_event_id = Some(newer.map(|id| id.simple().to_string()));
    Ok(event)
}

#[utoipa::path(get, path = "/api/0/issues/{id}/events/latest/", tag = "events",
    params(IssuePath),
    responses((status = 200, body = Event)),
    security(("token" = ["event:read"])))]
pub async fn latest_event(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(p): Path<IssuePath>,
) -> Result<Json<Event>, ApiError> {
    auth.require("event:read")?;
    let (issue, _) = auth.issue(&state, &p.id).await?;
    let event = state.store.latest_event(issue.id).await?;
    Ok(Json(with_neighbours(&state, issue.id, &event).await?))
}

/// One event of the issue; 404 for events of other issues.
#[utoipa::path(get, path = "/api/0/issues/{id}/events/{event_id}/", tag = "events",
    params(IssueEventPath),
    responses((status = 200, body = Event)),
    security(("token" = ["event:read"])))]
pub async fn get_issue_event(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(p): Path<IssueEventPath>,
) -> Result<Json<Event>, ApiError> {
    auth.require("event:read")?;
    let (issue, project) = auth.issue(&state, &p.id).await?;
    let event_id =
        corral_protocol::parse_event_id(&p.event_id).ok_or(ApiError::NotFound("event"))?;
    let event = state.store.event_by_id(project.id, event_id).await?;
    if event.issue_id != Some(issue.id) {
        return Err(ApiError::NotFound("event"));
    }
    Ok(Json(with_neighbours(&state, issue.id, &event).await?))
}

#[utoipa::path(get, path = "/api/0/projects/{org}/{project}/events/{event_id}/", tag = "events",
    params(ProjectEventPath),
    responses((status = 200, body = Event)),
    security(("token" = ["event:read"])))]
pub async fn get_project_event(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(p): Path<ProjectEventPath>,
) -> Result<Json<Event>, ApiError> {
    auth.require("event:read")?;
    let project = auth.project(&state, &p.org, &p.project).await?;
    let event_id =
        corral_protocol::parse_event_id(&p.event_id).ok_or(ApiError::NotFound("event"))?;
    let event = state.store.event_by_id(project.id, event_id).await?;
    match event.issue_id {
        Some(issue_id) => Ok(Json(with_neighbours(&state, issue_id, &event).await?)),
        None => Ok(Json(shapes::event(&event))),
    }
}
