//! `corral alerts …`: channels, rules and the delivery log from the command
//! line, checked as the API checks them (`corral_web::alerts`).

use anyhow::{Context, bail};
use corral_core::alerts::{
    AlertRule, Channel, ChannelConfig, Condition, DeliveryFilter, DeliveryStatus, DeliveryTarget,
    EmailTargets, Filter, LevelMatch, NewAlertRule, RuleSpec,
};
use corral_core::model::{Organization, Project};
use corral_core::{SharedStore, StoreError};
use corral_protocol::Level;
use corral_web::alerts::{check_channel, check_name, check_rule, masked};
use serde_json::json;

use crate::cli::{AlertsCommand, ChannelsCommand, RulesCommand};

const CONDITIONS: &str = "new_issue, regression, escalating, frequency:COUNT:MINUTES, \
                          users:COUNT:MINUTES or event_rate:COUNT:MINUTES";

/// A lookup's result, with "not found" said as "no {what}".
fn found<T>(result: Result<T, StoreError>, what: impl std::fmt::Display) -> anyhow::Result<T> {
    result.map_err(|e| match e {
        StoreError::NotFound(_) => anyhow::anyhow!("no {what}"),
        e => e.into(),
    })
}

async fn organization(store: &SharedStore, slug: &str) -> anyhow::Result<Organization> {
    found(
        store.organization_by_slug(slug).await,
        format_args!("organization {slug}"),
    )
}

async fn project(store: &SharedStore, org: &str, slug: &str) -> anyhow::Result<Project> {
    found(
        store.project_by_slug(org, slug).await,
        format_args!("project {org}/{slug}"),
    )
}

/// A channel of the organization by name, or by id.
fn channel_named<'a>(
    channels: &'a [Channel],
    org: &str,
    name: &str,
) -> anyhow::Result<&'a Channel> {
    channels
        .iter()
        .find(|c| c.name == name)
        .or_else(|| {
            let id: i64 = name.parse().ok()?;
            channels.iter().find(|c| c.id == id)
        })
        .with_context(|| format!("no channel {name:?} in organization {org}"))
}

/// A rule of the project by name, or by id.
fn rule_named<'a>(rules: &'a [AlertRule], name: &str) -> anyhow::Result<&'a AlertRule> {
    rules
        .iter()
        .find(|r| r.name == name)
        .or_else(|| {
            let id: i64 = name.parse().ok()?;
            rules.iter().find(|r| r.id == id)
        })
        .with_context(|| format!("no rule {name:?} in the project"))
}

/// `new_issue`, `frequency:100:5`, …
pub fn condition(text: &str) -> anyhow::Result<Condition> {
    let unknown = || anyhow::anyhow!("unknown condition {text:?}; expected {CONDITIONS}");
    Ok(match text {
        "new_issue" => Condition::NewIssue,
        "regression" => Condition::Regression,
        "escalating" => Condition::Escalating,
        other => {
            let mut parts = other.split(':');
            let (Some(kind), Some(count), Some(minutes), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(unknown());
            };
            let number = |v: &str, what: &str| -> anyhow::Result<i64> {
                v.parse()
                    .with_context(|| format!("in condition {text:?}: {what} {v:?} is not a number"))
            };
            let (count, minutes) = (number(count, "the count")?, number(minutes, "the minutes")?);
            match kind {
                "frequency" => Condition::Frequency { count, minutes },
                "users" => Condition::Users { count, minutes },
                "event_rate" => Condition::EventRate { count, minutes },
                _ => return Err(unknown()),
            }
        }
    })
}

fn target(config: &ChannelConfig) -> String {
    match masked(config) {
        ChannelConfig::Email(t) => {
            let mut parts = Vec::new();
            if t.project_members {
                parts.push("project members".to_string());
            }
            parts.extend(t.users.iter().map(|u| format!("user {u}")));
            parts.extend(t.teams.iter().map(|t| format!("team {t}")));
            parts.extend(t.addresses);
            parts.join(", ")
        }
        ChannelConfig::Webhook { url, .. }
        | ChannelConfig::Slack { url }
        | ChannelConfig::Discord { url }
        | ChannelConfig::Teams { url } => url,
        ChannelConfig::PagerDuty { routing_key, .. } => format!("routing key {routing_key}"),
    }
}

