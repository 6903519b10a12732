//! The web UI's access matrix, the counterpart of `api_access.rs`: for
//! every page and every form, what each kind of visitor gets — allowed, 403
//! (may see it, role too low), 404 (may not even know it exists) or, when
//! signed out, the way to the sign-in page.
//!
//! The world: organization `acme` with projects `backend` (team `core`) and
//! `frontend` (team `web`); its owner, an admin, a member of `core`, a member
//! of `web`; organization `rival-org` with project `rival` and its owner (the
//! outsider); a superuser who belongs nowhere; and a visitor without a
//! session. Every user has the same password; every request comes with a
//! fresh session of its user, and every form with that session's CSRF token.
//!
//! Besides the table: every form POST is sent once more without its CSRF
//! token (the signed-in forms) or from another site (the visitors' forms)
//! and must be refused with 403 and change nothing; and every form and link
//! of every page the matrix fetched must have a row, so a new page or form
//! cannot slip by untested.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{Duration, Utc};
use corral_core::alerts::{ChannelConfig, Condition, NewAlertRule, RuleSpec};
use corral_core::model::{ALL_SCOPES, RateLimit, Role, UserId};
use corral_core::{IssueQuery, NewProject, NewUser};
use corral_web::api::{hash_token, new_token_secret};
use corral_web::session::{SESSION_COOKIE, random_token, sha256_hex};

use crate::common::{Reply, Shape, TestApp, send};

/// What a visitor should get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Want {
    /// 2xx, or a redirect anywhere but the sign-in page.
    Allowed,
    /// A bulk change that was accepted but changed nothing: the named
    /// issues are out of the user's reach (303 with `n=0`).
    Untouched,
    /// 403.
    Forbidden,
    /// 404.
    NotFound,
    /// 303 to `/login?next=…`.
    SignIn,
}

const OK: Want = Want::Allowed;
const NC: Want = Want::Untouched;
const FB: Want = Want::Forbidden;
const NF: Want = Want::NotFound;
const LG: Want = Want::SignIn;

const ROLES: [&str; 7] = [
    "owner",
    "admin",
    "member",
    "other team",
    "outsider",
    "superuser",
    "visitor",
];
const VISITOR: usize = 6;

/// The password of every user of the world.
const PASSWORD: &str = "correct horse battery";

/// How a row's POST is checked once more without its credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Guard {
    /// GET: nothing to forge.
    None,
    /// A signed-in form: without the session's CSRF token it is refused.
    Csrf,
    /// A visitors' form (no session, so no token): sent from another site
    /// (`Origin`) it is refused.
    Origin,
}

/// One page or form. Paths and bodies name things with `$placeholders`
/// (see [`World::expand`]); `$fresh_…` ones are created for each request,
/// so destructive rows never run out of targets. Bodies are `k=v&k=v`,
/// form-encoded when sent.
struct Row {
    method: &'static str,
    path: &'static str,
    body: &'static str,
    guard: Guard,
    /// owner, admin, member, other team, outsider, superuser, visitor
    want: [Want; 7],
}

const fn get(path: &'static str, want: [Want; 7]) -> Row {
    Row {
        method: "GET",
        path,
        body: "",
        guard: Guard::None,
        want,
    }
}

const fn post(path: &'static str, body: &'static str, want: [Want; 7]) -> Row {
    Row {
        method: "POST",
        path,
        body,
        guard: Guard::Csrf,
        want,
    }
}

const fn visitor_post(path: &'static str, body: &'static str, want: [Want; 7]) -> Row {
    Row {
        method: "POST",
        path,
        body,
        guard: Guard::Origin,
        want,
    }
}

