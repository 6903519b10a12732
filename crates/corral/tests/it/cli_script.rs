//! The admin CLI as a script uses it (`--json`), against both databases: the
//! embedded SQLite file of a running `corral serve`, and the PostgreSQL of a
//! running cluster (then its alerting commands, `cli_alerts`). Plus what the
//! first and later starts of `corral serve` print.

use crate::support;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use corral_testkit::{
    ADMIN_PASSWORD, Api, Cluster, Embedded, TestPg, free_port, redis_url, test_queue_name,
};
use serde_json::Value;

/// How to run `corral <args>` against one server's database.
pub(crate) struct Admin {
    prefix: Vec<String>,
    env: Vec<(String, String)>,
    base_url: String,
}

impl Admin {
    fn embedded(server: &Embedded) -> Admin {
        Admin {
            prefix: vec![
                "--data-dir".into(),
                server.data_dir.to_str().expect("utf-8").into(),
            ],
            env: vec![],
            base_url: server.base_url.clone(),
        }
    }

    fn cluster(cluster: &Cluster) -> Admin {
        Admin {
            prefix: vec![],
            env: cluster.env.clone(),
            base_url: cluster.base_url.clone(),
        }
    }

    pub(crate) fn base_url(&self) -> &str {
        &self.base_url
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut all: Vec<&str> = self.prefix.iter().map(String::as_str).collect();
        all.extend_from_slice(args);
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain([("CORRAL_BASE_URL", self.base_url.as_str())])
            .collect();
        support::cli(&all, &env)
    }

    /// Runs a command that must succeed; its stdout.
    pub(crate) fn ok(&self, args: &[&str]) -> String {
        corral_testkit::succeeded(args, &self.run(args))
    }

    /// Runs a command with `--json`; one JSON value per line.
    pub(crate) fn json(&self, args: &[&str]) -> Vec<Value> {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        self.ok(&all)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// Runs a command that must fail; its stderr.
    pub(crate) fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "corral {args:?} should have failed:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).to_string()
    }
}

