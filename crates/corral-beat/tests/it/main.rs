//! Integration tests of corral-beat: leader election and migrations as processes, and purge
//! through the real stores.

mod leader;
mod purge;
