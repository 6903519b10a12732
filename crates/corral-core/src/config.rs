//! Typed configuration: environment variables over an optional TOML file over
//! defaults. A bad value fails at start with the name of the field.
//!
//! Environment: `DATABASE_URL`, `REDIS_URL` and `CORRAL_<FIELD>`; nested fields
//! use a double underscore, e.g. `CORRAL_INGEST__MAX_EVENT_BYTES=2097152`. The
//! file (`--config` or `CORRAL_CONFIG`) uses the same names in lower case:
//! `[ingest] max_event_bytes = 2097152`.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::{Deserialize, Deserializer};

/// A value that must never appear in logs: `Debug` and `Display` print
/// `[redacted]`. Read it with [`Secret::expose`].
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// A configuration value is missing or wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Parse(String),
    #[error("configuration: {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

impl From<figment::Error> for ConfigError {
    fn from(err: figment::Error) -> Self {
        // name the field the way the user wrote it: the variable for the
        // environment, the dotted key for the file
        let lines: Vec<String> = err
            .into_iter()
            .map(|e| {
                let key = e.path.join(".").to_ascii_lowercase();
                let source = e.metadata.as_ref().map(|m| m.name.to_string());
                match source.as_deref() {
                    Some(name) if name.contains("environment") => {
                        let var = if key == "database_url" || key == "redis_url" {
                            key.to_ascii_uppercase()
                        } else {
                            format!("CORRAL_{}", key.replace('.', "__").to_ascii_uppercase())
                        };
                        format!("{var}: {}", e.kind)
                    }
                    Some(name) if !key.is_empty() => format!("{key}: {} (in {name})", e.kind),
                    _ if !key.is_empty() => format!("{key}: {}", e.kind),
                    _ => e.kind.to_string(),
                }
            })
            .collect();
        ConfigError::Parse(lines.join("; "))
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// PostgreSQL (`postgres://…`) or SQLite (`sqlite://path`) URL. The
    /// embedded server uses `<data_dir>/corral.sqlite` when unset.
    pub database_url: Option<Secret>,
    /// Redis URL; required by the cluster shape, unused by the embedded one.
    pub redis_url: Option<Secret>,
    /// Reserved for signing (sessions and CSRF tokens are random and kept
    /// server-side, so nothing needs it yet).
    pub secret_key: Option<Secret>,
    /// SMTP server for password-reset and invitation mail, e.g.
    /// `smtps://user:password@smtp.example.com:465` or `smtp://localhost:25`.
    /// Without it, links are shown to admins and printed by the CLI.
    pub smtp_url: Option<Secret>,
    /// The From address of mail.
    pub smtp_from: Option<String>,
    /// Where this process listens (HTTP for web; health and metrics for the
    /// worker and beat). Each binary has its own default.
    pub bind: Option<SocketAddr>,
    /// The public URL of the web server, used in printed DSNs and links.
    pub base_url: Option<String>,
    /// The embedded server's data directory.
    pub data_dir: PathBuf,
    /// Where attachments are written; `<data_dir>/attachments` when unset.
    pub attachments_dir: Option<PathBuf>,
    /// Default retention of events in days (projects may override).
    pub retention_days: i32,
    /// Path of the tunnel endpoint browser SDKs may post envelopes to.
    pub tunnel_path: String,
    pub log_format: LogFormat,
    /// A `tracing` filter, e.g. `info,corral_web=debug`.
    pub log_level: String,
    pub http: HttpConfig,
    pub ingest: IngestConfig,
    pub quotas: QuotaConfig,
    pub worker: WorkerConfig,
    pub queue: QueueConfig,
    pub database: DatabaseConfig,
    pub auth: AuthConfig,
    pub alerts: AlertsConfig,
}

/// Connections of the HTTP server: how long a client may take, and how
/// many connections it may hold, so slow or idle clients cannot exhaust the
/// process's file descriptors.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Time allowed for a request's headers to arrive, and for the next
    /// request on an idle keep-alive connection: past it the connection is
    /// closed.
    pub header_read_timeout_secs: u64,
    /// Open connections at most; past it new ones wait in the listen queue.
    pub max_connections: usize,
    /// Open connections one client address may hold; more are closed at
    /// once. Behind a reverse proxy every client has the proxy's address:
    /// raise it to `max_connections`.
    pub max_connections_per_address: usize,
    /// Request bodies of the REST API and the UI (ingest has its own limits).
    pub max_body_bytes: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            header_read_timeout_secs: 10,
            max_connections: 4096,
            max_connections_per_address: 1024,
            max_body_bytes: 2 * 1024 * 1024,
        }
    }
}

