//! Settings: the user's account (with their mail settings), and per
//! organization its name, members (with invitations), teams, projects
//! (with DSN keys and alert rules) and alert channels.
//!
//! Every member of an organization may read its settings; changing them
//! needs the role [`Access`](crate::access::Access) asks for (403), and
//! users of other organizations get 404. Each POST handler reads its form
//! through [`CsrfForm`](super::CsrfForm), which checks the CSRF token first,
//! then redirects (303) with a notice code, or shows the page again with the
//! problem when the input was refused.

mod account;
mod alerts;
mod channels;
mod deliveries;
mod members;
mod organization;
mod projects;
mod teams;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use corral_core::StoreError;
use corral_core::model::{OrgId, Organization};
use serde::Deserialize;

use super::{UiError, UiRoutes};
use crate::access::Action;
use crate::session::SignedIn;
use crate::state::AppState;

pub fn routes() -> UiRoutes {
    UiRoutes::new()
        .merge(account::routes())
        .merge(organization::routes())
        .merge(members::routes())
        .merge(teams::routes())
        .merge(projects::routes())
        .merge(channels::routes())
        .merge(alerts::routes())
}

/// A message at the top of a page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub error: bool,
    pub text: String,
}

impl Notice {
    pub fn ok(text: impl Into<String>) -> Notice {
        Notice {
            error: false,
            text: text.into(),
        }
    }

    pub fn error(text: impl Into<String>) -> Notice {
        Notice {
            error: true,
            text: text.into(),
        }
    }

    /// The notice a redirect named with `?notice=`. Only known codes, so a
    /// link cannot put words of its own on our pages.
    fn from_code(code: &str) -> Option<Notice> {
        let text = match code {
            "saved" => "Saved.",
            "renamed" => "The name was changed.",
            "password_changed" => "Your password was changed; your other sessions were ended.",
            "sessions_ended" => "Your other sessions were ended.",
            "token_deleted" => "The token was deleted.",
            "role_changed" => "The role was changed.",
            "member_removed" => "The member was removed.",
            "invitation_revoked" => "The invitation was revoked.",
            "team_created" => "The team was created.",
            "team_deleted" => "The team was deleted.",
            "member_added" => "The member was added to the team.",
            "team_member_removed" => "The member was removed from the team.",
            "project_added" => "The project was added to the team.",
            "project_removed" => "The project was removed from the team.",
            "project_created" => "The project was created.",
            "project_deleted" => "The project was deleted.",
            "team_added" => "The team was given the project.",
            "team_removed" => "The team no longer has the project.",
            "key_created" => "A new key was created.",
            "key_saved" => "The key was saved.",
            "key_enabled" => "The key was enabled.",
            "key_disabled" => "The key was disabled: events sent with it are refused.",
            "key_deleted" => "The key was deleted.",
            "channel_created" => "The channel was created.",
            "channel_saved" => "The channel was saved.",
            "channel_deleted" => "The channel was deleted.",
            "rule_created" => "The rule was created.",
            "rule_saved" => "The rule was saved.",
            "rule_deleted" => "The rule was deleted.",
            "alerts_muted" => "The project's alerts are muted.",
            "alerts_unmuted" => "The project's alerts are on again.",
            "notifications_saved" => "Your mail settings were saved.",
            _ => return None,
        };
        Some(Notice::ok(text))
    }
}

/// `?notice=` of a page.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NoticeQuery {
    notice: String,
}

impl NoticeQuery {
    pub fn notice(&self) -> Option<Notice> {
        Notice::from_code(&self.notice)
    }
}

/// The tabs of an organization's settings.
#[derive(Clone, Debug)]
pub struct OrgNav {
    pub slug: String,
    pub name: String,
    /// `organization`, `members`, `teams`, `projects` or `channels`.
    pub current: &'static str,
    /// Admins and owners: projects, keys, teams, invitations.
    pub can_manage_projects: bool,
    /// Owners: the organization and every member.
    pub can_manage_org: bool,
}

