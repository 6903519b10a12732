//! An organization's alert channels: `/organizations/{org}/alert-channels/`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use corral_core::StoreError;
use corral_core::alerts::{Channel, ChannelConfig, EmailTargets};
use corral_core::model::Organization;
use serde::{Deserialize, Serialize, Serializer};
use utoipa::ToSchema;

use super::{ChannelNames, ids, path_id, refusal, test_answer};
use crate::access::Action;
use crate::alerts::{self as shared, check_channel, check_name, masked, unmasked};
use crate::api::auth::ApiAuth;
use crate::api::error::ApiError;
use crate::api::extract::{ApiJson, ApiQuery};
use crate::api::paging::{ListUrl, PageParams};
use crate::api::params::{ChannelPath, OrgPath};
use crate::api::shapes::Time;
use crate::state::AppState;

const KINDS: &str = "email, webhook, slack, discord, teams or pagerduty";

fn id_strings<S: Serializer>(ids: &Option<Vec<i64>>, s: S) -> Result<S::Ok, S::Error> {
    match ids {
        Some(ids) => s.collect_seq(ids.iter().map(|i| i.to_string())),
        None => s.serialize_none(),
    }
}

/// What a channel sends to; which fields apply depends on its kind.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AlertChannelConfig)]
pub struct ConfigShape {
    /// Webhook, Slack, Discord and Teams: where to POST (for PagerDuty, an
    /// endpoint other than PagerDuty's own). Chat URLs read masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Webhook: the HMAC-SHA256 key (16 to 256 characters). Reads masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// PagerDuty: the Events API v2 routing key. Reads masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_key: Option<String>,
    /// Email: every member of the alerting project's teams.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_members: Option<bool>,
    /// Email: user ids of members of the organization.
    #[serde(
        default,
        deserialize_with = "ids",
        serialize_with = "id_strings",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<Vec<String>>)]
    pub users: Option<Vec<i64>>,
    /// Email: ids of teams of the organization.
    #[serde(
        default,
        deserialize_with = "ids",
        serialize_with = "id_strings",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<Vec<String>>)]
    pub teams: Option<Vec<i64>>,
    /// Email: addresses outside the organization (at most 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addresses: Option<Vec<String>>,
}

impl ConfigShape {
    fn of(config: &ChannelConfig) -> ConfigShape {
        match config {
            ChannelConfig::Email(t) => ConfigShape {
                project_members: Some(t.project_members),
                users: Some(t.users.clone()),
                teams: Some(t.teams.clone()),
                addresses: Some(t.addresses.clone()),
                ..Default::default()
            },
            ChannelConfig::Webhook { url, secret } => ConfigShape {
                url: Some(url.clone()),
                secret: Some(secret.clone()),
                ..Default::default()
            },
            ChannelConfig::Slack { url }
            | ChannelConfig::Discord { url }
            | ChannelConfig::Teams { url } => ConfigShape {
                url: Some(url.clone()),
                ..Default::default()
            },
            ChannelConfig::PagerDuty { routing_key, url } => ConfigShape {
                routing_key: Some(routing_key.clone()),
                url: url.clone(),
                ..Default::default()
            },
        }
    }

    /// The fields given in `other` replace these.
    fn overlay(self, other: ConfigShape) -> ConfigShape {
        ConfigShape {
            url: other.url.or(self.url),
            secret: other.secret.or(self.secret),
            routing_key: other.routing_key.or(self.routing_key),
            project_members: other.project_members.or(self.project_members),
            users: other.users.or(self.users),
            teams: other.teams.or(self.teams),
            addresses: other.addresses.or(self.addresses),
        }
    }

