//! Corral's HTTP side: the Sentry ingest endpoints, the REST API and the UI,
//! with the probes and metrics of `corral-runtime`. [`router`] builds the
//! whole application from an [`AppState`]; [`run`] is the `corral-web`
//! binary of the cluster shape.

pub mod access;
pub mod accounts;
pub mod activity;
pub mod alerts;
pub mod api;
pub mod ingest;
pub mod mail;
mod server;
pub mod session;
mod state;
pub mod ui;

pub use server::{connection_limits, router, run};
pub use state::{AppState, KEY_CACHE_TTL, TEST_NOTIFICATION_WAIT};
