//! Sentry's wire formats, with no I/O: what SDKs and `sentry-cli` send, read
//! leniently and written exactly.
//!
//! - [`Dsn`]: the client key URL, parsed and formatted.
//! - [`resolve_auth`]: finding the public key in `X-Sentry-Auth`,
//!   `Authorization`, `?sentry_key=` and the envelope header `dsn`.
//! - [`Envelope`]: the envelope format, parser and writer.
//! - [`Event`]: the lenient event model.
//! - [`read_json`]: JSON text read whatever it holds (lone surrogates, NUL,
//!   numbers out of range, deep nesting), as the digest reads every payload.
//! - [`decode_body`]: request body decompression with a hard output limit.
//! - [`parse_security_report`]: browser CSP reports turned into events.

mod auth;
mod decode;
mod dsn;
mod envelope;
mod event;
mod json;
mod lenient;
mod security;

pub use auth::{AuthError, AuthHeaders, ClientAuth, resolve_auth};
pub use decode::{DecodeBudget, DecodeError, decode_body, decode_body_with, decode_prefix};
pub use dsn::{Dsn, DsnError};
pub use envelope::{
    Envelope, EnvelopeError, EnvelopeHeaders, Item, ItemHeaders, ItemType, MAX_ENVELOPE_ITEMS,
};
pub use event::{
    Breadcrumb, ClientSdk, Event, Exception, Frame, Headers, Level, LogEntry, Mechanism, Other,
    Request, Stacktrace, Tags, Thread, Timestamp, User, Values, format_event_id, parse_event_id,
    value_to_string,
};
pub use json::{read_json, repair_json, replace_nul};
pub use security::{MAX_SECURITY_REPORTS, SecurityReportError, parse_security_report};
