//! Organizations, users, teams, projects, keys and API tokens.

use chrono::{Duration, Utc};
use corral_core::model::*;
use corral_core::{NewProject, NewUser, StoreError, StoreResult};
use sqlx::{AssertSqlSafe, Executor};

use crate::dialect::{Bind, Columns, Dialect, RowsAffected, Sql};
use crate::error::{db, db_err, found};
use crate::rows::{self, project_columns};
use crate::validate;

/// Longest name of a user, organization or project, and key label.
const MAX_NAME: usize = 200;

const USER_COLUMNS: &str = "id, email, name, password_hash, is_superuser, is_active, created_at";
const KEY_COLUMNS: &str = "id, project_id, public_key, label, is_active, rate_limit_per_minute, \
                           rate_limit_per_hour, created_at";

impl<D: Dialect> Sql<'_, D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
{
    pub(crate) async fn create_organization(
        &self,
        slug: &str,
        name: &str,
    ) -> StoreResult<Organization> {
        validate::org_slug(slug)?;
        let row = sqlx::query(
            "INSERT INTO organizations (slug, name, created_at) VALUES ($1, $2, $3) \
             RETURNING id, slug, name, created_at",
        )
        .param(slug)
        .param(name)
        .param(D::time(Utc::now()))
        .fetch_one(self.0)
        .await
        .map_err(db_err("organization"))?;
        rows::organization(&row)
    }

    pub(crate) async fn organization_by_slug(&self, slug: &str) -> StoreResult<Organization> {
        let row =
            sqlx::query("SELECT id, slug, name, created_at FROM organizations WHERE slug = $1")
                .param(slug)
                .fetch_one(self.0)
                .await
                .map_err(db_err("organization"))?;
        rows::organization(&row)
    }

    pub(crate) async fn organization_by_id(&self, id: OrgId) -> StoreResult<Organization> {
        let row = sqlx::query("SELECT id, slug, name, created_at FROM organizations WHERE id = $1")
            .param(id)
            .fetch_one(self.0)
            .await
            .map_err(db_err("organization"))?;
        rows::organization(&row)
    }

    pub(crate) async fn rename_organization(
        &self,
        id: OrgId,
        name: &str,
    ) -> StoreResult<Organization> {
        validate::text("name", name, MAX_NAME)?;
        let row = sqlx::query(
            "UPDATE organizations SET name = $2 WHERE id = $1 \
             RETURNING id, slug, name, created_at",
        )
        .param(id)
        .param(name.trim())
        .fetch_one(self.0)
        .await
        .map_err(db_err("organization"))?;
        rows::organization(&row)
    }

    pub(crate) async fn list_organizations(&self) -> StoreResult<Vec<Organization>> {
        sqlx::query("SELECT id, slug, name, created_at FROM organizations ORDER BY slug")
            .fetch_all(self.0)
            .await
            .map_err(db)?
            .iter()
            .map(rows::organization)
            .collect()
    }

    pub(crate) async fn create_user(&self, user: NewUser) -> StoreResult<User> {
        validate::email(&user.email)?;
        let sql = format!(
            "INSERT INTO users (email, name, password_hash, is_superuser, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING {USER_COLUMNS}"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .param(user.email.trim())
            .param(&user.name)
            .param(&user.password_hash)
            .param(user.is_superuser)
            .param(D::time(Utc::now()))
            .fetch_one(self.0)
            .await
            .map_err(db_err("user with this email"))?;
        rows::user(&row)
    }

    pub(crate) async fn user_by_id(&self, id: UserId) -> StoreResult<User> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .param(id)
            .fetch_one(self.0)
            .await
            .map_err(db_err("user"))?;
        rows::user(&row)
    }

