//! The ingest endpoints against real stores and queues: every way an SDK
//! authenticates, every endpoint and item type, and what the digest made
//! of it.

use std::io::Write;

use corral_core::model::{EventType, RateLimit};
use serde_json::json;
use uuid::Uuid;

use crate::common::{
    self, Envelope, Reply, Shape, TestApp, event, event_envelope, fixture, fixture_envelope, send,
    sentry_auth,
};

// --- authentication ---------------------------------------------------------

/// Posts `body` to the project's envelope endpoint with the given headers
/// and query, and nothing else.
async fn post_with(app: &TestApp, query: &str, headers: &[(&str, String)], body: Vec<u8>) -> Reply {
    let mut request = app
        .client
        .post(app.url(&format!("{}{query}", app.envelope_path())))
        .body(body);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    send(request).await
}

/// An accepted request whose event the digest stored in the project.
async fn assert_event_stored(app: &TestApp, reply: Reply, id: Uuid) {
    assert_eq!(reply.accepted_id(), id);
    let stored = app.wait_for_event(id).await;
    assert_eq!(stored.project_id, app.project().id);
}

async fn auth_x_sentry_auth_with_prefix(shape: Shape) {
    let app = TestApp::start(shape).await;
    let (id, ev) = event("x-sentry-auth");
    let reply = post_with(
        &app,
        "",
        &[("x-sentry-auth", sentry_auth(app.key()))],
        event_envelope(&ev),
    )
    .await;
    assert_event_stored(&app, reply, id).await;
}

async fn auth_x_sentry_auth_without_prefix(shape: Shape) {
    let app = TestApp::start(shape).await;
    let (id, ev) = event("bare x-sentry-auth");
    let header = format!("sentry_key={}, sentry_version=7", app.key());
    let reply = post_with(&app, "", &[("x-sentry-auth", header)], event_envelope(&ev)).await;
    assert_event_stored(&app, reply, id).await;
}

async fn auth_authorization_header(shape: Shape) {
    let app = TestApp::start(shape).await;
    let (id, ev) = event("authorization");
    let reply = post_with(
        &app,
        "",
        &[("authorization", sentry_auth(app.key()))],
        event_envelope(&ev),
    )
    .await;
    assert_event_stored(&app, reply, id).await;
}

async fn auth_query_string(shape: Shape) {
    let app = TestApp::start(shape).await;
    let (id, ev) = event("query");
    // what browser SDKs do to avoid a preflight
    let reply = post_with(
        &app,
        &format!("?sentry_key={}&sentry_version=7", app.key()),
        &[("content-type", "text/plain;charset=UTF-8".into())],
        event_envelope(&ev),
    )
    .await;
    assert_event_stored(&app, reply, id).await;
}

async fn auth_envelope_dsn_only(shape: Shape) {
    let app = TestApp::start(shape).await;
    let (id, ev) = event("dsn header");
    let body = Envelope::new(json!({"dsn": app.dsn(), "event_id": id.simple().to_string()}))
        .event(&ev)
        .build();
    let reply = post_with(&app, "", &[], body).await;
    assert_event_stored(&app, reply, id).await;
}

async fn auth_sources_that_disagree_are_refused(shape: Shape) {
    let app = TestApp::start(shape).await;
    let (_, other_key) = app
        .create_project(Some(app.project().org_id), "other")
        .await;
    let (_, ev) = event("two keys");
    let reply = post_with(
        &app,
        &format!("?sentry_key={}", other_key.public_key),
        &[("x-sentry-auth", sentry_auth(app.key()))],
        event_envelope(&ev),
    )
    .await;
    reply.assert_refused(401, "conflicting authentication");
    // a dsn header naming another key than the header is refused the same way
    let body = Envelope::new(json!({"dsn": app.dsn_for(&other_key.public_key, app.project().id)}))
        .event(&ev)
        .build();
    let reply = post_with(&app, "", &[("x-sentry-auth", sentry_auth(app.key()))], body).await;
    reply.assert_refused(401, "conflicting authentication");
    app.assert_still_serving().await;
}

async fn auth_missing_is_refused(shape: Shape) {
    let app = TestApp::start(shape).await;
    let (_, ev) = event("anonymous");
    let reply = post_with(&app, "", &[], event_envelope(&ev)).await;
    reply.assert_refused(401, "missing authentication");
    app.assert_still_serving().await;
}

