//! The `corral-operator` binary against a small fake API server: it becomes
//! the leader, starts its watches, reports on /readyz and /metrics, and on
//! SIGTERM releases the Lease and exits cleanly.

use std::net::TcpListener as StdListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};

#[derive(Default)]
struct Fake {
    lease: Option<Value>,
    calls: Vec<(String, String, Value)>,
}

type Shared = Arc<Mutex<Fake>>;

async fn api(State(fake): State<Shared>, method: Method, uri: Uri, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = uri.to_string();
    fake.lock()
        .unwrap()
        .calls
        .push((method.to_string(), path.clone(), body.clone()));
    if path.starts_with("/version") {
        return axum::Json(json!({
            "major": "1", "minor": "33", "gitVersion": "v1.33.0", "gitCommit": "", "gitTreeState": "",
            "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24", "compiler": "gc", "platform": "linux/amd64",
        }))
        .into_response();
    }
    if path.contains("/leases") {
        let mut fake = fake.lock().unwrap();
        if method == Method::GET {
            return match &fake.lease {
                Some(lease) => axum::Json(lease.clone()).into_response(),
                None => (
                    StatusCode::NOT_FOUND,
                    axum::Json(json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
                        "status": "Failure", "reason": "NotFound", "code": 404})),
                )
                    .into_response(),
            };
        }
        let mut lease = body;
        let version = fake.calls.len().to_string();
        lease["metadata"]["resourceVersion"] = json!(version);
        fake.lease = Some(lease.clone());
        return axum::Json(lease).into_response();
    }
    if path.contains("watch=true") {
        // an empty watch that ends; the watcher reconnects with backoff
        tokio::time::sleep(Duration::from_millis(500)).await;
        return StatusCode::OK.into_response();
    }
    axum::Json(json!({"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": []}))
        .into_response()
}

fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Operator(Child);

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The body of `GET path` on the operator's port (HTTP/1.0 keeps it simple).
async fn get(port: u16, path: &str) -> Option<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
}

#[tokio::test]
async fn the_binary_leads_and_releases_the_lease_on_sigterm() {
    let fake: Shared = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api_address = listener.local_addr().unwrap();
    let app = Router::new().fallback(api).with_state(fake.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\n\
             clusters: [{{name: fake, cluster: {{server: \"http://{api_address}\"}}}}]\n\
             users: [{{name: test, user: {{token: test}}}}]\n\
             contexts: [{{name: test, context: {{cluster: fake, user: test, namespace: default}}}}]\n\
             current-context: test\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let operator = Operator(
        Command::new(env!("CARGO_BIN_EXE_corral-operator"))
            .env_clear()
            .env("KUBECONFIG", &kubeconfig)
            .env("POD_NAME", "corral-operator-0")
            .env("POD_NAMESPACE", "corral-system")
            .env("WATCH_NAMESPACE", "")
            .env("CORRAL_BIND", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );

    let started = Instant::now();
    loop {
        if let Some(body) = get(port, "/readyz").await
            && body.contains("\"leader\":true")
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never became the leader"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let metrics = get(port, "/metrics").await.unwrap();
    assert!(metrics.contains("corral_operator_leader 1"), "{metrics}");

    // the controller watches instances, children (by label) and Secrets
    let deadline = Instant::now() + Duration::from_secs(20);
    let wanted = [
        "/apis/corral.dev/v1alpha1/trackerinstances?",
        "/apis/apps/v1/deployments?",
        "/api/v1/secrets?",
        "labelSelector=app.kubernetes.io%2Fmanaged-by%3Dcorral-operator",
    ];
    loop {
        let calls = fake.lock().unwrap().calls.clone();
        if wanted
            .iter()
            .all(|w| calls.iter().any(|(_, path, _)| path.contains(w)))
        {
            break;
        }
        assert!(Instant::now() < deadline, "watches not started: {calls:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let lease = fake.lock().unwrap().lease.clone().unwrap();
    assert_eq!(lease["spec"]["holderIdentity"], "corral-operator-0");

    let mut operator = operator;
    kill(Pid::from_raw(operator.0.id() as i32), Signal::SIGTERM).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = operator.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "did not exit after SIGTERM");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "exit status {status}");
    let lease = fake.lock().unwrap().lease.clone().unwrap();
    assert!(
        lease["spec"].get("holderIdentity").is_none(),
        "the lease was not released: {lease}"
    );
    assert_eq!(lease["spec"]["leaseDurationSeconds"], 1);
}
