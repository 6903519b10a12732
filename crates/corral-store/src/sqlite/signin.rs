//! Sessions, login throttling, password resets and invitations on SQLite (times are unix ms).

use chrono::{DateTime, Utc};
use corral_core::model::*;
use corral_core::{StoreError, StoreResult};
use sqlx::SqlitePool;

use super::rows::{self, ms};
use crate::error::{db, db_err, found};
use crate::plan::login_window;
use crate::validate;

/// Longest throttling key (`email-ip:` + an IPv6 address + an email).
const MAX_KEY: usize = 320;

pub(super) async fn create_session(
    pool: &SqlitePool,
    token_sha256: &str,
    user_id: UserId,
    csrf_token: &str,
    expires_at: DateTime<Utc>,
) -> StoreResult<()> {
    validate::sha256_hex(token_sha256)?;
    validate::text("csrf_token", csrf_token, 200)?;
    sqlx::query(
        "INSERT INTO sessions (token_sha256, user_id, csrf_token, created_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .bind(token_sha256)
    .bind(user_id)
    .bind(csrf_token)
    .bind(ms(Utc::now()))
    .bind(ms(expires_at))
    .execute(pool)
    .await
    .map_err(db_err("session"))?;
    Ok(())
}

pub(super) async fn session_by_hash(
    pool: &SqlitePool,
    token_sha256: &str,
    now: DateTime<Utc>,
) -> StoreResult<(Session, User)> {
    let row = sqlx::query(
        "SELECT s.csrf_token, s.created_at AS session_created_at, \
                s.expires_at AS session_expires_at, \
                u.id, u.email, u.name, u.password_hash, u.is_superuser, u.is_active, u.created_at \
         FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.token_sha256 = ?1 AND s.expires_at > ?2",
    )
    .bind(token_sha256)
    .bind(ms(now))
    .fetch_one(pool)
    .await
    .map_err(db_err("session"))?;
    rows::session(&row)
}

pub(super) async fn extend_session(
    pool: &SqlitePool,
    token_sha256: &str,
    expires_at: DateTime<Utc>,
) -> StoreResult<()> {
    let done = sqlx::query("UPDATE sessions SET expires_at = ?2 WHERE token_sha256 = ?1")
        .bind(token_sha256)
        .bind(ms(expires_at))
        .execute(pool)
        .await
        .map_err(db)?;
    found(done.rows_affected(), "session")
}

pub(super) async fn delete_session(pool: &SqlitePool, token_sha256: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM sessions WHERE token_sha256 = ?1")
        .bind(token_sha256)
        .execute(pool)
        .await
        .map_err(db)?;
    Ok(())
}

pub(super) async fn delete_user_sessions(
    pool: &SqlitePool,
    user_id: UserId,
    except_sha256: Option<&str>,
) -> StoreResult<u64> {
    let done = sqlx::query(
        "DELETE FROM sessions WHERE user_id = ?1 \
         AND (?2 IS NULL OR token_sha256 <> ?2)",
    )
    .bind(user_id)
    .bind(except_sha256)
    .execute(pool)
    .await
    .map_err(db)?;
    Ok(done.rows_affected())
}

pub(super) async fn count_login_failure(
    pool: &SqlitePool,
    key: &str,
    now: DateTime<Utc>,
) -> StoreResult<i64> {
    // below the largest count every take succeeds
    let counted = take_login_attempt(pool, key, i64::MAX, now).await?;
    Ok(counted.unwrap_or(i64::MAX))
}

pub(super) async fn take_login_attempt(
    pool: &SqlitePool,
    key: &str,
    limit: i64,
    now: DateTime<Utc>,
) -> StoreResult<Option<i64>> {
    validate::text("key", key, MAX_KEY)?;
    validate::login_limit(limit)?;
    // One statement, so concurrent takes queue on the row and each sees the
    // count the one before left. A newer window starts over; an attempt
    // stamped with an older window (a process with a slow clock) still
    // counts in the latest one. At the limit the update does not happen and
    // no row comes back.
    sqlx::query_scalar(
        "INSERT INTO login_failures (key, window_start, count) VALUES (?1, ?2, 1) \
         ON CONFLICT (key) DO UPDATE SET \
           count = CASE WHEN excluded.window_start > login_failures.window_start THEN 1 \
                        ELSE login_failures.count + 1 END, \
           window_start = max(login_failures.window_start, excluded.window_start) \
         WHERE excluded.window_start > login_failures.window_start \
            OR login_failures.count < ?3 \
         RETURNING count",
    )
    .bind(key)
    .bind(ms(login_window(now)))
    .bind(limit)
    .fetch_optional(pool)
    .await
    .map_err(db)
}

pub(super) async fn return_login_attempt(
    pool: &SqlitePool,
    key: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE login_failures SET count = count - 1 \
         WHERE key = ?1 AND window_start = ?2 AND count > 0",
    )
    .bind(key)
    .bind(ms(login_window(now)))
    .execute(pool)
    .await
    .map_err(db)?;
    Ok(())
}

