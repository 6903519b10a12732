//! The OpenAPI document of the API, generated from the handlers' path
//! attributes and the shapes' schemas, served without authentication.

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, Response};

use super::error::ErrorBody;
use crate::state::AppState;

/// Where the document is served.
pub const OPENAPI_PATH: &str = "/api/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Corral",
        description = "Corral's REST API: Sentry's paths and field names under `/api/0/`. \
            Send a token as `Authorization: Bearer <token>`; a token acts for its user within \
            its scopes. Lists are paged with cursors in Sentry's `Link` header."
    ),
    components(schemas(ErrorBody)),
    tags(
        (name = "organizations"),
        (name = "projects"),
        (name = "keys", description = "DSN keys of projects"),
        (name = "teams"),
        (name = "members"),
        (name = "issues"),
        (name = "events", description = "Events and tag values of issues"),
        (name = "alerts", description = "Alert channels of organizations, alert rules of \
            projects, test notifications and the delivery log"),
        (name = "users", description = "A person's own settings"),
    )
)]
pub struct ApiDoc;

/// Adds what every operation shares: the bearer token scheme its
/// `security` names, and the refusals every route may answer.
pub fn finish(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let components = doc.components.get_or_insert_with(Default::default);
    let mut bearer = Http::new(HttpAuthScheme::Bearer);
    bearer.description = Some(
        "An API token (`crl_…`). Each operation lists the scopes that allow it; any one of \
         them is enough (`x:admin` includes `x:write`, which includes `x:read`)."
            .into(),
    );
    components.add_security_scheme("token", SecurityScheme::Http(bearer));
    let refusals = [
        ("400", "The request is malformed or breaks a rule"),
        ("401", "No token, or an unknown one"),
        (
            "403",
            "The token lacks the scope, or the user's role does not allow this",
        ),
        ("404", "Not found, or not visible to the user"),
    ];
    for item in doc.paths.paths.values_mut() {
        let ops = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in ops.into_iter().flatten() {
            // OpenAPI requires a description on every response
            for (status, response) in op.responses.responses.iter_mut() {
                if let RefOr::T(response) = response
                    && response.description.is_empty()
                {
                    response.description = status
                        .parse::<u16>()
                        .ok()
                        .and_then(|s| axum::http::StatusCode::from_u16(s).ok())
                        .and_then(|s| s.canonical_reason())
                        .unwrap_or("Answer")
                        .to_string();
                }
            }
            for (status, description) in refusals {
                op.responses
                    .responses
                    .entry(status.to_string())
                    .or_insert_with(|| {
                        let content = Content::new(Some(Ref::from_schema_name("ErrorBody")));
                        let mut response = Response::new(description);
                        response
                            .content
                            .insert("application/json".to_string(), RefOr::T(content));
                        RefOr::T(response)
                    });
            }
        }
    }
    super::alerts::webhook::document(&mut doc);
    doc
}

/// `GET /api/openapi.json`: the document, rendered once.
pub fn serve(doc: &utoipa::openapi::OpenApi) -> Router<AppState> {
    let json: Arc<str> = match doc.to_json() {
        Ok(text) => text.into(),
        Err(e) => {
            tracing::error!(error = %e, "rendering the OpenAPI document failed");
            "{}".into()
        }
    };
    Router::new().route(
        OPENAPI_PATH,
        get(move || {
            let json = json.clone();
            async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    )],
                    json.to_string(),
                )
                    .into_response()
            }
        }),
    )
}