/// Size limits of ingest (Relay's defaults) and its memory budget.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    /// One event (or transaction, or security report), decompressed.
    pub max_event_bytes: usize,
    /// A `/store/` request body as sent (compressed).
    pub max_store_body_bytes: usize,
    /// An envelope request body as sent (compressed).
    pub max_envelope_body_bytes: usize,
    /// An envelope, decompressed.
    pub max_envelope_bytes: usize,
    /// One attachment.
    pub max_attachment_bytes: usize,
    /// Session updates in one envelope.
    pub max_sessions_per_envelope: usize,
    /// Request bodies held in memory at once, compressed and decompressed
    /// together, with the decoders' own buffers; past it ingest answers 503
    /// with Retry-After.
    pub memory_budget_bytes: usize,
    /// The part of the budget one client address may hold. Behind a reverse
    /// proxy every client has the proxy's address: raise it to the budget.
    pub memory_budget_per_address_bytes: usize,
    /// Memory for the first bytes of requests whose key is not known yet
    /// (the tunnel, envelopes that carry their `dsn` only inside): they read
    /// only their envelope header from this small budget, apart from the
    /// one authenticated requests use.
    pub unauthenticated_budget_bytes: usize,
    /// The part of `unauthenticated_budget_bytes` one client address may hold.
    pub unauthenticated_per_address_bytes: usize,
    /// Time allowed to receive one request body.
    pub body_timeout_secs: u64,
    /// Time allowed between two pieces of a body: a body that stops arriving
    /// is dropped (408) long before `body_timeout_secs`.
    pub body_idle_timeout_secs: u64,
}

/// Default quotas; projects and keys may set their own (the lower wins).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuotaConfig {
    pub key_events_per_minute: Option<i64>,
    pub key_events_per_hour: Option<i64>,
    pub project_events_per_minute: Option<i64>,
    pub project_events_per_hour: Option<i64>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerConfig {
    /// Jobs processed at once by one worker process.
    pub concurrency: usize,
    /// Events written per digest transaction at most.
    pub batch_size: usize,
    /// How long the digest waits to fill a batch.
    pub batch_wait_ms: u64,
    /// Digest transactions one `corral-worker` runs at once (PostgreSQL);
    /// `corral serve` (SQLite, one writer) always uses one. More than one
    /// only pays when batches touch different issues: transactions that
    /// update the same issues wait for each other's row locks (the cluster
    /// benchmark's 50 hot issues digest 2,150/s with 1, 1,960/s with 2 and
    /// 1,510/s with 4).
    pub batch_writers: usize,
    /// Attempts before a job is moved to the dead letters.
    pub max_attempts: u32,
    /// Seconds a job may run before it is failed (and retried).
    pub job_timeout_secs: u64,
    /// Seconds given to in-flight jobs on shutdown.
    pub shutdown_timeout_secs: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// The queue's name (its Redis key prefix).
    pub name: String,
    /// Past this many waiting jobs ingest answers 503 with Retry-After.
    pub max_depth: u64,
    /// How often a queue is polled for new jobs, in milliseconds.
    pub poll_interval_ms: u64,
    /// Jobs a worker takes from the queue in one fetch. A worker fetches
    /// once per poll, so this over the poll interval caps its rate.
    pub fetch_batch: usize,
    /// Worker heartbeat; a worker silent for 3 heartbeats is dead and its jobs
    /// are handed to others.
    pub heartbeat_secs: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    pub max_connections: u32,
}

