//! Alerting's records and rules, free of I/O: alert rules (conditions,
//! filters, channels, the action interval), the organization's channels,
//! what the digest records for alerts (triggers), the messages deliveries
//! carry, the delivery log, the issue activity timeline and people's mail
//! settings.
//!
//! How it runs: the digest records *that* an issue is new, regressed or
//! escalating in its own transaction (an [`AlertTrigger`] and an
//! [`Activity`]); the worker's alert runner (crate `corral-alerts`) takes the
//! triggers, matches them against the project's rules here ([`RuleSpec::matches`]),
//! and fires each matching rule at most once per action interval per issue,
//! in one transaction with the deliveries it queues ([`AlertFire`]). Window
//! conditions (seen N times, N users, event rate) are evaluated by the runner
//! on a tick from capped counts, never per event.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use corral_protocol::Level;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::{Issue, IssueId, OrgId, ProjectId, TeamId, UserId};
use crate::store::IssueQuery;

pub type RuleId = i64;
pub type ChannelId = i64;
pub type DeliveryId = i64;
pub type ActivityId = i64;
pub type TriggerId = i64;

/// The action interval a rule gets when it names none.
pub const DEFAULT_ACTION_INTERVAL_MINUTES: i64 = 30;
/// The longest window a window condition may look at (a week).
pub const MAX_WINDOW_MINUTES: i64 = 7 * 24 * 60;
/// How long the digest's per-minute window counts (`issue_minutely`) are
/// kept; the alert runner sweeps older ones. Windows up to two hours are
/// counted from them to the minute.
pub const WINDOW_COUNTS_KEPT_MINUTES: i64 = 3 * 60;
/// The longest action interval (a week).
pub const MAX_ACTION_INTERVAL_MINUTES: i64 = 7 * 24 * 60;
/// At most this many conditions, filters and channels per rule.
pub const MAX_RULE_PARTS: usize = 20;
/// Names of rules and channels.
pub const MAX_NAME_CHARS: usize = 200;

/// An invalid rule or channel: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {reason}")]
pub struct AlertSpecError {
    pub field: &'static str,
    pub reason: String,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> AlertSpecError {
    AlertSpecError {
        field,
        reason: reason.into(),
    }
}

/// What makes a rule fire. A rule fires when ANY of its conditions holds
/// (Sentry's "any" match) and ALL of its filters pass.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Condition {
    /// An issue is seen for the first time.
    NewIssue,
    /// A resolved issue receives an event again.
    Regression,
    /// An ignored issue's ignore ends by its count or time.
    Escalating,
    /// An issue is seen more than `count` times in `minutes`.
    Frequency { count: i64, minutes: i64 },
    /// More than `count` distinct users are affected by an issue in `minutes`.
    Users { count: i64, minutes: i64 },
    /// The project receives more than `count` events in `minutes`.
    EventRate { count: i64, minutes: i64 },
}

impl Condition {
    /// The trigger kind this condition answers, for conditions the digest decides.
    pub fn trigger(&self) -> Option<TriggerKind> {
        match self {
            Condition::NewIssue => Some(TriggerKind::NewIssue),
            Condition::Regression => Some(TriggerKind::Regression),
            Condition::Escalating => Some(TriggerKind::Escalating),
            _ => None,
        }
    }

    /// `(count, minutes)` of a window condition.
    pub fn window(&self) -> Option<(i64, i64)> {
        match *self {
            Condition::Frequency { count, minutes }
            | Condition::Users { count, minutes }
            | Condition::EventRate { count, minutes } => Some((count, minutes)),
            _ => None,
        }
    }

    pub fn validate(&self) -> Result<(), AlertSpecError> {
        if let Some((count, minutes)) = self.window() {
            if !(0..=1_000_000_000).contains(&count) {
                return Err(invalid("conditions", "count must be 0 to 1,000,000,000"));
            }
            if !(1..=MAX_WINDOW_MINUTES).contains(&minutes) {
                return Err(invalid(
                    "conditions",
                    format!("minutes must be 1 to {MAX_WINDOW_MINUTES}"),
                ));
            }
        }
        Ok(())
    }

