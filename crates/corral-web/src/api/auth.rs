//! Bearer tokens: `Authorization: Bearer <token>`. Only the SHA-256 of a
//! token is stored; a token acts for its user within its scopes.
//!
//! Every handler asks in the same order: the token's scope first (403; it
//! does not depend on what is asked for, so it leaks nothing), then whether
//! the user may see the thing ([`Access`], 404 when not), then whether their
//! role allows the change (403).

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use corral_core::StoreError;
use corral_core::model::{ApiToken, Issue, OrgId, Organization, Project, User};

pub use corral_core::credentials::{TOKEN_PREFIX, hash_token, new_token_secret};

use super::error::ApiError;
use crate::access::{Access, Action};
use crate::state::AppState;

/// An authenticated API caller: the token and its user's access.
pub struct ApiAuth {
    pub token: ApiToken,
    pub access: Access,
}

impl ApiAuth {
    pub fn user(&self) -> &User {
        &self.access.user
    }

    /// 403 unless the token holds `scope` (or a higher level of it).
    pub fn require(&self, scope: &'static str) -> Result<(), ApiError> {
        self.require_any(&[scope])
    }

    /// 403 unless the token holds one of `scopes` (Sentry accepts several
    /// for some endpoints, e.g. `org:read` or `project:read`).
    pub fn require_any(&self, scopes: &[&'static str]) -> Result<(), ApiError> {
        if scopes.iter().any(|s| self.token.has_scope(s)) {
            Ok(())
        } else {
            Err(ApiError::MissingScope(scopes.join(" or ")))
        }
    }

    /// 403 when the user's role in the organization is too low for `action`
    /// (404 for outsiders, though callers look the thing up first).
    pub fn allow(&self, action: Action, org_id: OrgId) -> Result<(), ApiError> {
        Ok(self.access.require(action, org_id)?)
    }

    /// An organization the user belongs to; 404 otherwise.
    pub async fn org(&self, state: &AppState, slug: &str) -> Result<Organization, ApiError> {
        Ok(self.access.organization(&state.store, slug).await?)
    }

    /// Every project the user can see, across organizations.
    pub async fn visible_projects(&self, state: &AppState) -> Result<Vec<Project>, ApiError> {
        Ok(self.access.projects(&state.store).await?)
    }

    /// One visible project; 404 for projects that exist but are not visible,
    /// so their existence does not leak.
    pub async fn project(
        &self,
        state: &AppState,
        org: &str,
        slug: &str,
    ) -> Result<Project, ApiError> {
        Ok(self.access.project(&state.store, org, slug).await?)
    }

    /// An issue of a visible project, with its project; 404 otherwise.
    pub async fn issue(&self, state: &AppState, id: &str) -> Result<(Issue, Project), ApiError> {
        let id: i64 = id.parse().map_err(|_| ApiError::NotFound("issue"))?;
        let issue = state.store.issue_by_id(id).await?;
        let project = self
            .access
            .project_by_id(&state.store, issue.project_id)
            .await
            .map_err(|d| match ApiError::from(d) {
                ApiError::NotFound(_) => ApiError::NotFound("issue"),
                e => e,
            })?;
        Ok((issue, project))
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
        let access = Access::load(&state.store, user).await?;
        Ok(ApiAuth { token, access })
    }
}
