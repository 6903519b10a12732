//! The pure builders: one object per child, checked field by field.

use std::collections::BTreeMap;

use corral_operator::TrackerInstance;
use corral_operator::children::{self, CONFIG_HASH_ANNOTATION, Component};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, PodSpec, Volume};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::json;

use crate::fixtures::{NAME, NAMESPACE, UID, instance, instance_with, spec_with};

const HASH: &str = "0123456789abcdef0123456789abcdef";

fn deployments(ti: &TrackerInstance) -> [(Component, Deployment); 3] {
    [
        (Component::Web, children::web_deployment(ti, HASH)),
        (Component::Worker, children::worker_deployment(ti, HASH)),
        (Component::Beat, children::beat_deployment(ti, HASH)),
    ]
}

fn pod_spec(d: &Deployment) -> &PodSpec {
    d.spec.as_ref().unwrap().template.spec.as_ref().unwrap()
}

fn container(d: &Deployment) -> &Container {
    let containers = &pod_spec(d).containers;
    assert_eq!(containers.len(), 1);
    &containers[0]
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Every child's metadata, for checks that hold for all of them.
fn all_metadata(ti: &TrackerInstance) -> Vec<(&'static str, ObjectMeta)> {
    let mut all = vec![
        ("ServiceAccount", children::service_account(ti).metadata),
        ("ConfigMap", children::config_map(ti).metadata),
        ("Service", children::web_service(ti).metadata),
        ("PDB web", children::web_pdb(ti).metadata),
        ("PDB worker", children::worker_pdb(ti).metadata),
    ];
    for (component, d) in deployments(ti) {
        all.push((component.as_str(), d.metadata));
    }
    if let Some(ingress) = children::web_ingress(ti) {
        all.push(("Ingress", ingress.metadata));
    }
    all
}

#[test]
fn children_have_the_contract_names() {
    let ti = instance_with(spec_with(json!({"web": {"ingress": {"enabled": true}}})), 1);
    let names: Vec<(&str, String)> = all_metadata(&ti)
        .into_iter()
        .map(|(kind, m)| (kind, m.name.unwrap()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("ServiceAccount", "prod".to_string()),
            ("ConfigMap", "prod-config".to_string()),
            ("Service", "prod-web".to_string()),
            ("PDB web", "prod-web".to_string()),
            ("PDB worker", "prod-worker".to_string()),
            ("web", "prod-web".to_string()),
            ("worker", "prod-worker".to_string()),
            ("beat", "prod-beat".to_string()),
            ("Ingress", "prod-web".to_string()),
        ]
    );
}

#[test]
fn labels_and_selectors() {
    let ti = instance_with(
        spec_with(json!({"image": {"tag": "1.2.3"}, "web": {"ingress": {"enabled": true}}})),
        1,
    );
    for (kind, meta) in all_metadata(&ti) {
        let labels = meta.labels.unwrap();
        assert_eq!(labels["app.kubernetes.io/name"], "corral", "{kind}");
        assert_eq!(labels["app.kubernetes.io/instance"], NAME, "{kind}");
        assert_eq!(
            labels["app.kubernetes.io/managed-by"], "corral-operator",
            "{kind}"
        );
        assert_eq!(labels["app.kubernetes.io/version"], "1.2.3", "{kind}");
        assert!(
            ["web", "worker", "beat", "config"]
                .contains(&labels["app.kubernetes.io/component"].as_str()),
            "{kind}: {labels:?}"
        );
    }

    for (component, d) in deployments(&ti) {
        let selector = map(&[
            ("app.kubernetes.io/name", "corral"),
            ("app.kubernetes.io/instance", NAME),
            ("app.kubernetes.io/component", component.as_str()),
        ]);
        let spec = d.spec.as_ref().unwrap();
        // selectors are immutable: no version, nothing that changes on upgrade
        assert_eq!(spec.selector.match_labels.as_ref(), Some(&selector));
        assert!(spec.selector.match_expressions.is_none());
        let pod_labels = spec
            .template
            .metadata
            .as_ref()
            .unwrap()
            .labels
            .clone()
            .unwrap();
        assert_eq!(pod_labels["app.kubernetes.io/version"], "1.2.3");
        assert_eq!(
            pod_labels["app.kubernetes.io/managed-by"],
            "corral-operator"
        );
        for (k, v) in &selector {
            assert_eq!(
                pod_labels.get(k),
                Some(v),
                "{component:?} pods match their selector"
            );
        }
        assert_eq!(
            d.metadata.labels.unwrap()["app.kubernetes.io/component"],
            component.as_str()
        );
    }

    let web_selector = map(&[
        ("app.kubernetes.io/name", "corral"),
        ("app.kubernetes.io/instance", NAME),
        ("app.kubernetes.io/component", "web"),
    ]);
    let service = children::web_service(&ti);
    assert_eq!(service.spec.unwrap().selector, Some(web_selector.clone()));
    let web_pdb = children::web_pdb(&ti).spec.unwrap();
    assert_eq!(web_pdb.selector.unwrap().match_labels, Some(web_selector));
    let worker_pdb = children::worker_pdb(&ti).spec.unwrap();
    assert_eq!(
        worker_pdb.selector.unwrap().match_labels.unwrap()["app.kubernetes.io/component"],
        "worker"
    );

    // the scale subresource's selector: worker pods and nothing else
    let selector = children::worker_selector(&ti);
    assert_eq!(
        selector,
        "app.kubernetes.io/instance=prod,app.kubernetes.io/component=worker,app.kubernetes.io/name=corral"
    );
    let parsed: BTreeMap<String, String> = selector
        .split(',')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect();
    let worker = children::worker_deployment(&ti, HASH);
    assert_eq!(
        Some(&parsed),
        worker.spec.unwrap().selector.match_labels.as_ref()
    );
    let web = children::web_deployment(&ti, HASH);
    let web_pods = web.spec.unwrap().template.metadata.unwrap().labels.unwrap();
    assert!(parsed.iter().any(|(k, v)| web_pods.get(k) != Some(v)));
}

#[test]
fn owner_references_make_the_instance_the_controller() {
    let ti = instance_with(spec_with(json!({"web": {"ingress": {"enabled": true}}})), 1);
    for (kind, meta) in all_metadata(&ti) {
        assert_eq!(meta.namespace.as_deref(), Some(NAMESPACE), "{kind}");
        let owners = meta.owner_references.unwrap();
        assert_eq!(owners.len(), 1, "{kind}");
        let owner = &owners[0];
        assert_eq!(owner.api_version, "corral.dev/v1alpha1", "{kind}");
        assert_eq!(owner.kind, "TrackerInstance", "{kind}");
        assert_eq!(owner.name, NAME, "{kind}");
        assert_eq!(owner.uid, UID, "{kind}");
        assert_eq!(owner.controller, Some(true), "{kind}");
        // needs RBAC on trackerinstances/finalizers, which the operator lacks
        assert_eq!(owner.block_owner_deletion, None, "{kind}");
    }
}

#[test]
fn secrets_come_in_by_reference_only() {
    let ti = instance_with(
        spec_with(json!({
            "smtp": {"urlSecret": {"name": "corral-smtp", "key": "url"}},
            "env": [{"name": "RUST_LOG", "value": "debug"}],
        })),
        1,
    );
    for (component, d) in deployments(&ti) {
        let c = container(&d);
        let env = c.env.clone().unwrap();
        let by_name = |name: &str| {
            env.iter()
                .find(|e| e.name == name)
                .unwrap_or_else(|| panic!("{component:?}: no {name}"))
                .clone()
        };
        for (var, secret, key) in [
            ("DATABASE_URL", "corral-db", "url"),
            ("REDIS_URL", "corral-redis", "url"),
            ("CORRAL_SECRET_KEY", "corral-secret", "secret-key"),
            ("CORRAL_SMTP_URL", "corral-smtp", "url"),
        ] {
            let e = by_name(var);
            assert_eq!(e.value, None, "{component:?} {var} has a literal value");
            let selector = e.value_from.unwrap().secret_key_ref.unwrap();
            assert_eq!(selector.name, secret);
            assert_eq!(selector.key, key);
            assert_eq!(selector.optional, Some(false));
        }
        let port = match component {
            Component::Web => "8000",
            Component::Worker => "8001",
            _ => "8002",
        };
        assert_eq!(
            by_name("CORRAL_BIND").value,
            Some(format!("0.0.0.0:{port}"))
        );
        assert_eq!(env.last().unwrap().name, "RUST_LOG", "spec.env comes last");
        let from = c.env_from.clone().unwrap();
        assert_eq!(from.len(), 1);
        assert_eq!(from[0].config_map_ref.as_ref().unwrap().name, "prod-config");
    }

    // without smtp there is no SMTP variable at all
    let web = children::web_deployment(&instance(), HASH);
    assert!(
        !container(&web)
            .env
            .as_ref()
            .unwrap()
            .iter()
            .any(|e| e.name == "CORRAL_SMTP_URL")
    );
    // and nothing secret ends up in the ConfigMap
    let data = children::config_map(&instance()).data.unwrap();
    assert!(
        data.keys()
            .all(|k| !k.contains("DATABASE") && !k.contains("REDIS") && !k.contains("SECRET"))
    );
}

#[test]
fn beat_is_one_replica_with_recreate() {
    let ti = instance_with(
        spec_with(json!({"web": {"replicas": 7}, "worker": {"replicas": 9}})),
        1,
    );
    let beat = children::beat_deployment(&ti, HASH).spec.unwrap();
    assert_eq!(beat.replicas, Some(1));
    let strategy = beat.strategy.unwrap();
    assert_eq!(strategy.type_.as_deref(), Some("Recreate"));
    assert!(strategy.rolling_update.is_none());

    for d in [
        children::web_deployment(&ti, HASH),
        children::worker_deployment(&ti, HASH),
    ] {
        let strategy = d.spec.unwrap().strategy.unwrap();
        assert_eq!(strategy.type_.as_deref(), Some("RollingUpdate"));
        assert_eq!(
            strategy.rolling_update.unwrap().max_unavailable,
            Some(IntOrString::Int(0))
        );
    }
}

#[test]
fn replicas_are_copied_from_the_instance() {
    for (web, worker) in [(0, 0), (1, 5), (3, 17)] {
        let ti = instance_with(
            spec_with(json!({"web": {"replicas": web}, "worker": {"replicas": worker}})),
            1,
        );
        assert_eq!(
            children::web_deployment(&ti, HASH).spec.unwrap().replicas,
            Some(web)
        );
        assert_eq!(
            children::worker_deployment(&ti, HASH)
                .spec
                .unwrap()
                .replicas,
            Some(worker)
        );
    }
    // the default when the field is absent
    assert_eq!(
        children::worker_deployment(&instance(), HASH)
            .spec
            .unwrap()
            .replicas,
        Some(2)
    );
}

#[test]
fn probes_ports_resources_and_images() {
    let ti = instance_with(
        spec_with(json!({
            "image": {"registry": "registry.example.com/team/", "tag": "2.0.1", "pullPolicy": "Always", "pullSecrets": ["regcred"]},
            "worker": {"resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}},
        })),
        1,
    );
    for (component, d) in deployments(&ti) {
        let (port_name, port) = match component {
            Component::Web => ("http", 8000),
            Component::Worker => ("metrics", 8001),
            _ => ("metrics", 8002),
        };
        let c = container(&d);
        assert_eq!(
            c.image.as_deref(),
            Some(
                format!(
                    "registry.example.com/team/corral-{}:2.0.1",
                    component.as_str()
                )
                .as_str()
            )
        );
        assert_eq!(c.image_pull_policy.as_deref(), Some("Always"));
        let ports = c.ports.clone().unwrap();
        assert_eq!(ports.len(), 1);
        assert_eq!(ports[0].name.as_deref(), Some(port_name));
        assert_eq!(ports[0].container_port, port);
        for (probe, path) in [
            (&c.liveness_probe, "/healthz"),
            (&c.readiness_probe, "/readyz"),
            (&c.startup_probe, "/healthz"),
        ] {
            let get = probe.as_ref().unwrap().http_get.as_ref().unwrap();
            assert_eq!(get.path.as_deref(), Some(path), "{component:?}");
            assert_eq!(get.port, IntOrString::String(port_name.to_string()));
        }
        let resources = c.resources.as_ref().unwrap();
        let spec_resources = match component {
            Component::Web => &ti.spec.web.resources,
            Component::Worker => &ti.spec.worker.resources,
            _ => &ti.spec.beat.resources,
        };
        // the spec's resources, plus the attachments emptyDir's ephemeral storage
        let mut expected = spec_resources.clone();
        expected
            .requests
            .as_mut()
            .unwrap()
            .insert("ephemeral-storage".into(), Quantity("1Gi".into()));
        assert_eq!(resources, &expected);
        assert!(resources.requests.as_ref().unwrap().contains_key("memory"));
        assert!(resources.limits.as_ref().unwrap().contains_key("memory"));
        let pull = pod_spec(&d).image_pull_secrets.clone().unwrap();
        assert_eq!(pull[0].name, "regcred");
        let grace = pod_spec(&d).termination_grace_period_seconds;
        assert_eq!(
            grace,
            Some(if component == Component::Beat { 30 } else { 60 })
        );
    }
    let worker = children::worker_deployment(&ti, HASH);
    let requests = container(&worker)
        .resources
        .clone()
        .unwrap()
        .requests
        .unwrap();
    assert_eq!(requests["memory"].0, "1Gi");
}

#[test]
fn pods_run_as_non_root_with_a_read_only_root() {
    let ti = instance();
    for (component, d) in deployments(&ti) {
        let pod = pod_spec(&d);
        assert_eq!(pod.automount_service_account_token, Some(false));
        assert_eq!(pod.service_account_name.as_deref(), Some(NAME));
        let psc = pod.security_context.as_ref().unwrap();
        assert_eq!(psc.run_as_non_root, Some(true), "{component:?}");
        assert_eq!(psc.run_as_user, Some(65532));
        assert_eq!(psc.run_as_group, Some(65532));
        assert_eq!(
            psc.seccomp_profile.as_ref().unwrap().type_,
            "RuntimeDefault"
        );
        let sc = container(&d).security_context.clone().unwrap();
        assert_eq!(sc.run_as_non_root, Some(true));
        assert_eq!(sc.read_only_root_filesystem, Some(true));
        assert_eq!(sc.allow_privilege_escalation, Some(false));
        assert_eq!(sc.capabilities.unwrap().drop, Some(vec!["ALL".to_string()]));
        // a read-only root needs writable scratch space
        let mounts: Vec<String> = container(&d)
            .volume_mounts
            .clone()
            .unwrap()
            .into_iter()
            .map(|m| m.mount_path)
            .collect();
        assert_eq!(mounts, vec!["/tmp", "/data", "/attachments"]);
    }
    assert_eq!(
        children::service_account(&ti).automount_service_account_token,
        Some(false)
    );
}

#[test]
fn the_config_hash_follows_config_and_secret_versions() {
    let versions = |db: &str| {
        BTreeMap::from([
            ("corral-db".to_string(), db.to_string()),
            ("corral-redis".to_string(), "7".to_string()),
            ("corral-secret".to_string(), "8".to_string()),
        ])
    };
    let ti = instance();
    let config = children::config_map(&ti);
    let hash = children::config_hash(&config, &versions("6"));
    assert_eq!(hash.len(), 32);
    assert_eq!(
        hash,
        children::config_hash(&children::config_map(&ti), &versions("6"))
    );

    // a rotated Secret
    assert_ne!(hash, children::config_hash(&config, &versions("9")));
    // a changed setting
    let changed = instance_with(spec_with(json!({"retentionDays": 14})), 2);
    assert_ne!(
        hash,
        children::config_hash(&children::config_map(&changed), &versions("6"))
    );
    // a change that is not configuration leaves the hash alone
    let scaled = instance_with(spec_with(json!({"worker": {"replicas": 8}})), 3);
    assert_eq!(
        hash,
        children::config_hash(&children::config_map(&scaled), &versions("6"))
    );

    for (_, d) in deployments(&ti) {
        let annotations = d
            .spec
            .unwrap()
            .template
            .metadata
            .unwrap()
            .annotations
            .unwrap();
        assert_eq!(annotations[CONFIG_HASH_ANNOTATION], HASH);
    }
}

#[test]
fn the_config_map_holds_the_non_secret_settings() {
    let ti = instance_with(
        spec_with(json!({
            "retentionDays": 14,
            "worker": {"concurrency": 8},
            "ingest": {"maxEventBytes": 2048, "quotas": {"projectEventsPerHour": 50000}},
        })),
        1,
    );
    let data = children::config_map(&ti).data.unwrap();
    assert_eq!(
        data,
        map(&[
            ("CORRAL_BASE_URL", "https://errors.example.com"),
            ("CORRAL_DATA_DIR", "/data"),
            ("CORRAL_INGEST__MAX_EVENT_BYTES", "2048"),
            ("CORRAL_LOG_FORMAT", "json"),
            ("CORRAL_QUOTAS__PROJECT_EVENTS_PER_HOUR", "50000"),
            ("CORRAL_RETENTION_DAYS", "14"),
            ("CORRAL_WORKER__CONCURRENCY", "8"),
        ])
    );
}

#[test]
fn the_service_targets_the_named_http_port() {
    let ti = instance_with(
        spec_with(
            json!({"web": {"service": {"type": "LoadBalancer", "port": 8080, "annotations": {"a": "b"}}}}),
        ),
        1,
    );
    let service = children::web_service(&ti);
    assert_eq!(service.metadata.annotations, Some(map(&[("a", "b")])));
    let spec = service.spec.unwrap();
    assert_eq!(spec.type_.as_deref(), Some("LoadBalancer"));
    let ports = spec.ports.unwrap();
    assert_eq!(ports.len(), 1);
    assert_eq!(ports[0].port, 8080);
    assert_eq!(
        ports[0].target_port,
        Some(IntOrString::String("http".into()))
    );
}

#[test]
fn the_ingress_exists_only_when_enabled() {
    assert!(children::web_ingress(&instance()).is_none());
    let disabled = instance_with(
        spec_with(json!({"web": {"ingress": {"enabled": false, "host": "x.example.com"}}})),
        1,
    );
    assert!(children::web_ingress(&disabled).is_none());

    let ti = instance_with(
        spec_with(json!({"web": {"ingress": {
            "enabled": true,
            "className": "nginx",
            "host": "errors.example.com",
            "tlsSecretName": "errors-tls",
            "annotations": {"cert-manager.io/cluster-issuer": "letsencrypt"},
        }}})),
        1,
    );
    let ingress = children::web_ingress(&ti).unwrap();
    assert_eq!(
        ingress.metadata.annotations.unwrap()["cert-manager.io/cluster-issuer"],
        "letsencrypt"
    );
    let spec = ingress.spec.unwrap();
    assert_eq!(spec.ingress_class_name.as_deref(), Some("nginx"));
    let tls = spec.tls.unwrap();
    assert_eq!(tls[0].secret_name.as_deref(), Some("errors-tls"));
    assert_eq!(tls[0].hosts, Some(vec!["errors.example.com".to_string()]));
    let rules = spec.rules.unwrap();
    assert_eq!(rules[0].host.as_deref(), Some("errors.example.com"));
    let path = &rules[0].http.as_ref().unwrap().paths[0];
    assert_eq!(path.path.as_deref(), Some("/"));
    assert_eq!(path.path_type, "Prefix");
    let backend = path.backend.service.as_ref().unwrap();
    assert_eq!(backend.name, "prod-web");
    assert_eq!(backend.port.as_ref().unwrap().name.as_deref(), Some("http"));
}

#[test]
fn disruption_budgets_come_from_the_spec() {
    let ti = instance();
    assert_eq!(
        children::web_pdb(&ti).spec.unwrap().min_available,
        Some(IntOrString::Int(1))
    );
    let worker = children::worker_pdb(&ti).spec.unwrap();
    assert_eq!(worker.max_unavailable, Some(IntOrString::Int(1)));
    assert_eq!(worker.min_available, None);

    let ti = instance_with(
        spec_with(json!({"worker": {"podDisruptionBudget": {"maxUnavailable": "50%"}}})),
        1,
    );
    assert_eq!(
        children::worker_pdb(&ti).spec.unwrap().max_unavailable,
        Some(IntOrString::String("50%".into()))
    );
}

#[test]
fn node_placement_is_passed_through() {
    let ti = instance_with(
        spec_with(json!({
            "nodeSelector": {"pool": "errors"},
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "errors", "effect": "NoSchedule"}],
        })),
        1,
    );
    for (_, d) in deployments(&ti) {
        let pod = pod_spec(&d);
        assert_eq!(pod.node_selector, Some(map(&[("pool", "errors")])));
        assert_eq!(
            pod.tolerations.as_ref().unwrap()[0].key.as_deref(),
            Some("dedicated")
        );
    }
}