    /// A sentence for pages and messages.
    pub fn describe(&self) -> String {
        match self {
            Condition::NewIssue => "a new issue is seen".into(),
            Condition::Regression => "an issue regresses".into(),
            Condition::Escalating => "an ignored issue escalates".into(),
            Condition::Frequency { count, minutes } => {
                format!("an issue is seen more than {count} times in {minutes} min")
            }
            Condition::Users { count, minutes } => {
                format!("more than {count} users are affected by an issue in {minutes} min")
            }
            Condition::EventRate { count, minutes } => {
                format!("the project receives more than {count} events in {minutes} min")
            }
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LevelMatch {
    AtLeast,
    Exactly,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TagMatch {
    Equals,
    Contains,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgeMatch {
    /// The issue was first seen more than `minutes` ago.
    OlderThan,
    /// The issue was first seen at most `minutes` ago.
    NewerThan,
}

/// What an issue (and the event that triggered the check, when there is
/// one) must be like for a rule to fire. All filters must pass.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Filter {
    Environment {
        value: String,
    },
    Level {
        level: Level,
        r#match: LevelMatch,
    },
    Release {
        value: String,
    },
    Tag {
        key: String,
        r#match: TagMatch,
        value: String,
    },
    IssueAge {
        r#match: AgeMatch,
        minutes: i64,
    },
    /// The issue search language (`is:unresolved level:error browser:Firefox`).
    Search {
        query: String,
    },
}

impl Filter {
    pub fn validate(&self) -> Result<(), AlertSpecError> {
        let text = |v: &str, what: &str| {
            if v.trim().is_empty() || v.len() > 200 {
                Err(invalid("filters", format!("{what} must be 1 to 200 bytes")))
            } else {
                Ok(())
            }
        };
        match self {
            Filter::Environment { value } => text(value, "environment"),
            Filter::Release { value } => text(value, "release"),
            Filter::Level { .. } => Ok(()),
            Filter::Tag { key, value, .. } => {
                text(key, "tag key")?;
                text(value, "tag value")
            }
            Filter::IssueAge { minutes, .. } => {
                if *minutes < 0 || *minutes > 10 * 365 * 24 * 60 {
                    Err(invalid("filters", "issue age must be 0 to 10 years"))
                } else {
                    Ok(())
                }
            }
            Filter::Search { query } => {
                crate::search::parse_query(query, IssueQuery::default(), Utc::now())
                    .map(|_| ())
                    .map_err(|e| invalid("filters", format!("search: {e}")))
            }
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Filter::Environment { value } => format!("environment is {value}"),
            Filter::Level { level, r#match } => match r#match {
                LevelMatch::AtLeast => format!("level is at least {}", level.as_str()),
                LevelMatch::Exactly => format!("level is {}", level.as_str()),
            },
            Filter::Release { value } => format!("release is {value}"),
            Filter::Tag {
                key,
                r#match,
                value,
            } => match r#match {
                TagMatch::Equals => format!("tag {key} is {value}"),
                TagMatch::Contains => format!("tag {key} contains {value}"),
            },
            Filter::IssueAge { r#match, minutes } => match r#match {
                AgeMatch::OlderThan => format!("issue is older than {minutes} min"),
                AgeMatch::NewerThan => format!("issue is at most {minutes} min old"),
            },
            Filter::Search { query } => format!("issue matches \"{query}\""),
        }
    }
}

/// The part of a rule a user writes: conditions, filters, where to send,
/// and how often at most.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSpec {
    pub conditions: Vec<Condition>,
    #[serde(default)]
    pub filters: Vec<Filter>,
    /// Channels of the project's organization.
    pub channels: Vec<ChannelId>,
    /// A rule fires at most once per this many minutes for one issue (for
    /// the event-rate condition: for the project).
    #[serde(default = "default_interval")]
    pub action_interval_minutes: i64,
}

fn default_interval() -> i64 {
    DEFAULT_ACTION_INTERVAL_MINUTES
}

/// What a rule is checked against: the issue and, when an event decided
/// it (new, regressed, escalating), that event's environment, release,
/// level and tags; for window conditions, the issue's latest event.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AlertSubject {
    pub environment: Option<String>,
    pub release: Option<String>,
    pub level: Option<Level>,
    pub tags: Vec<(String, String)>,
}

impl RuleSpec {
    pub fn validate(&self) -> Result<(), AlertSpecError> {
        if self.conditions.is_empty() {
            return Err(invalid("conditions", "a rule needs at least one condition"));
        }
        if self.conditions.len() > MAX_RULE_PARTS
            || self.filters.len() > MAX_RULE_PARTS
            || self.channels.len() > MAX_RULE_PARTS
        {
            return Err(invalid(
                "spec",
                format!("at most {MAX_RULE_PARTS} conditions, filters and channels each"),
            ));
        }
        for c in &self.conditions {
            c.validate()?;
        }
        for f in &self.filters {
            f.validate()?;
        }
        if !(1..=MAX_ACTION_INTERVAL_MINUTES).contains(&self.action_interval_minutes) {
            return Err(invalid(
                "action_interval_minutes",
                "must be 1 minute to 7 days",
            ));
        }
        Ok(())
    }

    pub fn action_interval(&self) -> Duration {
        Duration::minutes(self.action_interval_minutes.max(1))
    }

    /// Whether a trigger of this kind satisfies one of the conditions.
    pub fn answers(&self, kind: TriggerKind) -> bool {
        self.conditions.iter().any(|c| c.trigger() == Some(kind))
    }

