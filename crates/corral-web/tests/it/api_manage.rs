//! Managing an organization through the REST API: the organization, its
//! projects, DSN keys, teams and members, in Sentry's shapes. Changes to keys
//! and projects are checked where they matter: at ingest.

use std::collections::HashSet;

use chrono::DateTime;
use corral_core::model::{RateLimit, Role};
use serde_json::{Value, json};

use crate::common::{
    self, Reply, Shape, SmtpServer, TestApp, create_token, event, link_in, member_of_acme,
};

fn ok(reply: &Reply, status: u16) -> Value {
    assert_eq!(reply.status, status, "{}", reply.body);
    if reply.body.is_empty() {
        Value::Null
    } else {
        reply.json()
    }
}

fn is_time(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| DateTime::parse_from_rfc3339(s).is_ok())
}

async fn the_organization_and_its_projects(shape: Shape) {
    let app = TestApp::start(shape).await;
    let org = app.fixtures().org.clone();

    let orgs = ok(
        &app.api_get("/api/0/organizations/", app.token()).await,
        200,
    );
    assert_eq!(orgs.as_array().unwrap().len(), 1, "{orgs}");
    assert_eq!(orgs[0]["id"], org.id.to_string());
    assert_eq!(orgs[0]["slug"], "acme");
    assert_eq!(orgs[0]["orgRole"], "owner");
    assert!(is_time(&orgs[0]["dateCreated"]), "{orgs}");

    let v = ok(
        &app.api_put(
            "/api/0/organizations/acme/",
            app.token(),
            json!({"name": "Acme Corp"}),
        )
        .await,
        200,
    );
    assert_eq!(v["name"], "Acme Corp");
    assert_eq!(v["slug"], "acme");
    assert_eq!(
        app.store.organization_by_id(org.id).await.unwrap().name,
        "Acme Corp"
    );
    let reply = app
        .api_put(
            "/api/0/organizations/acme/",
            app.token(),
            json!({"name": "  "}),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);

    let team = app.store.create_team(org.id, "core", "Core").await.unwrap();
    app.store
        .add_project_team(app.project().id, team.id)
        .await
        .unwrap();
    let projects = ok(
        &app.api_get("/api/0/organizations/acme/projects/", app.token())
            .await,
        200,
    );
    assert_eq!(projects[0]["slug"], "backend");
    assert_eq!(projects[0]["teams"][0]["slug"], "core");
    assert_eq!(projects[0]["organization"]["slug"], "acme");

    let path = "/api/0/projects/acme/backend/";
    let v = ok(
        &app.api_put(
            path,
            app.token(),
            json!({"name": "Backend API", "platform": "python-django", "retentionDays": 30}),
        )
        .await,
        200,
    );
    assert_eq!(v["name"], "Backend API");
    assert_eq!(v["platform"], "python-django");
    assert_eq!(v["retentionDays"], 30);
    let stored = app.store.project_by_id(app.project().id).await.unwrap();
    assert_eq!(stored.retention_days, Some(30));
    assert_eq!(stored.name, "Backend API");
    // null clears; what is left out stays
    let v = ok(
        &app.api_put(
            path,
            app.token(),
            json!({"platform": null, "retentionDays": null}),
        )
        .await,
        200,
    );
    assert_eq!(v["platform"], Value::Null);
    assert_eq!(v["retentionDays"], Value::Null);
    assert_eq!(v["name"], "Backend API");
    for body in [
        json!({"slug": "renamed"}),
        json!({"retentionDays": 0}),
        json!({"name": ""}),
        json!({"name": 5}),
    ] {
        let reply = app.api_put(path, app.token(), body.clone()).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.body);
    }

    // deleting a project deletes its issues and stops its DSN
    app.assert_still_serving().await;
    let reply = app.api_delete(path, app.token()).await;
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert_eq!(app.api_get(path, app.token()).await.status, 404);
    assert!(app.store.project_by_id(app.project().id).await.is_err());
    let (_, ev) = event("after the end");
    let reply = app.post_envelope(common::event_envelope(&ev)).await;
    assert_eq!(
        reply.status, 401,
        "the key went with its project: {}",
        reply.body
    );
}

