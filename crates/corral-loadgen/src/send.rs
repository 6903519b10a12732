//! Sending the load and measuring it.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use tokio::sync::Semaphore;

use crate::payload::{Template, template};
use crate::report::{EndToEnd, Latency, Report};
use crate::verify::Counter;

/// How much to send.
#[derive(Clone, Copy, Debug)]
pub enum Load {
    Count(u64),
    Duration(Duration),
}

#[derive(Clone, Debug)]
pub struct Options {
    pub dsn: String,
    /// Requests in flight at most.
    pub concurrency: usize,
    /// A fixed rate in requests per second; `None` sends as fast as the
    /// concurrency allows.
    pub rate: Option<f64>,
    /// In the closed loop, wait out `Retry-After` after a refusal.
    pub wait_retry_after: bool,
    pub load: Load,
    pub groups: usize,
    pub frames: usize,
    pub event_bytes: usize,
    pub gzip: bool,
    /// Where to count stored events for the end-to-end figure.
    pub counter: Option<Counter>,
    /// How long to wait for the digest after the last send.
    pub wait: Duration,
    /// How often to count stored events while waiting.
    pub poll: Duration,
}

/// Hard bounds, so a typo cannot turn this into a flood.
pub const MAX_COUNT: u64 = 50_000_000;
pub const MAX_DURATION: Duration = Duration::from_secs(3600);
pub const MAX_CONCURRENCY: usize = 4096;

/// The DSN must point at this machine.
pub(crate) fn check_loopback(dsn: &corral_protocol::Dsn) -> anyhow::Result<()> {
    let host = dsn.host.trim_start_matches('[').trim_end_matches(']');
    let port = dsn
        .port
        .unwrap_or(if dsn.scheme == "https" { 443 } else { 80 });
    let addrs: Vec<IpAddr> = (host, port)
        .to_socket_addrs()
        .with_context(|| format!("resolving {host}"))?
        .map(|a| a.ip())
        .collect();
    if addrs.is_empty() || !addrs.iter().all(IpAddr::is_loopback) {
        bail!(
            "the target {host} is not a loopback address: the load generator only sends to this machine"
        );
    }
    Ok(())
}

fn validate(options: &Options) -> anyhow::Result<corral_protocol::Dsn> {
    let dsn: corral_protocol::Dsn = options.dsn.parse().context("invalid DSN")?;
    check_loopback(&dsn)?;
    match options.load {
        Load::Count(0) => bail!("--count must be at least 1"),
        Load::Count(n) if n > MAX_COUNT => bail!("--count is at most {MAX_COUNT}"),
        Load::Duration(d) if d.is_zero() => bail!("--duration must be positive"),
        Load::Duration(d) if d > MAX_DURATION => bail!("--duration is at most {MAX_DURATION:?}"),
        _ => {}
    }
    if options.concurrency == 0 || options.concurrency > MAX_CONCURRENCY {
        bail!("--concurrency must be between 1 and {MAX_CONCURRENCY}");
    }
    if let Some(r) = options.rate
        && !(r > 0.0 && r <= 1_000_000.0)
    {
        bail!("--rate must be between 0 and 1000000 requests per second");
    }
    if options.poll < Duration::from_millis(10) || options.poll > Duration::from_secs(60) {
        bail!("--poll-ms must be between 10 and 60000");
    }
    if options.groups == 0 {
        bail!("--groups must be at least 1");
    }
    if options.frames < 4 || options.frames > 200 {
        bail!("--frames must be between 4 and 200");
    }
    Ok(dsn)
}

/// How one request went.
enum Outcome {
    Answered {
        status: u16,
        /// The answer's `Retry-After`, in seconds (zero when it is not a number).
        retry_after: Option<Duration>,
        micros: u64,
    },
    TransportError,
}

/// What one sender saw.
struct Tally {
    latency: Histogram<u64>,
    statuses: BTreeMap<u16, u64>,
    /// 429 and 503 answers that said when to come back.
    retry_after: u64,
    transport_errors: u64,
}

impl Tally {
    fn new() -> Tally {
        Tally {
            // microseconds, up to a minute, 3 significant digits
            latency: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"),
            statuses: BTreeMap::new(),
            retry_after: 0,
            transport_errors: 0,
        }
    }

