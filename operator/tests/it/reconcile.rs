//! reconcile against a scripted API server: every call is checked in order,
//! with its exact URI and body.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use corral_operator::children;
use corral_operator::{
    Context, Error, INVALID_SPEC_REQUEUE, MISSING_SECRET_REQUEUE, RESYNC, TrackerInstance,
    error_policy, reconcile,
};
use kube::runtime::controller::Action;
use kube::runtime::events::Reporter;
use serde_json::{Value, json};

use crate::fixtures::{NAMESPACE, UID, instance, instance_with, minimal_spec, spec_with};
use crate::mock::{self, ApiServer, TIMEOUT};

const CORE: &str = "/api/v1/namespaces/errors";
const APPS: &str = "/apis/apps/v1/namespaces/errors";
const POLICY: &str = "/apis/policy/v1/namespaces/errors";
const NETWORKING: &str = "/apis/networking.k8s.io/v1/namespaces/errors";
const STATUS: &str = "/apis/corral.dev/v1alpha1/namespaces/errors/trackerinstances/prod/status";

const VERSIONS: [(&str, &str); 3] = [
    ("corral-db", "11"),
    ("corral-redis", "12"),
    ("corral-secret", "13"),
];

fn reporter() -> Reporter {
    Reporter {
        controller: "corral-operator".into(),
        instance: Some("corral-operator-0".into()),
    }
}

fn expected_hash(ti: &TrackerInstance, versions: &[(&str, &str)]) -> String {
    let versions: BTreeMap<String, String> = versions
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    children::config_hash(&children::config_map(ti), &versions)
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap()
}

/// Runs one reconcile against `script`; `inspect` sees the result and the
/// context before the client is dropped (which ends the script's
/// `expect_no_more`).
async fn scenario<S, Fut, T>(
    ti: TrackerInstance,
    script: S,
    inspect: impl FnOnce(&Result<Action, Error>, &Arc<Context>) -> T,
) -> (Result<Action, Error>, T)
where
    S: FnOnce(ApiServer) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (client, server) = mock::pair();
    let ctx = Arc::new(Context::new(client, reporter()));
    let verifier = tokio::spawn(script(server));
    let result = tokio::time::timeout(TIMEOUT, reconcile(Arc::new(ti.clone()), ctx.clone()))
        .await
        .expect("reconcile hung: an API call was not answered");
    let seen = inspect(&result, &ctx);
    drop(ctx);
    tokio::time::timeout(TIMEOUT * 2, verifier)
        .await
        .expect("the API script did not finish")
        .expect("the API script failed (see its panic above)");
    (result, seen)
}

fn secret(name: &str, resource_version: &str, keys: &[&str]) -> Value {
    let data: serde_json::Map<String, Value> = keys
        .iter()
        .map(|k| (k.to_string(), json!("c2VjcmV0")))
        .collect();
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": name, "namespace": NAMESPACE, "resourceVersion": resource_version},
        "type": "Opaque",
        "data": data,
    })
}

/// Answers the Secret reads of the minimal spec, in name order.
async fn serve_secrets(server: &mut ApiServer, versions: &[(&str, &str)]) {
    for (name, version) in versions {
        let key = if *name == "corral-secret" {
            "secret-key"
        } else {
            "url"
        };
        server
            .expect("GET", &format!("{CORE}/secrets/{name}"))
            .await
            .reply(200, &secret(name, version, &[key]));
    }
}

