//! The domain's records, as the Store hands them out.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, DurationRound, Utc};
use corral_protocol::Level;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub type OrgId = i64;
pub type UserId = i64;
pub type TeamId = i64;
pub type ProjectId = i64;
pub type KeyId = i64;
pub type IssueId = i64;
pub type TokenId = i64;

/// A time cut to the millisecond: what both stores keep, so keyset cursors
/// (which carry milliseconds) compare exactly.
pub fn to_ms(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

/// The start of the UTC hour `t` falls in: the bucket of hourly counts.
pub fn hour_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::hours(1)).unwrap_or(t)
}

/// The start of `t`'s minute.
pub fn minute_of(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::minutes(1)).unwrap_or(t)
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Organization {
    pub id: OrgId,
    pub slug: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub name: String,
    /// An argon2 PHC string; never serialized.
    #[serde(skip)]
    pub password_hash: Option<String>,
    pub is_superuser: bool,
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
}

/// A member's role in an organization.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Member,
    Admin,
    Owner,
}

impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "member" => Ok(Role::Member),
            "admin" | "manager" => Ok(Role::Admin),
            "owner" => Ok(Role::Owner),
            _ => Err(format!(
                "unknown role {s:?} (expected owner, admin or member)"
            )),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Membership {
    pub org_id: OrgId,
    pub user_id: UserId,
    pub role: Role,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Team {
    pub id: TeamId,
    pub org_id: OrgId,
    pub slug: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// Events per minute and per hour; `None` means unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    pub per_minute: Option<i64>,
    pub per_hour: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Project {
    pub id: ProjectId,
    pub org_id: OrgId,
    /// The organization's slug, joined in for URLs and API shapes.
    pub org_slug: String,
    pub slug: String,
    pub name: String,
    pub platform: Option<String>,
    /// Overrides the server's retention when set.
    pub retention_days: Option<i32>,
    pub rate_limit: RateLimit,
    /// The grouping configuration new events are hashed with.
    pub grouping_config: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProjectKey {
    pub id: KeyId,
    pub project_id: ProjectId,
    /// 32 lowercase hex digits, as Sentry's.
    pub public_key: String,
    pub label: String,
    pub is_active: bool,
    pub rate_limit: RateLimit,
    pub created_at: DateTime<Utc>,
}

/// What ingest needs to know about a key: the key and its project's limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyAuth {
    pub key: ProjectKey,
    pub project_id: ProjectId,
    pub project_rate_limit: RateLimit,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: TokenId,
    pub user_id: UserId,
    pub name: String,
    /// Sentry-style scopes: `project:read`, `event:write`, `org:read`, …
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Every scope a token can hold, Sentry's names.
pub const ALL_SCOPES: &[&str] = &[
    "org:read",
    "org:write",
    "org:admin",
    "project:read",
    "project:write",
    "project:admin",
    "team:read",
    "team:write",
    "team:admin",
    "member:read",
    "member:write",
    "member:admin",
    "event:read",
    "event:write",
    "event:admin",
];

impl ApiToken {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope) || scope_implied(&self.scopes, scope)
    }
}

/// `x:admin` implies `x:write` implies `x:read`.
fn scope_implied(held: &[String], wanted: &str) -> bool {
    let Some((resource, level)) = wanted.split_once(':') else {
        return false;
    };
    let rank = |l: &str| match l {
        "read" => 1,
        "write" => 2,
        "admin" => 3,
        _ => 0,
    };
    held.iter().any(|s| {
        s.split_once(':')
            .is_some_and(|(r, l)| r == resource && rank(l) >= rank(level) && rank(level) > 0)
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IssueStatus {
    Unresolved,
    Resolved,
    Ignored,
}

impl IssueStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            IssueStatus::Unresolved => "unresolved",
            IssueStatus::Resolved => "resolved",
            IssueStatus::Ignored => "ignored",
        }
    }
}

impl FromStr for IssueStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "unresolved" => Ok(IssueStatus::Unresolved),
            "resolved" => Ok(IssueStatus::Resolved),
            "ignored" | "archived" | "muted" => Ok(IssueStatus::Ignored),
            _ => Err(format!(
                "unknown status {s:?} (expected unresolved, resolved or ignored)"
            )),
        }
    }
}

