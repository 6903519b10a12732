//! `/settings/{org}/teams/`: teams, their members and their projects.
//! Every member reads them; admins and owners change them.

use std::collections::{HashMap, HashSet};

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use corral_core::StoreError;
use corral_core::model::{Organization, Team, UserId};
use serde::Deserialize;

use super::{
    Notice, NoticeQuery, OrgNav, chosen_slug, display_name, done, organization, refusal, require,
    with_status,
};
use crate::access::Action;
use crate::session::SignedIn;
use crate::state::AppState;
use crate::ui::auth::check_name;
use crate::ui::{Chrome, CsrfForm, UiError, UiRoutes, missing, render};

pub fn routes() -> UiRoutes {
    UiRoutes::new()
        .route("/settings/{org}/teams/", get(list).post(create))
        .route("/settings/{org}/teams/{team}/", get(page))
        .route("/settings/{org}/teams/{team}/delete", post(delete))
        .route("/settings/{org}/teams/{team}/members", post(add_member))
        .route(
            "/settings/{org}/teams/{team}/members/{user_id}/remove",
            post(remove_member),
        )
        .route("/settings/{org}/teams/{team}/projects", post(add_project))
        .route(
            "/settings/{org}/teams/{team}/projects/{project}/remove",
            post(remove_project),
        )
}

fn list_path(org: &Organization) -> String {
    format!("/settings/{}/teams/", org.slug)
}

fn team_path(org: &Organization, team: &Team) -> String {
    format!("/settings/{}/teams/{}/", org.slug, team.slug)
}

// --- the list -------------------------------------------------------------------

struct TeamRow {
    slug: String,
    name: String,
    members: usize,
    projects: usize,
}

#[derive(Template)]
#[template(path = "settings/teams.html")]
struct TeamsPage {
    chrome: Chrome,
    nav: OrgNav,
    notice: Option<Notice>,
    teams: Vec<TeamRow>,
}

async fn show_list(
    state: &AppState,
    signed: &SignedIn,
    org: &Organization,
    notice: Option<Notice>,
) -> Result<Response, UiError> {
    let chrome = Chrome::new(state, signed, Some(&org.slug)).await?;
    let teams = state.store.list_teams(org.id).await?;
    let members = state.store.list_members(org.id).await?;
    let links = state.store.project_team_map(org.id).await?;
    let mut member_counts: HashMap<_, usize> = HashMap::new();
    for m in &members {
        for t in &m.teams {
            *member_counts.entry(*t).or_default() += 1;
        }
    }
    let mut project_counts: HashMap<_, usize> = HashMap::new();
    for (_, t) in &links {
        *project_counts.entry(*t).or_default() += 1;
    }
    render(&TeamsPage {
        chrome,
        nav: OrgNav::new(signed, org, "teams"),
        notice,
        teams: teams
            .into_iter()
            .map(|t| TeamRow {
                members: member_counts.get(&t.id).copied().unwrap_or(0),
                projects: project_counts.get(&t.id).copied().unwrap_or(0),
                slug: t.slug,
                name: t.name,
            })
            .collect(),
    })
}

