//! Organizations, users, teams, projects, keys and API tokens on PostgreSQL.

use chrono::Utc;
use corral_core::model::*;
use corral_core::{NewProject, NewUser, StoreError, StoreResult};
use sqlx::{PgConnection, PgPool};

use super::issues::lock_issues;
use super::rows::{self, project_columns};
use crate::error::{bad_value, db, db_err, found};
use crate::plan::to_ms;
use crate::validate;

/// Longest name of a user, organization or project, and key label.
const MAX_NAME: usize = 200;

pub(super) async fn create_organization(
    pool: &PgPool,
    slug: &str,
    name: &str,
) -> StoreResult<Organization> {
    validate::org_slug(slug)?;
    let row = sqlx::query(
        "INSERT INTO organizations (slug, name, created_at) VALUES ($1, $2, $3) \
         RETURNING id, slug, name, created_at",
    )
    .bind(slug)
    .bind(name)
    .bind(to_ms(Utc::now()))
    .fetch_one(pool)
    .await
    .map_err(db_err("organization"))?;
    rows::organization(&row)
}

pub(super) async fn organization_by_slug(pool: &PgPool, slug: &str) -> StoreResult<Organization> {
    let row = sqlx::query("SELECT id, slug, name, created_at FROM organizations WHERE slug = $1")
        .bind(slug)
        .fetch_one(pool)
        .await
        .map_err(db_err("organization"))?;
    rows::organization(&row)
}

