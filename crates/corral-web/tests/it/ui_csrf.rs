//! Every state-changing route of the web UI refuses a forged request. The
//! routes are not listed here: they come from the table the UI's router is
//! built from (`corral_web::ui::route_table`), so a route added the normal
//! way is walked too. Each path is filled with real ids and sent POST, PUT,
//! PATCH and DELETE; a method the route does not take answers 405, any other
//! answer means the route changes state and must refuse:
//!
//! - signed-in forms: without the session's CSRF token (403);
//! - every form: from another site, even with the token (403);
//! - visitors' forms: from an opaque origin (`Origin: null`, 403).

use chrono::{Duration, Utc};
use corral_core::NewUser;
use corral_core::alerts::{ChannelConfig, Condition, NewAlertRule, RuleSpec};
use corral_core::model::Role;
use corral_web::session::{SESSION_COOKIE, random_token, sha256_hex};
use corral_web::ui::{Guard, route_table};
use reqwest::header::{COOKIE, ORIGIN};

use crate::common::{Reply, Shape, TestApp, send};

const STATE_CHANGING: [&str; 4] = ["POST", "PUT", "PATCH", "DELETE"];
const EXPIRED: &str = "the form expired or did not come from this site";
const CROSS_SITE: &str = "the form was sent from another site";

/// Real things for every path parameter of the UI.
struct World {
    app: TestApp,
    cookie: String,
    csrf: String,
    issue: i64,
    event: String,
    member: i64,
    invitation_id: i64,
    invitation_token: String,
    own_invitation_token: String,
    api_token: i64,
    reset_token: String,
    channel: i64,
    rule: i64,
    unsubscribe_token: String,
}

impl World {
    async fn new(shape: Shape) -> World {
        let app = TestApp::start(shape).await;
        let store = app.store.clone();
        let f = app.fixtures();
        let (owner, org_id) = (f.owner.id, f.org.id);
        let (issue, event) = app.seed_issue(f.project.id, "forged forms", &[]).await;
        let team = store.create_team(org_id, "core", "Core").await.unwrap();
        store
            .add_project_team(app.project().id, team.id)
            .await
            .unwrap();
        let member = store
            .create_user(NewUser {
                email: "dev@acme.test".into(),
                name: "Dev".into(),
                password_hash: None,
                is_superuser: false,
            })
            .await
            .unwrap()
            .id;
        store
            .set_membership(org_id, member, Role::Member)
            .await
            .unwrap();
        store.add_team_member(team.id, member).await.unwrap();
        let later = Utc::now() + Duration::days(1);
        let invitation_token = random_token();
        let invitation = store
            .create_invitation(
                org_id,
                "new@acme.test",
                Role::Member,
                &sha256_hex(&invitation_token),
                Some(owner),
                later,
            )
            .await
            .unwrap();
        // an invitation the owner accepts with their session (and its token)
        let guild = store.create_organization("guild", "Guild").await.unwrap();
        let own_invitation_token = random_token();
        store
            .create_invitation(
                guild.id,
                &f.owner.email,
                Role::Member,
                &sha256_hex(&own_invitation_token),
                None,
                later,
            )
            .await
            .unwrap();
        let api_token = store.list_api_tokens(owner).await.unwrap()[0].id;
        let reset_token = random_token();
        store
            .create_password_reset(&sha256_hex(&reset_token), member, later)
            .await
            .unwrap();
        let channel = store
            .create_alert_channel(
                org_id,
                "ops",
                &ChannelConfig::Slack {
                    url: "https://hooks.example.com/services/x".into(),
                },
            )
            .await
            .unwrap()
            .id;
        let rule = store
            .create_alert_rule(&NewAlertRule {
                project_id: f.project.id,
                name: "new issues".into(),
                enabled: true,
                spec: RuleSpec {
                    conditions: vec![Condition::NewIssue],
                    filters: vec![],
                    channels: vec![channel],
                    action_interval_minutes: 30,
                },
                created_by: None,
            })
            .await
            .unwrap()
            .id;
        let unsubscribe_token = store.unsubscribe_token(member).await.unwrap();
        let secret = random_token();
        let csrf = random_token();
        store
            .create_session(&sha256_hex(&secret), owner, &csrf, later)
            .await
            .unwrap();
        World {
            cookie: format!("{SESSION_COOKIE}={secret}"),
            csrf,
            issue,
            event: event.simple().to_string(),
            member,
            invitation_id: invitation.id,
            invitation_token,
            own_invitation_token,
            api_token,
            reset_token,
            channel,
            rule,
            unsubscribe_token,
            app,
        }
    }

    /// A path with its `{parameters}` replaced; the segment before one
    /// tells apart parameters of the same name (`issues/{id}`,
    /// `tokens/{id}`).
    fn fill(&self, path: &str) -> String {
        let mut before = "";
        let segments: Vec<String> = path
            .split('/')
            .map(|segment| {
                let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else {
                    before = segment;
                    return segment.to_string();
                };
                match (before, name) {
                    (_, "org") => "acme".into(),
                    (_, "project") => "backend".into(),
                    (_, "team") => "core".into(),
                    (_, "key") => self.app.fixtures().key.id.to_string(),
                    (_, "user_id") => self.member.to_string(),
                    (_, "event_id") => self.event.clone(),
                    ("issues", "id") => self.issue.to_string(),
                    ("invitations", "id") => self.invitation_id.to_string(),
                    ("tokens", "id") => self.api_token.to_string(),
                    ("reset", "token") => self.reset_token.clone(),
                    ("accept", "token") => self.invitation_token.clone(),
                    ("alert-channels", "channel") => self.channel.to_string(),
                    ("alerts", "rule") => self.rule.to_string(),
                    ("unsubscribe", "token") => self.unsubscribe_token.clone(),
                    // the segment before is the token's
                    (_, "scope") => "alerts".into(),
                    ("static", "file") => "corral.css".into(),
                    _ => panic!("{path}: no value for {{{name}}} after /{before}/; add one here"),
                }
            })
            .collect();
        segments.join("/")
    }

