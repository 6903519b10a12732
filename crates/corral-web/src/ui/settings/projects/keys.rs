//! A project's DSN keys: a new key, a key's label and rate limits, turning
//! it off and on, deleting it. Every change forgets the ingest's cached
//! keys, so it applies at once.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use corral_core::StoreError;
use corral_core::model::{KeyId, Project, ProjectKey, RateLimit};
use serde::Deserialize;

use super::super::{Notice, done, refusal};
use super::project::again;
use super::{check_rate, for_change, project_path};
use crate::session::SignedIn;
use crate::state::AppState;
use crate::ui::{CsrfForm, UiError};

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct NewKeyForm {
    label: String,
}

pub(super) async fn create(
    State(state): State<AppState>,
    signed: SignedIn,
    headers: HeaderMap,
    Path((org, project)): Path<(String, String)>,
    CsrfForm(form): CsrfForm<NewKeyForm>,
) -> Result<Response, UiError> {
    let (org, project) = for_change(&state, &signed, &org, &project).await?;
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
        Err(e) => {
            let (status, notice) = refusal(e)?;
            again(&state, &signed, &headers, &org, &project, status, notice).await
        }
    }
}

/// A key of the project (404 for keys of other projects).
async fn key_of(state: &AppState, project: &Project, key_id: KeyId) -> Result<ProjectKey, UiError> {
    match state.store.key_by_id(key_id).await {
        Ok(k) if k.project_id == project.id => Ok(k),
        Ok(_) | Err(StoreError::NotFound(_)) => Err(UiError::NotFound("key")),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct KeyForm {
    label: String,
    per_minute: String,
    per_hour: String,
}

pub(super) async fn update(
    State(state): State<AppState>,
    signed: SignedIn,
    headers: HeaderMap,
    Path((org, project, key_id)): Path<(String, String, KeyId)>,
    CsrfForm(form): CsrfForm<KeyForm>,
) -> Result<Response, UiError> {
    let (org, project) = for_change(&state, &signed, &org, &project).await?;
    let key = key_of(&state, &project, key_id).await?;
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
        Err(e) => {
            let (status, notice) = refusal(e)?;
            again(&state, &signed, &headers, &org, &project, status, notice).await
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct ActiveForm {
    active: String,
}

pub(super) async fn set_active(
    State(state): State<AppState>,
    signed: SignedIn,
    headers: HeaderMap,
    Path((org, project, key_id)): Path<(String, String, KeyId)>,
    CsrfForm(form): CsrfForm<ActiveForm>,
) -> Result<Response, UiError> {
    let (org, project) = for_change(&state, &signed, &org, &project).await?;
    let key = key_of(&state, &project, key_id).await?;
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
    result?;
    done(
        &project_path(&project),
        if active {
            "key_enabled"
        } else {
            "key_disabled"
        },
    )
}

pub(super) async fn delete(
    State(state): State<AppState>,
    signed: SignedIn,
    Path((org, project, key_id)): Path<(String, String, KeyId)>,
    _: CsrfForm,
) -> Result<Response, UiError> {
    let (_, project) = for_change(&state, &signed, &org, &project).await?;
    let key = key_of(&state, &project, key_id).await?;
    let result = state.store.delete_project_key(key.id).await;
    state.forget_keys();
    match result {
        Ok(()) | Err(StoreError::NotFound(_)) => done(&project_path(&project), "key_deleted"),
        Err(e) => Err(e.into()),
    }
}
