//! Leader election on a `coordination.k8s.io/v1` Lease, the way client-go
//! does it: read the Lease, take it when it is free or expired, renew it
//! while leading, and write with the read `resourceVersion` so two
//! candidates never both win (optimistic concurrency; RBAC: get, create,
//! update). Expiry is judged by this process's clock from when it last saw
//! the record change, so clock skew between nodes does not matter.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, PostParams};
use tokio::time::Instant;
use tracing::{info, warn};

use crate::children::MANAGER;

/// The Lease every operator replica competes for.
pub const LEASE_NAME: &str = "corral-operator-leader";

/// Timing as client-go's defaults: a leader that cannot renew for
/// `renew_deadline` steps down; others wait `lease_duration` after the last
/// change they saw before taking over.
#[derive(Clone, Debug)]
pub struct LeaseSettings {
    pub name: String,
    pub namespace: String,
    /// Unique per replica: the pod name.
    pub identity: String,
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

impl LeaseSettings {
    pub fn new(namespace: impl Into<String>, identity: impl Into<String>) -> LeaseSettings {
        LeaseSettings {
            name: LEASE_NAME.to_string(),
            namespace: namespace.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// The last Lease record seen, and when this process saw it change.
#[derive(Clone, Debug, PartialEq)]
struct Seen {
    holder: Option<String>,
    renew_time: Option<MicroTime>,
    transitions: Option<i32>,
    at: Instant,
}

pub struct LeaderElector {
    api: Api<Lease>,
    settings: LeaseSettings,
    seen: Option<Seen>,
}

impl LeaderElector {
    pub fn new(client: Client, settings: LeaseSettings) -> LeaderElector {
        LeaderElector {
            api: Api::namespaced(client, &settings.namespace),
            settings,
            seen: None,
        }
    }

    pub fn identity(&self) -> &str {
        &self.settings.identity
    }

    /// One round: returns whether this process holds the Lease afterwards.
    /// A lost race (409 Conflict or AlreadyExists) is `Ok(false)`.
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        let now = MicroTime(Timestamp::now());
        let duration_secs = i32::try_from(self.settings.lease_duration.as_secs()).unwrap_or(15);
        let params = PostParams {
            field_manager: Some(MANAGER.to_string()),
            ..PostParams::default()
        };
        let Some(lease) = self.api.get_opt(&self.settings.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.settings.name.clone()),
                    namespace: Some(self.settings.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.settings.identity.clone()),
                    lease_duration_seconds: Some(duration_secs),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.api.create(&params, &lease).await {
                Ok(created) => {
                    self.observe(&created);
                    Ok(true)
                }
                Err(error) if is_conflict(&error) => Ok(false),
                Err(error) => Err(error),
            };
        };

        self.observe(&lease);
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let mine = holder.as_deref() == Some(self.settings.identity.as_str());
        if holder.is_some() && !mine && !self.expired(spec.lease_duration_seconds) {
            return Ok(false);
        }

        let mut next = spec.clone();
        next.holder_identity = Some(self.settings.identity.clone());
        next.lease_duration_seconds = Some(duration_secs);
        next.renew_time = Some(now.clone());
        if !mine {
            next.acquire_time = Some(now);
            next.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        let mut updated = lease;
        updated.spec = Some(next);
        // `updated` keeps the resourceVersion read above: a write by anyone
        // else since then makes this one fail with 409
        match self
            .api
            .replace(&self.settings.name, &params, &updated)
            .await
        {
            Ok(written) => {
                self.observe(&written);
                Ok(true)
            }
            Err(error) if is_conflict(&error) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Waits until this process leads, retrying every `retry_period`.
    pub async fn acquire(&mut self) {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => {
                    info!(identity = %self.settings.identity, lease = %self.settings.name, "became the leader");
                    metrics::gauge!("corral_operator_leader").set(1.0);
                    return;
                }
                Ok(false) => {}
                Err(error) => warn!(%error, "could not read or take the leader lease"),
            }
            tokio::time::sleep(self.settings.retry_period).await;
        }
    }

    /// Renews every `retry_period` while leading; returns once leadership
    /// is lost: another holder took the Lease, or renewing failed for
    /// longer than `renew_deadline`.
    pub async fn hold(&mut self) {
        let mut renewed = Instant::now();
        loop {
            tokio::time::sleep(self.settings.retry_period).await;
            match self.try_acquire_or_renew().await {
                Ok(true) => renewed = Instant::now(),
                Ok(false) => {
                    warn!(identity = %self.settings.identity, "another replica holds the leader lease");
                    break;
                }
                Err(error) => {
                    warn!(%error, "could not renew the leader lease");
                    if renewed.elapsed() >= self.settings.renew_deadline {
                        break;
                    }
                }
            }
        }
        metrics::gauge!("corral_operator_leader").set(0.0);
    }

    /// Gives the Lease up (on shutdown) so another replica takes over at
    /// once instead of after `lease_duration`. Does nothing if another
    /// replica holds it.
    pub async fn release(&mut self) -> Result<(), kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.settings.name).await? else {
            return Ok(());
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(self.settings.identity.as_str()) {
            return Ok(());
        }
        let now = MicroTime(Timestamp::now());
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.acquire_time = Some(now.clone());
        spec.renew_time = Some(now);
        let params = PostParams {
            field_manager: Some(MANAGER.to_string()),
            ..PostParams::default()
        };
        match self.api.replace(&self.settings.name, &params, &lease).await {
            Ok(_) => {
                info!(identity = %self.settings.identity, "released the leader lease");
                metrics::gauge!("corral_operator_leader").set(0.0);
                Ok(())
            }
            // someone wrote in between: then it is not ours to release
            Err(error) if is_conflict(&error) => Ok(()),
            Err(error) => Err(error),
        }
    }

    fn observe(&mut self, lease: &Lease) {
        let spec = lease.spec.clone().unwrap_or_default();
        let seen = Seen {
            holder: spec.holder_identity,
            renew_time: spec.renew_time,
            transitions: spec.lease_transitions,
            at: Instant::now(),
        };
        let changed = self.seen.as_ref().is_none_or(|old| {
            old.holder != seen.holder
                || old.renew_time != seen.renew_time
                || old.transitions != seen.transitions
        });
        if changed {
            self.seen = Some(seen);
        }
    }

    fn expired(&self, lease_duration_seconds: Option<i32>) -> bool {
        let duration = lease_duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map_or(self.settings.lease_duration, Duration::from_secs);
        self.seen
            .as_ref()
            .is_none_or(|seen| seen.at + duration <= Instant::now())
    }
}

fn is_conflict(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 409)
}