    /// The window conditions (seen N times, N users, event rate).
    pub fn windows(&self) -> impl Iterator<Item = &Condition> {
        self.conditions.iter().filter(|c| c.window().is_some())
    }

    /// Whether every filter passes for the issue and subject at `now`.
    pub fn matches(&self, issue: &Issue, subject: &AlertSubject, now: DateTime<Utc>) -> bool {
        self.filters
            .iter()
            .all(|f| filter_matches(f, issue, subject, now))
    }
}

fn tag<'a>(subject: &'a AlertSubject, key: &str) -> impl Iterator<Item = &'a str> {
    let key = key.to_owned();
    subject
        .tags
        .iter()
        .filter(move |(k, _)| *k == key)
        .map(|(_, v)| v.as_str())
}

fn filter_matches(f: &Filter, issue: &Issue, subject: &AlertSubject, now: DateTime<Utc>) -> bool {
    match f {
        Filter::Environment { value } => subject.environment.as_deref() == Some(value.as_str()),
        Filter::Release { value } => subject.release.as_deref() == Some(value.as_str()),
        Filter::Level { level, r#match } => {
            let seen = subject.level.unwrap_or(issue.level);
            match r#match {
                LevelMatch::AtLeast => seen >= *level,
                LevelMatch::Exactly => seen == *level,
            }
        }
        Filter::Tag {
            key,
            r#match,
            value,
        } => tag(subject, key).any(|v| match r#match {
            TagMatch::Equals => v == value,
            TagMatch::Contains => v.contains(value.as_str()),
        }),
        Filter::IssueAge { r#match, minutes } => {
            let age = now - issue.first_seen;
            match r#match {
                AgeMatch::OlderThan => age > Duration::minutes(*minutes),
                AgeMatch::NewerThan => age <= Duration::minutes(*minutes),
            }
        }
        Filter::Search { query } => {
            match crate::search::parse_query(query, IssueQuery::default(), now) {
                Ok(q) => query_matches(&q, issue, subject),
                // validated when saved; a query that no longer parses matches nothing
                Err(_) => false,
            }
        }
    }
}

/// An issue query evaluated against one issue and the subject's tags
/// (release and environment are tags of the subject, as in the issue list).
pub fn query_matches(q: &IssueQuery, issue: &Issue, subject: &AlertSubject) -> bool {
    use crate::store::AssignedFilter;
    if !q.project_ids.is_empty() && !q.project_ids.contains(&issue.project_id) {
        return false;
    }
    if q.status.is_some_and(|s| s != issue.status) {
        return false;
    }
    if !q.levels.is_empty() && !q.levels.contains(&issue.level) {
        return false;
    }
    if let Some(r) = &q.release
        && subject.release.as_deref() != Some(r.as_str())
        && issue.last_release.as_deref() != Some(r.as_str())
    {
        return false;
    }
    if let Some(e) = &q.environment
        && subject.environment.as_deref() != Some(e.as_str())
    {
        return false;
    }
    for (k, v) in &q.tags {
        if !tag(subject, k).any(|t| t == v) {
            return false;
        }
    }
    if q.first_seen_after.is_some_and(|t| issue.first_seen < t)
        || q.last_seen_after.is_some_and(|t| issue.last_seen < t)
    {
        return false;
    }
    if let Some(text) = &q.text {
        let needle = text.to_lowercase();
        if !issue.title.to_lowercase().contains(&needle)
            && !issue.culprit.to_lowercase().contains(&needle)
        {
            return false;
        }
    }
    match &q.assigned {
        None => true,
        Some(AssignedFilter::Assigned) => issue.assignee.is_some(),
        Some(AssignedFilter::Unassigned) => issue.assignee.is_none(),
        Some(AssignedFilter::To(a)) => issue.assignee == Some(*a),
        Some(AssignedFilter::ToAnyOf(list)) => issue.assignee.is_some_and(|a| list.contains(&a)),
    }
}

/// An alert rule of a project.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertRule {
    pub id: RuleId,
    pub project_id: ProjectId,
    pub name: String,
    pub enabled: bool,
    pub spec: RuleSpec,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A rule as written by a user (create and update).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewAlertRule {
    pub project_id: ProjectId,
    pub name: String,
    pub enabled: bool,
    pub spec: RuleSpec,
    pub created_by: Option<UserId>,
}

/// Whom an email channel writes to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailTargets {
    /// Every member of the project's teams (every member of the
    /// organization when the project has no team).
    #[serde(default)]
    pub project_members: bool,
    #[serde(default)]
    pub users: Vec<UserId>,
    #[serde(default)]
    pub teams: Vec<TeamId>,
    /// Addresses outside the organization (at most 20).
    #[serde(default)]
    pub addresses: Vec<String>,
}

