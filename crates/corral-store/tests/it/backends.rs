//! What only one backend has: PostgreSQL's day partitions and migration
//! lock across processes, SQLite's file shared with another migrator, and
//! `open_store`'s choice of backend.

use std::sync::Arc;

use chrono::{Duration, DurationRound, Utc};
use corral_core::model::EventType;
use corral_core::{DigestInput, GroupHash, NewProject, SharedStore, Store, StoreError};
use corral_protocol::Level;
use corral_store::{PgStore, SqliteStore, open_store};
use corral_testkit::{TestPg, TestSqlite};
use uuid::Uuid;

fn event(project_id: i64, at: chrono::DateTime<Utc>) -> DigestInput {
    DigestInput {
        project_id,
        event_id: Uuid::new_v4(),
        event_type: EventType::Error,
        level: Level::Error,
        title: "E".into(),
        culprit: String::new(),
        metadata: serde_json::json!({}),
        platform: "other".into(),
        release: None,
        environment: None,
        timestamp: at,
        received_at: at,
        tags: vec![],
        hashes: vec![GroupHash {
            hash: "0123456789abcdef0123456789abcdef".into(),
            config: "corral:2026-11".into(),
        }],
        secondary_hashes: vec![],
        data: "{}".into(),
    }
}

async fn project(store: &dyn Store) -> i64 {
    let org = store.create_organization("o", "O").await.unwrap();
    store
        .create_project(NewProject {
            org_id: org.id,
            slug: "p".into(),
            name: "P".into(),
            platform: None,
        })
        .await
        .unwrap()
        .id
}

async fn partitions(store: &PgStore) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = 'events'::regclass ORDER BY 1",
    )
    .fetch_all(store.pool())
    .await
    .unwrap()
}

