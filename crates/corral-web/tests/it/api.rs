//! The REST API on both stores: visibility, Sentry's shapes, search, sort,
//! cursor paging, status changes and tokens. Issues come from real ingest
//! and the digest.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use corral_core::NewUser;
use corral_core::model::{IssueStatus, format_short_id};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::{self, Reply, Shape, TestApp, create_token, event};

const ISSUES: &str = "/api/0/projects/acme/backend/issues/";

/// An event at `minutes_ago`, grouped by its `message`.
fn event_at(message: &str, minutes_ago: i64) -> (Uuid, Value) {
    let (id, mut ev) = event(message);
    ev["timestamp"] = json!((Utc::now() - Duration::minutes(minutes_ago)).to_rfc3339());
    (id, ev)
}

/// Sends the events and waits until each is stored.
async fn ingest(app: &TestApp, events: &[(Uuid, Value)]) {
    for (id, ev) in events {
        assert_eq!(app.send_event(ev).await, *id);
    }
    for (id, _) in events {
        app.wait_for_event(*id).await;
    }
}

/// The issue id (as the API writes it) of an event.
async fn issue_of(app: &TestApp, event_id: Uuid) -> String {
    app.wait_for_event(event_id)
        .await
        .issue_id
        .expect("grouped into an issue")
        .to_string()
}

/// `GET` the issue list with these parameters.
async fn list(app: &TestApp, params: &[(&str, &str)]) -> Reply {
    let url = reqwest::Url::parse_with_params(&app.url(ISSUES), params).unwrap();
    app.api_get(url.as_str(), app.token()).await
}

fn titles(reply: &Reply) -> Vec<String> {
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply
        .json()
        .as_array()
        .expect("a list")
        .iter()
        .map(|i| i["title"].as_str().unwrap().to_string())
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// The `next` link of Sentry's `Link` header: its URL when it has results.
fn next_link(reply: &Reply) -> Option<String> {
    let link = reply.header("link").expect("a Link header");
    let next = link
        .split(", <")
        .find(|part| part.contains("rel=\"next\""))
        .expect("a next link");
    let url = next
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap()
        .to_string();
    if next.contains("results=\"true\"") {
        Some(url)
    } else {
        assert!(next.contains("results=\"false\""), "{link}");
        None
    }
}

async fn projects_are_listed_by_organization(shape: Shape) {
    let app = TestApp::start(shape).await;
    let org = app.project().org_id;
    app.create_project(Some(org), "frontend").await;
    app.create_project(None, "secret").await;
    let slugs = |reply: Reply| -> HashSet<String> {
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                assert!(p["id"].is_string(), "ids are strings: {p}");
                p["slug"].as_str().unwrap().to_string()
            })
            .collect()
    };
    let owner = slugs(app.api_get("/api/0/projects/", app.token()).await);
    assert_eq!(owner, HashSet::from(["backend".into(), "frontend".into()]));

    let admin = app
        .store
        .create_user(NewUser {
            email: "root@corral.test".into(),
            name: "Root".into(),
            password_hash: None,
            is_superuser: true,
        })
        .await
        .unwrap();
    let root_token = create_token(&app.store, admin.id, &["project:read"]).await;
    let all = slugs(app.api_get("/api/0/projects/", &root_token).await);
    assert_eq!(
        all,
        HashSet::from(["backend".into(), "frontend".into(), "secret".into()])
    );
    // nor can the owner open the other organization's project by its path
    let reply = app
        .api_get("/api/0/projects/secret-org/secret/", app.token())
        .await;
    assert_eq!(reply.status, 404, "{}", reply.body);
}

async fn keys_are_listed_with_their_dsns(shape: Shape) {
    let app = TestApp::start(shape).await;
    let reply = app
        .api_get("/api/0/projects/acme/backend/keys/", app.token())
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let keys = reply.json();
    let keys = keys.as_array().unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let key = &keys[0];
    assert_eq!(key["public"], app.key());
    assert_eq!(key["isActive"], true);
    assert_eq!(key["dsn"]["public"], app.dsn().as_str());
    assert_eq!(
        key["dsn"]["envelope"],
        app.url(&app.envelope_path()).as_str()
    );
    let csp = key["dsn"]["csp"].as_str().unwrap();
    assert!(csp.contains(&format!("sentry_key={}", app.key())), "{csp}");

    // the DSN works as printed: an SDK configured with it is accepted
    let dsn: corral_protocol::Dsn = app.dsn().parse().unwrap();
    let (id, ev) = event("dsn from the api");
    let reply = app
        .post_envelope_as(
            &dsn.public_key,
            dsn.project_id.parse().unwrap(),
            common::event_envelope(&ev),
        )
        .await;
    assert_eq!(reply.accepted_id(), id);
}

