//! Checks on input both backends apply before writing, so bad input gets the
//! same typed error everywhere.

use corral_core::model::RateLimit;
use corral_core::{StoreError, StoreResult};

/// Sentry's slug rule: lowercase letters, digits, `-` and `_`, at most 50.
pub(crate) fn slug(field: &'static str, slug: &str) -> StoreResult<()> {
    let ok = !slug.is_empty()
        && slug.len() <= 50
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            field,
            reason: format!("{slug:?} must be 1 to 50 lowercase letters, digits, '-' or '_'"),
        })
    }
}

/// Organization slugs the web UI's own paths use (`/settings/account/` beside
/// `/settings/{org}/`).
const RESERVED_ORG_SLUGS: &[&str] = &["account"];

/// [`slug`], and not one of the paths the UI keeps for itself.
pub(crate) fn org_slug(slug: &str) -> StoreResult<()> {
    self::slug("slug", slug)?;
    if RESERVED_ORG_SLUGS.contains(&slug) {
        return Err(StoreError::Invalid {
            field: "slug",
            reason: format!("{slug:?} is reserved"),
        });
    }
    Ok(())
}

pub(crate) fn email(email: &str) -> StoreResult<()> {
    let email = email.trim();
    match email.split_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() && email.len() <= 254 => {
            Ok(())
        }
        _ => Err(StoreError::Invalid {
            field: "email",
            reason: format!("{email:?} is not an email address"),
        }),
    }
}

pub(crate) fn retention(days: Option<i32>) -> StoreResult<()> {
    match days {
        Some(d) if d < 1 => Err(StoreError::Invalid {
            field: "retention_days",
            reason: format!("must be at least 1, got {d}"),
        }),
        _ => Ok(()),
    }
}

pub(crate) fn rate_limit(limit: &RateLimit) -> StoreResult<()> {
    for (field, value) in [
        ("rate_limit.per_minute", limit.per_minute),
        ("rate_limit.per_hour", limit.per_hour),
    ] {
        if let Some(v) = value
            && v < 0
        {
            return Err(StoreError::Invalid {
                field,
                reason: format!("must not be negative, got {v}"),
            });
        }
    }
    Ok(())
}

pub(crate) fn sha256_hex(hash: &str) -> StoreResult<()> {
    if hash.len() == 64
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(StoreError::Invalid {
            field: "token_sha256",
            reason: "must be 64 lowercase hex digits".into(),
        })
    }
}

/// A name or text a person typed: not blank, at most `max` characters
/// (callers store it trimmed).
pub(crate) fn text(field: &'static str, value: &str, max: usize) -> StoreResult<()> {
    let value = value.trim();
    if value.is_empty() {
        return Err(StoreError::Invalid {
            field,
            reason: "must not be empty".into(),
        });
    }
    at_most(field, value, max)
}

/// A throttle's limit: a window allows at least one attempt.
pub(crate) fn login_limit(limit: i64) -> StoreResult<()> {
    if limit < 1 {
        return Err(StoreError::Invalid {
            field: "limit",
            reason: format!("must be at least 1, got {limit}"),
        });
    }
    Ok(())
}

/// At most `max` characters (may be empty).
pub(crate) fn at_most(field: &'static str, value: &str, max: usize) -> StoreResult<()> {
    let n = value.chars().count();
    if n > max {
        return Err(StoreError::Invalid {
            field,
            reason: format!("must be at most {max} characters, got {n}"),
        });
    }
    Ok(())
}
