//! The Deployments of web, worker and beat, and the pod template they share.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapEnvSource, Container, ContainerPort, EmptyDirVolumeSource,
    EnvFromSource, EnvVar, EnvVarSource, HTTPGetAction, LocalObjectReference,
    PersistentVolumeClaimVolumeSource, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
    ResourceRequirements, SeccompProfile, SecretKeySelector, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::config::{ATTACHMENTS_DIR, CONFIG_HASH_ANNOTATION, DATA_DIR};
use super::{Component, labels, metadata, names, selector_labels};
use crate::crd::{SecretKeyRef, TrackerInstance};

/// The web pods' port name (the Service and the Ingress target it).
pub(crate) const HTTP_PORT_NAME: &str = "http";
const METRICS_PORT_NAME: &str = "metrics";
/// The uid and gid of the images' non-root user.
const NON_ROOT_ID: i64 = 65532;
/// The volume holding the attachments (a claim or an emptyDir).
const ATTACHMENTS_VOLUME: &str = "attachments";
/// The resource an emptyDir of attachments is requested as.
const EPHEMERAL_STORAGE: &str = "ephemeral-storage";

/// `{name}-web`: `spec.web.replicas` pods serving ingest, API and UI on 8000.
pub fn web_deployment(ti: &TrackerInstance, config_hash: &str) -> Deployment {
    let pod = Pod {
        component: Component::Web,
        port_name: HTTP_PORT_NAME,
        port: 8000,
        resources: &ti.spec.web.resources,
        // web drains in-flight requests for up to 60 s
        termination_grace_seconds: 60,
    };
    pod.deployment(
        ti,
        names::web(ti),
        ti.spec.web.replicas,
        rolling_update(),
        config_hash,
    )
}

/// `{name}-worker`: `spec.worker.replicas` pods (the count `kubectl scale`
/// and HPAs set through the scale subresource), health and metrics on 8001.
pub fn worker_deployment(ti: &TrackerInstance, config_hash: &str) -> Deployment {
    let pod = Pod {
        component: Component::Worker,
        port_name: METRICS_PORT_NAME,
        port: 8001,
        resources: &ti.spec.worker.resources,
        // worker finishes in-flight jobs for up to 30 s, after draining its fetch
        termination_grace_seconds: 60,
    };
    pod.deployment(
        ti,
        names::worker(ti),
        ti.spec.worker.replicas,
        rolling_update(),
        config_hash,
    )
}

/// `{name}-beat`: always one pod, replaced with `Recreate` so two beats never
/// run schedules or migrations side by side; health and metrics on 8002.
pub fn beat_deployment(ti: &TrackerInstance, config_hash: &str) -> Deployment {
    let pod = Pod {
        component: Component::Beat,
        port_name: METRICS_PORT_NAME,
        port: 8002,
        resources: &ti.spec.beat.resources,
        termination_grace_seconds: 30,
    };
    pod.deployment(
        ti,
        names::beat(ti),
        1,
        DeploymentStrategy {
            type_: Some("Recreate".to_string()),
            rolling_update: None,
        },
        config_hash,
    )
}

/// New pods answer `/readyz` only once beat migrated, so old pods keep
/// serving until then: never take one away before its successor is ready.
fn rolling_update() -> DeploymentStrategy {
    DeploymentStrategy {
        type_: Some("RollingUpdate".to_string()),
        rolling_update: Some(RollingUpdateDeployment {
            max_surge: Some(IntOrString::String("25%".to_string())),
            max_unavailable: Some(IntOrString::Int(0)),
        }),
    }
}

struct Pod<'a> {
    component: Component,
    port_name: &'static str,
    port: i32,
    resources: &'a ResourceRequirements,
    termination_grace_seconds: i64,
}

