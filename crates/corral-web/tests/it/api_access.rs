//! The REST API's access matrix: for every route, what each kind of user
//! gets — allowed, 403 (may see it, role too low) or 404 (may not even know
//! it exists) — and what tokens without the route's scope get (403).
//!
//! The world: organization `acme` with projects `backend` (team `core`) and
//! `frontend` (team `web`); its owner, an admin, a member of `core`, a member
//! of `web`; organization `rival-org` with project `rival` and its owner (the
//! outsider); and a superuser who belongs nowhere. Every user holds a token
//! with every scope, so the role alone decides.
//!
//! The table must cover every operation of the OpenAPI document, and each
//! row's scopes must be the ones the document names.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};

use corral_core::NewProject;
use corral_core::NewUser;
use corral_core::alerts::{ChannelConfig, Condition, NewAlertRule, RuleSpec};
use corral_core::model::{ALL_SCOPES, RateLimit, Role};
use serde_json::Value;

use crate::common::{self, Reply, Shape, TestApp, create_token, member_of_acme};

/// What a user should get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Want {
    /// Any 2xx.
    Allowed,
    /// 204: accepted, but the named issues are out of the user's reach and
    /// nothing changed.
    Untouched,
    /// 403.
    Forbidden,
    /// 404.
    NotFound,
}

const OK: Want = Want::Allowed;
const NC: Want = Want::Untouched;
const FB: Want = Want::Forbidden;
const NF: Want = Want::NotFound;

const ROLES: [&str; 6] = [
    "owner",
    "admin",
    "member",
    "other team",
    "outsider",
    "superuser",
];

/// One route as one kind of request. Paths and bodies name things with
/// `$placeholders` (see [`World::expand`]); `$fresh_…` ones are created for
/// each request, so destructive rows never run out of targets.
struct Row {
    method: &'static str,
    path: &'static str,
    body: Option<&'static str>,
    /// The scopes the route accepts (any one of them).
    scopes: &'static [&'static str],
    /// owner, admin, member, other team, outsider, superuser
    want: [Want; 6],
}

const fn row(
    method: &'static str,
    path: &'static str,
    body: Option<&'static str>,
    scopes: &'static [&'static str],
    want: [Want; 6],
) -> Row {
    Row {
        method,
        path,
        body,
        scopes,
        want,
    }
}

const GET: &str = "GET";
const PUT: &str = "PUT";
const POST: &str = "POST";
const DELETE: &str = "DELETE";

