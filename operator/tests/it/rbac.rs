//! The operator's RBAC, derived from what the operator does. Every API call
//! it makes — reconcile (children, Secrets, the Ingress check and delete,
//! status), events (new and repeated), the controller's watches and leader
//! election — is recorded on the mock API server and turned into what the
//! API server authorizes: API group, resource, verb (and object name). That
//! set must equal what `manifests/operator.yaml` grants (corral-deploy-tests
//! proves the file equal to the chart's defaults): a verb granted but never
//! used fails as much as one used but not granted.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use corral_operator::children::{self, MANAGER};
use corral_operator::{Context, LeaderElector, LeaseSettings, TrackerInstance};
use kube::runtime::events::Reporter;
use serde_json::{Value, json};

use crate::fixtures::{NAMESPACE, instance_with, spec_with};
use crate::mock::{self, ApiServer, Call, TIMEOUT};

/// (API group, resource, verb, object name or "" where RBAC cannot or need not name it).
type Permission = (String, String, String, String);

/// What one call was.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    uri: String,
    content_type: Option<String>,
}

/// What the API server checks for one request. A server-side apply of a
/// whole object creates it when it is missing, and the API server then
/// authorizes the request as `create` as well as `patch`.
fn permissions_of(seen: &Seen) -> Vec<Permission> {
    let (path, query) = seen.uri.split_once('?').unwrap_or((&seen.uri, ""));
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (group, rest) = match segments.as_slice() {
        ["api", _version, rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => panic!("not a resource request: {}", seen.uri),
    };
    let rest = match rest {
        ["namespaces", _, rest @ ..] if !rest.is_empty() => rest,
        rest => rest,
    };
    let (resource, name) = match rest {
        [resource] => (resource.to_string(), None),
        [resource, name] => (resource.to_string(), Some(*name)),
        [resource, name, subresource] => (format!("{resource}/{subresource}"), Some(*name)),
        _ => panic!("unexpected path: {}", seen.uri),
    };
    let watch = query.split('&').any(|p| p == "watch=true");
    let verb = match (seen.method.as_str(), name) {
        ("GET", _) if watch => "watch",
        ("GET", Some(_)) => "get",
        ("GET", None) => "list",
        ("POST", None) => "create",
        ("PUT", Some(_)) => "update",
        ("PATCH", Some(_)) => "patch",
        ("DELETE", Some(_)) => "delete",
        ("DELETE", None) => "deletecollection",
        (method, _) => panic!("unexpected {method} {}", seen.uri),
    };
    let permission = |verb: &str, name: Option<&str>| {
        (
            group.to_string(),
            resource.clone(),
            verb.to_string(),
            name.unwrap_or_default().to_string(),
        )
    };
    let mut out = vec![permission(verb, name)];
    let applies = seen.content_type.as_deref() == Some("application/apply-patch+yaml");
    if verb == "patch" && applies && !resource.contains('/') {
        out.push(permission("create", None));
    }
    out
}

/// An API server that answers whatever comes, as a cluster holding the
/// instance's Secrets would, and records every call.
struct Cluster {
    instance: TrackerInstance,
    /// What a GET of the Ingress finds.
    ingress: Option<Value>,
    lease: Option<Value>,
    seen: Vec<Seen>,
    /// Watches are left open until the client goes.
    watches: Vec<Call>,
}

impl Cluster {
    fn new(instance: TrackerInstance) -> Cluster {
        Cluster {
            instance,
            ingress: None,
            lease: None,
            seen: Vec::new(),
            watches: Vec::new(),
        }
    }

    /// Answers calls until the client is dropped or none comes for `idle`.
    async fn serve(&mut self, server: &mut ApiServer, idle: Duration) {
        while let Some(call) = server.next_within(idle).await {
            self.answer(call);
        }
    }

    fn answer(&mut self, call: Call) {
        self.seen.push(Seen {
            method: call.method.clone(),
            uri: call.uri.clone(),
            content_type: call.content_type.clone(),
        });
        let path = call.uri.split('?').next().unwrap_or_default().to_string();
        let named = path.rsplit('/').next().unwrap_or_default().to_string();
        match call.method.as_str() {
            "GET" if call.uri.contains("watch=true") => self.watches.push(call),
            "GET" if path.ends_with("/secrets") || !path.contains("/secrets/") => {
                self.get_or_list(call, &path)
            }
            "GET" => {
                let data = json!({"url": "c2VjcmV0", "secret-key": "c2VjcmV0"});
                call.reply(
                    200,
                    &json!({
                        "apiVersion": "v1", "kind": "Secret",
                        "metadata": {"name": named, "namespace": NAMESPACE, "resourceVersion": "3"},
                        "type": "Opaque", "data": data,
                    }),
                );
            }
            "PATCH" if path.ends_with("/status") => {
                let mut object = serde_json::to_value(&self.instance).unwrap();
                object["status"] = call.body["status"].clone();
                call.reply(200, &object);
            }
            "DELETE" => {
                let gone = self
                    .ingress
                    .take()
                    .expect("only an existing Ingress is deleted");
                call.reply(200, &gone);
            }
            _ => {
                let mut object = call.body.clone();
                object["metadata"]["resourceVersion"] = json!("7");
                if path.contains("/leases") {
                    self.lease = Some(object.clone());
                }
                let status = if call.method == "POST" { 201 } else { 200 };
                call.reply(status, &object);
            }
        }
    }

    fn get_or_list(&mut self, call: Call, path: &str) {
        let found = if path.contains("/ingresses/") {
            self.ingress.clone()
        } else if path.contains("/leases/") {
            self.lease.clone()
        } else {
            let list = json!({
                "apiVersion": "v1", "kind": "List",
                "metadata": {"resourceVersion": "1"}, "items": [],
            });
            return call.reply(200, &list);
        };
        match found {
            Some(object) => call.reply(200, &object),
            None => call.not_found(),
        }
    }
}

fn reporter() -> Reporter {
    Reporter {
        controller: MANAGER.into(),
        instance: Some("corral-operator-0".into()),
    }
}

/// Every optional child and reference in use.
fn full_instance() -> TrackerInstance {
    instance_with(
        spec_with(json!({
            "smtp": {"urlSecret": {"name": "corral-smtp", "key": "url"}},
            "web": {"ingress": {"enabled": true, "host": "errors.example.com"}},
            "attachments": {"persistentVolumeClaim": {"claimName": "corral-files"}},
        })),
        1,
    )
}

/// Two reconciles of the full instance (the second repeats its event, which
/// the recorder patches), then one with the Ingress turned off while the
/// instance's Ingress exists (read, then deleted).
async fn reconcile_calls() -> Vec<Seen> {
    let ti = full_instance();
    let (client, mut server) = mock::pair();
    let mut cluster = Cluster::new(ti.clone());
    let ctx = Arc::new(Context::new(client, reporter()));
    let work = {
        let ctx = ctx.clone();
        let ti = Arc::new(ti.clone());
        tokio::spawn(async move {
            for _ in 0..2 {
                corral_operator::reconcile(ti.clone(), ctx.clone())
                    .await
                    .expect("reconcile succeeds");
            }
        })
    };
    let serve = async {
        cluster.serve(&mut server, TIMEOUT).await;
        cluster
    };
    let finish = async {
        work.await.unwrap();
        drop(ctx);
    };
    let (mut cluster, ()) = tokio::join!(serve, finish);

    let mut off = ti.clone();
    off.spec.web.ingress.enabled = false;
    cluster.instance = off.clone();
    cluster.ingress = Some(serde_json::to_value(children::web_ingress(&ti).unwrap()).unwrap());
    let (client, mut server) = mock::pair();
    let ctx = Arc::new(Context::new(client, reporter()));
    let run = async {
        corral_operator::reconcile(Arc::new(off), ctx.clone())
            .await
            .expect("reconcile succeeds");
        drop(ctx);
    };
    let serve = async {
        cluster.serve(&mut server, TIMEOUT).await;
        cluster
    };
    let ((), cluster) = tokio::join!(run, serve);
    assert!(cluster.ingress.is_none(), "the owned Ingress was deleted");
    assert!(
        cluster
            .seen
            .iter()
            .any(|s| s.method == "PATCH" && s.uri.contains("/events/")),
        "the repeated event was patched"
    );
    cluster.seen
}

/// The controller's watches until no new call comes for a few seconds:
/// every list and watch it opens, in `namespace` or in all namespaces.
async fn controller_calls(namespace: Option<&str>) -> Vec<Seen> {
    let (client, mut server) = mock::pair();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let controller = tokio::spawn(corral_operator::run_controller(
        client,
        namespace.map(str::to_string),
        reporter(),
        async move {
            let _ = stopped.await;
        },
    ));
    let mut cluster = Cluster::new(full_instance());
    cluster.serve(&mut server, Duration::from_secs(3)).await;
    stop.send(()).unwrap();
    drop(std::mem::take(&mut cluster.watches));
    tokio::time::timeout(TIMEOUT, async {
        // answer whatever comes while it winds down
        let serving = cluster.serve(&mut server, TIMEOUT);
        tokio::select! {
            result = controller => result.unwrap(),
            () = serving => {}
        }
    })
    .await
    .expect("the controller stops on shutdown");
    cluster.seen
}

/// Leader election: take the Lease (it does not exist yet), renew it, release it.
async fn leader_calls() -> Vec<Seen> {
    let (client, mut server) = mock::pair();
    let mut elector = LeaderElector::new(client, LeaseSettings::new("corral-system", "op-0"));
    let elect = async {
        assert!(elector.try_acquire_or_renew().await.unwrap());
        assert!(elector.try_acquire_or_renew().await.unwrap());
        elector.release().await.unwrap();
        drop(elector);
    };
    let mut cluster = Cluster::new(full_instance());
    let serve = async {
        cluster.serve(&mut server, TIMEOUT).await;
    };
    tokio::join!(elect, serve);
    cluster.seen
}

fn operator_manifest() -> Vec<Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/operator.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    serde_saphyr::from_multiple(&text).unwrap()
}

