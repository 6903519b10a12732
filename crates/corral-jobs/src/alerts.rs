//! The alert runner: the worker's side of alerting, off the ingest and digest
//! paths. It runs three kinds of work, each leased in the store so that any
//! number of workers can run it and each piece is done once:
//!
//! - **triggers** the digest recorded (new, regressed, escalating) and the
//!   status changes people made (resolved, assigned): matched against the
//!   project's rules; each matching rule fires at most once per action
//!   interval per issue, written in one transaction with the trigger's end
//!   ([`Store::complete_alert_trigger`]); workflow mail and PagerDuty
//!   resolves are queued with it;
//! - **window conditions** (an issue seen more than N times or by more than
//!   N users in T minutes, a project's event rate), evaluated every
//!   `alerts.evaluate_interval_secs` from the per-minute counts the digest
//!   keeps per issue (`issue_minutely`, a few rows per issue whatever N is),
//!   swept after three hours;
//! - **deliveries**: due ones are leased and handed to a [`Deliver`] (the
//!   outbound client and mail), whose outcome (sent, retry later, dead) is
//!   written back.
//!
//! Every step takes `now`, so tests drive time instead of sleeping.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use corral_core::alerts::*;
use corral_core::config::Config;
use corral_core::model::*;
use corral_core::{SharedStore, StoreError, StoreResult};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

/// Triggers taken per round.
const TRIGGER_BATCH: u32 = 100;
/// Issues looked at per project and window (those with the most events).
const WINDOW_ISSUES: u32 = 200;

/// The alert runner of one process (see the module comment).
#[derive(Clone)]
pub struct AlertRunner {
    store: SharedStore,
    deliver: Arc<dyn Deliver>,
    settings: AlertsConfig,
    base_url: String,
    mail: bool,
}

/// What the runner reads from the configuration.
#[derive(Clone, Debug)]
struct AlertsConfig {
    poll: StdDuration,
    evaluate: StdDuration,
    concurrency: usize,
}

/// The issue, its project and organization, as messages need them.
struct Scope {
    issue: Issue,
    project: Arc<Project>,
    subject: AlertSubject,
}

impl AlertRunner {
    pub fn new(store: SharedStore, deliver: Arc<dyn Deliver>, config: &Config) -> AlertRunner {
        let a = &config.alerts;
        AlertRunner {
            store,
            deliver,
            settings: AlertsConfig {
                poll: StdDuration::from_millis(a.poll_interval_ms.max(10)),
                evaluate: StdDuration::from_secs(a.evaluate_interval_secs.max(1)),
                concurrency: a.concurrency.max(1),
            },
            base_url: config
                .base_url
                .clone()
                .unwrap_or_else(|| "http://localhost:8000".into())
                .trim_end_matches('/')
                .to_owned(),
            mail: config.smtp_url.is_some(),
        }
    }

