//! The Store written once: [`SqlStore`] over a [`Backend`], which brings its
//! pools and the work only it knows how to do (migrations, the digest,
//! partitions, upkeep). Every other method runs the shared statements of
//! [`Sql`] on the backend's writer or reader.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use corral_core::alerts::*;
use corral_core::model::*;
use corral_core::*;
use sqlx::migrate::Migrator;
use sqlx::{Database, Executor, Pool};
use uuid::Uuid;

use crate::dialect::{Columns, Dialect, Sql};
use crate::error::db;

/// The Store on a SQL database: [`crate::PgStore`] or [`crate::SqliteStore`].
pub struct SqlStore<B>(pub(crate) B);

/// A database the Store runs on: its pools, and what it does its own way.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    type Db: Dialect;
    /// What [`Store::backend`] answers.
    const NAME: &'static str;

    /// Where writes go.
    fn writer(&self) -> &Pool<Self::Db>;
    /// Where reads go. SQLite's readers read while its one writer writes.
    fn reader(&self) -> &Pool<Self::Db>;
    /// The migrations this build ships.
    fn migrations() -> Migrator;

    /// Applies the migrations, one process at a time.
    async fn migrate(&self) -> StoreResult<()>;
    async fn digest(&self, batch: &[DigestInput]) -> StoreResult<Vec<DigestOutcome>>;
    async fn purge(&self, now: DateTime<Utc>, default_days: i32) -> StoreResult<PurgeReport>;
    async fn ensure_partitions(&self, now: DateTime<Utc>, days_ahead: u32) -> StoreResult<u32>;
    async fn rollup_hourly(&self, before: DateTime<Utc>) -> StoreResult<u64>;
}

/// The migrations of `B`, recorded in `corral_migrations`.
pub(crate) fn migrator<B: Backend>() -> Migrator {
    let mut m = B::migrations();
    // `_sqlx_migrations` is left to whatever else shares the database
    // (apalis-sqlite keeps its own there, in the embedded file).
    m.dangerous_set_table_name("corral_migrations");
    // Expand/contract: an older build keeps working on a newer schema.
    m.set_ignore_missing(true);
    m
}

impl<B: Backend> SqlStore<B> {
    fn read(&self) -> Sql<'_, B::Db> {
        Sql(self.0.reader())
    }

    fn write(&self) -> Sql<'_, B::Db> {
        Sql(self.0.writer())
    }
}

/// `Store` for [`SqlStore`]: besides the methods written here, each line of
/// the table runs the shared statement of the same name ([`Sql`]) on the
/// backend's reader or writer.
macro_rules! store {
    ($($pool:ident $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        #[async_trait]
        impl<B: Backend> Store for SqlStore<B>
        where
            for<'c> &'c mut <B::Db as Database>::Connection: Executor<'c, Database = B::Db>,
        {
            fn backend(&self) -> &'static str {
                B::NAME
            }

            async fn migrate(&self) -> StoreResult<()> {
                self.0.migrate().await
            }

            async fn schema_status(&self) -> StoreResult<SchemaStatus> {
                let expected = migrator::<B>()
                    .iter()
                    .filter(|m| !m.migration_type.is_down_migration())
                    .map(|m| m.version)
                    .collect();
                let reader = self.0.reader();
                let exists: bool = sqlx::query(<B::Db as Dialect>::HAS_MIGRATIONS)
                    .fetch_one(reader)
                    .await
                    .map_err(db)?
                    .col("present")?;
                let applied = if exists {
                    sqlx::query(
                        "SELECT version FROM corral_migrations WHERE success ORDER BY version",
                    )
                    .fetch_all(reader)
                    .await
                    .map_err(db)?
                    .iter()
                    .map(|r| r.col("version"))
                    .collect::<StoreResult<_>>()?
                } else {
                    Vec::new()
                };
                Ok(SchemaStatus { applied, expected })
            }

            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1").execute(self.0.reader()).await.map_err(db)?;
                Ok(())
            }

            async fn digest(&self, batch: &[DigestInput]) -> StoreResult<Vec<DigestOutcome>> {
                self.0.digest(batch).await
            }

            async fn purge(&self, now: DateTime<Utc>, days: i32) -> StoreResult<PurgeReport> {
                self.0.purge(now, days).await
            }

            async fn ensure_partitions(&self, now: DateTime<Utc>, ahead: u32) -> StoreResult<u32> {
                self.0.ensure_partitions(now, ahead).await
            }

            async fn rollup_hourly(&self, before: DateTime<Utc>) -> StoreResult<u64> {
                self.0.rollup_hourly(before).await
            }

            $(
                async fn $name(&self, $($arg: $ty),*) -> StoreResult<$ret> {
                    self.$pool().$name($($arg),*).await
                }
            )*
        }
    };
}

