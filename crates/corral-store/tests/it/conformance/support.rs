//! Fixtures shared by the cases.

use chrono::{DateTime, Duration, DurationRound, Utc};
use corral_core::model::*;
use corral_core::{DigestInput, DigestOutcome, GroupHash, NewProject, SharedStore};
use corral_protocol::Level;
use uuid::Uuid;

pub struct Fixture {
    pub store: SharedStore,
    pub org: Organization,
    pub project: Project,
}

/// An organization `acme` with a project `backend`.
pub async fn fixture(store: &SharedStore) -> Fixture {
    let org = store.create_organization("acme", "Acme").await.unwrap();
    let project = store
        .create_project(NewProject {
            org_id: org.id,
            slug: "backend".into(),
            name: "Backend".into(),
            platform: Some("python".into()),
        })
        .await
        .unwrap();
    Fixture {
        store: store.clone(),
        org,
        project,
    }
}

/// A grouping hash named for readability: 32 hex digits derived from `name`.
pub fn hash(name: &str) -> GroupHash {
    let mut hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
    hex.truncate(32);
    GroupHash {
        hash: format!("{hex:0>32}"),
        config: "corral:2026-11".into(),
    }
}

/// A fixed "now" on the hour, so hour buckets are predictable.
pub fn now() -> DateTime<Utc> {
    Utc::now().duration_trunc(Duration::hours(1)).unwrap() - Duration::hours(1)
        + Duration::minutes(30)
}

/// An error event of `project` grouped by `hash_name`, happening and received at `at`.
pub fn event(project: ProjectId, hash_name: &str, at: DateTime<Utc>) -> DigestInput {
    let event_id = Uuid::new_v4();
    DigestInput {
        project_id: project,
        event_id,
        event_type: EventType::Error,
        level: Level::Error,
        title: format!("ValueError: {hash_name}"),
        culprit: "app.views in handler".into(),
        metadata: serde_json::json!({"type": "ValueError", "value": hash_name}),
        platform: "python".into(),
        release: None,
        environment: None,
        timestamp: at,
        received_at: at,
        tags: vec![("browser".into(), "Firefox".into())],
        hashes: vec![hash(hash_name)],
        secondary_hashes: vec![],
        data: serde_json::json!({"event_id": event_id.simple().to_string(), "message": hash_name})
            .to_string(),
    }
}

pub async fn digest_one(store: &SharedStore, e: DigestInput) -> DigestOutcome {
    let mut out = store.digest(&[e]).await.unwrap();
    assert_eq!(out.len(), 1);
    out.remove(0)
}

/// A second project in the same organization.
pub async fn other_project(f: &Fixture, slug: &str) -> Project {
    f.store
        .create_project(NewProject {
            org_id: f.org.id,
            slug: slug.into(),
            name: slug.into(),
            platform: None,
        })
        .await
        .unwrap()
}

/// A user who is not a superuser, named after the part of `email` before the `@`.
pub async fn new_user(store: &SharedStore, email: &str) -> User {
    store
        .create_user(corral_core::NewUser {
            email: email.into(),
            name: email.split('@').next().unwrap_or_default().into(),
            password_hash: None,
            is_superuser: false,
        })
        .await
        .unwrap()
}

/// A SHA-256 in hex made of one repeated digit.
pub fn sha(digit: char) -> String {
    digit.to_string().repeat(64)
}
