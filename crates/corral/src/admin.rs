//! Administration from the command line, against either shape's database.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use corral_core::config::Config;
use corral_core::model::{ALL_SCOPES, Project, ProjectKey, RateLimit, Role, format_short_id};
use corral_core::search::parse_query;
use corral_core::{IssueQuery, NewProject, NewUser, SharedStore, StoreError};
use corral_jobs::{IngestJob, JobQueue};
use corral_store::{PgStore, SqliteStore};
use serde_json::json;

use crate::cli::*;

/// The database an admin command works on.
pub enum Db {
    Postgres(Arc<PgStore>),
    /// The store, with the queue in the same file.
    Sqlite(Arc<SqliteStore>),
}

/// Where commits 5ee433f to 61ebd90 kept the embedded queue: a file of its
/// own beside the store's (`corral.sqlite` -> `corral-queue.sqlite`). Jobs
/// found there are moved into the store's file at start.
pub fn legacy_queue_file(store_file: &Path) -> PathBuf {
    let stem = store_file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match store_file.extension() {
        Some(ext) => format!("{stem}-queue.{}", ext.to_string_lossy()),
        None => format!("{stem}-queue"),
    };
    store_file.with_file_name(name)
}

impl Db {
    /// DATABASE_URL when set, else the embedded file in the data directory;
    /// `database.max_connections` bounds PostgreSQL's pool or SQLite's readers.
    pub async fn open(config: &Config) -> anyhow::Result<Db> {
        let max = config.database.max_connections;
        let path = match config.database_url.as_ref().map(|s| s.expose()) {
            Some(url) => match corral_store::DatabaseUrl::parse(url)? {
                corral_store::DatabaseUrl::Postgres(url) => {
                    let store = PgStore::connect(&url, max)
                        .await
                        .context("connecting to PostgreSQL")?;
                    return Ok(Db::Postgres(Arc::new(store)));
                }
                corral_store::DatabaseUrl::Sqlite(path) => path,
            },
            None => {
                std::fs::create_dir_all(&config.data_dir).with_context(|| {
                    format!("creating data directory {}", config.data_dir.display())
                })?;
                config.data_dir.join("corral.sqlite")
            }
        };
        let store = SqliteStore::open_with(&path, max)
            .await
            .with_context(|| format!("opening {}", path.display()))?;
        Ok(Db::Sqlite(Arc::new(store)))
    }

    pub fn store(&self) -> SharedStore {
        match self {
            Db::Postgres(s) => s.clone(),
            Db::Sqlite(s) => s.clone(),
        }
    }

    /// The queue of this shape: Redis next to PostgreSQL, the store's own
    /// file on SQLite (jobs an earlier version kept in a file of their own
    /// are moved in first, and that file removed).
    pub async fn queue(&self, config: &Config) -> anyhow::Result<JobQueue> {
        match self {
            Db::Postgres(_) => {
                let url = config.require_redis_url()?;
                Ok(JobQueue::redis(url, &config.queue).await?)
            }
            Db::Sqlite(s) => {
                let queue = JobQueue::sqlite(s.pool(), &config.queue).await?;
                let legacy = legacy_queue_file(s.path());
                if legacy.exists() {
                    let moved = queue.adopt_sqlite_jobs(&legacy).await?;
                    tracing::info!(moved, from = %legacy.display(), "moved queued jobs into the store's file");
                    for suffix in ["", "-wal", "-shm"] {
                        let mut file = legacy.clone().into_os_string();
                        file.push(suffix);
                        match std::fs::remove_file(&file) {
                            Ok(()) => {}
                            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                            Err(e) => {
                                return Err(e).with_context(|| {
                                    format!("removing {}", PathBuf::from(file).display())
                                });
                            }
                        }
                    }
                }
                Ok(queue)
            }
        }
    }

    /// The embedded database migrates itself; a cluster's is migrated by beat.
    pub async fn ready(&self) -> anyhow::Result<()> {
        let store = self.store();
        match self {
            Db::Sqlite(..) => store.migrate().await.context("migrating the database")?,
            Db::Postgres(_) => {
                let status = store.schema_status().await?;
                if !status.is_current() {
                    bail!(
                        "the database schema is not current: start corral-beat (or run `corral migrate`) first"
                    );
                }
            }
        }
        Ok(())
    }
}

/// `{scheme}://{public_key}@{host}{path}/{project_id}`.
pub fn dsn_for(base_url: &str, public_key: &str, project_id: i64) -> String {
    let base = base_url.trim_end_matches('/');
    let (scheme, rest) = base.split_once("://").unwrap_or(("http", base));
    format!("{scheme}://{public_key}@{rest}/{project_id}")
}