    fn record(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Answered {
                status,
                retry_after,
                micros,
            } => {
                if is_refusal(status) && retry_after.is_some() {
                    self.retry_after += 1;
                }
                let _ = self.latency.record(micros);
                *self.statuses.entry(status).or_default() += 1;
            }
            Outcome::TransportError => self.transport_errors += 1,
        }
    }

    fn merge(&mut self, other: Tally) {
        let _ = self.latency.add(&other.latency);
        for (s, n) in other.statuses {
            *self.statuses.entry(s).or_default() += n;
        }
        self.retry_after += other.retry_after;
        self.transport_errors += other.transport_errors;
    }
}

/// The load's HTTP client: hyper's own pooled HTTP/1 client, which is what
/// reqwest wraps, without reqwest's per-request work (its URL type, its
/// header map and redirect policy, a boxed future per request). The load
/// generator shares the cores with the servers it measures, so what it
/// spends per request is taken from them.
type LoadClient = hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    http_body_util::Full<bytes::Bytes>,
>;

/// How long one request may take, answer included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

struct Shared {
    client: LoadClient,
    /// Parsed once: parsing the URL and the header names and values for
    /// every request was a tenth of the load generator's own CPU.
    uri: http::Uri,
    headers: http::HeaderMap,
    templates: Vec<Template>,
    gzip: bool,
    issued: AtomicU64,
    load: Load,
    started: Instant,
}

impl Shared {
    /// The next request's number, or `None` when the run is over.
    fn next(&self) -> Option<u64> {
        match self.load {
            Load::Count(n) => {
                let i = self.issued.fetch_add(1, Ordering::Relaxed);
                (i < n).then_some(i)
            }
            Load::Duration(d) => {
                (self.started.elapsed() < d).then(|| self.issued.fetch_add(1, Ordering::Relaxed))
            }
        }
    }

    /// `wait`, or less when a timed run ends sooner.
    fn capped(&self, wait: Duration) -> Duration {
        match self.load {
            Load::Count(_) => wait,
            Load::Duration(d) => wait.min(d.saturating_sub(self.started.elapsed())),
        }
    }

    fn body(&self, i: u64) -> Vec<u8> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mut id_bytes = [0u8; 32];
        id_bytes.copy_from_slice(id.as_bytes());
        let raw = self.templates[(i as usize) % self.templates.len()].render(&id_bytes);
        if self.gzip {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            let _ = enc.write_all(&raw);
            enc.finish().unwrap_or(raw)
        } else {
            raw
        }
    }

    async fn send(&self, i: u64) -> Outcome {
        use http_body_util::BodyExt as _;
        let mut request =
            http::Request::new(http_body_util::Full::new(bytes::Bytes::from(self.body(i))));
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = self.uri.clone();
        *request.headers_mut() = self.headers.clone();
        let started = Instant::now();
        let exchange = async {
            let response = self.client.request(request).await.ok()?;
            let status = response.status().as_u16();
            let retry_after = response.headers().get(http::header::RETRY_AFTER).map(|v| {
                v.to_str()
                    .ok()
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .filter(|s| s.is_finite() && *s > 0.0)
                    .map_or(Duration::ZERO, |s| Duration::from_secs_f64(s.min(60.0)))
            });
            // read the body so the connection can be reused
            response.into_body().collect().await.ok()?;
            Some((status, retry_after))
        };
        match tokio::time::timeout(REQUEST_TIMEOUT, exchange).await {
            Ok(Some((status, retry_after))) => Outcome::Answered {
                status,
                retry_after,
                micros: started.elapsed().as_micros().clamp(1, 60_000_000) as u64,
            },
            Ok(None) | Err(_) => Outcome::TransportError,
        }
    }
}