store! {
    write create_organization(slug: &str, name: &str) -> Organization;
    read organization_by_slug(slug: &str) -> Organization;
    read list_organizations() -> Vec<Organization>;
    write create_user(user: NewUser) -> User;
    read user_by_id(id: UserId) -> User;
    read user_by_email(email: &str) -> User;
    write set_password_hash(user_id: UserId, hash: &str) -> ();
    read count_users() -> i64;
    write update_user(user_id: UserId, name: &str) -> User;
    write set_user_active(user_id: UserId, active: bool) -> ();
    read organization_by_id(id: OrgId) -> Organization;
    write rename_organization(id: OrgId, name: &str) -> Organization;
    write set_membership(org_id: OrgId, user_id: UserId, role: Role) -> ();
    read memberships_of_user(user_id: UserId) -> Vec<Membership>;
    read list_members(org_id: OrgId) -> Vec<Member>;
    write remove_membership(org_id: OrgId, user_id: UserId) -> ();
    write create_team(org_id: OrgId, slug: &str, name: &str) -> Team;
    read list_teams(org_id: OrgId) -> Vec<Team>;
    write add_team_member(team_id: TeamId, user_id: UserId) -> ();
    write add_project_team(project_id: ProjectId, team_id: TeamId) -> ();
    read team_by_slug(org_id: OrgId, slug: &str) -> Team;
    write delete_team(team_id: TeamId) -> ();
    write remove_team_member(team_id: TeamId, user_id: UserId) -> ();
    read team_members(team_id: TeamId) -> Vec<User>;
    read teams_of_user(user_id: UserId) -> Vec<Team>;
    write remove_project_team(project_id: ProjectId, team_id: TeamId) -> ();
    read project_teams(project_id: ProjectId) -> Vec<Team>;
    read project_team_map(org_id: OrgId) -> Vec<(ProjectId, TeamId)>;
    write create_invitation(org_id: OrgId, email: &str, role: Role, token_sha256: &str,
        invited_by: Option<UserId>, expires_at: DateTime<Utc>) -> Invitation;
    read list_invitations(org_id: OrgId) -> Vec<Invitation>;
    read invitation_by_hash(token_sha256: &str, now: DateTime<Utc>) -> Invitation;
    write delete_invitation(id: i64) -> ();
    write create_session(token_sha256: &str, user_id: UserId, csrf_token: &str,
        expires_at: DateTime<Utc>) -> ();
    read session_by_hash(token_sha256: &str, now: DateTime<Utc>) -> (Session, User);
    write extend_session(token_sha256: &str, expires_at: DateTime<Utc>) -> ();
    write delete_session(token_sha256: &str) -> ();
    write delete_user_sessions(user_id: UserId, except_sha256: Option<&str>) -> u64;
    write count_login_failure(key: &str, now: DateTime<Utc>) -> i64;
    write take_login_attempt(key: &str, limit: i64, now: DateTime<Utc>) -> Option<i64>;
    write return_login_attempt(key: &str, now: DateTime<Utc>) -> ();
    read login_failures(key: &str, now: DateTime<Utc>) -> i64;
    write clear_login_failures(key: &str) -> ();
    write create_password_reset(token_sha256: &str, user_id: UserId,
        expires_at: DateTime<Utc>) -> ();
    write take_password_reset(token_sha256: &str, now: DateTime<Utc>) -> UserId;
    write create_project(project: NewProject) -> Project;
    read project_by_id(id: ProjectId) -> Project;
    read project_by_slug(org_slug: &str, slug: &str) -> Project;
    read list_projects(org_id: Option<OrgId>) -> Vec<Project>;
    read projects_for_user(user_id: UserId) -> Vec<Project>;
    write set_project_retention(id: ProjectId, days: Option<i32>) -> ();
    write set_project_rate_limit(id: ProjectId, limit: RateLimit) -> ();
    write update_project(id: ProjectId, name: &str, platform: Option<&str>) -> Project;
    write delete_project(id: ProjectId) -> ();
    write create_project_key(project_id: ProjectId, label: &str,
        rate_limit: RateLimit) -> ProjectKey;
    read list_project_keys(project_id: ProjectId) -> Vec<ProjectKey>;
    write set_key_active(key_id: KeyId, active: bool) -> ();
    write set_key_rate_limit(key_id: KeyId, limit: RateLimit) -> ();
    write set_key_label(key_id: KeyId, label: &str) -> ();
    write delete_project_key(key_id: KeyId) -> ();
    read key_by_id(key_id: KeyId) -> ProjectKey;
    read key_auth(public_key: &str) -> KeyAuth;
    write create_api_token(user_id: UserId, name: &str, scopes: &[String],
        token_sha256: &str) -> ApiToken;
    write api_token_by_hash(token_sha256: &str) -> ApiToken;
    read list_api_tokens(user_id: UserId) -> Vec<ApiToken>;
    write delete_api_token(user_id: UserId, token_id: TokenId) -> ();
    read list_issues(query: &IssueQuery) -> Vec<Issue>;
    read count_issues(query: &IssueQuery) -> i64;
    read count_issues_by_status(query: &IssueQuery) -> StatusCounts;
    read issue_by_id(id: IssueId) -> Issue;
    read issue_by_short_id(project_id: ProjectId, short_id: i64) -> Issue;
    write set_issue_status(id: IssueId, change: StatusChange) -> Issue;
    write delete_issue(id: IssueId) -> ();
    write set_issues_status(ids: &[IssueId], change: StatusChange) -> u64;
    write delete_issues(ids: &[IssueId]) -> u64;
    write assign_issue(id: IssueId, assignee: Option<Assignee>) -> Issue;
    write add_comment(issue_id: IssueId, user_id: UserId, text: &str) -> Comment;
    read list_comments(issue_id: IssueId) -> Vec<Comment>;
    read list_issue_events(issue_id: IssueId, cursor: Option<EventCursor>,
        limit: u32) -> Vec<StoredEvent>;
    read latest_event(issue_id: IssueId) -> StoredEvent;
    read event_by_id(project_id: ProjectId, event_id: Uuid) -> StoredEvent;
    read issue_tag_values(issue_id: IssueId) -> Vec<TagValueCount>;
    read issue_tag_keys(issue_id: IssueId, top: u32) -> Vec<TagKeyCounts>;
    read issue_tag_key_values(issue_id: IssueId, key: &str, offset: u64,
        limit: u32) -> Vec<TagValueCount>;
    read issue_hourly_counts(issue_id: IssueId, from: DateTime<Utc>,
        to: DateTime<Utc>) -> Vec<CountBucket>;
    read issues_hourly_counts(ids: &[IssueId], from: DateTime<Utc>,
        to: DateTime<Utc>) -> Vec<(IssueId, CountBucket)>;
    read adjacent_events(issue_id: IssueId, cursor: EventCursor) -> (Option<Uuid>, Option<Uuid>);
    write add_attachment(attachment: &AttachmentRecord) -> ();
    read list_attachments(project_id: ProjectId, event_id: Uuid) -> Vec<AttachmentRecord>;
    write add_session_counts(counts: &[SessionCounts]) -> ();
    read session_totals(project_id: ProjectId) -> Vec<SessionCounts>;
    write add_client_discards(discards: &[ClientDiscard]) -> ();
    read client_discard_totals(project_id: ProjectId) -> Vec<ClientDiscard>;
    write add_check_in(check_in: &CheckIn) -> ();
    read list_check_ins(project_id: ProjectId, limit: u32) -> Vec<CheckIn>;
    write add_user_report(report: &UserReport) -> ();
    read list_user_reports(project_id: ProjectId) -> Vec<UserReport>;
    write add_dead_letter(queue: &str, payload: &str, error: &str, attempts: i32) -> DeadLetter;
    read list_dead_letters(limit: u32) -> Vec<DeadLetter>;
    write take_dead_letter(id: i64) -> DeadLetter;
    read issue_daily_counts(issue_id: IssueId, from: DateTime<Utc>,
        to: DateTime<Utc>) -> Vec<CountBucket>;
    write create_alert_channel(org_id: OrgId, name: &str, config: &ChannelConfig) -> Channel;
    read list_alert_channels(org_id: OrgId) -> Vec<Channel>;
    read alert_channel_by_id(id: ChannelId) -> Channel;
    write update_alert_channel(id: ChannelId, name: &str, config: &ChannelConfig) -> Channel;
    write delete_alert_channel(id: ChannelId) -> ();
    write create_alert_rule(rule: &NewAlertRule) -> AlertRule;
    read list_alert_rules(project_id: ProjectId) -> Vec<AlertRule>;
    read active_alert_rules() -> Vec<AlertRule>;
    read alert_rule_by_id(id: RuleId) -> AlertRule;
    write update_alert_rule(id: RuleId, rule: &NewAlertRule) -> AlertRule;
    write delete_alert_rule(id: RuleId) -> ();
    write set_project_alerts_muted(project_id: ProjectId, muted: bool) -> ();
    read project_alerts_muted(project_id: ProjectId) -> bool;
    write claim_alert_triggers(now: DateTime<Utc>, lease: chrono::Duration,
        limit: u32) -> Vec<AlertTrigger>;
    write complete_alert_trigger(trigger_id: TriggerId, fires: &[AlertFire],
        direct: &[NewDelivery], now: DateTime<Utc>) -> Option<Vec<bool>>;
    write fire_alert(fire: &AlertFire, now: DateTime<Utc>) -> bool;
    write queue_deliveries(deliveries: &[NewDelivery], now: DateTime<Utc>) -> Vec<Delivery>;
    write claim_deliveries(now: DateTime<Utc>, lease: chrono::Duration,
        limit: u32) -> Vec<Delivery>;
    write finish_delivery(id: DeliveryId, outcome: &DeliveryOutcome,
        now: DateTime<Utc>) -> Delivery;
    read delivery_by_id(id: DeliveryId) -> Delivery;
    read list_deliveries(filter: &DeliveryFilter) -> Vec<Delivery>;
    read delivered_to_channel(issue_id: IssueId, channel_id: ChannelId) -> bool;
    read issue_counts_since(project_id: ProjectId, since: DateTime<Utc>, cap: i64,
        max_issues: u32, rule: RuleId, fired_after: DateTime<Utc>) -> Vec<(IssueId, i64)>;
    read issue_users_since(issue_id: IssueId, since: DateTime<Utc>, cap: i64) -> i64;
    read alert_fired_after(rule: RuleId, issue_id: IssueId, after: DateTime<Utc>) -> bool;
    read project_events_since(project_id: ProjectId, since: DateTime<Utc>, cap: i64) -> i64;
    write sweep_window_counts(before: DateTime<Utc>) -> u64;
    write add_activity(activity: &NewActivity, now: DateTime<Utc>) -> Activity;
    read list_activities(issue_id: IssueId) -> Vec<Activity>;
    read notification_settings(user_id: UserId) -> NotificationSettings;
    write set_notification_settings(user_id: UserId, settings: &NotificationSettings) -> ();
    write unsubscribe_token(user_id: UserId) -> String;
    read user_by_unsubscribe_token(token: &str) -> UserId;
    write set_issue_subscription(issue_id: IssueId, user_id: UserId,
        subscribed: Option<bool>) -> ();
    read issue_subscriptions(issue_id: IssueId) -> Vec<(UserId, bool)>;
}
