//! The real Sentry clients (Python `sentry-sdk` 3.x and 2.x, `@sentry/node`,
//! `@sentry/browser` in headless Chromium, `sentry-cli`) against
//! `corral serve`, the embedded shape: one process on an SQLite file.
//! The cases live in `common::cases`; `sdk_cluster.rs` runs the same ones
//! against the cluster shape.

use crate::common::{Shape, cases};
use corral_testkit::sdk::PythonSdk;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_python_v3_grouping_embedded() {
    cases::python_grouping(Shape::Embedded, PythonSdk::V3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_python_v2_grouping_embedded() {
    cases::python_grouping(Shape::Embedded, PythonSdk::V2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_python_v3_fingerprint_embedded() {
    cases::python_fingerprint(Shape::Embedded, PythonSdk::V3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_python_v2_fingerprint_embedded() {
    cases::python_fingerprint(Shape::Embedded, PythonSdk::V2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_python_v3_messages_embedded() {
    cases::python_messages(Shape::Embedded, PythonSdk::V3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_python_v2_messages_embedded() {
    cases::python_messages(Shape::Embedded, PythonSdk::V2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_python_v3_regression_embedded() {
    cases::python_regression(Shape::Embedded, PythonSdk::V3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_python_v2_regression_embedded() {
    cases::python_regression(Shape::Embedded, PythonSdk::V2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_python_v3_quota_embedded() {
    cases::python_quota(Shape::Embedded, PythonSdk::V3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sdk_python_v2_quota_embedded() {
    cases::python_quota(Shape::Embedded, PythonSdk::V2).await;
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
async fn sdk_browser_chromium_embedded() {
    cases::browser_sdk(Shape::Embedded).await;
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
