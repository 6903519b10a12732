//! `/settings/{org}/projects/{project}/alerts/`: a project's alert rules,
//! their delivery log, test notifications, and the project's mute. Members
//! who see the project read; admins and owners change.
//!
//! The form shows one filter of each type and one of each window
//! condition; a rule made through the API may have more, which the page
//! lists and a save from the form keeps.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use corral_core::StoreError;
use corral_core::alerts::{
    AgeMatch, AlertRule, Condition, DEFAULT_ACTION_INTERVAL_MINUTES, DeliveryFilter, Filter,
    LevelMatch, NewAlertRule, RuleSpec, TagMatch,
};
use corral_core::model::{Organization, Project};
use corral_protocol::Level;
use serde::Deserialize;

use super::channels::{Check, label, names};
use super::deliveries::{DeliveryRow, TestView, test_query, test_view};
use super::{Notice, OrgNav, done, organization, require, with_status};
use crate::access::Action;
use crate::alerts::{self as shared, check_name, check_rule};
use crate::session::SignedIn;
use crate::state::AppState;
use crate::ui::{Chrome, CsrfForm, UiError, UiRoutes, missing, render};

/// Deliveries shown on a rule's page.
const LOG: u32 = 50;
const LEVELS: &[&str] = &["debug", "info", "warning", "error", "fatal"];

pub fn routes() -> UiRoutes {
    UiRoutes::new()
        .route(
            "/settings/{org}/projects/{project}/alerts/",
            get(list).post(create),
        )
        .route("/settings/{org}/projects/{project}/alerts/new", get(new))
        .route("/settings/{org}/projects/{project}/alerts/mute", post(mute))
        .route(
            "/settings/{org}/projects/{project}/alerts/{rule}/",
            get(page).post(update),
        )
        .route(
            "/settings/{org}/projects/{project}/alerts/{rule}/delete",
            post(delete),
        )
        .route(
            "/settings/{org}/projects/{project}/alerts/{rule}/test",
            post(test),
        )
}

fn alerts_path(project: &Project) -> String {
    format!(
        "/settings/{}/projects/{}/alerts/",
        project.org_slug, project.slug
    )
}

fn rule_path(project: &Project, id: i64) -> String {
    format!("{}{id}/", alerts_path(project))
}

/// The organization and a project the user can see (404 otherwise).
async fn visible(
    state: &AppState,
    signed: &SignedIn,
    org: &str,
    project: &str,
) -> Result<(Organization, Project), UiError> {
    let org = organization(state, signed, org).await?;
    let project = signed
        .access
        .project(&state.store, &org.slug, project)
        .await?;
    Ok((org, project))
}

/// A rule of the project (404 for another project's).
async fn rule_of(state: &AppState, project: &Project, id: i64) -> Result<AlertRule, UiError> {
    match state.store.alert_rule_by_id(id).await {
        Ok(r) if r.project_id == project.id => Ok(r),
        Ok(_) | Err(StoreError::NotFound(_)) => Err(UiError::NotFound("rule")),
        Err(e) => Err(e.into()),
    }
}

