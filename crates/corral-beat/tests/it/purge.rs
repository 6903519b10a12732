//! Purge through the real stores: events past retention go, counters stay
//! consistent with what is left, and a project's own retention (set with
//! `corral project set-retention`) is honoured by `corral purge`.

use std::sync::Arc;

use chrono::{TimeDelta, Utc};
use corral_beat::Upkeep;
use corral_core::model::{Project, ProjectId};
use corral_core::{NewProject, SharedStore, Store};
use corral_protocol::Event;
use corral_store::{PgStore, SqliteStore};
use corral_testkit::{TestPg, TestSqlite, run_cli};
use uuid::Uuid;

enum Db {
    Pg(TestPg, Arc<PgStore>),
    Sqlite(TestSqlite, Arc<SqliteStore>),
}

impl Db {
    async fn pg() -> Db {
        let db = TestPg::new().await;
        let store = Arc::new(PgStore::connect(db.url(), 4).await.expect("postgres"));
        store.migrate().await.expect("migrate");
        Db::Pg(db, store)
    }

    async fn sqlite() -> Db {
        let file = TestSqlite::new();
        let store = Arc::new(SqliteStore::open(file.path()).await.expect("sqlite"));
        store.migrate().await.expect("migrate");
        Db::Sqlite(file, store)
    }

    fn store(&self) -> SharedStore {
        match self {
            Db::Pg(_, s) => s.clone(),
            Db::Sqlite(_, s) => s.clone(),
        }
    }

    /// What the CLI is pointed at.
    fn url(&self) -> String {
        match self {
            Db::Pg(db, _) => db.url().to_string(),
            Db::Sqlite(file, _) => file.url(),
        }
    }

    /// Per issue: `times_seen` and the events actually left.
    async fn counters(&self) -> Vec<(i64, i64, i64)> {
        const SQL: &str = "SELECT i.id, i.times_seen, \
             (SELECT count(*) FROM events e WHERE e.issue_id = i.id) FROM issues i ORDER BY i.id";
        match self {
            Db::Pg(_, s) => sqlx::query_as(SQL).fetch_all(s.pool()).await,
            Db::Sqlite(_, s) => sqlx::query_as(SQL).fetch_all(s.pool()).await,
        }
        .expect("counters")
    }

    async fn events(&self, project: ProjectId) -> i64 {
        match self {
            Db::Pg(_, s) => {
                sqlx::query_scalar("SELECT count(*) FROM events WHERE project_id = $1")
                    .bind(project)
                    .fetch_one(s.pool())
                    .await
            }
            Db::Sqlite(_, s) => {
                sqlx::query_scalar("SELECT count(*) FROM events WHERE project_id = ?1")
                    .bind(project)
                    .fetch_one(s.pool())
                    .await
            }
        }
        .expect("events")
    }

    async fn cleanup(self) {
        if let Db::Pg(db, store) = self {
            store.pool().close().await;
            db.cleanup().await;
        }
    }
}

async fn project(store: &SharedStore, org: i64, slug: &str) -> Project {
    store
        .create_project(NewProject {
            org_id: org,
            slug: slug.into(),
            name: slug.into(),
            platform: None,
        })
        .await
        .expect("project")
}

/// Digests `n` events with `message` into `project`, received `days_ago`.
async fn digest(store: &SharedStore, project: &Project, message: &str, days_ago: i64, n: usize) {
    let at = Utc::now() - TimeDelta::days(days_ago);
    let inputs: Vec<_> = (0..n)
        .map(|_| {
            let mut event = Event::from_json(
                serde_json::json!({ "message": message, "level": "error" })
                    .to_string()
                    .as_bytes(),
            )
            .expect("an event");
            event.event_id = Some(Uuid::new_v4());
            corral_core::prepare(project.id, &project.grouping_config, event, at)
        })
        .collect();
    let outcomes = store.digest(&inputs).await.expect("digest");
    assert!(outcomes.iter().all(|o| o.inserted));
}

fn assert_consistent(counters: &[(i64, i64, i64)]) {
    for (issue, times_seen, events) in counters {
        assert_eq!(
            times_seen, events,
            "issue {issue}: times_seen must equal the events left"
        );
        assert!(*events > 0, "issue {issue} has no events left");
    }
}