/// Runs the load and, when an API target is given, waits for the digest.
pub async fn run(options: Options) -> anyhow::Result<Report> {
    let dsn = validate(&options)?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(options.concurrency)
        .timeout(Duration::from_secs(30))
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .build()?;
    let baseline = match &options.counter {
        Some(counter) => Some(counter.stored(&client).await.context(
            "counting stored events before the run (check --api-token, --org, --project or --count-cmd)",
        )?),
        None => None,
    };
    let templates: Vec<Template> = (0..options.groups)
        .map(|g| template(g, options.frames, options.event_bytes, &options.dsn))
        .collect();
    let event_bytes = templates.iter().map(|t| t.bytes.len()).sum::<usize>() / templates.len();
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "x-sentry-auth",
        format!(
            "Sentry sentry_key={}, sentry_version=7, sentry_client=corral-loadgen/{}",
            dsn.public_key,
            env!("CARGO_PKG_VERSION")
        )
        .parse()
        .context("the DSN's key does not fit in a header")?,
    );
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/x-sentry-envelope"),
    );
    if options.gzip {
        headers.insert(
            http::header::CONTENT_ENCODING,
            http::HeaderValue::from_static("gzip"),
        );
    }
    let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
    let load_client =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_max_idle_per_host(options.concurrency)
            .build(connector);
    let shared = Arc::new(Shared {
        client: load_client,
        uri: dsn
            .envelope_url()
            .parse()
            .context("the DSN's envelope URL")?,
        headers,
        templates,
        gzip: options.gzip,
        issued: AtomicU64::new(0),
        load: options.load,
        started: Instant::now(),
    });

    let started = Instant::now();
    let tally = match options.rate {
        None => closed_loop(&shared, options.concurrency, options.wait_retry_after).await,
        Some(rate) => open_loop(&shared, options.concurrency, rate).await,
    };
    let send_seconds = started.elapsed().as_secs_f64().max(1e-9);

    let sent = tally.statuses.values().sum::<u64>() + tally.transport_errors;
    let accepted = tally.statuses.get(&200).copied().unwrap_or(0);
    let refused: u64 = tally
        .statuses
        .iter()
        .filter(|(s, _)| is_refusal(**s))
        .map(|(_, n)| n)
        .sum();
    let end_to_end = match (&options.counter, baseline) {
        (Some(counter), Some(baseline)) => Some(
            wait_for_digest(
                &client,
                counter,
                Progress {
                    baseline,
                    accepted,
                    started,
                    send_seconds,
                },
                &options,
            )
            .await?,
        ),
        _ => None,
    };
    let q = |p: f64| tally.latency.value_at_quantile(p) as f64 / 1000.0;
    Ok(Report {
        target: dsn.envelope_url(),
        mode: match (options.rate, options.load) {
            (None, Load::Count(n)) => format!("{n} events, closed loop"),
            (None, Load::Duration(d)) => format!("{} s, closed loop", d.as_secs()),
            (Some(r), Load::Count(n)) => format!("{n} events at {r} req/s"),
            (Some(r), Load::Duration(d)) => format!("{} s at {r} req/s", d.as_secs()),
        },
        concurrency: options.concurrency,
        gzip: options.gzip,
        groups: options.groups,
        event_bytes,
        sent,
        accepted,
        refused,
        refused_with_retry_after: tally.retry_after,
        transport_errors: tally.transport_errors,
        statuses: tally.statuses.clone(),
        send_seconds,
        requests_per_sec: sent as f64 / send_seconds,
        accepted_per_sec: accepted as f64 / send_seconds,
        latency: Latency {
            p50_ms: q(0.50),
            p90_ms: q(0.90),
            p99_ms: q(0.99),
            max_ms: tally.latency.max() as f64 / 1000.0,
        },
        end_to_end,
    })
}

/// `concurrency` senders, each sending its next request when the last one
/// is answered. With `wait_retry_after`, a sender refused (429/503) with
/// `Retry-After` waits that long first (at most 60 s, never past the end of
/// a timed run), as an SDK stops sending; without it, a closed loop that
/// fills the queue to its limit turns into a storm of refusals that takes
/// the CPU the digest needs.
async fn closed_loop(shared: &Arc<Shared>, concurrency: usize, wait_retry_after: bool) -> Tally {
    let mut tasks = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let shared = shared.clone();
        tasks.push(tokio::spawn(async move {
            let mut tally = Tally::new();
            while let Some(i) = shared.next() {
                let outcome = shared.send(i).await;
                let wait = match &outcome {
                    Outcome::Answered {
                        status,
                        retry_after: Some(wait),
                        ..
                    } if wait_retry_after && is_refusal(*status) => Some(*wait),
                    _ => None,
                };
                tally.record(outcome);
                if let Some(wait) = wait {
                    tokio::time::sleep(shared.capped(wait)).await;
                }
            }
            tally
        }));
    }
    let mut total = Tally::new();
    for t in tasks {
        if let Ok(tally) = t.await {
            total.merge(tally);
        }
    }
    total
}

