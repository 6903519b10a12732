//! `/settings/{org}/alert-channels/`: where an organization's alerts go.
//! Members see the channels (secrets masked); admins and owners add,
//! change, test and delete them. A new channel's form is for one kind,
//! chosen first (`new?kind=…`), so the page needs no script.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use corral_core::StoreError;
use corral_core::alerts::{Channel, ChannelConfig, DeliveryFilter, DeliveryTarget, EmailTargets};
use corral_core::model::Organization;
use serde::Deserialize;

use super::deliveries::{DeliveryRow, TestView, channel_names, test_query, test_view};
use super::{Notice, OrgNav, display_name, done, organization, require, with_status};
use crate::access::Action;
use crate::alerts::{self as shared, check_channel, check_name, mask, masked, unmasked};
use crate::session::SignedIn;
use crate::state::AppState;
use crate::ui::{Chrome, CsrfForm, UiError, UiRoutes, missing, render};

/// The kinds, as the pages name them.
const KINDS: &[(&str, &str)] = &[
    ("email", "Email"),
    ("webhook", "Webhook"),
    ("slack", "Slack"),
    ("discord", "Discord"),
    ("teams", "Microsoft Teams"),
    ("pagerduty", "PagerDuty"),
];
/// Deliveries shown on a channel's page.
const RECENT: u32 = 20;

pub fn routes() -> UiRoutes {
    UiRoutes::new()
        .route("/settings/{org}/alert-channels/", get(list).post(create))
        .route("/settings/{org}/alert-channels/new", get(new))
        .route(
            "/settings/{org}/alert-channels/{channel}/",
            get(page).post(update),
        )
        .route(
            "/settings/{org}/alert-channels/{channel}/delete",
            post(delete),
        )
        .route("/settings/{org}/alert-channels/{channel}/test", post(test))
}

fn list_path(org: &Organization) -> String {
    format!("/settings/{}/alert-channels/", org.slug)
}

fn channel_path(org: &Organization, id: i64) -> String {
    format!("/settings/{}/alert-channels/{id}/", org.slug)
}

fn kind_label(kind: &str) -> &'static str {
    KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, label)| *label)
        .unwrap_or("Channel")
}

/// A checkbox of the email form.
pub struct Check {
    pub value: String,
    pub label: String,
    pub checked: bool,
}

/// The organization's members and teams, for email channels.
struct People {
    users: Vec<(i64, String)>,
    teams: Vec<(i64, String)>,
}

impl People {
    async fn load(state: &AppState, org_id: i64) -> Result<People, UiError> {
        let members = state.store.list_members(org_id).await?;
        let teams = state.store.list_teams(org_id).await?;
        Ok(People {
            users: members
                .iter()
                .map(|m| (m.user.id, display_name(&m.user)))
                .collect(),
            teams: teams
                .into_iter()
                .map(|t| (t.id, format!("#{}", t.slug)))
                .collect(),
        })
    }

    fn user(&self, id: i64) -> String {
        self.users
            .iter()
            .find(|(u, _)| *u == id)
            .map(|(_, n)| n.clone())
            .unwrap_or_else(|| format!("user {id}"))
    }

    fn team(&self, id: i64) -> String {
        self.teams
            .iter()
            .find(|(t, _)| *t == id)
            .map(|(_, n)| n.clone())
            .unwrap_or_else(|| format!("team {id}"))
    }
}

/// Where a channel sends, in a few words (secrets masked).
fn summary(config: &ChannelConfig, people: &People) -> String {
    match masked(config) {
        ChannelConfig::Email(t) => {
            let mut parts = Vec::new();
            if t.project_members {
                parts.push("the project's members".to_string());
            }
            parts.extend(t.users.iter().map(|u| people.user(*u)));
            parts.extend(t.teams.iter().map(|t| people.team(*t)));
            parts.extend(t.addresses.iter().cloned());
            parts.join(", ")
        }
        ChannelConfig::Webhook { url, .. }
        | ChannelConfig::Slack { url }
        | ChannelConfig::Discord { url }
        | ChannelConfig::Teams { url } => url,
        ChannelConfig::PagerDuty { routing_key, url } => match url {
            Some(url) => format!("routing key {routing_key} at {url}"),
            None => format!("routing key {routing_key}"),
        },
    }
}

