use chrono::Duration;
use corral_core::model::*;
use corral_core::{
    AttachmentRecord, CheckIn, ClientDiscard, IssueQuery, SessionCounts, SharedStore, StoreError,
    UserReport,
};
use uuid::Uuid;

use super::support::{event, fixture, new_user, now, other_project, sha};

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

pub async fn purge_removes_old_items_and_expired_secrets(store: SharedStore) {
    let f = fixture(&store).await;
    let n = now();
    let a = f.project.id;
    let b = other_project(&f, "short").await.id;
    store.set_project_retention(b, Some(7)).await.unwrap();
    // (project, age in days, kept by a 30-day default and 7 days for `b`)
    let ages = [(a, 40, false), (a, 20, true), (b, 10, false), (b, 2, true)];

    for (k, (project, days, _)) in ages.iter().enumerate() {
        let at = n - Duration::days(*days);
        let event_id = Uuid::new_v4();
        store
            .add_attachment(&AttachmentRecord {
                project_id: *project,
                event_id,
                name: "log.txt".into(),
                content_type: None,
                attachment_type: None,
                size: 3,
                path: format!("{project}/{k}"),
                created_at: at,
            })
            .await
            .unwrap();
        store
            .add_session_counts(&[SessionCounts {
                project_id: *project,
                release: format!("r{k}"),
                environment: None,
                hour: at,
                exited: 1,
                errored: 0,
                crashed: 0,
                abnormal: 0,
            }])
            .await
            .unwrap();
        store
            .add_client_discards(&[ClientDiscard {
                project_id: *project,
                reason: format!("reason{k}"),
                category: "error".into(),
                quantity: 1,
                hour: at,
            }])
            .await
            .unwrap();
        store
            .add_check_in(&CheckIn {
                project_id: *project,
                check_in_id: Uuid::new_v4(),
                monitor_slug: format!("m{k}"),
                status: "ok".into(),
                duration_secs: None,
                environment: None,
                received_at: at,
                data: "{}".into(),
            })
            .await
            .unwrap();
        store
            .add_user_report(&UserReport {
                project_id: *project,
                event_id,
                name: "Ann".into(),
                email: "ann@example.com".into(),
                comments: format!("c{k}"),
                received_at: at,
            })
            .await
            .unwrap();
    }

    let ann = new_user(&store, "ann@example.com").await;
    let (past, later) = (n - Duration::minutes(1), n + Duration::days(1));
    store
        .create_session(&sha('a'), ann.id, "t", past)
        .await
        .unwrap();
    store
        .create_session(&sha('b'), ann.id, "t", later)
        .await
        .unwrap();
    store
        .create_password_reset(&sha('a'), ann.id, past)
        .await
        .unwrap();
    store
        .create_invitation(
            f.org.id,
            "old@example.com",
            Role::Member,
            &sha('a'),
            None,
            past,
        )
        .await
        .unwrap();
    let pending = store
        .create_invitation(
            f.org.id,
            "new@example.com",
            Role::Member,
            &sha('b'),
            None,
            later,
        )
        .await
        .unwrap();
    let (old_key, new_key) = ("email:old@example.com", "ip:10.0.0.1");
    store
        .count_login_failure(old_key, n - Duration::minutes(20))
        .await
        .unwrap();
    store.count_login_failure(new_key, n).await.unwrap();
    // Before the purge, the expired ones are still there (seen from the past).
    let earlier = n - Duration::hours(1);
    assert!(store.session_by_hash(&sha('a'), earlier).await.is_ok());
    assert_eq!(store.list_invitations(f.org.id).await.unwrap().len(), 2);
    assert_eq!(
        store
            .login_failures(old_key, n - Duration::minutes(20))
            .await
            .unwrap(),
        1
    );

    let mut report = store.purge(n, 30).await.unwrap();
    report.attachment_paths.sort();
    let mut want = vec![format!("{a}/0"), format!("{b}/2")];
    want.sort();
    assert_eq!(report.attachment_paths, want);

    for project in [a, b] {
        let kept_k: Vec<usize> = ages
            .iter()
            .enumerate()
            .filter(|(_, (p, _, kept))| *p == project && *kept)
            .map(|(k, _)| k)
            .collect();
        let releases: Vec<String> = store
            .session_totals(project)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.release)
            .collect();
        assert_eq!(
            releases,
            kept_k.iter().map(|k| format!("r{k}")).collect::<Vec<_>>()
        );
        let reasons: Vec<String> = store
            .client_discard_totals(project)
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.reason)
            .collect();
        assert_eq!(
            reasons,
            kept_k
                .iter()
                .map(|k| format!("reason{k}"))
                .collect::<Vec<_>>()
        );
        let monitors: Vec<String> = store
            .list_check_ins(project, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.monitor_slug)
            .collect();
        assert_eq!(
            monitors,
            kept_k.iter().map(|k| format!("m{k}")).collect::<Vec<_>>()
        );
        let reports: Vec<String> = store
            .list_user_reports(project)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.comments)
            .collect();
        assert_eq!(
            reports,
            kept_k.iter().map(|k| format!("c{k}")).collect::<Vec<_>>()
        );
    }

    // Expired secrets are gone, even seen from before they expired.
    assert!(matches!(
        store.session_by_hash(&sha('a'), earlier).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(store.session_by_hash(&sha('b'), n).await.is_ok());
    assert!(matches!(
        store.take_password_reset(&sha('a'), earlier).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.invitation_by_hash(&sha('a'), earlier).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        store.list_invitations(f.org.id).await.unwrap(),
        vec![pending]
    );
    assert_eq!(
        store
            .login_failures(old_key, n - Duration::minutes(20))
            .await
            .unwrap(),
        0
    );
    assert_eq!(store.login_failures(new_key, n).await.unwrap(), 1);
    // A second run finds nothing more.
    assert!(
        store
            .purge(n, 30)
            .await
            .unwrap()
            .attachment_paths
            .is_empty()
    );
}
