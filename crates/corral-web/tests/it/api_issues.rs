//! Issues through the REST API beyond one project's list: the organization's
//! list, bulk changes, assignment, events by id, tag values and comments.
//! Issues come from real ingest and the digest.

use std::collections::HashSet;

use corral_core::NewUser;
use corral_core::model::{Assignee, IssueStatus, Role};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::common::{self, Reply, Shape, TestApp, create_token, event, member_of_acme};

/// Sends an event to a project through its key and waits for its issue.
async fn issue_in(app: &TestApp, project_id: i64, key: &str, ev: &Value) -> i64 {
    let reply = app
        .post_envelope_as(key, project_id, common::event_envelope(ev))
        .await;
    let id = reply.accepted_id();
    app.wait_for_event_in(project_id, id)
        .await
        .issue_id
        .expect("grouped")
}

async fn issue_of(app: &TestApp, message: &str) -> i64 {
    let (_, ev) = event(message);
    issue_in(app, app.project().id, app.key(), &ev).await
}

fn ids(reply: &Reply) -> HashSet<String> {
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply
        .json()
        .as_array()
        .expect("a list")
        .iter()
        .map(|i| i["id"].as_str().expect("string ids").to_string())
        .collect()
}

fn set(ids: &[i64]) -> HashSet<String> {
    ids.iter().map(|i| i.to_string()).collect()
}

/// The URL of the `next` link when it has results.
fn next_link(reply: &Reply) -> Option<String> {
    let link = reply.header("link").expect("a Link header");
    let next = link
        .split(", <")
        .find(|part| part.contains("rel=\"next\""))
        .expect("a next link");
    let url = next.trim_start_matches('<').split('>').next().unwrap();
    next.contains("results=\"true\"").then(|| url.to_string())
}

/// Follows `next` links from `first`, collecting every item's id.
async fn all_pages(app: &TestApp, first: &str, token: &str) -> Vec<String> {
    let mut url = Some(first.to_string());
    let mut seen = Vec::new();
    let mut pages = 0;
    while let Some(u) = url {
        pages += 1;
        assert!(pages < 50, "paging does not end");
        let reply = app.api_get(&u, token).await;
        assert_eq!(reply.status, 200, "{u}: {}", reply.body);
        for item in reply.json().as_array().unwrap() {
            let id = item["id"].as_str().or(item["value"].as_str()).unwrap();
            seen.push(id.to_string());
        }
        url = next_link(&reply);
    }
    seen
}

async fn the_organization_list_spans_visible_projects(shape: Shape) {
    let app = TestApp::start(shape).await;
    let org = app.fixtures().org.id;
    let (frontend, front_key) = app.create_project(Some(org), "frontend").await;
    let (rival, rival_key) = app.create_project(None, "rival").await;
    let back = issue_of(&app, "backend trouble").await;
    let (_, ev) = event("frontend trouble");
    let front = issue_in(&app, frontend.id, &front_key.public_key, &ev).await;
    let (_, ev) = event("frontend more trouble");
    let front2 = issue_in(&app, frontend.id, &front_key.public_key, &ev).await;
    let (_, ev) = event("rival trouble");
    issue_in(&app, rival.id, &rival_key.public_key, &ev).await;

    let list = "/api/0/organizations/acme/issues/";
    let reply = app.api_get(list, app.token()).await;
    assert_eq!(ids(&reply), set(&[back, front, front2]));
    let issue = &reply.json()[0];
    assert!(issue["project"]["slug"].is_string(), "{issue}");

    let narrowed = format!("{list}?project={}", frontend.id);
    assert_eq!(
        ids(&app.api_get(&narrowed, app.token()).await),
        set(&[front, front2])
    );
    let both = format!(
        "{list}?project={}&project={}",
        frontend.id,
        app.project().id
    );
    assert_eq!(
        ids(&app.api_get(&both, app.token()).await),
        set(&[back, front, front2])
    );
    // another organization's project is no project of this list
    let reply = app
        .api_get(&format!("{list}?project={}", rival.id), app.token())
        .await;
    assert_eq!(reply.status, 404, "{}", reply.body);

    // pages keep the project filter
    let first = app.url(&format!("{narrowed}&limit=1&query="));
    let seen = all_pages(&app, &first, app.token()).await;
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        seen.into_iter().collect::<HashSet<_>>(),
        set(&[front, front2])
    );

    // a member of the backend's team sees only the backend's issues
    let core = app.store.create_team(org, "core", "Core").await.unwrap();
    let web = app.store.create_team(org, "web", "Web").await.unwrap();
    app.store
        .add_project_team(app.project().id, core.id)
        .await
        .unwrap();
    app.store
        .add_project_team(frontend.id, web.id)
        .await
        .unwrap();
    let member = member_of_acme(&app, "dev@acme.test", Role::Member).await;
    app.store.add_team_member(core.id, member.id).await.unwrap();
    let token = create_token(&app.store, member.id, &["event:read"]).await;
    assert_eq!(ids(&app.api_get(list, &token).await), set(&[back]));
    let reply = app.api_get(&narrowed, &token).await;
    assert_eq!(reply.status, 404, "{}", reply.body);
    // the search applies across the organization too
    let reply = app
        .api_get(&format!("{list}?query=frontend"), app.token())
        .await;
    assert_eq!(ids(&reply), set(&[front, front2]));
}

