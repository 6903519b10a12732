//! What the status says: ready counts and the Ready / Migrated /
//! Progressing / Degraded conditions, computed from the Deployments the
//! apply returned, plus the informational AttachmentsPersistent. Pure, so
//! each rule has a unit test.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::ResourceExt;

use crate::children::worker_selector;
use crate::crd::{TrackerInstance, TrackerInstanceStatus};

pub const READY: &str = "Ready";
pub const MIGRATED: &str = "Migrated";
pub const PROGRESSING: &str = "Progressing";
pub const DEGRADED: &str = "Degraded";
/// Whether attachments outlive a pod: True on a PersistentVolumeClaim,
/// False on the per-pod emptyDir. Informational: Ready does not depend on it.
pub const ATTACHMENTS_PERSISTENT: &str = "AttachmentsPersistent";

/// Reasons of `Degraded=True` that stop reconcile before any child changes.
pub mod reason {
    pub const INVALID_SPEC: &str = "InvalidSpec";
    pub const SECRET_NOT_FOUND: &str = "SecretNotFound";
    pub const SECRET_KEY_MISSING: &str = "SecretKeyMissing";
    pub const APPLY_FAILED: &str = "ApplyFailed";
    pub const ROLLOUT_STALLED: &str = "RolloutStalled";
}

/// How far one Deployment's rollout has got.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rollout {
    pub name: String,
    pub desired: i32,
    pub replicas: i32,
    pub updated: i32,
    pub ready: i32,
    pub available: i32,
    /// The Deployment controller has seen the newest spec.
    pub observed: bool,
    /// Why the rollout stopped making progress, if it did.
    pub stalled: Option<String>,
}

impl Rollout {
    pub fn of(deployment: &Deployment) -> Rollout {
        let desired = deployment
            .spec
            .as_ref()
            .and_then(|s| s.replicas)
            .unwrap_or(1);
        let status = deployment.status.clone().unwrap_or_default();
        let observed = match (deployment.metadata.generation, status.observed_generation) {
            (Some(generation), Some(seen)) => seen >= generation,
            (None, _) => true,
            (Some(_), None) => false,
        };
        let stalled = status
            .conditions
            .unwrap_or_default()
            .into_iter()
            .find_map(|c| {
                let deadline = c.type_ == "Progressing"
                    && c.reason.as_deref() == Some("ProgressDeadlineExceeded");
                let failure = c.type_ == "ReplicaFailure" && c.status == "True";
                (deadline || failure).then(|| c.message.unwrap_or_else(|| c.type_.clone()))
            });
        Rollout {
            name: deployment.name_any(),
            desired,
            replicas: status.replicas.unwrap_or(0),
            updated: status.updated_replicas.unwrap_or(0),
            ready: status.ready_replicas.unwrap_or(0),
            available: status.available_replicas.unwrap_or(0),
            observed,
            stalled,
        }
    }

    /// The same test as `kubectl rollout status`.
    pub fn waiting_for(&self) -> Option<String> {
        if !self.observed {
            Some(format!(
                "{}: waiting for the new spec to be observed",
                self.name
            ))
        } else if self.updated < self.desired {
            Some(format!(
                "{}: {} of {} replicas updated",
                self.name, self.updated, self.desired
            ))
        } else if self.replicas > self.updated {
            Some(format!(
                "{}: {} old replicas pending termination",
                self.name,
                self.replicas - self.updated
            ))
        } else if self.available < self.updated {
            Some(format!(
                "{}: {} of {} updated replicas available",
                self.name, self.available, self.updated
            ))
        } else {
            None
        }
    }

    pub fn is_ready(&self) -> bool {
        self.ready >= self.desired
    }
}

/// The three Deployments as the last apply returned them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    pub web: Rollout,
    pub worker: Rollout,
    pub beat: Rollout,
}

impl Observed {
    fn all(&self) -> [&Rollout; 3] {
        [&self.web, &self.worker, &self.beat]
    }
}

