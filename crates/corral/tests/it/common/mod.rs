//! Shared by the end-to-end SDK tests: a running Corral in either shape, the
//! real SDKs run as child processes in an application directory, and small
//! readers of `/metrics`.
//!
//! Every case in [`cases`] is an `async fn(Shape)`; `sdk_embedded.rs` and
//! `sdk_cluster.rs` call each once, so every test name says its shape.

pub mod cases;
pub mod scripts;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use chrono::Utc;
use corral_core::SharedStore;
use corral_core::quota::seconds_left;
use corral_testkit::sdk::PythonSdk;
use corral_testkit::{Api, Cluster, Embedded, TestPg, redis_url, run_cli, sdk, test_queue_name};
use serde_json::Value;

/// How long a test waits for the digest (or an SDK run) before it fails;
/// normally everything is there within a second or two.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// The two ways Corral runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `corral serve`: one process on an SQLite file.
    Embedded,
    /// corral-beat, corral-web and corral-worker on PostgreSQL and Redis.
    Cluster,
}

// boxed: the two differ much in size
enum Running {
    Embedded(Box<Embedded>),
    Cluster(Box<Cluster>),
}

/// Corral running in one shape, with its API token and first project's DSN.
pub struct Server {
    pub api: Api,
    pub dsn: String,
    pub base_url: String,
    pub org: &'static str,
    pub project: &'static str,
    // Declared before `pg` so the processes are gone before the database is dropped.
    running: Running,
    extra: Vec<corral_testkit::Process>,
    database_url: String,
    pg: Option<TestPg>,
    dir: tempfile::TempDir,
}

impl Server {
    /// Starts the shape in a fresh temporary directory (and, for the cluster,
    /// a fresh PostgreSQL database and Redis queue name).
    pub async fn start(shape: Shape) -> Server {
        Server::start_with(shape, &[]).await
    }

    /// [`Server::start`] with extra environment for every process.
    pub async fn start_with(shape: Shape, env: &[(&str, &str)]) -> Server {
        let dir = tempfile::Builder::new()
            .prefix("corral-sdk-")
            .tempdir()
            .expect("a temporary directory");
        match shape {
            Shape::Embedded => {
                let data = dir.path().join("data");
                // The harness exports DATABASE_URL (the PostgreSQL admin URL)
                // and child processes inherit it: point it at the embedded
                // file, where `corral serve` keeps its data by default anyway.
                let database_url = format!("sqlite://{}", data.join("corral.sqlite").display());
                let mut with_db = vec![("DATABASE_URL", database_url.as_str())];
                with_db.extend_from_slice(env);
                let embedded = Embedded::start(&data, &with_db).await;
                let token = embedded
                    .token
                    .clone()
                    .expect("the first start prints an API token");
                Server {
                    api: Api::new(&embedded.base_url, &token),
                    dsn: embedded.dsn.clone(),
                    base_url: embedded.base_url.clone(),
                    org: "corral",
                    project: "default",
                    running: Running::Embedded(Box::new(embedded)),
                    extra: Vec::new(),
                    database_url,
                    pg: None,
                    dir,
                }
            }
            Shape::Cluster => {
                let pg = TestPg::new().await;
                let cluster = Cluster::start(
                    pg.url(),
                    &redis_url(),
                    &test_queue_name(),
                    &dir.path().join("logs"),
                    env,
                )
                .await;
                Server {
                    api: Api::new(&cluster.base_url, &cluster.token),
                    dsn: cluster.dsn.clone(),
                    base_url: cluster.base_url.clone(),
                    org: "acme",
                    project: "backend",
                    running: Running::Cluster(Box::new(cluster)),
                    extra: Vec::new(),
                    database_url: pg.url().to_string(),
                    pg: Some(pg),
                    dir,
                }
            }
        }
    }

    /// Starts one more `corral-worker` of the cluster (same environment);
    /// it stops with the server.
    pub async fn start_extra_worker(&mut self) {
        let Running::Cluster(cluster) = &mut self.running else {
            panic!("only the cluster shape has separate workers");
        };
        let port = corral_testkit::free_port();
        let mut env: Vec<(&str, String)> = cluster
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        env.push(("CORRAL_BIND", format!("127.0.0.1:{port}")));
        let mut worker = corral_testkit::Process::spawn(
            "corral-worker-2",
            &corral_testkit::bin("corral-worker"),
            &[],
            &env,
            &cluster.log_dir,
        );
        worker
            .wait_ready(&format!("http://127.0.0.1:{port}/readyz"), TIMEOUT)
            .await;
        self.extra.push(worker);
    }

