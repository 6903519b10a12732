//! The `TrackerInstance` custom resource: its spec with defaults, its
//! status, and [`validate`] for what the OpenAPI schema cannot express.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{EnvVar, ResourceRequirements, Toleration};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::{CustomResource, CustomResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What one tracker should run; the operator makes its children match.
// each printcolumn(...) repeats `type_ = …`, which clippy takes for duplicates
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "corral.dev",
    version = "v1alpha1",
    kind = "TrackerInstance",
    plural = "trackerinstances",
    singular = "trackerinstance",
    shortname = "tracker",
    namespaced,
    status = "TrackerInstanceStatus",
    derive = "PartialEq",
    doc = "A Corral error tracker (Sentry-compatible): web, worker and beat Deployments run by corral-operator.",
    scale(
        spec_replicas_path = ".spec.worker.replicas",
        status_replicas_path = ".status.workerReplicas",
        label_selector_path = ".status.workerSelector"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#
    ),
    printcolumn(
        name = "Web",
        type_ = "integer",
        json_path = ".status.webReadyReplicas"
    ),
    printcolumn(
        name = "Workers",
        type_ = "integer",
        json_path = ".status.workerReadyReplicas"
    ),
    printcolumn(name = "Version", type_ = "string", json_path = ".status.version"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct TrackerInstanceSpec {
    /// Where the images come from; the tag is the version deployed.
    #[serde(default)]
    pub image: ImageSpec,
    /// The Secret key holding the PostgreSQL URL (env `DATABASE_URL`).
    pub database: UrlSecret,
    /// The Secret key holding the Redis URL (env `REDIS_URL`).
    pub redis: UrlSecret,
    /// The Secret key holding the key that signs sessions (env `CORRAL_SECRET_KEY`).
    pub secret_key: SecretKeyRef,
    /// The Secret key holding the SMTP URL (env `CORRAL_SMTP_URL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp: Option<UrlSecret>,
    /// The public URL of the web server, used in DSNs and links.
    #[schemars(regex(pattern = r"^https?://[^\s/?#]+[^\s]*$"))]
    pub base_url: String,
    /// Days events are kept (projects may override).
    #[serde(default = "default_retention_days")]
    #[schemars(range(min = 1, max = 3650))]
    pub retention_days: i32,
    /// Ingest size limits and default quotas; unset values keep the server defaults.
    #[serde(default)]
    pub ingest: IngestSpec,
    #[serde(default)]
    pub web: WebSpec,
    #[serde(default)]
    pub worker: WorkerSpec,
    #[serde(default)]
    pub beat: BeatSpec,
    /// Where event attachments are kept: a shared PersistentVolumeClaim, or
    /// (without one) a size-limited emptyDir in each pod, lost with the pod.
    #[serde(default)]
    pub attachments: AttachmentsSpec,
    /// Extra environment variables for every pod.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
}

/// One key of an existing Secret; the operator reads it, never writes it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct SecretKeyRef {
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UrlSecret {
    pub url_secret: SecretKeyRef,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageSpec {
    /// Images are `{registry}/corral-{web,worker,beat}:{tag}`.
    #[serde(default = "default_registry")]
    #[schemars(length(min = 1))]
    pub registry: String,
    #[serde(default = "default_tag")]
    #[schemars(length(min = 1, max = 128))]
    pub tag: String,
    #[serde(default)]
    pub pull_policy: PullPolicy,
    /// Names of docker-registry Secrets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pull_secrets: Vec<String>,
}

impl Default for ImageSpec {
    fn default() -> Self {
        ImageSpec {
            registry: default_registry(),
            tag: default_tag(),
            pull_policy: PullPolicy::default(),
            pull_secrets: Vec::new(),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum PullPolicy {
    Always,
    #[default]
    IfNotPresent,
    Never,
}

impl PullPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            PullPolicy::Always => "Always",
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Never => "Never",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngestSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_event_bytes: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_envelope_bytes: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_attachment_bytes: Option<i64>,
    #[serde(default)]
    pub quotas: QuotaSpec,
}

/// Default quotas (events per window); unset means unlimited.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuotaSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub key_events_per_minute: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub key_events_per_hour: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub project_events_per_minute: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub project_events_per_hour: Option<i64>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebSpec {
    #[serde(default = "default_replicas")]
    #[schemars(range(min = 0))]
    pub replicas: i32,
    #[serde(default = "default_app_resources")]
    pub resources: ResourceRequirements,
    #[serde(default)]
    pub service: ServiceSpec,
    #[serde(default)]
    pub ingress: IngressSpec,
    #[serde(default = "default_web_pdb")]
    pub pod_disruption_budget: DisruptionBudget,
}

impl Default for WebSpec {
    fn default() -> Self {
        WebSpec {
            replicas: default_replicas(),
            resources: default_app_resources(),
            service: ServiceSpec::default(),
            ingress: IngressSpec::default(),
            pod_disruption_budget: default_web_pdb(),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    #[serde(rename = "type", default)]
    pub type_: ServiceType,
    #[serde(default = "default_service_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Default for ServiceSpec {
    fn default() -> Self {
        ServiceSpec {
            type_: ServiceType::default(),
            port: default_service_port(),
            annotations: BTreeMap::new(),
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ServiceType {
    #[default]
    ClusterIP,
    NodePort,
    LoadBalancer,
}

impl ServiceType {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceType::ClusterIP => "ClusterIP",
            ServiceType::NodePort => "NodePort",
            ServiceType::LoadBalancer => "LoadBalancer",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IngressSpec {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_name: Option<String>,
    /// Without a host the Ingress answers for every host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// A `kubernetes.io/tls` Secret for the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_secret_name: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// Exactly one of the two is set.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DisruptionBudget {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_available: Option<IntOrString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkerSpec {
    /// The scale subresource's path: `kubectl scale` and HPAs set it.
    #[serde(default = "default_replicas")]
    #[schemars(range(min = 0))]
    pub replicas: i32,
    /// Jobs one worker process runs at once.
    #[serde(default = "default_concurrency")]
    #[schemars(range(min = 1))]
    pub concurrency: i32,
    #[serde(default = "default_app_resources")]
    pub resources: ResourceRequirements,
    #[serde(default = "default_worker_pdb")]
    pub pod_disruption_budget: DisruptionBudget,
}

impl Default for WorkerSpec {
    fn default() -> Self {
        WorkerSpec {
            replicas: default_replicas(),
            concurrency: default_concurrency(),
            resources: default_app_resources(),
            pod_disruption_budget: default_worker_pdb(),
        }
    }
}

/// Beat always runs exactly one replica (it holds the migration lock and
/// the schedules), replaced with the `Recreate` strategy.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BeatSpec {
    #[serde(default = "default_beat_resources")]
    pub resources: ResourceRequirements,
}

impl Default for BeatSpec {
    fn default() -> Self {
        BeatSpec {
            resources: default_beat_resources(),
        }
    }
}

/// Where the web pods write event attachments (beat purges them with their
/// events, project deletion removes a project's). PostgreSQL holds only
/// their metadata; the files live on this volume.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentsSpec {
    /// An existing PersistentVolumeClaim in the instance's namespace, mounted
    /// by every web, worker and beat pod at the attachments directory. The
    /// operator only references it: it never creates, resizes or deletes it.
    /// With more than one web or worker replica (or an HPA) it must be
    /// ReadWriteMany (NFS, CephFS, EFS, Azure Files, …), since pods on
    /// several nodes mount it at once; a ReadWriteOnce claim leaves pods on
    /// other nodes Pending. The pods run as uid/gid 65532 (fsGroup 65532), so
    /// the volume must be writable by them. Unset: an emptyDir per pod, whose
    /// attachments only that pod sees and which are lost when it goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_volume_claim: Option<AttachmentsClaim>,
    /// Without a claim: the size limit of each pod's attachments emptyDir,
    /// also requested as `ephemeral-storage` (a pod that writes more is
    /// evicted). Ignored when a claim is named.
    #[serde(default = "default_attachments_size_limit")]
    #[schemars(schema_with = "quantity_schema")]
    pub size_limit: Quantity,
}

impl Default for AttachmentsSpec {
    fn default() -> Self {
        AttachmentsSpec {
            persistent_volume_claim: None,
            size_limit: default_attachments_size_limit(),
        }
    }
}

/// A PersistentVolumeClaim by name (it must exist; the operator never makes one).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentsClaim {
    #[schemars(length(min = 1, max = 253))]
    #[schemars(regex(
        pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
    ))]
    pub claim_name: String,
}

/// What the operator last saw; written only by the operator.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrackerInstanceStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Migrated, Progressing and Degraded.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    #[serde(default)]
    pub web_ready_replicas: i32,
    #[serde(default)]
    pub worker_ready_replicas: i32,
    #[serde(default)]
    pub beat_ready: bool,
    /// The worker Deployment's replicas (the scale subresource's status).
    #[serde(default)]
    pub worker_replicas: i32,
    /// A label selector matching only worker pods (for HPAs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_selector: Option<String>,
    /// The image tag fully rolled out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The pods' `corral.dev/config-hash`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_hash: Option<String>,
}

fn default_registry() -> String {
    "ghcr.io/corral-dev".into()
}

fn default_tag() -> String {
    env!("CARGO_PKG_VERSION").into()
}

fn default_retention_days() -> i32 {
    30
}

fn default_replicas() -> i32 {
    2
}

fn default_concurrency() -> i32 {
    // corral-worker's own default (worker.concurrency)
    1024
}

fn default_service_port() -> i32 {
    80
}

/// A quantity as a string (`1Gi`, `500Mi`): unlike k8s-openapi's
/// int-or-string schema it is not nullable, so a null cannot reach serde.
fn quantity_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "string",
        "pattern": r"^(\d+(\.\d*)?|\.\d+)([KMGTPE]i|[mkMGTPE]|[eE][+-]?\d+)?$",
    })
}