#[rustfmt::skip]
const MATRIX: &[Row] = &[
    //   path                                                                   body                                                   owner admin member other outsider superuser visitor
    // signing in and out, resets, invitations: open to visitors
    get("/",                                                                                                                           [OK, OK, OK, OK, OK, OK, LG]),
    get("/login",                                                                                                                      [OK, OK, OK, OK, OK, OK, OK]),
    visitor_post("/login",                                                      "email=signin@acme.test&password=$password&next=/",    [OK, OK, OK, OK, OK, OK, OK]),
    post("/logout",                                                             "",                                                    [OK, OK, OK, OK, OK, OK, LG]),
    get("/reset",                                                                                                                      [OK, OK, OK, OK, OK, OK, OK]),
    visitor_post("/reset",                                                      "email=nobody@acme.test",                              [OK, OK, OK, OK, OK, OK, OK]),
    get("/reset/$token64",                                                                                                             [OK, OK, OK, OK, OK, OK, OK]),
    visitor_post("/reset/$fresh_reset",                                         "password=$password&confirm=$password",                [OK, OK, OK, OK, OK, OK, OK]),
    get("/accept/$invitation",                                                                                                         [OK, OK, OK, OK, OK, OK, OK]),
    // an invitation for someone else: only a visitor can take it (as a new account)
    visitor_post("/accept/$fresh_invitation_new",                               "name=New&password=$password&confirm=$password",       [FB, FB, FB, FB, FB, FB, OK]),
    // an invitation for the user themself: they join with their session (and its token)
    post("/accept/$fresh_invitation_self",                                      "name=Me&password=$password&confirm=$password",        [OK, OK, OK, OK, OK, OK, OK]),
    get("/static/$stylesheet_file",                                                                                                    [OK, OK, OK, OK, OK, OK, OK]),
    get("/static/$script_file",                                                                                                        [OK, OK, OK, OK, OK, OK, OK]),
    get("/static/corral.000000000000.css",                                                                                             [NF, NF, NF, NF, NF, NF, NF]),
    // the issue list
    get("/organizations/acme/issues",                                                                                                  [OK, OK, OK, OK, OK, OK, OK]),
    get("/organizations/acme/issues/",                                                                                                 [OK, OK, OK, OK, NF, OK, LG]),
    get("/organizations/acme/issues/?status=all&sort=freq&query=is:unresolved%20level:error", /* */                                   [OK, OK, OK, OK, NF, OK, LG]),
    get("/organizations/acme/issues/?project=backend",                                                                                 [OK, OK, OK, NF, NF, OK, LG]),
    get("/organizations/acme/issues/?project=frontend",                                                                                [OK, OK, NF, OK, NF, OK, LG]),
    get("/organizations/acme/issues/?project=rival",                                                                                   [NF, NF, NF, NF, NF, NF, LG]),
    get("/organizations/rival-org/issues/",                                                                                            [NF, NF, NF, NF, OK, OK, LG]),
    post("/organizations/acme/issues/bulk",                                     "id=$fresh_issue&action=resolve",                      [OK, OK, OK, NC, NF, OK, LG]),
    post("/organizations/acme/issues/bulk",                                     "id=$rival_issue&action=resolve",                      [NC, NC, NC, NC, NF, NC, LG]),
    post("/organizations/rival-org/issues/bulk",                                "id=$rival_issue&action=unresolve",                    [NF, NF, NF, NF, OK, OK, LG]),
    // an issue, its events and their raw JSON
    get("/organizations/acme/issues/$issue",                                                                                           [OK, OK, OK, OK, OK, OK, OK]),
    get("/organizations/acme/issues/$issue/",                                                                                          [OK, OK, OK, NF, NF, OK, LG]),
    get("/organizations/acme/issues/$issue/events/$event/",                                                                            [OK, OK, OK, NF, NF, OK, LG]),
    get("/organizations/acme/issues/$issue/events/$event/json",                                                                        [OK, OK, OK, NF, NF, OK, LG]),
    get("/organizations/acme/issues/$frontend_issue/",                                                                                 [OK, OK, NF, OK, NF, OK, LG]),
    get("/organizations/acme/issues/$frontend_issue/events/$frontend_event/json",                                                      [OK, OK, NF, OK, NF, OK, LG]),
    get("/organizations/rival-org/issues/$rival_issue/",                                                                               [NF, NF, NF, NF, OK, OK, LG]),
    get("/organizations/rival-org/issues/$rival_issue/events/$rival_event/json",                                                       [NF, NF, NF, NF, OK, OK, LG]),
    post("/organizations/acme/issues/$issue/status",                            "action=unresolve",                                    [OK, OK, OK, NF, NF, OK, LG]),
    post("/organizations/acme/issues/$issue/assign",                            "assignee=",                                           [OK, OK, OK, NF, NF, OK, LG]),
    post("/organizations/acme/issues/$issue/comments",                          "text=note $n",                                        [OK, OK, OK, NF, NF, OK, LG]),
    post("/organizations/acme/issues/$frontend_issue/assign",                   "assignee=",                                           [OK, OK, NF, OK, NF, OK, LG]),
    post("/organizations/rival-org/issues/$rival_issue/comments",               "text=note $n",                                        [NF, NF, NF, NF, OK, OK, LG]),
    // across organizations and issues: ids of one reached through another's path
    get("/organizations/acme/issues/$rival_issue/",                                                                                    [NF, NF, NF, NF, NF, NF, LG]),
    get("/organizations/acme/issues/$rival_issue/events/$rival_event/json",                                                            [NF, NF, NF, NF, NF, NF, LG]),
    get("/organizations/acme/issues/$issue/events/$rival_event/",                                                                      [NF, NF, NF, NF, NF, NF, LG]),
    get("/organizations/acme/issues/$issue/events/$rival_event/json",                                                                  [NF, NF, NF, NF, NF, NF, LG]),
    get("/organizations/acme/issues/$frontend_issue/events/$event/json",                                                               [NF, NF, NF, NF, NF, NF, LG]),
    get("/organizations/rival-org/issues/$rival_issue/events/$event/json",                                                             [NF, NF, NF, NF, NF, NF, LG]),
    get("/organizations/rival-org/issues/$issue/events/$event/json",                                                                   [NF, NF, NF, NF, NF, NF, LG]),
    post("/organizations/acme/issues/$rival_issue/status",                      "action=resolve",                                      [NF, NF, NF, NF, NF, NF, LG]),
    post("/organizations/rival-org/issues/$issue/comments",                     "text=note $n",                                        [NF, NF, NF, NF, NF, NF, LG]),
    // the user's own account
    get("/settings/account/",                                                                                                          [OK, OK, OK, OK, OK, OK, LG]),
    post("/settings/account/name",                                              "name=Renamed $n",                                     [OK, OK, OK, OK, OK, OK, LG]),
    post("/settings/account/password",                                          "current=$password&password=$password&confirm=$password", [OK, OK, OK, OK, OK, OK, LG]),
    post("/settings/account/sessions",                                          "",                                                    [OK, OK, OK, OK, OK, OK, LG]),
    post("/settings/account/tokens",                                            "name=token $n&scope=event:read",                      [OK, OK, OK, OK, OK, OK, LG]),
    post("/settings/account/tokens/$fresh_own_token/delete",                    "",                                                    [OK, OK, OK, OK, OK, OK, LG]),
    // someone else's token is nobody else's to delete, not even a superuser's
    post("/settings/account/tokens/$fresh_owner_token/delete",                  "",                                                    [OK, NF, NF, NF, NF, NF, LG]),
    // the organization
    get("/settings/acme/",                                                                                                             [OK, OK, OK, OK, NF, OK, LG]),
    post("/settings/acme/",                                                     "name=Acme",                                           [OK, FB, FB, FB, NF, OK, LG]),
    get("/settings/rival-org/",                                                                                                        [NF, NF, NF, NF, OK, OK, LG]),
    post("/settings/rival-org/",                                                "name=Rival",                                          [NF, NF, NF, NF, OK, OK, LG]),
    // members and invitations
    get("/settings/acme/members/",                                                                                                     [OK, OK, OK, OK, NF, OK, LG]),
    post("/settings/acme/members/invite",                                       "email=m$n@acme.test&role=member",                     [OK, OK, FB, FB, NF, OK, LG]),
    post("/settings/acme/members/invite",                                       "email=o$n@acme.test&role=owner",                      [OK, FB, FB, FB, NF, OK, LG]),
    post("/settings/acme/members/$fresh_member/role",                           "role=admin",                                          [OK, FB, FB, FB, NF, OK, LG]),
    post("/settings/acme/members/$fresh_member/remove",                         "",                                                    [OK, FB, FB, FB, NF, OK, LG]),
    post("/settings/acme/invitations/$fresh_invitation_id/revoke",              "",                                                    [OK, OK, FB, FB, NF, OK, LG]),
    post("/settings/acme/invitations/$fresh_owner_invitation_id/revoke",        "",                                                    [OK, FB, FB, FB, NF, OK, LG]),
    // teams
    get("/settings/acme/teams/",                                                                                                       [OK, OK, OK, OK, NF, OK, LG]),
    post("/settings/acme/teams/",                                               "name=Team $n",                                        [OK, OK, FB, FB, NF, OK, LG]),
    get("/settings/acme/teams/core/",                                                                                                  [OK, OK, OK, OK, NF, OK, LG]),
    get("/settings/acme/teams/nothing/",                                                                                               [NF, NF, NF, NF, NF, NF, LG]),
    post("/settings/acme/teams/$fresh_team/delete",                             "",                                                    [OK, OK, FB, FB, NF, OK, LG]),
    post("/settings/acme/teams/core/members",                                   "user_id=$fresh_member",                               [OK, OK, FB, FB, NF, OK, LG]),
    post("/settings/acme/teams/core/members/$fresh_core_member/remove",         "",                                                    [OK, OK, FB, FB, NF, OK, LG]),
    post("/settings/acme/teams/$fresh_team/projects",                           "project=backend",                                     [OK, OK, FB, FB, NF, OK, LG]),
    post("/settings/acme/teams/$fresh_linked_team/projects/backend/remove",     "",                                                    [OK, OK, FB, FB, NF, OK, LG]),
    // projects and their keys
    get("/settings/acme/projects/",                                                                                                    [OK, OK, OK, OK, NF, OK, LG]),
    post("/settings/acme/projects/",                                            "name=Project $n&platform=python",                     [OK, OK, FB, FB, NF, OK, LG]),
    get("/settings/acme/projects/backend/",                                                                                            [OK, OK, OK, NF, NF, OK, LG]),
    get("/settings/acme/projects/frontend/",                                                                                           [OK, OK, NF, OK, NF, OK, LG]),
    get("/settings/rival-org/projects/rival/",                                                                                         [NF, NF, NF, NF, OK, OK, LG]),
    get("/settings/rival-org/projects/backend/",                                                                                       [NF, NF, NF, NF, NF, NF, LG]),
    post("/settings/acme/projects/backend/",                                    "name=Backend&platform=python&retention_days=",        [OK, OK, FB, NF, NF, OK, LG]),
    post("/settings/acme/projects/$fresh_project/delete",                       "confirm=$same",                                       [OK, OK, FB, NF, NF, OK, LG]),
    post("/settings/acme/projects/backend/teams",                               "team=$fresh_team",                                    [OK, OK, FB, NF, NF, OK, LG]),
    post("/settings/acme/projects/backend/teams/$fresh_linked_team/remove",     "",                                                    [OK, OK, FB, NF, NF, OK, LG]),
    post("/settings/acme/projects/backend/keys",                                "label=key $n",                                        [OK, OK, FB, NF, NF, OK, LG]),
    post("/settings/acme/projects/frontend/keys",                               "label=key $n",                                        [OK, OK, NF, FB, NF, OK, LG]),
    post("/settings/acme/projects/backend/keys/$key_id/",                       "label=Default&per_minute=&per_hour=",                 [OK, OK, FB, NF, NF, OK, LG]),
    post("/settings/acme/projects/backend/keys/$key_id/active",                 "active=true",                                         [OK, OK, FB, NF, NF, OK, LG]),
    post("/settings/acme/projects/backend/keys/$fresh_key_id/delete",           "",                                                    [OK, OK, FB, NF, NF, OK, LG]),
    post("/settings/rival-org/projects/rival/keys",                             "label=key $n",                                        [NF, NF, NF, NF, OK, OK, LG]),
    // another organization's key through acme's project
    post("/settings/acme/projects/backend/keys/$rival_key_id/active",           "active=false",                                        [NF, NF, FB, NF, NF, NF, LG]),
    // alert channels
    get("/settings/acme/alert-channels/",                                                                                              [OK, OK, OK, OK, NF, OK, LG]),
    post("/settings/acme/alert-channels/",                                      "kind=slack&name=ch $n&url=https://hooks.example.com/x", [OK, OK, FB, FB, NF, OK, LG]),
    get("/settings/acme/alert-channels/new?kind=webhook",                                                                              [OK, OK, FB, FB, NF, OK, LG]),
    get("/settings/acme/alert-channels/$channel/",                                                                                     [OK, OK, OK, OK, NF, OK, LG]),
    post("/settings/acme/alert-channels/$channel/",                             "name=ops&url=https://hooks.example.com/x",            [OK, OK, FB, FB, NF, OK, LG]),
    post("/settings/acme/alert-channels/$channel/test",                         "",                                                    [OK, OK, FB, FB, NF, OK, LG]),
    post("/settings/acme/alert-channels/$fresh_channel/delete",                 "confirm=yes",                                         [OK, OK, FB, FB, NF, OK, LG]),
    get("/settings/rival-org/alert-channels/$channel/",                                                                                [NF, NF, NF, NF, NF, NF, LG]),
    get("/settings/acme/alert-channels/$rival_channel/",                                                                               [NF, NF, NF, NF, NF, NF, LG]),
    post("/settings/acme/alert-channels/$rival_channel/delete",                 "confirm=yes",                                         [NF, NF, NF, NF, NF, NF, LG]),
    post("/settings/rival-org/alert-channels/$rival_channel/test",              "",                                                    [NF, NF, NF, NF, OK, OK, LG]),
    // a project's alert rules, their tests and the mute
    get("/settings/acme/projects/backend/alerts/",                                                                                     [OK, OK, OK, NF, NF, OK, LG]),
    post("/settings/acme/projects/backend/alerts/",                             "name=rule $n&new_issue=on&channel=$channel&interval=30&enabled=on", [OK, OK, FB, NF, NF, OK, LG]),
    get("/settings/acme/projects/backend/alerts/new",                                                                                  [OK, OK, FB, NF, NF, OK, LG]),
    post("/settings/acme/projects/backend/alerts/mute",                         "muted=false",                                         [OK, OK, FB, NF, NF, OK, LG]),
    get("/settings/acme/projects/backend/alerts/$rule/",                                                                               [OK, OK, OK, NF, NF, OK, LG]),
    post("/settings/acme/projects/backend/alerts/$rule/",                       "name=new issues&new_issue=on&channel=$channel&interval=30&enabled=on", [OK, OK, FB, NF, NF, OK, LG]),
    post("/settings/acme/projects/backend/alerts/$rule/test",                   "",                                                    [OK, OK, FB, NF, NF, OK, LG]),
    post("/settings/acme/projects/backend/alerts/$fresh_rule/delete",           "confirm=yes",                                         [OK, OK, FB, NF, NF, OK, LG]),
    get("/settings/rival-org/projects/rival/alerts/$rule/",                                                                            [NF, NF, NF, NF, NF, NF, LG]),
    get("/settings/acme/projects/backend/alerts/$rival_rule/",                                                                         [NF, NF, NF, NF, NF, NF, LG]),
    post("/settings/acme/projects/backend/alerts/$rival_rule/test",             "",                                                    [NF, NF, NF, NF, NF, NF, LG]),
    post("/settings/rival-org/projects/rival/alerts/mute",                      "muted=false",                                         [NF, NF, NF, NF, OK, OK, LG]),
    // the user's mail: an issue's subscription, their settings, links in mail
    post("/organizations/acme/issues/$issue/subscription",                      "subscribed=default",                                  [OK, OK, OK, NF, NF, OK, LG]),
    post("/organizations/rival-org/issues/$rival_issue/subscription",           "subscribed=default",                                  [NF, NF, NF, NF, OK, OK, LG]),
    post("/settings/account/notifications",                                     "alerts=on&assigned=on&workflow=on",                   [OK, OK, OK, OK, OK, OK, LG]),
    get("/unsubscribe/$unsubscribe/alerts",                                                                                            [OK, OK, OK, OK, OK, OK, OK]),
    visitor_post("/unsubscribe/$unsubscribe/alerts",                            "",                                                    [OK, OK, OK, OK, OK, OK, OK]),
    get("/unsubscribe/$token64/alerts",                                                                                                [NF, NF, NF, NF, NF, NF, NF]),
    visitor_post("/unsubscribe/$token64/alerts",                                "List-Unsubscribe=One-Click",                          [NF, NF, NF, NF, NF, NF, NF]),
];

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

