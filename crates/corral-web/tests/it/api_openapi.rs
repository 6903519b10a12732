//! The OpenAPI document: served without a token, generated from the
//! handlers, describing exactly the routes the server answers (each
//! documented operation is served and asks for a token; every other method
//! on its path is 405), with schemas for the API's objects.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::common::{self, Shape, TestApp};

/// The routes the issue's contract asks for, with their methods.
const CONTRACT: &[(&str, &[&str])] = &[
    ("/api/0/organizations/", &["get"]),
    ("/api/0/organizations/{org}/", &["get"]),
    ("/api/0/organizations/{org}/projects/", &["get"]),
    ("/api/0/teams/{org}/{team}/projects/", &["post"]),
    (
        "/api/0/projects/{org}/{project}/",
        &["get", "put", "delete"],
    ),
    ("/api/0/organizations/{org}/teams/", &["get", "post"]),
    ("/api/0/teams/{org}/{team}/", &["get", "delete"]),
    ("/api/0/organizations/{org}/members/", &["get", "post"]),
    (
        "/api/0/organizations/{org}/members/{member_id}/",
        &["put", "delete"],
    ),
    ("/api/0/projects/{org}/{project}/keys/", &["get", "post"]),
    (
        "/api/0/projects/{org}/{project}/keys/{key_id}/",
        &["put", "delete"],
    ),
    ("/api/0/organizations/{org}/issues/", &["get"]),
    (
        "/api/0/projects/{org}/{project}/issues/",
        &["get", "put", "delete"],
    ),
    ("/api/0/issues/{id}/", &["get", "put", "delete"]),
    ("/api/0/issues/{id}/events/", &["get"]),
    ("/api/0/issues/{id}/events/latest/", &["get"]),
    ("/api/0/issues/{id}/events/{event_id}/", &["get"]),
    (
        "/api/0/projects/{org}/{project}/events/{event_id}/",
        &["get"],
    ),
    ("/api/0/issues/{id}/tags/", &["get"]),
    ("/api/0/issues/{id}/tags/{key}/values/", &["get"]),
    ("/api/0/issues/{id}/comments/", &["get", "post"]),
    ("/api/0/issues/{id}/activities/", &["get"]),
    ("/api/0/issues/{id}/subscription/", &["get", "put"]),
    (
        "/api/0/organizations/{org}/alert-channels/",
        &["get", "post"],
    ),
    (
        "/api/0/organizations/{org}/alert-channels/{channel_id}/",
        &["get", "put", "delete"],
    ),
    (
        "/api/0/organizations/{org}/alert-channels/{channel_id}/test/",
        &["post"],
    ),
    ("/api/0/organizations/{org}/alert-deliveries/", &["get"]),
    ("/api/0/projects/{org}/{project}/rules/", &["get", "post"]),
    (
        "/api/0/projects/{org}/{project}/rules/{rule_id}/",
        &["get", "put", "delete"],
    ),
    (
        "/api/0/projects/{org}/{project}/rules/{rule_id}/test/",
        &["post"],
    ),
    (
        "/api/0/projects/{org}/{project}/rules/{rule_id}/deliveries/",
        &["get"],
    ),
    ("/api/0/projects/{org}/{project}/alerts/", &["get", "put"]),
    ("/api/0/users/me/notification-settings/", &["get", "put"]),
];

const METHODS: [&str; 4] = ["get", "put", "post", "delete"];

async fn document(app: &TestApp) -> Value {
    // no token: the document is public
    let reply = common::send(app.client.get(app.url("/api/openapi.json"))).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        reply
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{:?}",
        reply.headers
    );
    reply.json()
}

/// path -> documented methods
fn operations(doc: &Value) -> BTreeMap<String, Vec<&'static str>> {
    doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .map(|(path, item)| {
            let methods = METHODS
                .into_iter()
                .filter(|m| item.get(*m).is_some())
                .collect();
            (path.clone(), methods)
        })
        .collect()
}

