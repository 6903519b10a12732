//! A real browser for the tests: headless Chromium (Debian's `chromium` and
//! `chromium-driver`, which `cargo xtask test` requires) driven over
//! WebDriver, and [`Site`], a small web site of fixed files on a port of its
//! own, for pages that must come from another origin than Corral.

use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{OriginalUri, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use fantoccini::{Client, ClientBuilder};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::json;

/// How long chromedriver may take to answer its first status request.
const DRIVER_START: Duration = Duration::from_secs(20);
/// How long Chromium may take to start (a loaded two-core machine is slow).
const BROWSER_START: Duration = Duration::from_secs(60);

/// A `chromedriver` in a process group of its own, so that the browsers it
/// starts are killed with it even when a test fails halfway.
pub struct Chromedriver {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Chromedriver {
    /// Starts chromedriver, logging into `log_dir`, and waits until it answers.
    pub async fn start(log_dir: &Path) -> Chromedriver {
        std::fs::create_dir_all(log_dir).expect("a log directory");
        let port = crate::free_port();
        let log = log_dir.join("chromedriver.log");
        let child = Command::new(which("chromedriver"))
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("starting chromedriver");
        let mut driver = Chromedriver { child, port, log };
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("an HTTP client");
        let deadline = Instant::now() + DRIVER_START;
        loop {
            if let Ok(Some(status)) = driver.child.try_wait() {
                panic!("chromedriver exited ({status})\n{}", driver.log_tail());
            }
            let status = client
                .get(format!("http://127.0.0.1:{port}/status"))
                .send()
                .await;
            if status.is_ok_and(|r| r.status().is_success()) {
                return driver;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver is not ready after {DRIVER_START:?}\n{}",
                driver.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The last lines of chromedriver's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// A new headless browser with a profile of its own under `profile`.
    pub async fn browser(&self, profile: &Path) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": which("chromium"),
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    format!("--user-data-dir={}", profile.display()),
                    "--window-size=1280,900",
                ],
            }),
        );
        // no command may hang the test: page loads and scripts are bounded
        caps.insert(
            "timeouts".into(),
            json!({"pageLoad": 30_000, "script": 10_000, "implicit": 0}),
        );
        let mut builder =
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        builder.capabilities(caps);
        let webdriver = format!("http://127.0.0.1:{}", self.port);
        let connecting = builder.connect(&webdriver);
        tokio::time::timeout(BROWSER_START, connecting)
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "Chromium did not start in {BROWSER_START:?}\n{}",
                    self.log_tail()
                )
            })
            .unwrap_or_else(|e| panic!("starting Chromium: {e}\n{}", self.log_tail()))
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        // the whole group: chromedriver and every browser process it started
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

fn which(program: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("{program} not found: apt-get install -y chromium chromium-driver")
    })
}

/// One file of a [`Site`].
pub struct Page {
    /// The URL path, e.g. `/index.html`.
    pub path: String,
    pub content_type: &'static str,
    pub body: String,
}

impl Page {
    pub fn html(path: &str, body: impl Into<String>) -> Page {
        Page {
            path: path.to_string(),
            content_type: "text/html; charset=utf-8",
            body: body.into(),
        }
    }

    pub fn script(path: &str, body: impl Into<String>) -> Page {
        Page {
            path: path.to_string(),
            content_type: "text/javascript; charset=utf-8",
            body: body.into(),
        }
    }
}

/// Fixed files served over HTTP on 127.0.0.1 and a port of their own (so a
/// page from here is cross-origin to Corral); stops when dropped.
pub struct Site {
    /// `http://127.0.0.1:<port>`, without a final slash.
    pub base_url: String,
    task: tokio::task::JoinHandle<()>,
}

type Files = Arc<HashMap<String, (&'static str, String)>>;

impl Site {
    pub async fn serve(pages: Vec<Page>) -> Site {
        let files: Files = Arc::new(
            pages
                .into_iter()
                .map(|p| (p.path, (p.content_type, p.body)))
                .collect(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port for the site");
        let port = listener.local_addr().expect("the site's address").port();
        let app = Router::new().fallback(file).with_state(files);
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serving the site");
        });
        Site {
            base_url: format!("http://127.0.0.1:{port}"),
            task,
        }
    }
}

async fn file(State(files): State<Files>, OriginalUri(uri): OriginalUri) -> Response {
    match files.get(uri.path()) {
        Some((content_type, body)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "no-store"),
            ],
            body.clone(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        self.task.abort();
    }
}
