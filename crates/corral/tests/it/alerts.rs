//! Alerts end to end, in both shapes: a real SDK's error becomes a new issue,
//! and the issue's rule mails the project's people through a real SMTP
//! server (aiosmtpd) and posts a signed webhook to a local sink; in the
//! cluster two workers run the alert runner and the alert still goes once.

use std::time::{Duration, Instant};

use corral_core::alerts::*;
use corral_testkit::sdk::PythonSdk;
use corral_testkit::sink::{Answer, Sink};
use corral_testkit::smtp::SmtpServer;

use crate::common::{Server, Shape, TIMEOUT};

const SECRET: &str = "webhook-secret-for-the-e2e-test";

async fn new_issue_alerts(shape: Shape) {
    let smtp = SmtpServer::start().await;
    let sink = Sink::start(Answer::Status(204)).await;
    let smtp_url = smtp.url();
    let mut server = Server::start_with(
        shape,
        &[
            ("CORRAL_SMTP_URL", smtp_url.as_str()),
            ("CORRAL_ALERTS__ALLOW_PRIVATE_ADDRESSES", "true"),
            ("CORRAL_ALERTS__POLL_INTERVAL_MS", "100"),
        ],
    )
    .await;
    if shape == Shape::Cluster {
        server.start_extra_worker().await;
    }
    let store = server.store().await;
    let project = store
        .project_by_slug(server.org, server.project)
        .await
        .unwrap();
    let admin = store.list_members(project.org_id).await.unwrap().remove(0);
    let mail = store
        .create_alert_channel(
            project.org_id,
            "people",
            &ChannelConfig::Email(EmailTargets {
                project_members: true,
                ..Default::default()
            }),
        )
        .await
        .unwrap();
    let hook = store
        .create_alert_channel(
            project.org_id,
            "hook",
            &ChannelConfig::Webhook {
                url: sink.url("/corral"),
                secret: SECRET.into(),
            },
        )
        .await
        .unwrap();
    let rule = store
        .create_alert_rule(&NewAlertRule {
            project_id: project.id,
            name: "Tell us".into(),
            enabled: true,
            spec: RuleSpec {
                conditions: vec![Condition::NewIssue],
                filters: vec![],
                channels: vec![mail.id, hook.id],
                action_interval_minutes: 30,
            },
            created_by: None,
        })
        .await
        .unwrap();

    let app = crate::common::cases::python_shop_app(&server);
    app.python(PythonSdk::V3, &["once"], &server.dsn).await;
    let issues = server.wait_for_issues("one issue", |i| i.len() == 1).await;
    let id = issues[0]["id"].as_str().unwrap().to_owned();

    // the mail
    let messages = smtp.wait_for_mail(&admin.user.email, 1).await;
    let m = &messages[0];
    assert!(
        m.contains("Subject: [") && m.contains("New issue: ZeroDivisionError: division by zero"),
        "{m}"
    );
    let link = format!(
        "{}/organizations/{}/issues/{id}/",
        server.base_url, server.org
    );
    assert!(m.contains(&link), "the mail links to the issue: {m}");
    assert!(
        m.contains("List-Unsubscribe: <") && m.contains("/unsubscribe/"),
        "{m}"
    );
    assert!(
        m.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"),
        "{m}"
    );

    // the webhook, signed
    let seen = sink.wait_for(1).await;
    let hit = &seen[0];
    let now = chrono::Utc::now().timestamp();
    corral_alerts::verify(
        SECRET,
        hit.header("x-corral-signature"),
        &hit.body,
        now,
        std::time::Duration::from_secs(300),
    )
    .expect("the signature verifies");
    let body = hit.json();
    assert_eq!(body["action"], "new_issue");
    assert_eq!(body["issue"]["id"].as_i64().unwrap().to_string(), id);
    assert_eq!(body["url"], link.as_str());

    // once: both deliveries of the one fire are sent, nothing more is queued
    let deadline = Instant::now() + TIMEOUT;
    let log = loop {
        let log = store
            .list_deliveries(&DeliveryFilter {
                rule_id: Some(rule.id),
                limit: 50,
                ..Default::default()
            })
            .await
            .unwrap();
        if log.iter().all(|d| d.status == DeliveryStatus::Sent) && log.len() >= 2 {
            break log;
        }
        assert!(Instant::now() < deadline, "deliveries: {log:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(sink.seen().len(), 1);
    assert_eq!(smtp.messages().len(), 1);
    // and the issue's timeline says so
    let kinds: Vec<ActivityKind> = store
        .list_activities(id.parse().unwrap())
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.kind)
        .collect();
    assert_eq!(kinds[0], ActivityKind::FirstSeen);
    assert!(kinds.contains(&ActivityKind::AlertSent), "{kinds:?}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_new_issue_mail_and_webhook_embedded() {
    new_issue_alerts(Shape::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_new_issue_mail_and_webhook_cluster_two_workers() {
    new_issue_alerts(Shape::Cluster).await;
}
