//! The end-to-end cases, each an `async fn(Shape)` that starts the shape
//! once, drives real Sentry clients against it and reads the result back
//! through the REST API (and `/metrics` where the API cannot tell).
//!
//! Titles and culprits are asserted as Sentry derives them: `Type: value` for
//! errors and the formatted message for messages; the culprit is the
//! innermost in-app frame as `module in function` (Python) or
//! `function(module)` (JavaScript), and empty for a message without a stack
//! trace (Sentry's `generate_culprit`).

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use corral_testkit::browser::{Chromedriver, Page, Site};
use corral_testkit::count_of;
use corral_testkit::sdk::{self, PythonSdk};
use fantoccini::{Client, Locator};
use futures::FutureExt;
use serde_json::{Value, json};
use uuid::Uuid;

use super::scripts::*;
use super::{App, Server, Shape, TIMEOUT, by_title, fresh_quota_window, metric, titles};

/// The Python shop of the grouping cases (`main.py once` raises one
/// ZeroDivisionError).
pub fn python_shop_app(server: &Server) -> App {
    python_shop(server, PY_GROUPING)
}

fn python_shop(server: &Server, main: &str) -> App {
    App::new(
        server.scratch("python-shop"),
        &[
            ("shop/__init__.py", ""),
            ("shop/billing.py", PY_BILLING),
            ("main.py", main),
        ],
    )
}

fn node_shop(server: &Server) -> App {
    App::new(
        server.scratch("node-shop"),
        &[("lib/billing.js", NODE_BILLING), ("main.js", NODE_MAIN)],
    )
}

fn id_of(issue: &Value) -> String {
    issue["id"].as_str().expect("an issue id").to_string()
}

/// The titles of an issue's events, sorted.
async fn event_titles(server: &Server, issue: &Value) -> Vec<String> {
    let mut titles: Vec<String> = server
        .issue_events(&id_of(issue))
        .await
        .iter()
        .map(|e| e["title"].as_str().unwrap_or("").to_string())
        .collect();
    titles.sort();
    titles
}

fn has_tag(event: &Value, key: &str, value: &str) -> bool {
    event["tags"]
        .as_array()
        .is_some_and(|tags| tags.iter().any(|t| t["key"] == key && t["value"] == value))
}

/// Python: one error raised twice from one line, then from two lines of the
/// same function, is one issue; a different error is another.
pub async fn python_grouping(shape: Shape, sdk: PythonSdk) {
    let server = Server::start(shape).await;
    let app = python_shop(&server, PY_GROUPING);

    app.python(sdk, &["same-line"], &server.dsn).await;
    let issues = server
        .wait_for_issues("one issue seen twice", |i| {
            i.len() == 1 && count_of(&i[0]) == 2
        })
        .await;
    let zero = &issues[0];
    let zero_id = id_of(zero);
    assert_eq!(zero["title"], "ZeroDivisionError: division by zero");
    assert_eq!(zero["culprit"], "shop.billing in divide");
    assert_eq!(
        zero["metadata"],
        json!({
            "type": "ZeroDivisionError",
            "value": "division by zero",
            "filename": "shop/billing.py",
            "function": "divide",
        })
    );
    assert_eq!(zero["type"], "error");
    assert_eq!(zero["level"], "error");
    assert_eq!(zero["status"], "unresolved");
    assert_eq!(zero["substatus"], "new");
    assert_eq!(zero["firstRelease"]["version"], "shop@1.4.2");

    app.python(sdk, &["two-lines"], &server.dsn).await;
    let issues = server
        .wait_for_issues("the same error twice more, and a KeyError", |i| {
            i.len() == 2 && i.iter().map(count_of).sum::<i64>() == 5
        })
        .await;
    let zero = by_title(&issues, "ZeroDivisionError: division by zero");
    assert_eq!(id_of(zero), zero_id, "{issues:#?}");
    assert_eq!(count_of(zero), 4, "{issues:#?}");
    assert_eq!(
        event_titles(&server, zero).await,
        vec!["ZeroDivisionError: division by zero"; 4]
    );
    let key = by_title(&issues, "KeyError: 'customer'");
    assert_eq!(count_of(key), 1, "{issues:#?}");
    assert_eq!(key["culprit"], "shop.billing in customer_of");
    assert_eq!(key["metadata"]["type"], "KeyError");
    assert_eq!(key["metadata"]["value"], "'customer'");
    assert_eq!(key["metadata"]["function"], "customer_of");
    server.stop().await;
}

