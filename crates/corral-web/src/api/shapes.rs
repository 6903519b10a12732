//! Records in Sentry's API shapes (field names and types as Sentry's: ids
//! and `count` as strings, times in ISO-8601), so Sentry tooling reads them
//! unchanged. Each is a type with a schema in the OpenAPI document.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use corral_core::model::{
    self, Assignee, Comment, Invitation, Issue, IssueStatus, Member, Organization, Project,
    ProjectKey, Role, StoredEvent, Team, TeamId, User, UserId, format_short_id,
};
use serde::{Serialize, Serializer};
use serde_json::{Value, json};
use utoipa::ToSchema;

/// A time in ISO-8601 (RFC 3339, milliseconds, UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ToSchema)]
#[schema(value_type = String, format = DateTime)]
pub struct Time(pub DateTime<Utc>);

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.to_rfc3339_opts(SecondsFormat::Millis, true))
    }
}

impl From<DateTime<Utc>> for Time {
    fn from(t: DateTime<Utc>) -> Self {
        Time(t)
    }
}

// --- organizations -------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct OrgStatus {
    pub id: &'static str,
    pub name: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Organization)]
pub struct OrganizationShape {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub date_created: Time,
    pub status: OrgStatus,
    /// Always false (Sentry's field; sentry-cli reads it).
    pub is_early_adopter: bool,
    /// Always false: Corral has no second factor yet.
    #[serde(rename = "require2FA")]
    pub require_2fa: bool,
    pub require_email_verification: bool,
    /// Sentry's feature flags; Corral has none.
    pub features: Vec<String>,
    /// The caller's role (`owner`, `admin`, `member`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_role: Option<&'static str>,
}

pub fn organization(o: &Organization, role: Option<Role>) -> OrganizationShape {
    OrganizationShape {
        id: o.id.to_string(),
        slug: o.slug.clone(),
        name: o.name.clone(),
        date_created: o.created_at.into(),
        status: OrgStatus {
            id: "active",
            name: "active",
        },
        is_early_adopter: false,
        require_2fa: false,
        require_email_verification: false,
        features: Vec::new(),
        org_role: role.map(|r| r.as_str()),
    }
}

// --- projects ------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct OrgRef {
    pub id: String,
    pub slug: String,
}

/// A team as other records name it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TeamRef {
    pub id: String,
    pub slug: String,
    pub name: String,
}

impl From<&Team> for TeamRef {
    fn from(t: &Team) -> Self {
        TeamRef {
            id: t.id.to_string(),
            slug: t.slug.clone(),
            name: t.name.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Project)]
pub struct ProjectShape {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub platform: Option<String>,
    pub date_created: Time,
    /// Whether the caller sees it as a member (always true: lists hold only
    /// what the caller may see).
    pub is_member: bool,
    pub status: &'static str,
    pub organization: OrgRef,
    /// The first of its teams (Sentry's older field; sentry-cli reads it).
    pub team: Option<TeamRef>,
    /// The teams the project belongs to.
    pub teams: Vec<TeamRef>,
    /// Days events are kept; `null` is the server's default (Corral's own field).
    pub retention_days: Option<i32>,
}

pub fn project(p: &Project, teams: Vec<TeamRef>) -> ProjectShape {
    ProjectShape {
        id: p.id.to_string(),
        slug: p.slug.clone(),
        name: p.name.clone(),
        platform: p.platform.clone(),
        date_created: p.created_at.into(),
        is_member: true,
        status: "active",
        organization: OrgRef {
            id: p.org_id.to_string(),
            slug: p.org_slug.clone(),
        },
        team: teams.first().cloned(),
        teams,
        retention_days: p.retention_days,
    }
}

/// Which teams each project of an organization belongs to.
#[derive(Default)]
pub struct ProjectTeams(HashMap<model::ProjectId, Vec<TeamRef>>);

impl ProjectTeams {
    pub fn new(links: &[(model::ProjectId, TeamId)], teams: &[Team]) -> ProjectTeams {
        let by_id: HashMap<TeamId, &Team> = teams.iter().map(|t| (t.id, t)).collect();
        let mut map: HashMap<model::ProjectId, Vec<TeamRef>> = HashMap::new();
        for (project, team) in links {
            if let Some(t) = by_id.get(team) {
                map.entry(*project).or_default().push(TeamRef::from(*t));
            }
        }
        for list in map.values_mut() {
            list.sort_by(|a, b| a.slug.cmp(&b.slug));
        }
        ProjectTeams(map)
    }

