//! The sender: one attempt of one delivery, from the stored message to an
//! outcome the runner records (`store.finish_delivery`).
//!
//! - 2xx → `Sent` with the status.
//! - 408, 429, 5xx, timeouts, connection errors → `Retry` at
//!   `now + retry_delay(attempts)` (or later, when a 429/503 says
//!   `Retry-After`, at most an hour), until the attempt in progress is the
//!   last one (`delivery.attempts >= alerts.delivery_attempts`): then `Dead`.
//! - Other 4xx, an address the policy refuses, an invalid URL, a deleted
//!   channel, mail that is not configured → `Dead` at once: trying again
//!   cannot help.
//!
//! Errors carry the status and at most 300 characters of the answer's
//! body; never the URL (chat webhook URLs carry their secret).
//!
//! Mail goes one message per recipient. When some recipients fail for a
//! transient reason (a 4xx answer, a timeout) the whole delivery is
//! retried, and the retry mails every recipient again, so those who got
//! the first attempt get the mail twice: nothing records which
//! recipients already have it. Recipients refused for good (5xx, a bad
//! address) are logged and not retried; a delivery that reached no one
//! for good is dead.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use corral_core::alerts::{
    AlertKind, Channel, ChannelConfig, DELIVERY_LEASE, Deliver, Delivery, DeliveryOutcome,
    DeliveryTarget, EmailTargets, Unsubscribe, retry_delay,
};
use corral_core::config::Config;
use corral_core::model::UserId;
use corral_core::{SharedStore, StoreError};
use futures::StreamExt;

use crate::mail::{self, MailError, Mailer, Recipient, unsubscribe_url};
use crate::outbound::{Outbound, OutboundError, Reply};
use crate::render::{self, MailFooter};
use crate::sign;

/// The most of an answer's body an error quotes.
pub const ERROR_BODY_CHARS: usize = 300;
/// Messages of one mail delivery sent at once.
const MAIL_CONCURRENCY: usize = 4;
/// Header with the delivery's id: the same on every retry, so a receiver
/// can drop duplicates.
pub const DELIVERY_HEADER: &str = "X-Corral-Delivery";

#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    #[error("the outbound HTTP client: {0}")]
    Outbound(#[from] OutboundError),
    #[error("mail: {0}")]
    Mail(#[from] MailError),
}

/// Sends deliveries; cheap to clone.
#[derive(Clone)]
pub struct Sender {
    inner: Arc<Inner>,
}

struct Inner {
    store: SharedStore,
    /// Made on first use: a process that never sends keeps no TLS roots
    /// or connection pool in memory.
    outbound: tokio::sync::OnceCell<Outbound>,
    alerts: corral_core::config::AlertsConfig,
    mailer: Option<Mailer>,
    max_attempts: i32,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("outbound", &self.inner.outbound.get())
            .field("mailer", &self.inner.mailer)
            .field("max_attempts", &self.inner.max_attempts)
            .finish()
    }
}

impl Sender {
    /// A sender with the outbound client of `config.alerts` (its address
    /// policy, timeout) and mail when `smtp_url` and `base_url` are set.
    /// Fails only on an unusable SMTP URL or client.
    pub fn new(store: SharedStore, config: &Config) -> Result<Sender, SenderError> {
        Sender::build(store, config, tokio::sync::OnceCell::new())
    }

    /// The same with another outbound client (tests: a policy allowing one
    /// loopback address).
    pub fn with_outbound(
        store: SharedStore,
        config: &Config,
        outbound: Outbound,
    ) -> Result<Sender, SenderError> {
        Sender::build(
            store,
            config,
            tokio::sync::OnceCell::new_with(Some(outbound)),
        )
    }

    fn build(
        store: SharedStore,
        config: &Config,
        outbound: tokio::sync::OnceCell<Outbound>,
    ) -> Result<Sender, SenderError> {
        Ok(Sender {
            inner: Arc::new(Inner {
                store,
                outbound,
                alerts: config.alerts.clone(),
                mailer: Mailer::from_config(config)?,
                max_attempts: config.alerts.delivery_attempts.max(1),
            }),
        })
    }

    /// The outbound client, made on first use.
    pub async fn outbound(&self) -> Result<&Outbound, OutboundError> {
        self.inner
            .outbound
            .get_or_try_init(|| async { Outbound::from_config(&self.inner.alerts) })
            .await
    }

