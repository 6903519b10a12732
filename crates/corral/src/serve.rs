//! `corral serve`: the embedded shape. Web, worker and schedules in one
//! process on one SQLite file (the store's tables and the queue's); quotas in
//! memory.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use corral_core::config::Config;
use corral_core::model::{ALL_SCOPES, RateLimit, Role};
use corral_core::quota::MemoryQuotas;
use corral_core::{NewProject, NewUser, SharedStore, StoreError};
use corral_jobs::worker::{WorkerSettings, unique_worker_name};
use corral_jobs::{Batcher, JobContext};
use corral_web::AppState;
use tokio::sync::watch;

use crate::admin::{Db, dsn_for};

/// What the first start created, or what a later start found.
#[derive(Debug)]
pub struct Bootstrap {
    pub first_start: bool,
    pub admin_email: String,
    /// Shown only at the first start (and only if it was generated).
    pub admin_password: Option<String>,
    pub project: Option<(String, String)>,
    pub dsn: Option<String>,
    /// Shown only at the first start.
    pub token: Option<String>,
}

/// How often `corral serve` checkpoints its WAL.
const WAL_CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

pub const DEFAULT_ADMIN_EMAIL: &str = "admin@corral.local";

/// Creates the first admin, organization, project, key and token on an
/// empty database; on later starts finds the first project's DSN.
pub async fn bootstrap(store: &SharedStore, base_url: &str) -> anyhow::Result<Bootstrap> {
    if store.count_users().await? > 0 {
        let projects = store.list_projects(None).await?;
        let mut found = None;
        for p in &projects {
            if let Some(k) = store
                .list_project_keys(p.id)
                .await?
                .into_iter()
                .find(|k| k.is_active)
            {
                found = Some((p.clone(), dsn_for(base_url, &k.public_key, p.id)));
                break;
            }
        }
        return Ok(Bootstrap {
            first_start: false,
            admin_email: String::new(),
            admin_password: None,
            project: found
                .as_ref()
                .map(|(p, _)| (p.org_slug.clone(), p.slug.clone())),
            dsn: found.map(|(_, d)| d),
            token: None,
        });
    }
    let email = std::env::var("CORRAL_ADMIN_EMAIL")
        .ok()
        .filter(|e| !e.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_ADMIN_EMAIL.into());
    let (password, generated) = match std::env::var("CORRAL_ADMIN_PASSWORD") {
        Ok(p) if !p.is_empty() => (p, false),
        _ => (corral_web::accounts::generate_password(), true),
    };
    let hash = corral_web::accounts::hash_password(&password).map_err(anyhow::Error::msg)?;
    let user = store
        .create_user(NewUser {
            email: email.clone(),
            name: "Admin".into(),
            password_hash: Some(hash),
            is_superuser: true,
        })
        .await?;
    let org = match store.create_organization("corral", "Corral").await {
        Ok(o) => o,
        Err(StoreError::Conflict(_)) => store.organization_by_slug("corral").await?,
        Err(e) => return Err(e.into()),
    };
    store.set_membership(org.id, user.id, Role::Owner).await?;
    let project = match store
        .create_project(NewProject {
            org_id: org.id,
            slug: "default".into(),
            name: "Default".into(),
            platform: None,
        })
        .await
    {
        Ok(p) => p,
        Err(StoreError::Conflict(_)) => store.project_by_slug("corral", "default").await?,
        Err(e) => return Err(e.into()),
    };
    let key = store
        .create_project_key(project.id, "Default", RateLimit::default())
        .await?;
    let secret = corral_web::api::new_token_secret();
    let scopes: Vec<String> = ALL_SCOPES.iter().map(|s| s.to_string()).collect();
    store
        .create_api_token(
            user.id,
            "bootstrap",
            &scopes,
            &corral_web::api::hash_token(&secret),
        )
        .await?;
    Ok(Bootstrap {
        first_start: true,
        admin_email: email,
        admin_password: generated.then_some(password),
        project: Some((project.org_slug.clone(), project.slug.clone())),
        dsn: Some(dsn_for(base_url, &key.public_key, project.id)),
        token: Some(secret),
    })
}

fn announce(b: &Bootstrap, url: &str) {
    println!("Corral is running at {url}");
    if b.first_start {
        println!("Admin login: {}", b.admin_email);
        match &b.admin_password {
            Some(p) => println!(
                "Admin password: {p}  (shown once; change it with `corral user set-password`)"
            ),
            None => println!("Admin password: from CORRAL_ADMIN_PASSWORD"),
        }
    }
    if let (Some((org, project)), Some(dsn)) = (&b.project, &b.dsn) {
        println!("Project: {org}/{project}");
        println!("DSN: {dsn}");
    }
    if let Some(token) = &b.token {
        println!("API token: {token}  (shown once)");
    }
    println!(
        "Point an SDK at the DSN, e.g. in Python: sentry_sdk.init(dsn=\"{}\")",
        b.dsn.as_deref().unwrap_or("<dsn>")
    );
}