// --- the form -------------------------------------------------------------------

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct RuleForm {
    name: String,
    new_issue: String,
    regression: String,
    escalating: String,
    frequency_count: String,
    frequency_minutes: String,
    users_count: String,
    users_minutes: String,
    event_rate_count: String,
    event_rate_minutes: String,
    environment: String,
    level: String,
    level_match: String,
    release: String,
    tag_key: String,
    tag_match: String,
    tag_value: String,
    age_match: String,
    age_minutes: String,
    search: String,
    channel: Vec<String>,
    interval: String,
    enabled: String,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> StoreError {
    StoreError::Invalid {
        field,
        reason: reason.into(),
    }
}

fn number(value: &str, field: &'static str, what: &str) -> Result<Option<i64>, StoreError> {
    match value.trim() {
        "" => Ok(None),
        v => v
            .parse()
            .map(Some)
            .map_err(|_| invalid(field, format!("{what} must be a whole number"))),
    }
}

/// A window condition from its two fields: on when the count is given.
fn window(
    count: &str,
    minutes: &str,
    what: &str,
    make: fn(i64, i64) -> Condition,
) -> Result<Option<Condition>, StoreError> {
    let Some(count) = number(count, "conditions", &format!("the count of {what}"))? else {
        return Ok(None);
    };
    let minutes = number(minutes, "conditions", &format!("the minutes of {what}"))?
        .ok_or_else(|| invalid("conditions", format!("give the minutes of {what}")))?;
    Ok(Some(make(count, minutes)))
}

impl RuleForm {
    fn conditions(&self) -> Result<Vec<Condition>, StoreError> {
        let mut out = Vec::new();
        let on = |v: &str| !v.is_empty();
        if on(&self.new_issue) {
            out.push(Condition::NewIssue);
        }
        if on(&self.regression) {
            out.push(Condition::Regression);
        }
        if on(&self.escalating) {
            out.push(Condition::Escalating);
        }
        let windows = [
            window(
                &self.frequency_count,
                &self.frequency_minutes,
                "\"seen more than\"",
                |count, minutes| Condition::Frequency { count, minutes },
            )?,
            window(
                &self.users_count,
                &self.users_minutes,
                "\"users affected\"",
                |count, minutes| Condition::Users { count, minutes },
            )?,
            window(
                &self.event_rate_count,
                &self.event_rate_minutes,
                "\"event rate\"",
                |count, minutes| Condition::EventRate { count, minutes },
            )?,
        ];
        out.extend(windows.into_iter().flatten());
        Ok(out)
    }

    fn filters(&self) -> Result<Vec<Filter>, StoreError> {
        let mut out = Vec::new();
        let text = |v: &str| Some(v.trim().to_string()).filter(|v| !v.is_empty());
        if let Some(value) = text(&self.environment) {
            out.push(Filter::Environment { value });
        }
        if let Some(level) = text(&self.level) {
            let level: Level = level
                .parse()
                .map_err(|_| invalid("filters", format!("{level:?} is not a level")))?;
            let r#match = match self.level_match.as_str() {
                "exactly" => LevelMatch::Exactly,
                _ => LevelMatch::AtLeast,
            };
            out.push(Filter::Level { level, r#match });
        }
        if let Some(value) = text(&self.release) {
            out.push(Filter::Release { value });
        }
        if let Some(key) = text(&self.tag_key) {
            let r#match = match self.tag_match.as_str() {
                "contains" => TagMatch::Contains,
                _ => TagMatch::Equals,
            };
            out.push(Filter::Tag {
                key,
                r#match,
                value: self.tag_value.trim().to_string(),
            });
        }
        if let Some(minutes) = number(&self.age_minutes, "filters", "the issue's age")? {
            let r#match = match self.age_match.as_str() {
                "newer_than" => AgeMatch::NewerThan,
                _ => AgeMatch::OlderThan,
            };
            out.push(Filter::IssueAge { r#match, minutes });
        }
        if let Some(query) = text(&self.search) {
            out.push(Filter::Search { query });
        }
        Ok(out)
    }

    fn channels(&self) -> Result<Vec<i64>, StoreError> {
        self.channel
            .iter()
            .map(|c| {
                c.parse()
                    .map_err(|_| invalid("channels", format!("{c:?} is not a channel")))
            })
            .collect()
    }

    /// The rule the form gives, keeping what the form cannot show of
    /// `current`.
    fn rule(
        &self,
        project: &Project,
        current: Option<&AlertRule>,
    ) -> Result<NewAlertRule, StoreError> {
        let name = check_name(&self.name)?;
        let (extra_conditions, extra_filters) =
            current.map(|r| extras(&r.spec)).unwrap_or_default();
        let mut conditions = self.conditions()?;
        conditions.extend(extra_conditions);
        let mut filters = self.filters()?;
        filters.extend(extra_filters);
        let interval = number(&self.interval, "action_interval_minutes", "the interval")?
            .unwrap_or(DEFAULT_ACTION_INTERVAL_MINUTES);
        Ok(NewAlertRule {
            project_id: project.id,
            name,
            enabled: !self.enabled.is_empty(),
            spec: RuleSpec {
                conditions,
                filters,
                channels: self.channels()?,
                action_interval_minutes: interval,
            },
            created_by: None,
        })
    }
}

/// The first item of each type (variant), and the others.
fn split_by_type<T: Clone>(items: &[T]) -> (Vec<&T>, Vec<T>) {
    let mut seen = Vec::new();
    let (mut first, mut rest) = (Vec::new(), Vec::new());
    for item in items {
        let kind = std::mem::discriminant(item);
        if seen.contains(&kind) {
            rest.push(item.clone());
        } else {
            seen.push(kind);
            first.push(item);
        }
    }
    (first, rest)
}

fn firsts<T: Clone>(items: &[T]) -> Vec<&T> {
    split_by_type(items).0
}

/// What the form cannot show of a spec: window conditions and filters
/// beyond the first of their type.
fn extras(spec: &RuleSpec) -> (Vec<Condition>, Vec<Filter>) {
    (
        split_by_type(&spec.conditions).1,
        split_by_type(&spec.filters).1,
    )
}

/// The form's fields, as a page shows them.
struct FormView {
    name: String,
    new_issue: bool,
    regression: bool,
    escalating: bool,
    frequency_count: String,
    frequency_minutes: String,
    users_count: String,
    users_minutes: String,
    event_rate_count: String,
    event_rate_minutes: String,
    environment: String,
    level: String,
    level_exactly: bool,
    release: String,
    tag_key: String,
    tag_contains: bool,
    tag_value: String,
    age_newer: bool,
    age_minutes: String,
    search: String,
    channels: Vec<Check>,
    interval: String,
    enabled: bool,
    /// What the form cannot show (and a save keeps), described.
    kept: Vec<String>,
}

impl FormView {
    fn from_form(form: &RuleForm, channels: &[(i64, String)], kept: Vec<String>) -> FormView {
        let chosen: Vec<i64> = form.channel.iter().filter_map(|c| c.parse().ok()).collect();
        FormView {
            name: form.name.clone(),
            new_issue: !form.new_issue.is_empty(),
            regression: !form.regression.is_empty(),
            escalating: !form.escalating.is_empty(),
            frequency_count: form.frequency_count.clone(),
            frequency_minutes: form.frequency_minutes.clone(),
            users_count: form.users_count.clone(),
            users_minutes: form.users_minutes.clone(),
            event_rate_count: form.event_rate_count.clone(),
            event_rate_minutes: form.event_rate_minutes.clone(),
            environment: form.environment.clone(),
            level: form.level.clone(),
            level_exactly: form.level_match == "exactly",
            release: form.release.clone(),
            tag_key: form.tag_key.clone(),
            tag_contains: form.tag_match == "contains",
            tag_value: form.tag_value.clone(),
            age_newer: form.age_match == "newer_than",
            age_minutes: form.age_minutes.clone(),
            search: form.search.clone(),
            channels: channel_checks(channels, &chosen),
            interval: form.interval.clone(),
            enabled: !form.enabled.is_empty(),
            kept,
        }
    }

    /// A stored rule's form.
    fn of(rule: &AlertRule, channels: &[(i64, String)]) -> FormView {
        let on = |yes: bool| if yes { "on".to_string() } else { String::new() };
        let mut form = RuleForm {
            name: rule.name.clone(),
            channel: rule.spec.channels.iter().map(|c| c.to_string()).collect(),
            interval: rule.spec.action_interval_minutes.to_string(),
            enabled: on(rule.enabled),
            ..Default::default()
        };
        let (extra_conditions, extra_filters) = extras(&rule.spec);
        for c in firsts(&rule.spec.conditions) {
            match c {
                Condition::NewIssue => form.new_issue = on(true),
                Condition::Regression => form.regression = on(true),
                Condition::Escalating => form.escalating = on(true),
                Condition::Frequency { count, minutes } => {
                    form.frequency_count = count.to_string();
                    form.frequency_minutes = minutes.to_string();
                }
                Condition::Users { count, minutes } => {
                    form.users_count = count.to_string();
                    form.users_minutes = minutes.to_string();
                }
                Condition::EventRate { count, minutes } => {
                    form.event_rate_count = count.to_string();
                    form.event_rate_minutes = minutes.to_string();
                }
            }
        }
        for f in firsts(&rule.spec.filters) {
            match f {
                Filter::Environment { value } => form.environment = value.clone(),
                Filter::Level { level, r#match } => {
                    form.level = level.as_str().to_string();
                    if *r#match == LevelMatch::Exactly {
                        form.level_match = "exactly".into();
                    }
                }
                Filter::Release { value } => form.release = value.clone(),
                Filter::Tag {
                    key,
                    r#match,
                    value,
                } => {
                    form.tag_key = key.clone();
                    form.tag_value = value.clone();
                    if *r#match == TagMatch::Contains {
                        form.tag_match = "contains".into();
                    }
                }
                Filter::IssueAge { r#match, minutes } => {
                    form.age_minutes = minutes.to_string();
                    if *r#match == AgeMatch::NewerThan {
                        form.age_match = "newer_than".into();
                    }
                }
                Filter::Search { query } => form.search = query.clone(),
            }
        }
        let kept = extra_conditions
            .iter()
            .map(Condition::describe)
            .chain(extra_filters.iter().map(Filter::describe))
            .collect();
        FormView::from_form(&form, channels, kept)
    }

    fn blank(channels: &[(i64, String)]) -> FormView {
        let form = RuleForm {
            new_issue: "on".into(),
            regression: "on".into(),
            interval: DEFAULT_ACTION_INTERVAL_MINUTES.to_string(),
            enabled: "on".into(),
            ..Default::default()
        };
        FormView::from_form(&form, channels, Vec::new())
    }
}