    /// Runs until `shutdown`: triggers and due deliveries every poll,
    /// window conditions every evaluation interval. Store failures are
    /// logged and tried again next round.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut poll = tokio::time::interval(self.settings.poll);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_evaluation: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = poll.tick() => {}
            }
            if let Err(e) = self.process_triggers(Utc::now()).await {
                tracing::warn!(error = %e, "alert triggers failed; trying again");
            }
            let due = last_evaluation.is_none_or(|t| t.elapsed() >= self.settings.evaluate);
            if due {
                last_evaluation = Some(tokio::time::Instant::now());
                if let Err(e) = self.evaluate_windows(Utc::now()).await {
                    tracing::warn!(error = %e, "alert window conditions failed; trying again");
                }
                let kept = Utc::now() - Duration::minutes(WINDOW_COUNTS_KEPT_MINUTES);
                if let Err(e) = self.store.sweep_window_counts(kept).await {
                    tracing::warn!(error = %e, "sweeping old window counts failed; trying again");
                }
            }
            // a delivery already taken finishes even during shutdown's grace
            if let Err(e) = self.send_due(Utc::now()).await {
                tracing::warn!(error = %e, "alert deliveries failed; trying again");
            }
        }
    }

    /// Takes the waiting triggers and finishes each: the rules it fires,
    /// workflow mail, PagerDuty resolves. Returns how many were finished.
    pub async fn process_triggers(&self, now: DateTime<Utc>) -> StoreResult<usize> {
        let triggers = self
            .store
            .claim_alert_triggers(now, TRIGGER_LEASE, TRIGGER_BATCH)
            .await?;
        if triggers.is_empty() {
            return Ok(0);
        }
        let rules = self.store.active_alert_rules().await?;
        let mut done = 0;
        for t in &triggers {
            let (fires, direct) = match self.scope(t.issue_id, t.event_id).await {
                Ok(scope) => (
                    self.trigger_fires(t, &scope, &rules, now),
                    self.direct_deliveries(t, &scope, now).await?,
                ),
                // the issue was deleted since: nothing to say about it
                Err(StoreError::NotFound(_)) => (Vec::new(), Vec::new()),
                Err(e) => return Err(e),
            };
            if self
                .store
                .complete_alert_trigger(t.id, &fires, &direct, now)
                .await?
                .is_some()
            {
                done += 1;
            }
        }
        metrics::counter!("corral_alert_triggers_total").increment(done as u64);
        Ok(done)
    }

    /// Evaluates the window conditions of every active rule; returns how
    /// many fires were written.
    pub async fn evaluate_windows(&self, now: DateTime<Utc>) -> StoreResult<usize> {
        let rules = self.store.active_alert_rules().await?;
        let mut fired = 0;
        for rule in rules.iter().filter(|r| r.spec.windows().next().is_some()) {
            for condition in rule.spec.windows() {
                fired += self.evaluate_condition(rule, condition, now).await?;
            }
        }
        Ok(fired)
    }

    async fn evaluate_condition(
        &self,
        rule: &AlertRule,
        condition: &Condition,
        now: DateTime<Utc>,
    ) -> StoreResult<usize> {
        let Some((threshold, minutes)) = condition.window() else {
            return Ok(0);
        };
        let since = now - Duration::minutes(minutes);
        let window = |count| AlertWindow {
            count,
            threshold,
            minutes,
        };
        // what fired within the action interval cannot fire again: not counted
        let quiet_since = now - rule.spec.action_interval();
        if let Condition::EventRate { .. } = condition {
            if self
                .store
                .alert_fired_after(rule.id, 0, quiet_since)
                .await?
            {
                return Ok(0);
            }
            let n = self
                .store
                .project_events_since(rule.project_id, since, threshold + 1)
                .await?;
            if n <= threshold {
                return Ok(0);
            }
            let project = self.store.project_by_id(rule.project_id).await?;
            let message = self.message(AlertKind::EventRate, Some(rule), &project, None, now);
            let message = AlertMessage {
                window: Some(window(n)),
                ..message
            };
            let fire = self.fire(rule, 0, project.org_id, message);
            return Ok(usize::from(self.store.fire_alert(&fire, now).await?));
        }
        let found = self
            .store
            .issue_counts_since(
                rule.project_id,
                since,
                threshold + 1,
                WINDOW_ISSUES,
                rule.id,
                quiet_since,
            )
            .await?;
        let mut fired = 0;
        for &(issue_id, n) in found.iter() {
            // more users than events cannot be: both conditions need n > threshold
            if n <= threshold {
                continue;
            }
            let (kind, count) = match condition {
                Condition::Users { .. } => {
                    let users = self
                        .store
                        .issue_users_since(issue_id, since, threshold + 1)
                        .await?;
                    if users <= threshold {
                        continue;
                    }
                    (AlertKind::Users, users)
                }
                _ => (AlertKind::Frequency, n),
            };
            let scope = match self.scope(issue_id, None).await {
                Ok(s) => s,
                Err(StoreError::NotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            if !rule.spec.matches(&scope.issue, &scope.subject, now) {
                continue;
            }
            let message = self.message(kind, Some(rule), &scope.project, Some(&scope), now);
            let message = AlertMessage {
                window: Some(window(count)),
                ..message
            };
            let fire = self.fire(rule, issue_id, scope.project.org_id, message);
            if self.store.fire_alert(&fire, now).await? {
                fired += 1;
            }
        }
        Ok(fired)
    }

    /// Sends the deliveries due at `now`, `alerts.concurrency` at once;
    /// returns how many were attempted.
    pub async fn send_due(&self, now: DateTime<Utc>) -> StoreResult<usize> {
        let limit = u32::try_from(self.settings.concurrency * 4).unwrap_or(u32::MAX);
        let due = self
            .store
            .claim_deliveries(now, DELIVERY_LEASE, limit)
            .await?;
        let n = due.len();
        let results: Vec<StoreResult<()>> = futures::stream::iter(due)
            .map(|d| async move {
                let outcome = self.deliver.send(&d).await;
                let label = match &outcome {
                    DeliveryOutcome::Sent { .. } => "sent",
                    DeliveryOutcome::Retry { .. } => "retry",
                    DeliveryOutcome::Dead { .. } => "dead",
                };
                metrics::counter!("corral_alert_deliveries_total", "outcome" => label).increment(1);
                if let DeliveryOutcome::Dead { error, .. } = &outcome {
                    tracing::warn!(delivery = d.id, %error, "alert delivery dead-lettered");
                }
                self.store
                    .finish_delivery(d.id, &outcome, Utc::now())
                    .await
                    .map(|_| ())
            })
            .buffer_unordered(self.settings.concurrency)
            .collect()
            .await;
        for r in results {
            r?;
        }
        Ok(n)
    }

    /// The rules a trigger fires (those answering its kind whose filters pass).
    fn trigger_fires(
        &self,
        t: &AlertTrigger,
        scope: &Scope,
        rules: &[AlertRule],
        now: DateTime<Utc>,
    ) -> Vec<AlertFire> {
        rules
            .iter()
            .filter(|r| r.project_id == t.project_id && r.spec.answers(t.kind))
            .filter(|r| r.spec.matches(&scope.issue, &scope.subject, now))
            .map(|r| {
                let message =
                    self.message(t.kind.into(), Some(r), &scope.project, Some(scope), now);
                let message = AlertMessage {
                    event_id: t.event_id,
                    ..message
                };
                self.fire(r, t.issue_id, scope.project.org_id, message)
            })
            .collect()
    }

    /// Deliveries a trigger causes outside the rules: workflow mail to the
    /// people of the issue, and PagerDuty resolves where a trigger went.
    async fn direct_deliveries(
        &self,
        t: &AlertTrigger,
        scope: &Scope,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<NewDelivery>> {
        let mut out = Vec::new();
        let message = |kind| self.message(kind, None, &scope.project, Some(scope), now);
        if t.kind == TriggerKind::Resolved {
            for ch in self.store.list_alert_channels(scope.project.org_id).await? {
                if ch.config.kind() == ChannelKind::PagerDuty
                    && self.store.delivered_to_channel(t.issue_id, ch.id).await?
                {
                    out.push(NewDelivery {
                        org_id: scope.project.org_id,
                        target: DeliveryTarget::Channel(ch.id),
                        message: message(AlertKind::Resolved),
                    });
                }
            }
        }
        if self.mail {
            for user in self.workflow_recipients(t.kind, &scope.issue).await? {
                out.push(NewDelivery {
                    org_id: scope.project.org_id,
                    target: DeliveryTarget::User(user),
                    message: message(t.kind.into()),
                });
            }
        }
        Ok(out)
    }

    /// Who gets workflow mail: on an assignment the assignee (or the
    /// assigned team's members) who want mail about their issues; on a
    /// regression or resolution also everyone subscribed to the issue who
    /// wants workflow mail. Whoever unsubscribed from the issue gets none.
    async fn workflow_recipients(
        &self,
        kind: TriggerKind,
        issue: &Issue,
    ) -> StoreResult<Vec<UserId>> {
        if !matches!(
            kind,
            TriggerKind::Assigned | TriggerKind::Regression | TriggerKind::Resolved
        ) {
            return Ok(Vec::new());
        }
        let subscriptions = self.store.issue_subscriptions(issue.id).await?;
        let unsubscribed: HashSet<UserId> = subscriptions
            .iter()
            .filter(|(_, on)| !on)
            .map(|(u, _)| *u)
            .collect();
        let mut assignees = Vec::new();
        match issue.assignee {
            Some(Assignee::User(u)) => assignees.push(u),
            Some(Assignee::Team(team)) => {
                assignees.extend(self.store.team_members(team).await?.iter().map(|u| u.id))
            }
            None => {}
        }
        let mut wanted = BTreeMap::new();
        for u in assignees {
            if self.store.notification_settings(u).await?.assigned {
                wanted.insert(u, ());
            }
        }
        if kind != TriggerKind::Assigned {
            for (u, on) in subscriptions {
                if on && self.store.notification_settings(u).await?.workflow {
                    wanted.insert(u, ());
                }
            }
        }
        Ok(wanted
            .into_keys()
            .filter(|u| !unsubscribed.contains(u))
            .collect())
    }

    fn fire(
        &self,
        rule: &AlertRule,
        issue_id: IssueId,
        org_id: OrgId,
        message: AlertMessage,
    ) -> AlertFire {
        AlertFire {
            rule_id: rule.id,
            issue_id,
            interval_minutes: rule.spec.action_interval_minutes,
            deliveries: rule
                .spec
                .channels
                .iter()
                .map(|&c| NewDelivery {
                    org_id,
                    target: DeliveryTarget::Channel(c),
                    message: message.clone(),
                })
                .collect(),
        }
    }

    /// The issue with its project, and what filters look at: the event that
    /// decided the trigger, else the issue's latest event.
    async fn scope(&self, issue_id: IssueId, event_id: Option<uuid::Uuid>) -> StoreResult<Scope> {
        let issue = self.store.issue_by_id(issue_id).await?;
        let project = Arc::new(self.store.project_by_id(issue.project_id).await?);
        let event = match event_id {
            Some(id) => self.store.event_by_id(issue.project_id, id).await,
            None => self.store.latest_event(issue_id).await,
        };
        let subject = match event {
            Ok(e) => AlertSubject {
                environment: e.environment,
                release: e.release,
                level: Some(e.level),
                tags: e.tags,
            },
            // purged or not readable: the issue alone decides
            Err(StoreError::NotFound(_)) => AlertSubject {
                release: issue.last_release.clone(),
                ..AlertSubject::default()
            },
            Err(e) => return Err(e),
        };
        Ok(Scope {
            issue,
            project,
            subject,
        })
    }

    fn message(
        &self,
        kind: AlertKind,
        rule: Option<&AlertRule>,
        project: &Project,
        scope: Option<&Scope>,
        now: DateTime<Utc>,
    ) -> AlertMessage {
        let org = &project.org_slug;
        AlertMessage {
            kind,
            rule_id: rule.map(|r| r.id),
            rule_name: rule.map(|r| r.name.clone()),
            org_slug: org.clone(),
            project_id: project.id,
            project_slug: project.slug.clone(),
            project_name: project.name.clone(),
            environment: scope.and_then(|s| s.subject.environment.clone()),
            release: scope.and_then(|s| s.subject.release.clone()),
            issue: scope.map(|s| AlertIssue::of(&s.issue, project, &self.base_url)),
            window: None,
            event_id: None,
            project_url: format!(
                "{}/organizations/{org}/issues/?project={}",
                self.base_url, project.id
            ),
            actor: None,
            created_at: now,
        }
    }
}
