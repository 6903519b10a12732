//! Resource bounds of ingest: size limits (413), the memory budget (503),
//! queue backpressure (503), malformed input (400) — and after each refusal
//! the server goes on serving.

use std::io::Write;
use std::time::Duration;

use serde_json::json;

use crate::common::{Envelope, Shape, TestApp, event, event_envelope, raw_http, send, sentry_auth};

const SMALL_LIMITS: &str = "[ingest]
max_event_bytes = 4096
max_store_body_bytes = 2048
max_sessions_per_envelope = 3
";

fn store_path(app: &TestApp) -> String {
    format!("/api/{}/store/", app.project().id)
}

// --- size limits ----------------------------------------------------------------

async fn an_event_over_the_limit_is_refused(shape: Shape) {
    let app = TestApp::builder(shape).toml(SMALL_LIMITS).start().await;
    let (id, mut ev) = event("");
    ev["message"] = json!("x".repeat(5000));
    let reply = app.post_envelope(event_envelope(&ev)).await;
    reply.assert_refused(413, "larger than the limit of 4096 bytes");
    app.assert_still_serving().await;
    assert!(
        app.store.event_by_id(app.project().id, id).await.is_err(),
        "the big event was not stored"
    );
}

async fn a_store_body_over_the_limit_is_refused(shape: Shape) {
    let app = TestApp::builder(shape).toml(SMALL_LIMITS).start().await;
    let (_, mut ev) = event("");
    ev["message"] = json!("y".repeat(3000));
    let body = serde_json::to_vec(&ev).unwrap();
    let reply = send(
        app.client
            .post(app.url(&store_path(&app)))
            .header("x-sentry-auth", sentry_auth(app.key()))
            .body(body.clone()),
    )
    .await;
    reply.assert_refused(
        413,
        &format!(
            "store body of {} bytes is larger than the limit of 2048 bytes",
            body.len()
        ),
    );
    app.assert_still_serving().await;
}

async fn a_chunked_store_body_over_the_limit_is_refused(shape: Shape) {
    let app = TestApp::builder(shape).toml(SMALL_LIMITS).start().await;
    // no Content-Length: the limit must hold while the body streams in
    let (_, mut ev) = event("");
    ev["message"] = json!("z".repeat(3000));
    let body = serde_json::to_vec(&ev).unwrap();
    let mut request = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nX-Sentry-Auth: {}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        store_path(&app),
        app.addr,
        sentry_auth(app.key())
    )
    .into_bytes();
    for chunk in body.chunks(1000) {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let (status, answer) = raw_http(app.addr, &request).await;
    assert_eq!(status, 413, "{answer}");
    assert!(
        answer.contains("larger than the limit of 2048 bytes"),
        "{answer}"
    );
    assert!(
        !answer.to_lowercase().contains("content-length: 0\r\n"),
        "a reason is given: {answer}"
    );
    app.assert_still_serving().await;
}

async fn too_many_sessions_are_refused(shape: Shape) {
    let app = TestApp::builder(shape).toml(SMALL_LIMITS).start().await;
    let session = json!({"sid": "0d9fd5a1e4d84b3aa0a0e34a6c5d1b4f", "status": "exited",
                         "attrs": {"release": "1.0"}})
    .to_string();
    let mut envelope = Envelope::new(json!({}));
    for _ in 0..4 {
        envelope = envelope.item(json!({"type": "session"}), session.as_bytes());
    }
    let reply = app.post_envelope(envelope.build()).await;
    reply.assert_refused(413, "more than 3 session items");
    app.assert_still_serving().await;
    assert!(
        app.store
            .session_totals(app.project().id)
            .await
            .unwrap()
            .is_empty()
    );
}

/// `(VmRSS, VmHWM)` of this process in bytes.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse::<u64>().ok())
            .map(|kib| kib * 1024)
            .unwrap_or_else(|| panic!("{name} in /proc/self/status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// A gzip body that inflates to `members` MiB of zeros: one gzip member of
/// 1 MiB, written by a streaming encoder, repeated (a gzip stream may hold
/// many members, and decoders read them all).
fn gzip_bomb(members: usize) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 64 * 1024];
    for _ in 0..16 {
        encoder.write_all(&zeros).unwrap();
    }
    let member = encoder.finish().unwrap();
    let mut check = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(member.as_slice()),
        &mut check,
    )
    .unwrap();
    assert_eq!(check.len(), 1 << 20, "one member is 1 MiB");
    member.repeat(members)
}