/// The attachments volume of a pod, its mount and `CORRAL_ATTACHMENTS_DIR`.
fn attachments_of(d: &Deployment) -> (Volume, String, String) {
    let volume = pod_spec(d)
        .volumes
        .as_ref()
        .unwrap()
        .iter()
        .find(|v| v.name == "attachments")
        .expect("an attachments volume")
        .clone();
    let c = container(d);
    let mount = c
        .volume_mounts
        .as_ref()
        .unwrap()
        .iter()
        .find(|m| m.name == "attachments")
        .expect("the attachments volume is mounted");
    assert_ne!(mount.read_only, Some(true));
    let env = c
        .env
        .as_ref()
        .unwrap()
        .iter()
        .find(|e| e.name == "CORRAL_ATTACHMENTS_DIR")
        .expect("CORRAL_ATTACHMENTS_DIR is set");
    (
        volume,
        mount.mount_path.clone(),
        env.value.clone().expect("a literal value"),
    )
}

fn ephemeral_storage_request(d: &Deployment) -> Option<Quantity> {
    container(d)
        .resources
        .as_ref()
        .unwrap()
        .requests
        .as_ref()
        .and_then(|r| r.get("ephemeral-storage").cloned())
}

#[test]
fn a_named_claim_holds_the_attachments_of_every_pod() {
    let ti = instance_with(
        spec_with(json!({"attachments": {"persistentVolumeClaim": {"claimName": "corral-files"}}})),
        1,
    );
    for (component, d) in deployments(&ti) {
        let (volume, mount_path, env) = attachments_of(&d);
        let claim = volume
            .persistent_volume_claim
            .unwrap_or_else(|| panic!("{component:?}: the attachments volume is not the claim"));
        assert_eq!(claim.claim_name, "corral-files", "{component:?}");
        assert_ne!(claim.read_only, Some(true), "{component:?}");
        assert!(volume.empty_dir.is_none(), "{component:?}");
        assert_eq!(mount_path, children::ATTACHMENTS_DIR, "{component:?}");
        assert_eq!(mount_path, "/attachments");
        // the server writes where the claim is mounted
        assert_eq!(env, mount_path, "{component:?}");
        // a claim is not ephemeral storage
        assert_eq!(ephemeral_storage_request(&d), None, "{component:?}");
    }
}