pub(super) async fn organization_by_id(pool: &PgPool, id: OrgId) -> StoreResult<Organization> {
    let row = sqlx::query("SELECT id, slug, name, created_at FROM organizations WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .map_err(db_err("organization"))?;
    rows::organization(&row)
}

pub(super) async fn rename_organization(
    pool: &PgPool,
    id: OrgId,
    name: &str,
) -> StoreResult<Organization> {
    validate::text("name", name, MAX_NAME)?;
    let row = sqlx::query(
        "UPDATE organizations SET name = $2 WHERE id = $1 RETURNING id, slug, name, created_at",
    )
    .bind(id)
    .bind(name.trim())
    .fetch_one(pool)
    .await
    .map_err(db_err("organization"))?;
    rows::organization(&row)
}

pub(super) async fn list_organizations(pool: &PgPool) -> StoreResult<Vec<Organization>> {
    sqlx::query("SELECT id, slug, name, created_at FROM organizations ORDER BY slug")
        .fetch_all(pool)
        .await
        .map_err(db)?
        .iter()
        .map(rows::organization)
        .collect()
}

pub(super) async fn create_user(pool: &PgPool, user: NewUser) -> StoreResult<User> {
    validate::email(&user.email)?;
    let row = sqlx::query(
        "INSERT INTO users (email, name, password_hash, is_superuser, created_at) \
         VALUES ($1, $2, $3, $4, $5) \
         RETURNING id, email, name, password_hash, is_superuser, is_active, created_at",
    )
    .bind(user.email.trim())
    .bind(&user.name)
    .bind(&user.password_hash)
    .bind(user.is_superuser)
    .bind(to_ms(Utc::now()))
    .fetch_one(pool)
    .await
    .map_err(db_err("user with this email"))?;
    rows::user(&row)
}

pub(super) async fn user_by_id(pool: &PgPool, id: UserId) -> StoreResult<User> {
    let row = sqlx::query(
        "SELECT id, email, name, password_hash, is_superuser, is_active, created_at \
         FROM users WHERE id = $1",
    )
    .bind(id)
    .fetch_one(pool)
    .await
    .map_err(db_err("user"))?;
    rows::user(&row)
}

pub(super) async fn user_by_email(pool: &PgPool, email: &str) -> StoreResult<User> {
    let row = sqlx::query(
        "SELECT id, email, name, password_hash, is_superuser, is_active, created_at \
         FROM users WHERE lower(email) = lower($1)",
    )
    .bind(email.trim())
    .fetch_one(pool)
    .await
    .map_err(db_err("user"))?;
    rows::user(&row)
}

pub(super) async fn set_password_hash(
    pool: &PgPool,
    user_id: UserId,
    hash: &str,
) -> StoreResult<()> {
    let done = sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
        .bind(user_id)
        .bind(hash)
        .execute(pool)
        .await
        .map_err(db)?;
    found(done.rows_affected(), "user")
}

pub(super) async fn update_user(pool: &PgPool, user_id: UserId, name: &str) -> StoreResult<User> {
    validate::text("name", name, MAX_NAME)?;
    let row = sqlx::query(
        "UPDATE users SET name = $2 WHERE id = $1 \
         RETURNING id, email, name, password_hash, is_superuser, is_active, created_at",
    )
    .bind(user_id)
    .bind(name.trim())
    .fetch_one(pool)
    .await
    .map_err(db_err("user"))?;
    rows::user(&row)
}

pub(super) async fn set_user_active(
    pool: &PgPool,
    user_id: UserId,
    active: bool,
) -> StoreResult<()> {
    let mut tx = pool.begin().await.map_err(db)?;
    let done = sqlx::query("UPDATE users SET is_active = $2 WHERE id = $1")
        .bind(user_id)
        .bind(active)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    found(done.rows_affected(), "user")?;
    if !active {
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
    }
    tx.commit().await.map_err(db)
}

pub(super) async fn count_users(pool: &PgPool) -> StoreResult<i64> {
    sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(pool)
        .await
        .map_err(db)
}

pub(super) async fn set_membership(
    pool: &PgPool,
    org_id: OrgId,
    user_id: UserId,
    role: Role,
) -> StoreResult<()> {
    let mut tx = pool.begin().await.map_err(db)?;
    let current = lock_membership(&mut tx, org_id, user_id).await?;
    if current == Some(Role::Owner) && role != Role::Owner {
        keep_an_owner(&mut tx, org_id).await?;
    }
    sqlx::query(
        "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role",
    )
    .bind(org_id)
    .bind(user_id)
    .bind(role.as_str())
    .bind(to_ms(Utc::now()))
    .execute(&mut *tx)
    .await
    .map_err(db_err("membership"))?;
    tx.commit().await.map_err(db)
}

/// Serializes membership changes of one organization (so two admins cannot
/// each demote one of the last two owners) and reads the user's role there.
async fn lock_membership(
    tx: &mut PgConnection,
    org_id: OrgId,
    user_id: UserId,
) -> StoreResult<Option<Role>> {
    // NO KEY UPDATE does not block inserts that merely reference the organization.
    sqlx::query("SELECT id FROM organizations WHERE id = $1 FOR NO KEY UPDATE")
        .bind(org_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err("organization"))?;
    let role: Option<String> =
        sqlx::query_scalar("SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2")
            .bind(org_id)
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
    role.map(|r| r.parse().map_err(|_| bad_value("role", &r)))
        .transpose()
}

/// `Invalid` when the organization has only one owner (who is about to go).
async fn keep_an_owner(tx: &mut PgConnection, org_id: OrgId) -> StoreResult<()> {
    let owners: i64 =
        sqlx::query_scalar("SELECT count(*) FROM memberships WHERE org_id = $1 AND role = 'owner'")
            .bind(org_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
    if owners <= 1 {
        return Err(StoreError::Invalid {
            field: "role",
            reason: "an organization must keep at least one owner".into(),
        });
    }
    Ok(())
}

pub(super) async fn list_members(pool: &PgPool, org_id: OrgId) -> StoreResult<Vec<Member>> {
    let members = sqlx::query(
        "SELECT u.id, u.email, u.name, u.password_hash, u.is_superuser, u.is_active, \
                u.created_at, m.role, m.created_at AS joined_at \
         FROM memberships m JOIN users u ON u.id = m.user_id \
         WHERE m.org_id = $1 ORDER BY lower(u.email), u.id",
    )
    .bind(org_id)
    .fetch_all(pool)
    .await
    .map_err(db)?;
    let links: Vec<(UserId, TeamId)> = sqlx::query_as(
        "SELECT tm.user_id, tm.team_id FROM team_members tm JOIN teams t ON t.id = tm.team_id \
         WHERE t.org_id = $1 ORDER BY tm.user_id, tm.team_id",
    )
    .bind(org_id)
    .fetch_all(pool)
    .await
    .map_err(db)?;
    members
        .iter()
        .map(|r| {
            let user = rows::user(r)?;
            let teams = links
                .iter()
                .filter(|(u, _)| *u == user.id)
                .map(|(_, t)| *t)
                .collect();
            Ok(Member {
                role: rows::parse(r, "role")?,
                created_at: rows::get(r, "joined_at")?,
                teams,
                user,
            })
        })
        .collect()
}

pub(super) async fn remove_membership(
    pool: &PgPool,
    org_id: OrgId,
    user_id: UserId,
) -> StoreResult<()> {
    let mut tx = pool.begin().await.map_err(db)?;
    match lock_membership(&mut tx, org_id, user_id).await? {
        None => return Err(StoreError::NotFound("membership")),
        Some(Role::Owner) => keep_an_owner(&mut tx, org_id).await?,
        Some(_) => {}
    }
    sqlx::query(
        "DELETE FROM team_members WHERE user_id = $2 \
         AND team_id IN (SELECT id FROM teams WHERE org_id = $1)",
    )
    .bind(org_id)
    .bind(user_id)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    let assigned: Vec<IssueId> = sqlx::query_scalar(
        "SELECT i.id FROM issues i JOIN projects p ON p.id = i.project_id \
         WHERE i.assignee_user_id = $2 AND p.org_id = $1 ORDER BY i.id",
    )
    .bind(org_id)
    .bind(user_id)
    .fetch_all(&mut *tx)
    .await
    .map_err(db)?;
    unassign(&mut tx, &assigned, Assignee::User(user_id)).await?;
    sqlx::query("DELETE FROM memberships WHERE org_id = $1 AND user_id = $2")
        .bind(org_id)
        .bind(user_id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    tx.commit().await.map_err(db)
}

/// Unassigns those of `ids` still assigned to `who`, locking them in id
/// order like every other writer of issues.
async fn unassign(tx: &mut PgConnection, ids: &[IssueId], who: Assignee) -> StoreResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    lock_issues(tx, ids).await.map_err(db)?;
    let (sql, id) = match who {
        Assignee::User(id) => (
            "UPDATE issues SET assignee_user_id = NULL \
             WHERE id = ANY($1) AND assignee_user_id = $2",
            id,
        ),
        Assignee::Team(id) => (
            "UPDATE issues SET assignee_team_id = NULL \
             WHERE id = ANY($1) AND assignee_team_id = $2",
            id,
        ),
    };
    sqlx::query(sql)
        .bind(ids)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    Ok(())
}

pub(super) async fn memberships_of_user(
    pool: &PgPool,
    user_id: UserId,
) -> StoreResult<Vec<Membership>> {
    sqlx::query(
        "SELECT org_id, user_id, role, created_at FROM memberships \
         WHERE user_id = $1 ORDER BY org_id",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await
    .map_err(db)?
    .iter()
    .map(rows::membership)
    .collect()
}

pub(super) async fn create_team(
    pool: &PgPool,
    org_id: OrgId,
    slug: &str,
    name: &str,
) -> StoreResult<Team> {
    validate::slug("slug", slug)?;
    let row = sqlx::query(
        "INSERT INTO teams (org_id, slug, name, created_at) VALUES ($1, $2, $3, $4) \
         RETURNING id, org_id, slug, name, created_at",
    )
    .bind(org_id)
    .bind(slug)
    .bind(name)
    .bind(to_ms(Utc::now()))
    .fetch_one(pool)
    .await
    .map_err(db_err("team"))?;
    rows::team(&row)
}

pub(super) async fn list_teams(pool: &PgPool, org_id: OrgId) -> StoreResult<Vec<Team>> {
    sqlx::query(
        "SELECT id, org_id, slug, name, created_at FROM teams WHERE org_id = $1 ORDER BY slug",
    )
    .bind(org_id)
    .fetch_all(pool)
    .await
    .map_err(db)?
    .iter()
    .map(rows::team)
    .collect()
}

pub(super) async fn team_by_slug(pool: &PgPool, org_id: OrgId, slug: &str) -> StoreResult<Team> {
    let row = sqlx::query(
        "SELECT id, org_id, slug, name, created_at FROM teams WHERE org_id = $1 AND slug = $2",
    )
    .bind(org_id)
    .bind(slug)
    .fetch_one(pool)
    .await
    .map_err(db_err("team"))?;
    rows::team(&row)
}

pub(super) async fn delete_team(pool: &PgPool, team_id: TeamId) -> StoreResult<()> {
    let mut tx = pool.begin().await.map_err(db)?;
    let assigned: Vec<IssueId> =
        sqlx::query_scalar("SELECT id FROM issues WHERE assignee_team_id = $1 ORDER BY id")
            .bind(team_id)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
    unassign(&mut tx, &assigned, Assignee::Team(team_id)).await?;
    // Memberships and project links go with it (ON DELETE CASCADE).
    let done = sqlx::query("DELETE FROM teams WHERE id = $1")
        .bind(team_id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    found(done.rows_affected(), "team")?;
    tx.commit().await.map_err(db)
}

pub(super) async fn remove_team_member(
    pool: &PgPool,
    team_id: TeamId,
    user_id: UserId,
) -> StoreResult<()> {
    let done = sqlx::query("DELETE FROM team_members WHERE team_id = $1 AND user_id = $2")
        .bind(team_id)
        .bind(user_id)
        .execute(pool)
        .await
        .map_err(db)?;
    found(done.rows_affected(), "team member")
}

pub(super) async fn team_members(pool: &PgPool, team_id: TeamId) -> StoreResult<Vec<User>> {
    sqlx::query(
        "SELECT u.id, u.email, u.name, u.password_hash, u.is_superuser, u.is_active, u.created_at \
         FROM team_members tm JOIN users u ON u.id = tm.user_id \
         WHERE tm.team_id = $1 ORDER BY lower(u.email), u.id",
    )
    .bind(team_id)
    .fetch_all(pool)
    .await
    .map_err(db)?
    .iter()
    .map(rows::user)
    .collect()
}

pub(super) async fn teams_of_user(pool: &PgPool, user_id: UserId) -> StoreResult<Vec<Team>> {
    sqlx::query(
        "SELECT t.id, t.org_id, t.slug, t.name, t.created_at \
         FROM team_members tm JOIN teams t ON t.id = tm.team_id \
         WHERE tm.user_id = $1 ORDER BY t.org_id, t.slug",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await
    .map_err(db)?
    .iter()
    .map(rows::team)
    .collect()
}

pub(super) async fn add_team_member(
    pool: &PgPool,
    team_id: TeamId,
    user_id: UserId,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO team_members (team_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(team_id)
    .bind(user_id)
    .execute(pool)
    .await
    .map_err(db_err("team member"))?;
    Ok(())
}

pub(super) async fn add_project_team(
    pool: &PgPool,
    project_id: ProjectId,
    team_id: TeamId,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO project_teams (project_id, team_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(project_id)
    .bind(team_id)
    .execute(pool)
    .await
    .map_err(db_err("project team"))?;
    Ok(())
}

pub(super) async fn remove_project_team(
    pool: &PgPool,
    project_id: ProjectId,
    team_id: TeamId,
) -> StoreResult<()> {
    let done = sqlx::query("DELETE FROM project_teams WHERE project_id = $1 AND team_id = $2")
        .bind(project_id)
        .bind(team_id)
        .execute(pool)
        .await
        .map_err(db)?;
    found(done.rows_affected(), "project team")
}

pub(super) async fn project_teams(pool: &PgPool, project_id: ProjectId) -> StoreResult<Vec<Team>> {
    sqlx::query(
        "SELECT t.id, t.org_id, t.slug, t.name, t.created_at \
         FROM project_teams pt JOIN teams t ON t.id = pt.team_id \
         WHERE pt.project_id = $1 ORDER BY t.slug",
    )
    .bind(project_id)
    .fetch_all(pool)
    .await
    .map_err(db)?
    .iter()
    .map(rows::team)
    .collect()
}

pub(super) async fn project_team_map(
    pool: &PgPool,
    org_id: OrgId,
) -> StoreResult<Vec<(ProjectId, TeamId)>> {
    sqlx::query_as(
        "SELECT pt.project_id, pt.team_id FROM project_teams pt \
         JOIN projects p ON p.id = pt.project_id \
         WHERE p.org_id = $1 ORDER BY pt.project_id, pt.team_id",
    )
    .bind(org_id)
    .fetch_all(pool)
    .await
    .map_err(db)
}

pub(super) async fn create_project(pool: &PgPool, project: NewProject) -> StoreResult<Project> {
    validate::slug("slug", &project.slug)?;
    let id: ProjectId = sqlx::query_scalar(
        "INSERT INTO projects (org_id, slug, name, platform, created_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(project.org_id)
    .bind(&project.slug)
    .bind(&project.name)
    .bind(&project.platform)
    .bind(to_ms(Utc::now()))
    .fetch_one(pool)
    .await
    .map_err(db_err("project"))?;
    project_by_id(pool, id).await
}

pub(super) async fn project_by_id(pool: &PgPool, id: ProjectId) -> StoreResult<Project> {
    let row = sqlx::query(concat!("SELECT ", project_columns!(), " WHERE p.id = $1"))
        .bind(id)
        .fetch_one(pool)
        .await
        .map_err(db_err("project"))?;
    rows::project(&row)
}

pub(super) async fn project_by_slug(
    pool: &PgPool,
    org_slug: &str,
    slug: &str,
) -> StoreResult<Project> {
    let row = sqlx::query(concat!(
        "SELECT ",
        project_columns!(),
        " WHERE o.slug = $1 AND p.slug = $2"
    ))
    .bind(org_slug)
    .bind(slug)
    .fetch_one(pool)
    .await
    .map_err(db_err("project"))?;
    rows::project(&row)
}

pub(super) async fn list_projects(
    pool: &PgPool,
    org_id: Option<OrgId>,
) -> StoreResult<Vec<Project>> {
    sqlx::query(concat!(
        "SELECT ",
        project_columns!(),
        " WHERE $1::bigint IS NULL OR p.org_id = $1 ORDER BY o.slug, p.slug"
    ))
    .bind(org_id)
    .fetch_all(pool)
    .await
    .map_err(db)?
    .iter()
    .map(rows::project)
    .collect()
}

pub(super) async fn projects_for_user(pool: &PgPool, user_id: UserId) -> StoreResult<Vec<Project>> {
    sqlx::query(concat!(
        "SELECT ",
        project_columns!(),
        " WHERE EXISTS (SELECT 1 FROM users u WHERE u.id = $1 AND u.is_superuser) \
           OR EXISTS (SELECT 1 FROM memberships m WHERE m.user_id = $1 AND m.org_id = p.org_id) \
         ORDER BY o.slug, p.slug"
    ))
    .bind(user_id)
    .fetch_all(pool)
    .await
    .map_err(db)?
    .iter()
    .map(rows::project)
    .collect()
}

pub(super) async fn set_project_retention(
    pool: &PgPool,
    id: ProjectId,
    days: Option<i32>,
) -> StoreResult<()> {
    validate::retention(days)?;
    let done = sqlx::query("UPDATE projects SET retention_days = $2 WHERE id = $1")
        .bind(id)
        .bind(days)
        .execute(pool)
        .await
        .map_err(db)?;
    found(done.rows_affected(), "project")
}

pub(super) async fn set_project_rate_limit(
    pool: &PgPool,
    id: ProjectId,
    limit: RateLimit,
) -> StoreResult<()> {
    validate::rate_limit(&limit)?;
    let done = sqlx::query(
        "UPDATE projects SET rate_limit_per_minute = $2, rate_limit_per_hour = $3 WHERE id = $1",
    )
    .bind(id)
    .bind(limit.per_minute)
    .bind(limit.per_hour)
    .execute(pool)
    .await
    .map_err(db)?;
    found(done.rows_affected(), "project")
}

pub(super) async fn update_project(
    pool: &PgPool,
    id: ProjectId,
    name: &str,
    platform: Option<&str>,
) -> StoreResult<Project> {
    validate::text("name", name, MAX_NAME)?;
    let platform = platform.map(str::trim).filter(|p| !p.is_empty());
    validate::at_most("platform", platform.unwrap_or(""), 64)?;
    let done = sqlx::query("UPDATE projects SET name = $2, platform = $3 WHERE id = $1")
        .bind(id)
        .bind(name.trim())
        .bind(platform)
        .execute(pool)
        .await
        .map_err(db)?;
    found(done.rows_affected(), "project")?;
    project_by_id(pool, id).await
}

pub(super) async fn delete_project(pool: &PgPool, id: ProjectId) -> StoreResult<()> {
    let mut tx = pool.begin().await.map_err(db)?;
    sqlx::query("SELECT id FROM projects WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err("project"))?;
    let issues: Vec<IssueId> =
        sqlx::query_scalar("SELECT id FROM issues WHERE project_id = $1 ORDER BY id")
            .bind(id)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
    lock_issues(&mut tx, &issues).await.map_err(db)?;
    // Events and their dedupe rows have no foreign key (events are
    // partitioned); everything else goes with the project (ON DELETE CASCADE).
    for sql in [
        "DELETE FROM events WHERE project_id = $1",
        "DELETE FROM event_ids WHERE project_id = $1",
        "DELETE FROM issue_hashes WHERE project_id = $1",
        "DELETE FROM projects WHERE id = $1",
    ] {
        sqlx::query(sql)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
    }
    tx.commit().await.map_err(db)
}

pub(super) async fn create_project_key(
    pool: &PgPool,
    project_id: ProjectId,
    label: &str,
    limit: RateLimit,
) -> StoreResult<ProjectKey> {
    validate::rate_limit(&limit)?;
    let row = sqlx::query(
        "INSERT INTO project_keys \
           (project_id, public_key, label, rate_limit_per_minute, rate_limit_per_hour, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         RETURNING id, project_id, public_key, label, is_active, rate_limit_per_minute, \
                   rate_limit_per_hour, created_at",
    )
    .bind(project_id)
    .bind(crate::keys::new_public_key())
    .bind(label)
    .bind(limit.per_minute)
    .bind(limit.per_hour)
    .bind(to_ms(Utc::now()))
    .fetch_one(pool)
    .await
    .map_err(db_err("project key"))?;
    rows::project_key(&row)
}

pub(super) async fn list_project_keys(
    pool: &PgPool,
    project_id: ProjectId,
) -> StoreResult<Vec<ProjectKey>> {
    sqlx::query(
        "SELECT id, project_id, public_key, label, is_active, rate_limit_per_minute, \
                rate_limit_per_hour, created_at \
         FROM project_keys WHERE project_id = $1 ORDER BY id",
    )
    .bind(project_id)
    .fetch_all(pool)
    .await
    .map_err(db)?
    .iter()
    .map(rows::project_key)
    .collect()
}

pub(super) async fn set_key_active(pool: &PgPool, key_id: KeyId, active: bool) -> StoreResult<()> {
    let done = sqlx::query("UPDATE project_keys SET is_active = $2 WHERE id = $1")
        .bind(key_id)
        .bind(active)
        .execute(pool)
        .await
        .map_err(db)?;
    found(done.rows_affected(), "project key")
}

pub(super) async fn set_key_rate_limit(
    pool: &PgPool,
    key_id: KeyId,
    limit: RateLimit,
) -> StoreResult<()> {
    validate::rate_limit(&limit)?;
    let done = sqlx::query(
        "UPDATE project_keys SET rate_limit_per_minute = $2, rate_limit_per_hour = $3 \
         WHERE id = $1",
    )
    .bind(key_id)
    .bind(limit.per_minute)
    .bind(limit.per_hour)
    .execute(pool)
    .await
    .map_err(db)?;
    found(done.rows_affected(), "project key")
}

pub(super) async fn set_key_label(pool: &PgPool, key_id: KeyId, label: &str) -> StoreResult<()> {
    validate::at_most("label", label, MAX_NAME)?;
    let done = sqlx::query("UPDATE project_keys SET label = $2 WHERE id = $1")
        .bind(key_id)
        .bind(label)
        .execute(pool)
        .await
        .map_err(db)?;
    found(done.rows_affected(), "project key")
}

pub(super) async fn delete_project_key(pool: &PgPool, key_id: KeyId) -> StoreResult<()> {
    let done = sqlx::query("DELETE FROM project_keys WHERE id = $1")
        .bind(key_id)
        .execute(pool)
        .await
        .map_err(db)?;
    found(done.rows_affected(), "project key")
}

pub(super) async fn key_by_id(pool: &PgPool, key_id: KeyId) -> StoreResult<ProjectKey> {
    let row = sqlx::query(
        "SELECT id, project_id, public_key, label, is_active, rate_limit_per_minute, \
                rate_limit_per_hour, created_at \
         FROM project_keys WHERE id = $1",
    )
    .bind(key_id)
    .fetch_one(pool)
    .await
    .map_err(db_err("project key"))?;
    rows::project_key(&row)
}

pub(super) async fn key_auth(pool: &PgPool, public_key: &str) -> StoreResult<KeyAuth> {
    let row = sqlx::query(
        "SELECT k.id, k.project_id, k.public_key, k.label, k.is_active, k.rate_limit_per_minute, \
                k.rate_limit_per_hour, k.created_at, \
                p.rate_limit_per_minute AS project_per_minute, \
                p.rate_limit_per_hour AS project_per_hour \
         FROM project_keys k JOIN projects p ON p.id = k.project_id \
         WHERE k.public_key = $1",
    )
    .bind(public_key)
    .fetch_one(pool)
    .await
    .map_err(db_err("project key"))?;
    let key = rows::project_key(&row)?;
    Ok(KeyAuth {
        project_id: key.project_id,
        key,
        project_rate_limit: RateLimit {
            per_minute: rows::get(&row, "project_per_minute")?,
            per_hour: rows::get(&row, "project_per_hour")?,
        },
    })
}

pub(super) async fn create_api_token(
    pool: &PgPool,
    user_id: UserId,
    name: &str,
    scopes: &[String],
    token_sha256: &str,
) -> StoreResult<ApiToken> {
    validate::sha256_hex(token_sha256)?;
    let row = sqlx::query(
        "INSERT INTO api_tokens (user_id, name, scopes, token_sha256, created_at) \
         VALUES ($1, $2, $3, $4, $5) \
         RETURNING id, user_id, name, scopes, created_at, last_used_at",
    )
    .bind(user_id)
    .bind(name)
    .bind(scopes)
    .bind(token_sha256)
    .bind(to_ms(Utc::now()))
    .fetch_one(pool)
    .await
    .map_err(db_err("api token"))?;
    rows::api_token(&row)
}

pub(super) async fn api_token_by_hash(pool: &PgPool, token_sha256: &str) -> StoreResult<ApiToken> {
    let now = to_ms(Utc::now());
    // Recording every use would write on every API request; a minute's
    // precision is plenty for "last used".
    sqlx::query(
        "UPDATE api_tokens SET last_used_at = $2 WHERE token_sha256 = $1 \
         AND (last_used_at IS NULL OR last_used_at < $2 - interval '1 minute')",
    )
    .bind(token_sha256)
    .bind(now)
    .execute(pool)
    .await
    .map_err(db)?;
    let row = sqlx::query(
        "SELECT id, user_id, name, scopes, created_at, last_used_at FROM api_tokens \
         WHERE token_sha256 = $1",
    )
    .bind(token_sha256)
    .fetch_one(pool)
    .await
    .map_err(db_err("api token"))?;
    rows::api_token(&row)
}

pub(super) async fn list_api_tokens(pool: &PgPool, user_id: UserId) -> StoreResult<Vec<ApiToken>> {
    sqlx::query(
        "SELECT id, user_id, name, scopes, created_at, last_used_at FROM api_tokens \
         WHERE user_id = $1 ORDER BY id",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await
    .map_err(db)?
    .iter()
    .map(rows::api_token)
    .collect()
}

pub(super) async fn delete_api_token(
    pool: &PgPool,
    user_id: UserId,
    token_id: TokenId,
) -> StoreResult<()> {
    let done = sqlx::query("DELETE FROM api_tokens WHERE id = $1 AND user_id = $2")
        .bind(token_id)
        .bind(user_id)
        .execute(pool)
        .await
        .map_err(db)?;
    found(done.rows_affected(), "api token")
}