fn is_public_key(key: &str) -> bool {
    key.len() == 32 && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Everything a script sets up with the CLI, then checks through the server.
async fn script(admin: &Admin) {
    let org = admin.json(&["org", "create", "acme-cli"]);
    assert_eq!(org[0]["slug"], "acme-cli");
    assert!(
        admin
            .json(&["org", "list"])
            .iter()
            .any(|o| o["slug"] == "acme-cli"),
        "org list shows the new organization"
    );

    let user = admin.json(&[
        "user",
        "create",
        "--email",
        "dev@acme-cli.test",
        "--password",
        "a long enough password",
        "--org",
        "acme-cli",
        "--role",
        "admin",
    ]);
    assert_eq!(user[0]["email"], "dev@acme-cli.test");

    let project = admin.json(&["project", "create", "--org", "acme-cli", "api"]);
    let dsn = project[0]["dsn"].as_str().expect("a DSN").to_string();
    assert!(dsn.starts_with("http://"), "{dsn}");
    let first_key = dsn
        .trim_start_matches("http://")
        .split('@')
        .next()
        .unwrap()
        .to_string();
    assert!(is_public_key(&first_key), "{first_key}");

    let listed = admin.json(&["project", "list", "--org", "acme-cli"]);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["slug"], "api");
    assert_eq!(listed[0]["dsns"], serde_json::json!([dsn.clone()]));
    // the table form names the project and its DSN too
    let table = admin.ok(&["project", "list", "--org", "acme-cli"]);
    assert!(
        table.contains("acme-cli/api") && table.contains(&dsn),
        "{table}"
    );

    let key = admin.json(&[
        "key",
        "create",
        "--org",
        "acme-cli",
        "--project",
        "api",
        "--label",
        "ci",
        "--per-minute",
        "100",
    ]);
    let second_key = key[0]["public_key"].as_str().unwrap().to_string();
    assert!(is_public_key(&second_key), "{second_key}");
    assert_ne!(second_key, first_key);
    let keys = admin.json(&["key", "list", "--org", "acme-cli", "--project", "api"]);
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys.iter().all(|k| k["active"] == true));

    admin.ok(&["key", "disable", &second_key]);
    let keys = admin.json(&["key", "list", "--org", "acme-cli", "--project", "api"]);
    let second = keys.iter().find(|k| k["public_key"] == second_key).unwrap();
    assert_eq!(second["active"], false);
    // a disabled key's DSN is no longer listed for the project
    let listed = admin.json(&["project", "list", "--org", "acme-cli"]);
    assert_eq!(listed[0]["dsns"], serde_json::json!([dsn.clone()]));
    admin.ok(&["key", "enable", &second_key]);
    let keys = admin.json(&["key", "list", "--org", "acme-cli", "--project", "api"]);
    assert!(keys.iter().all(|k| k["active"] == true));

    let token = admin.json(&[
        "token",
        "create",
        "--email",
        "dev@acme-cli.test",
        "--scope",
        "project:read",
        "--scope",
        "event:read",
    ]);
    let token = token[0]["token"].as_str().unwrap().to_string();
    let api = Api::new(&admin.base_url, &token);
    let (status, projects) = api.get("/api/0/projects/").await;
    assert_eq!(status, 200, "{projects}");
    assert!(
        projects
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["slug"] == "api" && p["organization"]["slug"] == "acme-cli"),
        "{projects}"
    );
    // the token has only the scopes asked for
    let (status, _) = api
        .put(
            "/api/0/issues/1/",
            serde_json::json!({"status": "resolved"}),
        )
        .await;
    assert_eq!(status, 403);

    // a test event becomes an issue the CLI lists
    let sent = admin.json(&[
        "send-test-event",
        "--dsn",
        &dsn,
        "--message",
        "hello from the cli script",
    ]);
    let event_id = sent[0]["id"].as_str().unwrap_or_default();
    assert_eq!(event_id.len(), 32, "an event id: {sent:?}");
    let mut issues = Vec::new();
    for _ in 0..300 {
        issues = admin.json(&["issue", "list", "--org", "acme-cli", "--project", "api"]);
        if !issues.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0]["title"], "hello from the cli script");
    assert_eq!(issues[0]["count"], 1);
    assert_eq!(issues[0]["status"], "unresolved");
    assert!(
        issues[0]["shortId"].as_str().unwrap().starts_with("API-"),
        "{issues:?}"
    );
    // the query filters
    assert!(
        admin
            .json(&[
                "issue",
                "list",
                "--org",
                "acme-cli",
                "--project",
                "api",
                "--query",
                "is:resolved",
            ])
            .is_empty()
    );

    // mistakes get a clear error and a failing exit status
    let err = admin.fails(&["project", "create", "--org", "no-such-org", "web"]);
    assert_eq!(err.trim(), "error: no organization no-such-org");
    let err = admin.fails(&["org", "create", "Not A Slug!"]);
    assert!(err.to_lowercase().contains("slug"), "{err}");
    let err = admin.fails(&["key", "disable", "0123456789abcdef0123456789abcdef"]);
    assert_eq!(err.trim(), "error: no key 0123456789abcdef0123456789abcdef");
    let err = admin.fails(&["token", "create", "--email", "nobody@acme-cli.test"]);
    assert_eq!(err.trim(), "error: no user nobody@acme-cli.test");
    let err = admin.fails(&["send-test-event", "--dsn", "not a dsn"]);
    assert!(err.contains("DSN"), "{err}");
    let err = admin.fails(&[
        "token",
        "create",
        "--email",
        "dev@acme-cli.test",
        "--scope",
        "everything",
    ]);
    assert!(err.contains("unknown scope"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_scripts_an_embedded_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = Embedded::start(dir.path(), &[]).await;
    let admin = Admin::embedded(&server);
    script(&admin).await;
    crate::cli_alerts::alerts(&admin).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_scripts_a_cluster() {
    let db = TestPg::new().await;
    let dir = tempfile::Builder::new()
        .prefix("corral-cli-script-")
        .tempdir()
        .unwrap();
    let cluster = Cluster::start(db.url(), &redis_url(), &test_queue_name(), dir.path(), &[]).await;
    let admin = Admin::cluster(&cluster);
    script(&admin).await;
    crate::cli_alerts::alerts(&admin).await;
}

fn line_starting<'a>(out: &'a str, prefix: &str) -> Option<&'a str> {
    out.lines().find_map(|l| l.strip_prefix(prefix))
}

async fn first_lines(data_dir: &Path, port: u16, env: &[(&str, &str)]) -> (Embedded, String) {
    let mut server = Embedded::start_on(data_dir, port, env).await;
    // everything up to the last line of the announcement
    let out = server
        .process
        .wait_for_output("Point an SDK at the DSN", Duration::from_secs(30))
        .await;
    (server, out)
}

