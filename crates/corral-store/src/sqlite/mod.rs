//! The Store on SQLite.

mod accounts;
mod digest;
mod issues;
mod items;
mod rows;
mod signin;
mod upkeep;

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use corral_core::model::*;
use corral_core::*;
use sqlx::SqlitePool;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use uuid::Uuid;

use crate::error::{db, migrate_err};

/// Reading connections in [`SqliteStore::open`]'s pool; they run in
/// parallel under WAL.
const DEFAULT_CONNECTIONS: u32 = 8;

/// The Store in one SQLite file.
///
/// SQLite has one writer at a time. Writes therefore go through a pool of ONE
/// connection, where they queue in order, instead of several connections
/// contending for the file lock (a contended SQLite lock is waited for by
/// sleeping, whole milliseconds at a time, and every write throws away the
/// other connections' page caches). Reads use their own pool.
pub struct SqliteStore {
    /// The writer (one connection).
    pool: SqlitePool,
    /// Connections that only read (`query_only`).
    readers: SqlitePool,
    /// One connection for [`SqliteStore::checkpoint_wal`], opened on first use.
    checkpointer: SqlitePool,
    path: std::path::PathBuf,
}

/// WAL pages after which the writer checkpoints by itself, in its own
/// commit: a backstop for when nobody runs [`SqliteStore::checkpoint_wal`]
/// (the CLI) or it falls behind. SQLite's default of 1,000 pages (4 MiB)
/// put a checkpoint, with its fsyncs, into a commit several times a second
/// under load, while every push and digest waited for that connection.
const WRITER_AUTOCHECKPOINT_PAGES: &str = "16384";

/// What one [`SqliteStore::checkpoint_wal`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WalCheckpoint {
    /// Another checkpoint was running, so this one did nothing.
    pub busy: bool,
    /// Frames in the WAL.
    pub wal_frames: i64,
    /// Frames now copied into the database file.
    pub checkpointed_frames: i64,
}

fn migrator() -> Migrator {
    let mut m = sqlx::migrate!("migrations/sqlite");
    // apalis-sqlite keeps its own migrations in `_sqlx_migrations` of the same file.
    m.dangerous_set_table_name("corral_migrations");
    // Expand/contract: an older build keeps working on a newer schema.
    m.set_ignore_missing(true);
    m
}

