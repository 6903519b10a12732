//! `Sender::send` through a real store to HTTP sinks: every channel's body
//! arrives, the webhook's signature verifies, failures retry and then
//! dead-letter, refusals are permanent.

use std::time::Duration;

use chrono::Utc;
use corral_alerts::outbound::MAX_RESPONSE_BYTES;
use corral_alerts::sign::{self, DEFAULT_TOLERANCE};
use corral_alerts::{Sender, WebhookBody};
use corral_core::alerts::{
    AlertKind, ChannelConfig, DeliveryOutcome, DeliveryStatus, DeliveryTarget, retry_delay,
};

use crate::common::{Answer, Env, Sink};

const SECRET: &str = "whsec-test-0123456789";

fn sent(outcome: &DeliveryOutcome) -> bool {
    matches!(outcome, DeliveryOutcome::Sent { .. })
}

#[tokio::test]
async fn every_channel_kind_reaches_its_sink() {
    let env = Env::new().await;
    let issue = env.issue("ZeroDivisionError: division by zero").await;
    let sink = Sink::start(Answer::Status(200)).await;
    let sender = Sender::new(env.store.clone(), &env.config).unwrap();
    let channels = [
        (
            "hook",
            ChannelConfig::Webhook {
                url: sink.url("/webhook"),
                secret: SECRET.into(),
            },
        ),
        (
            "slack",
            ChannelConfig::Slack {
                url: sink.url("/slack"),
            },
        ),
        (
            "discord",
            ChannelConfig::Discord {
                url: sink.url("/discord"),
            },
        ),
        (
            "teams",
            ChannelConfig::Teams {
                url: sink.url("/teams"),
            },
        ),
        (
            "pd",
            ChannelConfig::PagerDuty {
                routing_key: "R0UT1NG".into(),
                url: Some(sink.url("/pagerduty")),
            },
        ),
    ];
    let now = Utc::now();
    for (name, config) in channels {
        let channel = env.channel(name, config).await;
        let delivery = env
            .claim(
                DeliveryTarget::Channel(channel.id),
                env.message(AlertKind::NewIssue, issue),
                now,
            )
            .await;
        assert_eq!(delivery.attempts, 1);
        let outcome = sender.send(&delivery).await;
        assert_eq!(
            outcome,
            DeliveryOutcome::Sent {
                status_code: Some(200)
            },
            "{name}"
        );
        env.store
            .finish_delivery(delivery.id, &outcome, now)
            .await
            .unwrap();
    }
    let issue_url = format!("https://corral.example/organizations/acme/issues/{issue}/");

    let hook = sink.one("/webhook");
    assert_eq!(hook.method, axum::http::Method::POST);
    assert_eq!(hook.header("content-type"), "application/json");
    let timestamp: i64 = hook.header("x-corral-timestamp").parse().unwrap();
    assert!((Utc::now().timestamp() - timestamp).abs() < 60);
    let signature = hook.header("x-corral-signature");
    assert_eq!(
        sign::verify(
            SECRET,
            signature,
            &hook.body,
            Utc::now().timestamp(),
            DEFAULT_TOLERANCE
        ),
        Ok(())
    );
    assert_eq!(
        sign::verify(
            "another-secret-entirely",
            signature,
            &hook.body,
            Utc::now().timestamp(),
            DEFAULT_TOLERANCE
        ),
        Err(sign::VerifyError::Mismatch)
    );
    assert!(!hook.header("x-corral-delivery").is_empty());
    let body: WebhookBody = serde_json::from_slice(&hook.body).unwrap();
    assert_eq!(body.version, 1);
    assert_eq!(body.action, "new_issue");
    assert_eq!(body.url, issue_url);
    assert_eq!(body.project.slug, "backend");
    assert_eq!(body.issue.as_ref().unwrap().id, issue);
    assert_eq!(body.issue.as_ref().unwrap().times_seen, 42);

    let slack = sink.one("/slack").json();
    assert!(
        slack["text"]
            .as_str()
            .unwrap()
            .contains("ZeroDivisionError")
    );
    let blocks = slack["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks.last().unwrap()["elements"][0]["url"], issue_url);

    let discord = sink.one("/discord").json();
    assert_eq!(discord["embeds"][0]["url"], issue_url);
    assert_eq!(discord["allowed_mentions"]["parse"], serde_json::json!([]));

    let teams = sink.one("/teams").json();
    assert_eq!(teams["type"], "message");
    assert_eq!(
        teams["attachments"][0]["content"]["actions"][0]["url"],
        issue_url
    );

    let pd = sink.one("/pagerduty").json();
    assert_eq!(pd["routing_key"], "R0UT1NG");
    assert_eq!(pd["event_action"], "trigger");
    assert_eq!(pd["dedup_key"], format!("corral-issue-{issue}"));
    assert_eq!(pd["payload"]["severity"], "error");

    // a resolve closes the same incident
    let channel = env
        .store
        .list_alert_channels(env.org.id)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.name == "pd")
        .unwrap();
    let delivery = env
        .claim(
            DeliveryTarget::Channel(channel.id),
            env.message(AlertKind::Resolved, issue),
            now,
        )
        .await;
    assert!(sent(&sender.send(&delivery).await));
    let resolves: Vec<_> = sink
        .seen()
        .into_iter()
        .filter(|s| s.path == "/pagerduty")
        .collect();
    assert_eq!(resolves.len(), 2);
    assert_eq!(
        resolves[1].json(),
        serde_json::json!({"routing_key": "R0UT1NG", "dedup_key": format!("corral-issue-{issue}"), "event_action": "resolve"})
    );
}

