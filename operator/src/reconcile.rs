//! One reconcile of a `TrackerInstance`: check the spec, read the referenced
//! Secrets, server-side apply every child, write the status, tell what
//! changed in Events. `error_policy` decides when a failed one is retried.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use tracing::{info, warn};

use crate::children::{self, MANAGER, names};
use crate::crd::{TrackerInstance, TrackerInstanceStatus, validate, validate_name};
use crate::status::{self, DEGRADED, Observed, Rollout, reason};

/// An invalid spec is not retried in a loop: a spec change triggers the
/// next reconcile anyway.
pub const INVALID_SPEC_REQUEUE: Duration = Duration::from_secs(300);
/// A missing Secret is usually created soon; its watch also triggers.
pub const MISSING_SECRET_REQUEUE: Duration = Duration::from_secs(60);
/// Re-check a healthy instance now and then (drift, missed events).
pub const RESYNC: Duration = Duration::from_secs(300);
/// The first retry after an error; doubled per failure up to [`MAX_BACKOFF`].
pub const MIN_BACKOFF: Duration = Duration::from_secs(5);
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// A reconcile that failed and will be retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the TrackerInstance has no {0}")]
    MissingObjectKey(&'static str),
    #[error("reading {kind} {name}: {source}")]
    Read {
        kind: &'static str,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("applying {kind} {name}: {source}")]
    Apply {
        kind: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("deleting {kind} {name}: {source}")]
    Delete {
        kind: &'static str,
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("writing the status: {0}")]
    Status(#[source] kube::Error),
}

/// What every reconcile shares: the client, the event recorder and the
/// failure counts behind the backoff.
pub struct Context {
    pub client: Client,
    pub recorder: Recorder,
    failures: Mutex<HashMap<ObjectRef<TrackerInstance>, u32>>,
}

impl Context {
    pub fn new(client: Client, reporter: Reporter) -> Context {
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one more failure of this instance; returns the count.
    fn record_failure(&self, ti: &TrackerInstance) -> u32 {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let count = failures.entry(ObjectRef::from_obj(ti)).or_insert(0);
        *count = count.saturating_add(1);
        *count
    }

    fn record_success(&self, ti: &TrackerInstance) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.remove(&ObjectRef::from_obj(ti));
    }
}

/// The delay before retry number `failures` (1 = first): exponential,
/// starting at [`MIN_BACKOFF`], capped at [`MAX_BACKOFF`].
pub fn backoff(failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(16);
    MIN_BACKOFF.saturating_mul(1 << exponent).min(MAX_BACKOFF)
}

/// The controller's error policy: retry with exponential backoff per instance.
pub fn error_policy(ti: Arc<TrackerInstance>, error: &Error, ctx: Arc<Context>) -> Action {
    let failures = ctx.record_failure(&ti);
    let delay = backoff(failures);
    warn!(
        instance = %ObjectRef::from_obj(ti.as_ref()),
        error = %error,
        failures,
        retry_in_secs = delay.as_secs(),
        "reconcile failed"
    );
    Action::requeue(delay)
}

/// Brings the children of one instance to its spec and reports the result.
pub async fn reconcile(ti: Arc<TrackerInstance>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let result = reconcile_instance(&ti, &ctx).await;
    let outcome = match &result {
        Ok(_) => "ok",
        Err(_) => "error",
    };
    metrics::counter!("corral_operator_reconciliations_total", "result" => outcome).increment(1);
    metrics::histogram!("corral_operator_reconcile_duration_seconds")
        .record(started.elapsed().as_secs_f64());
    if result.is_ok() {
        ctx.record_success(&ti);
    }
    result
}

async fn reconcile_instance(ti: &TrackerInstance, ctx: &Context) -> Result<Action, Error> {
    let namespace = ti
        .namespace()
        .ok_or(Error::MissingObjectKey("metadata.namespace"))?;
    if ti.meta().name.is_none() {
        return Err(Error::MissingObjectKey("metadata.name"));
    }
    if ti.uid().is_none() {
        return Err(Error::MissingObjectKey("metadata.uid"));
    }
    if ti.meta().deletion_timestamp.is_some() {
        // the garbage collector removes the children through their owner
        // references; applying them now would fight it
        return Ok(Action::await_change());
    }
    let previous = ti.status.clone().unwrap_or_default();

    let mut problems = validate(&ti.spec).err().unwrap_or_default();
    if let Err(problem) = validate_name(&ti.name_any()) {
        problems.insert(0, problem);
    }
    if !problems.is_empty() {
        metrics::counter!("corral_operator_invalid_specs_total").increment(1);
        let message = problems.join("; ");
        return stop(ti, ctx, &previous, reason::INVALID_SPEC, message).await;
    }

    let secret_versions = match read_secrets(ti, ctx, &namespace).await? {
        Ok(versions) => versions,
        Err((why, message)) => return stop(ti, ctx, &previous, why, message).await,
    };

    let config_map = children::config_map(ti);
    let config_hash = children::config_hash(&config_map, &secret_versions);
    let observed = match apply_children(ti, ctx, &namespace, config_map, &config_hash).await {
        Ok(observed) => observed,
        Err(error) => {
            // best effort: the error itself is what gets retried
            let message = error.to_string();
            let status = status::degraded_status(
                ti,
                &previous,
                reason::APPLY_FAILED,
                message.clone(),
                &now(),
            );
            if let Err(status_error) = write_status(ti, ctx, &namespace, &status).await {
                warn!(error = %status_error, "could not report the apply failure in the status");
            }
            publish(
                ctx,
                ti,
                EventType::Warning,
                reason::APPLY_FAILED,
                "Apply",
                message,
            )
            .await;
            return Err(error);
        }
    };

    let status = status::applied_status(ti, &previous, &observed, &config_hash, &now());
    write_status(ti, ctx, &namespace, &status).await?;
    announce_changes(ti, ctx, &previous, &status).await;
    Ok(Action::requeue(RESYNC))
}

/// Reports why nothing was applied (Degraded=True) and requeues slowly.
async fn stop(
    ti: &TrackerInstance,
    ctx: &Context,
    previous: &TrackerInstanceStatus,
    why: &str,
    message: String,
) -> Result<Action, Error> {
    let namespace = ti.namespace().unwrap_or_default();
    let was = status::condition(previous, DEGRADED);
    let news = !was.is_some_and(|c| c.status == "True" && c.reason == why && c.message == message);
    let status = status::degraded_status(ti, previous, why, message.clone(), &now());
    write_status(ti, ctx, &namespace, &status).await?;
    if news {
        info!(instance = %ObjectRef::from_obj(ti), reason = why, %message, "not applying children");
        publish(ctx, ti, EventType::Warning, why, "Reconcile", message).await;
    }
    let requeue = if why == reason::INVALID_SPEC {
        INVALID_SPEC_REQUEUE
    } else {
        MISSING_SECRET_REQUEUE
    };
    Ok(Action::requeue(requeue))
}

/// Reads each referenced Secret once: its `resourceVersion` goes into the
/// config hash, and a missing Secret or key stops the reconcile (pods could
/// not start). The outer error is an API failure; the inner one a reason and
/// message for the status.
async fn read_secrets(
    ti: &TrackerInstance,
    ctx: &Context,
    namespace: &str,
) -> Result<Result<BTreeMap<String, String>, (&'static str, String)>, Error> {
    let mut wanted: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for secret in children::referenced_secrets(&ti.spec) {
        wanted
            .entry(secret.name.as_str())
            .or_default()
            .push(secret.key.as_str());
    }
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let mut versions = BTreeMap::new();
    for (name, keys) in wanted {
        let secret = api.get_opt(name).await.map_err(|source| Error::Read {
            kind: "Secret",
            name: name.to_string(),
            source,
        })?;
        let Some(secret) = secret else {
            return Ok(Err((
                reason::SECRET_NOT_FOUND,
                format!(
                    "Secret {namespace}/{name} does not exist; create it (the operator never generates secrets)"
                ),
            )));
        };
        let data = secret.data.unwrap_or_default();
        if let Some(key) = keys.iter().find(|key| !data.contains_key(**key)) {
            return Ok(Err((
                reason::SECRET_KEY_MISSING,
                format!("Secret {namespace}/{name} has no key {key:?}"),
            )));
        }
        versions.insert(
            name.to_string(),
            secret.metadata.resource_version.unwrap_or_default(),
        );
    }
    Ok(Ok(versions))
}

async fn apply_children(
    ti: &TrackerInstance,
    ctx: &Context,
    namespace: &str,
    config_map: k8s_openapi::api::core::v1::ConfigMap,
    config_hash: &str,
) -> Result<Observed, Error> {
    let client = &ctx.client;
    apply(client, namespace, children::service_account(ti)).await?;
    apply(client, namespace, config_map).await?;
    apply(client, namespace, children::web_service(ti)).await?;
    let web = apply(client, namespace, children::web_deployment(ti, config_hash)).await?;
    let worker = apply(
        client,
        namespace,
        children::worker_deployment(ti, config_hash),
    )
    .await?;
    let beat = apply(
        client,
        namespace,
        children::beat_deployment(ti, config_hash),
    )
    .await?;
    apply(client, namespace, children::web_pdb(ti)).await?;
    apply(client, namespace, children::worker_pdb(ti)).await?;
    match children::web_ingress(ti) {
        Some(ingress) => {
            apply(client, namespace, ingress).await?;
        }
        None => remove_owned_ingress(ti, ctx, namespace).await?,
    }
    Ok(Observed {
        web: Rollout::of(&web),
        worker: Rollout::of(&worker),
        beat: Rollout::of(&beat),
    })
}

/// Server-side apply with force: the operator owns every field it sets.
async fn apply<K>(client: &Client, namespace: &str, object: K) -> Result<K, Error>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Serialize
        + DeserializeOwned
        + Clone
        + Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    let name = object.name_any();
    api.patch(
        &name,
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&object),
    )
    .await
    .map_err(|source| Error::Apply {
        kind: K::kind(&()).into_owned(),
        name,
        source,
    })
}

