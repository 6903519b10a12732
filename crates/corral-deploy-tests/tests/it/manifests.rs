//! The plain manifests: `manifests/operator.yaml`, `kustomization.yaml` and `examples/`.

use std::collections::BTreeMap;
use std::path::PathBuf;

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
        manifest("examples/attachments.yaml"),
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

/// The fields a `kustomization.yaml` may hold for `kubectl apply -k manifests/` to apply exactly
/// the listed files: anything else (namespace, patches, generators, name prefixes, labels, …)
/// would make kustomize change or add objects.
const PLAIN_KUSTOMIZATION_FIELDS: [&str; 3] = ["apiVersion", "kind", "resources"];

#[test]
fn kustomization_lists_the_crd_and_the_operator_and_nothing_else() {
    // Checked here without kustomize itself: a kustomization with only `resources` builds to
    // exactly the objects of the listed files, so proving that (and that each file exists and
    // holds well-formed objects) proves what `kubectl apply -k manifests/` applies.
    let kustomizations = kube::yaml_documents(&manifest("kustomization.yaml"));
    assert_eq!(kustomizations.len(), 1, "one kustomization document");
    let kustomization = &kustomizations[0];
    assert_eq!(
        kustomization["apiVersion"],
        "kustomize.config.k8s.io/v1beta1"
    );
    assert_eq!(kustomization["kind"], "Kustomization");
    let fields: Vec<&String> = kustomization
        .as_object()
        .expect("a mapping")
        .keys()
        .collect();
    for field in &fields {
        assert!(
            PLAIN_KUSTOMIZATION_FIELDS.contains(&field.as_str()),
            "kustomization.yaml sets `{field}`, which transforms the objects; the checks below \
             assume the build is the listed files as they are"
        );
    }
    let resources: Vec<&str> = kustomization["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| r.as_str().expect("a path"))
        .collect();
    assert_eq!(resources, ["crd.yaml", "operator.yaml"]);

    let mut built = Vec::new();
    for resource in &resources {
        assert!(
            !resource.contains("://") && !resource.starts_with('/') && !resource.contains(".."),
            "{resource}: resources are files beside kustomization.yaml"
        );
        let file = manifest(resource);
        let objects = kube::yaml_documents(&file);
        assert!(!objects.is_empty(), "{resource} holds no object");
        for object in &objects {
            assert!(
                object["apiVersion"].as_str().is_some_and(|v| !v.is_empty())
                    && !kube::kind(object).is_empty()
                    && !kube::name(object).is_empty(),
                "{resource}: an object without apiVersion, kind or metadata.name: {object}"
            );
        }
        built.extend(objects);
    }
    // every object once (kustomize refuses duplicates), and the CRD with the operator
    let built = by_kind_and_name(&built);
    assert!(built.contains_key(&(
        "CustomResourceDefinition".to_string(),
        "trackerinstances.corral.dev".to_string()
    )));
    assert!(built.contains_key(&("Deployment".to_string(), "corral-operator".to_string())));
    assert!(
        built
            .keys()
            .all(|(kind, _)| kind != "TrackerInstance" && kind != "Secret"),
        "instances and Secrets are the user's: they stay in examples/"
    );
}

#[test]
fn the_example_attachments_claim_is_shared_and_beside_the_instance() {
    let instances = kube::yaml_documents(&manifest("examples/trackerinstance.yaml"));
    let volumes = kube::yaml_documents(&manifest("examples/attachments.yaml"));
    let mut checked = 0;
    for instance in &instances {
        let Some(claim) =
            instance["spec"]["attachments"]["persistentVolumeClaim"]["claimName"].as_str()
        else {
            continue;
        };
        let pvc = find(&volumes, "PersistentVolumeClaim", claim);
        assert_eq!(
            pvc["metadata"]["namespace"], instance["metadata"]["namespace"],
            "a claim is mounted from the instance's namespace"
        );
        let modes = pvc["spec"]["accessModes"].as_array().expect("accessModes");
        assert!(
            modes.iter().any(|m| m == "ReadWriteMany"),
            "{claim}: web, worker and beat pods on several nodes mount it at once"
        );
        checked += 1;
    }
    assert!(
        checked > 0,
        "the example instance names no attachments claim"
    );
}
