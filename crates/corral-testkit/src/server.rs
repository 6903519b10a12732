//! Corral as a user runs it: `corral serve` (embedded) or corral-web,
//! corral-worker and corral-beat (cluster), as separate processes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::process::{Process, bin, free_port};

/// The admin password test servers are started with.
pub const ADMIN_PASSWORD: &str = "test-admin-password";

fn line_after(output: &str, prefix: &str) -> Option<String> {
    output
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .map(|rest| rest.split_whitespace().next().unwrap_or("").to_string())
}

/// A running `corral serve`.
pub struct Embedded {
    pub process: Process,
    pub data_dir: PathBuf,
    pub port: u16,
    pub base_url: String,
    pub dsn: String,
    /// Only known when this start bootstrapped the database.
    pub token: Option<String>,
    pub extra_env: Vec<(String, String)>,
}

impl Embedded {
    /// Starts `corral serve` on a fresh port in `data_dir` and waits until
    /// it is ready.
    pub async fn start(data_dir: &Path, extra_env: &[(&str, &str)]) -> Embedded {
        Self::start_on(data_dir, free_port(), extra_env).await
    }

    pub async fn start_on(data_dir: &Path, port: u16, extra_env: &[(&str, &str)]) -> Embedded {
        let mut envs: Vec<(&str, String)> = vec![
            ("CORRAL_ADMIN_PASSWORD", ADMIN_PASSWORD.to_string()),
            // fast polling keeps tests quick; production keeps the default
            ("CORRAL_QUEUE__POLL_INTERVAL_MS", "20".to_string()),
            ("CORRAL_QUEUE__HEARTBEAT_SECS", "2".to_string()),
        ];
        for (k, v) in extra_env {
            envs.push((k, v.to_string()));
        }
        let bind = format!("127.0.0.1:{port}");
        let data = data_dir.to_str().expect("utf-8 path").to_string();
        let mut process = Process::spawn(
            "corral-serve",
            &bin("corral"),
            &["serve", "--bind", &bind, "--data-dir", &data],
            &envs,
            &data_dir.join("logs"),
        );
        let base_url = format!("http://{bind}");
        let out = process
            .wait_for_output("DSN: ", Duration::from_secs(60))
            .await;
        process
            .wait_ready(&format!("{base_url}/readyz"), Duration::from_secs(60))
            .await;
        let dsn = line_after(&out, "DSN: ").expect("a DSN line");
        let token = line_after(&out, "API token: ");
        Embedded {
            process,
            data_dir: data_dir.to_path_buf(),
            port,
            base_url,
            dsn,
            token,
            extra_env: extra_env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// Runs `corral <args>` against this server's data directory.
    pub fn cli(&self, args: &[&str]) -> String {
        let mut all = vec!["--data-dir", self.data_dir.to_str().expect("utf-8")];
        all.extend_from_slice(args);
        run_cli(&all, &[])
    }
}

/// Runs the `corral` CLI and returns its stdout; panics with its output on failure.
pub fn run_cli(args: &[&str], envs: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(bin("corral"));
    cmd.args(args)
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    succeeded(args, &cmd.output().expect("running corral"))
}

/// The stdout of `corral <args>` that exited successfully; panics with its
/// output otherwise.
pub fn succeeded(args: &[&str], out: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "corral {args:?} failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The cluster shape: three processes on PostgreSQL and Redis.
pub struct Cluster {
    pub web: Process,
    pub worker: Process,
    pub beat: Process,
    pub base_url: String,
    pub dsn: String,
    pub token: String,
    pub env: Vec<(String, String)>,
    pub log_dir: PathBuf,
    pub worker_port: u16,
}

impl Cluster {
    /// Starts beat (which migrates), then web and worker, then creates a user,
    /// organization `acme`, project `backend` and a token with the CLI.
    pub async fn start(
        database_url: &str,
        redis_url: &str,
        queue: &str,
        log_dir: &Path,
        extra_env: &[(&str, &str)],
    ) -> Cluster {
        let mut env: Vec<(String, String)> = vec![
            ("DATABASE_URL".into(), database_url.into()),
            ("REDIS_URL".into(), redis_url.into()),
            ("CORRAL_QUEUE__NAME".into(), queue.into()),
            ("CORRAL_QUEUE__POLL_INTERVAL_MS".into(), "20".into()),
            ("CORRAL_QUEUE__HEARTBEAT_SECS".into(), "2".into()),
            (
                "CORRAL_ATTACHMENTS_DIR".into(),
                log_dir.join("attachments").display().to_string(),
            ),
        ];
        for (k, v) in extra_env {
            env.push((k.to_string(), v.to_string()));
        }
        let web_port = free_port();
        let base_url = format!("http://127.0.0.1:{web_port}");
        env.push(("CORRAL_BASE_URL".into(), base_url.clone()));
        let with_bind = |port: u16| {
            let mut e: Vec<(&str, String)> =
                env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
            e.push(("CORRAL_BIND", format!("127.0.0.1:{port}")));
            e
        };
        let beat_port = free_port();
        let mut beat = Process::spawn(
            "corral-beat",
            &bin("corral-beat"),
            &[],
            &with_bind(beat_port),
            log_dir,
        );
        beat.wait_ready(
            &format!("http://127.0.0.1:{beat_port}/readyz"),
            Duration::from_secs(60),
        )
        .await;
        let mut web = Process::spawn(
            "corral-web",
            &bin("corral-web"),
            &[],
            &with_bind(web_port),
            log_dir,
        );
        let worker_port = free_port();
        let mut worker = Process::spawn(
            "corral-worker",
            &bin("corral-worker"),
            &[],
            &with_bind(worker_port),
            log_dir,
        );
        web.wait_ready(&format!("{base_url}/readyz"), Duration::from_secs(60))
            .await;
        worker
            .wait_ready(
                &format!("http://127.0.0.1:{worker_port}/readyz"),
                Duration::from_secs(60),
            )
            .await;

        let cli_env: Vec<(&str, &str)> =
            env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        run_cli(
            &[
                "user",
                "create",
                "--email",
                "owner@acme.test",
                "--password",
                ADMIN_PASSWORD,
            ],
            &cli_env,
        );
        run_cli(
            &["org", "create", "acme", "--owner", "owner@acme.test"],
            &cli_env,
        );
        let created = run_cli(
            &[
                "--json",
                "project",
                "create",
                "--org",
                "acme",
                "backend",
                "--platform",
                "python",
            ],
            &cli_env,
        );
        let created: Value = serde_json::from_str(created.trim()).expect("project JSON");
        let dsn = created["dsn"].as_str().expect("a dsn").to_string();
        let token = run_cli(&["token", "create", "--email", "owner@acme.test"], &cli_env)
            .trim()
            .to_string();
        Cluster {
            web,
            worker,
            beat,
            base_url,
            dsn,
            token,
            env,
            log_dir: log_dir.to_path_buf(),
            worker_port,
        }
    }

    /// Starts a new worker process (after the old one was killed).
    pub async fn restart_worker(&mut self) {
        let mut e: Vec<(&str, String)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        let port = free_port();
        e.push(("CORRAL_BIND", format!("127.0.0.1:{port}")));
        self.worker = Process::spawn(
            "corral-worker",
            &bin("corral-worker"),
            &[],
            &e,
            &self.log_dir,
        );
        self.worker_port = port;
        self.worker
            .wait_ready(
                &format!("http://127.0.0.1:{port}/readyz"),
                Duration::from_secs(60),
            )
            .await;
    }

    /// The env to run the CLI against this cluster.
    pub fn cli(&self, args: &[&str]) -> String {
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        run_cli(args, &env)
    }
}

/// A small client of the REST API.
#[derive(Clone)]
pub struct Api {
    pub base_url: String,
    pub token: String,
    client: reqwest::Client,
}

impl Api {
    pub fn new(base_url: &str, token: &str) -> Api {
        Api {
            base_url: base_url.trim_end_matches('/').to_string(),
            token: token.to_string(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("http client"),
        }
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .get(format!("{}{path}", self.base_url))
            .bearer_auth(&self.token)
            .send()
            .await
            .expect("API request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .client
            .put(format!("{}{path}", self.base_url))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .expect("API request");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// The issues matching `query` (every status with `query = ""`).
    pub async fn issues(&self, org: &str, project: &str, query: &str) -> Vec<Value> {
        let q: String = query
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let (status, body) = self
            .get(&format!(
                "/api/0/projects/{org}/{project}/issues/?limit=100&query={q}"
            ))
            .await;
        assert_eq!(status, 200, "{body}");
        body.as_array().cloned().unwrap_or_default()
    }

    /// Polls the issue list until `done` holds, or fails with the last list.
    pub async fn wait_for_issues(
        &self,
        org: &str,
        project: &str,
        timeout: Duration,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let issues = self.issues(org, project, "").await;
            if done(&issues) {
                return issues;
            }
            if Instant::now() > deadline {
                panic!("issues did not reach the expected state in {timeout:?}: {issues:#?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// `count` of an issue as a number (Sentry sends it as a string).
pub fn count_of(issue: &Value) -> i64 {
    issue["count"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| issue["count"].as_i64())
        .unwrap_or(-1)
}
