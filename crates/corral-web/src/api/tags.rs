//! The tag values of an issue's events.

use axum::extract::{Path, State};
use axum::response::Response;

use super::auth::ApiAuth;
use super::error::ApiError;
use super::extract::ApiQuery;
use super::paging::{ListUrl, PageParams};
use super::params::{IssuePath, TagPath};
use super::shapes::{self, TagKey, TagValue};
use crate::state::AppState;

/// How many values each key lists in `topValues`.
const TOP_VALUES: u32 = 10;

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
    let keys: Vec<TagKey> = state
        .store
        .issue_tag_keys(issue.id, TOP_VALUES)
        .await?
        .into_iter()
        .map(|k| TagKey {
            name: k.key.clone(),
            total_values: k.times_seen,
            unique_values: usize::try_from(k.unique_values).unwrap_or(0),
            top_values: k.top_values.iter().map(shapes::tag_value).collect(),
            key: k.key,
        })
        .collect();
    page.respond(keys, &at)
}

/// Every value of one tag key of the issue, most common first, ties by value; paged in the
/// store, so a key with many values costs one page.
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
    let offset = page.offset()?;
    let limit = page.limit();
    // one row more than the page says whether a next page exists
    let values = state
        .store
        .issue_tag_key_values(
            issue.id,
            &p.key,
            offset as u64,
            u32::try_from(limit + 1).unwrap_or(u32::MAX),
        )
        .await?;
    if values.is_empty() {
        // past the end of a key that exists is an empty page; a key the issue lacks is 404
        let exists = offset > 0
            && !state
                .store
                .issue_tag_key_values(issue.id, &p.key, 0, 1)
                .await?
                .is_empty();
        if !exists {
            return Err(ApiError::NotFound("tag"));
        }
    }
    let shapes: Vec<TagValue> = values.iter().map(shapes::tag_value).collect();
    Ok(page.respond_window(shapes, &at))
}
