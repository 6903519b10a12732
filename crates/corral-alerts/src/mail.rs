//! Alert and workflow mail over SMTP (lettre).
//!
//! One message per recipient, `multipart/alternative` (plain text and
//! HTML), each with the reader's own unsubscribe links: the
//! `List-Unsubscribe: <{base_url}/unsubscribe/{token}/{scope}>` header with
//! `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058), so mail
//! clients offer a one-click unsubscribe, and the same links in the body.
//! Scopes: `alerts`, `assigned`, `workflow` and `issue-<id>`; the web
//! serves `GET/POST /unsubscribe/{token}/{scope}`.
//!
//! Plain addresses of an email channel that belong to no Corral user have
//! no token: their mail carries no `List-Unsubscribe` header and its
//! footer says to ask the organization's admins to remove the address.
//! An address that is a user's is treated as that user (their settings
//! apply and they get their links).
//!
//! The transport is built the way corral-web builds its own (`smtp_url`,
//! a command timeout), with the alerts' own timeout per message.

use std::collections::HashSet;
use std::time::Duration;

use corral_core::alerts::{EmailTargets, Unsubscribe};
use corral_core::config::Config;
use corral_core::model::{OrgId, ProjectId, User, UserId};
use corral_core::{SharedStore, StoreError, StoreResult};
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::render::MailBody;

/// Why mail could not be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    #[error("mail is not configured (set CORRAL_SMTP_URL and CORRAL_BASE_URL)")]
    NotConfigured,
    /// The text never carries the URL, which may hold a password.
    #[error("the SMTP URL is not usable: {0}")]
    Url(String),
    #[error("{address:?} is not a mail address: {reason}")]
    Address { address: String, reason: String },
    #[error("building the message failed: {0}")]
    Message(String),
    /// The server refused for good (5xx) or the message is wrong.
    #[error("{0}")]
    Permanent(String),
    /// A 4xx answer, a timeout, a lost connection: trying later may work.
    #[error("{0}")]
    Transient(String),
}

impl MailError {
    pub fn is_transient(&self) -> bool {
        matches!(self, MailError::Transient(_))
    }
}

/// The path segment of an unsubscribe link.
pub fn scope(what: Unsubscribe) -> String {
    match what {
        Unsubscribe::Alerts => "alerts".into(),
        Unsubscribe::Assigned => "assigned".into(),
        Unsubscribe::Workflow => "workflow".into(),
        Unsubscribe::Issue(id) => format!("issue-{id}"),
    }
}

/// `scope`'s inverse, for the web's unsubscribe page.
pub fn parse_scope(s: &str) -> Option<Unsubscribe> {
    Some(match s {
        "alerts" => Unsubscribe::Alerts,
        "assigned" => Unsubscribe::Assigned,
        "workflow" => Unsubscribe::Workflow,
        _ => {
            let id = s.strip_prefix("issue-")?;
            if id.starts_with('+') {
                return None;
            }
            Unsubscribe::Issue(id.parse().ok().filter(|id: &i64| *id > 0)?)
        }
    })
}

/// `{base_url}/unsubscribe/{token}/{scope}`.
pub fn unsubscribe_url(base_url: &str, token: &str, what: Unsubscribe) -> String {
    format!(
        "{}/unsubscribe/{token}/{}",
        base_url.trim_end_matches('/'),
        scope(what)
    )
}

/// One mailbox to write to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    pub address: String,
    /// The user it belongs to (who gets unsubscribe links); `None` for a
    /// plain address.
    pub user_id: Option<UserId>,
}

/// Sends mail; cheap to clone.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    base_url: String,
    timeout: Duration,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// The sender: `smtp_from`, else `corral@<host of base_url>`.
fn sender(config: &Config) -> Result<Mailbox, MailError> {
    let from = match &config.smtp_from {
        Some(from) => from.clone(),
        None => {
            let host = config
                .base_url
                .as_deref()
                .and_then(|u| url::Url::parse(u).ok())
                .and_then(|u| u.host_str().map(str::to_string))
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "localhost".into());
            format!("Corral <corral@{host}>")
        }
    };
    mailbox(&from)
}

fn mailbox(address: &str) -> Result<Mailbox, MailError> {
    address
        .trim()
        .parse()
        .map_err(|e: lettre::address::AddressError| MailError::Address {
            address: address.to_string(),
            reason: e.to_string(),
        })
}

