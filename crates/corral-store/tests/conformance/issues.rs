use std::collections::HashSet;

use chrono::{Duration, DurationRound};
use corral_core::model::*;
use corral_core::{EventCursor, IssueCursor, IssueQuery, IssueSort, SharedStore, StatusChange};
use corral_protocol::Level;

use super::support::{event, fixture, now, other_project};

fn sort_value(issue: &Issue, sort: IssueSort) -> i64 {
    match sort {
        IssueSort::LastSeen => issue.last_seen.timestamp_millis(),
        IssueSort::FirstSeen => issue.first_seen.timestamp_millis(),
        IssueSort::TimesSeen => issue.times_seen,
    }
}

pub async fn keyset_pagination_visits_every_issue_once(store: SharedStore) {
    let f = fixture(&store).await;
    let p = f.project.id;
    let t = now() - Duration::days(1);
    // 23 issues with many ties in every sort value.
    let mut batch = Vec::new();
    for i in 0..23i64 {
        let name = format!("page-{i}");
        let first = t + Duration::milliseconds((i % 4) * 1500);
        for k in 0..(1 + i % 3) {
            batch.push(event(p, &name, first + Duration::seconds(k * (i % 2))));
        }
    }
    store.digest(&batch).await.unwrap();
    for sort in [
        IssueSort::LastSeen,
        IssueSort::FirstSeen,
        IssueSort::TimesSeen,
    ] {
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = store
                .list_issues(&IssueQuery {
                    project_ids: vec![p],
                    sort,
                    cursor,
                    limit: 5,
                    ..Default::default()
                })
                .await
                .unwrap();
            assert!(page.len() <= 5);
            let Some(last) = page.last() else { break };
            cursor = Some(IssueCursor {
                sort_value: sort_value(last, sort),
                id: last.id,
            });
            seen.extend(page);
        }
        assert_eq!(seen.len(), 23, "{sort:?}");
        let ids: HashSet<IssueId> = seen.iter().map(|i| i.id).collect();
        assert_eq!(ids.len(), 23, "{sort:?}: an issue came twice");
        let keys: Vec<(i64, IssueId)> = seen.iter().map(|i| (sort_value(i, sort), i.id)).collect();
        let mut sorted = keys.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(keys, sorted, "{sort:?}: descending by (value, id)");
    }
    // The cap.
    let capped = store
        .list_issues(&IssueQuery {
            limit: 5000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(capped.len(), 23);
}

pub async fn issue_filters(store: SharedStore) {
    let f = fixture(&store).await;
    let p = f.project.id;
    let q2 = other_project(&f, "frontend").await;
    let t = now() - Duration::hours(5);

    let mut percent = event(p, "percent", t);
    percent.title = "Disk 100% full".into();
    percent.level = Level::Warning;
    percent.release = Some("1.0".into());
    percent.environment = Some("production".into());
    let mut under = event(p, "under", t + Duration::hours(1));
    under.title = "snake_case_name broke".into();
    under.culprit = "Worker.RUN".into();
    under.environment = Some("staging".into());
    under.tags.push(("customer".into(), "big".into()));
    let mut plain = event(p, "plain", t + Duration::hours(2));
    plain.title = "Another error".into();
    // Would match `e_c` if `_` were a wildcard.
    plain.culprit = "severe crash".into();
    plain.release = Some("2.0".into());
    let elsewhere = event(q2.id, "elsewhere", t + Duration::hours(3));
    let out = store
        .digest(&[percent, under, plain, elsewhere])
        .await
        .unwrap();
    let [percent, under, plain, elsewhere] = [0, 1, 2, 3].map(|i| out[i].issue_id.unwrap());
    store
        .set_issue_status(plain, StatusChange::Resolve)
        .await
        .unwrap();

    let check = |q: IssueQuery, want: Vec<IssueId>| {
        let store = store.clone();
        async move {
            let q = IssueQuery { limit: 100, ..q };
            let mut got: Vec<IssueId> = store
                .list_issues(&q)
                .await
                .unwrap()
                .iter()
                .map(|i| i.id)
                .collect();
            got.sort();
            let mut want = want;
            want.sort();
            assert_eq!(got, want, "{q:?}");
            assert_eq!(
                store.count_issues(&q).await.unwrap(),
                want.len() as i64,
                "{q:?}"
            );
        }
    };
    let mine = || IssueQuery {
        project_ids: vec![p],
        ..Default::default()
    };
    check(
        IssueQuery::default(),
        vec![percent, under, plain, elsewhere],
    )
    .await;
    check(mine(), vec![percent, under, plain]).await;
    check(
        IssueQuery {
            project_ids: vec![p, q2.id],
            ..Default::default()
        },
        vec![percent, under, plain, elsewhere],
    )
    .await;
    check(
        IssueQuery {
            text: Some("100%".into()),
            ..mine()
        },
        vec![percent],
    )
    .await;
    check(
        IssueQuery {
            text: Some("0% F".into()),
            ..mine()
        },
        vec![percent],
    )
    .await;
    check(
        IssueQuery {
            text: Some("e_c".into()),
            ..mine()
        },
        vec![under],
    )
    .await;
    check(
        IssueQuery {
            text: Some("%".into()),
            ..mine()
        },
        vec![percent],
    )
    .await;
    check(
        IssueQuery {
            text: Some("worker.run".into()),
            ..mine()
        },
        vec![under],
    )
    .await;
    check(
        IssueQuery {
            text: Some("ERROR".into()),
            ..mine()
        },
        vec![plain],
    )
    .await;
    check(
        IssueQuery {
            levels: vec![Level::Warning],
            ..mine()
        },
        vec![percent],
    )
    .await;
    check(
        IssueQuery {
            levels: vec![Level::Warning, Level::Error],
            ..mine()
        },
        vec![percent, under, plain],
    )
    .await;
    check(
        IssueQuery {
            status: Some(IssueStatus::Resolved),
            ..mine()
        },
        vec![plain],
    )
    .await;
    check(
        IssueQuery {
            status: Some(IssueStatus::Unresolved),
            ..mine()
        },
        vec![percent, under],
    )
    .await;
    check(
        IssueQuery {
            release: Some("1.0".into()),
            ..mine()
        },
        vec![percent],
    )
    .await;
    check(
        IssueQuery {
            release: Some("3.0".into()),
            ..mine()
        },
        vec![],
    )
    .await;
    check(
        IssueQuery {
            environment: Some("staging".into()),
            ..mine()
        },
        vec![under],
    )
    .await;
    check(
        IssueQuery {
            tags: vec![("customer".into(), "big".into())],
            ..mine()
        },
        vec![under],
    )
    .await;
    check(
        IssueQuery {
            tags: vec![
                ("customer".into(), "big".into()),
                ("browser".into(), "Firefox".into()),
            ],
            ..mine()
        },
        vec![under],
    )
    .await;
    check(
        IssueQuery {
            tags: vec![("customer".into(), "small".into())],
            ..mine()
        },
        vec![],
    )
    .await;
    check(
        IssueQuery {
            first_seen_after: Some(t + Duration::minutes(30)),
            ..mine()
        },
        vec![under, plain],
    )
    .await;
    check(
        IssueQuery {
            last_seen_after: Some(t + Duration::minutes(90)),
            ..IssueQuery::default()
        },
        vec![plain, elsewhere],
    )
    .await;
    check(
        IssueQuery {
            environment: Some("production".into()),
            levels: vec![Level::Error],
            ..mine()
        },
        vec![],
    )
    .await;
}

pub async fn hourly_daily_counts_and_rollup(store: SharedStore) {
    let f = fixture(&store).await;
    let p = f.project.id;
    let day = (now() - Duration::days(3))
        .duration_trunc(Duration::days(1))
        .unwrap();
    let at = |h: i64, m: i64| day + Duration::hours(h) + Duration::minutes(m);
    let batch = vec![
        event(p, "hours", at(1, 0)),
        event(p, "hours", at(1, 59)),
        event(p, "hours", at(5, 10)),
        event(p, "hours", at(24 + 2, 0)),
        event(p, "hours", at(48 + 3, 0)),
    ];
    let id = store.digest(&batch).await.unwrap()[0].issue_id.unwrap();
    let hourly = |from, to| {
        let store = store.clone();
        async move {
            store
                .issue_hourly_counts(id, from, to)
                .await
                .unwrap()
                .into_iter()
                .map(|b| ((b.start - day).num_hours(), b.count))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        hourly(day, day + Duration::days(4)).await,
        [(1, 2), (5, 1), (26, 1), (51, 1)]
    );
    assert_eq!(hourly(at(1, 0), at(5, 0)).await, [(1, 2)], "[from, to)");
    let daily = |store: SharedStore| async move {
        store
            .issue_daily_counts(id, day, day + Duration::days(4))
            .await
            .unwrap()
            .into_iter()
            .map(|b| ((b.start - day).num_days(), b.count))
            .collect::<Vec<_>>()
    };
    assert_eq!(daily(store.clone()).await, [(0, 3), (1, 1), (2, 1)]);

    // Fold the first two days; the third stays hourly.
    let moved = store.rollup_hourly(day + Duration::days(2)).await.unwrap();
    assert_eq!(moved, 3);
    assert_eq!(hourly(day, day + Duration::days(4)).await, [(51, 1)]);
    assert_eq!(daily(store.clone()).await, [(0, 3), (1, 1), (2, 1)]);
    // A late event in a folded hour, folded again, adds up.
    store.digest(&[event(p, "hours", at(2, 0))]).await.unwrap();
    assert_eq!(daily(store.clone()).await, [(0, 4), (1, 1), (2, 1)]);
    assert_eq!(
        store.rollup_hourly(day + Duration::days(2)).await.unwrap(),
        1
    );
    assert_eq!(daily(store.clone()).await, [(0, 4), (1, 1), (2, 1)]);
    assert_eq!(
        store.rollup_hourly(day + Duration::days(2)).await.unwrap(),
        0
    );
}

pub async fn issue_events_paginate(store: SharedStore) {
    let f = fixture(&store).await;
    let p = f.project.id;
    let t = now();
    // Pairs received at the same millisecond: the event id breaks the tie.
    let mut batch = Vec::new();
    for i in 0..7 {
        let at = t + Duration::seconds(i / 2);
        batch.push(event(p, "many", at));
    }
    let id = store.digest(&batch).await.unwrap()[0].issue_id.unwrap();
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.list_issue_events(id, cursor, 3).await.unwrap();
        let Some(last) = page.last() else { break };
        cursor = Some(EventCursor {
            received_at: last.received_at,
            event_id: last.event_id,
        });
        seen.extend(page.into_iter().map(|e| (e.received_at, e.event_id)));
    }
    let mut want: Vec<_> = batch.iter().map(|e| (e.received_at, e.event_id)).collect();
    want.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, want);
}
