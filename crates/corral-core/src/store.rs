//! The Store seam: everything Corral keeps, behind one trait with a PostgreSQL
//! and an SQLite implementation (crate `corral-store`). Both run one
//! conformance suite, so callers never care which one they hold.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use corral_protocol::Level;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::alerts::*;
use crate::model::*;

/// A Store shared between tasks.
pub type SharedStore = Arc<dyn Store>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record asked for does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A unique value (slug, email, key) is taken.
    #[error("{0} already exists")]
    Conflict(String),
    /// The input breaks a rule of the domain (e.g. an unknown role).
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    /// The schema in the database is not the one this build expects.
    #[error("database schema is not current: {0}")]
    Schema(String),
    /// The database failed or could not be reached. The text is for logs,
    /// never for clients.
    #[error("database error: {0}")]
    Database(#[source] DatabaseError),
}

impl StoreError {
    /// Whether retrying the same operation later may succeed: a database
    /// that could not be reached or asked for a retry, never a refusal of
    /// the input.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Database(e) if e.is_transient())
    }
}

/// The error type a database driver's error is kept as.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A database failure: the driver's error, and whether it may pass (decided
/// by the store, which knows the driver). It stands for the driver's error:
/// it shows that error's text and source, and [`DatabaseError::get_ref`]
/// hands it out to be downcast.
#[derive(Debug)]
pub struct DatabaseError {
    error: BoxError,
    transient: bool,
}

impl DatabaseError {
    /// A failure that may pass: a lost connection, a busy database, a
    /// deadlock or serialization failure.
    pub fn transient(error: impl Into<BoxError>) -> DatabaseError {
        DatabaseError {
            error: error.into(),
            transient: true,
        }
    }

    /// A failure that happens again when retried: a refused value, a broken
    /// constraint, a statement or a stored value this build cannot handle.
    pub fn permanent(error: impl Into<BoxError>) -> DatabaseError {
        DatabaseError {
            error: error.into(),
            transient: false,
        }
    }

    pub fn is_transient(&self) -> bool {
        self.transient
    }

    /// The driver's error.
    pub fn get_ref(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.error
    }
}

impl std::fmt::Display for DatabaseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for DatabaseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

/// A failure known only by its text counts as transient, as every database
/// error did before errors were classified.
impl From<&str> for DatabaseError {
    fn from(text: &str) -> DatabaseError {
        DatabaseError::transient(text)
    }
}

impl From<String> for DatabaseError {
    fn from(text: String) -> DatabaseError {
        DatabaseError::transient(text)
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Where the schema stands compared with this build.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaStatus {
    /// Versions applied in the database.
    pub applied: Vec<i64>,
    /// Versions this build ships.
    pub expected: Vec<i64>,
}

impl SchemaStatus {
    /// Every migration this build ships is applied (the database may be newer:
    /// expand/contract migrations keep older code working).
    pub fn is_current(&self) -> bool {
        self.expected.iter().all(|v| self.applied.contains(v))
    }
}

/// A grouping hash with the grouping configuration that produced it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GroupHash {
    /// 32 lowercase hex digits.
    pub hash: String,
    /// e.g. `corral:2026-11`.
    pub config: String,
}

/// One normalized event, ready to be written by the digest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DigestInput {
    pub project_id: ProjectId,
    pub event_id: Uuid,
    pub event_type: EventType,
    pub level: Level,
    pub title: String,
    pub culprit: String,
    /// Sentry's `metadata` (`type`, `value`, `filename`, `function`, …).
    pub metadata: serde_json::Value,
    pub platform: String,
    pub release: Option<String>,
    pub environment: Option<String>,
    /// When the event happened (SDK clock, clamped by normalization).
    pub timestamp: DateTime<Utc>,
    /// When Corral accepted it (server clock; the partition key).
    pub received_at: DateTime<Utc>,
    pub tags: Vec<(String, String)>,
    /// Hashes computed with the project's current grouping config. The first
    /// is the primary one. Empty for transactions, which are not grouped.
    pub hashes: Vec<GroupHash>,
    /// Hashes of an older grouping config, used only to find an existing
    /// issue while a project moves to a new config; never stored.
    pub secondary_hashes: Vec<GroupHash>,
    /// The whole normalized event as JSON text.
    pub data: String,
}

