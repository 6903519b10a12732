//! Reading PostgreSQL rows into the domain's records.

use std::str::FromStr;

use corral_core::StoreResult;
use corral_core::model::*;
use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::error::{bad_value, db};

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

pub(crate) fn parse<T: FromStr>(row: &PgRow, column: &str) -> StoreResult<T> {
    let text: String = row.try_get(column).map_err(db)?;
    text.parse().map_err(|_| bad_value(column, &text))
}

pub(crate) fn get<'r, T>(row: &'r PgRow, column: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(column).map_err(db)
}

pub(crate) fn organization(r: &PgRow) -> StoreResult<Organization> {
    Ok(Organization {
        id: get(r, "id")?,
        slug: get(r, "slug")?,
        name: get(r, "name")?,
        created_at: get(r, "created_at")?,
    })
}

pub(crate) fn user(r: &PgRow) -> StoreResult<User> {
    Ok(User {
        id: get(r, "id")?,
        email: get(r, "email")?,
        name: get(r, "name")?,
        password_hash: get(r, "password_hash")?,
        is_superuser: get(r, "is_superuser")?,
        is_active: get(r, "is_active")?,
        created_at: get(r, "created_at")?,
    })
}

pub(crate) fn membership(r: &PgRow) -> StoreResult<Membership> {
    Ok(Membership {
        org_id: get(r, "org_id")?,
        user_id: get(r, "user_id")?,
        role: parse(r, "role")?,
        created_at: get(r, "created_at")?,
    })
}

pub(crate) fn team(r: &PgRow) -> StoreResult<Team> {
    Ok(Team {
        id: get(r, "id")?,
        org_id: get(r, "org_id")?,
        slug: get(r, "slug")?,
        name: get(r, "name")?,
        created_at: get(r, "created_at")?,
    })
}

fn rate_limit(r: &PgRow) -> StoreResult<RateLimit> {
    Ok(RateLimit {
        per_minute: get(r, "rate_limit_per_minute")?,
        per_hour: get(r, "rate_limit_per_hour")?,
    })
}

pub(crate) fn project(r: &PgRow) -> StoreResult<Project> {
    Ok(Project {
        id: get(r, "id")?,
        org_id: get(r, "org_id")?,
        org_slug: get(r, "org_slug")?,
        slug: get(r, "slug")?,
        name: get(r, "name")?,
        platform: get(r, "platform")?,
        retention_days: get(r, "retention_days")?,
        rate_limit: rate_limit(r)?,
        grouping_config: get(r, "grouping_config")?,
        created_at: get(r, "created_at")?,
    })
}

pub(crate) fn project_key(r: &PgRow) -> StoreResult<ProjectKey> {
    Ok(ProjectKey {
        id: get(r, "id")?,
        project_id: get(r, "project_id")?,
        public_key: get(r, "public_key")?,
        label: get(r, "label")?,
        is_active: get(r, "is_active")?,
        rate_limit: rate_limit(r)?,
        created_at: get(r, "created_at")?,
    })
}

pub(crate) fn api_token(r: &PgRow) -> StoreResult<ApiToken> {
    Ok(ApiToken {
        id: get(r, "id")?,
        user_id: get(r, "user_id")?,
        name: get(r, "name")?,
        scopes: get(r, "scopes")?,
        created_at: get(r, "created_at")?,
        last_used_at: get(r, "last_used_at")?,
    })
}

pub(crate) fn issue(r: &PgRow) -> StoreResult<Issue> {
    Ok(Issue {
        id: get(r, "id")?,
        project_id: get(r, "project_id")?,
        short_id: get(r, "short_id")?,
        status: parse(r, "status")?,
        substatus: parse(r, "substatus")?,
        level: parse(r, "level")?,
        event_type: parse(r, "event_type")?,
        title: get(r, "title")?,
        culprit: get(r, "culprit")?,
        metadata: get(r, "metadata")?,
        first_seen: get(r, "first_seen")?,
        last_seen: get(r, "last_seen")?,
        times_seen: get(r, "times_seen")?,
        first_release: get(r, "first_release")?,
        last_release: get(r, "last_release")?,
        resolved_at: get(r, "resolved_at")?,
        resolved_in_release: get(r, "resolved_in_release")?,
        ignore_until: get(r, "ignore_until")?,
        ignore_count: get(r, "ignore_count")?,
        ignore_count_base: get(r, "ignore_count_base")?,
        assignee: assignee(r)?,
        num_comments: get(r, "num_comments")?,
    })
}

