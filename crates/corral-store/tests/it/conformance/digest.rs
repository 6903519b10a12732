use std::collections::HashSet;

use chrono::{Duration, DurationRound};
use corral_core::model::*;
use corral_core::{IssueQuery, SharedStore, StatusChange, StoreError};
use corral_protocol::Level;
use uuid::Uuid;

use super::support::{digest_one, event, fixture, hash, now};

fn all(project: ProjectId) -> IssueQuery {
    IssueQuery {
        project_ids: vec![project],
        limit: 1000,
        ..Default::default()
    }
}

pub async fn digest_creates_issues_and_counts(store: SharedStore) {
    let f = fixture(&store).await;
    let p = f.project.id;
    let t0 = now();
    let mut a1 = event(p, "alpha", t0);
    a1.level = Level::Warning;
    let a2 = event(p, "alpha", t0 + Duration::minutes(5));
    let mut a3 = event(p, "alpha", t0 + Duration::minutes(40));
    a3.level = Level::Fatal;
    a3.tags = vec![
        ("browser".into(), "Chrome".into()),
        ("os".into(), "Linux".into()),
    ];
    let b1 = event(p, "beta", t0);
    let batch = vec![a1.clone(), a2.clone(), a3.clone(), b1.clone()];
    let out = store.digest(&batch).await.unwrap();
    assert_eq!(out.len(), 4);
    for (o, e) in out.iter().zip(&batch) {
        assert_eq!(o.event_id, e.event_id);
        assert!(o.inserted);
        assert!(!o.regressed && !o.escalated);
    }
    assert!(out[0].new_issue && !out[1].new_issue && !out[2].new_issue && out[3].new_issue);
    let alpha = out[0].issue_id.unwrap();
    assert_eq!(out[1].issue_id, Some(alpha));
    assert_eq!(out[2].issue_id, Some(alpha));
    let beta = out[3].issue_id.unwrap();
    assert_ne!(alpha, beta);

    let issue = store.issue_by_id(alpha).await.unwrap();
    assert_eq!(issue.project_id, p);
    assert_eq!(issue.short_id, 1);
    assert_eq!(store.issue_by_id(beta).await.unwrap().short_id, 2);
    assert_eq!(store.issue_by_short_id(p, 2).await.unwrap().id, beta);
    assert!(matches!(
        store.issue_by_short_id(p, 3).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(issue.times_seen, 3);
    assert_eq!(issue.first_seen, t0);
    assert_eq!(issue.last_seen, t0 + Duration::minutes(40));
    assert_eq!(issue.level, Level::Fatal, "the latest event's level");
    assert_eq!(issue.status, IssueStatus::Unresolved);
    assert_eq!(issue.substatus, IssueSubstatus::New);
    assert_eq!(issue.event_type, EventType::Error);
    assert_eq!(issue.title, "ValueError: alpha");
    assert_eq!(issue.metadata["type"], "ValueError");

    // Newest first (by received time).
    let events = store.list_issue_events(alpha, None, 10).await.unwrap();
    let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
    assert_eq!(ids, [a3.event_id, a2.event_id, a1.event_id]);
    assert_eq!(
        store.latest_event(alpha).await.unwrap().event_id,
        a3.event_id
    );
    let stored = store.event_by_id(p, a3.event_id).await.unwrap();
    assert_eq!(stored.issue_id, Some(alpha));
    assert_eq!(stored.level, Level::Fatal);
    assert_eq!(stored.timestamp, a3.timestamp);
    assert_eq!(stored.received_at, a3.received_at);
    assert_eq!(stored.tags, a3.tags);
    assert_eq!(
        stored.data,
        serde_json::from_str::<serde_json::Value>(&a3.data).unwrap()
    );
    assert!(matches!(
        store.event_by_id(p, Uuid::new_v4()).await,
        Err(StoreError::NotFound(_))
    ));

    let tags = store.issue_tag_values(alpha).await.unwrap();
    let counts: Vec<(&str, &str, i64)> = tags
        .iter()
        .map(|t| (t.key.as_str(), t.value.as_str(), t.times_seen))
        .collect();
    assert_eq!(
        counts,
        [
            ("browser", "Firefox", 2),
            ("browser", "Chrome", 1),
            ("os", "Linux", 1)
        ]
    );
    let firefox = &tags[0];
    assert_eq!(firefox.first_seen, t0);
    assert_eq!(firefox.last_seen, t0 + Duration::minutes(5));

    let hour0 = t0.duration_trunc(Duration::hours(1)).unwrap();
    let hourly = store
        .issue_hourly_counts(
            alpha,
            hour0 - Duration::hours(1),
            hour0 + Duration::hours(3),
        )
        .await
        .unwrap();
    let buckets: Vec<(i64, i64)> = hourly
        .iter()
        .map(|b| ((b.start - hour0).num_hours(), b.count))
        .collect();
    assert_eq!(buckets, [(0, 2), (1, 1)]);
    assert_eq!(store.count_issues(&all(p)).await.unwrap(), 2);
}

pub async fn duplicate_event_ids_count_once(store: SharedStore) {
    let f = fixture(&store).await;
    let p = f.project.id;
    let e = event(p, "dup", now());
    let out = store.digest(&[e.clone(), e.clone()]).await.unwrap();
    assert!(out[0].inserted && out[0].new_issue);
    assert!(!out[1].inserted && !out[1].new_issue);
    assert_eq!(out[1].event_id, e.event_id);
    let issue = out[0].issue_id.unwrap();

    // A later batch (a retried job) with the same event and a new one.
    let other = event(p, "dup", now());
    let again = store.digest(&[e.clone(), other]).await.unwrap();
    assert!(!again[0].inserted);
    assert_eq!(again[0].issue_id, None);
    assert!(again[1].inserted);
    assert_eq!(store.issue_by_id(issue).await.unwrap().times_seen, 2);
    assert_eq!(
        store
            .list_issue_events(issue, None, 10)
            .await
            .unwrap()
            .len(),
        2
    );
    let tags = store.issue_tag_values(issue).await.unwrap();
    assert_eq!(tags[0].times_seen, 2);

    // The same event id in another project is another event.
    let q = super::support::other_project(&f, "frontend").await;
    let mut elsewhere = e.clone();
    elsewhere.project_id = q.id;
    assert!(digest_one(&store, elsewhere).await.inserted);
}

pub async fn concurrent_duplicate_batches_count_once(store: SharedStore) {
    let f = fixture(&store).await;
    let p = f.project.id;
    let batch: Vec<_> = (0..5).map(|_| event(p, "racing", now())).collect();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let batch = batch.clone();
            tokio::spawn(async move { store.digest(&batch).await })
        })
        .collect();
    let mut inserted = vec![0; batch.len()];
    for t in tasks {
        let out = t.await.unwrap().unwrap();
        for (i, o) in out.iter().enumerate() {
            inserted[i] += usize::from(o.inserted);
        }
    }
    assert_eq!(inserted, vec![1; 5]);
    let issues = store.list_issues(&all(p)).await.unwrap();
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].times_seen, 5);
}

