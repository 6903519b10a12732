//! An issue's timeline in Sentry's shape: `/api/0/issues/{id}/activities/`.
//! Oldest first; `user` is `null` for what Corral did itself (first seen,
//! regressions, escalations, alerts sent).

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::response::Response;
use corral_core::StoreError;
use corral_core::alerts::Activity;
use corral_core::model::{User, UserId};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::auth::ApiAuth;
use super::error::ApiError;
use super::extract::ApiQuery;
use super::paging::{ListUrl, PageParams};
use super::params::IssuePath;
use super::shapes::Time;
use crate::alerts::person;
use crate::state::AppState;

/// Who did it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActivityUser {
    pub id: String,
    pub name: String,
    pub email: String,
}

/// One entry of an issue's timeline.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Activity)]
pub struct ActivityShape {
    pub id: String,
    /// `first_seen`, `set_regression`, `set_escalating`, `set_resolved`,
    /// `set_resolved_in_release`, `set_unresolved`, `set_ignored`,
    /// `assigned`, `unassigned`, `note` or `alert_sent`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// What the kind says more: `{"text"}` for a note, `{"assignee",
    /// "assigneeType"}` for an assignment, `{"ignoreUntil"}` or
    /// `{"ignoreCount"}` for an ignore, `{"inNextRelease", "version"}`.
    #[schema(value_type = Object)]
    pub data: Value,
    /// `null` for Corral itself, or once the account is gone.
    pub user: Option<ActivityUser>,
    pub date_created: Time,
}

/// The people of `activities` by id: the organization's members, and the
/// few others (superusers) looked up one by one.
pub async fn people(
    state: &AppState,
    org_id: i64,
    activities: &[Activity],
) -> Result<HashMap<UserId, User>, StoreError> {
    let mut users: HashMap<UserId, User> = HashMap::new();
    if activities.iter().all(|a| a.user_id.is_none()) {
        return Ok(users);
    }
    for m in state.store.list_members(org_id).await? {
        users.insert(m.user.id, m.user);
    }
    for id in activities.iter().filter_map(|a| a.user_id) {
        if users.contains_key(&id) {
            continue;
        }
        match state.store.user_by_id(id).await {
            Ok(u) => {
                users.insert(id, u);
            }
            Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(users)
}

pub fn activity(a: &Activity, users: &HashMap<UserId, User>) -> ActivityShape {
    ActivityShape {
        id: a.id.to_string(),
        kind: a.kind.as_str(),
        data: a.data.clone(),
        user: a
            .user_id
            .and_then(|id| users.get(&id))
            .map(|u| ActivityUser {
                id: u.id.to_string(),
                name: person(u),
                email: u.email.clone(),
            }),
        date_created: a.created_at.into(),
    }
}

/// The issue's activity, oldest first.
#[utoipa::path(get, path = "/api/0/issues/{id}/activities/", tag = "issues",
    params(IssuePath, PageParams),
    responses((status = 200, body = [ActivityShape], headers(("Link" = String)))),
    security(("token" = ["event:read"])))]
pub async fn list_activities(
    State(state): State<AppState>,
    auth: ApiAuth,
    at: ListUrl,
    Path(p): Path<IssuePath>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Response, ApiError> {
    auth.require("event:read")?;
    let (issue, project) = auth.issue(&state, &p.id).await?;
    page.offset()?;
    let activities = state.store.list_activities(issue.id).await?;
    let users = people(&state, project.org_id, &activities).await?;
    let shapes = activities.iter().map(|a| activity(a, &users)).collect();
    page.respond(shapes, &at)
}
