//! The controller loop: watches TrackerInstances, the children they own and
//! the Secrets they reference, and runs [`reconcile`] for each change.

use std::future::Future;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::Api;
use kube::core::{NamespaceResourceScope, PartialObjectMeta as Meta};
use kube::runtime::events::Reporter;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, watcher};
use kube::{Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tracing::{debug, warn};

use crate::children::{self, LABEL_MANAGED_BY, MANAGER};
use crate::crd::TrackerInstance;
use crate::reconcile::{Context, error_policy, reconcile};

/// Runs until `shutdown` resolves; reconciles in flight finish first.
/// `namespace` limits every watch to one namespace (`None` = all).
pub async fn run_controller(
    client: Client,
    namespace: Option<String>,
    reporter: Reporter,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) {
    let scope = Scope {
        client: client.clone(),
        namespace,
    };
    let owned = watcher::Config::default().labels(&format!("{LABEL_MANAGED_BY}={MANAGER}"));

    let controller = Controller::new(scope.api::<TrackerInstance>(), watcher::Config::default());
    let instances = controller.store();
    let ctx = Arc::new(Context::new(client, reporter));

    // metadata-only watches: the owner references and names are all that
    // map a change to its instance, and Secrets' data must not be cached
    controller
        .owns(scope.api::<Meta<ServiceAccount>>(), owned.clone())
        .owns(scope.api::<Meta<ConfigMap>>(), owned.clone())
        .owns(scope.api::<Meta<Service>>(), owned.clone())
        .owns(scope.api::<Meta<Deployment>>(), owned.clone())
        .owns(scope.api::<Meta<PodDisruptionBudget>>(), owned.clone())
        .owns(scope.api::<Meta<Ingress>>(), owned)
        .watches(
            scope.api::<Meta<Secret>>(),
            watcher::Config::default(),
            move |secret: Meta<Secret>| {
                // a changed Secret changes the config hash of every instance using it
                let namespace = secret.namespace();
                let name = secret.name_any();
                instances
                    .state()
                    .into_iter()
                    .filter(|ti| ti.namespace() == namespace && references(ti, &name))
                    .map(|ti| ObjectRef::from_obj(ti.as_ref()))
                    .collect::<Vec<_>>()
            },
        )
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            match result {
                Ok((instance, _)) => debug!(%instance, "reconciled"),
                Err(error) => warn!(%error, "reconcile failed"),
            }
        })
        .await;
}

fn references(ti: &TrackerInstance, secret: &str) -> bool {
    children::referenced_secrets(&ti.spec)
        .iter()
        .any(|r| r.name == secret)
}

struct Scope {
    client: Client,
    namespace: Option<String>,
}

impl Scope {
    fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()> + Clone + DeserializeOwned,
    {
        match &self.namespace {
            Some(namespace) => Api::namespaced(self.client.clone(), namespace),
            None => Api::all(self.client.clone()),
        }
    }
}