/// Python: a fingerprint (on the scope, or given to the capture call) puts
/// two different errors into one issue; without it they are two.
pub async fn python_fingerprint(shape: Shape, sdk: PythonSdk) {
    let server = Server::start(shape).await;
    let app = python_shop(&server, PY_FINGERPRINT);
    let connection = "ConnectionError: payment gateway refused the connection";
    let timeout = "TimeoutError: payment gateway timed out after 30s";

    app.python(sdk, &["fingerprint"], &server.dsn).await;
    let issues = server
        .wait_for_issues("two errors in one issue", |i| {
            i.len() == 1 && count_of(&i[0]) == 2
        })
        .await;
    let merged = &issues[0];
    // the issue reads like its latest event, as in Sentry
    let title = merged["title"].as_str().expect("a title");
    assert!(title == connection || title == timeout, "{merged:#}");
    assert_eq!(event_titles(&server, merged).await, [connection, timeout]);

    app.python(sdk, &["plain"], &server.dsn).await;
    let issues = server
        .wait_for_issues("the same errors without fingerprint", |i| i.len() == 3)
        .await;
    let merged_id = id_of(merged);
    let merged = issues
        .iter()
        .find(|i| id_of(i) == merged_id)
        .expect("the merged issue");
    assert_eq!(count_of(merged), 2, "{issues:#?}");
    let plain: Vec<&Value> = issues.iter().filter(|i| id_of(i) != merged_id).collect();
    assert!(plain.iter().all(|i| count_of(i) == 1), "{issues:#?}");
    let connection_issue = by_title(&issues, connection);
    assert_ne!(id_of(connection_issue), merged_id);
    assert_eq!(connection_issue["culprit"], "__main__ in pay");
    let timeout_issue = by_title(&issues, timeout);
    assert_ne!(id_of(timeout_issue), merged_id);
    assert_eq!(timeout_issue["culprit"], "__main__ in refund");
    server.stop().await;
}

/// Python: messages group by their template; levels, tags, release and
/// environment land on the issue and its events.
pub async fn python_messages(shape: Shape, sdk: PythonSdk) {
    let server = Server::start(shape).await;
    let app = python_shop(&server, PY_MESSAGES);

    app.python(sdk, &[], &server.dsn).await;
    let issues = server
        .wait_for_issues("three message issues, four events", |i| {
            i.len() == 3 && i.iter().map(count_of).sum::<i64>() == 4
        })
        .await;
    let payment = issues
        .iter()
        .find(|i| count_of(i) == 2)
        .expect("the template's issue");
    let formatted = ["payment 42 failed for bob", "payment 43 failed for alice"];
    let title = payment["title"].as_str().expect("a title");
    assert!(formatted.contains(&title), "{payment:#}");
    assert_eq!(payment["metadata"], json!({ "title": title }));
    assert_eq!(payment["type"], "default");
    assert_eq!(payment["level"], "error");
    assert_eq!(payment["culprit"], "");
    let mut sorted = formatted.to_vec();
    sorted.sort();
    assert_eq!(event_titles(&server, payment).await, sorted);

    let event = server.latest_event(&id_of(payment)).await;
    let message = event["entries"]
        .as_array()
        .and_then(|e| e.iter().find(|e| e["type"] == "message"))
        .unwrap_or_else(|| panic!("no message entry in {event:#}"));
    assert_eq!(message["data"]["message"], "payment %s failed for %s");
    for (key, value) in [
        ("logger", "shop.orders"),
        ("customer", "acme"),
        ("environment", "staging"),
        ("release", "shop@1.4.2"),
        ("level", "error"),
    ] {
        assert!(
            has_tag(&event, key, value),
            "no tag {key}={value}: {event:#}"
        );
    }
    assert_eq!(event["release"], "shop@1.4.2");
    assert_eq!(event["environment"], "staging");

    let fatal = by_title(&issues, "order database is gone");
    assert_eq!(fatal["level"], "fatal");
    assert_eq!(fatal["culprit"], "");
    let warning = by_title(&issues, "disk almost full");
    assert_eq!(warning["level"], "warning");
    assert_eq!(warning["type"], "default");
    for issue in &issues {
        assert_eq!(issue["firstRelease"]["version"], "shop@1.4.2", "{issue:#}");
        assert_eq!(issue["lastRelease"]["version"], "shop@1.4.2", "{issue:#}");
    }

    let all = titles(&issues);
    for (query, expected) in [
        ("level:warning", vec!["disk almost full"]),
        ("level:fatal", vec!["order database is gone"]),
        (
            "release:shop@1.4.2",
            all.iter().map(String::as_str).collect(),
        ),
        (
            "environment:staging",
            all.iter().map(String::as_str).collect(),
        ),
        ("environment:production", vec![]),
        ("customer:acme", all.iter().map(String::as_str).collect()),
        ("customer:globex", vec![]),
    ] {
        assert_eq!(titles(&server.search(query).await), expected, "{query}");
    }
    server.stop().await;
}