    pub fn of(&self, project: model::ProjectId) -> Vec<TeamRef> {
        self.0.get(&project).cloned().unwrap_or_default()
    }
}

// --- keys ----------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyRateLimit {
    /// Seconds: 60 or 3600.
    pub window: i64,
    pub count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyDsn {
    pub public: String,
    pub secret: String,
    pub csp: String,
    pub security: String,
    pub store: String,
    pub envelope: String,
}

/// A DSN key with its DSNs, as Sentry lists them.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = ProjectKey)]
pub struct ProjectKeyShape {
    /// The public key (Sentry's key id).
    pub id: String,
    pub name: String,
    pub label: String,
    pub public: String,
    /// Always `null`: Corral keys have no secret part.
    pub secret: Option<String>,
    pub project_id: i64,
    pub is_active: bool,
    pub rate_limit: Option<KeyRateLimit>,
    pub date_created: Time,
    pub dsn: KeyDsn,
}

pub fn project_key(k: &ProjectKey, base_url: &str) -> ProjectKeyShape {
    let (scheme, host) = base_url.split_once("://").unwrap_or(("http", base_url));
    let dsn = format!("{scheme}://{}@{host}/{}", k.public_key, k.project_id);
    let security = format!(
        "{base_url}/api/{}/security/?sentry_key={}",
        k.project_id, k.public_key
    );
    let rate_limit = k
        .rate_limit
        .per_minute
        .map(|count| KeyRateLimit { window: 60, count })
        .or_else(|| {
            k.rate_limit.per_hour.map(|count| KeyRateLimit {
                window: 3600,
                count,
            })
        });
    ProjectKeyShape {
        id: k.public_key.clone(),
        name: k.label.clone(),
        label: k.label.clone(),
        public: k.public_key.clone(),
        secret: None,
        project_id: k.project_id,
        is_active: k.is_active,
        rate_limit,
        date_created: k.created_at.into(),
        dsn: KeyDsn {
            public: dsn.clone(),
            secret: dsn,
            csp: security.clone(),
            security,
            store: format!("{base_url}/api/{}/store/", k.project_id),
            envelope: format!("{base_url}/api/{}/envelope/", k.project_id),
        },
    }
}

// --- people --------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = User)]
pub struct UserShape {
    pub id: String,
    pub name: String,
    /// Sentry's username; Corral's is the email.
    pub username: String,
    pub email: String,
    pub is_active: bool,
    pub is_superuser: bool,
    pub date_joined: Time,
}

pub fn user(u: &User) -> UserShape {
    UserShape {
        id: u.id.to_string(),
        name: display_name(u),
        username: u.email.clone(),
        email: u.email.clone(),
        is_active: u.is_active,
        is_superuser: u.is_superuser,
        date_joined: u.created_at.into(),
    }
}

fn display_name(u: &User) -> String {
    if u.name.is_empty() {
        u.email.clone()
    } else {
        u.name.clone()
    }
}

/// A member of an organization, or an invitation (`pending`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Member)]
pub struct MemberShape {
    /// The user's id (the invitation's for pending ones).
    pub id: String,
    pub email: String,
    pub name: String,
    /// `owner`, `admin` or `member`.
    pub role: &'static str,
    pub org_role: &'static str,
    pub role_name: &'static str,
    pub date_created: Time,
    pub pending: bool,
    pub expired: bool,
    /// Slugs of the organization's teams the member is in.
    pub teams: Vec<String>,
    pub user: Option<UserShape>,
    /// The invitation link, when it could not be sent by email.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invite_link: Option<String>,
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Owner => "Owner",
        Role::Admin => "Admin",
        Role::Member => "Member",
    }
}