/// Requests started at a fixed rate, at most `concurrency` in flight: a
/// request due while all are busy waits (the achieved rate is reported).
async fn open_loop(shared: &Arc<Shared>, concurrency: usize, rate: f64) -> Tally {
    let permits = Arc::new(Semaphore::new(concurrency));
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    // one tally for every request (a histogram per request would cost more
    // than the request: it is a few hundred KiB to allocate and to merge)
    let tally = Arc::new(std::sync::Mutex::new(Tally::new()));
    let mut tasks = tokio::task::JoinSet::new();
    while let Some(i) = shared.next() {
        ticker.tick().await;
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let shared = shared.clone();
        let tally = tally.clone();
        tasks.spawn(async move {
            let outcome = shared.send(i).await;
            drop(permit);
            tally
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .record(outcome);
        });
        // forget finished tasks as we go, so the set stays as small as the
        // requests in flight
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    let mut tally = tally
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    std::mem::replace(&mut *tally, Tally::new())
}

/// Answers that refuse for now (rate limit, backpressure): the ones that
/// should carry `Retry-After`.
fn is_refusal(status: u16) -> bool {
    status == 429 || status == 503
}

/// Where the sending left things, for the end-to-end figure.
struct Progress {
    /// Events stored before the first send.
    baseline: u64,
    accepted: u64,
    started: Instant,
    send_seconds: f64,
}

async fn wait_for_digest(
    client: &reqwest::Client,
    counter: &Counter,
    progress: Progress,
    options: &Options,
) -> anyhow::Result<EndToEnd> {
    let Progress {
        baseline,
        accepted,
        started,
        send_seconds,
    } = progress;
    let deadline = Instant::now() + options.wait;
    loop {
        let now_stored = counter.stored(client).await?;
        let stored = now_stored.saturating_sub(baseline);
        let done = stored >= accepted;
        if done || Instant::now() >= deadline {
            let seconds = started.elapsed().as_secs_f64();
            return Ok(EndToEnd {
                stored,
                all_stored: stored == accepted,
                seconds,
                drain_seconds: (seconds - send_seconds).max(0.0),
                events_per_sec: stored as f64 / seconds.max(1e-9),
            });
        }
        tokio::time::sleep(options.poll).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(dsn: &str) -> Options {
        Options {
            dsn: dsn.into(),
            concurrency: 4,
            rate: None,
            wait_retry_after: false,
            load: Load::Count(10),
            groups: 5,
            frames: 15,
            event_bytes: 5000,
            gzip: false,
            counter: None,
            wait: Duration::from_secs(1),
            poll: Duration::from_millis(100),
        }
    }

    #[test]
    fn only_loopback_targets() {
        assert!(
            validate(&options(
                "http://0123456789abcdef0123456789abcdef@127.0.0.1:8000/1"
            ))
            .is_ok()
        );
        assert!(
            validate(&options(
                "http://0123456789abcdef0123456789abcdef@localhost:8000/1"
            ))
            .is_ok()
        );
        let err = validate(&options(
            "http://0123456789abcdef0123456789abcdef@192.0.2.1:8000/1",
        ))
        .unwrap_err();
        assert!(err.to_string().contains("loopback"), "{err}");
    }

    #[test]
    fn bounds_are_enforced() {
        let mut o = options("http://0123456789abcdef0123456789abcdef@127.0.0.1:8000/1");
        o.load = Load::Count(0);
        assert!(validate(&o).is_err());
        o.load = Load::Duration(Duration::from_secs(7200));
        assert!(validate(&o).is_err());
        o.load = Load::Count(1);
        o.concurrency = 0;
        assert!(validate(&o).is_err());
    }
}