fn default_attachments_size_limit() -> Quantity {
    Quantity("1Gi".into())
}

fn default_web_pdb() -> DisruptionBudget {
    DisruptionBudget {
        min_available: Some(IntOrString::Int(1)),
        max_unavailable: None,
    }
}

fn default_worker_pdb() -> DisruptionBudget {
    DisruptionBudget {
        min_available: None,
        max_unavailable: Some(IntOrString::Int(1)),
    }
}

fn resources(cpu: &str, memory: &str, memory_limit: &str) -> ResourceRequirements {
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".to_string(), Quantity(cpu.into())),
            ("memory".to_string(), Quantity(memory.into())),
        ])),
        limits: Some(BTreeMap::from([(
            "memory".to_string(),
            Quantity(memory_limit.into()),
        )])),
        claims: None,
    }
}

fn default_app_resources() -> ResourceRequirements {
    resources("100m", "64Mi", "256Mi")
}

fn default_beat_resources() -> ResourceRequirements {
    resources("10m", "32Mi", "128Mi")
}

/// The CRD as YAML, exactly as `crdgen` prints it and as
/// `manifests/crd.yaml` and the chart's `crds/` copy hold it.
pub fn crd_yaml() -> String {
    let crd = TrackerInstance::crd();
    let body = serde_saphyr::to_string(&crd).expect("a CRD always serializes to YAML");
    format!("# Generated by `cargo run -p corral-operator --bin crdgen`; do not edit.\n---\n{body}")
}

