//! `/settings/{org}/`: the organization's name and its owners.

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use axum_extra::extract::Form;
use corral_core::model::{Organization, Role};
use serde::Deserialize;

use super::{
    Notice, NoticeQuery, OrgNav, display_name, done, organization, refusal, require, with_status,
};
use crate::access::Action;
use crate::session::SignedIn;
use crate::state::AppState;
use crate::ui::{Chrome, render, store_failure};

pub fn routes() -> Router<AppState> {
    Router::new().route("/settings/{org}/", get(page).post(rename))
}

#[derive(Template)]
#[template(path = "settings/organization.html")]
struct OrganizationPage {
    chrome: Chrome,
    nav: OrgNav,
    notice: Option<Notice>,
    slug: String,
    name: String,
    created: String,
    /// (name, email)
    owners: Vec<(String, String)>,
}

async fn show(
    state: &AppState,
    signed: &SignedIn,
    org: &Organization,
    notice: Option<Notice>,
) -> Response {
    let chrome = match Chrome::new(state, signed, Some(&org.slug)).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let members = match state.store.list_members(org.id).await {
        Ok(m) => m,
        Err(e) => return store_failure(e),
    };
    render(&OrganizationPage {
        chrome,
        nav: OrgNav::new(signed, org, "organization"),
        notice,
        slug: org.slug.clone(),
        name: org.name.clone(),
        created: super::day(&org.created_at),
        owners: members
            .iter()
            .filter(|m| m.role == Role::Owner)
            .map(|m| (display_name(&m.user), m.user.email.clone()))
            .collect(),
    })
}

async fn page(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(slug): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Response {
    match organization(&state, &signed, &slug).await {
        Ok(org) => show(&state, &signed, &org, q.notice()).await,
        Err(r) => r,
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RenameForm {
    csrf_token: String,
    name: String,
}

async fn rename(
    State(state): State<AppState>,
    signed: SignedIn,
    headers: HeaderMap,
    Path(slug): Path<String>,
    Form(form): Form<RenameForm>,
) -> Response {
    if let Err(refused) = signed.verify_csrf(&state, &headers, &form.csrf_token) {
        return refused;
    }
    let org = match organization(&state, &signed, &slug).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    if let Err(r) = require(&signed, Action::ManageOrganization, org.id) {
        return r;
    }
    match state.store.rename_organization(org.id, &form.name).await {
        Ok(_) => done(&format!("/settings/{}/", org.slug), "renamed"),
        Err(e) => match refusal(e) {
            Ok((status, notice)) => {
                with_status(show(&state, &signed, &org, Some(notice)).await, status)
            }
            Err(r) => r,
        },
    }
}
