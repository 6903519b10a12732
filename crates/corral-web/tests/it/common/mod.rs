//! A test server: the whole application (ingest, API, probes) on a real
//! socket, in either shape, with the digest running in the same process.
//!
//! - embedded: SQLite store and apalis-sqlite queue in one file, quotas in
//!   memory;
//! - cluster: PostgreSQL store, Redis queue, Redis quotas.
//!
//! Every app gets its own database and queue name, an organization `acme`
//! with a project `backend`, a key, and an owner with an all-scopes token.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use corral_core::config::Config;
use corral_core::model::{
    ALL_SCOPES, Issue, Organization, Project, ProjectKey, RateLimit, Role, StoredEvent, User,
};
use corral_core::quota::{MemoryQuotas, Quotas, seconds_left};
use corral_core::{IssueQuery, NewProject, NewUser, SharedStore, StoreError};
use corral_jobs::worker::{WorkerSettings, unique_worker_name};
use corral_jobs::{Batcher, JobContext, JobQueue};
use corral_store::{PgStore, SqliteStore};
use corral_testkit::{TestPg, TestSqlite, redis_url, test_queue_name};
use corral_web::AppState;
use corral_web::api::{hash_token, new_token_secret};
use corral_web::ingest::quota_redis::RedisQuotas;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// How long a test waits for the digest before it fails.
pub const DIGEST_TIMEOUT: Duration = Duration::from_secs(15);

/// The two ways Corral runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// SQLite + apalis-sqlite in the same file + in-memory quotas.
    Embedded,
    /// PostgreSQL + Redis queue + Redis quotas.
    Cluster,
}

/// Runs `async fn case(shape: Shape)` once per shape, as the tests
/// `case::embedded` and `case::cluster`.
#[macro_export]
macro_rules! both_shapes {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn embedded() {
                super::$case($crate::common::Shape::Embedded).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn cluster() {
                super::$case($crate::common::Shape::Cluster).await
            }
        }
    )*};
}

/// Runs `async fn case(shape: Shape)` on the embedded shape only, as the
/// test `case::embedded`: for what does not depend on the store or queue.
#[macro_export]
macro_rules! embedded_only {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn embedded() {
                super::$case($crate::common::Shape::Embedded).await
            }
        }
    )*};
}

// held only so that the database outlives the app and goes with it
#[allow(dead_code)]
enum Db {
    Pg(TestPg),
    Sqlite(TestSqlite),
}

/// How to start a [`TestApp`].
pub struct TestAppBuilder {
    shape: Shape,
    toml: String,
    worker: bool,
    migrate: bool,
    metrics: bool,
    backlog_every: Option<Duration>,
}

impl TestAppBuilder {
    /// Configuration in the file's TOML form, validated like a real one
    /// (e.g. `"[ingest]\nmax_event_bytes = 4096"`).
    pub fn toml(mut self, text: &str) -> Self {
        self.toml = text.to_string();
        self
    }

    /// No digest: jobs stay in the queue.
    pub fn without_worker(mut self) -> Self {
        self.worker = false;
        self
    }

    /// Neither migrations nor fixtures: an empty database.
    pub fn unmigrated(mut self) -> Self {
        self.migrate = false;
        self.worker = false;
        self
    }

    /// Installs the process-wide Prometheus recorder and serves `/metrics`.
    pub fn with_metrics(mut self) -> Self {
        self.metrics = true;
        self
    }

    /// Refreshes the queue backlog figure this often (backpressure).
    pub fn backlog_monitor(mut self, every: Duration) -> Self {
        self.backlog_every = Some(every);
        self
    }