    /// Stops the processes and drops the cluster's database.
    pub async fn stop(self) {
        let Server {
            running, extra, pg, ..
        } = self;
        drop(extra);
        drop(running);
        if let Some(pg) = pg {
            pg.cleanup().await;
        }
    }

    /// A directory of this test's own, removed with the server.
    pub fn scratch(&self, name: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(&path).expect("a scratch directory");
        path
    }

    /// The project id the DSN points at.
    pub fn project_id(&self) -> i64 {
        project_id_of(&self.dsn)
    }

    /// The public key of the DSN.
    pub fn public_key(&self) -> String {
        public_key_of(&self.dsn)
    }

    /// `corral <args>` against this shape's database.
    pub fn cli(&self, args: &[&str]) -> String {
        match &self.running {
            Running::Embedded(e) => {
                let mut all = vec!["--data-dir", e.data_dir.to_str().expect("a UTF-8 path")];
                all.extend_from_slice(args);
                run_cli(&all, &[("DATABASE_URL", &self.database_url)])
            }
            Running::Cluster(c) => c.cli(args),
        }
    }

    /// A new DSN key of the first project limited to `per_minute` events;
    /// returns its DSN.
    pub fn create_limited_key(&self, per_minute: u32) -> String {
        let per_minute = per_minute.to_string();
        let out = self.cli(&[
            "--json",
            "key",
            "create",
            "--org",
            self.org,
            "--project",
            self.project,
            "--label",
            "rate-limited",
            "--per-minute",
            &per_minute,
            "--base-url",
            &self.base_url,
        ]);
        let key: Value = serde_json::from_str(out.trim())
            .unwrap_or_else(|e| panic!("`corral key create --json` printed {out:?}: {e}"));
        key["dsn"].as_str().expect("a dsn").to_string()
    }

    /// The store behind this shape, opened next to the running server.
    pub async fn store(&self) -> SharedStore {
        corral_store::open_store(&self.database_url, 2)
            .await
            .unwrap_or_else(|e| panic!("opening {}: {e}", self.database_url))
    }

    /// `/metrics` of the process that ingests.
    pub async fn ingest_metrics(&self) -> String {
        get_text(&format!("{}/metrics", self.base_url)).await
    }

    /// `/metrics` of the process that digests.
    pub async fn worker_metrics(&self) -> String {
        match &self.running {
            Running::Embedded(e) => get_text(&format!("{}/metrics", e.base_url)).await,
            Running::Cluster(c) => {
                get_text(&format!("http://127.0.0.1:{}/metrics", c.worker_port)).await
            }
        }
    }

    /// The last lines the server's processes logged, for failure messages.
    pub fn logs(&self) -> String {
        match &self.running {
            Running::Embedded(e) => e.process.log_tail(),
            Running::Cluster(c) => [&c.web, &c.worker, &c.beat]
                .iter()
                .map(|p| p.log_tail())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    /// Every issue of the first project, whatever its status.
    pub async fn issues(&self) -> Vec<Value> {
        self.api.issues(self.org, self.project, "").await
    }

    /// The issues matching a search query.
    pub async fn search(&self, query: &str) -> Vec<Value> {
        self.api.issues(self.org, self.project, query).await
    }

    /// Polls the issue list until `done` holds; fails with the last list and
    /// the server's logs.
    pub async fn wait_for_issues(&self, what: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let issues = self.issues().await;
            if done(&issues) {
                return issues;
            }
            if Instant::now() > deadline {
                panic!(
                    "waited {TIMEOUT:?} for {what}; the issues are {issues:#?}\n{}",
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// One issue by id.
    pub async fn issue(&self, id: &str) -> Value {
        let (status, body) = self.api.get(&format!("/api/0/issues/{id}/")).await;
        assert_eq!(status, 200, "GET issue {id}: {body}");
        body
    }

    /// The events of an issue (summaries).
    pub async fn issue_events(&self, id: &str) -> Vec<Value> {
        let (status, body) = self
            .api
            .get(&format!("/api/0/issues/{id}/events/?limit=100"))
            .await;
        assert_eq!(status, 200, "GET events of issue {id}: {body}");
        body.as_array().cloned().unwrap_or_default()
    }

    /// The newest event of an issue (full).
    pub async fn latest_event(&self, id: &str) -> Value {
        let (status, body) = self
            .api
            .get(&format!("/api/0/issues/{id}/events/latest/"))
            .await;
        assert_eq!(status, 200, "GET latest event of issue {id}: {body}");
        body
    }
}

/// `http://key@host/42` -> 42.
pub fn project_id_of(dsn: &str) -> i64 {
    dsn.rsplit('/')
        .next()
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("no project id in the DSN {dsn}"))
}

/// `http://key@host/42` -> `key`.
pub fn public_key_of(dsn: &str) -> String {
    dsn.split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
        .map(|(key, _)| key.to_string())
        .unwrap_or_else(|| panic!("no public key in the DSN {dsn}"))
}

async fn get_text(url: &str) -> String {
    let response = reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert!(response.status().is_success(), "GET {url}: {response:?}");
    response.text().await.expect("a text body")
}

/// A series' value in Prometheus text, e.g.
/// `corral_ingest_dropped_total{reason="quota"}` (0 when absent).
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok()).flatten()
        })
        .unwrap_or(0.0)
}

