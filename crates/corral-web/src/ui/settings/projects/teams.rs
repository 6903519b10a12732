//! The teams that have a project: giving it to a team, taking it away.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use corral_core::StoreError;
use serde::Deserialize;

use super::super::{Notice, done};
use super::project::again;
use super::{for_change, project_path};
use crate::session::SignedIn;
use crate::state::AppState;
use crate::ui::{CsrfForm, UiError, missing};

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct TeamForm {
    team: String,
}

pub(super) async fn add(
    State(state): State<AppState>,
    signed: SignedIn,
    headers: HeaderMap,
    Path((org, project)): Path<(String, String)>,
    CsrfForm(form): CsrfForm<TeamForm>,
) -> Result<Response, UiError> {
    let (org, project) = for_change(&state, &signed, &org, &project).await?;
    let team = match state.store.team_by_slug(org.id, form.team.trim()).await {
        Ok(t) => t,
        Err(StoreError::NotFound(_)) => {
            let notice = Notice::error("Choose a team of the organization.");
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return again(&state, &signed, &headers, &org, &project, status, notice).await;
        }
        Err(e) => return Err(e.into()),
    };
    state.store.add_project_team(project.id, team.id).await?;
    done(&project_path(&project), "team_added")
}

pub(super) async fn remove(
    State(state): State<AppState>,
    signed: SignedIn,
    Path((org, project, team)): Path<(String, String, String)>,
    _: CsrfForm,
) -> Result<Response, UiError> {
    let (org, project) = for_change(&state, &signed, &org, &project).await?;
    let team = state
        .store
        .team_by_slug(org.id, &team)
        .await
        .map_err(missing("team"))?;
    state
        .store
        .remove_project_team(project.id, team.id)
        .await
        .map_err(missing("team of the project"))?;
    done(&project_path(&project), "team_removed")
}