    pub async fn start(self) -> TestApp {
        let dir = tempfile::Builder::new()
            .prefix("corral-web-test-")
            .tempdir()
            .expect("temporary directory");
        let mut config = Config::from_toml(&self.toml).expect("test configuration is valid");
        config.queue.name = test_queue_name();
        config.queue.poll_interval_ms = 20;
        config.queue.heartbeat_secs = 2;
        config.data_dir = dir.path().to_path_buf();
        if config.attachments_dir.is_none() {
            config.attachments_dir = Some(dir.path().join("attachments"));
        }
        let config = Arc::new(config);

        let (db, store, queue, quotas): (Db, SharedStore, JobQueue, Arc<dyn Quotas>) =
            match self.shape {
                Shape::Embedded => {
                    let db = TestSqlite::new();
                    let sqlite = SqliteStore::open(db.path()).await.expect("open SQLite");
                    let pool = sqlite.pool().clone();
                    let store: SharedStore = Arc::new(sqlite);
                    if self.migrate {
                        store.migrate().await.expect("migrate SQLite");
                    }
                    // in the store's file, as `corral serve` has it
                    let queue = JobQueue::sqlite(&pool, &config.queue)
                        .await
                        .expect("SQLite queue");
                    (Db::Sqlite(db), store, queue, Arc::new(MemoryQuotas::new()))
                }
                Shape::Cluster => {
                    let db = if self.migrate {
                        TestPg::new().await
                    } else {
                        TestPg::empty().await
                    };
                    let store: SharedStore =
                        Arc::new(PgStore::connect(db.url(), 8).await.expect("connect"));
                    if self.migrate {
                        store.migrate().await.expect("migrate PostgreSQL");
                    }
                    let redis = redis_url();
                    let queue = JobQueue::redis(&redis, &config.queue)
                        .await
                        .expect("Redis queue");
                    let quotas = RedisQuotas::new(&redis, &config.queue.name).expect("quotas");
                    (Db::Pg(db), store, queue, Arc::new(quotas))
                }
            };

        let fixtures = if self.migrate {
            Some(Fixtures::create(&store).await)
        } else {
            None
        };

        let metrics = self.metrics.then(corral_runtime::telemetry::metrics_handle);
        let state = AppState::new(
            store.clone(),
            queue.clone(),
            quotas,
            config.clone(),
            metrics,
        );
        let mut tasks = Vec::new();
        if let Some(every) = self.backlog_every {
            tasks.push(state.spawn_backlog_monitor(every));
        }
        let (stop, stopped) = watch::channel(false);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a port");
        let addr = listener.local_addr().expect("local address");
        let mut web_stop = stopped.clone();
        let app = corral_web::router(state.clone());
        let limits = corral_web::connection_limits(&state.config.http);
        tasks.push(tokio::spawn(async move {
            corral_runtime::serve_with(
                listener,
                app,
                async move {
                    let _ = web_stop.wait_for(|s| *s).await;
                },
                limits,
            )
            .await
            .expect("server");
        }));

        if self.worker {
            let (batcher, batch_task) =
                Batcher::spawn(store.clone(), 64, Duration::from_millis(5), 2);
            tasks.push(batch_task);
            let ctx = Arc::new(JobContext::new(
                store.clone(),
                batcher,
                queue.name(),
                config.worker.max_attempts,
                config.ingest.max_sessions_per_envelope,
            ));
            let settings = WorkerSettings {
                name: unique_worker_name("t"),
                concurrency: 8,
                poll_interval: Duration::from_millis(20),
                job_timeout: Duration::from_secs(30),
                shutdown_timeout: Duration::from_secs(2),
            };
            let mut worker_stop = stopped.clone();
            let queue = queue.clone();
            tasks.push(tokio::spawn(async move {
                corral_jobs::worker::run(queue, ctx, settings, async move {
                    let _ = worker_stop.wait_for(|s| *s).await;
                })
                .await
                .expect("worker");
            }));
        }

        let attachments_dir = config.attachments_dir();
        TestApp {
            shape: self.shape,
            addr,
            base_url: format!("http://{addr}"),
            client: http_client(),
            store,
            queue,
            state,
            config,
            attachments_dir,
            fixtures,
            tasks,
            stop,
            _dir: dir,
            db: Some(db),
        }
    }
}

/// A client that never goes through a proxy and never hangs a test.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

/// What every app starts with.
pub struct Fixtures {
    pub owner: User,
    pub org: Organization,
    pub project: Project,
    pub key: ProjectKey,
    /// The owner's token, with every scope.
    pub token: String,
}