    pub(crate) async fn user_by_email(&self, email: &str) -> StoreResult<User> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE lower(email) = lower($1)");
        let row = sqlx::query(AssertSqlSafe(sql))
            .param(email.trim())
            .fetch_one(self.0)
            .await
            .map_err(db_err("user"))?;
        rows::user(&row)
    }

    pub(crate) async fn set_password_hash(&self, user_id: UserId, hash: &str) -> StoreResult<()> {
        let done = sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
            .param(user_id)
            .param(hash)
            .execute(self.0)
            .await
            .map_err(db)?;
        found(done.rows_affected(), "user")
    }

    pub(crate) async fn update_user(&self, user_id: UserId, name: &str) -> StoreResult<User> {
        validate::text("name", name, MAX_NAME)?;
        let sql = format!("UPDATE users SET name = $2 WHERE id = $1 RETURNING {USER_COLUMNS}");
        let row = sqlx::query(AssertSqlSafe(sql))
            .param(user_id)
            .param(name.trim())
            .fetch_one(self.0)
            .await
            .map_err(db_err("user"))?;
        rows::user(&row)
    }

    pub(crate) async fn set_user_active(&self, user_id: UserId, active: bool) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("UPDATE users SET is_active = $2 WHERE id = $1")
            .param(user_id)
            .param(active)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        found(done.rows_affected(), "user")?;
        if !active {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .param(user_id)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    pub(crate) async fn count_users(&self) -> StoreResult<i64> {
        sqlx::query("SELECT count(*) AS n FROM users")
            .fetch_one(self.0)
            .await
            .map_err(db)?
            .col("n")
    }

    pub(crate) async fn set_membership(
        &self,
        org_id: OrgId,
        user_id: UserId,
        role: Role,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let current = Self::lock_membership(&mut tx, org_id, user_id).await?;
        if current == Some(Role::Owner) && role != Role::Owner {
            Self::keep_an_owner(&mut tx, org_id).await?;
        }
        sqlx::query(
            "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role",
        )
        .param(org_id)
        .param(user_id)
        .param(role.as_str())
        .param(D::time(Utc::now()))
        .execute(&mut *tx)
        .await
        .map_err(db_err("membership"))?;
        tx.commit().await.map_err(db)
    }

    /// Serializes membership changes of one organization (so two admins
    /// cannot each demote one of the last two owners) and reads the user's
    /// role there; `NotFound` when the organization does not exist.
    async fn lock_membership(
        tx: &mut D::Connection,
        org_id: OrgId,
        user_id: UserId,
    ) -> StoreResult<Option<Role>> {
        // NO KEY UPDATE does not block inserts that merely reference the organization.
        let lock = format!(
            "SELECT id FROM organizations WHERE id = $1{}",
            D::FOR_NO_KEY_UPDATE
        );
        sqlx::query(AssertSqlSafe(lock))
            .param(org_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err("organization"))?;
        sqlx::query("SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2")
            .param(org_id)
            .param(user_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?
            .map(|r| r.parse("role"))
            .transpose()
    }

    /// `Invalid` when the organization has only one owner (who is about to go).
    async fn keep_an_owner(tx: &mut D::Connection, org_id: OrgId) -> StoreResult<()> {
        let owners: i64 = sqlx::query(
            "SELECT count(*) AS n FROM memberships WHERE org_id = $1 AND role = 'owner'",
        )
        .param(org_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?
        .col("n")?;
        if owners <= 1 {
            return Err(StoreError::Invalid {
                field: "role",
                reason: "an organization must keep at least one owner".into(),
            });
        }
        Ok(())
    }

    pub(crate) async fn list_members(&self, org_id: OrgId) -> StoreResult<Vec<Member>> {
        let members = sqlx::query(
            "SELECT u.id, u.email, u.name, u.password_hash, u.is_superuser, u.is_active, \
                    u.created_at, m.role, m.created_at AS joined_at \
             FROM memberships m JOIN users u ON u.id = m.user_id \
             WHERE m.org_id = $1 ORDER BY lower(u.email), u.id",
        )
        .param(org_id)
        .fetch_all(self.0)
        .await
        .map_err(db)?;
        let links = sqlx::query(
            "SELECT tm.user_id, tm.team_id FROM team_members tm JOIN teams t ON t.id = tm.team_id \
             WHERE t.org_id = $1 ORDER BY tm.user_id, tm.team_id",
        )
        .param(org_id)
        .fetch_all(self.0)
        .await
        .map_err(db)?
        .iter()
        .map(|r| Ok((r.col("user_id")?, r.col("team_id")?)))
        .collect::<StoreResult<Vec<(UserId, TeamId)>>>()?;
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
                    role: r.parse("role")?,
                    created_at: r.time("joined_at")?,
                    teams,
                    user,
                })
            })
            .collect()
    }

    pub(crate) async fn remove_membership(
        &self,
        org_id: OrgId,
        user_id: UserId,
    ) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        match Self::lock_membership(&mut tx, org_id, user_id).await? {
            None => return Err(StoreError::NotFound("membership")),
            Some(Role::Owner) => Self::keep_an_owner(&mut tx, org_id).await?,
            Some(_) => {}
        }
        sqlx::query(
            "DELETE FROM team_members WHERE user_id = $2 \
             AND team_id IN (SELECT id FROM teams WHERE org_id = $1)",
        )
        .param(org_id)
        .param(user_id)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let assigned = sqlx::query(
            "SELECT i.id FROM issues i JOIN projects p ON p.id = i.project_id \
             WHERE i.assignee_user_id = $2 AND p.org_id = $1 ORDER BY i.id",
        )
        .param(org_id)
        .param(user_id)
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        Self::unassign(&mut tx, &ids_of(&assigned)?, Assignee::User(user_id)).await?;
        sqlx::query("DELETE FROM memberships WHERE org_id = $1 AND user_id = $2")
            .param(org_id)
            .param(user_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    /// Unassigns those of `ids` still assigned to `who`, locking them in id
    /// order like every other writer of issues.
    async fn unassign(tx: &mut D::Connection, ids: &[IssueId], who: Assignee) -> StoreResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        D::lock_issues(tx, ids).await?;
        let (column, id) = match who {
            Assignee::User(id) => ("assignee_user_id", id),
            Assignee::Team(id) => ("assignee_team_id", id),
        };
        let (before, after) = D::IN_LIST;
        let sql = format!(
            "UPDATE issues SET {column} = NULL WHERE id{before}$1{after} AND {column} = $2"
        );
        sqlx::query(AssertSqlSafe(sql))
            .param_ids(ids)
            .param(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        Ok(())
    }

    pub(crate) async fn memberships_of_user(
        &self,
        user_id: UserId,
    ) -> StoreResult<Vec<Membership>> {
        sqlx::query(
            "SELECT org_id, user_id, role, created_at FROM memberships \
             WHERE user_id = $1 ORDER BY org_id",
        )
        .param(user_id)
        .fetch_all(self.0)
        .await
        .map_err(db)?
        .iter()
        .map(rows::membership)
        .collect()
    }

    pub(crate) async fn create_team(
        &self,
        org_id: OrgId,
        slug: &str,
        name: &str,
    ) -> StoreResult<Team> {
        validate::slug("slug", slug)?;
        let row = sqlx::query(
            "INSERT INTO teams (org_id, slug, name, created_at) VALUES ($1, $2, $3, $4) \
             RETURNING id, org_id, slug, name, created_at",
        )
        .param(org_id)
        .param(slug)
        .param(name)
        .param(D::time(Utc::now()))
        .fetch_one(self.0)
        .await
        .map_err(db_err("team"))?;
        rows::team(&row)
    }

    pub(crate) async fn list_teams(&self, org_id: OrgId) -> StoreResult<Vec<Team>> {
        sqlx::query(
            "SELECT id, org_id, slug, name, created_at FROM teams WHERE org_id = $1 ORDER BY slug",
        )
        .param(org_id)
        .fetch_all(self.0)
        .await
        .map_err(db)?
        .iter()
        .map(rows::team)
        .collect()
    }

    pub(crate) async fn team_by_slug(&self, org_id: OrgId, slug: &str) -> StoreResult<Team> {
        let row = sqlx::query(
            "SELECT id, org_id, slug, name, created_at FROM teams WHERE org_id = $1 AND slug = $2",
        )
        .param(org_id)
        .param(slug)
        .fetch_one(self.0)
        .await
        .map_err(db_err("team"))?;
        rows::team(&row)
    }

    pub(crate) async fn delete_team(&self, team_id: TeamId) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let assigned = sqlx::query("SELECT id FROM issues WHERE assignee_team_id = $1 ORDER BY id")
            .param(team_id)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
        Self::unassign(&mut tx, &ids_of(&assigned)?, Assignee::Team(team_id)).await?;
        // Memberships and project links go with it (ON DELETE CASCADE).
        let done = sqlx::query("DELETE FROM teams WHERE id = $1")
            .param(team_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        found(done.rows_affected(), "team")?;
        tx.commit().await.map_err(db)
    }

    pub(crate) async fn remove_team_member(
        &self,
        team_id: TeamId,
        user_id: UserId,
    ) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM team_members WHERE team_id = $1 AND user_id = $2")
            .param(team_id)
            .param(user_id)
            .execute(self.0)
            .await
            .map_err(db)?;
        found(done.rows_affected(), "team member")
    }

    pub(crate) async fn team_members(&self, team_id: TeamId) -> StoreResult<Vec<User>> {
        sqlx::query(
            "SELECT u.id, u.email, u.name, u.password_hash, u.is_superuser, u.is_active, \
                    u.created_at \
             FROM team_members tm JOIN users u ON u.id = tm.user_id \
             WHERE tm.team_id = $1 ORDER BY lower(u.email), u.id",
        )
        .param(team_id)
        .fetch_all(self.0)
        .await
        .map_err(db)?
        .iter()
        .map(rows::user)
        .collect()
    }

    pub(crate) async fn teams_of_user(&self, user_id: UserId) -> StoreResult<Vec<Team>> {
        sqlx::query(
            "SELECT t.id, t.org_id, t.slug, t.name, t.created_at \
             FROM team_members tm JOIN teams t ON t.id = tm.team_id \
             WHERE tm.user_id = $1 ORDER BY t.org_id, t.slug",
        )
        .param(user_id)
        .fetch_all(self.0)
        .await
        .map_err(db)?
        .iter()
        .map(rows::team)
        .collect()
    }

    pub(crate) async fn add_team_member(
        &self,
        team_id: TeamId,
        user_id: UserId,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO team_members (team_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .param(team_id)
        .param(user_id)
        .execute(self.0)
        .await
        .map_err(db_err("team member"))?;
        Ok(())
    }

    pub(crate) async fn add_project_team(
        &self,
        project_id: ProjectId,
        team_id: TeamId,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO project_teams (project_id, team_id) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING",
        )
        .param(project_id)
        .param(team_id)
        .execute(self.0)
        .await
        .map_err(db_err("project team"))?;
        Ok(())
    }

    pub(crate) async fn remove_project_team(
        &self,
        project_id: ProjectId,
        team_id: TeamId,
    ) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM project_teams WHERE project_id = $1 AND team_id = $2")
            .param(project_id)
            .param(team_id)
            .execute(self.0)
            .await
            .map_err(db)?;
        found(done.rows_affected(), "project team")
    }

    pub(crate) async fn project_teams(&self, project_id: ProjectId) -> StoreResult<Vec<Team>> {
        sqlx::query(
            "SELECT t.id, t.org_id, t.slug, t.name, t.created_at \
             FROM project_teams pt JOIN teams t ON t.id = pt.team_id \
             WHERE pt.project_id = $1 ORDER BY t.slug",
        )
        .param(project_id)
        .fetch_all(self.0)
        .await
        .map_err(db)?
        .iter()
        .map(rows::team)
        .collect()
    }

    pub(crate) async fn project_team_map(
        &self,
        org_id: OrgId,
    ) -> StoreResult<Vec<(ProjectId, TeamId)>> {
        sqlx::query(
            "SELECT pt.project_id, pt.team_id FROM project_teams pt \
             JOIN projects p ON p.id = pt.project_id \
             WHERE p.org_id = $1 ORDER BY pt.project_id, pt.team_id",
        )
        .param(org_id)
        .fetch_all(self.0)
        .await
        .map_err(db)?
        .iter()
        .map(|r| Ok((r.col("project_id")?, r.col("team_id")?)))
        .collect()
    }

    pub(crate) async fn create_project(&self, project: NewProject) -> StoreResult<Project> {
        validate::slug("slug", &project.slug)?;
        let id: ProjectId = sqlx::query(
            "INSERT INTO projects (org_id, slug, name, platform, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .param(project.org_id)
        .param(&project.slug)
        .param(&project.name)
        .param(&project.platform)
        .param(D::time(Utc::now()))
        .fetch_one(self.0)
        .await
        .map_err(db_err("project"))?
        .col("id")?;
        self.project_by_id(id).await
    }

    pub(crate) async fn project_by_id(&self, id: ProjectId) -> StoreResult<Project> {
        let row = sqlx::query(concat!("SELECT ", project_columns!(), " WHERE p.id = $1"))
            .param(id)
            .fetch_one(self.0)
            .await
            .map_err(db_err("project"))?;
        rows::project(&row)
    }

    pub(crate) async fn project_by_slug(&self, org_slug: &str, slug: &str) -> StoreResult<Project> {
        let row = sqlx::query(concat!(
            "SELECT ",
            project_columns!(),
            " WHERE o.slug = $1 AND p.slug = $2"
        ))
        .param(org_slug)
        .param(slug)
        .fetch_one(self.0)
        .await
        .map_err(db_err("project"))?;
        rows::project(&row)
    }

    pub(crate) async fn list_projects(&self, org_id: Option<OrgId>) -> StoreResult<Vec<Project>> {
        sqlx::query(concat!(
            "SELECT ",
            project_columns!(),
            " WHERE $1 IS NULL OR p.org_id = $1 ORDER BY o.slug, p.slug"
        ))
        .param(org_id)
        .fetch_all(self.0)
        .await
        .map_err(db)?
        .iter()
        .map(rows::project)
        .collect()
    }

    pub(crate) async fn projects_for_user(&self, user_id: UserId) -> StoreResult<Vec<Project>> {
        sqlx::query(concat!(
            "SELECT ",
            project_columns!(),
            " WHERE EXISTS (SELECT 1 FROM users u WHERE u.id = $1 AND u.is_superuser) \
               OR EXISTS (SELECT 1 FROM memberships m \
                          WHERE m.user_id = $1 AND m.org_id = p.org_id) \
             ORDER BY o.slug, p.slug"
        ))
        .param(user_id)
        .fetch_all(self.0)
        .await
        .map_err(db)?
        .iter()
        .map(rows::project)
        .collect()
    }

    pub(crate) async fn set_project_retention(
        &self,
        id: ProjectId,
        days: Option<i32>,
    ) -> StoreResult<()> {
        validate::retention(days)?;
        let done = sqlx::query("UPDATE projects SET retention_days = $2 WHERE id = $1")
            .param(id)
            .param(days)
            .execute(self.0)
            .await
            .map_err(db)?;
        found(done.rows_affected(), "project")
    }

    pub(crate) async fn set_project_rate_limit(
        &self,
        id: ProjectId,
        limit: RateLimit,
    ) -> StoreResult<()> {
        validate::rate_limit(&limit)?;
        let done = sqlx::query(
            "UPDATE projects SET rate_limit_per_minute = $2, rate_limit_per_hour = $3 \
             WHERE id = $1",
        )
        .param(id)
        .param(limit.per_minute)
        .param(limit.per_hour)
        .execute(self.0)
        .await
        .map_err(db)?;
        found(done.rows_affected(), "project")
    }

    pub(crate) async fn update_project(
        &self,
        id: ProjectId,
        name: &str,
        platform: Option<&str>,
    ) -> StoreResult<Project> {
        validate::text("name", name, MAX_NAME)?;
        let platform = platform.map(str::trim).filter(|p| !p.is_empty());
        validate::at_most("platform", platform.unwrap_or(""), 64)?;
        let done = sqlx::query("UPDATE projects SET name = $2, platform = $3 WHERE id = $1")
            .param(id)
            .param(name.trim())
            .param(platform)
            .execute(self.0)
            .await
            .map_err(db)?;
        found(done.rows_affected(), "project")?;
        self.project_by_id(id).await
    }

    pub(crate) async fn delete_project(&self, id: ProjectId) -> StoreResult<()> {
        let mut tx = self.begin().await?;
        let lock = format!("SELECT id FROM projects WHERE id = $1{}", D::FOR_UPDATE);
        sqlx::query(AssertSqlSafe(lock))
            .param(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err("project"))?;
        let issues = sqlx::query("SELECT id FROM issues WHERE project_id = $1 ORDER BY id")
            .param(id)
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?;
        D::lock_issues(&mut tx, &ids_of(&issues)?).await?;
        // Events and their dedupe rows have no foreign key (on PostgreSQL
        // events are partitioned); everything else goes with the project
        // (ON DELETE CASCADE).
        for sql in [
            "DELETE FROM events WHERE project_id = $1",
            "DELETE FROM event_ids WHERE project_id = $1",
            "DELETE FROM issue_hashes WHERE project_id = $1",
            "DELETE FROM projects WHERE id = $1",
        ] {
            sqlx::query(sql)
                .param(id)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    pub(crate) async fn create_project_key(
        &self,
        project_id: ProjectId,
        label: &str,
        limit: RateLimit,
    ) -> StoreResult<ProjectKey> {
        validate::rate_limit(&limit)?;
        let sql = format!(
            "INSERT INTO project_keys (project_id, public_key, label, rate_limit_per_minute, \
                                       rate_limit_per_hour, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {KEY_COLUMNS}"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .param(project_id)
            .param(crate::keys::new_public_key())
            .param(label)
            .param(limit.per_minute)
            .param(limit.per_hour)
            .param(D::time(Utc::now()))
            .fetch_one(self.0)
            .await
            .map_err(db_err("project key"))?;
        rows::project_key(&row)
    }

    pub(crate) async fn list_project_keys(
        &self,
        project_id: ProjectId,
    ) -> StoreResult<Vec<ProjectKey>> {
        let sql =
            format!("SELECT {KEY_COLUMNS} FROM project_keys WHERE project_id = $1 ORDER BY id");
        sqlx::query(AssertSqlSafe(sql))
            .param(project_id)
            .fetch_all(self.0)
            .await
            .map_err(db)?
            .iter()
            .map(rows::project_key)
            .collect()
    }

    pub(crate) async fn set_key_active(&self, key_id: KeyId, active: bool) -> StoreResult<()> {
        let done = sqlx::query("UPDATE project_keys SET is_active = $2 WHERE id = $1")
            .param(key_id)
            .param(active)
            .execute(self.0)
            .await
            .map_err(db)?;
        found(done.rows_affected(), "project key")
    }

    pub(crate) async fn set_key_rate_limit(
        &self,
        key_id: KeyId,
        limit: RateLimit,
    ) -> StoreResult<()> {
        validate::rate_limit(&limit)?;
        let done = sqlx::query(
            "UPDATE project_keys SET rate_limit_per_minute = $2, rate_limit_per_hour = $3 \
             WHERE id = $1",
        )
        .param(key_id)
        .param(limit.per_minute)
        .param(limit.per_hour)
        .execute(self.0)
        .await
        .map_err(db)?;
        found(done.rows_affected(), "project key")
    }

    pub(crate) async fn set_key_label(&self, key_id: KeyId, label: &str) -> StoreResult<()> {
        validate::at_most("label", label, MAX_NAME)?;
        let done = sqlx::query("UPDATE project_keys SET label = $2 WHERE id = $1")
            .param(key_id)
            .param(label)
            .execute(self.0)
            .await
            .map_err(db)?;
        found(done.rows_affected(), "project key")
    }

    pub(crate) async fn delete_project_key(&self, key_id: KeyId) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM project_keys WHERE id = $1")
            .param(key_id)
            .execute(self.0)
            .await
            .map_err(db)?;
        found(done.rows_affected(), "project key")
    }

    pub(crate) async fn key_by_id(&self, key_id: KeyId) -> StoreResult<ProjectKey> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM project_keys WHERE id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .param(key_id)
            .fetch_one(self.0)
            .await
            .map_err(db_err("project key"))?;
        rows::project_key(&row)
    }

    pub(crate) async fn key_auth(&self, public_key: &str) -> StoreResult<KeyAuth> {
        let row = sqlx::query(
            "SELECT k.id, k.project_id, k.public_key, k.label, k.is_active, \
                    k.rate_limit_per_minute, k.rate_limit_per_hour, k.created_at, \
                    p.rate_limit_per_minute AS project_per_minute, \
                    p.rate_limit_per_hour AS project_per_hour \
             FROM project_keys k JOIN projects p ON p.id = k.project_id \
             WHERE k.public_key = $1",
        )
        .param(public_key)
        .fetch_one(self.0)
        .await
        .map_err(db_err("project key"))?;
        let key = rows::project_key(&row)?;
        Ok(KeyAuth {
            project_id: key.project_id,
            key,
            project_rate_limit: RateLimit {
                per_minute: row.col("project_per_minute")?,
                per_hour: row.col("project_per_hour")?,
            },
        })
    }

    pub(crate) async fn create_api_token(
        &self,
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
        .param(user_id)
        .param(name)
        .param_texts(scopes)
        .param(token_sha256)
        .param(D::time(Utc::now()))
        .fetch_one(self.0)
        .await
        .map_err(db_err("api token"))?;
        rows::api_token(&row)
    }

    pub(crate) async fn api_token_by_hash(&self, token_sha256: &str) -> StoreResult<ApiToken> {
        let now = Utc::now();
        // Recording every use would write on every API request; a minute's
        // precision is plenty for "last used".
        sqlx::query(
            "UPDATE api_tokens SET last_used_at = $2 WHERE token_sha256 = $1 \
             AND (last_used_at IS NULL OR last_used_at < $3)",
        )
        .param(token_sha256)
        .param(D::time(now))
        .param(D::time(now - Duration::minutes(1)))
        .execute(self.0)
        .await
        .map_err(db)?;
        let row = sqlx::query(
            "SELECT id, user_id, name, scopes, created_at, last_used_at FROM api_tokens \
             WHERE token_sha256 = $1",
        )
        .param(token_sha256)
        .fetch_one(self.0)
        .await
        .map_err(db_err("api token"))?;
        rows::api_token(&row)
    }

    pub(crate) async fn list_api_tokens(&self, user_id: UserId) -> StoreResult<Vec<ApiToken>> {
        sqlx::query(
            "SELECT id, user_id, name, scopes, created_at, last_used_at FROM api_tokens \
             WHERE user_id = $1 ORDER BY id",
        )
        .param(user_id)
        .fetch_all(self.0)
        .await
        .map_err(db)?
        .iter()
        .map(rows::api_token)
        .collect()
    }

    pub(crate) async fn delete_api_token(
        &self,
        user_id: UserId,
        token_id: TokenId,
    ) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM api_tokens WHERE id = $1 AND user_id = $2")
            .param(token_id)
            .param(user_id)
            .execute(self.0)
            .await
            .map_err(db)?;
        found(done.rows_affected(), "api token")
    }
}

/// The `id` column of each row.
pub(crate) fn ids_of(rows: &[impl Columns]) -> StoreResult<Vec<i64>> {
    rows.iter().map(|r| r.col("id")).collect()
}
