//! The real Sentry clients (Python `sentry-sdk` 3.x and 2.x, `@sentry/node`,
//! `@sentry/browser` in headless Chromium, `sentry-cli`) against the cluster
//! shape: corral-beat, corral-web and corral-worker as three processes on a
//! fresh PostgreSQL database and a fresh Redis queue. The cases live in
//! `common::cases`; `sdk_embedded.rs` runs the same ones against
//! `corral serve`.

use crate::common::{Shape, cases};
use corral_testkit::sdk::PythonSdk;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_python_v3_grouping_cluster() {
    cases::python_grouping(Shape::Cluster, PythonSdk::V3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_python_v2_grouping_cluster() {
    cases::python_grouping(Shape::Cluster, PythonSdk::V2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_python_v3_fingerprint_cluster() {
    cases::python_fingerprint(Shape::Cluster, PythonSdk::V3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_python_v2_fingerprint_cluster() {
    cases::python_fingerprint(Shape::Cluster, PythonSdk::V2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_python_v3_messages_cluster() {
    cases::python_messages(Shape::Cluster, PythonSdk::V3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_python_v2_messages_cluster() {
    cases::python_messages(Shape::Cluster, PythonSdk::V2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_python_v3_regression_cluster() {
    cases::python_regression(Shape::Cluster, PythonSdk::V3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_python_v2_regression_cluster() {
    cases::python_regression(Shape::Cluster, PythonSdk::V2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_python_v3_quota_cluster() {
    cases::python_quota(Shape::Cluster, PythonSdk::V3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_python_v2_quota_cluster() {
    cases::python_quota(Shape::Cluster, PythonSdk::V2).await;
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
async fn sdk_browser_chromium_cluster() {
    cases::browser_sdk(Shape::Cluster).await;
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