    /// Whether email deliveries can be sent.
    pub fn can_mail(&self) -> bool {
        self.inner.mailer.is_some()
    }

    /// One attempt of `delivery`, whose `attempts` already counts it.
    pub async fn send(&self, delivery: &Delivery) -> DeliveryOutcome {
        self.send_at(delivery, Utc::now()).await
    }

    /// [`Sender::send`] with the clock given (retry times are `now + delay`).
    pub async fn send_at(&self, delivery: &Delivery, now: DateTime<Utc>) -> DeliveryOutcome {
        let attempt = Attempt {
            delivery,
            now,
            max_attempts: self.inner.max_attempts,
        };
        let outcome = match delivery.target {
            DeliveryTarget::Channel(id) => match self.inner.store.alert_channel_by_id(id).await {
                Ok(channel) if channel.org_id != delivery.org_id => {
                    dead(None, "the channel belongs to another organization")
                }
                Ok(channel) => self.to_channel(&attempt, &channel).await,
                Err(StoreError::NotFound(_)) => dead(None, "channel deleted"),
                Err(e) => attempt.retry(None, format!("reading the channel failed: {e}"), None),
            },
            DeliveryTarget::User(user_id) => self.to_user(&attempt, user_id).await,
        };
        tracing::debug!(
            delivery = delivery.id,
            attempt = delivery.attempts,
            ?outcome,
            "delivery attempt"
        );
        outcome
    }

    /// Sends to a channel that was read from the store.
    pub async fn send_to_channel(
        &self,
        delivery: &Delivery,
        channel: &Channel,
        now: DateTime<Utc>,
    ) -> DeliveryOutcome {
        let attempt = Attempt {
            delivery,
            now,
            max_attempts: self.inner.max_attempts,
        };
        self.to_channel(&attempt, channel).await
    }

    async fn to_channel(&self, attempt: &Attempt<'_>, channel: &Channel) -> DeliveryOutcome {
        let msg = &attempt.delivery.message;
        let json = |v: serde_json::Value| serde_json::to_vec(&v).expect("JSON serializes");
        match &channel.config {
            ChannelConfig::Email(targets) => self.mail_channel(attempt, channel, targets).await,
            ChannelConfig::Webhook { url, secret } => {
                let body = render::webhook_json(msg);
                let timestamp = attempt.now.timestamp();
                let headers = vec![
                    (
                        sign::SIGNATURE_HEADER,
                        sign::header_value(secret, timestamp, &body),
                    ),
                    (sign::TIMESTAMP_HEADER, timestamp.to_string()),
                    (DELIVERY_HEADER, attempt.delivery.id.to_string()),
                ];
                self.post(attempt, url, body, headers).await
            }
            ChannelConfig::Slack { url } => {
                self.post(attempt, url, json(render::slack(msg)), vec![])
                    .await
            }
            ChannelConfig::Discord { url } => {
                self.post(attempt, url, json(render::discord(msg)), vec![])
                    .await
            }
            ChannelConfig::Teams { url } => {
                self.post(attempt, url, json(render::teams(msg)), vec![])
                    .await
            }
            ChannelConfig::PagerDuty { routing_key, .. } => {
                let url = channel.config.url().expect("PagerDuty has a URL");
                let body = json(render::pagerduty(msg, routing_key));
                self.post(attempt, url, body, vec![]).await
            }
        }
    }

    async fn post(
        &self,
        attempt: &Attempt<'_>,
        url: &str,
        body: Vec<u8>,
        headers: Vec<(&str, String)>,
    ) -> DeliveryOutcome {
        let outbound = match self.outbound().await {
            Ok(outbound) => outbound,
            Err(e) => return dead(None, e.to_string()),
        };
        match outbound.post_json(url, body, &headers).await {
            Ok(reply) => http_outcome(attempt, &reply),
            Err(e) if e.is_permanent() => dead(None, e.to_string()),
            Err(e) => attempt.retry(None, e.to_string(), None),
        }
    }

    fn mailer(&self) -> Result<&Mailer, DeliveryOutcome> {
        self.inner
            .mailer
            .as_ref()
            .ok_or_else(|| dead(None, MailError::NotConfigured.to_string()))
    }

