//! What `K8S-CONTRACT` fixes for images, the operator and its RBAC: the chart, the manifests and
//! the Dockerfile are checked against these facts, and the operator is built to them.

use std::collections::BTreeSet;

use serde_json::Value;

/// The uid and gid every image and pod runs as.
pub const NONROOT_ID: i64 = 65532;

/// Default image registry and tag (the workspace version).
pub const REGISTRY: &str = "ghcr.io/corral-dev";
pub const TAG: &str = env!("CARGO_PKG_VERSION");

/// The operator's HTTP port (`/healthz`, `/readyz`, `/metrics`) and its leader-election Lease.
pub const OPERATOR_PORT: i64 = 8080;
pub const LEADER_LEASE: &str = "corral-operator-leader";

/// The namespace of the plain manifests (`manifests/operator.yaml`).
pub const OPERATOR_NAMESPACE: &str = "corral-system";

/// One runtime image of `images/Dockerfile`.
#[derive(Clone, Copy, Debug)]
pub struct Image {
    /// The Dockerfile stage to build with `--target`.
    pub target: &'static str,
    /// The binary it runs (a `[[bin]]` of the workspace).
    pub binary: &'static str,
    /// The image name under the registry.
    pub image: &'static str,
    /// The port it listens on (`CORRAL_BIND`, `EXPOSE`).
    pub port: u16,
}

pub const IMAGES: [Image; 5] = [
    Image {
        target: "web",
        binary: "corral-web",
        image: "corral-web",
        port: 8000,
    },
    Image {
        target: "worker",
        binary: "corral-worker",
        image: "corral-worker",
        port: 8001,
    },
    Image {
        target: "beat",
        binary: "corral-beat",
        image: "corral-beat",
        port: 8002,
    },
    Image {
        target: "operator",
        binary: "corral-operator",
        image: "corral-operator",
        port: 8080,
    },
    Image {
        target: "corral",
        binary: "corral",
        image: "corral",
        port: 8000,
    },
];

/// One permission: (API group, resource, verb, resource name or "" for any).
pub type Permission = (String, String, String, String);

/// A child the operator server-side applies (patch, and create when it is new) and watches.
const APPLIED_CHILD: &[&str] = &["list", "watch", "create", "patch"];

/// The operator's ClusterRole (or, with `operator.watchNamespace`, its Role in that namespace),
/// exactly: nothing more, nothing less. `operator/tests/it/rbac.rs` derives the same list from
/// the API calls the operator makes and checks it against `manifests/operator.yaml`.
pub fn cluster_permissions() -> BTreeSet<Permission> {
    let mut rules: Vec<(&str, &str, &[&str])> = vec![
        ("corral.dev", "trackerinstances", &["list", "watch"]),
        ("corral.dev", "trackerinstances/status", &["patch"]),
        ("", "secrets", &["get", "list", "watch"]),
        (
            "networking.k8s.io",
            "ingresses",
            &["get", "list", "watch", "create", "patch", "delete"],
        ),
        ("events.k8s.io", "events", &["create", "patch"]),
    ];
    for (group, resource) in [
        ("", "configmaps"),
        ("", "services"),
        ("", "serviceaccounts"),
        ("apps", "deployments"),
        ("policy", "poddisruptionbudgets"),
    ] {
        rules.push((group, resource, APPLIED_CHILD));
    }
    rules
        .into_iter()
        .flat_map(|(group, resource, verbs)| {
            verbs
                .iter()
                .map(move |verb| (group.into(), resource.into(), (*verb).into(), String::new()))
        })
        .collect()
}

/// The operator's Role in its own namespace: its leader-election Lease only.
pub fn lease_permissions() -> BTreeSet<Permission> {
    let lease = |verb: &str, name: &str| {
        (
            "coordination.k8s.io".to_string(),
            "leases".to_string(),
            verb.to_string(),
            name.to_string(),
        )
    };
    // `create` cannot name its object; get and update are limited to the one Lease.
    [
        lease("create", ""),
        lease("get", LEADER_LEASE),
        lease("update", LEADER_LEASE),
    ]
    .into_iter()
    .collect()
}

/// The permissions an RBAC `rules` list grants, one per group × resource × verb × name.
pub fn permissions_of(role: &Value) -> BTreeSet<Permission> {
    let strings = |value: &Value| -> Vec<String> {
        value
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|item| item.as_str().expect("RBAC lists hold strings").to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut granted = BTreeSet::new();
    for rule in role["rules"]
        .as_array()
        .expect("a Role or ClusterRole has rules")
    {
        let names = match strings(&rule["resourceNames"]) {
            names if names.is_empty() => vec![String::new()],
            names => names,
        };
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                for verb in strings(&rule["verbs"]) {
                    for name in &names {
                        granted.insert((
                            group.clone(),
                            resource.clone(),
                            verb.clone(),
                            name.clone(),
                        ));
                    }
                }
            }
        }
    }
    granted
}
