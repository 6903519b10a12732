//! Kubernetes objects offline: `kubernetes-validate`, validation of custom resources against
//! their CRD's schema, YAML files as JSON, and small lookups.

use std::io::Write;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::python::{arg, bridge, run};

/// The Kubernetes versions `kubernetes-validate` ships schemas for, oldest first.
pub fn supported_versions() -> Vec<String> {
    #[derive(Deserialize)]
    struct Versions {
        versions: Vec<String>,
    }
    let found: Versions = bridge(&["versions"], &Value::Null);
    assert!(
        !found.versions.is_empty(),
        "kubernetes-validate ships no schemas"
    );
    found.versions
}

/// The oldest and the newest of [`supported_versions`]: every check runs against both.
pub fn oldest_and_newest() -> [String; 2] {
    let versions = supported_versions();
    [
        versions.first().expect("a version").clone(),
        versions.last().expect("a version").clone(),
    ]
}

/// What `kubernetes-validate --strict` said.
#[derive(Debug)]
pub struct Validation {
    pub success: bool,
    /// Every ERROR, WARN and FATAL line. A WARN means "no schema for this kind", which for a
    /// built-in kind means a wrong apiVersion or kind: it counts as a problem too.
    pub problems: Vec<String>,
    pub output: String,
}

impl Validation {
    pub fn is_clean(&self) -> bool {
        self.success && self.problems.is_empty()
    }
}

/// Runs `kubernetes-validate --strict` for each of `versions` over `files`.
pub fn validate_files(files: &[&Path], versions: &[String]) -> Validation {
    let mut argv: Vec<String> = vec![
        "-m".into(),
        "kubernetes_validate".into(),
        "--strict".into(),
        "--quiet".into(),
    ];
    for version in versions {
        argv.push("-k".into());
        argv.push(version.clone());
    }
    argv.extend(files.iter().map(|f| arg(f).to_string()));
    let output = run(&argv, b"");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let problems = text
        .lines()
        .filter(|line| {
            ["ERROR", "WARN", "FATAL", "Traceback"]
                .iter()
                .any(|p| line.starts_with(p))
        })
        .map(str::to_string)
        .collect();
    Validation {
        success: output.status.success(),
        problems,
        output: text,
    }
}

/// Runs `kubernetes-validate --strict` over `objects` (written as a multi-document file).
pub fn validate_objects(objects: &[Value], versions: &[String]) -> Validation {
    assert!(!objects.is_empty(), "nothing to validate");
    let mut file = tempfile::Builder::new()
        .suffix(".yaml")
        .tempfile()
        .expect("a temporary file");
    for object in objects {
        // JSON is YAML: one document per object.
        writeln!(file, "---\n{object}").expect("writing objects");
    }
    file.flush().expect("flushing objects");
    validate_files(&[file.path()], versions)
}

/// Schema violations of one custom resource.
#[derive(Debug, Deserialize)]
pub struct CrErrors {
    pub name: Option<String>,
    pub errors: Vec<String>,
}

/// Validates custom resources against the `openAPIV3Schema` of the CRD in `crd_file` (its
/// `nullable` turned into JSON Schema, unknown fields refused as with strict field validation).
pub fn cr_errors(crd_file: &Path, objects: &[Value]) -> Vec<CrErrors> {
    assert!(!objects.is_empty(), "no custom resources to validate");
    bridge(
        &["cr-errors", arg(crd_file)],
        &Value::Array(objects.to_vec()),
    )
}

/// The non-empty YAML documents of a file, as JSON.
pub fn yaml_documents(file: &Path) -> Vec<Value> {
    assert!(file.is_file(), "{} does not exist", file.display());
    bridge(&["yaml", arg(file)], &Value::Null)
}

/// The non-empty YAML documents of a text, as JSON.
pub fn yaml_documents_of(text: &str) -> Vec<Value> {
    let mut file = tempfile::Builder::new()
        .suffix(".yaml")
        .tempfile()
        .expect("a temporary file");
    file.write_all(text.as_bytes()).expect("writing YAML");
    file.flush().expect("flushing YAML");
    yaml_documents(file.path())
}

/// `kind` of an object.
pub fn kind(object: &Value) -> &str {
    object["kind"].as_str().unwrap_or_default()
}

/// `metadata.name` of an object.
pub fn name(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or_default()
}

/// Whether an object is a custom resource of Corral's own API group.
pub fn is_corral_resource(object: &Value) -> bool {
    object["apiVersion"]
        .as_str()
        .is_some_and(|v| v.starts_with("corral.dev/"))
}

/// The one object of `kind` named `name`; panics naming what is there otherwise.
pub fn find<'a>(objects: &'a [Value], kind_: &str, name_: &str) -> &'a Value {
    let mut found = objects
        .iter()
        .filter(|o| kind(o) == kind_ && name(o) == name_);
    let object = found.next().unwrap_or_else(|| {
        let present: Vec<String> = objects
            .iter()
            .map(|o| format!("{}/{}", kind(o), name(o)))
            .collect();
        panic!("no {kind_}/{name_} among {present:?}")
    });
    assert!(found.next().is_none(), "{kind_}/{name_} appears twice");
    object
}

/// Every object of `kind`.
pub fn all_of<'a>(objects: &'a [Value], kind_: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| kind(o) == kind_).collect()
}

/// The object without what only Helm adds (`helm.sh/chart` and `app.kubernetes.io/managed-by`
/// labels), for comparing a rendered chart with the plain manifests.
pub fn without_helm_labels(object: &Value) -> Value {
    match object {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| {
                    let value = match (key.as_str(), value) {
                        ("labels", Value::Object(labels)) => Value::Object(
                            labels
                                .iter()
                                .filter(|(label, _)| {
                                    *label != "helm.sh/chart"
                                        && *label != "app.kubernetes.io/managed-by"
                                })
                                .map(|(k, v)| (k.clone(), v.clone()))
                                .collect(),
                        ),
                        _ => without_helm_labels(value),
                    };
                    (key.clone(), value)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_helm_labels).collect()),
        other => other.clone(),
    }
}
