//! Corral's HTTP side: the Sentry ingest endpoints, the REST API, probes and
//! metrics. [`router`] builds the whole application from an [`AppState`];
//! [`run`] is the `corral-web` binary of the cluster shape.

pub mod access;
pub mod accounts;
pub mod api;
pub mod health;
pub mod ingest;
pub mod mail;
mod server;
pub mod session;
pub mod startup;
mod state;
pub mod telemetry;
pub mod ui;

pub use server::{ConnectionLimits, router, run, serve, serve_with, shutdown_signal};
pub use state::{AppState, KEY_CACHE_TTL};