/// Answers every child apply (each body equal to its builder's output) and
/// the Ingress check; returns the bodies by URI path.
async fn serve_children(
    server: &mut ApiServer,
    ti: &TrackerInstance,
    hash: &str,
    deployment_status: impl Fn(&str) -> Option<Value>,
) -> BTreeMap<String, Value> {
    let mut bodies = BTreeMap::new();
    let expected: Vec<(String, Value)> = vec![
        (
            format!("{CORE}/serviceaccounts/prod"),
            to_json(&children::service_account(ti)),
        ),
        (
            format!("{CORE}/configmaps/prod-config"),
            to_json(&children::config_map(ti)),
        ),
        (
            format!("{CORE}/services/prod-web"),
            to_json(&children::web_service(ti)),
        ),
        (
            format!("{APPS}/deployments/prod-web"),
            to_json(&children::web_deployment(ti, hash)),
        ),
        (
            format!("{APPS}/deployments/prod-worker"),
            to_json(&children::worker_deployment(ti, hash)),
        ),
        (
            format!("{APPS}/deployments/prod-beat"),
            to_json(&children::beat_deployment(ti, hash)),
        ),
        (
            format!("{POLICY}/poddisruptionbudgets/prod-web"),
            to_json(&children::web_pdb(ti)),
        ),
        (
            format!("{POLICY}/poddisruptionbudgets/prod-worker"),
            to_json(&children::worker_pdb(ti)),
        ),
    ];
    for (path, body) in expected {
        let call = server.expect_apply(&path).await;
        assert_eq!(call.body, body, "{path}: the applied body is the builder's");
        assert_eq!(
            call.body["metadata"]["ownerReferences"][0]["uid"], UID,
            "{path}"
        );
        bodies.insert(path.clone(), call.body.clone());
        let name = path.rsplit('/').next().unwrap().to_string();
        match deployment_status(&name) {
            Some(status) if path.contains("/deployments/") => {
                call.echo_with_status(status);
            }
            _ => {
                call.echo();
            }
        }
    }
    match children::web_ingress(ti) {
        Some(ingress) => {
            let path = format!("{NETWORKING}/ingresses/prod-web");
            let call = server.expect_apply(&path).await;
            assert_eq!(call.body, to_json(&ingress));
            bodies.insert(path, call.body.clone());
            call.echo();
        }
        None => server
            .expect("GET", &format!("{NETWORKING}/ingresses/prod-web"))
            .await
            .not_found(),
    }
    bodies
}

/// Answers the status apply with the whole object; returns the status sent.
async fn serve_status(server: &mut ApiServer, ti: &TrackerInstance) -> Value {
    let call = server.expect_apply(STATUS).await;
    assert_eq!(call.body["apiVersion"], "corral.dev/v1alpha1");
    assert_eq!(call.body["kind"], "TrackerInstance");
    let status = call.body["status"].clone();
    let mut object = to_json(ti);
    object["status"] = status.clone();
    call.reply(200, &object);
    status
}

fn condition<'a>(status: &'a Value, type_: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .find(|c| c["type"] == type_)
        .unwrap_or_else(|| panic!("no {type_} condition in {status}"))
}

fn ready(replicas: i64) -> Value {
    json!({
        "observedGeneration": 1,
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
    })
}

