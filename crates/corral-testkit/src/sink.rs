//! A local HTTP server that records every request it receives and answers
//! as told: the receiving end of webhooks, chat and PagerDuty in tests.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;

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

    /// Waits until `count` requests arrived; fails after 20 seconds.
    pub async fn wait_for(&self, count: usize) -> Vec<Seen> {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let seen = self.seen();
            if seen.len() >= count {
                return seen;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the sink got {} requests, not {count}: {seen:?}",
                seen.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
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
