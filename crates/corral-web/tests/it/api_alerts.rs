//! Alerting through the REST API: channels and rules made, read, changed
//! and deleted, refused with the field named; secrets never read back; test
//! notifications queued (no alert runner runs here: they stay pending and
//! answer 202); the delivery log; the project's mute.

use std::time::Duration;

use corral_core::alerts::{ChannelConfig, DeliveryStatus};
use corral_core::model::Role;
use serde_json::{Value, json};

use crate::common::{Reply, Shape, TestApp, member_of_acme};

const SECRET: &str = "webhook-secret-0123456789";
const SLACK: &str = "https://hooks.slack.com/services/T0001/B0002/slacksecretpath";
const ROUTING_KEY: &str = "R0UT1NGKEYabcdef0123";

fn ok(reply: &Reply, status: u16) -> Value {
    assert_eq!(reply.status, status, "{}", reply.body);
    if reply.body.is_empty() {
        Value::Null
    } else {
        reply.json()
    }
}

/// A 400 whose detail names `field`.
fn refused(reply: &Reply, field: &str) {
    assert_eq!(reply.status, 400, "want 400 naming {field}: {}", reply.body);
    let detail = reply.json()["detail"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        detail.starts_with(&format!("invalid {field}")),
        "the detail names {field}: {detail}"
    );
}

/// No secret appears in any answer.
fn no_secrets(bodies: &[&str]) {
    for body in bodies {
        for secret in [SECRET, "slacksecretpath", ROUTING_KEY] {
            assert!(!body.contains(secret), "{secret} was read back: {body}");
        }
    }
}

const CHANNELS: &str = "/api/0/organizations/acme/alert-channels/";