fn channel_checks(channels: &[(i64, String)], chosen: &[i64]) -> Vec<Check> {
    channels
        .iter()
        .map(|(id, label)| Check {
            value: id.to_string(),
            label: label.clone(),
            checked: chosen.contains(id),
        })
        .collect()
}

// --- pages ----------------------------------------------------------------------

struct RuleRow {
    id: i64,
    name: String,
    enabled: bool,
    conditions: Vec<String>,
    filters: Vec<String>,
    channels: Vec<String>,
    interval: i64,
}

fn rule_row(r: &AlertRule, channel_names: &HashMap<i64, String>) -> RuleRow {
    RuleRow {
        id: r.id,
        name: r.name.clone(),
        enabled: r.enabled,
        conditions: r.spec.conditions.iter().map(Condition::describe).collect(),
        filters: r.spec.filters.iter().map(Filter::describe).collect(),
        channels: r
            .spec
            .channels
            .iter()
            .map(|c| {
                channel_names
                    .get(c)
                    .cloned()
                    .unwrap_or_else(|| format!("deleted channel {c}"))
            })
            .collect(),
        interval: r.spec.action_interval_minutes,
    }
}

#[derive(Template)]
#[template(path = "settings/alerts.html")]
struct AlertsPage {
    chrome: Chrome,
    nav: OrgNav,
    notice: Option<Notice>,
    project_slug: String,
    project_name: String,
    muted: bool,
    rules: Vec<RuleRow>,
    has_channels: bool,
}

