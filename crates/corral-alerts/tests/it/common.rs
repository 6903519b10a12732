//! Real components for the tests: HTTP sinks on loopback and aiosmtpd (from
//! corral-testkit), a SQLite store with an organization and a project.

pub use corral_testkit::sink::{Answer, Sink};
pub use corral_testkit::smtp::SmtpServer;

use chrono::{DateTime, TimeZone, Utc};
use corral_core::alerts::{
    AlertIssue, AlertKind, AlertMessage, Channel, ChannelConfig, DELIVERY_LEASE, Delivery,
    DeliveryTarget, NewDelivery,
};
use corral_core::config::Config;
use corral_core::model::{Organization, Project, User};
use corral_core::{DigestInput, GroupHash, NewProject, NewUser, SharedStore};
use corral_protocol::Level;
use uuid::Uuid;

/// A store with organization `acme` and project `backend`, and a
/// configuration whose outbound requests may reach loopback.
pub struct Env {
    pub store: SharedStore,
    pub org: Organization,
    pub project: Project,
    pub config: Config,
    _db: corral_testkit::TestSqlite,
}

impl Env {
    pub async fn new() -> Env {
        let db = corral_testkit::TestSqlite::new();
        let store = corral_store::open_store(&db.url(), 4).await.unwrap();
        store.migrate().await.unwrap();
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
        let mut config = Config::default();
        config.alerts.allow_private_addresses = true;
        config.alerts.delivery_timeout_secs = 5;
        config.alerts.delivery_attempts = 3;
        Env {
            store,
            org,
            project,
            config,
            _db: db,
        }
    }

    pub async fn channel(&self, name: &str, config: ChannelConfig) -> Channel {
        self.store
            .create_alert_channel(self.org.id, name, &config)
            .await
            .unwrap()
    }

    pub async fn user(&self, email: &str) -> User {
        self.store
            .create_user(NewUser {
                email: email.into(),
                name: email.split('@').next().unwrap().into(),
                password_hash: None,
                is_superuser: false,
            })
            .await
            .unwrap()
    }

    /// A real issue of the project (one event through the digest).
    pub async fn issue(&self, title: &str) -> i64 {
        let at = Utc::now();
        let event_id = Uuid::new_v4();
        let input = DigestInput {
            project_id: self.project.id,
            event_id,
            event_type: corral_core::model::EventType::Error,
            level: Level::Error,
            title: title.into(),
            culprit: "app.views in checkout".into(),
            metadata: serde_json::json!({"type": "ZeroDivisionError"}),
            platform: "python".into(),
            release: None,
            environment: Some("production".into()),
            timestamp: at,
            received_at: at,
            tags: vec![],
            hashes: vec![GroupHash {
                hash: format!("{:032x}", Uuid::new_v4().as_u128()),
                config: "corral:2026-11".into(),
            }],
            secondary_hashes: vec![],
            data: serde_json::json!({"event_id": event_id.simple().to_string()}).to_string(),
        };
        let out = self.store.digest(&[input]).await.unwrap();
        out[0].issue_id.expect("the event made an issue")
    }

    /// A message about issue `issue_id` as the runner would write it.
    pub fn message(&self, kind: AlertKind, issue_id: i64) -> AlertMessage {
        let t = Utc.with_ymd_and_hms(2026, 12, 7, 22, 18, 0).unwrap();
        AlertMessage {
            kind,
            rule_id: None,
            rule_name: Some("Page on-call".into()),
            org_slug: self.org.slug.clone(),
            project_id: self.project.id,
            project_slug: self.project.slug.clone(),
            project_name: self.project.name.clone(),
            environment: Some("production".into()),
            release: Some("1.4.2".into()),
            issue: Some(AlertIssue {
                id: issue_id,
                short_id: "BACKEND-1".into(),
                title: "ZeroDivisionError: division by zero".into(),
                culprit: "app.views in checkout".into(),
                level: Level::Error,
                status: "unresolved".into(),
                times_seen: 42,
                first_seen: t - chrono::Duration::hours(3),
                last_seen: t,
                top_frame: Some("app/views.py in checkout at line 42".into()),
                url: format!("https://corral.example/organizations/acme/issues/{issue_id}/"),
            }),
            window: None,
            event_id: Some(Uuid::new_v4()),
            project_url: format!(
                "https://corral.example/organizations/acme/issues/?project={}",
                self.project.id
            ),
            actor: None,
            created_at: t,
        }
    }

    /// Queues a delivery and claims it at `now`, as the runner does (the
    /// claim counts the attempt).
    pub async fn claim(
        &self,
        target: DeliveryTarget,
        message: AlertMessage,
        now: DateTime<Utc>,
    ) -> Delivery {
        let queued = self
            .store
            .queue_deliveries(
                &[NewDelivery {
                    org_id: self.org.id,
                    target,
                    message,
                }],
                now,
            )
            .await
            .unwrap();
        self.claim_again(queued[0].id, now).await
    }

    /// Claims delivery `id` (due at `now`) again.
    pub async fn claim_again(&self, id: i64, now: DateTime<Utc>) -> Delivery {
        let claimed = self
            .store
            .claim_deliveries(now, DELIVERY_LEASE, 100)
            .await
            .unwrap();
        claimed
            .into_iter()
            .find(|d| d.id == id)
            .unwrap_or_else(|| panic!("delivery {id} was not due at {now}"))
    }
}
