//! Sessions, login throttling, password resets and invitations.

use chrono::{DateTime, Duration, DurationRound, TimeDelta, Utc};
use corral_core::model::*;
use corral_core::{StoreError, StoreResult};
use sqlx::Executor;

use crate::dialect::{Bind, Columns, Dialect, RowsAffected, Sql};
use crate::error::{db, db_err, found};
use crate::{rows, validate};

/// Longest throttling key (`email-ip:` + an IPv6 address + an email).
const MAX_KEY: usize = 320;

/// Failed sign-ins are counted in fixed windows of this length.
const LOGIN_WINDOW: TimeDelta = Duration::minutes(15);

/// The start of the login-failure window `t` falls in.
pub(crate) fn login_window(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(LOGIN_WINDOW).unwrap_or(t)
}

impl<D: Dialect> Sql<'_, D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
{
    pub(crate) async fn create_session(
        &self,
        token_sha256: &str,
        user_id: UserId,
        csrf_token: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        validate::sha256_hex(token_sha256)?;
        validate::text("csrf_token", csrf_token, 200)?;
        sqlx::query(
            "INSERT INTO sessions (token_sha256, user_id, csrf_token, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .param(token_sha256)
        .param(user_id)
        .param(csrf_token)
        .param(D::time(Utc::now()))
        .param(D::time(expires_at))
        .execute(self.0)
        .await
        .map_err(db_err("session"))?;
        Ok(())
    }

    pub(crate) async fn session_by_hash(
        &self,
        token_sha256: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<(Session, User)> {
        let row = sqlx::query(
            "SELECT s.csrf_token, s.created_at AS session_created_at, \
                    s.expires_at AS session_expires_at, \
                    u.id, u.email, u.name, u.password_hash, u.is_superuser, u.is_active, \
                    u.created_at \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_sha256 = $1 AND s.expires_at > $2",
        )
        .param(token_sha256)
        .param(D::time(now))
        .fetch_one(self.0)
        .await
        .map_err(db_err("session"))?;
        rows::session(&row)
    }

    pub(crate) async fn extend_session(
        &self,
        token_sha256: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let done = sqlx::query("UPDATE sessions SET expires_at = $2 WHERE token_sha256 = $1")
            .param(token_sha256)
            .param(D::time(expires_at))
            .execute(self.0)
            .await
            .map_err(db)?;
        found(done.rows_affected(), "session")
    }

    pub(crate) async fn delete_session(&self, token_sha256: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE token_sha256 = $1")
            .param(token_sha256)
            .execute(self.0)
            .await
            .map_err(db)?;
        Ok(())
    }

    pub(crate) async fn delete_user_sessions(
        &self,
        user_id: UserId,
        except_sha256: Option<&str>,
    ) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM sessions WHERE user_id = $1 AND ($2 IS NULL OR token_sha256 <> $2)",
        )
        .param(user_id)
        .param(except_sha256)
        .execute(self.0)
        .await
        .map_err(db)?;
        Ok(done.rows_affected())
    }

