//! Alert mail through a real SMTP server (aiosmtpd): who gets it, what it
//! says, and its unsubscribe headers.

use std::time::Duration;

use chrono::Utc;
use corral_alerts::Sender;
use corral_core::alerts::{
    AlertKind, ChannelConfig, DeliveryOutcome, DeliveryTarget, EmailTargets, NotificationSettings,
};
use corral_core::config::Secret;
use corral_core::model::Role;

use crate::common::{Env, SmtpServer};

/// Long header lines are folded (a line break before white space): undone.
fn unfold(mail: &str) -> String {
    mail.replace("\r\n", "\n")
        .replace("\n ", " ")
        .replace("\n\t", "\t")
}

fn mail_config(env: &mut Env, smtp: &str) {
    env.config.smtp_url = Some(Secret::new(smtp));
    env.config.base_url = Some("https://corral.example".into());
    env.config.smtp_from = Some("Corral <corral@corral.example>".into());
}

#[tokio::test]
async fn an_email_channel_mails_each_member_once_with_their_unsubscribe_link() {
    let smtp = SmtpServer::start().await;
    let mut env = Env::new().await;
    mail_config(&mut env, &smtp.url());
    let store = env.store.clone();
    let issue = env.issue("ZeroDivisionError: division by zero").await;

    let team = store
        .create_team(env.org.id, "payments", "Payments")
        .await
        .unwrap();
    store
        .add_project_team(env.project.id, team.id)
        .await
        .unwrap();
    let ada = env.user("ada@example.com").await; // in the team
    let bob = env.user("bob@example.com").await; // in the team, alert mail off
    let cy = env.user("cy@example.com").await; // in the team, unsubscribed from the issue
    let dee = env.user("dee@example.com").await; // in the team, deactivated
    let eve = env.user("eve@example.com").await; // a member named by id
    let fay = env.user("fay@example.com").await; // named by id, not a member
    let gus = env.user("gus@example.com").await; // a member outside the team
    for u in [&ada, &bob, &cy, &dee, &eve, &gus] {
        store
            .set_membership(env.org.id, u.id, Role::Member)
            .await
            .unwrap();
    }
    for u in [&ada, &bob, &cy, &dee] {
        store.add_team_member(team.id, u.id).await.unwrap();
    }
    store
        .set_notification_settings(
            bob.id,
            &NotificationSettings {
                alerts: false,
                ..NotificationSettings::default()
            },
        )
        .await
        .unwrap();
    store
        .set_issue_subscription(issue, cy.id, Some(false))
        .await
        .unwrap();
    store.set_user_active(dee.id, false).await.unwrap();

    let channel = env
        .channel(
            "on-call mail",
            ChannelConfig::Email(EmailTargets {
                project_members: true,
                users: vec![eve.id, fay.id],
                teams: vec![],
                // ADA is ada again; ops is an outside address
                addresses: vec!["ops@example.com".into(), "ADA@example.com".into()],
            }),
        )
        .await;
    let sender = Sender::new(store.clone(), &env.config).unwrap();
    assert!(sender.can_mail());
    let delivery = env
        .claim(
            DeliveryTarget::Channel(channel.id),
            env.message(AlertKind::NewIssue, issue),
            Utc::now(),
        )
        .await;
    let outcome = sender.send(&delivery).await;
    assert_eq!(
        outcome,
        DeliveryOutcome::Sent {
            status_code: Some(250)
        }
    );

    let to_ada = smtp.wait_for_mail("ada@example.com", 1).await;
    smtp.wait_for_mail("eve@example.com", 1).await;
    let to_ops = smtp.wait_for_mail("ops@example.com", 1).await;
    // let anything else arrive, then count
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        smtp.messages().len(),
        3,
        "ada once, eve and ops: {:#?}",
        smtp.messages()
    );
    for nobody in [
        "bob@example.com",
        "cy@example.com",
        "dee@example.com",
        "fay@example.com",
        "gus@example.com",
    ] {
        assert!(smtp.to(nobody).is_empty(), "{nobody} got mail");
    }

    let mail = &to_ada[0];
    assert!(
        unfold(mail).contains(
            "\nSubject: [backend] New issue: ZeroDivisionError: division by zero (production)\n"
        ),
        "{mail}"
    );
    assert!(mail.contains("multipart/alternative"), "{mail}");
    assert!(mail.contains("text/plain") && mail.contains("text/html"));
    let issue_url = format!("https://corral.example/organizations/acme/issues/{issue}/");
    assert!(mail.contains(&issue_url), "{mail}");
    assert!(mail.contains("app/views.py in checkout at line 42"));
    let token = store.unsubscribe_token(ada.id).await.unwrap();
    assert!(
        mail.contains(&format!(
            "List-Unsubscribe: <https://corral.example/unsubscribe/{token}/alerts>"
        )),
        "{mail}"
    );
    assert!(mail.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
    assert!(mail.contains(&format!(
        "https://corral.example/unsubscribe/{token}/issue-{issue}"
    )));
    // eve's link carries eve's token, not ada's
    let to_eve = smtp.to("eve@example.com");
    assert!(!to_eve[0].contains(&token));

    // an outside address has no token to unsubscribe with
    let mail = &to_ops[0];
    assert!(!mail.contains("List-Unsubscribe"), "{mail}");
    assert!(mail.contains("ask an admin of acme"), "{mail}");
    assert!(mail.contains(&issue_url));
}