async fn a_decompression_bomb_is_refused_in_bounded_memory(shape: Shape) {
    const MIB: u64 = 1 << 20;
    let app = TestApp::builder(shape)
        .toml(
            "[ingest]
max_envelope_body_bytes = 4194304
max_envelope_bytes = 8388608
",
        )
        .start()
        .await;
    let bomb = gzip_bomb(2048); // 2 GiB once inflated
    assert!(bomb.len() < 4 << 20, "the bomb is small: {}", bomb.len());

    // forget the peak so far, so VmHWM shows the peak of this request
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let (rss_before, _) = memory();
    let reply = send(
        app.client
            .post(app.url(&app.envelope_path()))
            .header("x-sentry-auth", sentry_auth(app.key()))
            .header("content-encoding", "gzip")
            .body(bomb),
    )
    .await;
    let (_, peak) = memory();
    reply.assert_refused(413, "larger than 8388608 bytes once decompressed");
    let growth = peak.saturating_sub(rss_before);
    assert!(
        growth < 64 * MIB,
        "memory grew by {} MiB for a bomb refused at 8 MiB",
        growth / MIB
    );
    assert_eq!(
        app.state.budget.in_use_bytes(),
        0,
        "the budget is given back"
    );
    app.assert_still_serving().await;
}

async fn a_spent_memory_budget_answers_503(shape: Shape) {
    let app = TestApp::builder(shape)
        .toml(
            "[ingest]
memory_budget_bytes = 65536
max_envelope_body_bytes = 65536
max_envelope_bytes = 65536
max_attachment_bytes = 65536
max_event_bytes = 16384
body_timeout_secs = 20
",
        )
        .start()
        .await;
    // a slow client sends most of a body as large as the whole budget and
    // then waits: the server holds the budget for what it has received
    // (memory is reserved as bytes arrive, never for what is announced)
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nX-Sentry-Auth: {}\r\nContent-Length: 65536\r\n\r\n",
        app.envelope_path(),
        app.addr,
        sentry_auth(app.key())
    );
    let mut slow = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut slow, head.as_bytes())
        .await
        .unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut slow, &[b' '; 20 * 1024])
        .await
        .unwrap();
    app.eventually(
        "the slow body holds its part of the budget",
        Duration::from_secs(5),
        async || (app.state.budget.in_use_bytes() >= 20 * 1024).then_some(()),
    )
    .await;

    // what is left of the budget is less than the next body needs
    let (id, ev) = event("while memory is short");
    let body = Envelope::new(json!({ "event_id": id.simple().to_string() }))
        .event(&ev)
        .item(
            json!({ "type": "attachment", "filename": "big.bin" }),
            &[b'a'; 48 * 1024],
        )
        .build();
    let reply = app.post_envelope(body).await;
    reply.assert_refused(503, "busy");
    let retry: u64 = reply
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!(retry >= 1, "{retry}");

    // the slow client gives up: its memory comes back and ingest goes on
    drop(slow);
    app.eventually(
        "the budget is given back",
        Duration::from_secs(5),
        async || (app.state.budget.in_use_bytes() == 0).then_some(()),
    )
    .await;
    app.assert_still_serving().await;
}

async fn an_unknown_key_holds_no_memory(shape: Shape) {
    let app = TestApp::builder(shape)
        .toml(
            "[ingest]
memory_budget_bytes = 65536
max_envelope_body_bytes = 65536
max_envelope_bytes = 65536
max_attachment_bytes = 65536
max_event_bytes = 16384
",
        )
        .start()
        .await;
    // a client with a key nobody issued announces a budget-sized body and
    // sends nothing: it is answered at once, before its body is read
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {}\r\nX-Sentry-Auth: {}\r\nContent-Length: 65536\r\n\r\n",
        app.envelope_path(),
        app.addr,
        sentry_auth("0123456789abcdef0123456789abcdef")
    );
    let mut slow = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut slow, head.as_bytes())
        .await
        .unwrap();
    let mut answer = vec![0u8; 512];
    let n = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncReadExt::read(&mut slow, &mut answer),
    )
    .await
    .expect("answered without waiting for the body")
    .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert_eq!(app.state.budget.in_use_bytes(), 0);
    app.assert_still_serving().await;
}

