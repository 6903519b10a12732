//! What every Corral binary runs on, and nothing of what any one of them
//! does: the probe server that is up before its process connects
//! ([`Probes`], [`Readiness`]), the HTTP accept loop with its limits
//! ([`serve_with`]), logs and metrics ([`telemetry`]), the memory allocator
//! ([`allocator`], [`use_allocator!`]) and the one shutdown signal
//! ([`shutdown_token`]).
//!
//! It knows no Corral crate: the readiness checks are handed in by each
//! binary, so the beat and the worker do not compile the web application,
//! and the operator shares it too.

pub mod allocator;
mod probes;
mod server;
mod shutdown;
mod startup;
pub mod telemetry;

pub use probes::{Readiness, Starting, routes, starting_routes};
pub use server::{ConnectionLimits, serve, serve_with};
pub use shutdown::shutdown_token;
pub use startup::{Probes, Swappable, connect_with_retry};
pub use tokio_util::sync::CancellationToken;
