//! The operator process: settings from the environment, the health server,
//! leader election, the controller while leading, and shutdown on SIGTERM.

use std::net::SocketAddr;

use anyhow::Context as _;
use corral_runtime::CancellationToken;
use corral_runtime::telemetry::metrics_handle;
use kube::Client;
use kube::runtime::events::Reporter;
use tracing::{error, info, warn};

use crate::children::MANAGER;
use crate::controller::run_controller;
use crate::leader::{LeaderElector, LeaseSettings};
use crate::server::{Health, router};

/// Where the operator serves `/healthz`, `/readyz` and `/metrics`.
pub const DEFAULT_BIND: &str = "0.0.0.0:8080";

/// A setting in the environment is wrong.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{name}: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// What the operator reads from its environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `WATCH_NAMESPACE`: watch one namespace; empty or unset = all.
    pub watch_namespace: Option<String>,
    /// `POD_NAME` (else `HOSTNAME`): this replica's identity in the Lease.
    pub pod_name: String,
    /// `POD_NAMESPACE`: where the Lease lives; unset = the client's namespace.
    pub pod_namespace: Option<String>,
    /// `CORRAL_BIND`, default `0.0.0.0:8080`.
    pub bind: SocketAddr,
    /// `CORRAL_LOG_FORMAT=json` for JSON logs.
    pub json_logs: bool,
}

impl Settings {
    pub fn from_env() -> Result<Settings, SettingsError> {
        Settings::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
        let non_empty = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let bind_text = non_empty("CORRAL_BIND").unwrap_or_else(|| DEFAULT_BIND.to_string());
        let bind = bind_text.parse().map_err(|e| SettingsError::Invalid {
            name: "CORRAL_BIND",
            reason: format!("{bind_text:?} is not an address:port ({e})"),
        })?;
        let json_logs = match non_empty("CORRAL_LOG_FORMAT").as_deref() {
            None | Some("text") => false,
            Some("json") => true,
            Some(other) => {
                return Err(SettingsError::Invalid {
                    name: "CORRAL_LOG_FORMAT",
                    reason: format!("expected json or text, got {other:?}"),
                });
            }
        };
        let pod_name = non_empty("POD_NAME")
            .or_else(|| non_empty("HOSTNAME"))
            .unwrap_or_else(|| format!("{MANAGER}-{}", std::process::id()));
        Ok(Settings {
            watch_namespace: non_empty("WATCH_NAMESPACE"),
            pod_name,
            pod_namespace: non_empty("POD_NAMESPACE"),
            bind,
            json_logs,
        })
    }
}

/// Runs the operator until SIGTERM or SIGINT. Only the replica holding the
/// Lease runs the controller; one that loses the Lease exits with an error
/// so its restart campaigns afresh.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let shutdown = corral_runtime::shutdown_token();

    let health = Health::default();
    let listener = tokio::net::TcpListener::bind(settings.bind)
        .await
        .with_context(|| format!("binding {}", settings.bind))?;
    info!(address = %settings.bind, "serving /healthz, /readyz and /metrics");
    let app = router(health.clone(), metrics_handle());
    let server = tokio::spawn(corral_runtime::serve(
        listener,
        app,
        shutdown.clone().cancelled_owned(),
    ));

    let client = Client::try_default()
        .await
        .context("no Kubernetes client configuration (in-cluster or kubeconfig)")?;
    let lease_namespace = settings
        .pod_namespace
        .clone()
        .unwrap_or_else(|| client.default_namespace().to_string());
    let result = lead(&settings, client, lease_namespace, &health, &shutdown).await;
    let _ = server.await;
    result
}

async fn lead(
    settings: &Settings,
    client: Client,
    lease_namespace: String,
    health: &Health,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let Some(version) = shutdown
        .run_until_cancelled(client.apiserver_version())
        .await
    else {
        return Ok(());
    };
    let version = version.context("the Kubernetes API did not answer")?;
    info!(kubernetes = %version.git_version, "connected to the Kubernetes API");
    health.set_ready(true);

    let mut elector = LeaderElector::new(
        client.clone(),
        LeaseSettings::new(lease_namespace, settings.pod_name.clone()),
    );
    if shutdown
        .run_until_cancelled(elector.acquire())
        .await
        .is_none()
    {
        return Ok(());
    }
    health.set_leader(true);

    let reporter = Reporter {
        controller: MANAGER.to_string(),
        instance: Some(settings.pod_name.clone()),
    };
    let controller = run_controller(
        client,
        settings.watch_namespace.clone(),
        reporter,
        shutdown.clone().cancelled_owned(),
    );
    let lost = tokio::select! {
        () = controller => false,
        () = elector.hold() => true,
    };
    health.set_leader(false);
    if let Err(error) = elector.release().await {
        warn!(%error, "could not release the leader lease");
    }
    if lost {
        error!("lost the leader lease; exiting so a restart campaigns again");
        anyhow::bail!("lost the leader lease");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| vars.get(name).cloned())
    }

    #[test]
    fn settings_come_from_the_environment() {
        let s = settings(&[
            ("WATCH_NAMESPACE", "errors"),
            ("POD_NAME", "corral-operator-abc"),
            ("POD_NAMESPACE", "corral-system"),
            ("CORRAL_LOG_FORMAT", "json"),
        ])
        .unwrap();
        assert_eq!(s.watch_namespace.as_deref(), Some("errors"));
        assert_eq!(s.pod_name, "corral-operator-abc");
        assert_eq!(s.pod_namespace.as_deref(), Some("corral-system"));
        assert_eq!(s.bind, "0.0.0.0:8080".parse().unwrap());
        assert!(s.json_logs);
    }

    #[test]
    fn an_empty_watch_namespace_means_all() {
        let s = settings(&[("WATCH_NAMESPACE", ""), ("HOSTNAME", "pod-1")]).unwrap();
        assert_eq!(s.watch_namespace, None);
        assert_eq!(s.pod_name, "pod-1");
    }

    #[test]
    fn bad_settings_are_named() {
        let err = settings(&[("CORRAL_BIND", "nowhere")]).unwrap_err();
        assert!(err.to_string().starts_with("CORRAL_BIND"), "{err}");
        let err = settings(&[("CORRAL_LOG_FORMAT", "xml")]).unwrap_err();
        assert!(err.to_string().starts_with("CORRAL_LOG_FORMAT"), "{err}");
    }
}