fn read_password(password: Option<String>, from_stdin: bool) -> anyhow::Result<String> {
    let password = match password {
        Some(p) => p,
        None if from_stdin || !atty_stdin() => {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
        None => bail!("give the password with --password, CORRAL_PASSWORD or --password-stdin"),
    };
    if password.chars().count() < 8 {
        bail!("the password must have at least 8 characters");
    }
    Ok(password)
}

fn atty_stdin() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal()
}

/// A lookup's result, with "not found" said as "no {what}".
fn found<T>(result: Result<T, StoreError>, what: impl std::fmt::Display) -> anyhow::Result<T> {
    result.map_err(|e| match e {
        StoreError::NotFound(_) => anyhow::anyhow!("no {what}"),
        e => e.into(),
    })
}

async fn project(store: &SharedStore, org: &str, slug: &str) -> anyhow::Result<Project> {
    found(
        store.project_by_slug(org, slug).await,
        format_args!("project {org}/{slug}"),
    )
}

async fn organization(
    store: &SharedStore,
    slug: &str,
) -> anyhow::Result<corral_core::model::Organization> {
    found(
        store.organization_by_slug(slug).await,
        format_args!("organization {slug}"),
    )
}

async fn user(store: &SharedStore, email: &str) -> anyhow::Result<corral_core::model::User> {
    found(
        store.user_by_email(email).await,
        format_args!("user {email}"),
    )
}

async fn key(store: &SharedStore, public_key: &str) -> anyhow::Result<corral_core::model::KeyAuth> {
    found(
        store.key_auth(public_key).await,
        format_args!("key {public_key}"),
    )
}

fn print_key(key: &ProjectKey, base_url: &str, json: bool) {
    let dsn = dsn_for(base_url, &key.public_key, key.project_id);
    if json {
        println!(
            "{}",
            json!({"id": key.id, "public_key": key.public_key, "label": key.label,
                   "active": key.is_active, "project_id": key.project_id, "dsn": dsn})
        );
    } else {
        println!(
            "{}\t{}\t{}\t{dsn}",
            key.public_key,
            key.label,
            if key.is_active { "active" } else { "disabled" }
        );
    }
}

fn all_scopes() -> Vec<String> {
    ALL_SCOPES.iter().map(|s| s.to_string()).collect()
}

