//! Sentry's wire formats, with no I/O: what SDKs and `sentry-cli` send, read
//! leniently and written exactly.
//!
//! - [`Dsn`]: the client key URL, parsed and formatted.
//! - [`auth`]: finding the public key in `X-Sentry-Auth`, `Authorization`,
//!   `?sentry_key=` and the envelope header `dsn`.
//! - [`Envelope`]: the envelope format, parser and writer.
//! - [`Event`]: the lenient event model.
//! - [`decode`]: request body decompression with a hard output limit.

mod event;

pub use event::{
    Breadcrumb, ClientSdk, Event, Exception, Frame, Headers, Level, LogEntry, Mechanism, Other,
    Request, Stacktrace, Tags, Thread, Timestamp, User, Values, format_event_id, parse_event_id,
    value_to_string,
};