impl Fixtures {
    async fn create(store: &SharedStore) -> Fixtures {
        let owner = store
            .create_user(NewUser {
                email: "owner@acme.test".into(),
                name: "Owner".into(),
                password_hash: None,
                is_superuser: false,
            })
            .await
            .expect("owner");
        let org = store
            .create_organization("acme", "Acme")
            .await
            .expect("org");
        store
            .set_membership(org.id, owner.id, Role::Owner)
            .await
            .expect("membership");
        let project = store
            .create_project(NewProject {
                org_id: org.id,
                slug: "backend".into(),
                name: "Backend".into(),
                platform: Some("python".into()),
            })
            .await
            .expect("project");
        let key = store
            .create_project_key(project.id, "Default", RateLimit::default())
            .await
            .expect("key");
        let token = create_token(store, owner.id, ALL_SCOPES).await;
        Fixtures {
            owner,
            org,
            project,
            key,
            token,
        }
    }
}

/// A new API token for `user_id` with `scopes`; returns its secret.
pub async fn create_token(store: &SharedStore, user_id: i64, scopes: &[&str]) -> String {
    let secret = new_token_secret();
    let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
    store
        .create_api_token(user_id, "tests", &scopes, &hash_token(&secret))
        .await
        .expect("token");
    secret
}

/// A running application.
pub struct TestApp {
    pub shape: Shape,
    pub addr: SocketAddr,
    pub base_url: String,
    pub client: reqwest::Client,
    pub store: SharedStore,
    pub queue: JobQueue,
    pub state: AppState,
    pub config: Arc<Config>,
    fixtures: Option<Fixtures>,
    pub attachments_dir: PathBuf,
    tasks: Vec<JoinHandle<()>>,
    stop: watch::Sender<bool>,
    _dir: tempfile::TempDir,
    db: Option<Db>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        for t in &self.tasks {
            t.abort();
        }
        if self.shape == Shape::Cluster {
            forget_redis_keys(&self.config.queue.name);
        }
        // the databases go with `db` (TestPg drops its database)
        self.db.take();
    }
}

/// Removes what this app's queue and quotas left in the shared Redis.
fn forget_redis_keys(namespace: &str) {
    use redis::Commands;
    let Ok(mut conn) = redis::Client::open(redis_url()).and_then(|c| c.get_connection()) else {
        return;
    };
    let keys: Vec<String> = match conn.scan_match::<_, String>(format!("*{namespace}*")) {
        Ok(found) => found.filter_map(Result::ok).collect(),
        Err(_) => return,
    };
    if !keys.is_empty() {
        let _: redis::RedisResult<()> = conn.del(keys);
    }
}

impl TestApp {
    pub fn builder(shape: Shape) -> TestAppBuilder {
        TestAppBuilder {
            shape,
            toml: String::new(),
            worker: true,
            migrate: true,
            metrics: false,
            backlog_every: None,
        }
    }

    /// The default app of a shape.
    pub async fn start(shape: Shape) -> TestApp {
        TestApp::builder(shape).start().await
    }

    pub fn fixtures(&self) -> &Fixtures {
        self.fixtures
            .as_ref()
            .expect("this app was started without fixtures")
    }

    pub fn project(&self) -> &Project {
        &self.fixtures().project
    }

    pub fn key(&self) -> &str {
        &self.fixtures().key.public_key
    }