pub async fn run(command: Command, global: &Global, config: Config) -> anyhow::Result<()> {
    let db = Db::open(&config).await?;
    if matches!(command, Command::Migrate) {
        db.store().migrate().await.context("migrating")?;
        println!("migrations applied");
        return Ok(());
    }
    db.ready().await?;
    let store = db.store();
    let json_out = global.json;
    match command {
        Command::Serve { .. } | Command::Migrate | Command::SendTestEvent { .. } => {
            unreachable!("handled by the caller")
        }
        Command::User(UserCommand::Create {
            email,
            name,
            password,
            password_stdin,
            superuser,
            org,
            role,
        }) => {
            let role: Role = role.parse().map_err(anyhow::Error::msg)?;
            let password = read_password(password, password_stdin)?;
            let hash =
                corral_core::credentials::hash_password(&password).map_err(anyhow::Error::msg)?;
            let user = store
                .create_user(NewUser {
                    email,
                    name,
                    password_hash: Some(hash),
                    is_superuser: superuser,
                })
                .await?;
            if let Some(org) = org {
                let org = organization(&store, &org).await?;
                store.set_membership(org.id, user.id, role).await?;
            }
            if json_out {
                println!("{}", json!({"id": user.id, "email": user.email}));
            } else {
                println!("created user {} ({})", user.email, user.id);
            }
        }
        Command::User(UserCommand::ResetLink { email, base_url }) => {
            let user = user(&store, &email).await?;
            let link = corral_web::mail::reset_link_under(&store, user.id, &base_url).await?;
            if json_out {
                println!("{}", json!({"email": user.email, "link": link}));
            } else {
                println!("{link}");
            }
        }
        Command::User(UserCommand::SetPassword {
            email,
            password,
            password_stdin,
        }) => {
            let user = user(&store, &email).await?;
            let password = read_password(password, password_stdin)?;
            let hash =
                corral_core::credentials::hash_password(&password).map_err(anyhow::Error::msg)?;
            store.set_password_hash(user.id, &hash).await?;
            println!("password changed for {}", user.email);
        }
        Command::Org(OrgCommand::Create { slug, name, owner }) => {
            let org = store
                .create_organization(&slug, name.as_deref().unwrap_or(&slug))
                .await?;
            if let Some(owner) = owner {
                let user = user(&store, &owner).await?;
                store.set_membership(org.id, user.id, Role::Owner).await?;
            }
            if json_out {
                println!("{}", json!({"id": org.id, "slug": org.slug}));
            } else {
                println!("created organization {} ({})", org.slug, org.id);
            }
        }
        Command::Org(OrgCommand::List) => {
            for org in store.list_organizations().await? {
                if json_out {
                    println!(
                        "{}",
                        json!({"id": org.id, "slug": org.slug, "name": org.name})
                    );
                } else {
                    println!("{}\t{}", org.slug, org.name);
                }
            }
        }
        Command::Project(ProjectCommand::Create {
            org,
            slug,
            name,
            platform,
        }) => {
            let org = organization(&store, &org).await?;
            let project = store
                .create_project(NewProject {
                    org_id: org.id,
                    name: name.unwrap_or_else(|| slug.clone()),
                    slug,
                    platform,
                })
                .await?;
            let key = store
                .create_project_key(project.id, "Default", RateLimit::default())
                .await?;
            let base = config
                .base_url
                .clone()
                .unwrap_or_else(|| "http://127.0.0.1:8000".into());
            let dsn = dsn_for(&base, &key.public_key, project.id);
            if json_out {
                println!(
                    "{}",
                    json!({"id": project.id, "slug": project.slug, "org": project.org_slug, "dsn": dsn})
                );
            } else {
                println!(
                    "created project {}/{} ({})",
                    project.org_slug, project.slug, project.id
                );
                println!("DSN: {dsn}");
            }
        }
        Command::Project(ProjectCommand::List { org, base_url }) => {
            let org_id = match org {
                Some(slug) => Some(organization(&store, &slug).await?.id),
                None => None,
            };
            for p in store.list_projects(org_id).await? {
                let keys = store.list_project_keys(p.id).await?;
                let dsns: Vec<String> = keys
                    .iter()
                    .filter(|k| k.is_active)
                    .map(|k| dsn_for(&base_url, &k.public_key, p.id))
                    .collect();
                if json_out {
                    println!(
                        "{}",
                        json!({"id": p.id, "org": p.org_slug, "slug": p.slug, "name": p.name,
                               "platform": p.platform, "retention_days": p.retention_days, "dsns": dsns})
                    );
                } else {
                    println!(
                        "{}/{}\t{}\t{}",
                        p.org_slug,
                        p.slug,
                        p.id,
                        dsns.first()
                            .map(String::as_str)
                            .unwrap_or("(no active key)")
                    );
                }
            }
        }
        Command::Project(ProjectCommand::SetRetention {
            org,
            project: slug,
            days,
        }) => {
            if let Some(d) = days
                && d < 1
            {
                bail!("--days must be at least 1");
            }
            let p = project(&store, &org, &slug).await?;
            store.set_project_retention(p.id, days).await?;
            println!(
                "retention of {org}/{slug}: {}",
                days.map(|d| format!("{d} days"))
                    .unwrap_or_else(|| "server default".into())
            );
        }
        Command::Key(KeyCommand::Create {
            org,
            project: slug,
            label,
            per_minute,
            per_hour,
            base_url,
        }) => {
            let p = project(&store, &org, &slug).await?;
            let key = store
                .create_project_key(
                    p.id,
                    &label,
                    RateLimit {
                        per_minute,
                        per_hour,
                    },
                )
                .await?;
            print_key(&key, &base_url, json_out);
        }
        Command::Key(KeyCommand::List {
            org,
            project: slug,
            base_url,
        }) => {
            let p = project(&store, &org, &slug).await?;
            for key in store.list_project_keys(p.id).await? {
                print_key(&key, &base_url, json_out);
            }
        }
        Command::Key(KeyCommand::Disable { public_key }) => {
            let key = key(&store, &public_key).await?;
            store.set_key_active(key.key.id, false).await?;
            println!("key {public_key} disabled");
        }
        Command::Key(KeyCommand::Enable { public_key }) => {
            let key = key(&store, &public_key).await?;
            store.set_key_active(key.key.id, true).await?;
            println!("key {public_key} enabled");
        }
        Command::Token(TokenCommand::Create {
            email,
            name,
            scopes,
        }) => {
            let user = user(&store, &email).await?;
            let scopes = if scopes.is_empty() {
                all_scopes()
            } else {
                for s in &scopes {
                    if !ALL_SCOPES.contains(&s.as_str()) {
                        bail!("unknown scope {s:?}; known: {}", ALL_SCOPES.join(", "));
                    }
                }
                scopes
            };
            let secret = corral_core::credentials::new_token_secret();
            let token = store
                .create_api_token(
                    user.id,
                    &name,
                    &scopes,
                    &corral_core::credentials::hash_token(&secret),
                )
                .await?;
            if json_out {
                println!(
                    "{}",
                    json!({"id": token.id, "token": secret, "scopes": token.scopes})
                );
            } else {
                println!("{secret}");
            }
        }
        Command::Issue(IssueCommand::List {
            org,
            project: slug,
            query,
            limit,
        }) => {
            let p = project(&store, &org, &slug).await?;
            let q = parse_query(
                &query,
                IssueQuery {
                    project_ids: vec![p.id],
                    limit,
                    ..Default::default()
                },
                chrono::Utc::now(),
            )?;
            for issue in store.list_issues(&q).await? {
                let short = format_short_id(&p.slug, issue.short_id);
                if json_out {
                    println!(
                        "{}",
                        json!({"id": issue.id, "shortId": short, "title": issue.title,
                               "culprit": issue.culprit, "count": issue.times_seen,
                               "status": issue.status.as_str(), "level": issue.level.as_str(),
                               "lastSeen": issue.last_seen})
                    );
                } else {
                    println!(
                        "{short}\t{}\t{}\t{}\t{}",
                        issue.times_seen, issue.status, issue.title, issue.culprit
                    );
                }
            }
        }
        Command::DeadLetter(DeadLetterCommand::List { limit }) => {
            for d in store.list_dead_letters(limit).await? {
                if json_out {
                    println!(
                        "{}",
                        json!({"id": d.id, "queue": d.queue, "error": d.error,
                               "attempts": d.attempts, "created_at": d.created_at})
                    );
                } else {
                    println!("{}\t{}\t{}\t{}", d.id, d.created_at, d.attempts, d.error);
                }
            }
        }
        Command::DeadLetter(DeadLetterCommand::Replay { id, all }) => {
            let queue = db.queue(&config).await?;
            let letters = store.list_dead_letters(10_000).await?;
            let chosen: Vec<_> = match id {
                Some(id) => {
                    let one: Vec<_> = letters.into_iter().filter(|d| d.id == id).collect();
                    if one.is_empty() {
                        bail!("no dead letter {id}");
                    }
                    one
                }
                None if all => letters,
                None => bail!("give --id N or --all"),
            };
            let mut replayed = 0;
            for letter in chosen {
                let job: IngestJob = match serde_json::from_str(&letter.payload) {
                    Ok(job) => job,
                    Err(e) => {
                        eprintln!(
                            "dead letter {} is not a job this version reads (kept): {e}",
                            letter.id
                        );
                        continue;
                    }
                };
                // push first, forget second: a crash in between replays the
                // job twice, which the idempotent digest absorbs, and never
                // loses it
                if let Err(e) = queue.push(job).await {
                    bail!("enqueueing dead letter {} failed (kept): {e}", letter.id);
                }
                match store.take_dead_letter(letter.id).await {
                    Ok(_) | Err(StoreError::NotFound(_)) => {}
                    Err(e) => return Err(e.into()),
                }
                replayed += 1;
            }
            println!("replayed {replayed} job(s)");
        }
        Command::Alerts(command) => crate::alerts::run(command, &store, json_out).await?,
        Command::Purge => {
            let upkeep = corral_beat::Upkeep {
                store: store.clone(),
                retention_days: config.retention_days,
                attachments_dir: Some(config.attachments_dir()),
            };
            let report = upkeep.purge().await?;
            println!(
                "purged {} events, {} issues, {} partitions",
                report.events_deleted, report.issues_deleted, report.partitions_dropped
            );
        }
    }
    Ok(())
}

