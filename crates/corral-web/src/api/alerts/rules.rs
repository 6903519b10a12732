//! A project's alert rules (`/projects/{org}/{project}/rules/`), their
//! test notifications, and the project's mute
//! (`/projects/{org}/{project}/alerts/`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use corral_core::StoreError;
use corral_core::alerts::{
    AlertRule, Condition, DEFAULT_ACTION_INTERVAL_MINUTES, Filter, NewAlertRule, RuleSpec,
};
use corral_core::model::Project;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::{ChannelNames, ids, path_id, refusal, test_answer};
use crate::access::Action;
use crate::alerts::{self as shared, check_name, check_rule};
use crate::api::auth::ApiAuth;
use crate::api::error::ApiError;
use crate::api::extract::{ApiJson, ApiQuery};
use crate::api::paging::{ListUrl, PageParams};
use crate::api::params::{ProjectPath, RulePath};
use crate::api::shapes::Time;
use crate::state::AppState;

const CONDITION_TYPES: &[&str] = &[
    "new_issue",
    "regression",
    "escalating",
    "frequency",
    "users",
    "event_rate",
];
const FILTER_TYPES: &[&str] = &[
    "environment",
    "level",
    "release",
    "tag",
    "issue_age",
    "search",
];

/// A rule of a project.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AlertRule)]
pub struct RuleShape {
    pub id: String,
    pub name: String,
    pub enabled: bool,
    /// Any of them fires the rule: `{"type": "new_issue"}`, `regression`,
    /// `escalating`, `{"type": "frequency", "count": 100, "minutes": 5}`
    /// (seen more than 100 times in 5 minutes), `users` (more than `count`
    /// users), `event_rate` (the project's events).
    #[schema(value_type = Vec<Object>)]
    pub conditions: Vec<Value>,
    /// All of them must pass: `{"type": "environment", "value": "prod"}`,
    /// `{"type": "level", "level": "error", "match": "at_least"}` (or
    /// `exactly`), `release`, `{"type": "tag", "key": "k", "match":
    /// "equals", "value": "v"}` (or `contains`), `{"type": "issue_age",
    /// "match": "older_than", "minutes": 60}` (or `newer_than`),
    /// `{"type": "search", "query": "is:unresolved browser:Firefox"}`.
    #[schema(value_type = Vec<Object>)]
    pub filters: Vec<Value>,
    /// Ids of channels of the organization.
    pub channels: Vec<String>,
    /// The rule fires at most once per this many minutes for one issue.
    pub action_interval_minutes: i64,
    /// The user id of who made it.
    pub created_by: Option<String>,
    pub date_created: Time,
    pub date_modified: Time,
}

pub fn rule_shape(r: &AlertRule) -> RuleShape {
    RuleShape {
        id: r.id.to_string(),
        name: r.name.clone(),
        enabled: r.enabled,
        conditions: r
            .spec
            .conditions
            .iter()
            .filter_map(|c| serde_json::to_value(c).ok())
            .collect(),
        filters: r
            .spec
            .filters
            .iter()
            .filter_map(|f| serde_json::to_value(f).ok())
            .collect(),
        channels: r.spec.channels.iter().map(|c| c.to_string()).collect(),
        action_interval_minutes: r.spec.action_interval_minutes,
        created_by: r.created_by.map(|u| u.to_string()),
        date_created: r.created_at.into(),
        date_modified: r.updated_at.into(),
    }
}

/// A new rule, or the fields of one to change (left out: kept).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuleBody {
    /// 1 to 200 characters.
    pub name: Option<String>,
    /// Default true.
    pub enabled: Option<bool>,
    /// At least one; see the rule's `conditions`.
    #[schema(value_type = Option<Vec<Object>>)]
    pub conditions: Option<Vec<Value>>,
    /// See the rule's `filters`.
    #[schema(value_type = Option<Vec<Object>>)]
    pub filters: Option<Vec<Value>>,
    /// Ids of channels of the organization (at least one).
    #[serde(default, deserialize_with = "ids")]
    #[schema(value_type = Option<Vec<String>>)]
    pub channels: Option<Vec<i64>>,
    /// 1 minute to 7 days; default 30.
    pub action_interval_minutes: Option<i64>,
}

/// Reads a list of tagged objects (`{"type": …}`), naming `field` and the
/// known types in every refusal.
fn tagged<T: serde::de::DeserializeOwned>(
    items: Vec<Value>,
    field: &'static str,
    what: &str,
    known: &[&str],
) -> Result<Vec<T>, StoreError> {
    let invalid = |reason: String| StoreError::Invalid { field, reason };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let kind = item
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if !known.contains(&kind.as_str()) {
                let shown = item.get("type").map(|t| t.to_string());
                return Err(invalid(format!(
                    "unknown {what} type {} (expected {})",
                    shown.as_deref().unwrap_or("(none)"),
                    known.join(", ")
                )));
            }
            serde_json::from_value(item)
                .map_err(|e| invalid(format!("{what} {} ({kind}): {e}", i + 1)))
        })
        .collect()
}

