//! A scripted Kubernetes API server on `tower_test`: the test says which
//! request comes next (method, exact URI, body) and what to answer. An
//! unexpected request fails the assertion; a missing one the timeout.

use std::time::Duration;

use http::{Request, Response};
use http_body_util::BodyExt;
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};
use tower_test::mock::{Handle, SendResponse};

/// Long enough for a debug build on a busy machine; a missing call still fails.
pub const TIMEOUT: Duration = Duration::from_secs(10);

pub struct ApiServer {
    handle: Handle<Request<Body>, Response<Body>>,
}

pub fn pair() -> (Client, ApiServer) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    (Client::new(service, "default"), ApiServer { handle })
}

/// One request the client made, waiting for its answer.
pub struct Call {
    pub method: String,
    pub uri: String,
    pub content_type: Option<String>,
    pub body: Value,
    send: SendResponse<Response<Body>>,
}

impl ApiServer {
    pub async fn next(&mut self) -> Call {
        let (request, send) = tokio::time::timeout(TIMEOUT, self.handle.next_request())
            .await
            .expect("timed out waiting for the next API call")
            .expect("the client is gone: an expected API call never came");
        Call::of(request, send).await
    }

    /// The next call, or `None` once the client is gone or when none came
    /// for `idle` (for scripts that answer whatever the client asks).
    pub async fn next_within(&mut self, idle: Duration) -> Option<Call> {
        let (request, send) = tokio::time::timeout(idle, self.handle.next_request())
            .await
            .ok()??;
        Some(Call::of(request, send).await)
    }

    /// The next call must be `method uri`.
    pub async fn expect(&mut self, method: &str, uri: &str) -> Call {
        let call = self.next().await;
        assert_eq!(
            (call.method.as_str(), call.uri.as_str()),
            (method, uri),
            "unexpected API call (body: {})",
            call.body
        );
        call
    }

    /// The next call must be a server-side apply by `corral-operator` (with
    /// force) to `path`.
    pub async fn expect_apply(&mut self, path: &str) -> Call {
        let uri = format!("{path}?&force=true&fieldManager=corral-operator");
        let call = self.expect("PATCH", &uri).await;
        assert_eq!(
            call.content_type.as_deref(),
            Some("application/apply-patch+yaml"),
            "{path}"
        );
        call
    }

    /// The last call of a failed reconcile: a Warning event with `reason`,
    /// and nothing after it.
    pub async fn expect_warning_and_no_more(mut self, namespace: &str, reason: &str) {
        let (type_, got, _) = self.expect_event(namespace).await;
        assert_eq!((type_.as_str(), got.as_str()), ("Warning", reason));
        self.expect_no_more().await;
    }

    /// The next call must publish an event; returns (type, reason, note).
    pub async fn expect_event(&mut self, namespace: &str) -> (String, String, String) {
        let call = self
            .expect(
                "POST",
                &format!("/apis/events.k8s.io/v1/namespaces/{namespace}/events?"),
            )
            .await;
        let event = call.body.clone();
        let regarding = &event["regarding"];
        assert_eq!(regarding["kind"], "TrackerInstance");
        assert_eq!(event["reportingController"], "corral-operator");
        let out = (
            event["type"].as_str().unwrap().to_string(),
            event["reason"].as_str().unwrap().to_string(),
            event["note"].as_str().unwrap_or_default().to_string(),
        );
        call.reply(201, &event);
        out
    }

    /// No further call: the client side must be dropped first.
    pub async fn expect_no_more(mut self) {
        let next = tokio::time::timeout(TIMEOUT, self.handle.next_request())
            .await
            .expect("the client was not dropped");
        if let Some((request, _)) = next {
            panic!(
                "unexpected extra API call: {} {}",
                request.method(),
                request.uri()
            );
        }
    }
}

impl Call {
    async fn of(request: Request<Body>, send: SendResponse<Response<Body>>) -> Call {
        let method = request.method().to_string();
        let uri = request.uri().to_string();
        let content_type = request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string());
        let bytes = request.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).expect("request bodies are JSON")
        };
        Call {
            method,
            uri,
            content_type,
            body,
            send,
        }
    }

    pub fn reply(self, status: u16, body: &Value) {
        let response = Response::builder()
            .status(status)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Body::from(serde_json::to_vec(body).unwrap()))
            .unwrap();
        self.send.send_response(response);
    }

    /// Answers with the applied object as the server would store it.
    pub fn echo(self) -> Value {
        let mut object = self.body.clone();
        let metadata = object["metadata"].as_object_mut().expect("metadata");
        metadata.insert("uid".into(), json!("00000000-0000-0000-0000-000000000001"));
        metadata.insert("resourceVersion".into(), json!("1"));
        metadata.insert("generation".into(), json!(1));
        self.reply(200, &object);
        object
    }

    /// Answers with the applied object and `status` added.
    pub fn echo_with_status(self, status: Value) -> Value {
        let mut object = self.body.clone();
        let metadata = object["metadata"].as_object_mut().expect("metadata");
        metadata.insert("uid".into(), json!("00000000-0000-0000-0000-000000000001"));
        metadata.insert("resourceVersion".into(), json!("1"));
        metadata.insert("generation".into(), json!(1));
        object["status"] = status;
        self.reply(200, &object);
        object
    }

    pub fn not_found(self) {
        let status = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": "not found", "reason": "NotFound", "code": 404,
        });
        self.reply(404, &status);
    }

    pub fn server_error(self, message: &str) {
        let status = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": message, "reason": "InternalError", "code": 500,
        });
        self.reply(500, &status);
    }

    pub fn conflict(self) {
        let status = json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": "the object has been modified", "reason": "Conflict", "code": 409,
        });
        self.reply(409, &status);
    }
}