    async fn mail_channel(
        &self,
        attempt: &Attempt<'_>,
        channel: &Channel,
        targets: &EmailTargets,
    ) -> DeliveryOutcome {
        let mailer = match self.mailer() {
            Ok(m) => m,
            Err(outcome) => return outcome,
        };
        let d = attempt.delivery;
        let msg = &d.message;
        let recipients = match mail::channel_recipients(
            &self.inner.store,
            d.org_id,
            d.project_id,
            d.issue_id,
            targets,
        )
        .await
        {
            Ok(r) => r,
            Err(e) => {
                return attempt.retry(None, format!("finding the recipients failed: {e}"), None);
            }
        };
        if recipients.is_empty() {
            return dead(
                None,
                "no one to mail: the channel's people are inactive, turned alert mail off or \
                 unsubscribed from the issue",
            );
        }
        let mut jobs = Vec::with_capacity(recipients.len());
        for r in recipients {
            let (footer, header) = match r.user_id {
                Some(user_id) => {
                    let token = match self.inner.store.unsubscribe_token(user_id).await {
                        Ok(t) => t,
                        Err(e) => {
                            return attempt.retry(
                                None,
                                format!("making an unsubscribe link failed: {e}"),
                                None,
                            );
                        }
                    };
                    let link = |what| unsubscribe_url(mailer.base_url(), &token, what);
                    let mut links = Vec::new();
                    if let Some(issue) = &msg.issue {
                        links.push((
                            "Stop mail about this issue".to_string(),
                            link(Unsubscribe::Issue(issue.id)),
                        ));
                    }
                    links.push(("Turn off alert mail".to_string(), link(Unsubscribe::Alerts)));
                    let footer = MailFooter {
                        note: format!(
                            "You get this because an alert rule of {}/{} mails the channel \"{}\".",
                            msg.org_slug, msg.project_slug, channel.name
                        ),
                        links,
                    };
                    (footer, Some(link(Unsubscribe::Alerts)))
                }
                None => (
                    MailFooter {
                        note: format!(
                            "This address is on the alert channel \"{}\" of {}. To stop this mail, \
                             ask an admin of {} to remove it.",
                            channel.name, msg.org_slug, msg.org_slug
                        ),
                        links: Vec::new(),
                    },
                    None,
                ),
            };
            jobs.push((r, footer, header));
        }
        self.mail_all(attempt, mailer, jobs).await
    }

    async fn to_user(&self, attempt: &Attempt<'_>, user_id: UserId) -> DeliveryOutcome {
        let mailer = match self.mailer() {
            Ok(m) => m,
            Err(outcome) => return outcome,
        };
        let msg = &attempt.delivery.message;
        let user = match self.inner.store.user_by_id(user_id).await {
            Ok(u) => u,
            Err(StoreError::NotFound(_)) => return dead(None, "the user no longer exists"),
            Err(e) => return attempt.retry(None, format!("reading the user failed: {e}"), None),
        };
        if !user.is_active {
            return dead(None, "the user is deactivated");
        }
        let token = match self.inner.store.unsubscribe_token(user_id).await {
            Ok(t) => t,
            Err(e) => {
                return attempt.retry(
                    None,
                    format!("making an unsubscribe link failed: {e}"),
                    None,
                );
            }
        };
        let link = |what| unsubscribe_url(mailer.base_url(), &token, what);
        let mut links = Vec::new();
        let header = match &msg.issue {
            Some(issue) => {
                let url = link(Unsubscribe::Issue(issue.id));
                links.push(("Stop mail about this issue".to_string(), url.clone()));
                url
            }
            None => link(Unsubscribe::Workflow),
        };
        if msg.kind == AlertKind::Assigned {
            links.push((
                "Turn off mail about issues assigned to you".to_string(),
                link(Unsubscribe::Assigned),
            ));
        }
        links.push((
            "Turn off workflow mail".to_string(),
            link(Unsubscribe::Workflow),
        ));
        let footer = MailFooter {
            note: format!(
                "You get this because you are assigned to, commented on or subscribed to an issue \
                 of {}/{}.",
                msg.org_slug, msg.project_slug
            ),
            links,
        };
        let recipient = Recipient {
            address: user.email,
            user_id: Some(user.id),
        };
        self.mail_all(attempt, mailer, vec![(recipient, footer, Some(header))])
            .await
    }

