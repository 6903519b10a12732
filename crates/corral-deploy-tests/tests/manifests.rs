//! The plain manifests: `manifests/operator.yaml`, `kustomization.yaml` and `examples/`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use corral_deploy_tests::chart;
use corral_deploy_tests::contract::OPERATOR_NAMESPACE;
use corral_deploy_tests::kube::{self, find};
use corral_deploy_tests::repo;
use serde_json::{Value, json};

fn manifest(path: &str) -> PathBuf {
    let file = repo::manifests().join(path);
    assert!(file.is_file(), "{} is missing", file.display());
    file
}

/// Objects keyed by kind and name, for comparing two sets of objects.
fn by_kind_and_name(objects: &[Value]) -> BTreeMap<(String, String), Value> {
    let mut keyed = BTreeMap::new();
    for object in objects {
        let key = (
            kube::kind(object).to_string(),
            kube::name(object).to_string(),
        );
        assert!(
            keyed
                .insert(key.clone(), kube::without_helm_labels(object))
                .is_none(),
            "{key:?} appears twice"
        );
    }
    keyed
}

#[test]
fn manifests_pass_kubernetes_validate_for_the_oldest_and_newest_kubernetes() {
    let versions = kube::oldest_and_newest();
    let files = [
        manifest("crd.yaml"),
        manifest("operator.yaml"),
        manifest("examples/secrets.yaml"),
    ];
    let files: Vec<&std::path::Path> = files.iter().map(PathBuf::as_path).collect();
    let validation = kube::validate_files(&files, &versions);
    assert!(
        validation.is_clean(),
        "kubernetes-validate --strict {versions:?}:\n{}",
        validation.output
    );
}

#[test]
fn operator_manifest_equals_the_charts_defaults() {
    let plain = kube::yaml_documents(&manifest("operator.yaml"));
    let namespace = find(&plain, "Namespace", OPERATOR_NAMESPACE);
    assert_eq!(namespace["apiVersion"], "v1");
    for object in &plain {
        let cluster_scoped = matches!(
            kube::kind(object),
            "Namespace" | "ClusterRole" | "ClusterRoleBinding"
        );
        if !cluster_scoped {
            assert_eq!(
                object["metadata"]["namespace"],
                OPERATOR_NAMESPACE,
                "{}/{} is not in {OPERATOR_NAMESPACE}",
                kube::kind(object),
                kube::name(object)
            );
        }
    }
    let without_namespace: Vec<Value> = plain
        .into_iter()
        .filter(|o| kube::kind(o) != "Namespace")
        .collect();

    let rendered = chart::render_as(&json!({}), "corral", OPERATOR_NAMESPACE).objects();
    let plain = by_kind_and_name(&without_namespace);
    let rendered = by_kind_and_name(&rendered);
    assert_eq!(
        plain.keys().collect::<Vec<_>>(),
        rendered.keys().collect::<Vec<_>>(),
        "operator.yaml and the chart's defaults hold different objects"
    );
    for (key, object) in &plain {
        assert_eq!(
            object, &rendered[key],
            "{key:?} differs between operator.yaml and the chart's defaults"
        );
    }
}

#[test]
fn example_tracker_instance_validates_against_the_crd() {
    let instances = kube::yaml_documents(&manifest("examples/trackerinstance.yaml"));
    assert!(!instances.is_empty());
    for instance in &instances {
        assert_eq!(kube::kind(instance), "TrackerInstance");
    }
    for result in kube::cr_errors(&manifest("crd.yaml"), &instances) {
        assert!(
            result.errors.is_empty(),
            "examples/trackerinstance.yaml ({:?}) does not match manifests/crd.yaml:\n{}",
            result.name,
            result.errors.join("\n")
        );
    }
}

#[test]
fn example_secrets_hold_placeholders_for_every_reference() {
    let instances = kube::yaml_documents(&manifest("examples/trackerinstance.yaml"));
    let secrets_file = manifest("examples/secrets.yaml");
    let text = std::fs::read_to_string(&secrets_file).expect("secrets.yaml");
    assert!(
        text.lines()
            .any(|l| l.starts_with('#') && l.contains("PLACEHOLDER")),
        "secrets.yaml must say its values are placeholders"
    );
    let documents = kube::yaml_documents(&secrets_file);
    let secrets = kube::all_of(&documents, "Secret");
    assert!(!secrets.is_empty());
    for secret in &secrets {
        let data = secret["stringData"].as_object().expect("stringData");
        for (key, value) in data {
            let value = value.as_str().expect("a string value");
            assert!(
                value.contains("CHANGE-ME"),
                "{}/{key} is not an obvious placeholder: {value}",
                kube::name(secret)
            );
        }
    }
    for instance in &instances {
        let spec = &instance["spec"];
        let mut references = vec![
            &spec["database"]["urlSecret"],
            &spec["redis"]["urlSecret"],
            &spec["secretKey"],
        ];
        if spec.get("smtp").is_some() {
            references.push(&spec["smtp"]["urlSecret"]);
        }
        for reference in references {
            let name = reference["name"].as_str().expect("a Secret name");
            let key = reference["key"].as_str().expect("a Secret key");
            let secret = find(&documents, "Secret", name);
            assert_eq!(
                secret["metadata"]["namespace"],
                instance["metadata"]["namespace"]
            );
            assert!(
                secret["stringData"].get(key).is_some(),
                "Secret {name} has no key {key}"
            );
        }
    }
    let namespace = instances[0]["metadata"]["namespace"]
        .as_str()
        .expect("a namespace");
    find(&documents, "Namespace", namespace);
}

#[test]
fn kustomization_lists_the_crd_and_the_operator_and_builds() {
    let kustomization = kube::yaml_documents(&manifest("kustomization.yaml")).remove(0);
    assert_eq!(kustomization["kind"], "Kustomization");
    let resources: Vec<&str> = kustomization["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| r.as_str().expect("a path"))
        .collect();
    assert_eq!(resources, ["crd.yaml", "operator.yaml"]);
    for resource in &resources {
        manifest(resource);
    }

    let mut expected = kube::yaml_documents(&manifest("crd.yaml"));
    expected.extend(kube::yaml_documents(&manifest("operator.yaml")));
    // kubectl is optional on a developer machine; where it is installed, the real kustomize
    // build must succeed and produce exactly the listed objects.
    if let Ok(kubectl) = which::which("kubectl") {
        let output = Command::new(kubectl)
            .arg("kustomize")
            .arg(repo::manifests())
            .output()
            .expect("running kubectl kustomize");
        assert!(
            output.status.success(),
            "kubectl kustomize manifests failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let built = kube::yaml_documents_of(&String::from_utf8_lossy(&output.stdout));
        let keys = |objects: &[Value]| by_kind_and_name(objects).into_keys().collect::<Vec<_>>();
        assert_eq!(keys(&built), keys(&expected));
    }
}
