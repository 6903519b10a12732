//! The tag values of an issue's events.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::response::Response;
use corral_core::model::TagValueCount;

use super::auth::ApiAuth;
use super::error::ApiError;
use super::extract::ApiQuery;
use super::paging::{ListUrl, PageParams};
use super::params::{IssuePath, TagPath};
use super::shapes::{self, TagKey, TagValue};
use crate::state::AppState;

/// How many values each key lists in `topValues`.
const TOP_VALUES: usize = 10;

/// Most common first; ties by value, so pages are stable.
fn by_count(values: &mut [TagValueCount]) {
    values.sort_by(|a, b| {
        b.times_seen
            .cmp(&a.times_seen)
            .then_with(|| a.value.cmp(&b.value))
    });
}

/// The issue's tag keys, each with its event count and most common values.
#[utoipa::path(get, path = "/api/0/issues/{id}/tags/", tag = "events",
    params(IssuePath, PageParams),
    responses((status = 200, body = [TagKey], headers(("Link" = String)))),
    security(("token" = ["event:read"])))]
pub async fn list_issue_tags(
    State(state): State<AppState>,
    auth: ApiAuth,
    at: ListUrl,
    Path(p): Path<IssuePath>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Response, ApiError> {
    auth.require("event:read")?;
    let (issue, _) = auth.issue(&state, &p.id).await?;
    let mut by_key: BTreeMap<String, Vec<TagValueCount>> = BTreeMap::new();
    for v in state.store.issue_tag_values(issue.id).await? {
        by_key.entry(v.key.clone()).or_default().push(v);
    }
    let keys: Vec<TagKey> = by_key
        .into_iter()
        .map(|(key, mut values)| {
            by_count(&mut values);
            TagKey {
                name: key.clone(),
                total_values: values.iter().map(|v| v.times_seen).sum(),
                unique_values: values.len(),
                top_values: values
                    .iter()
                    .take(TOP_VALUES)
                    .map(shapes::tag_value)
                    .collect(),
                key,
            }
        })
        .collect();
    page.respond(keys, &at)
}

/// Every value of one tag key of the issue, most common first.
#[utoipa::path(get, path = "/api/0/issues/{id}/tags/{key}/values/", tag = "events",
    params(TagPath, PageParams),
    responses((status = 200, body = [TagValue], headers(("Link" = String)))),
    security(("token" = ["event:read"])))]
pub async fn list_tag_values(
    State(state): State<AppState>,
    auth: ApiAuth,
    at: ListUrl,
    Path(p): Path<TagPath>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Response, ApiError> {
    auth.require("event:read")?;
    let (issue, _) = auth.issue(&state, &p.id).await?;
    let mut values: Vec<TagValueCount> = state
        .store
        .issue_tag_values(issue.id)
        .await?
        .into_iter()
        .filter(|v| v.key == p.key)
        .collect();
    if values.is_empty() {
        return Err(ApiError::NotFound("tag"));
    }
    by_count(&mut values);
    let shapes: Vec<TagValue> = values.iter().map(shapes::tag_value).collect();
    page.respond(shapes, &at)
}