fn partition_of(t: chrono::DateTime<Utc>) -> String {
    format!("events_p{}", t.format("%Y%m%d"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_purge_drops_old_partitions() {
    let db = TestPg::new().await;
    let store = PgStore::connect(db.url(), 4).await.unwrap();
    store.migrate().await.unwrap();
    let p = project(&store).await;
    let now = Utc::now().duration_trunc(Duration::hours(1)).unwrap();
    let old = now - Duration::days(45);
    let recent = now - Duration::days(3);
    store
        .digest(&[event(p, old), event(p, recent), event(p, now)])
        .await
        .unwrap();
    let before = partitions(&store).await;
    for t in [old, recent, now] {
        assert!(before.contains(&partition_of(t)), "{before:?}");
    }
    let report = store.purge(now, 30).await.unwrap();
    assert_eq!((report.events_deleted, report.partitions_dropped), (1, 1));
    let after = partitions(&store).await;
    assert!(!after.contains(&partition_of(old)), "{after:?}");
    assert!(after.contains(&partition_of(recent)));
    assert!(after.contains(&partition_of(now)));
    drop(store);
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_digest_recreates_a_partition_dropped_elsewhere() {
    let db = TestPg::new().await;
    let store = PgStore::connect(db.url(), 4).await.unwrap();
    store.migrate().await.unwrap();
    let p = project(&store).await;
    let day = Utc::now() - Duration::days(5);
    store.digest(&[event(p, day)]).await.unwrap();
    // Another process's purge drops the day this process thinks exists.
    let other = PgStore::connect(db.url(), 1).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP TABLE {}",
        partition_of(day)
    )))
    .execute(other.pool())
    .await
    .unwrap();
    let out = store.digest(&[event(p, day)]).await.unwrap();
    assert!(out[0].inserted);
    assert!(partitions(&store).await.contains(&partition_of(day)));
    drop((store, other));
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_migrations_from_separate_pools_and_own_table() {
    let db = TestPg::empty().await;
    let stores: Vec<PgStore> =
        futures::future::join_all((0..3).map(|_| PgStore::connect(db.url(), 2)))
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
    let results = futures::future::join_all(stores.iter().map(|s| s.migrate())).await;
    for r in results {
        r.unwrap();
    }
    assert!(stores[0].schema_status().await.unwrap().is_current());
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE tablename LIKE '%migrations' ORDER BY 1",
    )
    .fetch_all(stores[0].pool())
    .await
    .unwrap();
    assert_eq!(tables, ["corral_migrations"]);
    drop(stores);
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_shares_its_file_with_another_migrator() {
    let db = TestSqlite::new();
    // Another sqlx migrator (apalis-sqlite's) already uses `_sqlx_migrations`.
    let queue = SqliteStore::open(db.path()).await.unwrap();
    sqlx::query(
        "CREATE TABLE _sqlx_migrations (version BIGINT PRIMARY KEY, description TEXT NOT NULL, \
         installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, success BOOLEAN NOT NULL, \
         checksum BLOB NOT NULL, execution_time BIGINT NOT NULL); \
         INSERT INTO _sqlx_migrations VALUES (20990101, 'queue', CURRENT_TIMESTAMP, 1, x'00', 0);",
    )
    .execute(queue.pool())
    .await
    .unwrap();
    let a = SqliteStore::open(db.path()).await.unwrap();
    let b = SqliteStore::open(db.path()).await.unwrap();
    let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
    ra.unwrap();
    rb.unwrap();
    let status = a.schema_status().await.unwrap();
    assert!(status.is_current());
    assert!(!status.applied.contains(&20990101));
    let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(a.pool())
        .await
        .unwrap();
    assert_eq!(journal, "wal");
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(a.pool())
        .await
        .unwrap();
    assert_eq!(fk, 1);
}

#[tokio::test]
async fn open_store_picks_the_backend() {
    let db = TestSqlite::new();
    let store: SharedStore = open_store(&db.url(), 2).await.unwrap();
    assert_eq!(store.backend(), "sqlite");
    store.migrate().await.unwrap();
    let plain = open_store(db.path().to_str().unwrap(), 2).await.unwrap();
    assert_eq!(plain.backend(), "sqlite");
    assert!(plain.schema_status().await.unwrap().is_current());
    assert!(matches!(
        open_store("mysql://localhost/x", 2).await,
        Err(StoreError::Invalid { .. })
    ));

    let pg = TestPg::empty().await;
    let store = open_store(pg.url(), 2).await.unwrap();
    assert_eq!(store.backend(), "postgres");
    store.ping().await.unwrap();
    let _: Arc<dyn Store> = store;
    pg.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_wal_is_checkpointed_beside_the_writer() {
    let db = TestSqlite::new();
    let store = SqliteStore::open(db.path()).await.unwrap();
    store.migrate().await.unwrap();
    // the writer's own checkpoint is only a backstop, far off
    let pages: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(pages, 16384);

    // ~4 MB written: about 1,000 pages, all of them still in the WAL
    let fill = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000) \
                INSERT INTO scratch SELECT randomblob(4000) FROM n";
    sqlx::query("CREATE TABLE scratch (b BLOB)")
        .execute(store.pool())
        .await
        .unwrap();
    sqlx::query(fill).execute(store.pool()).await.unwrap();
    let file_len = || std::fs::metadata(db.path()).unwrap().len();
    let before = file_len();
    assert!(
        before < 4_000_000,
        "nothing checkpointed yet: {before} bytes"
    );

    // one call copies every frame of the WAL into the database file
    let c = store.checkpoint_wal().await.unwrap();
    assert!(!c.busy);
    assert!(c.wal_frames >= 1000, "{c:?}");
    assert_eq!(c.checkpointed_frames, c.wal_frames);
    let after = file_len();
    assert!(
        after >= 4_000_000,
        "checkpointed: {before} -> {after} bytes"
    );

    // the loop does the same while the writer is idle, until told to stop
    sqlx::query(fill).execute(store.pool()).await.unwrap();
    assert!(
        file_len() < after + 1_000_000,
        "the writer did not checkpoint"
    );
    store
        .run_wal_checkpoints(
            std::time::Duration::from_millis(20),
            tokio::time::sleep(std::time::Duration::from_millis(300)),
        )
        .await;
    assert!(file_len() >= after + 3_000_000, "checkpointed by the loop");
}
