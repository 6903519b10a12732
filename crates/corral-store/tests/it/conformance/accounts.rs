use chrono::Utc;
use corral_core::model::*;
use corral_core::{
    AttachmentRecord, CheckIn, ClientDiscard, IssueQuery, NewProject, NewUser, SessionCounts,
    SharedStore, StoreError, UserReport,
};
use uuid::Uuid;

use super::support::{digest_one, event, fixture, new_user, now, other_project};

fn not_found<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::NotFound(_)))
}

fn invalid<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Invalid { .. }))
}

fn user(email: &str, superuser: bool) -> NewUser {
    NewUser {
        email: email.into(),
        name: "Someone".into(),
        password_hash: Some("$argon2id$v=19$fake".into()),
        is_superuser: superuser,
    }
}

pub async fn organizations_and_users(store: SharedStore) {
    let org = store.create_organization("acme", "Acme").await.unwrap();
    assert_eq!(org.slug, "acme");
    assert!(matches!(
        store.create_organization("acme", "Again").await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.create_organization("Not A Slug", "x").await,
        Err(StoreError::Invalid { .. })
    ));
    // the UI's /settings/account/ sits beside /settings/{org}/
    assert!(matches!(
        store.create_organization("account", "Account").await,
        Err(StoreError::Invalid { field: "slug", .. })
    ));
    store.create_organization("beta", "Beta").await.unwrap();
    assert_eq!(store.organization_by_slug("acme").await.unwrap(), org);
    assert!(matches!(
        store.organization_by_slug("nope").await,
        Err(StoreError::NotFound(_))
    ));
    let slugs: Vec<String> = store
        .list_organizations()
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.slug)
        .collect();
    assert_eq!(slugs, ["acme", "beta"]);

    assert_eq!(store.count_users().await.unwrap(), 0);
    let ann = store
        .create_user(user("Ann@Example.com", false))
        .await
        .unwrap();
    assert_eq!(ann.email, "Ann@Example.com");
    assert!(ann.is_active && !ann.is_superuser);
    assert_eq!(ann.password_hash.as_deref(), Some("$argon2id$v=19$fake"));
    assert!(matches!(
        store.create_user(user("ann@example.COM", false)).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.create_user(user("not-an-email", false)).await,
        Err(StoreError::Invalid { .. })
    ));
    assert_eq!(
        store.user_by_email("ANN@example.com").await.unwrap().id,
        ann.id
    );
    assert_eq!(store.user_by_id(ann.id).await.unwrap(), ann);
    assert!(matches!(
        store.user_by_id(ann.id + 100).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.user_by_email("bob@example.com").await,
        Err(StoreError::NotFound(_))
    ));
    store
        .set_password_hash(ann.id, "$argon2id$new")
        .await
        .unwrap();
    assert_eq!(
        store
            .user_by_id(ann.id)
            .await
            .unwrap()
            .password_hash
            .as_deref(),
        Some("$argon2id$new")
    );
    assert!(matches!(
        store.set_password_hash(ann.id + 100, "x").await,
        Err(StoreError::NotFound(_))
    ));
    store
        .create_user(user("bob@example.com", true))
        .await
        .unwrap();
    assert_eq!(store.count_users().await.unwrap(), 2);
}

