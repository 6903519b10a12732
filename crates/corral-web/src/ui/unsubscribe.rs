//! `/unsubscribe/{token}/{scope}`: the link every mail carries, which works
//! without signing in. GET says what will be turned off and offers a
//! button (so that a link scanner fetching the page turns nothing off);
//! POST turns it off: one of the person's mail settings (`alerts`,
//! `assigned`, `workflow`), or their mail about one issue (`issue-<id>`).
//!
//! The token is the credential: it is the person's own, random, and can
//! only turn mail off. So the POST needs no session and reads no body: it
//! is also RFC 8058's one-click unsubscribe, which mail providers send
//! (`List-Unsubscribe=One-Click`, urlencoded or multipart, without an
//! Origin). A POST that names another site as its Origin is still refused,
//! as every visitor's form is ([`VisitorPost`]).

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use corral_core::StoreError;
use corral_core::alerts::Unsubscribe;
use corral_core::model::{IssueId, User, format_short_id};

use super::{STYLESHEET_URL, UiError, UiRoutes, VisitorPost, render};
use crate::access::Access;
use crate::state::AppState;

pub fn routes() -> UiRoutes {
    UiRoutes::new().visitor_route("/unsubscribe/{token}/{scope}", get(page).post(unsubscribe))
}

/// What a link's scope names.
fn scope(raw: &str) -> Option<Unsubscribe> {
    Some(match raw {
        "alerts" => Unsubscribe::Alerts,
        "assigned" => Unsubscribe::Assigned,
        "workflow" => Unsubscribe::Workflow,
        other => {
            let id = other.strip_prefix("issue-")?;
            if !id.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Unsubscribe::Issue(id.parse::<IssueId>().ok().filter(|id| *id > 0)?)
        }
    })
}

#[derive(Template)]
#[template(path = "unsubscribe.html")]
struct UnsubscribePage {
    stylesheet: &'static str,
    /// Where the button posts.
    action: String,
    email: String,
    /// What is (or was) turned off: "alert mail of your teams' projects".
    what: String,
    /// Turned off by this request.
    done: bool,
}

/// The person a link is for, and what it turns off; 404 for a link that
/// names nobody or nothing.
async fn resolve(
    state: &AppState,
    token: &str,
    raw_scope: &str,
) -> Result<(User, Unsubscribe, String), UiError> {
    let invalid = UiError::InvalidLink("unsubscribe");
    let Some(what) = scope(raw_scope) else {
        return Err(invalid);
    };
    if token.len() > 128 {
        return Err(invalid);
    }
    let user_id = match state.store.user_by_unsubscribe_token(token).await {
        Ok(id) => id,
        Err(StoreError::NotFound(_)) => return Err(invalid),
        Err(e) => return Err(e.into()),
    };
    let user = match state.store.user_by_id(user_id).await {
        Ok(u) => u,
        Err(StoreError::NotFound(_)) => return Err(invalid),
        Err(e) => return Err(e.into()),
    };
    let text = match what {
        Unsubscribe::Alerts => "alert mail of your teams' projects".to_string(),
        Unsubscribe::Assigned => "mail about issues assigned to you".to_string(),
        Unsubscribe::Workflow => {
            "workflow mail (resolved, regressed) of the issues you subscribed to".to_string()
        }
        Unsubscribe::Issue(id) => {
            let issue = match state.store.issue_by_id(id).await {
                Ok(i) => i,
                Err(StoreError::NotFound(_)) => return Err(invalid),
                Err(e) => return Err(e.into()),
            };
            // the title only to someone who may still see the issue
            let access = Access::load(&state.store, user.clone()).await?;
            match access.project_by_id(&state.store, issue.project_id).await {
                Ok(p) => format!(
                    "mail about the issue {}: {}",
                    format_short_id(&p.slug, issue.short_id),
                    issue.title
                ),
                Err(_) => format!("mail about the issue {id}"),
            }
        }
    };
    Ok((user, what, text))
}

fn page_of(token: &str, raw_scope: &str, user: &User, what: String, done: bool) -> UnsubscribePage {
    UnsubscribePage {
        stylesheet: STYLESHEET_URL.as_str(),
        action: format!("/unsubscribe/{token}/{raw_scope}"),
        email: user.email.clone(),
        what,
        done,
    }
}

async fn page(
    State(state): State<AppState>,
    Path((token, raw_scope)): Path<(String, String)>,
) -> Result<Response, UiError> {
    let (user, _, what) = resolve(&state, &token, &raw_scope).await?;
    render(&page_of(&token, &raw_scope, &user, what, false))
}

async fn unsubscribe(
    State(state): State<AppState>,
    Path((token, raw_scope)): Path<(String, String)>,
    _: VisitorPost,
) -> Result<Response, UiError> {
    let (user, scope, what) = resolve(&state, &token, &raw_scope).await?;
    match scope {
        Unsubscribe::Issue(id) => {
            state
                .store
                .set_issue_subscription(id, user.id, Some(false))
                .await?
        }
        setting => {
            let mut settings = state.store.notification_settings(user.id).await?;
            match setting {
                Unsubscribe::Alerts => settings.alerts = false,
                Unsubscribe::Assigned => settings.assigned = false,
                _ => settings.workflow = false,
            }
            state
                .store
                .set_notification_settings(user.id, &settings)
                .await?;
        }
    }
    tracing::info!(user.id = user.id, scope = %raw_scope, "unsubscribed by link");
    render(&page_of(&token, &raw_scope, &user, what, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_of_links() {
        assert_eq!(scope("alerts"), Some(Unsubscribe::Alerts));
        assert_eq!(scope("workflow"), Some(Unsubscribe::Workflow));
        assert_eq!(scope("issue-42"), Some(Unsubscribe::Issue(42)));
        assert_eq!(scope("issue-x"), None);
        assert_eq!(scope("issue-+4"), None);
        assert_eq!(scope("issue-0"), None);
        assert_eq!(scope("everything"), None);
    }
}
