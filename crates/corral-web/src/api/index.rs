//! `GET /api/0/`: who the token acts for and what it may do (Sentry's
//! index; `sentry-cli info` reads it).

use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::auth::ApiAuth;
use super::shapes::{self, UserShape};

#[derive(Serialize, ToSchema)]
pub struct TokenScopes {
    pub scopes: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Index {
    pub version: &'static str,
    pub user: UserShape,
    pub auth: TokenScopes,
}

/// The token's user and scopes; any valid token may ask.
#[utoipa::path(get, path = "/api/0/", tag = "organizations",
    responses((status = 200, body = Index)),
    security(("token" = [])))]
pub async fn index(auth: ApiAuth) -> Json<Index> {
    Json(Index {
        version: "0",
        user: shapes::user(auth.user()),
        auth: TokenScopes {
            scopes: auth.token.scopes.clone(),
        },
    })
}