fn print_channel(c: &Channel, json_out: bool) {
    let kind = c.config.kind().as_str();
    if json_out {
        println!(
            "{}",
            json!({"id": c.id, "name": c.name, "kind": kind,
                   "config": masked(&c.config), "created_at": c.created_at})
        );
    } else {
        println!("{}\t{}\t{kind}\t{}", c.id, c.name, target(&c.config));
    }
}

fn print_rule(r: &AlertRule, channels: &[Channel], json_out: bool) {
    let names: Vec<String> = r
        .spec
        .channels
        .iter()
        .map(|id| {
            channels
                .iter()
                .find(|c| c.id == *id)
                .map(|c| c.name.clone())
                .unwrap_or_else(|| id.to_string())
        })
        .collect();
    if json_out {
        println!(
            "{}",
            json!({"id": r.id, "name": r.name, "enabled": r.enabled,
                   "conditions": r.spec.conditions, "filters": r.spec.filters,
                   "channels": r.spec.channels, "channel_names": names,
                   "action_interval_minutes": r.spec.action_interval_minutes})
        );
    } else {
        let when: Vec<String> = r.spec.conditions.iter().map(Condition::describe).collect();
        let only: Vec<String> = r.spec.filters.iter().map(Filter::describe).collect();
        println!(
            "{}\t{}\t{}\twhen {}{}\t-> {}",
            r.id,
            r.name,
            if r.enabled { "enabled" } else { "disabled" },
            when.join(" or "),
            if only.is_empty() {
                String::new()
            } else {
                format!(" if {}", only.join(" and "))
            },
            names.join(", ")
        );
    }
}

