//! Alerting as the API, the pages and the CLI share it: channels' secrets
//! masked for reading (and kept when the masked value comes back), the
//! checks a channel or a rule passes before it is stored (beyond the
//! domain's own: recipients and channels of the same organization), and
//! test notifications, which are queued like any delivery and sent by the
//! worker's alert runner.

use std::collections::HashSet;
use std::time::Duration;

use chrono::Utc;
use corral_core::alerts::{
    AlertIssue, AlertKind, AlertMessage, AlertRule, AlertSpecError, Channel, ChannelConfig,
    Delivery, DeliveryStatus, DeliveryTarget, MAX_NAME_CHARS, NewDelivery, RuleSpec,
};
use corral_core::model::{OrgId, Organization, Project, User};
use corral_core::{IssueQuery, IssueSort, SharedStore, StoreError, StoreResult};

use crate::mail::local_base_url;
use crate::state::AppState;

/// What stands for the hidden part of a secret.
pub const MASK: &str = "••••";

/// How often a test notification looks whether the worker sent it.
const POLL: Duration = Duration::from_millis(200);

/// A secret as reads show it: `••••cdef`, its last four characters, or
/// only `••••` when it is too short to show any.
pub fn mask(secret: &str) -> String {
    let n = secret.chars().count();
    if n < 12 {
        return MASK.to_string();
    }
    let tail: String = secret.chars().skip(n - 4).collect();
    format!("{MASK}{tail}")
}

/// A chat webhook's URL as reads show it: the path (and query) is the
/// credential, so only the scheme and host stay.
pub fn mask_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return mask(url);
    };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    if path.is_empty() {
        return format!("{scheme}://{host}/");
    }
    format!("{scheme}://{host}/{}", mask(path))
}

/// The channel's configuration with its secrets masked.
pub fn masked(config: &ChannelConfig) -> ChannelConfig {
    match config {
        ChannelConfig::Webhook { url, secret } => ChannelConfig::Webhook {
            url: url.clone(),
            secret: mask(secret),
        },
        ChannelConfig::Slack { url } => ChannelConfig::Slack { url: mask_url(url) },
        ChannelConfig::Discord { url } => ChannelConfig::Discord { url: mask_url(url) },
        ChannelConfig::Teams { url } => ChannelConfig::Teams { url: mask_url(url) },
        ChannelConfig::PagerDuty { routing_key, url } => ChannelConfig::PagerDuty {
            routing_key: mask(routing_key),
            url: url.clone(),
        },
        ChannelConfig::Email(t) => ChannelConfig::Email(t.clone()),
    }
}

