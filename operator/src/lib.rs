//! corral-operator: runs Corral's cluster shape on Kubernetes.
//!
//! A `TrackerInstance` (group `corral.dev`, version `v1alpha1`) describes
//! one tracker; the operator server-side applies its children (ConfigMap,
//! web/worker/beat Deployments, Service, optional Ingress, PDBs,
//! ServiceAccount), writes its status and events, and scales its workers
//! through the scale subresource. Only the replica holding the
//! `corral-operator-leader` Lease reconciles.
//!
//! - [`crd`]: the resource, its defaults and [`validate`];
//! - [`children`]: pure builders, one per child;
//! - [`status`]: conditions and counts from what the apply returned;
//! - [`reconcile()`] and [`error_policy`]: one pass, and its retry;
//! - [`run`]: the process (health server, leader election, controller).

mod app;
pub mod children;
mod controller;
mod crd;
mod leader;
mod reconcile;
mod server;
pub mod status;

pub use app::{DEFAULT_BIND, Settings, SettingsError, run};
pub use controller::run_controller;
pub use corral_runtime::telemetry::metrics_handle;
pub use crd::{
    AttachmentsClaim, AttachmentsSpec, BeatSpec, DisruptionBudget, ImageSpec, IngestSpec,
    IngressSpec, MAX_NAME_LEN, PullPolicy, QuotaSpec, SecretKeyRef, ServiceSpec, ServiceType,
    TrackerInstance, TrackerInstanceSpec, TrackerInstanceStatus, UrlSecret, WebSpec, WorkerSpec,
    crd_yaml, validate, validate_name,
};
pub use leader::{LEASE_NAME, LeaderElector, LeaseSettings};
pub use reconcile::{
    Context, Error, INVALID_SPEC_REQUEUE, MAX_BACKOFF, MIN_BACKOFF, MISSING_SECRET_REQUEUE, RESYNC,
    backoff, error_policy, reconcile,
};
pub use server::{Health, router};
