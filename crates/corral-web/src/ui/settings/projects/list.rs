//! The organization's projects with their teams, and the form that adds
//! one (with a first key, ready for an SDK).

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use corral_core::model::{Organization, RateLimit};
use corral_core::{NewProject, StoreError};
use serde::Deserialize;

use super::super::{
    Notice, NoticeQuery, OrgNav, chosen_slug, day, done, organization, refusal, require,
    with_status,
};
use super::{PLATFORMS, check_platform, project_path};
use crate::access::Action;
use crate::session::SignedIn;
use crate::state::AppState;
use crate::ui::auth::check_name;
use crate::ui::{Chrome, CsrfForm, UiError, render};

struct ProjectRow {
    slug: String,
    name: String,
    platform: String,
    teams: String,
    created: String,
}

#[derive(Template)]
#[template(path = "settings/projects.html")]
struct ProjectsPage {
    chrome: Chrome,
    nav: OrgNav,
    notice: Option<Notice>,
    projects: Vec<ProjectRow>,
    /// (slug, name) of the organization's teams, for the new project.
    teams: Vec<(String, String)>,
    platforms: &'static [&'static str],
}

async fn show(
    state: &AppState,
    signed: &SignedIn,
    org: &Organization,
    notice: Option<Notice>,
) -> Result<Response, UiError> {
    let chrome = Chrome::new(state, signed, Some(&org.slug)).await?;
    let projects = signed.access.projects_of(&state.store, org.id).await?;
    let teams = state.store.list_teams(org.id).await?;
    let links = state.store.project_team_map(org.id).await?;
    let team_names: HashMap<_, _> = teams.iter().map(|t| (t.id, t.name.clone())).collect();
    let mut teams_of: HashMap<_, Vec<String>> = HashMap::new();
    for (p, t) in &links {
        if let Some(name) = team_names.get(t) {
            teams_of.entry(*p).or_default().push(name.clone());
        }
    }
    render(&ProjectsPage {
        chrome,
        nav: OrgNav::new(signed, org, "projects"),
        notice,
        projects: projects
            .into_iter()
            .map(|p| ProjectRow {
                teams: teams_of.remove(&p.id).unwrap_or_default().join(", "),
                platform: p.platform.unwrap_or_default(),
                created: day(&p.created_at),
                slug: p.slug,
                name: p.name,
            })
            .collect(),
        teams: teams.into_iter().map(|t| (t.slug, t.name)).collect(),
        platforms: PLATFORMS,
    })
}

pub(super) async fn page(
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
pub(super) struct CreateForm {
    name: String,
    slug: String,
    platform: String,
    team: String,
}

pub(super) async fn create(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(slug): Path<String>,
    CsrfForm(form): CsrfForm<CreateForm>,
) -> Result<Response, UiError> {
    let org = organization(&state, &signed, &slug).await?;
    require(&signed, Action::ManageProjects, org.id)?;
    let refuse = async |status: StatusCode, problem: String| {
        with_status(
            show(&state, &signed, &org, Some(Notice::error(problem))).await,
            status,
        )
    };
    let invalid = StatusCode::UNPROCESSABLE_ENTITY;
    let name = match check_name(&form.name) {
        Ok(n) => n.to_string(),
        Err(_) => {
            return refuse(
                invalid,
                "Give the project a name (at most 200 characters).".into(),
            )
            .await;
        }
    };
    let platform = match check_platform(&form.platform) {
        Ok(p) => p,
        Err(problem) => return refuse(invalid, problem).await,
    };
    let team = match form.team.trim() {
        "" => None,
        team => match state.store.team_by_slug(org.id, team).await {
            Ok(t) => Some(t),
            Err(StoreError::NotFound(_)) => {
                return refuse(invalid, format!("There is no team {team:?}.")).await;
            }
            Err(e) => return Err(e.into()),
        },
    };
    let project_slug = chosen_slug(&form.slug, &name);
    let project = match state
        .store
        .create_project(NewProject {
            org_id: org.id,
            slug: project_slug.clone(),
            name,
            platform,
        })
        .await
    {
        Ok(p) => p,
        Err(StoreError::Conflict(_)) => {
            return refuse(
                StatusCode::CONFLICT,
                format!("A project with the slug {project_slug:?} already exists."),
            )
            .await;
        }
        Err(e) => {
            let (status, notice) = refusal(e)?;
            return with_status(show(&state, &signed, &org, Some(notice)).await, status);
        }
    };
    // like Sentry: a new project comes with a key, ready for an SDK
    if let Some(team) = &team {
        state.store.add_project_team(project.id, team.id).await?;
    }
    state
        .store
        .create_project_key(project.id, "Default", RateLimit::default())
        .await?;
    done(&project_path(&project), "project_created")
}
