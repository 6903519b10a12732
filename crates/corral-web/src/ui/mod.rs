//! The server-rendered web UI: askama templates compiled into the binary,
//! one stylesheet and a little progressive-enhancement script, both served
//! from memory under content-hashed URLs.
//!
//! Every page handler takes [`SignedIn`] (which redirects visitors to the
//! login page), builds a [`Chrome`] for the shared layout, checks what it
//! shows through [`Access`](crate::access::Access), and returns
//! `Result<Response, UiError>`: a failure is propagated with `?` and shown as
//! the error page ([`UiError`]). Every form is read through [`CsrfForm`]
//! (the session's CSRF token) or, for visitors without a session,
//! [`VisitorForm`] (the Origin header). Routes are added through
//! [`UiRoutes`], which records them for the test that forges a request to
//! each.

mod assets;
mod auth;
mod charts;
mod error;
mod forms;
mod issues;
mod routes;
mod settings;
mod unsubscribe;

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Router, extract::State};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::session::SignedIn;
use crate::state::AppState;

pub use assets::{SCRIPT_URL, STYLESHEET_URL};
pub use error::{UiError, error_page, missing, render};
pub use forms::{CsrfForm, NoFields, VisitorForm, VisitorPost, check_token};
pub use routes::{Guard, UiRoute, UiRoutes};

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
    ) -> Result<Chrome, UiError> {
        let orgs = signed.access.organizations(&state.store).await?;
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

/// The first organization's issues, or the account page when the user
/// belongs to none.
async fn home(State(state): State<AppState>, signed: SignedIn) -> Result<Response, UiError> {
    let orgs = signed.access.organizations(&state.store).await?;
    Ok(match orgs.first() {
        Some(org) => Redirect::to(&format!("/organizations/{}/issues/", org.slug)).into_response(),
        None => Redirect::to("/settings/account/").into_response(),
    })
}

/// Every route of the UI, as registered.
fn all() -> UiRoutes {
    UiRoutes::new()
        .route("/", get(home))
        .merge(assets::routes())
        .merge(issues::routes())
        .merge(auth::routes())
        .merge(settings::routes())
        .merge(unsubscribe::routes())
}

/// The UI's paths and how their forms are guarded, as [`routes`] serves them.
pub fn route_table() -> Vec<UiRoute> {
    all().table().to_vec()
}

/// The UI routes, with the security headers every page carries.
pub fn routes() -> Router<AppState> {
    all()
        .into_router()
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
    use askama::Template;

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
}