/// The first start prints the URL, the admin login, the project's DSN and a
/// token; a later start prints the URL and the DSN again, and no secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_announces_what_a_user_needs() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (mut server, out) = first_lines(
        dir.path(),
        port,
        &[("CORRAL_ADMIN_EMAIL", "ops@example.test")],
    )
    .await;
    assert_eq!(
        line_starting(&out, "Corral is running at "),
        Some(server.base_url.as_str()),
        "{out}"
    );
    assert_eq!(
        line_starting(&out, "Admin login: "),
        Some("ops@example.test"),
        "{out}"
    );
    assert_eq!(
        line_starting(&out, "Admin password: "),
        Some("from CORRAL_ADMIN_PASSWORD"),
        "the password given is not echoed: {out}"
    );
    assert!(!out.contains(ADMIN_PASSWORD), "{out}");
    assert_eq!(
        line_starting(&out, "Project: "),
        Some("corral/default"),
        "{out}"
    );
    let dsn = line_starting(&out, "DSN: ").expect("a DSN").to_string();
    assert!(
        dsn.starts_with("http://") && dsn.ends_with(&format!("@127.0.0.1:{port}/1")),
        "{dsn}"
    );
    let token = line_starting(&out, "API token: ").expect("a token");
    let token = token.split_whitespace().next().unwrap();
    // the token printed works, with the admin's rights
    let (status, projects) = Api::new(&server.base_url, token)
        .get("/api/0/projects/")
        .await;
    assert_eq!(status, 200, "{projects}");
    assert_eq!(projects[0]["slug"], "default");
    assert!(
        server.process.terminate(Duration::from_secs(30)).await == Some(0),
        "a clean stop"
    );

    let (_again, out) = first_lines(dir.path(), port, &[]).await;
    assert!(out.contains("Corral is running at "), "{out}");
    assert_eq!(line_starting(&out, "DSN: "), Some(dsn.as_str()), "{out}");
    assert!(line_starting(&out, "API token: ").is_none(), "{out}");
    assert!(line_starting(&out, "Admin password: ").is_none(), "{out}");
    assert!(!out.contains(token), "{out}");
}

/// Without `CORRAL_ADMIN_PASSWORD` the first start makes a password, prints
/// it once, and it signs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_generates_and_prints_the_first_password_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // an empty value counts as unset
    let (mut server, out) = first_lines(dir.path(), port, &[("CORRAL_ADMIN_PASSWORD", "")]).await;
    let password = line_starting(&out, "Admin password: ")
        .expect("a password line")
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert!(password.len() >= 16, "{password}");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let login = client
        .post(format!("{}/login", server.base_url))
        .form(&[
            ("email", corral::serve::DEFAULT_ADMIN_EMAIL),
            ("password", password.as_str()),
            ("next", "/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303, "the printed password signs in");
    server.process.terminate(Duration::from_secs(30)).await;
    let (_again, out) = first_lines(dir.path(), port, &[("CORRAL_ADMIN_PASSWORD", "")]).await;
    assert!(!out.contains(&password), "{out}");
}

/// Data kept by a version that held the queue in its own file
/// (`corral-queue.sqlite`): the next start moves its jobs into the store's
/// file, digests them, and removes the old file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_moves_jobs_from_a_separate_queue_file() {
    use corral_core::config::QueueConfig;
    use corral_core::model::ProjectId;
    use corral_jobs::{IngestJob, JobItem, JobQueue};
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (mut server, _) = first_lines(dir.path(), port, &[]).await;
    let token = server.token.clone().expect("a token");
    server.process.terminate(Duration::from_secs(30)).await;

    let legacy = corral::admin::legacy_queue_file(&dir.path().join("corral.sqlite"));
    assert_eq!(
        legacy.file_name().unwrap(),
        "corral-queue.sqlite",
        "the earlier layout's name"
    );
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(
            SqliteConnectOptions::new()
                .filename(&legacy)
                .create_if_missing(true),
        )
        .await
        .unwrap();
    let queue = JobQueue::sqlite(&pool, &QueueConfig::default())
        .await
        .unwrap();
    let event_id = uuid::Uuid::new_v4();
    queue
        .push(IngestJob::new(
            1 as ProjectId,
            chrono::Utc::now(),
            vec![JobItem::Event {
                event_id,
                payload: serde_json::json!({"message": "queued before the upgrade"})
                    .to_string()
                    .into(),
            }],
        ))
        .await
        .unwrap();
    pool.close().await;

    let (server, _) = first_lines(dir.path(), port, &[]).await;
    let api = Api::new(&server.base_url, &token);
    let issues = api
        .wait_for_issues("corral", "default", Duration::from_secs(30), |issues| {
            issues
                .iter()
                .any(|i| i["title"] == "queued before the upgrade")
        })
        .await;
    assert_eq!(issues.len(), 1);
    assert!(!legacy.exists(), "the old queue file is removed");
    let mut wal = legacy.clone().into_os_string();
    wal.push("-wal");
    assert!(!Path::new(&wal).exists());
}