async fn auth_unknown_key_is_refused(shape: Shape) {
    let app = TestApp::start(shape).await;
    let (_, ev) = event("stranger");
    let unknown = Uuid::new_v4().simple().to_string();
    let reply = post_with(
        &app,
        "",
        &[("x-sentry-auth", sentry_auth(&unknown))],
        event_envelope(&ev),
    )
    .await;
    reply.assert_refused(401, "unknown public key");
    app.assert_still_serving().await;
}

async fn auth_disabled_key_is_forbidden(shape: Shape) {
    let app = TestApp::start(shape).await;
    // disabled before its first use: keys are cached for a while per process
    let key = app
        .store
        .create_project_key(app.project().id, "Revoked", RateLimit::default())
        .await
        .unwrap();
    app.store.set_key_active(key.id, false).await.unwrap();
    let (_, ev) = event("revoked");
    let reply = app
        .post_envelope_as(&key.public_key, app.project().id, event_envelope(&ev))
        .await;
    reply.assert_refused(403, "disabled");
    app.assert_still_serving().await;
}

async fn auth_key_of_another_project_is_forbidden(shape: Shape) {
    let app = TestApp::start(shape).await;
    let (other, _) = app
        .create_project(Some(app.project().org_id), "frontend")
        .await;
    let (_, ev) = event("wrong project");
    // our key, posted to the other project's endpoint
    let reply = app
        .post_envelope_as(app.key(), other.id, event_envelope(&ev))
        .await;
    reply.assert_refused(403, &format!("project {}", other.id));
    assert!(app.issues_of(other.id).await.is_empty());
    app.assert_still_serving().await;
}

both_shapes!(
    auth_x_sentry_auth_with_prefix,
    auth_x_sentry_auth_without_prefix,
    auth_authorization_header,
    auth_query_string,
    auth_envelope_dsn_only,
    auth_sources_that_disagree_are_refused,
    auth_missing_is_refused,
    auth_unknown_key_is_refused,
    auth_disabled_key_is_forbidden,
    auth_key_of_another_project_is_forbidden,
);

// --- endpoints ---------------------------------------------------------------

async fn store_endpoint_takes_a_json_event(shape: Shape) {
    let app = TestApp::start(shape).await;
    let (id, ev) = event("legacy store");
    let reply = send(
        app.client
            .post(app.url(&format!("/api/{}/store/", app.project().id)))
            .header("x-sentry-auth", sentry_auth(app.key()))
            .header("content-type", "application/json")
            .json(&ev),
    )
    .await;
    assert_eq!(reply.accepted_id(), id);
    let stored = app.wait_for_event(id).await;
    assert_eq!(stored.title, "legacy store");
}

async fn store_endpoint_takes_base64_zlib_bodies(shape: Shape) {
    use base64::Engine;
    let app = TestApp::start(shape).await;
    let (id, ev) = event("very old sdk");
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(&serde_json::to_vec(&ev).unwrap()).unwrap();
    let body = base64::engine::general_purpose::STANDARD.encode(z.finish().unwrap());
    let reply = send(
        app.client
            .post(app.url(&format!("/api/{}/store/", app.project().id)))
            .header("x-sentry-auth", sentry_auth(app.key()))
            .header("content-type", "application/octet-stream")
            .body(body),
    )
    .await;
    assert_eq!(reply.accepted_id(), id);
    assert_eq!(app.wait_for_event(id).await.title, "very old sdk");
}

async fn security_endpoint_takes_a_csp_report(shape: Shape) {
    let app = TestApp::start(shape).await;
    let reply = send(
        app.client
            .post(app.url(&format!(
                "/api/{}/security/?sentry_key={}",
                app.project().id,
                app.key()
            )))
            .header("content-type", "application/csp-report")
            .body(fixture("csp/mozilla_example.json")),
    )
    .await;
    let id = reply.accepted_id();
    let stored = app.wait_for_event(id).await;
    assert_eq!(stored.event_type, EventType::Csp);
    let issues = app.issues().await;
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0].event_type, EventType::Csp);
    assert!(
        issues[0].title.contains("example.com"),
        "title names the blocked host: {}",
        issues[0].title
    );
}

