//! The server-rendered web UI: askama templates compiled into the binary,
//! one stylesheet and a little progressive-enhancement script, both served
//! from memory under content-hashed URLs.
//!
//! Every page handler takes [`SignedIn`](crate::session::SignedIn) (which
//! redirects visitors to the login page), builds a [`Chrome`] for the shared
//! layout, and checks what it shows through [`Access`](crate::access::Access).
//! Every form carries the session's CSRF token.

mod assets;
mod auth;
mod charts;
mod issues;
mod settings;

use askama::Template;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use corral_core::StoreError;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::access::Denied;
use crate::session::SignedIn;
use crate::state::AppState;

pub use assets::{SCRIPT_URL, STYLESHEET_URL};

/// An organization in the navigation.
#[derive(Clone, Debug)]
pub struct OrgLink {
    pub slug: String,
    pub name: String,
}

/// What the shared layout shows around every signed-in page.
#[derive(Clone, Debug)]
pub struct Chrome {
    pub user_name: String,
    pub user_email: String,
    pub is_superuser: bool,
    pub orgs: Vec<OrgLink>,
    /// The organization the page belongs to.
    pub org: Option<String>,
    pub csrf_token: String,
    pub stylesheet: &'static str,
    pub script: &'static str,
}

impl Chrome {
    pub async fn new(
        state: &AppState,
        signed: &SignedIn,
        org: Option<&str>,
    ) -> Result<Chrome, Response> {
        let orgs = signed
            .access
            .organizations(&state.store)
            .await
            .map_err(store_failure)?;
        let user = &signed.access.user;
        Ok(Chrome {
            user_name: if user.name.is_empty() {
                user.email.clone()
            } else {
                user.name.clone()
            },
            user_email: user.email.clone(),
            is_superuser: user.is_superuser,
            orgs: orgs
                .into_iter()
                .map(|o| OrgLink {
                    slug: o.slug,
                    name: o.name,
                })
                .collect(),
            org: org.map(str::to_string),
            csrf_token: signed.csrf_token().to_string(),
            stylesheet: STYLESHEET_URL.as_str(),
            script: SCRIPT_URL.as_str(),
        })
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    reason: &'a str,
    message: &'a str,
    stylesheet: &'static str,
}

/// A plain page for an error status.
pub fn error_page(status: StatusCode, message: &str) -> Html<String> {
    let page = ErrorPage {
        status: status.as_u16(),
        reason: status.canonical_reason().unwrap_or("Error"),
        message,
        stylesheet: STYLESHEET_URL.as_str(),
    };
    Html(page.render().unwrap_or_else(|_| message.to_string()))
}

/// Renders a template, or a 500 page if rendering fails.
pub fn render<T: Template>(page: &T) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering a page failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                error_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the page could not be shown",
                ),
            )
                .into_response()
        }
    }
}

/// A store failure as a page: 503 when the database is unreachable.
pub fn store_failure(e: StoreError) -> Response {
    match e {
        StoreError::NotFound(what) => not_found(what),
        e if e.is_transient() => {
            tracing::error!(error = %e, "database unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the database is unavailable; try again shortly",
                ),
            )
                .into_response()
        }
        e => {
            tracing::error!(error = %e, "store failure");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                error_page(StatusCode::INTERNAL_SERVER_ERROR, "something went wrong"),
            )
                .into_response()
        }
    }
}

pub fn not_found(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        error_page(StatusCode::NOT_FOUND, &format!("{what} not found")),
    )
        .into_response()
}

/// An access refusal as a page.
pub fn denied(d: Denied) -> Response {
    match d {
        Denied::NotFound(what) => not_found(what),
        Denied::Forbidden => (
            StatusCode::FORBIDDEN,
            error_page(
                StatusCode::FORBIDDEN,
                "your role in this organization does not allow this",
            ),
        )
            .into_response(),
        Denied::Store(e) => store_failure(e),
    }
}

/// The first organization's issues, or the account page when the user
/// belongs to none.
async fn home(
    axum::extract::State(state): axum::extract::State<AppState>,
    signed: SignedIn,
) -> Response {
    match signed.access.organizations(&state.store).await {
        Ok(orgs) => match orgs.first() {
            Some(org) => {
                Redirect::to(&format!("/organizations/{}/issues/", org.slug)).into_response()
            }
            None => Redirect::to("/settings/account/").into_response(),
        },
        Err(e) => store_failure(e),
    }
}

/// The UI routes, with the security headers every page carries.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .merge(assets::routes())
        .merge(issues::routes())
        .merge(auth::routes())
        .merge(settings::routes())
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
            ),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Template)]
    #[template(
        source = "{% extends \"base.html\" %}{% block title %}T{% endblock %}{% block content %}<p>body</p>{% endblock %}",
        ext = "html"
    )]
    struct Blank {
        chrome: Chrome,
    }

    #[test]
    fn the_layout_renders_navigation_and_the_csrf_token() {
        let page = Blank {
            chrome: Chrome {
                user_name: "Ann <admin>".into(),
                user_email: "ann@example.com".into(),
                is_superuser: false,
                orgs: vec![
                    OrgLink {
                        slug: "acme".into(),
                        name: "Acme".into(),
                    },
                    OrgLink {
                        slug: "globex".into(),
                        name: "Globex".into(),
                    },
                ],
                org: Some("acme".into()),
                csrf_token: "tok123".into(),
                stylesheet: STYLESHEET_URL.as_str(),
                script: SCRIPT_URL.as_str(),
            },
        };
        let html = page.render().unwrap();
        assert!(
            html.contains(r#"<a href="/organizations/acme/issues/" aria-current="page">Acme</a>"#),
            "{html}"
        );
        assert!(
            html.contains(r#"<a href="/organizations/globex/issues/">Globex</a>"#),
            "{html}"
        );
        assert!(html.contains(r#"name="csrf_token" value="tok123""#));
        assert!(
            html.contains("Ann &#60;admin&#62;") || html.contains("Ann &lt;admin&gt;"),
            "names are escaped: {html}"
        );
        assert!(html.contains(STYLESHEET_URL.as_str()));
        assert!(html.contains("<p>body</p>"));
    }

    #[test]
    fn error_pages_escape_their_message() {
        let html = error_page(StatusCode::NOT_FOUND, "<script>x</script> not found").0;
        assert!(html.contains("404 Not Found"));
        assert!(!html.contains("<script>x"), "{html}");
    }
}