#[tokio::test]
async fn a_failing_sink_is_retried_then_dead_lettered() {
    let mut env = Env::new().await;
    env.config.alerts.delivery_attempts = 2;
    let issue = env.issue("boom").await;
    let sink = Sink::start(Answer::Full(503, "x".repeat(5_000), vec![])).await;
    let channel = env
        .channel(
            "hook",
            ChannelConfig::Slack {
                url: sink.url("/hook"),
            },
        )
        .await;
    let sender = Sender::new(env.store.clone(), &env.config).unwrap();
    let now = Utc::now();
    let first = env
        .claim(
            DeliveryTarget::Channel(channel.id),
            env.message(AlertKind::NewIssue, issue),
            now,
        )
        .await;
    let outcome = sender.send_at(&first, now).await;
    let DeliveryOutcome::Retry {
        at,
        status_code,
        error,
    } = &outcome
    else {
        panic!("the first failure is retried: {outcome:?}")
    };
    assert_eq!(*at, now + retry_delay(1));
    assert_eq!(*status_code, Some(503));
    assert!(error.starts_with("HTTP 503: xxx"), "{error}");
    assert!(
        error.chars().count() <= "HTTP 503: ".len() + 301,
        "the body is quoted at most 300 characters: {}",
        error.len()
    );
    let after = env
        .store
        .finish_delivery(first.id, &outcome, now)
        .await
        .unwrap();
    assert_eq!(after.status, DeliveryStatus::Pending);

    // the retry, when it is due, is the last attempt
    let second = env.claim_again(first.id, *at).await;
    assert_eq!(second.attempts, 2);
    let outcome = sender.send_at(&second, *at).await;
    let DeliveryOutcome::Dead { status_code, error } = &outcome else {
        panic!("the last failure is dead: {outcome:?}")
    };
    assert_eq!(*status_code, Some(503));
    assert!(error.ends_with("(gave up after 2 attempts)"), "{error}");
    let after = env
        .store
        .finish_delivery(second.id, &outcome, *at)
        .await
        .unwrap();
    assert_eq!(after.status, DeliveryStatus::Dead);
    assert_eq!(after.last_status_code, Some(503));
    assert_eq!(sink.seen().len(), 2);
}

#[tokio::test]
async fn a_private_sink_is_refused_unless_allowed() {
    let mut env = Env::new().await;
    env.config.alerts.allow_private_addresses = false;
    let issue = env.issue("boom").await;
    let sink = Sink::start(Answer::Status(200)).await;
    let channel = env
        .channel(
            "hook",
            ChannelConfig::Webhook {
                url: sink.url("/hook"),
                secret: SECRET.into(),
            },
        )
        .await;
    let sender = Sender::new(env.store.clone(), &env.config).unwrap();
    let delivery = env
        .claim(
            DeliveryTarget::Channel(channel.id),
            env.message(AlertKind::NewIssue, issue),
            Utc::now(),
        )
        .await;
    assert_eq!(
        sender.send(&delivery).await,
        DeliveryOutcome::Dead {
            status_code: None,
            error: "address 127.0.0.1 is loopback; set alerts.allow_private_addresses to allow it"
                .into()
        },
        "refused at once, not retried"
    );
    assert!(sink.seen().is_empty(), "the sink saw a request");

    env.config.alerts.allow_private_addresses = true;
    let sender = Sender::new(env.store.clone(), &env.config).unwrap();
    assert!(sent(&sender.send(&delivery).await));
    assert_eq!(sink.seen().len(), 1);
}