async fn keys_are_created_limited_disabled_and_deleted(shape: Shape) {
    let app = TestApp::start(shape).await;
    let project = app.project().id;
    let keys = "/api/0/projects/acme/backend/keys/";
    let v = ok(
        &app.api_post(
            keys,
            app.token(),
            json!({"name": "CI", "rateLimit": {"window": 60, "count": 5}}),
        )
        .await,
        201,
    );
    assert_eq!(v["name"], "CI");
    assert_eq!(v["label"], "CI");
    assert_eq!(v["rateLimit"], json!({"window": 60, "count": 5}));
    assert_eq!(v["isActive"], true);
    let public = v["public"].as_str().unwrap().to_string();
    assert_eq!(
        v["id"],
        public.as_str(),
        "Sentry's key id is the public key"
    );
    assert_eq!(
        v["dsn"]["public"],
        app.dsn_for(&public, project).as_str(),
        "{v}"
    );
    let listed = ok(&app.api_get(keys, app.token()).await, 200);
    assert_eq!(listed.as_array().unwrap().len(), 2);

    let key = format!("{keys}{public}/");
    let stored = async || {
        app.store
            .list_project_keys(project)
            .await
            .unwrap()
            .into_iter()
            .find(|k| k.public_key == public)
    };
    let v = ok(
        &app.api_put(
            &key,
            app.token(),
            json!({"label": "CI runners", "rateLimit": {"window": 3600, "count": 100}}),
        )
        .await,
        200,
    );
    assert_eq!(v["name"], "CI runners");
    assert_eq!(v["rateLimit"], json!({"window": 3600, "count": 100}));
    assert_eq!(
        stored().await.unwrap().rate_limit,
        RateLimit {
            per_minute: None,
            per_hour: Some(100)
        }
    );
    let v = ok(
        &app.api_put(&key, app.token(), json!({"rateLimit": null}))
            .await,
        200,
    );
    assert_eq!(v["rateLimit"], Value::Null);
    assert_eq!(stored().await.unwrap().rate_limit, RateLimit::default());
    for body in [
        json!({"rateLimit": {"window": 42, "count": 1}}),
        json!({"rateLimit": {"window": 60}}),
        json!({"rateLimit": {"window": 60, "count": -1}}),
        json!({"isActive": "no"}),
    ] {
        let reply = app.api_put(&key, app.token(), body.clone()).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.body);
    }

    // the key works, stops when disabled, works again when enabled
    let send = async || {
        let (_, ev) = event("through the CI key");
        app.post_envelope_as(&public, project, common::event_envelope(&ev))
            .await
            .status
    };
    assert_eq!(send().await, 200);
    ok(
        &app.api_put(&key, app.token(), json!({"isActive": false}))
            .await,
        200,
    );
    assert_eq!(send().await, 403, "a disabled key is refused at once");
    ok(
        &app.api_put(&key, app.token(), json!({"isActive": true}))
            .await,
        200,
    );
    assert_eq!(send().await, 200);

    assert_eq!(app.api_delete(&key, app.token()).await.status, 204);
    assert_eq!(send().await, 401, "a deleted key is unknown at once");
    assert_eq!(app.api_delete(&key, app.token()).await.status, 404);
    let listed = ok(&app.api_get(keys, app.token()).await, 200);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    // a key of another project is not this project's
    let (_, other) = app
        .create_project(Some(app.fixtures().org.id), "other")
        .await;
    let reply = app
        .api_put(
            &format!("{keys}{}/", other.public_key),
            app.token(),
            json!({"isActive": false}),
        )
        .await;
    assert_eq!(reply.status, 404, "{}", reply.body);
}