impl fmt::Display for IssueStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Sentry's substatus: why an issue is in its status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueSubstatus {
    New,
    Ongoing,
    Regressed,
    Escalating,
    ArchivedForever,
    ArchivedUntilConditionMet,
}

impl IssueSubstatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            IssueSubstatus::New => "new",
            IssueSubstatus::Ongoing => "ongoing",
            IssueSubstatus::Regressed => "regressed",
            IssueSubstatus::Escalating => "escalating",
            IssueSubstatus::ArchivedForever => "archived_forever",
            IssueSubstatus::ArchivedUntilConditionMet => "archived_until_condition_met",
        }
    }
}

impl FromStr for IssueSubstatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "new" => IssueSubstatus::New,
            "ongoing" => IssueSubstatus::Ongoing,
            "regressed" => IssueSubstatus::Regressed,
            "escalating" => IssueSubstatus::Escalating,
            "archived_forever" => IssueSubstatus::ArchivedForever,
            "archived_until_condition_met" => IssueSubstatus::ArchivedUntilConditionMet,
            _ => return Err(format!("unknown substatus {s:?}")),
        })
    }
}

impl fmt::Display for IssueSubstatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of events an issue groups (Sentry's `type` of an event).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    /// An exception.
    Error,
    /// A message, or anything without an exception.
    Default,
    /// A browser content-security-policy report.
    Csp,
    /// A performance transaction (stored, not grouped into an issue).
    Transaction,
}

impl EventType {
    pub fn as_str(&self) -> &'static str {
        match self {
            EventType::Error => "error",
            EventType::Default => "default",
            EventType::Csp => "csp",
            EventType::Transaction => "transaction",
        }
    }
}

impl FromStr for EventType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "error" => EventType::Error,
            "default" => EventType::Default,
            "csp" => EventType::Csp,
            "transaction" => EventType::Transaction,
            _ => return Err(format!("unknown event type {s:?}")),
        })
    }
}

/// A group of events that are the same problem.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Issue {
    pub id: IssueId,
    pub project_id: ProjectId,
    /// Per-project sequence number; shown as `SLUG-<base32>` like Sentry.
    pub short_id: i64,
    pub status: IssueStatus,
    pub substatus: IssueSubstatus,
    pub level: Level,
    pub event_type: EventType,
    pub title: String,
    pub culprit: String,
    pub metadata: serde_json::Value,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub times_seen: i64,
    pub first_release: Option<String>,
    pub last_release: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// Set by "resolve in next release": only events of a newer release than
    /// this one reopen the issue.
    pub resolved_in_release: Option<String>,
    /// Ignored until this time (then unresolved again, substatus escalating).
    pub ignore_until: Option<DateTime<Utc>>,
    /// Ignored until this many more events arrive.
    pub ignore_count: Option<i64>,
    /// `times_seen` when the ignore-count window began.
    pub ignore_count_base: Option<i64>,
    /// Who looks after it: a member or a team of the organization.
    pub assignee: Option<Assignee>,
    /// How many comments it has (kept in step by the store).
    pub num_comments: i64,
}

/// Whom an issue is assigned to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Assignee {
    User(UserId),
    Team(TeamId),
}

impl fmt::Display for Assignee {
    /// Sentry's actor id: `user:ID` or `team:ID`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Assignee::User(id) => write!(f, "user:{id}"),
            Assignee::Team(id) => write!(f, "team:{id}"),
        }
    }
}

impl FromStr for Assignee {
    type Err = String;
    /// Sentry's actor id: `user:ID` or `team:ID`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{s:?} is not an actor id (expected user:ID or team:ID)");
        let (kind, id) = s.split_once(':').ok_or_else(bad)?;
        let id: i64 = id.parse().map_err(|_| bad())?;
        match kind {
            "user" => Ok(Assignee::User(id)),
            "team" => Ok(Assignee::Team(id)),
            _ => Err(bad()),
        }
    }
}

