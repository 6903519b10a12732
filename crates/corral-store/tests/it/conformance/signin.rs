use chrono::{DateTime, Duration, DurationRound, Utc};
use corral_core::model::*;
use corral_core::{SharedStore, StoreError};

use super::support::{fixture, new_user, sha};

fn not_found<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::NotFound(_)))
}

pub async fn sessions_expire_and_end(store: SharedStore) {
    let ann = new_user(&store, "ann@example.com").await;
    let bob = new_user(&store, "bob@example.com").await;
    let now = Utc::now();
    let until = now + Duration::days(1);
    store
        .create_session(&sha('a'), ann.id, "csrf-a", until)
        .await
        .unwrap();
    let (session, user) = store.session_by_hash(&sha('a'), now).await.unwrap();
    assert_eq!(user, ann);
    assert_eq!(session.user_id, ann.id);
    assert_eq!(session.csrf_token, "csrf-a");
    assert_eq!(
        session.expires_at.timestamp_millis(),
        until.timestamp_millis()
    );
    assert!(session.created_at <= Utc::now());
    // Expired from `expires_at` on.
    assert!(not_found(store.session_by_hash(&sha('a'), until).await));
    assert!(not_found(
        store
            .session_by_hash(&sha('a'), until + Duration::seconds(1))
            .await
    ));
    assert!(not_found(store.session_by_hash(&sha('f'), now).await));
    assert!(matches!(
        store.create_session(&sha('a'), bob.id, "x", until).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.create_session("short", ann.id, "x", until).await,
        Err(StoreError::Invalid { .. })
    ));
    assert!(not_found(
        store
            .create_session(&sha('9'), ann.id + 100, "x", until)
            .await
    ));

    // Sliding expiry.
    store
        .extend_session(&sha('a'), now + Duration::days(2))
        .await
        .unwrap();
    assert!(
        store
            .session_by_hash(&sha('a'), until + Duration::hours(1))
            .await
            .is_ok()
    );
    assert!(not_found(store.extend_session(&sha('f'), until).await));

    // Ending the other sessions of a user.
    for (h, who) in [('b', ann.id), ('c', ann.id), ('d', bob.id)] {
        store
            .create_session(&sha(h), who, "t", until)
            .await
            .unwrap();
    }
    assert_eq!(
        store
            .delete_user_sessions(ann.id, Some(&sha('a')))
            .await
            .unwrap(),
        2
    );
    assert!(store.session_by_hash(&sha('a'), now).await.is_ok());
    assert!(not_found(store.session_by_hash(&sha('b'), now).await));
    assert!(not_found(store.session_by_hash(&sha('c'), now).await));
    assert!(store.session_by_hash(&sha('d'), now).await.is_ok());
    assert_eq!(store.delete_user_sessions(ann.id, None).await.unwrap(), 1);
    assert!(not_found(store.session_by_hash(&sha('a'), now).await));

    // Logging out, twice.
    store.delete_session(&sha('d')).await.unwrap();
    store.delete_session(&sha('d')).await.unwrap();
    assert!(not_found(store.session_by_hash(&sha('d'), now).await));

    // Deactivating a user ends their sessions.
    store
        .create_session(&sha('e'), bob.id, "t", until)
        .await
        .unwrap();
    store.set_user_active(bob.id, false).await.unwrap();
    assert!(!store.user_by_id(bob.id).await.unwrap().is_active);
    assert!(not_found(store.session_by_hash(&sha('e'), now).await));
    store.set_user_active(bob.id, true).await.unwrap();
    assert!(store.user_by_id(bob.id).await.unwrap().is_active);
    assert!(not_found(store.set_user_active(bob.id + 100, false).await));
}

