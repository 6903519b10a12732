//! The stylesheet and script, compiled into the binary and served under a
//! URL that carries their content hash, so browsers may cache them forever.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use super::UiRoutes;

/// One stylesheet, assembled from a part per area of the UI.
const STYLESHEET: &str = concat!(
    include_str!("../../static/css/base.css"),
    include_str!("../../static/css/auth.css"),
    include_str!("../../static/css/issues.css"),
    include_str!("../../static/css/settings.css"),
);
const SCRIPT: &str = include_str!("../../static/corral.js");

fn hashed(name: &str, ext: &str, body: &str) -> String {
    let hash = hex::encode(&Sha256::digest(body.as_bytes())[..6]);
    format!("/static/{name}.{hash}.{ext}")
}

pub static STYLESHEET_URL: LazyLock<String> = LazyLock::new(|| hashed("corral", "css", STYLESHEET));
pub static SCRIPT_URL: LazyLock<String> = LazyLock::new(|| hashed("corral", "js", SCRIPT));

async fn asset(Path(file): Path<String>) -> Response {
    let path = format!("/static/{file}");
    let (body, kind) = if path == *STYLESHEET_URL {
        (STYLESHEET, "text/css; charset=utf-8")
    } else if path == *SCRIPT_URL {
        (SCRIPT, "text/javascript; charset=utf-8")
    } else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(kind)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        body,
    )
        .into_response()
}

pub fn routes() -> UiRoutes {
    UiRoutes::new().route("/static/{file}", get(asset))
}
