//! The settings pages over real HTTP on both stores: every page and action
//! as an owner, an admin, a member and a user of another organization
//! (allowed, 403 or 404), invitations end to end (with mail through a real
//! SMTP server), projects with their keys, teams, and API tokens.

use corral_core::model::{RateLimit, Role, User};
use corral_core::{NewUser, StoreError};

use crate::common::{
    Browser, Reply, Shape, SmtpServer, TestApp, browser_for, cookie_client, csrf_token_in, event,
    event_envelope, link_in, member_of_acme, send,
};

/// Four people: by role in `acme`, and one of another organization.
struct People {
    owner: Browser,
    admin: Browser,
    member: Browser,
    outsider: Browser,
    member_user: User,
    outsider_user: User,
}

async fn people(app: &TestApp) -> People {
    let owner = member_of_acme(app, "boss@acme.test", Role::Owner).await;
    let admin = member_of_acme(app, "admin@acme.test", Role::Admin).await;
    let member = member_of_acme(app, "dev@acme.test", Role::Member).await;
    let outsider = app
        .store
        .create_user(NewUser {
            email: "eve@globex.test".into(),
            name: "Eve".into(),
            password_hash: None,
            is_superuser: false,
        })
        .await
        .unwrap();
    let globex = app
        .store
        .create_organization("globex", "Globex")
        .await
        .unwrap();
    app.store
        .set_membership(globex.id, outsider.id, Role::Owner)
        .await
        .unwrap();
    People {
        owner: browser_for(app, owner.id).await,
        admin: browser_for(app, admin.id).await,
        member: browser_for(app, member.id).await,
        outsider: browser_for(app, outsider.id).await,
        member_user: member,
        outsider_user: outsider,
    }
}