/// The longest instance name whose children's names (`{name}-worker`, …)
/// still fit the 63 characters of a label value and a Service name.
pub const MAX_NAME_LEN: usize = 63 - "-worker".len();

/// Env names the operator sets itself; `spec.env` may not override them.
const RESERVED_ENV: &[&str] = &[
    "DATABASE_URL",
    "REDIS_URL",
    "CORRAL_SECRET_KEY",
    "CORRAL_SMTP_URL",
    "CORRAL_BIND",
    "CORRAL_ATTACHMENTS_DIR",
];

/// Checks what the schema cannot (or what an older CRD let through). Every
/// problem is named by its field path, so the status message can be acted on.
pub fn validate(spec: &TrackerInstanceSpec) -> Result<(), Vec<String>> {
    let mut errors = Vec::new();

    match url::Url::parse(&spec.base_url) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {}
        _ => errors.push(format!(
            "spec.baseUrl: must be an absolute http(s) URL, got {:?}",
            spec.base_url
        )),
    }
    if !(1..=3650).contains(&spec.retention_days) {
        errors.push(format!(
            "spec.retentionDays: must be between 1 and 3650, got {}",
            spec.retention_days
        ));
    }

    let image = &spec.image;
    if image.registry.is_empty() || image.registry.contains(char::is_whitespace) {
        errors.push(format!(
            "spec.image.registry: must be a registry path, got {:?}",
            image.registry
        ));
    }
    if !is_image_tag(&image.tag) {
        errors.push(format!(
            "spec.image.tag: must be an image tag ([A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}), got {:?}",
            image.tag
        ));
    }
    for (i, name) in image.pull_secrets.iter().enumerate() {
        check_object_name(&mut errors, &format!("spec.image.pullSecrets[{i}]"), name);
    }

    check_secret_ref(
        &mut errors,
        "spec.database.urlSecret",
        &spec.database.url_secret,
    );
    check_secret_ref(&mut errors, "spec.redis.urlSecret", &spec.redis.url_secret);
    check_secret_ref(&mut errors, "spec.secretKey", &spec.secret_key);
    if let Some(smtp) = &spec.smtp {
        check_secret_ref(&mut errors, "spec.smtp.urlSecret", &smtp.url_secret);
    }

    let ingest = &spec.ingest;
    let limits = [
        ("maxEventBytes", ingest.max_event_bytes),
        ("maxEnvelopeBytes", ingest.max_envelope_bytes),
        ("maxAttachmentBytes", ingest.max_attachment_bytes),
        (
            "quotas.keyEventsPerMinute",
            ingest.quotas.key_events_per_minute,
        ),
        ("quotas.keyEventsPerHour", ingest.quotas.key_events_per_hour),
        (
            "quotas.projectEventsPerMinute",
            ingest.quotas.project_events_per_minute,
        ),
        (
            "quotas.projectEventsPerHour",
            ingest.quotas.project_events_per_hour,
        ),
    ];
    for (field, value) in limits {
        if let Some(v) = value
            && v < 1
        {
            errors.push(format!("spec.ingest.{field}: must be at least 1, got {v}"));
        }
    }

    if spec.web.replicas < 0 {
        errors.push(format!(
            "spec.web.replicas: must not be negative, got {}",
            spec.web.replicas
        ));
    }
    if spec.worker.replicas < 0 {
        errors.push(format!(
            "spec.worker.replicas: must not be negative, got {}",
            spec.worker.replicas
        ));
    }
    if spec.worker.concurrency < 1 {
        errors.push(format!(
            "spec.worker.concurrency: must be at least 1, got {}",
            spec.worker.concurrency
        ));
    }
    if !(1..=65535).contains(&spec.web.service.port) {
        errors.push(format!(
            "spec.web.service.port: must be between 1 and 65535, got {}",
            spec.web.service.port
        ));
    }
    check_budget(
        &mut errors,
        "spec.web.podDisruptionBudget",
        &spec.web.pod_disruption_budget,
    );
    check_budget(
        &mut errors,
        "spec.worker.podDisruptionBudget",
        &spec.worker.pod_disruption_budget,
    );

    let ingress = &spec.web.ingress;
    if let Some(host) = &ingress.host
        && !is_ingress_host(host)
    {
        errors.push(format!(
            "spec.web.ingress.host: must be a DNS name (optionally starting with `*.`), got {host:?}"
        ));
    }
    if let Some(name) = &ingress.tls_secret_name {
        check_object_name(&mut errors, "spec.web.ingress.tlsSecretName", name);
    }
    if let Some(class) = &ingress.class_name {
        check_object_name(&mut errors, "spec.web.ingress.className", class);
    }

    let attachments = &spec.attachments;
    match &attachments.persistent_volume_claim {
        Some(claim) => check_object_name(
            &mut errors,
            "spec.attachments.persistentVolumeClaim.claimName",
            &claim.claim_name,
        ),
        None => {
            if !quantity_is_positive(&attachments.size_limit.0) {
                errors.push(format!(
                    "spec.attachments.sizeLimit: must be a positive quantity such as 1Gi or 500Mi, got {:?}",
                    attachments.size_limit.0
                ));
            }
        }
    }

    let mut seen = BTreeSet::new();
    for (i, var) in spec.env.iter().enumerate() {
        if var.name.is_empty() {
            errors.push(format!("spec.env[{i}].name: must not be empty"));
        } else if RESERVED_ENV.contains(&var.name.as_str()) {
            errors.push(format!(
                "spec.env[{i}].name: {} is set by the operator from the spec; change the spec field instead",
                var.name
            ));
        } else if !seen.insert(var.name.as_str()) {
            errors.push(format!("spec.env[{i}].name: {} is set twice", var.name));
        }
    }

    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// The instance name must leave room for the children's suffixes.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.len() > MAX_NAME_LEN {
        Err(format!(
            "metadata.name: at most {MAX_NAME_LEN} characters (children are named {name}-worker, …), got {}",
            name.len()
        ))
    } else {
        Ok(())
    }
}