pub fn member(m: &Member, teams: &[Team]) -> MemberShape {
    let slugs: HashMap<TeamId, &str> = teams.iter().map(|t| (t.id, t.slug.as_str())).collect();
    MemberShape {
        id: m.user.id.to_string(),
        email: m.user.email.clone(),
        name: display_name(&m.user),
        role: m.role.as_str(),
        org_role: m.role.as_str(),
        role_name: role_name(m.role),
        date_created: m.created_at.into(),
        pending: false,
        expired: false,
        teams: m
            .teams
            .iter()
            .filter_map(|t| slugs.get(t).map(|s| s.to_string()))
            .collect(),
        user: Some(user(&m.user)),
        invite_link: None,
    }
}

pub fn invitation(i: &Invitation, invite_link: Option<String>) -> MemberShape {
    MemberShape {
        id: i.id.to_string(),
        email: i.email.clone(),
        name: i.email.clone(),
        role: i.role.as_str(),
        org_role: i.role.as_str(),
        role_name: role_name(i.role),
        date_created: i.created_at.into(),
        pending: true,
        expired: i.expires_at <= Utc::now(),
        teams: Vec::new(),
        user: None,
        invite_link,
    }
}

// --- teams ---------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Team)]
pub struct TeamShape {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub date_created: Time,
    pub member_count: usize,
    /// Whether the caller is in the team.
    pub is_member: bool,
    /// The team's projects the caller may see.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub projects: Option<Vec<ProjectShape>>,
}

pub fn team(
    t: &Team,
    member_count: usize,
    is_member: bool,
    projects: Option<Vec<ProjectShape>>,
) -> TeamShape {
    TeamShape {
        id: t.id.to_string(),
        slug: t.slug.clone(),
        name: t.name.clone(),
        date_created: t.created_at.into(),
        member_count,
        is_member,
        projects,
    }
}

// --- issues --------------------------------------------------------------------

/// Whom an issue is assigned to: Sentry's actor.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Actor {
    /// `user` or `team`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// Names of the people and teams of an organization, for actors.
#[derive(Default)]
pub struct Actors {
    pub users: HashMap<UserId, User>,
    pub teams: HashMap<TeamId, Team>,
}

impl Actors {
    pub fn actor(&self, a: &Assignee) -> Actor {
        match a {
            Assignee::User(id) => Actor {
                kind: "user",
                id: id.to_string(),
                name: self
                    .users
                    .get(id)
                    .map(display_name)
                    .unwrap_or_else(|| id.to_string()),
                email: self.users.get(id).map(|u| u.email.clone()),
            },
            Assignee::Team(id) => Actor {
                kind: "team",
                id: id.to_string(),
                name: self
                    .teams
                    .get(id)
                    .map(|t| t.slug.clone())
                    .unwrap_or_else(|| id.to_string()),
                email: None,
            },
        }
    }
}

#[derive(Debug, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusDetails {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_next_release: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_release: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignore_until: Option<Time>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignore_count: Option<i64>,
}

