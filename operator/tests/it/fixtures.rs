//! Test instances.

use corral_operator::TrackerInstance;
use serde_json::{Value, json};

pub const NAMESPACE: &str = "errors";
pub const NAME: &str = "prod";
pub const UID: &str = "5b0c7f1e-5f5e-4d7e-9c1a-2f0f8b1d6a01";

/// The minimal spec: only the required fields.
pub fn minimal_spec() -> Value {
    json!({
        "database": {"urlSecret": {"name": "corral-db", "key": "url"}},
        "redis": {"urlSecret": {"name": "corral-redis", "key": "url"}},
        "secretKey": {"name": "corral-secret", "key": "secret-key"},
        "baseUrl": "https://errors.example.com",
    })
}

/// An instance as the API server would hand it to reconcile.
pub fn instance_with(spec: Value, generation: i64) -> TrackerInstance {
    serde_json::from_value(json!({
        "apiVersion": "corral.dev/v1alpha1",
        "kind": "TrackerInstance",
        "metadata": {
            "name": NAME,
            "namespace": NAMESPACE,
            "uid": UID,
            "generation": generation,
            "resourceVersion": "4711",
        },
        "spec": spec,
    }))
    .expect("a valid TrackerInstance")
}

pub fn instance() -> TrackerInstance {
    instance_with(minimal_spec(), 1)
}

/// The minimal spec with `patch` merged into it (one level deep per key).
pub fn spec_with(patch: Value) -> Value {
    let mut spec = minimal_spec();
    merge(&mut spec, patch);
    spec
}

fn merge(target: &mut Value, patch: Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                merge(target.entry(key).or_insert(Value::Null), value);
            }
        }
        (target, patch) => *target = patch,
    }
}
