//! The real Sentry clients (Python `sentry-sdk`, `@sentry/node`, `sentry-cli`)
//! against `corral serve`, the embedded shape: one process on an SQLite file.
//! The cases live in `common::cases`; `sdk_cluster.rs` runs the same ones
//! against the cluster shape.

mod common;

use common::{Shape, cases};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_python_grouping_embedded() {
    cases::python_grouping(Shape::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_python_fingerprint_embedded() {
    cases::python_fingerprint(Shape::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_python_messages_embedded() {
    cases::python_messages(Shape::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_python_regression_embedded() {
    cases::python_regression(Shape::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_python_quota_embedded() {
    cases::python_quota(Shape::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_node_quota_embedded() {
    cases::node_quota(Shape::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_node_embedded() {
    cases::node(Shape::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_sentry_cli_embedded() {
    cases::sentry_cli(Shape::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_duplicate_event_id_embedded() {
    cases::duplicate_event_id(Shape::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_browser_style_embedded() {
    cases::browser_style(Shape::Embedded).await;
}
