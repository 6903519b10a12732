//! Mail over SMTP (lettre) and the one-time links Corral hands out: password
//! resets and invitations.
//!
//! Links that leave by mail always start with the configured `base_url`,
//! never with a request's `Host` header: otherwise anyone could ask for a
//! reset of someone else's account with a forged `Host` and have the
//! victim's mail point at their own server.

use std::time::Duration;

use axum::http::{HeaderMap, header};
use chrono::Utc;
use corral_core::config::Config;
use corral_core::model::UserId;
use corral_core::{SharedStore, StoreError};
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::session::{random_token, sha256_hex};
use crate::state::AppState;

/// How long a password reset link works.
pub const RESET_LIFETIME: chrono::Duration = chrono::Duration::hours(1);
/// How long an invitation link works.
pub const INVITATION_LIFETIME: chrono::Duration = chrono::Duration::days(7);
/// Connecting and each SMTP command.
const SMTP_TIMEOUT: Duration = Duration::from_secs(10);
/// One whole delivery, however many commands it takes.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
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
    #[error("sending mail failed: {0}")]
    Send(String),
    #[error("sending mail timed out")]
    Timeout,
}

/// Whether Corral can send mail: an SMTP server to send through and a
/// public URL for the links (see the module comment).
pub fn can_send(config: &Config) -> bool {
    config.smtp_url.is_some() && config.base_url.is_some()
}

fn transport(config: &Config) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailError> {
    let url = config.smtp_url.as_ref().ok_or(MailError::NotConfigured)?;
    let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
        .map_err(|e| MailError::Url(e.to_string()))?;
    Ok(builder.timeout(Some(SMTP_TIMEOUT)).build())
}

/// The sender: `smtp_from`, else `corral@<host of base_url>`.
fn sender(config: &Config) -> Result<Mailbox, MailError> {
    let from = match &config.smtp_from {
        Some(from) => from.clone(),
        None => {
            let host = config
                .base_url
                .as_deref()
                .and_then(|u| u.split_once("://"))
                .map(|(_, rest)| rest.split(['/', ':']).next().unwrap_or("localhost"))
                .filter(|h| !h.is_empty())
                .unwrap_or("localhost");
            format!("Corral <corral@{host}>")
        }
    };
    mailbox(&from)
}

fn mailbox(address: &str) -> Result<Mailbox, MailError> {
    address
        .parse()
        .map_err(|e: lettre::address::AddressError| MailError::Address {
            address: address.to_string(),
            reason: e.to_string(),
        })
}

/// Sends a plain-text mail.
pub async fn send(config: &Config, to: &str, subject: &str, body: String) -> Result<(), MailError> {
    let message = Message::builder()
        .from(sender(config)?)
        .to(mailbox(to)?)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| MailError::Message(e.to_string()))?;
    let transport = transport(config)?;
    match tokio::time::timeout(SEND_TIMEOUT, transport.send(message)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(MailError::Send(e.to_string())),
        Err(_) => Err(MailError::Timeout),
    }
}

/// The public URL for links shown on a page: `base_url`, else what the
/// browser asked for. Never use this for links that are mailed.
pub fn page_base_url(config: &Config, headers: &HeaderMap) -> String {
    if let Some(url) = &config.base_url {
        return url.trim_end_matches('/').to_string();
    }
    match headers.get(header::HOST).and_then(|h| h.to_str().ok()) {
        Some(host) if !host.is_empty() => format!("http://{host}"),
        _ => local_base_url(config),
    }
}

/// The public URL without a request: `base_url`, else the local address
/// the server listens on.
pub fn local_base_url(config: &Config) -> String {
    if let Some(url) = &config.base_url {
        return url.trim_end_matches('/').to_string();
    }
    let port = config.bind.map(|a| a.port()).unwrap_or(8000);
    format!("http://localhost:{port}")
}

/// Creates a password reset token for the user (one use, one hour) and
/// returns its link under `base`. Needs only the store, so a CLI can call
/// it without a running server.
pub async fn reset_link_under(
    store: &SharedStore,
    user_id: UserId,
    base: &str,
) -> Result<String, StoreError> {
    let token = random_token();
    store
        .create_password_reset(&sha256_hex(&token), user_id, Utc::now() + RESET_LIFETIME)
        .await?;
    Ok(format!("{}/reset/{token}", base.trim_end_matches('/')))
}

/// Creates a password reset token for the user and returns its absolute
/// link (for `corral user reset-link`; see [`local_base_url`]).
pub async fn reset_link(state: &AppState, user_id: UserId) -> Result<String, StoreError> {
    reset_link_under(&state.store, user_id, &local_base_url(&state.config)).await
}

/// The text of a password reset mail.
pub fn reset_mail(link: &str) -> String {
    format!(
        "Someone asked to reset the password of your Corral account.\n\
         \n\
         To choose a new password, open this link within an hour:\n\
         \n\
         {link}\n\
         \n\
         The link works once. If you did not ask for it, ignore this mail:\n\
         your password stays as it is.\n"
    )
}

/// The text of an invitation mail.
pub fn invitation_mail(org_name: &str, inviter: &str, role: &str, link: &str) -> String {
    format!(
        "{inviter} invited you to join {org_name} on Corral as {role}.\n\
         \n\
         To accept, open this link within seven days:\n\
         \n\
         {link}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use corral_core::config::Secret;

    #[test]
    fn links_for_pages_and_for_mail() {
        let mut config = Config::default();
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "evil.example".parse().unwrap());
        assert_eq!(
            page_base_url(&config, &headers),
            "http://evil.example",
            "pages follow the browser"
        );
        assert_eq!(local_base_url(&config), "http://localhost:8000");
        assert!(!can_send(&config));
        config.smtp_url = Some(Secret::new("smtp://127.0.0.1:2525"));
        assert!(
            !can_send(&config),
            "no mail without a base URL: the links would trust the Host header"
        );
        config.base_url = Some("https://corral.example/".into());
        assert!(can_send(&config));
        assert_eq!(page_base_url(&config, &headers), "https://corral.example");
        assert_eq!(local_base_url(&config), "https://corral.example");
    }

    #[test]
    fn the_sender_defaults_to_the_base_urls_host() {
        let mut config = Config {
            base_url: Some("https://errors.example.com:8443/corral".into()),
            ..Config::default()
        };
        assert_eq!(
            sender(&config).unwrap().email.to_string(),
            "corral@errors.example.com"
        );
        config.smtp_from = Some("Ops <ops@example.com>".into());
        assert_eq!(
            sender(&config).unwrap().email.to_string(),
            "ops@example.com"
        );
        config.smtp_from = Some("not an address".into());
        assert!(matches!(sender(&config), Err(MailError::Address { .. })));
    }

    #[test]
    fn bad_smtp_urls_are_refused_without_echoing_them() {
        let config = Config {
            smtp_url: Some(Secret::new("ftp://user:hunter2@mail.example")),
            ..Config::default()
        };
        let Err(err) = transport(&config) else {
            panic!("an ftp:// URL was accepted")
        };
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}
