//! Bearer tokens: `Authorization: Bearer <token>`. Only the SHA-256 of a
//! token is stored; a token acts for its user within its scopes.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use corral_core::StoreError;
use corral_core::model::{ApiToken, Project, User};
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use crate::state::AppState;

/// The prefix of Corral's user tokens (like Sentry's `sntryu_`).
pub const TOKEN_PREFIX: &str = "crl_";

/// A fresh token secret: the prefix and 64 hex digits of CSPRNG output.
pub fn new_token_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

/// What the store keeps of a token.
pub fn hash_token(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.trim().as_bytes()))
}

/// An authenticated API caller.
pub struct ApiAuth {
    pub token: ApiToken,
    pub user: User,
}

impl ApiAuth {
    pub fn require(&self, scope: &'static str) -> Result<(), ApiError> {
        if self.token.has_scope(scope) {
            Ok(())
        } else {
            Err(ApiError::MissingScope(scope))
        }
    }

    /// Projects of the organizations the user belongs to (all for a superuser).
    pub async fn visible_projects(&self, state: &AppState) -> Result<Vec<Project>, ApiError> {
        Ok(state.store.projects_for_user(self.user.id).await?)
    }

    /// One visible project; 404 for projects that exist but are not visible,
    /// so their existence does not leak.
    pub async fn project(
        &self,
        state: &AppState,
        org: &str,
        slug: &str,
    ) -> Result<Project, ApiError> {
        self.visible_projects(state)
            .await?
            .into_iter()
            .find(|p| p.org_slug == org && p.slug == slug)
            .ok_or(ApiError::NotFound("project"))
    }
}

impl FromRequestParts<AppState> for ApiAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(ApiError::Unauthorized)?;
        let (scheme, secret) = value.split_once(' ').ok_or(ApiError::Unauthorized)?;
        if !scheme.eq_ignore_ascii_case("bearer") || secret.trim().is_empty() {
            return Err(ApiError::Unauthorized);
        }
        let token = match state.store.api_token_by_hash(&hash_token(secret)).await {
            Ok(t) => t,
            Err(StoreError::NotFound(_)) => return Err(ApiError::Unauthorized),
            Err(e) => return Err(e.into()),
        };
        let user = match state.store.user_by_id(token.user_id).await {
            Ok(u) if u.is_active => u,
            Ok(_) | Err(StoreError::NotFound(_)) => return Err(ApiError::Unauthorized),
            Err(e) => return Err(e.into()),
        };
        Ok(ApiAuth { token, user })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = new_token_secret();
        let b = new_token_secret();
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 64);
        assert_eq!(hash_token(&a), hash_token(&format!(" {a} ")));
        assert_ne!(hash_token(&a), hash_token(&b));
        assert_eq!(hash_token(&a).len(), 64);
    }
}
