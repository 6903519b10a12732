//! Path parameters of the API, named as in Sentry's paths.

use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct OrgPath {
    /// The organization's slug.
    pub org: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProjectPath {
    /// The organization's slug.
    pub org: String,
    /// The project's slug.
    pub project: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct KeyPath {
    /// The organization's slug.
    pub org: String,
    /// The project's slug.
    pub project: String,
    /// The key's public key.
    pub key_id: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProjectEventPath {
    /// The organization's slug.
    pub org: String,
    /// The project's slug.
    pub project: String,
    /// 32 hex digits.
    pub event_id: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ProjectTeamPath {
    /// The organization's slug.
    pub org: String,
    /// The project's slug.
    pub project: String,
    /// The team's slug.
    pub team: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TeamPath {
    /// The organization's slug.
    pub org: String,
    /// The team's slug.
    pub team: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MemberPath {
    /// The organization's slug.
    pub org: String,
    /// The member's user id, or `me`.
    pub member_id: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct MemberTeamPath {
    /// The organization's slug.
    pub org: String,
    /// The member's user id, or `me`.
    pub member_id: String,
    /// The team's slug.
    pub team: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct IssuePath {
    /// The issue's id.
    pub id: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct IssueEventPath {
    /// The issue's id.
    pub id: String,
    /// 32 hex digits.
    pub event_id: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TagPath {
    /// The issue's id.
    pub id: String,
    /// The tag key, e.g. `browser`.
    pub key: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ChannelPath {
    /// The organization's slug.
    pub org: String,
    /// The alert channel's id.
    pub channel_id: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RulePath {
    /// The organization's slug.
    pub org: String,
    /// The project's slug.
    pub project: String,
    /// The alert rule's id.
    pub rule_id: String,
}