/// Where a channel sends, and its secrets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChannelConfig {
    Email(EmailTargets),
    /// A JSON POST signed with HMAC-SHA256 over `<timestamp>.<body>`.
    Webhook {
        url: String,
        secret: String,
    },
    /// A Slack incoming webhook (Block Kit).
    Slack {
        url: String,
    },
    /// A Discord webhook (embeds).
    Discord {
        url: String,
    },
    /// A Microsoft Teams workflow webhook (an Adaptive Card).
    Teams {
        url: String,
    },
    /// PagerDuty Events API v2: trigger on alert, resolve when the issue is
    /// resolved. `url` defaults to PagerDuty's endpoint.
    #[serde(rename = "pagerduty")]
    PagerDuty {
        routing_key: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
    },
}

/// PagerDuty's Events API v2 endpoint.
pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";

impl ChannelConfig {
    pub fn kind(&self) -> ChannelKind {
        match self {
            ChannelConfig::Email(_) => ChannelKind::Email,
            ChannelConfig::Webhook { .. } => ChannelKind::Webhook,
            ChannelConfig::Slack { .. } => ChannelKind::Slack,
            ChannelConfig::Discord { .. } => ChannelKind::Discord,
            ChannelConfig::Teams { .. } => ChannelKind::Teams,
            ChannelConfig::PagerDuty { .. } => ChannelKind::PagerDuty,
        }
    }

    /// The URL the channel posts to (none for email).
    pub fn url(&self) -> Option<&str> {
        match self {
            ChannelConfig::Email(_) => None,
            ChannelConfig::Webhook { url, .. }
            | ChannelConfig::Slack { url }
            | ChannelConfig::Discord { url }
            | ChannelConfig::Teams { url } => Some(url),
            ChannelConfig::PagerDuty { url, .. } => {
                Some(url.as_deref().unwrap_or(PAGERDUTY_EVENTS_URL))
            }
        }
    }

    pub fn validate(&self) -> Result<(), AlertSpecError> {
        if let Some(u) = self.url() {
            let parsed =
                url::Url::parse(u).map_err(|e| invalid("url", format!("not a URL: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(invalid("url", "must be http or https"));
            }
            if parsed.host_str().is_none_or(str::is_empty) {
                return Err(invalid("url", "has no host"));
            }
            if u.len() > 2048 {
                return Err(invalid("url", "longer than 2048 bytes"));
            }
        }
        match self {
            ChannelConfig::Email(t) => {
                if !t.project_members
                    && t.users.is_empty()
                    && t.teams.is_empty()
                    && t.addresses.is_empty()
                {
                    return Err(invalid("targets", "an email channel needs recipients"));
                }
                if t.addresses.len() > 20 || t.users.len() > 200 || t.teams.len() > 50 {
                    return Err(invalid(
                        "targets",
                        "at most 20 addresses, 200 users and 50 teams",
                    ));
                }
                for a in &t.addresses {
                    let a = a.trim();
                    let ok = a.len() <= 254
                        && a.split_once('@').is_some_and(|(l, d)| {
                            !l.is_empty() && d.contains('.') && !d.starts_with('.')
                        })
                        && !a.chars().any(|c| c.is_whitespace() || c.is_control());
                    if !ok {
                        return Err(invalid("targets", format!("{a:?} is not a mail address")));
                    }
                }
            }
            ChannelConfig::Webhook { secret, .. } if secret.len() < 16 || secret.len() > 256 => {
                return Err(invalid("secret", "must be 16 to 256 characters"));
            }
            ChannelConfig::PagerDuty { routing_key, .. }
                if routing_key.trim().is_empty() || routing_key.len() > 64 =>
            {
                return Err(invalid("routing_key", "must be 1 to 64 characters"));
            }
            _ => {}
        }
        Ok(())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Email,
    Webhook,
    Slack,
    Discord,
    Teams,
    #[serde(rename = "pagerduty")]
    PagerDuty,
}

impl ChannelKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            ChannelKind::Email => "email",
            ChannelKind::Webhook => "webhook",
            ChannelKind::Slack => "slack",
            ChannelKind::Discord => "discord",
            ChannelKind::Teams => "teams",
            ChannelKind::PagerDuty => "pagerduty",
        }
    }
}

impl fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A channel of an organization.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    pub id: ChannelId,
    pub org_id: OrgId,
    pub name: String,
    pub config: ChannelConfig,
    pub created_at: DateTime<Utc>,
}

/// What the digest (or a user's status change) records for the alert runner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    NewIssue,
    Regression,
    Escalating,
    /// A user resolved the issue (PagerDuty incidents resolve, workflow mail).
    Resolved,
    /// A user assigned the issue (workflow mail to the assignee).
    Assigned,
}