async fn tunnel_takes_the_project_from_the_dsn(shape: Shape) {
    let app = TestApp::builder(shape)
        .toml("tunnel_path = \"/monitoring/tunnel\"")
        .start()
        .await;
    let (id, ev) = event("through the tunnel");
    let body = Envelope::new(json!({"dsn": app.dsn(), "event_id": id.simple().to_string()}))
        .event(&ev)
        .build();
    let reply = send(
        app.client
            .post(app.url("/monitoring/tunnel"))
            .header("content-type", "text/plain;charset=UTF-8")
            .body(body),
    )
    .await;
    assert_eq!(reply.accepted_id(), id);
    assert_eq!(
        app.wait_for_event(id).await.title,
        "through the tunnel",
        "stored in the DSN's project"
    );

    // without a dsn the tunnel cannot know the project
    let reply = send(
        app.client
            .post(app.url("/monitoring/tunnel"))
            .body(event_envelope(&ev)),
    )
    .await;
    reply.assert_refused(400, "no dsn");
    // a dsn of an unknown key
    let stranger = app.dsn_for(&Uuid::new_v4().simple().to_string(), app.project().id);
    let reply = send(
        app.client
            .post(app.url("/monitoring/tunnel"))
            .body(Envelope::new(json!({"dsn": stranger})).event(&ev).build()),
    )
    .await;
    reply.assert_refused(401, "unknown public key");
}

async fn real_sdk_envelopes_are_digested(shape: Shape) {
    let app = TestApp::start(shape).await;
    for (file, id, title) in [
        (
            "envelopes/django_message.json",
            "e1681aa101a042548a99f82613b39727",
            "Page not found!",
        ),
        (
            "envelopes/js_angular_message.json",
            "9d6bfa87088a408dbba14df512856296",
            "EvalError",
        ),
    ] {
        let reply = app.post_envelope(fixture_envelope(file)).await;
        let id = Uuid::parse_str(id).unwrap();
        assert_eq!(reply.accepted_id(), id, "{file}");
        let stored = app.wait_for_event(id).await;
        assert!(
            stored.title.starts_with(title),
            "{file}: title {:?}",
            stored.title
        );
    }
    assert_eq!(app.issues().await.len(), 2);
}