/// A rule of the project; 404 for another project's.
async fn rule_of(state: &AppState, project: &Project, raw_id: &str) -> Result<AlertRule, ApiError> {
    let id = path_id(raw_id, "rule")?;
    match state.store.alert_rule_by_id(id).await {
        Ok(r) if r.project_id == project.id => Ok(r),
        Ok(_) | Err(StoreError::NotFound(_)) => Err(ApiError::NotFound("rule")),
        Err(e) => Err(e.into()),
    }
}

/// The rule a body makes of `current` (all of it, for a new rule).
async fn rule_from(
    state: &AppState,
    project: &Project,
    body: RuleBody,
    current: Option<&AlertRule>,
    author: i64,
) -> Result<NewAlertRule, ApiError> {
    let name = match (&body.name, current) {
        (Some(n), _) => check_name(n).map_err(refusal)?,
        (None, Some(r)) => r.name.clone(),
        (None, None) => check_name("").map_err(refusal)?,
    };
    let conditions = match (body.conditions, current) {
        (Some(c), _) => {
            tagged::<Condition>(c, "conditions", "condition", CONDITION_TYPES).map_err(refusal)?
        }
        (None, Some(r)) => r.spec.conditions.clone(),
        (None, None) => Vec::new(),
    };
    let filters = match (body.filters, current) {
        (Some(f), _) => tagged::<Filter>(f, "filters", "filter", FILTER_TYPES).map_err(refusal)?,
        (None, Some(r)) => r.spec.filters.clone(),
        (None, None) => Vec::new(),
    };
    let mut spec = RuleSpec {
        conditions,
        filters,
        channels: body
            .channels
            .or_else(|| current.map(|r| r.spec.channels.clone()))
            .unwrap_or_default(),
        action_interval_minutes: body
            .action_interval_minutes
            .or_else(|| current.map(|r| r.spec.action_interval_minutes))
            .unwrap_or(DEFAULT_ACTION_INTERVAL_MINUTES),
    };
    check_rule(&state.store, project.org_id, &mut spec)
        .await
        .map_err(refusal)?;
    Ok(NewAlertRule {
        project_id: project.id,
        name,
        enabled: body
            .enabled
            .or_else(|| current.map(|r| r.enabled))
            .unwrap_or(true),
        spec,
        created_by: current.map_or(Some(author), |r| r.created_by),
    })
}

#[utoipa::path(get, path = "/api/0/projects/{org}/{project}/rules/", tag = "alerts",
    params(ProjectPath, PageParams),
    responses((status = 200, body = [RuleShape], headers(("Link" = String)))),
    security(("token" = ["project:read"])))]
pub async fn list_rules(
    State(state): State<AppState>,
    auth: ApiAuth,
    at: ListUrl,
    Path(p): Path<ProjectPath>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Response, ApiError> {
    auth.require("project:read")?;
    let project = auth.project(&state, &p.org, &p.project).await?;
    let rules = state.store.list_alert_rules(project.id).await?;
    page.respond(rules.iter().map(rule_shape).collect(), &at)
}

/// Creates a rule (admins).
#[utoipa::path(post, path = "/api/0/projects/{org}/{project}/rules/", tag = "alerts",
    params(ProjectPath),
    request_body = RuleBody,
    responses((status = 201, body = RuleShape)),
    security(("token" = ["project:write"])))]
pub async fn create_rule(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(p): Path<ProjectPath>,
    ApiJson(body): ApiJson<RuleBody>,
) -> Result<Response, ApiError> {
    auth.require("project:write")?;
    let project = auth.project(&state, &p.org, &p.project).await?;
    auth.allow(Action::ManageProjects, project.org_id)?;
    let new = rule_from(&state, &project, body, None, auth.user().id).await?;
    let rule = state.store.create_alert_rule(&new).await?;
    Ok((StatusCode::CREATED, Json(rule_shape(&rule))).into_response())
}

#[utoipa::path(get, path = "/api/0/projects/{org}/{project}/rules/{rule_id}/", tag = "alerts",
    params(RulePath),
    responses((status = 200, body = RuleShape)),
    security(("token" = ["project:read"])))]
pub async fn get_rule(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(p): Path<RulePath>,
) -> Result<Json<RuleShape>, ApiError> {
    auth.require("project:read")?;
    let project = auth.project(&state, &p.org, &p.project).await?;
    let rule = rule_of(&state, &project, &p.rule_id).await?;
    Ok(Json(rule_shape(&rule)))
}

/// Changes a rule (admins); fields left out stay.
#[utoipa::path(put, path = "/api/0/projects/{org}/{project}/rules/{rule_id}/", tag = "alerts",
    params(RulePath),
    request_body = RuleBody,
    responses((status = 200, body = RuleShape)),
    security(("token" = ["project:write"])))]