impl TriggerKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            TriggerKind::NewIssue => "new_issue",
            TriggerKind::Regression => "regression",
            TriggerKind::Escalating => "escalating",
            TriggerKind::Resolved => "resolved",
            TriggerKind::Assigned => "assigned",
        }
    }
}

impl FromStr for TriggerKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "new_issue" => TriggerKind::NewIssue,
            "regression" => TriggerKind::Regression,
            "escalating" => TriggerKind::Escalating,
            "resolved" => TriggerKind::Resolved,
            "assigned" => TriggerKind::Assigned,
            _ => return Err(format!("unknown trigger {s:?}")),
        })
    }
}

/// A decision waiting for the alert runner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertTrigger {
    pub id: TriggerId,
    pub project_id: ProjectId,
    pub issue_id: IssueId,
    pub kind: TriggerKind,
    /// The event that decided it (none for a user's status change).
    pub event_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// Why a message is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    NewIssue,
    Regression,
    Escalating,
    Frequency,
    Users,
    EventRate,
    /// The issue was resolved (PagerDuty resolve, workflow mail).
    Resolved,
    /// The issue was assigned (workflow mail).
    Assigned,
    /// A test notification asked for by a user.
    Test,
}

impl AlertKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            AlertKind::NewIssue => "new_issue",
            AlertKind::Regression => "regression",
            AlertKind::Escalating => "escalating",
            AlertKind::Frequency => "frequency",
            AlertKind::Users => "users",
            AlertKind::EventRate => "event_rate",
            AlertKind::Resolved => "resolved",
            AlertKind::Assigned => "assigned",
            AlertKind::Test => "test",
        }
    }

    /// The headline of a message: what happened.
    pub fn headline(&self) -> &'static str {
        match self {
            AlertKind::NewIssue => "New issue",
            AlertKind::Regression => "Regression",
            AlertKind::Escalating => "Escalating issue",
            AlertKind::Frequency => "Issue seen often",
            AlertKind::Users => "Issue affecting many users",
            AlertKind::EventRate => "High event rate",
            AlertKind::Resolved => "Issue resolved",
            AlertKind::Assigned => "Issue assigned",
            AlertKind::Test => "Test notification",
        }
    }
}

impl From<TriggerKind> for AlertKind {
    fn from(k: TriggerKind) -> AlertKind {
        match k {
            TriggerKind::NewIssue => AlertKind::NewIssue,
            TriggerKind::Regression => AlertKind::Regression,
            TriggerKind::Escalating => AlertKind::Escalating,
            TriggerKind::Resolved => AlertKind::Resolved,
            TriggerKind::Assigned => AlertKind::Assigned,
        }
    }
}

/// The issue as a message shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertIssue {
    pub id: IssueId,
    /// e.g. `BACKEND-3A`.
    pub short_id: String,
    pub title: String,
    pub culprit: String,
    pub level: Level,
    pub status: String,
    pub times_seen: i64,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// The crashing frame, e.g. `app/views.py in checkout at line 42`.
    pub top_frame: Option<String>,
    /// Link to the issue page.
    pub url: String,
}

impl AlertIssue {
    /// The issue as messages show it, linking to its page under `base_url`;
    /// the top frame from the issue's metadata (`function` in `filename`, as
    /// Sentry records the crashing frame), else the culprit.
    pub fn of(i: &Issue, project: &crate::model::Project, base_url: &str) -> AlertIssue {
        let meta = |k: &str| {
            i.metadata
                .get(k)
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
        };
        let top_frame = match (meta("filename"), meta("function")) {
            (Some(file), Some(func)) => Some(format!("{func} in {file}")),
            (Some(file), None) => Some(file.to_owned()),
            (None, Some(func)) => Some(func.to_owned()),
            (None, None) => (!i.culprit.is_empty()).then(|| i.culprit.clone()),
        };
        AlertIssue {
            id: i.id,
            short_id: crate::model::format_short_id(&project.slug, i.short_id),
            title: i.title.clone(),
            culprit: i.culprit.clone(),
            level: i.level,
            status: i.status.as_str().to_owned(),
            times_seen: i.times_seen,
            first_seen: i.first_seen,
            last_seen: i.last_seen,
            top_frame,
            url: format!(
                "{}/organizations/{}/issues/{}/",
                base_url.trim_end_matches('/'),
                project.org_slug,
                i.id
            ),
        }
    }
}

/// What a window condition counted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertWindow {
    /// What was counted (at least `threshold + 1`; counting stops there plus a margin).
    pub count: i64,
    pub threshold: i64,
    pub minutes: i64,
}

