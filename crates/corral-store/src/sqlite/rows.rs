//! Reading SQLite rows into the domain's records (times are unix ms).

use std::str::FromStr;

use chrono::{DateTime, Utc};
use corral_core::StoreResult;
use corral_core::model::*;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::error::{bad_value, db};

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
         e.platform, e.release, e.environment, e.timestamp, e.received_at, e.tags, e.data"
    };
}
pub(crate) use {event_columns, issue_columns, project_columns};

pub(crate) fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_ms(column: &str, v: i64) -> StoreResult<DateTime<Utc>> {
    DateTime::from_timestamp_millis(v).ok_or_else(|| bad_value(column, &v.to_string()))
}

pub(crate) fn get<'r, T>(row: &'r SqliteRow, column: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get(column).map_err(db)
}

pub(crate) fn time(row: &SqliteRow, column: &str) -> StoreResult<DateTime<Utc>> {
    from_ms(column, get(row, column)?)
}

pub(crate) fn opt_time(row: &SqliteRow, column: &str) -> StoreResult<Option<DateTime<Utc>>> {
    get::<Option<i64>>(row, column)?
        .map(|v| from_ms(column, v))
        .transpose()
}

pub(crate) fn parse<T: FromStr>(row: &SqliteRow, column: &str) -> StoreResult<T> {
    let text: String = get(row, column)?;
    text.parse().map_err(|_| bad_value(column, &text))
}

pub(crate) fn json<T: serde::de::DeserializeOwned>(
    row: &SqliteRow,
    column: &str,
) -> StoreResult<T> {
    let text: String = get(row, column)?;
    serde_json::from_str(&text).map_err(|e| bad_value(column, &e.to_string()))
}

pub(crate) fn organization(r: &SqliteRow) -> StoreResult<Organization> {
    Ok(Organization {
        id: get(r, "id")?,
        slug: get(r, "slug")?,
        name: get(r, "name")?,
        created_at: time(r, "created_at")?,
    })
}

pub(crate) fn user(r: &SqliteRow) -> StoreResult<User> {
    Ok(User {
        id: get(r, "id")?,
        email: get(r, "email")?,
        name: get(r, "name")?,
        password_hash: get(r, "password_hash")?,
        is_superuser: get(r, "is_superuser")?,
        is_active: get(r, "is_active")?,
        created_at: time(r, "created_at")?,
    })
}

pub(crate) fn membership(r: &SqliteRow) -> StoreResult<Membership> {
    Ok(Membership {
        org_id: get(r, "org_id")?,
        user_id: get(r, "user_id")?,
        role: parse(r, "role")?,
        created_at: time(r, "created_at")?,
    })
}

pub(crate) fn team(r: &SqliteRow) -> StoreResult<Team> {
    Ok(Team {
        id: get(r, "id")?,
        org_id: get(r, "org_id")?,
        slug: get(r, "slug")?,
        name: get(r, "name")?,
        created_at: time(r, "created_at")?,
    })
}

fn rate_limit(r: &SqliteRow) -> StoreResult<RateLimit> {
    Ok(RateLimit {
        per_minute: get(r, "rate_limit_per_minute")?,
        per_hour: get(r, "rate_limit_per_hour")?,
    })
}

pub(crate) fn project(r: &SqliteRow) -> StoreResult<Project> {
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
        created_at: time(r, "created_at")?,
    })
}

pub(crate) fn project_key(r: &SqliteRow) -> StoreResult<ProjectKey> {
    Ok(ProjectKey {
        id: get(r, "id")?,
        project_id: get(r, "project_id")?,
        public_key: get(r, "public_key")?,
        label: get(r, "label")?,
        is_active: get(r, "is_active")?,
        rate_limit: rate_limit(r)?,
        created_at: time(r, "created_at")?,
    })
}

pub(crate) fn api_token(r: &SqliteRow) -> StoreResult<ApiToken> {
    Ok(ApiToken {
        id: get(r, "id")?,
        user_id: get(r, "user_id")?,
        name: get(r, "name")?,
        scopes: json(r, "scopes")?,
        created_at: time(r, "created_at")?,
        last_used_at: opt_time(r, "last_used_at")?,
    })
}

pub(crate) fn issue(r: &SqliteRow) -> StoreResult<Issue> {
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
        metadata: json(r, "metadata")?,
        first_seen: time(r, "first_seen")?,
        last_seen: time(r, "last_seen")?,
        times_seen: get(r, "times_seen")?,
        first_release: get(r, "first_release")?,
        last_release: get(r, "last_release")?,
        resolved_at: opt_time(r, "resolved_at")?,
        resolved_in_release: get(r, "resolved_in_release")?,
        ignore_until: opt_time(r, "ignore_until")?,
        ignore_count: get(r, "ignore_count")?,
        ignore_count_base: get(r, "ignore_count_base")?,
        assignee: assignee(r)?,
        num_comments: get(r, "num_comments")?,
    })
}

fn assignee(r: &SqliteRow) -> StoreResult<Option<Assignee>> {
    let user: Option<UserId> = get(r, "assignee_user_id")?;
    let team: Option<TeamId> = get(r, "assignee_team_id")?;
    Ok(user.map(Assignee::User).or(team.map(Assignee::Team)))
}

pub(crate) fn event(r: &SqliteRow) -> StoreResult<StoredEvent> {
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
        timestamp: time(r, "timestamp")?,
        received_at: time(r, "received_at")?,
        tags: json(r, "tags")?,
        data: json(r, "data")?,
    })
}

pub(crate) fn tag_value(r: &SqliteRow) -> StoreResult<TagValueCount> {
    Ok(TagValueCount {
        key: get(r, "key")?,
        value: get(r, "value")?,
        times_seen: get(r, "times_seen")?,
        first_seen: time(r, "first_seen")?,
        last_seen: time(r, "last_seen")?,
    })
}

pub(crate) fn bucket(r: &SqliteRow) -> StoreResult<CountBucket> {
    Ok(CountBucket {
        start: time(r, "start")?,
        count: get(r, "count")?,
    })
}

pub(crate) fn dead_letter(r: &SqliteRow) -> StoreResult<DeadLetter> {
    Ok(DeadLetter {
        id: get(r, "id")?,
        queue: get(r, "queue")?,
        payload: get(r, "payload")?,
        error: get(r, "error")?,
        attempts: get(r, "attempts")?,
        created_at: time(r, "created_at")?,
    })
}

/// A session joined with its user: the session's own times come as
/// `session_created_at` and `session_expires_at`.
pub(crate) fn session(r: &SqliteRow) -> StoreResult<(Session, User)> {
    let session = Session {
        user_id: get(r, "id")?,
        csrf_token: get(r, "csrf_token")?,
        created_at: time(r, "session_created_at")?,
        expires_at: time(r, "session_expires_at")?,
    };
    Ok((session, user(r)?))
}

pub(crate) fn invitation(r: &SqliteRow) -> StoreResult<Invitation> {
    Ok(Invitation {
        id: get(r, "id")?,
        org_id: get(r, "org_id")?,
        email: get(r, "email")?,
        role: parse(r, "role")?,
        invited_by: get(r, "invited_by")?,
        created_at: time(r, "created_at")?,
        expires_at: time(r, "expires_at")?,
    })
}

pub(crate) fn comment(r: &SqliteRow) -> StoreResult<Comment> {
    Ok(Comment {
        id: get(r, "id")?,
        issue_id: get(r, "issue_id")?,
        user_id: get(r, "user_id")?,
        user_name: get(r, "user_name")?,
        text: get(r, "text")?,
        created_at: time(r, "created_at")?,
    })
}