    pub fn token(&self) -> &str {
        &self.fixtures().token
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The DSN of a key of a project, as an SDK is configured with it.
    pub fn dsn_for(&self, public_key: &str, project_id: i64) -> String {
        format!("http://{public_key}@{}/{project_id}", self.addr)
    }

    pub fn dsn(&self) -> String {
        self.dsn_for(self.key(), self.project().id)
    }

    pub fn envelope_path(&self) -> String {
        format!("/api/{}/envelope/", self.project().id)
    }

    /// POSTs an envelope with `X-Sentry-Auth` (with the `Sentry ` prefix).
    pub async fn post_envelope(&self, body: Vec<u8>) -> Reply {
        self.post_envelope_as(self.key(), self.project().id, body)
            .await
    }

    pub async fn post_envelope_as(
        &self,
        public_key: &str,
        project_id: i64,
        body: Vec<u8>,
    ) -> Reply {
        send(
            self.client
                .post(self.url(&format!("/api/{project_id}/envelope/")))
                .header("x-sentry-auth", sentry_auth(public_key))
                .header("content-type", "application/x-sentry-envelope")
                .body(body),
        )
        .await
    }

    /// Sends one event in an envelope and checks it was accepted.
    pub async fn send_event(&self, event: &Value) -> Uuid {
        let reply = self
            .post_envelope(Envelope::new(json!({})).event(event).build())
            .await;
        let id = reply.accepted_id();
        assert_eq!(Some(id), event_id_of(event), "the answer names the event");
        id
    }

    /// After a refusal: a good event is still accepted and digested.
    pub async fn assert_still_serving(&self) {
        let (id, event) = event("still serving");
        assert_eq!(self.send_event(&event).await, id);
        self.wait_for_event(id).await;
    }

    /// Polls `check` until it answers `Some`, or fails after `timeout`.
    pub async fn eventually<T>(
        &self,
        what: &str,
        timeout: Duration,
        check: impl AsyncFn() -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = check().await {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not reached in {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The event once the digest stored it.
    pub async fn wait_for_event(&self, event_id: Uuid) -> StoredEvent {
        self.wait_for_event_in(self.project().id, event_id).await
    }

    pub async fn wait_for_event_in(&self, project_id: i64, event_id: Uuid) -> StoredEvent {
        self.eventually(
            &format!("event {event_id} stored"),
            DIGEST_TIMEOUT,
            async || match self.store.event_by_id(project_id, event_id).await {
                Ok(e) => Some(e),
                Err(StoreError::NotFound(_)) => None,
                Err(e) => panic!("reading event {event_id}: {e}"),
            },
        )
        .await
    }

    /// Waits until every job in the queue is done.
    pub async fn drain(&self) {
        self.eventually("queue drained", DIGEST_TIMEOUT, async || {
            let depth = self.queue.depth().await.expect("queue depth");
            (depth.backlog() == 0).then_some(())
        })
        .await
    }

    /// Every issue of the project, whatever its status.
    pub async fn issues(&self) -> Vec<Issue> {
        self.issues_of(self.project().id).await
    }

    pub async fn issues_of(&self, project_id: i64) -> Vec<Issue> {
        self.store
            .list_issues(&IssueQuery {
                project_ids: vec![project_id],
                limit: 1000,
                ..Default::default()
            })
            .await
            .expect("list issues")
    }

    /// A project (with a key) in `org`, or in a new organization.
    pub async fn create_project(&self, org_id: Option<i64>, slug: &str) -> (Project, ProjectKey) {
        let org_id = match org_id {
            Some(id) => id,
            None => {
                self.store
                    .create_organization(&format!("{slug}-org"), "Other")
                    .await
                    .expect("org")
                    .id
            }
        };
        let project = self
            .store
            .create_project(NewProject {
                org_id,
                slug: slug.into(),
                name: slug.into(),
                platform: None,
            })
            .await
            .expect("project");
        let key = self
            .store
            .create_project_key(project.id, "Default", RateLimit::default())
            .await
            .expect("key");
        (project, key)
    }

    /// A GET of the REST API with `token`.
    pub async fn api_get(&self, path_or_url: &str, token: &str) -> Reply {
        let url = if path_or_url.starts_with("http") {
            path_or_url.to_string()
        } else {
            self.url(path_or_url)
        };
        send(self.client.get(url).bearer_auth(token)).await
    }

    pub async fn api_put(&self, path: &str, token: &str, body: Value) -> Reply {
        send(
            self.client
                .put(self.url(path))
                .bearer_auth(token)
                .json(&body),
        )
        .await
    }
}

/// `X-Sentry-Auth` as SDKs send it.
pub fn sentry_auth(public_key: &str) -> String {
    format!("Sentry sentry_key={public_key}, sentry_version=7, sentry_client=corral-tests/1.0")
}

/// An answer, read whole.
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

pub async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("HTTP request");
    Reply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.text().await.expect("response body"),
    }
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn detail(&self) -> String {
        self.json()["detail"]
            .as_str()
            .unwrap_or_else(|| panic!("no detail in {:?}", self.body))
            .to_string()
    }

    /// A 200 `{"id": "<32 hex>"}`; returns the id.
    pub fn accepted_id(&self) -> Uuid {
        assert_eq!(self.status, 200, "expected acceptance, got {}", self.body);
        let body = self.json();
        let id = body["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no id in {body}"));
        assert_eq!(id.len(), 32, "id {id:?}");
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "id {id:?} is not lowercase hex"
        );
        assert_eq!(
            body.as_object().map(|o| o.len()),
            Some(1),
            "only the id: {body}"
        );
        Uuid::parse_str(id).expect("a UUID")
    }

