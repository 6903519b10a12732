//! The real Sentry clients (Python `sentry-sdk`, `@sentry/node`, `sentry-cli`)
//! against the cluster shape: corral-beat, corral-web and corral-worker as
//! three processes on a fresh PostgreSQL database and a fresh Redis queue.
//! The cases live in `common::cases`; `sdk_embedded.rs` runs the same ones
//! against `corral serve`.

mod common;

use common::{Shape, cases};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_python_grouping_cluster() {
    cases::python_grouping(Shape::Cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_python_fingerprint_cluster() {
    cases::python_fingerprint(Shape::Cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_python_messages_cluster() {
    cases::python_messages(Shape::Cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_python_regression_cluster() {
    cases::python_regression(Shape::Cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_python_quota_cluster() {
    cases::python_quota(Shape::Cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_node_quota_cluster() {
    cases::node_quota(Shape::Cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_node_cluster() {
    cases::node(Shape::Cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_sentry_cli_cluster() {
    cases::sentry_cli(Shape::Cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_duplicate_event_id_cluster() {
    cases::duplicate_event_id(Shape::Cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_browser_style_cluster() {
    cases::browser_style(Shape::Cluster).await;
}