    /// The configuration of a channel of `kind`.
    fn into_config(self, kind: &str) -> Result<ChannelConfig, StoreError> {
        let required = |value: Option<String>, field: &'static str| {
            value.ok_or_else(|| StoreError::Invalid {
                field,
                reason: format!("a {kind} channel needs it"),
            })
        };
        Ok(match kind {
            "email" => ChannelConfig::Email(EmailTargets {
                project_members: self.project_members.unwrap_or(false),
                users: self.users.unwrap_or_default(),
                teams: self.teams.unwrap_or_default(),
                addresses: self
                    .addresses
                    .unwrap_or_default()
                    .into_iter()
                    .map(|a| a.trim().to_string())
                    .filter(|a| !a.is_empty())
                    .collect(),
            }),
            "webhook" => ChannelConfig::Webhook {
                url: required(self.url, "url")?,
                secret: required(self.secret, "secret")?,
            },
            "slack" => ChannelConfig::Slack {
                url: required(self.url, "url")?,
            },
            "discord" => ChannelConfig::Discord {
                url: required(self.url, "url")?,
            },
            "teams" => ChannelConfig::Teams {
                url: required(self.url, "url")?,
            },
            "pagerduty" => ChannelConfig::PagerDuty {
                routing_key: required(self.routing_key, "routing_key")?,
                url: self.url.filter(|u| !u.trim().is_empty()),
            },
            other => {
                return Err(StoreError::Invalid {
                    field: "kind",
                    reason: format!("unknown kind {other:?} (expected {KINDS})"),
                });
            }
        })
    }
}

/// A channel of an organization; its secrets are masked.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AlertChannel)]
pub struct ChannelShape {
    pub id: String,
    pub name: String,
    /// `email`, `webhook`, `slack`, `discord`, `teams` or `pagerduty`.
    pub kind: &'static str,
    pub config: ConfigShape,
    pub date_created: Time,
}

pub fn channel_shape(c: &Channel) -> ChannelShape {
    ChannelShape {
        id: c.id.to_string(),
        name: c.name.clone(),
        kind: c.config.kind().as_str(),
        config: ConfigShape::of(&masked(&c.config)),
        date_created: c.created_at.into(),
    }
}

/// A new channel, or the fields of one to change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChannelBody {
    /// Unique in the organization; 1 to 200 characters.
    pub name: Option<String>,
    /// `email`, `webhook`, `slack`, `discord`, `teams` or `pagerduty`.
    pub kind: Option<String>,
    /// The kind's fields. On a change, fields left out (and masked values
    /// sent back) keep what is stored.
    pub config: Option<ConfigShape>,
}

/// A channel of the organization; 404 for another organization's.
pub async fn channel_of(
    state: &AppState,
    org: &Organization,
    raw_id: &str,
) -> Result<Channel, ApiError> {
    let id = path_id(raw_id, "channel")?;
    match state.store.alert_channel_by_id(id).await {
        Ok(c) if c.org_id == org.id => Ok(c),
        Ok(_) | Err(StoreError::NotFound(_)) => Err(ApiError::NotFound("channel")),
        Err(e) => Err(e.into()),
    }
}

/// The organization a change is for, once the token and role allow it.
async fn for_change(
    state: &AppState,
    auth: &ApiAuth,
    scope: &'static str,
    slug: &str,
) -> Result<Organization, ApiError> {
    auth.require(scope)?;
    let org = auth.org(state, slug).await?;
    auth.allow(Action::ManageProjects, org.id)?;
    Ok(org)
}

#[utoipa::path(get, path = "/api/0/organizations/{org}/alert-channels/", tag = "alerts",
    params(OrgPath, PageParams),
    responses((status = 200, body = [ChannelShape], headers(("Link" = String)))),
    security(("token" = ["org:read"])))]
pub async fn list_channels(
    State(state): State<AppState>,
    auth: ApiAuth,
    at: ListUrl,
    Path(p): Path<OrgPath>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Response, ApiError> {
    auth.require("org:read")?;
    let org = auth.org(&state, &p.org).await?;
    let channels = state.store.list_alert_channels(org.id).await?;
    page.respond(channels.iter().map(channel_shape).collect(), &at)
}

/// Creates a channel (admins).
#[utoipa::path(post, path = "/api/0/organizations/{org}/alert-channels/", tag = "alerts",
    params(OrgPath),
    request_body = ChannelBody,
    responses((status = 201, body = ChannelShape)),
    security(("token" = ["org:write"])))]
pub async fn create_channel(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(p): Path<OrgPath>,
    ApiJson(body): ApiJson<ChannelBody>,
) -> Result<Response, ApiError> {
    let org = for_change(&state, &auth, "org:write", &p.org).await?;
    let name = check_name(body.name.as_deref().unwrap_or("")).map_err(refusal)?;
    let kind = body
        .kind
        .ok_or_else(|| ApiError::BadRequest(format!("invalid kind: give one of {KINDS}")))?;
    let config = body
        .config
        .unwrap_or_default()
        .into_config(&kind)
        .map_err(refusal)?;
    check_channel(&state.store, org.id, &config)
        .await
        .map_err(refusal)?;
    let channel = state
        .store
        .create_alert_channel(org.id, &name, &config)
        .await?;
    Ok((StatusCode::CREATED, Json(channel_shape(&channel))).into_response())
}

