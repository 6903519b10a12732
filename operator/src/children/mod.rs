//! Pure builders: one function per child object of a `TrackerInstance`.
//! They take the instance (and, for pods, the config hash) and return the
//! object to server-side apply; nothing here talks to the API server.

mod config;
mod network;
mod policy;
mod workloads;

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::{Resource, ResourceExt};

use crate::crd::TrackerInstance;

pub use config::{
    ATTACHMENTS_DIR, CONFIG_HASH_ANNOTATION, config_hash, config_map, referenced_secrets,
};
pub use network::{web_ingress, web_service};
pub use policy::{service_account, web_pdb, worker_pdb};
pub use workloads::{beat_deployment, web_deployment, worker_deployment};

/// The field manager of every server-side apply, and the `managed-by` label.
pub const MANAGER: &str = "corral-operator";
/// `app.kubernetes.io/name` of everything the operator creates.
pub const APP_NAME: &str = "corral";

pub const LABEL_NAME: &str = "app.kubernetes.io/name";
pub const LABEL_INSTANCE: &str = "app.kubernetes.io/instance";
pub const LABEL_COMPONENT: &str = "app.kubernetes.io/component";
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const LABEL_VERSION: &str = "app.kubernetes.io/version";

/// The part of Corral a child belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Component {
    Web,
    Worker,
    Beat,
    Config,
}

impl Component {
    pub fn as_str(self) -> &'static str {
        match self {
            Component::Web => "web",
            Component::Worker => "worker",
            Component::Beat => "beat",
            Component::Config => "config",
        }
    }
}

/// The names of an instance's children.
pub mod names {
    use super::TrackerInstance;
    use kube::ResourceExt;

    pub fn service_account(ti: &TrackerInstance) -> String {
        ti.name_any()
    }
    pub fn config_map(ti: &TrackerInstance) -> String {
        format!("{}-config", ti.name_any())
    }
    pub fn web(ti: &TrackerInstance) -> String {
        format!("{}-web", ti.name_any())
    }
    pub fn worker(ti: &TrackerInstance) -> String {
        format!("{}-worker", ti.name_any())
    }
    pub fn beat(ti: &TrackerInstance) -> String {
        format!("{}-beat", ti.name_any())
    }
}

/// The labels a selector uses: stable across upgrades (no version).
pub fn selector_labels(ti: &TrackerInstance, component: Component) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_NAME.to_string(), APP_NAME.to_string()),
        (LABEL_INSTANCE.to_string(), ti.name_any()),
        (LABEL_COMPONENT.to_string(), component.as_str().to_string()),
    ])
}

/// The labels on every child and pod.
pub fn labels(ti: &TrackerInstance, component: Component) -> BTreeMap<String, String> {
    let mut labels = selector_labels(ti, component);
    labels.insert(LABEL_MANAGED_BY.to_string(), MANAGER.to_string());
    labels.insert(LABEL_VERSION.to_string(), version_label(&ti.spec.image.tag));
    labels
}

/// The image tag as an `app.kubernetes.io/version` label value. A tag may be
/// up to 128 characters and start with `_` or end with `.`, `-` or `_`; a
/// label value may not (at most 63 characters, alphanumeric at both ends).
/// Such a tag is cut to 63 characters and trimmed to alphanumeric ends, so a
/// valid tag never makes every apply fail; `status.version` keeps the whole tag.
pub fn version_label(tag: &str) -> String {
    let cut: String = tag.chars().take(63).collect();
    cut.trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

/// The string selector of the scale subresource: worker pods only, so an
/// HPA sums the right pods' metrics.
pub fn worker_selector(ti: &TrackerInstance) -> String {
    format!(
        "{LABEL_INSTANCE}={},{LABEL_COMPONENT}={},{LABEL_NAME}={APP_NAME}",
        ti.name_any(),
        Component::Worker.as_str()
    )
}

/// Makes the instance the controller owner, so deleting it deletes the child.
/// `blockOwnerDeletion` stays unset: setting it needs `update` on
/// `trackerinstances/finalizers` where OwnerReferencesPermissionEnforcement
/// is on, and the operator's RBAC does not grant that.
pub fn owner_reference(ti: &TrackerInstance) -> OwnerReference {
    OwnerReference {
        api_version: TrackerInstance::api_version(&()).into_owned(),
        kind: TrackerInstance::kind(&()).into_owned(),
        name: ti.name_any(),
        // reconcile refuses an instance without a uid before building
        uid: ti.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: None,
    }
}

fn metadata(ti: &TrackerInstance, name: String, component: Component) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: ti.namespace(),
        labels: Some(labels(ti, component)),
        owner_references: Some(vec![owner_reference(ti)]),
        ..ObjectMeta::default()
    }
}
