use corral_core::SharedStore;

pub async fn schema_status_follows_migrate(store: SharedStore) {
    store.ping().await.unwrap();
    let before = store.schema_status().await.unwrap();
    assert!(!before.expected.is_empty());
    assert!(before.applied.is_empty());
    assert!(!before.is_current());

    store.migrate().await.unwrap();
    let after = store.schema_status().await.unwrap();
    assert!(after.is_current(), "{after:?}");
    assert_eq!(after.applied, after.expected);

    // Running again is a no-op.
    store.migrate().await.unwrap();
    assert_eq!(store.schema_status().await.unwrap(), after);
    // The schema is usable.
    assert!(store.list_organizations().await.unwrap().is_empty());
}

pub async fn concurrent_migrations_are_safe(store: SharedStore) {
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.migrate().await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let status = store.schema_status().await.unwrap();
    assert!(status.is_current());
    assert_eq!(status.applied, status.expected);
    store.create_organization("after", "After").await.unwrap();
}
