//! Hostile clients: what a client that has not authenticated, or that is
//! slow on purpose, can hold of the server. None of them may stop anyone
//! else's intake.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::common::{self, Shape, TestApp, event, event_envelope, send};

const MIB: usize = 1 << 20;

/// Small budgets, but a body limit far above them: what a client announces
/// must not matter, only what it sends.
const TIGHT_BUDGET: &str = "[ingest]
memory_budget_bytes = 1048576
unauthenticated_budget_bytes = 4194304
unauthenticated_per_address_bytes = 1048576
max_envelope_body_bytes = 134217728
max_envelope_bytes = 134217728
max_attachment_bytes = 65536
body_idle_timeout_secs = 20
body_timeout_secs = 30
";

/// A connection from `source` (any 127.0.0.0/8 address reaches loopback),
/// so a test can be several clients.
async fn connect_from(source: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(IpAddr::from(source), 0))
        .unwrap();
    socket.connect(to).await.expect("connect")
}

/// Sends a request head announcing `length` bytes, and then `start` of the
/// body, and keeps the connection open.
async fn announce(
    app: &TestApp,
    source: [u8; 4],
    path: &str,
    extra_headers: &str,
    length: usize,
    start: &[u8],
) -> TcpStream {
    let mut stream = connect_from(source, app.addr).await;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\n{extra_headers}Content-Length: {length}\r\n\r\n",
        app.addr
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(start).await.unwrap();
    stream.flush().await.unwrap();
    stream
}

/// The status line of an answer that comes within `within`, or `None` when
/// the connection stays silent that long.
async fn answer_within(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut buf = vec![0u8; 4096];
    match tokio::time::timeout(within, stream.read(&mut buf)).await {
        Err(_) => None,
        Ok(Ok(0)) => Some("closed".into()),
        Ok(Ok(n)) => Some(String::from_utf8_lossy(&buf[..n]).to_string()),
        Ok(Err(e)) => Some(format!("error: {e}")),
    }
}