pub fn status_details(i: &Issue) -> StatusDetails {
    StatusDetails {
        in_next_release: i.resolved_in_release.as_ref().map(|_| true),
        in_release: i.resolved_in_release.clone(),
        ignore_until: i.ignore_until.map(Time),
        ignore_count: i.ignore_count,
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IssueProject {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub platform: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Release {
    pub version: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Issue)]
pub struct IssueShape {
    pub id: String,
    /// e.g. `BACKEND-3A`.
    pub short_id: String,
    pub title: String,
    pub culprit: String,
    /// The issue's page.
    pub permalink: String,
    pub level: &'static str,
    /// `unresolved`, `resolved` or `ignored`.
    pub status: &'static str,
    /// `null` for resolved issues.
    pub substatus: Option<&'static str>,
    pub status_details: StatusDetails,
    pub is_public: bool,
    pub platform: Option<String>,
    pub project: IssueProject,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub issue_type: &'static str,
    pub issue_category: &'static str,
    #[schema(value_type = Object)]
    pub metadata: Value,
    pub num_comments: i64,
    pub assigned_to: Option<Actor>,
    pub is_bookmarked: bool,
    pub is_subscribed: bool,
    pub has_seen: bool,
    pub annotations: Vec<String>,
    /// Events seen, as a string.
    pub count: String,
    pub user_count: i64,
    pub first_seen: Time,
    pub last_seen: Time,
    pub first_release: Option<Release>,
    pub last_release: Option<Release>,
    pub logger: Option<String>,
    pub share_id: Option<String>,
}

pub fn issue(i: &Issue, p: &Project, actors: &Actors, base_url: &str) -> IssueShape {
    IssueShape {
        id: i.id.to_string(),
        short_id: format_short_id(&p.slug, i.short_id),
        title: i.title.clone(),
        culprit: i.culprit.clone(),
        permalink: format!("{base_url}/organizations/{}/issues/{}/", p.org_slug, i.id),
        level: i.level.as_str(),
        status: i.status.as_str(),
        // Sentry has no substatus for resolved issues
        substatus: (i.status != IssueStatus::Resolved).then(|| i.substatus.as_str()),
        status_details: status_details(i),
        is_public: false,
        platform: p.platform.clone(),
        project: IssueProject {
            id: p.id.to_string(),
            name: p.name.clone(),
            slug: p.slug.clone(),
            platform: p.platform.clone(),
        },
        kind: i.event_type.as_str(),
        issue_type: "error",
        issue_category: "error",
        metadata: i.metadata.clone(),
        num_comments: i.num_comments,
        assigned_to: i.assignee.as_ref().map(|a| actors.actor(a)),
        is_bookmarked: false,
        is_subscribed: false,
        has_seen: false,
        annotations: Vec::new(),
        count: i.times_seen.to_string(),
        user_count: 0,
        first_seen: i.first_seen.into(),
        last_seen: i.last_seen.into(),
        first_release: i
            .first_release
            .as_ref()
            .map(|v| Release { version: v.clone() }),
        last_release: i
            .last_release
            .as_ref()
            .map(|v| Release { version: v.clone() }),
        logger: None,
        share_id: None,
    }
}

/// What a bulk change changed (Sentry answers the fields it applied).
#[derive(Debug, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BulkChange {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_details: Option<StatusDetails>,
    /// `null` when the issues were unassigned.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Actor>)]
    pub assigned_to: Option<Option<Actor>>,
}

// --- events --------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct EventTag {
    pub key: String,
    pub value: String,
}

/// The short form used in event lists.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventSummary {
    pub id: String,
    #[serde(rename = "eventID")]
    pub event_id: String,
    #[serde(rename = "groupID")]
    pub group_id: Option<String>,
    #[serde(rename = "projectID")]
    pub project_id: String,
    pub title: String,
    pub message: String,
    pub culprit: String,
    pub platform: String,
    #[serde(rename = "event.type")]
    pub event_type: &'static str,
    pub date_created: Time,
    pub date_received: Time,
    pub tags: Vec<EventTag>,
    /// The event's user interface, or `null`.
    #[schema(value_type = Option<Object>)]
    pub user: Value,
}

