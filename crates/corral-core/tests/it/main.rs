//! Integration tests of corral-core: grouping, real SDK payloads against what Sentry
//! computed for them, and properties of event preparation.

mod fixtures;
mod grouping;
mod properties;
