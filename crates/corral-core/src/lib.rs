//! Corral's domain, free of HTTP and SQL: the records it keeps ([`model`]),
//! the [`Store`] seam they live behind, and the rules that turn an SDK's event
//! into an issue.

pub mod model;
mod store;

pub use store::*;