/// An Ingress this instance made earlier goes when it is disabled; one the
/// instance does not own is left alone.
async fn remove_owned_ingress(
    ti: &TrackerInstance,
    ctx: &Context,
    namespace: &str,
) -> Result<(), Error> {
    let api: Api<Ingress> = Api::namespaced(ctx.client.clone(), namespace);
    let name = names::web(ti);
    let existing = api.get_opt(&name).await.map_err(|source| Error::Read {
        kind: "Ingress",
        name: name.clone(),
        source,
    })?;
    let owned = existing.is_some_and(|ingress| {
        ingress
            .owner_references()
            .iter()
            .any(|o| o.controller == Some(true) && Some(&o.uid) == ti.meta().uid.as_ref())
    });
    if owned {
        api.delete(&name, &DeleteParams::default())
            .await
            .map_err(|source| Error::Delete {
                kind: "Ingress",
                name: name.clone(),
                source,
            })?;
        publish(
            ctx,
            ti,
            EventType::Normal,
            "IngressRemoved",
            "Delete",
            format!("deleted Ingress {name}: spec.web.ingress.enabled is false"),
        )
        .await;
    }
    Ok(())
}

async fn write_status(
    ti: &TrackerInstance,
    ctx: &Context,
    namespace: &str,
    status: &TrackerInstanceStatus,
) -> Result<(), Error> {
    let api: Api<TrackerInstance> = Api::namespaced(ctx.client.clone(), namespace);
    let patch = json!({
        "apiVersion": TrackerInstance::api_version(&()),
        "kind": TrackerInstance::kind(&()),
        "status": status,
    });
    api.patch_status(
        &ti.name_any(),
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await
    .map_err(Error::Status)?;
    Ok(())
}

/// Events for what this reconcile changed, judged against the previous status.
async fn announce_changes(
    ti: &TrackerInstance,
    ctx: &Context,
    previous: &TrackerInstanceStatus,
    current: &TrackerInstanceStatus,
) {
    let spec = &ti.spec;
    let generation_changed = previous.observed_generation != current.observed_generation;
    if generation_changed {
        let generation = current
            .observed_generation
            .map_or_else(|| "?".to_string(), |g| g.to_string());
        publish(
            ctx,
            ti,
            EventType::Normal,
            "Applied",
            "Apply",
            format!(
                "applied generation {generation}: web {} replicas, worker {} replicas, beat 1 replica of version {}",
                spec.web.replicas, spec.worker.replicas, spec.image.tag
            ),
        )
        .await;
        if previous.observed_generation.is_some()
            && previous.worker_replicas != spec.worker.replicas
        {
            publish(
                ctx,
                ti,
                EventType::Normal,
                "ScalingWorkers",
                "Scale",
                format!(
                    "worker replicas {} -> {}",
                    previous.worker_replicas, spec.worker.replicas
                ),
            )
            .await;
        }
    }
    if previous.config_hash.is_some() && previous.config_hash != current.config_hash {
        publish(
            ctx,
            ti,
            EventType::Normal,
            "ConfigChanged",
            "Rollout",
            "the configuration or a referenced Secret changed: rolling the pods".to_string(),
        )
        .await;
    }
    if current.version.is_some() && current.version != previous.version {
        publish(
            ctx,
            ti,
            EventType::Normal,
            "RolledOut",
            "Rollout",
            format!(
                "version {} is rolled out",
                current.version.as_deref().unwrap_or_default()
            ),
        )
        .await;
    }
    let was_degraded = status::condition(previous, DEGRADED).is_some_and(|c| c.status == "True");
    let is_degraded = status::condition(current, DEGRADED).is_some_and(|c| c.status == "True");
    if was_degraded && !is_degraded {
        publish(
            ctx,
            ti,
            EventType::Normal,
            "Recovered",
            "Reconcile",
            "every child is applied again".to_string(),
        )
        .await;
    }
}

/// Events are for people; failing to write one does not fail the reconcile.
async fn publish(
    ctx: &Context,
    ti: &TrackerInstance,
    type_: EventType,
    reason: &str,
    action: &str,
    note: String,
) {
    let event = Event {
        type_,
        reason: reason.to_string(),
        note: Some(truncate(note, MAX_NOTE_BYTES)),
        action: action.to_string(),
        secondary: None,
    };
    if let Err(error) = ctx.recorder.publish(&event, &ti.object_ref(&())).await {
        warn!(%error, reason, "could not publish an event");
    }
}

/// The API server refuses event notes over 1 kB.
const MAX_NOTE_BYTES: usize = 1024;

fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max - '…'.len_utf8();
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

fn now() -> Time {
    Time(Timestamp::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let secs: Vec<u64> = (1..=9).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(secs, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn long_notes_are_cut_on_a_character_boundary() {
        assert_eq!(truncate("short".into(), MAX_NOTE_BYTES), "short");
        let long = "é".repeat(1000);
        let cut = truncate(long, MAX_NOTE_BYTES);
        assert!(cut.len() <= MAX_NOTE_BYTES);
        assert!(cut.ends_with('…'));
    }
}