#[derive(Template)]
#[template(path = "settings/rule.html")]
struct RulePage {
    chrome: Chrome,
    nav: OrgNav,
    notice: Option<Notice>,
    project_slug: String,
    project_name: String,
    /// `None` for a new rule.
    rule: Option<RuleRow>,
    action: String,
    form: FormView,
    levels: &'static [&'static str],
    test: Option<TestView>,
    deliveries: Vec<DeliveryRow>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct PageQuery {
    notice: String,
    test: String,
}

async fn list(
    State(state): State<AppState>,
    signed: SignedIn,
    Path((org, project)): Path<(String, String)>,
    Query(q): Query<PageQuery>,
) -> Result<Response, UiError> {
    let (org, project) = visible(&state, &signed, &org, &project).await?;
    let chrome = Chrome::new(&state, &signed, Some(&org.slug)).await?;
    let channels = state.store.list_alert_channels(org.id).await?;
    let channel_names = names(&channels);
    let rules = state.store.list_alert_rules(project.id).await?;
    render(&AlertsPage {
        chrome,
        nav: OrgNav::new(&signed, &org, "projects"),
        notice: Notice::from_code(&q.notice),
        project_slug: project.slug.clone(),
        project_name: project.name.clone(),
        muted: state.store.project_alerts_muted(project.id).await?,
        rules: rules.iter().map(|r| rule_row(r, &channel_names)).collect(),
        has_channels: !channels.is_empty(),
    })
}

