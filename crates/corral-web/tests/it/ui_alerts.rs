//! Alerting in the web UI: the organization's alert channels, a project's
//! rules with their delivery log and mute, test notifications (pending: no
//! alert runner runs here), the issue page's timeline and subscription,
//! the account's mail settings, and the unsubscribe links that work
//! without signing in.

use std::time::Duration;

use corral_core::alerts::{ActivityKind, ChannelConfig, Condition, Filter, NotificationSettings};
use corral_core::model::Role;
use reqwest::header::{CONTENT_TYPE, ORIGIN};

use crate::common::{Browser, Reply, Shape, TestApp, browser_for, member_of_acme, send};

const SECRET: &str = "webhook-secret-0123456789";

fn redirected_to(reply: &Reply, prefix: &str) -> String {
    assert_eq!(reply.status, 303, "{}", reply.body);
    let to = reply.header("location").unwrap_or_default().to_string();
    assert!(to.starts_with(prefix), "{to} starts with {prefix}");
    to
}

async fn owner(app: &TestApp) -> Browser {
    browser_for(app, app.fixtures().owner.id).await
}

async fn channels(shape: Shape) {
    let app = TestApp::start(shape).await;
    app.state
        .set_test_notification_wait(Duration::from_millis(300));
    let b = owner(&app).await;
    let org = app.fixtures().org.id;
    let list = b.get("/settings/acme/alert-channels/").await;
    assert_eq!(list.status, 200);
    assert!(list.body.contains("No channels yet."), "{}", list.body);
    assert!(
        list.body
            .contains(r#"aria-current="page">Alert channels</a>"#)
    );

    let form = b
        .get("/settings/acme/alert-channels/new?kind=webhook")
        .await;
    assert_eq!(form.status, 200);
    assert!(form.body.contains(r#"name="secret""#), "{}", form.body);
    assert_eq!(
        b.get("/settings/acme/alert-channels/new?kind=fax")
            .await
            .status,
        400
    );

    let reply = b
        .submit(
            "/settings/acme/alert-channels/",
            &[
                ("kind", "webhook"),
                ("name", "Ops hook"),
                ("url", "https://hooks.example.com/corral"),
                ("secret", SECRET),
            ],
        )
        .await;
    let page = redirected_to(&reply, "/settings/acme/alert-channels/");
    let channel = app.store.list_alert_channels(org).await.unwrap()[0].clone();
    assert_eq!(
        channel.config,
        ChannelConfig::Webhook {
            url: "https://hooks.example.com/corral".into(),
            secret: SECRET.into()
        }
    );
    let html = b.get(&page).await.body;
    assert!(html.contains("The channel was created."), "{html}");
    assert!(html.contains(r#"value="••••6789""#), "{html}");
    assert!(!html.contains(SECRET), "the secret is not shown");
    let listed = b.get("/settings/acme/alert-channels/").await.body;
    assert!(listed.contains("Ops hook") && listed.contains("https://hooks.example.com/corral"));
    assert!(!listed.contains(SECRET));

    // the masked value sent back keeps the secret
    let path = format!("/settings/acme/alert-channels/{}/", channel.id);
    let reply = b
        .submit(
            &path,
            &[
                ("kind", "webhook"),
                ("name", "Ops"),
                ("url", "https://hooks.example.com/v2"),
                ("secret", "••••6789"),
            ],
        )
        .await;
    redirected_to(&reply, &path);
    let stored = app.store.alert_channel_by_id(channel.id).await.unwrap();
    assert_eq!(stored.name, "Ops");
    assert_eq!(
        stored.config,
        ChannelConfig::Webhook {
            url: "https://hooks.example.com/v2".into(),
            secret: SECRET.into()
        }
    );
    // refusals name the field and change nothing
    for (url, secret, says) in [
        (
            "ftp://x.example.com/",
            "••••6789",
            "URL: must be http or https.",
        ),
        (
            "https://x.example.com/",
            "short",
            "Secret: must be 16 to 256 characters.",
        ),
    ] {
        let reply = b
            .submit(&path, &[("name", "Ops"), ("url", url), ("secret", secret)])
            .await;
        assert_eq!(reply.status, 422, "{url}");
        assert!(reply.body.contains(says), "{says}: {}", reply.body);
        assert!(!reply.body.contains(SECRET));
    }
    assert_eq!(
        app.store.alert_channel_by_id(channel.id).await.unwrap(),
        stored
    );

    // a test notification: queued, and pending without a runner
    let reply = b.submit(&format!("{path}test"), &[]).await;
    let to = redirected_to(&reply, &format!("{path}?test="));
    let html = b.get(&to).await.body;
    assert!(html.contains("Test notification"), "{html}");
    assert!(html.contains("not running"), "{html}");
    assert!(html.contains(">queued<"), "{html}");
    assert!(html.contains("Recent deliveries"));
    // a link cannot show another organization's deliveries
    let (rival, _) = app.create_project(None, "rival").await;
    let theirs = app
        .store
        .create_alert_channel(
            rival.org_id,
            "theirs",
            &ChannelConfig::Slack {
                url: "https://hooks.slack.com/services/T/B/theirs".into(),
            },
        )
        .await
        .unwrap();
    let their_test = corral_web::alerts::test_channel(
        &app.state,
        &app.store.organization_by_id(rival.org_id).await.unwrap(),
        &theirs,
        &app.fixtures().owner,
    )
    .await
    .unwrap();
    let html = b
        .get(&format!("{path}?test={}", their_test[0].id))
        .await
        .body;
    assert!(!html.contains("Test notification"), "{html}");
    assert_eq!(
        b.get(&format!("/settings/acme/alert-channels/{}/", theirs.id))
            .await
            .status,
        404
    );

    // an email channel with people and teams of the organization
    let dev = member_of_acme(&app, "dev@acme.test", Role::Member).await;
    let team = app.store.create_team(org, "core", "Core").await.unwrap();
    let form = b
        .get("/settings/acme/alert-channels/new?kind=email")
        .await
        .body;
    assert!(
        form.contains(&format!(r#"name="user" value="{}""#, dev.id)),
        "{form}"
    );
    assert!(form.contains(&format!(r#"name="team" value="{}""#, team.id)));
    let dev_id = dev.id.to_string();
    let team_id = team.id.to_string();
    let reply = b
        .submit(
            "/settings/acme/alert-channels/",
            &[
                ("kind", "email"),
                ("name", "Mail"),
                ("project_members", "on"),
                ("user", &dev_id),
                ("team", &team_id),
                ("addresses", "oncall@example.com\nboss@example.com"),
            ],
        )
        .await;
    redirected_to(&reply, "/settings/acme/alert-channels/");
    let mail = app
        .store
        .list_alert_channels(org)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.name == "Mail")
        .unwrap();
    let ChannelConfig::Email(t) = mail.config else {
        panic!("an email channel")
    };
    assert!(t.project_members);
    assert_eq!((t.users, t.teams), (vec![dev.id], vec![team.id]));
    assert_eq!(t.addresses.len(), 2);
    let outsider = app
        .store
        .create_user(corral_core::NewUser {
            email: "out@rival.test".into(),
            name: "Out".into(),
            password_hash: None,
            is_superuser: false,
        })
        .await
        .unwrap();
    let reply = b
        .submit(
            "/settings/acme/alert-channels/",
            &[
                ("kind", "email"),
                ("name", "Bad"),
                ("user", &outsider.id.to_string()),
            ],
        )
        .await;
    assert_eq!(reply.status, 422);
    assert!(reply.body.contains("Recipients:"), "{}", reply.body);

    // members read, and may not change
    let m = browser_for(&app, dev.id).await;
    let seen = m.get(&path).await;
    assert_eq!(seen.status, 200);
    assert!(
        !seen.body.contains(SECRET) && seen.body.contains("Admins and owners change channels.")
    );
    assert!(
        !seen.body.contains(&format!("{path}delete")),
        "no delete form"
    );
    assert_eq!(
        m.get("/settings/acme/alert-channels/new?kind=slack")
            .await
            .status,
        403
    );
    assert_eq!(
        m.submit(&format!("{path}delete"), &[("confirm", "yes")])
            .await
            .status,
        403
    );

    // deleting asks first
    let reply = b.submit(&format!("{path}delete"), &[]).await;
    assert_eq!(reply.status, 422);
    assert!(reply.body.contains("Tick the box"));
    assert!(app.store.alert_channel_by_id(channel.id).await.is_ok());
    let reply = b
        .submit(&format!("{path}delete"), &[("confirm", "yes")])
        .await;
    redirected_to(
        &reply,
        "/settings/acme/alert-channels/?notice=channel_deleted",
    );
    assert!(app.store.alert_channel_by_id(channel.id).await.is_err());
}

async fn rules(shape: Shape) {
    let app = TestApp::start(shape).await;
    app.state
        .set_test_notification_wait(Duration::from_millis(300));
    let b = owner(&app).await;
    let org = app.fixtures().org.id;
    let page = b.get("/settings/acme/projects/backend/alerts/").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("add one to the organization"),
        "no channel yet"
    );
    let ops = app
        .store
        .create_alert_channel(
            org,
            "ops",
            &ChannelConfig::Slack {
                url: "https://hooks.slack.com/services/T/B/x".into(),
            },
        )
        .await
        .unwrap();
    let form = b.get("/settings/acme/projects/backend/alerts/new").await;
    assert_eq!(form.status, 200);
    assert!(
        form.body.contains(r#"name="new_issue" value="on" checked"#),
        "{}",
        form.body
    );
    assert!(form.body.contains(r#"name="interval" value="30""#));
    let ops_id = ops.id.to_string();
    let reply = b
        .submit(
            "/settings/acme/projects/backend/alerts/",
            &[
                ("name", "Hot issues"),
                ("new_issue", "on"),
                ("frequency_count", "100"),
                ("frequency_minutes", "5"),
                ("environment", "production"),
                ("level", "error"),
                ("level_match", "at_least"),
                ("tag_key", "browser"),
                ("tag_match", "contains"),
                ("tag_value", "Firefox"),
                ("age_match", "older_than"),
                ("age_minutes", ""),
                ("search", "is:unresolved"),
                ("channel", &ops_id),
                ("interval", "15"),
                ("enabled", "on"),
            ],
        )
        .await;
    let rule_page = redirected_to(&reply, "/settings/acme/projects/backend/alerts/");
    let rule = app.store.list_alert_rules(app.project().id).await.unwrap()[0].clone();
    assert_eq!(rule.name, "Hot issues");
    assert!(rule.enabled);
    assert_eq!(rule.created_by, Some(app.fixtures().owner.id));
    assert_eq!(
        rule.spec.conditions,
        vec![
            Condition::NewIssue,
            Condition::Frequency {
                count: 100,
                minutes: 5
            }
        ]
    );
    assert_eq!(rule.spec.filters.len(), 4, "{:?}", rule.spec.filters);
    assert!(rule.spec.filters.contains(&Filter::Environment {
        value: "production".into()
    }));
    assert_eq!(rule.spec.channels, vec![ops.id]);
    assert_eq!(rule.spec.action_interval_minutes, 15);

    let listed = b.get("/settings/acme/projects/backend/alerts/").await.body;
    for text in [
        "Hot issues",
        "a new issue is seen",
        "an issue is seen more than 100 times in 5 min",
        "environment is production",
        "level is at least error",
        "tag browser contains Firefox",
        "ops",
        "enabled",
    ] {
        assert!(listed.contains(text), "{text}: {listed}");
    }
    let html = b.get(&rule_page).await.body;
    assert!(
        html.contains(r#"name="frequency_count" value="100""#),
        "{html}"
    );
    assert!(html.contains(&format!(r#"<option value="{}" selected>"#, ops.id)));
    assert!(html.contains("Delivery log") && html.contains("Nothing was sent yet."));

    // refused inputs name their part and change nothing
    let path = format!("/settings/acme/projects/backend/alerts/{}/", rule.id);
    for (fields, says) in [
        (
            vec![("name", "x"), ("channel", ops_id.as_str())],
            "Conditions:",
        ),
        (vec![("name", "x"), ("new_issue", "on")], "Channels:"),
        (
            vec![
                ("name", "x"),
                ("new_issue", "on"),
                ("channel", &ops_id),
                ("search", "is:bogus"),
            ],
            "Filters:",
        ),
        (
            vec![
                ("name", "x"),
                ("new_issue", "on"),
                ("channel", &ops_id),
                ("interval", "0"),
            ],
            "Interval:",
        ),
        (
            vec![("name", "x"), ("users_count", "5"), ("channel", &ops_id)],
            "give the minutes",
        ),
    ] {
        let reply = b.submit(&path, &fields).await;
        assert_eq!(reply.status, 422, "{says}");
        assert!(reply.body.contains(says), "{says}: {}", reply.body);
    }
    assert_eq!(app.store.alert_rule_by_id(rule.id).await.unwrap(), rule);

    // disabled by unticking
    let reply = b
        .submit(
            &path,
            &[
                ("name", "Hot issues"),
                ("regression", "on"),
                ("channel", &ops_id),
                ("interval", "30"),
            ],
        )
        .await;
    redirected_to(&reply, &path);
    let changed = app.store.alert_rule_by_id(rule.id).await.unwrap();
    assert!(!changed.enabled);
    assert_eq!(changed.spec.conditions, vec![Condition::Regression]);
    assert!(changed.spec.filters.is_empty());

    // a test notification, then its row in the rule's log
    let reply = b.submit(&format!("{path}test"), &[]).await;
    let to = redirected_to(&reply, &format!("{path}?test="));
    let html = b.get(&to).await.body;
    assert!(
        html.contains("not running") && html.contains(">queued<"),
        "{html}"
    );
    let html = b.get(&path).await.body;
    assert!(
        html.contains(r#"class="delivery outcome-queued""#),
        "{html}"
    );

    // the mute
    let reply = b
        .submit(
            "/settings/acme/projects/backend/alerts/mute",
            &[("muted", "true")],
        )
        .await;
    redirected_to(
        &reply,
        "/settings/acme/projects/backend/alerts/?notice=alerts_muted",
    );
    assert!(
        app.store
            .project_alerts_muted(app.project().id)
            .await
            .unwrap()
    );
    let html = b.get("/settings/acme/projects/backend/alerts/").await.body;
    assert!(html.contains("Unmute the alerts"), "{html}");
    b.submit(
        "/settings/acme/projects/backend/alerts/mute",
        &[("muted", "false")],
    )
    .await;
    assert!(
        !app.store
            .project_alerts_muted(app.project().id)
            .await
            .unwrap()
    );

    // members read the rules, and change nothing
    let dev = member_of_acme(&app, "dev@acme.test", Role::Member).await;
    let m = browser_for(&app, dev.id).await;
    let html = m.get(&path).await;
    assert_eq!(html.status, 200);
    assert!(html.body.contains("Admins and owners change rules."));
    assert_eq!(
        m.get("/settings/acme/projects/backend/alerts/new")
            .await
            .status,
        403
    );
    assert_eq!(
        m.submit(
            "/settings/acme/projects/backend/alerts/mute",
            &[("muted", "true")]
        )
        .await
        .status,
        403
    );

    // deleting asks first
    assert_eq!(b.submit(&format!("{path}delete"), &[]).await.status, 422);
    let reply = b
        .submit(&format!("{path}delete"), &[("confirm", "yes")])
        .await;
    redirected_to(
        &reply,
        "/settings/acme/projects/backend/alerts/?notice=rule_deleted",
    );
    assert!(app.store.alert_rule_by_id(rule.id).await.is_err());
}

async fn the_issue_timeline_and_subscription(shape: Shape) {
    let app = TestApp::start(shape).await;
    let dev = member_of_acme(&app, "dev@acme.test", Role::Member).await;
    let b = browser_for(&app, dev.id).await;
    let (issue, _) = app.seed_issue(app.project().id, "timeline", &[]).await;
    let base = format!("/organizations/acme/issues/{issue}/");
    let before = app.store.list_activities(issue).await.unwrap().len();

    b.submit(&format!("{base}status"), &[("action", "resolve")])
        .await;
    b.submit(&format!("{base}status"), &[("action", "resolve")])
        .await;
    b.submit(&format!("{base}status"), &[("action", "ignore_100")])
        .await;
    let owner = format!("user:{}", app.fixtures().owner.id);
    b.submit(&format!("{base}assign"), &[("assignee", &owner)])
        .await;
    b.submit(&format!("{base}comments"), &[("text", "looking <now>")])
        .await;
    // the list's bulk action records too
    let reply = b
        .submit(
            "/organizations/acme/issues/bulk",
            &[("id", &issue.to_string()), ("action", "unresolve")],
        )
        .await;
    assert_eq!(reply.status, 303);

    let activities = app.store.list_activities(issue).await.unwrap();
    let kinds: Vec<ActivityKind> = activities[before..].iter().map(|a| a.kind).collect();
    assert_eq!(
        kinds,
        [
            ActivityKind::SetResolved,
            ActivityKind::SetIgnored,
            ActivityKind::Assigned,
            ActivityKind::Note,
            ActivityKind::SetUnresolved,
        ]
    );
    assert!(
        activities[before..]
            .iter()
            .all(|a| a.user_id == Some(dev.id))
    );

    let html = b.get(&base).await.body;
    for text in [
        "<h2 id=\"activity-h\">Activity</h2>",
        "<strong>dev</strong> resolved the issue",
        "<strong>dev</strong> ignored the issue <span class=\"muted activity-detail\">until 100 more events</span>",
        "<strong>dev</strong> assigned the issue to Owner",
        "<strong>dev</strong> unresolved the issue",
        "<strong>Corral</strong> first saw the issue",
    ] {
        assert!(html.contains(text), "{text}: {html}");
    }
    assert!(
        html.contains("looking &#60;now&#62;") || html.contains("looking &lt;now&gt;"),
        "the comment, escaped"
    );
    assert_eq!(html.matches("looking").count(), 1, "the comment once");

    // the subscription: none by default, then on, off and back
    assert!(html.contains(r#"name="subscribed" value="true""#), "{html}");
    let reply = b
        .submit(&format!("{base}subscription"), &[("subscribed", "true")])
        .await;
    assert_eq!(
        reply.header("location"),
        Some(format!("{base}?notice=subscribed").as_str())
    );
    assert_eq!(
        app.store.issue_subscriptions(issue).await.unwrap(),
        vec![(dev.id, true)]
    );
    let html = b.get(&base).await.body;
    assert!(
        html.contains(r#"name="subscribed" value="false""#),
        "{html}"
    );
    b.submit(&format!("{base}subscription"), &[("subscribed", "false")])
        .await;
    assert_eq!(
        app.store.issue_subscriptions(issue).await.unwrap(),
        vec![(dev.id, false)]
    );
    b.submit(&format!("{base}subscription"), &[("subscribed", "default")])
        .await;
    assert!(
        app.store
            .issue_subscriptions(issue)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        b.submit(&format!("{base}subscription"), &[("subscribed", "maybe")])
            .await
            .status,
        400
    );
    // without the token nothing changes
    let reply = b
        .post_form(&format!("{base}subscription"), &[("subscribed", "true")])
        .await;
    assert_eq!(reply.status, 403);
    assert!(
        app.store
            .issue_subscriptions(issue)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn account_notifications(shape: Shape) {
    let app = TestApp::start(shape).await;
    let b = owner(&app).await;
    let html = b.get("/settings/account/").await.body;
    assert!(
        html.contains(r#"name="alerts" value="on" checked"#),
        "{html}"
    );
    let reply = b
        .submit("/settings/account/notifications", &[("assigned", "on")])
        .await;
    redirected_to(&reply, "/settings/account/?notice=notifications_saved");
    assert_eq!(
        app.store
            .notification_settings(app.fixtures().owner.id)
            .await
            .unwrap(),
        NotificationSettings {
            alerts: false,
            assigned: true,
            workflow: false
        }
    );
    let html = b.get("/settings/account/").await.body;
    assert!(html.contains(r#"name="assigned" value="on" checked"#));
    assert!(!html.contains(r#"name="alerts" value="on" checked"#));
}

async fn unsubscribe_links(shape: Shape) {
    let app = TestApp::start(shape).await;
    let user = app.fixtures().owner.id;
    let token = app.store.unsubscribe_token(user).await.unwrap();
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let settings = async || app.store.notification_settings(user).await.unwrap();

    // GET shows what will be turned off, and turns nothing off
    let path = format!("/unsubscribe/{token}/alerts");
    let page = send(client.get(app.url(&path))).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("Stop sending alert mail of your teams"),
        "{}",
        page.body
    );
    assert!(page.body.contains("owner@acme.test"));
    assert!(
        page.body
            .contains(&format!(r#"<form method="post" action="{path}""#))
    );
    assert!(settings().await.alerts);

    // the button: a POST without a session
    let done = send(client.post(app.url(&path)).form(&[("x", "")])).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("Unsubscribed"));
    assert!(!settings().await.alerts);
    assert!(settings().await.workflow, "only what the link names");

    // RFC 8058 one-click, as mail providers send it: no Origin, urlencoded
    // or multipart
    let one_click = send(
        client
            .post(app.url(&format!("/unsubscribe/{token}/workflow")))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click"),
    )
    .await;
    assert_eq!(one_click.status, 200, "{}", one_click.body);
    assert!(!settings().await.workflow);
    let boundary = "---FormBoundaryjWmhtjORrn";
    let multipart = send(
        client
            .post(app.url(&format!("/unsubscribe/{token}/assigned")))
            .header(CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
            .body(format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--{boundary}--\r\n"
            )),
    )
    .await;
    assert_eq!(multipart.status, 200, "{}", multipart.body);
    assert!(!settings().await.assigned);

    // one issue
    let (issue, _) = app.seed_issue(app.project().id, "noisy issue", &[]).await;
    let issue_path = format!("/unsubscribe/{token}/issue-{issue}");
    let page = send(client.get(app.url(&issue_path))).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("noisy issue"), "{}", page.body);
    let done = send(client.post(app.url(&issue_path))).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(
        app.store.issue_subscriptions(issue).await.unwrap(),
        vec![(user, false)]
    );

    // from another site: refused, nothing changes
    let other = app.store.create_user(corral_core::NewUser {
        email: "other@acme.test".into(),
        name: "Other".into(),
        password_hash: None,
        is_superuser: false,
    });
    let other = other.await.unwrap().id;
    let other_token = app.store.unsubscribe_token(other).await.unwrap();
    let forged = send(
        client
            .post(app.url(&format!("/unsubscribe/{other_token}/alerts")))
            .header(ORIGIN, "http://evil.example"),
    )
    .await;
    assert_eq!(forged.status, 403);
    assert!(app.store.notification_settings(other).await.unwrap().alerts);

    // links that name nobody or nothing
    let unknown = "0".repeat(token.len());
    for bad in [
        format!("/unsubscribe/{unknown}/alerts"),
        "/unsubscribe/not-a-token/alerts".to_string(),
        format!("/unsubscribe/{token}/everything"),
        format!("/unsubscribe/{token}/issue-99999999"),
    ] {
        let page = send(client.get(app.url(&bad))).await;
        assert_eq!(page.status, 404, "{bad}");
        let post = send(client.post(app.url(&bad))).await;
        assert_eq!(post.status, 404, "{bad}");
    }
    assert!(app.store.notification_settings(other).await.unwrap().alerts);
}

both_shapes!(
    channels,
    rules,
    the_issue_timeline_and_subscription,
    account_notifications,
    unsubscribe_links,
);
