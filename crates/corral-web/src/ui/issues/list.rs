//! The issue list of an organization: status tabs with counts, sort,
//! filters and search, 25 issues a page with keyset cursors, a 24-hour
//! sparkline per issue, and bulk status changes.
//!
//! The page costs a bounded number of queries whatever the data: the list,
//! one count per tab, one sparkline query for the page's issues, and the
//! members and teams only when an issue on the page has an assignee.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::Query;
use chrono::Utc;
use corral_core::model::{Assignee, Issue, IssueStatus, Project, format_short_id};
use corral_core::search::parse_query_as;
use corral_core::{IssueCursor, IssueQuery, IssueSort, StatusChange};
use serde::Deserialize;

use super::super::charts::{self, Chart};
use super::super::{Chrome, CsrfForm, UiError, render};
use super::when::When;
use super::{People, encode, notice_text, visible_org};
use crate::access::Action;
use crate::activity;
use crate::session::SignedIn;
use crate::state::AppState;

/// Issues per page.
const PAGE_SIZE: u32 = 25;
/// Pages remembered for the "previous" link; going back further leads to
/// the first page.
const MAX_BACK: usize = 100;
/// Most issues one bulk change may name.
const MAX_BULK: usize = 100;

#[derive(Deserialize, Default)]
pub(super) struct ListParams {
    #[serde(default)]
    project: Vec<String>,
    status: Option<String>,
    query: Option<String>,
    sort: Option<String>,
    level: Option<String>,
    environment: Option<String>,
    release: Option<String>,
    cursor: Option<String>,
    back: Option<String>,
    notice: Option<String>,
    n: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tab {
    Unresolved,
    Resolved,
    Ignored,
    All,
}

impl Tab {
    const ALL: [Tab; 4] = [Tab::Unresolved, Tab::Resolved, Tab::Ignored, Tab::All];

    fn key(self) -> &'static str {
        match self {
            Tab::Unresolved => "unresolved",
            Tab::Resolved => "resolved",
            Tab::Ignored => "ignored",
            Tab::All => "all",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Tab::Unresolved => "Unresolved",
            Tab::Resolved => "Resolved",
            Tab::Ignored => "Ignored",
            Tab::All => "All",
        }
    }

    fn status(self) -> Option<IssueStatus> {
        match self {
            Tab::Unresolved => Some(IssueStatus::Unresolved),
            Tab::Resolved => Some(IssueStatus::Resolved),
            Tab::Ignored => Some(IssueStatus::Ignored),
            Tab::All => None,
        }
    }

    fn of(status: Option<IssueStatus>) -> Tab {
        match status {
            Some(IssueStatus::Unresolved) => Tab::Unresolved,
            Some(IssueStatus::Resolved) => Tab::Resolved,
            Some(IssueStatus::Ignored) => Tab::Ignored,
            None => Tab::All,
        }
    }

    fn parse(s: &str) -> Option<Tab> {
        Tab::ALL.into_iter().find(|t| t.key() == s)
    }
}

const SORTS: [(&str, &str, IssueSort); 3] = [
    ("date", "Last seen", IssueSort::LastSeen),
    ("new", "First seen", IssueSort::FirstSeen),
    ("freq", "Events", IssueSort::TimesSeen),
];

const LEVELS: [&str; 5] = ["fatal", "error", "warning", "info", "debug"];

