//! HTTP: Sentry ingest endpoints, REST API, health, metrics.
