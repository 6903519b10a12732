use std::collections::HashSet;

use chrono::{Duration, DurationRound};
use corral_core::model::*;
use corral_core::{
    AssignedFilter, EventCursor, IssueCursor, IssueQuery, IssueSort, NewUser, SharedStore,
    StatusChange, StoreError,
};
use corral_protocol::Level;

use super::support::{digest_one, event, fixture, new_user, now, other_project};

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
            // the per-status counts agree with the count of the status asked for
            assert_eq!(
                store.count_issues_by_status(&q).await.unwrap().of(q.status),
                want.len() as i64,
                "{q:?}"
            );
        }
    };
    // every status at once, whatever status the query names
    for status in [None, Some(IssueStatus::Ignored)] {
        let q = IssueQuery {
            project_ids: vec![p],
            status,
            ..Default::default()
        };
        assert_eq!(
            store.count_issues_by_status(&q).await.unwrap(),
            corral_core::StatusCounts {
                unresolved: 2,
                resolved: 1,
                ignored: 0
            }
        );
    }
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

fn not_found<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::NotFound(_)))
}

fn invalid<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Invalid { .. }))
}

pub async fn assignees_and_assigned_filters(store: SharedStore) {
    let f = fixture(&store).await;
    let p = f.project.id;
    let beta = store.create_organization("beta", "Beta").await.unwrap();
    let ann = new_user(&store, "ann@example.com").await;
    let bob = new_user(&store, "bob@example.com").await;
    let outsider = new_user(&store, "out@example.com").await;
    let root = store
        .create_user(NewUser {
            email: "root@example.com".into(),
            name: "Root".into(),
            password_hash: None,
            is_superuser: true,
        })
        .await
        .unwrap();
    for who in [&ann, &bob] {
        store
            .set_membership(f.org.id, who.id, Role::Member)
            .await
            .unwrap();
    }
    store
        .set_membership(beta.id, outsider.id, Role::Owner)
        .await
        .unwrap();
    let core = store.create_team(f.org.id, "core", "Core").await.unwrap();
    let foreign = store.create_team(beta.id, "core", "Core").await.unwrap();

    let t = now() - Duration::hours(2);
    let out = store
        .digest(&[
            event(p, "a", t),
            event(p, "b", t),
            event(p, "c", t),
            event(p, "d", t),
        ])
        .await
        .unwrap();
    let [a, b, c, d] = [0, 1, 2, 3].map(|i| out[i].issue_id.unwrap());

    let assigned = store
        .assign_issue(a, Some(Assignee::User(ann.id)))
        .await
        .unwrap();
    assert_eq!(assigned.assignee, Some(Assignee::User(ann.id)));
    assert_eq!(store.issue_by_id(a).await.unwrap(), assigned);
    store
        .assign_issue(b, Some(Assignee::Team(core.id)))
        .await
        .unwrap();
    // A new assignee replaces the old one, user or team.
    store
        .assign_issue(c, Some(Assignee::Team(core.id)))
        .await
        .unwrap();
    store
        .assign_issue(c, Some(Assignee::User(bob.id)))
        .await
        .unwrap();
    assert_eq!(
        store.issue_by_id(c).await.unwrap().assignee,
        Some(Assignee::User(bob.id))
    );
    // Only members and teams of the issue's organization (a superuser who
    // is not a member neither).
    for who in [
        Assignee::User(outsider.id),
        Assignee::Team(foreign.id),
        Assignee::User(root.id),
        Assignee::User(root.id + 100),
        Assignee::Team(core.id + 100),
    ] {
        assert!(invalid(store.assign_issue(d, Some(who)).await), "{who}");
    }
    store
        .set_membership(f.org.id, root.id, Role::Member)
        .await
        .unwrap();
    store
        .assign_issue(d, Some(Assignee::User(root.id)))
        .await
        .unwrap();
    assert_eq!(store.assign_issue(d, None).await.unwrap().assignee, None);
    assert_eq!(store.issue_by_id(d).await.unwrap().assignee, None);
    assert!(not_found(store.assign_issue(d + 100, None).await));
    // Events keep the assignee.
    store.digest(&[event(p, "c", t)]).await.unwrap();
    assert_eq!(
        store.issue_by_id(c).await.unwrap().assignee,
        Some(Assignee::User(bob.id))
    );

    store
        .set_issue_status(a, StatusChange::Resolve)
        .await
        .unwrap();
    let check = |assigned: AssignedFilter, status: Option<IssueStatus>, want: Vec<IssueId>| {
        let store = store.clone();
        async move {
            let q = IssueQuery {
                project_ids: vec![p],
                assigned: Some(assigned),
                status,
                limit: 100,
                ..Default::default()
            };
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
            assert_eq!(store.count_issues(&q).await.unwrap(), want.len() as i64);
        }
    };
    use AssignedFilter::*;
    check(To(Assignee::User(ann.id)), None, vec![a]).await;
    check(To(Assignee::Team(core.id)), None, vec![b]).await;
    check(To(Assignee::User(root.id)), None, vec![]).await;
    // "assigned:me" for ann: her and her teams.
    let me = vec![Assignee::User(ann.id), Assignee::Team(core.id)];
    check(ToAnyOf(me.clone()), None, vec![a, b]).await;
    check(ToAnyOf(vec![Assignee::User(bob.id)]), None, vec![c]).await;
    check(ToAnyOf(vec![]), None, vec![]).await;
    check(Assigned, None, vec![a, b, c]).await;
    check(Unassigned, None, vec![d]).await;
    check(Assigned, Some(IssueStatus::Unresolved), vec![b, c]).await;
    check(ToAnyOf(me), Some(IssueStatus::Resolved), vec![a]).await;
}