    /// A 200 without an event (nothing to name).
    pub fn assert_accepted(&self) {
        assert_eq!(self.status, 200, "expected acceptance, got {}", self.body);
    }

    /// A refusal: the status, a `{"detail"}` containing `reason`, and the
    /// same text in `X-Sentry-Error`.
    pub fn assert_refused(&self, status: u16, reason: &str) {
        assert_eq!(
            self.status, status,
            "expected {status} ({reason}), got {}: {}",
            self.status, self.body
        );
        let detail = self.detail();
        assert!(
            detail.to_lowercase().contains(&reason.to_lowercase()),
            "detail {detail:?} should mention {reason:?}"
        );
        assert_eq!(
            self.header("x-sentry-error"),
            Some(detail.as_str()),
            "X-Sentry-Error carries the detail"
        );
        assert!(
            self.header("content-type")
                .is_some_and(|c| c.starts_with("application/json")),
            "JSON body"
        );
    }
}

/// A minimal error event with a fresh id.
pub fn event(message: &str) -> (Uuid, Value) {
    let id = Uuid::new_v4();
    (
        id,
        json!({
            "event_id": id.simple().to_string(),
            "message": message,
            "level": "error",
            "platform": "python",
            "timestamp": Utc::now().to_rfc3339(),
        }),
    )
}

pub fn event_id_of(event: &Value) -> Option<Uuid> {
    event["event_id"]
        .as_str()
        .and_then(|s| Uuid::parse_str(s).ok())
}

/// An envelope written by hand, the way SDKs write them.
pub struct Envelope {
    out: Vec<u8>,
}

impl Envelope {
    pub fn new(header: Value) -> Envelope {
        let mut out = serde_json::to_vec(&header).expect("JSON");
        out.push(b'\n');
        Envelope { out }
    }

    /// An item with an explicit `length`.
    pub fn item(mut self, mut header: Value, payload: &[u8]) -> Envelope {
        header["length"] = json!(payload.len());
        self.out
            .extend_from_slice(&serde_json::to_vec(&header).expect("JSON"));
        self.out.push(b'\n');
        self.out.extend_from_slice(payload);
        self.out.push(b'\n');
        self
    }

    /// An item without `length`: the payload runs to the newline.
    pub fn item_unsized(mut self, header: Value, payload: &[u8]) -> Envelope {
        assert!(!payload.contains(&b'\n'));
        self.out
            .extend_from_slice(&serde_json::to_vec(&header).expect("JSON"));
        self.out.push(b'\n');
        self.out.extend_from_slice(payload);
        self.out.push(b'\n');
        self
    }

    pub fn event(self, event: &Value) -> Envelope {
        self.item(
            json!({"type": "event", "content_type": "application/json"}),
            &serde_json::to_vec(event).expect("JSON"),
        )
    }

    pub fn build(self) -> Vec<u8> {
        self.out
    }
}

/// One event in an envelope.
pub fn event_envelope(event: &Value) -> Vec<u8> {
    Envelope::new(json!({})).event(event).build()
}