pub async fn concurrent_new_hash_makes_one_issue(store: SharedStore) {
    let f = fixture(&store).await;
    let p = f.project.id;
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            // Each batch also carries a hash of its own, so batches lock
            // overlapping sets of hashes.
            let mut batch: Vec<_> = (0..3).map(|_| event(p, "brand-new", now())).collect();
            batch.push(event(p, &format!("own-{i}"), now()));
            tokio::spawn(async move { store.digest(&batch).await })
        })
        .collect();
    let mut new_issues = 0;
    let mut issue_ids = HashSet::new();
    for t in tasks {
        let out = t.await.unwrap().unwrap();
        assert!(out.iter().all(|o| o.inserted));
        for o in &out[..3] {
            new_issues += usize::from(o.new_issue);
            issue_ids.insert(o.issue_id.unwrap());
        }
        assert!(out[3].new_issue);
    }
    assert_eq!(new_issues, 1);
    assert_eq!(issue_ids.len(), 1);
    let id = issue_ids.into_iter().next().unwrap();
    assert_eq!(store.issue_by_id(id).await.unwrap().times_seen, 24);
    assert_eq!(store.count_issues(&all(p)).await.unwrap(), 9);
    // Short ids stay unique and dense.
    let mut shorts: Vec<i64> = store
        .list_issues(&all(p))
        .await
        .unwrap()
        .iter()
        .map(|i| i.short_id)
        .collect();
    shorts.sort();
    assert_eq!(shorts, (1..=9).collect::<Vec<_>>());
}