/// What the digest did with one event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestOutcome {
    pub event_id: Uuid,
    /// False when the event was already stored (a retried or duplicated job):
    /// then nothing else changed.
    pub inserted: bool,
    pub issue_id: Option<IssueId>,
    /// The event created its issue.
    pub new_issue: bool,
    /// The event reopened a resolved issue.
    pub regressed: bool,
    /// The event ended an ignore (time or count) and the issue escalated.
    pub escalated: bool,
}

/// Sort orders of the issue list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueSort {
    #[default]
    LastSeen,
    FirstSeen,
    /// Most events first.
    TimesSeen,
}

/// Keyset position in an issue list: the sort value and id of the last item
/// of the previous page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueCursor {
    /// Milliseconds since the epoch for time sorts, the count for `TimesSeen`.
    pub sort_value: i64,
    pub id: IssueId,
}

/// How many issues match a filter, per status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCounts {
    pub unresolved: i64,
    pub resolved: i64,
    pub ignored: i64,
}

impl StatusCounts {
    /// The count of one status, or of all of them for `None`.
    pub fn of(&self, status: Option<IssueStatus>) -> i64 {
        match status {
            Some(IssueStatus::Unresolved) => self.unresolved,
            Some(IssueStatus::Resolved) => self.resolved,
            Some(IssueStatus::Ignored) => self.ignored,
            None => self.unresolved + self.resolved + self.ignored,
        }
    }

    pub fn add(&mut self, status: IssueStatus, n: i64) {
        match status {
            IssueStatus::Unresolved => self.unresolved += n,
            IssueStatus::Resolved => self.resolved += n,
            IssueStatus::Ignored => self.ignored += n,
        }
    }
}

/// A filter over issues. Every set field must match.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IssueQuery {
    /// Empty means every project (callers restrict this to what a user may see).
    pub project_ids: Vec<ProjectId>,
    pub status: Option<IssueStatus>,
    pub levels: Vec<Level>,
    pub release: Option<String>,
    pub environment: Option<String>,
    /// Issues whose events carry this tag (`key`, `value`).
    pub tags: Vec<(String, String)>,
    pub first_seen_after: Option<DateTime<Utc>>,
    pub last_seen_after: Option<DateTime<Utc>>,
    /// Case-insensitive substring over title and culprit.
    pub text: Option<String>,
    pub assigned: Option<AssignedFilter>,
    pub sort: IssueSort,
    pub cursor: Option<IssueCursor>,
    /// At most this many (the store caps it at 1000).
    pub limit: u32,
}

/// Issues by whom they are assigned to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AssignedFilter {
    To(Assignee),
    /// Assigned to any of these (`assigned:me` is the user and their
    /// teams); an empty list matches nothing.
    ToAnyOf(Vec<Assignee>),
    /// Assigned to anyone.
    Assigned,
    Unassigned,
}

/// A status change asked by a user or the API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum StatusChange {
    Unresolve,
    Resolve,
    /// Resolve, but reopen only for events of a release newer than `release`
    /// (the latest one seen when resolving).
    ResolveInNextRelease {
        release: Option<String>,
    },
    IgnoreForever,
    IgnoreUntil(DateTime<Utc>),
    /// Ignore until this many more events arrive.
    IgnoreCount(i64),
}

/// Keyset position in an event list: received time and event id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventCursor {
    pub received_at: DateTime<Utc>,
    pub event_id: Uuid,
}

/// What one purge run removed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeReport {
    pub events_deleted: u64,
    pub issues_deleted: u64,
    pub partitions_dropped: u64,
    /// Files of the attachment records purged, relative to the attachments
    /// directory, for the caller to delete.
    pub attachment_paths: Vec<String>,
}

/// An attachment written to disk by ingest, recorded against its event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttachmentRecord {
    pub project_id: ProjectId,
    pub event_id: Uuid,
    pub name: String,
    pub content_type: Option<String>,
    pub attachment_type: Option<String>,
    pub size: i64,
    /// Path relative to the configured attachments directory.
    pub path: String,
    pub created_at: DateTime<Utc>,
}

/// Release health counts from `session`/`sessions` items.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionCounts {
    pub project_id: ProjectId,
    pub release: String,
    pub environment: Option<String>,
    /// The hour the sessions started in.
    pub hour: DateTime<Utc>,
    pub exited: i64,
    pub errored: i64,
    pub crashed: i64,
    pub abnormal: i64,
}

/// Reasons an SDK reports for events it dropped (`client_report`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientDiscard {
    pub project_id: ProjectId,
    pub reason: String,
    pub category: String,
    pub quantity: i64,
    pub hour: DateTime<Utc>,
}