fn check_secret_ref(errors: &mut Vec<String>, field: &str, secret: &SecretKeyRef) {
    check_object_name(errors, &format!("{field}.name"), &secret.name);
    let key_ok = !secret.key.is_empty()
        && secret.key.len() <= 253
        && secret
            .key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !key_ok {
        errors.push(format!(
            "{field}.key: must be a Secret key ([-._a-zA-Z0-9]+), got {:?}",
            secret.key
        ));
    }
}

fn check_object_name(errors: &mut Vec<String>, field: &str, name: &str) {
    if !is_dns_subdomain(name) {
        errors.push(format!(
            "{field}: must be a lowercase DNS name (a-z, 0-9, '-', '.'), got {name:?}"
        ));
    }
}

fn check_budget(errors: &mut Vec<String>, field: &str, budget: &DisruptionBudget) {
    match (&budget.min_available, &budget.max_unavailable) {
        (Some(_), None) | (None, Some(_)) => {}
        _ => errors.push(format!(
            "{field}: set exactly one of minAvailable and maxUnavailable"
        )),
    }
    for value in [&budget.min_available, &budget.max_unavailable]
        .into_iter()
        .flatten()
    {
        let ok = match value {
            IntOrString::Int(n) => *n >= 0,
            IntOrString::String(s) => s
                .strip_suffix('%')
                .and_then(|n| n.parse::<u8>().ok())
                .is_some_and(|n| n <= 100),
        };
        if !ok {
            errors.push(format!(
                "{field}: must be a non-negative number or a percentage, got {value:?}"
            ));
        }
    }
}