pub async fn memberships_and_teams(store: SharedStore) {
    let f = fixture(&store).await;
    let ann = store
        .create_user(user("ann@example.com", false))
        .await
        .unwrap();
    store
        .set_membership(f.org.id, ann.id, Role::Member)
        .await
        .unwrap();
    store
        .set_membership(f.org.id, ann.id, Role::Owner)
        .await
        .unwrap();
    let ms = store.memberships_of_user(ann.id).await.unwrap();
    assert_eq!(ms.len(), 1);
    assert_eq!((ms[0].org_id, ms[0].role), (f.org.id, Role::Owner));
    assert!(matches!(
        store
            .set_membership(f.org.id + 100, ann.id, Role::Member)
            .await,
        Err(StoreError::NotFound(_))
    ));

    let team = store.create_team(f.org.id, "core", "Core").await.unwrap();
    assert!(matches!(
        store.create_team(f.org.id, "core", "Again").await,
        Err(StoreError::Conflict(_))
    ));
    store.create_team(f.org.id, "alpha", "Alpha").await.unwrap();
    let teams: Vec<String> = store
        .list_teams(f.org.id)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.slug)
        .collect();
    assert_eq!(teams, ["alpha", "core"]);
    store.add_team_member(team.id, ann.id).await.unwrap();
    store.add_team_member(team.id, ann.id).await.unwrap();
    store.add_project_team(f.project.id, team.id).await.unwrap();
    store.add_project_team(f.project.id, team.id).await.unwrap();
    assert!(matches!(
        store.add_team_member(team.id + 100, ann.id).await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn projects(store: SharedStore) {
    let f = fixture(&store).await;
    let p = &f.project;
    assert_eq!(p.org_slug, "acme");
    assert_eq!(p.grouping_config, "corral:2026-11");
    assert_eq!(p.retention_days, None);
    assert_eq!(p.rate_limit, RateLimit::default());
    let new = |org_id, slug: &str| NewProject {
        org_id,
        slug: slug.into(),
        name: slug.into(),
        platform: None,
    };
    assert!(matches!(
        store.create_project(new(f.org.id, "backend")).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.create_project(new(f.org.id + 100, "x")).await,
        Err(StoreError::NotFound(_))
    ));
    let other_org = store.create_organization("other", "Other").await.unwrap();
    let same_slug = store
        .create_project(new(other_org.id, "backend"))
        .await
        .unwrap();
    assert_ne!(same_slug.id, p.id);

    assert_eq!(store.project_by_id(p.id).await.unwrap(), *p);
    assert_eq!(
        store.project_by_slug("other", "backend").await.unwrap().id,
        same_slug.id
    );
    assert!(matches!(
        store.project_by_slug("acme", "nope").await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.list_projects(None).await.unwrap().len(), 2);
    let mine = store.list_projects(Some(f.org.id)).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].id, p.id);

    let member = store
        .create_user(user("m@example.com", false))
        .await
        .unwrap();
    let outsider = store
        .create_user(user("o@example.com", false))
        .await
        .unwrap();
    let admin = store
        .create_user(user("a@example.com", true))
        .await
        .unwrap();
    store
        .set_membership(f.org.id, member.id, Role::Member)
        .await
        .unwrap();
    let ids = |ps: Vec<Project>| ps.into_iter().map(|p| p.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.projects_for_user(member.id).await.unwrap()),
        [p.id]
    );
    assert!(
        store
            .projects_for_user(outsider.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.projects_for_user(admin.id).await.unwrap().len(), 2);

    store.set_project_retention(p.id, Some(7)).await.unwrap();
    assert!(matches!(
        store.set_project_retention(p.id, Some(0)).await,
        Err(StoreError::Invalid { .. })
    ));
    let limit = RateLimit {
        per_minute: Some(100),
        per_hour: None,
    };
    store.set_project_rate_limit(p.id, limit).await.unwrap();
    let after = store.project_by_id(p.id).await.unwrap();
    assert_eq!(after.retention_days, Some(7));
    assert_eq!(after.rate_limit, limit);
    assert!(matches!(
        store
            .set_project_rate_limit(
                p.id,
                RateLimit {
                    per_minute: Some(-1),
                    per_hour: None
                }
            )
            .await,
        Err(StoreError::Invalid { .. })
    ));
    assert!(matches!(
        store.set_project_retention(p.id + 100, None).await,
        Err(StoreError::NotFound(_))
    ));
    store.set_project_retention(p.id, None).await.unwrap();
    assert_eq!(
        store.project_by_id(p.id).await.unwrap().retention_days,
        None
    );
}

pub async fn project_keys_and_key_auth(store: SharedStore) {
    let f = fixture(&store).await;
    let limit = RateLimit {
        per_minute: Some(10),
        per_hour: Some(100),
    };
    let a = store
        .create_project_key(f.project.id, "Default", limit)
        .await
        .unwrap();
    let b = store
        .create_project_key(f.project.id, "Second", RateLimit::default())
        .await
        .unwrap();
    for k in [&a, &b] {
        assert_eq!(k.public_key.len(), 32);
        assert!(
            k.public_key
                .bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        );
        assert!(k.is_active);
    }
    assert_ne!(a.public_key, b.public_key);
    assert_eq!(a.rate_limit, limit);
    assert_eq!(
        store.list_project_keys(f.project.id).await.unwrap(),
        vec![a.clone(), b.clone()]
    );

    let project_limit = RateLimit {
        per_minute: None,
        per_hour: Some(5000),
    };
    store
        .set_project_rate_limit(f.project.id, project_limit)
        .await
        .unwrap();
    let auth = store.key_auth(&a.public_key).await.unwrap();
    assert_eq!(auth.key, a);
    assert_eq!(auth.project_id, f.project.id);
    assert_eq!(auth.project_rate_limit, project_limit);

    store.set_key_active(a.id, false).await.unwrap();
    let inactive = store.key_auth(&a.public_key).await.unwrap();
    assert!(!inactive.key.is_active);
    store.set_key_rate_limit(b.id, limit).await.unwrap();
    assert_eq!(
        store.key_auth(&b.public_key).await.unwrap().key.rate_limit,
        limit
    );

    assert!(matches!(
        store.key_auth("0123456789abcdef0123456789abcdef").await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.set_key_active(b.id + 100, true).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store
            .create_project_key(f.project.id + 100, "x", RateLimit::default())
            .await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn api_tokens(store: SharedStore) {
    let ann = store
        .create_user(user("ann@example.com", false))
        .await
        .unwrap();
    let bob = store
        .create_user(user("bob@example.com", false))
        .await
        .unwrap();
    let sha = "a".repeat(64);
    let scopes = vec!["project:read".to_string(), "event:write".to_string()];
    let token = store
        .create_api_token(ann.id, "ci", &scopes, &sha)
        .await
        .unwrap();
    assert_eq!(token.scopes, scopes);
    assert_eq!(token.last_used_at, None);
    assert!(matches!(
        store.create_api_token(bob.id, "dup", &scopes, &sha).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store
            .create_api_token(ann.id, "bad", &scopes, "not-a-hash")
            .await,
        Err(StoreError::Invalid { .. })
    ));

    let used = store.api_token_by_hash(&sha).await.unwrap();
    assert_eq!(used.id, token.id);
    assert!(used.last_used_at.is_some());
    assert!(matches!(
        store.api_token_by_hash(&"b".repeat(64)).await,
        Err(StoreError::NotFound(_))
    ));
    store
        .create_api_token(ann.id, "second", &[], &"c".repeat(64))
        .await
        .unwrap();
    let names: Vec<String> = store
        .list_api_tokens(ann.id)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["ci", "second"]);
    assert!(store.list_api_tokens(bob.id).await.unwrap().is_empty());

    assert!(matches!(
        store.delete_api_token(bob.id, token.id).await,
        Err(StoreError::NotFound(_))
    ));
    store.delete_api_token(ann.id, token.id).await.unwrap();
    assert!(matches!(
        store.api_token_by_hash(&sha).await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn users_and_organizations_change(store: SharedStore) {
    let f = fixture(&store).await;
    let ann = new_user(&store, "ann@example.com").await;
    let renamed = store.update_user(ann.id, "  Ann Smith ").await.unwrap();
    assert_eq!(renamed.name, "Ann Smith");
    assert_eq!(renamed.email, ann.email);
    assert_eq!(store.user_by_id(ann.id).await.unwrap(), renamed);
    assert!(invalid(store.update_user(ann.id, "   ").await));
    assert!(invalid(store.update_user(ann.id, &"x".repeat(201)).await));
    assert!(not_found(store.update_user(ann.id + 100, "X").await));

    assert_eq!(store.organization_by_id(f.org.id).await.unwrap(), f.org);
    assert!(not_found(store.organization_by_id(f.org.id + 100).await));
    let org = store
        .rename_organization(f.org.id, " Acme Inc ")
        .await
        .unwrap();
    assert_eq!((org.slug.as_str(), org.name.as_str()), ("acme", "Acme Inc"));
    assert_eq!(store.organization_by_slug("acme").await.unwrap(), org);
    assert!(invalid(store.rename_organization(f.org.id, "").await));
    assert!(not_found(
        store.rename_organization(f.org.id + 100, "X").await
    ));
}

pub async fn members_roles_and_the_last_owner(store: SharedStore) {
    let f = fixture(&store).await;
    let beta = store.create_organization("beta", "Beta").await.unwrap();
    let ann = new_user(&store, "ann@example.com").await;
    let bob = new_user(&store, "Bob@example.com").await;
    let cid = new_user(&store, "cid@example.com").await;
    for (who, role) in [
        (&ann, Role::Owner),
        (&bob, Role::Admin),
        (&cid, Role::Member),
    ] {
        store.set_membership(f.org.id, who.id, role).await.unwrap();
    }
    store
        .set_membership(beta.id, cid.id, Role::Owner)
        .await
        .unwrap();
    let core = store.create_team(f.org.id, "core", "Core").await.unwrap();
    let web = store.create_team(f.org.id, "web", "Web").await.unwrap();
    let elsewhere = store.create_team(beta.id, "core", "Core").await.unwrap();
    for (team, who) in [
        (&web, &bob),
        (&core, &bob),
        (&web, &cid),
        (&elsewhere, &cid),
    ] {
        store.add_team_member(team.id, who.id).await.unwrap();
    }

    let members = store.list_members(f.org.id).await.unwrap();
    let got: Vec<(UserId, Role, Vec<TeamId>)> = members
        .iter()
        .map(|m| (m.user.id, m.role, m.teams.clone()))
        .collect();
    assert_eq!(
        got,
        [
            (ann.id, Role::Owner, vec![]),
            (bob.id, Role::Admin, vec![core.id, web.id]),
            (cid.id, Role::Member, vec![web.id]),
        ]
    );
    assert_eq!(members[1].user, bob);
    assert!(members[0].created_at <= Utc::now());
    assert!(store.list_members(f.org.id + 100).await.unwrap().is_empty());

    // The last owner can be neither demoted nor removed.
    assert!(invalid(
        store.set_membership(f.org.id, ann.id, Role::Admin).await
    ));
    assert!(invalid(store.remove_membership(f.org.id, ann.id).await));
    store
        .set_membership(f.org.id, ann.id, Role::Owner)
        .await
        .unwrap();
    store
        .set_membership(f.org.id, bob.id, Role::Owner)
        .await
        .unwrap();
    store
        .set_membership(f.org.id, ann.id, Role::Member)
        .await
        .unwrap();
    assert!(invalid(store.remove_membership(f.org.id, bob.id).await));
    let roles: Vec<Role> = store
        .list_members(f.org.id)
        .await
        .unwrap()
        .iter()
        .map(|m| m.role)
        .collect();
    assert_eq!(roles, [Role::Member, Role::Owner, Role::Member]);

    // Leaving takes the member out of the organization's teams and
    // assignments, and nowhere else.
    let p = f.project.id;
    let mine = digest_one(&store, event(p, "mine", now()))
        .await
        .issue_id
        .unwrap();
    let bobs = digest_one(&store, event(p, "bobs", now()))
        .await
        .issue_id
        .unwrap();
    let beta_project = store
        .create_project(NewProject {
            org_id: beta.id,
            slug: "beta-app".into(),
            name: "Beta app".into(),
            platform: None,
        })
        .await
        .unwrap();
    let theirs = digest_one(&store, event(beta_project.id, "theirs", now()))
        .await
        .issue_id
        .unwrap();
    for (issue, who) in [(mine, &cid), (bobs, &bob), (theirs, &cid)] {
        store
            .assign_issue(issue, Some(Assignee::User(who.id)))
            .await
            .unwrap();
    }
    store.remove_membership(f.org.id, cid.id).await.unwrap();
    let left: Vec<UserId> = store
        .list_members(f.org.id)
        .await
        .unwrap()
        .iter()
        .map(|m| m.user.id)
        .collect();
    assert_eq!(left, [ann.id, bob.id]);
    assert_eq!(store.teams_of_user(cid.id).await.unwrap(), vec![elsewhere]);
    assert_eq!(store.issue_by_id(mine).await.unwrap().assignee, None);
    assert_eq!(
        store.issue_by_id(bobs).await.unwrap().assignee,
        Some(Assignee::User(bob.id))
    );
    assert_eq!(
        store.issue_by_id(theirs).await.unwrap().assignee,
        Some(Assignee::User(cid.id))
    );
    assert_eq!(store.memberships_of_user(cid.id).await.unwrap().len(), 1);
    assert!(not_found(store.remove_membership(f.org.id, cid.id).await));
    assert!(not_found(
        store.remove_membership(f.org.id + 100, bob.id).await
    ));
}

pub async fn teams_and_project_links(store: SharedStore) {
    let f = fixture(&store).await;
    let beta = store.create_organization("beta", "Beta").await.unwrap();
    let backend = f.project.id;
    let site = other_project(&f, "site").await.id;
    let ann = new_user(&store, "ann@example.com").await;
    let bob = new_user(&store, "bob@example.com").await;
    let core = store.create_team(f.org.id, "core", "Core").await.unwrap();
    let web = store.create_team(f.org.id, "web", "Web").await.unwrap();
    store.create_team(beta.id, "other", "Other").await.unwrap();

    assert_eq!(store.team_by_slug(f.org.id, "core").await.unwrap(), core);
    assert!(not_found(store.team_by_slug(f.org.id, "nope").await));
    assert!(not_found(store.team_by_slug(beta.id, "core").await));

    for (team, who) in [(&web, &ann), (&core, &bob), (&core, &ann)] {
        store.add_team_member(team.id, who.id).await.unwrap();
    }
    assert_eq!(
        store.team_members(core.id).await.unwrap(),
        vec![ann.clone(), bob.clone()]
    );
    assert_eq!(
        store.teams_of_user(ann.id).await.unwrap(),
        vec![core.clone(), web.clone()]
    );
    store.remove_team_member(core.id, bob.id).await.unwrap();
    assert!(not_found(store.remove_team_member(core.id, bob.id).await));
    assert_eq!(
        store.team_members(core.id).await.unwrap(),
        vec![ann.clone()]
    );
    assert!(store.teams_of_user(bob.id).await.unwrap().is_empty());

    for (project, team) in [(site, &web), (backend, &web), (backend, &core)] {
        store.add_project_team(project, team.id).await.unwrap();
    }
    assert_eq!(
        store.project_teams(backend).await.unwrap(),
        vec![core.clone(), web.clone()]
    );
    assert_eq!(
        store.project_team_map(f.org.id).await.unwrap(),
        vec![(backend, core.id), (backend, web.id), (site, web.id)]
    );
    assert!(store.project_team_map(beta.id).await.unwrap().is_empty());
    store.remove_project_team(backend, web.id).await.unwrap();
    assert!(not_found(store.remove_project_team(backend, web.id).await));
    assert_eq!(
        store.project_teams(backend).await.unwrap(),
        vec![core.clone()]
    );

    // Deleting a team takes its memberships, project links and assignments.
    let issue = digest_one(&store, event(site, "web", now()))
        .await
        .issue_id
        .unwrap();
    store
        .assign_issue(issue, Some(Assignee::Team(web.id)))
        .await
        .unwrap();
    store.delete_team(web.id).await.unwrap();
    assert!(not_found(store.delete_team(web.id).await));
    assert_eq!(
        store.teams_of_user(ann.id).await.unwrap(),
        vec![core.clone()]
    );
    assert!(store.project_teams(site).await.unwrap().is_empty());
    assert_eq!(
        store.project_team_map(f.org.id).await.unwrap(),
        vec![(backend, core.id)]
    );
    assert_eq!(store.issue_by_id(issue).await.unwrap().assignee, None);
    assert_eq!(store.list_teams(f.org.id).await.unwrap(), vec![core]);
}

pub async fn update_and_delete_projects(store: SharedStore) {
    let f = fixture(&store).await;
    let p = f.project.id;
    let updated = store
        .update_project(p, " Backend API ", Some("rust"))
        .await
        .unwrap();
    assert_eq!(
        (
            updated.slug.as_str(),
            updated.name.as_str(),
            updated.platform.as_deref()
        ),
        ("backend", "Backend API", Some("rust"))
    );
    assert_eq!(store.project_by_id(p).await.unwrap(), updated);
    let cleared = store
        .update_project(p, "Backend", Some("  "))
        .await
        .unwrap();
    assert_eq!(cleared.platform, None);
    assert!(invalid(store.update_project(p, " ", None).await));
    assert!(not_found(store.update_project(p + 100, "X", None).await));

    // Fill the project with one of everything, and a neighbour.
    let keep = other_project(&f, "keep").await.id;
    let ann = new_user(&store, "ann@example.com").await;
    store
        .set_membership(f.org.id, ann.id, Role::Member)
        .await
        .unwrap();
    let team = store.create_team(f.org.id, "core", "Core").await.unwrap();
    store.add_project_team(p, team.id).await.unwrap();
    store.add_project_team(keep, team.id).await.unwrap();
    let key = store
        .create_project_key(p, "Default", RateLimit::default())
        .await
        .unwrap();
    let mut gone = event(p, "gone", now());
    gone.release = Some("1.0".into());
    let gone_issue = digest_one(&store, gone.clone()).await.issue_id.unwrap();
    let transaction = {
        let mut t = event(p, "txn", now());
        t.event_type = EventType::Transaction;
        t.hashes.clear();
        t
    };
    digest_one(&store, transaction.clone()).await;
    let kept = event(keep, "gone", now());
    let kept_issue = digest_one(&store, kept.clone()).await.issue_id.unwrap();
    store
        .assign_issue(gone_issue, Some(Assignee::User(ann.id)))
        .await
        .unwrap();
    store.add_comment(gone_issue, ann.id, "mine").await.unwrap();
    store
        .add_attachment(&AttachmentRecord {
            project_id: p,
            event_id: gone.event_id,
            name: "log.txt".into(),
            content_type: None,
            attachment_type: None,
            size: 1,
            path: format!("{p}/x/1"),
            created_at: now(),
        })
        .await
        .unwrap();
    store
        .add_session_counts(&[SessionCounts {
            project_id: p,
            release: "1.0".into(),
            environment: None,
            hour: now(),
            exited: 1,
            errored: 0,
            crashed: 0,
            abnormal: 0,
        }])
        .await
        .unwrap();
    store
        .add_client_discards(&[ClientDiscard {
            project_id: p,
            reason: "queue_overflow".into(),
            category: "error".into(),
            quantity: 1,
            hour: now(),
        }])
        .await
        .unwrap();
    store
        .add_check_in(&CheckIn {
            project_id: p,
            check_in_id: Uuid::new_v4(),
            monitor_slug: "nightly".into(),
            status: "ok".into(),
            duration_secs: None,
            environment: None,
            received_at: now(),
            data: "{}".into(),
        })
        .await
        .unwrap();
    store
        .add_user_report(&UserReport {
            project_id: p,
            event_id: gone.event_id,
            name: "Ann".into(),
            email: "ann@example.com".into(),
            comments: "broken".into(),
            received_at: now(),
        })
        .await
        .unwrap();

    store.delete_project(p).await.unwrap();
    assert!(not_found(store.delete_project(p).await));
    assert!(not_found(store.project_by_id(p).await));
    assert!(not_found(store.issue_by_id(gone_issue).await));
    assert!(not_found(store.event_by_id(p, gone.event_id).await));
    assert!(not_found(store.event_by_id(p, transaction.event_id).await));
    assert!(not_found(store.key_auth(&key.public_key).await));
    assert!(store.list_project_keys(p).await.unwrap().is_empty());
    assert!(store.list_comments(gone_issue).await.unwrap().is_empty());
    assert!(
        store
            .list_attachments(p, gone.event_id)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.session_totals(p).await.unwrap().is_empty());
    assert!(store.client_discard_totals(p).await.unwrap().is_empty());
    assert!(store.list_check_ins(p, 10).await.unwrap().is_empty());
    assert!(store.list_user_reports(p).await.unwrap().is_empty());
    assert_eq!(
        store.project_team_map(f.org.id).await.unwrap(),
        vec![(keep, team.id)]
    );
    let all = IssueQuery {
        limit: 100,
        ..Default::default()
    };
    assert_eq!(store.count_issues(&all).await.unwrap(), 1);
    // The neighbour, with the same grouping hash, is untouched.
    assert_eq!(store.issue_by_id(kept_issue).await.unwrap().times_seen, 1);
    assert_eq!(
        store
            .event_by_id(keep, kept.event_id)
            .await
            .unwrap()
            .issue_id,
        Some(kept_issue)
    );
    assert_eq!(
        digest_one(&store, event(keep, "gone", now()))
            .await
            .issue_id,
        Some(kept_issue)
    );
}

pub async fn key_labels_deletion_and_lookup(store: SharedStore) {
    let f = fixture(&store).await;
    let a = store
        .create_project_key(f.project.id, "Default", RateLimit::default())
        .await
        .unwrap();
    let b = store
        .create_project_key(f.project.id, "Second", RateLimit::default())
        .await
        .unwrap();
    assert_eq!(store.key_by_id(a.id).await.unwrap(), a);
    assert!(not_found(store.key_by_id(b.id + 100).await));
    store.set_key_label(a.id, "Renamed").await.unwrap();
    assert_eq!(store.key_by_id(a.id).await.unwrap().label, "Renamed");
    assert!(invalid(store.set_key_label(a.id, &"x".repeat(201)).await));
    assert!(not_found(store.set_key_label(b.id + 100, "x").await));

    store.delete_project_key(a.id).await.unwrap();
    assert!(not_found(store.delete_project_key(a.id).await));
    assert!(not_found(store.key_by_id(a.id).await));
    assert!(not_found(store.key_auth(&a.public_key).await));
    assert_eq!(
        store.list_project_keys(f.project.id).await.unwrap(),
        vec![b]
    );
}