/// The fields of a channel's form.
pub struct FormView {
    kind: &'static str,
    kind_label: &'static str,
    name: String,
    url: String,
    /// Masked when it is the stored one.
    secret: String,
    routing_key: String,
    project_members: bool,
    users: Vec<Check>,
    teams: Vec<Check>,
    addresses: String,
}

impl FormView {
    fn new(kind: &'static str, people: &People) -> FormView {
        FormView {
            kind,
            kind_label: kind_label(kind),
            name: String::new(),
            url: String::new(),
            secret: String::new(),
            routing_key: String::new(),
            project_members: false,
            users: checks(&people.users, &[]),
            teams: checks(&people.teams, &[]),
            addresses: String::new(),
        }
    }

    /// A stored channel's form, its secrets masked.
    fn of(channel: &Channel, people: &People) -> FormView {
        let mut view = FormView::new(channel.config.kind().as_str(), people);
        view.name = channel.name.clone();
        match masked(&channel.config) {
            ChannelConfig::Email(t) => {
                view.project_members = t.project_members;
                view.users = checks(&people.users, &t.users);
                view.teams = checks(&people.teams, &t.teams);
                view.addresses = t.addresses.join("\n");
            }
            ChannelConfig::Webhook { url, secret } => {
                view.url = url;
                view.secret = secret;
            }
            ChannelConfig::Slack { url }
            | ChannelConfig::Discord { url }
            | ChannelConfig::Teams { url } => view.url = url,
            ChannelConfig::PagerDuty { routing_key, url } => {
                view.routing_key = routing_key;
                view.url = url.unwrap_or_default();
            }
        }
        view
    }

    /// A refused form again: what was typed, but no secret it carried.
    fn again(
        form: &ChannelForm,
        kind: &'static str,
        stored: Option<&Channel>,
        people: &People,
    ) -> FormView {
        let chosen = |values: &[String]| -> Vec<i64> {
            values.iter().filter_map(|v| v.parse().ok()).collect()
        };
        let stored_secret = |pick: fn(&ChannelConfig) -> Option<String>| {
            stored.and_then(|c| pick(&c.config)).unwrap_or_default()
        };
        FormView {
            kind,
            kind_label: kind_label(kind),
            name: form.name.clone(),
            url: form.url.clone(),
            secret: stored_secret(|c| match c {
                ChannelConfig::Webhook { secret, .. } => Some(mask(secret)),
                _ => None,
            }),
            routing_key: stored_secret(|c| match c {
                ChannelConfig::PagerDuty { routing_key, .. } => Some(mask(routing_key)),
                _ => None,
            }),
            project_members: !form.project_members.is_empty(),
            users: checks(&people.users, &chosen(&form.user)),
            teams: checks(&people.teams, &chosen(&form.team)),
            addresses: form.addresses.clone(),
        }
    }
}

fn checks(options: &[(i64, String)], chosen: &[i64]) -> Vec<Check> {
    options
        .iter()
        .map(|(id, label)| Check {
            value: id.to_string(),
            label: label.clone(),
            checked: chosen.contains(id),
        })
        .collect()
}

struct ChannelRow {
    id: i64,
    name: String,
    kind: &'static str,
    summary: String,
    created: String,
}

#[derive(Template)]
#[template(path = "settings/channels.html")]
struct ListPage {
    chrome: Chrome,
    nav: OrgNav,
    notice: Option<Notice>,
    channels: Vec<ChannelRow>,
    kinds: &'static [(&'static str, &'static str)],
}