/// Sends one event to a DSN the way an SDK does, and returns its id.
pub async fn send_test_event(dsn: &str, message: &str, level: &str) -> anyhow::Result<String> {
    let dsn: corral_protocol::Dsn = dsn.parse().context("invalid DSN")?;
    let event_id = uuid::Uuid::new_v4().simple().to_string();
    let event = json!({
        "event_id": event_id,
        "timestamp": chrono::Utc::now().timestamp_millis() as f64 / 1000.0,
        "platform": "other",
        "level": level,
        "logger": "corral.cli",
        "logentry": {"formatted": message},
        "sdk": {"name": "corral.cli", "version": env!("CARGO_PKG_VERSION")},
        "tags": {"source": "corral send-test-event"},
    });
    let mut envelope = corral_protocol::Envelope::new(corral_protocol::EnvelopeHeaders {
        event_id: corral_protocol::parse_event_id(&event_id),
        dsn: Some(dsn.to_string()),
        sent_at: None,
        other: Default::default(),
    });
    envelope.add_item(corral_protocol::Item::new(
        corral_protocol::ItemType::Event,
        serde_json::to_vec(&event)?,
    ));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;
    let auth = format!(
        "Sentry sentry_key={}, sentry_version=7, sentry_client=corral-cli/{}",
        dsn.public_key,
        env!("CARGO_PKG_VERSION")
    );
    let response = client
        .post(dsn.envelope_url())
        .header("X-Sentry-Auth", auth)
        .header("Content-Type", "application/x-sentry-envelope")
        .body(envelope.to_vec())
        .send()
        .await
        .with_context(|| format!("sending to {}", dsn.envelope_url()))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("the server answered {status}: {body}");
    }
    Ok(event_id)
}