/// Everything a channel needs to render a message; stored with the
/// delivery, so a delivery renders the same whenever it is sent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertMessage {
    pub kind: AlertKind,
    pub rule_id: Option<RuleId>,
    pub rule_name: Option<String>,
    pub org_slug: String,
    pub project_id: ProjectId,
    pub project_slug: String,
    pub project_name: String,
    pub environment: Option<String>,
    pub release: Option<String>,
    pub issue: Option<AlertIssue>,
    pub window: Option<AlertWindow>,
    pub event_id: Option<Uuid>,
    /// Link to the project's issue list (event-rate alerts, tests).
    pub project_url: String,
    /// Who caused it (workflow mail: who resolved or assigned).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl AlertMessage {
    /// One line: `[backend] New issue: ZeroDivisionError: division by zero`.
    pub fn subject(&self) -> String {
        let what = match (&self.issue, &self.window) {
            (Some(i), _) => i.title.clone(),
            (None, Some(w)) => format!("{} events in {} min", w.count, w.minutes),
            (None, None) => self.project_name.clone(),
        };
        let env = self
            .environment
            .as_deref()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default();
        format!(
            "[{}] {}: {}{}",
            self.project_slug,
            self.kind.headline(),
            what,
            env
        )
    }

    /// The link a message points to: the issue, else the project.
    pub fn link(&self) -> &str {
        self.issue
            .as_ref()
            .map(|i| i.url.as_str())
            .unwrap_or(&self.project_url)
    }
}

/// Where a delivery goes: a channel, or one user's mailbox (workflow mail).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryTarget {
    Channel(ChannelId),
    User(UserId),
}

/// A message to queue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewDelivery {
    pub org_id: OrgId,
    pub target: DeliveryTarget,
    pub message: AlertMessage,
}

/// A rule firing for one issue (or, with `issue_id` 0, for its project):
/// written only if the rule has not fired for it within `interval`, in one
/// transaction with its deliveries and an `alert_sent` activity.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertFire {
    pub rule_id: RuleId,
    pub issue_id: IssueId,
    pub interval_minutes: i64,
    pub deliveries: Vec<NewDelivery>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its (next) attempt.
    Pending,
    /// Taken by a worker.
    Sending,
    Sent,
    /// Failed for good (or after the last attempt): the dead letter.
    Dead,
}

impl DeliveryStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Sending => "sending",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Dead => "dead",
        }
    }
}

impl FromStr for DeliveryStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "pending" => DeliveryStatus::Pending,
            "sending" => DeliveryStatus::Sending,
            "sent" => DeliveryStatus::Sent,
            "dead" => DeliveryStatus::Dead,
            _ => return Err(format!("unknown delivery status {s:?}")),
        })
    }
}

/// A queued or finished delivery: the delivery log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: DeliveryId,
    pub org_id: OrgId,
    pub project_id: ProjectId,
    pub rule_id: Option<RuleId>,
    pub issue_id: Option<IssueId>,
    pub target: DeliveryTarget,
    pub message: AlertMessage,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    /// The HTTP status (or SMTP code) of the last attempt.
    pub last_status_code: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// How an attempt ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryOutcome {
    Sent {
        status_code: Option<i32>,
    },
    /// Try again at `at`.
    Retry {
        at: DateTime<Utc>,
        status_code: Option<i32>,
        error: String,
    },
    /// Give up: the dead letter.
    Dead {
        status_code: Option<i32>,
        error: String,
    },
}

/// Which deliveries to list (newest first). Every set field must match.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryFilter {
    pub org_id: Option<OrgId>,
    pub project_id: Option<ProjectId>,
    pub rule_id: Option<RuleId>,
    pub channel_id: Option<ChannelId>,
    pub issue_id: Option<IssueId>,
    pub status: Option<DeliveryStatus>,
    /// Older than this id (paging).
    pub before_id: Option<DeliveryId>,
    pub limit: u32,
}

/// Kinds of issue activity, named as Sentry names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    FirstSeen,
    SetRegression,
    SetEscalating,
    SetResolved,
    SetResolvedInRelease,
    SetUnresolved,
    SetIgnored,
    Assigned,
    Unassigned,
    Note,
    AlertSent,
}