#[derive(Template)]
#[template(path = "settings/channel.html")]
struct ChannelPage {
    chrome: Chrome,
    nav: OrgNav,
    notice: Option<Notice>,
    /// `None` for a new channel.
    id: Option<i64>,
    /// Where the form goes.
    action: String,
    form: FormView,
    summary: String,
    test: Option<TestView>,
    deliveries: Vec<DeliveryRow>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PageQuery {
    notice: String,
    test: String,
    kind: String,
}

async fn list(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(slug): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Response, UiError> {
    let org = organization(&state, &signed, &slug).await?;
    show_list(&state, &signed, &org, Notice::from_code(&q.notice)).await
}

async fn show_list(
    state: &AppState,
    signed: &SignedIn,
    org: &Organization,
    notice: Option<Notice>,
) -> Result<Response, UiError> {
    let chrome = Chrome::new(state, signed, Some(&org.slug)).await?;
    let people = People::load(state, org.id).await?;
    let channels = state.store.list_alert_channels(org.id).await?;
    render(&ListPage {
        chrome,
        nav: OrgNav::new(signed, org, "channels"),
        notice,
        channels: channels
            .iter()
            .map(|c| ChannelRow {
                id: c.id,
                name: c.name.clone(),
                kind: kind_label(c.config.kind().as_str()),
                summary: summary(&c.config, &people),
                created: super::day(&c.created_at),
            })
            .collect(),
        kinds: KINDS,
    })
}

/// The form for a new channel of the kind asked for.
async fn new(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(slug): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Response, UiError> {
    let org = organization(&state, &signed, &slug).await?;
    require(&signed, Action::ManageProjects, org.id)?;
    let kind = KINDS
        .iter()
        .map(|(k, _)| *k)
        .find(|k| *k == q.kind)
        .ok_or_else(|| UiError::BadRequest("choose the kind of channel".into()))?;
    let people = People::load(&state, org.id).await?;
    let form = FormView::new(kind, &people);
    show_channel(&state, &signed, &org, None, form, None, None).await
}

/// A channel of the organization (404 for another's).
async fn channel_of(state: &AppState, org: &Organization, id: i64) -> Result<Channel, UiError> {
    match state.store.alert_channel_by_id(id).await {
        Ok(c) if c.org_id == org.id => Ok(c),
        Ok(_) | Err(StoreError::NotFound(_)) => Err(UiError::NotFound("channel")),
        Err(e) => Err(e.into()),
    }
}

async fn show_channel(
    state: &AppState,
    signed: &SignedIn,
    org: &Organization,
    channel: Option<&Channel>,
    form: FormView,
    notice: Option<Notice>,
    test: Option<&str>,
) -> Result<Response, UiError> {
    let chrome = Chrome::new(state, signed, Some(&org.slug)).await?;
    let people = People::load(state, org.id).await?;
    let names = channel_names(&state.store.list_alert_channels(org.id).await?);
    let (test, deliveries) = match channel {
        Some(c) => {
            let test = match test {
                Some(raw) => {
                    test_view(&state.store, raw, &names, |d| {
                        d.org_id == org.id && d.target == DeliveryTarget::Channel(c.id)
                    })
                    .await?
                }
                None => None,
            };
            let visible: Vec<i64> = signed
                .access
                .projects_of(&state.store, org.id)
                .await?
                .iter()
                .map(|p| p.id)
                .collect();
            let recent = state
                .store
                .list_deliveries(&DeliveryFilter {
                    org_id: Some(org.id),
                    channel_id: Some(c.id),
                    limit: RECENT,
                    ..Default::default()
                })
                .await?;
            let rows = recent
                .iter()
                // a test belongs to no project (0); others to one the user sees
                .filter(|d| d.project_id == 0 || visible.contains(&d.project_id))
                .map(|d| DeliveryRow::new(d, &names))
                .collect();
            (test, rows)
        }
        None => (None, Vec::new()),
    };
    render(&ChannelPage {
        chrome,
        nav: OrgNav::new(signed, org, "channels"),
        notice,
        id: channel.map(|c| c.id),
        action: match channel {
            Some(c) => channel_path(org, c.id),
            None => list_path(org),
        },
        summary: channel
            .map(|c| summary(&c.config, &people))
            .unwrap_or_default(),
        form,
        test,
        deliveries,
    })
}

async fn page(
    State(state): State<AppState>,
    signed: SignedIn,
    Path((slug, id)): Path<(String, i64)>,
    Query(q): Query<PageQuery>,
) -> Result<Response, UiError> {
    let org = organization(&state, &signed, &slug).await?;
    let channel = channel_of(&state, &org, id).await?;
    let people = People::load(&state, org.id).await?;
    let form = FormView::of(&channel, &people);
    let test = (!q.test.is_empty()).then_some(q.test.as_str());
    let notice = Notice::from_code(&q.notice);
    show_channel(&state, &signed, &org, Some(&channel), form, notice, test).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ChannelForm {
    name: String,
    kind: String,
    url: String,
    secret: String,
    routing_key: String,
    project_members: String,
    user: Vec<String>,
    team: Vec<String>,
    /// One per line, or separated by commas.
    addresses: String,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> StoreError {
    StoreError::Invalid {
        field,
        reason: reason.into(),
    }
}

fn ids(values: &[String]) -> Result<Vec<i64>, StoreError> {
    values
        .iter()
        .map(|v| {
            v.parse()
                .map_err(|_| invalid("targets", format!("{v:?} is not an id")))
        })
        .collect()
}

/// The configuration a form of `kind` gives.
fn config_of(form: &ChannelForm, kind: &str) -> Result<ChannelConfig, StoreError> {
    let url = || -> Result<String, StoreError> {
        match form.url.trim() {
            "" => Err(invalid("url", "give the URL to send to")),
            url => Ok(url.to_string()),
        }
    };
    Ok(match kind {
        "email" => ChannelConfig::Email(EmailTargets {
            project_members: !form.project_members.is_empty(),
            users: ids(&form.user)?,
            teams: ids(&form.team)?,
            addresses: form
                .addresses
                .split([',', '\n', ';'])
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_string)
                .collect(),
        }),
        "webhook" => ChannelConfig::Webhook {
            url: url()?,
            secret: form.secret.trim().to_string(),
        },
        "slack" => ChannelConfig::Slack { url: url()? },
        "discord" => ChannelConfig::Discord { url: url()? },
        "teams" => ChannelConfig::Teams { url: url()? },
        "pagerduty" => ChannelConfig::PagerDuty {
            routing_key: form.routing_key.trim().to_string(),
            url: Some(form.url.trim().to_string()).filter(|u| !u.is_empty()),
        },
        _ => return Err(invalid("kind", "choose the kind of channel")),
    })
}

/// A refusal as the notice the form shows.
fn refused(e: StoreError) -> Result<Notice, UiError> {
    match e {
        StoreError::Invalid { field, reason } => {
            let field = match field {
                "url" => "URL",
                "secret" => "Secret",
                "routing_key" => "Routing key",
                "targets" => "Recipients",
                "name" => "Name",
                _ => "Kind",
            };
            Ok(Notice::error(format!("{field}: {reason}.")))
        }
        StoreError::Conflict(_) => Ok(Notice::error(
            "A channel of this name exists already: choose another name.",
        )),
        e => Err(e.into()),
    }
}

async fn create(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(slug): Path<String>,
    CsrfForm(form): CsrfForm<ChannelForm>,
) -> Result<Response, UiError> {
    let org = organization(&state, &signed, &slug).await?;
    require(&signed, Action::ManageProjects, org.id)?;
    let Some(kind) = KINDS.iter().map(|(k, _)| *k).find(|k| *k == form.kind) else {
        return Err(UiError::BadRequest("choose the kind of channel".into()));
    };
    let saved = async {
        let name = check_name(&form.name)?;
        let config = config_of(&form, kind)?;
        check_channel(&state.store, org.id, &config).await?;
        state
            .store
            .create_alert_channel(org.id, &name, &config)
            .await
    };
    match saved.await {
        Ok(c) => done(&channel_path(&org, c.id), "channel_created"),
        Err(e) => {
            let notice = refused(e)?;
            let people = People::load(&state, org.id).await?;
            let view = FormView::again(&form, kind, None, &people);
            let page = show_channel(&state, &signed, &org, None, view, Some(notice), None).await;
            with_status(page, StatusCode::UNPROCESSABLE_ENTITY)
        }
    }
}

async fn update(
    State(state): State<AppState>,
    signed: SignedIn,
    Path((slug, id)): Path<(String, i64)>,
    CsrfForm(form): CsrfForm<ChannelForm>,
) -> Result<Response, UiError> {
    let org = organization(&state, &signed, &slug).await?;
    let channel = channel_of(&state, &org, id).await?;
    require(&signed, Action::ManageProjects, org.id)?;
    // the kind stays; a channel of another kind is a new channel
    let kind = channel.config.kind().as_str();
    let saved = async {
        let name = check_name(&form.name)?;
        let config = unmasked(config_of(&form, kind)?, &channel.config);
        check_channel(&state.store, org.id, &config).await?;
        state
            .store
            .update_alert_channel(channel.id, &name, &config)
            .await
    };
    match saved.await {
        Ok(c) => done(&channel_path(&org, c.id), "channel_saved"),
        Err(e) => {
            let notice = refused(e)?;
            let people = People::load(&state, org.id).await?;
            let view = FormView::again(&form, kind, Some(&channel), &people);
            let page = show_channel(
                &state,
                &signed,
                &org,
                Some(&channel),
                view,
                Some(notice),
                None,
            )
            .await;
            with_status(page, StatusCode::UNPROCESSABLE_ENTITY)
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DeleteForm {
    confirm: String,
}

async fn delete(
    State(state): State<AppState>,
    signed: SignedIn,
    Path((slug, id)): Path<(String, i64)>,
    CsrfForm(form): CsrfForm<DeleteForm>,
) -> Result<Response, UiError> {
    let org = organization(&state, &signed, &slug).await?;
    let channel = channel_of(&state, &org, id).await?;
    require(&signed, Action::ManageProjects, org.id)?;
    if form.confirm != "yes" {
        let people = People::load(&state, org.id).await?;
        let view = FormView::of(&channel, &people);
        let notice = Notice::error("Tick the box to confirm the deletion.");
        let page = show_channel(
            &state,
            &signed,
            &org,
            Some(&channel),
            view,
            Some(notice),
            None,
        )
        .await;
        return with_status(page, StatusCode::UNPROCESSABLE_ENTITY);
    }
    state
        .store
        .delete_alert_channel(channel.id)
        .await
        .map_err(missing("channel"))?;
    done(&list_path(&org), "channel_deleted")
}

/// Queues a test notification, waits a little for the worker to send it,
/// and shows the channel's page with the outcome.
async fn test(
    State(state): State<AppState>,
    signed: SignedIn,
    Path((slug, id)): Path<(String, i64)>,
    _: CsrfForm,
) -> Result<Response, UiError> {
    let org = organization(&state, &signed, &slug).await?;
    let channel = channel_of(&state, &org, id).await?;
    require(&signed, Action::ManageProjects, org.id)?;
    let queued = shared::test_channel(&state, &org, &channel, &signed.access.user).await?;
    let (deliveries, _) = shared::wait_for_outcome(&state, queued).await?;
    let to = format!(
        "{}?test={}#test",
        channel_path(&org, channel.id),
        test_query(&deliveries)
    );
    Ok(Redirect::to(&to).into_response())
}

/// Channel names for other pages (the rules' channels).
pub fn names(channels: &[Channel]) -> HashMap<i64, String> {
    channel_names(channels)
}

/// A channel's name and kind, as a rule's form offers it.
pub fn label(c: &Channel) -> String {
    format!("{} ({})", c.name, kind_label(c.config.kind().as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_make_configurations() {
        let form = ChannelForm {
            kind: "email".into(),
            project_members: "on".into(),
            user: vec!["3".into()],
            addresses: "a@example.com, b@example.com\nc@example.com".into(),
            ..Default::default()
        };
        let ChannelConfig::Email(t) = config_of(&form, "email").unwrap() else {
            panic!("an email channel")
        };
        assert!(t.project_members);
        assert_eq!(t.users, vec![3]);
        assert_eq!(t.addresses.len(), 3);
        let empty = ChannelForm::default();
        let err = config_of(&empty, "slack").unwrap_err();
        assert!(
            matches!(err, StoreError::Invalid { field: "url", .. }),
            "{err}"
        );
        let bad = ChannelForm {
            user: vec!["x".into()],
            ..Default::default()
        };
        assert!(config_of(&bad, "email").is_err());
    }
}
