//! Rate limits on ingest, on both shapes: counters in memory (embedded)
//! and in Redis (cluster). Over a quota the answer is 429 with the headers
//! SDKs back off by, nothing is queued, and the drop is counted.

use corral_core::model::RateLimit;
use serde_json::json;
use uuid::Uuid;

use crate::common::{Envelope, Reply, Shape, TestApp, event, event_envelope, fresh_quota_window};

/// A 429 with `Retry-After` within the window and the matching
/// `X-Sentry-Rate-Limits` for `scope`.
fn assert_rate_limited(reply: &Reply, scope: &str, window_secs: u64) {
    reply.assert_refused(429, &format!("rate limited ({scope} quota)"));
    let retry_after: u64 = reply
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("Retry-After in seconds: {:?}", reply.headers));
    assert!(
        (1..=window_secs).contains(&retry_after),
        "Retry-After {retry_after} within a {window_secs} s window"
    );
    assert_eq!(
        reply.header("x-sentry-rate-limits"),
        Some(format!("{retry_after}:error;default;transaction;security:{scope}").as_str())
    );
}

/// Sends a fresh event; returns its id and the answer.
async fn send_one(app: &TestApp, public_key: &str) -> (Uuid, Reply) {
    let (id, ev) = event("counted");
    let reply = app
        .post_envelope_as(public_key, app.project().id, event_envelope(&ev))
        .await;
    (id, reply)
}

async fn assert_not_stored(app: &TestApp, refused: &[Uuid]) {
    app.drain().await;
    for id in refused {
        assert!(
            app.store.event_by_id(app.project().id, *id).await.is_err(),
            "refused event {id} was stored"
        );
    }
}

async fn a_key_limit_per_minute_refuses_with_429(shape: Shape) {
    let app = TestApp::start(shape).await;
    fresh_quota_window(60).await;
    // set before the key's first use: web processes cache keys for a while
    app.store
        .set_key_rate_limit(
            app.fixtures().key.id,
            RateLimit {
                per_minute: Some(2),
                per_hour: None,
            },
        )
        .await
        .unwrap();
    for _ in 0..2 {
        send_one(&app, app.key()).await.1.accepted_id();
    }
    let (refused, reply) = send_one(&app, app.key()).await;
    assert_rate_limited(&reply, "key", 60);
    assert_not_stored(&app, &[refused]).await;
}

async fn a_key_created_with_a_limit_is_limited(shape: Shape) {
    let app = TestApp::start(shape).await;
    fresh_quota_window(3600).await;
    let limited = app
        .store
        .create_project_key(
            app.project().id,
            "CI",
            RateLimit {
                per_minute: None,
                per_hour: Some(2),
            },
        )
        .await
        .unwrap();
    for _ in 0..2 {
        send_one(&app, &limited.public_key).await.1.accepted_id();
    }
    let (refused, reply) = send_one(&app, &limited.public_key).await;
    assert_rate_limited(&reply, "key", 3600);
    // the project's other key has its own counter
    send_one(&app, app.key()).await.1.accepted_id();
    assert_not_stored(&app, &[refused]).await;
}

async fn a_project_limit_refuses_every_key(shape: Shape) {
    let app = TestApp::start(shape).await;
    fresh_quota_window(3600).await;
    app.store
        .set_project_rate_limit(
            app.project().id,
            RateLimit {
                per_minute: None,
                per_hour: Some(3),
            },
        )
        .await
        .unwrap();
    let second = app
        .store
        .create_project_key(app.project().id, "Second", RateLimit::default())
        .await
        .unwrap();
    send_one(&app, app.key()).await.1.accepted_id();
    send_one(&app, &second.public_key).await.1.accepted_id();
    send_one(&app, app.key()).await.1.accepted_id();
    let (a, reply) = send_one(&app, &second.public_key).await;
    assert_rate_limited(&reply, "project", 3600);
    let (b, reply) = send_one(&app, app.key()).await;
    assert_rate_limited(&reply, "project", 3600);
    assert_not_stored(&app, &[a, b]).await;
}

async fn configured_defaults_apply(shape: Shape) {
    let app = TestApp::builder(shape)
        .toml("[quotas]\nproject_events_per_hour = 2")
        .start()
        .await;
    fresh_quota_window(3600).await;
    for _ in 0..2 {
        send_one(&app, app.key()).await.1.accepted_id();
    }
    let (refused, reply) = send_one(&app, app.key()).await;
    assert_rate_limited(&reply, "project", 3600);
    assert_not_stored(&app, &[refused]).await;
}

async fn a_refused_request_moves_no_counter(shape: Shape) {
    let app = TestApp::start(shape).await;
    fresh_quota_window(3600).await;
    app.store
        .set_key_rate_limit(
            app.fixtures().key.id,
            RateLimit {
                per_minute: None,
                per_hour: Some(5),
            },
        )
        .await
        .unwrap();
    app.store
        .set_project_rate_limit(
            app.project().id,
            RateLimit {
                per_minute: None,
                per_hour: Some(3),
            },
        )
        .await
        .unwrap();
    for _ in 0..3 {
        send_one(&app, app.key()).await.1.accepted_id();
    }
    // four refusals by the project's limit …
    for _ in 0..4 {
        assert_rate_limited(&send_one(&app, app.key()).await.1, "project", 3600);
    }
    // … then the project's limit goes away: the key has used 3 of its 5,
    // not 7 (which it would have, had the refusals counted)
    app.store
        .set_project_rate_limit(app.project().id, RateLimit::default())
        .await
        .unwrap();
    app.state.forget_keys();
    for _ in 0..2 {
        send_one(&app, app.key()).await.1.accepted_id();
    }
    assert_rate_limited(&send_one(&app, app.key()).await.1, "key", 3600);
}

async fn envelopes_of_sessions_only_are_not_counted(shape: Shape) {
    let app = TestApp::builder(shape)
        .toml("[quotas]\nkey_events_per_hour = 1")
        .start()
        .await;
    fresh_quota_window(3600).await;
    let session = json!({"sid": "7d7c1c2a3f2b4f4e9a0e2d3b4c5d6e7f", "status": "exited",
                         "attrs": {"release": "2.0"}})
    .to_string();
    for _ in 0..3 {
        let body = Envelope::new(json!({}))
            .item(json!({"type": "session"}), session.as_bytes())
            .item(
                json!({"type": "client_report"}),
                br#"{"discarded_events": []}"#,
            )
            .build();
        app.post_envelope(body).await.assert_accepted();
    }
    send_one(&app, app.key()).await.1.accepted_id();
    assert_rate_limited(&send_one(&app, app.key()).await.1, "key", 3600);
    // and sessions still pass once the events' quota is spent
    let body = Envelope::new(json!({}))
        .item(json!({"type": "session"}), session.as_bytes())
        .build();
    app.post_envelope(body).await.assert_accepted();
    app.drain().await;
    let totals = app.store.session_totals(app.project().id).await.unwrap();
    assert_eq!(totals.iter().map(|t| t.exited).sum::<i64>(), 4);
}

both_shapes!(
    a_key_limit_per_minute_refuses_with_429,
    a_key_created_with_a_limit_is_limited,
    a_project_limit_refuses_every_key,
    configured_defaults_apply,
    a_refused_request_moves_no_counter,
    envelopes_of_sessions_only_are_not_counted,
);
