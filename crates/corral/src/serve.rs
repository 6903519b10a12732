//! `corral serve`: the embedded shape. Web, worker and schedules in one
//! process on one SQLite file (the store's tables and the queue's); quotas in
//! memory.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use corral_core::config::Config;
use corral_core::credentials::{generate_password, hash_password, hash_token, new_token_secret};
use corral_core::model::{ALL_SCOPES, RateLimit, Role};
use corral_core::quota::MemoryQuotas;
use corral_core::{NewProject, NewUser, SharedStore, StoreError};
use corral_jobs::DigestWorker;
use corral_web::AppState;

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
        _ => (generate_password(), true),
    };
    let hash = hash_password(&password).map_err(anyhow::Error::msg)?;
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
    let secret = new_token_secret();
    let scopes: Vec<String> = ALL_SCOPES.iter().map(|s| s.to_string()).collect();
    store
        .create_api_token(user.id, "bootstrap", &scopes, &hash_token(&secret))
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
        Some(corral_runtime::telemetry::metrics_handle()),
    );
    let backlog = state.spawn_backlog_monitor(Duration::from_secs(1));
    let shutdown = corral_runtime::shutdown_token();

    // web: stops accepting first on shutdown, finishing requests in flight
    let web = tokio::spawn(corral_runtime::serve_with(
        listener,
        corral_web::router(state),
        shutdown.clone().cancelled_owned(),
        corral_web::connection_limits(&config.http),
    ));

    // SQLite writes through one connection: more digest writers would only
    // queue
    let worker = tokio::spawn(
        DigestWorker::new(store.clone(), queue, &config, "embedded")
            .batch_writers(1)
            .run(shutdown.clone()),
    );

    // alerts: triggers, window conditions and deliveries, off the digest
    let sender = corral_alerts::Sender::new(store.clone(), &config).context("alert sender")?;
    let alerts = tokio::spawn(
        corral_jobs::AlertRunner::new(store.clone(), Arc::new(sender), &config)
            .run(shutdown.clone()),
    );

    // the WAL is copied into the database file beside the writer, not in
    // its commits
    let checkpoints = {
        let sqlite = Arc::clone(sqlite);
        let stop = shutdown.clone();
        tokio::spawn(async move {
            sqlite
                .run_wal_checkpoints(WAL_CHECKPOINT_EVERY, stop.cancelled_owned())
                .await;
        })
    };

    // schedules
    let upkeep = Arc::new(corral_beat::Upkeep {
        store: store.clone(),
        retention_days: config.retention_days,
        attachments_dir: Some(config.attachments_dir()),
    });
    let beat = tokio::spawn(corral_beat::run_schedules(
        upkeep,
        shutdown.clone().cancelled_owned(),
    ));

    let web_result = web.await;
    // the web server only ends on shutdown (or a fatal error): stop the rest
    shutdown.cancel();
    let worker_result = worker.await;
    let _ = alerts.await;
    let _ = beat.await;
    let _ = checkpoints.await;
    backlog.abort();
    sqlite.pool().close().await;
    web_result.context("web server task")??;
    worker_result.context("worker task")??;
    tracing::info!("corral stopped");
    Ok(())
}