#[test]
fn without_a_claim_attachments_use_a_bounded_empty_dir() {
    for (spec, limit) in [
        (spec_with(json!({})), "1Gi"),
        (
            spec_with(json!({"attachments": {"sizeLimit": "5Gi"}})),
            "5Gi",
        ),
    ] {
        let ti = instance_with(spec, 1);
        for (component, d) in deployments(&ti) {
            let (volume, mount_path, env) = attachments_of(&d);
            assert!(volume.persistent_volume_claim.is_none(), "{component:?}");
            let empty_dir = volume
                .empty_dir
                .unwrap_or_else(|| panic!("{component:?}: no emptyDir"));
            assert_eq!(empty_dir.size_limit, Some(Quantity(limit.into())));
            assert_eq!(mount_path, "/attachments");
            assert_eq!(env, "/attachments");
            assert_eq!(
                ephemeral_storage_request(&d),
                Some(Quantity(limit.into())),
                "{component:?}: the emptyDir's limit is requested"
            );
        }
    }

    // a request the spec makes itself is kept
    let ti = instance_with(
        spec_with(
            json!({"web": {"resources": {"requests": {"cpu": "1", "ephemeral-storage": "20Gi"}}}}),
        ),
        1,
    );
    let web = children::web_deployment(&ti, HASH);
    assert_eq!(
        ephemeral_storage_request(&web),
        Some(Quantity("20Gi".into()))
    );
}

