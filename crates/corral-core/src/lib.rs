//! Corral's domain, free of HTTP and SQL: the records it keeps ([`model`]),
//! the [`Store`] seam they live behind, and the rules that turn an SDK's event
//! into an issue: grouping, the plan of a digest batch ([`digest`]) and how an
//! issue's state moves ([`lifecycle`]); stores only persist what these decide.

pub mod alerts;
pub mod config;
pub mod credentials;
pub mod digest;
pub mod lifecycle;
pub mod model;
pub mod quota;
pub mod search;
mod store;

mod grouping;
mod normalize;
mod prepare;
mod readiness;
mod summary;

pub use store::*;

pub use grouping::{GROUPING_CONFIG, grouping_components, grouping_hashes};
pub use normalize::{limits, normalize};
pub use prepare::prepare;
pub use readiness::StoreReadiness;
pub use summary::{EventSummary, MAX_CULPRIT_CHARS, MAX_TITLE_CHARS, summarize};