pub async fn run(mut config: Config, bind: SocketAddr) -> anyhow::Result<()> {
    let db = Db::open(&config).await?;
    let Db::Sqlite(sqlite) = &db else {
        anyhow::bail!(
            "`corral serve` is the embedded shape and runs on SQLite; unset DATABASE_URL, or run corral-web, corral-worker and corral-beat for PostgreSQL"
        );
    };
    let store = db.store();
    store.migrate().await.context("migrating the database")?;

    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("binding {bind}"))?;
    let local = listener.local_addr()?;
    let base_url = config
        .base_url
        .clone()
        .unwrap_or_else(|| format!("http://{local}"));
    config.base_url = Some(base_url.clone());
    let boot = bootstrap(&store, &base_url).await?;
    announce(&boot, &base_url);

    let config = Arc::new(config);
    let queue = db.queue(&config).await?;
    let state = AppState::new(
        store.clone(),
        queue.clone(),
        Arc::new(MemoryQuotas::new()),
        config.clone(),
        Some(corral_web::telemetry::metrics_handle()),
    );
    let backlog = state.spawn_backlog_monitor(Duration::from_secs(1));
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let signal = {
        let tx = shutdown_tx.clone();
        tokio::spawn(async move {
            corral_web::shutdown_signal().await;
            let _ = tx.send(true);
        })
    };

    // web: stops accepting first on shutdown, finishing requests in flight
    let mut web_stop = shutdown_rx.clone();
    let limits = corral_web::ConnectionLimits::from(&config.http);
    let web = tokio::spawn(corral_web::serve_with(
        listener,
        corral_web::router(state),
        async move {
            let _ = web_stop.wait_for(|s| *s).await;
        },
        limits,
    ));

    // worker
    let (batcher, batch_task) = Batcher::spawn(
        store.clone(),
        config.worker.batch_size,
        Duration::from_millis(config.worker.batch_wait_ms),
        // SQLite writes through one connection: more writers would only queue
        1,
    );
    let ctx = Arc::new(JobContext::new(
        store.clone(),
        batcher,
        queue.name(),
        config.worker.max_attempts,
        config.ingest.max_sessions_per_envelope,
    ));
    let vacuum = corral_worker::spawn_queue_vacuum(queue.clone(), shutdown_rx.clone());
    let settings = WorkerSettings {
        name: unique_worker_name("embedded"),
        concurrency: config.worker.concurrency,
        poll_interval: Duration::from_millis(config.queue.poll_interval_ms),
        job_timeout: Duration::from_secs(config.worker.job_timeout_secs),
        shutdown_timeout: Duration::from_secs(config.worker.shutdown_timeout_secs),
    };
    let mut worker_stop = shutdown_rx.clone();
    let worker = tokio::spawn(corral_jobs::worker::run(queue, ctx, settings, async move {
        let _ = worker_stop.wait_for(|s| *s).await;
    }));

    // the WAL is copied into the database file beside the writer, not in
    // its commits
    let checkpoints = {
        let sqlite = Arc::clone(sqlite);
        let mut stop = shutdown_rx.clone();
        tokio::spawn(async move {
            sqlite
                .run_wal_checkpoints(WAL_CHECKPOINT_EVERY, async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await;
        })
    };

    // schedules
    let upkeep = Arc::new(corral_beat::Upkeep {
        store: store.clone(),
        retention_days: config.retention_days,
        attachments_dir: Some(config.attachments_dir()),
    });
    let mut beat_stop = shutdown_rx.clone();
    let beat = tokio::spawn(corral_beat::run_schedules(upkeep, async move {
        let _ = beat_stop.wait_for(|s| *s).await;
    }));

    let web_result = web.await;
    // the web server only ends on shutdown (or a fatal error): stop the rest
    let _ = shutdown_tx.send(true);
    let worker_result = worker.await;
    let _ = batch_task.await;
    let _ = beat.await;
    let _ = vacuum.await;
    let _ = checkpoints.await;
    signal.abort();
    backlog.abort();
    sqlite.pool().close().await;
    web_result.context("web server task")??;
    worker_result.context("worker task")??;
    tracing::info!("corral stopped");
    Ok(())
}
