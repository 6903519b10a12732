//! The issue list and issue page of the web UI, on both stores, with issues
//! made by real ingest and the digest and users signed in by session
//! cookie: tabs, sort, filters, search, paging, sparklines, bulk changes,
//! the event in full, the action forms, CSRF, visibility and escaping.

use std::collections::HashSet;

use chrono::Utc;
use corral_core::model::{Assignee, IssueStatus, IssueSubstatus, Role};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::{self, Browser, Shape, TestApp, browser_for, event, fixture, member_of_acme};

const LIST: &str = "/organizations/acme/issues/";

/// An event of its own issue (grouped by message), with a level and more.
fn event_with(message: &str, extra: Value) -> (Uuid, Value) {
    let (id, mut ev) = event(message);
    if let (Some(obj), Some(more)) = (ev.as_object_mut(), extra.as_object()) {
        for (k, v) in more {
            obj.insert(k.clone(), v.clone());
        }
    }
    (id, ev)
}

/// Sends the events and waits until each is stored; returns their issue ids.
async fn ingest(app: &TestApp, events: &[(Uuid, Value)]) -> Vec<i64> {
    for (id, ev) in events {
        assert_eq!(app.send_event(ev).await, *id);
    }
    let mut issues = Vec::new();
    for (id, _) in events {
        let stored = app.wait_for_event(*id).await;
        issues.push(stored.issue_id.expect("grouped"));
    }
    issues
}

/// A fixture event as an SDK sent it, under a fresh id.
fn fixture_event(name: &str) -> (Uuid, Value) {
    let mut ev: Value = serde_json::from_slice(&fixture(&format!("incoming/{name}"))).unwrap();
    let id = Uuid::new_v4();
    ev["event_id"] = json!(id.simple().to_string());
    (id, ev)
}

fn ok(reply: &common::Reply) -> &str {
    assert_eq!(reply.status, 200, "{}", reply.body);
    &reply.body
}

/// The issue ids of a list page, in order (the bulk checkboxes).
fn listed_ids(html: &str) -> Vec<i64> {
    html.split(r#"<input type="checkbox" name="id" value=""#)
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().parse().unwrap())
        .collect()
}

