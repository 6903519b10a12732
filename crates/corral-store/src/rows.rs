//! Reading rows into the domain's records, on either backend ([`Columns`]
//! hides how each stores times and lists).

use corral_core::StoreResult;
use corral_core::model::*;

use crate::dialect::Columns;
use crate::error::bad_value;

/// Column lists shared by the statements that read whole records.
macro_rules! issue_columns {
    () => {
        "i.id, i.project_id, i.short_id, i.status, i.substatus, i.level, i.event_type, i.title, \
         i.culprit, i.metadata, i.first_seen, i.last_seen, i.times_seen, i.first_release, \
         i.last_release, i.resolved_at, i.resolved_in_release, i.ignore_until, i.ignore_count, \
         i.ignore_count_base, i.assignee_user_id, i.assignee_team_id, i.num_comments"
    };
}
macro_rules! project_columns {
    () => {
        "p.id, p.org_id, o.slug AS org_slug, p.slug, p.name, p.platform, p.retention_days, \
         p.rate_limit_per_minute, p.rate_limit_per_hour, p.grouping_config, p.created_at \
         FROM projects p JOIN organizations o ON o.id = p.org_id"
    };
}
macro_rules! event_columns {
    () => {
        "e.project_id, e.event_id, e.issue_id, e.event_type, e.level, e.title, e.culprit, \
         e.platform, e.release, e.environment, e.\"timestamp\", e.received_at, e.tags, e.data"
    };
}
pub(crate) use {event_columns, issue_columns, project_columns};

pub(crate) fn organization(r: &impl Columns) -> StoreResult<Organization> {
    Ok(Organization {
        id: r.col("id")?,
        slug: r.col("slug")?,
        name: r.col("name")?,
        created_at: r.time("created_at")?,
    })
}

pub(crate) fn user(r: &impl Columns) -> StoreResult<User> {
    Ok(User {
        id: r.col("id")?,
        email: r.col("email")?,
        name: r.col("name")?,
        password_hash: r.col("password_hash")?,
        is_superuser: r.col("is_superuser")?,
        is_active: r.col("is_active")?,
        created_at: r.time("created_at")?,
    })
}

pub(crate) fn membership(r: &impl Columns) -> StoreResult<Membership> {
    Ok(Membership {
        org_id: r.col("org_id")?,
        user_id: r.col("user_id")?,
        role: r.parse("role")?,
        created_at: r.time("created_at")?,
    })
}

pub(crate) fn team(r: &impl Columns) -> StoreResult<Team> {
    Ok(Team {
        id: r.col("id")?,
        org_id: r.col("org_id")?,
        slug: r.col("slug")?,
        name: r.col("name")?,
        created_at: r.time("created_at")?,
    })
}

fn rate_limit(r: &impl Columns) -> StoreResult<RateLimit> {
    Ok(RateLimit {
        per_minute: r.col("rate_limit_per_minute")?,
        per_hour: r.col("rate_limit_per_hour")?,
    })
}

pub(crate) fn project(r: &impl Columns) -> StoreResult<Project> {
    Ok(Project {
        id: r.col("id")?,
        org_id: r.col("org_id")?,
        org_slug: r.col("org_slug")?,
        slug: r.col("slug")?,
        name: r.col("name")?,
        platform: r.col("platform")?,
        retention_days: r.col("retention_days")?,
        rate_limit: rate_limit(r)?,
        grouping_config: r.col("grouping_config")?,
        created_at: r.time("created_at")?,
    })
}

pub(crate) fn project_key(r: &impl Columns) -> StoreResult<ProjectKey> {
    Ok(ProjectKey {
        id: r.col("id")?,
        project_id: r.col("project_id")?,
        public_key: r.col("public_key")?,
        label: r.col("label")?,
        is_active: r.col("is_active")?,
        rate_limit: rate_limit(r)?,
        created_at: r.time("created_at")?,
    })
}

pub(crate) fn api_token(r: &impl Columns) -> StoreResult<ApiToken> {
    Ok(ApiToken {
        id: r.col("id")?,
        user_id: r.col("user_id")?,
        name: r.col("name")?,
        scopes: r.texts("scopes")?,
        created_at: r.time("created_at")?,
        last_used_at: r.opt_time("last_used_at")?,
    })
}