    /// A form request: with the session when `signed_in`, its CSRF token
    /// when `with_token`, and an Origin header when given.
    async fn send(
        &self,
        method: &str,
        path: &str,
        signed_in: bool,
        with_token: bool,
        origin: Option<&str>,
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut fields = vec![("name", "Forged")];
        if with_token {
            fields.push(("csrf_token", self.csrf.as_str()));
        }
        let mut request = self
            .app
            .client
            .request(method, self.app.url(path))
            .form(&fields);
        if signed_in {
            request = request.header(COOKIE, &self.cookie);
        }
        if let Some(origin) = origin {
            request = request.header(ORIGIN, origin);
        }
        send(request).await
    }
}

/// A page's title, or the start of a body that has none.
fn title(body: &str) -> String {
    match body.split_once("<title>") {
        Some((_, rest)) => rest.split("</title>").next().unwrap_or(rest).to_string(),
        None => body.chars().take(80).collect(),
    }
}

fn refused(reply: &Reply, message: &str) -> bool {
    reply.status == 403 && reply.body.contains(message)
}

async fn every_state_changing_route_refuses_forged_requests(shape: Shape) {
    let world = World::new(shape).await;
    let table = route_table();
    assert!(
        table.iter().any(|r| r.path == "/logout"),
        "the table is the UI's: {table:?}"
    );
    let mut wrong = Vec::new();
    let mut walked = Vec::new();
    for route in &table {
        let path = world.fill(route.path);
        for method in STATE_CHANGING {
            let foreign = world
                .send(method, &path, true, true, Some("http://evil.example"))
                .await;
            if foreign.status == 405 {
                continue;
            }
            walked.push(format!("{method} {}", route.path));
            let mut expect = |what: &str, reply: &Reply, message: &str| {
                if !refused(reply, message) {
                    wrong.push(format!(
                        "{method} {path} {what}: want 403 {message:?}, got {} ({})",
                        reply.status,
                        title(&reply.body)
                    ));
                }
            };
            expect("from another site", &foreign, CROSS_SITE);
            match route.guard {
                Guard::Session => {
                    let no_token = world.send(method, &path, true, false, None).await;
                    expect("without the CSRF token", &no_token, EXPIRED);
                }
                Guard::Visitor => {
                    let opaque = world.send(method, &path, false, false, Some("null")).await;
                    expect("from an opaque origin", &opaque, CROSS_SITE);
                }
            }
        }
    }
    // the owner joins another organization with their session: the token
    // is what lets them
    let own = format!("/accept/{}", world.own_invitation_token);
    let no_token = world.send("POST", &own, true, false, None).await;
    if !refused(&no_token, EXPIRED) {
        wrong.push(format!(
            "POST {own} as the invited user without the CSRF token: got {}",
            no_token.status
        ));
    }
    let member_of_guild = async || {
        let owner = world.app.fixtures().owner.id;
        let memberships = world.app.store.memberships_of_user(owner).await.unwrap();
        memberships.len() == 2
    };
    assert!(!member_of_guild().await, "refused, the owner did not join");
    world.send("POST", &own, true, true, None).await;
    assert!(member_of_guild().await, "with the token, the owner joined");

    assert!(
        walked.len() >= 30,
        "the UI's state-changing routes were found: {walked:#?}"
    );
    assert!(
        wrong.is_empty(),
        "{} forged requests were not refused:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    // nothing the forgeries named was changed
    let store = &world.app.store;
    let f = world.app.fixtures();
    assert_eq!(store.user_by_id(f.owner.id).await.unwrap().name, "Owner");
    let orgs = store.list_organizations().await.unwrap();
    assert!(orgs.iter().all(|o| o.name != "Forged"), "{orgs:?}");
    let teams = store.list_teams(f.org.id).await.unwrap();
    assert_eq!(teams.len(), 1, "{teams:?}");
    let issue = store.issue_by_id(world.issue).await.unwrap();
    assert_eq!(issue.status.as_str(), "unresolved");
    let channels = store.list_alert_channels(f.org.id).await.unwrap();
    assert_eq!(channels.len(), 1, "{channels:?}");
    assert_eq!(channels[0].name, "ops");
    assert!(store.alert_rule_by_id(world.rule).await.is_ok());
    assert!(!store.project_alerts_muted(f.project.id).await.unwrap());
    assert!(
        store
            .notification_settings(world.member)
            .await
            .unwrap()
            .alerts
    );
    let queued = store
        .list_deliveries(&corral_core::alerts::DeliveryFilter {
            org_id: Some(f.org.id),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        queued.is_empty(),
        "no test notification was sent: {queued:?}"
    );
}

embedded_only!(every_state_changing_route_refuses_forged_requests);
