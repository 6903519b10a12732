//! The alert runner on both shapes, with corral-alerts' real sender posting
//! to a local HTTP sink: rules fire once per action interval however hot the
//! issue and however many runners, regressions alert once, filters and the
//! project mute hold, and a resolution resolves the PagerDuty incident.
//! Time is driven through the runner's `now`, never slept.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use corral_core::alerts::*;
use corral_core::config::Config;
use corral_core::model::{EventType, IssueId};
use corral_core::{DigestInput, GroupHash, SharedStore, StatusChange};
use corral_jobs::AlertRunner;
use corral_protocol::Level;
use corral_testkit::sink::{Answer, Sink};
use serde_json::json;
use uuid::Uuid;

use crate::support::{Env, Shape};

struct Alerting {
    env: Env,
    org: i64,
    sink: Sink,
    config: Config,
}

impl Alerting {
    async fn new(shape: Shape) -> Alerting {
        let env = Env::new(shape).await;
        let org = env.store.project_by_id(env.project).await.unwrap().org_id;
        let mut config = Config::default();
        config.alerts.allow_private_addresses = true;
        config.base_url = Some("http://corral.test".into());
        Alerting {
            env,
            org,
            sink: Sink::start(Answer::Status(200)).await,
            config,
        }
    }

    fn store(&self) -> &SharedStore {
        &self.env.store
    }

    fn runner(&self) -> AlertRunner {
        let sender = corral_alerts::Sender::new(self.store().clone(), &self.config).unwrap();
        AlertRunner::new(self.store().clone(), Arc::new(sender), &self.config)
    }

    async fn webhook(&self) -> ChannelId {
        self.store()
            .create_alert_channel(
                self.org,
                "hook",
                &ChannelConfig::Webhook {
                    url: self.sink.url("/hook"),
                    secret: "a-secret-of-sixteen+".into(),
                },
            )
            .await
            .unwrap()
            .id
    }

    async fn rule(&self, conditions: Vec<Condition>, filters: Vec<Filter>, channel: ChannelId) {
        self.store()
            .create_alert_rule(&NewAlertRule {
                project_id: self.env.project,
                name: "rule".into(),
                enabled: true,
                spec: RuleSpec {
                    conditions,
                    filters,
                    channels: vec![channel],
                    action_interval_minutes: 30,
                },
                created_by: None,
            })
            .await
            .unwrap();
    }

    fn event(&self, group: &str, at: DateTime<Utc>, env: Option<&str>) -> DigestInput {
        let event_id = Uuid::new_v4();
        DigestInput {
            project_id: self.env.project,
            event_id,
            event_type: EventType::Error,
            level: Level::Error,
            title: format!("ValueError: {group}"),
            culprit: "app.views in handler".into(),
            metadata: json!({"type": "ValueError", "value": group, "filename": "app/views.py", "function": "handler"}),
            platform: "python".into(),
            release: None,
            environment: env.map(str::to_owned),
            timestamp: at,
            received_at: at,
            tags: env
                .map(|e| vec![("environment".to_owned(), e.to_owned())])
                .unwrap_or_default(),
            hashes: vec![GroupHash {
                hash: format!("{:0>32}", hex(group)),
                config: "corral:2026-11".into(),
            }],
            secondary_hashes: vec![],
            data: json!({"event_id": event_id.simple().to_string()}).to_string(),
        }
    }

    /// One round of the runner at `now`.
    async fn round(&self, runner: &AlertRunner, now: DateTime<Utc>) {
        runner.process_triggers(now).await.unwrap();
        runner.evaluate_windows(now).await.unwrap();
        runner.send_due(now).await.unwrap();
    }

