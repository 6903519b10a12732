//! Probes and metrics: `/healthz`, `/readyz` (database, schema, queue) and
//! `/metrics` (with ingest's drops counted by reason).

use serde_json::json;
use uuid::Uuid;

use crate::common::{
    Reply, Shape, TestApp, event, event_envelope, fresh_quota_window, metric, send,
};

/// Sends a fresh event with `public_key`.
async fn send_one(app: &TestApp, public_key: &str) -> (Uuid, Reply) {
    let (id, ev) = event("counted");
    let reply = app
        .post_envelope_as(public_key, app.project().id, event_envelope(&ev))
        .await;
    (id, reply)
}

async fn healthz_answers_while_the_process_lives(shape: Shape) {
    let app = TestApp::builder(shape).unmigrated().start().await;
    let reply = send(app.client.get(app.url("/healthz"))).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["status"], "ok");
}

async fn readyz_is_ready_on_a_migrated_store(shape: Shape) {
    let app = TestApp::start(shape).await;
    let reply = send(app.client.get(app.url("/readyz"))).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["status"], "ready");
}

async fn readyz_is_not_ready_until_migrated(shape: Shape) {
    let app = TestApp::builder(shape).unmigrated().start().await;
    let reply = send(app.client.get(app.url("/readyz"))).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    let body = reply.json();
    assert_eq!(body["status"], "not ready");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("schema is not current"),
        "the reason is given: {detail:?}"
    );
    // beat migrates; the same process becomes ready without a restart
    app.store.migrate().await.unwrap();
    let reply = send(app.client.get(app.url("/readyz"))).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

both_shapes!(
    readyz_is_ready_on_a_migrated_store,
    readyz_is_not_ready_until_migrated,
);

/// Drops counted by reason. The recorder is process-wide: under `cargo
/// test` the two shapes share a process, so they take turns.
async fn dropped_events_are_counted_by_reason(shape: Shape) {
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = ONE_AT_A_TIME.lock().await;
    let app = TestApp::builder(shape)
        .toml("[quotas]\nkey_events_per_hour = 1\n[ingest]\nmax_event_bytes = 2048")
        .with_metrics()
        .start()
        .await;
    fresh_quota_window(3600).await;
    let metrics = async || {
        let reply = send(app.client.get(app.url("/metrics"))).await;
        assert_eq!(reply.status, 200);
        reply.body
    };
    let series = |reason: &str| format!("corral_ingest_dropped_total{{reason=\"{reason}\"}}");
    let before = metrics().await;

    send_one(&app, app.key()).await.1.accepted_id();
    for _ in 0..3 {
        send_one(&app, app.key())
            .await
            .1
            .assert_refused(429, "rate limited (key quota)");
    }
    let (_, mut big) = event("");
    big["message"] = json!("b".repeat(4000));
    app.post_envelope(event_envelope(&big))
        .await
        .assert_refused(413, "larger than the limit");
    send_one(&app, &Uuid::new_v4().simple().to_string())
        .await
        .1
        .assert_refused(401, "unknown public key");

    let after = metrics().await;
    let delta = |reason: &str| metric(&after, &series(reason)) - metric(&before, &series(reason));
    assert_eq!(delta("quota"), 3.0, "{after}");
    assert_eq!(delta("size"), 1.0, "{after}");
    assert_eq!(delta("auth"), 1.0, "{after}");
    assert!(
        metric(&after, "corral_ingest_accepted_total")
            - metric(&before, "corral_ingest_accepted_total")
            >= 1.0,
        "{after}"
    );
}

both_shapes!(dropped_events_are_counted_by_reason);

async fn metrics_are_served_in_prometheus_text(shape: Shape) {
    let app = TestApp::builder(shape).with_metrics().start().await;
    let (id, ev) = event("measured");
    assert_eq!(app.send_event(&ev).await, id);
    let reply = send(app.client.get(app.url("/metrics"))).await;
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/plain")),
        "{:?}",
        reply.headers
    );
    assert!(
        metric(&reply.body, "corral_ingest_accepted_total") >= 1.0,
        "{}",
        reply.body
    );
}

async fn metrics_can_be_disabled(shape: Shape) {
    let app = TestApp::start(shape).await;
    let reply = send(app.client.get(app.url("/metrics"))).await;
    assert_eq!(reply.status, 404);
}

embedded_only!(
    healthz_answers_while_the_process_lives,
    metrics_are_served_in_prometheus_text,
    metrics_can_be_disabled,
);
