//! Alerting's records: channels and rules, triggers recorded by the digest,
//! fires once per interval, deliveries leased once, capped window counts,
//! activity and mail settings.

use std::sync::Arc;

use chrono::{Duration, Utc};
use corral_core::alerts::*;
use corral_core::model::*;
use corral_core::{SharedStore, StatusChange, StoreError};
use serde_json::json;

use super::support::*;

fn webhook() -> ChannelConfig {
    ChannelConfig::Webhook {
        url: "https://hooks.example.com/corral".into(),
        secret: "0123456789abcdef0123".into(),
    }
}

fn spec(channels: Vec<ChannelId>) -> RuleSpec {
    RuleSpec {
        conditions: vec![Condition::NewIssue, Condition::Regression],
        filters: vec![],
        channels,
        action_interval_minutes: 30,
    }
}

fn message(project: &Project, kind: AlertKind, issue: Option<IssueId>) -> AlertMessage {
    AlertMessage {
        kind,
        rule_id: None,
        rule_name: None,
        org_slug: project.org_slug.clone(),
        project_id: project.id,
        project_slug: project.slug.clone(),
        project_name: project.name.clone(),
        environment: None,
        release: None,
        issue: issue.map(|id| AlertIssue {
            id,
            short_id: "BACKEND-1".into(),
            title: "ValueError: x".into(),
            culprit: "app".into(),
            level: corral_protocol::Level::Error,
            status: "unresolved".into(),
            times_seen: 1,
            first_seen: Utc::now(),
            last_seen: Utc::now(),
            top_frame: None,
            url: "http://corral.test/organizations/acme/issues/1/".into(),
        }),
        window: None,
        event_id: None,
        project_url: "http://corral.test/organizations/acme/issues/".into(),
        actor: None,
        created_at: Utc::now(),
    }
}