#[test]
fn the_version_label_is_a_valid_label_value_for_any_valid_tag() {
    let label_ok = |value: &str| {
        value.len() <= 63
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && (value.is_empty()
                || (value.starts_with(|c: char| c.is_ascii_alphanumeric())
                    && value.ends_with(|c: char| c.is_ascii_alphanumeric())))
    };
    let long = format!("2.0.1-{}", "a".repeat(100));
    for (tag, label) in [
        ("1.2.3", "1.2.3"),
        ("v2.0.1-rc.1", "v2.0.1-rc.1"),
        ("_build", "build"),
        ("1.2.3-", "1.2.3"),
        ("nightly.", "nightly"),
        ("___", ""),
        (long.as_str(), &long[..63]),
    ] {
        assert_eq!(children::version_label(tag), label, "{tag}");
        assert!(label_ok(&children::version_label(tag)), "{tag}");
    }
    // a 64th character that is not alphanumeric is trimmed after the cut
    let dotted = format!("{}.{}", "a".repeat(62), "b".repeat(10));
    assert_eq!(children::version_label(&dotted), "a".repeat(62));

    // the builders use it on every child, and the tag is still the image's
    let ti = instance_with(spec_with(json!({"image": {"tag": long}})), 1);
    assert_eq!(corral_operator::validate(&ti.spec), Ok(()));
    for (kind, meta) in all_metadata(&ti) {
        let labels = meta.labels.unwrap();
        assert_eq!(labels["app.kubernetes.io/version"], &long[..63], "{kind}");
    }
    for (_, d) in deployments(&ti) {
        let pod_labels = d.spec.as_ref().unwrap().template.metadata.as_ref().unwrap();
        let version = &pod_labels.labels.as_ref().unwrap()["app.kubernetes.io/version"];
        assert!(label_ok(version));
        assert!(
            container(&d)
                .image
                .as_deref()
                .unwrap()
                .ends_with(&format!(":{long}"))
        );
    }
}