/// A cron monitor check-in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckIn {
    pub project_id: ProjectId,
    pub check_in_id: Uuid,
    pub monitor_slug: String,
    pub status: String,
    pub duration_secs: Option<f64>,
    pub environment: Option<String>,
    pub received_at: DateTime<Utc>,
    pub data: String,
}

/// User feedback about an event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserReport {
    pub project_id: ProjectId,
    pub event_id: Uuid,
    pub name: String,
    pub email: String,
    pub comments: String,
    pub received_at: DateTime<Utc>,
}

/// A new user; the password is hashed by the caller (argon2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub password_hash: Option<String>,
    pub is_superuser: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewProject {
    pub org_id: OrgId,
    pub slug: String,
    pub name: String,
    pub platform: Option<String>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `"postgres"` or `"sqlite"`.
    fn backend(&self) -> &'static str;

    // --- schema -----------------------------------------------------------
    /// Applies the pending migrations. On PostgreSQL this holds an advisory
    /// lock, so concurrent callers wait and only one migrates.
    async fn migrate(&self) -> StoreResult<()>;
    async fn schema_status(&self) -> StoreResult<SchemaStatus>;
    /// Answers only when the database can be reached.
    async fn ping(&self) -> StoreResult<()>;

    // --- organizations, users, teams ------------------------------------------
    async fn create_organization(&self, slug: &str, name: &str) -> StoreResult<Organization>;
    async fn organization_by_slug(&self, slug: &str) -> StoreResult<Organization>;
    async fn list_organizations(&self) -> StoreResult<Vec<Organization>>;
    async fn create_user(&self, user: NewUser) -> StoreResult<User>;
    async fn user_by_id(&self, id: UserId) -> StoreResult<User>;
    /// Emails compare case-insensitively.
    async fn user_by_email(&self, email: &str) -> StoreResult<User>;
    async fn set_password_hash(&self, user_id: UserId, hash: &str) -> StoreResult<()>;
    async fn count_users(&self) -> StoreResult<i64>;
    /// Changes a user's name (1 to 200 characters, trimmed).
    async fn update_user(&self, user_id: UserId, name: &str) -> StoreResult<User>;
    /// Deactivating a user also ends all their sessions.
    async fn set_user_active(&self, user_id: UserId, active: bool) -> StoreResult<()>;
    async fn organization_by_id(&self, id: OrgId) -> StoreResult<Organization>;
    /// Changes an organization's name (1 to 200 characters, trimmed); the slug stays.
    async fn rename_organization(&self, id: OrgId, name: &str) -> StoreResult<Organization>;
    /// Adds a member or changes an existing member's role. Demoting the
    /// organization's last owner is `Invalid` (field `role`).
    async fn set_membership(&self, org_id: OrgId, user_id: UserId, role: Role) -> StoreResult<()>;
    async fn memberships_of_user(&self, user_id: UserId) -> StoreResult<Vec<Membership>>;
    /// The organization's members with their roles and team ids, by email.
    async fn list_members(&self, org_id: OrgId) -> StoreResult<Vec<Member>>;
    /// Removes a member: they also leave the organization's teams, and the
    /// organization's issues assigned to them become unassigned. Removing
    /// the last owner is `Invalid` (field `role`); `NotFound` when the user
    /// is not a member.
    async fn remove_membership(&self, org_id: OrgId, user_id: UserId) -> StoreResult<()>;
    async fn create_team(&self, org_id: OrgId, slug: &str, name: &str) -> StoreResult<Team>;
    async fn list_teams(&self, org_id: OrgId) -> StoreResult<Vec<Team>>;
    async fn team_by_slug(&self, org_id: OrgId, slug: &str) -> StoreResult<Team>;
    /// Deletes a team with its memberships and project links; its issues
    /// become unassigned.
    async fn delete_team(&self, team_id: TeamId) -> StoreResult<()>;
    async fn add_team_member(&self, team_id: TeamId, user_id: UserId) -> StoreResult<()>;
    /// `NotFound` when the user is not in the team.
    async fn remove_team_member(&self, team_id: TeamId, user_id: UserId) -> StoreResult<()>;
    /// By email.
    async fn team_members(&self, team_id: TeamId) -> StoreResult<Vec<User>>;
    /// The teams of every organization the user is in, by organization and slug.
    async fn teams_of_user(&self, user_id: UserId) -> StoreResult<Vec<Team>>;
    async fn add_project_team(&self, project_id: ProjectId, team_id: TeamId) -> StoreResult<()>;
    /// `NotFound` when the project is not linked to the team.
    async fn remove_project_team(&self, project_id: ProjectId, team_id: TeamId) -> StoreResult<()>;
    /// By slug.
    async fn project_teams(&self, project_id: ProjectId) -> StoreResult<Vec<Team>>;
    /// (project, team) for every team link of the organization's projects, in
    /// one query (access checks); projects without a team do not appear.
    async fn project_team_map(&self, org_id: OrgId) -> StoreResult<Vec<(ProjectId, TeamId)>>;

    // --- invitations -----------------------------------------------------------
    /// Invites an email (stored by the SHA-256 of the link's secret). A
    /// pending invitation of the same email (case-insensitive) to the same
    /// organization is replaced, so its old link stops working.
    async fn create_invitation(
        &self,
        org_id: OrgId,
        email: &str,
        role: Role,
        token_sha256: &str,
        invited_by: Option<UserId>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<Invitation>;
    /// Oldest first, expired ones included until purge removes them.
    async fn list_invitations(&self, org_id: OrgId) -> StoreResult<Vec<Invitation>>;
    /// `NotFound` when missing or expired at `now`.
    async fn invitation_by_hash(
        &self,
        token_sha256: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Invitation>;
    async fn delete_invitation(&self, id: i64) -> StoreResult<()>;

    // --- sessions, login throttling, password resets ---------------------------
    /// Stores a session by the SHA-256 of its cookie's secret.
    async fn create_session(
        &self,
        token_sha256: &str,
        user_id: UserId,
        csrf_token: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// The session and its user; `NotFound` when missing or expired at
    /// `now`. The caller refuses inactive users.
    async fn session_by_hash(
        &self,
        token_sha256: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<(Session, User)>;
    /// Moves a session's expiry (sliding sessions).
    async fn extend_session(
        &self,
        token_sha256: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Ends a session; succeeds when it is already gone (logging out twice).
    async fn delete_session(&self, token_sha256: &str) -> StoreResult<()>;
    /// Ends every session of the user but `except_sha256` (the one changing
    /// the password); returns how many ended.
    async fn delete_user_sessions(
        &self,
        user_id: UserId,
        except_sha256: Option<&str>,
    ) -> StoreResult<u64>;
    /// Counts a request against `key` (`reset:…`, `ip:…`) in the fixed
    /// 15-minute window `now` falls in, whatever the count; returns the
    /// count of that window.
    async fn count_login_failure(&self, key: &str, now: DateTime<Utc>) -> StoreResult<i64>;
    /// Takes one sign-in attempt under `key` in the fixed 15-minute window
    /// `now` falls in, unless `limit` (at least 1) are taken there already.
    /// One atomic step: of any number of concurrent takes exactly `limit`
    /// succeed, so a throttle that takes before it checks a password cannot
    /// be raced. `Some(count)` with the window's new count, or `None` at the
    /// limit (then nothing changes).
    async fn take_login_attempt(
        &self,
        key: &str,
        limit: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<i64>>;
    /// Gives back one attempt taken in the window of `now` (one that turned
    /// out not to be a failure); nothing once that window is over.
    async fn return_login_attempt(&self, key: &str, now: DateTime<Utc>) -> StoreResult<()>;
    /// Failures of `key` in the 15-minute window `now` falls in.
    async fn login_failures(&self, key: &str, now: DateTime<Utc>) -> StoreResult<i64>;
    async fn clear_login_failures(&self, key: &str) -> StoreResult<()>;
    /// Stores a password reset by the SHA-256 of its token.
    async fn create_password_reset(
        &self,
        token_sha256: &str,
        user_id: UserId,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Uses a reset token: returns its user and voids it together with the
    /// user's other reset tokens. `NotFound` when missing, used or expired.
    async fn take_password_reset(
        &self,
        token_sha256: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<UserId>;

    // --- projects and keys -------------------------------------------------------
    async fn create_project(&self, project: NewProject) -> StoreResult<Project>;
    async fn project_by_id(&self, id: ProjectId) -> StoreResult<Project>;
    async fn project_by_slug(&self, org_slug: &str, slug: &str) -> StoreResult<Project>;
    /// Every project, or those of one organization.
    async fn list_projects(&self, org_id: Option<OrgId>) -> StoreResult<Vec<Project>>;
    /// Projects in organizations the user is a member of (all for a superuser).
    async fn projects_for_user(&self, user_id: UserId) -> StoreResult<Vec<Project>>;
    async fn set_project_retention(&self, id: ProjectId, days: Option<i32>) -> StoreResult<()>;
    async fn set_project_rate_limit(&self, id: ProjectId, limit: RateLimit) -> StoreResult<()>;
    /// Changes a project's name (1 to 200 characters, trimmed) and platform; the slug stays.
    async fn update_project(
        &self,
        id: ProjectId,
        name: &str,
        platform: Option<&str>,
    ) -> StoreResult<Project>;
    /// Deletes a project and everything of it: issues, events, keys, team
    /// links, releases, attachment records and other items. Attachment
    /// files live under `<project id>/` in the attachments directory, for the
    /// caller to remove.
    async fn delete_project(&self, id: ProjectId) -> StoreResult<()>;
    /// Creates a key with a fresh random 32-hex-digit public key.
    async fn create_project_key(
        &self,
        project_id: ProjectId,
        label: &str,
        rate_limit: RateLimit,
    ) -> StoreResult<ProjectKey>;
    async fn list_project_keys(&self, project_id: ProjectId) -> StoreResult<Vec<ProjectKey>>;
    async fn set_key_active(&self, key_id: KeyId, active: bool) -> StoreResult<()>;
    async fn set_key_rate_limit(&self, key_id: KeyId, limit: RateLimit) -> StoreResult<()>;
    /// At most 200 characters.
    async fn set_key_label(&self, key_id: KeyId, label: &str) -> StoreResult<()>;
    async fn delete_project_key(&self, key_id: KeyId) -> StoreResult<()>;
    async fn key_by_id(&self, key_id: KeyId) -> StoreResult<ProjectKey>;
    /// The key and its project's limits, for ingest. Inactive keys are
    /// returned too (ingest answers 403 for them, 401 for unknown keys).
    async fn key_auth(&self, public_key: &str) -> StoreResult<KeyAuth>;

    // --- API tokens ------------------------------------------------------------
    /// Stores a token by the SHA-256 of its secret; the secret itself is never kept.
    async fn create_api_token(
        &self,
        user_id: UserId,
        name: &str,
        scopes: &[String],
        token_sha256: &str,
    ) -> StoreResult<ApiToken>;
    /// Finds a token by the SHA-256 of its secret and records its use.
    async fn api_token_by_hash(&self, token_sha256: &str) -> StoreResult<ApiToken>;
    async fn list_api_tokens(&self, user_id: UserId) -> StoreResult<Vec<ApiToken>>;
    async fn delete_api_token(&self, user_id: UserId, token_id: TokenId) -> StoreResult<()>;

    // --- digest --------------------------------------------------------------
    /// Writes a batch of events in one transaction: each event is inserted
    /// if its `(project, event_id)` is new; only then its issue is found by
    /// hash or created, and counters (times seen, first/last seen, tag value
    /// counts, hourly counts) move. A resolved issue reopens as regressed.
    /// Idempotent under retries and safe under concurrent batches. Outcomes
    /// come back in input order.
    async fn digest(&self, batch: &[DigestInput]) -> StoreResult<Vec<DigestOutcome>>;

    // --- issues and events ------------------------------------------------------
    async fn list_issues(&self, query: &IssueQuery) -> StoreResult<Vec<Issue>>;
    async fn count_issues(&self, query: &IssueQuery) -> StoreResult<i64>;
    /// [`Store::count_issues`] for every status at once (`query.status` is ignored): one
    /// pass over the matching issues instead of one per status.
    async fn count_issues_by_status(&self, query: &IssueQuery) -> StoreResult<StatusCounts>;
    async fn issue_by_id(&self, id: IssueId) -> StoreResult<Issue>;
    async fn issue_by_short_id(&self, project_id: ProjectId, short_id: i64) -> StoreResult<Issue>;
    async fn set_issue_status(&self, id: IssueId, change: StatusChange) -> StoreResult<Issue>;
    /// Deletes an issue with its events, hashes, counts and comments.
    /// Attachment records stay until purge (by when they were received).
    async fn delete_issue(&self, id: IssueId) -> StoreResult<()>;
    /// Applies one status change to many issues; returns how many exist.
    async fn set_issues_status(&self, ids: &[IssueId], change: StatusChange) -> StoreResult<u64>;
    /// [`Store::delete_issue`] for many; returns how many were deleted.
    async fn delete_issues(&self, ids: &[IssueId]) -> StoreResult<u64>;
    /// Assigns to a member of the issue's organization or a team of it
    /// (`Invalid`, field `assignee`, otherwise: superusers of other
    /// organizations too), or unassigns with `None`.
    async fn assign_issue(&self, id: IssueId, assignee: Option<Assignee>) -> StoreResult<Issue>;
    /// Adds a comment (1 to 10,000 characters, trimmed) and counts it in the
    /// issue's `num_comments`.
    async fn add_comment(
        &self,
        issue_id: IssueId,
        user_id: UserId,
        text: &str,
    ) -> StoreResult<Comment>;
    /// Oldest first.
    async fn list_comments(&self, issue_id: IssueId) -> StoreResult<Vec<Comment>>;
    /// Newest first.
    async fn list_issue_events(
        &self,
        issue_id: IssueId,
        cursor: Option<EventCursor>,
        limit: u32,
    ) -> StoreResult<Vec<StoredEvent>>;
    async fn latest_event(&self, issue_id: IssueId) -> StoreResult<StoredEvent>;
    async fn event_by_id(&self, project_id: ProjectId, event_id: Uuid) -> StoreResult<StoredEvent>;
    /// Every tag value of the issue, by key, then most seen first. Unbounded: for checks and
    /// exports; pages use [`Store::issue_tag_keys`] and [`Store::issue_tag_key_values`].
    async fn issue_tag_values(&self, issue_id: IssueId) -> StoreResult<Vec<TagValueCount>>;
    /// The issue's tag keys, by key, each with its totals and its `top` most seen values.
    async fn issue_tag_keys(&self, issue_id: IssueId, top: u32) -> StoreResult<Vec<TagKeyCounts>>;
    /// Up to `limit` values of one tag key from `offset`, most seen first, ties by value.
    async fn issue_tag_key_values(
        &self,
        issue_id: IssueId,
        key: &str,
        offset: u64,
        limit: u32,
    ) -> StoreResult<Vec<TagValueCount>>;
    /// Hourly counts in `[from, to)`; hours without events are left out.
    async fn issue_hourly_counts(
        &self,
        issue_id: IssueId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<CountBucket>>;
    /// [`Store::issue_hourly_counts`] of many issues in one query (sparklines),
    /// by issue id then hour.
    async fn issues_hourly_counts(
        &self,
        ids: &[IssueId],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<(IssueId, CountBucket)>>;
    /// The events of the issue just before and after `cursor` in the order
    /// of (received_at, event_id): (older, newer), `None` at either end.
    async fn adjacent_events(
        &self,
        issue_id: IssueId,
        cursor: EventCursor,
    ) -> StoreResult<(Option<Uuid>, Option<Uuid>)>;

    // --- other items -------------------------------------------------------------
    async fn add_attachment(&self, attachment: &AttachmentRecord) -> StoreResult<()>;
    async fn list_attachments(
        &self,
        project_id: ProjectId,
        event_id: Uuid,
    ) -> StoreResult<Vec<AttachmentRecord>>;
    async fn add_session_counts(&self, counts: &[SessionCounts]) -> StoreResult<()>;
    /// Totals per release and environment.
    async fn session_totals(&self, project_id: ProjectId) -> StoreResult<Vec<SessionCounts>>;
    async fn add_client_discards(&self, discards: &[ClientDiscard]) -> StoreResult<()>;
    async fn client_discard_totals(&self, project_id: ProjectId)
    -> StoreResult<Vec<ClientDiscard>>;
    async fn add_check_in(&self, check_in: &CheckIn) -> StoreResult<()>;
    async fn list_check_ins(&self, project_id: ProjectId, limit: u32) -> StoreResult<Vec<CheckIn>>;
    async fn add_user_report(&self, report: &UserReport) -> StoreResult<()>;
    async fn list_user_reports(&self, project_id: ProjectId) -> StoreResult<Vec<UserReport>>;

    // --- dead letters ---------------------------------------------------------
    async fn add_dead_letter(
        &self,
        queue: &str,
        payload: &str,
        error: &str,
        attempts: i32,
    ) -> StoreResult<DeadLetter>;
    async fn list_dead_letters(&self, limit: u32) -> StoreResult<Vec<DeadLetter>>;
    /// Removes and returns a dead letter (to be pushed again by the caller).
    async fn take_dead_letter(&self, id: i64) -> StoreResult<DeadLetter>;

    // --- upkeep (beat) --------------------------------------------------------
    /// Deletes events older than their project's retention (`default_days`
    /// when the project sets none), keeping counters consistent: an issue's
    /// `times_seen`, tag value counts and hourly counts drop by what was
    /// deleted, and issues left without events are deleted. On PostgreSQL,
    /// day partitions older than every project's retention are dropped.
    /// Attachment records (their paths are returned), session counts and
    /// client reports (by hour), check-ins and user reports received
    /// before the same cutoff go too, and so do expired sessions, password
    /// resets and invitations and login-failure windows that have ended.
    async fn purge(&self, now: DateTime<Utc>, default_days: i32) -> StoreResult<PurgeReport>;
    /// Makes sure event partitions exist from `now`'s day to `days_ahead`
    /// days later (no-op on SQLite). Returns how many were created.
    async fn ensure_partitions(&self, now: DateTime<Utc>, days_ahead: u32) -> StoreResult<u32>;
    /// Folds hourly counts older than `before` into daily counts.
    async fn rollup_hourly(&self, before: DateTime<Utc>) -> StoreResult<u64>;
    /// Daily counts in `[from, to)` (rolled-up days and not yet rolled-up hours together).
    async fn issue_daily_counts(
        &self,
        issue_id: IssueId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<CountBucket>>;

    // --- alerts: channels and rules ---------------------------------------------
    /// Names are unique per organization (`Conflict`); the config is
    /// validated by the caller ([`ChannelConfig::validate`]).
    async fn create_alert_channel(
        &self,
        org_id: OrgId,
        name: &str,
        config: &ChannelConfig,
    ) -> StoreResult<Channel>;
    /// By name.
    async fn list_alert_channels(&self, org_id: OrgId) -> StoreResult<Vec<Channel>>;
    async fn alert_channel_by_id(&self, id: ChannelId) -> StoreResult<Channel>;
    async fn update_alert_channel(
        &self,
        id: ChannelId,
        name: &str,
        config: &ChannelConfig,
    ) -> StoreResult<Channel>;
    /// Rules that named it keep their other channels; its deliveries stay in
    /// the log.
    async fn delete_alert_channel(&self, id: ChannelId) -> StoreResult<()>;
    async fn create_alert_rule(&self, rule: &NewAlertRule) -> StoreResult<AlertRule>;
    /// By id.
    async fn list_alert_rules(&self, project_id: ProjectId) -> StoreResult<Vec<AlertRule>>;
    /// Every enabled rule of every project whose alerts are not muted (the
    /// runner caches these for a few seconds).
    async fn active_alert_rules(&self) -> StoreResult<Vec<AlertRule>>;
    async fn alert_rule_by_id(&self, id: RuleId) -> StoreResult<AlertRule>;
    /// Replaces name, enabled and spec (the project stays).
    async fn update_alert_rule(&self, id: RuleId, rule: &NewAlertRule) -> StoreResult<AlertRule>;
    async fn delete_alert_rule(&self, id: RuleId) -> StoreResult<()>;
    /// The per-project mute: no rule of a muted project fires.
    async fn set_project_alerts_muted(&self, project_id: ProjectId, muted: bool)
    -> StoreResult<()>;
    async fn project_alerts_muted(&self, project_id: ProjectId) -> StoreResult<bool>;

    // --- alerts: triggers, fires and deliveries -----------------------------------
    /// Leases up to `limit` triggers (oldest first) that no one holds, or
    /// whose lease ran out, until `now + lease`. Concurrent callers get
    /// different triggers.
    async fn claim_alert_triggers(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
        limit: u32,
    ) -> StoreResult<Vec<AlertTrigger>>;
    /// Finishes a trigger in one transaction: deletes it and writes each
    /// fire whose rule has not fired for its issue within its interval
    /// (with its deliveries and an `alert_sent` activity). `None` when the
    /// trigger is already gone (another runner finished it): then nothing
    /// is written. Otherwise, per fire, whether it fired.
    async fn complete_alert_trigger(
        &self,
        trigger_id: TriggerId,
        fires: &[AlertFire],
        direct: &[NewDelivery],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Vec<bool>>>;
    /// Writes one fire (window conditions) unless its rule fired for the
    /// issue (or project, issue 0) within its interval; whether it fired.
    async fn fire_alert(&self, fire: &AlertFire, now: DateTime<Utc>) -> StoreResult<bool>;
    /// Queues deliveries outside any rule (test notifications).
    async fn queue_deliveries(
        &self,
        deliveries: &[NewDelivery],
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Delivery>>;
    /// Leases up to `limit` pending deliveries due at `now` (and sending ones
    /// whose lease ran out) as `sending`, counting the attempt.
    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
        limit: u32,
    ) -> StoreResult<Vec<Delivery>>;
    async fn finish_delivery(
        &self,
        id: DeliveryId,
        outcome: &DeliveryOutcome,
        now: DateTime<Utc>,
    ) -> StoreResult<Delivery>;
    async fn delivery_by_id(&self, id: DeliveryId) -> StoreResult<Delivery>;
    /// Newest first; at most `filter.limit` (capped at 500).
    async fn list_deliveries(&self, filter: &DeliveryFilter) -> StoreResult<Vec<Delivery>>;
    /// Whether a PagerDuty trigger was sent for the issue on the channel (a
    /// resolve goes only where a trigger went).
    async fn delivered_to_channel(
        &self,
        issue_id: IssueId,
        channel_id: ChannelId,
    ) -> StoreResult<bool>;

    // --- alerts: window counts ------------------------------------------------------
    /// Issues of the project with events received since `since` (at most
    /// `max_issues`, most events first), each with that number of events, up
    /// to `cap` (a count of `cap` means "at least"). Counted from the digest's
    /// per-minute counters: to the minute for windows up to two hours, and
    /// by whole hours (the events' own) before the last two for longer ones.
    /// Issues for which rule `rule` fired after `fired_after` are left out:
    /// it cannot fire for them again yet, so they are not counted.
    async fn issue_counts_since(
        &self,
        project_id: ProjectId,
        since: DateTime<Utc>,
        cap: i64,
        max_issues: u32,
        rule: RuleId,
        fired_after: DateTime<Utc>,
    ) -> StoreResult<Vec<(IssueId, i64)>>;
    /// Distinct users (values of the `user` tag) whose latest event of the
    /// issue happened since `since`, counted up to `cap`.
    async fn issue_users_since(
        &self,
        issue_id: IssueId,
        since: DateTime<Utc>,
        cap: i64,
    ) -> StoreResult<i64>;
    /// Whether rule `rule` fired for the issue (0: the project) after `after`.
    async fn alert_fired_after(
        &self,
        rule: RuleId,
        issue_id: IssueId,
        after: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// The project's events in issues received since `since`, counted up to
    /// `cap`.
    async fn project_events_since(
        &self,
        project_id: ProjectId,
        since: DateTime<Utc>,
        cap: i64,
    ) -> StoreResult<i64>;
    /// Deletes the per-minute window counts of minutes before `before`
    /// (the alert runner keeps three hours); returns how many rows went.
    async fn sweep_window_counts(&self, before: DateTime<Utc>) -> StoreResult<u64>;

    // --- activity and mail settings ---------------------------------------------
    /// Records an activity; one whose kind has a trigger (resolved, assigned) also
    /// queues that trigger for the alert runner.
    async fn add_activity(
        &self,
        activity: &NewActivity,
        now: DateTime<Utc>,
    ) -> StoreResult<Activity>;
    /// Oldest first.
    async fn list_activities(&self, issue_id: IssueId) -> StoreResult<Vec<Activity>>;
    /// Defaults (all on) for a user who saved none.
    async fn notification_settings(&self, user_id: UserId) -> StoreResult<NotificationSettings>;
    async fn set_notification_settings(
        &self,
        user_id: UserId,
        settings: &NotificationSettings,
    ) -> StoreResult<()>;
    /// The user's unsubscribe token (random, made on first use): links in
    /// mail carry it so unsubscribing works without signing in.
    async fn unsubscribe_token(&self, user_id: UserId) -> StoreResult<String>;
    async fn user_by_unsubscribe_token(&self, token: &str) -> StoreResult<UserId>;
    /// `Some(true)` subscribes, `Some(false)` unsubscribes, `None` goes back
    /// to the default (participants and assignees get workflow mail).
    async fn set_issue_subscription(
        &self,
        issue_id: IssueId,
        user_id: UserId,
        subscribed: Option<bool>,
    ) -> StoreResult<()>;
    /// Explicit choices for the issue: (user, subscribed).
    async fn issue_subscriptions(&self, issue_id: IssueId) -> StoreResult<Vec<(UserId, bool)>>;
}
