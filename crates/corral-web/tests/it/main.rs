//! Integration tests of corral-web: the whole application (ingest, REST API, web UI, probes)
//! on a real socket, in both shapes (`common::TestApp`). One test binary, one module per
//! subject, so that a change links one executable instead of eighteen.

// first: its macros (`both_shapes!`, `embedded_only!`) are used by the modules after it
#[macro_use]
mod common;

mod api;
mod api_access;
mod api_activity;
mod api_alerts;
mod api_issues;
mod api_manage;
mod api_openapi;
mod api_sentry_cli;
mod faults;
mod health;
mod hostile;
mod ingest;
mod limits;
mod quotas;
mod ui_access;
mod ui_alerts;
mod ui_auth;
mod ui_csrf;
mod ui_issues;
mod ui_settings;
