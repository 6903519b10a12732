//! The delivery log: every message queued for a channel or a person, newest
//! first, paged by id (`cursor` is where the last page ended).

use std::collections::HashSet;

use axum::extract::{Path, State};
use axum::response::Response;
use corral_core::alerts::{DeliveryFilter, DeliveryStatus};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{ChannelNames, DeliveryShape, delivery, path_id};
use crate::api::auth::ApiAuth;
use crate::api::error::ApiError;
use crate::api::extract::ApiQuery;
use crate::api::paging::{ListUrl, MAX_LIMIT};
use crate::api::params::{OrgPath, RulePath};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryParams {
    /// Only deliveries to this channel (its id).
    pub channel: Option<String>,
    /// Only `pending`, `sending`, `sent` or `dead` ones.
    pub status: Option<String>,
    /// From a `Link` header.
    pub cursor: Option<String>,
    /// Page size (1 to 100, default 100).
    pub limit: Option<u32>,
}

impl DeliveryParams {
    fn filter(&self) -> Result<DeliveryFilter, ApiError> {
        let status = match self.status.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => Some(s.parse::<DeliveryStatus>().map_err(|_| {
                ApiError::BadRequest(format!(
                    "unknown status {s:?} (expected pending, sending, sent or dead)"
                ))
            })?),
            None => None,
        };
        let channel_id = match self.channel.as_deref().filter(|c| !c.is_empty()) {
            Some(c) => Some(
                c.parse()
                    .map_err(|_| ApiError::BadRequest(format!("invalid channel {c:?}")))?,
            ),
            None => None,
        };
        let before_id = match self.cursor.as_deref() {
            Some(c) => Some(
                c.split(':')
                    .next()
                    .and_then(|id| id.parse().ok())
                    .ok_or_else(|| ApiError::BadRequest(format!("invalid cursor {c:?}")))?,
            ),
            None => None,
        };
        Ok(DeliveryFilter {
            status,
            channel_id,
            before_id,
            limit: self.limit(),
            ..Default::default()
        })
    }

    fn limit(&self) -> u32 {
        self.limit.unwrap_or(MAX_LIMIT).clamp(1, MAX_LIMIT)
    }
}

/// One page of the deliveries `filter` names that `visible` lets through
/// (all when `None`), with the cursor of the next page.
async fn page(
    state: &AppState,
    org_id: i64,
    mut filter: DeliveryFilter,
    visible: Option<HashSet<i64>>,
    at: &ListUrl,
) -> Result<Response, ApiError> {
    let limit = filter.limit as usize;
    filter.limit += 1;
    let mut rows = state.store.list_deliveries(&filter).await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    // the page ends where the scan ended, even when rows were hidden
    let next = rows
        .last()
        .filter(|_| more)
        .map(|d| format!("{}:0:0", d.id));
    let names = ChannelNames::new(state.store.list_alert_channels(org_id).await?);
    let shapes: Vec<DeliveryShape> = rows
        .iter()
        .filter(|d| visible.as_ref().is_none_or(|v| v.contains(&d.project_id)))
        .map(|d| delivery(d, &names))
        .collect();
    Ok(at.respond(shapes, None, next.as_deref()))
}

/// The organization's deliveries, newest first: those of the projects the
/// caller sees, and the channels' tests.
#[utoipa::path(get, path = "/api/0/organizations/{org}/alert-deliveries/", tag = "alerts",
    params(OrgPath, DeliveryParams),
    responses((status = 200, body = [DeliveryShape], headers(("Link" = String)))),
    security(("token" = ["org:read"])))]
pub async fn list_org_deliveries(
    State(state): State<AppState>,
    auth: ApiAuth,
    at: ListUrl,
    Path(p): Path<OrgPath>,
    ApiQuery(params): ApiQuery<DeliveryParams>,
) -> Result<Response, ApiError> {
    auth.require("org:read")?;
    let org = auth.org(&state, &p.org).await?;
    let mut filter = params.filter()?;
    filter.org_id = Some(org.id);
    let mut visible: HashSet<i64> = auth
        .access
        .projects_of(&state.store, org.id)
        .await?
        .iter()
        .map(|p| p.id)
        .collect();
    // a channel's test belongs to no project
    visible.insert(0);
    page(&state, org.id, filter, Some(visible), &at).await
}

/// The rule's deliveries, newest first.
#[utoipa::path(get, path = "/api/0/projects/{org}/{project}/rules/{rule_id}/deliveries/", tag = "alerts",
    params(RulePath, DeliveryParams),
    responses((status = 200, body = [DeliveryShape], headers(("Link" = String)))),
    security(("token" = ["project:read"])))]
pub async fn list_rule_deliveries(
    State(state): State<AppState>,
    auth: ApiAuth,
    at: ListUrl,
    Path(p): Path<RulePath>,
    ApiQuery(params): ApiQuery<DeliveryParams>,
) -> Result<Response, ApiError> {
    auth.require("project:read")?;
    let project = auth.project(&state, &p.org, &p.project).await?;
    let rule_id = path_id(&p.rule_id, "rule")?;
    match state.store.alert_rule_by_id(rule_id).await {
        Ok(r) if r.project_id == project.id => {}
        Ok(_) | Err(corral_core::StoreError::NotFound(_)) => {
            return Err(ApiError::NotFound("rule"));
        }
        Err(e) => return Err(e.into()),
    }
    let mut filter = params.filter()?;
    filter.project_id = Some(project.id);
    filter.rule_id = Some(rule_id);
    page(&state, project.org_id, filter, None, &at).await
}
