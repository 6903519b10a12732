//! The operator's health and metrics endpoints.

use axum::body::Body;
use corral_operator::{Health, metrics_handle, router};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

async fn get(app: axum::Router, path: &str) -> (StatusCode, String) {
    let response = app
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let health = Health::default();
    let app = router(health.clone(), metrics_handle());

    assert_eq!(
        get(app.clone(), "/healthz").await,
        (StatusCode::OK, "ok".to_string())
    );
    let (status, body) = get(app.clone(), "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("\"ready\":false"), "{body}");

    health.set_ready(true);
    let (status, body) = get(app.clone(), "/readyz").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("\"leader\":false"), "{body}");
    health.set_leader(true);
    let (_, body) = get(app.clone(), "/readyz").await;
    assert!(body.contains("\"leader\":true"), "{body}");

    metrics::counter!("corral_operator_test_probe_total").increment(3);
    let (status, body) = get(app, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("corral_operator_test_probe_total 3"),
        "{body}"
    );
}