pub async fn channels_and_rules(store: SharedStore) {
    let f = fixture(&store).await;
    let ch = store
        .create_alert_channel(f.org.id, " Ops hook ", &webhook())
        .await
        .unwrap();
    assert_eq!(ch.name, "Ops hook");
    assert_eq!(ch.config, webhook());
    assert!(matches!(
        store
            .create_alert_channel(f.org.id, "Ops hook", &webhook())
            .await,
        Err(StoreError::Conflict(_))
    ));
    let bad = ChannelConfig::Webhook {
        url: "https://x.example/".into(),
        secret: "short".into(),
    };
    assert!(matches!(
        store.create_alert_channel(f.org.id, "bad", &bad).await,
        Err(StoreError::Invalid {
            field: "secret",
            ..
        })
    ));
    let slack = ChannelConfig::Slack {
        url: "https://hooks.slack.com/services/T/B/X".into(),
    };
    let renamed = store
        .update_alert_channel(ch.id, "Ops", &slack)
        .await
        .unwrap();
    assert_eq!((renamed.name.as_str(), &renamed.config), ("Ops", &slack));
    assert_eq!(store.list_alert_channels(f.org.id).await.unwrap().len(), 1);

    let new = NewAlertRule {
        project_id: f.project.id,
        name: "New and regressed".into(),
        enabled: true,
        spec: spec(vec![ch.id]),
        created_by: None,
    };
    let rule = store.create_alert_rule(&new).await.unwrap();
    assert_eq!(
        store.alert_rule_by_id(rule.id).await.unwrap().spec,
        new.spec
    );
    assert_eq!(store.active_alert_rules().await.unwrap().len(), 1);
    let mut invalid = new.clone();
    invalid.spec.conditions.clear();
    assert!(matches!(
        store.create_alert_rule(&invalid).await,
        Err(StoreError::Invalid {
            field: "conditions",
            ..
        })
    ));
    // disabled rules and muted projects are not active
    let off = NewAlertRule {
        enabled: false,
        ..new.clone()
    };
    store.update_alert_rule(rule.id, &off).await.unwrap();
    assert!(store.active_alert_rules().await.unwrap().is_empty());
    store.update_alert_rule(rule.id, &new).await.unwrap();
    store
        .set_project_alerts_muted(f.project.id, true)
        .await
        .unwrap();
    assert!(store.project_alerts_muted(f.project.id).await.unwrap());
    assert!(store.active_alert_rules().await.unwrap().is_empty());
    store
        .set_project_alerts_muted(f.project.id, false)
        .await
        .unwrap();
    assert_eq!(store.list_alert_rules(f.project.id).await.unwrap().len(), 1);
    store.delete_alert_rule(rule.id).await.unwrap();
    assert!(matches!(
        store.alert_rule_by_id(rule.id).await,
        Err(StoreError::NotFound(_))
    ));
    store.delete_alert_channel(ch.id).await.unwrap();
    assert!(matches!(
        store.delete_alert_channel(ch.id).await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn digest_records_triggers_and_activity(store: SharedStore) {
    let f = fixture(&store).await;
    let t = now();
    let first = digest_one(&store, event(f.project.id, "a", t)).await;
    let issue = first.issue_id.unwrap();
    // a second event of the same issue decides nothing
    digest_one(&store, event(f.project.id, "a", t + Duration::seconds(1))).await;
    // a duplicate decides nothing either
    let mut dup = event(f.project.id, "b", t);
    let dup_id = digest_one(&store, dup.clone()).await.issue_id.unwrap();
    dup.received_at = t + Duration::seconds(5);
    store.digest(&[dup]).await.unwrap();
    store
        .set_issue_status(issue, StatusChange::Resolve)
        .await
        .unwrap();
    digest_one(&store, event(f.project.id, "a", t + Duration::seconds(9))).await;
    // an ignore that ends by its count escalates
    store
        .set_issue_status(dup_id, StatusChange::IgnoreCount(1))
        .await
        .unwrap();
    digest_one(&store, event(f.project.id, "b", t + Duration::seconds(10))).await;
    digest_one(&store, event(f.project.id, "b", t + Duration::seconds(11))).await;

    let triggers = store
        .claim_alert_triggers(Utc::now(), TRIGGER_LEASE, 100)
        .await
        .unwrap();
    let seen: Vec<(IssueId, TriggerKind)> = triggers.iter().map(|t| (t.issue_id, t.kind)).collect();
    assert_eq!(
        seen,
        vec![
            (issue, TriggerKind::NewIssue),
            (dup_id, TriggerKind::NewIssue),
            (issue, TriggerKind::Regression),
            (dup_id, TriggerKind::Escalating),
        ]
    );
    assert_eq!(
        triggers[0].event_id,
        Some(event_id_of(&store, issue, 0).await)
    );
    // leased: nobody else gets them until the lease ends
    assert!(
        store
            .claim_alert_triggers(Utc::now(), TRIGGER_LEASE, 100)
            .await
            .unwrap()
            .is_empty()
    );
    let later = Utc::now() + TRIGGER_LEASE + Duration::seconds(1);
    assert_eq!(
        store
            .claim_alert_triggers(later, TRIGGER_LEASE, 100)
            .await
            .unwrap()
            .len(),
        4
    );
    let kinds: Vec<ActivityKind> = store
        .list_activities(issue)
        .await
        .unwrap()
        .iter()
        .map(|a| a.kind)
        .collect();
    assert_eq!(
        kinds,
        vec![ActivityKind::FirstSeen, ActivityKind::SetRegression]
    );
}

async fn event_id_of(store: &SharedStore, issue: IssueId, nth_oldest: usize) -> uuid::Uuid {
    let mut events = store.list_issue_events(issue, None, 100).await.unwrap();
    events.reverse();
    events[nth_oldest].event_id
}

pub async fn triggers_complete_once_and_rules_fire_once_per_interval(store: SharedStore) {
    let f = fixture(&store).await;
    let ch = store
        .create_alert_channel(f.org.id, "hook", &webhook())
        .await
        .unwrap();
    let rule = store
        .create_alert_rule(&NewAlertRule {
            project_id: f.project.id,
            name: "r".into(),
            enabled: true,
            spec: spec(vec![ch.id]),
            created_by: None,
        })
        .await
        .unwrap();
    let issue = digest_one(&store, event(f.project.id, "a", now()))
        .await
        .issue_id
        .unwrap();
    let trigger = store
        .claim_alert_triggers(Utc::now(), TRIGGER_LEASE, 10)
        .await
        .unwrap()
        .remove(0);
    let fire = AlertFire {
        rule_id: rule.id,
        issue_id: issue,
        interval_minutes: 30,
        deliveries: vec![NewDelivery {
            org_id: f.org.id,
            target: DeliveryTarget::Channel(ch.id),
            message: message(&f.project, AlertKind::NewIssue, Some(issue)),
        }],
    };
    // two runners finishing the same trigger at once: one writes
    let t0 = Utc::now();
    let (a, b) = tokio::join!(
        store.complete_alert_trigger(trigger.id, std::slice::from_ref(&fire), &[], t0),
        store.complete_alert_trigger(trigger.id, std::slice::from_ref(&fire), &[], t0),
    );
    let results = [a.unwrap(), b.unwrap()];
    assert_eq!(
        results.iter().filter(|r| r.is_some()).count(),
        1,
        "{results:?}"
    );
    assert!(results.contains(&Some(vec![true])));
    // within the interval the rule does not fire again, after it it does
    assert!(
        !store
            .fire_alert(&fire, t0 + Duration::minutes(29))
            .await
            .unwrap()
    );
    let many: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            let fire = fire.clone();
            tokio::spawn(async move { store.fire_alert(&fire, t0 + Duration::minutes(31)).await })
        })
        .collect();
    let mut fired = 0;
    for h in many {
        fired += usize::from(h.await.unwrap().unwrap());
    }
    assert_eq!(fired, 1, "eight racing runners fire once");
    let log = store
        .list_deliveries(&DeliveryFilter {
            rule_id: Some(rule.id),
            limit: 50,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(log.len(), 2);
    assert!(log.iter().all(|d| d.status == DeliveryStatus::Pending));
    // a disabled rule does not fire
    store
        .update_alert_rule(
            rule.id,
            &NewAlertRule {
                project_id: f.project.id,
                name: "r".into(),
                enabled: false,
                spec: spec(vec![ch.id]),
                created_by: None,
            },
        )
        .await
        .unwrap();
    assert!(
        !store
            .fire_alert(&fire, t0 + Duration::hours(5))
            .await
            .unwrap()
    );
}

pub async fn deliveries_are_leased_retried_and_dead_lettered(store: SharedStore) {
    let f = fixture(&store).await;
    let ch = store
        .create_alert_channel(f.org.id, "hook", &webhook())
        .await
        .unwrap();
    let issue = digest_one(&store, event(f.project.id, "a", now()))
        .await
        .issue_id
        .unwrap();
    let t0 = Utc::now();
    let queued = store
        .queue_deliveries(
            &[NewDelivery {
                org_id: f.org.id,
                target: DeliveryTarget::Channel(ch.id),
                message: message(&f.project, AlertKind::Test, Some(issue)),
            }],
            t0,
        )
        .await
        .unwrap();
    assert_eq!(queued[0].status, DeliveryStatus::Pending);
    let (a, b) = tokio::join!(
        store.claim_deliveries(t0, DELIVERY_LEASE, 10),
        store.claim_deliveries(t0, DELIVERY_LEASE, 10),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.len() + b.len(), 1, "one sender gets it");
    let d = a.into_iter().chain(b).next().unwrap();
    assert_eq!((d.status, d.attempts), (DeliveryStatus::Sending, 1));
    let retry_at = t0 + Duration::seconds(30);
    let d = store
        .finish_delivery(
            d.id,
            &DeliveryOutcome::Retry {
                at: retry_at,
                status_code: Some(500),
                error: "HTTP 500".into(),
            },
            t0,
        )
        .await
        .unwrap();
    assert_eq!(
        (d.status, d.last_status_code, d.last_error.as_deref()),
        (DeliveryStatus::Pending, Some(500), Some("HTTP 500"))
    );
    assert!(
        store
            .claim_deliveries(t0 + Duration::seconds(29), DELIVERY_LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let d = store
        .claim_deliveries(retry_at, DELIVERY_LEASE, 10)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(d.attempts, 2);
    // a sender that died holding it: the lease ends and another takes it
    let after_lease = retry_at + DELIVERY_LEASE + Duration::seconds(1);
    let d = store
        .claim_deliveries(after_lease, DELIVERY_LEASE, 10)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(d.attempts, 3);
    let d = store
        .finish_delivery(
            d.id,
            &DeliveryOutcome::Dead {
                status_code: Some(500),
                error: "gave up".into(),
            },
            after_lease,
        )
        .await
        .unwrap();
    assert_eq!(d.status, DeliveryStatus::Dead);
    let dead = store
        .list_deliveries(&DeliveryFilter {
            org_id: Some(f.org.id),
            status: Some(DeliveryStatus::Dead),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].message.kind, AlertKind::Test);
    assert!(
        store
            .claim_deliveries(after_lease + Duration::hours(2), DELIVERY_LEASE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // a sent delivery of a rule shows in the issue's timeline; a test does not
    assert!(
        !store
            .list_activities(issue)
            .await
            .unwrap()
            .iter()
            .any(|a| a.kind == ActivityKind::AlertSent)
    );
    // a deleted channel gets no new deliveries
    store.delete_alert_channel(ch.id).await.unwrap();
    assert!(matches!(
        store
            .queue_deliveries(
                &[NewDelivery {
                    org_id: f.org.id,
                    target: DeliveryTarget::Channel(ch.id),
                    message: message(&f.project, AlertKind::Test, None),
                }],
                t0,
            )
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(store.delivery_by_id(d.id).await.is_ok(), "the log stays");
}

pub async fn window_counts_are_capped(store: SharedStore) {
    let f = fixture(&store).await;
    let ch = store
        .create_alert_channel(f.org.id, "hook", &webhook())
        .await
        .unwrap();
    let rule = store
        .create_alert_rule(&NewAlertRule {
            project_id: f.project.id,
            name: "hot".into(),
            enabled: true,
            spec: spec(vec![ch.id]),
            created_by: None,
        })
        .await
        .unwrap();
    let t = Utc::now() - Duration::minutes(2);
    let mut batch = Vec::new();
    for i in 0..12 {
        let mut e = event(f.project.id, "hot", t + Duration::milliseconds(i));
        e.tags.push(("user".into(), format!("id:{}", i % 4)));
        batch.push(e);
    }
    batch.push(event(f.project.id, "cold", t - Duration::hours(3)));
    // a user seen only before the window does not count
    let mut old = event(f.project.id, "hot", t - Duration::minutes(30));
    old.received_at = t;
    old.tags.push(("user".into(), "id:old".into()));
    batch.push(old);
    store.digest(&batch).await.unwrap();
    let since = Utc::now() - Duration::minutes(5);
    let long_ago = Utc::now() - Duration::days(1);
    let counts = store
        .issue_counts_since(f.project.id, since, 11, 10, rule.id, long_ago)
        .await
        .unwrap();
    assert_eq!(counts.len(), 1, "the cold issue was last seen hours ago");
    assert_eq!(counts[0].1, 11, "counted up to the cap");
    let hot = counts[0].0;
    let uncapped = store
        .issue_counts_since(f.project.id, since, 100, 10, rule.id, long_ago)
        .await
        .unwrap();
    assert_eq!(uncapped[0].1, 13);
    assert_eq!(store.issue_users_since(hot, since, 1000).await.unwrap(), 4);
    assert_eq!(store.issue_users_since(hot, since, 3).await.unwrap(), 3);
    assert_eq!(
        store
            .project_events_since(f.project.id, since, 1000)
            .await
            .unwrap(),
        13
    );
    assert_eq!(
        store
            .project_events_since(f.project.id, since, 5)
            .await
            .unwrap(),
        5
    );
    // once the rule fired for the issue, its interval keeps it from being counted
    let now = Utc::now();
    assert!(
        !store
            .alert_fired_after(rule.id, hot, long_ago)
            .await
            .unwrap()
    );
    let fire = AlertFire {
        rule_id: rule.id,
        issue_id: hot,
        interval_minutes: 30,
        deliveries: vec![],
    };
    assert!(store.fire_alert(&fire, now).await.unwrap());
    assert!(
        store
            .alert_fired_after(rule.id, hot, long_ago)
            .await
            .unwrap()
    );
    assert!(
        store
            .issue_counts_since(
                f.project.id,
                since,
                100,
                10,
                rule.id,
                now - Duration::minutes(30)
            )
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .issue_counts_since(
                f.project.id,
                since,
                100,
                10,
                rule.id,
                now + Duration::seconds(1)
            )
            .await
            .unwrap()
            .len(),
        1,
        "past the interval it counts again"
    );
    // a window longer than two hours takes its older whole hours from the
    // hourly counts, each event once: the cold issue's events three and five
    // hours ago
    let cold_at = Utc::now() - Duration::hours(5);
    let mut cold = event(f.project.id, "cold", cold_at);
    cold.received_at = cold_at;
    store.digest(&[cold]).await.unwrap();
    let six_hours = store
        .project_events_since(f.project.id, Utc::now() - Duration::hours(6), 1000)
        .await
        .unwrap();
    assert_eq!(six_hours, 15, "13 recent events and the two cold ones");
    let by_issue = store
        .issue_counts_since(
            f.project.id,
            Utc::now() - Duration::hours(6),
            1000,
            10,
            rule.id,
            now + Duration::seconds(1),
        )
        .await
        .unwrap();
    assert_eq!(by_issue.len(), 2, "{by_issue:?}");
    assert_eq!(by_issue[0], (hot, 13), "most events first");
    assert_eq!(by_issue[1].1, 2);
    // sweeping drops the per-minute counts: short windows see nothing then
    assert!(
        store
            .sweep_window_counts(Utc::now() + Duration::minutes(1))
            .await
            .unwrap()
            >= 2
    );
    assert_eq!(
        store
            .project_events_since(f.project.id, since, 1000)
            .await
            .unwrap(),
        0
    );
}

pub async fn activity_and_mail_settings(store: SharedStore) {
    let f = fixture(&store).await;
    let user = new_user(&store, "ann@example.com").await;
    let issue = digest_one(&store, event(f.project.id, "a", now()))
        .await
        .issue_id
        .unwrap();
    store
        .claim_alert_triggers(Utc::now(), TRIGGER_LEASE, 10)
        .await
        .unwrap();
    let note = store
        .add_activity(
            &NewActivity {
                issue_id: issue,
                kind: ActivityKind::Note,
                user_id: Some(user.id),
                data: json!({"text": "looking"}),
            },
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(
        (note.user_id, note.data["text"].as_str()),
        (Some(user.id), Some("looking"))
    );
    store
        .add_activity(
            &NewActivity {
                issue_id: issue,
                kind: ActivityKind::SetResolved,
                user_id: Some(user.id),
                data: json!({}),
            },
            Utc::now(),
        )
        .await
        .unwrap();
    // a resolution is a trigger (PagerDuty resolves, workflow mail); a note is not
    let t = store
        .claim_alert_triggers(Utc::now() + Duration::hours(1), TRIGGER_LEASE, 10)
        .await
        .unwrap();
    assert_eq!(
        t.iter().map(|t| t.kind).collect::<Vec<_>>(),
        vec![TriggerKind::NewIssue, TriggerKind::Resolved]
    );
    assert_eq!(store.list_activities(issue).await.unwrap().len(), 3);
    assert!(matches!(
        store
            .add_activity(
                &NewActivity {
                    issue_id: issue + 1000,
                    kind: ActivityKind::Note,
                    user_id: None,
                    data: json!({}),
                },
                Utc::now(),
            )
            .await,
        Err(StoreError::NotFound(_))
    ));

    assert_eq!(
        store.notification_settings(user.id).await.unwrap(),
        NotificationSettings::default()
    );
    let token = store.unsubscribe_token(user.id).await.unwrap();
    assert_eq!(
        token,
        store.unsubscribe_token(user.id).await.unwrap(),
        "stable"
    );
    assert_eq!(
        store.user_by_unsubscribe_token(&token).await.unwrap(),
        user.id
    );
    assert!(
        store
            .user_by_unsubscribe_token(&"0".repeat(48))
            .await
            .is_err()
    );
    assert!(
        store
            .user_by_unsubscribe_token("' OR 1=1 --")
            .await
            .is_err()
    );
    let off = NotificationSettings {
        alerts: false,
        ..Default::default()
    };
    store
        .set_notification_settings(user.id, &off)
        .await
        .unwrap();
    assert_eq!(store.notification_settings(user.id).await.unwrap(), off);
    assert_eq!(
        token,
        store.unsubscribe_token(user.id).await.unwrap(),
        "kept"
    );

    store
        .set_issue_subscription(issue, user.id, Some(false))
        .await
        .unwrap();
    assert_eq!(
        store.issue_subscriptions(issue).await.unwrap(),
        vec![(user.id, false)]
    );
    store
        .set_issue_subscription(issue, user.id, Some(true))
        .await
        .unwrap();
    assert_eq!(
        store.issue_subscriptions(issue).await.unwrap(),
        vec![(user.id, true)]
    );
    store
        .set_issue_subscription(issue, user.id, None)
        .await
        .unwrap();
    assert!(store.issue_subscriptions(issue).await.unwrap().is_empty());
}