/// A file of the repository's Sentry fixtures.
pub fn fixture(path: &str) -> Vec<u8> {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/sentry-events")
        .join(path);
    std::fs::read(&full).unwrap_or_else(|e| panic!("reading {}: {e}", full.display()))
}

/// An envelope fixture (a JSON array of lines) in its wire form.
pub fn fixture_envelope(path: &str) -> Vec<u8> {
    let lines: Vec<Value> = serde_json::from_slice(&fixture(path)).expect("a JSON array");
    lines
        .iter()
        .map(|l| serde_json::to_string(l).expect("JSON"))
        .collect::<Vec<_>>()
        .join("\n")
        .into_bytes()
}

/// Sends raw bytes on a new connection and reads the answer until the
/// server closes it. Returns the status and the whole answer text.
pub async fn raw_http(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write request");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer))
        .await
        .expect("an answer in time")
        .expect("read answer");
    let text = String::from_utf8_lossy(&answer).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {text:?}"));
    (status, text)
}

/// Waits, when needed, so that a test counting against a quota window of
/// `window_secs` does not see the window end halfway.
pub async fn fresh_quota_window(window_secs: u64) {
    let left = seconds_left(Utc::now(), window_secs);
    if left < 3 {
        tokio::time::sleep(Duration::from_secs(left) + Duration::from_millis(200)).await;
    }
}

/// A metric's value in Prometheus text (0 when absent).
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok()).flatten()
        })
        .unwrap_or(0.0)
}

/// A browser signed in through the store (no password needed): it sends the
/// session cookie on every request and follows no redirects, so tests see
/// the 303s of forms.
pub struct Browser {
    pub client: reqwest::Client,
    /// The session's CSRF token, for forms.
    pub csrf_token: String,
    pub base_url: String,
}

/// Starts a session for `user_id` the way `/login` does (the store keeps the
/// SHA-256 of the cookie's secret) and returns a browser that carries it.
pub async fn browser_for(app: &TestApp, user_id: i64) -> Browser {
    let secret = corral_web::session::random_token();
    let csrf_token = corral_web::session::random_token();
    app.store
        .create_session(
            &corral_web::session::sha256_hex(&secret),
            user_id,
            &csrf_token,
            Utc::now() + chrono::Duration::days(1),
        )
        .await
        .expect("session");
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::COOKIE,
        format!("{}={secret}", corral_web::session::SESSION_COOKIE)
            .parse()
            .expect("a cookie header"),
    );
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client");
    Browser {
        client,
        csrf_token,
        base_url: app.base_url.clone(),
    }
}

impl Browser {
    fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http") {
            path_or_url.to_string()
        } else {
            format!("{}{path_or_url}", self.base_url)
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        send(self.client.get(self.url(path))).await
    }

    /// POSTs a form as given (add `csrf_token` yourself, or leave it out to
    /// test the refusal).
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Reply {
        send(self.client.post(self.url(path)).form(fields)).await
    }

    /// POSTs a form with the session's CSRF token.
    pub async fn submit(&self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let mut all: Vec<(&str, &str)> = vec![("csrf_token", self.csrf_token.as_str())];
        all.extend_from_slice(fields);
        self.post_form(path, &all).await
    }
}

/// A user who is a `role` member of the fixtures' organization.
pub async fn member_of_acme(app: &TestApp, email: &str, role: Role) -> User {
    let user = app
        .store
        .create_user(NewUser {
            email: email.into(),
            name: email.split('@').next().unwrap_or(email).into(),
            password_hash: None,
            is_superuser: false,
        })
        .await
        .expect("user");
    app.store
        .set_membership(app.fixtures().org.id, user.id, role)
        .await
        .expect("membership");
    user
}

/// A client like a browser's: it keeps the cookies it is given and follows
/// no redirects, so tests see the 303s of forms.
pub fn cookie_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

