//! The Store written once: [`SqlStore`] over a [`Backend`], which brings its
//! pools and the work only it knows how to do (migrations, the digest,
//! partitions, upkeep). Every other method runs the shared statements of
//! [`Sql`] on the backend's writer or reader.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
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
            sqlx::query("SELECT version FROM corral_migrations WHERE success ORDER BY version")
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
        sqlx::query("SELECT 1")
            .execute(self.0.reader())
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn digest(&self, batch: &[DigestInput]) -> StoreResult<Vec<DigestOutcome>> {
        self.0.digest(batch).await
    }
    async fn purge(&self, now: DateTime<Utc>, default_days: i32) -> StoreResult<PurgeReport> {
        self.0.purge(now, default_days).await
    }
    async fn ensure_partitions(&self, now: DateTime<Utc>, days_ahead: u32) -> StoreResult<u32> {
        self.0.ensure_partitions(now, days_ahead).await
    }
    async fn rollup_hourly(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        self.0.rollup_hourly(before).await
    }

    async fn create_organization(&self, slug: &str, name: &str) -> StoreResult<Organization> {
        self.write().create_organization(slug, name).await
    }
    async fn organization_by_slug(&self, slug: &str) -> StoreResult<Organization> {
        self.read().organization_by_slug(slug).await
    }
    async fn list_organizations(&self) -> StoreResult<Vec<Organization>> {
        self.read().list_organizations().await
    }
    async fn create_user(&self, user: NewUser) -> StoreResult<User> {
        self.write().create_user(user).await
    }
    async fn user_by_id(&self, id: UserId) -> StoreResult<User> {
        self.read().user_by_id(id).await
    }
    async fn user_by_email(&self, email: &str) -> StoreResult<User> {
        self.read().user_by_email(email).await
    }
    async fn set_password_hash(&self, user_id: UserId, hash: &str) -> StoreResult<()> {
        self.write().set_password_hash(user_id, hash).await
    }
    async fn count_users(&self) -> StoreResult<i64> {
        self.read().count_users().await
    }
    async fn update_user(&self, user_id: UserId, name: &str) -> StoreResult<User> {
        self.write().update_user(user_id, name).await
    }
    async fn set_user_active(&self, user_id: UserId, active: bool) -> StoreResult<()> {
        self.write().set_user_active(user_id, active).await
    }
    async fn organization_by_id(&self, id: OrgId) -> StoreResult<Organization> {
        self.read().organization_by_id(id).await
    }
    async fn rename_organization(&self, id: OrgId, name: &str) -> StoreResult<Organization> {
        self.write().rename_organization(id, name).await
    }
    async fn set_membership(&self, org_id: OrgId, user_id: UserId, role: Role) -> StoreResult<()> {
        self.write().set_membership(org_id, user_id, role).await
    }
    async fn memberships_of_user(&self, user_id: UserId) -> StoreResult<Vec<Membership>> {
        self.read().memberships_of_user(user_id).await
    }
    async fn list_members(&self, org_id: OrgId) -> StoreResult<Vec<Member>> {
        self.read().list_members(org_id).await
    }
    async fn remove_membership(&self, org_id: OrgId, user_id: UserId) -> StoreResult<()> {
        self.write().remove_membership(org_id, user_id).await
    }
    async fn create_team(&self, org_id: OrgId, slug: &str, name: &str) -> StoreResult<Team> {
        self.write().create_team(org_id, slug, name).await
    }
    async fn list_teams(&self, org_id: OrgId) -> StoreResult<Vec<Team>> {
        self.read().list_teams(org_id).await
    }
    async fn add_team_member(&self, team_id: TeamId, user_id: UserId) -> StoreResult<()> {
        self.write().add_team_member(team_id, user_id).await
    }
    async fn add_project_team(&self, project_id: ProjectId, team_id: TeamId) -> StoreResult<()> {
        self.write().add_project_team(project_id, team_id).await
    }
    async fn team_by_slug(&self, org_id: OrgId, slug: &str) -> StoreResult<Team> {
        self.read().team_by_slug(org_id, slug).await
    }
    async fn delete_team(&self, team_id: TeamId) -> StoreResult<()> {
        self.write().delete_team(team_id).await
    }
    async fn remove_team_member(&self, team_id: TeamId, user_id: UserId) -> StoreResult<()> {
        self.write().remove_team_member(team_id, user_id).await
    }
    async fn team_members(&self, team_id: TeamId) -> StoreResult<Vec<User>> {
        self.read().team_members(team_id).await
    }
    async fn teams_of_user(&self, user_id: UserId) -> StoreResult<Vec<Team>> {
        self.read().teams_of_user(user_id).await
    }
    async fn remove_project_team(&self, project_id: ProjectId, team_id: TeamId) -> StoreResult<()> {
        self.write().remove_project_team(project_id, team_id).await
    }
    async fn project_teams(&self, project_id: ProjectId) -> StoreResult<Vec<Team>> {
        self.read().project_teams(project_id).await
    }
    async fn project_team_map(&self, org_id: OrgId) -> StoreResult<Vec<(ProjectId, TeamId)>> {
        self.read().project_team_map(org_id).await
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
        self.write()
            .create_invitation(org_id, email, role, token_sha256, invited_by, expires_at)
            .await
    }
    async fn list_invitations(&self, org_id: OrgId) -> StoreResult<Vec<Invitation>> {
        self.read().list_invitations(org_id).await
    }
    async fn invitation_by_hash(
        &self,
        token_sha256: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Invitation> {
        self.read().invitation_by_hash(token_sha256, now).await
    }
    async fn delete_invitation(&self, id: i64) -> StoreResult<()> {
        self.write().delete_invitation(id).await
    }

    async fn create_session(
        &self,
        token_sha256: &str,
        user_id: UserId,
        csrf_token: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write()
            .create_session(token_sha256, user_id, csrf_token, expires_at)
            .await
    }
    async fn session_by_hash(
        &self,
        token_sha256: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<(Session, User)> {
        self.read().session_by_hash(token_sha256, now).await
    }
    async fn extend_session(
        &self,
        token_sha256: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write().extend_session(token_sha256, expires_at).await
    }
    async fn delete_session(&self, token_sha256: &str) -> StoreResult<()> {
        self.write().delete_session(token_sha256).await
    }
    async fn delete_user_sessions(
        &self,
        user_id: UserId,
        except_sha256: Option<&str>,
    ) -> StoreResult<u64> {
        self.write()
            .delete_user_sessions(user_id, except_sha256)
            .await
    }
    async fn count_login_failure(&self, key: &str, now: DateTime<Utc>) -> StoreResult<i64> {
        self.write().count_login_failure(key, now).await
    }
    async fn take_login_attempt(
        &self,
        key: &str,
        limit: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<i64>> {
        self.write().take_login_attempt(key, limit, now).await
    }
    async fn return_login_attempt(&self, key: &str, now: DateTime<Utc>) -> StoreResult<()> {
        self.write().return_login_attempt(key, now).await
    }
    async fn login_failures(&self, key: &str, now: DateTime<Utc>) -> StoreResult<i64> {
        self.read().login_failures(key, now).await
    }
    async fn clear_login_failures(&self, key: &str) -> StoreResult<()> {
        self.write().clear_login_failures(key).await
    }
    async fn create_password_reset(
        &self,
        token_sha256: &str,
        user_id: UserId,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write()
            .create_password_reset(token_sha256, user_id, expires_at)
            .await
    }
    async fn take_password_reset(
        &self,
        token_sha256: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<UserId> {
        self.write().take_password_reset(token_sha256, now).await
    }

    async fn create_project(&self, project: NewProject) -> StoreResult<Project> {
        self.write().create_project(project).await
    }
    async fn project_by_id(&self, id: ProjectId) -> StoreResult<Project> {
        self.read().project_by_id(id).await
    }
    async fn project_by_slug(&self, org_slug: &str, slug: &str) -> StoreResult<Project> {
        self.read().project_by_slug(org_slug, slug).await
    }
    async fn list_projects(&self, org_id: Option<OrgId>) -> StoreResult<Vec<Project>> {
        self.read().list_projects(org_id).await
    }
    async fn projects_for_user(&self, user_id: UserId) -> StoreResult<Vec<Project>> {
        self.read().projects_for_user(user_id).await
    }
    async fn set_project_retention(&self, id: ProjectId, days: Option<i32>) -> StoreResult<()> {
        self.write().set_project_retention(id, days).await
    }
    async fn set_project_rate_limit(&self, id: ProjectId, limit: RateLimit) -> StoreResult<()> {
        self.write().set_project_rate_limit(id, limit).await
    }
    async fn update_project(
        &self,
        id: ProjectId,
        name: &str,
        platform: Option<&str>,
    ) -> StoreResult<Project> {
        self.write().update_project(id, name, platform).await
    }
    async fn delete_project(&self, id: ProjectId) -> StoreResult<()> {
        self.write().delete_project(id).await
    }
    async fn create_project_key(
        &self,
        project_id: ProjectId,
        label: &str,
        rate_limit: RateLimit,
    ) -> StoreResult<ProjectKey> {
        self.write()
            .create_project_key(project_id, label, rate_limit)
            .await
    }
    async fn list_project_keys(&self, project_id: ProjectId) -> StoreResult<Vec<ProjectKey>> {
        self.read().list_project_keys(project_id).await
    }
    async fn set_key_active(&self, key_id: KeyId, active: bool) -> StoreResult<()> {
        self.write().set_key_active(key_id, active).await
    }
    async fn set_key_rate_limit(&self, key_id: KeyId, limit: RateLimit) -> StoreResult<()> {
        self.write().set_key_rate_limit(key_id, limit).await
    }
    async fn set_key_label(&self, key_id: KeyId, label: &str) -> StoreResult<()> {
        self.write().set_key_label(key_id, label).await
    }
    async fn delete_project_key(&self, key_id: KeyId) -> StoreResult<()> {
        self.write().delete_project_key(key_id).await
    }
    async fn key_by_id(&self, key_id: KeyId) -> StoreResult<ProjectKey> {
        self.read().key_by_id(key_id).await
    }
    async fn key_auth(&self, public_key: &str) -> StoreResult<KeyAuth> {
        self.read().key_auth(public_key).await
    }

    async fn create_api_token(
        &self,
        user_id: UserId,
        name: &str,
        scopes: &[String],
        token_sha256: &str,
    ) -> StoreResult<ApiToken> {
        self.write()
            .create_api_token(user_id, name, scopes, token_sha256)
            .await
    }
    async fn api_token_by_hash(&self, token_sha256: &str) -> StoreResult<ApiToken> {
        self.write().api_token_by_hash(token_sha256).await
    }
    async fn list_api_tokens(&self, user_id: UserId) -> StoreResult<Vec<ApiToken>> {
        self.read().list_api_tokens(user_id).await
    }
    async fn delete_api_token(&self, user_id: UserId, token_id: TokenId) -> StoreResult<()> {
        self.write().delete_api_token(user_id, token_id).await
    }

    async fn list_issues(&self, query: &IssueQuery) -> StoreResult<Vec<Issue>> {
        self.read().list_issues(query).await
    }
    async fn count_issues(&self, query: &IssueQuery) -> StoreResult<i64> {
        self.read().count_issues(query).await
    }
    async fn count_issues_by_status(&self, query: &IssueQuery) -> StoreResult<StatusCounts> {
        self.read().count_issues_by_status(query).await
    }
    async fn issue_by_id(&self, id: IssueId) -> StoreResult<Issue> {
        self.read().issue_by_id(id).await
    }
    async fn issue_by_short_id(&self, project_id: ProjectId, short_id: i64) -> StoreResult<Issue> {
        self.read().issue_by_short_id(project_id, short_id).await
    }
    async fn set_issue_status(&self, id: IssueId, change: StatusChange) -> StoreResult<Issue> {
        self.write().set_issue_status(id, change).await
    }
    async fn delete_issue(&self, id: IssueId) -> StoreResult<()> {
        self.write().delete_issue(id).await
    }
    async fn set_issues_status(&self, ids: &[IssueId], change: StatusChange) -> StoreResult<u64> {
        self.write().set_issues_status(ids, change).await
    }
    async fn delete_issues(&self, ids: &[IssueId]) -> StoreResult<u64> {
        self.write().delete_issues(ids).await
    }
    async fn assign_issue(&self, id: IssueId, assignee: Option<Assignee>) -> StoreResult<Issue> {
        self.write().assign_issue(id, assignee).await
    }
    async fn add_comment(
        &self,
        issue_id: IssueId,
        user_id: UserId,
        text: &str,
    ) -> StoreResult<Comment> {
        self.write().add_comment(issue_id, user_id, text).await
    }
    async fn list_comments(&self, issue_id: IssueId) -> StoreResult<Vec<Comment>> {
        self.read().list_comments(issue_id).await
    }
    async fn list_issue_events(
        &self,
        issue_id: IssueId,
        cursor: Option<EventCursor>,
        limit: u32,
    ) -> StoreResult<Vec<StoredEvent>> {
        self.read().list_issue_events(issue_id, cursor, limit).await
    }
    async fn latest_event(&self, issue_id: IssueId) -> StoreResult<StoredEvent> {
        self.read().latest_event(issue_id).await
    }
    async fn event_by_id(&self, project_id: ProjectId, event_id: Uuid) -> StoreResult<StoredEvent> {
        self.read().event_by_id(project_id, event_id).await
    }
    async fn issue_tag_values(&self, issue_id: IssueId) -> StoreResult<Vec<TagValueCount>> {
        self.read().issue_tag_values(issue_id).await
    }
    async fn issue_tag_keys(&self, issue_id: IssueId, top: u32) -> StoreResult<Vec<TagKeyCounts>> {
        self.read().issue_tag_keys(issue_id, top).await
    }
    async fn issue_tag_key_values(
        &self,
        issue_id: IssueId,
        key: &str,
        offset: u64,
        limit: u32,
    ) -> StoreResult<Vec<TagValueCount>> {
        self.read()
            .issue_tag_key_values(issue_id, key, offset, limit)
            .await
    }
    async fn issue_hourly_counts(
        &self,
        issue_id: IssueId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<CountBucket>> {
        self.read().issue_hourly_counts(issue_id, from, to).await
    }
    async fn issues_hourly_counts(
        &self,
        ids: &[IssueId],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<(IssueId, CountBucket)>> {
        self.read().issues_hourly_counts(ids, from, to).await
    }
    async fn adjacent_events(
        &self,
        issue_id: IssueId,
        cursor: EventCursor,
    ) -> StoreResult<(Option<Uuid>, Option<Uuid>)> {
        self.read().adjacent_events(issue_id, cursor).await
    }

    async fn add_attachment(&self, attachment: &AttachmentRecord) -> StoreResult<()> {
        self.write().add_attachment(attachment).await
    }
    async fn list_attachments(
        &self,
        project_id: ProjectId,
        event_id: Uuid,
    ) -> StoreResult<Vec<AttachmentRecord>> {
        self.read().list_attachments(project_id, event_id).await
    }
    async fn add_session_counts(&self, counts: &[SessionCounts]) -> StoreResult<()> {
        self.write().add_session_counts(counts).await
    }
    async fn session_totals(&self, project_id: ProjectId) -> StoreResult<Vec<SessionCounts>> {
        self.read().session_totals(project_id).await
    }
    async fn add_client_discards(&self, discards: &[ClientDiscard]) -> StoreResult<()> {
        self.write().add_client_discards(discards).await
    }
    async fn client_discard_totals(
        &self,
        project_id: ProjectId,
    ) -> StoreResult<Vec<ClientDiscard>> {
        self.read().client_discard_totals(project_id).await
    }
    async fn add_check_in(&self, check_in: &CheckIn) -> StoreResult<()> {
        self.write().add_check_in(check_in).await
    }
    async fn list_check_ins(&self, project_id: ProjectId, limit: u32) -> StoreResult<Vec<CheckIn>> {
        self.read().list_check_ins(project_id, limit).await
    }
    async fn add_user_report(&self, report: &UserReport) -> StoreResult<()> {
        self.write().add_user_report(report).await
    }
    async fn list_user_reports(&self, project_id: ProjectId) -> StoreResult<Vec<UserReport>> {
        self.read().list_user_reports(project_id).await
    }

    async fn add_dead_letter(
        &self,
        queue: &str,
        payload: &str,
        error: &str,
        attempts: i32,
    ) -> StoreResult<DeadLetter> {
        self.write()
            .add_dead_letter(queue, payload, error, attempts)
            .await
    }
    async fn list_dead_letters(&self, limit: u32) -> StoreResult<Vec<DeadLetter>> {
        self.read().list_dead_letters(limit).await
    }
    async fn take_dead_letter(&self, id: i64) -> StoreResult<DeadLetter> {
        self.write().take_dead_letter(id).await
    }

    async fn issue_daily_counts(
        &self,
        issue_id: IssueId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<CountBucket>> {
        self.read().issue_daily_counts(issue_id, from, to).await
    }
}
