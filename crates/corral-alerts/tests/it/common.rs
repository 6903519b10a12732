//! Real components for the tests: HTTP sinks on loopback, a SQLite store
//! with an organization and a project, aiosmtpd.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use chrono::{DateTime, TimeZone, Utc};
use corral_core::alerts::{
    AlertIssue, AlertKind, AlertMessage, Channel, ChannelConfig, DELIVERY_LEASE, Delivery,
    DeliveryTarget, NewDelivery,
};
use corral_core::config::Config;
use corral_core::model::{Organization, Project, User};
use corral_core::{DigestInput, GroupHash, NewProject, NewUser, SharedStore};
use corral_protocol::Level;
use uuid::Uuid;

/// One request a sink received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Seen {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .unwrap()
    }
}

/// How a sink answers.
#[derive(Clone, Debug)]
pub enum Answer {
    Status(u16),
    /// A status with a body and extra headers.
    Full(u16, String, Vec<(&'static str, String)>),
    /// 200 after a pause.
    Slow(Duration),
    /// A status and a body that never ends.
    Endless(u16),
    /// 307 to this URL.
    Redirect(String),
}

/// A local HTTP server recording what it receives.
pub struct Sink {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Sink {
    pub async fn start(answer: Answer) -> Sink {
        Sink::start_on("127.0.0.1", answer).await
    }

    pub async fn start_on(ip: &str, answer: Answer) -> Sink {
        let listener = tokio::net::TcpListener::bind((ip, 0))
            .await
            .unwrap_or_else(|e| panic!("cannot listen on {ip}: {e}"));
        let addr = listener.local_addr().unwrap();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let recorded = seen.clone();
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let recorded = recorded.clone();
                let answer = answer.clone();
                async move {
                    recorded.lock().unwrap().push(Seen {
                        method,
                        path: uri.path().to_string(),
                        headers,
                        body,
                    });
                    respond(answer).await
                }
            },
        );
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Sink { addr, seen, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The one request to `path`.
    pub fn one(&self, path: &str) -> Seen {
        let hits: Vec<Seen> = self.seen().into_iter().filter(|s| s.path == path).collect();
        assert_eq!(hits.len(), 1, "requests to {path}: {hits:?}");
        hits.into_iter().next().unwrap()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn respond(answer: Answer) -> Response {
    let status = |code: u16| StatusCode::from_u16(code).unwrap();
    match answer {
        Answer::Status(code) => Response::builder()
            .status(status(code))
            .body(Body::from("ok"))
            .unwrap(),
        Answer::Full(code, body, headers) => {
            let mut r = Response::builder().status(status(code));
            for (k, v) in headers {
                r = r.header(k, v);
            }
            r.body(Body::from(body)).unwrap()
        }
        Answer::Slow(pause) => {
            tokio::time::sleep(pause).await;
            Response::new(Body::from("late"))
        }
        Answer::Endless(code) => {
            let chunk = Bytes::from(vec![b'x'; 16 * 1024]);
            let stream = futures::stream::repeat_with(move || Ok::<_, Infallible>(chunk.clone()));
            Response::builder()
                .status(status(code))
                .body(Body::from_stream(stream))
                .unwrap()
        }
        Answer::Redirect(to) => Response::builder()
            .status(StatusCode::TEMPORARY_REDIRECT)
            .header("location", to)
            .body(Body::empty())
            .unwrap(),
    }
}

/// A store with organization `acme` and project `backend`, and a
/// configuration whose outbound requests may reach loopback.
pub struct Env {
    pub store: SharedStore,
    pub org: Organization,
    pub project: Project,
    pub config: Config,
    _db: corral_testkit::TestSqlite,
}

impl Env {
    pub async fn new() -> Env {
        let db = corral_testkit::TestSqlite::new();
        let store = corral_store::open_store(&db.url(), 4).await.unwrap();
        store.migrate().await.unwrap();
        let org = store.create_organization("acme", "Acme").await.unwrap();
        let project = store
            .create_project(NewProject {
                org_id: org.id,
                slug: "backend".into(),
                name: "Backend".into(),
                platform: Some("python".into()),
            })
            .await
            .unwrap();
        let mut config = Config::default();
        config.alerts.allow_private_addresses = true;
        config.alerts.delivery_timeout_secs = 5;
        config.alerts.delivery_attempts = 3;
        Env {
            store,
            org,
            project,
            config,
            _db: db,
        }
    }

    pub async fn channel(&self, name: &str, config: ChannelConfig) -> Channel {
        self.store
            .create_alert_channel(self.org.id, name, &config)
            .await
            .unwrap()
    }

    pub async fn user(&self, email: &str) -> User {
        self.store
            .create_user(NewUser {
                email: email.into(),
                name: email.split('@').next().unwrap().into(),
                password_hash: None,
                is_superuser: false,
            })
            .await
            .unwrap()
    }

    /// A real issue of the project (one event through the digest).
    pub async fn issue(&self, title: &str) -> i64 {
        let at = Utc::now();
        let event_id = Uuid::new_v4();
        let input = DigestInput {
            project_id: self.project.id,
            event_id,
            event_type: corral_core::model::EventType::Error,
            level: Level::Error,
            title: title.into(),
            culprit: "app.views in checkout".into(),
            metadata: serde_json::json!({"type": "ZeroDivisionError"}),
            platform: "python".into(),
            release: None,
            environment: Some("production".into()),
            timestamp: at,
            received_at: at,
            tags: vec![],
            hashes: vec![GroupHash {
                hash: format!("{:032x}", Uuid::new_v4().as_u128()),
                config: "corral:2026-11".into(),
            }],
            secondary_hashes: vec![],
            data: serde_json::json!({"event_id": event_id.simple().to_string()}).to_string(),
        };
        let out = self.store.digest(&[input]).await.unwrap();
        out[0].issue_id.expect("the event made an issue")
    }

    /// A message about issue `issue_id` as the runner would write it.
    pub fn message(&self, kind: AlertKind, issue_id: i64) -> AlertMessage {
        let t = Utc.with_ymd_and_hms(2026, 12, 7, 22, 18, 0).unwrap();
        AlertMessage {
            kind,
            rule_id: None,
            rule_name: Some("Page on-call".into()),
            org_slug: self.org.slug.clone(),
            project_id: self.project.id,
            project_slug: self.project.slug.clone(),
            project_name: self.project.name.clone(),
            environment: Some("production".into()),
            release: Some("1.4.2".into()),
            issue: Some(AlertIssue {
                id: issue_id,
                short_id: "BACKEND-1".into(),
                title: "ZeroDivisionError: division by zero".into(),
                culprit: "app.views in checkout".into(),
                level: Level::Error,
                status: "unresolved".into(),
                times_seen: 42,
                first_seen: t - chrono::Duration::hours(3),
                last_seen: t,
                top_frame: Some("app/views.py in checkout at line 42".into()),
                url: format!("https://corral.example/organizations/acme/issues/{issue_id}/"),
            }),
            window: None,
            event_id: Some(Uuid::new_v4()),
            project_url: format!(
                "https://corral.example/organizations/acme/issues/?project={}",
                self.project.id
            ),
            actor: None,
            created_at: t,
        }
    }

    /// Queues a delivery and claims it at `now`, as the runner does (the
    /// claim counts the attempt).
    pub async fn claim(
        &self,
        target: DeliveryTarget,
        message: AlertMessage,
        now: DateTime<Utc>,
    ) -> Delivery {
        let queued = self
            .store
            .queue_deliveries(
                &[NewDelivery {
                    org_id: self.org.id,
                    target,
                    message,
                }],
                now,
            )
            .await
            .unwrap();
        self.claim_again(queued[0].id, now).await
    }

    /// Claims delivery `id` (due at `now`) again.
    pub async fn claim_again(&self, id: i64, now: DateTime<Utc>) -> Delivery {
        let claimed = self
            .store
            .claim_deliveries(now, DELIVERY_LEASE, 100)
            .await
            .unwrap();
        claimed
            .into_iter()
            .find(|d| d.id == id)
            .unwrap_or_else(|| panic!("delivery {id} was not due at {now}"))
    }
}

/// A real SMTP server: `aiosmtpd` from `CORRAL_TEST_PYTHON`, keeping what
/// it receives in a Maildir (as corral-web's tests start it).
pub struct SmtpServer {
    pub port: u16,
    maildir: PathBuf,
    process: corral_testkit::Process,
    _dir: tempfile::TempDir,
}

impl SmtpServer {
    pub async fn start() -> SmtpServer {
        let dir = tempfile::Builder::new()
            .prefix("corral-smtp-")
            .tempdir()
            .unwrap();
        let maildir = dir.path().join("mail");
        let port = corral_testkit::free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut process = corral_testkit::Process::spawn(
            "aiosmtpd",
            &corral_testkit::sdk::python(),
            &[
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &listen,
                "-c",
                "aiosmtpd.handlers.Mailbox",
                maildir.to_str().unwrap(),
            ],
            &[],
            &dir.path().join("logs"),
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(&listen).await.is_err() {
            if let Some(code) = process.exited() {
                panic!("aiosmtpd exited ({code:?})\n{}", process.log_tail());
            }
            assert!(
                Instant::now() < deadline,
                "aiosmtpd is not listening\n{}",
                process.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        SmtpServer {
            port,
            maildir,
            process,
            _dir: dir,
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message so far, raw, quoted-printable soft breaks undone.
    pub fn messages(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else {
            return Vec::new();
        };
        entries
            .filter_map(Result::ok)
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .map(|m| {
                m.replace("=\r\n", "")
                    .replace("=\n", "")
                    .replace("=3D", "=")
            })
            .collect()
    }

    /// The messages to `to` (the `To:` header), waiting for `count` of them.
    pub async fn wait_for(&self, to: &str, count: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let found = self.to(to);
            if found.len() >= count {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "no mail to {to} arrived ({} messages)\n{}",
                self.messages().len(),
                self.process.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn to(&self, to: &str) -> Vec<String> {
        self.messages()
            .into_iter()
            .filter(|m| {
                m.lines().any(|l| {
                    let l = l.to_ascii_lowercase();
                    l.starts_with("to:") && l.contains(&to.to_ascii_lowercase())
                })
            })
            .collect()
    }
}