impl SqliteStore {
    /// Opens (creating if missing) the file with WAL, synchronous=NORMAL,
    /// foreign_keys=ON and a busy timeout. No migrations run.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(path, DEFAULT_CONNECTIONS).await
    }

    /// [`SqliteStore::open`] with a pool of at most `max_connections`.
    pub async fn open_with(path: &Path, max_connections: u32) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30))
            .pragma("temp_store", "memory");
        // Memory: the writer keeps a 16 MiB page cache (the digest's working
        // set), readers SQLite's default 2 MiB each. No memory map: its
        // pages count in the process's RSS once per connection, which put
        // `corral serve` past 300 MiB under load.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                options
                    .clone()
                    .pragma("cache_size", "-16384")
                    .pragma("wal_autocheckpoint", WRITER_AUTOCHECKPOINT_PAGES),
            )
            .await
            .map_err(db)?;
        // a checkpoint reads the WAL and writes the database file: a small
        // page cache is enough
        let checkpointer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .connect_lazy_with(options.clone().pragma("cache_size", "-512"));
        let readers = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect_with(options.pragma("query_only", "true"))
            .await
            .map_err(db)?;
        Ok(SqliteStore {
            pool,
            readers,
            checkpointer,
            path: path.to_path_buf(),
        })
    }

    /// Copies what the WAL holds into the database file (a `PASSIVE`
    /// checkpoint), on a connection of its own: the writer and the readers
    /// carry on meanwhile, and the writer's commits no longer do this work
    /// (see [`WRITER_AUTOCHECKPOINT_PAGES`]). `corral serve` calls it in a
    /// loop ([`SqliteStore::run_wal_checkpoints`]).
    pub async fn checkpoint_wal(&self) -> Result<WalCheckpoint, StoreError> {
        let (busy, wal_frames, checkpointed_frames): (i64, i64, i64) =
            sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_one(&self.checkpointer)
                .await
                .map_err(db)?;
        Ok(WalCheckpoint {
            busy: busy != 0,
            wal_frames,
            checkpointed_frames,
        })
    }

    /// Checkpoints the WAL every `every` until `stop` resolves, then closes
    /// the checkpointing connection. A failed checkpoint is logged and tried
    /// again next time (the writer's own checkpoint is the backstop).
    pub async fn run_wal_checkpoints(
        &self,
        every: Duration,
        stop: impl std::future::Future<Output = ()>,
    ) {
        let mut stop = std::pin::pin!(stop);
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = tick.tick() => {}
            }
            let started = std::time::Instant::now();
            match self.checkpoint_wal().await {
                Ok(c) => {
                    metrics::histogram!("corral_sqlite_checkpoint_seconds")
                        .record(started.elapsed().as_secs_f64());
                    metrics::gauge!("corral_sqlite_wal_frames").set(c.wal_frames as f64);
                }
                Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
            }
        }
        self.checkpointer.close().await;
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The writing pool (one connection).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The read-only pool: what to read with while the writer may be busy.
    pub fn read_pool(&self) -> &SqlitePool {
        &self.readers
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn migrate(&self) -> StoreResult<()> {
        // The whole run holds SQLite's write lock, so a concurrent caller
        // waits (busy timeout) and then finds nothing left to do. The
        // migrator's own transactions become savepoints inside this one.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        migrator()
            .run_direct(None, &mut *tx, false)
            .await
            .map_err(migrate_err)?;
        tx.commit().await.map_err(db)
    }

    async fn schema_status(&self) -> StoreResult<SchemaStatus> {
        let m = migrator();
        let expected = m
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
            .map(|m| m.version)
            .collect();
        let exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master \
             WHERE type = 'table' AND name = 'corral_migrations')",
        )
        .fetch_one(&self.readers)
        .await
        .map_err(db)?;
        let applied = if exists {
            sqlx::query_scalar(
                "SELECT version FROM corral_migrations WHERE success ORDER BY version",
            )
            .fetch_all(&self.readers)
            .await
            .map_err(db)?
        } else {
            Vec::new()
        };
        Ok(SchemaStatus { applied, expected })
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.readers)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn create_organization(&self, slug: &str, name: &str) -> StoreResult<Organization> {
        accounts::create_organization(&self.pool, slug, name).await
    }
    async fn organization_by_slug(&self, slug: &str) -> StoreResult<Organization> {
        accounts::organization_by_slug(&self.readers, slug).await
    }
    async fn list_organizations(&self) -> StoreResult<Vec<Organization>> {
        accounts::list_organizations(&self.readers).await
    }
    async fn create_user(&self, user: NewUser) -> StoreResult<User> {
        accounts::create_user(&self.pool, user).await
    }
    async fn user_by_id(&self, id: UserId) -> StoreResult<User> {
        accounts::user_by_id(&self.readers, id).await
    }
    async fn user_by_email(&self, email: &str) -> StoreResult<User> {
        accounts::user_by_email(&self.readers, email).await
    }
    async fn set_password_hash(&self, user_id: UserId, hash: &str) -> StoreResult<()> {
        accounts::set_password_hash(&self.pool, user_id, hash).await
    }
    async fn count_users(&self) -> StoreResult<i64> {
        accounts::count_users(&self.readers).await
    }
    async fn update_user(&self, user_id: UserId, name: &str) -> StoreResult<User> {
        accounts::update_user(&self.pool, user_id, name).await
    }
    async fn set_user_active(&self, user_id: UserId, active: bool) -> StoreResult<()> {
        accounts::set_user_active(&self.pool, user_id, active).await
    }
    async fn organization_by_id(&self, id: OrgId) -> StoreResult<Organization> {
        accounts::organization_by_id(&self.readers, id).await
    }
    async fn rename_organization(&self, id: OrgId, name: &str) -> StoreResult<Organization> {
        accounts::rename_organization(&self.pool, id, name).await
    }
    async fn set_membership(&self, org_id: OrgId, user_id: UserId, role: Role) -> StoreResult<()> {
        accounts::set_membership(&self.pool, org_id, user_id, role).await
    }
    async fn memberships_of_user(&self, user_id: UserId) -> StoreResult<Vec<Membership>> {
        accounts::memberships_of_user(&self.readers, user_id).await
    }
    async fn list_members(&self, org_id: OrgId) -> StoreResult<Vec<Member>> {
        accounts::list_members(&self.readers, org_id).await
    }
    async fn remove_membership(&self, org_id: OrgId, user_id: UserId) -> StoreResult<()> {
        accounts::remove_membership(&self.pool, org_id, user_id).await
    }
    async fn create_team(&self, org_id: OrgId, slug: &str, name: &str) -> StoreResult<Team> {
        accounts::create_team(&self.pool, org_id, slug, name).await
    }
    async fn list_teams(&self, org_id: OrgId) -> StoreResult<Vec<Team>> {
        accounts::list_teams(&self.readers, org_id).await
    }
    async fn add_team_member(&self, team_id: TeamId, user_id: UserId) -> StoreResult<()> {
        accounts::add_team_member(&self.pool, team_id, user_id).await
    }
    async fn add_project_team(&self, project_id: ProjectId, team_id: TeamId) -> StoreResult<()> {
        accounts::add_project_team(&self.pool, project_id, team_id).await
    }
    async fn team_by_slug(&self, org_id: OrgId, slug: &str) -> StoreResult<Team> {
        accounts::team_by_slug(&self.readers, org_id, slug).await
    }
    async fn delete_team(&self, team_id: TeamId) -> StoreResult<()> {
        accounts::delete_team(&self.pool, team_id).await
    }
    async fn remove_team_member(&self, team_id: TeamId, user_id: UserId) -> StoreResult<()> {
        accounts::remove_team_member(&self.pool, team_id, user_id).await
    }
    async fn team_members(&self, team_id: TeamId) -> StoreResult<Vec<User>> {
        accounts::team_members(&self.readers, team_id).await
    }
    async fn teams_of_user(&self, user_id: UserId) -> StoreResult<Vec<Team>> {
        accounts::teams_of_user(&self.readers, user_id).await
    }
    async fn remove_project_team(&self, project_id: ProjectId, team_id: TeamId) -> StoreResult<()> {
        accounts::remove_project_team(&self.pool, project_id, team_id).await
    }
    async fn project_teams(&self, project_id: ProjectId) -> StoreResult<Vec<Team>> {
        accounts::project_teams(&self.readers, project_id).await
    }
    async fn project_team_map(&self, org_id: OrgId) -> StoreResult<Vec<(ProjectId, TeamId)>> {
        accounts::project_team_map(&self.readers, org_id).await
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
        signin::list_invitations(&self.readers, org_id).await
    }
    async fn invitation_by_hash(
        &self,
        token_sha256: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Invitation> {
        signin::invitation_by_hash(&self.readers, token_sha256, now).await
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
        signin::session_by_hash(&self.readers, token_sha256, now).await
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
        signin::login_failures(&self.readers, key, now).await
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
        accounts::project_by_id(&self.readers, id).await
    }
    async fn project_by_slug(&self, org_slug: &str, slug: &str) -> StoreResult<Project> {
        accounts::project_by_slug(&self.readers, org_slug, slug).await
    }
    async fn list_projects(&self, org_id: Option<OrgId>) -> StoreResult<Vec<Project>> {
        accounts::list_projects(&self.readers, org_id).await
    }
    async fn projects_for_user(&self, user_id: UserId) -> StoreResult<Vec<Project>> {
        accounts::projects_for_user(&self.readers, user_id).await
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
        accounts::list_project_keys(&self.readers, project_id).await
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
        accounts::key_by_id(&self.readers, key_id).await
    }
    async fn key_auth(&self, public_key: &str) -> StoreResult<KeyAuth> {
        accounts::key_auth(&self.readers, public_key).await
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
        accounts::list_api_tokens(&self.readers, user_id).await
    }
    async fn delete_api_token(&self, user_id: UserId, token_id: TokenId) -> StoreResult<()> {
        accounts::delete_api_token(&self.pool, user_id, token_id).await
    }

    async fn digest(&self, batch: &[DigestInput]) -> StoreResult<Vec<DigestOutcome>> {
        digest::digest(&self.pool, batch).await
    }

    async fn list_issues(&self, query: &IssueQuery) -> StoreResult<Vec<Issue>> {
        issues::list_issues(&self.readers, query).await
    }
    async fn count_issues(&self, query: &IssueQuery) -> StoreResult<i64> {
        issues::count_issues(&self.readers, query).await
    }
    async fn count_issues_by_status(&self, query: &IssueQuery) -> StoreResult<StatusCounts> {
        issues::count_issues_by_status(&self.readers, query).await
    }
    async fn issue_by_id(&self, id: IssueId) -> StoreResult<Issue> {
        issues::issue_by_id(&self.readers, id).await
    }
    async fn issue_by_short_id(&self, project_id: ProjectId, short_id: i64) -> StoreResult<Issue> {
        issues::issue_by_short_id(&self.readers, project_id, short_id).await
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
        issues::list_comments(&self.readers, issue_id).await
    }
    async fn list_issue_events(
        &self,
        issue_id: IssueId,
        cursor: Option<EventCursor>,
        limit: u32,
    ) -> StoreResult<Vec<StoredEvent>> {
        issues::list_issue_events(&self.readers, issue_id, cursor, limit).await
    }
    async fn latest_event(&self, issue_id: IssueId) -> StoreResult<StoredEvent> {
        issues::latest_event(&self.readers, issue_id).await
    }
    async fn event_by_id(&self, project_id: ProjectId, event_id: Uuid) -> StoreResult<StoredEvent> {
        issues::event_by_id(&self.readers, project_id, event_id).await
    }
    async fn issue_tag_values(&self, issue_id: IssueId) -> StoreResult<Vec<TagValueCount>> {
        issues::issue_tag_values(&self.readers, issue_id).await
    }
    async fn issue_tag_keys(&self, issue_id: IssueId, top: u32) -> StoreResult<Vec<TagKeyCounts>> {
        issues::issue_tag_keys(&self.readers, issue_id, top).await
    }
    async fn issue_tag_key_values(
        &self,
        issue_id: IssueId,
        key: &str,
        offset: u64,
        limit: u32,
    ) -> StoreResult<Vec<TagValueCount>> {
        issues::issue_tag_key_values(&self.readers, issue_id, key, offset, limit).await
    }
    async fn issue_hourly_counts(
        &self,
        issue_id: IssueId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<CountBucket>> {
        issues::issue_hourly_counts(&self.readers, issue_id, from, to).await
    }
    async fn issues_hourly_counts(
        &self,
        ids: &[IssueId],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<(IssueId, CountBucket)>> {
        issues::issues_hourly_counts(&self.readers, ids, from, to).await
    }
    async fn adjacent_events(
        &self,
        issue_id: IssueId,
        cursor: EventCursor,
    ) -> StoreResult<(Option<Uuid>, Option<Uuid>)> {
        issues::adjacent_events(&self.readers, issue_id, cursor).await
    }

    async fn add_attachment(&self, attachment: &AttachmentRecord) -> StoreResult<()> {
        items::add_attachment(&self.pool, attachment).await
    }
    async fn list_attachments(
        &self,
        project_id: ProjectId,
        event_id: Uuid,
    ) -> StoreResult<Vec<AttachmentRecord>> {
        items::list_attachments(&self.readers, project_id, event_id).await
    }
    async fn add_session_counts(&self, counts: &[SessionCounts]) -> StoreResult<()> {
        items::add_session_counts(&self.pool, counts).await
    }
    async fn session_totals(&self, project_id: ProjectId) -> StoreResult<Vec<SessionCounts>> {
        items::session_totals(&self.readers, project_id).await
    }
    async fn add_client_discards(&self, discards: &[ClientDiscard]) -> StoreResult<()> {
        items::add_client_discards(&self.pool, discards).await
    }
    async fn client_discard_totals(
        &self,
        project_id: ProjectId,
    ) -> StoreResult<Vec<ClientDiscard>> {
        items::client_discard_totals(&self.readers, project_id).await
    }
    async fn add_check_in(&self, check_in: &CheckIn) -> StoreResult<()> {
        items::add_check_in(&self.pool, check_in).await
    }
    async fn list_check_ins(&self, project_id: ProjectId, limit: u32) -> StoreResult<Vec<CheckIn>> {
        items::list_check_ins(&self.readers, project_id, limit).await
    }
    async fn add_user_report(&self, report: &UserReport) -> StoreResult<()> {
        items::add_user_report(&self.pool, report).await
    }
    async fn list_user_reports(&self, project_id: ProjectId) -> StoreResult<Vec<UserReport>> {
        items::list_user_reports(&self.readers, project_id).await
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
        items::list_dead_letters(&self.readers, limit).await
    }
    async fn take_dead_letter(&self, id: i64) -> StoreResult<DeadLetter> {
        items::take_dead_letter(&self.pool, id).await
    }

    async fn purge(&self, now: DateTime<Utc>, default_days: i32) -> StoreResult<PurgeReport> {
        upkeep::purge(&self.pool, now, default_days).await
    }
    async fn ensure_partitions(&self, _now: DateTime<Utc>, _days_ahead: u32) -> StoreResult<u32> {
        // One plain table: nothing to prepare.
        Ok(0)
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
        issues::issue_daily_counts(&self.readers, issue_id, from, to).await
    }
}