/// A user who signs in with `password`, with `role` in the fixtures'
/// organization (`None`: a user of no organization).
pub async fn user_with_password(
    app: &TestApp,
    email: &str,
    password: &str,
    role: Option<Role>,
) -> User {
    let user = app
        .store
        .create_user(NewUser {
            email: email.into(),
            name: email.split('@').next().unwrap_or(email).into(),
            password_hash: Some(
                corral_web::accounts::hash_password(password).expect("hash a password"),
            ),
            is_superuser: false,
        })
        .await
        .expect("user");
    if let Some(role) = role {
        app.store
            .set_membership(app.fixtures().org.id, user.id, role)
            .await
            .expect("membership");
    }
    user
}

/// The value of the first hidden `csrf_token` field of a page.
pub fn csrf_token_in(html: &str) -> Option<String> {
    let at = html.find(r#"name="csrf_token" value=""#)?;
    let rest = &html[at + r#"name="csrf_token" value=""#.len()..];
    rest.split('"').next().map(str::to_string)
}

/// Signs in through `/login` like a person: a browser with the session
/// cookie, and the session's CSRF token read from a page.
pub async fn sign_in(app: &TestApp, email: &str, password: &str) -> Browser {
    let client = cookie_client();
    let reply = send(client.post(app.url("/login")).form(&[
        ("email", email),
        ("password", password),
        ("next", "/"),
    ]))
    .await;
    assert_eq!(
        reply.status, 303,
        "signing in as {email} failed: {}",
        reply.body
    );
    let page = send(client.get(app.url("/settings/account/"))).await;
    assert_eq!(page.status, 200, "the account page: {}", page.body);
    let csrf_token = csrf_token_in(&page.body).expect("a CSRF token on the account page");
    Browser {
        client,
        csrf_token,
        base_url: app.base_url.clone(),
    }
}

/// A real SMTP server (aiosmtpd), shared with the other crates' tests.
pub use corral_testkit::smtp::SmtpServer;

/// The first `base/.../` link in a text that starts with `prefix`.
pub fn link_in(text: &str, prefix: &str) -> Option<String> {
    let at = text.find(prefix)?;
    let link: String = text[at..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '<' && *c != '"')
        .collect();
    Some(link)
}

impl TestApp {
    /// Any request of the REST API with `token` and an optional JSON body.
    pub async fn api(
        &self,
        method: &str,
        path_or_url: &str,
        token: &str,
        body: Option<Value>,
    ) -> Reply {
        let url = if path_or_url.starts_with("http") {
            path_or_url.to_string()
        } else {
            self.url(path_or_url)
        };
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        let mut request = self.client.request(method, url).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        send(request).await
    }

    pub async fn api_post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.api("POST", path, token, Some(body)).await
    }

    pub async fn api_delete(&self, path: &str, token: &str) -> Reply {
        self.api("DELETE", path, token, None).await
    }

    /// An issue with one event, written by the digest directly (no queue):
    /// for tests that need many issues fast. Returns the issue and event ids.
    pub async fn seed_issue(
        &self,
        project_id: i64,
        title: &str,
        tags: &[(&str, &str)],
    ) -> (i64, Uuid) {
        let event_id = Uuid::new_v4();
        let now = Utc::now();
        let data = json!({
            "event_id": event_id.simple().to_string(),
            "message": title,
            "level": "error",
            "platform": "python",
            "tags": tags,
        });
        let input = corral_core::DigestInput {
            project_id,
            event_id,
            event_type: corral_core::model::EventType::Error,
            level: corral_protocol::Level::Error,
            title: title.to_string(),
            culprit: "seeded".into(),
            metadata: json!({"value": title}),
            platform: "python".into(),
            release: None,
            environment: None,
            timestamp: now,
            received_at: now,
            tags: tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            hashes: vec![corral_core::GroupHash {
                // one issue per title
                hash: format!("{:032x}", md5_like(title)),
                config: "corral:2026-11".into(),
            }],
            secondary_hashes: vec![],
            data: data.to_string(),
        };
        let outcome = self.store.digest(&[input]).await.expect("digest");
        (outcome[0].issue_id.expect("an issue"), event_id)
    }
}

/// 128 bits from a text (a grouping hash for seeded issues).
fn md5_like(text: &str) -> u128 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(text.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    u128::from_be_bytes(bytes)
}