async fn the_document_lists_every_route_the_server_answers(shape: Shape) {
    let app = TestApp::start(shape).await;
    let doc = document(&app).await;
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{}",
        doc["openapi"]
    );
    let ops = operations(&doc);
    for (path, methods) in CONTRACT {
        let documented = ops
            .get(*path)
            .unwrap_or_else(|| panic!("{path} is not documented"));
        for m in *methods {
            assert!(documented.contains(m), "{m} {path} is not documented");
        }
    }
    assert!(ops.keys().all(|p| p.starts_with("/api/0/")), "{ops:?}");

    // what the document says is what the router does
    for (path, methods) in &ops {
        let concrete = path
            .split('/')
            .map(|s| if s.starts_with('{') { "1" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        for method in METHODS {
            let reply = common::send(app.client.request(
                reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                app.url(&concrete),
            ))
            .await;
            let want = if methods.contains(&method) { 401 } else { 405 };
            assert_eq!(
                reply.status, want,
                "{method} {concrete} ({path}): {}",
                reply.body
            );
        }
    }
}

async fn the_document_describes_the_objects(shape: Shape) {
    let app = TestApp::start(shape).await;
    let doc = document(&app).await;
    let schemas = &doc["components"]["schemas"];
    for name in [
        "Organization",
        "Project",
        "ProjectKey",
        "Team",
        "Member",
        "User",
        "Issue",
        "Event",
        "EventSummary",
        "TagKey",
        "TagValue",
        "Comment",
        "ErrorBody",
        "IssueUpdate",
        "BulkChange",
        "AlertChannel",
        "AlertChannelConfig",
        "AlertRule",
        "AlertDelivery",
        "TestOutcome",
        "AlertMute",
        "Activity",
        "NotificationSettings",
        "IssueSubscription",
    ] {
        assert!(schemas.get(name).is_some(), "no schema {name}");
    }
    let issue = &schemas["Issue"]["properties"];
    for field in [
        "id",
        "shortId",
        "title",
        "culprit",
        "permalink",
        "status",
        "count",
        "firstSeen",
        "lastSeen",
        "assignedTo",
        "numComments",
        "project",
    ] {
        assert!(issue.get(field).is_some(), "Issue has no {field}");
    }
    assert_eq!(issue["id"]["type"], "string", "ids are strings");
    assert_eq!(issue["count"]["type"], "string", "count is a string");
    let member = &schemas["Member"]["properties"];
    for field in [
        "id",
        "email",
        "name",
        "role",
        "dateCreated",
        "teams",
        "user",
    ] {
        assert!(member.get(field).is_some(), "Member has no {field}");
    }
    let team = &schemas["Team"]["properties"];
    for field in [
        "id",
        "slug",
        "name",
        "dateCreated",
        "memberCount",
        "projects",
    ] {
        assert!(team.get(field).is_some(), "Team has no {field}");
    }
    assert_eq!(schemas["Time"]["format"], "date-time");
    assert!(
        doc["components"]["securitySchemes"]["token"]["scheme"]
            .as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("bearer"))
    );

    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let responses = op["responses"].as_object().unwrap();
            for (status, response) in responses {
                assert!(
                    response["description"]
                        .as_str()
                        .is_some_and(|d| !d.is_empty()),
                    "{method} {path}: the {status} answer has no description (OpenAPI requires one)"
                );
            }
            for status in ["401", "403", "404"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path} does not document {status}"
                );
            }
            // every operation needs a token; all but the index name scopes
            let scopes = op["security"][0]["token"]
                .as_array()
                .unwrap_or_else(|| panic!("{method} {path} needs no token"));
            assert!(
                !scopes.is_empty() || path == "/api/0/",
                "{method} {path} names no scopes"
            );
            // lists are paged: their answers carry a Link header
            let ok = &responses
                .get("200")
                .map(|r| &r["content"]["application/json"]["schema"]);
            if method == "get" && ok.is_some_and(|s| s["type"] == "array") {
                assert!(
                    responses["200"]["headers"].get("Link").is_some(),
                    "{method} {path} is a list without a Link header"
                );
            }
        }
    }
}

embedded_only!(the_document_describes_the_objects);
both_shapes!(the_document_lists_every_route_the_server_answers);

/// The webhook channel's body in the document (`webhooks.alert`) has the
/// keys of the body the sender really writes, at every level.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_describes_the_webhook_body_as_sent() {
    use corral_core::alerts::{AlertIssue, AlertKind, AlertMessage, AlertWindow};
    let app = TestApp::start(Shape::Embedded).await;
    let doc = document(&app).await;
    let body = &doc["webhooks"]["alert"]["post"]["requestBody"]["content"]["application/json"];
    assert_eq!(
        body["schema"]["$ref"], "#/components/schemas/AlertWebhookBody",
        "{:#}",
        doc["webhooks"]
    );
    let now = chrono::Utc::now();
    let message = AlertMessage {
        kind: AlertKind::Frequency,
        rule_id: Some(1),
        rule_name: Some("hot".into()),
        org_slug: "acme".into(),
        project_id: 1,
        project_slug: "backend".into(),
        project_name: "Backend".into(),
        environment: Some("production".into()),
        release: Some("1.0".into()),
        issue: Some(AlertIssue {
            id: 7,
            short_id: "BACKEND-7".into(),
            title: "ValueError: x".into(),
            culprit: "app".into(),
            level: corral_protocol::Level::Error,
            status: "unresolved".into(),
            times_seen: 3,
            first_seen: now,
            last_seen: now,
            top_frame: Some("handler in app.py".into()),
            url: "http://corral.test/organizations/acme/issues/7/".into(),
        }),
        window: Some(AlertWindow {
            count: 11,
            threshold: 10,
            minutes: 5,
        }),
        event_id: Some(uuid::Uuid::new_v4()),
        project_url: "http://corral.test/organizations/acme/issues/".into(),
        actor: Some("Ann".into()),
        created_at: now,
    };
    let sent: Value =
        serde_json::from_slice(&corral_alerts::render::webhook_json(&message)).unwrap();
    let schemas = &doc["components"]["schemas"];
    let mut pending = vec![("AlertWebhookBody".to_string(), sent)];
    let mut checked = 0;
    while let Some((name, value)) = pending.pop() {
        let props = schemas[&name]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("no schema {name}"));
        let sent_keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        let doc_keys: Vec<&String> = props.keys().collect();
        let mut a = sent_keys.clone();
        let mut b = doc_keys.clone();
        a.sort();
        b.sort();
        assert_eq!(a, b, "keys of {name}");
        for (key, v) in value.as_object().unwrap() {
            if v.is_object() {
                let schema = &props[key];
                let target = schema["$ref"]
                    .as_str()
                    .or_else(|| {
                        schema["oneOf"]
                            .as_array()
                            .and_then(|all| all.iter().find_map(|s| s["$ref"].as_str()))
                    })
                    .unwrap_or_else(|| panic!("{name}.{key} names no schema: {schema}"));
                let target = target.rsplit('/').next().unwrap().to_string();
                pending.push((target, v.clone()));
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 6, "the body and its five objects");
    drop(app);
}