    /// Sends one message per recipient, a few at once, within the lease.
    async fn mail_all(
        &self,
        attempt: &Attempt<'_>,
        mailer: &Mailer,
        jobs: Vec<(Recipient, MailFooter, Option<String>)>,
    ) -> DeliveryOutcome {
        let msg = &attempt.delivery.message;
        let total = jobs.len();
        // past this, recipients not yet started wait for the retry (so the
        // lease does not run out and let another sender start over)
        let deadline = tokio::time::Instant::now()
            + DELIVERY_LEASE
                .to_std()
                .unwrap_or(Duration::from_secs(120))
                .saturating_sub(Duration::from_secs(30));
        let results: Vec<(String, Result<(), MailError>)> = futures::stream::iter(jobs)
            .map(|(recipient, footer, header)| async move {
                if tokio::time::Instant::now() > deadline {
                    return (
                        recipient.address,
                        Err(MailError::Transient(
                            "not sent: the delivery ran out of time".into(),
                        )),
                    );
                }
                let body = render::email(msg, &footer);
                let result = match mailer.message(&recipient.address, &body, header.as_deref()) {
                    Ok(message) => mailer.send(message).await,
                    Err(e) => Err(MailError::Permanent(e.to_string())),
                };
                (recipient.address, result)
            })
            .buffer_unordered(MAIL_CONCURRENCY)
            .collect()
            .await;

        let sent = results.iter().filter(|(_, r)| r.is_ok()).count();
        let failed: Vec<(&String, &MailError)> = results
            .iter()
            .filter_map(|(a, r)| r.as_ref().err().map(|e| (a, e)))
            .collect();
        let transient = failed.iter().any(|(_, e)| e.is_transient());
        let code = failed.iter().find_map(|(_, e)| mail::smtp_code(e));
        let mut error = String::new();
        if !failed.is_empty() {
            let _ = write!(error, "{} of {total} recipients failed", failed.len());
            for (address, e) in &failed {
                let _ = write!(error, "; {address}: {e}");
            }
        }
        let error: String = error.chars().take(ERROR_BODY_CHARS).collect();
        if transient {
            attempt.retry(code, error, None)
        } else if sent == 0 {
            dead(code, error)
        } else {
            if !failed.is_empty() {
                tracing::warn!(
                    delivery = attempt.delivery.id,
                    %error,
                    "alert mail refused for some recipients"
                );
            }
            DeliveryOutcome::Sent {
                status_code: Some(250),
            }
        }
    }
}

/// The runner's seam (`corral_core::alerts::Deliver`): one attempt, now.
#[async_trait::async_trait]
impl Deliver for Sender {
    async fn send(&self, delivery: &Delivery) -> DeliveryOutcome {
        Sender::send(self, delivery).await
    }
}

/// One attempt in progress.
struct Attempt<'a> {
    delivery: &'a Delivery,
    now: DateTime<Utc>,
    max_attempts: i32,
}

impl Attempt<'_> {
    /// A transient failure: try again later, unless this was the last attempt.
    fn retry(
        &self,
        status_code: Option<i32>,
        error: impl Into<String>,
        at_least: Option<chrono::Duration>,
    ) -> DeliveryOutcome {
        let error = error.into();
        let attempts = self.delivery.attempts;
        if attempts >= self.max_attempts {
            return DeliveryOutcome::Dead {
                status_code,
                error: format!("{error} (gave up after {attempts} attempts)"),
            };
        }
        let delay = retry_delay(attempts).max(at_least.unwrap_or_default());
        DeliveryOutcome::Retry {
            at: self.now + delay,
            status_code,
            error,
        }
    }
}

fn dead(status_code: Option<i32>, error: impl Into<String>) -> DeliveryOutcome {
    DeliveryOutcome::Dead {
        status_code,
        error: error.into(),
    }
}

/// `Retry-After` in seconds (dates are ignored), at most an hour.
fn retry_after(reply: &Reply) -> Option<chrono::Duration> {
    let secs: i64 = reply
        .headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(chrono::Duration::seconds(secs.clamp(0, 3600)))
}

fn http_outcome(attempt: &Attempt<'_>, reply: &Reply) -> DeliveryOutcome {
    let status = Some(i32::from(reply.status));
    if reply.is_success() {
        return DeliveryOutcome::Sent {
            status_code: status,
        };
    }
    let snippet = reply.snippet(ERROR_BODY_CHARS);
    let error = if snippet.is_empty() {
        format!("HTTP {}", reply.status)
    } else {
        format!("HTTP {}: {snippet}", reply.status)
    };
    match reply.status {
        408 | 429 | 500..=599 => attempt.retry(status, error, retry_after(reply)),
        _ => dead(status, error),
    }
}