pub async fn update_rule(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(p): Path<RulePath>,
    ApiJson(body): ApiJson<RuleBody>,
) -> Result<Json<RuleShape>, ApiError> {
    auth.require("project:write")?;
    let project = auth.project(&state, &p.org, &p.project).await?;
    let rule = rule_of(&state, &project, &p.rule_id).await?;
    auth.allow(Action::ManageProjects, project.org_id)?;
    let new = rule_from(&state, &project, body, Some(&rule), auth.user().id).await?;
    let rule = state.store.update_alert_rule(rule.id, &new).await?;
    Ok(Json(rule_shape(&rule)))
}

/// Deletes a rule (admins); its deliveries stay in the organization's log.
#[utoipa::path(delete, path = "/api/0/projects/{org}/{project}/rules/{rule_id}/", tag = "alerts",
    params(RulePath),
    responses((status = 204, description = "Deleted")),
    security(("token" = ["project:admin"])))]
pub async fn delete_rule(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(p): Path<RulePath>,
) -> Result<StatusCode, ApiError> {
    auth.require("project:admin")?;
    let project = auth.project(&state, &p.org, &p.project).await?;
    let rule = rule_of(&state, &project, &p.rule_id).await?;
    auth.allow(Action::ManageProjects, project.org_id)?;
    state.store.delete_alert_rule(rule.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sends a test notification of the rule to each of its channels, about the
/// project's newest issue (admins), and waits up to 15 seconds for the
/// worker's alert runner: 200 with the outcomes, or 202 while any is still
/// pending.
#[utoipa::path(post, path = "/api/0/projects/{org}/{project}/rules/{rule_id}/test/", tag = "alerts",
    params(RulePath),
    responses(
        (status = 200, body = super::TestOutcome, description = "Sent, or failed for good"),
        (status = 202, body = super::TestOutcome, description = "Queued, not all sent yet"),
    ),
    security(("token" = ["project:write"])))]
pub async fn test_rule(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(p): Path<RulePath>,
) -> Result<Response, ApiError> {
    auth.require("project:write")?;
    let project = auth.project(&state, &p.org, &p.project).await?;
    let rule = rule_of(&state, &project, &p.rule_id).await?;
    auth.allow(Action::ManageProjects, project.org_id)?;
    let queued = shared::test_rule(&state, &project, &rule, auth.user())
        .await
        .map_err(refusal)?;
    let (deliveries, done) = shared::wait_for_outcome(&state, queued).await?;
    let names = ChannelNames::new(state.store.list_alert_channels(project.org_id).await?);
    Ok(test_answer(&deliveries, done, &names))
}

/// Whether the project's rules are silenced.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AlertMute {
    /// While true, no rule of the project fires.
    pub muted: bool,
}

#[utoipa::path(get, path = "/api/0/projects/{org}/{project}/alerts/", tag = "alerts",
    params(ProjectPath),
    responses((status = 200, body = AlertMute)),
    security(("token" = ["project:read"])))]
pub async fn get_mute(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(p): Path<ProjectPath>,
) -> Result<Json<AlertMute>, ApiError> {
    auth.require("project:read")?;
    let project = auth.project(&state, &p.org, &p.project).await?;
    let muted = state.store.project_alerts_muted(project.id).await?;
    Ok(Json(AlertMute { muted }))
}

/// Mutes or unmutes the project's rules (admins).
#[utoipa::path(put, path = "/api/0/projects/{org}/{project}/alerts/", tag = "alerts",
    params(ProjectPath),
    request_body = AlertMute,
    responses((status = 200, body = AlertMute)),
    security(("token" = ["project:write"])))]
pub async fn set_mute(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(p): Path<ProjectPath>,
    ApiJson(body): ApiJson<AlertMute>,
) -> Result<Json<AlertMute>, ApiError> {
    auth.require("project:write")?;
    let project = auth.project(&state, &p.org, &p.project).await?;
    auth.allow(Action::ManageProjects, project.org_id)?;
    state
        .store
        .set_project_alerts_muted(project.id, body.muted)
        .await?;
    let muted = state.store.project_alerts_muted(project.id).await?;
    Ok(Json(AlertMute { muted }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn unknown_types_name_their_field() {
        let err = tagged::<Condition>(
            vec![json!({"type": "bogus"})],
            "conditions",
            "condition",
            CONDITION_TYPES,
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("invalid conditions: unknown condition type \"bogus\""),
            "{text}"
        );
        let err = tagged::<Condition>(
            vec![json!({"type": "frequency", "count": "many"})],
            "conditions",
            "condition",
            CONDITION_TYPES,
        )
        .unwrap_err();
        assert!(err.to_string().contains("condition 1 (frequency)"), "{err}");
        let ok: Vec<Filter> = tagged(
            vec![json!({"type": "level", "level": "error", "match": "at_least"})],
            "filters",
            "filter",
            FILTER_TYPES,
        )
        .unwrap();
        assert_eq!(ok.len(), 1);
    }
}