#[tokio::test]
async fn slow_sinks_time_out_and_are_retried() {
    let mut env = Env::new().await;
    env.config.alerts.delivery_timeout_secs = 1;
    let issue = env.issue("boom").await;
    let sink = Sink::start(Answer::Slow(Duration::from_secs(10))).await;
    let channel = env
        .channel(
            "slow",
            ChannelConfig::Discord {
                url: sink.url("/slow"),
            },
        )
        .await;
    let sender = Sender::new(env.store.clone(), &env.config).unwrap();
    let delivery = env
        .claim(
            DeliveryTarget::Channel(channel.id),
            env.message(AlertKind::NewIssue, issue),
            Utc::now(),
        )
        .await;
    let started = std::time::Instant::now();
    let outcome = sender.send(&delivery).await;
    assert!(started.elapsed() < Duration::from_secs(5));
    let DeliveryOutcome::Retry {
        status_code, error, ..
    } = &outcome
    else {
        panic!("a timeout is retried: {outcome:?}")
    };
    assert_eq!(*status_code, None);
    assert!(error.contains("timed out"), "{error}");
}

#[tokio::test]
async fn answers_are_read_up_to_the_cap_and_quoted_short() {
    let env = Env::new().await;
    let issue = env.issue("boom").await;
    let endless_ok = Sink::start(Answer::Endless(200)).await;
    let endless_err = Sink::start(Answer::Endless(500)).await;
    let sender = Sender::new(env.store.clone(), &env.config).unwrap();
    for (sink, ok) in [(&endless_ok, true), (&endless_err, false)] {
        let channel = env
            .channel(
                &format!("endless-{ok}"),
                ChannelConfig::Teams {
                    url: sink.url("/big"),
                },
            )
            .await;
        let delivery = env
            .claim(
                DeliveryTarget::Channel(channel.id),
                env.message(AlertKind::NewIssue, issue),
                Utc::now(),
            )
            .await;
        let started = std::time::Instant::now();
        let outcome = sender.send(&delivery).await;
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "an endless answer was read on"
        );
        match outcome {
            DeliveryOutcome::Sent { status_code } if ok => assert_eq!(status_code, Some(200)),
            DeliveryOutcome::Retry { error, .. } if !ok => {
                assert!(error.len() < MAX_RESPONSE_BYTES / 10, "{}", error.len());
                assert!(error.chars().count() <= 320, "{}", error.chars().count());
            }
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn client_errors_are_dead_at_once_and_retry_after_is_honoured() {
    let env = Env::new().await;
    let issue = env.issue("boom").await;
    let gone = Sink::start(Answer::Full(404, "no_such_hook".into(), vec![])).await;
    let busy = Sink::start(Answer::Full(
        429,
        "slow down".into(),
        vec![("retry-after", "900".into())],
    ))
    .await;
    let sender = Sender::new(env.store.clone(), &env.config).unwrap();
    let now = Utc::now();

    let channel = env
        .channel("gone", ChannelConfig::Slack { url: gone.url("/") })
        .await;
    let d = env
        .claim(
            DeliveryTarget::Channel(channel.id),
            env.message(AlertKind::NewIssue, issue),
            now,
        )
        .await;
    assert_eq!(
        sender.send_at(&d, now).await,
        DeliveryOutcome::Dead {
            status_code: Some(404),
            error: "HTTP 404: no_such_hook".into()
        }
    );

    let channel = env
        .channel("busy", ChannelConfig::Slack { url: busy.url("/") })
        .await;
    let d = env
        .claim(
            DeliveryTarget::Channel(channel.id),
            env.message(AlertKind::NewIssue, issue),
            now,
        )
        .await;
    assert_eq!(
        sender.send_at(&d, now).await,
        DeliveryOutcome::Retry {
            at: now + chrono::Duration::seconds(900),
            status_code: Some(429),
            error: "HTTP 429: slow down".into()
        }
    );
}

#[tokio::test]
async fn a_deleted_channel_is_dead() {
    let env = Env::new().await;
    let issue = env.issue("boom").await;
    let sink = Sink::start(Answer::Status(200)).await;
    let channel = env
        .channel("soon gone", ChannelConfig::Slack { url: sink.url("/") })
        .await;
    let delivery = env
        .claim(
            DeliveryTarget::Channel(channel.id),
            env.message(AlertKind::NewIssue, issue),
            Utc::now(),
        )
        .await;
    env.store.delete_alert_channel(channel.id).await.unwrap();
    let sender = Sender::new(env.store.clone(), &env.config).unwrap();
    assert_eq!(
        sender.send(&delivery).await,
        DeliveryOutcome::Dead {
            status_code: None,
            error: "channel deleted".into()
        }
    );
    assert!(sink.seen().is_empty());
}
