//! `/settings/{org}/`: the organization's name and its owners.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use corral_core::model::{Organization, Role};
use serde::Deserialize;

use super::{
    Notice, NoticeQuery, OrgNav, display_name, done, organization, refusal, require, with_status,
};
use crate::access::Action;
use crate::session::SignedIn;
use crate::state::AppState;
use crate::ui::{Chrome, CsrfForm, UiError, UiRoutes, render};

pub fn routes() -> UiRoutes {
    UiRoutes::new().route("/settings/{org}/", get(page).post(rename))
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
) -> Result<Response, UiError> {
    let chrome = Chrome::new(state, signed, Some(&org.slug)).await?;
    let members = state.store.list_members(org.id).await?;
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
) -> Result<Response, UiError> {
    let org = organization(&state, &signed, &slug).await?;
    show(&state, &signed, &org, q.notice()).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RenameForm {
    name: String,
}

async fn rename(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(slug): Path<String>,
    CsrfForm(form): CsrfForm<RenameForm>,
) -> Result<Response, UiError> {
    let org = organization(&state, &signed, &slug).await?;
    require(&signed, Action::ManageOrganization, org.id)?;
    match state.store.rename_organization(org.id, &form.name).await {
        Ok(_) => done(&format!("/settings/{}/", org.slug), "renamed"),
        Err(e) => {
            let (status, notice) = refusal(e)?;
            with_status(show(&state, &signed, &org, Some(notice)).await, status)
        }
    }
}