/// The organization's channels as the form offers them.
async fn channel_choices(state: &AppState, org_id: i64) -> Result<Vec<(i64, String)>, UiError> {
    Ok(state
        .store
        .list_alert_channels(org_id)
        .await?
        .iter()
        .map(|c| (c.id, label(c)))
        .collect())
}

#[allow(clippy::too_many_arguments)]
async fn show_rule(
    state: &AppState,
    signed: &SignedIn,
    org: &Organization,
    project: &Project,
    rule: Option<&AlertRule>,
    form: FormView,
    notice: Option<Notice>,
    test: Option<&str>,
) -> Result<Response, UiError> {
    let chrome = Chrome::new(state, signed, Some(&org.slug)).await?;
    let channel_names = names(&state.store.list_alert_channels(org.id).await?);
    let (test, deliveries) = match rule {
        Some(r) => {
            let test = match test {
                Some(raw) => {
                    test_view(&state.store, raw, &channel_names, |d| {
                        d.org_id == org.id
                            && d.project_id == project.id
                            && (d.rule_id == Some(r.id) || d.message.rule_id == Some(r.id))
                    })
                    .await?
                }
                None => None,
            };
            let log = state
                .store
                .list_deliveries(&DeliveryFilter {
                    project_id: Some(project.id),
                    rule_id: Some(r.id),
                    limit: LOG,
                    ..Default::default()
                })
                .await?;
            let rows = log
                .iter()
                .map(|d| DeliveryRow::new(d, &channel_names))
                .collect();
            (test, rows)
        }
        None => (None, Vec::new()),
    };
    render(&RulePage {
        chrome,
        nav: OrgNav::new(signed, org, "projects"),
        notice,
        project_slug: project.slug.clone(),
        project_name: project.name.clone(),
        rule: rule.map(|r| rule_row(r, &channel_names)),
        action: match rule {
            Some(r) => rule_path(project, r.id),
            None => alerts_path(project),
        },
        form,
        levels: LEVELS,
        test,
        deliveries,
    })
}

async fn new(
    State(state): State<AppState>,
    signed: SignedIn,
    Path((org, project)): Path<(String, String)>,
) -> Result<Response, UiError> {
    let (org, project) = visible(&state, &signed, &org, &project).await?;
    require(&signed, Action::ManageProjects, org.id)?;
    let form = FormView::blank(&channel_choices(&state, org.id).await?);
    show_rule(&state, &signed, &org, &project, None, form, None, None).await
}

async fn page(
    State(state): State<AppState>,
    signed: SignedIn,
    Path((org, project, id)): Path<(String, String, i64)>,
    Query(q): Query<PageQuery>,
) -> Result<Response, UiError> {
    let (org, project) = visible(&state, &signed, &org, &project).await?;
    let rule = rule_of(&state, &project, id).await?;
    let form = FormView::of(&rule, &channel_choices(&state, org.id).await?);
    let test = (!q.test.is_empty()).then_some(q.test.as_str());
    let notice = Notice::from_code(&q.notice);
    show_rule(
        &state,
        &signed,
        &org,
        &project,
        Some(&rule),
        form,
        notice,
        test,
    )
    .await
}

/// A refusal as the notice the form shows.
fn refused(e: StoreError) -> Result<Notice, UiError> {
    match e {
        StoreError::Invalid { field, reason } => {
            let field = match field {
                "name" => "Name",
                "conditions" => "Conditions",
                "filters" => "Filters",
                "channels" => "Channels",
                "action_interval_minutes" => "Interval",
                _ => "Rule",
            };
            Ok(Notice::error(format!("{field}: {reason}.")))
        }
        e => Err(e.into()),
    }
}