/// Quotas count in fixed windows aligned to the clock: sleeps into the next
/// window unless `need` seconds are left in this one, so that a sequence of
/// sends cannot be split by a window boundary.
pub async fn fresh_quota_window(window_secs: u64, need: u64) {
    let left = seconds_left(Utc::now(), window_secs);
    if left < need {
        tokio::time::sleep(Duration::from_secs(left) + Duration::from_millis(300)).await;
    }
}

/// The issue whose title is `title`; fails with the list.
pub fn by_title<'a>(issues: &'a [Value], title: &str) -> &'a Value {
    issues
        .iter()
        .find(|i| i["title"] == title)
        .unwrap_or_else(|| panic!("no issue titled {title:?} in {issues:#?}"))
}

/// The titles of the issues, sorted.
pub fn titles(issues: &[Value]) -> Vec<String> {
    let mut titles: Vec<String> = issues
        .iter()
        .map(|i| i["title"].as_str().unwrap_or("").to_string())
        .collect();
    titles.sort();
    titles
}

/// An application directory for an SDK: `files` (relative path, content)
/// written into `dir`, which is also the working directory of every run.
pub struct App {
    dir: PathBuf,
}

impl App {
    pub fn new(dir: PathBuf, files: &[(&str, &str)]) -> App {
        for (path, content) in files {
            let path = dir.join(path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("an app directory");
            }
            std::fs::write(&path, content).expect("an app file");
        }
        App { dir }
    }

    /// `python main.py <args>` with the virtualenv of one sentry-sdk major;
    /// returns stdout, which must say (as the scripts print it) that this
    /// major sent.
    pub async fn python(&self, sdk: PythonSdk, args: &[&str], dsn: &str) -> String {
        let mut cmd = tokio::process::Command::new(sdk.python());
        cmd.arg("main.py")
            .args(args)
            .env("PYTHONDONTWRITEBYTECODE", "1");
        let out = run(cmd, &self.dir, dsn, "python main.py", args).await;
        let sent_by = format!("sent by sentry-sdk {}.", sdk.major());
        assert!(
            out.lines().any(|line| line.starts_with(&sent_by)),
            "main.py {args:?} ran with the wrong SDK: {out:?}, not {sent_by:?}…"
        );
        out
    }

    /// `node main.js <args>` with `@sentry/node` on `NODE_PATH`; returns stdout.
    pub async fn node(&self, args: &[&str], dsn: &str) -> String {
        self.node_with(args, dsn, &[]).await
    }

    /// [`App::node`] with more environment variables.
    pub async fn node_with(&self, args: &[&str], dsn: &str, env: &[(&str, &str)]) -> String {
        let mut cmd = tokio::process::Command::new("node");
        cmd.arg("main.js")
            .args(args)
            .env("NODE_PATH", sdk::node_modules())
            .envs(env.iter().copied());
        run(cmd, &self.dir, dsn, "node main.js", args).await
    }

    /// `sentry-cli <args>`; returns stdout.
    pub async fn sentry_cli(&self, args: &[&str], dsn: &str) -> String {
        let mut cmd = tokio::process::Command::new(sdk::sentry_cli());
        cmd.args(args)
            .env("SENTRY_LOG_LEVEL", "warn")
            // no network beyond the server under test
            .env("SENTRY_DISABLE_UPDATE_CHECK", "true");
        run(cmd, &self.dir, dsn, "sentry-cli", args).await
    }
}

/// Runs an SDK program in `dir` with `SENTRY_DSN`, bounded by [`TIMEOUT`];
/// fails with its output unless it exits successfully.
async fn run(
    mut cmd: tokio::process::Command,
    dir: &Path,
    dsn: &str,
    what: &str,
    args: &[&str],
) -> String {
    cmd.current_dir(dir)
        .env("SENTRY_DSN", dsn)
        // whatever the developer's shell has must not change what the SDKs send
        .env_remove("SENTRY_RELEASE")
        .env_remove("SENTRY_ENVIRONMENT")
        .env_remove("SENTRY_AUTH_TOKEN")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(TIMEOUT, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{what} {args:?} ran longer than {TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("starting {what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{what} {args:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