async fn list(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(slug): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, UiError> {
    let org = organization(&state, &signed, &slug).await?;
    show_list(&state, &signed, &org, q.notice()).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CreateForm {
    name: String,
    slug: String,
}

async fn create(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(slug): Path<String>,
    CsrfForm(form): CsrfForm<CreateForm>,
) -> Result<Response, UiError> {
    let org = organization(&state, &signed, &slug).await?;
    require(&signed, Action::ManageProjects, org.id)?;
    let refuse = async |status: StatusCode, notice: Notice| {
        with_status(show_list(&state, &signed, &org, Some(notice)).await, status)
    };
    let name = match check_name(&form.name) {
        Ok(n) => n.to_string(),
        Err(_) => {
            return refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                Notice::error("Give the team a name (at most 200 characters)."),
            )
            .await;
        }
    };
    let team_slug = chosen_slug(&form.slug, &name);
    match state.store.create_team(org.id, &team_slug, &name).await {
        Ok(team) => done(&team_path(&org, &team), "team_created"),
        Err(StoreError::Conflict(_)) => {
            refuse(
                StatusCode::CONFLICT,
                Notice::error(format!(
                    "A team with the slug {team_slug:?} already exists."
                )),
            )
            .await
        }
        Err(e) => {
            let (status, notice) = refusal(e)?;
            refuse(status, notice).await
        }
    }
}

// --- one team -------------------------------------------------------------------

struct PersonRow {
    user_id: UserId,
    name: String,
    email: String,
}

struct ProjectRow {
    slug: String,
    name: String,
}

#[derive(Template)]
#[template(path = "settings/team.html")]
struct TeamPage {
    chrome: Chrome,
    nav: OrgNav,
    notice: Option<Notice>,
    team_slug: String,
    team_name: String,
    members: Vec<PersonRow>,
    /// Members of the organization not in the team (admins add them).
    member_choices: Vec<PersonRow>,
    projects: Vec<ProjectRow>,
    project_choices: Vec<ProjectRow>,
    /// Projects of the team the user may not see.
    hidden_projects: usize,
}

async fn team_of(state: &AppState, org: &Organization, slug: &str) -> Result<Team, UiError> {
    state
        .store
        .team_by_slug(org.id, slug)
        .await
        .map_err(missing("team"))
}

async fn show_team(
    state: &AppState,
    signed: &SignedIn,
    org: &Organization,
    team: &Team,
    notice: Option<Notice>,
) -> Result<Response, UiError> {
    let chrome = Chrome::new(state, signed, Some(&org.slug)).await?;
    let team_members = state.store.team_members(team.id).await?;
    let org_members = state.store.list_members(org.id).await?;
    let projects = state.store.list_projects(Some(org.id)).await?;
    let links = state.store.project_team_map(org.id).await?;
    let in_team: HashSet<UserId> = team_members.iter().map(|u| u.id).collect();
    let of_team: HashSet<_> = links
        .iter()
        .filter(|(_, t)| *t == team.id)
        .map(|(p, _)| *p)
        .collect();
    let (mine, others): (Vec<_>, Vec<_>) =
        projects.into_iter().partition(|p| of_team.contains(&p.id));
    let hidden_projects = mine
        .iter()
        .filter(|p| !signed.access.can_see_project(p))
        .count();
    let row = |p: &corral_core::model::Project| ProjectRow {
        slug: p.slug.clone(),
        name: p.name.clone(),
    };
    render(&TeamPage {
        chrome,
        nav: OrgNav::new(signed, org, "teams"),
        notice,
        team_slug: team.slug.clone(),
        team_name: team.name.clone(),
        members: team_members
            .iter()
            .map(|u| PersonRow {
                user_id: u.id,
                name: display_name(u),
                email: u.email.clone(),
            })
            .collect(),
        member_choices: org_members
            .iter()
            .filter(|m| !in_team.contains(&m.user.id))
            .map(|m| PersonRow {
                user_id: m.user.id,
                name: display_name(&m.user),
                email: m.user.email.clone(),
            })
            .collect(),
        projects: mine
            .iter()
            .filter(|p| signed.access.can_see_project(p))
            .map(row)
            .collect(),
        project_choices: others.iter().map(row).collect(),
        hidden_projects,
    })
}

async fn page(
    State(state): State<AppState>,
    signed: SignedIn,
    Path((slug, team)): Path<(String, String)>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, UiError> {
    let org = organization(&state, &signed, &slug).await?;
    let team = team_of(&state, &org, &team).await?;
    show_team(&state, &signed, &org, &team, q.notice()).await
}

/// The organization and team of a change, once the user's role (admin) is
/// checked.
async fn for_change(
    state: &AppState,
    signed: &SignedIn,
    org: &str,
    team: &str,
) -> Result<(Organization, Team), UiError> {
    let org = organization(state, signed, org).await?;
    require(signed, Action::ManageProjects, org.id)?;
    let team = team_of(state, &org, team).await?;
    Ok((org, team))
}

async fn delete(
    State(state): State<AppState>,
    signed: SignedIn,
    Path((org, team)): Path<(String, String)>,
    _: CsrfForm,
) -> Result<Response, UiError> {
    let (org, team) = for_change(&state, &signed, &org, &team).await?;
    match state.store.delete_team(team.id).await {
        Ok(()) | Err(StoreError::NotFound(_)) => done(&list_path(&org), "team_deleted"),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MemberForm {
    user_id: String,
}

async fn add_member(
    State(state): State<AppState>,
    signed: SignedIn,
    Path((org, team)): Path<(String, String)>,
    CsrfForm(form): CsrfForm<MemberForm>,
) -> Result<Response, UiError> {
    let (org, team) = for_change(&state, &signed, &org, &team).await?;
    let members = state.store.list_members(org.id).await?;
    // only members of the organization join its teams
    let Some(user_id) = form
        .user_id
        .trim()
        .parse::<UserId>()
        .ok()
        .filter(|id| members.iter().any(|m| m.user.id == *id))
    else {
        let notice = Notice::error("Choose a member of the organization.");
        let page = show_team(&state, &signed, &org, &team, Some(notice)).await;
        return with_status(page, StatusCode::UNPROCESSABLE_ENTITY);
    };
    state.store.add_team_member(team.id, user_id).await?;
    done(&team_path(&org, &team), "member_added")
}

async fn remove_member(
    State(state): State<AppState>,
    signed: SignedIn,
    Path((org, team, user_id)): Path<(String, String, UserId)>,
    _: CsrfForm,
) -> Result<Response, UiError> {
    let (org, team) = for_change(&state, &signed, &org, &team).await?;
    state
        .store
        .remove_team_member(team.id, user_id)
        .await
        .map_err(missing("team member"))?;
    done(&team_path(&org, &team), "team_member_removed")
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ProjectForm {
    project: String,
}

async fn add_project(
    State(state): State<AppState>,
    signed: SignedIn,
    Path((org, team)): Path<(String, String)>,
    CsrfForm(form): CsrfForm<ProjectForm>,
) -> Result<Response, UiError> {
    let (org, team) = for_change(&state, &signed, &org, &team).await?;
    let project = match state
        .store
        .project_by_slug(&org.slug, form.project.trim())
        .await
    {
        Ok(p) => p,
        Err(StoreError::NotFound(_)) => {
            let notice = Notice::error("Choose a project of the organization.");
            let page = show_team(&state, &signed, &org, &team, Some(notice)).await;
            return with_status(page, StatusCode::UNPROCESSABLE_ENTITY);
        }
        Err(e) => return Err(e.into()),
    };
    state.store.add_project_team(project.id, team.id).await?;
    done(&team_path(&org, &team), "project_added")
}

async fn remove_project(
    State(state): State<AppState>,
    signed: SignedIn,
    Path((org, team, project)): Path<(String, String, String)>,
    _: CsrfForm,
) -> Result<Response, UiError> {
    let (org, team) = for_change(&state, &signed, &org, &team).await?;
    let project = state
        .store
        .project_by_slug(&org.slug, &project)
        .await
        .map_err(missing("project"))?;
    state
        .store
        .remove_project_team(project.id, team.id)
        .await
        .map_err(missing("project of the team"))?;
    done(&team_path(&org, &team), "project_removed")
}