fn role<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in manifests/operator.yaml"))
}

/// What a Role's rules grant, one entry per group × resource × verb × name.
fn granted(role: &Value) -> BTreeSet<Permission> {
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| a.iter().map(|s| s.as_str().unwrap().to_string()).collect())
            .unwrap_or_default()
    };
    let mut out = BTreeSet::new();
    for rule in role["rules"].as_array().unwrap() {
        let names = match strings(&rule["resourceNames"]) {
            names if names.is_empty() => vec![String::new()],
            names => names,
        };
        for group in strings(&rule["apiGroups"]) {
            for resource in strings(&rule["resources"]) {
                for verb in strings(&rule["verbs"]) {
                    for name in &names {
                        out.insert((group.clone(), resource.clone(), verb.clone(), name.clone()));
                    }
                }
            }
        }
    }
    out
}

fn without_names(permissions: impl IntoIterator<Item = Permission>) -> BTreeSet<Permission> {
    permissions
        .into_iter()
        .map(|(group, resource, verb, _)| (group, resource, verb, String::new()))
        .collect()
}

#[tokio::test]
async fn the_cluster_role_grants_exactly_what_reconcile_and_the_watches_use() {
    let mut calls = reconcile_calls().await;
    calls.extend(controller_calls(None).await);
    let used = without_names(calls.iter().flat_map(permissions_of));

    let manifest = operator_manifest();
    let cluster_role = role(&manifest, "ClusterRole", "corral-operator");
    let granted = granted(cluster_role);
    assert!(
        granted.iter().all(|(.., name)| name.is_empty()),
        "instances are named by users: the ClusterRole cannot name them"
    );
    let unused: Vec<_> = granted.difference(&used).collect();
    let missing: Vec<_> = used.difference(&granted).collect();
    assert!(
        unused.is_empty() && missing.is_empty(),
        "manifests/operator.yaml's ClusterRole (and the chart's) must grant exactly what the \
         operator uses\n granted, never used: {unused:#?}\n used, not granted: {missing:#?}"
    );
    // spot checks that the derivation sees what it should
    let has = |group: &str, resource: &str, verb: &str| {
        used.contains(&(group.into(), resource.into(), verb.into(), String::new()))
    };
    assert!(has("apps", "deployments", "create"), "apply may create");
    assert!(has("networking.k8s.io", "ingresses", "delete"));
    assert!(has("events.k8s.io", "events", "patch"));
    assert!(!has("", "events", "create"), "core events are not used");
    assert!(!has("apps", "deployments", "update"));
    assert!(!has("corral.dev", "trackerinstances", "patch"));
}