struct World {
    app: TestApp,
    client: reqwest::Client,
    /// By role, in the order of [`ROLES`] (the visitor has none).
    users: Vec<Option<UserId>>,
    org_id: i64,
    guild_id: i64,
    backend: i64,
    core: i64,
    issue: i64,
    event: String,
    frontend_issue: i64,
    frontend_event: String,
    rival_issue: i64,
    rival_event: String,
    key_id: i64,
    rival_key_id: i64,
    invitation: String,
    channel: i64,
    rule: i64,
    rival_channel: i64,
    rival_rule: i64,
    /// Whose mail `$unsubscribe` links turn off.
    unsubscribe: String,
    counter: AtomicUsize,
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

        let hash = corral_web::accounts::hash_password(PASSWORD).expect("a password hash");
        let owner = app.fixtures().owner.id;
        store.set_password_hash(owner, &hash).await.unwrap();
        let user = async |email: &str, superuser: bool| {
            store
                .create_user(NewUser {
                    email: email.into(),
                    name: email.into(),
                    password_hash: Some(hash.clone()),
                    is_superuser: superuser,
                })
                .await
                .expect("user")
                .id
        };
        let admin = user("admin@acme.test", false).await;
        store
            .set_membership(org_id, admin, Role::Admin)
            .await
            .unwrap();
        let member = user("member@acme.test", false).await;
        store
            .set_membership(org_id, member, Role::Member)
            .await
            .unwrap();
        store.add_team_member(core.id, member).await.unwrap();
        let other = user("other@acme.test", false).await;
        store
            .set_membership(org_id, other, Role::Member)
            .await
            .unwrap();
        store.add_team_member(web.id, other).await.unwrap();
        let (rival, rival_key) = app.create_project(None, "rival").await;
        let outsider = user("owner@rival.test", false).await;
        store
            .set_membership(rival.org_id, outsider, Role::Owner)
            .await
            .unwrap();
        let root = user("root@corral.test", true).await;
        // who signs in through the form
        user("signin@acme.test", false).await;
        // invitations for oneself are to an organization of their own, so
        // that joining it changes nothing the other rows depend on
        let guild_id = store
            .create_organization("guild", "Guild")
            .await
            .unwrap()
            .id;