async fn unknown_item_types_are_skipped(shape: Shape) {
    let app = TestApp::start(shape).await;
    let (id, ev) = event("with strangers");
    let body = Envelope::new(json!({"event_id": id.simple().to_string()}))
        .item(json!({"type": "profile_chunk"}), br#"{"chunk": 1}"#)
        .event(&ev)
        .item(
            json!({"type": "made_up_type_from_the_future"}),
            b"\x00\x01binary\n",
        )
        .item_unsized(json!({"type": "statsd"}), b"metric:1|c")
        .build();
    assert_eq!(app.post_envelope(body).await.accepted_id(), id);
    app.wait_for_event(id).await;

    // an envelope of nothing but unknown items is fine too
    let body = Envelope::new(json!({}))
        .item(json!({"type": "replay_video"}), b"...")
        .build();
    app.post_envelope(body).await.assert_accepted();
    app.assert_still_serving().await;
}

async fn attachments_are_written_and_recorded(shape: Shape) {
    let app = TestApp::start(shape).await;
    let (id, ev) = event("with a log file");
    let log: Vec<u8> = b"line one\nline two\n\x00\xff binary tail\r\n".repeat(50);
    let body = Envelope::new(json!({"event_id": id.simple().to_string()}))
        .event(&ev)
        .item(
            json!({"type": "attachment", "filename": "app.log", "content_type": "text/plain",
                   "attachment_type": "event.attachment"}),
            &log,
        )
        .build();
    assert_eq!(app.post_envelope(body).await.accepted_id(), id);
    app.wait_for_event(id).await;
    let project_id = app.project().id;
    let attachments = app
        .eventually("attachment recorded", common::DIGEST_TIMEOUT, async || {
            let list = app.store.list_attachments(project_id, id).await.unwrap();
            (!list.is_empty()).then_some(list)
        })
        .await;
    assert_eq!(attachments.len(), 1);
    let a = &attachments[0];
    assert_eq!(a.name, "app.log");
    assert_eq!(a.content_type.as_deref(), Some("text/plain"));
    assert_eq!(a.attachment_type.as_deref(), Some("event.attachment"));
    assert_eq!(a.size, log.len() as i64);
    let on_disk = std::fs::read(app.attachments_dir.join(&a.path)).expect("attachment file");
    assert_eq!(on_disk, log, "content intact");
}

async fn secondary_items_land_in_their_tables(shape: Shape) {
    let app = TestApp::start(shape).await;
    let project_id = app.project().id;
    let (event_id, _) = event("reported on");
    let check_in_id = Uuid::new_v4().simple().to_string();
    let now = chrono::Utc::now().to_rfc3339();
    let body = Envelope::new(json!({}))
        .item(
            json!({"type": "session"}),
            json!({"sid": Uuid::new_v4().to_string(), "status": "exited", "started": now,
                   "attrs": {"release": "shop@1.0", "environment": "prod"}})
            .to_string()
            .as_bytes(),
        )
        .item(
            json!({"type": "sessions"}),
            json!({"aggregates": [{"started": now, "crashed": 2}],
                   "attrs": {"release": "shop@1.0", "environment": "prod"}})
            .to_string()
            .as_bytes(),
        )
        .item(
            json!({"type": "client_report"}),
            json!({"timestamp": now, "discarded_events": [
                {"reason": "ratelimit_backoff", "category": "error", "quantity": 4}]})
            .to_string()
            .as_bytes(),
        )
        .item(
            json!({"type": "check_in"}),
            json!({"check_in_id": check_in_id, "monitor_slug": "nightly-backup",
                   "status": "ok", "duration": 2.5})
            .to_string()
            .as_bytes(),
        )
        .item(
            json!({"type": "user_report"}),
            json!({"event_id": event_id.simple().to_string(), "name": "Ann",
                   "email": "ann@example.com", "comments": "it broke"})
            .to_string()
            .as_bytes(),
        )
        .build();
    let reply = app.post_envelope(body).await;
    reply.assert_accepted();
    app.drain().await;

    let sessions = app.store.session_totals(project_id).await.unwrap();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(sessions[0].release, "shop@1.0");
    assert_eq!((sessions[0].exited, sessions[0].crashed), (1, 2));
    let discards = app.store.client_discard_totals(project_id).await.unwrap();
    assert_eq!(discards.len(), 1, "{discards:?}");
    assert_eq!(
        (
            discards[0].reason.as_str(),
            discards[0].category.as_str(),
            discards[0].quantity
        ),
        ("ratelimit_backoff", "error", 4)
    );
    let check_ins = app.store.list_check_ins(project_id, 10).await.unwrap();
    assert_eq!(check_ins.len(), 1, "{check_ins:?}");
    assert_eq!(check_ins[0].monitor_slug, "nightly-backup");
    assert_eq!(check_ins[0].status, "ok");
    assert_eq!(check_ins[0].check_in_id.simple().to_string(), check_in_id);
    let reports = app.store.list_user_reports(project_id).await.unwrap();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].event_id, event_id);
    assert_eq!(reports[0].comments, "it broke");
}

async fn envelope_header_event_id_wins(shape: Shape) {
    let app = TestApp::start(shape).await;
    let (payload_id, ev) = event("two ids");
    let header_id = Uuid::new_v4();
    let body = Envelope::new(json!({"event_id": header_id.simple().to_string()}))
        .event(&ev)
        .build();
    assert_eq!(app.post_envelope(body).await.accepted_id(), header_id);
    let stored = app.wait_for_event(header_id).await;
    assert_eq!(stored.event_id, header_id);
    assert!(
        app.store
            .event_by_id(app.project().id, payload_id)
            .await
            .is_err(),
        "nothing stored under the payload's id"
    );
}

async fn events_without_an_id_get_one(shape: Shape) {
    let app = TestApp::start(shape).await;
    let ev = json!({"message": "no id at all", "level": "warning"});
    let reply = app.post_envelope(event_envelope(&ev)).await;
    let id = reply.accepted_id();
    assert_eq!(app.wait_for_event(id).await.title, "no id at all");
}