    fn actions(&self) -> Vec<String> {
        self.sink
            .seen()
            .iter()
            .map(|s| s.json()["action"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

fn hex(s: &str) -> String {
    let mut h: String = s.bytes().map(|b| format!("{b:02x}")).collect();
    h.truncate(32);
    h
}

async fn frequency_fires_once_per_interval(shape: Shape) {
    let a = Alerting::new(shape).await;
    let hook = a.webhook().await;
    a.rule(
        vec![Condition::Frequency {
            count: 10,
            minutes: 5,
        }],
        vec![],
        hook,
    )
    .await;
    let runner = a.runner();
    let t0 = Utc::now();
    // a sustained burst: 20 events a minute for 40 minutes, a round each minute
    for minute in 0..40 {
        let now = t0 + Duration::minutes(minute);
        let batch: Vec<DigestInput> = (0..20)
            .map(|i| a.event("hot", now + Duration::milliseconds(i), None))
            .collect();
        a.store().digest(&batch).await.unwrap();
        a.round(&runner, now).await;
        let expected = if minute < 30 { 1 } else { 2 };
        assert_eq!(
            a.sink.seen().len(),
            expected,
            "alerts after minute {minute}"
        );
    }
    assert_eq!(a.actions(), ["frequency", "frequency"]);
    let body = a.sink.seen()[0].json();
    assert!(body["window"]["count"].as_i64().unwrap() > 10, "{body}");
    a.env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frequency_rule_fires_once_per_interval_sqlite() {
    frequency_fires_once_per_interval(Shape::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frequency_rule_fires_once_per_interval_postgres() {
    frequency_fires_once_per_interval(Shape::RedisPg).await;
}

async fn regression_alerts_once(shape: Shape) {
    let a = Alerting::new(shape).await;
    let hook = a.webhook().await;
    a.rule(vec![Condition::Regression], vec![], hook).await;
    let runner = a.runner();
    let t0 = Utc::now();
    let issue = a.store().digest(&[a.event("bug", t0, None)]).await.unwrap()[0]
        .issue_id
        .unwrap();
    a.round(&runner, t0).await;
    assert!(a.sink.seen().is_empty(), "a new issue is not a regression");
    a.store()
        .set_issue_status(issue, StatusChange::Resolve)
        .await
        .unwrap();
    // the first event reopens the issue; the rest of the storm is ongoing
    for i in 1..6 {
        let now = t0 + Duration::seconds(i);
        let batch: Vec<_> = (0..5)
            .map(|j| a.event("bug", now + Duration::milliseconds(j), None))
            .collect();
        a.store().digest(&batch).await.unwrap();
        a.round(&runner, now).await;
    }
    assert_eq!(a.actions(), ["regression"]);
    let body = a.sink.seen()[0].json();
    assert_eq!(body["issue"]["id"].as_i64(), Some(issue));
    a.env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_alerts_once_sqlite() {
    regression_alerts_once(Shape::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_alerts_once_postgres() {
    regression_alerts_once(Shape::RedisPg).await;
}

/// Two workers' runners racing over the same triggers, windows and
/// deliveries: each alert is sent once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_runners_send_each_alert_once_postgres() {
    let a = Alerting::new(Shape::RedisPg).await;
    let hook = a.webhook().await;
    // two rules: one rule's conditions share its action interval per issue
    a.rule(vec![Condition::NewIssue], vec![], hook).await;
    a.rule(
        vec![Condition::Frequency {
            count: 5,
            minutes: 10,
        }],
        vec![],
        hook,
    )
    .await;
    let (one, two) = (a.runner(), a.runner());
    let t0 = Utc::now();
    for step in 0..6 {
        let now = t0 + Duration::seconds(step * 10);
        let batch: Vec<_> = ["a", "b"]
            .iter()
            .flat_map(|g| (0..4).map(move |i| (g, i)))
            .map(|(g, i)| a.event(g, now + Duration::milliseconds(i), None))
            .collect();
        a.store().digest(&batch).await.unwrap();
        tokio::join!(a.round(&one, now), a.round(&two, now));
    }
    let mut actions = a.actions();
    actions.sort();
    assert_eq!(
        actions,
        ["frequency", "frequency", "new_issue", "new_issue"],
        "one alert per issue and condition"
    );
    a.env.cleanup().await;
}

async fn filters_and_mute(shape: Shape) {
    let a = Alerting::new(shape).await;
    let hook = a.webhook().await;
    a.rule(
        vec![Condition::NewIssue],
        vec![Filter::Environment {
            value: "production".into(),
        }],
        hook,
    )
    .await;
    let runner = a.runner();
    let t0 = Utc::now();
    a.store()
        .digest(&[a.event("staging-only", t0, Some("staging"))])
        .await
        .unwrap();
    a.store()
        .digest(&[a.event("prod", t0, Some("production"))])
        .await
        .unwrap();
    a.round(&runner, t0).await;
    assert_eq!(a.actions(), ["new_issue"]);
    assert_eq!(
        a.sink.seen()[0].json()["issue"]["title"],
        "ValueError: prod"
    );
    a.store()
        .set_project_alerts_muted(a.env.project, true)
        .await
        .unwrap();
    a.store()
        .digest(&[a.event("muted", t0, Some("production"))])
        .await
        .unwrap();
    a.round(&runner, t0 + Duration::seconds(1)).await;
    assert_eq!(a.sink.seen().len(), 1, "a muted project alerts no one");
    a.env.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_and_the_project_mute_hold_sqlite() {
    filters_and_mute(Shape::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_and_the_project_mute_hold_postgres() {
    filters_and_mute(Shape::RedisPg).await;
}

/// A PagerDuty incident opened by a new issue is resolved when a person
/// resolves the issue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolving_the_issue_resolves_the_pagerduty_incident() {
    let a = Alerting::new(Shape::Sqlite).await;
    let pd = a
        .store()
        .create_alert_channel(
            a.org,
            "pager",
            &ChannelConfig::PagerDuty {
                routing_key: "R0UT1NGKEY".into(),
                url: Some(a.sink.url("/v2/enqueue")),
            },
        )
        .await
        .unwrap()
        .id;
    a.rule(vec![Condition::NewIssue], vec![], pd).await;
    let runner = a.runner();
    let t0 = Utc::now();
    let issue: IssueId = a
        .store()
        .digest(&[a.event("down", t0, None)])
        .await
        .unwrap()[0]
        .issue_id
        .unwrap();
    a.round(&runner, t0).await;
    a.store()
        .set_issue_status(issue, StatusChange::Resolve)
        .await
        .unwrap();
    a.store()
        .add_activity(
            &NewActivity {
                issue_id: issue,
                kind: ActivityKind::SetResolved,
                user_id: None,
                data: json!({}),
            },
            t0,
        )
        .await
        .unwrap();
    a.round(&runner, t0 + Duration::seconds(1)).await;
    let seen = a.sink.seen();
    let bodies: Vec<_> = seen.iter().map(|s| s.json()).collect();
    assert_eq!(bodies.len(), 2, "{bodies:?}");
    assert_eq!(bodies[0]["event_action"], "trigger");
    assert_eq!(bodies[1]["event_action"], "resolve");
    assert_eq!(bodies[0]["dedup_key"], bodies[1]["dedup_key"]);
    let timeline: Vec<_> = a
        .store()
        .list_activities(issue)
        .await
        .unwrap()
        .into_iter()
        .map(|x| x.kind)
        .collect();
    assert!(timeline.contains(&ActivityKind::AlertSent), "{timeline:?}");
    a.env.cleanup().await;
}

/// Workflow mail: assigning an issue mails the assignee, a regression mails
/// the assignee and subscribers, and whoever unsubscribed from the issue or
/// turned the setting off gets nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflow_mail_reaches_assignees_and_subscribers() {
    use corral_core::model::{Assignee, Role};
    use corral_testkit::smtp::SmtpServer;
    let smtp = SmtpServer::start().await;
    let mut a = Alerting::new(Shape::Sqlite).await;
    a.config.smtp_url = Some(corral_core::config::Secret::new(smtp.url()));
    let person = |email: &'static str| {
        let store = a.store().clone();
        let org = a.org;
        async move {
            let user = store
                .create_user(corral_core::NewUser {
                    email: email.into(),
                    name: email.split('@').next().unwrap().into(),
                    password_hash: None,
                    is_superuser: false,
                })
                .await
                .unwrap();
            store
                .set_membership(org, user.id, Role::Member)
                .await
                .unwrap();
            user
        }
    };
    let ann = person("ann@example.com").await;
    let bob = person("bob@example.com").await;
    let cy = person("cy@example.com").await;
    let runner = a.runner();
    let t0 = Utc::now();
    let issue = a
        .store()
        .digest(&[a.event("mine", t0, None)])
        .await
        .unwrap()[0]
        .issue_id
        .unwrap();
    a.round(&runner, t0).await;
    // ann is assigned; bob subscribes; cy subscribes, then turns workflow mail off
    a.store()
        .assign_issue(issue, Some(Assignee::User(ann.id)))
        .await
        .unwrap();
    a.store()
        .add_activity(
            &NewActivity {
                issue_id: issue,
                kind: ActivityKind::Assigned,
                user_id: Some(bob.id),
                data: json!({"assignee": format!("user:{}", ann.id)}),
            },
            t0,
        )
        .await
        .unwrap();
    for u in [bob.id, cy.id] {
        a.store()
            .set_issue_subscription(issue, u, Some(true))
            .await
            .unwrap();
    }
    a.store()
        .set_notification_settings(
            cy.id,
            &NotificationSettings {
                workflow: false,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    a.round(&runner, t0 + Duration::seconds(1)).await;
    let to_ann = smtp.wait_for_mail("ann@example.com", 1).await;
    assert!(to_ann[0].contains("Issue assigned"), "{}", to_ann[0]);
    // a regression: ann (assignee) and bob (subscribed), not cy
    a.store()
        .set_issue_status(issue, StatusChange::Resolve)
        .await
        .unwrap();
    a.store()
        .digest(&[a.event("mine", t0 + Duration::seconds(2), None)])
        .await
        .unwrap();
    a.round(&runner, t0 + Duration::seconds(3)).await;
    smtp.wait_for_mail("ann@example.com", 2).await;
    let to_bob = smtp.wait_for_mail("bob@example.com", 1).await;
    assert!(to_bob[0].contains("Regression"), "{}", to_bob[0]);
    assert!(smtp.to("cy@example.com").is_empty());
    assert_eq!(
        smtp.messages().len(),
        3,
        "assigned to ann; regression to ann and bob"
    );
    a.env.cleanup().await;
}