        let (issue, event) = app
            .seed_issue(backend, "shared issue", &[("browser", "Firefox")])
            .await;
        let (frontend_issue, frontend_event) =
            app.seed_issue(frontend.id, "frontend issue", &[]).await;
        let (rival_issue, rival_event) = app
            .seed_issue(rival.id, "rival issue", &[("browser", "Chrome")])
            .await;
        let invitation = random_token();
        store
            .create_invitation(
                org_id,
                "invited@acme.test",
                Role::Member,
                &sha256_hex(&invitation),
                Some(owner),
                Utc::now() + Duration::days(7),
            )
            .await
            .unwrap();
        let key_id = app.fixtures().key.id;
        // no alert runner here: test notifications answer at once, pending
        app.state
            .set_test_notification_wait(std::time::Duration::ZERO);
        let channel = alert_channel(&app, org_id, "ops").await;
        let rule = alert_rule(&app, backend, channel).await;
        let rival_channel = alert_channel(&app, rival.org_id, "rival-ops").await;
        let rival_rule = alert_rule(&app, rival.id, rival_channel).await;
        let unsubscriber = user("unsubscriber@acme.test", false).await;
        let unsubscribe = store.unsubscribe_token(unsubscriber).await.unwrap();
        World {
            client: reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(std::time::Duration::from_secs(30))
                .build()
                .expect("HTTP client"),
            app,
            users: vec![
                Some(owner),
                Some(admin),
                Some(member),
                Some(other),
                Some(outsider),
                Some(root),
                None,
            ],
            org_id,
            guild_id,
            backend,
            core: core.id,
            issue,
            event: event.simple().to_string(),
            frontend_issue,
            frontend_event: frontend_event.simple().to_string(),
            rival_issue,
            rival_event: rival_event.simple().to_string(),
            key_id,
            rival_key_id: rival_key.id,
            invitation,
            channel,
            rule,
            rival_channel,
            rival_rule,
            unsubscribe,
            counter: AtomicUsize::new(0),
        }
    }

    fn next(&self) -> usize {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    async fn invitation(&self, org_id: i64, email: &str, role: Role) -> (i64, String) {
        let token = random_token();
        let invitation = self
            .app
            .store
            .create_invitation(
                org_id,
                email,
                role,
                &sha256_hex(&token),
                self.users[0],
                Utc::now() + Duration::days(7),
            )
            .await
            .unwrap();
        (invitation.id, token)
    }

    async fn token_of(&self, user_id: UserId) -> String {
        let scopes = vec![ALL_SCOPES[0].to_string()];
        self.app
            .store
            .create_api_token(user_id, "fresh", &scopes, &hash_token(&new_token_secret()))
            .await
            .unwrap()
            .id
            .to_string()
    }

    /// What a `$fresh_…` placeholder stands for, created for `user`.
    async fn fresh(&self, name: &str, user: Option<UserId>) -> String {
        let store = &self.app.store;
        let n = self.next();
        match name {
            "fresh_issue" => self
                .app
                .seed_issue(self.backend, &format!("fresh issue {n}"), &[])
                .await
                .0
                .to_string(),
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
            "fresh_key_id" => store
                .create_project_key(self.backend, "fresh", RateLimit::default())
                .await
                .unwrap()
                .id
                .to_string(),
            "fresh_team" | "fresh_linked_team" => {
                let slug = format!("fresh-team-{n}");
                let team = store.create_team(self.org_id, &slug, &slug).await.unwrap();
                if name == "fresh_linked_team" {
                    store.add_project_team(self.backend, team.id).await.unwrap();
                }
                slug
            }
            "fresh_member" | "fresh_core_member" => {
                let id = store
                    .create_user(NewUser {
                        email: format!("fresh{n}@acme.test"),
                        name: format!("Fresh {n}"),
                        password_hash: None,
                        is_superuser: false,
                    })
                    .await
                    .unwrap()
                    .id;
                store
                    .set_membership(self.org_id, id, Role::Member)
                    .await
                    .unwrap();
                if name == "fresh_core_member" {
                    store.add_team_member(self.core, id).await.unwrap();
                }
                id.to_string()
            }
            "fresh_invitation_id" => {
                let email = format!("invited{n}@acme.test");
                self.invitation(self.org_id, &email, Role::Member)
                    .await
                    .0
                    .to_string()
            }
            "fresh_owner_invitation_id" => {
                let email = format!("owner{n}@acme.test");
                self.invitation(self.org_id, &email, Role::Owner)
                    .await
                    .0
                    .to_string()
            }
            "fresh_invitation_new" => {
                let email = format!("new{n}@acme.test");
                self.invitation(self.org_id, &email, Role::Member).await.1
            }
            "fresh_invitation_self" => {
                let email = match user {
                    Some(id) => store.user_by_id(id).await.unwrap().email,
                    None => format!("guest{n}@guild.test"),
                };
                self.invitation(self.guild_id, &email, Role::Member).await.1
            }
            "fresh_reset" => {
                let id = store
                    .create_user(NewUser {
                        email: format!("forgetful{n}@acme.test"),
                        name: "Forgetful".into(),
                        password_hash: None,
                        is_superuser: false,
                    })
                    .await
                    .unwrap()
                    .id;
                let token = random_token();
                store
                    .create_password_reset(&sha256_hex(&token), id, Utc::now() + Duration::hours(1))
                    .await
                    .unwrap();
                token
            }
            "fresh_own_token" => match user {
                Some(id) => self.token_of(id).await,
                // a visitor has no tokens; any id does
                None => "1".into(),
            },
            "fresh_owner_token" => self.token_of(self.users[0].expect("the owner")).await,
            "fresh_channel" => alert_channel(&self.app, self.org_id, &format!("fresh-{n}"))
                .await
                .to_string(),
            "fresh_rule" => alert_rule(&self.app, self.backend, self.channel)
                .await
                .to_string(),
            other => panic!("unknown placeholder ${other}"),
        }
    }

    /// Replaces the `$placeholders` of a path; returns it with the value of
    /// its first `$fresh_…` one (a body's `$same`).
    async fn expand_path(&self, text: &str, user: Option<UserId>) -> (String, Option<String>) {
        let mut first_fresh = None;
        let out = self.replace(text, user, &mut first_fresh, None).await;
        (out, first_fresh)
    }

    async fn replace(
        &self,
        text: &str,
        user: Option<UserId>,
        first_fresh: &mut Option<String>,
        same: Option<&str>,
    ) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let name: String = rest[at + 1..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            rest = &rest[at + 1 + name.len()..];
            let value = if name.starts_with("fresh_") {
                let v = self.fresh(&name, user).await;
                first_fresh.get_or_insert_with(|| v.clone());
                v
            } else {
                match name.as_str() {
                    "issue" => self.issue.to_string(),
                    "event" => self.event.clone(),
                    "frontend_issue" => self.frontend_issue.to_string(),
                    "frontend_event" => self.frontend_event.clone(),
                    "rival_issue" => self.rival_issue.to_string(),
                    "rival_event" => self.rival_event.clone(),
                    "key_id" => self.key_id.to_string(),
                    "rival_key_id" => self.rival_key_id.to_string(),
                    "invitation" => self.invitation.clone(),
                    "channel" => self.channel.to_string(),
                    "rule" => self.rule.to_string(),
                    "rival_channel" => self.rival_channel.to_string(),
                    "rival_rule" => self.rival_rule.to_string(),
                    "unsubscribe" => self.unsubscribe.clone(),
                    "token64" => random_token(),
                    "password" => PASSWORD.into(),
                    "stylesheet_file" => corral_web::ui::STYLESHEET_URL
                        .trim_start_matches("/static/")
                        .to_string(),
                    "script_file" => corral_web::ui::SCRIPT_URL
                        .trim_start_matches("/static/")
                        .to_string(),
                    "n" => self.next().to_string(),
                    "same" => same
                        .expect("$same needs a $fresh_ placeholder in the path")
                        .into(),
                    other => panic!("unknown placeholder ${other}"),
                }
            };
            out.push_str(&value);
        }
        out.push_str(rest);
        out
    }

    /// A new session of `user`: the cookie header and its CSRF token.
    async fn session(&self, user: UserId) -> (String, String) {
        let secret = random_token();
        let csrf = random_token();
        self.app
            .store
            .create_session(
                &sha256_hex(&secret),
                user,
                &csrf,
                Utc::now() + Duration::days(1),
            )
            .await
            .expect("session");
        (format!("{SESSION_COOKIE}={secret}"), csrf)
    }

    /// A row's request, expanded for `user` (`None`: the visitor).
    async fn prepare(&self, row: &Row, user: Option<UserId>) -> Prepared {
        let (path, same) = self.expand_path(row.path, user).await;
        let mut fields = Vec::new();
        if !row.body.is_empty() {
            for pair in row.body.split('&') {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                let mut ignored = None;
                let v = self.replace(v, user, &mut ignored, same.as_deref()).await;
                fields.push((k.to_string(), v));
            }
        }
        let session = match user {
            Some(id) => Some(self.session(id).await),
            None => None,
        };
        Prepared {
            method: row.method,
            path,
            fields,
            session,
        }
    }

    /// Sends a prepared request; `with_token` adds the session's CSRF token
    /// to a form, `origin` names the site the form comes from.
    async fn send(&self, p: &Prepared, with_token: bool, origin: Option<&str>) -> Reply {
        let url = self.app.url(&p.path);
        let mut request = match p.method {
            "GET" => self.client.get(url),
            _ => {
                let mut fields = p.fields.clone();
                if with_token && let Some((_, csrf)) = &p.session {
                    fields.push(("csrf_token".into(), csrf.clone()));
                }
                self.client.post(url).form(&fields)
            }
        };
        if let Some((cookie, _)) = &p.session {
            request = request.header(reqwest::header::COOKIE, cookie);
        }
        if let Some(origin) = origin {
            request = request.header(reqwest::header::ORIGIN, origin);
        }
        send(request).await
    }

    /// Everything a forged request might change, as text.
    async fn state(&self) -> String {
        let store = &self.app.store;
        let mut out = String::new();
        let mut orgs = store.list_organizations().await.unwrap();
        orgs.sort_by_key(|o| o.id);
        for org in &orgs {
            out.push_str(&format!("{org:?}\n"));
            out.push_str(&format!(
                "{:?}\n",
                store.list_members(org.id).await.unwrap()
            ));
            out.push_str(&format!(
                "{:?}\n",
                store.list_invitations(org.id).await.unwrap()
            ));
            out.push_str(&format!("{:?}\n", store.list_teams(org.id).await.unwrap()));
            let mut links = store.project_team_map(org.id).await.unwrap();
            links.sort();
            out.push_str(&format!("{links:?}\n"));
        }
        for project in store.list_projects(None).await.unwrap() {
            out.push_str(&format!("{project:?}\n"));
            out.push_str(&format!(
                "{:?}\n",
                store.list_project_keys(project.id).await.unwrap()
            ));
        }
        let issues = store
            .list_issues(&IssueQuery {
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap();
        for issue in issues {
            out.push_str(&format!("{issue:?}\n"));
        }
        for user in self.users.iter().flatten() {
            out.push_str(&format!("{:?}\n", store.user_by_id(*user).await.unwrap()));
            let tokens: Vec<i64> = store
                .list_api_tokens(*user)
                .await
                .unwrap()
                .iter()
                .map(|t| t.id)
                .collect();
            out.push_str(&format!("{tokens:?}\n"));
        }
        out
    }
}

struct Prepared {
    method: &'static str,
    path: String,
    fields: Vec<(String, String)>,
    /// The cookie header and the CSRF token.
    session: Option<(String, String)>,
}

/// A page's text without its markup, shortened: what a failure message needs.
fn gist(body: &str) -> String {
    let main = body.split("<main>").nth(1).unwrap_or(body);
    let mut text = String::new();
    let mut in_tag = false;
    for c in main.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    words.join(" ").chars().take(160).collect()
}

fn to_sign_in(reply: &Reply) -> bool {
    reply.status == 303
        && reply
            .header("location")
            .is_some_and(|l| l.starts_with("/login?next="))
}

fn meets(want: Want, reply: &Reply) -> bool {
    match want {
        Want::Allowed => {
            (200..300).contains(&reply.status)
                || ((300..400).contains(&reply.status) && !to_sign_in(reply))
        }
        Want::Untouched => {
            reply.status == 303
                && reply
                    .header("location")
                    .is_some_and(|l| l.ends_with("&n=0"))
        }
        Want::Forbidden => reply.status == 403,
        Want::NotFound => reply.status == 404,
        Want::SignIn => to_sign_in(reply),
    }
}

/// A path's shape: the words of the routes kept, every name and id `*`
/// (`/settings/acme/teams/core/` -> `/settings/*/teams/*/`).
fn shape(path: &str) -> String {
    const WORDS: &[&str] = &[
        "",
        "organizations",
        "issues",
        "bulk",
        "events",
        "json",
        "status",
        "assign",
        "comments",
        "settings",
        "account",
        "name",
        "password",
        "sessions",
        "tokens",
        "delete",
        "members",
        "invite",
        "role",
        "remove",
        "invitations",
        "revoke",
        "teams",
        "projects",
        "keys",
        "active",
        "login",
        "logout",
        "reset",
        "accept",
        "static",
        "alert-channels",
        "new",
        "test",
        "alerts",
        "mute",
        "subscription",
        "notifications",
        "unsubscribe",
    ];
    let path = path.split(['?', '#']).next().unwrap_or("");
    path.split('/')
        .map(|s| if WORDS.contains(&s) { s } else { "*" })
        .collect::<Vec<_>>()
        .join("/")
}

/// The `action`s of a page's POST forms and the site paths of its links.
fn forms_and_links(html: &str) -> (Vec<String>, Vec<String>) {
    let attr = |marker: &str| -> Vec<String> {
        html.split(marker)
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .map(|v| v.replace("&amp;", "&").replace("&#38;", "&"))
            .collect()
    };
    let forms = attr(r#"<form method="post" action=""#);
    let links = attr(r#"href=""#)
        .into_iter()
        .filter(|h| h.starts_with('/') && !h.starts_with("//"))
        .collect();
    (forms, links)
}

/// Whether a page's POST forms all carry the session's CSRF token.
fn forms_without_token(html: &str, csrf: &str) -> Vec<String> {
    html.split(r#"<form method="post" action=""#)
        .skip(1)
        .filter(|form| {
            let form = form.split("</form>").next().unwrap_or("");
            !form.contains(&format!(r#"name="csrf_token" value="{csrf}""#))
        })
        .filter_map(|form| form.split('"').next().map(str::to_string))
        // the visitors' forms: signing in, resets, new accounts, unsubscribing
        .filter(|action| {
            !(action == "/login"
                || action.starts_with("/reset")
                || action.starts_with("/accept/")
                || action.starts_with("/unsubscribe/"))
        })
        .collect()
}

async fn every_page_and_form_allows_or_refuses_as_intended(shape_: Shape) {
    let world = World::new(shape_).await;
    let mut wrong = Vec::new();
    let mut forms_seen = BTreeSet::new();
    let mut links_seen = BTreeSet::new();
    for row in MATRIX {
        for (role, want) in row.want.iter().enumerate() {
            let user = world.users[role];
            let request = world.prepare(row, user).await;
            let reply = world.send(&request, true, None).await;
            if !meets(*want, &reply) {
                wrong.push(format!(
                    "{} {} as {}: want {want:?}, got {} {} {}",
                    row.method,
                    request.path,
                    ROLES[role],
                    reply.status,
                    reply.header("location").unwrap_or(""),
                    gist(&reply.body)
                ));
            }
            let html = reply
                .header("content-type")
                .is_some_and(|c| c.starts_with("text/html"));
            if reply.status == 200 && html {
                let (forms, links) = forms_and_links(&reply.body);
                forms_seen.extend(forms.into_iter().map(|f| (shape(&f), request.path.clone())));
                links_seen.extend(links.into_iter().map(|l| (shape(&l), request.path.clone())));
                if let Some((_, csrf)) = &request.session {
                    for action in forms_without_token(&reply.body, csrf) {
                        wrong.push(format!(
                            "{} as {}: the form {action} lacks the CSRF token",
                            request.path, ROLES[role]
                        ));
                    }
                }
            }
        }
    }

    // every form and link of the pages has a row
    let posts: BTreeSet<String> = MATRIX
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| shape(r.path))
        .collect();
    let gets: BTreeSet<String> = MATRIX
        .iter()
        .filter(|r| r.method == "GET")
        .map(|r| shape(r.path))
        .collect();
    for (form, page) in &forms_seen {
        if !posts.contains(form) {
            wrong.push(format!("the form {form} (on {page}) has no row"));
        }
    }
    for (link, page) in &links_seen {
        if !gets.contains(link) {
            wrong.push(format!("the link {link} (on {page}) has no row"));
        }
    }
    assert!(
        forms_seen.len() > 20,
        "the pages' forms were read: {forms_seen:?}"
    );
    assert!(
        wrong.is_empty(),
        "{} of the UI access matrix's expectations failed:\n{}",
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

/// Every form, forged: a signed-in form without the session's CSRF token,
/// a visitors' form from another site. Sent as a user the matrix allows,
/// each is refused with 403 and changes nothing.
async fn forged_forms_are_refused_and_change_nothing(shape_: Shape) {
    let world = World::new(shape_).await;
    let mut wrong = Vec::new();
    let mut forged = BTreeSet::new();
    for row in MATRIX.iter().filter(|r| r.guard != Guard::None) {
        // a user the row lets through; rows that let nobody through have
        // nothing to forge (their route is forged through another row)
        let allowed = |r: &usize| matches!(row.want[*r], Want::Allowed | Want::Untouched);
        let role = match row.guard {
            // the forgery needs a session to ride on
            Guard::Csrf => (0..VISITOR).find(allowed),
            _ => (0..ROLES.len()).rev().find(allowed),
        };
        let Some(role) = role else { continue };
        let user = world.users[role];
        let request = world.prepare(row, user).await;
        let before = world.state().await;
        let (reply, how) = match row.guard {
            Guard::Csrf => (
                world.send(&request, false, None).await,
                "without the CSRF token",
            ),
            _ => (
                world
                    .send(&request, false, Some("http://evil.example"))
                    .await,
                "from another site",
            ),
        };
        forged.insert(shape(row.path));
        if reply.status != 403 {
            wrong.push(format!(
                "POST {} {how}: want 403, got {} {}",
                request.path,
                reply.status,
                gist(&reply.body)
            ));
        }
        if world.state().await != before {
            wrong.push(format!("POST {} {how} changed something", request.path));
        }
        // the session the forgery rode on is still there
        if let Some((cookie, _)) = &request.session {
            let page = send(
                world
                    .client
                    .get(world.app.url("/settings/account/"))
                    .header(reqwest::header::COOKIE, cookie),
            )
            .await;
            if page.status != 200 {
                wrong.push(format!(
                    "POST {} {how} ended the session ({})",
                    request.path, page.status
                ));
            }
        }
    }
    let posts: BTreeSet<String> = MATRIX
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| shape(r.path))
        .collect();
    assert_eq!(forged, posts, "every form was forged");
    assert!(
        wrong.is_empty(),
        "{} forged forms were not refused:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

both_shapes!(every_page_and_form_allows_or_refuses_as_intended);
embedded_only!(forged_forms_are_refused_and_change_nothing);

#[test]
fn shapes_keep_the_route_words() {
    assert_eq!(shape("/settings/acme/teams/core/"), "/settings/*/teams/*/");
    assert_eq!(
        shape("/organizations/acme/issues/12/events/abc/json"),
        "/organizations/*/issues/*/events/*/json"
    );
    assert_eq!(
        shape("/organizations/acme/issues/?project=backend"),
        "/organizations/*/issues/"
    );
    assert_eq!(shape("/login?next=/"), "/login");
}