pub async fn run(
    command: AlertsCommand,
    store: &SharedStore,
    json_out: bool,
) -> anyhow::Result<()> {
    match command {
        AlertsCommand::Channels(ChannelsCommand::List { org }) => {
            let org = organization(store, &org).await?;
            for c in store.list_alert_channels(org.id).await? {
                print_channel(&c, json_out);
            }
        }
        AlertsCommand::Channels(ChannelsCommand::Create {
            org,
            name,
            kind,
            url,
            secret,
            routing_key,
            addresses,
            project_members,
        }) => {
            let org = organization(store, &org).await?;
            let name = check_name(&name)?;
            let need = |value: Option<String>, flag: &str| {
                value.with_context(|| format!("a {kind} channel needs --{flag}"))
            };
            let config = match kind.as_str() {
                "email" => ChannelConfig::Email(EmailTargets {
                    project_members,
                    addresses,
                    ..Default::default()
                }),
                "webhook" => ChannelConfig::Webhook {
                    url: need(url, "url")?,
                    secret: need(secret, "secret")?,
                },
                "slack" => ChannelConfig::Slack {
                    url: need(url, "url")?,
                },
                "discord" => ChannelConfig::Discord {
                    url: need(url, "url")?,
                },
                "teams" => ChannelConfig::Teams {
                    url: need(url, "url")?,
                },
                "pagerduty" => ChannelConfig::PagerDuty {
                    routing_key: need(routing_key, "routing-key")?,
                    url,
                },
                other => bail!("unknown kind {other:?}"),
            };
            check_channel(store, org.id, &config).await?;
            let channel = store.create_alert_channel(org.id, &name, &config).await?;
            if json_out {
                print_channel(&channel, true);
            } else {
                println!("created channel {} ({})", channel.name, channel.id);
            }
        }
        AlertsCommand::Channels(ChannelsCommand::Delete { org, channel }) => {
            let org = organization(store, &org).await?;
            let channels = store.list_alert_channels(org.id).await?;
            let c = channel_named(&channels, &org.slug, &channel)?;
            store.delete_alert_channel(c.id).await?;
            println!("deleted channel {} ({})", c.name, c.id);
        }
        AlertsCommand::Rules(RulesCommand::List { org, project: slug }) => {
            let p = project(store, &org, &slug).await?;
            let channels = store.list_alert_channels(p.org_id).await?;
            for r in store.list_alert_rules(p.id).await? {
                print_rule(&r, &channels, json_out);
            }
        }
        AlertsCommand::Rules(RulesCommand::Create {
            org,
            project: slug,
            name,
            conditions,
            channels,
            interval,
            environment,
            level_at_least,
            disabled,
        }) => {
            let p = project(store, &org, &slug).await?;
            let name = check_name(&name)?;
            let conditions = conditions
                .iter()
                .map(|c| condition(c))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let known = store.list_alert_channels(p.org_id).await?;
            let channels = channels
                .iter()
                .map(|c| channel_named(&known, &org, c).map(|c| c.id))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let mut filters = Vec::new();
            if let Some(value) = environment {
                filters.push(Filter::Environment { value });
            }
            if let Some(level) = level_at_least {
                let level: Level = level.parse().map_err(|_| {
                    anyhow::anyhow!(
                        "unknown level {level:?}; expected debug, info, warning, error or fatal"
                    )
                })?;
                filters.push(Filter::Level {
                    level,
                    r#match: LevelMatch::AtLeast,
                });
            }
            let mut spec = RuleSpec {
                conditions,
                filters,
                channels,
                action_interval_minutes: interval,
            };
            check_rule(store, p.org_id, &mut spec).await?;
            let rule = store
                .create_alert_rule(&NewAlertRule {
                    project_id: p.id,
                    name,
                    enabled: !disabled,
                    spec,
                    created_by: None,
                })
                .await?;
            if json_out {
                print_rule(&rule, &known, true);
            } else {
                println!("created rule {} ({})", rule.name, rule.id);
            }
        }
        AlertsCommand::Rules(RulesCommand::Delete {
            org,
            project: slug,
            rule,
        }) => {
            let p = project(store, &org, &slug).await?;
            let rules = store.list_alert_rules(p.id).await?;
            let r = rule_named(&rules, &rule)?;
            store.delete_alert_rule(r.id).await?;
            println!("deleted rule {} ({})", r.name, r.id);
        }
        AlertsCommand::Deliveries {
            org,
            status,
            channel,
            limit,
        } => {
            let org = organization(store, &org).await?;
            let channels = store.list_alert_channels(org.id).await?;
            let status = match status {
                Some(s) => Some(s.parse::<DeliveryStatus>().map_err(anyhow::Error::msg)?),
                None => None,
            };
            let channel_id = match channel {
                Some(c) => Some(channel_named(&channels, &org.slug, &c)?.id),
                None => None,
            };
            let deliveries = store
                .list_deliveries(&DeliveryFilter {
                    org_id: Some(org.id),
                    status,
                    channel_id,
                    limit: limit.clamp(1, 500),
                    ..Default::default()
                })
                .await?;
            for d in deliveries {
                let to = match d.target {
                    DeliveryTarget::Channel(id) => channels
                        .iter()
                        .find(|c| c.id == id)
                        .map(|c| c.name.clone())
                        .unwrap_or_else(|| format!("channel {id}")),
                    DeliveryTarget::User(id) => format!("user {id}"),
                };
                let issue = d.message.issue.as_ref().map(|i| i.short_id.clone());
                if json_out {
                    println!(
                        "{}",
                        json!({"id": d.id, "created_at": d.created_at, "to": to,
                               "rule": d.message.rule_name, "issue": issue,
                               "kind": d.message.kind.as_str(), "status": d.status.as_str(),
                               "attempts": d.attempts, "last_status_code": d.last_status_code,
                               "last_error": d.last_error})
                    );
                } else {
                    println!(
                        "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                        d.id,
                        d.created_at.format("%Y-%m-%d %H:%M:%S"),
                        d.status.as_str(),
                        to,
                        d.message.kind.as_str(),
                        issue.unwrap_or_default(),
                        d.last_status_code
                            .map(|c| c.to_string())
                            .unwrap_or_default(),
                        d.last_error.unwrap_or_default()
                    );
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_from_the_command_line() {
        assert_eq!(condition("new_issue").unwrap(), Condition::NewIssue);
        assert_eq!(
            condition("frequency:100:5").unwrap(),
            Condition::Frequency {
                count: 100,
                minutes: 5
            }
        );
        assert_eq!(
            condition("event_rate:1000:1").unwrap(),
            Condition::EventRate {
                count: 1000,
                minutes: 1
            }
        );
        for bad in [
            "bogus",
            "frequency:5",
            "frequency:x:5",
            "users:1:2:3",
            "rate:1:1",
        ] {
            assert!(condition(bad).is_err(), "{bad}");
        }
        assert!(
            condition("bogus")
                .unwrap_err()
                .to_string()
                .contains("expected new_issue")
        );
    }
}
