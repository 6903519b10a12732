//! `corral-loadgen`: the load generator and end-to-end benchmark.

use std::time::Duration;

use clap::Parser;
use corral_loadgen::{ApiTarget, Counter, Load, Options, ProbeOptions};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    version,
    about = "Sends real Sentry envelopes to a DSN on this machine and measures ingest and digest",
    after_help = "Examples:\n  corral-loadgen --dsn http://KEY@127.0.0.1:8000/1 --count 20000 --concurrency 64 \\\n      --api-token crl_… --org corral --project default\n  corral-loadgen --dsn http://KEY@127.0.0.1:9000/1 --duration 30 \\\n      --count-cmd 'sqlite3 -readonly db.sqlite3 \"select count(*) from events_event\"'"
)]
struct Args {
    /// The DSN to send to (loopback only).
    #[arg(long, env = "SENTRY_DSN")]
    dsn: String,
    /// Requests in flight at most. Without --rate, each of these connections
    /// sends its next request when the last is answered.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// In the closed loop, a connection refused with 429/503 and Retry-After
    /// waits that long (at most 60 s, never past the end of a --duration
    /// run) before its next request, as an SDK stops sending. Without it the
    /// next request follows at once.
    #[arg(long, conflicts_with = "rate")]
    wait_retry_after: bool,
    /// A fixed rate (requests per second) instead of as fast as possible;
    /// refusals do not slow it (the offered load of an overload test).
    #[arg(long)]
    rate: Option<f64>,
    /// How many events to send.
    #[arg(
        long,
        required_unless_present = "duration",
        conflicts_with = "duration"
    )]
    count: Option<u64>,
    /// For how many seconds to send.
    #[arg(long)]
    duration: Option<u64>,
    /// Distinct issues the events fall into.
    #[arg(long, default_value_t = 50)]
    groups: usize,
    /// Stack frames per event.
    #[arg(long, default_value_t = 15)]
    frames: usize,
    /// Approximate event size in bytes.
    #[arg(long, default_value_t = 5000)]
    event_bytes: usize,
    /// Compress request bodies with gzip.
    #[arg(long)]
    gzip: bool,
    /// An API token: measure the end-to-end rate through the REST API.
    #[arg(long, env = "CORRAL_API_TOKEN", requires_all = ["org", "project"])]
    api_token: Option<String>,
    /// Instead of the REST API: a shell command that prints the number of
    /// stored events (run before the load, then polled until it has grown
    /// by the number accepted).
    #[arg(long, conflicts_with = "api_token")]
    count_cmd: Option<String>,
    #[arg(long)]
    org: Option<String>,
    #[arg(long)]
    project: Option<String>,
    /// The API's base URL (default: the DSN's).
    #[arg(long)]
    api_url: Option<String>,
    /// Seconds to wait for the digest after the last send.
    #[arg(long, default_value_t = 300)]
    wait: u64,
    /// Milliseconds between two counts of stored events while waiting (each
    /// count costs the server a little work: poll less on a busy machine).
    #[arg(long, default_value_t = 100)]
    poll_ms: u64,
    /// Freshness probes instead of load: send --count events one at a
    /// time, this many milliseconds apart (stretched by up to a quarter at
    /// random), and time each from its 200 until the REST API returns it
    /// (polled every --poll-ms). Needs --api-token, --org and --project.
    #[arg(long, requires = "api_token", conflicts_with_all = ["rate", "duration"])]
    probe_gap_ms: Option<u64>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// `--probe-gap-ms`: freshness probes.
async fn probe(args: Args, gap: Duration) -> anyhow::Result<()> {
    let base_url = match args.api_url {
        Some(u) => u,
        None => args
            .dsn
            .parse::<corral_protocol::Dsn>()
            .map(|d| d.base_url())
            .map_err(|e| anyhow::anyhow!("invalid DSN: {e}"))?,
    };
    let report = corral_loadgen::probe(ProbeOptions {
        dsn: args.dsn,
        api: ApiTarget {
            base_url,
            token: args.api_token.unwrap_or_default(),
            org: args.org.unwrap_or_default(),
            project: args.project.unwrap_or_default(),
        },
        count: args.count.unwrap_or(20),
        gap,
        poll: Duration::from_millis(args.poll_ms),
        give_up: Duration::from_secs(args.wait),
        frames: args.frames,
        event_bytes: args.event_bytes,
    })
    .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{} probes ({} not accepted, {} missing): freshness p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms (poll every {} ms)",
            report.probes,
            report.not_accepted,
            report.missing,
            report.p50_ms,
            report.p90_ms,
            report.p99_ms,
            report.max_ms,
            report.poll_ms
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(gap) = args.probe_gap_ms {
        return probe(args, Duration::from_millis(gap)).await;
    }
    let load = match (args.count, args.duration) {
        (Some(n), _) => Load::Count(n),
        (None, Some(s)) => Load::Duration(Duration::from_secs(s)),
        (None, None) => anyhow::bail!("give --count or --duration"),
    };
    let counter = match (args.api_token, args.count_cmd) {
        (_, Some(command)) => Some(Counter::Command(command)),
        (Some(token), None) => {
            let base_url = match args.api_url {
                Some(u) => u,
                None => args
                    .dsn
                    .parse::<corral_protocol::Dsn>()
                    .map(|d| d.base_url())
                    .map_err(|e| anyhow::anyhow!("invalid DSN: {e}"))?,
            };
            Some(Counter::Api(ApiTarget {
                base_url,
                token,
                org: args.org.unwrap_or_default(),
                project: args.project.unwrap_or_default(),
            }))
        }
        (None, None) => None,
    };
    let report = corral_loadgen::run(Options {
        dsn: args.dsn,
        concurrency: args.concurrency,
        rate: args.rate,
        wait_retry_after: args.wait_retry_after,
        load,
        groups: args.groups,
        frames: args.frames,
        event_bytes: args.event_bytes,
        gzip: args.gzip,
        counter,
        wait: Duration::from_secs(args.wait),
        poll: Duration::from_millis(args.poll_ms),
    })
    .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    Ok(())
}