async fn purge_keeps_counters_consistent(db: Db) {
    let store = db.store();
    let org = store.create_organization("acme", "Acme").await.unwrap().id;
    let p = project(&store, org, "backend").await;
    // one issue with old and new events, one with only old ones
    digest(&store, &p, "mixed issue", 40, 4).await;
    digest(&store, &p, "mixed issue", 2, 3).await;
    digest(&store, &p, "old issue", 35, 5).await;
    assert_eq!(db.counters().await.len(), 2);

    // an attachment of an old event and one of a new event, on disk
    let files = tempfile::tempdir().unwrap();
    for (name, days_ago) in [("old", 40), ("new", 2)] {
        let path = format!("{}/{name}/file", p.id);
        std::fs::create_dir_all(files.path().join(format!("{}/{name}", p.id))).unwrap();
        std::fs::write(files.path().join(&path), b"log").unwrap();
        store
            .add_attachment(&corral_core::AttachmentRecord {
                project_id: p.id,
                event_id: uuid::Uuid::new_v4(),
                name: "log.txt".into(),
                content_type: None,
                attachment_type: None,
                size: 3,
                path,
                created_at: chrono::Utc::now() - chrono::Duration::days(days_ago),
            })
            .await
            .unwrap();
    }

    let upkeep = Upkeep {
        store: store.clone(),
        retention_days: 30,
        attachments_dir: Some(files.path().to_path_buf()),
    };
    let report = upkeep.purge().await.expect("purge");
    assert!(
        !files.path().join(format!("{}/old/file", p.id)).exists(),
        "the old attachment's file is deleted"
    );
    assert!(
        files.path().join(format!("{}/new/file", p.id)).exists(),
        "the new attachment's file stays"
    );
    assert_eq!(report.events_deleted, 9, "{report:?}");
    assert_eq!(report.issues_deleted, 1, "{report:?}");
    let counters = db.counters().await;
    assert_eq!(counters.len(), 1, "{counters:?}");
    assert_eq!(counters[0].1, 3);
    assert_consistent(&counters);
    assert_eq!(db.events(p.id).await, 3);

    // nothing more is due
    let again = upkeep.purge().await.expect("purge");
    assert_eq!((again.events_deleted, again.issues_deleted), (0, 0));
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_on_postgres() {
    purge_keeps_counters_consistent(Db::pg().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_on_sqlite() {
    purge_keeps_counters_consistent(Db::sqlite().await).await;
}

async fn project_retention_is_honoured_by_the_cli(db: Db) {
    let store = db.store();
    let org = store.create_organization("acme", "Acme").await.unwrap().id;
    let short = project(&store, org, "short").await;
    let long = project(&store, org, "long").await;
    for p in [&short, &long] {
        digest(&store, p, "ten days old", 10, 2).await;
        digest(&store, p, "fresh", 1, 3).await;
    }
    let url = db.url();
    let env = [("DATABASE_URL", url.as_str())];
    run_cli(
        &[
            "project",
            "set-retention",
            "--org",
            "acme",
            "--project",
            "short",
            "--days",
            "5",
        ],
        &env,
    );
    let out = run_cli(&["purge"], &env);
    assert!(out.contains("purged 2 events"), "{out}");
    assert_eq!(db.events(short.id).await, 3, "short keeps 5 days");
    assert_eq!(
        db.events(long.id).await,
        5,
        "long keeps the default 30 days"
    );
    let counters = db.counters().await;
    assert_eq!(counters.len(), 3, "{counters:?}");
    assert_consistent(&counters);

    // back to the server default: nothing more goes
    run_cli(
        &[
            "project",
            "set-retention",
            "--org",
            "acme",
            "--project",
            "short",
        ],
        &env,
    );
    let out = run_cli(&["purge"], &env);
    assert!(out.contains("purged 0 events"), "{out}");
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_retention_on_postgres() {
    project_retention_is_honoured_by_the_cli(Db::pg().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_retention_on_sqlite() {
    project_retention_is_honoured_by_the_cli(Db::sqlite().await).await;
}