#[tokio::test]
async fn first_reconcile_applies_every_child_and_writes_the_status() {
    let ti = instance();
    let expected = ti.clone();
    let (result, ()) = scenario(
        ti,
        |mut server| async move {
            serve_secrets(&mut server, &VERSIONS).await;
            let hash = expected_hash(&expected, &VERSIONS);
            let bodies = serve_children(&mut server, &expected, &hash, |_| None).await;

            // the contract's specifics, independently of the builders
            let worker = &bodies[&format!("{APPS}/deployments/prod-worker")];
            assert_eq!(worker["spec"]["replicas"], 2);
            assert_eq!(
                worker["spec"]["template"]["metadata"]["annotations"]["corral.dev/config-hash"],
                hash.as_str()
            );
            let beat = &bodies[&format!("{APPS}/deployments/prod-beat")];
            assert_eq!(beat["spec"]["replicas"], 1);
            assert_eq!(beat["spec"]["strategy"]["type"], "Recreate");
            assert_eq!(beat["apiVersion"], "apps/v1");
            assert_eq!(beat["kind"], "Deployment");

            let status = serve_status(&mut server, &expected).await;
            assert_eq!(status["observedGeneration"], 1);
            assert_eq!(
                status["workerSelector"],
                children::worker_selector(&expected)
            );
            assert_eq!(status["configHash"], hash.as_str());
            assert_eq!(status["workerReplicas"], 0);
            assert_eq!(status["beatReady"], false);
            assert!(
                status.get("version").is_none(),
                "nothing is rolled out yet: {status}"
            );
            assert_eq!(condition(&status, "Ready")["status"], "False");
            assert_eq!(condition(&status, "Ready")["reason"], "ReplicasNotReady");
            assert_eq!(condition(&status, "Migrated")["status"], "False");
            assert_eq!(condition(&status, "Progressing")["status"], "True");
            assert_eq!(condition(&status, "Degraded")["status"], "False");
            // no claim named: the status says attachments live and die with each pod
            let attachments = condition(&status, "AttachmentsPersistent");
            assert_eq!(attachments["status"], "False");
            assert_eq!(attachments["reason"], "EmptyDir");
            assert!(
                attachments["message"]
                    .as_str()
                    .unwrap()
                    .contains("lost when that pod is replaced")
            );
            for c in status["conditions"].as_array().unwrap() {
                assert_eq!(c["observedGeneration"], 1);
                assert!(c["lastTransitionTime"].is_string());
                assert!(!c["reason"].as_str().unwrap().is_empty());
            }

            let (type_, reason, note) = server.expect_event(NAMESPACE).await;
            assert_eq!((type_.as_str(), reason.as_str()), ("Normal", "Applied"));
            assert!(note.contains("generation 1"), "{note}");
            server.expect_no_more().await;
        },
        |_, _| (),
    )
    .await;
    assert_eq!(result.unwrap(), Action::requeue(RESYNC));
}

#[tokio::test]
async fn kubectl_scale_patches_the_worker_deployment() {
    // `kubectl scale trackerinstance/prod --replicas=5` changed
    // spec.worker.replicas through the scale subresource (generation 2)
    let before = instance();
    let hash = expected_hash(&before, &VERSIONS);
    let mut ti = instance_with(spec_with(json!({"worker": {"replicas": 5}})), 2);
    ti.status = Some(
        serde_json::from_value(json!({
            "observedGeneration": 1,
            "workerReplicas": 2,
            "workerReadyReplicas": 2,
            "webReadyReplicas": 2,
            "beatReady": true,
            "version": "0.1.0",
            "configHash": hash,
            "conditions": [{
                "type": "Ready", "status": "True", "reason": "AllReplicasReady",
                "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1,
            }],
        }))
        .unwrap(),
    );
    let expected = ti.clone();
    let (result, ()) = scenario(
        ti,
        |mut server| async move {
            serve_secrets(&mut server, &VERSIONS).await;
            let status_of = |name: &str| match name {
                "prod-worker" => Some(ready(5)),
                "prod-beat" => Some(ready(1)),
                _ => Some(ready(2)),
            };
            let bodies = serve_children(&mut server, &expected, &hash, status_of).await;
            let worker = &bodies[&format!("{APPS}/deployments/prod-worker")];
            assert_eq!(worker["spec"]["replicas"], 5, "the new count is applied");
            // the config did not change, so the pods are not rolled
            assert_eq!(
                worker["spec"]["template"]["metadata"]["annotations"]["corral.dev/config-hash"],
                hash.as_str()
            );
            let web = &bodies[&format!("{APPS}/deployments/prod-web")];
            assert_eq!(web["spec"]["replicas"], 2);

            let status = serve_status(&mut server, &expected).await;
            assert_eq!(status["observedGeneration"], 2);
            assert_eq!(status["workerReplicas"], 5);
            assert_eq!(status["workerReadyReplicas"], 5);
            assert_eq!(status["version"], "0.1.0");
            let ready = condition(&status, "Ready");
            assert_eq!(ready["status"], "True");
            // Ready stayed True: its transition time is kept
            assert_eq!(ready["lastTransitionTime"], "2026-01-01T00:00:00Z");
            assert_eq!(ready["observedGeneration"], 2);
            assert_eq!(condition(&status, "Migrated")["status"], "True");
            assert_eq!(
                condition(&status, "Progressing")["reason"],
                "RolloutComplete"
            );

            let (_, reason, _) = server.expect_event(NAMESPACE).await;
            assert_eq!(reason, "Applied");
            let (_, reason, note) = server.expect_event(NAMESPACE).await;
            assert_eq!(reason, "ScalingWorkers");
            assert_eq!(note, "worker replicas 2 -> 5");
            server.expect_no_more().await;
        },
        |_, _| (),
    )
    .await;
    assert_eq!(result.unwrap(), Action::requeue(RESYNC));
}