/// `is:unresolved` and the like name a tab; they are taken out of the
/// search when linking to another tab (other `is:` terms stay).
fn without_status_terms(query: &str) -> String {
    let mut terms = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in query.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    terms.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        terms.push(current);
    }
    terms
        .into_iter()
        .filter(|t| {
            t.strip_prefix("is:")
                .is_none_or(|v| v.parse::<IssueStatus>().is_err())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A search value quoted for the search language.
fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// What the page was asked for, to link to it with changes.
#[derive(Clone)]
struct View {
    org: String,
    projects: Vec<String>,
    tab: Tab,
    query: String,
    sort: &'static str,
    level: String,
    environment: String,
    release: String,
}

impl View {
    fn href(&self, tab: Tab, query: &str, cursor: Option<&str>, back: Option<&str>) -> String {
        let mut params: Vec<(&str, &str)> = Vec::new();
        for p in &self.projects {
            params.push(("project", p));
        }
        if tab != Tab::Unresolved {
            params.push(("status", tab.key()));
        }
        for (k, v) in [
            ("query", query),
            ("level", self.level.as_str()),
            ("environment", self.environment.as_str()),
            ("release", self.release.as_str()),
        ] {
            if !v.is_empty() {
                params.push((k, v));
            }
        }
        if self.sort != "date" {
            params.push(("sort", self.sort));
        }
        if let Some(c) = cursor {
            params.push(("cursor", c));
        }
        if let Some(b) = back.filter(|b| !b.is_empty()) {
            params.push(("back", b));
        }
        let mut url = format!("/organizations/{}/issues/", encode(&self.org));
        for (i, (k, v)) in params.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(k);
            url.push('=');
            url.push_str(&encode(v));
        }
        url
    }

    /// The search the filters and the box make together.
    fn search(&self) -> String {
        let mut s = self.query.clone();
        for (key, value) in [
            ("level", &self.level),
            ("environment", &self.environment),
            ("release", &self.release),
        ] {
            if !value.is_empty() {
                s.push_str(&format!(" {key}:{}", quoted(value)));
            }
        }
        s
    }
}

fn parse_cursor(s: &str) -> Option<IssueCursor> {
    let (value, id) = s.split_once(':')?;
    Some(IssueCursor {
        sort_value: value.parse().ok()?,
        id: id.parse().ok()?,
    })
}

fn cursor_of(issue: &Issue, sort: IssueSort) -> String {
    let value = match sort {
        IssueSort::LastSeen => issue.last_seen.timestamp_millis(),
        IssueSort::FirstSeen => issue.first_seen.timestamp_millis(),
        IssueSort::TimesSeen => issue.times_seen,
    };
    format!("{value}:{}", issue.id)
}

struct TabView {
    label: &'static str,
    href: String,
    count: Option<i64>,
    current: bool,
}

struct Choice {
    value: String,
    label: String,
    selected: bool,
}

struct Row {
    id: i64,
    href: String,
    title: String,
    culprit: String,
    level: &'static str,
    project: String,
    short_id: String,
    count: i64,
    first_seen: When,
    last_seen: When,
    spark: Chart,
    assignee: Option<String>,
    status: &'static str,
}

#[derive(Template)]
#[template(path = "issues/list.html")]
struct ListPage {
    chrome: Chrome,
    org: String,
    org_name: String,
    notice: Option<String>,
    error: Option<String>,
    tabs: Vec<TabView>,
    tab: &'static str,
    sorts: Vec<Choice>,
    levels: Vec<Choice>,
    projects: Vec<Choice>,
    projects_chosen: usize,
    query: String,
    environment: String,
    release: String,
    rows: Vec<Row>,
    prev: Option<String>,
    next: Option<String>,
    return_to: String,
    can_triage: bool,
    no_projects: bool,
}

pub(super) async fn page(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(org_slug): Path<String>,
    params: Result<Query<ListParams>, axum_extra::extract::QueryRejection>,
) -> Result<Response, UiError> {
    let Query(params) = params.map_err(|e| bad_request(format!("invalid query: {e}")))?;
    let org = visible_org(&state, &signed, &org_slug).await?;
    let (chrome, visible) =
        futures::try_join!(Chrome::new(&state, &signed, Some(&org.slug)), async {
            Ok(signed.access.projects_of(&state.store, org.id).await?)
        })?;

    // the projects asked for must all be visible; unknown and invisible
    // ones are alike
    let mut chosen: Vec<&Project> = Vec::new();
    for slug in params.project.iter().filter(|s| !s.is_empty()) {
        match visible.iter().find(|p| &p.slug == slug) {
            Some(p) if !chosen.iter().any(|c| c.id == p.id) => chosen.push(p),
            Some(_) => {}
            None => return Err(UiError::NotFound("project")),
        }
    }
    let Some((sort_key, _, sort)) = SORTS
        .iter()
        .find(|(k, _, _)| *k == params.sort.as_deref().unwrap_or("date"))
        .copied()
    else {
        return Err(bad_request("unknown sort: expected date, new or freq"));
    };
    let asked_tab = match non_empty(&params.status) {
        None => Tab::Unresolved,
        Some(s) => match Tab::parse(s) {
            Some(t) => t,
            None => {
                return Err(bad_request(
                    "unknown status: expected unresolved, resolved, ignored or all",
                ));
            }
        },
    };
    let level = non_empty(&params.level).unwrap_or("").to_string();
    let mut view = View {
        org: org.slug.clone(),
        projects: chosen.iter().map(|p| p.slug.clone()).collect(),
        tab: asked_tab,
        query: params.query.as_deref().unwrap_or("").trim().to_string(),
        sort: sort_key,
        level,
        environment: non_empty(&params.environment).unwrap_or("").to_string(),
        release: non_empty(&params.release).unwrap_or("").to_string(),
    };
    let cursor = match non_empty(&params.cursor) {
        None => None,
        Some(c) => match parse_cursor(c) {
            Some(c) => Some(c),
            None => return Err(bad_request("invalid cursor")),
        },
    };
    let back: Vec<String> = match non_empty(&params.back) {
        None => Vec::new(),
        Some(b) => {
            let list: Vec<String> = b.split(',').map(str::to_string).collect();
            if list.iter().any(|c| c != "-" && parse_cursor(c).is_none()) {
                return Err(bad_request("invalid cursor"));
            }
            list
        }
    };

    let mut page = ListPage {
        chrome,
        org: org.slug.clone(),
        org_name: org.name.clone(),
        notice: params
            .notice
            .as_deref()
            .and_then(|k| notice_text(k, params.n.as_deref().and_then(|n| n.parse().ok()))),
        error: None,
        tabs: Vec::new(),
        tab: asked_tab.key(),
        sorts: SORTS
            .iter()
            .map(|(k, label, _)| Choice {
                value: k.to_string(),
                label: label.to_string(),
                selected: *k == sort_key,
            })
            .collect(),
        levels: LEVELS
            .iter()
            .map(|l| Choice {
                value: l.to_string(),
                label: l.to_string(),
                selected: *l == view.level,
            })
            .collect(),
        projects: visible
            .iter()
            .map(|p| Choice {
                value: p.slug.clone(),
                label: p.name.clone(),
                selected: chosen.iter().any(|c| c.id == p.id),
            })
            .collect(),
        projects_chosen: chosen.len(),
        query: view.query.clone(),
        environment: view.environment.clone(),
        release: view.release.clone(),
        rows: Vec::new(),
        prev: None,
        next: None,
        return_to: String::new(),
        can_triage: signed.access.can(Action::TriageIssues, org.id),
        no_projects: visible.is_empty(),
    };

    let tab_links = |view: &View, counts: Option<&[i64]>| -> Vec<TabView> {
        let query = without_status_terms(&view.query);
        Tab::ALL
            .iter()
            .enumerate()
            .map(|(i, t)| TabView {
                label: t.label(),
                href: view.href(*t, &query, None, None),
                count: counts.map(|c| c[i]),
                current: *t == view.tab,
            })
            .collect()
    };

    // an empty project list would mean "every project" to the store
    if visible.is_empty() {
        page.tabs = tab_links(&view, None);
        return render(&page);
    }
    let project_ids: Vec<i64> = if chosen.is_empty() {
        visible.iter().map(|p| p.id).collect()
    } else {
        chosen.iter().map(|p| p.id).collect()
    };

    let search = view.search();
    let me = if search.contains("assigned") {
        let teams = state.store.teams_of_user(signed.access.user.id).await?;
        let mut me = vec![Assignee::User(signed.access.user.id)];
        me.extend(
            teams
                .iter()
                .filter(|t| t.org_id == org.id)
                .map(|t| Assignee::Team(t.id)),
        );
        me
    } else {
        vec![Assignee::User(signed.access.user.id)]
    };
    let now = Utc::now();
    let base = IssueQuery {
        project_ids,
        status: asked_tab.status(),
        sort,
        limit: PAGE_SIZE + 1,
        ..Default::default()
    };
    let query = match parse_query_as(&search, base, now, Some(&me)) {
        Ok(q) => q,
        Err(e) => {
            page.error = Some(format!("Search not understood: {e}."));
            page.tabs = tab_links(&view, None);
            return Ok((StatusCode::BAD_REQUEST, render(&page)?).into_response());
        }
    };
    // an `is:` status in the search picks the tab
    view.tab = Tab::of(query.status);
    page.tab = view.tab.key();

    let listing = IssueQuery {
        cursor,
        ..query.clone()
    };
    // every tab's count from one pass over the matching issues
    let (mut issues, counts) = futures::try_join!(
        state.store.list_issues(&listing),
        state.store.count_issues_by_status(&query),
    )?;
    let [c0, c1, c2, c3] = Tab::ALL.map(|tab| counts.of(tab.status()));
    page.tabs = tab_links(&view, Some(&[c0, c1, c2, c3]));
    let more = issues.len() > PAGE_SIZE as usize;
    issues.truncate(PAGE_SIZE as usize);

    let (from, to) = charts::last_day(now);
    let ids: Vec<i64> = issues.iter().map(|i| i.id).collect();
    let any_assigned = issues.iter().any(|i| i.assignee.is_some());
    let (hourly, people) = futures::try_join!(
        async {
            if ids.is_empty() {
                Ok(Vec::new())
            } else {
                Ok(state.store.issues_hourly_counts(&ids, from, to).await?)
            }
        },
        async {
            if any_assigned {
                People::load(&state, org.id).await
            } else {
                Ok(People::default())
            }
        }
    )?;
    let mut per_issue: HashMap<i64, Vec<corral_core::model::CountBucket>> = HashMap::new();
    for (id, bucket) in hourly {
        per_issue.entry(id).or_default().push(bucket);
    }
    let project_slugs: HashMap<i64, &str> =
        visible.iter().map(|p| (p.id, p.slug.as_str())).collect();

    let this_cursor = cursor.map(|c| format!("{}:{}", c.sort_value, c.id));
    page.return_to = view.href(
        view.tab,
        &view.query,
        this_cursor.as_deref(),
        Some(&back.join(",")),
    );
    if this_cursor.is_some() {
        let (target, rest) = match back.split_last() {
            Some((last, rest)) => (Some(last.as_str()).filter(|c| *c != "-"), rest),
            None => (None, &[][..]),
        };
        page.prev = Some(view.href(view.tab, &view.query, target, Some(&rest.join(","))));
    }
    if more && let Some(last) = issues.last() {
        let mut stack = back.clone();
        stack.push(this_cursor.clone().unwrap_or_else(|| "-".into()));
        let skip = stack.len().saturating_sub(MAX_BACK);
        let next_cursor = cursor_of(last, sort);
        page.next = Some(view.href(
            view.tab,
            &view.query,
            Some(&next_cursor),
            Some(&stack[skip..].join(",")),
        ));
    }

    page.rows = issues
        .iter()
        .map(|i| {
            let slug = project_slugs.get(&i.project_id).copied().unwrap_or("");
            let buckets = per_issue.remove(&i.id).unwrap_or_default();
            Row {
                id: i.id,
                href: format!("/organizations/{}/issues/{}/", encode(&org.slug), i.id),
                title: i.title.clone(),
                culprit: i.culprit.clone(),
                level: i.level.as_str(),
                project: slug.to_string(),
                short_id: format_short_id(slug, i.short_id),
                count: i.times_seen,
                first_seen: When::new(i.first_seen, now),
                last_seen: When::new(i.last_seen, now),
                spark: charts::hourly("Events in the last 24 hours", &buckets, now, 96, 24),
                assignee: i.assignee.as_ref().map(|a| people.name(a)),
                status: i.status.as_str(),
            }
        })
        .collect();
    render(&page)
}

#[derive(Deserialize)]
pub(super) struct BulkForm {
    #[serde(default)]
    id: Vec<String>,
    #[serde(default)]
    action: String,
    #[serde(default)]
    return_to: String,
}

/// Where to go after a bulk change: back to the list page the form was on,
/// never anywhere else.
fn back_to(org: &str, return_to: &str) -> String {
    let list = format!("/organizations/{}/issues/", encode(org));
    let safe = return_to.starts_with(&list)
        && !return_to.contains("//")
        && !return_to.contains('\\')
        && !return_to.chars().any(char::is_control);
    if safe { return_to.to_string() } else { list }
}

fn with_notice(url: &str, notice: &str, n: Option<u64>) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    match n {
        Some(n) => format!("{url}{sep}notice={notice}&n={n}"),
        None => format!("{url}{sep}notice={notice}"),
    }
}