impl ActivityKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            ActivityKind::FirstSeen => "first_seen",
            ActivityKind::SetRegression => "set_regression",
            ActivityKind::SetEscalating => "set_escalating",
            ActivityKind::SetResolved => "set_resolved",
            ActivityKind::SetResolvedInRelease => "set_resolved_in_release",
            ActivityKind::SetUnresolved => "set_unresolved",
            ActivityKind::SetIgnored => "set_ignored",
            ActivityKind::Assigned => "assigned",
            ActivityKind::Unassigned => "unassigned",
            ActivityKind::Note => "note",
            ActivityKind::AlertSent => "alert_sent",
        }
    }

    /// A phrase for the timeline: "resolved the issue".
    pub fn describe(&self) -> &'static str {
        match self {
            ActivityKind::FirstSeen => "first saw the issue",
            ActivityKind::SetRegression => "marked the issue as a regression",
            ActivityKind::SetEscalating => "marked the issue as escalating",
            ActivityKind::SetResolved => "resolved the issue",
            ActivityKind::SetResolvedInRelease => "resolved the issue in the next release",
            ActivityKind::SetUnresolved => "unresolved the issue",
            ActivityKind::SetIgnored => "ignored the issue",
            ActivityKind::Assigned => "assigned the issue",
            ActivityKind::Unassigned => "unassigned the issue",
            ActivityKind::Note => "commented",
            ActivityKind::AlertSent => "sent an alert",
        }
    }

    /// The trigger the runner gets for this activity, if any.
    pub fn trigger(&self) -> Option<TriggerKind> {
        match self {
            ActivityKind::SetResolved | ActivityKind::SetResolvedInRelease => {
                Some(TriggerKind::Resolved)
            }
            ActivityKind::Assigned => Some(TriggerKind::Assigned),
            _ => None,
        }
    }
}

impl FromStr for ActivityKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "first_seen" => ActivityKind::FirstSeen,
            "set_regression" => ActivityKind::SetRegression,
            "set_escalating" => ActivityKind::SetEscalating,
            "set_resolved" => ActivityKind::SetResolved,
            "set_resolved_in_release" => ActivityKind::SetResolvedInRelease,
            "set_unresolved" => ActivityKind::SetUnresolved,
            "set_ignored" => ActivityKind::SetIgnored,
            "assigned" => ActivityKind::Assigned,
            "unassigned" => ActivityKind::Unassigned,
            "note" => ActivityKind::Note,
            "alert_sent" => ActivityKind::AlertSent,
            _ => return Err(format!("unknown activity {s:?}")),
        })
    }
}

/// One entry of an issue's timeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    pub id: ActivityId,
    pub issue_id: IssueId,
    pub project_id: ProjectId,
    pub kind: ActivityKind,
    /// Who did it; `None` for Corral itself (first seen, regressions, alerts).
    pub user_id: Option<UserId>,
    /// Kind-specific details (`{"text": …}` for notes, `{"assignee": …}`,
    /// `{"rule": …, "channel": …}` for alerts, `{"version": …}`).
    pub data: serde_json::Value,
    pub created_at: DateTime<Utc>,
}

/// An activity to record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewActivity {
    pub issue_id: IssueId,
    pub kind: ActivityKind,
    pub user_id: Option<UserId>,
    pub data: serde_json::Value,
}

/// A person's mail settings. All on by default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationSettings {
    /// Alert mail of their teams' projects (email channels addressing
    /// members or teams).
    pub alerts: bool,
    /// Mail about issues assigned to them (regressed, resolved by someone else).
    pub assigned: bool,
    /// Workflow mail for issues they subscribed to or commented on:
    /// resolved, regressed, assigned.
    pub workflow: bool,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        NotificationSettings {
            alerts: true,
            assigned: true,
            workflow: true,
        }
    }
}

/// What an unsubscribe link turns off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unsubscribe {
    /// All of one setting.
    Alerts,
    Assigned,
    Workflow,
    /// Everything about one issue.
    Issue(IssueId),
}

/// What sends one delivery (the outbound client and mail, in crate
/// `corral-alerts`): it answers how the attempt ended, and whether and when
/// to try again ([`retry_delay`], the configured number of attempts).
#[async_trait::async_trait]
pub trait Deliver: Send + Sync + 'static {
    async fn send(&self, delivery: &Delivery) -> DeliveryOutcome;
}

/// How long a trigger is leased to one runner before another may take it.
pub const TRIGGER_LEASE: Duration = Duration::seconds(60);
/// How long a delivery is leased to one sender (longer than its timeout).
pub const DELIVERY_LEASE: Duration = Duration::seconds(120);