/// A resolved issue that gets a new event is unresolved again, regressed,
/// and counts the event.
pub async fn python_regression(shape: Shape, sdk: PythonSdk) {
    let server = Server::start(shape).await;
    let app = python_shop(&server, PY_GROUPING);

    app.python(sdk, &["once"], &server.dsn).await;
    let issues = server
        .wait_for_issues("one issue", |i| i.len() == 1 && count_of(&i[0]) == 1)
        .await;
    let id = id_of(&issues[0]);

    let (status, resolved) = server
        .api
        .put(
            &format!("/api/0/issues/{id}/"),
            json!({"status": "resolved"}),
        )
        .await;
    assert_eq!(status, 200, "{resolved}");
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(server.issue(&id).await["status"], "resolved");
    assert_eq!(
        titles(&server.search("is:unresolved").await),
        Vec::<String>::new()
    );

    app.python(sdk, &["once"], &server.dsn).await;
    let issues = server
        .wait_for_issues("the issue seen again", |i| {
            i.len() == 1 && count_of(&i[0]) == 2
        })
        .await;
    let issue = server.issue(&id).await;
    assert_eq!(id_of(&issues[0]), id);
    assert_eq!(issue["status"], "unresolved", "{issue:#}");
    assert_eq!(issue["substatus"], "regressed", "{issue:#}");
    assert_eq!(count_of(&issue), 2);
    assert_eq!(
        titles(&server.search("is:unresolved").await),
        ["ZeroDivisionError: division by zero"]
    );
    server.stop().await;
}