impl OrgNav {
    pub fn new(signed: &SignedIn, org: &Organization, current: &'static str) -> OrgNav {
        OrgNav {
            slug: org.slug.clone(),
            name: org.name.clone(),
            current,
            can_manage_projects: signed.access.can(Action::ManageProjects, org.id),
            can_manage_org: signed.access.can(Action::ManageOrganization, org.id),
        }
    }

    /// `aria-current` for the tab `name`.
    pub fn is(&self, name: &str) -> bool {
        self.current == name
    }
}

/// The organization, if the user belongs to it (404 otherwise).
pub async fn organization(
    state: &AppState,
    signed: &SignedIn,
    slug: &str,
) -> Result<Organization, UiError> {
    Ok(signed.access.organization(&state.store, slug).await?)
}

/// 403 unless the user's role allows `action`.
pub fn require(signed: &SignedIn, action: Action, org_id: OrgId) -> Result<(), UiError> {
    Ok(signed.access.require(action, org_id)?)
}

/// 303 to `path` with a notice code.
pub fn done(path: &str, notice: &str) -> Result<Response, UiError> {
    Ok(Redirect::to(&format!("{path}?notice={notice}")).into_response())
}

/// A refused input as a notice (with its status); other store failures as
/// their error pages.
pub fn refusal(e: StoreError) -> Result<(StatusCode, Notice), UiError> {
    match e {
        StoreError::Invalid { reason, .. } => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            Notice::error(capital(&reason)),
        )),
        StoreError::Conflict(what) => Ok((
            StatusCode::CONFLICT,
            Notice::error(capital(&format!("{what} already exists"))),
        )),
        e => Err(e.into()),
    }
}

fn capital(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => {
            let mut out: String = first.to_uppercase().collect();
            out.push_str(chars.as_str());
            if !out.ends_with('.') {
                out.push('.');
            }
            out
        }
        None => String::new(),
    }
}

/// A slug from a name: lowercase letters and digits, other runs as `-`.
pub fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.trim().chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    slug.chars()
        .take(50)
        .collect::<String>()
        .trim_end_matches('-')
        .to_string()
}

/// The slug typed, else one made from the name.
pub fn chosen_slug(slug: &str, name: &str) -> String {
    let slug = slug.trim();
    if slug.is_empty() {
        slugify(name)
    } else {
        slug.to_string()
    }
}

/// A display name for a user: the name, else the email.
pub fn display_name(user: &corral_core::model::User) -> String {
    if user.name.trim().is_empty() {
        user.email.clone()
    } else {
        user.name.clone()
    }
}

/// Dates as the settings pages show them.
pub fn day(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

pub fn minute(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Sets a page's status (pages shown again after a refused input).
pub fn with_status(
    page: Result<Response, UiError>,
    status: StatusCode,
) -> Result<Response, UiError> {
    let mut response = page?;
    if response.status() == StatusCode::OK {
        *response.status_mut() = status;
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_from_names() {
        assert_eq!(slugify("Web App"), "web-app");
        assert_eq!(slugify("  Ünïcode & Friends!! "), "n-code-friends");
        assert_eq!(slugify("---"), "");
        assert_eq!(slugify(&"a".repeat(80)).len(), 50);
        assert_eq!(chosen_slug(" api ", "Whatever"), "api");
        assert_eq!(chosen_slug("", "Back End"), "back-end");
    }

    #[test]
    fn only_known_notice_codes_show() {
        assert_eq!(Notice::from_code("saved"), Some(Notice::ok("Saved.")));
        assert_eq!(Notice::from_code("Your account is locked, call 555"), None);
    }

    #[test]
    fn refusals_read_as_sentences() {
        let (status, notice) = refusal(StoreError::Invalid {
            field: "role",
            reason: "the organization needs an owner".into(),
        })
        .unwrap();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(notice, Notice::error("The organization needs an owner."));
        let (status, _) = refusal(StoreError::Conflict("project".into())).unwrap();
        assert_eq!(status, StatusCode::CONFLICT);
        assert!(refusal(StoreError::Database("down".into())).is_err());
    }
}
