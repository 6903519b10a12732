//! The ConfigMap of non-secret settings, and the hash that rolls the pods
//! when it or a referenced Secret changes.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{Component, metadata, names};
use crate::crd::{SecretKeyRef, TrackerInstance, TrackerInstanceSpec};

/// Pod template annotation; a new value makes Kubernetes roll the pods.
pub const CONFIG_HASH_ANNOTATION: &str = "corral.dev/config-hash";

/// The server's data directory; an emptyDir, as the root filesystem is
/// read-only.
pub(crate) const DATA_DIR: &str = "/data";

/// Where the attachments volume is mounted in every pod (env
/// `CORRAL_ATTACHMENTS_DIR`): the claim of `spec.attachments`, or an emptyDir.
pub const ATTACHMENTS_DIR: &str = "/attachments";

/// `{name}-config`: every setting that is not a secret, as env variables
/// in the names `corral_core::config` reads.
pub fn config_map(ti: &TrackerInstance) -> ConfigMap {
    let spec = &ti.spec;
    let mut data = BTreeMap::from([
        ("CORRAL_BASE_URL".to_string(), spec.base_url.clone()),
        (
            "CORRAL_RETENTION_DAYS".to_string(),
            spec.retention_days.to_string(),
        ),
        ("CORRAL_LOG_FORMAT".to_string(), "json".to_string()),
        ("CORRAL_DATA_DIR".to_string(), DATA_DIR.to_string()),
        (
            "CORRAL_WORKER__CONCURRENCY".to_string(),
            spec.worker.concurrency.to_string(),
        ),
    ]);
    let ingest = &spec.ingest;
    let quotas = &ingest.quotas;
    let optional = [
        ("CORRAL_INGEST__MAX_EVENT_BYTES", ingest.max_event_bytes),
        (
            "CORRAL_INGEST__MAX_ENVELOPE_BYTES",
            ingest.max_envelope_bytes,
        ),
        (
            "CORRAL_INGEST__MAX_ATTACHMENT_BYTES",
            ingest.max_attachment_bytes,
        ),
        (
            "CORRAL_QUOTAS__KEY_EVENTS_PER_MINUTE",
            quotas.key_events_per_minute,
        ),
        (
            "CORRAL_QUOTAS__KEY_EVENTS_PER_HOUR",
            quotas.key_events_per_hour,
        ),
        (
            "CORRAL_QUOTAS__PROJECT_EVENTS_PER_MINUTE",
            quotas.project_events_per_minute,
        ),
        (
            "CORRAL_QUOTAS__PROJECT_EVENTS_PER_HOUR",
            quotas.project_events_per_hour,
        ),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            data.insert(key.to_string(), value.to_string());
        }
    }
    ConfigMap {
        metadata: metadata(ti, names::config_map(ti), Component::Config),
        data: Some(data),
        ..ConfigMap::default()
    }
}

/// Every Secret key the pods read, in the order of the spec.
pub fn referenced_secrets(spec: &TrackerInstanceSpec) -> Vec<&SecretKeyRef> {
    let mut refs = vec![
        &spec.database.url_secret,
        &spec.redis.url_secret,
        &spec.secret_key,
    ];
    if let Some(smtp) = &spec.smtp {
        refs.push(&smtp.url_secret);
    }
    refs
}

/// A hash of the ConfigMap's data and the referenced Secrets'
/// `resourceVersion`s (name → version): pods only read them at start, so a
/// change must roll them.
pub fn config_hash(config: &ConfigMap, secret_versions: &BTreeMap<String, String>) -> String {
    // BTreeMaps serialize in key order, so equal inputs hash equally
    let canonical = json!({
        "configMap": config.data.clone().unwrap_or_default(),
        "secrets": secret_versions,
    });
    let digest = Sha256::digest(canonical.to_string().as_bytes());
    hex::encode(&digest[..16])
}