/// Over quota: the first two events of a key limited to 2 a minute are
/// accepted, the third gets 429 with `Retry-After` and
/// `X-Sentry-Rate-Limits`, and the SDK sends no more events in the announced
/// time (it drops them itself and says so in a client report).
pub async fn python_quota(shape: Shape, sdk: PythonSdk) {
    let server = Server::start(shape).await;
    let dsn = server.create_limited_key(2);
    let app = python_shop(&server, PY_QUOTA);
    let quota = r#"corral_ingest_dropped_total{reason="quota"}"#;
    let accepted = "corral_ingest_accepted_total";

    // the whole sequence must fall in one minute window
    fresh_quota_window(60, 20).await;
    let before = server.ingest_metrics().await;
    app.python(sdk, &[], &dsn).await;
    let after = server.ingest_metrics().await;
    assert_eq!(
        metric(&after, quota) - metric(&before, quota),
        1.0,
        "exactly one request over the quota reached the server: the SDK held back the rest\n{after}"
    );
    let accepted_delta = metric(&after, accepted) - metric(&before, accepted);

    // what the SDK was told, asked again with the same key
    let key = super::public_key_of(&dsn);
    let refused = post_envelope(&server, &key, &error_event("over quota")).await;
    assert_eq!(refused.status().as_u16(), 429);
    let header = |name: &str| {
        refused
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no {name} header: {refused:?}"))
            .to_string()
    };
    let retry_after: u64 = header("retry-after").parse().expect("whole seconds");
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    let limits = header("x-sentry-rate-limits");
    let parts: Vec<&str> = limits.split(':').collect();
    assert_eq!(parts.len(), 3, "X-Sentry-Rate-Limits {limits}");
    let limit_secs: u64 = parts[0].parse().expect("seconds");
    assert!(
        limit_secs.abs_diff(retry_after) <= 1,
        "{limits} vs {retry_after}"
    );
    let categories: Vec<&str> = parts[1].split(';').collect();
    assert!(
        categories.contains(&"error") && categories.contains(&"default"),
        "X-Sentry-Rate-Limits {limits}"
    );
    assert_eq!(parts[2], "key", "X-Sentry-Rate-Limits {limits}");

    let issues = server
        .wait_for_issues("the two accepted events", |i| {
            i.len() == 1 && count_of(&i[0]) == 2
        })
        .await;
    assert!(
        issues[0]["title"]
            .as_str()
            .is_some_and(|t| t.starts_with("quota probe ")),
        "{issues:#?}"
    );

    // the SDK reports the three events it dropped on its side
    let store = server.store().await;
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let discards = store
            .client_discard_totals(server.project_id())
            .await
            .expect("client discards");
        let backoff: i64 = discards
            .iter()
            .filter(|d| d.reason == "ratelimit_backoff")
            .map(|d| d.quantity)
            .sum();
        if backoff == 3 {
            break;
        }
        assert!(
            backoff < 3 && Instant::now() < deadline,
            "expected the SDK to report 3 events dropped for ratelimit_backoff: {discards:?}\n{}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(count_of(&server.issues().await[0]), 2);

    // Checked last, after everything else the case shows: the SDK's client
    // reports are envelopes without events, and must not count as events.
    assert_eq!(
        accepted_delta, 2.0,
        "the first two events were accepted, and nothing else counts as an accepted event\n{after}"
    );
    server.stop().await;
}

/// Node.js over quota: the SDK obeys `X-Sentry-Rate-Limits` — after one 429
/// it sends nothing more until the announced time has passed, then sends
/// again and is accepted.
pub async fn node_quota(shape: Shape) {
    let server = Server::start(shape).await;
    let dsn = server.create_limited_key(2);
    let app = node_shop(&server);
    let quota = r#"corral_ingest_dropped_total{reason="quota"}"#;

    // start with 8 to 20 seconds left in the minute window: room for the six
    // probes, and a wait for the next window within the SDK run's timeout
    let left = corral_core::quota::seconds_left(chrono::Utc::now(), 60);
    if left > 20 {
        tokio::time::sleep(Duration::from_secs(left - 18)).await;
    } else if left < 8 {
        tokio::time::sleep(Duration::from_secs(left + 42)).await;
    }
    let now_ms = chrono::Utc::now().timestamp_millis();
    // the window ends on the next whole minute; resume 1.5 s after it
    let resume_at = (now_ms / 60_000 + 1) * 60_000 + 1_500;
    let before = server.ingest_metrics().await;
    app.node_with(
        &["quota"],
        &dsn,
        &[("RESUME_AT_MS", &resume_at.to_string())],
    )
    .await;
    let after = server.ingest_metrics().await;
    assert_eq!(
        metric(&after, quota) - metric(&before, quota),
        1.0,
        "exactly one request over the quota reached the server: the SDK held back the rest \
         until the limit had passed\n{after}"
    );
    // Node attaches a synthetic stack to messages, so they group by their
    // in-app frames (like Sentry): which issue each lands in is not the
    // point here, that three events arrived and the last is stored
    let issues = server
        .wait_for_issues("two probes and the message after the limit", |i| {
            i.iter().map(count_of).sum::<i64>() == 3
        })
        .await;
    assert!(
        issues
            .iter()
            .any(|i| i["metadata"]["value"] == "node message after the limit"),
        "the SDK sent again once the limit had passed: {issues:#?}"
    );
    server.stop().await;
}

/// Node.js: an Error captured twice is one issue, a TypeError another; a
/// fingerprint merges two errors.
pub async fn node(shape: Shape) {
    let server = Server::start(shape).await;
    let app = node_shop(&server);
    let split = "Error: cannot split an order into 0 parts";
    let type_error = "TypeError: Cannot read properties of undefined (reading 'name')";

    app.node(&["errors"], &server.dsn).await;
    let issues = server
        .wait_for_issues("an Error twice and a TypeError", |i| {
            i.len() == 2 && i.iter().map(count_of).sum::<i64>() == 3
        })
        .await;
    let error = by_title(&issues, split);
    assert_eq!(count_of(error), 2, "{issues:#?}");
    assert_eq!(error["culprit"], "Object.splitOrder(lib:billing)");
    assert_eq!(error["metadata"]["type"], "Error");
    assert_eq!(
        error["metadata"]["value"],
        "cannot split an order into 0 parts"
    );
    assert_eq!(error["metadata"]["function"], "Object.splitOrder");
    assert!(
        error["metadata"]["filename"]
            .as_str()
            .is_some_and(|f| f.ends_with("/lib/billing.js")),
        "{error:#}"
    );
    assert_eq!(error["level"], "error");
    assert_eq!(error["firstRelease"]["version"], "shop-node@2.0.0");
    let typed = by_title(&issues, type_error);
    assert_eq!(count_of(typed), 1, "{issues:#?}");
    assert_eq!(typed["culprit"], "Object.customerName(lib:billing)");
    assert_eq!(typed["metadata"]["type"], "TypeError");

    app.node(&["fingerprint"], &server.dsn).await;
    let range = "RangeError: stock level out of range";
    let syntax = "SyntaxError: inventory payload is not JSON";
    let issues = server
        .wait_for_issues("two errors merged by fingerprint", |i| {
            i.len() == 3 && i.iter().map(count_of).sum::<i64>() == 5
        })
        .await;
    let merged = issues
        .iter()
        .find(|i| i["title"] == range || i["title"] == syntax)
        .unwrap_or_else(|| panic!("no inventory issue in {issues:#?}"));
    assert_eq!(count_of(merged), 2, "{issues:#?}");
    assert_eq!(event_titles(&server, merged).await, [range, syntax]);
    server.stop().await;
}

/// What one visit of the web shop's page left in the browser: the SDK's
/// version, what it learned from sending each event, and the Corral URLs the
/// page fetched (from the browser's own resource timing).
struct Visit {
    sdk_version: String,
    responses: Vec<Value>,
    corral_requests: Vec<String>,
}

/// Opens the page, clicks the button, and waits until the SDK has sent the
/// error and the browser has recorded its request to Corral (the resource
/// timing entry of a fetch appears once its response has been read, a
/// little after the SDK saw the status).
async fn visit_and_click(browser: &Client, url: &str, corral: &str) -> Visit {
    browser.goto(url).await.expect("opening the page");
    browser
        .find(Locator::Css("#add"))
        .await
        .expect("the button")
        .click()
        .await
        .expect("clicking the button");
    let deadline = Instant::now() + TIMEOUT;
    let read = r#"return {
        sdkVersion: window.Sentry && Sentry.SDK_VERSION,
        responses: window.sentryResponses,
        requests: performance.getEntriesByType("resource").map((entry) => entry.name),
    };"#;
    loop {
        let seen = browser
            .execute(read, vec![])
            .await
            .expect("reading the page");
        let visit = Visit {
            sdk_version: seen["sdkVersion"].as_str().unwrap_or("").to_string(),
            responses: seen["responses"].as_array().cloned().unwrap_or_default(),
            corral_requests: seen["requests"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .filter(|u| u.starts_with(corral))
                .map(str::to_string)
                .collect(),
        };
        if !visit.responses.is_empty() && !visit.corral_requests.is_empty() {
            return visit;
        }
        assert!(
            Instant::now() < deadline,
            "the SDK on {url} did not send to {corral} in {TIMEOUT:?}: {seen:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `@sentry/browser` in headless Chromium, on a page served from another
/// origin than Corral: an uncaught error from a click reaches Corral once
/// straight to the envelope endpoint and once through the tunnel. Both are
/// cross-origin requests, so the SDK reads Corral's answer only because
/// Corral allows it (CORS); both events are one issue.
pub async fn browser_sdk(shape: Shape) {
    let server = Server::start(shape).await;
    let pinned = sdk::browser_sdk_version();
    let tunnel = format!("{}/api/tunnel/", server.base_url);
    let options = json!({
        "dsn": server.dsn,
        "release": "web-shop@3.1.0",
        "environment": "production",
    });
    let page = WEB_PAGE
        .replace("__OPTIONS__", &options.to_string())
        .replace("__TUNNEL__", &json!(tunnel).to_string());
    let site = Site::serve(vec![
        Page::script("/static/sentry.js", sdk::browser_bundle()),
        Page::script("/static/cart.js", WEB_CART),
        Page::html("/shop.html", page),
    ])
    .await;
    assert_ne!(site.base_url, server.base_url);

    let driver = Chromedriver::start(&server.scratch("chromedriver")).await;
    let browser = driver.browser(&server.scratch("chromium-profile")).await;
    let visits = AssertUnwindSafe(async {
        let (direct, tunnelled) = (
            format!("{}/shop.html?route=direct", site.base_url),
            format!("{}/shop.html?route=tunnel", site.base_url),
        );
        (
            visit_and_click(&browser, &direct, &server.base_url).await,
            visit_and_click(&browser, &tunnelled, &server.base_url).await,
        )
    })
    .catch_unwind()
    .await;
    let closed = tokio::time::timeout(TIMEOUT, browser.close()).await;
    let (direct, tunnelled) = visits.unwrap_or_else(|panic| {
        eprintln!("{}\n{}", driver.log_tail(), server.logs());
        std::panic::resume_unwind(panic)
    });
    drop(driver);
    assert!(
        matches!(closed, Ok(Ok(()))),
        "the browser closed: {closed:?}"
    );

    let envelope_endpoint = format!("{}/api/{}/envelope/?", server.base_url, server.project_id());
    for (route, visit) in [("direct", &direct), ("tunnel", &tunnelled)] {
        assert_eq!(visit.sdk_version, pinned, "{route}: the pinned SDK ran");
        assert!(
            visit.responses.iter().all(|r| r["statusCode"] == 200),
            "{route}: the SDK read Corral's answer to its event: {:#?}",
            visit.responses
        );
    }
    let key = format!("sentry_key={}", server.public_key());
    assert!(
        direct
            .corral_requests
            .iter()
            .all(|u| u.starts_with(&envelope_endpoint) && u.contains(&key)),
        "straight to the envelope endpoint, the key in the query: {:#?}",
        direct.corral_requests
    );
    assert!(
        tunnelled.corral_requests.iter().all(|u| *u == tunnel),
        "only through the tunnel: {:#?}",
        tunnelled.corral_requests
    );

    let title = "Error: cart service is unavailable";
    let issues = server
        .wait_for_issues("the error from both routes in one issue", |i| {
            i.len() == 1 && count_of(&i[0]) == 2
        })
        .await;
    let issue = by_title(&issues, title);
    assert_eq!(issue["culprit"], "addToCart(/static/cart.js)");
    assert_eq!(issue["metadata"]["type"], "Error");
    assert_eq!(issue["metadata"]["function"], "addToCart");
    assert_eq!(issue["level"], "error");
    assert_eq!(issue["firstRelease"]["version"], "web-shop@3.1.0");
    let mut sent: Vec<&str> = [&direct, &tunnelled]
        .iter()
        .flat_map(|v| v.responses.iter())
        .filter_map(|r| r["eventId"].as_str())
        .collect();
    sent.sort_unstable();
    let events = server.issue_events(&id_of(issue)).await;
    let mut stored: Vec<&str> = events
        .iter()
        .filter_map(|e| e["eventID"].as_str())
        .collect();
    stored.sort_unstable();
    assert_eq!(stored, sent, "the events the SDK sent are the issue's");
    for route in ["direct", "tunnel"] {
        assert_eq!(
            titles(&server.search(&format!("route:{route}")).await),
            [title],
            "route:{route}"
        );
    }
    let event = server.latest_event(&id_of(issue)).await;
    assert_eq!(
        event["sdk"]["name"], "sentry.javascript.browser",
        "{event:#}"
    );
    assert_eq!(event["sdk"]["version"], pinned.as_str(), "{event:#}");
    drop(site);
    server.stop().await;
}

/// sentry-cli: `send-event -m` makes an issue with that title; a message
/// with arguments groups by its template and keeps level, release,
/// environment and tags.
pub async fn sentry_cli(shape: Shape) {
    let server = Server::start(shape).await;
    let app = App::new(server.scratch("cli"), &[]);

    let out = app
        .sentry_cli(
            &[
                "send-event",
                "-m",
                "nightly deploy finished",
                "--no-environ",
            ],
            &server.dsn,
        )
        .await;
    let event_id = out
        .lines()
        .find_map(|l| l.strip_prefix("Event id: "))
        .unwrap_or_else(|| panic!("no event id in {out:?}"))
        .trim()
        .replace('-', "");
    let issues = server
        .wait_for_issues("the sentry-cli event", |i| i.len() == 1)
        .await;
    let issue = &issues[0];
    assert_eq!(issue["title"], "nightly deploy finished");
    assert_eq!(issue["culprit"], "");
    assert_eq!(issue["type"], "default");
    assert_eq!(issue["level"], "error");
    let (status, event) = server
        .api
        .get(&format!(
            "/api/0/projects/{}/{}/events/{event_id}/",
            server.org, server.project
        ))
        .await;
    assert_eq!(status, 200, "{event}");
    assert_eq!(event["groupID"], issue["id"]);

    for (what, host) in [("canary", "web-3"), ("stable", "web-1")] {
        app.sentry_cli(
            &[
                "send-event",
                "-m",
                "deploy %s failed on %s",
                "-a",
                what,
                "-a",
                host,
                "--level",
                "warning",
                "--release",
                "cli@1.0.0",
                "--env",
                "ci",
                "--tag",
                "stage:canary",
                "--no-environ",
            ],
            &server.dsn,
        )
        .await;
    }
    let issues = server
        .wait_for_issues("one issue for the template", |i| {
            i.len() == 2 && i.iter().map(count_of).sum::<i64>() == 3
        })
        .await;
    let deploy = issues
        .iter()
        .find(|i| count_of(i) == 2)
        .expect("the template's issue");
    let title = deploy["title"].as_str().expect("a title");
    assert!(
        [
            "deploy canary failed on web-3",
            "deploy stable failed on web-1"
        ]
        .contains(&title),
        "{deploy:#}"
    );
    assert_eq!(deploy["level"], "warning");
    assert_eq!(deploy["firstRelease"]["version"], "cli@1.0.0");
    assert_eq!(titles(&server.search("stage:canary").await), [title]);
    assert_eq!(titles(&server.search("environment:ci").await), [title]);
    server.stop().await;
}

fn error_event(value: &str) -> Value {
    json!({
        "platform": "python",
        "level": "error",
        "exception": {"values": [{
            "type": "RuntimeError",
            "value": value,
            "stacktrace": {"frames": [{
                "module": "shop.retry", "function": "send", "filename": "shop/retry.py",
                "lineno": 3, "in_app": true,
            }]},
        }]},
    })
}

fn envelope(event_id: &str, event: &Value) -> String {
    let mut event = event.clone();
    event["event_id"] = json!(event_id);
    format!(
        "{}\n{}\n{}\n",
        json!({ "event_id": event_id, "sent_at": "2026-01-01T00:00:00Z" }),
        json!({ "type": "event", "content_type": "application/json" }),
        event
    )
}

/// POSTs an envelope of one event with `X-Sentry-Auth`, as server SDKs do.
async fn post_envelope(server: &Server, key: &str, event: &Value) -> reqwest::Response {
    let id = Uuid::new_v4().simple().to_string();
    reqwest::Client::new()
        .post(format!(
            "{}/api/{}/envelope/",
            server.base_url,
            server.project_id()
        ))
        .header(
            "x-sentry-auth",
            format!("Sentry sentry_key={key}, sentry_version=7, sentry_client=corral-tests/1.0"),
        )
        .header("content-type", "application/x-sentry-envelope")
        .body(envelope(&id, event))
        .send()
        .await
        .expect("an envelope POST")
}

/// The same envelope (same `event_id`) twice: both answered 200 with the id,
/// stored once.
pub async fn duplicate_event_id(shape: Shape) {
    let server = Server::start(shape).await;
    let id = Uuid::new_v4().simple().to_string();
    let body = envelope(&id, &error_event("sent twice"));
    let duplicates = "corral_events_duplicate_total";
    let before = metric(&server.worker_metrics().await, duplicates);
    let client = reqwest::Client::new();
    for _ in 0..2 {
        let response = client
            .post(format!(
                "{}/api/{}/envelope/",
                server.base_url,
                server.project_id()
            ))
            .header(
                "x-sentry-auth",
                format!(
                    "Sentry sentry_key={}, sentry_version=7, sentry_client=corral-tests/1.0",
                    server.public_key()
                ),
            )
            .body(body.clone())
            .send()
            .await
            .expect("an envelope POST");
        assert_eq!(response.status().as_u16(), 200);
        let answer: Value = response.json().await.expect("a JSON answer");
        assert_eq!(answer, json!({ "id": id }));
    }

    // both jobs are digested once the second has been recognised as a duplicate
    let deadline = Instant::now() + TIMEOUT;
    while metric(&server.worker_metrics().await, duplicates) < before + 1.0 {
        assert!(
            Instant::now() < deadline,
            "the duplicate was not digested in {TIMEOUT:?}\n{}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let issues = server
        .wait_for_issues("the event once", |i| i.len() == 1)
        .await;
    assert_eq!(issues[0]["title"], "RuntimeError: sent twice");
    assert_eq!(count_of(&issues[0]), 1, "{issues:#?}");
    let events = server.issue_events(&id_of(&issues[0])).await;
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0]["eventID"], id);
    server.stop().await;
}

fn header_has(response: &reqwest::Response, name: &str, wanted: &str) -> bool {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|part| part.trim().eq_ignore_ascii_case(wanted))
        })
}

/// What browser SDKs do: `text/plain` bodies (no preflight), the key in the
/// query string, and a CORS preflight when they send headers.
pub async fn browser_style(shape: Shape) {
    let server = Server::start(shape).await;
    let client = reqwest::Client::new();
    let origin = "https://shop.example";
    let pid = server.project_id();
    let query = format!(
        "sentry_key={}&sentry_version=7&sentry_client=sentry.javascript.browser%2F9.0.0",
        server.public_key()
    );

    let preflight = client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/{pid}/envelope/?{query}", server.base_url),
        )
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, x-sentry-auth",
        )
        .send()
        .await
        .expect("a preflight");
    assert!(preflight.status().is_success(), "{preflight:?}");
    let allowed_origin = preflight
        .headers()
        .get("access-control-allow-origin")
        .and_then(|v| v.to_str().ok());
    assert!(
        allowed_origin == Some("*") || allowed_origin == Some(origin),
        "{preflight:?}"
    );
    assert!(
        header_has(&preflight, "access-control-allow-methods", "POST"),
        "{preflight:?}"
    );
    for wanted in ["content-type", "x-sentry-auth"] {
        assert!(
            header_has(&preflight, "access-control-allow-headers", wanted),
            "{wanted} not allowed: {preflight:?}"
        );
    }

    let store_event = json!({
        "platform": "javascript",
        "exception": {"values": [{
            "type": "TypeError",
            "value": "x is not a function",
            "stacktrace": {"frames": [{
                "filename": "https://shop.example/static/app.js",
                "function": "onClick", "lineno": 10, "colno": 5, "in_app": true,
            }]},
        }]},
    });
    let stored = client
        .post(format!("{}/api/{pid}/store/?{query}", server.base_url))
        .header("origin", origin)
        .header("content-type", "text/plain;charset=UTF-8")
        .body(store_event.to_string())
        .send()
        .await
        .expect("a store POST");
    assert_eq!(stored.status().as_u16(), 200, "{stored:?}");
    assert!(
        stored.headers().contains_key("access-control-allow-origin"),
        "{stored:?}"
    );
    for exposed in ["x-sentry-rate-limits", "retry-after"] {
        assert!(
            header_has(&stored, "access-control-expose-headers", exposed),
            "{exposed} not exposed: {stored:?}"
        );
    }

    let envelope_event = json!({
        "platform": "javascript",
        "exception": {"values": [{
            "type": "ReferenceError",
            "value": "cart is not defined",
            "stacktrace": {"frames": [{
                "filename": "https://shop.example/static/cart.js",
                "function": "addToCart", "lineno": 3, "colno": 1, "in_app": true,
            }]},
        }]},
    });
    let id = Uuid::new_v4().simple().to_string();
    let sent = client
        .post(format!("{}/api/{pid}/envelope/?{query}", server.base_url))
        .header("origin", origin)
        .header("content-type", "text/plain;charset=UTF-8")
        .body(envelope(&id, &envelope_event))
        .send()
        .await
        .expect("an envelope POST");
    assert_eq!(sent.status().as_u16(), 200, "{sent:?}");
    assert_eq!(
        sent.json::<Value>().await.expect("a JSON answer"),
        json!({ "id": id })
    );

    // no key at all, or a key nobody issued
    for query in [
        String::new(),
        format!("?sentry_key={}", Uuid::new_v4().simple()),
    ] {
        let refused = client
            .post(format!("{}/api/{pid}/store/{query}", server.base_url))
            .header("content-type", "text/plain;charset=UTF-8")
            .body(store_event.to_string())
            .send()
            .await
            .expect("a store POST");
        assert_eq!(refused.status().as_u16(), 401, "{query}: {refused:?}");
    }

    let issues = server
        .wait_for_issues("two browser errors", |i| i.len() == 2)
        .await;
    // Sentry takes a URL's path as the file name of a JavaScript frame
    let typed = by_title(&issues, "TypeError: x is not a function");
    assert_eq!(typed["culprit"], "onClick(/static/app.js)");
    let reference = by_title(&issues, "ReferenceError: cart is not defined");
    assert_eq!(reference["culprit"], "addToCart(/static/cart.js)");
    server.stop().await;
}