pub async fn secondary_hashes_find_existing_issues(store: SharedStore) {
    let f = fixture(&store).await;
    let p = f.project.id;
    let old = digest_one(&store, event(p, "old-config", now())).await;

    // The project moved to a new config: the new hash is unknown, the old
    // one (secondary) finds the issue, and the new hash is attached to it.
    let mut moved = event(p, "new-config", now());
    moved.secondary_hashes = vec![hash("old-config")];
    let out = digest_one(&store, moved).await;
    assert_eq!(out.issue_id, old.issue_id);
    assert!(!out.new_issue);
    let later = digest_one(&store, event(p, "new-config", now())).await;
    assert_eq!(later.issue_id, old.issue_id);

    // Secondary hashes are never attached: an unknown secondary hash does
    // not later find the issue its event created.
    let mut fresh = event(p, "only-new", now());
    fresh.secondary_hashes = vec![hash("only-old")];
    let created = digest_one(&store, fresh).await;
    assert!(created.new_issue);
    let other = digest_one(&store, event(p, "only-old", now())).await;
    assert!(other.new_issue);
    assert_ne!(other.issue_id, created.issue_id);

    // Any of several primary hashes finds the issue.
    let mut multi = event(p, "first", now());
    multi.hashes.push(hash("old-config"));
    assert_eq!(digest_one(&store, multi).await.issue_id, old.issue_id);
    assert_eq!(
        digest_one(&store, event(p, "first", now())).await.issue_id,
        old.issue_id
    );
    assert_eq!(
        store
            .issue_by_id(old.issue_id.unwrap())
            .await
            .unwrap()
            .times_seen,
        5
    );
}

pub async fn transactions_have_no_issue(store: SharedStore) {
    let f = fixture(&store).await;
    let p = f.project.id;
    let mut tx = event(p, "ignored", now());
    tx.event_type = EventType::Transaction;
    tx.hashes = vec![];
    let out = digest_one(&store, tx.clone()).await;
    assert!(out.inserted);
    assert_eq!(out.issue_id, None);
    assert!(!out.new_issue);
    let stored = store.event_by_id(p, tx.event_id).await.unwrap();
    assert_eq!(stored.issue_id, None);
    assert_eq!(stored.event_type, EventType::Transaction);
    assert_eq!(store.count_issues(&all(p)).await.unwrap(), 0);
    assert!(!digest_one(&store, tx).await.inserted);
}

pub async fn resolved_issue_regresses(store: SharedStore) {
    let f = fixture(&store).await;
    let p = f.project.id;
    let id = digest_one(&store, event(p, "bug", now()))
        .await
        .issue_id
        .unwrap();
    let resolved = store
        .set_issue_status(id, StatusChange::Resolve)
        .await
        .unwrap();
    assert_eq!(resolved.status, IssueStatus::Resolved);
    assert!(resolved.resolved_at.is_some());
    assert_eq!(store.issue_by_id(id).await.unwrap(), resolved);

    let out = digest_one(&store, event(p, "bug", now() + Duration::minutes(1))).await;
    assert!(out.regressed && !out.new_issue);
    let issue = store.issue_by_id(id).await.unwrap();
    assert_eq!(issue.status, IssueStatus::Unresolved);
    assert_eq!(issue.substatus, IssueSubstatus::Regressed);
    assert_eq!(issue.resolved_at, None);
    assert_eq!(issue.times_seen, 2);
    // Only the first event after resolving regresses it.
    assert!(!digest_one(&store, event(p, "bug", now())).await.regressed);
}

