//! Alerting in the API: an organization's channels, a project's rules and
//! mute, the delivery log, and test notifications.
//!
//! Members of the organization read (rules and deliveries of the projects
//! they see); admins and owners change; other organizations get 404.
//! Secrets of channels are write-only: reads show them masked
//! ([`crate::alerts::mask`]), and a masked value sent back keeps the
//! stored one.
//!
//! - `channels`: `/organizations/{org}/alert-channels/…`, and their tests;
//! - `rules`: `/projects/{org}/{project}/rules/…`, their tests, and the
//!   project's mute (`/projects/{org}/{project}/alerts/`);
//! - `deliveries`: the delivery log of an organization and of a rule;
//! - `webhook`: the generic webhook's body in the OpenAPI document.

pub mod channels;
pub mod deliveries;
pub mod rules;
pub mod webhook;

use std::collections::HashMap;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use corral_core::StoreError;
use corral_core::alerts::{Channel, ChannelId, Delivery, DeliveryTarget, RuleId};
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::ApiError;
use super::shapes::Time;
use crate::alerts::{finished, outcome_summary};

/// A refusal of the alerting routes, naming the API's field (`routingKey`,
/// not the domain's `routing_key`).
fn refusal(e: StoreError) -> ApiError {
    match e {
        StoreError::Invalid { field, reason } => {
            let field = match field {
                "routing_key" => "routingKey",
                "action_interval_minutes" => "actionIntervalMinutes",
                "targets" => "config",
                other => other,
            };
            ApiError::BadRequest(format!("invalid {field}: {reason}"))
        }
        e => e.into(),
    }
}

/// An id in a path: 404 when it is not a number.
fn path_id(raw: &str, what: &'static str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| ApiError::NotFound(what))
}

/// Ids given as numbers or as Sentry's strings (`[3, "4"]`).
fn ids<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<i64>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Number(i64),
        Text(String),
    }
    let Some(list) = Option::<Vec<Id>>::deserialize(d)? else {
        return Ok(None);
    };
    list.into_iter()
        .map(|id| match id {
            Id::Number(n) => Ok(n),
            Id::Text(s) => s
                .trim()
                .parse()
                .map_err(|_| de::Error::custom(format!("{s:?} is not an id"))),
        })
        .collect::<Result<Vec<i64>, D::Error>>()
        .map(Some)
}

/// A channel as a delivery or a rule names it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChannelRef {
    pub id: String,
    /// `null` once the channel is deleted.
    pub name: Option<String>,
    /// `email`, `webhook`, `slack`, `discord`, `teams` or `pagerduty`.
    pub kind: Option<&'static str>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RuleRef {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssueRef {
    pub id: String,
    pub short_id: String,
    pub title: String,
}

/// One delivery of the log: where a message went, and how it went.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = AlertDelivery)]
pub struct DeliveryShape {
    pub id: String,
    /// When it was queued.
    pub date_created: Time,
    /// Its last change (an attempt, its end).
    pub date_updated: Time,
    /// The channel it went to; `null` for a person's workflow mail.
    pub channel: Option<ChannelRef>,
    /// The person a workflow mail went to (their user id).
    pub user: Option<String>,
    /// The rule that fired it; `null` for tests and workflow mail.
    pub rule: Option<RuleRef>,
    pub issue: Option<IssueRef>,
    /// Why it was sent: `new_issue`, `regression`, `escalating`,
    /// `frequency`, `users`, `event_rate`, `resolved`, `assigned`, `test`.
    pub kind: &'static str,
    /// `pending`, `sending`, `sent` or `dead`.
    pub status: &'static str,
    pub attempts: i32,
    /// The HTTP status (or SMTP code) of the last attempt.
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    /// When the next attempt is due, while it is pending.
    pub next_attempt_at: Option<Time>,
}

/// The organization's channels by id, for naming them in deliveries.
pub struct ChannelNames(HashMap<ChannelId, Channel>);

impl ChannelNames {
    pub fn new(channels: Vec<Channel>) -> ChannelNames {
        ChannelNames(channels.into_iter().map(|c| (c.id, c)).collect())
    }

    pub fn of(&self, id: ChannelId) -> ChannelRef {
        let c = self.0.get(&id);
        ChannelRef {
            id: id.to_string(),
            name: c.map(|c| c.name.clone()),
            kind: c.map(|c| c.config.kind().as_str()),
        }
    }
}

pub fn delivery(d: &Delivery, channels: &ChannelNames) -> DeliveryShape {
    let (channel, user) = match d.target {
        DeliveryTarget::Channel(id) => (Some(channels.of(id)), None),
        DeliveryTarget::User(id) => (None, Some(id.to_string())),
    };
    let rule_id: Option<RuleId> = d.rule_id.or(d.message.rule_id);
    DeliveryShape {
        id: d.id.to_string(),
        date_created: d.created_at.into(),
        date_updated: d.updated_at.into(),
        channel,
        user,
        rule: rule_id.map(|id| RuleRef {
            id: id.to_string(),
            name: d.message.rule_name.clone().unwrap_or_default(),
        }),
        issue: d.message.issue.as_ref().map(|i| IssueRef {
            id: i.id.to_string(),
            short_id: i.short_id.clone(),
            title: i.title.clone(),
        }),
        kind: d.message.kind.as_str(),
        status: d.status.as_str(),
        attempts: d.attempts,
        last_status_code: d.last_status_code,
        last_error: d.last_error.clone(),
        next_attempt_at: (!finished(d)).then(|| d.next_attempt_at.into()),
    }
}

/// The answer to a test notification.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestOutcome {
    /// What became of it, for people.
    pub detail: String,
    pub deliveries: Vec<DeliveryShape>,
}

/// 200 with the outcome when every delivery has one, else 202: the
/// worker's alert runner did not send it in time.
fn test_answer(deliveries: &[Delivery], done: bool, channels: &ChannelNames) -> Response {
    let body = TestOutcome {
        detail: outcome_summary(deliveries, done),
        deliveries: deliveries.iter().map(|d| delivery(d, channels)).collect(),
    };
    let status = if done {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    (status, Json(body)).into_response()
}
