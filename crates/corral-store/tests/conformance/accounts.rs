use corral_core::model::*;
use corral_core::{NewProject, NewUser, SharedStore, StoreError};

use super::support::fixture;

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