async fn teams_hold_members_and_projects(shape: Shape) {
    let app = TestApp::start(shape).await;
    let teams = "/api/0/organizations/acme/teams/";
    let v = ok(
        &app.api_post(teams, app.token(), json!({"name": "Web Frontend"}))
            .await,
        201,
    );
    assert_eq!(v["slug"], "web-frontend");
    assert_eq!(v["name"], "Web Frontend");
    assert_eq!(v["memberCount"], 0);
    assert!(is_time(&v["dateCreated"]));
    let reply = app
        .api_post(teams, app.token(), json!({"slug": "web-frontend"}))
        .await;
    assert_eq!(reply.status, 409, "{}", reply.body);
    for body in [json!({}), json!({"slug": "Not A Slug"})] {
        let reply = app.api_post(teams, app.token(), body.clone()).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.body);
    }

    // a project made for the team belongs to it and has a DSN key
    let v = ok(
        &app.api_post(
            "/api/0/teams/acme/web-frontend/projects/",
            app.token(),
            json!({"name": "Mobile App", "platform": "android"}),
        )
        .await,
        201,
    );
    assert_eq!(v["slug"], "mobile-app");
    assert_eq!(v["platform"], "android");
    assert_eq!(v["teams"][0]["slug"], "web-frontend");
    let keys = ok(
        &app.api_get("/api/0/projects/acme/mobile-app/keys/", app.token())
            .await,
        200,
    );
    assert_eq!(keys.as_array().unwrap().len(), 1, "{keys}");

    // members join and leave; a member of the team sees its projects only
    let dev = member_of_acme(&app, "dev@acme.test", Role::Member).await;
    let dev_token = create_token(&app.store, dev.id, &["org:read", "project:read"]).await;
    let slugs = async |token: &str| -> HashSet<String> {
        ok(
            &app.api_get("/api/0/organizations/acme/projects/", token)
                .await,
            200,
        )
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["slug"].as_str().unwrap().to_string())
        .collect()
    };
    assert_eq!(
        slugs(&dev_token).await,
        HashSet::from(["backend".to_string()])
    );
    let membership = format!(
        "/api/0/organizations/acme/members/{}/teams/web-frontend/",
        dev.id
    );
    let v = ok(
        &app.api_post(&membership, app.token(), json!({})).await,
        201,
    );
    assert_eq!(v["teams"], json!(["web-frontend"]));
    assert_eq!(
        slugs(&dev_token).await,
        HashSet::from(["backend".to_string(), "mobile-app".to_string()])
    );
    let team = ok(
        &app.api_get("/api/0/teams/acme/web-frontend/", &dev_token)
            .await,
        200,
    );
    assert_eq!(team["memberCount"], 1);
    assert_eq!(team["isMember"], true);
    assert_eq!(team["projects"][0]["slug"], "mobile-app");
    let as_owner = ok(
        &app.api_get("/api/0/teams/acme/web-frontend/", app.token())
            .await,
        200,
    );
    assert_eq!(as_owner["isMember"], false);

    // the backend joins the team too, then leaves it
    let link = "/api/0/projects/acme/backend/teams/web-frontend/";
    let v = ok(&app.api_post(link, app.token(), json!({})).await, 201);
    assert_eq!(v["teams"][0]["slug"], "web-frontend");
    let listed = ok(
        &app.api_get("/api/0/teams/acme/web-frontend/projects/", app.token())
            .await,
        200,
    );
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let v = ok(&app.api_delete(link, app.token()).await, 200);
    assert_eq!(v["teams"], json!([]));
    assert_eq!(app.api_delete(link, app.token()).await.status, 404);

    let v = ok(&app.api_delete(&membership, app.token()).await, 200);
    assert_eq!(v["teams"], json!([]));
    assert_eq!(
        slugs(&dev_token).await,
        HashSet::from(["backend".to_string()])
    );

    assert_eq!(
        app.api_delete("/api/0/teams/acme/web-frontend/", app.token())
            .await
            .status,
        204
    );
    assert_eq!(
        app.api_get("/api/0/teams/acme/web-frontend/", app.token())
            .await
            .status,
        404
    );
    // the team's project stays, open to every member now
    assert_eq!(
        slugs(&dev_token).await,
        HashSet::from(["backend".to_string(), "mobile-app".to_string()])
    );
    let listed = ok(&app.api_get(teams, app.token()).await, 200);
    assert_eq!(listed, json!([]));
}