pub async fn resolve_in_next_release(store: SharedStore) {
    let f = fixture(&store).await;
    let p = f.project.id;
    let t = now();
    let with = |release: Option<&str>, minutes: i64| {
        let mut e = event(p, "bug", t + Duration::minutes(minutes));
        e.release = release.map(String::from);
        e
    };
    // 0.9 is seen before 1.0.
    let id = digest_one(&store, with(Some("0.9"), 0))
        .await
        .issue_id
        .unwrap();
    digest_one(&store, with(Some("1.0"), 1)).await;
    let issue = store
        .set_issue_status(
            id,
            StatusChange::ResolveInNextRelease {
                release: Some("1.0".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(issue.status, IssueStatus::Resolved);
    assert_eq!(issue.resolved_in_release.as_deref(), Some("1.0"));

    for (release, minute) in [(Some("1.0"), 2), (None, 3), (Some("0.9"), 4)] {
        let out = digest_one(&store, with(release, minute)).await;
        assert!(!out.regressed, "{release:?} is not newer than 1.0");
        assert_eq!(
            store.issue_by_id(id).await.unwrap().status,
            IssueStatus::Resolved
        );
    }
    let out = digest_one(&store, with(Some("2.0"), 5)).await;
    assert!(out.regressed, "2.0 was first seen after 1.0");
    let issue = store.issue_by_id(id).await.unwrap();
    assert_eq!(issue.status, IssueStatus::Unresolved);
    assert_eq!(issue.substatus, IssueSubstatus::Regressed);
    assert_eq!(issue.resolved_in_release, None);
    assert_eq!(issue.times_seen, 6);

    // Resolved in a release never seen: any event with a release is newer.
    store
        .set_issue_status(
            id,
            StatusChange::ResolveInNextRelease {
                release: Some("unknown".into()),
            },
        )
        .await
        .unwrap();
    assert!(digest_one(&store, with(Some("0.9"), 6)).await.regressed);
}

pub async fn ignore_until_time_escalates(store: SharedStore) {
    let f = fixture(&store).await;
    let p = f.project.id;
    let t = now();
    let id = digest_one(&store, event(p, "noisy", t))
        .await
        .issue_id
        .unwrap();
    let ignored = store
        .set_issue_status(id, StatusChange::IgnoreUntil(t + Duration::hours(2)))
        .await
        .unwrap();
    assert_eq!(ignored.status, IssueStatus::Ignored);
    assert_eq!(ignored.substatus, IssueSubstatus::ArchivedUntilConditionMet);
    assert_eq!(ignored.ignore_until, Some(t + Duration::hours(2)));

    let out = digest_one(&store, event(p, "noisy", t + Duration::hours(1))).await;
    assert!(!out.escalated);
    assert_eq!(
        store.issue_by_id(id).await.unwrap().status,
        IssueStatus::Ignored
    );

    let out = digest_one(&store, event(p, "noisy", t + Duration::hours(3))).await;
    assert!(out.escalated);
    let issue = store.issue_by_id(id).await.unwrap();
    assert_eq!(issue.status, IssueStatus::Unresolved);
    assert_eq!(issue.substatus, IssueSubstatus::Escalating);
    assert_eq!(issue.ignore_until, None);

    // Ignored forever stays ignored.
    let forever = store
        .set_issue_status(id, StatusChange::IgnoreForever)
        .await
        .unwrap();
    assert_eq!(forever.substatus, IssueSubstatus::ArchivedForever);
    let out = digest_one(&store, event(p, "noisy", t + Duration::days(30))).await;
    assert!(!out.escalated);
    assert_eq!(
        store.issue_by_id(id).await.unwrap().status,
        IssueStatus::Ignored
    );
}

pub async fn ignore_count_escalates(store: SharedStore) {
    let f = fixture(&store).await;
    let p = f.project.id;
    let id = digest_one(&store, event(p, "count", now()))
        .await
        .issue_id
        .unwrap();
    let ignored = store
        .set_issue_status(id, StatusChange::IgnoreCount(3))
        .await
        .unwrap();
    assert_eq!(ignored.ignore_count, Some(3));
    assert_eq!(ignored.ignore_count_base, Some(1));
    // Two more events in one batch: still ignored.
    let out = store
        .digest(&[event(p, "count", now()), event(p, "count", now())])
        .await
        .unwrap();
    assert!(out.iter().all(|o| !o.escalated));
    assert_eq!(
        store.issue_by_id(id).await.unwrap().status,
        IssueStatus::Ignored
    );
    // The third escalates, the fourth (same batch) does not again.
    let out = store
        .digest(&[event(p, "count", now()), event(p, "count", now())])
        .await
        .unwrap();
    assert!(out[0].escalated && !out[1].escalated);
    let issue = store.issue_by_id(id).await.unwrap();
    assert_eq!(issue.status, IssueStatus::Unresolved);
    assert_eq!(issue.substatus, IssueSubstatus::Escalating);
    assert_eq!((issue.ignore_count, issue.ignore_count_base), (None, None));
    assert_eq!(issue.times_seen, 5);
}

pub async fn new_issue_becomes_ongoing_after_three_days(store: SharedStore) {
    let f = fixture(&store).await;
    let p = f.project.id;
    let t = now();
    let old = digest_one(&store, event(p, "old", t - Duration::days(4))).await;
    let young = digest_one(&store, event(p, "young", t - Duration::days(1))).await;
    digest_one(&store, event(p, "old", t)).await;
    digest_one(&store, event(p, "young", t)).await;
    let old = store.issue_by_id(old.issue_id.unwrap()).await.unwrap();
    let young = store.issue_by_id(young.issue_id.unwrap()).await.unwrap();
    assert_eq!(old.substatus, IssueSubstatus::Ongoing);
    assert_eq!(young.substatus, IssueSubstatus::New);
}

pub async fn status_changes(store: SharedStore) {
    let f = fixture(&store).await;
    let p = f.project.id;
    let id = digest_one(&store, event(p, "s", now()))
        .await
        .issue_id
        .unwrap();
    let ignored = store
        .set_issue_status(id, StatusChange::IgnoreCount(5))
        .await
        .unwrap();
    assert_eq!(ignored.status, IssueStatus::Ignored);
    let back = store
        .set_issue_status(id, StatusChange::Unresolve)
        .await
        .unwrap();
    assert_eq!(back.status, IssueStatus::Unresolved);
    assert_eq!(back.substatus, IssueSubstatus::Ongoing);
    assert_eq!((back.ignore_count, back.ignore_count_base), (None, None));
    let resolved = store
        .set_issue_status(id, StatusChange::Resolve)
        .await
        .unwrap();
    let reopened = store
        .set_issue_status(id, StatusChange::Unresolve)
        .await
        .unwrap();
    assert!(resolved.resolved_at.is_some());
    assert_eq!(reopened.resolved_at, None);
    assert!(matches!(
        store
            .set_issue_status(id, StatusChange::IgnoreCount(0))
            .await,
        Err(StoreError::Invalid { .. })
    ));
    assert!(matches!(
        store
            .set_issue_status(id + 100, StatusChange::Resolve)
            .await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn releases_first_and_last(store: SharedStore) {
    let f = fixture(&store).await;
    let p = f.project.id;
    let t = now();
    let mut a = event(p, "rel", t);
    a.release = Some("1.0".into());
    let b = event(p, "rel", t + Duration::minutes(1));
    let mut c = event(p, "rel", t + Duration::minutes(2));
    c.release = Some("1.1".into());
    let mut late = event(p, "rel", t - Duration::minutes(10));
    late.release = Some("0.1".into());
    let id = store.digest(&[a, b, c]).await.unwrap()[0].issue_id.unwrap();
    digest_one(&store, late).await;
    let issue = store.issue_by_id(id).await.unwrap();
    assert_eq!(issue.first_release.as_deref(), Some("1.0"));
    assert_eq!(
        issue.last_release.as_deref(),
        Some("1.1"),
        "an older event does not change it"
    );
    assert_eq!(issue.first_seen, t - Duration::minutes(10));
}

pub async fn delete_issue_removes_everything(store: SharedStore) {
    let f = fixture(&store).await;
    let p = f.project.id;
    let e = event(p, "gone", now());
    let id = store
        .digest(&[e.clone(), event(p, "gone", now())])
        .await
        .unwrap()[0]
        .issue_id
        .unwrap();
    let keep = digest_one(&store, event(p, "kept", now()))
        .await
        .issue_id
        .unwrap();
    store.delete_issue(id).await.unwrap();
    assert!(matches!(
        store.issue_by_id(id).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.event_by_id(p, e.event_id).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(
        store
            .list_issue_events(id, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.issue_tag_values(id).await.unwrap().is_empty());
    assert!(matches!(
        store.delete_issue(id).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.issue_by_id(keep).await.unwrap().times_seen, 1);
    // The hash went with it: the next event starts a new issue.
    let again = digest_one(&store, event(p, "gone", now())).await;
    assert!(again.new_issue);
    assert_ne!(again.issue_id, Some(id));
}

pub async fn invalid_event_data_is_rejected(store: SharedStore) {
    let f = fixture(&store).await;
    let mut e = event(f.project.id, "bad", now());
    e.data = "{not json".into();
    assert!(matches!(
        store.digest(&[e]).await,
        Err(StoreError::Invalid { .. })
    ));
    assert!(store.digest(&[]).await.unwrap().is_empty());
    assert_eq!(store.count_issues(&all(f.project.id)).await.unwrap(), 0);
}

/// An event whose JSON holds NUL (which PostgreSQL refuses in `text` and
/// `jsonb`, and SQLite keeps), read and prepared as the digest does: every
/// backend stores exactly this, U+FFFD in its place, in every column and
/// table.
pub async fn nul_is_stored_alike(store: SharedStore) {
    let f = fixture(&store).await;
    let p = f.project.id;
    let id = Uuid::new_v4();
    let text = format!(
        r#"{{"event_id":"{}","message":"nul \u0000 here","level":"error",
            "platform":"python","release":"r\u0000","environment":"e\u0000",
            "tags":{{"t\u0000":"v\u0000"}},"user":{{"id":"u\u0000","email":"\u0000@x"}},
            "exception":{{"values":[{{"type":"Err\u0000","value":"boom\u0000"}}]}},
            "extra":{{"k\u0000":["\u0000"]}}}}"#,
        id.simple()
    );
    let event = corral_protocol::Event::from_json(text.as_bytes()).unwrap();
    let input = corral_core::prepare(p, &f.project.grouping_config, event, now());
    let outcome = digest_one(&store, input).await;
    assert!(outcome.inserted);

    let stored = store.event_by_id(p, id).await.unwrap();
    assert_eq!(stored.title, "Err\u{fffd}: boom\u{fffd}");
    assert_eq!(stored.release.as_deref(), Some("r\u{fffd}"));
    assert_eq!(stored.environment.as_deref(), Some("e\u{fffd}"));
    for tag in [
        ("t\u{fffd}", "v\u{fffd}"),
        ("release", "r\u{fffd}"),
        ("environment", "e\u{fffd}"),
        ("user", "id:u\u{fffd}"),
    ] {
        assert!(
            stored.tags.contains(&(tag.0.into(), tag.1.into())),
            "{tag:?} in {:?}",
            stored.tags
        );
    }
    assert_eq!(stored.data["user"]["id"], "u\u{fffd}");
    assert_eq!(stored.data["user"]["email"], "\u{fffd}@x");
    assert_eq!(
        stored.data["extra"],
        serde_json::json!({"k\u{fffd}": ["\u{fffd}"]})
    );
    assert_eq!(stored.data["logentry"]["formatted"], "nul \u{fffd} here");
    assert!(!stored.data.to_string().contains("\\u0000"));

    let issue = store
        .issue_by_id(outcome.issue_id.expect("an issue"))
        .await
        .unwrap();
    assert_eq!(issue.title, stored.title);
    assert_eq!(issue.metadata["type"], "Err\u{fffd}");
    assert_eq!(issue.first_release.as_deref(), Some("r\u{fffd}"));
    let values = store.issue_tag_values(issue.id).await.unwrap();
    assert!(
        values
            .iter()
            .any(|v| v.key == "t\u{fffd}" && v.value == "v\u{fffd}" && v.times_seen == 1),
        "{values:?}"
    );
}