/// RFC 1123 subdomain, as Kubernetes checks object names.
fn is_dns_subdomain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn is_ingress_host(host: &str) -> bool {
    let rest = host.strip_prefix("*.").unwrap_or(host);
    is_dns_subdomain(rest) && rest.split('.').all(|label| label.len() <= 63)
}

/// A Kubernetes quantity (`<number><suffix>`: 1Gi, 500M, 1.5e9, …) above zero.
fn quantity_is_positive(text: &str) -> bool {
    let number_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(number_end);
    let digits = number.replace('.', "");
    let number_ok = !digits.is_empty() && number.matches('.').count() <= 1;
    let suffix_ok = matches!(
        suffix,
        "" | "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" | "m" | "k" | "M" | "G" | "T" | "P" | "E"
    ) || suffix
        .strip_prefix(['e', 'E'])
        .map(|exp| exp.strip_prefix(['+', '-']).unwrap_or(exp))
        .is_some_and(|exp| !exp.is_empty() && exp.chars().all(|c| c.is_ascii_digit()));
    number_ok && suffix_ok && digits.chars().any(|c| c != '0')
}

fn is_image_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    tag.len() <= 128
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> TrackerInstanceSpec {
        serde_json::from_value(serde_json::json!({
            "database": {"urlSecret": {"name": "corral-db", "key": "url"}},
            "redis": {"urlSecret": {"name": "corral-redis", "key": "url"}},
            "secretKey": {"name": "corral-secret", "key": "secret-key"},
            "baseUrl": "https://errors.example.com",
        }))
        .unwrap()
    }

    #[test]
    fn defaults_follow_the_contract() {
        assert_eq!(validate(&spec()), Ok(()));
        let spec = spec();
        assert_eq!(spec.retention_days, 30);
        assert_eq!(spec.web.replicas, 2);
        assert_eq!(spec.worker.replicas, 2);
        assert_eq!(spec.worker.concurrency, 1024);
        assert_eq!(spec.web.service.port, 80);
        assert_eq!(spec.web.service.type_, ServiceType::ClusterIP);
        assert!(!spec.web.ingress.enabled);
        assert_eq!(spec.image.registry, "ghcr.io/corral-dev");
        assert_eq!(spec.image.tag, env!("CARGO_PKG_VERSION"));
        assert_eq!(spec.image.pull_policy, PullPolicy::IfNotPresent);
        assert_eq!(
            spec.web.pod_disruption_budget.min_available,
            Some(IntOrString::Int(1))
        );
        assert_eq!(
            spec.worker.pod_disruption_budget.max_unavailable,
            Some(IntOrString::Int(1))
        );
        let requests = spec.beat.resources.requests.unwrap();
        assert_eq!(requests["memory"], Quantity("32Mi".into()));
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let mut spec = spec();
        spec.base_url = "ftp://errors.example.com".into();
        spec.retention_days = 0;
        spec.worker.replicas = -1;
        spec.worker.concurrency = 0;
        spec.database.url_secret.name = "Not_A_Name".into();
        spec.secret_key.key = "".into();
        spec.web.pod_disruption_budget.max_unavailable = Some(IntOrString::Int(1));
        spec.web.ingress.host = Some("bad host".into());
        spec.ingest.quotas.key_events_per_minute = Some(0);
        spec.env = vec![EnvVar {
            name: "DATABASE_URL".into(),
            value: Some("postgres://elsewhere".into()),
            value_from: None,
        }];
        let errors = validate(&spec).unwrap_err();
        for path in [
            "spec.baseUrl",
            "spec.retentionDays",
            "spec.worker.replicas",
            "spec.worker.concurrency",
            "spec.database.urlSecret.name",
            "spec.secretKey.key",
            "spec.web.podDisruptionBudget",
            "spec.web.ingress.host",
            "spec.ingest.quotas.keyEventsPerMinute",
            "spec.env[0].name",
        ] {
            assert!(
                errors.iter().any(|e| e.starts_with(path)),
                "{path} missing from {errors:#?}"
            );
        }
        assert_eq!(errors.len(), 10, "{errors:#?}");
    }

    #[test]
    fn percentages_and_wildcard_hosts_are_accepted() {
        let mut spec = spec();
        spec.worker.pod_disruption_budget.max_unavailable = Some(IntOrString::String("25%".into()));
        spec.web.ingress.host = Some("*.errors.example.com".into());
        assert_eq!(validate(&spec), Ok(()));
        spec.worker.pod_disruption_budget.max_unavailable =
            Some(IntOrString::String("125%".into()));
        assert!(validate(&spec).is_err());
    }

    #[test]
    fn attachments_default_to_a_bounded_empty_dir() {
        let spec = spec();
        assert_eq!(spec.attachments.persistent_volume_claim, None);
        assert_eq!(spec.attachments.size_limit, Quantity("1Gi".into()));
    }

    #[test]
    fn an_attachments_claim_must_be_a_dns_name() {
        let mut spec = spec();
        spec.attachments.persistent_volume_claim = Some(AttachmentsClaim {
            claim_name: "corral-attachments".into(),
        });
        assert_eq!(validate(&spec), Ok(()));
        for bad in [
            "",
            "Attachments",
            "under_score",
            "-dash",
            "a..b",
            &"a".repeat(254),
        ] {
            spec.attachments.persistent_volume_claim = Some(AttachmentsClaim {
                claim_name: bad.to_string(),
            });
            let errors = validate(&spec).unwrap_err();
            assert_eq!(errors.len(), 1, "{bad:?}: {errors:#?}");
            assert!(
                errors[0].starts_with("spec.attachments.persistentVolumeClaim.claimName"),
                "{errors:#?}"
            );
        }
    }

    #[test]
    fn the_size_limit_must_be_a_positive_quantity() {
        for good in [
            "1Gi", "500Mi", "2G", "1.5Gi", "1e9", "1E+9", "1048576", "0.5Gi", ".5Gi",
        ] {
            assert!(quantity_is_positive(good), "{good}");
        }
        for bad in [
            "", "0", "0Gi", "0.0", "-1Gi", "1 Gi", "1GB", "Gi", "1..5Gi", "1e", "lots",
        ] {
            assert!(!quantity_is_positive(bad), "{bad}");
        }
        let mut spec = spec();
        spec.attachments.size_limit = Quantity("0".into());
        let errors = validate(&spec).unwrap_err();
        assert!(
            errors[0].starts_with("spec.attachments.sizeLimit"),
            "{errors:#?}"
        );
        // with a claim the size limit is not used, so not checked
        spec.attachments.persistent_volume_claim = Some(AttachmentsClaim {
            claim_name: "files".into(),
        });
        assert_eq!(validate(&spec), Ok(()));
    }

    #[test]
    fn the_operators_own_env_cannot_be_overridden() {
        let mut spec = spec();
        spec.env = vec![EnvVar {
            name: "CORRAL_ATTACHMENTS_DIR".into(),
            value: Some("/elsewhere".into()),
            value_from: None,
        }];
        let errors = validate(&spec).unwrap_err();
        assert!(errors[0].starts_with("spec.env[0].name"), "{errors:#?}");
    }

    #[test]
    fn long_names_are_refused() {
        assert!(validate_name(&"a".repeat(MAX_NAME_LEN)).is_ok());
        assert!(validate_name(&"a".repeat(MAX_NAME_LEN + 1)).is_err());
    }
}
