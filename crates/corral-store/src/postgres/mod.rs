//! The Store on PostgreSQL.

mod accounts;
mod digest;
mod issues;
mod items;
mod rows;
mod signin;
mod upkeep;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use corral_core::model::*;
use corral_core::*;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

use crate::error::{db, migrate_err};
use upkeep::Partitions;

/// The Store on a PostgreSQL database.
pub struct PgStore {
    pool: PgPool,
    partitions: Partitions,
}

fn migrator() -> Migrator {
    let mut m = sqlx::migrate!("migrations/postgres");
    // `_sqlx_migrations` is left to whatever else shares the database.
    m.dangerous_set_table_name("corral_migrations");
    // Expand/contract: an older build keeps working on a newer schema.
    m.set_ignore_missing(true);
    m
}

fn expected_versions(m: &Migrator) -> Vec<i64> {
    m.iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| m.version)
        .collect()
}

impl PgStore {
    /// Connects a pool of at most `max_connections` (no migrations run).
    pub async fn connect(url: &str, max_connections: u32) -> Result<PgStore, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect(url)
            .await
            .map_err(db)?;
        Ok(PgStore::from_pool(pool))
    }

    /// Wraps a pool the caller built.
    pub fn from_pool(pool: PgPool) -> PgStore {
        PgStore {
            pool,
            partitions: Partitions::default(),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn migrate(&self) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        // sqlx holds a session advisory lock while it migrates, so callers
        // in other processes wait and then find nothing left to do.
        match migrator().run_direct(None, &mut *conn, false).await {
            Ok(()) => Ok(()),
            Err(e) => {
                // A failed run may leave the lock held by this session: end it.
                let _ = conn.close().await;
                Err(migrate_err(e))
            }
        }
    }

    async fn schema_status(&self) -> StoreResult<SchemaStatus> {
        let expected = expected_versions(&migrator());
        let exists: bool =
            sqlx::query_scalar("SELECT to_regclass('corral_migrations') IS NOT NULL")
                .fetch_one(&self.pool)
                .await
                .map_err(db)?;
        let applied = if exists {
            sqlx::query_scalar(
                "SELECT version FROM corral_migrations WHERE success ORDER BY version",
            )
            .fetch_all(&self.pool)
            .await
            .map_err(db)?
        } else {
            Vec::new()
        };
        Ok(SchemaStatus { applied, expected })
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn create_organization(&self, slug: &str, name: &str) -> StoreResult<Organization> {
        accounts::create_organization(&self.pool, slug, name).await
    }
    async fn organization_by_slug(&self, slug: &str) -> StoreResult<Organization> {
        accounts::organization_by_slug(&self.pool, slug).await
    }
    async fn list_organizations(&self) -> StoreResult<Vec<Organization>> {
        accounts::list_organizations(&self.pool).await
    }
    async fn create_user(&self, user: NewUser) -> StoreResult<User> {
        accounts::create_user(&self.pool, user).await
    }
    async fn user_by_id(&self, id: UserId) -> StoreResult<User> {
        accounts::user_by_id(&self.pool, id).await
    }
    async fn user_by_email(&self, email: &str) -> StoreResult<User> {
        accounts::user_by_email(&self.pool, email).await
    }
    async fn set_password_hash(&self, user_id: UserId, hash: &str) -> StoreResult<()> {
        accounts::set_password_hash(&self.pool, user_id, hash).await
    }
    async fn count_users(&self) -> StoreResult<i64> {
        accounts::count_users(&self.pool).await
    }
    async fn update_user(&self, user_id: UserId, name: &str) -> StoreResult<User> {
        accounts::update_user(&self.pool, user_id, name).await
    }
    async fn set_user_active(&self, user_id: UserId, active: bool) -> StoreResult<()> {
        accounts::set_user_active(&self.pool, user_id, active).await
    }
    async fn organization_by_id(&self, id: OrgId) -> StoreResult<Organization> {
        accounts::organization_by_id(&self.pool, id).await
    }
    async fn rename_organization(&self, id: OrgId, name: &str) -> StoreResult<Organization> {
        accounts::rename_organization(&self.pool, id, name).await
    }
    async fn set_membership(&self, org_id: OrgId, user_id: UserId, role: Role) -> StoreResult<()> {
        accounts::set_membership(&self.pool, org_id, user_id, role).await
    }
    async fn memberships_of_user(&self, user_id: UserId) -> StoreResult<Vec<Membership>> {
        accounts::memberships_of_user(&self.pool, user_id).await
    }
    async fn list_members(&self, org_id: OrgId) -> StoreResult<Vec<Member>> {
        accounts::list_members(&self.pool, org_id).await
    }
    async fn remove_membership(&self, org_id: OrgId, user_id: UserId) -> StoreResult<()> {
        accounts::remove_membership(&self.pool, org_id, user_id).await
    }
    async fn create_team(&self, org_id: OrgId, slug: &str, name: &str) -> StoreResult<Team> {
        accounts::create_team(&self.pool, org_id, slug, name).await
    }
    async fn list_teams(&self, org_id: OrgId) -> StoreResult<Vec<Team>> {
        accounts::list_teams(&self.pool, org_id).await
    }
    async fn add_team_member(&self, team_id: TeamId, user_id: UserId) -> StoreResult<()> {
        accounts::add_team_member(&self.pool, team_id, user_id).await
    }
    async fn add_project_team(&self, project_id: ProjectId, team_id: TeamId) -> StoreResult<()> {
        accounts::add_project_team(&self.pool, project_id, team_id).await
    }
    async fn team_by_slug(&self, org_id: OrgId, slug: &str) -> StoreResult<Team> {
        accounts::team_by_slug(&self.pool, org_id, slug).await
    }
    async fn delete_team(&self, team_id: TeamId) -> StoreResult<()> {
        accounts::delete_team(&self.pool, team_id).await
    }
    async fn remove_team_member(&self, team_id: TeamId, user_id: UserId) -> StoreResult<()> {
        accounts::remove_team_member(&self.pool, team_id, user_id).await
    }
    async fn team_members(&self, team_id: TeamId) -> StoreResult<Vec<User>> {
        accounts::team_members(&self.pool, team_id).await
    }
    async fn teams_of_user(&self, user_id: UserId) -> StoreResult<Vec<Team>> {
        accounts::teams_of_user(&self.pool, user_id).await
    }
    async fn remove_project_team(&self, project_id: ProjectId, team_id: TeamId) -> StoreResult<()> {
        accounts::remove_project_team(&self.pool, project_id, team_id).await
    }
    async fn project_teams(&self, project_id: ProjectId) -> StoreResult<Vec<Team>> {
        accounts::project_teams(&self.pool, project_id).await
    }
    async fn project_team_map(&self, org_id: OrgId) -> StoreResult<Vec<(ProjectId, TeamId)>> {
        accounts::project_team_map(&self.pool, org_id).await
    }

    async fn create_invitation(
        &self,
        org_id: OrgId,
        email: &str,
        role: Role,
        token_sha256: &str,
        invited_by: Option<UserId>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<Invitation> {
        signin::create_invitation(
            &self.pool,
            org_id,
            email,
            role,
            token_sha256,
            invited_by,
            expires_at,
        )
        .await
    }
    async fn list_invitations(&self, org_id: OrgId) -> StoreResult<Vec<Invitation>> {
        signin::list_invitations(&self.pool, org_id).await
    }
    async fn invitation_by_hash(
        &self,
        token_sha256: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Invitation> {
        signin::invitation_by_hash(&self.pool, token_sha256, now).await
    }
    async fn delete_invitation(&self, id: i64) -> StoreResult<()> {
        signin::delete_invitation(&self.pool, id).await
    }

    async fn create_session(
        &self,
        token_sha256: &str,
        user_id: UserId,
        csrf_token: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        signin::create_session(&self.pool, token_sha256, user_id, csrf_token, expires_at).await
    }
    async fn session_by_hash(
        &self,
        token_sha256: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<(Session, User)> {
        signin::session_by_hash(&self.pool, token_sha256, now).await
    }
    async fn extend_session(
        &self,
        token_sha256: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        signin::extend_session(&self.pool, token_sha256, expires_at).await
    }
    async fn delete_session(&self, token_sha256: &str) -> StoreResult<()> {
        signin::delete_session(&self.pool, token_sha256).await
    }
    async fn delete_user_sessions(
        &self,
        user_id: UserId,
        except_sha256: Option<&str>,
    ) -> StoreResult<u64> {
        signin::delete_user_sessions(&self.pool, user_id, except_sha256).await
    }
    async fn count_login_failure(&self, key: &str, now: DateTime<Utc>) -> StoreResult<i64> {
        signin::count_login_failure(&self.pool, key, now).await
    }
    async fn take_login_attempt(
        &self,
        key: &str,
        limit: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<i64>> {
        signin::take_login_attempt(&self.pool, key, limit, now).await
    }
    async fn return_login_attempt(&self, key: &str, now: DateTime<Utc>) -> StoreResult<()> {
        signin::return_login_attempt(&self.pool, key, now).await
    }
    async fn login_failures(&self, key: &str, now: DateTime<Utc>) -> StoreResult<i64> {
        signin::login_failures(&self.pool, key, now).await
    }
    async fn clear_login_failures(&self, key: &str) -> StoreResult<()> {
        signin::clear_login_failures(&self.pool, key).await
    }
    async fn create_password_reset(
        &self,
        token_sha256: &str,
        user_id: UserId,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        signin::create_password_reset(&self.pool, token_sha256, user_id, expires_at).await
    }
    async fn take_password_reset(
        &self,
        token_sha256: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<UserId> {
        signin::take_password_reset(&self.pool, token_sha256, now).await
    }

    async fn create_project(&self, project: NewProject) -> StoreResult<Project> {
        accounts::create_project(&self.pool, project).await
    }
    async fn project_by_id(&self, id: ProjectId) -> StoreResult<Project> {
        accounts::project_by_id(&self.pool, id).await
    }
    async fn project_by_slug(&self, org_slug: &str, slug: &str) -> StoreResult<Project> {
        accounts::project_by_slug(&self.pool, org_slug, slug).await
    }
    async fn list_projects(&self, org_id: Option<OrgId>) -> StoreResult<Vec<Project>> {
        accounts::list_projects(&self.pool, org_id).await
    }
    async fn projects_for_user(&self, user_id: UserId) -> StoreResult<Vec<Project>> {
        accounts::projects_for_user(&self.pool, user_id).await
    }
    async fn set_project_retention(&self, id: ProjectId, days: Option<i32>) -> StoreResult<()> {
        accounts::set_project_retention(&self.pool, id, days).await
    }
    async fn set_project_rate_limit(&self, id: ProjectId, limit: RateLimit) -> StoreResult<()> {
        accounts::set_project_rate_limit(&self.pool, id, limit).await
    }
    async fn update_project(
        &self,
        id: ProjectId,
        name: &str,
        platform: Option<&str>,
    ) -> StoreResult<Project> {
        accounts::update_project(&self.pool, id, name, platform).await
    }
    async fn delete_project(&self, id: ProjectId) -> StoreResult<()> {
        accounts::delete_project(&self.pool, id).await
    }
    async fn create_project_key(
        &self,
        project_id: ProjectId,
        label: &str,
        rate_limit: RateLimit,
    ) -> StoreResult<ProjectKey> {
        accounts::create_project_key(&self.pool, project_id, label, rate_limit).await
    }
    async fn list_project_keys(&self, project_id: ProjectId) -> StoreResult<Vec<ProjectKey>> {
        accounts::list_project_keys(&self.pool, project_id).await
    }
    async fn set_key_active(&self, key_id: KeyId, active: bool) -> StoreResult<()> {
        accounts::set_key_active(&self.pool, key_id, active).await
    }
    async fn set_key_rate_limit(&self, key_id: KeyId, limit: RateLimit) -> StoreResult<()> {
        accounts::set_key_rate_limit(&self.pool, key_id, limit).await
    }
    async fn set_key_label(&self, key_id: KeyId, label: &str) -> StoreResult<()> {
        accounts::set_key_label(&self.pool, key_id, label).await
    }
    async fn delete_project_key(&self, key_id: KeyId) -> StoreResult<()> {
        accounts::delete_project_key(&self.pool, key_id).await
    }
    async fn key_by_id(&self, key_id: KeyId) -> StoreResult<ProjectKey> {
        accounts::key_by_id(&self.pool, key_id).await
    }
    async fn key_auth(&self, public_key: &str) -> StoreResult<KeyAuth> {
        accounts::key_auth(&self.pool, public_key).await
    }

    async fn create_api_token(
        &self,
        user_id: UserId,
        name: &str,
        scopes: &[String],
        token_sha256: &str,
    ) -> StoreResult<ApiToken> {
        accounts::create_api_token(&self.pool, user_id, name, scopes, token_sha256).await
    }
    async fn api_token_by_hash(&self, token_sha256: &str) -> StoreResult<ApiToken> {
        accounts::api_token_by_hash(&self.pool, token_sha256).await
    }
    async fn list_api_tokens(&self, user_id: UserId) -> StoreResult<Vec<ApiToken>> {
        accounts::list_api_tokens(&self.pool, user_id).await
    }
    async fn delete_api_token(&self, user_id: UserId, token_id: TokenId) -> StoreResult<()> {
        accounts::delete_api_token(&self.pool, user_id, token_id).await
    }

    async fn digest(&self, batch: &[DigestInput]) -> StoreResult<Vec<DigestOutcome>> {
        digest::digest(self, batch).await
    }

    async fn list_issues(&self, query: &IssueQuery) -> StoreResult<Vec<Issue>> {
        issues::list_issues(&self.pool, query).await
    }
    async fn count_issues(&self, query: &IssueQuery) -> StoreResult<i64> {
        issues::count_issues(&self.pool, query).await
    }
    async fn count_issues_by_status(&self, query: &IssueQuery) -> StoreResult<StatusCounts> {
        issues::count_issues_by_status(&self.pool, query).await
    }
    async fn issue_by_id(&self, id: IssueId) -> StoreResult<Issue> {
        issues::issue_by_id(&self.pool, id).await
    }
    async fn issue_by_short_id(&self, project_id: ProjectId, short_id: i64) -> StoreResult<Issue> {
        issues::issue_by_short_id(&self.pool, project_id, short_id).await
    }
    async fn set_issue_status(&self, id: IssueId, change: StatusChange) -> StoreResult<Issue> {
        issues::set_issue_status(&self.pool, id, change).await
    }
    async fn delete_issue(&self, id: IssueId) -> StoreResult<()> {
        issues::delete_issue(&self.pool, id).await
    }
    async fn set_issues_status(&self, ids: &[IssueId], change: StatusChange) -> StoreResult<u64> {
        issues::set_issues_status(&self.pool, ids, change).await
    }
    async fn delete_issues(&self, ids: &[IssueId]) -> StoreResult<u64> {
        issues::delete_issues(&self.pool, ids).await
    }
    async fn assign_issue(&self, id: IssueId, assignee: Option<Assignee>) -> StoreResult<Issue> {
        issues::assign_issue(&self.pool, id, assignee).await
    }
    async fn add_comment(
        &self,
        issue_id: IssueId,
        user_id: UserId,
        text: &str,
    ) -> StoreResult<Comment> {
        issues::add_comment(&self.pool, issue_id, user_id, text).await
    }
    async fn list_comments(&self, issue_id: IssueId) -> StoreResult<Vec<Comment>> {
        issues::list_comments(&self.pool, issue_id).await
    }
    async fn list_issue_events(
        &self,
        issue_id: IssueId,
        cursor: Option<EventCursor>,
        limit: u32,
    ) -> StoreResult<Vec<StoredEvent>> {
        issues::list_issue_events(&self.pool, issue_id, cursor, limit).await
    }
    async fn latest_event(&self, issue_id: IssueId) -> StoreResult<StoredEvent> {
        issues::latest_event(&self.pool, issue_id).await
    }
    async fn event_by_id(&self, project_id: ProjectId, event_id: Uuid) -> StoreResult<StoredEvent> {
        issues::event_by_id(&self.pool, project_id, event_id).await
    }
    async fn issue_tag_values(&self, issue_id: IssueId) -> StoreResult<Vec<TagValueCount>> {
        issues::issue_tag_values(&self.pool, issue_id).await
    }
    async fn issue_tag_keys(&self, issue_id: IssueId, top: u32) -> StoreResult<Vec<TagKeyCounts>> {
        issues::issue_tag_keys(&self.pool, issue_id, top).await
    }
    async fn issue_tag_key_values(
        &self,
        issue_id: IssueId,
        key: &str,
        offset: u64,
        limit: u32,
    ) -> StoreResult<Vec<TagValueCount>> {
        issues::issue_tag_key_values(&self.pool, issue_id, key, offset, limit).await
    }
    async fn issue_hourly_counts(
        &self,
        issue_id: IssueId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<CountBucket>> {
        issues::issue_hourly_counts(&self.pool, issue_id, from, to).await
    }
    async fn issues_hourly_counts(
        &self,
        ids: &[IssueId],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<(IssueId, CountBucket)>> {
        issues::issues_hourly_counts(&self.pool, ids, from, to).await
    }
    async fn adjacent_events(
        &self,
        issue_id: IssueId,
        cursor: EventCursor,
    ) -> StoreResult<(Option<Uuid>, Option<Uuid>)> {
        issues::adjacent_events(&self.pool, issue_id, cursor).await
    }

    async fn add_attachment(&self, attachment: &AttachmentRecord) -> StoreResult<()> {
        items::add_attachment(&self.pool, attachment).await
    }
    async fn list_attachments(
        &self,
        project_id: ProjectId,
        event_id: Uuid,
    ) -> StoreResult<Vec<AttachmentRecord>> {
        items::list_attachments(&self.pool, project_id, event_id).await
    }
    async fn add_session_counts(&self, counts: &[SessionCounts]) -> StoreResult<()> {
        items::add_session_counts(&self.pool, counts).await
    }
    async fn session_totals(&self, project_id: ProjectId) -> StoreResult<Vec<SessionCounts>> {
        items::session_totals(&self.pool, project_id).await
    }
    async fn add_client_discards(&self, discards: &[ClientDiscard]) -> StoreResult<()> {
        items::add_client_discards(&self.pool, discards).await
    }
    async fn client_discard_totals(
        &self,
        project_id: ProjectId,
    ) -> StoreResult<Vec<ClientDiscard>> {
        items::client_discard_totals(&self.pool, project_id).await
    }
    async fn add_check_in(&self, check_in: &CheckIn) -> StoreResult<()> {
        items::add_check_in(&self.pool, check_in).await
    }
    async fn list_check_ins(&self, project_id: ProjectId, limit: u32) -> StoreResult<Vec<CheckIn>> {
        items::list_check_ins(&self.pool, project_id, limit).await
    }
    async fn add_user_report(&self, report: &UserReport) -> StoreResult<()> {
        items::add_user_report(&self.pool, report).await
    }
    async fn list_user_reports(&self, project_id: ProjectId) -> StoreResult<Vec<UserReport>> {
        items::list_user_reports(&self.pool, project_id).await
    }

    async fn add_dead_letter(
        &self,
        queue: &str,
        payload: &str,
        error: &str,
        attempts: i32,
    ) -> StoreResult<DeadLetter> {
        items::add_dead_letter(&self.pool, queue, payload, error, attempts).await
    }
    async fn list_dead_letters(&self, limit: u32) -> StoreResult<Vec<DeadLetter>> {
        items::list_dead_letters(&self.pool, limit).await
    }
    async fn take_dead_letter(&self, id: i64) -> StoreResult<DeadLetter> {
        items::take_dead_letter(&self.pool, id).await
    }

    async fn purge(&self, now: DateTime<Utc>, default_days: i32) -> StoreResult<PurgeReport> {
        upkeep::purge(&self.pool, &self.partitions, now, default_days).await
    }
    async fn ensure_partitions(&self, now: DateTime<Utc>, days_ahead: u32) -> StoreResult<u32> {
        upkeep::ensure_partitions(&self.pool, &self.partitions, now, days_ahead).await
    }
    async fn rollup_hourly(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        upkeep::rollup_hourly(&self.pool, before).await
    }
    async fn issue_daily_counts(
        &self,
        issue_id: IssueId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<CountBucket>> {
        issues::issue_daily_counts(&self.pool, issue_id, from, to).await
    }
}
