use chrono::{Duration, DurationRound};
use corral_core::{
    AttachmentRecord, CheckIn, ClientDiscard, SessionCounts, SharedStore, StoreError, UserReport,
};
use uuid::Uuid;

use super::support::{fixture, now};

pub async fn attachments(store: SharedStore) {
    let f = fixture(&store).await;
    let event_id = Uuid::new_v4();
    let record = |name: &str, path: &str| AttachmentRecord {
        project_id: f.project.id,
        event_id,
        name: name.into(),
        content_type: Some("text/plain".into()),
        attachment_type: None,
        size: 12,
        path: path.into(),
        created_at: now(),
    };
    let a = record("log.txt", "ab/cd/1");
    let b = record("dump.dmp", "ab/cd/2");
    store.add_attachment(&a).await.unwrap();
    store.add_attachment(&a).await.unwrap();
    store.add_attachment(&b).await.unwrap();
    assert_eq!(
        store
            .list_attachments(f.project.id, event_id)
            .await
            .unwrap(),
        vec![a, b]
    );
    assert!(
        store
            .list_attachments(f.project.id, Uuid::new_v4())
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn session_counts(store: SharedStore) {
    let f = fixture(&store).await;
    let p = f.project.id;
    let hour = now().duration_trunc(Duration::hours(1)).unwrap();
    let counts = |release: &str, env: Option<&str>, at, n| SessionCounts {
        project_id: p,
        release: release.into(),
        environment: env.map(String::from),
        hour: at,
        exited: n,
        errored: 1,
        crashed: 0,
        abnormal: 2,
    };
    store
        .add_session_counts(&[
            counts("1.0", Some("prod"), hour + Duration::minutes(5), 10),
            counts("1.0", Some("prod"), hour + Duration::minutes(50), 5),
            counts("1.0", None, hour, 3),
        ])
        .await
        .unwrap();
    store
        .add_session_counts(&[counts("1.0", Some("prod"), hour + Duration::hours(1), 1)])
        .await
        .unwrap();
    let totals = store.session_totals(p).await.unwrap();
    assert_eq!(totals.len(), 2);
    let none = totals.iter().find(|t| t.environment.is_none()).unwrap();
    assert_eq!((none.exited, none.errored, none.abnormal), (3, 1, 2));
    let prod = totals
        .iter()
        .find(|t| t.environment.as_deref() == Some("prod"))
        .unwrap();
    assert_eq!(
        (prod.exited, prod.errored, prod.crashed, prod.abnormal),
        (16, 3, 0, 6)
    );
    assert_eq!(prod.hour, hour);
}

pub async fn client_discards(store: SharedStore) {
    let f = fixture(&store).await;
    let p = f.project.id;
    let d = |reason: &str, category: &str, quantity| ClientDiscard {
        project_id: p,
        reason: reason.into(),
        category: category.into(),
        quantity,
        hour: now(),
    };
    store
        .add_client_discards(&[
            d("queue_overflow", "error", 3),
            d("ratelimit_backoff", "error", 1),
        ])
        .await
        .unwrap();
    store
        .add_client_discards(&[d("queue_overflow", "error", 4)])
        .await
        .unwrap();
    let totals: Vec<(String, String, i64)> = store
        .client_discard_totals(p)
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.reason, t.category, t.quantity))
        .collect();
    assert_eq!(
        totals,
        [
            ("queue_overflow".into(), "error".into(), 7),
            ("ratelimit_backoff".into(), "error".into(), 1)
        ]
    );
}

pub async fn check_ins(store: SharedStore) {
    let f = fixture(&store).await;
    let p = f.project.id;
    let id = Uuid::new_v4();
    let check_in = |status: &str, at, duration| CheckIn {
        project_id: p,
        check_in_id: id,
        monitor_slug: "nightly".into(),
        status: status.into(),
        duration_secs: duration,
        environment: Some("prod".into()),
        received_at: at,
        data: "{}".into(),
    };
    let t = now();
    store
        .add_check_in(&check_in("in_progress", t, None))
        .await
        .unwrap();
    let done = check_in("ok", t + Duration::seconds(30), Some(29.5));
    store.add_check_in(&done).await.unwrap();
    let mut other = check_in("error", t + Duration::minutes(1), Some(1.0));
    other.check_in_id = Uuid::new_v4();
    store.add_check_in(&other).await.unwrap();
    assert_eq!(
        store.list_check_ins(p, 10).await.unwrap(),
        vec![other.clone(), done]
    );
    assert_eq!(store.list_check_ins(p, 1).await.unwrap(), vec![other]);
}

pub async fn user_reports(store: SharedStore) {
    let f = fixture(&store).await;
    let p = f.project.id;
    let report = |event_id, comments: &str, minutes| UserReport {
        project_id: p,
        event_id,
        name: "Ann".into(),
        email: "ann@example.com".into(),
        comments: comments.into(),
        received_at: now() + Duration::minutes(minutes),
    };
    let e1 = Uuid::new_v4();
    store
        .add_user_report(&report(e1, "first", 0))
        .await
        .unwrap();
    let corrected = report(e1, "corrected", 1);
    store.add_user_report(&corrected).await.unwrap();
    let other = report(Uuid::new_v4(), "other", 2);
    store.add_user_report(&other).await.unwrap();
    assert_eq!(
        store.list_user_reports(p).await.unwrap(),
        vec![other, corrected]
    );
}

pub async fn dead_letters(store: SharedStore) {
    let a = store
        .add_dead_letter("events", "{\"a\":1}", "boom", 25)
        .await
        .unwrap();
    let b = store
        .add_dead_letter("events", "{\"b\":2}", "bang", 3)
        .await
        .unwrap();
    let c = store
        .add_dead_letter("alerts", "{}", "nope", 1)
        .await
        .unwrap();
    assert_eq!(
        (
            a.queue.as_str(),
            a.payload.as_str(),
            a.error.as_str(),
            a.attempts
        ),
        ("events", "{\"a\":1}", "boom", 25)
    );
    assert_eq!(
        store.list_dead_letters(2).await.unwrap(),
        vec![c.clone(), b.clone()]
    );
    assert_eq!(store.take_dead_letter(b.id).await.unwrap(), b);
    assert!(matches!(
        store.take_dead_letter(b.id).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.list_dead_letters(10).await.unwrap(), vec![c, a]);
}