/// The delay before retry `attempt` (1-based): 30 s, 1, 2, 4, 8 … min, at most an hour.
pub fn retry_delay(attempt: i32) -> Duration {
    let step = attempt.clamp(1, 8) - 1;
    Duration::seconds((30_i64 << step).min(3600))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EventType, IssueStatus, IssueSubstatus};
    use serde_json::json;

    fn issue() -> Issue {
        let t = Utc::now() - Duration::minutes(10);
        Issue {
            id: 1,
            project_id: 1,
            short_id: 1,
            status: IssueStatus::Unresolved,
            substatus: IssueSubstatus::New,
            level: Level::Error,
            event_type: EventType::Error,
            title: "ZeroDivisionError: division by zero".into(),
            culprit: "app.views in checkout".into(),
            metadata: json!({}),
            first_seen: t,
            last_seen: t,
            times_seen: 1,
            first_release: None,
            last_release: Some("1.0".into()),
            resolved_at: None,
            resolved_in_release: None,
            ignore_until: None,
            ignore_count: None,
            ignore_count_base: None,
            assignee: None,
            num_comments: 0,
        }
    }

    fn spec(filters: Vec<Filter>) -> RuleSpec {
        RuleSpec {
            conditions: vec![Condition::NewIssue],
            filters,
            channels: vec![1],
            action_interval_minutes: 30,
        }
    }

    #[test]
    fn rule_json_reads_with_defaults_and_round_trips() {
        let s: RuleSpec = serde_json::from_value(json!({
            "conditions": [{"type": "new_issue"}, {"type": "frequency", "count": 100, "minutes": 5}],
            "channels": [3]
        }))
        .unwrap();
        assert_eq!(s.action_interval_minutes, DEFAULT_ACTION_INTERVAL_MINUTES);
        assert!(s.filters.is_empty());
        assert!(s.answers(TriggerKind::NewIssue));
        assert!(!s.answers(TriggerKind::Regression));
        assert_eq!(s.windows().count(), 1);
        let back: RuleSpec = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn invalid_specs_name_their_field() {
        let mut s = spec(vec![]);
        s.conditions.clear();
        assert_eq!(s.validate().unwrap_err().field, "conditions");
        let mut s = spec(vec![]);
        s.conditions = vec![Condition::Frequency {
            count: 1,
            minutes: 0,
        }];
        assert_eq!(s.validate().unwrap_err().field, "conditions");
        let mut s = spec(vec![]);
        s.action_interval_minutes = 0;
        assert_eq!(s.validate().unwrap_err().field, "action_interval_minutes");
        let s = spec(vec![Filter::Search {
            query: "nosuchkey:1 is:bogus".into(),
        }]);
        assert_eq!(s.validate().unwrap_err().field, "filters");
        assert!(spec(vec![]).validate().is_ok());
    }

    #[test]
    fn filters_match_the_subject_and_issue() {
        let now = Utc::now();
        let i = issue();
        let subject = AlertSubject {
            environment: Some("production".into()),
            release: Some("1.0".into()),
            level: Some(Level::Error),
            tags: vec![("browser".into(), "Firefox 120".into())],
        };
        let yes = [
            Filter::Environment {
                value: "production".into(),
            },
            Filter::Level {
                level: Level::Warning,
                r#match: LevelMatch::AtLeast,
            },
            Filter::Tag {
                key: "browser".into(),
                r#match: TagMatch::Contains,
                value: "Firefox".into(),
            },
            Filter::IssueAge {
                r#match: AgeMatch::NewerThan,
                minutes: 60,
            },
            Filter::Search {
                query: "is:unresolved level:error division".into(),
            },
        ];
        for f in yes {
            assert!(spec(vec![f.clone()]).matches(&i, &subject, now), "{f:?}");
        }
        let no = [
            Filter::Environment {
                value: "staging".into(),
            },
            Filter::Level {
                level: Level::Fatal,
                r#match: LevelMatch::AtLeast,
            },
            Filter::Level {
                level: Level::Warning,
                r#match: LevelMatch::Exactly,
            },
            Filter::Tag {
                key: "browser".into(),
                r#match: TagMatch::Equals,
                value: "Firefox".into(),
            },
            Filter::IssueAge {
                r#match: AgeMatch::OlderThan,
                minutes: 60,
            },
            Filter::Search {
                query: "is:resolved".into(),
            },
            Filter::Release {
                value: "2.0".into(),
            },
        ];
        for f in no {
            assert!(!spec(vec![f.clone()]).matches(&i, &subject, now), "{f:?}");
        }
    }

    #[test]
    fn channels_validate_urls_and_secrets() {
        let ok = ChannelConfig::Webhook {
            url: "https://hooks.example.com/x".into(),
            secret: "0123456789abcdef".into(),
        };
        assert!(ok.validate().is_ok());
        for bad in [
            ChannelConfig::Webhook {
                url: "ftp://x/".into(),
                secret: "0123456789abcdef".into(),
            },
            ChannelConfig::Webhook {
                url: "https://x/".into(),
                secret: "short".into(),
            },
            ChannelConfig::Slack { url: "nope".into() },
            ChannelConfig::Email(EmailTargets::default()),
            ChannelConfig::Email(EmailTargets {
                addresses: vec!["not an address".into()],
                ..Default::default()
            }),
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        let pd: ChannelConfig =
            serde_json::from_value(json!({"kind": "pagerduty", "routing_key": "abc"})).unwrap();
        assert_eq!(pd.url(), Some(PAGERDUTY_EVENTS_URL));
        assert_eq!(pd.kind().as_str(), "pagerduty");
    }

    #[test]
    fn retries_back_off_to_an_hour() {
        assert_eq!(retry_delay(1), Duration::seconds(30));
        assert_eq!(retry_delay(2), Duration::seconds(60));
        assert!(retry_delay(20) <= Duration::hours(1));
    }
}