async fn a_full_queue_answers_503(shape: Shape) {
    let app = TestApp::builder(shape)
        .toml("[queue]\nmax_depth = 3")
        .without_worker()
        .backlog_monitor(Duration::from_millis(25))
        .start()
        .await;
    for i in 0..3 {
        let (id, ev) = event(&format!("backlog {i}"));
        assert_eq!(app.send_event(&ev).await, id);
    }
    app.eventually(
        "the monitor sees the backlog",
        Duration::from_secs(5),
        async || (app.state.backlog() >= 3).then_some(()),
    )
    .await;
    let (_, ev) = event("one too many");
    let reply = app.post_envelope(event_envelope(&ev)).await;
    reply.assert_refused(503, "busy");
    assert_eq!(reply.header("retry-after"), Some("10"));
    let depth = app.queue.depth().await.unwrap();
    assert_eq!(depth.backlog(), 3, "the refused event was not queued");
}

both_shapes!(a_full_queue_answers_503);

embedded_only!(
    an_event_over_the_limit_is_refused,
    a_store_body_over_the_limit_is_refused,
    a_chunked_store_body_over_the_limit_is_refused,
    too_many_sessions_are_refused,
    a_decompression_bomb_is_refused_in_bounded_memory,
    a_spent_memory_budget_answers_503,
    an_unknown_key_holds_no_memory,
);

// --- malformed input ------------------------------------------------------------

async fn a_garbage_envelope_is_refused(shape: Shape) {
    let app = TestApp::start(shape).await;
    let reply = app
        .post_envelope(b"this is not an envelope\nnor is this".to_vec())
        .await;
    reply.assert_refused(400, "invalid envelope header");
    app.assert_still_serving().await;
}

async fn an_invalid_item_header_is_refused(shape: Shape) {
    let app = TestApp::start(shape).await;
    let reply = app
        .post_envelope(b"{}\n{\"type\": \"event\", oops}\n{}\n".to_vec())
        .await;
    reply.assert_refused(400, "item 0: invalid item header");
    app.assert_still_serving().await;
}

async fn a_length_past_the_end_is_refused(shape: Shape) {
    let app = TestApp::start(shape).await;
    let reply = app
        .post_envelope(
            b"{}\n{\"type\":\"event\",\"length\":500}\n{\"message\":\"short\"}\n".to_vec(),
        )
        .await;
    reply.assert_refused(400, "runs past the end");
    app.assert_still_serving().await;
}

async fn an_event_that_is_not_an_object_is_refused(shape: Shape) {
    let app = TestApp::start(shape).await;
    for payload in [
        &b"[1, 2]"[..],
        b"[]",
        b"\"just a string\"",
        b"42",
        b"null",
        b"{\"message\": broken",
    ] {
        let body = Envelope::new(json!({}))
            .item(json!({"type": "event"}), payload)
            .build();
        let reply = app.post_envelope(body).await;
        reply.assert_refused(400, "not a JSON object");
        app.assert_still_serving().await;
    }
    // nothing of them reached the digest: only the good events are there
    app.drain().await;
    let issues = app.issues().await;
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0].title, "still serving");
    let dead = app.store.list_dead_letters(10).await.unwrap();
    assert!(dead.is_empty(), "{dead:?}");
}

async fn an_invalid_project_id_is_refused(shape: Shape) {
    let app = TestApp::start(shape).await;
    let (_, ev) = event("lost");
    for path in [
        "/api/abc/envelope/",
        "/api/0/envelope/",
        "/api/-3/envelope/",
        "/api/99999999999999999999999/envelope/",
        "/api/1.5/store/",
        "/api/x/security/",
    ] {
        let reply = send(
            app.client
                .post(app.url(path))
                .header("x-sentry-auth", sentry_auth(app.key()))
                .body(event_envelope(&ev)),
        )
        .await;
        reply.assert_refused(400, "invalid project id");
        app.assert_still_serving().await;
    }
}

embedded_only!(
    a_garbage_envelope_is_refused,
    an_invalid_item_header_is_refused,
    a_length_past_the_end_is_refused,
    an_event_that_is_not_an_object_is_refused,
    an_invalid_project_id_is_refused,
);