/// Issue 19, must fix 1: two connections announcing 128 MiB without a key
/// (on the tunnel and on an envelope URL), then a few bytes, reserved the
/// whole shared budget and every legitimate envelope got 503. Now they hold
/// only what they sent, from a budget of their own.
async fn unauthenticated_slow_bodies_do_not_stop_intake(shape: Shape) {
    let app = TestApp::builder(shape).toml(TIGHT_BUDGET).start().await;
    let envelope_path = app.envelope_path();
    let mut attackers = Vec::new();
    for (i, path) in ["/api/tunnel/", envelope_path.as_str()]
        .iter()
        .cycle()
        .take(6)
        .enumerate()
    {
        // the start of an envelope header, never finished
        attackers.push(
            announce(
                &app,
                [127, 0, 0, 10 + i as u8],
                path,
                "Content-Type: application/x-sentry-envelope\r\n",
                128 * MIB,
                b"{\"event_id\":\"",
            )
            .await,
        );
    }
    // the attackers are all connected and have sent their bytes
    app.eventually(
        "the attackers' bytes arrived",
        Duration::from_secs(5),
        async || (app.state.unauthenticated_budget.in_use_bytes() > 0).then_some(()),
    )
    .await;
    assert_eq!(
        app.state.budget.in_use_bytes(),
        0,
        "no shared budget for clients whose key is unknown"
    );
    assert!(
        app.state.unauthenticated_budget.in_use_bytes() <= 6 * 16 * 1024,
        "{} bytes held for 13 bytes sent by each of 6 clients",
        app.state.unauthenticated_budget.in_use_bytes()
    );
    for i in 0..5 {
        let (id, ev) = event(&format!("legitimate {i}"));
        assert_eq!(app.send_event(&ev).await, id, "intake goes on");
    }
    // a browser through the tunnel still gets in, too
    let (id, ev) = event("through the tunnel");
    let mut envelope = event_envelope(&ev);
    let mut tunnelled = format!(
        "{{\"event_id\":\"{}\",\"dsn\":\"{}\"}}\n",
        id.simple(),
        app.dsn()
    )
    .into_bytes();
    let first_newline = envelope.iter().position(|b| *b == b'\n').unwrap();
    tunnelled.extend_from_slice(&envelope.split_off(first_newline + 1));
    let reply = send(
        app.client
            .post(app.url("/api/tunnel/"))
            .header("content-type", "text/plain;charset=UTF-8")
            .body(tunnelled),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    drop(attackers);
    app.eventually(
        "the attackers' memory is given back",
        Duration::from_secs(5),
        async || (app.state.unauthenticated_budget.in_use_bytes() == 0).then_some(()),
    )
    .await;
}

/// A tunnelled envelope with a key nobody issued is answered as soon as its
/// header line is there, before the body it announced.
async fn the_tunnel_checks_the_key_before_the_body(shape: Shape) {
    let app = TestApp::builder(shape).toml(TIGHT_BUDGET).start().await;
    let dsn = app.dsn_for("0123456789abcdef0123456789abcdef", app.project().id);
    let header = format!("{{\"dsn\":\"{dsn}\"}}\n");
    for encoding in ["identity", "gzip"] {
        let (start, extra) = match encoding {
            "gzip" => {
                // a gzip stream flushed after the header line, then nothing
                let mut e =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(header.as_bytes()).unwrap();
                e.flush().unwrap();
                (e.get_ref().clone(), "Content-Encoding: gzip\r\n")
            }
            _ => (header.clone().into_bytes(), ""),
        };
        let mut stream = announce(
            &app,
            [127, 0, 0, 1],
            "/api/tunnel/",
            extra,
            64 * MIB,
            &start,
        )
        .await;
        let answer = answer_within(&mut stream, Duration::from_secs(10))
            .await
            .expect("answered without waiting for the body");
        assert!(answer.starts_with("HTTP/1.1 401"), "{encoding}: {answer}");
    }
    assert_eq!(app.state.budget.in_use_bytes(), 0);
    app.assert_still_serving().await;
}

/// A header line that never ends is refused once it is longer than any
/// real one, not read on and on.
async fn an_endless_envelope_header_is_refused(shape: Shape) {
    let app = TestApp::builder(shape).toml(TIGHT_BUDGET).start().await;
    let reply = send(
        app.client
            .post(app.url("/api/tunnel/"))
            .body(vec![b' '; 200 * 1024]),
    )
    .await;
    reply.assert_refused(400, "no envelope header line in the first 65536 bytes");
    assert_eq!(app.state.unauthenticated_budget.in_use_bytes(), 0);
    app.assert_still_serving().await;
}

/// A body that stops arriving is dropped after the idle timeout, and its
/// memory comes back, long before the whole-body timeout.
async fn a_body_that_stops_arriving_is_dropped(shape: Shape) {
    let app = TestApp::builder(shape)
        .toml(
            "[ingest]
body_idle_timeout_secs = 1
body_timeout_secs = 60
",
        )
        .start()
        .await;
    let auth = format!("X-Sentry-Auth: {}\r\n", common::sentry_auth(app.key()));
    let mut stream = announce(
        &app,
        [127, 0, 0, 1],
        &app.envelope_path(),
        &auth,
        MIB,
        &[b'{'; 40 * 1024],
    )
    .await;
    let answer = answer_within(&mut stream, Duration::from_secs(20))
        .await
        .expect("an answer before the whole-body timeout");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(app.state.budget.in_use_bytes(), 0);
    app.assert_still_serving().await;
}

/// An authenticated client that sends slowly holds only its address's share
/// of the budget: other clients still get in.
async fn one_address_holds_only_its_share_of_the_budget(shape: Shape) {
    let app = TestApp::builder(shape)
        .toml(
            "[ingest]
memory_budget_bytes = 1048576
memory_budget_per_address_bytes = 262144
max_envelope_body_bytes = 1048576
max_envelope_bytes = 1048576
max_attachment_bytes = 65536
",
        )
        .start()
        .await;
    let auth = format!("X-Sentry-Auth: {}\r\n", common::sentry_auth(app.key()));
    let path = app.envelope_path();
    let mut greedy = Vec::new();
    for _ in 0..4 {
        greedy.push(
            announce(
                &app,
                [127, 0, 0, 20],
                &path,
                &auth,
                MIB,
                &[b' '; 100 * 1024],
            )
            .await,
        );
    }
    // one of them at least is refused: the address's share is 256 KiB
    let mut refused = 0;
    for stream in &mut greedy {
        if let Some(answer) = answer_within(stream, Duration::from_secs(2)).await {
            assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
            refused += 1;
        }
    }
    assert!(
        refused >= 1,
        "four 100 KiB bodies from one address all held"
    );
    assert!(app.state.budget.in_use_bytes() <= 256 * 1024);
    // everyone else goes on
    let (id, ev) = event("another client");
    assert_eq!(app.send_event(&ev).await, id);
}

/// Must fix 6: a client that sends its headers a byte at a time, or keeps an
/// idle connection, is disconnected after the header-read timeout.
async fn slow_headers_and_idle_connections_are_closed(shape: Shape) {
    let app = TestApp::builder(shape)
        .toml("[http]\nheader_read_timeout_secs = 1")
        .start()
        .await;
    // a byte every 200 ms, never finishing
    let mut slow = connect_from([127, 0, 0, 1], app.addr).await;
    let closed = tokio::time::timeout(Duration::from_secs(15), async {
        let mut buf = [0u8; 256];
        for b in b"GET /healthz HTTP/1.1\r\nX-Slow: ".iter().cycle() {
            if slow.write_all(&[*b]).await.is_err() {
                return;
            }
            if let Ok(Ok(0) | Err(_)) =
                tokio::time::timeout(Duration::from_millis(200), slow.read(&mut buf)).await
            {
                return;
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "a header sent at a byte a time stayed open");

    // a keep-alive connection after its request, then nothing
    let mut idle = connect_from([127, 0, 0, 1], app.addr).await;
    idle.write_all(
        format!(
            "GET /healthz HTTP/1.1\r\nHost: {}\r\nConnection: keep-alive\r\n\r\n",
            app.addr
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let first = answer_within(&mut idle, Duration::from_secs(5))
        .await
        .expect("an answer");
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(15), idle.read_to_end(&mut rest)).await;
    assert!(ended.is_ok(), "an idle keep-alive connection stayed open");
}

/// Must fix 6: one address cannot hold more than its connections; the next
/// is closed at once, and other addresses are served.
async fn one_address_holds_only_its_connections(shape: Shape) {
    let app = TestApp::builder(shape)
        .toml("[http]\nmax_connections_per_address = 4\nheader_read_timeout_secs = 60")
        .start()
        .await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(connect_from([127, 0, 0, 30], app.addr).await);
    }
    // the server has counted them when a request on one of them is served
    held[0]
        .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", app.addr).as_bytes())
        .await
        .unwrap();
    let first = answer_within(&mut held[0], Duration::from_secs(5)).await;
    assert!(first.is_some_and(|a| a.starts_with("HTTP/1.1 200")));
    let mut fifth = connect_from([127, 0, 0, 30], app.addr).await;
    let _ = fifth
        .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", app.addr).as_bytes())
        .await;
    let answer = answer_within(&mut fifth, Duration::from_secs(5)).await;
    assert!(
        matches!(
            answer.as_deref(),
            Some("closed") | Some("error: Connection reset by peer (os error 104)")
        ),
        "the fifth connection was served: {answer:?}"
    );
    // another address is served
    let mut other = connect_from([127, 0, 0, 31], app.addr).await;
    other
        .write_all(format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", app.addr).as_bytes())
        .await
        .unwrap();
    let answer = answer_within(&mut other, Duration::from_secs(5)).await;
    assert!(answer.is_some_and(|a| a.starts_with("HTTP/1.1 200")));
    // and when one closes, the address may connect again
    drop(held.pop());
    let mut again = None;
    for _ in 0..50 {
        let mut s = connect_from([127, 0, 0, 30], app.addr).await;
        s.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", app.addr).as_bytes())
            .await
            .ok();
        if let Some(a) = answer_within(&mut s, Duration::from_secs(2)).await
            && a.starts_with("HTTP/1.1 200")
        {
            again = Some(a);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(again.is_some(), "a closed connection's slot came back");
}

/// Must fix 7: the REST API and the UI read bounded bodies (only ingest
/// reads large ones, within its own limits).
async fn ui_and_api_bodies_are_bounded(shape: Shape) {
    let app = TestApp::builder(shape)
        .toml("[http]\nmax_body_bytes = 16384")
        .start()
        .await;
    // small enough that the client has written all of it before the answer
    // (a 413 may come as soon as the headers are read)
    let big = format!("email=a%40b.c&password={}", "x".repeat(40 * 1024));
    let reply = send(
        app.client
            .post(app.url("/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(big),
    )
    .await;
    assert_eq!(reply.status, 413, "{}", reply.body);
    app.assert_still_serving().await;
}

/// An API refusal: its status and the reason in its `{"detail"}`.
fn api_refused(reply: &common::Reply, status: u16, reason: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    let detail = reply.json()["detail"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(detail.contains(reason), "{detail:?} lacks {reason:?}");
}

/// Must fix 7: a search with a NUL (or another control character) is a bad
/// search on both backends, not "database unavailable" on PostgreSQL; and
/// any value PostgreSQL refuses is the input's fault (400), never a 503.
async fn a_nul_in_a_search_is_a_bad_request(shape: Shape) {
    let app = TestApp::start(shape).await;
    let (_, ev) = event("something to search");
    app.send_event(&ev).await;
    let project = format!("/api/0/projects/acme/{}/issues/", app.project().slug);
    for query in ["something%00", "%00", "a%01b"] {
        let reply = app
            .api_get(&format!("{project}?query={query}"), app.token())
            .await;
        api_refused(&reply, 400, "control character");
    }
    let browser = common::browser_for(&app, app.fixtures().owner.id).await;
    let page = browser.get("/organizations/acme/issues/?query=x%00y").await;
    assert!(page.status < 500, "{}: {}", page.status, page.body);
    assert!(page.body.contains("control character"), "{}", page.body);
    app.assert_still_serving().await;
}

/// Must fix 7: a long search is refused, not echoed twice into a `Link`
/// header that clients cannot read; other lists bound their query too.
async fn long_queries_are_refused_not_echoed(shape: Shape) {
    let app = TestApp::start(shape).await;
    let project = format!("/api/0/projects/acme/{}/issues/", app.project().slug);
    let long = "a".repeat(5000);
    let reply = app
        .api_get(&format!("{project}?query={long}"), app.token())
        .await;
    api_refused(&reply, 400, "longer than 4096 bytes");
    let reply = app
        .api_get(
            &format!("/api/0/organizations/?x={}", "b".repeat(40_000)),
            app.token(),
        )
        .await;
    assert_eq!(reply.status, 414, "{}", reply.body);
    // a search of the largest size still pages, with links of bounded size
    let reply = app
        .api_get(
            &format!("{project}?query={}", "c".repeat(4000)),
            app.token(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.header("link").expect("a Link header").len() < 10_000);
}

/// Must fix 7: signed-in pages and API answers are never cached; with an
/// https base URL browsers are told to keep to https.
async fn private_answers_are_not_cached_and_https_is_sticky(shape: Shape) {
    let app = TestApp::builder(shape)
        .toml("base_url = \"https://corral.example\"")
        .start()
        .await;
    let browser = common::browser_for(&app, app.fixtures().owner.id).await;
    for path in ["/organizations/acme/issues/", "/settings/account/"] {
        let page = browser.get(path).await;
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        assert_eq!(page.header("cache-control"), Some("no-store"), "{path}");
        assert_eq!(
            page.header("strict-transport-security"),
            Some("max-age=31536000"),
            "{path}"
        );
    }
    let reply = app.api_get("/api/0/organizations/", app.token()).await;
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    // without https, no HSTS
    let plain = TestApp::start(shape).await;
    let reply = plain.api_get("/api/0/organizations/", plain.token()).await;
    assert_eq!(reply.header("strict-transport-security"), None);
}

both_shapes!(
    unauthenticated_slow_bodies_do_not_stop_intake,
    a_nul_in_a_search_is_a_bad_request,
);

embedded_only!(
    the_tunnel_checks_the_key_before_the_body,
    an_endless_envelope_header_is_refused,
    a_body_that_stops_arriving_is_dropped,
    one_address_holds_only_its_share_of_the_budget,
    slow_headers_and_idle_connections_are_closed,
    one_address_holds_only_its_connections,
    ui_and_api_bodies_are_bounded,
    long_queries_are_refused_not_echoed,
    private_answers_are_not_cached_and_https_is_sticky,
);
