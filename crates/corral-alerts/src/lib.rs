//! The part of alerting that talks to the outside world.
//!
//! - [`outbound`]: the one outbound HTTP client (timeouts, no proxy, a cap
//!   on answers, checked redirects) and its address policy.
//! - [`sign`]: webhook signatures (`X-Corral-Signature`) and [`sign::verify`].
//! - [`render`]: the body of a message per channel: the generic webhook
//!   ([`render::WebhookBody`]), Slack, Discord, Teams, PagerDuty, mail.
//! - [`mail`]: SMTP, recipients of email channels, unsubscribe links.
//! - [`send`]: the [`Sender`], which makes one attempt of one delivery and
//!   answers its [`DeliveryOutcome`](corral_core::alerts::DeliveryOutcome).
//!
//! The runner (claiming triggers, evaluating rules, claiming due
//! deliveries) calls [`Sender::send`] and records the outcome with
//! `store.finish_delivery`.

pub mod mail;
pub mod outbound;
pub mod render;
pub mod send;
pub mod sign;

pub use outbound::{AddressPolicy, Outbound, OutboundError, OutboundOptions};
pub use render::WebhookBody;
pub use send::{Sender, SenderError};
pub use sign::verify;
