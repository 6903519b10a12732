//! The real `sentry-cli` against the REST API: Sentry's own client reads
//! Corral's organizations, projects and issues, and changes issues with
//! its bulk requests, unchanged.

use std::process::Command;

use corral_core::model::IssueStatus;

use crate::common::{Shape, TestApp, event};

/// Runs `sentry-cli` against the app with `token`; returns stdout, failing
/// the test when the command fails.
fn cli(app: &TestApp, token: &str, args: &[&str]) -> String {
    let home = tempfile::tempdir().expect("a home without a .sentryclirc");
    let out = Command::new(corral_testkit::sdk::sentry_cli())
        .arg("--url")
        .arg(&app.base_url)
        .arg("--auth-token")
        .arg(token)
        .args(args)
        .env("HOME", home.path())
        .env_remove("SENTRY_AUTH_TOKEN")
        .env_remove("SENTRY_URL")
        .env_remove("SENTRY_ORG")
        .env_remove("SENTRY_PROJECT")
        .output()
        .expect("running sentry-cli");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "sentry-cli {args:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

async fn issue_of(app: &TestApp, message: &str) -> i64 {
    let (id, ev) = event(message);
    app.send_event(&ev).await;
    app.wait_for_event(id).await.issue_id.expect("grouped")
}

async fn sentry_cli_lists_and_changes_issues(shape: Shape) {
    let app = TestApp::start(shape).await;
    let token = app.token().to_string();
    let info = cli(&app, &token, &["info"]);
    assert!(info.contains("owner@acme.test"), "{info}");
    assert!(info.contains("event:write"), "{info}");
    let orgs = cli(&app, &token, &["organizations", "list"]);
    assert!(orgs.contains("acme"), "{orgs}");
    let projects = cli(&app, &token, &["projects", "list", "-o", "acme"]);
    assert!(projects.contains("backend"), "{projects}");

    let broken = issue_of(&app, "the checkout is broken").await;
    let noisy = issue_of(&app, "a noisy warning").await;
    let issues = cli(
        &app,
        &token,
        &["issues", "list", "-o", "acme", "-p", "backend"],
    );
    for title in ["the checkout is broken", "a noisy warning"] {
        assert!(issues.contains(title), "{title} not in\n{issues}");
    }

    let id = broken.to_string();
    cli(
        &app,
        &token,
        &[
            "issues", "resolve", "-o", "acme", "-p", "backend", "-i", &id,
        ],
    );
    let id = noisy.to_string();
    cli(
        &app,
        &token,
        &["issues", "mute", "-o", "acme", "-p", "backend", "-i", &id],
    );
    let status = async |id: i64| app.store.issue_by_id(id).await.unwrap().status;
    assert_eq!(status(broken).await, IssueStatus::Resolved);
    assert_eq!(status(noisy).await, IssueStatus::Ignored);
    cli(
        &app,
        &token,
        &[
            "issues",
            "unresolve",
            "-o",
            "acme",
            "-p",
            "backend",
            "-i",
            &id,
        ],
    );
    assert_eq!(status(noisy).await, IssueStatus::Unresolved);
}

both_shapes!(sentry_cli_lists_and_changes_issues);