pub async fn login_failures_count_in_fixed_windows(store: SharedStore) {
    let w = Utc::now().duration_trunc(Duration::minutes(15)).unwrap() - Duration::hours(1);
    let at = |m: i64, s: i64| w + Duration::minutes(m) + Duration::seconds(s);
    let key = "email:ann@example.com";
    let ip = "ip:10.0.0.1";
    assert_eq!(store.login_failures(key, at(0, 0)).await.unwrap(), 0);
    assert_eq!(store.count_login_failure(key, at(1, 0)).await.unwrap(), 1);
    assert_eq!(store.count_login_failure(key, at(14, 0)).await.unwrap(), 2);
    assert_eq!(store.count_login_failure(ip, at(2, 0)).await.unwrap(), 1);
    assert_eq!(store.login_failures(key, at(14, 59)).await.unwrap(), 2);
    assert_eq!(store.login_failures(ip, at(0, 0)).await.unwrap(), 1);
    // The next window starts over.
    assert_eq!(store.login_failures(key, at(15, 0)).await.unwrap(), 0);
    assert_eq!(store.count_login_failure(key, at(15, 0)).await.unwrap(), 1);
    // A failure stamped in an older window (a slow clock) counts in the latest.
    assert_eq!(store.count_login_failure(key, at(5, 0)).await.unwrap(), 2);
    assert_eq!(store.login_failures(key, at(29, 0)).await.unwrap(), 2);
    // A later window starts over again.
    assert_eq!(store.count_login_failure(key, at(45, 0)).await.unwrap(), 1);

    store.clear_login_failures(key).await.unwrap();
    assert_eq!(store.login_failures(key, at(45, 0)).await.unwrap(), 0);
    assert_eq!(store.login_failures(ip, at(2, 0)).await.unwrap(), 1);
    store.clear_login_failures("ip:unknown").await.unwrap();
    assert!(matches!(
        store.count_login_failure(" ", at(0, 0)).await,
        Err(StoreError::Invalid { .. })
    ));
}

/// Takes `n` attempts under `key` at once, each on its own task.
async fn take_at_once(
    store: &SharedStore,
    key: &str,
    limit: i64,
    n: usize,
    now: DateTime<Utc>,
) -> Vec<Option<i64>> {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let store = store.clone();
            let key = key.to_string();
            tokio::spawn(async move { store.take_login_attempt(&key, limit, now).await })
        })
        .collect();
    let mut taken = Vec::new();
    for task in tasks {
        taken.push(
            task.await
                .expect("the task ran")
                .expect("an attempt is taken"),
        );
    }
    taken
}

pub async fn login_attempts_are_taken_atomically(store: SharedStore) {
    let w = Utc::now().duration_trunc(Duration::minutes(15)).unwrap() - Duration::hours(1);
    let at = |m: i64| w + Duration::minutes(m);
    const N: usize = 40;

    // Concurrent takes each see the count the one before left: 1..=N once each.
    let mut counts: Vec<i64> = take_at_once(&store, "ip:10.0.0.1", 1000, N, at(1))
        .await
        .into_iter()
        .map(|c| c.expect("under the limit"))
        .collect();
    counts.sort_unstable();
    assert_eq!(counts, (1..=N as i64).collect::<Vec<_>>());
    assert_eq!(
        store.login_failures("ip:10.0.0.1", at(1)).await.unwrap(),
        N as i64
    );

    // With a limit, exactly that many of them get an attempt.
    let key = "email-ip:10.0.0.1:ann@example.com";
    let taken = take_at_once(&store, key, 5, N, at(1)).await;
    let mut counts: Vec<i64> = taken.iter().flatten().copied().collect();
    counts.sort_unstable();
    assert_eq!(counts, vec![1, 2, 3, 4, 5], "{taken:?}");
    assert_eq!(
        store.login_failures(key, at(1)).await.unwrap(),
        5,
        "a refused take changes nothing"
    );

    // An attempt given back can be taken again, once.
    store.return_login_attempt(key, at(2)).await.unwrap();
    assert_eq!(store.login_failures(key, at(2)).await.unwrap(), 4);
    assert_eq!(
        store.take_login_attempt(key, 5, at(3)).await.unwrap(),
        Some(5)
    );
    assert_eq!(store.take_login_attempt(key, 5, at(3)).await.unwrap(), None);
    // A later window starts over; what is given back for an earlier one is
    // not taken from it.
    assert_eq!(
        store.take_login_attempt(key, 5, at(15)).await.unwrap(),
        Some(1)
    );
    store.return_login_attempt(key, at(14)).await.unwrap();
    assert_eq!(store.login_failures(key, at(15)).await.unwrap(), 1);
    // Never below nothing, and nothing to give back for an unknown key.
    store.return_login_attempt(key, at(15)).await.unwrap();
    store.return_login_attempt(key, at(15)).await.unwrap();
    assert_eq!(store.login_failures(key, at(15)).await.unwrap(), 0);
    store
        .return_login_attempt("ip:unknown", at(15))
        .await
        .unwrap();
    assert_eq!(
        store.take_login_attempt(key, 5, at(16)).await.unwrap(),
        Some(1)
    );

    for (key, limit) in [(" ", 5), ("ip:10.0.0.2", 0), ("ip:10.0.0.2", -1)] {
        assert!(
            matches!(
                store.take_login_attempt(key, limit, at(1)).await,
                Err(StoreError::Invalid { .. })
            ),
            "{key:?} {limit}"
        );
    }
}