async fn channels_are_made_read_changed_and_deleted(shape: Shape) {
    let app = TestApp::start(shape).await;
    let token = app.token();
    let org = app.fixtures().org.id;

    let created = app
        .api_post(
            CHANNELS,
            token,
            json!({"name": "Ops hook", "kind": "webhook",
                   "config": {"url": "https://hooks.example.com/corral", "secret": SECRET}}),
        )
        .await;
    let hook = ok(&created, 201);
    assert_eq!(hook["kind"], "webhook");
    assert_eq!(hook["name"], "Ops hook");
    assert_eq!(hook["config"]["url"], "https://hooks.example.com/corral");
    assert_eq!(hook["config"]["secret"], "••••6789");
    let hook_id = hook["id"].as_str().unwrap().to_string();
    let slack = app
        .api_post(
            CHANNELS,
            token,
            json!({"name": "Slack", "kind": "slack", "config": {"url": SLACK}}),
        )
        .await;
    let slack_v = ok(&slack, 201);
    assert_eq!(slack_v["config"]["url"], "https://hooks.slack.com/••••path");
    let pd = app
        .api_post(
            CHANNELS,
            token,
            json!({"name": "Pager", "kind": "pagerduty", "config": {"routingKey": ROUTING_KEY}}),
        )
        .await;
    assert_eq!(ok(&pd, 201)["config"]["routingKey"], "••••0123");
    let member = member_of_acme(&app, "dev@acme.test", Role::Member).await;
    let team = app.store.create_team(org, "core", "Core").await.unwrap();
    let mail = app
        .api_post(
            CHANNELS,
            token,
            json!({"name": "Mail", "kind": "email", "config": {
                "projectMembers": true, "users": [member.id], "teams": [team.id.to_string()],
                "addresses": ["oncall@example.com"]}}),
        )
        .await;
    let mail = ok(&mail, 201);
    assert_eq!(mail["config"]["users"], json!([member.id.to_string()]));
    assert_eq!(mail["config"]["teams"], json!([team.id.to_string()]));
    assert_eq!(mail["config"]["projectMembers"], true);

    let list = app.api_get(CHANNELS, token).await;
    let listed = ok(&list, 200);
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Mail", "Ops hook", "Pager", "Slack"], "by name");
    assert!(list.header("link").is_some(), "a paged list");
    let one_path = format!("{CHANNELS}{hook_id}/");
    let one = app.api_get(&one_path, token).await;
    assert_eq!(ok(&one, 200)["config"]["secret"], "••••6789");

    // what was read can be sent back: the masked secret keeps the stored one
    let mut back = ok(&one, 200);
    back["config"]["url"] = json!("https://hooks.example.com/v2");
    let put = app.api_put(&one_path, token, back).await;
    assert_eq!(
        ok(&put, 200)["config"]["url"],
        "https://hooks.example.com/v2"
    );
    let stored = app
        .store
        .alert_channel_by_id(hook_id.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(
        stored.config,
        ChannelConfig::Webhook {
            url: "https://hooks.example.com/v2".into(),
            secret: SECRET.into()
        }
    );
    // fields left out stay too; a new secret replaces the old one
    let put = app
        .api_put(
            &one_path,
            token,
            json!({"config": {"secret": "another-secret-of-length"}}),
        )
        .await;
    assert_eq!(
        ok(&put, 200)["config"]["url"],
        "https://hooks.example.com/v2"
    );
    let stored = app
        .store
        .alert_channel_by_id(hook_id.parse().unwrap())
        .await
        .unwrap();
    assert!(
        matches!(&stored.config, ChannelConfig::Webhook { secret, .. } if secret == "another-secret-of-length"),
        "{stored:?}"
    );
    let slack_path = format!("{CHANNELS}{}/", slack_v["id"].as_str().unwrap());
    let put = app
        .api_put(
            &slack_path,
            token,
            json!({"name": "Slack #ops", "config": slack_v["config"]}),
        )
        .await;
    assert_eq!(ok(&put, 200)["name"], "Slack #ops");
    let stored = app
        .store
        .alert_channel_by_id(slack_v["id"].as_str().unwrap().parse().unwrap())
        .await
        .unwrap();
    assert_eq!(stored.config, ChannelConfig::Slack { url: SLACK.into() });

    // names are unique
    let dup = app
        .api_post(
            CHANNELS,
            token,
            json!({"name": "Pager", "kind": "slack", "config": {"url": "https://x.example.com/a"}}),
        )
        .await;
    assert_eq!(dup.status, 409, "{}", dup.body);

    // the secrets never came back
    let again = app.api_get(CHANNELS, token).await;
    no_secrets(&[
        &created.body,
        &slack.body,
        &pd.body,
        &list.body,
        &one.body,
        &put.body,
        &again.body,
    ]);

    let delete = app.api_delete(&one_path, token).await;
    assert_eq!(delete.status, 204, "{}", delete.body);
    assert_eq!(app.api_get(&one_path, token).await.status, 404);
    assert_eq!(app.api_delete(&one_path, token).await.status, 404);
    assert_eq!(
        app.api_get(&format!("{CHANNELS}nonsense/"), token)
            .await
            .status,
        404
    );
}

async fn channels_are_refused_with_the_field_named(shape: Shape) {
    let app = TestApp::start(shape).await;
    let token = app.token();
    let post = async |body: Value| app.api_post(CHANNELS, token, body).await;
    refused(
        &post(json!({"name": "x", "kind": "webhook", "config": {"url": "ftp://x.example.com/", "secret": SECRET}})).await,
        "url",
    );
    refused(
        &post(json!({"name": "x", "kind": "slack", "config": {"url": "not a url"}})).await,
        "url",
    );
    refused(
        &post(json!({"name": "x", "kind": "webhook", "config": {"url": "https://x.example.com/", "secret": "short"}})).await,
        "secret",
    );
    refused(
        &post(json!({"name": "x", "kind": "webhook", "config": {"url": "https://x.example.com/"}}))
            .await,
        "secret",
    );
    refused(
        &post(json!({"name": "x", "kind": "pagerduty", "config": {}})).await,
        "routingKey",
    );
    refused(
        &post(json!({"name": "x", "kind": "carrier-pigeon"})).await,
        "kind",
    );
    refused(&post(json!({"name": "x"})).await, "kind");
    refused(
        &post(json!({"name": "  ", "kind": "slack", "config": {"url": "https://x.example.com/a"}}))
            .await,
        "name",
    );
    refused(
        &post(json!({"name": "x", "kind": "email", "config": {}})).await,
        "config",
    );
    refused(
        &post(json!({"name": "x", "kind": "email", "config": {"addresses": ["not an address"]}}))
            .await,
        "config",
    );
    // recipients of another organization, or nobody's
    let (rival, _) = app.create_project(None, "rival").await;
    let stranger = app
        .store
        .create_user(corral_core::NewUser {
            email: "stranger@rival.test".into(),
            name: "Stranger".into(),
            password_hash: None,
            is_superuser: false,
        })
        .await
        .unwrap();
    app.store
        .set_membership(rival.org_id, stranger.id, Role::Owner)
        .await
        .unwrap();
    let their_team = app
        .store
        .create_team(rival.org_id, "ops", "Ops")
        .await
        .unwrap();
    for config in [
        json!({"users": [stranger.id]}),
        json!({"users": [stranger.id + 1000]}),
        json!({"teams": [their_team.id]}),
    ] {
        let reply = post(json!({"name": "x", "kind": "email", "config": config})).await;
        refused(&reply, "config");
    }
    let bad_json = post(json!({"name": "x", "kind": "email", "config": {"users": ["me"]}})).await;
    assert_eq!(bad_json.status, 400, "{}", bad_json.body);
    assert!(
        app.store
            .list_alert_channels(app.fixtures().org.id)
            .await
            .unwrap()
            .is_empty(),
        "nothing was made"
    );
}

/// A channel of acme's, its id.
async fn slack_channel(app: &TestApp, name: &str) -> String {
    let reply = app
        .api_post(
            CHANNELS,
            app.token(),
            json!({"name": name, "kind": "slack", "config": {"url": SLACK}}),
        )
        .await;
    ok(&reply, 201)["id"].as_str().unwrap().to_string()
}

const RULES: &str = "/api/0/projects/acme/backend/rules/";

async fn rules_are_made_read_changed_and_deleted(shape: Shape) {
    let app = TestApp::start(shape).await;
    let token = app.token();
    let ops = slack_channel(&app, "ops").await;
    let body = json!({
        "name": "Hot issues",
        "conditions": [{"type": "new_issue"}, {"type": "frequency", "count": 100, "minutes": 5}],
        "filters": [
            {"type": "environment", "value": "production"},
            {"type": "level", "level": "error", "match": "at_least"},
            {"type": "tag", "key": "browser", "match": "contains", "value": "Firefox"},
            {"type": "issue_age", "match": "newer_than", "minutes": 60},
            {"type": "search", "query": "is:unresolved"}
        ],
        "channels": [ops.clone()]
    });
    let created = ok(&app.api_post(RULES, token, body).await, 201);
    assert_eq!(created["name"], "Hot issues");
    assert_eq!(created["enabled"], true);
    assert_eq!(created["actionIntervalMinutes"], 30, "the default interval");
    assert_eq!(created["channels"], json!([ops.clone()]));
    assert_eq!(
        created["conditions"][1],
        json!({"type": "frequency", "count": 100, "minutes": 5})
    );
    assert_eq!(created["filters"].as_array().unwrap().len(), 5);
    assert_eq!(created["createdBy"], app.fixtures().owner.id.to_string());
    let id = created["id"].as_str().unwrap().to_string();
    let stored = app
        .store
        .alert_rule_by_id(id.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(stored.spec.conditions.len(), 2);
    assert_eq!(stored.project_id, app.project().id);

    let path = format!("{RULES}{id}/");
    let read = ok(&app.api_get(&path, token).await, 200);
    assert_eq!(read, created);
    let list = app.api_get(RULES, token).await;
    assert_eq!(ok(&list, 200).as_array().unwrap().len(), 1);
    assert!(list.header("link").is_some());

    // what is left out stays
    let changed = ok(
        &app.api_put(
            &path,
            token,
            json!({"enabled": false, "actionIntervalMinutes": 60, "conditions": [{"type": "regression"}]}),
        )
        .await,
        200,
    );
    assert_eq!(changed["enabled"], false);
    assert_eq!(changed["actionIntervalMinutes"], 60);
    assert_eq!(changed["conditions"], json!([{"type": "regression"}]));
    assert_eq!(changed["filters"], created["filters"]);
    assert_eq!(changed["name"], "Hot issues");
    // a round trip of what was read
    let again = ok(&app.api_put(&path, token, changed.clone()).await, 200);
    assert_eq!(again["conditions"], changed["conditions"]);

    let gone = app.api_delete(&path, token).await;
    assert_eq!(gone.status, 204, "{}", gone.body);
    assert_eq!(app.api_get(&path, token).await.status, 404);
    // another project's rule is not reachable through this one's path
    let (frontend, _) = app
        .create_project(Some(app.fixtures().org.id), "frontend")
        .await;
    let theirs = ok(
        &app.api_post(
            "/api/0/projects/acme/frontend/rules/",
            token,
            json!({"name": "f", "conditions": [{"type": "new_issue"}], "channels": [ops]}),
        )
        .await,
        201,
    );
    let their_rule = app
        .store
        .alert_rule_by_id(theirs["id"].as_str().unwrap().parse().unwrap())
        .await
        .unwrap();
    assert_eq!(their_rule.project_id, frontend.id);
    let cross = format!("{RULES}{}/", theirs["id"].as_str().unwrap());
    assert_eq!(app.api_get(&cross, token).await.status, 404);
    assert_eq!(app.api_delete(&cross, token).await.status, 404);
}

async fn rules_are_refused_with_the_field_named(shape: Shape) {
    let app = TestApp::start(shape).await;
    let token = app.token();
    let ops = slack_channel(&app, "ops").await;
    let post = async |body: Value| app.api_post(RULES, token, body).await;
    let with = |patch: Value| {
        let mut body =
            json!({"name": "r", "conditions": [{"type": "new_issue"}], "channels": [ops.clone()]});
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    refused(
        &post(with(json!({"conditions": [{"type": "bogus"}]}))).await,
        "conditions",
    );
    refused(
        &post(with(json!({"conditions": [{"kind": "new_issue"}]}))).await,
        "conditions",
    );
    refused(&post(with(json!({"conditions": []}))).await, "conditions");
    refused(
        &post(with(
            json!({"conditions": [{"type": "frequency", "count": 10, "minutes": 0}]}),
        ))
        .await,
        "conditions",
    );
    refused(
        &post(with(
            json!({"conditions": [{"type": "frequency", "count": "many", "minutes": 5}]}),
        ))
        .await,
        "conditions",
    );
    refused(
        &post(with(json!({"filters": [{"type": "mood", "value": "bad"}]}))).await,
        "filters",
    );
    refused(
        &post(with(
            json!({"filters": [{"type": "search", "query": "is:bogus"}]}),
        ))
        .await,
        "filters",
    );
    refused(
        &post(with(json!({"actionIntervalMinutes": 0}))).await,
        "actionIntervalMinutes",
    );
    refused(&post(with(json!({"name": ""}))).await, "name");
    refused(&post(with(json!({"channels": []}))).await, "channels");
    refused(&post(with(json!({"channels": [987654]}))).await, "channels");
    // a channel of another organization
    let (rival, _) = app.create_project(None, "rival").await;
    let theirs = app
        .store
        .create_alert_channel(
            rival.org_id,
            "theirs",
            &ChannelConfig::Slack { url: SLACK.into() },
        )
        .await
        .unwrap();
    refused(
        &post(with(json!({"channels": [theirs.id]}))).await,
        "channels",
    );
    assert!(
        app.store
            .list_alert_rules(app.project().id)
            .await
            .unwrap()
            .is_empty(),
        "nothing was made"
    );
    // and a change is refused the same way, changing nothing
    let made = ok(&post(with(json!({}))).await, 201);
    let path = format!("{RULES}{}/", made["id"].as_str().unwrap());
    refused(
        &app.api_put(&path, token, json!({"channels": [theirs.id]}))
            .await,
        "channels",
    );
    refused(
        &app.api_put(&path, token, json!({"conditions": [{"type": "sometimes"}]}))
            .await,
        "conditions",
    );
    assert_eq!(ok(&app.api_get(&path, token).await, 200), made);
}

async fn the_project_mute(shape: Shape) {
    let app = TestApp::start(shape).await;
    let path = "/api/0/projects/acme/backend/alerts/";
    assert_eq!(
        ok(&app.api_get(path, app.token()).await, 200),
        json!({"muted": false})
    );
    let muted = app.api_put(path, app.token(), json!({"muted": true})).await;
    assert_eq!(ok(&muted, 200), json!({"muted": true}));
    assert!(
        app.store
            .project_alerts_muted(app.project().id)
            .await
            .unwrap()
    );
    let reply = app
        .api_put(path, app.token(), json!({"muted": "yes"}))
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(
        ok(&app.api_get(path, app.token()).await, 200),
        json!({"muted": true})
    );
    app.api_put(path, app.token(), json!({"muted": false}))
        .await;
    assert!(
        !app.store
            .project_alerts_muted(app.project().id)
            .await
            .unwrap()
    );
}

/// Without an alert runner (the web alone, as in a cluster whose workers
/// are down) a test notification is queued and answers 202 with it pending;
/// the delivery log shows it.
async fn test_notifications_wait_for_a_runner(shape: Shape) {
    let app = TestApp::start(shape).await;
    app.state
        .set_test_notification_wait(Duration::from_millis(600));
    let token = app.token();
    let ops = slack_channel(&app, "ops").await;
    let started = std::time::Instant::now();
    let reply = app
        .api_post(&format!("{CHANNELS}{ops}/test/"), token, json!({}))
        .await;
    assert!(started.elapsed() >= Duration::from_millis(500), "it waited");
    let answer = ok(&reply, 202);
    assert!(
        answer["detail"].as_str().unwrap().contains("not running"),
        "{answer}"
    );
    let delivery = &answer["deliveries"][0];
    assert_eq!(delivery["status"], "pending");
    assert_eq!(delivery["kind"], "test");
    assert_eq!(delivery["attempts"], 0);
    assert_eq!(delivery["channel"]["id"], ops);
    assert_eq!(delivery["channel"]["name"], "ops");
    assert_eq!(delivery["channel"]["kind"], "slack");
    assert_eq!(delivery["lastStatusCode"], Value::Null);
    let id: i64 = delivery["id"].as_str().unwrap().parse().unwrap();
    let stored = app.store.delivery_by_id(id).await.unwrap();
    assert_eq!(stored.status, DeliveryStatus::Pending);
    assert_eq!(stored.message.kind.as_str(), "test");
    assert!(stored.message.issue.is_none());

    // a rule's test goes to each of its channels, about the newest issue
    let (issue, _) = app
        .seed_issue(app.project().id, "the newest issue", &[])
        .await;
    let other = slack_channel(&app, "other").await;
    let rule = ok(
        &app.api_post(
            RULES,
            token,
            json!({"name": "r", "conditions": [{"type": "new_issue"}], "channels": [ops.clone(), other.clone()]}),
        )
        .await,
        201,
    );
    let rule_id = rule["id"].as_str().unwrap();
    let reply = app
        .api_post(&format!("{RULES}{rule_id}/test/"), token, json!({}))
        .await;
    let answer = ok(&reply, 202);
    let deliveries = answer["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 2, "{answer}");
    for d in deliveries {
        assert_eq!(d["status"], "pending");
        assert_eq!(d["rule"]["id"], rule_id);
        assert_eq!(d["rule"]["name"], "r");
        assert_eq!(d["issue"]["id"], issue.to_string());
        assert_eq!(d["issue"]["title"], "the newest issue");
    }

    // the logs: the rule's, and the organization's with its filters
    let log = ok(
        &app.api_get(&format!("{RULES}{rule_id}/deliveries/"), token)
            .await,
        200,
    );
    assert_eq!(log.as_array().unwrap().len(), 2, "{log}");
    let all = "/api/0/organizations/acme/alert-deliveries/";
    let everything = ok(&app.api_get(all, token).await, 200);
    assert_eq!(
        everything.as_array().unwrap().len(),
        3,
        "newest first: {everything}"
    );
    let ids: Vec<i64> = everything
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "{ids:?}");
    let to_other = ok(
        &app.api_get(&format!("{all}?channel={other}"), token).await,
        200,
    );
    assert_eq!(to_other.as_array().unwrap().len(), 1);
    let pending = ok(
        &app.api_get(&format!("{all}?status=pending"), token).await,
        200,
    );
    assert_eq!(pending.as_array().unwrap().len(), 3);
    let dead = ok(
        &app.api_get(&format!("{all}?status=dead"), token).await,
        200,
    );
    assert!(dead.as_array().unwrap().is_empty());
    let reply = app.api_get(&format!("{all}?status=lost"), token).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    // pages by id
    let first = app.api_get(&format!("{all}?limit=2"), token).await;
    assert_eq!(ok(&first, 200).as_array().unwrap().len(), 2);
    let link = first.header("link").unwrap().to_string();
    let next = link
        .split(", ")
        .find(|l| l.contains("rel=\"next\"") && l.contains("results=\"true\""))
        .and_then(|l| l.split('<').nth(1))
        .and_then(|l| l.split('>').next())
        .unwrap_or_else(|| panic!("a next page: {link}"))
        .to_string();
    let second = ok(&app.api_get(&next, token).await, 200);
    assert_eq!(second.as_array().unwrap().len(), 1);
    assert_eq!(second[0]["id"], ids[2].to_string());

    // a rule whose channels are all gone has nothing to test
    let lone = slack_channel(&app, "lone").await;
    let lonely = ok(
        &app.api_post(
            RULES,
            token,
            json!({"name": "lonely", "conditions": [{"type": "new_issue"}], "channels": [lone.clone()]}),
        )
        .await,
        201,
    );
    app.api_delete(&format!("{CHANNELS}{lone}/"), token).await;
    let reply = app
        .api_post(
            &format!("{RULES}{}/test/", lonely["id"].as_str().unwrap()),
            token,
            json!({}),
        )
        .await;
    refused(&reply, "channels");
}

both_shapes!(
    channels_are_made_read_changed_and_deleted,
    channels_are_refused_with_the_field_named,
    rules_are_made_read_changed_and_deleted,
    rules_are_refused_with_the_field_named,
    the_project_mute,
    test_notifications_wait_for_a_runner,
);