fn message_of(e: &StoredEvent) -> String {
    let d = &e.data;
    d.pointer("/logentry/formatted")
        .or_else(|| d.pointer("/logentry/message"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_default()
}

pub fn event_summary(e: &StoredEvent) -> EventSummary {
    EventSummary {
        id: e.event_id.simple().to_string(),
        event_id: e.event_id.simple().to_string(),
        group_id: e.issue_id.map(|i| i.to_string()),
        project_id: e.project_id.to_string(),
        title: e.title.clone(),
        message: message_of(e),
        culprit: e.culprit.clone(),
        platform: e.platform.clone(),
        event_type: e.event_type.as_str(),
        date_created: e.timestamp.into(),
        date_received: e.received_at.into(),
        tags: e
            .tags
            .iter()
            .map(|(k, v)| EventTag {
                key: k.clone(),
                value: v.clone(),
            })
            .collect(),
        user: e.data.get("user").cloned().unwrap_or(Value::Null),
    }
}

/// One of Sentry's `entries`: an interface of the event.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventEntry {
    /// `exception`, `stacktrace`, `threads`, `message`, `request`,
    /// `breadcrumbs` or `csp`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[schema(value_type = Object)]
    pub data: Value,
}

fn entries(d: &Value) -> Vec<EventEntry> {
    [
        ("exception", "exception"),
        ("stacktrace", "stacktrace"),
        ("threads", "threads"),
        ("message", "logentry"),
        ("request", "request"),
        ("breadcrumbs", "breadcrumbs"),
        ("csp", "csp"),
    ]
    .into_iter()
    .filter_map(|(kind, key)| {
        d.get(key).map(|data| EventEntry {
            kind,
            data: data.clone(),
        })
    })
    .collect()
}

/// The full event.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    #[serde(flatten)]
    pub summary: EventSummary,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub level: &'static str,
    #[schema(value_type = Object)]
    pub metadata: Value,
    pub entries: Vec<EventEntry>,
    #[schema(value_type = Option<Object>)]
    pub contexts: Value,
    #[schema(value_type = Option<Object>)]
    pub sdk: Value,
    #[schema(value_type = Option<Vec<String>>)]
    pub fingerprints: Value,
    #[schema(value_type = Option<Object>)]
    pub extra: Value,
    #[schema(value_type = Option<String>)]
    pub release: Value,
    #[schema(value_type = Option<String>)]
    pub dist: Value,
    #[schema(value_type = Option<String>)]
    pub environment: Value,
    /// Size of the stored event in bytes.
    pub size: usize,
    /// The issue's event before this one (only for events read through an issue).
    #[serde(rename = "previousEventID", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub previous_event_id: Option<Option<String>>,
    /// The issue's event after this one (only for events read through an issue).
    #[serde(rename = "nextEventID", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub next_event_id: Option<Option<String>>,
}

pub fn event(e: &StoredEvent) -> Event {
    let d = &e.data;
    let field = |key: &str| d.get(key).cloned().unwrap_or(Value::Null);
    Event {
        summary: event_summary(e),
        kind: e.event_type.as_str(),
        level: e.level.as_str(),
        metadata: d.get("metadata").cloned().unwrap_or(json!({})),
        entries: entries(d),
        contexts: field("contexts"),
        sdk: field("sdk"),
        fingerprints: field("fingerprint"),
        extra: field("extra"),
        release: field("release"),
        dist: field("dist"),
        environment: field("environment"),
        size: d.to_string().len(),
        previous_event_id: None,
        next_event_id: None,
    }
}

// --- tags ----------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TagValue {
    pub key: String,
    pub name: String,
    pub value: String,
    pub count: i64,
    pub first_seen: Time,
    pub last_seen: Time,
}

pub fn tag_value(v: &model::TagValueCount) -> TagValue {
    TagValue {
        key: v.key.clone(),
        name: v.value.clone(),
        value: v.value.clone(),
        count: v.times_seen,
        first_seen: v.first_seen.into(),
        last_seen: v.last_seen.into(),
    }
}

/// A tag key of an issue with its most common values.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TagKey {
    pub key: String,
    pub name: String,
    /// Events with the tag.
    pub total_values: i64,
    /// Distinct values.
    pub unique_values: usize,
    /// The most common values, most common first.
    pub top_values: Vec<TagValue>,
}

// --- comments ------------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct NoteData {
    pub text: String,
}

/// A comment, as Sentry's `note` activity.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = Comment)]
pub struct CommentShape {
    pub id: String,
    /// Always `note`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub data: NoteData,
    /// The author; `null` once their account is gone.
    pub user: Option<Actor>,
    pub date_created: Time,
}

pub fn comment(c: &Comment, actors: &Actors) -> CommentShape {
    CommentShape {
        id: c.id.to_string(),
        kind: "note",
        data: NoteData {
            text: c.text.clone(),
        },
        user: c.user_id.map(|id| {
            let mut actor = actors.actor(&Assignee::User(id));
            if !actors.users.contains_key(&id) {
                actor.name = c.user_name.clone();
            }
            actor
        }),
        date_created: c.created_at.into(),
    }
}