pub(super) async fn bulk(
    State(state): State<AppState>,
    signed: SignedIn,
    Path(org_slug): Path<String>,
    CsrfForm(form): CsrfForm<BulkForm>,
) -> Result<Response, UiError> {
    let org = visible_org(&state, &signed, &org_slug).await?;
    signed.access.require(Action::TriageIssues, org.id)?;
    let (change, notice) = match form.action.as_str() {
        "resolve" => (StatusChange::Resolve, "resolved"),
        "ignore" => (StatusChange::IgnoreForever, "ignored"),
        "unresolve" => (StatusChange::Unresolve, "unresolved"),
        _ => {
            return Err(bad_request(
                "unknown action: expected resolve, ignore or unresolve",
            ));
        }
    };
    let back = back_to(&org.slug, &form.return_to);
    if form.id.is_empty() {
        return Ok(Redirect::to(&with_notice(&back, "none_selected", None)).into_response());
    }
    if form.id.len() > MAX_BULK {
        return Err(bad_request(format!(
            "at most {MAX_BULK} issues can be changed at once"
        )));
    }
    let mut ids = Vec::with_capacity(form.id.len());
    for id in &form.id {
        match id.parse::<i64>() {
            Ok(id) if !ids.contains(&id) => ids.push(id),
            Ok(_) => {}
            Err(_) => return Err(bad_request("invalid issue id")),
        }
    }
    let visible: Vec<i64> = signed
        .access
        .projects_of(&state.store, org.id)
        .await?
        .iter()
        .map(|p| p.id)
        .collect();
    // only issues of projects the user sees change; the others are left
    // alone as if they did not exist
    let found = futures::future::join_all(ids.iter().map(|id| state.store.issue_by_id(*id))).await;
    let mut allowed = Vec::new();
    for issue in found {
        match issue {
            Ok(i) if visible.contains(&i.project_id) => allowed.push(i),
            Ok(_) | Err(corral_core::StoreError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let changed = if allowed.is_empty() {
        0
    } else {
        let ids: Vec<i64> = allowed.iter().map(|i| i.id).collect();
        let changed = state.store.set_issues_status(&ids, change.clone()).await?;
        for issue in &allowed {
            activity::status_changed(&state.store, issue, &change, signed.access.user.id).await?;
        }
        changed
    };
    Ok(Redirect::to(&with_notice(&back, notice, Some(changed))).into_response())
}

fn bad_request(message: impl Into<String>) -> UiError {
    UiError::BadRequest(message.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_terms_leave_the_search_for_tab_links() {
        assert_eq!(
            without_status_terms(r#"is:resolved level:error "is:ignored x" is:assigned  y"#),
            r#"level:error "is:ignored x" is:assigned y"#
        );
    }

    #[test]
    fn links_keep_the_view() {
        let v = View {
            org: "acme".into(),
            projects: vec!["a".into(), "b c".into()],
            tab: Tab::Resolved,
            query: "x".into(),
            sort: "freq",
            level: "error".into(),
            environment: String::new(),
            release: "1.0 \"b\"".into(),
        };
        assert_eq!(
            v.href(Tab::Resolved, "x y", Some("5:9"), Some("-,1:2")),
            "/organizations/acme/issues/?project=a&project=b%20c&status=resolved&query=x%20y&level=error&release=1.0%20%22b%22&sort=freq&cursor=5%3A9&back=-%2C1%3A2"
        );
        assert_eq!(v.search(), r#"x level:"error" release:"1.0 \"b\"""#);
    }

    #[test]
    fn bulk_changes_return_only_to_the_list() {
        assert_eq!(
            back_to("acme", "/organizations/acme/issues/?status=all"),
            "/organizations/acme/issues/?status=all"
        );
        for bad in [
            "https://evil.example/",
            "//evil.example/organizations/acme/issues/",
            "/organizations/acme/issues/\\@evil",
            "/organizations/other/issues/",
        ] {
            assert_eq!(back_to("acme", bad), "/organizations/acme/issues/", "{bad}");
        }
        assert_eq!(
            with_notice("/x/?a=1", "resolved", Some(2)),
            "/x/?a=1&notice=resolved&n=2"
        );
    }
}