pub(super) async fn login_failures(
    pool: &SqlitePool,
    key: &str,
    now: DateTime<Utc>,
) -> StoreResult<i64> {
    let count: Option<i64> =
        sqlx::query_scalar("SELECT count FROM login_failures WHERE key = ?1 AND window_start = ?2")
            .bind(key)
            .bind(ms(login_window(now)))
            .fetch_optional(pool)
            .await
            .map_err(db)?;
    Ok(count.unwrap_or(0))
}

pub(super) async fn clear_login_failures(pool: &SqlitePool, key: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM login_failures WHERE key = ?1")
        .bind(key)
        .execute(pool)
        .await
        .map_err(db)?;
    Ok(())
}

pub(super) async fn create_password_reset(
    pool: &SqlitePool,
    token_sha256: &str,
    user_id: UserId,
    expires_at: DateTime<Utc>,
) -> StoreResult<()> {
    validate::sha256_hex(token_sha256)?;
    sqlx::query(
        "INSERT INTO password_resets (token_sha256, user_id, created_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4)",
    )
    .bind(token_sha256)
    .bind(user_id)
    .bind(ms(Utc::now()))
    .bind(ms(expires_at))
    .execute(pool)
    .await
    .map_err(db_err("password reset"))?;
    Ok(())
}

pub(super) async fn take_password_reset(
    pool: &SqlitePool,
    token_sha256: &str,
    now: DateTime<Utc>,
) -> StoreResult<UserId> {
    // One statement: of two concurrent uses, only one gets the row.
    let taken: Option<(UserId, i64)> = sqlx::query_as(
        "DELETE FROM password_resets WHERE token_sha256 = ?1 RETURNING user_id, expires_at",
    )
    .bind(token_sha256)
    .fetch_optional(pool)
    .await
    .map_err(db)?;
    match taken {
        Some((user_id, expires_at)) if expires_at > ms(now) => {
            sqlx::query("DELETE FROM password_resets WHERE user_id = ?1")
                .bind(user_id)
                .execute(pool)
                .await
                .map_err(db)?;
            Ok(user_id)
        }
        _ => Err(StoreError::NotFound("password reset")),
    }
}

pub(super) async fn create_invitation(
    pool: &SqlitePool,
    org_id: OrgId,
    email: &str,
    role: Role,
    token_sha256: &str,
    invited_by: Option<UserId>,
    expires_at: DateTime<Utc>,
) -> StoreResult<Invitation> {
    validate::email(email)?;
    validate::sha256_hex(token_sha256)?;
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
    sqlx::query("DELETE FROM invitations WHERE org_id = ?1 AND lower(email) = lower(?2)")
        .bind(org_id)
        .bind(email.trim())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    let row = sqlx::query(
        "INSERT INTO invitations \
           (org_id, email, role, token_sha256, invited_by, created_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
         RETURNING id, org_id, email, role, invited_by, created_at, expires_at",
    )
    .bind(org_id)
    .bind(email.trim())
    .bind(role.as_str())
    .bind(token_sha256)
    .bind(invited_by)
    .bind(ms(Utc::now()))
    .bind(ms(expires_at))
    .fetch_one(&mut *tx)
    .await
    .map_err(db_err("invitation"))?;
    let invitation = rows::invitation(&row)?;
    tx.commit().await.map_err(db)?;
    Ok(invitation)
}

pub(super) async fn list_invitations(
    pool: &SqlitePool,
    org_id: OrgId,
) -> StoreResult<Vec<Invitation>> {
    sqlx::query(
        "SELECT id, org_id, email, role, invited_by, created_at, expires_at FROM invitations \
         WHERE org_id = ?1 ORDER BY created_at, id",
    )
    .bind(org_id)
    .fetch_all(pool)
    .await
    .map_err(db)?
    .iter()
    .map(rows::invitation)
    .collect()
}

pub(super) async fn invitation_by_hash(
    pool: &SqlitePool,
    token_sha256: &str,
    now: DateTime<Utc>,
) -> StoreResult<Invitation> {
    let row = sqlx::query(
        "SELECT id, org_id, email, role, invited_by, created_at, expires_at FROM invitations \
         WHERE token_sha256 = ?1 AND expires_at > ?2",
    )
    .bind(token_sha256)
    .bind(ms(now))
    .fetch_one(pool)
    .await
    .map_err(db_err("invitation"))?;
    rows::invitation(&row)
}

pub(super) async fn delete_invitation(pool: &SqlitePool, id: i64) -> StoreResult<()> {
    let done = sqlx::query("DELETE FROM invitations WHERE id = ?1")
        .bind(id)
        .execute(pool)
        .await
        .map_err(db)?;
    found(done.rows_affected(), "invitation")
}