#[utoipa::path(get, path = "/api/0/organizations/{org}/alert-channels/{channel_id}/", tag = "alerts",
    params(ChannelPath),
    responses((status = 200, body = ChannelShape)),
    security(("token" = ["org:read"])))]
pub async fn get_channel(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(p): Path<ChannelPath>,
) -> Result<Json<ChannelShape>, ApiError> {
    auth.require("org:read")?;
    let org = auth.org(&state, &p.org).await?;
    let channel = channel_of(&state, &org, &p.channel_id).await?;
    Ok(Json(channel_shape(&channel)))
}

/// Changes a channel (admins). Fields left out, and secrets sent back
/// masked, keep what is stored.
#[utoipa::path(put, path = "/api/0/organizations/{org}/alert-channels/{channel_id}/", tag = "alerts",
    params(ChannelPath),
    request_body = ChannelBody,
    responses((status = 200, body = ChannelShape)),
    security(("token" = ["org:write"])))]
pub async fn update_channel(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(p): Path<ChannelPath>,
    ApiJson(body): ApiJson<ChannelBody>,
) -> Result<Json<ChannelShape>, ApiError> {
    auth.require("org:write")?;
    let org = auth.org(&state, &p.org).await?;
    let channel = channel_of(&state, &org, &p.channel_id).await?;
    auth.allow(Action::ManageProjects, org.id)?;
    let name = match &body.name {
        Some(n) => check_name(n).map_err(refusal)?,
        None => channel.name.clone(),
    };
    let stored = &channel.config;
    let kind = body
        .kind
        .unwrap_or_else(|| stored.kind().as_str().to_string());
    let base = if kind == stored.kind().as_str() {
        ConfigShape::of(stored)
    } else {
        ConfigShape::default()
    };
    let config = base
        .overlay(body.config.unwrap_or_default())
        .into_config(&kind)
        .map_err(refusal)?;
    let config = unmasked(config, stored);
    check_channel(&state.store, org.id, &config)
        .await
        .map_err(refusal)?;
    let channel = state
        .store
        .update_alert_channel(channel.id, &name, &config)
        .await?;
    Ok(Json(channel_shape(&channel)))
}

/// Deletes a channel (admins); rules keep their other channels, the
/// delivery log keeps its entries.
#[utoipa::path(delete, path = "/api/0/organizations/{org}/alert-channels/{channel_id}/", tag = "alerts",
    params(ChannelPath),
    responses((status = 204, description = "Deleted")),
    security(("token" = ["org:admin"])))]
pub async fn delete_channel(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(p): Path<ChannelPath>,
) -> Result<StatusCode, ApiError> {
    auth.require("org:admin")?;
    let org = auth.org(&state, &p.org).await?;
    let channel = channel_of(&state, &org, &p.channel_id).await?;
    auth.allow(Action::ManageProjects, org.id)?;
    state.store.delete_alert_channel(channel.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sends a test notification through the channel (admins) and waits up to
/// 15 seconds for the worker's alert runner to send it: 200 with its
/// outcome, or 202 when it is still pending (the runner is busy or not
/// running; the delivery log will show the outcome).
#[utoipa::path(post, path = "/api/0/organizations/{org}/alert-channels/{channel_id}/test/", tag = "alerts",
    params(ChannelPath),
    responses(
        (status = 200, body = super::TestOutcome, description = "Sent, or failed for good"),
        (status = 202, body = super::TestOutcome, description = "Queued, not sent yet"),
    ),
    security(("token" = ["org:write"])))]
pub async fn test_channel(
    State(state): State<AppState>,
    auth: ApiAuth,
    Path(p): Path<ChannelPath>,
) -> Result<Response, ApiError> {
    auth.require("org:write")?;
    let org = auth.org(&state, &p.org).await?;
    let channel = channel_of(&state, &org, &p.channel_id).await?;
    auth.allow(Action::ManageProjects, org.id)?;
    let queued = shared::test_channel(&state, &org, &channel, auth.user())
        .await
        .map_err(refusal)?;
    let (deliveries, done) = shared::wait_for_outcome(&state, queued).await?;
    let names = ChannelNames::new(vec![channel]);
    Ok(test_answer(&deliveries, done, &names))
}
