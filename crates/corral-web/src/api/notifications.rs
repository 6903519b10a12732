//! People's mail: their settings (`/api/0/users/me/notification-settings/`)
//! and their subscription to one issue (`/api/0/issues/{id}/subscription/`).
//! Both are the token's user's own.

use axum::Json;
use axum::extract::{Path, State};
use corral_core::alerts::NotificationSettings;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::ApiAuth;
use super::error::ApiError;
use super::extract::{ApiJson, nullable};
use super::params::IssuePath;
use crate::access::Action;
use crate::activity::subscription;
use crate::state::AppState;

/// Which mail a person gets. All on unless they turned it off.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = NotificationSettings)]
pub struct SettingsShape {
    /// Alerts of their teams' projects sent to email channels that name
    /// members or teams.
    pub alerts: bool,
    /// Mail about issues assigned to them.
    pub assigned: bool,
    /// Workflow mail (resolved, regressed, assigned) of the issues they
    /// subscribed to.
    pub workflow: bool,
}

impl From<NotificationSettings> for SettingsShape {
    fn from(s: NotificationSettings) -> Self {
        SettingsShape {
            alerts: s.alerts,
            assigned: s.assigned,
            workflow: s.workflow,
        }
    }
}

/// The settings to change; those left out stay.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SettingsUpdate {
    pub alerts: Option<bool>,
    pub assigned: Option<bool>,
    pub workflow: Option<bool>,
}

#[utoipa::path(get, path = "/api/0/users/me/notification-settings/", tag = "users",
    responses((status = 200, body = SettingsShape)),
    security(("token" = ["member:read"])))]
pub async fn get_settings(
    State(state): State<AppState>,
    auth: ApiAuth,
) -> Result<Json<SettingsShape>, ApiError> {
    auth.require("member:read")?;
    let settings = state.store.notification_settings(auth.user().id).await?;
    Ok(Json(settings.into()))
}

#[utoipa::path(put, path = "/api/0/users/me/notification-settings/", tag = "users",
    request_body = SettingsUpdate,
    responses((status = 200, body = SettingsShape)),
    security(("token" = ["member:write"])))]
pub async fn update_settings(
    State(state): State<AppState>,
    auth: ApiAuth,
    ApiJson(update): ApiJson<SettingsUpdate>,
) -> Result<Json<SettingsShape>, ApiError> {
    auth.require("member:write")?;
    let me = auth.user().id;
    let current = state.store.notification_settings(me).await?;
    let settings = NotificationSettings {
        alerts: update.alerts.unwrap_or(current.alerts),
        assigned: update.assigned.unwrap_or(current.assigned),
        workflow: update.workflow.unwrap_or(current.workflow),
    };
    state.store.set_notification_settings(me, &settings).await?;
    Ok(Json(state.store.notification_settings(me).await?.into()))
}

/// Whether the token's user gets the issue's workflow mail.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = IssueSubscription)]
pub struct SubscriptionShape {
    /// Their choice: `true`, `false`, or `null` for none (the default).
    pub subscribed: Option<bool>,
    /// What holds: their choice, else whether the issue is assigned to them
    /// (or to a team of theirs).
    pub is_subscribed: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SubscriptionUpdate {
    /// `true` subscribes, `false` unsubscribes, `null` goes back to the
    /// default.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<bool>)]
    pub subscribed: Option<Option<bool>>,
}

async fn shape(
    state: &AppState,
    auth: &ApiAuth,
    issue: &corral_core::model::Issue,
) -> Result<SubscriptionShape, ApiError> {
    let s = subscription(&state.store, issue, auth.user().id).await?;
    Ok(SubscriptionShape {
        subscribed: s.chosen,
        is_subscribed: s.subscribed,
    })
}

#[utoipa::path(get, path = "/api/0/issues/{id}/subscription/", tag = "issues",
    params(IssuePath),
    responses((status = 200, body = SubscriptionShape)),
    security(("token" = ["event:read"])))]
pub async fn get_subscription(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(p): Path<IssuePath>,
) -> Result<Json<SubscriptionShape>, ApiError> {
    auth.require("event:read")?;
    let (issue, _) = auth.issue(&state, &p.id).await?;
    Ok(Json(shape(&state, &auth, &issue).await?))
}

/// Subscribes the token's user to the issue's workflow mail, unsubscribes
/// them, or (`null`) goes back to the default.
#[utoipa::path(put, path = "/api/0/issues/{id}/subscription/", tag = "issues",
    params(IssuePath),
    request_body = SubscriptionUpdate,
    responses((status = 200, body = SubscriptionShape)),
    security(("token" = ["event:write"])))]
pub async fn set_subscription(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(p): Path<IssuePath>,
    ApiJson(update): ApiJson<SubscriptionUpdate>,
) -> Result<Json<SubscriptionShape>, ApiError> {
    auth.require("event:write")?;
    let (issue, project) = auth.issue(&state, &p.id).await?;
    auth.allow(Action::TriageIssues, project.org_id)?;
    let Some(subscribed) = update.subscribed else {
        return Err(ApiError::BadRequest(
            "invalid subscribed: give true, false or null".into(),
        ));
    };
    state
        .store
        .set_issue_subscription(issue.id, auth.user().id, subscribed)
        .await?;
    Ok(Json(shape(&state, &auth, &issue).await?))
}