async fn a_duplicate_event_id_is_stored_once(shape: Shape) {
    let app = TestApp::start(shape).await;
    let (id, ev) = event("said twice");
    for _ in 0..2 {
        assert_eq!(app.send_event(&ev).await, id);
    }
    app.wait_for_event(id).await;
    app.drain().await;
    let issues = app.issues().await;
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0].times_seen, 1);
    let events = app
        .store
        .list_issue_events(issues[0].id, None, 10)
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
}

both_shapes!(
    store_endpoint_takes_a_json_event,
    store_endpoint_takes_base64_zlib_bodies,
    security_endpoint_takes_a_csp_report,
    tunnel_takes_the_project_from_the_dsn,
    real_sdk_envelopes_are_digested,
    unknown_item_types_are_skipped,
    attachments_are_written_and_recorded,
    secondary_items_land_in_their_tables,
    envelope_header_event_id_wins,
    events_without_an_id_get_one,
    a_duplicate_event_id_is_stored_once,
);

// --- JSON that serde_json refuses ----------------------------------------------

/// An event's JSON written by hand: serde_json cannot write a lone
/// surrogate, a number out of range or nesting past its limit.
fn raw_event(id: Uuid, fields: &str) -> Vec<u8> {
    format!(
        r#"{{"event_id":"{}","level":"error","platform":"python",{fields}}}"#,
        id.simple()
    )
    .into_bytes()
}