/// A configuration sent back for a stored channel: where a secret is the
/// masked form of the stored one (a form or a script that read the
/// channel and changed something else), the stored secret stays.
pub fn unmasked(sent: ChannelConfig, stored: &ChannelConfig) -> ChannelConfig {
    let keep = |new: String, old: &str, shown: String| {
        if new == shown { old.to_string() } else { new }
    };
    match (sent, stored) {
        (ChannelConfig::Webhook { url, secret }, ChannelConfig::Webhook { secret: old, .. }) => {
            ChannelConfig::Webhook {
                url,
                secret: keep(secret, old, mask(old)),
            }
        }
        (ChannelConfig::Slack { url }, ChannelConfig::Slack { url: old }) => ChannelConfig::Slack {
            url: keep(url, old, mask_url(old)),
        },
        (ChannelConfig::Discord { url }, ChannelConfig::Discord { url: old }) => {
            ChannelConfig::Discord {
                url: keep(url, old, mask_url(old)),
            }
        }
        (ChannelConfig::Teams { url }, ChannelConfig::Teams { url: old }) => ChannelConfig::Teams {
            url: keep(url, old, mask_url(old)),
        },
        (
            ChannelConfig::PagerDuty { routing_key, url },
            ChannelConfig::PagerDuty {
                routing_key: old, ..
            },
        ) => ChannelConfig::PagerDuty {
            routing_key: keep(routing_key, old, mask(old)),
            url,
        },
        // another kind: nothing of the old one applies
        (sent, _) => sent,
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> StoreError {
    StoreError::Invalid {
        field,
        reason: reason.into(),
    }
}

/// The domain's refusal as the store's, so that the API answers 400 and
/// the pages show it as every other refused input.
pub fn refused(e: AlertSpecError) -> StoreError {
    invalid(e.field, e.reason)
}

/// A rule's or channel's name: 1 to 200 characters once trimmed.
pub fn check_name(name: &str) -> StoreResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(invalid(
            "name",
            format!("give a name of 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    Ok(name.to_string())
}

/// A channel's configuration as the domain checks it, and an email
/// channel's people and teams are the organization's.
pub async fn check_channel(
    store: &SharedStore,
    org_id: OrgId,
    config: &ChannelConfig,
) -> StoreResult<()> {
    config.validate().map_err(refused)?;
    if let ChannelConfig::Email(targets) = config {
        if !targets.users.is_empty() {
            let members: HashSet<i64> = store
                .list_members(org_id)
                .await?
                .iter()
                .map(|m| m.user.id)
                .collect();
            if let Some(id) = targets.users.iter().find(|u| !members.contains(u)) {
                return Err(invalid(
                    "targets",
                    format!("user {id} is not a member of this organization"),
                ));
            }
        }
        if !targets.teams.is_empty() {
            let teams: HashSet<i64> = store
                .list_teams(org_id)
                .await?
                .iter()
                .map(|t| t.id)
                .collect();
            if let Some(id) = targets.teams.iter().find(|t| !teams.contains(t)) {
                return Err(invalid(
                    "targets",
                    format!("team {id} is not a team of this organization"),
                ));
            }
        }
    }
    Ok(())
}

/// A rule's spec as the domain checks it, with at least one channel, each
/// of the organization. Repeated channels are sent to once.
pub async fn check_rule(
    store: &SharedStore,
    org_id: OrgId,
    spec: &mut RuleSpec,
) -> StoreResult<()> {
    let mut seen = HashSet::new();
    spec.channels.retain(|c| seen.insert(*c));
    spec.validate().map_err(refused)?;
    if spec.channels.is_empty() {
        return Err(invalid("channels", "a rule needs at least one channel"));
    }
    let own: HashSet<i64> = store
        .list_alert_channels(org_id)
        .await?
        .iter()
        .map(|c| c.id)
        .collect();
    if let Some(id) = spec.channels.iter().find(|c| !own.contains(c)) {
        return Err(invalid(
            "channels",
            format!("no channel {id} in this organization"),
        ));
    }
    Ok(())
}

/// A person's name for messages and pages: the name, else the email.
pub fn person(user: &User) -> String {
    if user.name.trim().is_empty() {
        user.email.clone()
    } else {
        user.name.clone()
    }
}

/// Queues a test notification to one channel. A channel belongs to no
/// project: the message names the organization (project id 0).
pub async fn test_channel(
    state: &AppState,
    org: &Organization,
    channel: &Channel,
    actor: &User,
) -> StoreResult<Vec<Delivery>> {
    let base = local_base_url(&state.config);
    let now = Utc::now();
    let message = AlertMessage {
        kind: AlertKind::Test,
        rule_id: None,
        rule_name: None,
        org_slug: org.slug.clone(),
        project_id: 0,
        project_slug: org.slug.clone(),
        project_name: org.name.clone(),
        environment: None,
        release: None,
        issue: None,
        window: None,
        event_id: None,
        project_url: format!("{base}/organizations/{}/issues/", org.slug),
        actor: Some(person(actor)),
        created_at: now,
    };
    let delivery = NewDelivery {
        org_id: org.id,
        target: DeliveryTarget::Channel(channel.id),
        message,
    };
    state.store.queue_deliveries(&[delivery], now).await
}

/// Queues a test notification of a rule to each of its channels, about the
/// project's newest issue (or none when it has none).
pub async fn test_rule(
    state: &AppState,
    project: &Project,
    rule: &AlertRule,
    actor: &User,
) -> StoreResult<Vec<Delivery>> {
    let base = local_base_url(&state.config);
    let newest = state
        .store
        .list_issues(&IssueQuery {
            project_ids: vec![project.id],
            sort: IssueSort::FirstSeen,
            limit: 1,
            ..Default::default()
        })
        .await?;
    let own: HashSet<i64> = state
        .store
        .list_alert_channels(project.org_id)
        .await?
        .iter()
        .map(|c| c.id)
        .collect();
    let channels: Vec<i64> = rule
        .spec
        .channels
        .iter()
        .copied()
        .filter(|c| own.contains(c))
        .collect();
    if channels.is_empty() {
        return Err(invalid(
            "channels",
            "the rule has no channel left to send to",
        ));
    }
    let now = Utc::now();
    let message = AlertMessage {
        kind: AlertKind::Test,
        rule_id: Some(rule.id),
        rule_name: Some(rule.name.clone()),
        org_slug: project.org_slug.clone(),
        project_id: project.id,
        project_slug: project.slug.clone(),
        project_name: project.name.clone(),
        environment: None,
        release: newest.first().and_then(|i| i.last_release.clone()),
        issue: newest.first().map(|i| AlertIssue::of(i, project, &base)),
        window: None,
        event_id: None,
        project_url: format!(
            "{base}/organizations/{}/issues/?project={}",
            project.org_slug, project.slug
        ),
        actor: Some(person(actor)),
        created_at: now,
    };
    let deliveries: Vec<NewDelivery> = channels
        .into_iter()
        .map(|c| NewDelivery {
            org_id: project.org_id,
            target: DeliveryTarget::Channel(c),
            message: message.clone(),
        })
        .collect();
    state.store.queue_deliveries(&deliveries, now).await
}

/// Whether a delivery has its outcome (sent, or dead for good).
pub fn finished(d: &Delivery) -> bool {
    matches!(d.status, DeliveryStatus::Sent | DeliveryStatus::Dead)
}

/// Waits up to [`AppState::test_notification_wait`] for the worker to
/// send the deliveries; returns them as they are then, and whether every
/// one has its outcome.
pub async fn wait_for_outcome(
    state: &AppState,
    mut deliveries: Vec<Delivery>,
) -> StoreResult<(Vec<Delivery>, bool)> {
    let deadline = tokio::time::Instant::now() + state.test_notification_wait();
    loop {
        if deliveries.iter().all(finished) {
            return Ok((deliveries, true));
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Ok((deliveries, false));
        }
        tokio::time::sleep(POLL.min(deadline - now)).await;
        for d in deliveries.iter_mut().filter(|d| !finished(d)) {
            *d = state.store.delivery_by_id(d.id).await?;
        }
    }
}

/// What the answer to a test notification says about its deliveries.
pub fn outcome_summary(deliveries: &[Delivery], done: bool) -> String {
    if !done {
        return "the test notification is queued but not sent yet: the worker's alert runner \
                is busy or not running; its outcome will show in the delivery log"
            .into();
    }
    let sent = deliveries
        .iter()
        .filter(|d| d.status == DeliveryStatus::Sent)
        .count();
    if sent == deliveries.len() {
        "the test notification was sent".into()
    } else {
        format!(
            "{} of {} test notifications could not be sent",
            deliveries.len() - sent,
            deliveries.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use corral_core::alerts::EmailTargets;

    use super::*;

    #[test]
    fn secrets_are_masked_to_their_last_four() {
        assert_eq!(mask("0123456789abcdef"), "••••cdef");
        assert_eq!(mask("short"), MASK, "short secrets show nothing");
        assert_eq!(
            mask_url("https://hooks.slack.com/services/T000/B000/XXXXsecret"),
            "https://hooks.slack.com/••••cret"
        );
        assert_eq!(mask_url("https://example.com"), "https://example.com/");
        let hook = ChannelConfig::Webhook {
            url: "https://example.com/hook".into(),
            secret: "0123456789abcdef".into(),
        };
        assert_eq!(
            masked(&hook),
            ChannelConfig::Webhook {
                url: "https://example.com/hook".into(),
                secret: "••••cdef".into()
            },
            "a webhook's URL is no secret"
        );
        let email = ChannelConfig::Email(EmailTargets {
            addresses: vec!["a@example.com".into()],
            ..Default::default()
        });
        assert_eq!(masked(&email), email);
    }

    #[test]
    fn a_masked_value_sent_back_keeps_the_stored_secret() {
        let stored = ChannelConfig::Webhook {
            url: "https://example.com/hook".into(),
            secret: "0123456789abcdef".into(),
        };
        let back = unmasked(
            ChannelConfig::Webhook {
                url: "https://example.com/other".into(),
                secret: "••••cdef".into(),
            },
            &stored,
        );
        assert_eq!(
            back,
            ChannelConfig::Webhook {
                url: "https://example.com/other".into(),
                secret: "0123456789abcdef".into()
            }
        );
        let new = ChannelConfig::Webhook {
            url: "https://example.com/hook".into(),
            secret: "a new secret of enough length".into(),
        };
        assert_eq!(unmasked(new.clone(), &stored), new);
        let slack = ChannelConfig::Slack {
            url: "https://hooks.slack.com/services/T/B/secretpath".into(),
        };
        assert_eq!(unmasked(masked(&slack), &slack), slack);
        let pd = ChannelConfig::PagerDuty {
            routing_key: "R0UTINGKEY123456".into(),
            url: None,
        };
        assert_eq!(unmasked(masked(&pd), &pd), pd);
        // another kind takes nothing from the stored one
        assert_eq!(unmasked(slack.clone(), &stored), slack);
    }
}
