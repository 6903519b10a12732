//! An issue's timeline through the REST API (`/issues/{id}/activities/`):
//! what the API's changes record (status, bulk status, assignment,
//! comments), in Sentry's shape; and people's mail: their settings and
//! their subscription to one issue.

use corral_core::alerts::ActivityKind;
use corral_core::model::Role;
use serde_json::{Value, json};

use crate::common::{Reply, Shape, TestApp, create_token, member_of_acme};

fn ok(reply: &Reply, status: u16) -> Value {
    assert_eq!(reply.status, status, "{}", reply.body);
    reply.json()
}

async fn kinds(app: &TestApp, issue: i64) -> Vec<ActivityKind> {
    app.store
        .list_activities(issue)
        .await
        .unwrap()
        .iter()
        .map(|a| a.kind)
        .collect()
}

async fn changes_are_recorded_with_who(shape: Shape) {
    let app = TestApp::start(shape).await;
    let owner = app.fixtures().owner.clone();
    let dev = member_of_acme(&app, "dev@acme.test", Role::Member).await;
    let dev_token = create_token(&app.store, dev.id, &["event:read", "event:write"]).await;
    let (issue, _) = app.seed_issue(app.project().id, "timeline", &[]).await;
    let path = format!("/api/0/issues/{issue}/");
    let before = kinds(&app, issue).await;

    ok(
        &app.api_put(&path, app.token(), json!({"status": "resolved"}))
            .await,
        200,
    );
    // resolving a resolved issue again changes nothing and records nothing
    ok(
        &app.api_put(&path, app.token(), json!({"status": "resolved"}))
            .await,
        200,
    );
    ok(
        &app.api_put(&path, &dev_token, json!({"status": "unresolved"}))
            .await,
        200,
    );
    ok(
        &app.api_put(
            &path,
            app.token(),
            json!({"status": "ignored", "statusDetails": {"ignoreCount": 10}}),
        )
        .await,
        200,
    );
    ok(
        &app.api_put(
            &path,
            app.token(),
            json!({"assignedTo": format!("user:{}", dev.id)}),
        )
        .await,
        200,
    );
    ok(
        &app.api_put(&path, app.token(), json!({"assignedTo": null}))
            .await,
        200,
    );
    let comment = app
        .api_post(
            &format!("/api/0/issues/{issue}/comments/"),
            &dev_token,
            json!({"text": "on it"}),
        )
        .await;
    assert_eq!(comment.status, 201, "{}", comment.body);
    // the project's bulk change records per issue
    let (other, _) = app.seed_issue(app.project().id, "another", &[]).await;
    let bulk = app
        .api_put(
            &format!("/api/0/projects/acme/backend/issues/?id={issue}&id={other}"),
            app.token(),
            json!({"status": "resolvedInNextRelease"}),
        )
        .await;
    assert_eq!(bulk.status, 200, "{}", bulk.body);

    let recorded = kinds(&app, issue).await;
    assert_eq!(
        recorded[before.len()..],
        [
            ActivityKind::SetResolved,
            ActivityKind::SetUnresolved,
            ActivityKind::SetIgnored,
            ActivityKind::Assigned,
            ActivityKind::Unassigned,
            ActivityKind::Note,
            ActivityKind::SetResolvedInRelease,
        ],
        "{recorded:?}"
    );
    assert!(
        kinds(&app, other)
            .await
            .contains(&ActivityKind::SetResolvedInRelease)
    );

    let reply = app
        .api_get(&format!("/api/0/issues/{issue}/activities/"), &dev_token)
        .await;
    let list = ok(&reply, 200);
    assert!(reply.header("link").is_some());
    let entries = list.as_array().unwrap();
    let mine: Vec<&Value> = entries[before.len()..].iter().collect();
    assert_eq!(mine[0]["type"], "set_resolved");
    assert_eq!(mine[0]["user"]["id"], owner.id.to_string());
    assert_eq!(mine[0]["user"]["email"], "owner@acme.test");
    assert_eq!(mine[0]["user"]["name"], "Owner");
    assert!(mine[0]["id"].is_string());
    assert!(mine[0]["dateCreated"].as_str().unwrap().ends_with('Z'));
    assert_eq!(mine[1]["user"]["email"], "dev@acme.test");
    assert_eq!(mine[2]["data"]["ignoreCount"], 10);
    assert_eq!(
        mine[3]["data"],
        json!({"assignee": dev.id.to_string(), "assigneeType": "user"})
    );
    assert_eq!(mine[5]["type"], "note");
    assert_eq!(mine[5]["data"]["text"], "on it");
    assert_eq!(mine[6]["data"]["inNextRelease"], true);
    // oldest first
    let times: Vec<&str> = entries
        .iter()
        .map(|e| e["dateCreated"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    // what the digest recorded has no user
    if let Some(first) = entries.iter().find(|e| e["type"] == "first_seen") {
        assert_eq!(first["user"], Value::Null);
    }
}

async fn mail_settings_and_subscriptions(shape: Shape) {
    let app = TestApp::start(shape).await;
    let dev = member_of_acme(&app, "dev@acme.test", Role::Member).await;
    let token = create_token(
        &app.store,
        dev.id,
        &["member:read", "member:write", "event:read", "event:write"],
    )
    .await;
    let path = "/api/0/users/me/notification-settings/";
    assert_eq!(
        ok(&app.api_get(path, &token).await, 200),
        json!({"alerts": true, "assigned": true, "workflow": true}),
        "all on by default"
    );
    let changed = app.api_put(path, &token, json!({"workflow": false})).await;
    assert_eq!(
        ok(&changed, 200),
        json!({"alerts": true, "assigned": true, "workflow": false})
    );
    assert!(
        !app.store
            .notification_settings(dev.id)
            .await
            .unwrap()
            .workflow
    );
    // the owner's are their own
    assert_eq!(
        ok(&app.api_get(path, app.token()).await, 200)["workflow"],
        true
    );
    let reply = app.api_put(path, &token, json!({"alerts": "no"})).await;
    assert_eq!(reply.status, 400, "{}", reply.body);

    let (issue, _) = app.seed_issue(app.project().id, "subscribe", &[]).await;
    let sub = format!("/api/0/issues/{issue}/subscription/");
    assert_eq!(
        ok(&app.api_get(&sub, &token).await, 200),
        json!({"subscribed": null, "isSubscribed": false})
    );
    // assigned to them, they get its mail by default
    app.api_put(
        &format!("/api/0/issues/{issue}/"),
        app.token(),
        json!({"assignedTo": format!("user:{}", dev.id)}),
    )
    .await;
    assert_eq!(
        ok(&app.api_get(&sub, &token).await, 200),
        json!({"subscribed": null, "isSubscribed": true})
    );
    let off = app
        .api_put(&sub, &token, json!({"subscribed": false}))
        .await;
    assert_eq!(
        ok(&off, 200),
        json!({"subscribed": false, "isSubscribed": false})
    );
    assert_eq!(
        app.store.issue_subscriptions(issue).await.unwrap(),
        vec![(dev.id, false)]
    );
    let on = app.api_put(&sub, &token, json!({"subscribed": true})).await;
    assert_eq!(
        ok(&on, 200),
        json!({"subscribed": true, "isSubscribed": true})
    );
    let reset = app.api_put(&sub, &token, json!({"subscribed": null})).await;
    assert_eq!(
        ok(&reset, 200),
        json!({"subscribed": null, "isSubscribed": true})
    );
    assert!(
        app.store
            .issue_subscriptions(issue)
            .await
            .unwrap()
            .is_empty()
    );
    let reply = app.api_put(&sub, &token, json!({})).await;
    assert_eq!(
        reply.status, 400,
        "saying nothing is refused: {}",
        reply.body
    );
    // another organization's issue does not exist for them
    let (rival, _) = app.create_project(None, "rival").await;
    let (theirs, _) = app.seed_issue(rival.id, "theirs", &[]).await;
    let reply = app
        .api_put(
            &format!("/api/0/issues/{theirs}/subscription/"),
            &token,
            json!({"subscribed": true}),
        )
        .await;
    assert_eq!(reply.status, 404, "{}", reply.body);
    assert!(
        app.store
            .issue_subscriptions(theirs)
            .await
            .unwrap()
            .is_empty()
    );
}

both_shapes!(
    changes_are_recorded_with_who,
    mail_settings_and_subscriptions
);