#[tokio::test]
async fn an_invalid_spec_is_reported_without_touching_children() {
    let ti = instance_with(
        spec_with(json!({"retentionDays": 0, "baseUrl": "not a url"})),
        3,
    );
    let expected = ti.clone();
    let (result, ()) = scenario(
        ti,
        |mut server| async move {
            // first call: the status; no Secret read, no apply
            let status = serve_status(&mut server, &expected).await;
            assert_eq!(status["observedGeneration"], 3);
            let degraded = condition(&status, "Degraded");
            assert_eq!(degraded["status"], "True");
            assert_eq!(degraded["reason"], "InvalidSpec");
            let message = degraded["message"].as_str().unwrap();
            assert!(message.contains("spec.retentionDays"), "{message}");
            assert!(message.contains("spec.baseUrl"), "{message}");
            assert_eq!(condition(&status, "Ready")["status"], "Unknown");

            let (type_, reason, note) = server.expect_event(NAMESPACE).await;
            assert_eq!(
                (type_.as_str(), reason.as_str()),
                ("Warning", "InvalidSpec")
            );
            assert!(note.contains("spec.retentionDays"));
            server.expect_no_more().await;
        },
        |_, _| (),
    )
    .await;
    // slowly: the next spec change triggers a reconcile anyway
    assert_eq!(result.unwrap(), Action::requeue(INVALID_SPEC_REQUEUE));
}

#[tokio::test]
async fn an_invalid_attachments_claim_is_reported_without_touching_children() {
    let ti = instance_with(
        spec_with(json!({"attachments": {"persistentVolumeClaim": {"claimName": "Corral_Files"}}})),
        4,
    );
    let expected = ti.clone();
    let (result, ()) = scenario(
        ti,
        |mut server| async move {
            // the status first: no Secret read, no child applied
            let status = serve_status(&mut server, &expected).await;
            assert_eq!(status["observedGeneration"], 4);
            let degraded = condition(&status, "Degraded");
            assert_eq!(degraded["status"], "True");
            assert_eq!(degraded["reason"], "InvalidSpec");
            let message = degraded["message"].as_str().unwrap();
            assert!(
                message.contains("spec.attachments.persistentVolumeClaim.claimName"),
                "{message}"
            );
            assert!(message.contains("Corral_Files"), "{message}");
            server
                .expect_warning_and_no_more(NAMESPACE, "InvalidSpec")
                .await;
        },
        |_, _| (),
    )
    .await;
    assert_eq!(result.unwrap(), Action::requeue(INVALID_SPEC_REQUEUE));
}