    pub(crate) async fn count_login_failure(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<i64> {
        // below the largest count every take succeeds
        let counted = self.take_login_attempt(key, i64::MAX, now).await?;
        Ok(counted.unwrap_or(i64::MAX))
    }

    pub(crate) async fn take_login_attempt(
        &self,
        key: &str,
        limit: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<i64>> {
        validate::text("key", key, MAX_KEY)?;
        validate::login_limit(limit)?;
        // One statement, so concurrent takes queue on the row and each sees
        // the count the one before left. A newer window starts over; an
        // attempt stamped with an older window (a process with a slow clock)
        // still counts in the latest one. At the limit the update does not
        // happen and no row comes back.
        sqlx::query(
            "INSERT INTO login_failures (key, window_start, count) VALUES ($1, $2, 1) \
             ON CONFLICT (key) DO UPDATE SET \
               count = CASE WHEN excluded.window_start > login_failures.window_start THEN 1 \
                            ELSE login_failures.count + 1 END, \
               window_start = CASE \
                 WHEN excluded.window_start > login_failures.window_start \
                 THEN excluded.window_start ELSE login_failures.window_start END \
             WHERE excluded.window_start > login_failures.window_start \
                OR login_failures.count < $3 \
             RETURNING count",
        )
        .param(key)
        .param(D::time(login_window(now)))
        .param(limit)
        .fetch_optional(self.0)
        .await
        .map_err(db)?
        .map(|r| r.col("count"))
        .transpose()
    }

    pub(crate) async fn return_login_attempt(
        &self,
        key: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE login_failures SET count = count - 1 \
             WHERE key = $1 AND window_start = $2 AND count > 0",
        )
        .param(key)
        .param(D::time(login_window(now)))
        .execute(self.0)
        .await
        .map_err(db)?;
        Ok(())
    }

    pub(crate) async fn login_failures(&self, key: &str, now: DateTime<Utc>) -> StoreResult<i64> {
        let count: Option<i64> =
            sqlx::query("SELECT count FROM login_failures WHERE key = $1 AND window_start = $2")
                .param(key)
                .param(D::time(login_window(now)))
                .fetch_optional(self.0)
                .await
                .map_err(db)?
                .map(|r| r.col("count"))
                .transpose()?;
        Ok(count.unwrap_or(0))
    }

    pub(crate) async fn clear_login_failures(&self, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM login_failures WHERE key = $1")
            .param(key)
            .execute(self.0)
            .await
            .map_err(db)?;
        Ok(())
    }

    pub(crate) async fn create_password_reset(
        &self,
        token_sha256: &str,
        user_id: UserId,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        validate::sha256_hex(token_sha256)?;
        sqlx::query(
            "INSERT INTO password_resets (token_sha256, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .param(token_sha256)
        .param(user_id)
        .param(D::time(Utc::now()))
        .param(D::time(expires_at))
        .execute(self.0)
        .await
        .map_err(db_err("password reset"))?;
        Ok(())
    }

    pub(crate) async fn take_password_reset(
        &self,
        token_sha256: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<UserId> {
        // One statement: of two concurrent uses, only one gets the row.
        let taken = sqlx::query(
            "DELETE FROM password_resets WHERE token_sha256 = $1 RETURNING user_id, expires_at",
        )
        .param(token_sha256)
        .fetch_optional(self.0)
        .await
        .map_err(db)?;
        let Some(taken) = taken else {
            return Err(StoreError::NotFound("password reset"));
        };
        let user_id: UserId = taken.col("user_id")?;
        if taken.time("expires_at")? <= to_ms(now) {
            return Err(StoreError::NotFound("password reset"));
        }
        sqlx::query("DELETE FROM password_resets WHERE user_id = $1")
            .param(user_id)
            .execute(self.0)
            .await
            .map_err(db)?;
        Ok(user_id)
    }

    pub(crate) async fn create_invitation(
        &self,
        org_id: OrgId,
        email: &str,
        role: Role,
        token_sha256: &str,
        invited_by: Option<UserId>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<Invitation> {
        validate::email(email)?;
        validate::sha256_hex(token_sha256)?;
        let mut tx = self.begin().await?;
        sqlx::query("DELETE FROM invitations WHERE org_id = $1 AND lower(email) = lower($2)")
            .param(org_id)
            .param(email.trim())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let row = sqlx::query(
            "INSERT INTO invitations \
               (org_id, email, role, token_sha256, invited_by, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             RETURNING id, org_id, email, role, invited_by, created_at, expires_at",
        )
        .param(org_id)
        .param(email.trim())
        .param(role.as_str())
        .param(token_sha256)
        .param(invited_by)
        .param(D::time(Utc::now()))
        .param(D::time(expires_at))
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err("invitation"))?;
        let invitation = rows::invitation(&row)?;
        tx.commit().await.map_err(db)?;
        Ok(invitation)
    }

    pub(crate) async fn list_invitations(&self, org_id: OrgId) -> StoreResult<Vec<Invitation>> {
        sqlx::query(
            "SELECT id, org_id, email, role, invited_by, created_at, expires_at FROM invitations \
             WHERE org_id = $1 ORDER BY created_at, id",
        )
        .param(org_id)
        .fetch_all(self.0)
        .await
        .map_err(db)?
        .iter()
        .map(rows::invitation)
        .collect()
    }

    pub(crate) async fn invitation_by_hash(
        &self,
        token_sha256: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Invitation> {
        let row = sqlx::query(
            "SELECT id, org_id, email, role, invited_by, created_at, expires_at FROM invitations \
             WHERE token_sha256 = $1 AND expires_at > $2",
        )
        .param(token_sha256)
        .param(D::time(now))
        .fetch_one(self.0)
        .await
        .map_err(db_err("invitation"))?;
        rows::invitation(&row)
    }

    pub(crate) async fn delete_invitation(&self, id: i64) -> StoreResult<()> {
        let done = sqlx::query("DELETE FROM invitations WHERE id = $1")
            .param(id)
            .execute(self.0)
            .await
            .map_err(db)?;
        found(done.rows_affected(), "invitation")
    }
}
