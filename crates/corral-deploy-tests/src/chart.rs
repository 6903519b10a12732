//! The chart through the real Helm v4 engine (helm-python-sdk): lint, render, values checks, and
//! the matrix of values every check runs over.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::kube;
use crate::python::{arg, bridge};
use crate::repo;

/// Release name and namespace the tests render with.
pub const RELEASE: &str = "corral";
pub const NAMESPACE: &str = "errors";

/// One set of values of the matrix.
#[derive(Clone, Debug)]
pub struct Case {
    pub name: &'static str,
    pub values: Value,
}

/// Values enabling the TrackerInstance with every required reference set.
pub fn instance_values() -> Value {
    json!({
        "instance": {
            "enabled": true,
            "baseUrl": "https://errors.example.com",
            "database": { "existingSecret": "corral-db" },
            "redis": { "existingSecret": "corral-redis" },
            "secretKey": { "existingSecret": "corral-secret" },
            "smtp": { "existingSecret": "corral-smtp" },
            "ingest": {
                "maxEventBytes": 2_097_152,
                "maxEnvelopeBytes": 209_715_200,
                "quotas": { "keyEventsPerMinute": 1000, "projectEventsPerHour": 100_000 }
            },
            "env": [{ "name": "CORRAL_QUEUE__MAX_DEPTH", "value": "100000" }],
            "tolerations": [{ "key": "dedicated", "operator": "Equal", "value": "corral", "effect": "NoSchedule" }],
            "nodeSelector": { "kubernetes.io/os": "linux" }
        }
    })
}

/// `base` with `overlay` merged in (objects merge key by key; anything else replaces).
pub fn merged(base: &Value, overlay: &Value) -> Value {
    match (base, overlay) {
        (Value::Object(base), Value::Object(overlay)) => {
            let mut out = base.clone();
            for (key, value) in overlay {
                let merged_value = match out.get(key) {
                    Some(existing) => merged(existing, value),
                    None => value.clone(),
                };
                out.insert(key.clone(), merged_value);
            }
            Value::Object(out)
        }
        (_, overlay) => overlay.clone(),
    }
}

/// The matrix: defaults; an instance; an instance with an Ingress (and an attachments claim); an
/// instance with an HPA.
pub fn matrix() -> Vec<Case> {
    let instance = instance_values();
    vec![
        Case {
            name: "defaults",
            values: json!({}),
        },
        Case {
            name: "instance",
            values: instance.clone(),
        },
        Case {
            name: "instance+ingress",
            values: merged(
                &instance,
                &json!({ "instance": { "web": { "ingress": {
                    "enabled": true,
                    "className": "nginx",
                    "host": "errors.example.com",
                    "tlsSecretName": "errors-example-com-tls",
                    "annotations": { "nginx.ingress.kubernetes.io/proxy-body-size": "200m" }
                } }, "attachments": { "existingClaim": "corral-attachments" } } }),
            ),
        },
        Case {
            name: "instance+hpa",
            values: merged(
                &instance,
                &json!({ "instance": { "worker": { "autoscaling": {
                    "enabled": true,
                    "minReplicas": 2,
                    "maxReplicas": 12,
                    "targetCPUUtilizationPercentage": 75,
                    "targetMemoryUtilizationPercentage": 80
                } } } }),
            ),
        },
    ]
}

/// One finding of `helm lint`.
#[derive(Debug, Deserialize)]
pub struct Finding {
    /// 0 unknown, 1 info, 2 warning, 3 error.
    pub severity: u8,
    pub path: String,
    pub error: String,
}

/// What `helm lint --strict` reported.
#[derive(Debug, Deserialize)]
pub struct LintReport {
    pub total_charts_linted: u32,
    pub messages: Vec<Finding>,
    pub errors: Vec<String>,
}

impl LintReport {
    /// Warnings, errors and failures (info findings such as "icon is recommended" are not).
    pub fn problems(&self) -> Vec<String> {
        self.messages
            .iter()
            .filter(|f| f.severity >= 2)
            .map(|f| format!("[{}] {}: {}", f.severity, f.path, f.error))
            .chain(self.errors.iter().cloned())
            .collect()
    }
}

/// `helm lint --strict --kube-version VERSION` of the chart with `values`.
pub fn lint(values: &Value, kube_version: &str) -> LintReport {
    let chart = repo::chart();
    let version = format!("v{}", kube_version.trim_start_matches('v'));
    bridge(&["lint", arg(&chart), &version], values)
}

/// One rendered object and the template (or CRD file) it came from.
#[derive(Debug, Deserialize)]
pub struct Sourced {
    pub source: String,
    pub object: Value,
}

/// A file of the chart's `crds/`.
#[derive(Debug, Deserialize)]
pub struct CrdFile {
    pub filename: String,
    pub data: String,
}

/// A chart rendered as `helm template` would.
#[derive(Debug, Deserialize)]
pub struct Rendered {
    /// Template path to rendered text (NOTES.txt included), exactly as Helm produced it.
    pub templates: BTreeMap<String, String>,
    pub crds: Vec<CrdFile>,
    pub objects: Vec<Sourced>,
    pub crd_objects: Vec<Sourced>,
}

impl Rendered {
    /// Every object the templates rendered.
    pub fn objects(&self) -> Vec<Value> {
        self.objects.iter().map(|s| s.object.clone()).collect()
    }

    /// The objects of built-in kinds, and the CRDs from `crds/`: what kubernetes-validate knows.
    pub fn builtin_objects(&self) -> Vec<Value> {
        self.objects
            .iter()
            .chain(&self.crd_objects)
            .map(|s| s.object.clone())
            .filter(|o| !kube::is_corral_resource(o))
            .collect()
    }

    /// The TrackerInstances the templates rendered.
    pub fn tracker_instances(&self) -> Vec<Value> {
        self.objects
            .iter()
            .map(|s| s.object.clone())
            .filter(|o| kube::kind(o) == "TrackerInstance")
            .collect()
    }

    /// NOTES.txt as rendered.
    pub fn notes(&self) -> &str {
        self.templates
            .iter()
            .find(|(path, _)| path.ends_with("/NOTES.txt"))
            .map(|(_, text)| text.as_str())
            .expect("the chart renders a NOTES.txt")
    }
}

/// Renders the chart with `values` as release `release` in `namespace`.
pub fn render_as(values: &Value, release: &str, namespace: &str) -> Rendered {
    let chart = repo::chart();
    bridge(&["render", arg(&chart), release, namespace], values)
}

/// Renders the chart with `values` as release [`RELEASE`] in [`NAMESPACE`].
pub fn render(values: &Value) -> Rendered {
    render_as(values, RELEASE, NAMESPACE)
}

/// What the chart says about a set of values.
#[derive(Debug, Deserialize)]
pub struct ValuesVerdict {
    /// The refusal of `values.schema.json`, if any.
    pub schema_error: Option<String>,
    /// The refusal of a render (schema or a template's `required`/`fail`), if any.
    pub render_error: Option<String>,
}

/// Validates `values` against `values.schema.json` and tries a render.
pub fn check_values(values: &Value) -> ValuesVerdict {
    let chart = repo::chart();
    bridge(&["check-values", arg(&chart)], values)
}