impl People {
    fn all(&self) -> [(&'static str, &Browser); 4] {
        [
            ("owner", &self.owner),
            ("admin", &self.admin),
            ("member", &self.member),
            ("outsider", &self.outsider),
        ]
    }
}

#[track_caller]
fn expect(reply: &Reply, status: u16, who: &str, what: &str) {
    assert_eq!(
        reply.status, status,
        "{what} as {who}: expected {status}, got {}: {}",
        reply.status, reply.body
    );
}

/// A redirect after a change: to `path` with a notice.
#[track_caller]
fn redirected(reply: &Reply, path: &str, notice: &str) {
    assert_eq!(reply.status, 303, "{}", reply.body);
    assert_eq!(
        reply.header("location"),
        Some(format!("{path}?notice={notice}").as_str())
    );
}

async fn pages_by_role(shape: Shape) {
    let app = TestApp::start(shape).await;
    let p = people(&app).await;
    let org = app.fixtures().org.id;
    // a project only the team `core` sees, and a team the member is not in
    let (secret, _) = app.create_project(Some(org), "secret").await;
    let core = app.store.create_team(org, "core", "Core").await.unwrap();
    app.store
        .add_project_team(secret.id, core.id)
        .await
        .unwrap();

    let pages = [
        ("/settings/acme/", [200, 200, 200, 404]),
        ("/settings/acme/members/", [200, 200, 200, 404]),
        ("/settings/acme/teams/", [200, 200, 200, 404]),
        ("/settings/acme/teams/core/", [200, 200, 200, 404]),
        ("/settings/acme/projects/", [200, 200, 200, 404]),
        ("/settings/acme/projects/backend/", [200, 200, 200, 404]),
        ("/settings/acme/projects/secret/", [200, 200, 404, 404]),
        ("/settings/acme/teams/nope/", [404, 404, 404, 404]),
        ("/settings/acme/projects/nope/", [404, 404, 404, 404]),
        ("/settings/nope/", [404, 404, 404, 404]),
        ("/settings/account/", [200, 200, 200, 200]),
        ("/settings/globex/", [404, 404, 404, 200]),
    ];
    for (path, statuses) in pages {
        for ((who, b), status) in p.all().into_iter().zip(statuses) {
            let reply = b.get(path).await;
            expect(&reply, status, who, path);
        }
    }

    // members read, admins change: the forms show accordingly
    let as_member = p.member.get("/settings/acme/projects/backend/").await;
    assert!(as_member.body.contains(&app.dsn()), "members see the DSN");
    assert!(!as_member.body.contains("Delete the project"));
    assert!(!as_member.body.contains("/keys/"), "no key forms");
    let as_admin = p.admin.get("/settings/acme/projects/backend/").await;
    assert!(as_admin.body.contains("Delete the project"));
    let org_page = p.admin.get("/settings/acme/").await;
    assert!(
        org_page
            .body
            .contains("Only owners change the organization.")
    );
    let org_page = p.owner.get("/settings/acme/").await;
    assert!(org_page.body.contains(r#"action="/settings/acme/""#));
    assert!(
        org_page.body.contains("owner@acme.test"),
        "owners are listed"
    );
    let projects = p.member.get("/settings/acme/projects/").await;
    assert!(projects.body.contains("backend"));
    assert!(
        !projects.body.contains("/settings/acme/projects/secret/"),
        "the member does not see the team's project"
    );
    let members = p.member.get("/settings/acme/members/").await;
    assert!(members.body.contains("admin@acme.test"));
    assert!(!members.body.contains("Invite someone"));
    assert!(!members.body.contains("/role"), "no role forms for members");
}

async fn organization_and_members(shape: Shape) {
    let app = TestApp::start(shape).await;
    let p = people(&app).await;
    let org = app.fixtures().org.id;

    // renaming: owners only
    for (who, b, status) in [
        ("outsider", &p.outsider, 404),
        ("member", &p.member, 403),
        ("admin", &p.admin, 403),
    ] {
        let reply = b.submit("/settings/acme/", &[("name", "Hacked")]).await;
        expect(&reply, status, who, "renaming the organization");
    }
    assert_eq!(
        app.store.organization_by_id(org).await.unwrap().name,
        "Acme"
    );
    for (what, fields) in [
        ("without the CSRF token", vec![("name", "Forged")]),
        (
            "with a wrong CSRF token",
            vec![("csrf_token", "forged"), ("name", "Forged")],
        ),
    ] {
        let reply = p.owner.post_form("/settings/acme/", &fields).await;
        expect(&reply, 403, "owner", &format!("renaming {what}"));
        assert_eq!(
            app.store.organization_by_id(org).await.unwrap().name,
            "Acme",
            "refused forms change nothing"
        );
    }
    let reply = p
        .owner
        .submit("/settings/acme/", &[("name", "Acme Inc")])
        .await;
    redirected(&reply, "/settings/acme/", "renamed");
    assert_eq!(
        app.store.organization_by_id(org).await.unwrap().name,
        "Acme Inc"
    );
    let empty = p.owner.submit("/settings/acme/", &[("name", "  ")]).await;
    expect(&empty, 422, "owner", "an empty name");

    // roles: owners only
    let member_id = p.member_user.id.to_string();
    let role_path = format!("/settings/acme/members/{member_id}/role");
    for (who, b, status) in [
        ("outsider", &p.outsider, 404),
        ("member", &p.member, 403),
        ("admin", &p.admin, 403),
    ] {
        let reply = b.submit(&role_path, &[("role", "owner")]).await;
        expect(&reply, status, who, "changing a role");
    }
    let reply = p.owner.submit(&role_path, &[("role", "admin")]).await;
    redirected(&reply, "/settings/acme/members/", "role_changed");
    let role_of = async |user_id: i64| {
        app.store
            .memberships_of_user(user_id)
            .await
            .unwrap()
            .into_iter()
            .find(|m| m.org_id == org)
            .map(|m| m.role)
    };
    assert_eq!(role_of(p.member_user.id).await, Some(Role::Admin));
    let bogus = p.owner.submit(&role_path, &[("role", "king")]).await;
    expect(&bogus, 422, "owner", "an unknown role");
    let stranger = p
        .owner
        .submit(
            &format!("/settings/acme/members/{}/role", p.outsider_user.id),
            &[("role", "member")],
        )
        .await;
    expect(&stranger, 404, "owner", "the role of a non-member");
    assert_eq!(role_of(p.outsider_user.id).await, None);

    // the last owner stays: demote the other owner, then try oneself
    let first_owner = app.fixtures().owner.id;
    let reply = p
        .owner
        .submit(
            &format!("/settings/acme/members/{first_owner}/role"),
            &[("role", "member")],
        )
        .await;
    assert_eq!(reply.status, 303);
    let me = app.store.user_by_email("boss@acme.test").await.unwrap().id;
    let last = p
        .owner
        .submit(
            &format!("/settings/acme/members/{me}/role"),
            &[("role", "admin")],
        )
        .await;
    expect(&last, 422, "owner", "demoting the last owner");
    assert!(
        last.body
            .contains("An organization must keep at least one owner."),
        "the store's reason is shown: {}",
        last.body
    );
    let leave = p
        .owner
        .submit(&format!("/settings/acme/members/{me}/remove"), &[])
        .await;
    expect(&leave, 422, "owner", "removing the last owner");
    assert_eq!(role_of(me).await, Some(Role::Owner));

    // removing: owners only
    let remove_path = format!("/settings/acme/members/{member_id}/remove");
    for (who, b, status) in [("outsider", &p.outsider, 404), ("admin", &p.admin, 403)] {
        let reply = b.submit(&remove_path, &[]).await;
        expect(&reply, status, who, "removing a member");
    }
    let reply = p.owner.submit(&remove_path, &[]).await;
    redirected(&reply, "/settings/acme/members/", "member_removed");
    assert_eq!(role_of(p.member_user.id).await, None);
    let again = p.owner.submit(&remove_path, &[]).await;
    expect(&again, 404, "owner", "removing a non-member");
    let gone = p.member.get("/settings/acme/").await;
    expect(&gone, 404, "removed member", "the settings");

    // the list shows roles and teams
    let team = app.store.create_team(org, "web", "Web").await.unwrap();
    let admin_id = app.store.user_by_email("admin@acme.test").await.unwrap().id;
    app.store.add_team_member(team.id, admin_id).await.unwrap();
    let page = p.owner.get("/settings/acme/members/").await;
    let row = page
        .body
        .split("<tr>")
        .find(|r| r.contains("admin@acme.test"))
        .expect("the admin's row");
    assert!(row.contains("Web"), "teams in the row: {row}");
    assert!(row.contains(r#"<option value="admin" selected>"#), "{row}");
}

async fn invitations(shape: Shape) {
    let app = TestApp::start(shape).await;
    let p = people(&app).await;
    let org = app.fixtures().org.id;
    let invite = "/settings/acme/members/invite";

    for (who, b, role, status) in [
        ("outsider", &p.outsider, "member", 404),
        ("member", &p.member, "member", 403),
        ("admin", &p.admin, "owner", 403),
    ] {
        let reply = b
            .submit(invite, &[("email", "new@acme.test"), ("role", role)])
            .await;
        expect(&reply, status, who, &format!("inviting as {role}"));
    }
    assert!(app.store.list_invitations(org).await.unwrap().is_empty());
    let bad = p
        .admin
        .submit(invite, &[("email", "not-an-email"), ("role", "member")])
        .await;
    expect(&bad, 422, "admin", "inviting a non-address");
    let member_again = p
        .admin
        .submit(invite, &[("email", "DEV@acme.test"), ("role", "member")])
        .await;
    expect(&member_again, 409, "admin", "inviting a member");

    // a new person: the link is on the page, once
    let reply = p
        .admin
        .submit(invite, &[("email", "new@acme.test"), ("role", "member")])
        .await;
    expect(&reply, 200, "admin", "inviting");
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let link = link_in(&reply.body, &format!("{}/accept/", app.base_url))
        .expect("the invitation link on the page");
    let path = link.trim_start_matches(&app.base_url).to_string();
    let pending = p.admin.get("/settings/acme/members/").await;
    assert!(
        pending.body.contains("new@acme.test"),
        "pending invitations"
    );
    assert!(!pending.body.contains(&path), "the link is shown only once");

    let visitor = cookie_client();
    let page = send(visitor.get(app.url(&path))).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("Create the account and join"),
        "{}",
        page.body
    );
    let short = send(visitor.post(app.url(&path)).form(&[
        ("name", "New Person"),
        ("password", "short"),
        ("confirm", "short"),
    ]))
    .await;
    assert_eq!(short.status, 422);
    let joined = send(visitor.post(app.url(&path)).form(&[
        ("name", "New Person"),
        ("password", "a good password"),
        ("confirm", "a good password"),
    ]))
    .await;
    assert_eq!(joined.status, 303, "{}", joined.body);
    assert_eq!(
        joined.header("location"),
        Some("/organizations/acme/issues/?notice=joined")
    );
    let account = send(visitor.get(app.url("/settings/account/"))).await;
    assert_eq!(account.status, 200, "signed in after joining");
    let new_user = app.store.user_by_email("new@acme.test").await.unwrap();
    assert_eq!(new_user.name, "New Person");
    let roles = app.store.memberships_of_user(new_user.id).await.unwrap();
    assert_eq!(roles.len(), 1);
    assert_eq!((roles[0].org_id, roles[0].role), (org, Role::Member));
    let reused = send(cookie_client().get(app.url(&path))).await;
    assert_eq!(reused.status, 404, "an invitation works once");

    // someone with an account: sign in, then join
    let reply = p
        .owner
        .submit(invite, &[("email", "Eve@Globex.test"), ("role", "admin")])
        .await;
    expect(
        &reply,
        200,
        "owner",
        "inviting a user of another organization",
    );
    let link = link_in(&reply.body, &format!("{}/accept/", app.base_url)).unwrap();
    let path = link.trim_start_matches(&app.base_url).to_string();
    let visitor = send(cookie_client().get(app.url(&path))).await;
    assert!(
        visitor.body.contains(&format!(
            "/login?next=/accept/{}",
            &path["/accept/".len()..]
        )),
        "visitors are sent to sign in: {}",
        visitor.body
    );
    let wrong = p.member.get(&path).await;
    assert!(wrong.body.contains("You are signed in as dev@acme.test"));
    let wrong = p.member.submit(&path, &[]).await;
    expect(&wrong, 403, "another user", "accepting");
    let page = p.outsider.get(&path).await;
    assert!(page.body.contains("Join Acme"), "{}", page.body);
    let no_token = p.outsider.post_form(&path, &[]).await;
    expect(
        &no_token,
        403,
        "the invited user",
        "accepting without the CSRF token",
    );
    let accepted = p.outsider.submit(&path, &[]).await;
    assert_eq!(accepted.status, 303, "{}", accepted.body);
    let roles = app
        .store
        .memberships_of_user(p.outsider_user.id)
        .await
        .unwrap();
    assert!(
        roles
            .iter()
            .any(|m| m.org_id == org && m.role == Role::Admin)
    );
    expect(
        &p.outsider.get("/settings/acme/").await,
        200,
        "new admin",
        "settings",
    );

    // revoking: admins revoke what they could grant
    let owner_inv = p
        .owner
        .submit(invite, &[("email", "chief@acme.test"), ("role", "owner")])
        .await;
    let owner_link = link_in(&owner_inv.body, &format!("{}/accept/", app.base_url)).unwrap();
    let plain_inv = p
        .admin
        .submit(invite, &[("email", "temp@acme.test"), ("role", "member")])
        .await;
    let plain_link = link_in(&plain_inv.body, &format!("{}/accept/", app.base_url)).unwrap();
    let listed = app.store.list_invitations(org).await.unwrap();
    let id_of = |email: &str| {
        listed
            .iter()
            .find(|i| i.email == email)
            .map(|i| i.id)
            .unwrap()
    };
    let revoke = |id: i64| format!("/settings/acme/invitations/{id}/revoke");
    expect(
        &p.admin.submit(&revoke(id_of("chief@acme.test")), &[]).await,
        403,
        "admin",
        "revoking an owner's invitation",
    );
    expect(
        &p.member.submit(&revoke(id_of("temp@acme.test")), &[]).await,
        403,
        "member",
        "revoking",
    );
    expect(
        &p.admin.submit(&revoke(999_999), &[]).await,
        404,
        "admin",
        "revoking nothing",
    );
    let reply = p.admin.submit(&revoke(id_of("temp@acme.test")), &[]).await;
    redirected(&reply, "/settings/acme/members/", "invitation_revoked");
    assert_eq!(
        send(cookie_client().get(&plain_link)).await.status,
        404,
        "a revoked link is dead"
    );
    assert_eq!(send(cookie_client().get(&owner_link)).await.status, 200);
}

async fn invitation_by_mail(shape: Shape) {
    let smtp = SmtpServer::start().await;
    let app = TestApp::builder(shape)
        .toml(&format!(
            "smtp_url = \"{}\"\nbase_url = \"http://corral.test\"",
            smtp.url()
        ))
        .start()
        .await;
    let owner = member_of_acme(&app, "boss@acme.test", Role::Owner).await;
    let owner = browser_for(&app, owner.id).await;
    let reply = owner
        .submit(
            "/settings/acme/members/invite",
            &[("email", "new@acme.test"), ("role", "admin")],
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body.contains("It was mailed to new@acme.test"));
    let mail = smtp.wait_for_mail("new@acme.test", 1).await;
    let mail = &mail[0];
    assert!(mail.contains("Subject: Join Acme on Corral"), "{mail}");
    assert!(mail.contains("as admin"), "{mail}");
    // the sender defaults to the base URL's host
    assert!(mail.contains("corral@corral.test"), "{mail}");
    let link = link_in(mail, "http://corral.test/accept/").expect("a link in the mail");
    let path = link.trim_start_matches("http://corral.test");
    let visitor = cookie_client();
    let joined = send(visitor.post(app.url(path)).form(&[
        ("name", "New"),
        ("password", "a good password"),
        ("confirm", "a good password"),
    ]))
    .await;
    assert_eq!(joined.status, 303, "{}", joined.body);
    let user = app.store.user_by_email("new@acme.test").await.unwrap();
    let roles = app.store.memberships_of_user(user.id).await.unwrap();
    assert_eq!(roles[0].role, Role::Admin);
}

async fn teams(shape: Shape) {
    let app = TestApp::start(shape).await;
    let p = people(&app).await;
    let org = app.fixtures().org.id;
    let (web, _) = app.create_project(Some(org), "web").await;

    for (who, b, status) in [("outsider", &p.outsider, 404), ("member", &p.member, 403)] {
        let reply = b.submit("/settings/acme/teams/", &[("name", "Core")]).await;
        expect(&reply, status, who, "creating a team");
    }
    let reply = p
        .admin
        .submit("/settings/acme/teams/", &[("name", "Core Team")])
        .await;
    redirected(&reply, "/settings/acme/teams/core-team/", "team_created");
    let team = app.store.team_by_slug(org, "core-team").await.unwrap();
    let dup = p
        .owner
        .submit(
            "/settings/acme/teams/",
            &[("name", "Other"), ("slug", "core-team")],
        )
        .await;
    expect(&dup, 409, "owner", "a taken slug");
    let bad = p
        .owner
        .submit(
            "/settings/acme/teams/",
            &[("name", "X"), ("slug", "Bad Slug")],
        )
        .await;
    expect(&bad, 422, "owner", "a bad slug");

    let base = "/settings/acme/teams/core-team";
    let member_id = p.member_user.id.to_string();
    // members and projects of the team: admins only
    for (who, b, status) in [("outsider", &p.outsider, 404), ("member", &p.member, 403)] {
        let reply = b
            .submit(&format!("{base}/members"), &[("user_id", &member_id)])
            .await;
        expect(&reply, status, who, "adding a team member");
        let reply = b
            .submit(&format!("{base}/projects"), &[("project", "web")])
            .await;
        expect(&reply, status, who, "adding a team project");
    }
    let reply = p
        .admin
        .submit(&format!("{base}/projects"), &[("project", "web")])
        .await;
    redirected(&reply, &format!("{base}/"), "project_added");
    assert_eq!(
        app.store.project_teams(web.id).await.unwrap()[0].id,
        team.id
    );
    // the team now owns `web`: the member, not in it, no longer sees it
    expect(
        &p.member.get("/settings/acme/projects/web/").await,
        404,
        "member",
        "a team's project",
    );
    let reply = p
        .admin
        .submit(&format!("{base}/members"), &[("user_id", &member_id)])
        .await;
    redirected(&reply, &format!("{base}/"), "member_added");
    expect(
        &p.member.get("/settings/acme/projects/web/").await,
        200,
        "team member",
        "the team's project",
    );
    let outsider_id = p.outsider_user.id.to_string();
    let reply = p
        .admin
        .submit(&format!("{base}/members"), &[("user_id", &outsider_id)])
        .await;
    expect(
        &reply,
        422,
        "admin",
        "adding a user of another organization",
    );
    let reply = p
        .admin
        .submit(&format!("{base}/projects"), &[("project", "nope")])
        .await;
    expect(&reply, 422, "admin", "adding a missing project");
    let page = p.member.get(&format!("{base}/")).await;
    assert!(page.body.contains("dev@acme.test") && page.body.contains("/projects/web/"));

    // removing
    let remove_member = format!("{base}/members/{member_id}/remove");
    expect(
        &p.member.submit(&remove_member, &[]).await,
        403,
        "member",
        "removing a team member",
    );
    redirected(
        &p.admin.submit(&remove_member, &[]).await,
        &format!("{base}/"),
        "team_member_removed",
    );
    assert!(app.store.team_members(team.id).await.unwrap().is_empty());
    expect(
        &p.admin.submit(&remove_member, &[]).await,
        404,
        "admin",
        "removing a non-member of the team",
    );
    let remove_project = format!("{base}/projects/web/remove");
    redirected(
        &p.admin.submit(&remove_project, &[]).await,
        &format!("{base}/"),
        "project_removed",
    );
    assert!(app.store.project_teams(web.id).await.unwrap().is_empty());

    // deleting
    for (who, b, status) in [("outsider", &p.outsider, 404), ("member", &p.member, 403)] {
        let reply = b.submit(&format!("{base}/delete"), &[]).await;
        expect(&reply, status, who, "deleting a team");
    }
    redirected(
        &p.owner.submit(&format!("{base}/delete"), &[]).await,
        "/settings/acme/teams/",
        "team_deleted",
    );
    assert!(matches!(
        app.store.team_by_slug(org, "core-team").await,
        Err(StoreError::NotFound(_))
    ));
}

async fn projects_and_keys(shape: Shape) {
    let app = TestApp::start(shape).await;
    let p = people(&app).await;
    let org = app.fixtures().org.id;
    let project = app.project().clone();
    let base = "/settings/acme/projects/backend";

    // the page: copyable DSN and SDK snippets filled with it
    let page = p.member.get(&format!("{base}/")).await;
    let dsn = app.dsn();
    assert!(
        page.body
            .contains(&format!(r#"data-copy="dsn-{}""#, app.fixtures().key.id))
    );
    for needle in [
        format!("dsn=&#34;{dsn}&#34;"),
        "@sentry/browser".to_string(),
        "require(&#34;@sentry/node&#34;)".to_string(),
        "sentry::init".to_string(),
    ] {
        let found =
            page.body.contains(&needle) || page.body.contains(&needle.replace("&#34;", "&quot;"));
        assert!(found, "{needle} in the page: {}", page.body);
    }

    // general settings
    let fields = [
        ("name", "Backend API"),
        ("platform", "rust"),
        ("retention_days", "14"),
    ];
    for (who, b, status) in [("outsider", &p.outsider, 404), ("member", &p.member, 403)] {
        expect(
            &b.submit(&format!("{base}/"), &fields).await,
            status,
            who,
            "saving a project",
        );
    }
    redirected(
        &p.admin.submit(&format!("{base}/"), &fields).await,
        &format!("{base}/"),
        "saved",
    );
    let saved = app.store.project_by_id(project.id).await.unwrap();
    assert_eq!(
        (
            saved.name.as_str(),
            saved.platform.as_deref(),
            saved.retention_days
        ),
        ("Backend API", Some("rust"), Some(14))
    );
    for bad in [
        [
            ("name", "Backend"),
            ("platform", "Py thon"),
            ("retention_days", ""),
        ],
        [
            ("name", "Backend"),
            ("platform", ""),
            ("retention_days", "0"),
        ],
        [("name", ""), ("platform", ""), ("retention_days", "")],
    ] {
        let reply = p.admin.submit(&format!("{base}/"), &bad).await;
        expect(&reply, 422, "admin", &format!("saving {bad:?}"));
    }
    assert_eq!(app.store.project_by_id(project.id).await.unwrap(), saved);
    let cleared = p
        .admin
        .submit(
            &format!("{base}/"),
            &[
                ("name", "Backend API"),
                ("platform", ""),
                ("retention_days", ""),
            ],
        )
        .await;
    assert_eq!(cleared.status, 303);
    let saved = app.store.project_by_id(project.id).await.unwrap();
    assert_eq!((saved.platform, saved.retention_days), (None, None));

    // keys
    for (who, b, status) in [("outsider", &p.outsider, 404), ("member", &p.member, 403)] {
        let reply = b.submit(&format!("{base}/keys"), &[("label", "CI")]).await;
        expect(&reply, status, who, "creating a key");
    }
    redirected(
        &p.admin
            .submit(&format!("{base}/keys"), &[("label", "CI")])
            .await,
        &format!("{base}/"),
        "key_created",
    );
    let keys = app.store.list_project_keys(project.id).await.unwrap();
    assert_eq!(keys.len(), 2);
    let ci = keys.iter().find(|k| k.label == "CI").unwrap().clone();
    let key_path = format!("{base}/keys/{}", ci.id);

    let limits = [
        ("label", "CI runners"),
        ("per_minute", "60"),
        ("per_hour", ""),
    ];
    expect(
        &p.member.submit(&format!("{key_path}/"), &limits).await,
        403,
        "member",
        "limiting a key",
    );
    redirected(
        &p.admin.submit(&format!("{key_path}/"), &limits).await,
        &format!("{base}/"),
        "key_saved",
    );
    let saved = app.store.key_by_id(ci.id).await.unwrap();
    assert_eq!(saved.label, "CI runners");
    assert_eq!(
        saved.rate_limit,
        RateLimit {
            per_minute: Some(60),
            per_hour: None
        }
    );
    let bad = p
        .admin
        .submit(
            &format!("{key_path}/"),
            &[("per_minute", "0"), ("per_hour", "x")],
        )
        .await;
    expect(&bad, 422, "admin", "a bad limit");
    assert_eq!(app.store.key_by_id(ci.id).await.unwrap(), saved);

    // disabling a key refuses its events at once; enabling lets them in
    expect(
        &p.member
            .submit(&format!("{key_path}/active"), &[("active", "false")])
            .await,
        403,
        "member",
        "disabling a key",
    );
    let (_, ev) = event("with the CI key");
    assert_eq!(
        app.post_envelope_as(&ci.public_key, project.id, event_envelope(&ev))
            .await
            .status,
        200
    );
    redirected(
        &p.admin
            .submit(&format!("{key_path}/active"), &[("active", "false")])
            .await,
        &format!("{base}/"),
        "key_disabled",
    );
    assert!(!app.store.key_by_id(ci.id).await.unwrap().is_active);
    let (_, ev) = event("with a disabled key");
    assert_eq!(
        app.post_envelope_as(&ci.public_key, project.id, event_envelope(&ev))
            .await
            .status,
        403
    );
    redirected(
        &p.admin
            .submit(&format!("{key_path}/active"), &[("active", "true")])
            .await,
        &format!("{base}/"),
        "key_enabled",
    );
    let (_, ev) = event("enabled again");
    assert_eq!(
        app.post_envelope_as(&ci.public_key, project.id, event_envelope(&ev))
            .await
            .status,
        200
    );

    // a key of another project is not this project's
    let (other, other_key) = app.create_project(Some(org), "other").await;
    let reply = p
        .admin
        .submit(&format!("{base}/keys/{}/delete", other_key.id), &[])
        .await;
    expect(&reply, 404, "admin", "deleting another project's key");
    assert!(app.store.key_by_id(other_key.id).await.is_ok());
    expect(
        &p.member.submit(&format!("{key_path}/delete"), &[]).await,
        403,
        "member",
        "deleting a key",
    );
    redirected(
        &p.admin.submit(&format!("{key_path}/delete"), &[]).await,
        &format!("{base}/"),
        "key_deleted",
    );
    assert!(matches!(
        app.store.key_by_id(ci.id).await,
        Err(StoreError::NotFound(_))
    ));

    // creating projects
    let create = [
        ("name", "Mobile App"),
        ("platform", "javascript"),
        ("team", ""),
    ];
    for (who, b, status) in [("outsider", &p.outsider, 404), ("member", &p.member, 403)] {
        expect(
            &b.submit("/settings/acme/projects/", &create).await,
            status,
            who,
            "creating a project",
        );
    }
    redirected(
        &p.admin.submit("/settings/acme/projects/", &create).await,
        "/settings/acme/projects/mobile-app/",
        "project_created",
    );
    let mobile = app
        .store
        .project_by_slug("acme", "mobile-app")
        .await
        .unwrap();
    assert_eq!(mobile.platform.as_deref(), Some("javascript"));
    assert_eq!(
        app.store.list_project_keys(mobile.id).await.unwrap().len(),
        1,
        "a new project comes with a key"
    );
    let dup = p.admin.submit("/settings/acme/projects/", &create).await;
    expect(&dup, 409, "admin", "a taken slug");
    let team = app.store.create_team(org, "apps", "Apps").await.unwrap();
    let with_team = p
        .owner
        .submit(
            "/settings/acme/projects/",
            &[("name", "Watch"), ("slug", "watch"), ("team", "apps")],
        )
        .await;
    assert_eq!(with_team.status, 303, "{}", with_team.body);
    let watch = app.store.project_by_slug("acme", "watch").await.unwrap();
    assert_eq!(
        app.store.project_teams(watch.id).await.unwrap()[0].id,
        team.id
    );

    // teams of a project
    let reply = p
        .admin
        .submit("/settings/acme/projects/other/teams", &[("team", "apps")])
        .await;
    redirected(&reply, "/settings/acme/projects/other/", "team_added");
    assert_eq!(app.store.project_teams(other.id).await.unwrap().len(), 1);
    expect(
        &p.member
            .submit(
                "/settings/acme/projects/mobile-app/teams",
                &[("team", "apps")],
            )
            .await,
        403,
        "member",
        "giving a team a project",
    );
    redirected(
        &p.admin
            .submit("/settings/acme/projects/other/teams/apps/remove", &[])
            .await,
        "/settings/acme/projects/other/",
        "team_removed",
    );
    assert!(app.store.project_teams(other.id).await.unwrap().is_empty());

    // deleting a project needs its slug typed
    let wrong = p
        .admin
        .submit(
            "/settings/acme/projects/mobile-app/delete",
            &[("confirm", "mobile")],
        )
        .await;
    expect(&wrong, 422, "admin", "deleting without confirming");
    assert!(app.store.project_by_id(mobile.id).await.is_ok());
    let confirm = [("confirm", "mobile-app")];
    for (who, b, status) in [("outsider", &p.outsider, 404), ("member", &p.member, 403)] {
        expect(
            &b.submit("/settings/acme/projects/mobile-app/delete", &confirm)
                .await,
            status,
            who,
            "deleting a project",
        );
    }
    redirected(
        &p.admin
            .submit("/settings/acme/projects/mobile-app/delete", &confirm)
            .await,
        "/settings/acme/projects/",
        "project_deleted",
    );
    assert!(matches!(
        app.store.project_by_id(mobile.id).await,
        Err(StoreError::NotFound(_))
    ));
}

async fn api_tokens(shape: Shape) {
    let app = TestApp::start(shape).await;
    let p = people(&app).await;
    let page = "/settings/account/tokens";

    let none = p.member.submit(page, &[("name", "CI")]).await;
    expect(&none, 422, "member", "a token without scopes");
    let bogus = p
        .member
        .submit(page, &[("name", "CI"), ("scope", "root:everything")])
        .await;
    expect(&bogus, 422, "member", "a token with a made-up scope");
    let created = p
        .member
        .submit(
            page,
            &[
                ("name", "CI"),
                ("scope", "org:read"),
                ("scope", "event:read"),
                ("scope", "org:read"),
            ],
        )
        .await;
    expect(&created, 200, "member", "creating a token");
    assert_eq!(created.header("cache-control"), Some("no-store"));
    let at = created.body.find("crl_").expect("the secret on the page");
    let secret: String = created.body[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    assert_eq!(secret.len(), "crl_".len() + 64);
    let tokens = app.store.list_api_tokens(p.member_user.id).await.unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!(
        tokens[0].scopes,
        ["org:read", "event:read"],
        "each scope once"
    );

    let api = app.api_get("/api/0/organizations/", &secret).await;
    assert_eq!(api.status, 200, "the new token works: {}", api.body);
    let listed = p.member.get("/settings/account/").await;
    assert!(listed.body.contains("org:read event:read"));
    assert!(!listed.body.contains(&secret), "the secret is shown once");

    // another user's token is not ours to delete
    let delete = format!("/settings/account/tokens/{}/delete", tokens[0].id);
    expect(
        &p.admin.submit(&delete, &[]).await,
        404,
        "another user",
        "deleting a token",
    );
    expect(
        &p.member.post_form(&delete, &[]).await,
        403,
        "member",
        "deleting without the CSRF token",
    );
    redirected(
        &p.member.submit(&delete, &[]).await,
        "/settings/account/",
        "token_deleted",
    );
    assert_eq!(
        app.api_get("/api/0/organizations/", &secret).await.status,
        401
    );

    // the name
    redirected(
        &p.member
            .submit("/settings/account/name", &[("name", "  Dev Eloper ")])
            .await,
        "/settings/account/",
        "saved",
    );
    assert_eq!(
        app.store.user_by_id(p.member_user.id).await.unwrap().name,
        "Dev Eloper"
    );
    expect(
        &p.member
            .submit("/settings/account/name", &[("name", " ")])
            .await,
        422,
        "member",
        "an empty name",
    );
    let shown = p.member.get("/settings/account/?notice=saved").await;
    assert!(shown.body.contains("Saved."));
    let forged = p
        .member
        .get("/settings/account/?notice=Your+account+is+locked")
        .await;
    assert!(
        !forged.body.contains("locked"),
        "unknown notices are not shown"
    );
    assert!(csrf_token_in(&shown.body).is_some());
}

both_shapes!(
    pages_by_role,
    organization_and_members,
    invitations,
    invitation_by_mail,
    teams,
    projects_and_keys,
    api_tokens,
);