fn assignee(r: &PgRow) -> StoreResult<Option<Assignee>> {
    let user: Option<UserId> = get(r, "assignee_user_id")?;
    let team: Option<TeamId> = get(r, "assignee_team_id")?;
    Ok(user.map(Assignee::User).or(team.map(Assignee::Team)))
}

pub(crate) fn event(r: &PgRow) -> StoreResult<StoredEvent> {
    let tags: serde_json::Value = get(r, "tags")?;
    let tags: Vec<(String, String)> =
        serde_json::from_value(tags).map_err(|e| bad_value("tags", &e.to_string()))?;
    let data: String = get(r, "data")?;
    Ok(StoredEvent {
        project_id: get(r, "project_id")?,
        event_id: get(r, "event_id")?,
        issue_id: get(r, "issue_id")?,
        event_type: parse(r, "event_type")?,
        level: parse(r, "level")?,
        title: get(r, "title")?,
        culprit: get(r, "culprit")?,
        platform: get(r, "platform")?,
        release: get(r, "release")?,
        environment: get(r, "environment")?,
        timestamp: get(r, "timestamp")?,
        received_at: get(r, "received_at")?,
        tags,
        data: serde_json::from_str(&data).map_err(|e| bad_value("data", &e.to_string()))?,
    })
}

pub(crate) fn tag_value(r: &PgRow) -> StoreResult<TagValueCount> {
    Ok(TagValueCount {
        key: get(r, "key")?,
        value: get(r, "value")?,
        times_seen: get(r, "times_seen")?,
        first_seen: get(r, "first_seen")?,
        last_seen: get(r, "last_seen")?,
    })
}

pub(crate) fn bucket(r: &PgRow) -> StoreResult<CountBucket> {
    Ok(CountBucket {
        start: get(r, "start")?,
        count: get(r, "count")?,
    })
}

pub(crate) fn dead_letter(r: &PgRow) -> StoreResult<DeadLetter> {
    Ok(DeadLetter {
        id: get(r, "id")?,
        queue: get(r, "queue")?,
        payload: get(r, "payload")?,
        error: get(r, "error")?,
        attempts: get(r, "attempts")?,
        created_at: get(r, "created_at")?,
    })
}

/// A session joined with its user: the session's own times come as
/// `session_created_at` and `session_expires_at`.
pub(crate) fn session(r: &PgRow) -> StoreResult<(Session, User)> {
    let session = Session {
        user_id: get(r, "id")?,
        csrf_token: get(r, "csrf_token")?,
        created_at: get(r, "session_created_at")?,
        expires_at: get(r, "session_expires_at")?,
    };
    Ok((session, user(r)?))
}

pub(crate) fn invitation(r: &PgRow) -> StoreResult<Invitation> {
    Ok(Invitation {
        id: get(r, "id")?,
        org_id: get(r, "org_id")?,
        email: get(r, "email")?,
        role: parse(r, "role")?,
        invited_by: get(r, "invited_by")?,
        created_at: get(r, "created_at")?,
        expires_at: get(r, "expires_at")?,
    })
}

pub(crate) fn comment(r: &PgRow) -> StoreResult<Comment> {
    Ok(Comment {
        id: get(r, "id")?,
        issue_id: get(r, "issue_id")?,
        user_id: get(r, "user_id")?,
        user_name: get(r, "user_name")?,
        text: get(r, "text")?,
        created_at: get(r, "created_at")?,
    })
}