async fn members_are_invited_promoted_and_removed(shape: Shape) {
    let app = TestApp::start(shape).await;
    let org = app.fixtures().org.id;
    let members = "/api/0/organizations/acme/members/";
    let dev = member_of_acme(&app, "dev@acme.test", Role::Member).await;
    let core = app.store.create_team(org, "core", "Core").await.unwrap();
    app.store.add_team_member(core.id, dev.id).await.unwrap();

    let listed = ok(&app.api_get(members, app.token()).await, 200);
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2);
    let m = listed
        .iter()
        .find(|m| m["email"] == "dev@acme.test")
        .unwrap();
    assert_eq!(m["id"], dev.id.to_string());
    assert_eq!(m["role"], "member");
    assert_eq!(m["name"], "dev");
    assert_eq!(m["teams"], json!(["core"]));
    assert_eq!(m["user"]["id"], dev.id.to_string());
    assert_eq!(m["user"]["email"], "dev@acme.test");
    assert_eq!(m["pending"], false);
    assert!(is_time(&m["dateCreated"]));
    let me = ok(
        &app.api_get(&format!("{members}me/"), app.token()).await,
        200,
    );
    assert_eq!(me["role"], "owner");

    // invitations: without mail, the link comes back to the caller
    let v = ok(
        &app.api_post(
            members,
            app.token(),
            json!({"email": "new@acme.test", "role": "admin"}),
        )
        .await,
        201,
    );
    assert_eq!(v["pending"], true);
    assert_eq!(v["role"], "admin");
    assert_eq!(v["email"], "new@acme.test");
    assert_eq!(v["user"], Value::Null);
    let link = v["inviteLink"]
        .as_str()
        .expect("an invite link")
        .to_string();
    let prefix = format!("{}/accept/", app.base_url);
    assert!(link.starts_with(&prefix), "{link}");
    let token = &link[prefix.len()..];
    let invitation = app
        .store
        .invitation_by_hash(&corral_web::session::sha256_hex(token), chrono::Utc::now())
        .await
        .expect("the link's token is the invitation's");
    assert_eq!(invitation.email, "new@acme.test");
    assert_eq!(invitation.role, Role::Admin);
    assert_eq!(invitation.invited_by, Some(app.fixtures().owner.id));

    for (body, status) in [
        (json!({"email": "DEV@acme.test"}), 409),
        (json!({"email": "x@acme.test", "role": "boss"}), 400),
        (json!({"email": "not an address"}), 400),
        (json!({"role": "member"}), 400),
    ] {
        let reply = app.api_post(members, app.token(), body.clone()).await;
        assert_eq!(reply.status, status, "{body}: {}", reply.body);
    }
    // admins invite members and admins, not owners
    let admin = member_of_acme(&app, "admin@acme.test", Role::Admin).await;
    let admin_token = create_token(&app.store, admin.id, &["member:admin"]).await;
    let reply = app
        .api_post(
            members,
            &admin_token,
            json!({"email": "boss@acme.test", "orgRole": "owner"}),
        )
        .await;
    assert_eq!(reply.status, 403, "{}", reply.body);
    let reply = app
        .api_post(
            members,
            &admin_token,
            json!({"email": "peer@acme.test", "orgRole": "admin"}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);

    // roles change; the last owner stays an owner
    let owner = app.fixtures().owner.id;
    let v = ok(
        &app.api_put(
            &format!("{members}{}/", dev.id),
            app.token(),
            json!({"role": "admin"}),
        )
        .await,
        200,
    );
    assert_eq!(v["role"], "admin");
    for request in [
        app.api_put(
            &format!("{members}{owner}/"),
            app.token(),
            json!({"role": "member"}),
        )
        .await,
        app.api_delete(&format!("{members}{owner}/"), app.token())
            .await,
    ] {
        assert_eq!(request.status, 400, "{}", request.body);
        assert!(
            request.detail().contains("at least one owner"),
            "{}",
            request.body
        );
    }
    let reply = app
        .api_put(
            &format!("{members}{}/", dev.id),
            app.token(),
            json!({"role": "king"}),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    // with a second owner, the first may step down
    ok(
        &app.api_put(
            &format!("{members}{}/", dev.id),
            app.token(),
            json!({"role": "owner"}),
        )
        .await,
        200,
    );
    let v = ok(
        &app.api_put(
            &format!("{members}me/"),
            app.token(),
            json!({"orgRole": "admin"}),
        )
        .await,
        200,
    );
    assert_eq!(v["role"], "admin");

    let dev_token = create_token(&app.store, dev.id, &["member:admin"]).await;
    let reply = app
        .api_delete(&format!("{members}{}/", admin.id), &dev_token)
        .await;
    assert_eq!(reply.status, 204, "{}", reply.body);
    let emails: HashSet<String> = ok(&app.api_get(members, &dev_token).await, 200)
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        emails,
        HashSet::from(["owner@acme.test".to_string(), "dev@acme.test".to_string()])
    );
    // the removed admin's token reaches nothing of the organization now
    let reply = app.api_get(members, &admin_token).await;
    assert_eq!(reply.status, 404, "{}", reply.body);
    let reply = app
        .api_get(&format!("{members}{}/", admin.id), &dev_token)
        .await;
    assert_eq!(reply.status, 404, "{}", reply.body);
}

async fn invitations_are_mailed_when_mail_is_configured(shape: Shape) {
    let smtp = SmtpServer::start().await;
    let app = TestApp::builder(shape)
        .toml(&format!(
            "smtp_url = \"{}\"\nsmtp_from = \"Corral <corral@corral.test>\"\nbase_url = \"http://corral.test\"",
            smtp.url()
        ))
        .start()
        .await;
    let v = ok(
        &app.api_post(
            "/api/0/organizations/acme/members/",
            app.token(),
            json!({"email": "mailed@acme.test"}),
        )
        .await,
        201,
    );
    assert!(v.get("inviteLink").is_none(), "mailed, not shown: {v}");
    let mail = smtp.wait_for_mail("mailed@acme.test", 1).await;
    let link = link_in(&mail[0], "http://corral.test/accept/")
        .unwrap_or_else(|| panic!("no link in {}", mail[0]));
    let token = link
        .trim_start_matches("http://corral.test/accept/")
        .trim_end_matches('/');
    let invitation = app
        .store
        .invitation_by_hash(&corral_web::session::sha256_hex(token), chrono::Utc::now())
        .await
        .expect("the mailed link's token is the invitation's");
    assert_eq!(invitation.role, Role::Member);
}

both_shapes!(
    the_organization_and_its_projects,
    keys_are_created_limited_disabled_and_deleted,
    teams_hold_members_and_projects,
    members_are_invited_promoted_and_removed,
);
embedded_only!(invitations_are_mailed_when_mail_is_configured);