impl Pod<'_> {
    fn deployment(
        &self,
        ti: &TrackerInstance,
        name: String,
        replicas: i32,
        strategy: DeploymentStrategy,
        config_hash: &str,
    ) -> Deployment {
        Deployment {
            metadata: metadata(ti, name, self.component),
            spec: Some(DeploymentSpec {
                replicas: Some(replicas),
                selector: LabelSelector {
                    match_labels: Some(selector_labels(ti, self.component)),
                    match_expressions: None,
                },
                strategy: Some(strategy),
                template: self.template(ti, config_hash),
                ..DeploymentSpec::default()
            }),
            status: None,
        }
    }

    fn template(&self, ti: &TrackerInstance, config_hash: &str) -> PodTemplateSpec {
        let spec = &ti.spec;
        let pull_secrets = (!spec.image.pull_secrets.is_empty()).then(|| {
            spec.image
                .pull_secrets
                .iter()
                .map(|name| LocalObjectReference { name: name.clone() })
                .collect()
        });
        PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some(labels(ti, self.component)),
                annotations: Some(BTreeMap::from([(
                    CONFIG_HASH_ANNOTATION.to_string(),
                    config_hash.to_string(),
                )])),
                ..ObjectMeta::default()
            }),
            spec: Some(PodSpec {
                service_account_name: Some(names::service_account(ti)),
                automount_service_account_token: Some(false),
                // Service links would add env for every Service in the namespace
                enable_service_links: Some(false),
                termination_grace_period_seconds: Some(self.termination_grace_seconds),
                security_context: Some(PodSecurityContext {
                    run_as_non_root: Some(true),
                    run_as_user: Some(NON_ROOT_ID),
                    run_as_group: Some(NON_ROOT_ID),
                    fs_group: Some(NON_ROOT_ID),
                    seccomp_profile: Some(SeccompProfile {
                        type_: "RuntimeDefault".to_string(),
                        localhost_profile: None,
                    }),
                    ..PodSecurityContext::default()
                }),
                image_pull_secrets: pull_secrets,
                node_selector: (!spec.node_selector.is_empty()).then(|| spec.node_selector.clone()),
                tolerations: (!spec.tolerations.is_empty()).then(|| spec.tolerations.clone()),
                containers: vec![self.container(ti)],
                volumes: Some(vec![
                    empty_dir("tmp"),
                    empty_dir("data"),
                    attachments_volume(ti),
                ]),
                ..PodSpec::default()
            }),
        }
    }

    fn container(&self, ti: &TrackerInstance) -> Container {
        let spec = &ti.spec;
        let component = self.component.as_str();
        let registry = spec.image.registry.trim_end_matches('/');
        Container {
            name: component.to_string(),
            image: Some(format!("{registry}/corral-{component}:{}", spec.image.tag)),
            image_pull_policy: Some(spec.image.pull_policy.as_str().to_string()),
            ports: Some(vec![ContainerPort {
                name: Some(self.port_name.to_string()),
                container_port: self.port,
                protocol: Some("TCP".to_string()),
                ..ContainerPort::default()
            }]),
            env_from: Some(vec![EnvFromSource {
                config_map_ref: Some(ConfigMapEnvSource {
                    name: names::config_map(ti),
                    optional: Some(false),
                }),
                ..EnvFromSource::default()
            }]),
            env: Some(self.env(ti)),
            resources: Some(self.resources(ti)),
            startup_probe: Some(Probe {
                // up to a minute to start (connecting to the database included)
                failure_threshold: Some(30),
                period_seconds: Some(2),
                ..self.probe("/healthz")
            }),
            liveness_probe: Some(Probe {
                failure_threshold: Some(3),
                period_seconds: Some(10),
                ..self.probe("/healthz")
            }),
            readiness_probe: Some(Probe {
                failure_threshold: Some(3),
                period_seconds: Some(5),
                ..self.probe("/readyz")
            }),
            security_context: Some(SecurityContext {
                run_as_non_root: Some(true),
                run_as_user: Some(NON_ROOT_ID),
                run_as_group: Some(NON_ROOT_ID),
                allow_privilege_escalation: Some(false),
                read_only_root_filesystem: Some(true),
                privileged: Some(false),
                capabilities: Some(Capabilities {
                    drop: Some(vec!["ALL".to_string()]),
                    add: None,
                }),
                ..SecurityContext::default()
            }),
            volume_mounts: Some(vec![
                VolumeMount {
                    name: "tmp".to_string(),
                    mount_path: "/tmp".to_string(),
                    ..VolumeMount::default()
                },
                VolumeMount {
                    name: "data".to_string(),
                    mount_path: DATA_DIR.to_string(),
                    ..VolumeMount::default()
                },
                VolumeMount {
                    name: ATTACHMENTS_VOLUME.to_string(),
                    mount_path: ATTACHMENTS_DIR.to_string(),
                    ..VolumeMount::default()
                },
            ]),
            ..Container::default()
        }
    }

    /// The component's resources; without a claim, the attachments emptyDir's
    /// size limit is requested as ephemeral storage (unless the spec already
    /// requests some), so the scheduler places the pod where it fits.
    fn resources(&self, ti: &TrackerInstance) -> ResourceRequirements {
        let mut resources = self.resources.clone();
        let attachments = &ti.spec.attachments;
        if attachments.persistent_volume_claim.is_none() {
            resources
                .requests
                .get_or_insert_with(BTreeMap::new)
                .entry(EPHEMERAL_STORAGE.to_string())
                .or_insert_with(|| attachments.size_limit.clone());
        }
        resources
    }

    /// Secrets come in by reference only; `spec.env` comes last.
    fn env(&self, ti: &TrackerInstance) -> Vec<EnvVar> {
        let spec = &ti.spec;
        let mut env = vec![
            EnvVar {
                name: "CORRAL_BIND".to_string(),
                value: Some(format!("0.0.0.0:{}", self.port)),
                value_from: None,
            },
            // where the attachments volume is mounted (corral_core's
            // `attachments_dir`); next to the mount, so they never disagree
            EnvVar {
                name: "CORRAL_ATTACHMENTS_DIR".to_string(),
                value: Some(ATTACHMENTS_DIR.to_string()),
                value_from: None,
            },
            secret_env("DATABASE_URL", &spec.database.url_secret),
            secret_env("REDIS_URL", &spec.redis.url_secret),
            secret_env("CORRAL_SECRET_KEY", &spec.secret_key),
        ];
        if let Some(smtp) = &spec.smtp {
            env.push(secret_env("CORRAL_SMTP_URL", &smtp.url_secret));
        }
        env.extend(spec.env.iter().cloned());
        env
    }

    fn probe(&self, path: &str) -> Probe {
        Probe {
            http_get: Some(HTTPGetAction {
                path: Some(path.to_string()),
                port: IntOrString::String(self.port_name.to_string()),
                scheme: Some("HTTP".to_string()),
                ..HTTPGetAction::default()
            }),
            timeout_seconds: Some(3),
            ..Probe::default()
        }
    }
}

fn secret_env(name: &str, secret: &SecretKeyRef) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: None,
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.name.clone(),
                key: secret.key.clone(),
                optional: Some(false),
            }),
            ..EnvVarSource::default()
        }),
    }
}

/// The named claim, or an emptyDir bounded by `spec.attachments.sizeLimit`.
fn attachments_volume(ti: &TrackerInstance) -> Volume {
    let attachments = &ti.spec.attachments;
    match &attachments.persistent_volume_claim {
        Some(claim) => Volume {
            name: ATTACHMENTS_VOLUME.to_string(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim.claim_name.clone(),
                read_only: Some(false),
            }),
            ..Volume::default()
        },
        None => Volume {
            name: ATTACHMENTS_VOLUME.to_string(),
            empty_dir: Some(EmptyDirVolumeSource {
                medium: None,
                size_limit: Some(attachments.size_limit.clone()),
            }),
            ..Volume::default()
        },
    }
}

fn empty_dir(name: &str) -> Volume {
    Volume {
        name: name.to_string(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Volume::default()
    }
}