/// The status after every child was applied.
pub fn applied_status(
    ti: &TrackerInstance,
    previous: &TrackerInstanceStatus,
    observed: &Observed,
    config_hash: &str,
    now: &Time,
) -> TrackerInstanceStatus {
    let generation = ti.metadata.generation;
    let tag = &ti.spec.image.tag;
    let mut conditions = previous.conditions.clone();
    let condition = |type_: &str, ok: bool, reason: &str, message: String| Condition {
        type_: type_.to_string(),
        status: if ok { "True" } else { "False" }.to_string(),
        reason: reason.to_string(),
        message,
        observed_generation: generation,
        last_transition_time: now.clone(),
    };

    let counts = observed
        .all()
        .iter()
        .map(|r| format!("{} {}/{} ready", r.name, r.ready, r.desired))
        .collect::<Vec<_>>()
        .join(", ");
    let all_ready = observed.all().iter().all(|r| r.is_ready());
    set_condition(
        &mut conditions,
        if all_ready {
            condition(READY, true, "AllReplicasReady", counts)
        } else {
            condition(READY, false, "ReplicasNotReady", counts)
        },
    );

    // beat's readiness means the schema is current (it migrates first)
    let beat = &observed.beat;
    let migrated = beat.waiting_for().is_none() && beat.ready >= 1;
    set_condition(
        &mut conditions,
        if migrated {
            condition(
                MIGRATED,
                true,
                "SchemaCurrent",
                format!("beat {tag} is ready: the database schema is current"),
            )
        } else {
            condition(
                MIGRATED,
                false,
                "MigrationPending",
                format!("waiting for beat {tag} to become ready (it runs the migrations)"),
            )
        },
    );

    let waiting: Vec<String> = observed
        .all()
        .iter()
        .filter_map(|r| r.waiting_for())
        .collect();
    let stalled: Vec<String> = observed
        .all()
        .iter()
        .filter_map(|r| r.stalled.as_ref().map(|why| format!("{}: {why}", r.name)))
        .collect();
    set_condition(
        &mut conditions,
        if !stalled.is_empty() {
            condition(
                PROGRESSING,
                false,
                "ProgressDeadlineExceeded",
                stalled.join("; "),
            )
        } else if waiting.is_empty() {
            condition(
                PROGRESSING,
                false,
                "RolloutComplete",
                format!("version {tag} is rolled out"),
            )
        } else {
            condition(PROGRESSING, true, "RollingOut", waiting.join("; "))
        },
    );
    set_condition(
        &mut conditions,
        if stalled.is_empty() {
            condition(
                DEGRADED,
                false,
                "AsExpected",
                "every child is applied".to_string(),
            )
        } else {
            condition(DEGRADED, true, reason::ROLLOUT_STALLED, stalled.join("; "))
        },
    );

    let attachments = &ti.spec.attachments;
    set_condition(
        &mut conditions,
        match &attachments.persistent_volume_claim {
            Some(claim) => condition(
                ATTACHMENTS_PERSISTENT,
                true,
                "PersistentVolumeClaim",
                format!(
                    "attachments are kept on PersistentVolumeClaim {}, shared by every pod",
                    claim.claim_name
                ),
            ),
            None => condition(
                ATTACHMENTS_PERSISTENT,
                false,
                "EmptyDir",
                format!(
                    "attachments are kept per pod in an emptyDir (sizeLimit {}): each is seen only \
                     by the pod that received it and lost when that pod is replaced (a rollout, an \
                     eviction, a node failure); set spec.attachments.persistentVolumeClaim.claimName \
                     to a ReadWriteMany claim to keep them",
                    attachments.size_limit.0
                ),
            ),
        },
    );

    let version = if waiting.is_empty() && stalled.is_empty() {
        Some(tag.clone())
    } else {
        previous.version.clone()
    };
    TrackerInstanceStatus {
        observed_generation: generation,
        conditions,
        web_ready_replicas: observed.web.ready,
        worker_ready_replicas: observed.worker.ready,
        beat_ready: observed.beat.ready >= 1,
        worker_replicas: observed.worker.replicas,
        worker_selector: Some(worker_selector(ti)),
        version,
        config_hash: Some(config_hash.to_string()),
    }
}

/// The status when reconcile stopped before changing any child: the
/// previous counts stay, `Degraded` says why, and conditions never set
/// before become `Unknown`.
pub fn degraded_status(
    ti: &TrackerInstance,
    previous: &TrackerInstanceStatus,
    reason: &str,
    message: String,
    now: &Time,
) -> TrackerInstanceStatus {
    let generation = ti.metadata.generation;
    let mut conditions = previous.conditions.clone();
    for type_ in [READY, MIGRATED, PROGRESSING] {
        if !conditions.iter().any(|c| c.type_ == type_) {
            conditions.push(Condition {
                type_: type_.to_string(),
                status: "Unknown".to_string(),
                reason: reason.to_string(),
                message: "no children were applied".to_string(),
                observed_generation: generation,
                last_transition_time: now.clone(),
            });
        }
    }
    set_condition(
        &mut conditions,
        Condition {
            type_: DEGRADED.to_string(),
            status: "True".to_string(),
            reason: reason.to_string(),
            message,
            observed_generation: generation,
            last_transition_time: now.clone(),
        },
    );
    TrackerInstanceStatus {
        observed_generation: generation,
        conditions,
        worker_selector: Some(worker_selector(ti)),
        ..previous.clone()
    }
}

/// Replaces the condition of the same type, keeping its
/// `lastTransitionTime` unless the status flips.
pub fn set_condition(conditions: &mut Vec<Condition>, mut condition: Condition) {
    match conditions.iter_mut().find(|c| c.type_ == condition.type_) {
        Some(existing) => {
            if existing.status == condition.status {
                condition.last_transition_time = existing.last_transition_time.clone();
            }
            *existing = condition;
        }
        None => conditions.push(condition),
    }
}

/// The condition of the given type, if set.
pub fn condition<'a>(status: &'a TrackerInstanceStatus, type_: &str) -> Option<&'a Condition> {
    status.conditions.iter().find(|c| c.type_ == type_)
}