async fn create(
    State(state): State<AppState>,
    signed: SignedIn,
    Path((org, project)): Path<(String, String)>,
    CsrfForm(form): CsrfForm<RuleForm>,
) -> Result<Response, UiError> {
    let (org, project) = visible(&state, &signed, &org, &project).await?;
    require(&signed, Action::ManageProjects, org.id)?;
    let saved = async {
        let mut rule = form.rule(&project, None)?;
        rule.created_by = Some(signed.access.user.id);
        check_rule(&state.store, org.id, &mut rule.spec).await?;
        state.store.create_alert_rule(&rule).await
    };
    match saved.await {
        Ok(rule) => done(&rule_path(&project, rule.id), "rule_created"),
        Err(e) => {
            let notice = refused(e)?;
            let view =
                FormView::from_form(&form, &channel_choices(&state, org.id).await?, Vec::new());
            let page = show_rule(
                &state,
                &signed,
                &org,
                &project,
                None,
                view,
                Some(notice),
                None,
            )
            .await;
            with_status(page, StatusCode::UNPROCESSABLE_ENTITY)
        }
    }
}

async fn update(
    State(state): State<AppState>,
    signed: SignedIn,
    Path((org, project, id)): Path<(String, String, i64)>,
    CsrfForm(form): CsrfForm<RuleForm>,
) -> Result<Response, UiError> {
    let (org, project) = visible(&state, &signed, &org, &project).await?;
    let current = rule_of(&state, &project, id).await?;
    require(&signed, Action::ManageProjects, org.id)?;
    let saved = async {
        let mut rule = form.rule(&project, Some(&current))?;
        rule.created_by = current.created_by;
        check_rule(&state.store, org.id, &mut rule.spec).await?;
        state.store.update_alert_rule(current.id, &rule).await
    };
    match saved.await {
        Ok(rule) => done(&rule_path(&project, rule.id), "rule_saved"),
        Err(e) => {
            let notice = refused(e)?;
            let (c, f) = extras(&current.spec);
            let kept = c
                .iter()
                .map(Condition::describe)
                .chain(f.iter().map(Filter::describe))
                .collect();
            let view = FormView::from_form(&form, &channel_choices(&state, org.id).await?, kept);
            let page = show_rule(
                &state,
                &signed,
                &org,
                &project,
                Some(&current),
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
    Path((org, project, id)): Path<(String, String, i64)>,
    CsrfForm(form): CsrfForm<DeleteForm>,
) -> Result<Response, UiError> {
    let (org, project) = visible(&state, &signed, &org, &project).await?;
    let rule = rule_of(&state, &project, id).await?;
    require(&signed, Action::ManageProjects, org.id)?;
    if form.confirm != "yes" {
        let view = FormView::of(&rule, &channel_choices(&state, org.id).await?);
        let notice = Notice::error("Tick the box to confirm the deletion.");
        let page = show_rule(
            &state,
            &signed,
            &org,
            &project,
            Some(&rule),
            view,
            Some(notice),
            None,
        )
        .await;
        return with_status(page, StatusCode::UNPROCESSABLE_ENTITY);
    }
    state
        .store
        .delete_alert_rule(rule.id)
        .await
        .map_err(missing("rule"))?;
    done(&alerts_path(&project), "rule_deleted")
}

/// Queues the rule's test notification, waits a little for the worker, and
/// shows the rule's page with the outcome.
async fn test(
    State(state): State<AppState>,
    signed: SignedIn,
    Path((org, project, id)): Path<(String, String, i64)>,
    _: CsrfForm,
) -> Result<Response, UiError> {
    let (org, project) = visible(&state, &signed, &org, &project).await?;
    let rule = rule_of(&state, &project, id).await?;
    require(&signed, Action::ManageProjects, org.id)?;
    let queued = match shared::test_rule(&state, &project, &rule, &signed.access.user).await {
        Ok(q) => q,
        Err(e) => {
            let notice = refused(e)?;
            let view = FormView::of(&rule, &channel_choices(&state, org.id).await?);
            let page = show_rule(
                &state,
                &signed,
                &org,
                &project,
                Some(&rule),
                view,
                Some(notice),
                None,
            )
            .await;
            return with_status(page, StatusCode::UNPROCESSABLE_ENTITY);
        }
    };
    let (deliveries, _) = shared::wait_for_outcome(&state, queued).await?;
    let to = format!(
        "{}?test={}#test",
        rule_path(&project, rule.id),
        test_query(&deliveries)
    );
    Ok(Redirect::to(&to).into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MuteForm {
    muted: String,
}

async fn mute(
    State(state): State<AppState>,
    signed: SignedIn,
    Path((org, project)): Path<(String, String)>,
    CsrfForm(form): CsrfForm<MuteForm>,
) -> Result<Response, UiError> {
    let (org, project) = visible(&state, &signed, &org, &project).await?;
    require(&signed, Action::ManageProjects, org.id)?;
    let muted = match form.muted.as_str() {
        "true" => true,
        "false" => false,
        _ => return Err(UiError::BadRequest("say whether to mute the alerts".into())),
    };
    state
        .store
        .set_project_alerts_muted(project.id, muted)
        .await?;
    done(
        &alerts_path(&project),
        if muted {
            "alerts_muted"
        } else {
            "alerts_unmuted"
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_make_rules() {
        let form = RuleForm {
            name: " Hot issues ".into(),
            new_issue: "on".into(),
            frequency_count: "100".into(),
            frequency_minutes: "5".into(),
            environment: "production".into(),
            level: "error".into(),
            tag_key: "browser".into(),
            tag_match: "contains".into(),
            tag_value: "Firefox".into(),
            channel: vec!["7".into()],
            interval: "".into(),
            enabled: "on".into(),
            ..Default::default()
        };
        let project = corral_core::model::Project {
            id: 1,
            org_id: 1,
            org_slug: "acme".into(),
            slug: "backend".into(),
            name: "Backend".into(),
            platform: None,
            retention_days: None,
            rate_limit: Default::default(),
            grouping_config: "corral:2026-11".into(),
            created_at: chrono::Utc::now(),
        };
        let rule = form.rule(&project, None).unwrap();
        assert_eq!(rule.name, "Hot issues");
        assert!(rule.enabled);
        assert_eq!(
            rule.spec.conditions,
            vec![
                Condition::NewIssue,
                Condition::Frequency {
                    count: 100,
                    minutes: 5
                }
            ]
        );
        assert_eq!(rule.spec.filters.len(), 3);
        assert_eq!(rule.spec.channels, vec![7]);
        assert_eq!(
            rule.spec.action_interval_minutes,
            DEFAULT_ACTION_INTERVAL_MINUTES
        );
        // what the form shows is what it was made of
        let stored = AlertRule {
            id: 3,
            project_id: 1,
            name: rule.name.clone(),
            enabled: true,
            spec: rule.spec.clone(),
            created_by: None,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        };
        let view = FormView::of(&stored, &[(7, "ops".into())]);
        assert!(view.new_issue && !view.regression);
        assert_eq!(view.frequency_count, "100");
        assert!(view.tag_contains);
        assert!(view.channels[0].checked);
        assert!(view.kept.is_empty());

        let half = RuleForm {
            users_count: "10".into(),
            ..Default::default()
        };
        let err = half.rule(&project, None).unwrap_err();
        assert!(
            matches!(err, StoreError::Invalid { field: "name", .. }),
            "{err}"
        );
        let half = RuleForm {
            name: "x".into(),
            users_count: "10".into(),
            ..Default::default()
        };
        let err = half.rule(&project, None).unwrap_err();
        assert!(err.to_string().contains("minutes"), "{err}");
    }

    #[test]
    fn what_the_form_cannot_show_is_kept() {
        let spec = RuleSpec {
            conditions: vec![
                Condition::Frequency {
                    count: 1,
                    minutes: 1,
                },
                Condition::Frequency {
                    count: 50,
                    minutes: 60,
                },
            ],
            filters: vec![
                Filter::Environment { value: "a".into() },
                Filter::Environment { value: "b".into() },
            ],
            channels: vec![1],
            action_interval_minutes: 30,
        };
        let (c, f) = extras(&spec);
        assert_eq!(
            c,
            vec![Condition::Frequency {
                count: 50,
                minutes: 60
            }]
        );
        assert_eq!(f, vec![Filter::Environment { value: "b".into() }]);
    }
}