#[rustfmt::skip]
const MATRIX: &[Row] = &[
    //  method  path                                                          body                                   scopes                          owner admin member other outsider superuser
    // who the token is: any token, whatever its scopes
    row(GET,    "/api/0/",                                                    None,                                  &[],                            [OK, OK, OK, OK, OK, OK]),
    // organizations
    row(GET,    "/api/0/organizations/",                                      None,                                  &["org:read"],                  [OK, OK, OK, OK, OK, OK]),
    row(GET,    "/api/0/organizations/acme/",                                 None,                                  &["org:read"],                  [OK, OK, OK, OK, NF, OK]),
    row(PUT,    "/api/0/organizations/acme/",                                 Some(r#"{"name": "Acme"}"#),           &["org:write"],                 [OK, FB, FB, FB, NF, OK]),
    row(GET,    "/api/0/organizations/acme/projects/",                        None,                                  &["org:read", "project:read"],  [OK, OK, OK, OK, NF, OK]),
    // projects
    row(GET,    "/api/0/projects/",                                           None,                                  &["project:read"],              [OK, OK, OK, OK, OK, OK]),
    row(GET,    "/api/0/projects/acme/backend/",                              None,                                  &["project:read"],              [OK, OK, OK, NF, NF, OK]),
    row(PUT,    "/api/0/projects/acme/backend/",                              Some(r#"{"name": "Backend"}"#),        &["project:write"],             [OK, OK, FB, NF, NF, OK]),
    row(DELETE, "/api/0/projects/acme/$fresh_project/",                       None,                                  &["project:admin"],             [OK, OK, FB, NF, NF, OK]),
    row(GET,    "/api/0/projects/acme/frontend/",                             None,                                  &["project:read"],              [OK, OK, NF, OK, NF, OK]),
    row(GET,    "/api/0/projects/rival-org/rival/",                           None,                                  &["project:read"],              [NF, NF, NF, NF, OK, OK]),
    // keys
    row(GET,    "/api/0/projects/acme/backend/keys/",                         None,                                  &["project:read"],              [OK, OK, OK, NF, NF, OK]),
    row(POST,   "/api/0/projects/acme/backend/keys/",                         Some(r#"{"name": "key $n"}"#),         &["project:write"],             [OK, OK, FB, NF, NF, OK]),
    row(PUT,    "/api/0/projects/acme/backend/keys/$key/",                    Some(r#"{"name": "Default"}"#),        &["project:write"],             [OK, OK, FB, NF, NF, OK]),
    row(DELETE, "/api/0/projects/acme/backend/keys/$fresh_key/",              None,                                  &["project:admin"],             [OK, OK, FB, NF, NF, OK]),
    // teams
    row(GET,    "/api/0/organizations/acme/teams/",                           None,                                  &["org:read", "team:read"],     [OK, OK, OK, OK, NF, OK]),
    row(POST,   "/api/0/organizations/acme/teams/",                           Some(r#"{"slug": "team-$n"}"#),        &["team:write"],                [OK, OK, FB, FB, NF, OK]),
    row(GET,    "/api/0/teams/acme/core/",                                    None,                                  &["org:read", "team:read"],     [OK, OK, OK, OK, NF, OK]),
    row(DELETE, "/api/0/teams/acme/$fresh_team/",                             None,                                  &["team:admin"],                [OK, OK, FB, FB, NF, OK]),
    row(GET,    "/api/0/teams/acme/core/projects/",                           None,                                  &["project:read"],              [OK, OK, OK, OK, NF, OK]),
    row(POST,   "/api/0/teams/acme/core/projects/",                           Some(r#"{"name": "Project $n"}"#),     &["project:write"],             [OK, OK, FB, FB, NF, OK]),
    row(POST,   "/api/0/projects/acme/backend/teams/$fresh_team/",            None,                                  &["project:write"],             [OK, OK, FB, NF, NF, OK]),
    row(DELETE, "/api/0/projects/acme/backend/teams/$fresh_linked_team/",     None,                                  &["project:write"],             [OK, OK, FB, NF, NF, OK]),
    row(POST,   "/api/0/organizations/acme/members/$fresh_member/teams/core/", None,                                 &["team:write"],                [OK, OK, FB, FB, NF, OK]),
    row(DELETE, "/api/0/organizations/acme/members/$fresh_core_member/teams/core/", None,                            &["team:write"],                [OK, OK, FB, FB, NF, OK]),
    // members
    row(GET,    "/api/0/organizations/acme/members/",                         None,                                  &["member:read"],               [OK, OK, OK, OK, NF, OK]),
    row(POST,   "/api/0/organizations/acme/members/",                         Some(r#"{"email": "m$n@acme.test"}"#), &["member:write"],              [OK, OK, FB, FB, NF, OK]),
    row(POST,   "/api/0/organizations/acme/members/",                         Some(r#"{"email": "o$n@acme.test", "role": "owner"}"#), &["member:write"], [OK, FB, FB, FB, NF, OK]),
    row(GET,    "/api/0/organizations/acme/members/$member/",                 None,                                  &["member:read"],               [OK, OK, OK, OK, NF, OK]),
    row(PUT,    "/api/0/organizations/acme/members/$fresh_member/",           Some(r#"{"role": "admin"}"#),          &["member:write"],              [OK, FB, FB, FB, NF, OK]),
    row(DELETE, "/api/0/organizations/acme/members/$fresh_member/",           None,                                  &["member:admin"],              [OK, FB, FB, FB, NF, OK]),
    // issues
    row(GET,    "/api/0/organizations/acme/issues/",                          None,                                  &["event:read"],                [OK, OK, OK, OK, NF, OK]),
    row(PUT,    "/api/0/organizations/acme/issues/?id=$issue",                Some(r#"{"status": "unresolved"}"#),   &["event:write"],               [OK, OK, OK, NC, NF, OK]),
    row(DELETE, "/api/0/organizations/acme/issues/?id=$fresh_issue",          None,                                  &["event:admin"],               [OK, OK, FB, FB, NF, OK]),
    row(GET,    "/api/0/projects/acme/backend/issues/",                       None,                                  &["event:read"],                [OK, OK, OK, NF, NF, OK]),
    row(PUT,    "/api/0/projects/acme/backend/issues/?id=$issue",             Some(r#"{"status": "unresolved"}"#),   &["event:write"],               [OK, OK, OK, NF, NF, OK]),
    row(DELETE, "/api/0/projects/acme/backend/issues/?id=$fresh_issue",       None,                                  &["event:admin"],               [OK, OK, FB, NF, NF, OK]),
    row(GET,    "/api/0/issues/$issue/",                                      None,                                  &["event:read"],                [OK, OK, OK, NF, NF, OK]),
    row(PUT,    "/api/0/issues/$issue/",                                      Some(r#"{"assignedTo": ""}"#),         &["event:write"],               [OK, OK, OK, NF, NF, OK]),
    row(DELETE, "/api/0/issues/$fresh_issue/",                                None,                                  &["event:admin"],               [OK, OK, FB, NF, NF, OK]),
    row(GET,    "/api/0/issues/$issue/comments/",                             None,                                  &["event:read"],                [OK, OK, OK, NF, NF, OK]),
    row(POST,   "/api/0/issues/$issue/comments/",                             Some(r#"{"text": "note $n"}"#),        &["event:write"],               [OK, OK, OK, NF, NF, OK]),
    // events and tags
    row(GET,    "/api/0/issues/$issue/events/",                               None,                                  &["event:read"],                [OK, OK, OK, NF, NF, OK]),
    row(GET,    "/api/0/issues/$issue/events/latest/",                        None,                                  &["event:read"],                [OK, OK, OK, NF, NF, OK]),
    row(GET,    "/api/0/issues/$issue/events/$event/",                        None,                                  &["event:read"],                [OK, OK, OK, NF, NF, OK]),
    row(GET,    "/api/0/projects/acme/backend/events/$event/",                None,                                  &["event:read"],                [OK, OK, OK, NF, NF, OK]),
    row(GET,    "/api/0/issues/$issue/tags/",                                 None,                                  &["event:read"],                [OK, OK, OK, NF, NF, OK]),
    row(GET,    "/api/0/issues/$issue/tags/browser/values/",                  None,                                  &["event:read"],                [OK, OK, OK, NF, NF, OK]),
    // alert channels, rules, deliveries and the mute
    row(GET,    "/api/0/organizations/acme/alert-channels/",                  None,                                  &["org:read"],                  [OK, OK, OK, OK, NF, OK]),
    row(POST,   "/api/0/organizations/acme/alert-channels/",                  Some(r#"{"name": "ch $n", "kind": "slack", "config": {"url": "https://hooks.example.com/x"}}"#), &["org:write"], [OK, OK, FB, FB, NF, OK]),
    row(GET,    "/api/0/organizations/acme/alert-channels/$channel/",         None,                                  &["org:read"],                  [OK, OK, OK, OK, NF, OK]),
    row(PUT,    "/api/0/organizations/acme/alert-channels/$channel/",         Some(r#"{"name": "ops"}"#),            &["org:write"],                 [OK, OK, FB, FB, NF, OK]),
    row(DELETE, "/api/0/organizations/acme/alert-channels/$fresh_channel/",   None,                                  &["org:admin"],                 [OK, OK, FB, FB, NF, OK]),
    row(POST,   "/api/0/organizations/acme/alert-channels/$channel/test/",    None,                                  &["org:write"],                 [OK, OK, FB, FB, NF, OK]),
    row(GET,    "/api/0/organizations/acme/alert-deliveries/",                None,                                  &["org:read"],                  [OK, OK, OK, OK, NF, OK]),
    row(GET,    "/api/0/projects/acme/backend/rules/",                        None,                                  &["project:read"],              [OK, OK, OK, NF, NF, OK]),
    row(POST,   "/api/0/projects/acme/backend/rules/",                        Some(r#"{"name": "rule $n", "conditions": [{"type": "new_issue"}], "channels": [$channel]}"#), &["project:write"], [OK, OK, FB, NF, NF, OK]),
    row(GET,    "/api/0/projects/acme/backend/rules/$rule/",                  None,                                  &["project:read"],              [OK, OK, OK, NF, NF, OK]),
    row(PUT,    "/api/0/projects/acme/backend/rules/$rule/",                  Some(r#"{"enabled": true}"#),          &["project:write"],             [OK, OK, FB, NF, NF, OK]),
    row(DELETE, "/api/0/projects/acme/backend/rules/$fresh_rule/",            None,                                  &["project:admin"],             [OK, OK, FB, NF, NF, OK]),
    row(POST,   "/api/0/projects/acme/backend/rules/$rule/test/",             None,                                  &["project:write"],             [OK, OK, FB, NF, NF, OK]),
    row(GET,    "/api/0/projects/acme/backend/rules/$rule/deliveries/",       None,                                  &["project:read"],              [OK, OK, OK, NF, NF, OK]),
    row(GET,    "/api/0/projects/acme/backend/alerts/",                       None,                                  &["project:read"],              [OK, OK, OK, NF, NF, OK]),
    row(PUT,    "/api/0/projects/acme/backend/alerts/",                       Some(r#"{"muted": false}"#),           &["project:write"],             [OK, OK, FB, NF, NF, OK]),
    // the issue's timeline and people's own mail
    row(GET,    "/api/0/issues/$issue/activities/",                           None,                                  &["event:read"],                [OK, OK, OK, NF, NF, OK]),
    row(GET,    "/api/0/issues/$issue/subscription/",                         None,                                  &["event:read"],                [OK, OK, OK, NF, NF, OK]),
    row(PUT,    "/api/0/issues/$issue/subscription/",                         Some(r#"{"subscribed": null}"#),       &["event:write"],               [OK, OK, OK, NF, NF, OK]),
    row(GET,    "/api/0/users/me/notification-settings/",                     None,                                  &["member:read"],               [OK, OK, OK, OK, OK, OK]),
    row(PUT,    "/api/0/users/me/notification-settings/",                     Some(r#"{"alerts": true}"#),           &["member:write"],              [OK, OK, OK, OK, OK, OK]),
    // across organizations: another organization's things by id, and
    // one organization's ids through the other's paths
    row(GET,    "/api/0/issues/$rival_issue/",                                None,                                  &["event:read"],                [NF, NF, NF, NF, OK, OK]),
    row(PUT,    "/api/0/issues/$rival_issue/",                                Some(r#"{"status": "unresolved"}"#),   &["event:write"],               [NF, NF, NF, NF, OK, OK]),
    row(GET,    "/api/0/issues/$rival_issue/events/$rival_event/",            None,                                  &["event:read"],                [NF, NF, NF, NF, OK, OK]),
    row(GET,    "/api/0/projects/rival-org/rival/events/$rival_event/",       None,                                  &["event:read"],                [NF, NF, NF, NF, OK, OK]),
    row(GET,    "/api/0/projects/rival-org/rival/events/$event/",             None,                                  &["event:read"],                [NF, NF, NF, NF, NF, NF]),
    row(GET,    "/api/0/projects/acme/backend/events/$rival_event/",          None,                                  &["event:read"],                [NF, NF, NF, NF, NF, NF]),
    row(GET,    "/api/0/issues/$issue/events/$rival_event/",                  None,                                  &["event:read"],                [NF, NF, NF, NF, NF, NF]),
    row(PUT,    "/api/0/organizations/acme/issues/?id=$rival_issue",          Some(r#"{"status": "resolved"}"#),     &["event:write"],               [NC, NC, NC, NC, NF, NC]),
    row(GET,    "/api/0/organizations/rival-org/issues/?project=$backend",    None,                                  &["event:read"],                [NF, NF, NF, NF, NF, NF]),
    row(GET,    "/api/0/issues/$rival_issue/activities/",                     None,                                  &["event:read"],                [NF, NF, NF, NF, OK, OK]),
    row(PUT,    "/api/0/issues/$rival_issue/subscription/",                   Some(r#"{"subscribed": true}"#),       &["event:write"],               [NF, NF, NF, NF, OK, OK]),
    row(GET,    "/api/0/organizations/rival-org/alert-channels/$channel/",    None,                                  &["org:read"],                  [NF, NF, NF, NF, NF, NF]),
    row(GET,    "/api/0/organizations/acme/alert-channels/$rival_channel/",   None,                                  &["org:read"],                  [NF, NF, NF, NF, NF, NF]),
    row(PUT,    "/api/0/organizations/acme/alert-channels/$rival_channel/",   Some(r#"{"name": "mine"}"#),           &["org:write"],                 [NF, NF, NF, NF, NF, NF]),
    row(POST,   "/api/0/organizations/rival-org/alert-channels/$rival_channel/test/", None,                          &["org:write"],                 [NF, NF, NF, NF, OK, OK]),
    row(GET,    "/api/0/projects/rival-org/rival/rules/$rule/",               None,                                  &["project:read"],              [NF, NF, NF, NF, NF, NF]),
    row(DELETE, "/api/0/projects/acme/backend/rules/$rival_rule/",            None,                                  &["project:admin"],             [NF, NF, NF, NF, NF, NF]),
    row(GET,    "/api/0/projects/rival-org/rival/rules/$rival_rule/deliveries/", None,                               &["project:read"],              [NF, NF, NF, NF, OK, OK]),
];

struct World {
    app: TestApp,
    /// By role, in the order of [`ROLES`].
    tokens: Vec<String>,
    owner_id: i64,
    org_id: i64,
    backend: i64,
    core: i64,
    member: i64,
    issue: i64,
    event: String,
    rival_issue: i64,
    rival_event: String,
    channel: i64,
    rule: i64,
    rival_channel: i64,
    rival_rule: i64,
    counter: AtomicUsize,
}

async fn user(app: &TestApp, email: &str, superuser: bool) -> i64 {
    app.store
        .create_user(NewUser {
            email: email.into(),
            name: email.into(),
            password_hash: None,
            is_superuser: superuser,
        })
        .await
        .expect("user")
        .id
}

/// A Slack channel of an organization; its id.
async fn alert_channel(app: &TestApp, org_id: i64, name: &str) -> i64 {
    app.store
        .create_alert_channel(
            org_id,
            name,
            &ChannelConfig::Slack {
                url: "https://hooks.example.com/services/x".into(),
            },
        )
        .await
        .expect("channel")
        .id
}

/// A rule of a project sending to `channel`; its id.
async fn alert_rule(app: &TestApp, project_id: i64, channel: i64) -> i64 {
    app.store
        .create_alert_rule(&NewAlertRule {
            project_id,
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
        .expect("rule")
        .id
}

impl World {
    async fn new(shape: Shape) -> World {
        let app = TestApp::start(shape).await;
        let store = app.store.clone();
        let org_id = app.fixtures().org.id;
        let backend = app.project().id;
        let core = store.create_team(org_id, "core", "Core").await.unwrap();
        store.add_project_team(backend, core.id).await.unwrap();
        let web = store.create_team(org_id, "web", "Web").await.unwrap();
        let (frontend, _) = app.create_project(Some(org_id), "frontend").await;
        store.add_project_team(frontend.id, web.id).await.unwrap();

        let admin = member_of_acme(&app, "admin@acme.test", Role::Admin)
            .await
            .id;
        let member = member_of_acme(&app, "member@acme.test", Role::Member)
            .await
            .id;
        store.add_team_member(core.id, member).await.unwrap();
        let other = member_of_acme(&app, "other@acme.test", Role::Member)
            .await
            .id;
        store.add_team_member(web.id, other).await.unwrap();
        let (rival, _) = app.create_project(None, "rival").await;
        let outsider = user(&app, "owner@rival.test", false).await;
        store
            .set_membership(rival.org_id, outsider, Role::Owner)
            .await
            .unwrap();
        let root = user(&app, "root@corral.test", true).await;

        let owner_id = app.fixtures().owner.id;
        let mut tokens = Vec::new();
        for id in [owner_id, admin, member, other, outsider, root] {
            tokens.push(create_token(&store, id, ALL_SCOPES).await);
        }
        let (issue, event) = app
            .seed_issue(backend, "shared issue", &[("browser", "Firefox")])
            .await;
        let (rival_issue, rival_event) = app
            .seed_issue(rival.id, "rival issue", &[("browser", "Chrome")])
            .await;
        // no alert runner here: test notifications answer at once, pending
        app.state
            .set_test_notification_wait(std::time::Duration::ZERO);
        let channel = alert_channel(&app, org_id, "ops").await;
        let rule = alert_rule(&app, backend, channel).await;
        let rival_channel = alert_channel(&app, rival.org_id, "rival-ops").await;
        let rival_rule = alert_rule(&app, rival.id, rival_channel).await;
        World {
            app,
            tokens,
            owner_id,
            org_id,
            backend,
            core: core.id,
            member,
            issue,
            event: event.simple().to_string(),
            rival_issue,
            rival_event: rival_event.simple().to_string(),
            channel,
            rule,
            rival_channel,
            rival_rule,
            counter: AtomicUsize::new(0),
        }
    }

    fn next(&self) -> usize {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    /// Replaces the placeholders; each `$fresh_…` creates its thing.
    async fn expand(&self, text: &str) -> String {
        let store = &self.app.store;
        let mut out = text.to_string();
        while let Some(at) = out.find("$fresh_") {
            let name: String = out[at + 1..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let n = self.next();
            let value = match name.as_str() {
                "fresh_issue" => {
                    let title = format!("fresh issue {n}");
                    self.app
                        .seed_issue(self.backend, &title, &[])
                        .await
                        .0
                        .to_string()
                }
                "fresh_project" => {
                    let slug = format!("fresh-{n}");
                    let p = store
                        .create_project(NewProject {
                            org_id: self.org_id,
                            slug: slug.clone(),
                            name: slug.clone(),
                            platform: None,
                        })
                        .await
                        .unwrap();
                    store.add_project_team(p.id, self.core).await.unwrap();
                    slug
                }
                "fresh_key" => {
                    store
                        .create_project_key(self.backend, "fresh", RateLimit::default())
                        .await
                        .unwrap()
                        .public_key
                }
                "fresh_team" | "fresh_linked_team" => {
                    let slug = format!("fresh-team-{n}");
                    let team = store.create_team(self.org_id, &slug, &slug).await.unwrap();
                    if name == "fresh_linked_team" {
                        store.add_project_team(self.backend, team.id).await.unwrap();
                    }
                    slug
                }
                "fresh_member" | "fresh_core_member" => {
                    let id =
                        member_of_acme(&self.app, &format!("fresh{n}@acme.test"), Role::Member)
                            .await
                            .id;
                    if name == "fresh_core_member" {
                        store.add_team_member(self.core, id).await.unwrap();
                    }
                    id.to_string()
                }
                "fresh_channel" => alert_channel(&self.app, self.org_id, &format!("fresh-{n}"))
                    .await
                    .to_string(),
                "fresh_rule" => alert_rule(&self.app, self.backend, self.channel)
                    .await
                    .to_string(),
                other => panic!("unknown placeholder ${other}"),
            };
            out.replace_range(at..at + 1 + name.len(), &value);
        }
        let n = self.next().to_string();
        out.replace("$rival_issue", &self.rival_issue.to_string())
            .replace("$rival_channel", &self.rival_channel.to_string())
            .replace("$rival_rule", &self.rival_rule.to_string())
            .replace("$channel", &self.channel.to_string())
            .replace("$rule", &self.rule.to_string())
            .replace("$rival_event", &self.rival_event)
            .replace("$issue", &self.issue.to_string())
            .replace("$event", &self.event)
            .replace("$key", self.app.key())
            .replace("$member", &self.member.to_string())
            .replace("$backend", &self.backend.to_string())
            .replace("$n", &n)
    }

    async fn send(&self, row: &Row, token: &str) -> Reply {
        let path = self.expand(row.path).await;
        let body = match row.body {
            Some(b) => Some(
                serde_json::from_str::<Value>(&self.expand(b).await)
                    .unwrap_or_else(|e| panic!("row body {b}: {e}")),
            ),
            None => None,
        };
        self.app.api(row.method, &path, token, body).await
    }
}

fn meets(want: Want, reply: &Reply) -> bool {
    match want {
        Want::Allowed => (200..300).contains(&reply.status),
        Want::Untouched => reply.status == 204,
        Want::Forbidden => reply.status == 403,
        Want::NotFound => reply.status == 404,
    }
}

/// The scopes a token must lack so that none of `accepted` is held
/// (a scope is held through any higher level of it too).
fn without(accepted: &[&str]) -> Vec<&'static str> {
    let level = |s: &str| match s.split_once(':').map(|(_, l)| l) {
        Some("read") => 1,
        Some("write") => 2,
        Some("admin") => 3,
        _ => 0,
    };
    ALL_SCOPES
        .iter()
        .copied()
        .filter(|held| {
            !accepted.iter().any(|a| {
                let (ra, _) = a.split_once(':').unwrap();
                let (rh, _) = held.split_once(':').unwrap();
                ra == rh && level(held) >= level(a)
            })
        })
        .collect()
}

async fn every_route_allows_or_refuses_as_intended(shape: Shape) {
    let world = World::new(shape).await;
    let mut wrong = Vec::new();
    let mut narrow_tokens: HashMap<&[&str], (String, String)> = HashMap::new();
    for row in MATRIX {
        for (role, (want, token)) in row.want.iter().zip(&world.tokens).enumerate() {
            let reply = world.send(row, token).await;
            if !meets(*want, &reply) {
                wrong.push(format!(
                    "{} {} as {}: want {want:?}, got {} {}",
                    row.method, row.path, ROLES[role], reply.status, reply.body
                ));
            }
        }
        // the owner's tokens: one without the route's scopes, one with
        // only the first of them (or none, when the route needs none)
        if row.scopes.is_empty() {
            let bare = create_token(&world.app.store, world.owner_id, &[]).await;
            let reply = world.send(row, &bare).await;
            if !meets(row.want[0], &reply) {
                wrong.push(format!(
                    "{} {} with no scope: want {:?}, got {} {}",
                    row.method, row.path, row.want[0], reply.status, reply.body
                ));
            }
            continue;
        }
        if !narrow_tokens.contains_key(row.scopes) {
            let lacking =
                create_token(&world.app.store, world.owner_id, &without(row.scopes)).await;
            let exact = create_token(&world.app.store, world.owner_id, &row.scopes[..1]).await;
            narrow_tokens.insert(row.scopes, (lacking, exact));
        }
        let (lacking, exact) = &narrow_tokens[row.scopes];
        let reply = world.send(row, lacking).await;
        if reply.status != 403 || !reply.body.contains(row.scopes[0]) {
            wrong.push(format!(
                "{} {} without {:?}: want 403 naming the scope, got {} {}",
                row.method, row.path, row.scopes, reply.status, reply.body
            ));
        }
        let reply = world.send(row, exact).await;
        if !meets(row.want[0], &reply) {
            wrong.push(format!(
                "{} {} with only {}: want {:?}, got {} {}",
                row.method, row.path, row.scopes[0], row.want[0], reply.status, reply.body
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of the access matrix's expectations failed:\n{}",
        wrong.len(),
        wrong.join("\n")
    );

    // ids out of reach were left alone
    let rival = world
        .app
        .store
        .issue_by_id(world.rival_issue)
        .await
        .unwrap();
    assert_eq!(
        rival.status.as_str(),
        "unresolved",
        "acme's bulk resolve never reaches another organization's issue"
    );
}

/// Whether a concrete path (placeholders still in) is an instance of a
/// documented path, and how many literal segments matched (to prefer
/// `…/events/latest/` over `…/events/{event_id}/`).
fn instance_of(documented: &str, path: &str) -> Option<usize> {
    let path = path.split('?').next().unwrap();
    let a: Vec<&str> = documented.split('/').collect();
    let b: Vec<&str> = path.split('/').collect();
    if a.len() != b.len() {
        return None;
    }
    let mut literal = 0;
    for (d, p) in a.iter().zip(&b) {
        if d.starts_with('{') {
            continue;
        }
        if d != p {
            return None;
        }
        literal += 1;
    }
    Some(literal)
}

async fn the_matrix_covers_every_documented_operation(shape: Shape) {
    let app = TestApp::start(shape).await;
    let reply = common::send(app.client.get(app.url("/api/openapi.json"))).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let doc = reply.json();
    // (method, path) -> documented scopes
    let mut operations: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "put", "post", "delete", "patch"] {
            if let Some(op) = item.get(method) {
                let scopes = op["security"][0]["token"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{method} {path} names no token scopes"))
                    .iter()
                    .map(|s| s.as_str().unwrap().to_string())
                    .collect();
                operations.insert((method.to_uppercase(), path.clone()), scopes);
            }
        }
    }
    let mut covered = HashSet::new();
    for row in MATRIX {
        let best = operations
            .keys()
            .filter(|(m, _)| m == row.method)
            .filter_map(|key| instance_of(&key.1, row.path).map(|n| (n, key)))
            .max_by_key(|(n, _)| *n)
            .map(|(_, key)| key.clone())
            .unwrap_or_else(|| panic!("{} {} is no documented route", row.method, row.path));
        let documented = &operations[&best];
        assert_eq!(
            documented,
            &row.scopes.to_vec(),
            "{} {}: the document's scopes differ from the matrix's",
            row.method,
            row.path
        );
        covered.insert(best);
    }
    let missing: Vec<String> = operations
        .keys()
        .filter(|k| !covered.contains(*k))
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert!(
        missing.is_empty(),
        "routes without a row in the access matrix: {missing:?}"
    );
}

both_shapes!(every_route_allows_or_refuses_as_intended);
embedded_only!(the_matrix_covers_every_documented_operation);