/// An envelope holding good events and events with every kind of JSON
/// serde_json refuses to build values from (a lone surrogate, a number out
/// of range, nesting past its limit) or PostgreSQL refuses to store (NUL):
/// accepted, and then every one of them is stored, the odd ones repaired
/// alike on both shapes (U+FFFD for a lone surrogate or NUL, the text of
/// the number, the JSON text of what is nested too deep), readable through
/// the API; nothing is dead-lettered. Items the digest could not file (a
/// check-in without its monitor, a feedback without its message) are
/// dropped at ingest, not acknowledged and then lost.
async fn odd_json_is_stored_beside_good_events(shape: Shape) {
    let app = TestApp::start(shape).await;
    let ids: Vec<Uuid> = (0..6).map(|_| Uuid::new_v4()).collect();
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let payloads = [
        raw_event(ids[0], r#""message":"good one""#),
        raw_event(
            ids[1],
            r#""message":"cut \ud83d","tags":{"emoji\udc00":"x\ud83d"},"user":{"id":"\udc00"}"#,
        ),
        raw_event(
            ids[2],
            r#""message":"big number","extra":{"n":1e400,"m":-1E+999},"timestamp":1e400"#,
        ),
        raw_event(
            ids[3],
            &format!(r#""message":"deep","extra":{{"deep":{deep}}}"#),
        ),
        raw_event(
            ids[4],
            r#""message":"nul \u0000 here","tags":{"t\u0000":"v\u0000"},
                "user":{"id":"u\u0000","email":"a\u0000@example.com"},
                "exception":{"values":[{"type":"Err\u0000","value":"boom\u0000"}]}"#,
        ),
        raw_event(ids[5], r#""message":"good two""#),
    ];
    let mut body = Envelope::new(json!({}));
    for payload in &payloads {
        body = body.item(json!({"type": "event"}), payload);
    }
    let body = body
        .item(
            json!({"type": "attachment", "filename": "log\u{0}.txt", "content_type": "text/plain\u{0}"}),
            b"attached",
        )
        .item(
            json!({"type": "check_in"}),
            json!({"check_in_id": Uuid::new_v4().simple().to_string(), "status": "ok"})
                .to_string()
                .as_bytes(),
        )
        .item(
            json!({"type": "feedback"}),
            json!({"event_id": Uuid::new_v4().simple().to_string(), "contexts": {}})
                .to_string()
                .as_bytes(),
        )
        .build();
    let reply = app.post_envelope(body).await;
    assert_eq!(reply.accepted_id(), ids[0], "the first event answers");

    let mut api = Vec::new();
    for id in &ids {
        app.wait_for_event(*id).await;
        let reply = app
            .api_get(
                &format!("/api/0/projects/acme/backend/events/{}/", id.simple()),
                app.token(),
            )
            .await;
        assert_eq!(reply.status, 200, "event {id}: {}", reply.body);
        api.push(reply.json());
    }
    let tag = |event: &serde_json::Value, key: &str| {
        event["tags"]
            .as_array()
            .and_then(|tags| tags.iter().find(|t| t["key"] == key))
            .map(|t| t["value"].clone())
    };
    assert_eq!(api[0]["title"], "good one");
    assert_eq!(api[5]["title"], "good two");
    // a lone surrogate
    assert_eq!(api[1]["title"], "cut \u{fffd}");
    assert_eq!(tag(&api[1], "emoji\u{fffd}"), Some(json!("x\u{fffd}")));
    assert_eq!(api[1]["user"]["id"], "\u{fffd}");
    // numbers out of range: their text; a timestamp that is none is the server's
    assert_eq!(api[2]["extra"], json!({"n": "1e400", "m": "-1E+999"}));
    let stored = app
        .store
        .event_by_id(app.project().id, ids[2])
        .await
        .unwrap();
    assert_eq!(stored.timestamp, stored.received_at);
    // nesting past the limit: the JSON text of what is too deep
    let mut deep = &api[3]["extra"]["deep"];
    let mut levels = 0;
    while let Some(first) = deep.get(0) {
        deep = first;
        levels += 1;
    }
    let text = deep.as_str().expect("the deepest value kept is text");
    assert!(text.starts_with("[[[") && text.ends_with("]]]"), "{text}");
    assert_eq!(levels * 2 + text.len(), 400, "every bracket is kept");
    // NUL
    assert_eq!(api[4]["title"], "Err\u{fffd}: boom\u{fffd}");
    assert_eq!(tag(&api[4], "t\u{fffd}"), Some(json!("v\u{fffd}")));
    assert_eq!(api[4]["user"]["id"], "u\u{fffd}");
    assert_eq!(api[4]["user"]["email"], "a\u{fffd}@example.com");
    assert!(!api.iter().any(|e| e.to_string().contains("\\u0000")));
    let attachments = app
        .eventually("attachment recorded", common::DIGEST_TIMEOUT, async || {
            let list = app
                .store
                .list_attachments(app.project().id, ids[0])
                .await
                .unwrap();
            (!list.is_empty()).then_some(list)
        })
        .await;
    assert_eq!(attachments[0].name, "log\u{fffd}.txt");
    assert_eq!(
        attachments[0].content_type.as_deref(),
        Some("text/plain\u{fffd}")
    );

    app.drain().await;
    let letters = app.store.list_dead_letters(10).await.unwrap();
    assert!(
        letters.is_empty(),
        "nothing acknowledged is lost: {letters:?}"
    );
    let project_id = app.project().id;
    assert!(
        app.store
            .list_check_ins(project_id, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        app.store
            .list_user_reports(project_id)
            .await
            .unwrap()
            .is_empty()
    );
}

/// What the digest cannot read is refused at ingest, with the reason: a
/// payload that is not JSON, and JSON that is broken below the depth where
/// the digest would keep it as text.
async fn events_the_digest_cannot_read_are_refused(shape: Shape) {
    let app = TestApp::start(shape).await;
    let id = Uuid::new_v4();
    let broken_deep = format!("{}1 2{}", "[".repeat(200), "]".repeat(200));
    for payload in [
        raw_event(id, r#""message":"cut short"#),
        raw_event(id, r#""message":"\ud83d"#),
        raw_event(id, &format!(r#""extra":{broken_deep}"#)),
    ] {
        let body = Envelope::new(json!({}))
            .event(&event("good").1)
            .item(json!({"type": "event"}), &payload)
            .build();
        app.post_envelope(body)
            .await
            .assert_refused(400, "not a JSON object");
    }
    app.assert_still_serving().await;
}

both_shapes!(
    odd_json_is_stored_beside_good_events,
    events_the_digest_cannot_read_are_refused,
);

// --- content encodings ----------------------------------------------------------

async fn post_encoded(app: &TestApp, encoding: &str, body: Vec<u8>) -> Reply {
    send(
        app.client
            .post(app.url(&app.envelope_path()))
            .header("x-sentry-auth", sentry_auth(app.key()))
            .header("content-encoding", encoding)
            .body(body),
    )
    .await
}

async fn accepts_encoding(shape: Shape, encoding: &str, encode: fn(&[u8]) -> Vec<u8>) {
    let app = TestApp::start(shape).await;
    let (id, ev) = event(&format!("sent as {encoding}"));
    let plain = event_envelope(&ev);
    let body = encode(&plain);
    let reply = post_encoded(&app, encoding, body).await;
    assert_eq!(reply.accepted_id(), id);
    assert_eq!(
        app.wait_for_event(id).await.title,
        format!("sent as {encoding}")
    );
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

async fn gzip_bodies(shape: Shape) {
    accepts_encoding(shape, "gzip", gzip).await;
}

async fn deflate_bodies(shape: Shape) {
    accepts_encoding(shape, "deflate", |data| {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    })
    .await;
}

async fn brotli_bodies(shape: Shape) {
    accepts_encoding(shape, "br", |data| {
        let mut out = Vec::new();
        {
            let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
            w.write_all(data).unwrap();
        }
        out
    })
    .await;
}

async fn zstd_bodies(shape: Shape) {
    accepts_encoding(shape, "zstd", |data| zstd::encode_all(data, 3).unwrap()).await;
}

async fn identity_bodies(shape: Shape) {
    accepts_encoding(shape, "identity", <[u8]>::to_vec).await;
}

async fn unsupported_encoding_is_refused(shape: Shape) {
    let app = TestApp::start(shape).await;
    let (_, ev) = event("lzw");
    let reply = post_encoded(&app, "compress", event_envelope(&ev)).await;
    reply.assert_refused(415, "unsupported content encoding");
    app.assert_still_serving().await;
}

async fn corrupt_gzip_is_refused(shape: Shape) {
    let app = TestApp::start(shape).await;
    let (_, ev) = event("mangled");
    let mut body = gzip(&event_envelope(&ev));
    let middle = body.len() / 2;
    for b in &mut body[10..middle] {
        *b = !*b;
    }
    let reply = post_encoded(&app, "gzip", body).await;
    reply.assert_refused(400, "corrupt gzip");
    app.assert_still_serving().await;
}

// decoding happens before any store or queue is touched
embedded_only!(
    gzip_bodies,
    deflate_bodies,
    brotli_bodies,
    zstd_bodies,
    identity_bodies,
    unsupported_encoding_is_refused,
    corrupt_gzip_is_refused,
);

// --- CORS ---------------------------------------------------------------------------

async fn cors_lets_browser_sdks_in(shape: Shape) {
    let app = TestApp::start(shape).await;
    let origin = "https://shop.example.com";
    let preflight = send(
        app.client
            .request(reqwest::Method::OPTIONS, app.url(&app.envelope_path()))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type,x-sentry-auth,content-encoding,authorization",
            ),
    )
    .await;
    assert!(
        (200..300).contains(&preflight.status),
        "preflight answered {}",
        preflight.status
    );
    assert_eq!(preflight.header("access-control-allow-origin"), Some("*"));
    let allowed = preflight
        .header("access-control-allow-headers")
        .unwrap_or_default()
        .to_lowercase();
    for h in [
        "x-sentry-auth",
        "content-type",
        "content-encoding",
        "authorization",
    ] {
        assert!(allowed.contains(h), "{h} not in {allowed:?}");
    }
    let methods = preflight
        .header("access-control-allow-methods")
        .unwrap_or_default();
    assert!(methods.contains("POST"), "{methods:?}");

    // the answers themselves, accepted or refused, are readable by the page
    let (id, ev) = event("from a browser");
    let accepted = send(
        app.client
            .post(app.url(&format!("{}?sentry_key={}", app.envelope_path(), app.key())))
            .header("origin", origin)
            .header("content-type", "text/plain;charset=UTF-8")
            .body(event_envelope(&ev)),
    )
    .await;
    assert_eq!(accepted.accepted_id(), id);
    let refused = send(
        app.client
            .post(app.url(&app.envelope_path()))
            .header("origin", origin)
            .body(event_envelope(&ev)),
    )
    .await;
    refused.assert_refused(401, "missing authentication");
    for reply in [&accepted, &refused] {
        assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
        let exposed = reply
            .header("access-control-expose-headers")
            .unwrap_or_default()
            .to_lowercase();
        for h in ["x-sentry-error", "x-sentry-rate-limits", "retry-after"] {
            assert!(exposed.contains(h), "{h} not exposed: {exposed:?}");
        }
    }
}

embedded_only!(cors_lets_browser_sdks_in);