/// The `href` of the link with `rel` (`next`, `prev`), unescaped.
fn rel_link(html: &str, rel: &str) -> Option<String> {
    let marker = format!(r#"rel="{rel}" href=""#);
    let start = html.find(&marker)? + marker.len();
    let href = &html[start..];
    Some(unescape(&href[..href.find('"')?]))
}

fn unescape(s: &str) -> String {
    s.replace("&amp;", "&")
        .replace("&#38;", "&")
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&#60;", "<")
        .replace("&gt;", ">")
        .replace("&#62;", ">")
}

/// The count badge of a status tab.
fn tab_count(html: &str, label: &str) -> i64 {
    let marker = format!(r#">{label} <span class="badge">"#);
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {label} tab count in {html}"))
        + marker.len();
    html[start..].split('<').next().unwrap().parse().unwrap()
}

fn list_url(params: &[(&str, &str)]) -> String {
    let url = reqwest::Url::parse_with_params(&format!("http://x{LIST}"), params).unwrap();
    format!("{}?{}", url.path(), url.query().unwrap_or(""))
}

async fn owner(app: &TestApp) -> Browser {
    browser_for(app, app.fixtures().owner.id).await
}

async fn list_and_filters(shape: Shape) {
    let app = TestApp::start(shape).await;
    let (frontend, frontend_key) = app
        .create_project(Some(app.fixtures().org.id), "frontend")
        .await;
    let issues = ingest(
        &app,
        &[
            fixture_event("python_zero_division.json"),
            event_with(
                "disk almost full",
                json!({"level": "warning", "environment": "staging", "release": "2.0 beta"}),
            ),
            event_with("noisy", json!({"environment": "production"})),
            event_with("noisy", json!({"environment": "production"})),
            event_with("noisy", json!({"environment": "production"})),
        ],
    )
    .await;
    let (zero, disk, noisy) = (issues[0], issues[1], issues[2]);
    // an issue in another project of the organization
    let (front_id, front_event) = event("frontend broke");
    app.post_envelope_as(
        &frontend_key.public_key,
        frontend.id,
        common::event_envelope(&front_event),
    )
    .await
    .accepted_id();
    let front = app
        .wait_for_event_in(frontend.id, front_id)
        .await
        .issue_id
        .unwrap();

    let b = owner(&app).await;
    let reply = b.get(LIST).await;
    let html = ok(&reply);
    assert!(
        html.contains("ZeroDivisionError: division by zero"),
        "{html}"
    );
    assert!(html.contains("disk almost full"));
    assert!(
        html.contains("frontend broke"),
        "across the organization's projects"
    );
    assert!(html.contains(r#"<span class="short-id">BACKEND-"#));
    assert!(html.contains(r#"<span class="short-id">FRONTEND-1</span>"#));
    assert!(
        html.contains(r#"<td class="num count">3</td>"#),
        "the noisy issue's count"
    );
    assert!(
        html.contains(r#"aria-label="Events in the last 24 hours: 3 events""#),
        "a sparkline of the noisy issue's events"
    );
    assert_eq!(
        html.matches(r#"<svg class="sparkline""#).count(),
        4,
        "one sparkline per issue"
    );
    assert!(
        html.contains(r#"title="20"#),
        "absolute times in title attributes"
    );
    assert_eq!(tab_count(html, "Unresolved"), 4);
    assert_eq!(listed_ids(html).len(), 4);
    assert!(
        reply
            .header("content-security-policy")
            .is_some_and(|c| c.contains("default-src 'self'")),
        "security headers"
    );

    // tabs
    app.store
        .set_issue_status(disk, corral_core::StatusChange::Resolve)
        .await
        .unwrap();
    let html = b.get(LIST).await.body;
    assert_eq!(tab_count(&html, "Unresolved"), 3);
    assert_eq!(tab_count(&html, "Resolved"), 1);
    assert_eq!(tab_count(&html, "Ignored"), 0);
    assert_eq!(tab_count(&html, "All"), 4);
    assert!(!listed_ids(&html).contains(&disk));
    let html = b.get(&list_url(&[("status", "resolved")])).await.body;
    assert_eq!(listed_ids(&html), vec![disk]);
    let html = b.get(&list_url(&[("status", "all")])).await.body;
    assert_eq!(listed_ids(&html).len(), 4);
    // an `is:` status in the search picks the tab
    let html = b.get(&list_url(&[("query", "is:resolved")])).await.body;
    assert_eq!(listed_ids(&html), vec![disk]);
    assert!(html.contains(r#"aria-current="page">Resolved"#), "{html}");

    // sort: most events first, newest first
    let html = b
        .get(&list_url(&[("status", "all"), ("sort", "freq")]))
        .await
        .body;
    assert_eq!(listed_ids(&html)[0], noisy);
    let html = b
        .get(&list_url(&[("status", "all"), ("sort", "new")]))
        .await
        .body;
    assert_eq!(listed_ids(&html)[0], front, "first seen last");
    assert_eq!(b.get(&list_url(&[("sort", "loud")])).await.status, 400);

    // filters become search terms
    let only = |params: Vec<(&'static str, &'static str)>| {
        let b = &b;
        async move {
            let mut all = vec![("status", "all")];
            all.extend(params);
            let reply = b.get(&list_url(&all)).await;
            listed_ids(ok(&reply))
        }
    };
    assert_eq!(only(vec![("level", "warning")]).await, vec![disk]);
    assert_eq!(only(vec![("environment", "production")]).await, vec![noisy]);
    assert_eq!(only(vec![("release", "2.0 beta")]).await, vec![disk]);
    assert_eq!(
        only(vec![("query", "\"division by\"")]).await,
        vec![zero],
        "quoted free text"
    );
    assert_eq!(only(vec![("project", "frontend")]).await, vec![front]);
    let mut both = only(vec![("project", "frontend"), ("project", "backend")]).await;
    both.sort();
    assert_eq!(both.len(), 4);
    assert_eq!(
        b.get(&list_url(&[("project", "nope")])).await.status,
        404,
        "an unknown project"
    );

    // assignment searches
    app.store
        .assign_issue(zero, Some(Assignee::User(app.fixtures().owner.id)))
        .await
        .unwrap();
    let team = app
        .store
        .create_team(app.fixtures().org.id, "ops", "Ops")
        .await
        .unwrap();
    app.store
        .add_team_member(team.id, app.fixtures().owner.id)
        .await
        .unwrap();
    app.store
        .assign_issue(noisy, Some(Assignee::Team(team.id)))
        .await
        .unwrap();
    let mut mine = only(vec![("query", "assigned:me")]).await;
    mine.sort();
    let mut expected = vec![zero, noisy];
    expected.sort();
    assert_eq!(mine, expected, "me and my teams");
    let mut assigned = only(vec![("query", "is:assigned")]).await;
    assigned.sort();
    assert_eq!(assigned, expected);
    let mut unassigned = only(vec![("query", "is:unassigned")]).await;
    unassigned.sort();
    let mut rest = vec![disk, front];
    rest.sort();
    assert_eq!(unassigned, rest);
    let html = b.get(LIST).await.body;
    assert!(html.contains(">Owner</td>"), "the assignee's name: {html}");
    assert!(html.contains(">#ops</td>"), "the assigned team");

    // a search the language does not know is an error on the page, not silence
    let reply = b.get(&list_url(&[("query", "level:loud")])).await;
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains(r#"role="alert""#), "{}", reply.body);
    assert!(
        reply.body.contains("Search not understood"),
        "{}",
        reply.body
    );
    assert!(reply.body.contains("loud"));
    assert!(listed_ids(&reply.body).is_empty());
    let reply = b.get(&list_url(&[("query", "timesSeen:>3")])).await;
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains("unknown search key"), "{}", reply.body);
}

async fn paging(shape: Shape) {
    let app = TestApp::start(shape).await;
    // grouping ignores numbers in messages: the issues differ in words
    let word = |i: usize| {
        format!(
            "{}{}",
            (b'a' + (i / 26) as u8) as char,
            (b'a' + (i % 26) as u8) as char
        )
    };
    let events: Vec<_> = (0..60)
        .map(|i| event(&format!("issue {}", word(i))))
        .collect();
    let ids: HashSet<i64> = ingest(&app, &events).await.into_iter().collect();
    assert_eq!(ids.len(), 60);
    let b = owner(&app).await;
    for sort in ["date", "new", "freq"] {
        let mut seen = Vec::new();
        let mut pages = Vec::new();
        let mut url = Some(list_url(&[("sort", sort)]));
        while let Some(u) = url {
            let reply = b.get(&u).await;
            let html = ok(&reply).to_string();
            let page = listed_ids(&html);
            assert!(page.len() <= 25);
            seen.extend(page.clone());
            pages.push((u, page, html.clone()));
            url = rel_link(&html, "next");
            assert!(pages.len() <= 3, "too many pages");
        }
        assert_eq!(pages.len(), 3, "{sort}: 25 + 25 + 10");
        assert_eq!(seen.len(), 60, "{sort}: each issue once");
        assert_eq!(seen.iter().copied().collect::<HashSet<_>>(), ids);
        assert!(
            rel_link(&pages[0].2, "prev").is_none(),
            "no page before the first"
        );
        // previous goes back page by page
        let prev = rel_link(&pages[2].2, "prev").expect("a previous link");
        assert_eq!(listed_ids(ok(&b.get(&prev).await)), pages[1].1);
        let prev = rel_link(&pages[1].2, "prev").expect("a previous link");
        assert_eq!(listed_ids(ok(&b.get(&prev).await)), pages[0].1);
    }
    assert_eq!(b.get(&list_url(&[("cursor", "x")])).await.status, 400);
}

async fn bulk_changes(shape: Shape) {
    let app = TestApp::start(shape).await;
    let org = app.fixtures().org.id;
    // the member's team has `backend`; `secret` belongs to another team
    let (secret, secret_key) = app.create_project(Some(org), "secret").await;
    let mine = app.store.create_team(org, "mine", "Mine").await.unwrap();
    let theirs = app
        .store
        .create_team(org, "theirs", "Theirs")
        .await
        .unwrap();
    app.store
        .add_project_team(app.project().id, mine.id)
        .await
        .unwrap();
    app.store
        .add_project_team(secret.id, theirs.id)
        .await
        .unwrap();
    let member = member_of_acme(&app, "member@acme.test", Role::Member).await;
    app.store.add_team_member(mine.id, member.id).await.unwrap();

    let visible = ingest(&app, &[event("one"), event("two"), event("three")]).await;
    let (hidden_event_id, hidden_event) = event("hidden");
    app.post_envelope_as(
        &secret_key.public_key,
        secret.id,
        common::event_envelope(&hidden_event),
    )
    .await
    .accepted_id();
    let hidden = app
        .wait_for_event_in(secret.id, hidden_event_id)
        .await
        .issue_id
        .unwrap();

    let b = browser_for(&app, member.id).await;
    let html = b.get(LIST).await.body;
    let listed: HashSet<i64> = listed_ids(&html).into_iter().collect();
    assert_eq!(
        listed,
        visible.iter().copied().collect(),
        "only visible issues"
    );
    assert!(!html.contains(">hidden<"));

    let ids: Vec<String> = [visible[0], visible[1], hidden]
        .iter()
        .map(|i| i.to_string())
        .collect();
    let mut fields: Vec<(&str, &str)> = ids.iter().map(|i| ("id", i.as_str())).collect();
    fields.push(("action", "resolve"));
    fields.push(("return_to", "/organizations/acme/issues/?status=all"));
    // without the token nothing changes
    let refused = b
        .post_form("/organizations/acme/issues/bulk", &fields)
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(
        app.store.issue_by_id(visible[0]).await.unwrap().status,
        IssueStatus::Unresolved
    );
    let reply = b.submit("/organizations/acme/issues/bulk", &fields).await;
    assert_eq!(reply.status, 303, "{}", reply.body);
    assert_eq!(
        reply.header("location"),
        Some("/organizations/acme/issues/?status=all&notice=resolved&n=2")
    );
    for (id, status) in [
        (visible[0], IssueStatus::Resolved),
        (visible[1], IssueStatus::Resolved),
        (visible[2], IssueStatus::Unresolved),
        (hidden, IssueStatus::Unresolved),
    ] {
        assert_eq!(app.store.issue_by_id(id).await.unwrap().status, status);
    }
    let html = b
        .get(&list_url(&[
            ("status", "resolved"),
            ("notice", "resolved"),
            ("n", "2"),
        ]))
        .await
        .body;
    let mut resolved = listed_ids(&html);
    resolved.sort();
    let mut expected = vec![visible[0], visible[1]];
    expected.sort();
    assert_eq!(resolved, expected);
    assert!(html.contains("2 issues resolved."));
    assert_eq!(listed_ids(&b.get(LIST).await.body), vec![visible[2]]);

    // ignore and unresolve
    let one = visible[2].to_string();
    let reply = b
        .submit(
            "/organizations/acme/issues/bulk",
            &[("id", one.as_str()), ("action", "ignore")],
        )
        .await;
    assert_eq!(reply.status, 303);
    assert_eq!(
        app.store.issue_by_id(visible[2]).await.unwrap().status,
        IssueStatus::Ignored
    );
    let reply = b
        .submit(
            "/organizations/acme/issues/bulk",
            &[
                ("id", one.as_str()),
                ("action", "unresolve"),
                ("return_to", "https://evil.example/"),
            ],
        )
        .await;
    assert_eq!(
        reply.header("location"),
        Some("/organizations/acme/issues/?notice=unresolved&n=1"),
        "never back to another site"
    );
    assert_eq!(
        app.store.issue_by_id(visible[2]).await.unwrap().status,
        IssueStatus::Unresolved
    );
    // an outsider changes nothing, and learns nothing
    let outsider = app
        .store
        .create_user(corral_core::NewUser {
            email: "out@globex.test".into(),
            name: "Out".into(),
            password_hash: None,
            is_superuser: false,
        })
        .await
        .unwrap();
    let o = browser_for(&app, outsider.id).await;
    let reply = o
        .submit(
            "/organizations/acme/issues/bulk",
            &[("id", one.as_str()), ("action", "resolve")],
        )
        .await;
    assert_eq!(reply.status, 404);
    assert_eq!(o.get(LIST).await.status, 404);
    assert_eq!(
        app.store.issue_by_id(visible[2]).await.unwrap().status,
        IssueStatus::Unresolved
    );
}

async fn issue_page(shape: Shape) {
    let app = TestApp::start(shape).await;
    let (first_id, first) = fixture_event("python_zero_division.json");
    let mut second = first.clone();
    let second_id = Uuid::new_v4();
    second["event_id"] = json!(second_id.simple().to_string());
    second["user"] = json!({"id": "42", "email": "ada@example.com", "username": "ada"});
    second["release"] = json!("backend@1.4.2");
    second["tags"] = json!({"customer": "big-co"});
    second["contexts"]["os"] = json!({"name": "Ubuntu", "version": "22.04"});
    second["contexts"]["browser"] = json!({"name": "Firefox", "version": "75.0"});
    second["breadcrumbs"] = json!([
        {"timestamp": Utc::now().timestamp(), "category": "query", "level": "info",
         "message": "SELECT 1", "data": {"rows": 1}},
        {"timestamp": Utc::now().timestamp(), "category": "http", "message": "GET /divide-zero/"}
    ]);
    let mut third = first.clone();
    let third_id = Uuid::new_v4();
    third["event_id"] = json!(third_id.simple().to_string());
    // one at a time, so they are received in this order
    let mut issue = 0;
    for (id, ev) in [(first_id, &first), (second_id, &second), (third_id, &third)] {
        app.send_event(ev).await;
        issue = app.wait_for_event(id).await.issue_id.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let b = owner(&app).await;
    let base = format!("/organizations/acme/issues/{issue}/");

    let reply = b.get(&base).await;
    let html = ok(&reply);
    assert!(html.contains("ZeroDivisionError"));
    assert!(html.contains("division by zero"));
    assert!(
        html.contains(r#"<span class="badge unhandled">unhandled</span>"#),
        "mechanism"
    );
    assert!(html.contains("mechanism django"));
    assert!(html.contains(r#"<dd class="count">3</dd>"#), "{html}");
    assert!(
        html.contains(r#"<details class="frame in-app" open>"#),
        "the newest in-app frame open"
    );
    assert!(html.contains(r#"<span class="badge in-app-badge">in app</span>"#));
    assert!(
        html.contains(r#"<li class="current" aria-current="true">        0/0</li>"#),
        "the error line highlighted: {html}"
    );
    assert!(
        html.contains(r#"<ol class="context mono" start="13">"#),
        "line numbers"
    );
    assert!(html.contains("<caption>Local variables</caption>"));
    assert!(html.contains("DivideZeroView"), "variable values");
    assert!(
        html.contains("http://localhost:8001/divide-zero/"),
        "request URL"
    );
    assert!(
        html.contains(r#"<th scope="row">User-Agent</th>"#),
        "request headers"
    );
    assert!(html.contains(r#"<th scope="row">foo</th>"#), "query string");
    assert!(html.contains("CPython 3.8.2"), "runtime context");
    assert!(html.contains("sentry.python 0.14.3"), "SDK");
    assert!(html.contains(r#"aria-label="Events in the last 24 hours: 3 events""#));
    assert!(html.contains(r#"aria-label="Events in the last 30 days: 3 events""#));
    assert!(
        html.contains("<summary>Numbers</summary>"),
        "chart numbers as a table"
    );
    assert!(
        html.contains(r#"<h3>level <span class="muted small">3</span></h3>"#),
        "tag breakdown"
    );
    assert!(html.contains("100% (3)"), "{html}");
    // the latest event: an older one, no newer one
    let older = rel_link(html, "prev").expect("an older event");
    assert_eq!(older, format!("{base}events/{}/", second_id.simple()));
    assert!(rel_link(html, "next").is_none());
    assert!(html.contains(&format!(
        r#"href="{base}events/{}/json""#,
        third_id.simple()
    )));

    // the middle event, with its user, breadcrumbs, contexts and tags
    let reply = b.get(&older).await;
    let html = ok(&reply);
    assert_eq!(
        rel_link(html, "prev"),
        Some(format!("{base}events/{}/", first_id.simple()))
    );
    assert_eq!(
        rel_link(html, "next"),
        Some(format!("{base}events/{}/", third_id.simple()))
    );
    assert!(html.contains(&second_id.simple().to_string()));
    assert!(html.contains("ada@example.com"), "user");
    assert!(
        html.contains(r#"<td class="crumb-message">SELECT 1</td>"#),
        "breadcrumbs"
    );
    assert!(
        html.contains(r#"{"rows":1}"#)
            || html.contains("&#34;rows&#34;:1")
            || html.contains("&quot;rows&quot;:1"),
        "breadcrumb data: {html}"
    );
    assert!(html.contains("Ubuntu 22.04"), "os context");
    assert!(html.contains("Firefox 75.0"), "browser context");
    assert!(html.contains("Operating system"));
    assert!(
        html.contains(r#"<span class="tag-k">customer</span> <span class="tag-v">big-co</span>"#)
    );
    assert!(html.contains("backend@1.4.2"), "release");

    // raw JSON, same rules
    let reply = b
        .get(&format!("{base}events/{}/json", second_id.simple()))
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let data = reply.json();
    assert_eq!(data["user"]["email"], "ada@example.com");
    assert_eq!(data["exception"]["values"][0]["type"], "ZeroDivisionError");

    // an event of another issue, or a transaction, is not this issue's
    let other_issue = ingest(&app, &[event("another")]).await[0];
    let lines: Vec<Value> =
        serde_json::from_slice(&fixture("transactions/django_simple.json")).unwrap();
    let txn_id = Uuid::new_v4();
    let mut txn = lines[2].clone();
    txn["event_id"] = json!(txn_id.simple().to_string());
    txn["timestamp"] = json!(Utc::now().timestamp());
    txn["start_timestamp"] = json!(Utc::now().timestamp() - 1);
    let envelope = common::Envelope::new(json!({"event_id": txn_id.simple().to_string()}))
        .item(
            json!({"type": "transaction", "content_type": "application/json"}),
            &serde_json::to_vec(&txn).unwrap(),
        )
        .build();
    app.post_envelope(envelope).await.assert_accepted();
    let stored_txn = app.wait_for_event(txn_id).await;
    assert_eq!(stored_txn.issue_id, None);
    for path in [
        format!("{base}events/{}/", txn_id.simple()),
        format!("{base}events/{}/json", txn_id.simple()),
        format!(
            "/organizations/acme/issues/{other_issue}/events/{}/",
            first_id.simple()
        ),
        format!("{base}events/not-an-id/"),
        "/organizations/acme/issues/999999/".to_string(),
        "/organizations/acme/issues/abc/".to_string(),
    ] {
        assert_eq!(b.get(&path).await.status, 404, "{path}");
    }
    let html = b.get(&list_url(&[("status", "all")])).await.body;
    assert_eq!(listed_ids(&html).len(), 2, "transactions are not issues");
}

/// POSTs an action form of the issue page.
async fn act(b: &Browser, issue: i64, form: &str, fields: &[(&str, &str)]) -> common::Reply {
    b.submit(
        &format!("/organizations/acme/issues/{issue}/{form}"),
        fields,
    )
    .await
}

async fn actions(shape: Shape) {
    let app = TestApp::start(shape).await;
    let issue = ingest(&app, &[event_with("act on me", json!({"release": "1.0"}))]).await[0];
    let member = member_of_acme(&app, "mem@acme.test", Role::Member).await;
    let team = app
        .store
        .create_team(app.fixtures().org.id, "backend-team", "Backend")
        .await
        .unwrap();
    let b = browser_for(&app, member.id).await;
    let get = async || app.store.issue_by_id(issue).await.unwrap();

    // every form needs the token
    for (form, fields) in [
        ("status", vec![("action", "resolve")]),
        ("assign", vec![("assignee", "team:1")]),
        ("comments", vec![("text", "hi")]),
    ] {
        let reply = b
            .post_form(
                &format!("/organizations/acme/issues/{issue}/{form}"),
                &fields,
            )
            .await;
        assert_eq!(reply.status, 403, "{form}");
        let mut wrong = fields.clone();
        wrong.push(("csrf_token", "forged"));
        let reply = b
            .post_form(
                &format!("/organizations/acme/issues/{issue}/{form}"),
                &wrong,
            )
            .await;
        assert_eq!(reply.status, 403, "{form} with a wrong token");
    }
    let unchanged = get().await;
    assert_eq!(unchanged.status, IssueStatus::Unresolved);
    assert_eq!(unchanged.assignee, None);
    assert_eq!(unchanged.num_comments, 0);

    let reply = act(&b, issue, "status", &[("action", "resolve")]).await;
    assert_eq!(reply.status, 303);
    assert_eq!(
        reply.header("location"),
        Some(format!("/organizations/acme/issues/{issue}/?notice=resolved").as_str())
    );
    assert_eq!(get().await.status, IssueStatus::Resolved);
    let html = b
        .get(&format!(
            "/organizations/acme/issues/{issue}/?notice=resolved"
        ))
        .await
        .body;
    assert!(html.contains(r#"<p class="notice ok" role="status">Resolved.</p>"#));
    assert!(
        html.contains(r#"value="unresolve""#),
        "a resolved issue offers unresolve"
    );

    act(&b, issue, "status", &[("action", "unresolve")]).await;
    let i = get().await;
    assert_eq!(i.status, IssueStatus::Unresolved);

    act(&b, issue, "status", &[("action", "resolve_next")]).await;
    let i = get().await;
    assert_eq!(i.status, IssueStatus::Resolved);
    assert_eq!(i.resolved_in_release.as_deref(), Some("1.0"));
    let html = b
        .get(&format!("/organizations/acme/issues/{issue}/"))
        .await
        .body;
    assert!(html.contains("in the next release after 1.0"), "{html}");

    act(&b, issue, "status", &[("action", "ignore_forever")]).await;
    let i = get().await;
    assert_eq!(i.status, IssueStatus::Ignored);
    assert_eq!(i.substatus, IssueSubstatus::ArchivedForever);

    let before = Utc::now();
    for (action, minutes) in [("ignore_30m", 30), ("ignore_2h", 120), ("ignore_24h", 1440)] {
        act(&b, issue, "status", &[("action", action)]).await;
        let i = get().await;
        assert_eq!(i.status, IssueStatus::Ignored);
        assert_eq!(i.substatus, IssueSubstatus::ArchivedUntilConditionMet);
        let until = i.ignore_until.expect("ignored until a time");
        let expected = before + chrono::Duration::minutes(minutes);
        assert!(
            (until - expected).num_seconds().abs() < 60,
            "{action}: {until} vs {expected}"
        );
    }
    for (action, count) in [("ignore_10", 10), ("ignore_100", 100)] {
        act(&b, issue, "status", &[("action", action)]).await;
        let i = get().await;
        assert_eq!(i.status, IssueStatus::Ignored);
        assert_eq!(i.ignore_count, Some(count), "{action}");
    }
    let html = b
        .get(&format!("/organizations/acme/issues/{issue}/"))
        .await
        .body;
    assert!(html.contains("until 100 more events (0 so far)"), "{html}");
    assert_eq!(
        act(&b, issue, "status", &[("action", "explode")])
            .await
            .status,
        400
    );

    // assign to a member, a team, nobody
    let target = format!("user:{}", app.fixtures().owner.id);
    let reply = act(&b, issue, "assign", &[("assignee", target.as_str())]).await;
    assert_eq!(reply.status, 303);
    assert_eq!(
        get().await.assignee,
        Some(Assignee::User(app.fixtures().owner.id))
    );
    let html = b
        .get(&format!("/organizations/acme/issues/{issue}/"))
        .await
        .body;
    assert!(
        html.contains(r#"<dd class="assignee">Owner</dd>"#),
        "{html}"
    );
    assert!(html.contains(&format!(
        r#"<option value="{target}" selected>Owner</option>"#
    )));
    let team_value = format!("team:{}", team.id);
    act(&b, issue, "assign", &[("assignee", team_value.as_str())]).await;
    assert_eq!(get().await.assignee, Some(Assignee::Team(team.id)));
    let html = b
        .get(&format!("/organizations/acme/issues/{issue}/"))
        .await
        .body;
    assert!(html.contains(r#"<dd class="assignee">#backend-team</dd>"#));
    act(&b, issue, "assign", &[("assignee", "")]).await;
    assert_eq!(get().await.assignee, None);
    // someone outside the organization cannot be assigned
    let stranger = app
        .store
        .create_user(corral_core::NewUser {
            email: "stranger@else.test".into(),
            name: "Stranger".into(),
            password_hash: None,
            is_superuser: false,
        })
        .await
        .unwrap();
    let value = format!("user:{}", stranger.id);
    assert_eq!(
        act(&b, issue, "assign", &[("assignee", value.as_str())])
            .await
            .status,
        400
    );
    assert_eq!(
        act(&b, issue, "assign", &[("assignee", "bob")])
            .await
            .status,
        400
    );
    assert_eq!(get().await.assignee, None);
    // and every refusal reads the same: another organization's member and
    // team, a superuser, nobody
    let beta = app.store.create_organization("beta", "Beta").await.unwrap();
    app.store
        .set_membership(beta.id, stranger.id, Role::Owner)
        .await
        .unwrap();
    let their_team = app.store.create_team(beta.id, "ops", "Ops").await.unwrap();
    let root = app
        .store
        .create_user(corral_core::NewUser {
            email: "root@corral.test".into(),
            name: "Root Admin".into(),
            password_hash: None,
            is_superuser: true,
        })
        .await
        .unwrap();
    let nobody = root.id + 1000;
    let mut answers = Vec::new();
    for value in [
        format!("user:{}", stranger.id),
        format!("user:{}", root.id),
        format!("user:{nobody}"),
        format!("team:{}", their_team.id),
        format!("team:{nobody}"),
    ] {
        let reply = act(&b, issue, "assign", &[("assignee", value.as_str())]).await;
        assert_eq!(reply.status, 400, "{value}: {}", reply.body);
        answers.push((value, reply.body));
    }
    for (value, body) in &answers {
        assert_eq!(body, &answers[0].1, "{value} reads like the others");
    }
    assert_eq!(get().await.assignee, None);

    // comments
    let reply = act(
        &b,
        issue,
        "comments",
        &[("text", "Looking into it <b>now</b>")],
    )
    .await;
    assert_eq!(reply.status, 303);
    assert_eq!(get().await.num_comments, 1);
    let html = b
        .get(&format!("/organizations/acme/issues/{issue}/"))
        .await
        .body;
    assert!(
        html.contains("Looking into it &#60;b&#62;now&#60;/b&#62;")
            || html.contains("Looking into it &lt;b&gt;now&lt;/b&gt;"),
        "{html}"
    );
    assert!(html.contains("<strong>mem</strong>"), "the author");
    assert_eq!(
        act(&b, issue, "comments", &[("text", "   ")]).await.status,
        400
    );
    assert_eq!(get().await.num_comments, 1);
}

async fn visibility_and_escaping(shape: Shape) {
    let app = TestApp::start(shape).await;
    let org = app.fixtures().org.id;
    let (_, mut nasty) = event("<script>alert(1)</script>");
    let nasty_id = Uuid::new_v4();
    nasty["event_id"] = json!(nasty_id.simple().to_string());
    nasty["tags"] = json!({"x\"><img src=x>": "<i>v</i>"});
    nasty["exception"] =
        json!({"values": [{"type": "<b>Boom</b>", "value": "\"><script>bad()</script>"}]});
    let issue = ingest(&app, &[(nasty_id, nasty)]).await[0];
    // the project belongs to a team the member is not in
    let team = app.store.create_team(org, "core", "Core").await.unwrap();
    let other_team = app.store.create_team(org, "other", "Other").await.unwrap();
    app.store
        .add_project_team(app.project().id, team.id)
        .await
        .unwrap();
    let member = member_of_acme(&app, "m@acme.test", Role::Member).await;
    app.store
        .add_team_member(other_team.id, member.id)
        .await
        .unwrap();
    let globex = app
        .store
        .create_organization("globex", "Globex")
        .await
        .unwrap();
    let outsider = app
        .store
        .create_user(corral_core::NewUser {
            email: "o@globex.test".into(),
            name: "O".into(),
            password_hash: None,
            is_superuser: false,
        })
        .await
        .unwrap();
    app.store
        .set_membership(globex.id, outsider.id, Role::Owner)
        .await
        .unwrap();

    let base = format!("/organizations/acme/issues/{issue}/");
    let pages = [
        base.clone(),
        format!("{base}events/{}/", nasty_id.simple()),
        format!("{base}events/{}/json", nasty_id.simple()),
    ];
    for who in [member.id, outsider.id] {
        let b = browser_for(&app, who).await;
        for path in &pages {
            let reply = b.get(path).await;
            assert_eq!(reply.status, 404, "{path}");
            assert!(!reply.body.contains("script"), "nothing of the issue leaks");
        }
        for (form, fields) in [
            ("status", vec![("action", "resolve")]),
            ("assign", vec![("assignee", "")]),
            ("comments", vec![("text", "x")]),
        ] {
            assert_eq!(act(&b, issue, form, &fields).await.status, 404, "{form}");
        }
    }
    let b = browser_for(&app, member.id).await;
    let html = b.get(LIST).await.body;
    assert!(
        listed_ids(&html).is_empty(),
        "the member sees no issue of the project"
    );
    let o = browser_for(&app, outsider.id).await;
    assert_eq!(o.get(LIST).await.status, 404, "another organization");
    assert_eq!(
        o.get(&base.replace("acme", "globex")).await.status,
        404,
        "an issue under the wrong organization"
    );
    let i = app.store.issue_by_id(issue).await.unwrap();
    assert_eq!(i.status, IssueStatus::Unresolved);
    assert_eq!(i.num_comments, 0);
    // signed out: to the login page
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap();
    let reply = common::send(anonymous.get(app.url(&base))).await;
    assert_eq!(reply.status, 303);
    assert!(
        reply
            .header("location")
            .unwrap()
            .starts_with("/login?next=")
    );

    // the owner sees it, escaped
    let b = owner(&app).await;
    for path in [LIST.to_string(), base.clone()] {
        let reply = b.get(&path).await;
        let html = ok(&reply);
        assert!(!html.contains("<script>alert"), "{path}: {html}");
        assert!(!html.contains("<script>bad"), "{path}");
        assert!(!html.contains("<b>Boom"), "{path}");
        assert!(!html.contains("<img src=x>"), "{path}");
        assert!(
            html.contains("&#60;b&#62;Boom&#60;/b&#62;")
                || html.contains("&lt;b&gt;Boom&lt;/b&gt;"),
            "{path}: the title as text"
        );
        assert_eq!(
            html.matches("<script").count(),
            1,
            "only the layout's script tag"
        );
    }
    let html = b.get(&base).await.body;
    assert!(
        html.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
            || html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "the message as text: {html}"
    );
}

both_shapes!(
    list_and_filters,
    paging,
    bulk_changes,
    issue_page,
    actions,
    visibility_and_escaping
);
