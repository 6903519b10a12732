//! One project's page (its settings, teams, keys with their DSNs and the
//! SDK set-up snippets), the form that changes its settings and the one
//! that deletes it.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use corral_core::model::{KeyId, Organization, Project, ProjectKey};
use serde::Deserialize;

use super::super::{Notice, NoticeQuery, OrgNav, day, done, refusal, with_status};
use super::{
    PLATFORMS, check_platform, check_retention, for_change, list_path, project_path, visible,
};
use crate::mail::page_base_url;
use crate::session::SignedIn;
use crate::state::AppState;
use crate::ui::auth::check_name;
use crate::ui::{Chrome, CsrfForm, UiError, render};

/// A key's DSN: `{scheme}://{public key}@{host}[/path]/{project id}`.
fn dsn(base_url: &str, public_key: &str, project_id: i64) -> String {
    let base = base_url.trim_end_matches('/');
    let (scheme, rest) = base.split_once("://").unwrap_or(("http", base));
    format!("{scheme}://{public_key}@{rest}/{project_id}")
}

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

async fn show(
    state: &AppState,
    signed: &SignedIn,
    headers: &HeaderMap,
    org: &Organization,
    project: &Project,
    notice: Option<Notice>,
) -> Result<Response, UiError> {
    let chrome = Chrome::new(state, signed, Some(&org.slug)).await?;
    let teams = state.store.project_teams(project.id).await?;
    let org_teams = state.store.list_teams(org.id).await?;
    let keys = state.store.list_project_keys(project.id).await?;
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

pub(super) async fn page(
    State(state): State<AppState>,
    signed: SignedIn,
    headers: HeaderMap,
    Path((org, project)): Path<(String, String)>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, UiError> {
    let (org, project) = visible(&state, &signed, &org, &project).await?;
    show(&state, &signed, &headers, &org, &project, q.notice()).await
}

/// The project page again, with a refused input.
pub(super) async fn again(
    state: &AppState,
    signed: &SignedIn,
    headers: &HeaderMap,
    org: &Organization,
    project: &Project,
    status: StatusCode,
    notice: Notice,
) -> Result<Response, UiError> {
    with_status(
        show(state, signed, headers, org, project, Some(notice)).await,
        status,
    )
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct UpdateForm {
    name: String,
    platform: String,
    retention_days: String,
}

pub(super) async fn update(
    State(state): State<AppState>,
    signed: SignedIn,
    headers: HeaderMap,
    Path((org, project)): Path<(String, String)>,
    CsrfForm(form): CsrfForm<UpdateForm>,
) -> Result<Response, UiError> {
    let (org, project) = for_change(&state, &signed, &org, &project).await?;
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
        Err(e) => {
            let (status, notice) = refusal(e)?;
            again(&state, &signed, &headers, &org, &project, status, notice).await
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct DeleteForm {
    confirm: String,
}

pub(super) async fn delete(
    State(state): State<AppState>,
    signed: SignedIn,
    headers: HeaderMap,
    Path((org, project)): Path<(String, String)>,
    CsrfForm(form): CsrfForm<DeleteForm>,
) -> Result<Response, UiError> {
    let (org, project) = for_change(&state, &signed, &org, &project).await?;
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
    state.store.delete_project(project.id).await?;
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
}
