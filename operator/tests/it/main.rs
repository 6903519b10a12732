//! Integration tests of corral-operator: pure builders, status rules, the
//! CRD and its files, and reconcile / leader election against a mocked API
//! server (kube's `tower_test` pattern; no cluster can run here).

mod builders;
mod crd;
mod fixtures;
mod leader;
mod mock;
mod process;
mod rbac;
mod reconcile;
mod server;
mod status;
