//! The `corral` command line.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "corral",
    version,
    about = "Corral: a self-hosted error tracker for Sentry SDKs",
    long_about = "Corral: a self-hosted error tracker that speaks the Sentry protocol.\n\n\
                  `corral serve` runs everything in one process on an SQLite file. The other \
                  commands administer either shape: they use DATABASE_URL when it is set, \
                  otherwise the embedded database in --data-dir."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct Global {
    /// The embedded shape's data directory (database, attachments).
    #[arg(
        long,
        global = true,
        env = "CORRAL_DATA_DIR",
        default_value = "corral-data"
    )]
    pub data_dir: PathBuf,
    /// A TOML configuration file (environment variables override it).
    #[arg(long, global = true, env = "CORRAL_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run Corral in one process: web, worker and schedules on an SQLite file.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "CORRAL_BIND", default_value = "127.0.0.1:8000")]
        bind: SocketAddr,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Users.
    #[command(subcommand)]
    User(UserCommand),
    /// Organizations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Projects.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Client keys (DSNs).
    #[command(subcommand)]
    Key(KeyCommand),
    /// API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Issues.
    #[command(subcommand)]
    Issue(IssueCommand),
    /// Send a test event to a DSN and print its id.
    SendTestEvent {
        /// The DSN to send to.
        #[arg(long, env = "SENTRY_DSN")]
        dsn: String,
        /// The message of the event.
        #[arg(
            long,
            default_value = "This is a test event from `corral send-test-event`"
        )]
        message: String,
        /// The level of the event.
        #[arg(long, default_value = "error")]
        level: String,
    },
    /// Jobs that could not be processed.
    #[command(subcommand, name = "dead-letter")]
    DeadLetter(DeadLetterCommand),
    /// Delete events past their retention now (beat does this daily).
    Purge,
    /// Alert channels, rules and the delivery log.
    #[command(subcommand)]
    Alerts(AlertsCommand),
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user; the password is read from --password, CORRAL_PASSWORD or stdin.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "")]
        name: String,
        #[arg(long, env = "CORRAL_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        /// Read the password from standard input (one line).
        #[arg(long, conflicts_with = "password")]
        password_stdin: bool,
        #[arg(long)]
        superuser: bool,
        /// Add the user to this organization.
        #[arg(long)]
        org: Option<String>,
        /// Their role there: owner, admin or member.
        #[arg(long, default_value = "member", requires = "org")]
        role: String,
    },
    /// Print a one-time password reset link for a user (valid for an hour);
    /// for servers without SMTP.
    ResetLink {
        #[arg(long)]
        email: String,
        /// The public URL the link starts with.
        #[arg(long, env = "CORRAL_BASE_URL", default_value = "http://127.0.0.1:8000")]
        base_url: String,
    },
    /// Set a user's password (read from --password, CORRAL_PASSWORD or stdin).
    SetPassword {
        #[arg(long)]
        email: String,
        #[arg(long, env = "CORRAL_PASSWORD", hide_env_values = true)]
        password: Option<String>,
        #[arg(long, conflicts_with = "password")]
        password_stdin: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum OrgCommand {
    /// Create an organization.
    Create {
        slug: String,
        #[arg(long)]
        name: Option<String>,
        /// Make this existing user its owner.
        #[arg(long)]
        owner: Option<String>,
    },
    /// List organizations.
    List,
}

#[derive(Subcommand, Debug)]
pub enum ProjectCommand {
    /// Create a project (and its first DSN key).
    Create {
        #[arg(long)]
        org: String,
        slug: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        platform: Option<String>,
    },
    /// List projects with their DSNs.
    List {
        #[arg(long)]
        org: Option<String>,
        /// The public URL DSNs are built from.
        #[arg(long, env = "CORRAL_BASE_URL", default_value = "http://127.0.0.1:8000")]
        base_url: String,
    },
    /// Set a project's retention in days (omit to use the server default).
    SetRetention {
        #[arg(long)]
        org: String,
        #[arg(long)]
        project: String,
        #[arg(long)]
        days: Option<i32>,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Create a DSN key for a project.
    Create {
        #[arg(long)]
        org: String,
        #[arg(long)]
        project: String,
        #[arg(long, default_value = "Default")]
        label: String,
        /// Events per minute allowed with this key.
        #[arg(long)]
        per_minute: Option<i64>,
        /// Events per hour allowed with this key.
        #[arg(long)]
        per_hour: Option<i64>,
        #[arg(long, env = "CORRAL_BASE_URL", default_value = "http://127.0.0.1:8000")]
        base_url: String,
    },
    /// List a project's keys.
    List {
        #[arg(long)]
        org: String,
        #[arg(long)]
        project: String,
        #[arg(long, env = "CORRAL_BASE_URL", default_value = "http://127.0.0.1:8000")]
        base_url: String,
    },
    /// Disable a key (ingest answers 403 for it within 30 seconds).
    Disable { public_key: String },
    /// Enable a key again.
    Enable { public_key: String },
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create an API token for a user; the secret is printed once.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "cli")]
        name: String,
        /// Scopes (repeatable); by default every read and write scope.
        #[arg(long = "scope")]
        scopes: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum IssueCommand {
    /// List a project's issues.
    List {
        #[arg(long)]
        org: String,
        #[arg(long)]
        project: String,
        /// Search, e.g. `is:unresolved level:error`.
        #[arg(long, default_value = "is:unresolved")]
        query: String,
        #[arg(long, default_value_t = 25)]
        limit: u32,
    },
}

#[derive(Subcommand, Debug)]
pub enum DeadLetterCommand {
    /// List dead-lettered jobs.
    List {
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Put dead-lettered jobs back on the queue.
    Replay {
        /// The dead letter's id.
        #[arg(long, conflicts_with = "all", required_unless_present = "all")]
        id: Option<i64>,
        /// Every dead letter.
        #[arg(long)]
        all: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum AlertsCommand {
    /// An organization's alert channels (where alerts are sent).
    #[command(subcommand)]
    Channels(ChannelsCommand),
    /// A project's alert rules (when alerts are sent).
    #[command(subcommand)]
    Rules(RulesCommand),
    /// An organization's delivery log, newest first.
    Deliveries {
        #[arg(long)]
        org: String,
        /// Only pending, sending, sent or dead ones.
        #[arg(long)]
        status: Option<String>,
        /// Only those to this channel (its name or id).
        #[arg(long)]
        channel: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

#[derive(Subcommand, Debug)]
pub enum ChannelsCommand {
    /// List an organization's channels (secrets masked).
    List {
        #[arg(long)]
        org: String,
    },
    /// Create a channel.
    Create {
        #[arg(long)]
        org: String,
        /// Unique in the organization.
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = ["webhook", "slack", "discord", "teams", "pagerduty", "email"])]
        kind: String,
        /// Where to POST (webhook, slack, discord, teams; for pagerduty an
        /// endpoint other than PagerDuty's own).
        #[arg(long)]
        url: Option<String>,
        /// The webhook's signing secret (16 to 256 characters).
        #[arg(long, env = "CORRAL_ALERT_SECRET", hide_env_values = true)]
        secret: Option<String>,
        /// PagerDuty's routing key.
        #[arg(long, env = "CORRAL_ALERT_ROUTING_KEY", hide_env_values = true)]
        routing_key: Option<String>,
        /// An email recipient (repeatable).
        #[arg(long = "address")]
        addresses: Vec<String>,
        /// Email the members of the alerting project's teams.
        #[arg(long)]
        project_members: bool,
    },
    /// Delete a channel (rules keep their other channels).
    Delete {
        #[arg(long)]
        org: String,
        /// The channel's name or id.
        channel: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum RulesCommand {
    /// List a project's rules.
    List {
        #[arg(long)]
        org: String,
        #[arg(long)]
        project: String,
    },
    /// Create a rule: it fires when any condition holds and every filter
    /// passes, at most once per interval for one issue.
    Create {
        #[arg(long)]
        org: String,
        #[arg(long)]
        project: String,
        #[arg(long)]
        name: String,
        /// new_issue, regression, escalating, frequency:COUNT:MINUTES,
        /// users:COUNT:MINUTES or event_rate:COUNT:MINUTES (repeatable).
        #[arg(long = "condition", required = true)]
        conditions: Vec<String>,
        /// A channel's name or id (repeatable).
        #[arg(long = "channel", required = true)]
        channels: Vec<String>,
        /// Alert about one issue at most every this many minutes.
        #[arg(long, default_value_t = corral_core::alerts::DEFAULT_ACTION_INTERVAL_MINUTES)]
        interval: i64,
        /// Only events of this environment.
        #[arg(long)]
        environment: Option<String>,
        /// Only issues of this level or above (debug, info, warning, error, fatal).
        #[arg(long)]
        level_at_least: Option<String>,
        /// Create it disabled.
        #[arg(long)]
        disabled: bool,
    },
    /// Delete a rule.
    Delete {
        #[arg(long)]
        org: String,
        #[arg(long)]
        project: String,
        /// The rule's name or id.
        rule: String,
    },
}