async fn issues_are_searched(shape: Shape) {
    let app = TestApp::start(shape).await;
    let (a, mut crash) = event("unused");
    crash["message"] = Value::Null;
    crash["exception"] = json!({"values": [{"type": "ValueError", "value": "bad basket"}]});
    crash["tags"] = json!({"browser": "Firefox"});
    let (b, mut disk) = event("disk almost full");
    disk["level"] = json!("warning");
    disk["tags"] = json!({"browser": "Chrome"});
    let (c, mut cache) = event("cache miss storm");
    cache["level"] = json!("info");
    ingest(&app, &[(a, crash), (b, disk), (c, cache)]).await;
    let disk_issue = issue_of(&app, b).await;
    let cache_issue = issue_of(&app, c).await;

    let all = [
        "ValueError: bad basket",
        "cache miss storm",
        "disk almost full",
    ];
    assert_eq!(
        sorted(titles(&list(&app, &[]).await)),
        all,
        "default: unresolved"
    );

    let reply = app
        .api_put(
            &format!("/api/0/issues/{cache_issue}/"),
            app.token(),
            json!({"status": "resolved"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply = app
        .api_put(
            &format!("/api/0/issues/{disk_issue}/"),
            app.token(),
            json!({"status": "ignored"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);

    for (query, expected) in [
        ("is:unresolved", vec!["ValueError: bad basket"]),
        ("is:resolved", vec!["cache miss storm"]),
        ("is:ignored", vec!["disk almost full"]),
        ("", all.to_vec()),
        ("level:error", vec!["ValueError: bad basket"]),
        (
            "level:warning,info",
            vec!["cache miss storm", "disk almost full"],
        ),
        ("disk", vec!["disk almost full"]),
        ("\"MISS STORM\"", vec!["cache miss storm"]),
        ("browser:Firefox", vec!["ValueError: bad basket"]),
        ("browser:Chrome is:ignored", vec!["disk almost full"]),
        ("browser:Safari", vec![]),
    ] {
        let got = sorted(titles(&list(&app, &[("query", query)]).await));
        assert_eq!(got, expected, "query {query:?}");
    }
}

async fn issues_are_sorted(shape: Shape) {
    let app = TestApp::start(shape).await;
    ingest(
        &app,
        &[
            event_at("issue A", 50),
            event_at("issue A", 5),
            event_at("issue B", 40),
            event_at("issue B", 30),
            event_at("issue B", 20),
            event_at("issue C", 10),
        ],
    )
    .await;
    for (sort, expected) in [
        ("date", ["issue A", "issue C", "issue B"]),
        ("new", ["issue C", "issue B", "issue A"]),
        ("freq", ["issue B", "issue A", "issue C"]),
    ] {
        assert_eq!(
            titles(&list(&app, &[("sort", sort)]).await),
            expected,
            "sort={sort}"
        );
    }
    assert_eq!(
        titles(&list(&app, &[]).await),
        ["issue A", "issue C", "issue B"],
        "the default sort is by date"
    );
    let reply = list(&app, &[("sort", "priority")]).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
}

async fn cursor_paging_returns_every_issue_once(shape: Shape) {
    let app = TestApp::start(shape).await;
    // equal timestamps and counts: paging must break ties by id
    let at = Utc::now() - Duration::minutes(3);
    // (words, not numbers: numbers are normalized away by grouping)
    let names = [
        "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf",
    ];
    let events: Vec<(Uuid, Value)> = names
        .iter()
        .map(|name| {
            let (id, mut ev) = event(&format!("paged issue {name}"));
            ev["timestamp"] = json!(at.to_rfc3339());
            (id, ev)
        })
        .collect();
    ingest(&app, &events).await;
    for sort in ["date", "new", "freq"] {
        let first = reqwest::Url::parse_with_params(
            &app.url(ISSUES),
            &[("sort", sort), ("limit", "3"), ("query", "is:unresolved")],
        )
        .unwrap();
        let mut url = Some(first.to_string());
        let mut seen = Vec::new();
        let mut pages = 0;
        while let Some(next) = url {
            pages += 1;
            assert!(pages <= 10, "paging does not end");
            // follow the link as given, the way Sentry clients do
            let reply = app.api_get(&next, app.token()).await;
            let page = titles(&reply);
            assert!(page.len() <= 3, "sort={sort}: a page of {}", page.len());
            seen.extend(page);
            url = next_link(&reply);
        }
        assert_eq!(pages, 3, "sort={sort}: 3 + 3 + 1");
        let unique: HashSet<&String> = seen.iter().collect();
        assert_eq!(seen.len(), 7, "sort={sort}: {seen:?}");
        assert_eq!(unique.len(), 7, "sort={sort}: each once: {seen:?}");
    }
}

async fn an_issue_has_sentrys_shape(shape: Shape) {
    let app = TestApp::start(shape).await;
    let exception = json!({"values": [{"type": "KeyError", "value": "'basket'",
        "stacktrace": {"frames": [
            {"module": "shop.views", "function": "checkout", "filename": "shop/views.py",
             "lineno": 42, "in_app": true}]}}]});
    let mut events = Vec::new();
    for minutes_ago in [9, 2] {
        let (id, mut ev) = event_at("unused", minutes_ago);
        ev["message"] = Value::Null;
        ev["exception"] = exception.clone();
        ev["release"] = json!("shop@1.0");
        events.push((id, ev));
    }
    ingest(&app, &events).await;
    let id = issue_of(&app, events[0].0).await;
    let stored = app.store.issue_by_id(id.parse().unwrap()).await.unwrap();
    let reply = app
        .api_get(&format!("/api/0/issues/{id}/"), app.token())
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let issue = reply.json();
    assert_eq!(issue["id"], id.as_str());
    assert_eq!(
        issue["shortId"],
        format_short_id("backend", stored.short_id)
    );
    assert!(issue["shortId"].as_str().unwrap().starts_with("BACKEND-"));
    assert_eq!(issue["title"], "KeyError: 'basket'");
    assert_eq!(issue["culprit"], stored.culprit.as_str());
    assert!(!stored.culprit.is_empty());
    assert_eq!(issue["count"], "2", "count is a string");
    assert_eq!(issue["status"], "unresolved");
    assert_eq!(issue["level"], "error");
    assert_eq!(issue["metadata"]["type"], "KeyError");
    assert_eq!(issue["metadata"]["value"], "'basket'");
    assert_eq!(issue["project"]["slug"], "backend");
    assert_eq!(issue["firstRelease"]["version"], "shop@1.0");
    let time = |field: &str| {
        DateTime::parse_from_rfc3339(issue[field].as_str().unwrap())
            .unwrap_or_else(|e| panic!("{field}: {e}"))
            .with_timezone(&Utc)
    };
    assert_eq!(time("firstSeen"), stored.first_seen);
    assert_eq!(time("lastSeen"), stored.last_seen);
    assert!(time("lastSeen") - time("firstSeen") >= Duration::minutes(6));
}

async fn issue_status_changes(shape: Shape) {
    let app = TestApp::start(shape).await;
    let (id, mut ev) = event("flaky job");
    ev["release"] = json!("worker@3.1");
    ingest(&app, &[(id, ev)]).await;
    let issue = issue_of(&app, id).await;
    let path = format!("/api/0/issues/{issue}/");
    let put = async |body: Value| {
        let reply = app.api_put(&path, app.token(), body).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply.json()
    };
    let stored_status = async || {
        app.store
            .issue_by_id(issue.parse().unwrap())
            .await
            .unwrap()
            .status
    };

    let v = put(json!({"status": "resolved"})).await;
    assert_eq!(v["status"], "resolved");
    assert_eq!(stored_status().await, IssueStatus::Resolved);

    let v = put(json!({"status": "unresolved"})).await;
    assert_eq!(v["status"], "unresolved");
    assert_eq!(stored_status().await, IssueStatus::Unresolved);

    let v = put(json!({"status": "ignored", "statusDetails": {"ignoreDuration": 30}})).await;
    assert_eq!(v["status"], "ignored");
    let until = DateTime::parse_from_rfc3339(v["statusDetails"]["ignoreUntil"].as_str().unwrap())
        .unwrap()
        .with_timezone(&Utc);
    let expected = Utc::now() + Duration::minutes(30);
    assert!(
        (until - expected).num_seconds().abs() < 60,
        "ignored until {until}, expected about {expected}"
    );
    assert_eq!(stored_status().await, IssueStatus::Ignored);

    let v = put(json!({"status": "ignored", "statusDetails": {"ignoreCount": 5}})).await;
    assert_eq!(v["status"], "ignored");
    assert_eq!(v["statusDetails"]["ignoreCount"], 5);

    let v = put(json!({"status": "ignored"})).await;
    assert_eq!(v["substatus"], "archived_forever");

    let v = put(json!({"status": "resolved", "statusDetails": {"inNextRelease": true}})).await;
    assert_eq!(v["status"], "resolved");
    assert_eq!(v["statusDetails"]["inNextRelease"], true);
    assert_eq!(v["statusDetails"]["inRelease"], "worker@3.1");

    let reply = app
        .api_put(&path, app.token(), json!({"status": "forgotten"}))
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.detail().contains("forgotten"), "{}", reply.body);
}

async fn a_resolved_issue_regresses(shape: Shape) {
    let app = TestApp::start(shape).await;
    let (first, ev) = event("came back");
    ingest(&app, &[(first, ev)]).await;
    let issue = issue_of(&app, first).await;
    let path = format!("/api/0/issues/{issue}/");
    let reply = app
        .api_put(&path, app.token(), json!({"status": "resolved"}))
        .await;
    assert_eq!(reply.json()["status"], "resolved");

    let (again, ev) = event("came back");
    ingest(&app, &[(again, ev)]).await;
    assert_eq!(issue_of(&app, again).await, issue, "the same issue");
    let v = app.api_get(&path, app.token()).await.json();
    assert_eq!(v["status"], "unresolved");
    assert_eq!(v["substatus"], "regressed");
    assert_eq!(v["count"], "2");
}

async fn resolved_in_next_release_waits_for_a_newer_release(shape: Shape) {
    let app = TestApp::start(shape).await;
    let in_release = |release: &str| {
        let (id, mut ev) = event("fixed in the next one");
        ev["release"] = json!(release);
        (id, ev)
    };
    let first = in_release("app@1.0");
    ingest(&app, std::slice::from_ref(&first)).await;
    let issue = issue_of(&app, first.0).await;
    let path = format!("/api/0/issues/{issue}/");
    let reply = app
        .api_put(
            &path,
            app.token(),
            json!({"status": "resolved", "statusDetails": {"inNextRelease": true}}),
        )
        .await;
    assert_eq!(reply.json()["status"], "resolved");

    // the old release still runs somewhere: no regression
    ingest(&app, &[in_release("app@1.0")]).await;
    assert_eq!(
        app.api_get(&path, app.token()).await.json()["status"],
        "resolved"
    );
    // the next release has the problem again
    ingest(&app, &[in_release("app@1.1")]).await;
    let v = app.api_get(&path, app.token()).await.json();
    assert_eq!(v["status"], "unresolved");
    assert_eq!(v["substatus"], "regressed");
}

async fn issue_events_and_the_latest(shape: Shape) {
    let app = TestApp::start(shape).await;
    // one after the other, so their order is known
    let mut sent = Vec::new();
    for _ in 0..3 {
        let (id, ev) = event("thrice");
        ingest(&app, &[(id, ev)]).await;
        sent.push(id);
    }
    let issue = issue_of(&app, sent[0]).await;

    let reply = app
        .api_get(&format!("/api/0/issues/{issue}/events/"), app.token())
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let ids: Vec<String> = reply
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(e["groupID"], issue.as_str());
            e["eventID"].as_str().unwrap().to_string()
        })
        .collect();
    let newest_first: Vec<String> = sent
        .iter()
        .rev()
        .map(|id| id.simple().to_string())
        .collect();
    assert_eq!(ids, newest_first, "newest first");

    // one per page, following the links
    let mut url = Some(app.url(&format!("/api/0/issues/{issue}/events/?limit=1")));
    let mut paged = Vec::new();
    while let Some(next) = url {
        let reply = app.api_get(&next, app.token()).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let page = reply.json();
        let page = page.as_array().unwrap();
        assert_eq!(page.len(), 1, "{next}: one per page");
        paged.push(page[0]["eventID"].as_str().unwrap().to_string());
        url = next_link(&reply);
        assert!(paged.len() <= 3, "{paged:?}");
    }
    assert_eq!(paged, ids);

    let reply = app
        .api_get(
            &format!("/api/0/issues/{issue}/events/latest/"),
            app.token(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let latest = reply.json();
    assert_eq!(latest["eventID"], newest_first[0].as_str());
    assert_eq!(latest["message"], "thrice");
    assert!(latest["entries"].is_array());
}

async fn requests_without_a_valid_token_are_unauthorized(shape: Shape) {
    let app = TestApp::start(shape).await;
    let anonymous = common::send(app.client.get(app.url("/api/0/projects/"))).await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    assert!(!anonymous.detail().is_empty());
    let wrong = format!("crl_{}", "0".repeat(64));
    for header in [
        format!("Bearer {wrong}"),
        format!("Basic {}", app.token()),
        "Bearer".to_string(),
        // a DSN key is not an API token
        format!("Bearer {}", app.key()),
    ] {
        let reply = common::send(
            app.client
                .get(app.url("/api/0/projects/"))
                .header("authorization", header.as_str()),
        )
        .await;
        assert_eq!(reply.status, 401, "{header}: {}", reply.body);
    }
}

async fn a_token_without_the_scope_is_forbidden(shape: Shape) {
    let app = TestApp::start(shape).await;
    let (id, ev) = event("scoped");
    ingest(&app, &[(id, ev)]).await;
    let issue = issue_of(&app, id).await;
    let reader = create_token(&app.store, app.fixtures().owner.id, &["project:read"]).await;
    assert_eq!(app.api_get("/api/0/projects/", &reader).await.status, 200);
    let reply = app.api_get(ISSUES, &reader).await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert!(reply.detail().contains("event:read"), "{}", reply.body);
    let event_reader = create_token(&app.store, app.fixtures().owner.id, &["event:read"]).await;
    assert_eq!(app.api_get(ISSUES, &event_reader).await.status, 200);
    let reply = app
        .api_put(
            &format!("/api/0/issues/{issue}/"),
            &event_reader,
            json!({"status": "resolved"}),
        )
        .await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    assert!(reply.detail().contains("event:write"), "{}", reply.body);
    assert_eq!(
        app.store
            .issue_by_id(issue.parse().unwrap())
            .await
            .unwrap()
            .status,
        IssueStatus::Unresolved
    );
}

async fn another_organizations_issue_is_not_found(shape: Shape) {
    let app = TestApp::start(shape).await;
    let (other, other_key) = app.create_project(None, "rival").await;
    let (id, ev) = event("not yours");
    let reply = app
        .post_envelope_as(&other_key.public_key, other.id, common::event_envelope(&ev))
        .await;
    assert_eq!(reply.accepted_id(), id);
    let issue = app.wait_for_event_in(other.id, id).await.issue_id.unwrap();
    for path in [
        format!("/api/0/issues/{issue}/"),
        format!("/api/0/issues/{issue}/events/"),
        format!("/api/0/issues/{issue}/events/latest/"),
        "/api/0/projects/rival-org/rival/issues/".to_string(),
    ] {
        let reply = app.api_get(&path, app.token()).await;
        assert_eq!(reply.status, 404, "{path}: {}", reply.body);
    }
    let reply = app
        .api_put(
            &format!("/api/0/issues/{issue}/"),
            app.token(),
            json!({"status": "resolved"}),
        )
        .await;
    assert_eq!(reply.status, 404, "{}", reply.body);
    assert_eq!(
        app.store.issue_by_id(issue).await.unwrap().status,
        IssueStatus::Unresolved
    );
}

async fn an_unknown_search_key_is_a_bad_request(shape: Shape) {
    let app = TestApp::start(shape).await;
    let reply = list(&app, &[("query", "is:unresolved bookmarks:me")]).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.detail().contains("\"bookmarks\""), "{}", reply.body);
    let reply = list(&app, &[("query", "is:sleeping")]).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(reply.detail().contains("sleeping"), "{}", reply.body);
}

both_shapes!(
    projects_are_listed_by_organization,
    keys_are_listed_with_their_dsns,
    issues_are_searched,
    issues_are_sorted,
    cursor_paging_returns_every_issue_once,
    an_issue_has_sentrys_shape,
    issue_status_changes,
    a_resolved_issue_regresses,
    resolved_in_next_release_waits_for_a_newer_release,
    issue_events_and_the_latest,
    requests_without_a_valid_token_are_unauthorized,
    a_token_without_the_scope_is_forbidden,
    another_organizations_issue_is_not_found,
    an_unknown_search_key_is_a_bad_request,
);