pub async fn comments_are_counted(store: SharedStore) {
    let f = fixture(&store).await;
    let p = f.project.id;
    let ann = new_user(&store, "ann@example.com").await;
    let nameless = store
        .create_user(NewUser {
            email: "anon@example.com".into(),
            name: String::new(),
            password_hash: None,
            is_superuser: false,
        })
        .await
        .unwrap();
    let issue = digest_one(&store, event(p, "talk", now()))
        .await
        .issue_id
        .unwrap();
    let other = digest_one(&store, event(p, "quiet", now()))
        .await
        .issue_id
        .unwrap();
    assert_eq!(store.issue_by_id(issue).await.unwrap().num_comments, 0);

    let first = store
        .add_comment(issue, ann.id, "  First look \n")
        .await
        .unwrap();
    assert_eq!(
        (
            first.issue_id,
            first.user_id,
            first.user_name.as_str(),
            first.text.as_str()
        ),
        (issue, Some(ann.id), "ann", "First look")
    );
    let second = store
        .add_comment(issue, nameless.id, "second")
        .await
        .unwrap();
    assert_eq!(second.user_name, "anon@example.com");
    assert_eq!(
        store.list_comments(issue).await.unwrap(),
        vec![first.clone(), second.clone()]
    );
    assert!(store.list_comments(other).await.unwrap().is_empty());

    // Failed comments do not count.
    assert!(invalid(store.add_comment(issue, ann.id, "  ").await));
    assert!(invalid(
        store.add_comment(issue, ann.id, &"x".repeat(10_001)).await
    ));
    assert!(not_found(store.add_comment(issue, ann.id + 100, "x").await));
    assert!(not_found(store.add_comment(issue + 100, ann.id, "x").await));
    assert_eq!(store.issue_by_id(issue).await.unwrap().num_comments, 2);
    assert_eq!(store.issue_by_id(other).await.unwrap().num_comments, 0);
    // New events and status changes keep the count.
    store.digest(&[event(p, "talk", now())]).await.unwrap();
    store
        .set_issue_status(issue, StatusChange::Resolve)
        .await
        .unwrap();
    let listed = store
        .list_issues(&IssueQuery {
            project_ids: vec![p],
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let listed = listed.iter().find(|i| i.id == issue).unwrap();
    assert_eq!((listed.num_comments, listed.times_seen), (2, 2));

    // The author's current name is shown.
    store.update_user(ann.id, "Ann B").await.unwrap();
    assert_eq!(
        store.list_comments(issue).await.unwrap()[0].user_name,
        "Ann B"
    );

    store.delete_issue(issue).await.unwrap();
    assert!(store.list_comments(issue).await.unwrap().is_empty());
}

pub async fn bulk_status_and_delete(store: SharedStore) {
    let f = fixture(&store).await;
    let p = f.project.id;
    let t = now() - Duration::hours(1);
    let events = [
        event(p, "a", t),
        event(p, "b", t),
        event(p, "c", t),
        event(p, "d", t),
    ];
    let out = store.digest(&events).await.unwrap();
    let [a, b, c, d] = [0, 1, 2, 3].map(|i| out[i].issue_id.unwrap());
    let status = |id| {
        let store = store.clone();
        async move { store.issue_by_id(id).await.unwrap().status }
    };

    assert_eq!(
        store
            .set_issues_status(&[b, a, b, d + 100], StatusChange::Resolve)
            .await
            .unwrap(),
        2
    );
    assert_eq!(status(a).await, IssueStatus::Resolved);
    assert_eq!(status(b).await, IssueStatus::Resolved);
    assert_eq!(status(c).await, IssueStatus::Unresolved);
    assert!(store.issue_by_id(a).await.unwrap().resolved_at.is_some());
    assert!(invalid(
        store
            .set_issues_status(&[c], StatusChange::IgnoreCount(0))
            .await
    ));
    assert_eq!(status(c).await, IssueStatus::Unresolved);
    assert_eq!(
        store
            .set_issues_status(&[], StatusChange::Resolve)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .set_issues_status(&[a, c], StatusChange::IgnoreForever)
            .await
            .unwrap(),
        2
    );
    assert_eq!(status(a).await, IssueStatus::Ignored);
    assert_eq!(status(c).await, IssueStatus::Ignored);
    assert_eq!(status(b).await, IssueStatus::Resolved);

    assert_eq!(store.delete_issues(&[a, d, d, d + 100]).await.unwrap(), 2);
    for gone in [a, d] {
        assert!(not_found(store.issue_by_id(gone).await));
    }
    assert!(not_found(store.event_by_id(p, events[0].event_id).await));
    assert_eq!(
        store
            .event_by_id(p, events[1].event_id)
            .await
            .unwrap()
            .issue_id,
        Some(b)
    );
    assert_eq!(store.delete_issues(&[]).await.unwrap(), 0);
    let all = IssueQuery {
        limit: 10,
        ..Default::default()
    };
    assert_eq!(store.count_issues(&all).await.unwrap(), 2);
}

pub async fn hourly_counts_of_many_issues(store: SharedStore) {
    let f = fixture(&store).await;
    let p = f.project.id;
    let day = (now() - Duration::days(2))
        .duration_trunc(Duration::days(1))
        .unwrap();
    let at = |h: i64| day + Duration::hours(h) + Duration::minutes(10);
    let out = store
        .digest(&[
            event(p, "x", at(1)),
            event(p, "x", at(1)),
            event(p, "x", at(5)),
            event(p, "y", at(2)),
            event(p, "z", at(30)),
        ])
        .await
        .unwrap();
    let (x, y, z) = (
        out[0].issue_id.unwrap(),
        out[3].issue_id.unwrap(),
        out[4].issue_id.unwrap(),
    );
    let to = day + Duration::days(1);
    let got: Vec<(IssueId, i64, i64)> = store
        .issues_hourly_counts(&[z, y, x], day, to)
        .await
        .unwrap()
        .into_iter()
        .map(|(id, b)| (id, (b.start - day).num_hours(), b.count))
        .collect();
    let mut want = vec![(x, 1, 2), (x, 5, 1), (y, 2, 1)];
    want.sort();
    assert_eq!(got, want);
    // The same as asking one by one.
    for id in [x, y, z] {
        let one: Vec<(IssueId, CountBucket)> = store
            .issue_hourly_counts(id, day, to)
            .await
            .unwrap()
            .into_iter()
            .map(|b| (id, b))
            .collect();
        assert_eq!(
            store.issues_hourly_counts(&[id], day, to).await.unwrap(),
            one
        );
    }
    assert!(
        store
            .issues_hourly_counts(&[], day, to)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn adjacent_events_walk_an_issue(store: SharedStore) {
    let f = fixture(&store).await;
    let p = f.project.id;
    let t = now();
    // Pairs received at the same millisecond, and another issue's events between.
    let mut batch = Vec::new();
    for i in 0..5 {
        batch.push(event(p, "walk", t + Duration::seconds(i / 2)));
        batch.push(event(p, "other", t + Duration::seconds(i / 2)));
    }
    let id = store.digest(&batch).await.unwrap()[0].issue_id.unwrap();
    let newest_first = store.list_issue_events(id, None, 10).await.unwrap();
    assert_eq!(newest_first.len(), 5);
    for (i, e) in newest_first.iter().enumerate() {
        let cursor = EventCursor {
            received_at: e.received_at,
            event_id: e.event_id,
        };
        let (older, newer) = store.adjacent_events(id, cursor).await.unwrap();
        assert_eq!(older, newest_first.get(i + 1).map(|e| e.event_id), "{i}");
        assert_eq!(
            newer,
            i.checked_sub(1).map(|k| newest_first[k].event_id),
            "{i}"
        );
    }
    assert_eq!(
        store
            .adjacent_events(
                id + 100,
                EventCursor {
                    received_at: t,
                    event_id: newest_first[0].event_id,
                }
            )
            .await
            .unwrap(),
        (None, None)
    );
}

/// Tag keys carry their totals over every value but only their top values; one key's values
/// page most seen first, ties by value.
pub async fn tag_keys_and_paged_values(store: SharedStore) {
    let f = fixture(&store).await;
    let p = f.project.id;
    let t0 = now();
    // browser: 12 distinct values, value vN seen N times (v1..v12); os: one value; a key
    // named like a value of another key stays separate
    let mut batch = Vec::new();
    for n in 1..=12 {
        for i in 0..n {
            let mut e = event(p, "tagged", t0 + Duration::seconds(i64::from(n * 100 + i)));
            e.tags = vec![("browser".into(), format!("v{n:02}"))];
            if n == 12 && i == 0 {
                e.tags.push(("os".into(), "Linux".into()));
            }
            batch.push(e);
        }
    }
    // a tie with v12's count, ordered by value after it
    for i in 0..12 {
        let mut e = event(p, "tagged", t0 + Duration::seconds(5000 + i));
        e.tags = vec![("browser".into(), "a-tie".into())];
        batch.push(e);
    }
    for chunk in batch.chunks(50) {
        store.digest(chunk).await.unwrap();
    }
    let issue = store
        .list_issues(&IssueQuery {
            project_ids: vec![p],
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()[0]
        .id;

    let keys = store.issue_tag_keys(issue, 3).await.unwrap();
    /// key, events with it, distinct values, top (value, count)
    type Summary<'a> = (&'a str, i64, i64, Vec<(&'a str, i64)>);
    let summary: Vec<Summary<'_>> = keys
        .iter()
        .map(|k| {
            (
                k.key.as_str(),
                k.times_seen,
                k.unique_values,
                k.top_values
                    .iter()
                    .map(|v| (v.value.as_str(), v.times_seen))
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "browser",
                78 + 12,
                13,
                vec![("a-tie", 12), ("v12", 12), ("v11", 11)]
            ),
            ("os", 1, 1, vec![("Linux", 1)]),
        ]
    );
    assert!(
        keys.iter()
            .all(|k| k.top_values.iter().all(|v| v.key == k.key))
    );
    // first and last seen come through
    let v11 = &keys[0].top_values[2];
    assert_eq!(v11.first_seen, t0 + Duration::seconds(1100));
    assert_eq!(v11.last_seen, t0 + Duration::seconds(1110));

    // no values asked for still lists the keys with their totals
    let bare = store.issue_tag_keys(issue, 0).await.unwrap();
    assert_eq!(
        bare.iter()
            .map(|k| (k.key.as_str(), k.times_seen, k.top_values.len()))
            .collect::<Vec<_>>(),
        [("browser", 90, 0), ("os", 1, 0)]
    );

    // pages of one key's values cover every value once, in order
    let mut seen = Vec::new();
    let mut offset = 0;
    loop {
        let page = store
            .issue_tag_key_values(issue, "browser", offset, 5)
            .await
            .unwrap();
        assert!(page.len() <= 5);
        if page.is_empty() {
            break;
        }
        offset += page.len() as u64;
        seen.extend(page.into_iter().map(|v| (v.value, v.times_seen)));
    }
    let mut expected: Vec<(String, i64)> = (1..=12).map(|n| (format!("v{n:02}"), n)).collect();
    expected.push(("a-tie".into(), 12));
    expected.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    assert_eq!(seen, expected);
    assert!(
        store
            .issue_tag_key_values(issue, "missing", 0, 5)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.issue_tag_keys(i64::MAX, 3).await.unwrap().is_empty());
}