pub(crate) fn issue(r: &impl Columns) -> StoreResult<Issue> {
    Ok(Issue {
        id: r.col("id")?,
        project_id: r.col("project_id")?,
        short_id: r.col("short_id")?,
        status: r.parse("status")?,
        substatus: r.parse("substatus")?,
        level: r.parse("level")?,
        event_type: r.parse("event_type")?,
        title: r.col("title")?,
        culprit: r.col("culprit")?,
        metadata: r.json("metadata")?,
        first_seen: r.time("first_seen")?,
        last_seen: r.time("last_seen")?,
        times_seen: r.col("times_seen")?,
        first_release: r.col("first_release")?,
        last_release: r.col("last_release")?,
        resolved_at: r.opt_time("resolved_at")?,
        resolved_in_release: r.col("resolved_in_release")?,
        ignore_until: r.opt_time("ignore_until")?,
        ignore_count: r.col("ignore_count")?,
        ignore_count_base: r.col("ignore_count_base")?,
        assignee: assignee(r)?,
        num_comments: r.col("num_comments")?,
    })
}

fn assignee(r: &impl Columns) -> StoreResult<Option<Assignee>> {
    let user: Option<UserId> = r.col("assignee_user_id")?;
    let team: Option<TeamId> = r.col("assignee_team_id")?;
    Ok(user.map(Assignee::User).or(team.map(Assignee::Team)))
}

pub(crate) fn event(r: &impl Columns) -> StoreResult<StoredEvent> {
    let data: String = r.col("data")?;
    Ok(StoredEvent {
        project_id: r.col("project_id")?,
        event_id: r.col("event_id")?,
        issue_id: r.col("issue_id")?,
        event_type: r.parse("event_type")?,
        level: r.parse("level")?,
        title: r.col("title")?,
        culprit: r.col("culprit")?,
        platform: r.col("platform")?,
        release: r.col("release")?,
        environment: r.col("environment")?,
        timestamp: r.time("timestamp")?,
        received_at: r.time("received_at")?,
        tags: r.json("tags")?,
        data: serde_json::from_str(&data).map_err(|e| bad_value("data", &e.to_string()))?,
    })
}

pub(crate) fn tag_value(r: &impl Columns) -> StoreResult<TagValueCount> {
    Ok(TagValueCount {
        key: r.col("key")?,
        value: r.col("value")?,
        times_seen: r.col("times_seen")?,
        first_seen: r.time("first_seen")?,
        last_seen: r.time("last_seen")?,
    })
}

pub(crate) fn bucket(r: &impl Columns) -> StoreResult<CountBucket> {
    Ok(CountBucket {
        start: r.time("start")?,
        count: r.col("count")?,
    })
}

pub(crate) fn dead_letter(r: &impl Columns) -> StoreResult<DeadLetter> {
    Ok(DeadLetter {
        id: r.col("id")?,
        queue: r.col("queue")?,
        payload: r.col("payload")?,
        error: r.col("error")?,
        attempts: r.col("attempts")?,
        created_at: r.time("created_at")?,
    })
}

/// A session joined with its user: the session's own times come as
/// `session_created_at` and `session_expires_at`.
pub(crate) fn session(r: &impl Columns) -> StoreResult<(Session, User)> {
    let session = Session {
        user_id: r.col("id")?,
        csrf_token: r.col("csrf_token")?,
        created_at: r.time("session_created_at")?,
        expires_at: r.time("session_expires_at")?,
    };
    Ok((session, user(r)?))
}

pub(crate) fn invitation(r: &impl Columns) -> StoreResult<Invitation> {
    Ok(Invitation {
        id: r.col("id")?,
        org_id: r.col("org_id")?,
        email: r.col("email")?,
        role: r.parse("role")?,
        invited_by: r.col("invited_by")?,
        created_at: r.time("created_at")?,
        expires_at: r.time("expires_at")?,
    })
}

pub(crate) fn comment(r: &impl Columns) -> StoreResult<Comment> {
    Ok(Comment {
        id: r.col("id")?,
        issue_id: r.col("issue_id")?,
        user_id: r.col("user_id")?,
        user_name: r.col("user_name")?,
        text: r.col("text")?,
        created_at: r.time("created_at")?,
    })
}