#[tokio::test]
async fn workflow_mail_goes_to_one_user_with_the_issue_scope() {
    let smtp = SmtpServer::start().await;
    let mut env = Env::new().await;
    mail_config(&mut env, &smtp.url());
    let issue = env.issue("boom").await;
    let ada = env.user("ada@example.com").await;
    let sender = Sender::new(env.store.clone(), &env.config).unwrap();
    let mut message = env.message(AlertKind::Assigned, issue);
    message.actor = Some("Bob".into());
    let delivery = env
        .claim(DeliveryTarget::User(ada.id), message, Utc::now())
        .await;
    assert!(matches!(
        sender.send(&delivery).await,
        DeliveryOutcome::Sent { .. }
    ));
    let mail = &smtp.wait_for_mail("ada@example.com", 1).await[0];
    let token = env.store.unsubscribe_token(ada.id).await.unwrap();
    assert!(
        mail.contains(&format!(
            "List-Unsubscribe: <https://corral.example/unsubscribe/{token}/issue-{issue}>"
        )),
        "{mail}"
    );
    assert!(mail.contains(&format!("unsubscribe/{token}/workflow")));
    assert!(mail.contains(&format!("unsubscribe/{token}/assigned")));
    assert!(unfold(mail).contains("\nSubject: [backend] Issue assigned: ZeroDivisionError"));

    // a deactivated user gets nothing, for good
    env.store.set_user_active(ada.id, false).await.unwrap();
    let delivery = env
        .claim(
            DeliveryTarget::User(ada.id),
            env.message(AlertKind::Resolved, issue),
            Utc::now(),
        )
        .await;
    assert!(matches!(
        sender.send(&delivery).await,
        DeliveryOutcome::Dead { .. }
    ));
}

#[tokio::test]
async fn mail_without_smtp_is_dead_and_an_unreachable_server_is_retried() {
    let mut env = Env::new().await;
    let issue = env.issue("boom").await;
    let ada = env.user("ada@example.com").await;
    let channel = env
        .channel(
            "mail",
            ChannelConfig::Email(EmailTargets {
                addresses: vec!["ops@example.com".into()],
                ..EmailTargets::default()
            }),
        )
        .await;

    let sender = Sender::new(env.store.clone(), &env.config).unwrap();
    assert!(!sender.can_mail());
    let d = env
        .claim(
            DeliveryTarget::Channel(channel.id),
            env.message(AlertKind::NewIssue, issue),
            Utc::now(),
        )
        .await;
    assert_eq!(
        sender.send(&d).await,
        DeliveryOutcome::Dead {
            status_code: None,
            error: "mail is not configured (set CORRAL_SMTP_URL and CORRAL_BASE_URL)".into()
        }
    );

    // nothing listens there
    let port = corral_testkit::free_port();
    mail_config(&mut env, &format!("smtp://127.0.0.1:{port}"));
    let sender = Sender::new(env.store.clone(), &env.config).unwrap();
    for target in [
        DeliveryTarget::Channel(channel.id),
        DeliveryTarget::User(ada.id),
    ] {
        let d = env
            .claim(target, env.message(AlertKind::NewIssue, issue), Utc::now())
            .await;
        let outcome = sender.send(&d).await;
        assert!(
            matches!(&outcome, DeliveryOutcome::Retry { error, .. } if error.starts_with("1 of 1 recipients failed")),
            "{outcome:?}"
        );
    }
}
