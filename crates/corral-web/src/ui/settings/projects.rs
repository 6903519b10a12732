//! `/settings/{org}/projects/`: projects with their platform, retention,
//! teams and DSN keys (copyable DSNs, SDK set-up snippets). Members read
//! the projects they can see; admins and owners change them.

use std::collections::HashMap;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum_extra::extract::Form;
use corral_core::model::{KeyId, Organization, Project, ProjectKey, RateLimit};
use corral_core::{NewProject, StoreError};
use serde::Deserialize;

use super::{
    CsrfForm, Notice, NoticeQuery, OrgNav, chosen_slug, day, done, organization, refusal, require,
    with_status,
};
use crate::access::Action;
use crate::mail::page_base_url;
use crate::session::SignedIn;
use crate::state::AppState;
use crate::ui::auth::check_name;
use crate::ui::{Chrome, denied, not_found, render, store_failure};

/// Offered in the platform field (any short lowercase name is accepted).
const PLATFORMS: &[&str] = &[
    "python",
    "javascript",
    "node",
    "rust",
    "go",
    "java",
    "ruby",
    "php",
    "csharp",
    "elixir",
    "cocoa",
    "native",
    "other",
];
/// The longest retention one may set, in days (ten years).
const MAX_RETENTION_DAYS: i32 = 3650;
const MAX_RATE: i64 = 1_000_000_000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/settings/{org}/projects/", get(list).post(create))
        .route(
            "/settings/{org}/projects/{project}/",
            get(page).post(update),
        )
        .route("/settings/{org}/projects/{project}/delete", post(delete))
        .route("/settings/{org}/projects/{project}/teams", post(add_team))
        .route(
            "/settings/{org}/projects/{project}/teams/{team}/remove",
            post(remove_team),
        )
        .route("/settings/{org}/projects/{project}/keys", post(create_key))
        .route(
            "/settings/{org}/projects/{project}/keys/{key}/",
            post(update_key),
        )
        .route(
            "/settings/{org}/projects/{project}/keys/{key}/active",
            post(set_key_active),
        )
        .route(
            "/settings/{org}/projects/{project}/keys/{key}/delete",
            post(delete_key),
        )
}

fn list_path(org: &Organization) -> String {
    format!("/settings/{}/projects/", org.slug)
}

fn project_path(project: &Project) -> String {
    format!("/settings/{}/projects/{}/", project.org_slug, project.slug)
}

/// A key's DSN: `{scheme}://{public key}@{host}[/path]/{project id}`.
pub fn dsn(base_url: &str, public_key: &str, project_id: i64) -> String {
    let base = base_url.trim_end_matches('/');
    let (scheme, rest) = base.split_once("://").unwrap_or(("http", base));
    format!("{scheme}://{public_key}@{rest}/{project_id}")
}

/// An optional name of a platform: short, lowercase letters, digits, `-._`.
fn check_platform(platform: &str) -> Result<Option<String>, String> {
    let platform = platform.trim();
    if platform.is_empty() {
        return Ok(None);
    }
    let ok = platform.len() <= 64
        && platform.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.' || b == b'_'
        });
    if ok {
        Ok(Some(platform.to_string()))
    } else {
        Err(format!(
            "{platform:?} is not a platform name (lowercase letters, digits, '-', '.', '_')."
        ))
    }
}

/// Empty means the server's default.
fn check_retention(days: &str) -> Result<Option<i32>, String> {
    let days = days.trim();
    if days.is_empty() {
        return Ok(None);
    }
    match days.parse::<i32>() {
        Ok(d) if (1..=MAX_RETENTION_DAYS).contains(&d) => Ok(Some(d)),
        _ => Err(format!(
            "Retention must be a number of days from 1 to {MAX_RETENTION_DAYS}, or empty for the server's default."
        )),
    }
}

