//! Identity and disruption policy: the pods' ServiceAccount and the
//! PodDisruptionBudgets of web and worker.

use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use super::{Component, metadata, names, selector_labels};
use crate::crd::{DisruptionBudget, TrackerInstance};

/// `{name}`: the pods need no Kubernetes API access, so no token is mounted.
/// Shared by all components, it is labelled like the other instance-wide
/// child, the ConfigMap (`component: config`).
pub fn service_account(ti: &TrackerInstance) -> ServiceAccount {
    ServiceAccount {
        metadata: metadata(ti, names::service_account(ti), Component::Config),
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    }
}

/// `{name}-web`, from `spec.web.podDisruptionBudget`.
pub fn web_pdb(ti: &TrackerInstance) -> PodDisruptionBudget {
    pdb(
        ti,
        names::web(ti),
        Component::Web,
        &ti.spec.web.pod_disruption_budget,
    )
}

/// `{name}-worker`, from `spec.worker.podDisruptionBudget`.
pub fn worker_pdb(ti: &TrackerInstance) -> PodDisruptionBudget {
    pdb(
        ti,
        names::worker(ti),
        Component::Worker,
        &ti.spec.worker.pod_disruption_budget,
    )
}

fn pdb(
    ti: &TrackerInstance,
    name: String,
    component: Component,
    budget: &DisruptionBudget,
) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: metadata(ti, name, component),
        spec: Some(PodDisruptionBudgetSpec {
            selector: Some(LabelSelector {
                match_labels: Some(selector_labels(ti, component)),
                match_expressions: None,
            }),
            min_available: budget.min_available.clone(),
            max_unavailable: budget.max_unavailable.clone(),
            unhealthy_pod_eviction_policy: None,
        }),
        status: None,
    }
}