pub async fn password_resets_are_single_use(store: SharedStore) {
    let ann = new_user(&store, "ann@example.com").await;
    let bob = new_user(&store, "bob@example.com").await;
    let now = Utc::now();
    let hour = now + Duration::hours(1);
    store
        .create_password_reset(&sha('a'), ann.id, hour)
        .await
        .unwrap();
    store
        .create_password_reset(&sha('b'), ann.id, hour)
        .await
        .unwrap();
    store
        .create_password_reset(&sha('c'), bob.id, hour)
        .await
        .unwrap();
    assert_eq!(
        store.take_password_reset(&sha('a'), now).await.unwrap(),
        ann.id
    );
    assert!(not_found(store.take_password_reset(&sha('a'), now).await));
    // Using one voids the user's others, not other users'.
    assert!(not_found(store.take_password_reset(&sha('b'), now).await));
    // Expired from `expires_at` on, and gone after that try.
    assert!(not_found(store.take_password_reset(&sha('c'), hour).await));
    assert!(not_found(store.take_password_reset(&sha('c'), now).await));
    store
        .create_password_reset(&sha('d'), bob.id, hour)
        .await
        .unwrap();
    assert_eq!(
        store
            .take_password_reset(&sha('d'), hour - Duration::seconds(1))
            .await
            .unwrap(),
        bob.id
    );
    assert!(matches!(
        store.create_password_reset("x", ann.id, hour).await,
        Err(StoreError::Invalid { .. })
    ));
    assert!(not_found(
        store
            .create_password_reset(&sha('e'), bob.id + 100, hour)
            .await
    ));
}

pub async fn invitations_expire_and_are_found_by_hash(store: SharedStore) {
    let f = fixture(&store).await;
    let ann = new_user(&store, "ann@example.com").await;
    let now = Utc::now();
    let week = now + Duration::days(7);
    let inv = store
        .create_invitation(
            f.org.id,
            " New@Example.com ",
            Role::Admin,
            &sha('a'),
            Some(ann.id),
            week,
        )
        .await
        .unwrap();
    assert_eq!(
        (inv.org_id, inv.email.as_str(), inv.role, inv.invited_by),
        (f.org.id, "New@Example.com", Role::Admin, Some(ann.id))
    );
    assert_eq!(inv.expires_at.timestamp_millis(), week.timestamp_millis());
    assert_eq!(store.invitation_by_hash(&sha('a'), now).await.unwrap(), inv);
    assert!(not_found(store.invitation_by_hash(&sha('a'), week).await));
    assert!(not_found(store.invitation_by_hash(&sha('f'), now).await));

    let other = store
        .create_invitation(
            f.org.id,
            "x@example.com",
            Role::Member,
            &sha('b'),
            None,
            week,
        )
        .await
        .unwrap();
    assert_eq!(
        store.list_invitations(f.org.id).await.unwrap(),
        vec![inv.clone(), other.clone()]
    );
    // Inviting the same email again replaces the invitation and its link.
    let again = store
        .create_invitation(
            f.org.id,
            "new@example.com",
            Role::Member,
            &sha('c'),
            None,
            week,
        )
        .await
        .unwrap();
    assert!(not_found(store.invitation_by_hash(&sha('a'), now).await));
    assert_eq!(
        store.invitation_by_hash(&sha('c'), now).await.unwrap().role,
        Role::Member
    );
    assert_eq!(
        store.list_invitations(f.org.id).await.unwrap(),
        vec![other.clone(), again]
    );
    // The same email may be invited to another organization.
    let beta = store.create_organization("beta", "Beta").await.unwrap();
    store
        .create_invitation(beta.id, "x@example.com", Role::Owner, &sha('d'), None, week)
        .await
        .unwrap();
    assert_eq!(store.list_invitations(beta.id).await.unwrap().len(), 1);
    assert!(matches!(
        store
            .create_invitation(
                beta.id,
                "y@example.com",
                Role::Member,
                &sha('d'),
                None,
                week
            )
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store
            .create_invitation(f.org.id, "nope", Role::Member, &sha('e'), None, week)
            .await,
        Err(StoreError::Invalid { .. })
    ));
    assert!(not_found(
        store
            .create_invitation(
                f.org.id + 100,
                "z@example.com",
                Role::Member,
                &sha('e'),
                None,
                week
            )
            .await
    ));

    store.delete_invitation(other.id).await.unwrap();
    assert!(not_found(store.delete_invitation(other.id).await));
    assert_eq!(store.list_invitations(f.org.id).await.unwrap().len(), 1);
}