impl Mailer {
    /// `None` when mail is not configured: it needs `smtp_url` and, for
    /// the links, `base_url`.
    pub fn from_config(config: &Config) -> Result<Option<Mailer>, MailError> {
        let (Some(url), Some(base_url)) = (&config.smtp_url, &config.base_url) else {
            return Ok(None);
        };
        let timeout = Duration::from_secs(config.alerts.delivery_timeout_secs.max(1));
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
            .map_err(|e| MailError::Url(e.to_string()))?
            .timeout(Some(timeout))
            .build();
        Ok(Some(Mailer {
            transport,
            from: sender(config)?,
            base_url: base_url.trim_end_matches('/').to_string(),
            timeout,
        }))
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Builds one recipient's message.
    pub fn message(
        &self,
        to: &str,
        body: &MailBody,
        list_unsubscribe: Option<&str>,
    ) -> Result<Message, MailError> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(mailbox(to)?)
            .subject(body.subject.clone())
            // RFC 3834: no vacation auto-replies to alerts
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("Auto-Submitted"),
                "auto-generated".into(),
            ));
        if let Some(url) = list_unsubscribe {
            builder = builder
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe"),
                    format!("<{url}>"),
                ))
                .raw_header(HeaderValue::new(
                    HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
                    "List-Unsubscribe=One-Click".into(),
                ));
        }
        builder
            .multipart(MultiPart::alternative_plain_html(
                body.text.clone(),
                body.html.clone(),
            ))
            .map_err(|e| MailError::Message(e.to_string()))
    }

    /// Sends one message within the timeout.
    pub async fn send(&self, message: Message) -> Result<(), MailError> {
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(classify(&e)),
            Err(_) => Err(MailError::Transient(format!(
                "timed out after {} s",
                self.timeout.as_secs()
            ))),
        }
    }
}

/// The SMTP code of a refusal, when the server answered.
pub(crate) fn smtp_code(err: &MailError) -> Option<i32> {
    let text = match err {
        MailError::Permanent(t) | MailError::Transient(t) => t,
        _ => return None,
    };
    let code: String = text.chars().take_while(char::is_ascii_digit).collect();
    (code.len() == 3).then(|| code.parse().ok()).flatten()
}

fn classify(err: &lettre::transport::smtp::Error) -> MailError {
    let code = err.status().map(u16::from);
    let text: String = match code {
        Some(code) => format!("{code} {err}"),
        None => err.to_string(),
    }
    .chars()
    .take(300)
    .collect();
    if err.is_permanent() || err.is_client() {
        MailError::Permanent(text)
    } else {
        // 4xx answers, timeouts, connections, TLS: try again later
        MailError::Transient(text)
    }
}