/// Empty means unlimited.
fn check_rate(what: &str, value: &str) -> Result<Option<i64>, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    match value.parse::<i64>() {
        Ok(n) if (1..=MAX_RATE).contains(&n) => Ok(Some(n)),
        _ => Err(format!(
            "The limit per {what} must be a whole number from 1 to {MAX_RATE}, or empty for no limit."
        )),
    }
}

// --- the list -------------------------------------------------------------------

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

async fn show_list(
    state: &AppState,
    signed: &SignedIn,
    org: &Organization,
    notice: Option<Notice>,
) -> Response {
    let chrome = match Chrome::new(state, signed, Some(&org.slug)).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let loaded = async {
        Ok::<_, StoreError>((
            signed.access.projects_of(&state.store, org.id).await?,
            state.store.list_teams(org.id).await?,
            state.store.project_team_map(org.id).await?,
        ))
    };
    let (projects, teams, links) = match loaded.await {
        Ok(x) => x,
        Err(e) => return store_failure(e),
    };
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

async fn list(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(slug): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Response {
    match organization(&state, &signed, &slug).await {
        Ok(org) => show_list(&state, &signed, &org, q.notice()).await,
        Err(r) => r,
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CreateForm {
    csrf_token: String,
    name: String,
    slug: String,
    platform: String,
    team: String,
}

async fn create(
    State(state): State<AppState>,
    signed: SignedIn,
    headers: HeaderMap,
    Path(slug): Path<String>,
    Form(form): Form<CreateForm>,
) -> Response {
    if let Err(refused) = signed.verify_csrf(&state, &headers, &form.csrf_token) {
        return refused;
    }
    let org = match organization(&state, &signed, &slug).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    if let Err(r) = require(&signed, Action::ManageProjects, org.id) {
        return r;
    }
    let refuse = async |status: StatusCode, problem: String| {
        with_status(
            show_list(&state, &signed, &org, Some(Notice::error(problem))).await,
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
            Err(e) => return store_failure(e),
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
            return match refusal(e) {
                Ok((status, notice)) => {
                    with_status(show_list(&state, &signed, &org, Some(notice)).await, status)
                }
                Err(r) => r,
            };
        }
    };
    // like Sentry: a new project comes with a key, ready for an SDK
    let created = async {
        if let Some(team) = &team {
            state.store.add_project_team(project.id, team.id).await?;
        }
        state
            .store
            .create_project_key(project.id, "Default", RateLimit::default())
            .await?;
        Ok::<_, StoreError>(())
    };
    match created.await {
        Ok(()) => done(&project_path(&project), "project_created"),
        Err(e) => store_failure(e),
    }
}

// --- one project ----------------------------------------------------------------

struct KeyView {
    id: KeyId,
    label: String,
    dsn: String,
    active: bool,
    per_minute: String,
    per_hour: String,
    created: String,
}

/// How to send from one SDK: the install command and the code.
struct Snippet {
    id: &'static str,
    title: &'static str,
    install: &'static str,
    code: String,
}

#[derive(Template)]
#[template(path = "settings/project.html")]
struct ProjectPage {
    chrome: Chrome,
    nav: OrgNav,
    notice: Option<Notice>,
    slug: String,
    id: i64,
    name: String,
    platform: String,
    retention: String,
    default_retention: i32,
    /// (slug, name)
    teams: Vec<(String, String)>,
    team_choices: Vec<(String, String)>,
    keys: Vec<KeyView>,
    snippets: Vec<Snippet>,
    platforms: &'static [&'static str],
}

fn snippets(dsn: &str, platform: Option<&str>) -> Vec<Snippet> {
    let mut all = vec![
        Snippet {
            id: "python",
            title: "Python",
            install: "pip install sentry-sdk",
            code: format!("import sentry_sdk\n\nsentry_sdk.init(\n    dsn=\"{dsn}\",\n)\n"),
        },
        Snippet {
            id: "javascript",
            title: "JavaScript (browser)",
            install: "npm install @sentry/browser",
            code: format!(
                "import * as Sentry from \"@sentry/browser\";\n\nSentry.init({{\n  dsn: \"{dsn}\",\n}});\n"
            ),
        },
        Snippet {
            id: "node",
            title: "Node.js",
            install: "npm install @sentry/node",
            code: format!(
                "const Sentry = require(\"@sentry/node\");\n\nSentry.init({{\n  dsn: \"{dsn}\",\n}});\n"
            ),
        },
        Snippet {
            id: "rust",
            title: "Rust",
            install: "cargo add sentry",
            code: format!(
                "fn main() {{\n    let _guard = sentry::init((\n        \"{dsn}\",\n        sentry::ClientOptions {{\n            release: sentry::release_name!(),\n            ..Default::default()\n        }},\n    ));\n    // errors and panics are reported while `_guard` lives\n}}\n"
            ),
        },
    ];
    // the project's own platform first
    if let Some(i) = platform.and_then(|p| all.iter().position(|s| s.id == p)) {
        let first = all.remove(i);
        all.insert(0, first);
    }
    all
}

async fn show_project(
    state: &AppState,
    signed: &SignedIn,
    headers: &HeaderMap,
    org: &Organization,
    project: &Project,
    notice: Option<Notice>,
) -> Response {
    let chrome = match Chrome::new(state, signed, Some(&org.slug)).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let loaded = async {
        Ok::<_, StoreError>((
            state.store.project_teams(project.id).await?,
            state.store.list_teams(org.id).await?,
            state.store.list_project_keys(project.id).await?,
        ))
    };
    let (teams, org_teams, keys) = match loaded.await {
        Ok(x) => x,
        Err(e) => return store_failure(e),
    };
    let base = page_base_url(&state.config, headers);
    let keys: Vec<KeyView> = keys
        .into_iter()
        .map(|k: ProjectKey| KeyView {
            dsn: dsn(&base, &k.public_key, project.id),
            id: k.id,
            label: k.label,
            active: k.is_active,
            per_minute: k
                .rate_limit
                .per_minute
                .map(|n| n.to_string())
                .unwrap_or_default(),
            per_hour: k
                .rate_limit
                .per_hour
                .map(|n| n.to_string())
                .unwrap_or_default(),
            created: day(&k.created_at),
        })
        .collect();
    let example_dsn = keys
        .iter()
        .find(|k| k.active)
        .or(keys.first())
        .map(|k| k.dsn.clone())
        .unwrap_or_else(|| dsn(&base, "<public key>", project.id));
    let linked: Vec<_> = teams.iter().map(|t| t.id).collect();
    render(&ProjectPage {
        chrome,
        nav: OrgNav::new(signed, org, "projects"),
        notice,
        slug: project.slug.clone(),
        id: project.id,
        name: project.name.clone(),
        platform: project.platform.clone().unwrap_or_default(),
        retention: project
            .retention_days
            .map(|d| d.to_string())
            .unwrap_or_default(),
        default_retention: state.config.retention_days,
        teams: teams.into_iter().map(|t| (t.slug, t.name)).collect(),
        team_choices: org_teams
            .into_iter()
            .filter(|t| !linked.contains(&t.id))
            .map(|t| (t.slug, t.name))
            .collect(),
        snippets: snippets(&example_dsn, project.platform.as_deref()),
        keys,
        platforms: PLATFORMS,
    })
}

/// The organization and a project the user can see (404 otherwise).
async fn visible(
    state: &AppState,
    signed: &SignedIn,
    org: &str,
    project: &str,
) -> Result<(Organization, Project), Response> {
    let org = organization(state, signed, org).await?;
    let project = signed
        .access
        .project(&state.store, &org.slug, project)
        .await
        .map_err(denied)?;
    Ok((org, project))
}

async fn page(
    State(state): State<AppState>,
    signed: SignedIn,
    headers: HeaderMap,
    Path((org, project)): Path<(String, String)>,
    Query(q): Query<NoticeQuery>,
) -> Response {
    match visible(&state, &signed, &org, &project).await {
        Ok((org, project)) => {
            show_project(&state, &signed, &headers, &org, &project, q.notice()).await
        }
        Err(r) => r,
    }
}

/// The organization and project of a change, once the CSRF token, the
/// project's visibility and the user's role (admin) are checked.
async fn for_change(
    state: &AppState,
    signed: &SignedIn,
    headers: &HeaderMap,
    csrf_token: &str,
    org: &str,
    project: &str,
) -> Result<(Organization, Project), Response> {
    signed.verify_csrf(state, headers, csrf_token)?;
    let (org, project) = visible(state, signed, org, project).await?;
    require(signed, Action::ManageProjects, org.id)?;
    Ok((org, project))
}

/// The project page again, with a refused input.
async fn again(
    state: &AppState,
    signed: &SignedIn,
    headers: &HeaderMap,
    org: &Organization,
    project: &Project,
    status: StatusCode,
    notice: Notice,
) -> Response {
    with_status(
        show_project(state, signed, headers, org, project, Some(notice)).await,
        status,
    )
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct UpdateForm {
    csrf_token: String,
    name: String,
    platform: String,
    retention_days: String,
}

async fn update(
    State(state): State<AppState>,
    signed: SignedIn,
    headers: HeaderMap,
    Path((org, project)): Path<(String, String)>,
    Form(form): Form<UpdateForm>,
) -> Response {
    let (org, project) =
        match for_change(&state, &signed, &headers, &form.csrf_token, &org, &project).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    let invalid = async |problem: String| {
        again(
            &state,
            &signed,
            &headers,
            &org,
            &project,
            StatusCode::UNPROCESSABLE_ENTITY,
            Notice::error(problem),
        )
        .await
    };
    let name = match check_name(&form.name) {
        Ok(n) => n.to_string(),
        Err(_) => return invalid("Give the project a name (at most 200 characters).".into()).await,
    };
    let platform = match check_platform(&form.platform) {
        Ok(p) => p,
        Err(problem) => return invalid(problem).await,
    };
    let retention = match check_retention(&form.retention_days) {
        Ok(r) => r,
        Err(problem) => return invalid(problem).await,
    };
    let saved = async {
        state
            .store
            .update_project(project.id, &name, platform.as_deref())
            .await?;
        state
            .store
            .set_project_retention(project.id, retention)
            .await
    };
    match saved.await {
        Ok(()) => done(&project_path(&project), "saved"),
        Err(e) => match refusal(e) {
            Ok((status, notice)) => {
                again(&state, &signed, &headers, &org, &project, status, notice).await
            }
            Err(r) => r,
        },
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DeleteForm {
    csrf_token: String,
    confirm: String,
}

async fn delete(
    State(state): State<AppState>,
    signed: SignedIn,
    headers: HeaderMap,
    Path((org, project)): Path<(String, String)>,
    Form(form): Form<DeleteForm>,
) -> Response {
    let (org, project) =
        match for_change(&state, &signed, &headers, &form.csrf_token, &org, &project).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    if form.confirm.trim() != project.slug {
        let notice = Notice::error(format!(
            "Type the project's slug, {}, to confirm the deletion.",
            project.slug
        ));
        return again(
            &state,
            &signed,
            &headers,
            &org,
            &project,
            StatusCode::UNPROCESSABLE_ENTITY,
            notice,
        )
        .await;
    }
    if let Err(e) = state.store.delete_project(project.id).await {
        return store_failure(e);
    }
    state.forget_keys();
    // the store removed the records; the files are ours to remove
    let files = state.attachments_dir.join(project.id.to_string());
    match tokio::fs::remove_dir_all(&files).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(
            project.id = project.id,
            error = %e,
            "removing a deleted project's attachments failed"
        ),
    }
    tracing::info!(
        project.id = project.id,
        user.id = signed.access.user.id,
        "project deleted"
    );
    done(&list_path(&org), "project_deleted")
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TeamForm {
    csrf_token: String,
    team: String,
}

async fn add_team(
    State(state): State<AppState>,
    signed: SignedIn,
    headers: HeaderMap,
    Path((org, project)): Path<(String, String)>,
    Form(form): Form<TeamForm>,
) -> Response {
    let (org, project) =
        match for_change(&state, &signed, &headers, &form.csrf_token, &org, &project).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    let team = match state.store.team_by_slug(org.id, form.team.trim()).await {
        Ok(t) => t,
        Err(StoreError::NotFound(_)) => {
            let notice = Notice::error("Choose a team of the organization.");
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return again(&state, &signed, &headers, &org, &project, status, notice).await;
        }
        Err(e) => return store_failure(e),
    };
    match state.store.add_project_team(project.id, team.id).await {
        Ok(()) => done(&project_path(&project), "team_added"),
        Err(e) => store_failure(e),
    }
}

async fn remove_team(
    State(state): State<AppState>,
    signed: SignedIn,
    headers: HeaderMap,
    Path((org, project, team)): Path<(String, String, String)>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let (org, project) =
        match for_change(&state, &signed, &headers, &form.csrf_token, &org, &project).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    let team = match state.store.team_by_slug(org.id, &team).await {
        Ok(t) => t,
        Err(StoreError::NotFound(_)) => return not_found("team"),
        Err(e) => return store_failure(e),
    };
    match state.store.remove_project_team(project.id, team.id).await {
        Ok(()) => done(&project_path(&project), "team_removed"),
        Err(StoreError::NotFound(_)) => not_found("team of the project"),
        Err(e) => store_failure(e),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct NewKeyForm {
    csrf_token: String,
    label: String,
}

async fn create_key(
    State(state): State<AppState>,
    signed: SignedIn,
    headers: HeaderMap,
    Path((org, project)): Path<(String, String)>,
    Form(form): Form<NewKeyForm>,
) -> Response {
    let (org, project) =
        match for_change(&state, &signed, &headers, &form.csrf_token, &org, &project).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    let label = match form.label.trim() {
        "" => "Default".to_string(),
        label => label.to_string(),
    };
    match state
        .store
        .create_project_key(project.id, &label, RateLimit::default())
        .await
    {
        Ok(_) => done(&project_path(&project), "key_created"),
        Err(e) => match refusal(e) {
            Ok((status, notice)) => {
                again(&state, &signed, &headers, &org, &project, status, notice).await
            }
            Err(r) => r,
        },
    }
}

/// A key of the project (404 for keys of other projects).
async fn key_of(
    state: &AppState,
    project: &Project,
    key_id: KeyId,
) -> Result<ProjectKey, Response> {
    match state.store.key_by_id(key_id).await {
        Ok(k) if k.project_id == project.id => Ok(k),
        Ok(_) | Err(StoreError::NotFound(_)) => Err(not_found("key")),
        Err(e) => Err(store_failure(e)),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct KeyForm {
    csrf_token: String,
    label: String,
    per_minute: String,
    per_hour: String,
}

async fn update_key(
    State(state): State<AppState>,
    signed: SignedIn,
    headers: HeaderMap,
    Path((org, project, key_id)): Path<(String, String, KeyId)>,
    Form(form): Form<KeyForm>,
) -> Response {
    let (org, project) =
        match for_change(&state, &signed, &headers, &form.csrf_token, &org, &project).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    let key = match key_of(&state, &project, key_id).await {
        Ok(k) => k,
        Err(r) => return r,
    };
    let limits = check_rate("minute", &form.per_minute).and_then(|per_minute| {
        Ok(RateLimit {
            per_minute,
            per_hour: check_rate("hour", &form.per_hour)?,
        })
    });
    let limit = match limits {
        Ok(l) => l,
        Err(problem) => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            let notice = Notice::error(problem);
            return again(&state, &signed, &headers, &org, &project, status, notice).await;
        }
    };
    let label = match form.label.trim() {
        "" => key.label.clone(),
        label => label.to_string(),
    };
    let saved = async {
        state.store.set_key_label(key.id, &label).await?;
        state.store.set_key_rate_limit(key.id, limit).await
    };
    let result = saved.await;
    state.forget_keys();
    match result {
        Ok(()) => done(&project_path(&project), "key_saved"),
        Err(e) => match refusal(e) {
            Ok((status, notice)) => {
                again(&state, &signed, &headers, &org, &project, status, notice).await
            }
            Err(r) => r,
        },
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ActiveForm {
    csrf_token: String,
    active: String,
}

async fn set_key_active(
    State(state): State<AppState>,
    signed: SignedIn,
    headers: HeaderMap,
    Path((org, project, key_id)): Path<(String, String, KeyId)>,
    Form(form): Form<ActiveForm>,
) -> Response {
    let (org, project) =
        match for_change(&state, &signed, &headers, &form.csrf_token, &org, &project).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    let key = match key_of(&state, &project, key_id).await {
        Ok(k) => k,
        Err(r) => return r,
    };
    let active = match form.active.as_str() {
        "true" => true,
        "false" => false,
        _ => {
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            let notice = Notice::error("Say whether the key is to be enabled or disabled.");
            return again(&state, &signed, &headers, &org, &project, status, notice).await;
        }
    };
    let result = state.store.set_key_active(key.id, active).await;
    state.forget_keys();
    match result {
        Ok(()) if active => done(&project_path(&project), "key_enabled"),
        Ok(()) => done(&project_path(&project), "key_disabled"),
        Err(e) => store_failure(e),
    }
}

async fn delete_key(
    State(state): State<AppState>,
    signed: SignedIn,
    headers: HeaderMap,
    Path((org, project, key_id)): Path<(String, String, KeyId)>,
    Form(form): Form<CsrfForm>,
) -> Response {
    let (_, project) =
        match for_change(&state, &signed, &headers, &form.csrf_token, &org, &project).await {
            Ok(x) => x,
            Err(r) => return r,
        };
    let key = match key_of(&state, &project, key_id).await {
        Ok(k) => k,
        Err(r) => return r,
    };
    let result = state.store.delete_project_key(key.id).await;
    state.forget_keys();
    match result {
        Ok(()) | Err(StoreError::NotFound(_)) => done(&project_path(&project), "key_deleted"),
        Err(e) => store_failure(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dsns_from_base_urls() {
        assert_eq!(
            dsn("http://127.0.0.1:8000", "abc", 7),
            "http://abc@127.0.0.1:8000/7"
        );
        assert_eq!(
            dsn("https://errors.example.com/corral/", "abc", 7),
            "https://abc@errors.example.com/corral/7"
        );
    }

    #[test]
    fn snippets_carry_the_dsn_and_put_the_platform_first() {
        let dsn = "https://k@h/1";
        let all = snippets(dsn, Some("rust"));
        assert_eq!(
            all.iter().map(|s| s.id).collect::<Vec<_>>(),
            ["rust", "python", "javascript", "node"]
        );
        assert!(all.iter().all(|s| s.code.contains(dsn)));
        assert_eq!(snippets(dsn, Some("cobol"))[0].id, "python");
    }

    #[test]
    fn inputs_are_checked() {
        assert_eq!(check_platform(" python "), Ok(Some("python".into())));
        assert_eq!(check_platform(""), Ok(None));
        assert!(check_platform("Py thon").is_err());
        assert_eq!(check_retention(""), Ok(None));
        assert_eq!(check_retention("90"), Ok(Some(90)));
        for bad in ["0", "-1", "3651", "ten"] {
            assert!(check_retention(bad).is_err(), "{bad}");
        }
        assert_eq!(check_rate("minute", " "), Ok(None));
        assert_eq!(check_rate("minute", "60"), Ok(Some(60)));
        for bad in ["0", "-5", "1.5", "x"] {
            assert!(check_rate("minute", bad).is_err(), "{bad}");
        }
    }
}