#[tokio::test]
async fn a_named_claim_is_mounted_by_every_deployment() {
    let ti = instance_with(
        spec_with(json!({"attachments": {"persistentVolumeClaim": {"claimName": "corral-files"}}})),
        1,
    );
    let expected = ti.clone();
    let (result, ()) = scenario(
        ti,
        |mut server| async move {
            serve_secrets(&mut server, &VERSIONS).await;
            let hash = expected_hash(&expected, &VERSIONS);
            let bodies = serve_children(&mut server, &expected, &hash, |_| None).await;
            for name in ["prod-web", "prod-worker", "prod-beat"] {
                let pod =
                    &bodies[&format!("{APPS}/deployments/{name}")]["spec"]["template"]["spec"];
                let volume = pod["volumes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|v| v["name"] == "attachments")
                    .unwrap_or_else(|| panic!("{name}: no attachments volume"));
                assert_eq!(
                    volume["persistentVolumeClaim"]["claimName"], "corral-files",
                    "{name}"
                );
                let container = &pod["containers"][0];
                assert!(
                    container["volumeMounts"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|m| m["name"] == "attachments" && m["mountPath"] == "/attachments"),
                    "{name}"
                );
                assert!(
                    container["env"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|e| e["name"] == "CORRAL_ATTACHMENTS_DIR"
                            && e["value"] == "/attachments"),
                    "{name}"
                );
            }
            let status = serve_status(&mut server, &expected).await;
            let attachments = condition(&status, "AttachmentsPersistent");
            assert_eq!(attachments["status"], "True");
            assert_eq!(attachments["reason"], "PersistentVolumeClaim");
            server.expect_event(NAMESPACE).await;
            server.expect_no_more().await;
        },
        |_, _| (),
    )
    .await;
    assert_eq!(result.unwrap(), Action::requeue(RESYNC));
}

#[tokio::test]
async fn an_invalid_spec_already_reported_is_not_announced_again() {
    let mut ti = instance_with(spec_with(json!({"retentionDays": 0})), 3);
    let message = corral_operator::validate(&ti.spec).unwrap_err().join("; ");
    ti.status = Some(
        serde_json::from_value(json!({
            "observedGeneration": 3,
            "conditions": [{
                "type": "Degraded", "status": "True", "reason": "InvalidSpec",
                "message": message, "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 3,
            }],
        }))
        .unwrap(),
    );
    let expected = ti.clone();
    let (result, ()) = scenario(
        ti,
        |mut server| async move {
            let status = serve_status(&mut server, &expected).await;
            let degraded = condition(&status, "Degraded");
            assert_eq!(degraded["lastTransitionTime"], "2026-01-01T00:00:00Z");
            // no second Warning event, no child
            server.expect_no_more().await;
        },
        |_, _| (),
    )
    .await;
    assert_eq!(result.unwrap(), Action::requeue(INVALID_SPEC_REQUEUE));
}

#[tokio::test]
async fn a_missing_secret_is_reported_without_touching_children() {
    let expected = instance();
    let (result, ()) = scenario(
        instance(),
        |mut server| async move {
            server
                .expect("GET", &format!("{CORE}/secrets/corral-db"))
                .await
                .not_found();
            let status = serve_status(&mut server, &expected).await;
            let degraded = condition(&status, "Degraded");
            assert_eq!(degraded["reason"], "SecretNotFound");
            assert!(
                degraded["message"]
                    .as_str()
                    .unwrap()
                    .contains("errors/corral-db")
            );
            server
                .expect_warning_and_no_more(NAMESPACE, "SecretNotFound")
                .await;
        },
        |_, _| (),
    )
    .await;
    assert_eq!(result.unwrap(), Action::requeue(MISSING_SECRET_REQUEUE));
}

#[tokio::test]
async fn a_secret_without_the_key_is_reported() {
    let expected = instance();
    let (result, ()) = scenario(
        instance(),
        |mut server| async move {
            server
                .expect("GET", &format!("{CORE}/secrets/corral-db"))
                .await
                .reply(200, &secret("corral-db", "11", &["password"]));
            let status = serve_status(&mut server, &expected).await;
            let degraded = condition(&status, "Degraded");
            assert_eq!(degraded["reason"], "SecretKeyMissing");
            assert!(degraded["message"].as_str().unwrap().contains("\"url\""));
            server.expect_event(NAMESPACE).await;
            server.expect_no_more().await;
        },
        |_, _| (),
    )
    .await;
    assert_eq!(result.unwrap(), Action::requeue(MISSING_SECRET_REQUEUE));
}

#[tokio::test]
async fn an_api_error_is_retried_with_growing_backoff() {
    let expected = instance();
    let (result, actions) = scenario(
        instance(),
        |mut server| async move {
            serve_secrets(&mut server, &VERSIONS).await;
            server
                .expect_apply(&format!("{CORE}/serviceaccounts/prod"))
                .await
                .server_error("etcd is unavailable");
            // the failure is reported before the retry
            let status = serve_status(&mut server, &expected).await;
            let degraded = condition(&status, "Degraded");
            assert_eq!(degraded["reason"], "ApplyFailed");
            assert!(
                degraded["message"]
                    .as_str()
                    .unwrap()
                    .contains("ServiceAccount prod")
            );
            server
                .expect_warning_and_no_more(NAMESPACE, "ApplyFailed")
                .await;
        },
        |result, ctx| {
            let error = result.as_ref().expect_err("reconcile must fail");
            let ti = Arc::new(instance());
            (1..=8)
                .map(|_| error_policy(ti.clone(), error, ctx.clone()))
                .collect::<Vec<_>>()
        },
    )
    .await;
    assert!(matches!(result, Err(Error::Apply { ref kind, .. }) if kind == "ServiceAccount"));
    let secs = [5, 10, 20, 40, 80, 160, 300, 300];
    let expected: Vec<Action> = secs
        .iter()
        .map(|s| Action::requeue(std::time::Duration::from_secs(*s)))
        .collect();
    assert_eq!(actions, expected);
}

#[tokio::test]
async fn a_success_resets_the_backoff() {
    let ti = instance();
    let (client, mut server) = mock::pair();
    let ctx = Arc::new(Context::new(client, reporter()));
    let expected = ti.clone();
    let verifier = tokio::spawn(async move {
        // first pass: reading a Secret fails
        server
            .expect("GET", &format!("{CORE}/secrets/corral-db"))
            .await
            .server_error("timeout");
        // second pass: all good
        serve_secrets(&mut server, &VERSIONS).await;
        let hash = expected_hash(&expected, &VERSIONS);
        serve_children(&mut server, &expected, &hash, |_| None).await;
        serve_status(&mut server, &expected).await;
        server.expect_event(NAMESPACE).await;
        server
    });
    let shared = Arc::new(ti);
    let error = reconcile(shared.clone(), ctx.clone()).await.unwrap_err();
    assert!(
        matches!(error, Error::Read { kind: "Secret", .. }),
        "{error}"
    );
    assert_eq!(
        error_policy(shared.clone(), &error, ctx.clone()),
        Action::requeue(std::time::Duration::from_secs(5))
    );
    assert_eq!(
        error_policy(shared.clone(), &error, ctx.clone()),
        Action::requeue(std::time::Duration::from_secs(10))
    );
    tokio::time::timeout(TIMEOUT, reconcile(shared.clone(), ctx.clone()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        error_policy(shared, &error, ctx.clone()),
        Action::requeue(std::time::Duration::from_secs(5))
    );
    drop(ctx);
    let server = tokio::time::timeout(TIMEOUT, verifier)
        .await
        .unwrap()
        .unwrap();
    server.expect_no_more().await;
}

#[tokio::test]
async fn an_enabled_ingress_is_applied() {
    let ti = instance_with(
        spec_with(json!({"web": {"ingress": {"enabled": true, "host": "errors.example.com"}}})),
        1,
    );
    let expected = ti.clone();
    let (result, ()) = scenario(
        ti,
        |mut server| async move {
            serve_secrets(&mut server, &VERSIONS).await;
            let hash = expected_hash(&expected, &VERSIONS);
            let bodies = serve_children(&mut server, &expected, &hash, |_| None).await;
            let ingress = &bodies[&format!("{NETWORKING}/ingresses/prod-web")];
            assert_eq!(ingress["spec"]["rules"][0]["host"], "errors.example.com");
            serve_status(&mut server, &expected).await;
            server.expect_event(NAMESPACE).await;
            server.expect_no_more().await;
        },
        |_, _| (),
    )
    .await;
    result.unwrap();
}

#[tokio::test]
async fn a_disabled_ingress_made_by_the_instance_is_deleted() {
    let mut spec = minimal_spec();
    spec["web"] = json!({"ingress": {"enabled": false}});
    let ti = instance_with(spec, 2);
    let expected = ti.clone();
    let (result, ()) = scenario(
        ti,
        |mut server| async move {
            serve_secrets(&mut server, &VERSIONS).await;
            let hash = expected_hash(&expected, &VERSIONS);
            // serve_children answers the Ingress GET with 404; do it by hand
            let mut enabled = expected.clone();
            enabled.spec.web.ingress.enabled = true;
            let owned = to_json(&children::web_ingress(&enabled).unwrap());
            let paths = [
                format!("{CORE}/serviceaccounts/prod"),
                format!("{CORE}/configmaps/prod-config"),
                format!("{CORE}/services/prod-web"),
                format!("{APPS}/deployments/prod-web"),
                format!("{APPS}/deployments/prod-worker"),
                format!("{APPS}/deployments/prod-beat"),
                format!("{POLICY}/poddisruptionbudgets/prod-web"),
                format!("{POLICY}/poddisruptionbudgets/prod-worker"),
            ];
            for path in paths {
                let call = server.expect_apply(&path).await;
                if path.contains("deployments") {
                    assert_eq!(
                        call.body["spec"]["template"]["metadata"]["annotations"]["corral.dev/config-hash"],
                        hash.as_str()
                    );
                }
                call.echo();
            }
            let ingress_path = format!("{NETWORKING}/ingresses/prod-web");
            server.expect("GET", &ingress_path).await.reply(200, &owned);
            let delete = server.expect("DELETE", &format!("{ingress_path}?")).await;
            delete.reply(200, &owned);
            let (_, reason, _) = server.expect_event(NAMESPACE).await;
            assert_eq!(reason, "IngressRemoved");
            serve_status(&mut server, &expected).await;
            server.expect_event(NAMESPACE).await;
            server.expect_no_more().await;
        },
        |_, _| (),
    )
    .await;
    result.unwrap();
}

#[tokio::test]
async fn an_ingress_owned_by_someone_else_is_left_alone() {
    let expected = instance();
    let (result, ()) = scenario(
        instance(),
        |mut server| async move {
            serve_secrets(&mut server, &VERSIONS).await;
            let hash = expected_hash(&expected, &VERSIONS);
            let paths = [
                format!("{CORE}/serviceaccounts/prod"),
                format!("{CORE}/configmaps/prod-config"),
                format!("{CORE}/services/prod-web"),
                format!("{APPS}/deployments/prod-web"),
                format!("{APPS}/deployments/prod-worker"),
                format!("{APPS}/deployments/prod-beat"),
                format!("{POLICY}/poddisruptionbudgets/prod-web"),
                format!("{POLICY}/poddisruptionbudgets/prod-worker"),
            ];
            for path in paths {
                let call = server.expect_apply(&path).await;
                if path.contains("deployments") {
                    assert_eq!(
                        call.body["spec"]["template"]["metadata"]["annotations"]["corral.dev/config-hash"],
                        hash.as_str()
                    );
                }
                call.echo();
            }
            let foreign = json!({
                "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                "metadata": {"name": "prod-web", "namespace": NAMESPACE, "resourceVersion": "9"},
                "spec": {},
            });
            server
                .expect("GET", &format!("{NETWORKING}/ingresses/prod-web"))
                .await
                .reply(200, &foreign);
            serve_status(&mut server, &expected).await;
            server.expect_event(NAMESPACE).await;
            server.expect_no_more().await;
        },
        |_, _| (),
    )
    .await;
    result.unwrap();
}

#[tokio::test]
async fn an_instance_being_deleted_is_left_to_the_garbage_collector() {
    let mut ti = instance();
    ti.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        k8s_openapi::jiff::Timestamp::now(),
    ));
    let (result, ()) = scenario(ti, |server| server.expect_no_more(), |_, _| ()).await;
    assert_eq!(result.unwrap(), Action::await_change());
}