#[tokio::test]
async fn with_a_watch_namespace_every_call_stays_in_that_namespace() {
    // the chart's operator.watchNamespace: a Role there must be enough
    let mut calls = controller_calls(Some(NAMESPACE)).await;
    calls.extend(reconcile_calls().await);
    for seen in &calls {
        assert!(
            seen.uri.contains(&format!("/namespaces/{NAMESPACE}/")),
            "{} {} leaves namespace {NAMESPACE}",
            seen.method,
            seen.uri
        );
    }
    let watched: BTreeSet<String> = calls
        .iter()
        .filter(|s| s.uri.contains("watch=true"))
        .map(|s| permissions_of(s)[0].1.clone())
        .collect();
    assert!(watched.contains("secrets"), "{watched:?}");
    assert!(watched.contains("trackerinstances"), "{watched:?}");
}

#[tokio::test]
async fn the_leader_election_role_grants_exactly_what_the_elector_uses() {
    let calls = leader_calls().await;
    let used: BTreeSet<Permission> = calls.iter().flat_map(permissions_of).collect();
    for seen in &calls {
        assert!(
            seen.uri.contains("/namespaces/corral-system/leases"),
            "{seen:?}"
        );
    }
    let manifest = operator_manifest();
    let role = role(&manifest, "Role", "corral-operator-leader-election");
    assert_eq!(role["metadata"]["namespace"], "corral-system");
    assert_eq!(granted(role), used);
}
