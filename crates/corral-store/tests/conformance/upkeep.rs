use chrono::Duration;
use corral_core::model::*;
use corral_core::{IssueQuery, SharedStore, StoreError};

use super::support::{event, fixture, now, other_project};

pub async fn purge_keeps_counters_consistent(store: SharedStore) {
    let f = fixture(&store).await;
    let n = now();
    let a = f.project.id;
    let b = other_project(&f, "short").await.id;
    store.set_project_retention(b, Some(7)).await.unwrap();

    let mut a_old = event(a, "a-mixed", n - Duration::days(40));
    a_old.tags.push(("only".into(), "old".into()));
    let a_new = event(a, "a-mixed", n - Duration::days(1));
    let a_gone = event(a, "a-gone", n - Duration::days(35));
    let mut b_old = event(b, "b-mixed", n - Duration::days(10));
    b_old.tags.push(("only".into(), "old".into()));
    let b_new = event(b, "b-mixed", n - Duration::days(2));
    let b_gone = event(b, "b-gone", n - Duration::days(40));
    let out = store
        .digest(&[
            a_old.clone(),
            a_new.clone(),
            a_gone,
            b_old,
            b_new.clone(),
            b_gone,
        ])
        .await
        .unwrap();
    let (a_mixed, a_gone_id, b_mixed, b_gone_id) = (
        out[0].issue_id.unwrap(),
        out[2].issue_id.unwrap(),
        out[3].issue_id.unwrap(),
        out[5].issue_id.unwrap(),
    );
    // Some of the counts to take back are already rolled up into days.
    store.rollup_hourly(n - Duration::days(20)).await.unwrap();

    let report = store.purge(n, 30).await.unwrap();
    assert_eq!(report.events_deleted, 4);
    assert_eq!(report.issues_deleted, 2);
    if store.backend() == "postgres" {
        assert_eq!(report.partitions_dropped, 2, "the days 40 and 35 days ago");
    } else {
        assert_eq!(report.partitions_dropped, 0);
    }
    for gone in [a_gone_id, b_gone_id] {
        assert!(matches!(
            store.issue_by_id(gone).await,
            Err(StoreError::NotFound(_))
        ));
    }
    for (issue, kept) in [(a_mixed, &a_new), (b_mixed, &b_new)] {
        let i = store.issue_by_id(issue).await.unwrap();
        assert_eq!(i.times_seen, 1);
        let events = store.list_issue_events(issue, None, 10).await.unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].event_id, kept.event_id);
        let tags: Vec<(String, String, i64)> = store
            .issue_tag_values(issue)
            .await
            .unwrap()
            .into_iter()
            .map(|t| (t.key, t.value, t.times_seen))
            .collect();
        assert_eq!(tags, [("browser".into(), "Firefox".into(), 1)]);
        let range = (n - Duration::days(60), n + Duration::days(1));
        let hourly: i64 = store
            .issue_hourly_counts(issue, range.0, range.1)
            .await
            .unwrap()
            .iter()
            .map(|b| b.count)
            .sum();
        let daily: i64 = store
            .issue_daily_counts(issue, range.0, range.1)
            .await
            .unwrap()
            .iter()
            .map(|b| b.count)
            .sum();
        assert_eq!((hourly, daily), (1, 1));
    }
    assert!(matches!(
        store.event_by_id(a, a_old.event_id).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        store.event_by_id(a, a_new.event_id).await.unwrap().issue_id,
        Some(a_mixed)
    );
    let left = store
        .count_issues(&IssueQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(left, 2);

    // Nothing more to do on a second run.
    let again = store.purge(n, 30).await.unwrap();
    assert_eq!(
        (
            again.events_deleted,
            again.issues_deleted,
            again.partitions_dropped
        ),
        (0, 0, 0)
    );
    // The dedupe window is the retention: a purged event id is new again.
    let mut resent = a_old.clone();
    resent.received_at = n;
    let out = store.digest(&[resent]).await.unwrap();
    assert!(out[0].inserted);
    assert_eq!(out[0].issue_id, Some(a_mixed));
    assert!(matches!(
        store.purge(n, 0).await,
        Err(StoreError::Invalid { .. })
    ));
}

pub async fn ensure_partitions_ahead(store: SharedStore) {
    let n = now();
    let first = store.ensure_partitions(n, 3).await.unwrap();
    let second = store.ensure_partitions(n, 3).await.unwrap();
    if store.backend() == "postgres" {
        assert_eq!((first, second), (4, 0));
    } else {
        assert_eq!((first, second), (0, 0));
    }
    // Events on those days and on days without a partition are stored.
    let f = fixture(&store).await;
    for at in [n + Duration::days(2), n - Duration::days(9)] {
        let out = store.digest(&[event(f.project.id, "p", at)]).await.unwrap();
        assert!(out[0].inserted);
    }
    let issue: Issue = store
        .list_issues(&IssueQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .remove(0);
    assert_eq!(issue.times_seen, 2);
}