/// Alert delivery and rule evaluation (the worker's alert runner).
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// Outbound requests (webhooks, chat, PagerDuty) refuse loopback,
    /// private, link-local, shared and cloud-metadata addresses, checked
    /// after DNS resolution and on every redirect, unless this is true.
    pub allow_private_addresses: bool,
    /// Seconds one outbound request (or one mail) may take.
    pub delivery_timeout_secs: u64,
    /// Attempts before a delivery is dead-lettered (retries back off from
    /// 30 s to an hour).
    pub delivery_attempts: i32,
    /// How often the runner looks for new triggers and due deliveries, in
    /// milliseconds.
    pub poll_interval_ms: u64,
    /// How often window conditions (seen N times, N users, event rate) are
    /// evaluated, in seconds.
    pub evaluate_interval_secs: u64,
    /// Deliveries sent at once by one runner.
    pub concurrency: usize,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            allow_private_addresses: false,
            delivery_timeout_secs: 10,
            delivery_attempts: 6,
            poll_interval_ms: 1000,
            evaluate_interval_secs: 15,
            concurrency: 8,
        }
    }
}

/// Passwords: every sign-in (known email or not), password change, reset
/// and invitation runs one argon2 hash, which holds about 19 MiB while it
/// runs. A cap keeps that memory bounded however many ask at once.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Passwords hashed or checked at once by one web process.
    pub max_concurrent_hashes: usize,
    /// How long a password waits for its turn before the answer is 503
    /// with Retry-After.
    pub hash_wait_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: None,
            redis_url: None,
            secret_key: None,
            smtp_url: None,
            smtp_from: None,
            bind: None,
            base_url: None,
            data_dir: PathBuf::from("corral-data"),
            attachments_dir: None,
            retention_days: 30,
            tunnel_path: "/api/tunnel/".into(),
            log_format: LogFormat::Text,
            log_level: "info".into(),
            http: HttpConfig::default(),
            ingest: IngestConfig::default(),
            quotas: QuotaConfig::default(),
            worker: WorkerConfig::default(),
            queue: QueueConfig::default(),
            database: DatabaseConfig::default(),
            auth: AuthConfig::default(),
            alerts: AlertsConfig::default(),
        }
    }
}

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            max_event_bytes: MIB,
            max_store_body_bytes: 200 * KIB,
            max_envelope_body_bytes: 200 * MIB,
            max_envelope_bytes: 200 * MIB,
            max_attachment_bytes: 100 * MIB,
            max_sessions_per_envelope: 100,
            memory_budget_bytes: 256 * MIB,
            memory_budget_per_address_bytes: 128 * MIB,
            unauthenticated_budget_bytes: 8 * MIB,
            unauthenticated_per_address_bytes: MIB,
            body_timeout_secs: 30,
            body_idle_timeout_secs: 10,
        }
    }
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            // four digest batches in flight: while one batch is written,
            // the jobs of the next ones are fetched, parsed and grouped (with
            // one batch's worth the writer and the preparation took turns:
            // bench/cluster.sh's end-to-end rate went from 3,174/s to 4,511/s
            // and the worker kept up with ingest, docs/PERFORMANCE.md)
            concurrency: 1024,
            batch_size: 256,
            batch_wait_ms: 10,
            batch_writers: 1,
            max_attempts: 5,
            job_timeout_secs: 60,
            shutdown_timeout_secs: 30,
        }
    }
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            name: "corral-ingest".into(),
            max_depth: 200_000,
            poll_interval_ms: 50,
            fetch_batch: 256,
            heartbeat_secs: 10,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            // two hashes take about 40 MiB and, at ~50 ms each, check some
            // 40 sign-ins a second: plenty for people typing passwords
            max_concurrent_hashes: 2,
            hash_wait_ms: 2000,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            max_connections: 16,
        }
    }
}