/// Sentry's short id, e.g. `BACKEND-3A`: the project slug upper-cased and the
/// issue's per-project number in base 32 (digits then letters, no I/L/O/U).
pub fn format_short_id(project_slug: &str, short_id: i64) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let mut n = short_id.max(0) as u64;
    let mut digits = Vec::new();
    loop {
        digits.push(ALPHABET[(n % 32) as usize]);
        n /= 32;
        if n == 0 {
            break;
        }
    }
    digits.reverse();
    format!(
        "{}-{}",
        project_slug.to_ascii_uppercase(),
        String::from_utf8_lossy(&digits)
    )
}

/// A stored event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub project_id: ProjectId,
    pub event_id: Uuid,
    /// `None` for transactions, which do not group into issues.
    pub issue_id: Option<IssueId>,
    pub event_type: EventType,
    pub level: Level,
    pub title: String,
    pub culprit: String,
    pub platform: String,
    pub release: Option<String>,
    pub environment: Option<String>,
    pub timestamp: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub tags: Vec<(String, String)>,
    /// The whole normalized event as JSON.
    pub data: serde_json::Value,
}

/// One tag value's count within an issue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TagValueCount {
    pub key: String,
    pub value: String,
    pub times_seen: i64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

/// One tag key of an issue: how many of its events carry it, how many distinct values it has,
/// and its most seen values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TagKeyCounts {
    pub key: String,
    /// Sum of the values' `times_seen`.
    pub times_seen: i64,
    pub unique_values: i64,
    /// Most seen first, ties by value.
    pub top_values: Vec<TagValueCount>,
}

/// Events of one issue in one hour (or day, after rollup).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountBucket {
    pub start: DateTime<Utc>,
    pub count: i64,
}

/// A signed-in browser session. The store keeps only the SHA-256 of the
/// cookie's secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub user_id: UserId,
    /// Random per session; every form of the session carries it.
    pub csrf_token: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// An invitation to join an organization; the link's secret is kept only as
/// its SHA-256.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Invitation {
    pub id: i64,
    pub org_id: OrgId,
    pub email: String,
    pub role: Role,
    /// `None` once the inviting user is gone.
    pub invited_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A comment on an issue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comment {
    pub id: i64,
    pub issue_id: IssueId,
    /// `None` once the author's account is gone.
    pub user_id: Option<UserId>,
    /// The author's name (or email when the name is empty); kept when the
    /// account is gone.
    pub user_name: String,
    pub text: String,
    pub created_at: DateTime<Utc>,
}

/// A member of an organization with their role and the organization's teams
/// they belong to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub user: User,
    pub role: Role,
    /// Ascending.
    pub teams: Vec<TeamId>,
    /// When they joined.
    pub created_at: DateTime<Utc>,
}

/// A job that could never be processed, kept for an admin to look at and replay.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub id: i64,
    pub queue: String,
    /// The job payload, as the queue held it (JSON text).
    pub payload: String,
    pub error: String,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_like_sentry() {
        assert_eq!(format_short_id("backend", 1), "BACKEND-1");
        assert_eq!(format_short_id("backend", 31), "BACKEND-Z");
        assert_eq!(format_short_id("backend", 32), "BACKEND-10");
        assert_eq!(format_short_id("web-app", 106), "WEB-APP-3A");
    }

    #[test]
    fn assignees_as_actor_ids() {
        assert_eq!(Assignee::User(7).to_string(), "user:7");
        assert_eq!("team:12".parse::<Assignee>(), Ok(Assignee::Team(12)));
        assert_eq!("user:3".parse::<Assignee>(), Ok(Assignee::User(3)));
        for bad in ["user", "user:", "user:x", "group:1", "7", ""] {
            assert!(bad.parse::<Assignee>().is_err(), "{bad}");
        }
    }

    #[test]
    fn scopes_imply_lower_levels() {
        let token = ApiToken {
            id: 1,
            user_id: 1,
            name: "t".into(),
            scopes: vec!["project:write".into(), "event:read".into()],
            created_at: Utc::now(),
            last_used_at: None,
        };
        assert!(token.has_scope("project:read"));
        assert!(token.has_scope("project:write"));
        assert!(!token.has_scope("project:admin"));
        assert!(token.has_scope("event:read"));
        assert!(!token.has_scope("event:write"));
        assert!(!token.has_scope("org:read"));
    }
}