async fn bulk_changes_touch_only_reachable_issues(shape: Shape) {
    let app = TestApp::start(shape).await;
    let a = issue_of(&app, "first of many").await;
    let b = issue_of(&app, "second of many").await;
    let c = issue_of(&app, "third of many").await;
    let (rival, rival_key) = app.create_project(None, "rival").await;
    let (_, ev) = event("not in reach");
    let theirs = issue_in(&app, rival.id, &rival_key.public_key, &ev).await;
    let status = async |id: i64| app.store.issue_by_id(id).await.unwrap().status;

    let bulk = "/api/0/projects/acme/backend/issues/";
    let reply = app
        .api_put(
            &format!("{bulk}?id={a}&id={b}&id={theirs}"),
            app.token(),
            json!({"status": "resolved"}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.json(),
        json!({"status": "resolved", "statusDetails": {}})
    );
    assert_eq!(status(a).await, IssueStatus::Resolved);
    assert_eq!(status(b).await, IssueStatus::Resolved);
    assert_eq!(status(c).await, IssueStatus::Unresolved, "not named");
    assert_eq!(
        status(theirs).await,
        IssueStatus::Unresolved,
        "out of reach"
    );

    // only ids out of reach: nothing to do, nothing said
    let reply = app
        .api_put(
            &format!("{bulk}?id={theirs}"),
            app.token(),
            json!({"status": "resolved"}),
        )
        .await;
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(status(theirs).await, IssueStatus::Unresolved);

    let reply = app
        .api_put(
            &format!("{bulk}?id={a}&id={c}"),
            app.token(),
            json!({"status": "ignored", "statusDetails": {"ignoreDuration": 60}}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let v = reply.json();
    assert_eq!(v["status"], "ignored");
    assert!(v["statusDetails"]["ignoreUntil"].is_string(), "{v}");
    assert_eq!(status(c).await, IssueStatus::Ignored);

    // across the organization, assigning
    let owner = &app.fixtures().owner;
    let reply = app
        .api_put(
            &format!("/api/0/organizations/acme/issues/?id={b}&id={c}&id={theirs}"),
            app.token(),
            json!({"assignedTo": owner.email}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let v = reply.json();
    assert_eq!(
        v,
        json!({"assignedTo": {"type": "user", "id": owner.id.to_string(), "name": owner.name, "email": owner.email}})
    );
    for id in [b, c] {
        assert_eq!(
            app.store.issue_by_id(id).await.unwrap().assignee,
            Some(Assignee::User(owner.id))
        );
    }
    assert_eq!(app.store.issue_by_id(theirs).await.unwrap().assignee, None);

    // mistakes change nothing
    for (query, body, why) in [
        (String::new(), json!({"status": "resolved"}), "?id="),
        (format!("?id={a}"), json!({"status": "asleep"}), "asleep"),
        (
            format!("?id={a}"),
            json!({"hasSeen": true}),
            "nothing to change",
        ),
        (
            "?id=x".to_string(),
            json!({"status": "resolved"}),
            "query string",
        ),
    ] {
        let reply = app
            .api_put(&format!("{bulk}{query}"), app.token(), body)
            .await;
        assert_eq!(reply.status, 400, "{query}: {}", reply.body);
        assert!(reply.detail().contains(why), "{}", reply.body);
    }
    assert_eq!(status(a).await, IssueStatus::Ignored);

    let reply = app
        .api_delete(&format!("{bulk}?id={a}&id={theirs}"), app.token())
        .await;
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert!(app.store.issue_by_id(a).await.is_err(), "deleted");
    assert!(app.store.issue_by_id(theirs).await.is_ok(), "out of reach");
    assert!(app.store.issue_by_id(b).await.is_ok(), "not named");
}

async fn issues_are_assigned(shape: Shape) {
    let app = TestApp::start(shape).await;
    let org = app.fixtures().org.id;
    let issue = issue_of(&app, "whose is it").await;
    let other = issue_of(&app, "nobody's").await;
    let path = format!("/api/0/issues/{issue}/");
    let dev = member_of_acme(&app, "dev@acme.test", Role::Member).await;
    let team = app.store.create_team(org, "core", "Core").await.unwrap();
    app.store.add_team_member(team.id, dev.id).await.unwrap();
    let stranger = app
        .store
        .create_user(NewUser {
            email: "stranger@else.test".into(),
            name: "Stranger".into(),
            password_hash: None,
            is_superuser: false,
        })
        .await
        .unwrap();
    let (rival, _) = app.create_project(None, "rival").await;
    let rival_team = app
        .store
        .create_team(rival.org_id, "theirs", "Theirs")
        .await
        .unwrap();

    let assign = async |to: Value| {
        let reply = app
            .api_put(&path, app.token(), json!({"assignedTo": to}))
            .await;
        assert_eq!(reply.status, 200, "{to}: {}", reply.body);
        reply.json()["assignedTo"].clone()
    };
    let stored = async || app.store.issue_by_id(issue).await.unwrap().assignee;

    let v = assign(json!(format!("user:{}", dev.id))).await;
    assert_eq!(
        v,
        json!({"type": "user", "id": dev.id.to_string(), "name": "dev", "email": "dev@acme.test"})
    );
    assert_eq!(stored().await, Some(Assignee::User(dev.id)));
    let v = assign(json!(format!("team:{}", team.id))).await;
    assert_eq!(
        v,
        json!({"type": "team", "id": team.id.to_string(), "name": "core"})
    );
    assert_eq!(stored().await, Some(Assignee::Team(team.id)));
    let v = assign(json!("DEV@acme.test")).await;
    assert_eq!(v["id"], dev.id.to_string(), "emails compare without case");
    assert_eq!(assign(json!("")).await, Value::Null);
    assert_eq!(stored().await, None);
    assign(json!(format!("user:{}", dev.id))).await;
    assert_eq!(assign(Value::Null).await, Value::Null);
    assert_eq!(stored().await, None);

    // the issue list shows the assignee, and searches by it
    assign(json!(format!("team:{}", team.id))).await;
    let dev_token = create_token(&app.store, dev.id, &["event:read"]).await;
    let search = async |token: &str, query: &str| {
        let url = reqwest::Url::parse_with_params(
            &app.url("/api/0/projects/acme/backend/issues/"),
            &[("query", query)],
        )
        .unwrap();
        ids(&app.api_get(url.as_str(), token).await)
    };
    assert_eq!(
        search(&dev_token, "assigned:me").await,
        set(&[issue]),
        "through the team"
    );
    assert_eq!(search(app.token(), "assigned:me").await, set(&[]));
    assert_eq!(search(app.token(), "is:assigned").await, set(&[issue]));
    assert_eq!(search(app.token(), "is:unassigned").await, set(&[other]));
    let listed = app
        .api_get(
            "/api/0/projects/acme/backend/issues/?query=is:assigned",
            app.token(),
        )
        .await
        .json();
    assert_eq!(listed[0]["assignedTo"]["name"], "core");

    // nobody outside the organization
    for (to, why) in [
        (format!("user:{}", stranger.id), "not a member"),
        ("stranger@else.test".to_string(), "not a member"),
        ("nobody@acme.test".to_string(), "not a member"),
        (format!("team:{}", rival_team.id), "not a team"),
        ("group:1".to_string(), "not a member"),
    ] {
        let reply = app
            .api_put(&path, app.token(), json!({"assignedTo": to}))
            .await;
        assert_eq!(reply.status, 400, "{to}: {}", reply.body);
        assert!(reply.detail().contains(why), "{to}: {}", reply.body);
    }
    assert_eq!(stored().await, Some(Assignee::Team(team.id)), "unchanged");

    // status and assignee at once
    let reply = app
        .api_put(
            &path,
            app.token(),
            json!({"status": "resolved", "assignedTo": format!("user:{}", dev.id)}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let v = reply.json();
    assert_eq!(v["status"], "resolved");
    assert_eq!(v["assignedTo"]["id"], dev.id.to_string());
}

/// A member of one organization learns nothing about the users of another
/// (or whether an email has an account) by assigning their own issues: every
/// refusal reads the same.
async fn assignees_outside_the_organization_look_alike(shape: Shape) {
    let app = TestApp::start(shape).await;
    let issue = issue_of(&app, "whose is it").await;
    let path = format!("/api/0/issues/{issue}/");
    let bulk = format!("/api/0/organizations/acme/issues/?id={issue}");
    let dev = member_of_acme(&app, "dev@acme.test", Role::Member).await;
    let token = create_token(&app.store, dev.id, &["event:read", "event:write"]).await;

    let beta = app.store.create_organization("beta", "Beta").await.unwrap();
    let bob = app
        .store
        .create_user(NewUser {
            email: "bob@beta.test".into(),
            name: "Bob Beta".into(),
            password_hash: None,
            is_superuser: false,
        })
        .await
        .unwrap();
    app.store
        .set_membership(beta.id, bob.id, Role::Owner)
        .await
        .unwrap();
    let root = app
        .store
        .create_user(NewUser {
            email: "root@corral.test".into(),
            name: "Root Admin".into(),
            password_hash: None,
            is_superuser: true,
        })
        .await
        .unwrap();
    let beta_team = app.store.create_team(beta.id, "ops", "Ops").await.unwrap();
    let nobody = root.id.max(bob.id) + 1000;

    let mut answers = Vec::new();
    for to in [
        format!("user:{}", bob.id),
        bob.id.to_string(),
        "bob@beta.test".to_string(),
        "BOB@beta.test".to_string(),
        format!("user:{}", root.id),
        root.id.to_string(),
        "root@corral.test".to_string(),
        format!("user:{nobody}"),
        nobody.to_string(),
        "nobody@nowhere.test".to_string(),
        format!("team:{}", beta_team.id),
        format!("team:{nobody}"),
    ] {
        for at in [&path, &bulk] {
            let reply = app.api_put(at, &token, json!({"assignedTo": to})).await;
            assert_eq!(reply.status, 400, "{to} at {at}: {}", reply.body);
            for secret in [
                "Bob",
                "bob@",
                "Root",
                "root@",
                &bob.id.to_string(),
                &root.id.to_string(),
            ] {
                assert!(!reply.body.contains(secret), "{to} at {at}: {}", reply.body);
            }
            answers.push((to.clone(), reply.body));
        }
    }
    let first = answers[0].1.clone();
    for (to, body) in &answers {
        assert_eq!(body, &first, "{to} reads like the others");
    }
    assert_eq!(app.store.issue_by_id(issue).await.unwrap().assignee, None);

    // members of the issue's organization are assigned
    for to in [format!("user:{}", dev.id), "DEV@acme.test".to_string()] {
        let reply = app.api_put(&path, &token, json!({"assignedTo": to})).await;
        assert_eq!(reply.status, 200, "{to}: {}", reply.body);
        assert_eq!(reply.json()["assignedTo"]["email"], "dev@acme.test");
    }
    // a superuser who is a member, too
    app.store
        .set_membership(app.fixtures().org.id, root.id, Role::Member)
        .await
        .unwrap();
    let reply = app
        .api_put(&bulk, &token, json!({"assignedTo": "root@corral.test"}))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        app.store.issue_by_id(issue).await.unwrap().assignee,
        Some(Assignee::User(root.id))
    );
}

async fn events_are_read_by_id_with_their_neighbours(shape: Shape) {
    let app = TestApp::start(shape).await;
    let mut sent = Vec::new();
    for _ in 0..3 {
        // one after the other: their order is known
        let (id, ev) = event("three times");
        app.send_event(&ev).await;
        app.wait_for_event(id).await;
        sent.push(id.simple().to_string());
    }
    let issue = app
        .wait_for_event(Uuid::parse_str(&sent[0]).unwrap())
        .await
        .issue_id
        .unwrap();
    let other_issue = issue_of(&app, "something else").await;
    let (other_event, _) = {
        let e = app.store.latest_event(other_issue).await.unwrap();
        (e.event_id.simple().to_string(), e)
    };

    let get = async |path: String| {
        let reply = app.api_get(&path, app.token()).await;
        (reply.status, reply.json())
    };
    let (status, middle) = get(format!("/api/0/issues/{issue}/events/{}/", sent[1])).await;
    assert_eq!(status, 200, "{middle}");
    assert_eq!(middle["eventID"], sent[1].as_str());
    assert_eq!(middle["groupID"], issue.to_string());
    assert_eq!(middle["previousEventID"], sent[0].as_str());
    assert_eq!(middle["nextEventID"], sent[2].as_str());
    assert!(middle["entries"].is_array());

    let (_, latest) = get(format!("/api/0/issues/{issue}/events/latest/")).await;
    assert_eq!(latest["eventID"], sent[2].as_str());
    assert_eq!(latest["nextEventID"], Value::Null);
    assert_eq!(latest["previousEventID"], sent[1].as_str());
    let (_, oldest) = get(format!("/api/0/issues/{issue}/events/{}/", sent[0])).await;
    assert_eq!(oldest["previousEventID"], Value::Null);

    // an event of another issue is not this issue's, even in the same project
    let (status, _) = get(format!("/api/0/issues/{issue}/events/{other_event}/")).await;
    assert_eq!(status, 404);
    let (status, _) = get(format!("/api/0/issues/{issue}/events/not-an-id/")).await;
    assert_eq!(status, 404);
    // by project it is found, with the UUID in any form
    let dashed = Uuid::parse_str(&other_event)
        .unwrap()
        .hyphenated()
        .to_string();
    let (status, v) = get(format!("/api/0/projects/acme/backend/events/{dashed}/")).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["groupID"], other_issue.to_string());
}

async fn tags_are_counted_and_paged(shape: Shape) {
    let app = TestApp::start(shape).await;
    let mut issue = 0;
    for browser in ["Firefox", "Firefox", "Firefox", "Chrome", "Safari"] {
        let (_, mut ev) = event("tagged trouble");
        ev["tags"] = json!({"browser": browser, "region": "eu"});
        issue = issue_of_event(&app, &ev).await;
    }
    let reply = app
        .api_get(&format!("/api/0/issues/{issue}/tags/"), app.token())
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.header("link").is_some());
    let tags = reply.json();
    let browser = tags
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == "browser")
        .unwrap_or_else(|| panic!("no browser tag in {tags}"));
    assert_eq!(browser["totalValues"], 5);
    assert_eq!(browser["uniqueValues"], 3);
    assert_eq!(browser["topValues"][0]["value"], "Firefox");
    assert_eq!(browser["topValues"][0]["count"], 3);
    assert!(browser["topValues"][0]["lastSeen"].is_string());
    let region = tags
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == "region")
        .unwrap();
    assert_eq!(region["totalValues"], 5);

    let first = app.url(&format!(
        "/api/0/issues/{issue}/tags/browser/values/?per_page=2"
    ));
    let values = all_pages(&app, &first, app.token()).await;
    assert_eq!(
        values,
        ["Firefox", "Chrome", "Safari"],
        "most common first, each once"
    );

    let reply = app
        .api_get(
            &format!("/api/0/issues/{issue}/tags/os/values/"),
            app.token(),
        )
        .await;
    assert_eq!(reply.status, 404, "{}", reply.body);
    // past the last value of a key the issue has: an empty page, not a missing tag
    let reply = app
        .api_get(
            &format!("/api/0/issues/{issue}/tags/browser/values/?cursor=0:10:0"),
            app.token(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json(), json!([]));
    let reply = app
        .api_get(
            &format!("/api/0/issues/{issue}/tags/os/values/?cursor=0:10:0"),
            app.token(),
        )
        .await;
    assert_eq!(reply.status, 404, "{}", reply.body);
    let reply = app
        .api_get(
            &format!("/api/0/issues/{issue}/tags/browser/values/?cursor=zzz"),
            app.token(),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
}

async fn issue_of_event(app: &TestApp, ev: &Value) -> i64 {
    issue_in(app, app.project().id, app.key(), ev).await
}

async fn comments_are_notes(shape: Shape) {
    let app = TestApp::start(shape).await;
    let issue = issue_of(&app, "worth a word").await;
    let path = format!("/api/0/issues/{issue}/comments/");
    let dev = member_of_acme(&app, "dev@acme.test", Role::Member).await;
    let dev_token = create_token(&app.store, dev.id, &["event:write"]).await;

    let reply = app
        .api_post(&path, app.token(), json!({"text": "  looking into it  "}))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let first = reply.json();
    assert_eq!(first["type"], "note");
    assert_eq!(first["data"]["text"], "looking into it");
    assert_eq!(first["user"]["id"], app.fixtures().owner.id.to_string());
    assert_eq!(first["user"]["email"], "owner@acme.test");
    assert!(first["id"].is_string() && first["dateCreated"].is_string());
    let reply = app
        .api_post(&path, &dev_token, json!({"text": "fixed in 2.1"}))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);

    let reply = app.api_get(&path, app.token()).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.header("link").is_some());
    let texts: Vec<String> = reply
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["data"]["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(texts, ["fixed in 2.1", "looking into it"], "newest first");
    let v = app
        .api_get(&format!("/api/0/issues/{issue}/"), app.token())
        .await
        .json();
    assert_eq!(v["numComments"], 2);

    for body in [
        json!({"text": "   "}),
        json!({}),
        json!({"text": "x".repeat(10_001)}),
    ] {
        let reply = app.api_post(&path, app.token(), body).await;
        assert_eq!(reply.status, 400, "{}", reply.body);
    }
    // bodies have a limit
    let reply = app
        .api_post(&path, app.token(), json!({"text": "y".repeat(2 << 20)}))
        .await;
    assert_eq!(reply.status, 413, "{}", reply.body);
    assert_eq!(app.store.list_comments(issue).await.unwrap().len(), 2);
}

both_shapes!(
    the_organization_list_spans_visible_projects,
    bulk_changes_touch_only_reachable_issues,
    issues_are_assigned,
    assignees_outside_the_organization_look_alike,
    events_are_read_by_id_with_their_neighbours,
    tags_are_counted_and_paged,
    comments_are_notes,
);