/// Whom an email channel writes to, for an alert about `issue_id` (if
/// any) in `project_id` of `org_id`: see [`EmailTargets`]. Users who are
/// inactive, turned alert mail off, or unsubscribed from the issue are
/// left out; users named by id or through a team must be members of the
/// organization (teams of other organizations are ignored); everyone is
/// listed once (addresses compare case-insensitively).
pub async fn channel_recipients(
    store: &SharedStore,
    org_id: OrgId,
    project_id: ProjectId,
    issue_id: Option<i64>,
    targets: &EmailTargets,
) -> StoreResult<Vec<Recipient>> {
    let members = store.list_members(org_id).await?;
    let member_ids: HashSet<UserId> = members.iter().map(|m| m.user.id).collect();
    let mut users: Vec<User> = Vec::new();

    let team_users = |team_id| {
        let store = store.clone();
        async move {
            match store.team_members(team_id).await {
                Ok(list) => Ok(list),
                Err(StoreError::NotFound(_)) => Ok(Vec::new()),
                Err(e) => Err(e),
            }
        }
    };

    if targets.project_members {
        let teams = store.project_teams(project_id).await?;
        if teams.is_empty() {
            users.extend(members.iter().map(|m| m.user.clone()));
        } else {
            for team in teams {
                users.extend(team_users(team.id).await?);
            }
        }
    }
    for id in &targets.users {
        if let Some(m) = members.iter().find(|m| m.user.id == *id) {
            users.push(m.user.clone());
        }
    }
    if !targets.teams.is_empty() {
        let org_teams: HashSet<i64> = store
            .list_teams(org_id)
            .await?
            .into_iter()
            .map(|t| t.id)
            .collect();
        for team_id in &targets.teams {
            if org_teams.contains(team_id) {
                users.extend(team_users(*team_id).await?);
            }
        }
    }
    users.retain(|u| member_ids.contains(&u.id));

    // plain addresses that are someone's: that someone
    let mut plain = Vec::new();
    for address in &targets.addresses {
        let address = address.trim();
        match store.user_by_email(address).await {
            Ok(user) => users.push(user),
            Err(StoreError::NotFound(_)) => plain.push(address.to_string()),
            Err(e) => return Err(e),
        }
    }

    let unsubscribed: HashSet<UserId> = match issue_id {
        Some(issue_id) => store
            .issue_subscriptions(issue_id)
            .await?
            .into_iter()
            .filter(|(_, subscribed)| !subscribed)
            .map(|(user, _)| user)
            .collect(),
        None => HashSet::new(),
    };

    let mut seen: HashSet<String> = HashSet::new();
    let mut seen_users: HashSet<UserId> = HashSet::new();
    let mut out = Vec::new();
    for user in users {
        if !seen_users.insert(user.id) || !user.is_active || unsubscribed.contains(&user.id) {
            continue;
        }
        if !store.notification_settings(user.id).await?.alerts {
            continue;
        }
        if seen.insert(user.email.to_lowercase()) {
            out.push(Recipient {
                address: user.email,
                user_id: Some(user.id),
            });
        }
    }
    for address in plain {
        if seen.insert(address.to_lowercase()) {
            out.push(Recipient {
                address,
                user_id: None,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use corral_core::config::Secret;

    #[test]
    fn scopes_round_trip() {
        for what in [
            Unsubscribe::Alerts,
            Unsubscribe::Assigned,
            Unsubscribe::Workflow,
            Unsubscribe::Issue(42),
        ] {
            assert_eq!(parse_scope(&scope(what)), Some(what));
        }
        assert_eq!(scope(Unsubscribe::Issue(7)), "issue-7");
        for bad in [
            "", "issue-", "issue-x", "issue--1", "issue-0", "issue-+3", "all",
        ] {
            assert_eq!(parse_scope(bad), None, "{bad}");
        }
        assert_eq!(
            unsubscribe_url("https://c.example/", "tok", Unsubscribe::Alerts),
            "https://c.example/unsubscribe/tok/alerts"
        );
    }

    #[test]
    fn mail_needs_an_smtp_url_and_a_base_url() {
        let mut config = Config::default();
        assert!(Mailer::from_config(&config).unwrap().is_none());
        config.smtp_url = Some(Secret::new("smtp://127.0.0.1:2525"));
        assert!(
            Mailer::from_config(&config).unwrap().is_none(),
            "links need base_url"
        );
        config.base_url = Some("https://corral.example/".into());
        let mailer = Mailer::from_config(&config).unwrap().unwrap();
        assert_eq!(mailer.base_url(), "https://corral.example");
        assert_eq!(mailer.from.email.to_string(), "corral@corral.example");
        config.smtp_url = Some(Secret::new("ftp://user:hunter2@mail.example"));
        let err = Mailer::from_config(&config).unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn messages_carry_one_click_unsubscribe_headers() {
        let config = Config {
            smtp_url: Some(Secret::new("smtp://127.0.0.1:2525")),
            base_url: Some("https://corral.example".into()),
            ..Config::default()
        };
        let mailer = Mailer::from_config(&config).unwrap().unwrap();
        let body = MailBody {
            subject: "[backend] New issue: boom".into(),
            text: "text body".into(),
            html: "<p>html body</p>".into(),
        };
        let url = "https://corral.example/unsubscribe/tok/alerts";
        let raw = String::from_utf8(
            mailer
                .message("ada@example.com", &body, Some(url))
                .unwrap()
                .formatted(),
        )
        .unwrap();
        assert!(
            raw.contains("List-Unsubscribe: <https://corral.example/unsubscribe/tok/alerts>"),
            "{raw}"
        );
        assert!(raw.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
        assert!(raw.contains("Auto-Submitted: auto-generated"));
        assert!(raw.contains("multipart/alternative"));
        assert!(raw.contains("text/plain"));
        assert!(raw.contains("text/html"));

        let raw = String::from_utf8(
            mailer
                .message("someone@example.com", &body, None)
                .unwrap()
                .formatted(),
        )
        .unwrap();
        assert!(!raw.contains("List-Unsubscribe"));
        assert!(matches!(
            mailer.message("not an address", &body, None),
            Err(MailError::Address { .. })
        ));
    }

    #[test]
    fn smtp_codes_are_read_from_refusals() {
        assert_eq!(
            smtp_code(&MailError::Transient("451 try later".into())),
            Some(451)
        );
        assert_eq!(smtp_code(&MailError::Transient("timed out".into())), None);
        assert_eq!(smtp_code(&MailError::NotConfigured), None);
    }
}