/// The top-level fields, as environment variables see them.
const FIELDS: &[&str] = &[
    "database_url",
    "redis_url",
    "secret_key",
    "smtp_url",
    "smtp_from",
    "bind",
    "base_url",
    "data_dir",
    "attachments_dir",
    "retention_days",
    "tunnel_path",
    "log_format",
    "log_level",
    "http",
    "ingest",
    "quotas",
    "worker",
    "queue",
    "database",
    "auth",
    "alerts",
];

impl Config {
    /// Defaults, then the TOML file (if given, or named by `CORRAL_CONFIG`),
    /// then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("CORRAL_CONFIG").map(PathBuf::from));
        let mut figment = Figment::new();
        if let Some(file) = &file {
            if !file.exists() {
                return Err(ConfigError::Invalid {
                    field: "config",
                    reason: format!("file {} does not exist", file.display()),
                });
            }
            figment = figment.merge(Toml::file(file));
        }
        // the two conventional names first, so CORRAL_DATABASE_URL wins
        figment = figment
            .merge(Env::raw().only(&["DATABASE_URL", "REDIS_URL"]))
            .merge(
                // other CORRAL_* variables (CORRAL_ADMIN_PASSWORD, …) belong
                // to commands, not to this file's schema
                Env::prefixed("CORRAL_")
                    .filter(|key| {
                        let top = key.as_str().split("__").next().unwrap_or("");
                        FIELDS.iter().any(|f| top.eq_ignore_ascii_case(f))
                    })
                    .split("__"),
            );
        Self::from_figment(figment)
    }

    fn from_figment(figment: Figment) -> Result<Config, ConfigError> {
        let config: Config = figment.extract()?;
        config.validate()?;
        Ok(config)
    }

    /// Parses a TOML document over the defaults (no environment).
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        Self::from_figment(Figment::new().merge(Toml::string(text)))
    }

    fn validate(&self) -> Result<(), ConfigError> {
        fn positive(field: &'static str, v: u64) -> Result<(), ConfigError> {
            if v == 0 {
                return Err(ConfigError::Invalid {
                    field,
                    reason: "must be greater than 0".into(),
                });
            }
            Ok(())
        }
        if self.retention_days < 1 {
            return Err(ConfigError::Invalid {
                field: "retention_days",
                reason: format!("must be at least 1, got {}", self.retention_days),
            });
        }
        if !self.tunnel_path.starts_with('/') {
            return Err(ConfigError::Invalid {
                field: "tunnel_path",
                reason: format!("must start with '/', got {:?}", self.tunnel_path),
            });
        }
        if let Some(url) = &self.base_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(ConfigError::Invalid {
                field: "base_url",
                reason: format!("must be an http(s) URL, got {url:?}"),
            });
        }
        let h = &self.http;
        positive("http.header_read_timeout_secs", h.header_read_timeout_secs)?;
        positive("http.max_connections", h.max_connections as u64)?;
        positive(
            "http.max_connections_per_address",
            h.max_connections_per_address as u64,
        )?;
        positive("http.max_body_bytes", h.max_body_bytes as u64)?;
        let i = &self.ingest;
        positive("ingest.max_event_bytes", i.max_event_bytes as u64)?;
        positive("ingest.max_store_body_bytes", i.max_store_body_bytes as u64)?;
        positive(
            "ingest.max_envelope_body_bytes",
            i.max_envelope_body_bytes as u64,
        )?;
        positive("ingest.max_envelope_bytes", i.max_envelope_bytes as u64)?;
        positive("ingest.max_attachment_bytes", i.max_attachment_bytes as u64)?;
        positive("ingest.body_timeout_secs", i.body_timeout_secs)?;
        if i.memory_budget_bytes < i.max_envelope_bytes.min(i.max_attachment_bytes) {
            return Err(ConfigError::Invalid {
                field: "ingest.memory_budget_bytes",
                reason: "must hold at least one largest attachment".into(),
            });
        }
        positive("ingest.body_idle_timeout_secs", i.body_idle_timeout_secs)?;
        positive(
            "ingest.memory_budget_per_address_bytes",
            i.memory_budget_per_address_bytes as u64,
        )?;
        positive(
            "ingest.unauthenticated_budget_bytes",
            i.unauthenticated_budget_bytes as u64,
        )?;
        positive(
            "ingest.unauthenticated_per_address_bytes",
            i.unauthenticated_per_address_bytes as u64,
        )?;
        let w = &self.worker;
        positive("worker.concurrency", w.concurrency as u64)?;
        positive("worker.batch_size", w.batch_size as u64)?;
        positive("worker.batch_writers", w.batch_writers as u64)?;
        positive("worker.max_attempts", u64::from(w.max_attempts))?;
        positive("worker.job_timeout_secs", w.job_timeout_secs)?;
        let a = &self.alerts;
        positive("alerts.delivery_timeout_secs", a.delivery_timeout_secs)?;
        positive(
            "alerts.delivery_attempts",
            a.delivery_attempts.max(0) as u64,
        )?;
        positive("alerts.poll_interval_ms", a.poll_interval_ms)?;
        positive("alerts.evaluate_interval_secs", a.evaluate_interval_secs)?;
        positive("alerts.concurrency", a.concurrency as u64)?;
        positive("queue.max_depth", self.queue.max_depth)?;
        positive("queue.poll_interval_ms", self.queue.poll_interval_ms)?;
        positive("queue.fetch_batch", self.queue.fetch_batch as u64)?;
        positive("queue.heartbeat_secs", self.queue.heartbeat_secs)?;
        positive(
            "database.max_connections",
            u64::from(self.database.max_connections),
        )?;
        positive(
            "auth.max_concurrent_hashes",
            self.auth.max_concurrent_hashes as u64,
        )?;
        if self.queue.name.is_empty() {
            return Err(ConfigError::Invalid {
                field: "queue.name",
                reason: "must not be empty".into(),
            });
        }
        for (field, v) in [
            (
                "quotas.key_events_per_minute",
                self.quotas.key_events_per_minute,
            ),
            (
                "quotas.key_events_per_hour",
                self.quotas.key_events_per_hour,
            ),
            (
                "quotas.project_events_per_minute",
                self.quotas.project_events_per_minute,
            ),
            (
                "quotas.project_events_per_hour",
                self.quotas.project_events_per_hour,
            ),
        ] {
            if let Some(v) = v
                && v < 0
            {
                return Err(ConfigError::Invalid {
                    field,
                    reason: format!("must not be negative, got {v}"),
                });
            }
        }
        Ok(())
    }

    /// The database URL, or the error naming the variable to set.
    pub fn require_database_url(&self) -> Result<&str, ConfigError> {
        self.database_url
            .as_ref()
            .map(Secret::expose)
            .ok_or(ConfigError::Invalid {
                field: "database_url",
                reason: "DATABASE_URL is not set (a postgres:// URL for the cluster shape)".into(),
            })
    }

    /// The Redis URL, or the error naming the variable to set.
    pub fn require_redis_url(&self) -> Result<&str, ConfigError> {
        self.redis_url
            .as_ref()
            .map(Secret::expose)
            .ok_or(ConfigError::Invalid {
                field: "redis_url",
                reason: "REDIS_URL is not set (the cluster shape queues jobs in Redis)".into(),
            })
    }

    pub fn attachments_dir(&self) -> PathBuf {
        self.attachments_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("attachments"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::Jail;

    #[test]
    fn defaults_are_valid() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(c.retention_days, 30);
        assert_eq!(c.ingest.max_event_bytes, 1024 * 1024);
        assert_eq!(c.ingest.max_store_body_bytes, 200 * 1024);
    }

    #[test]
    fn file_values_apply() {
        let c = Config::from_toml(
            "retention_days = 7\n[ingest]\nmax_event_bytes = 4096\n[worker]\nconcurrency = 3\n",
        )
        .unwrap();
        assert_eq!(c.retention_days, 7);
        assert_eq!(c.ingest.max_event_bytes, 4096);
        assert_eq!(c.worker.concurrency, 3);
    }

    #[test]
    fn password_hashing_is_capped() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(c.auth.max_concurrent_hashes, 2);
        let c = Config::from_toml("[auth]\nmax_concurrent_hashes = 1\nhash_wait_ms = 0\n").unwrap();
        assert_eq!((c.auth.max_concurrent_hashes, c.auth.hash_wait_ms), (1, 0));
        let err = Config::from_toml("[auth]\nmax_concurrent_hashes = 0\n").unwrap_err();
        assert!(
            err.to_string().contains("auth.max_concurrent_hashes"),
            "{err}"
        );
    }

    #[test]
    fn a_bad_value_names_its_field() {
        let err = Config::from_toml("[worker]\nconcurrency = \"many\"\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("concurrency"), "{text}");

        let err = Config::from_toml("retention_days = 0\n").unwrap_err();
        assert!(err.to_string().contains("retention_days"), "{err}");

        let err = Config::from_toml("[ingest]\nmax_evnt_bytes = 1\n").unwrap_err();
        assert!(err.to_string().contains("max_evnt_bytes"), "{err}");
    }

    #[test]
    fn environment_over_file() {
        Jail::expect_with(|jail| {
            jail.create_file(
                "corral.toml",
                "retention_days = 7\n[worker]\nconcurrency = 3\n",
            )?;
            jail.set_env("CORRAL_RETENTION_DAYS", "14");
            jail.set_env("CORRAL_INGEST__MAX_EVENT_BYTES", "2048");
            jail.set_env("DATABASE_URL", "postgres://u:pw@db/corral");
            jail.set_env("REDIS_URL", "redis://cache:6379");
            let c = Config::load(Some(Path::new("corral.toml"))).expect("load");
            assert_eq!(c.retention_days, 14);
            assert_eq!(c.worker.concurrency, 3);
            assert_eq!(c.ingest.max_event_bytes, 2048);
            assert_eq!(
                c.require_database_url().unwrap(),
                "postgres://u:pw@db/corral"
            );
            assert_eq!(c.require_redis_url().unwrap(), "redis://cache:6379");
            Ok(())
        });
    }

    #[test]
    fn a_bad_environment_value_names_the_variable() {
        Jail::expect_with(|jail| {
            jail.set_env("CORRAL_WORKER__CONCURRENCY", "lots");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("CORRAL_WORKER__CONCURRENCY"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn other_corral_variables_are_not_configuration() {
        Jail::expect_with(|jail| {
            jail.set_env("CORRAL_ADMIN_PASSWORD", "x");
            jail.set_env("CORRAL_TEST_PYTHON", "/usr/bin/python3");
            jail.set_env("CORRAL_DATA_DIR", "/tmp/somewhere");
            let c = Config::load(None).expect("load");
            assert_eq!(c.data_dir, PathBuf::from("/tmp/somewhere"));
            // but a misspelt field of a known section is refused by name
            jail.set_env("CORRAL_INGEST__MAX_EVNT_BYTES", "1");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("max_evnt_bytes"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn secrets_never_print() {
        Jail::expect_with(|jail| {
            jail.set_env("DATABASE_URL", "postgres://u:hunter2@db/corral");
            let c = Config::load(None).expect("load");
            let printed = format!("{c:?}");
            assert!(!printed.contains("hunter2"), "{printed}");
            assert!(printed.contains("[redacted]"));
            Ok(())
        });
    }
}
