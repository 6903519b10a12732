//! Integration tests of corral-store: one conformance suite run against PostgreSQL and
//! SQLite (`conformance`), and what only one backend has (`backends`).
//!
//! PostgreSQL needs `DATABASE_URL` (a superuser URL); `cargo xtask test` sets it.

mod backends;
mod conformance;
