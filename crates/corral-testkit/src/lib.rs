//! Test support: throwaway databases, running servers, SDK drivers, a real browser.
//!
//! - [`TestPg`], [`TestSqlite`]: a fresh database per test (a migrated PostgreSQL one is a
//!   copy of a template migrated once).
//! - [`Process`], [`bin`]: Corral's binaries as real processes.
//! - [`Embedded`], [`Cluster`]: the two shapes started as a user would, and
//!   [`Api`], a small REST client to look at what they stored.
//! - [`sdk`]: the real Sentry SDKs (Python 3.x and 2.x, Node, the browser
//!   SDK's bundle, sentry-cli).
//! - [`browser`]: headless Chromium over WebDriver, and a [`browser::Site`]
//!   to serve pages from another origin than Corral.
//! - [`test_queue_name`], [`redis_url`]: isolation on a shared Redis.
//! - [`Link`]: a connection to PostgreSQL or Redis a test can cut.

pub mod browser;
mod db;
mod link;
mod process;
pub mod sdk;
mod server;
pub mod sink;
pub mod smtp;

pub use db::{TestPg, TestSqlite};
pub use link::Link;
pub use process::{Process, bin, free_port};
pub use server::{ADMIN_PASSWORD, Api, Cluster, Embedded, count_of, run_cli, succeeded};

/// A queue name (and Redis key namespace) no other test uses.
pub fn test_queue_name() -> String {
    format!("corral-test-{}", uuid::Uuid::new_v4().simple())
}

/// The Redis the tests use (`REDIS_URL`, set by `cargo xtask test`).
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| {
        panic!(
            "REDIS_URL is not set: set it to a Redis URL or run the tests with `cargo xtask test`"
        )
    })
}
