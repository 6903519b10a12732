//! Faults the cluster shape must survive, as processes: Redis or PostgreSQL
//! going away under load (every open connection closed, new ones refused,
//! then back), and the processes starting before their dependencies. Ingest
//! answers 503 with Retry-After while it cannot queue, never 200; nothing
//! acknowledged is lost; the worker retries a digest rather than
//! dead-lettering it; every process recovers by itself.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::support::{self, Sent, assert_exactly_once, envelope, stored_pg, wait_until};
use corral_protocol::Dsn;
use corral_testkit::{
    Cluster, Link, Process, TestPg, bin, free_port, redis_url, run_cli, test_queue_name,
};
use uuid::Uuid;

fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("corral-faults-")
        .tempdir()
        .expect("a temporary directory")
}

fn address_of(url: &str) -> SocketAddr {
    let url = url::Url::parse(url).expect("a URL");
    (
        url.host_str().expect("a host"),
        url.port_or_known_default().expect("a port"),
    )
        .to_socket_addrs()
        .expect("an address")
        .next()
        .expect("an address")
}

/// What one request got.
struct Answer {
    id: Uuid,
    status: u16,
    retry_after: bool,
}

/// Sends events from `tasks` loops until `stop`, each answer recorded.
fn steady_load(
    dsn: &str,
    tasks: usize,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<Answer>> {
    let dsn: Dsn = dsn.parse().expect("a DSN");
    tokio::spawn(async move {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .expect("http client");
        let mut all = tokio::task::JoinSet::new();
        for t in 0..tasks {
            let (client, dsn, stop) = (client.clone(), dsn.clone(), stop.clone());
            all.spawn(async move {
                let mut answers = Vec::new();
                let auth = format!(
                    "Sentry sentry_key={}, sentry_version=7, sentry_client=corral-tests/1.0",
                    dsn.public_key
                );
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    let id = Uuid::new_v4();
                    let reply = client
                        .post(dsn.envelope_url())
                        .header("X-Sentry-Auth", &auth)
                        .body(envelope(id, &format!("fault load {t} {}", i % 3)))
                        .send()
                        .await;
                    let answer = match reply {
                        Ok(r) => Answer {
                            id,
                            status: r.status().as_u16(),
                            retry_after: r.headers().contains_key("retry-after"),
                        },
                        Err(_) => Answer {
                            id,
                            status: 0,
                            retry_after: false,
                        },
                    };
                    if answer.status != 200 {
                        // an SDK backs off; a short pause keeps the log small
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    answers.push(answer);
                    i += 1;
                }
                answers
            });
        }
        let mut answers = Vec::new();
        while let Some(done) = all.join_next().await {
            answers.extend(done.expect("a load task"));
        }
        answers
    })
}

/// Runs the load, cuts `link` for `outage` in its middle, and checks what
/// the clients were answered: 200 or 503 with Retry-After, refusals while
/// the link was cut, acceptance again after.
async fn load_through_an_outage(cluster: &Cluster, link: &Link, outage: Duration) -> Sent {
    let stop = Arc::new(AtomicBool::new(false));
    let load = steady_load(&cluster.dsn, 6, stop.clone());
    tokio::time::sleep(Duration::from_secs(2)).await;
    link.cut();
    tokio::time::sleep(outage / 2).await;
    // the outage is real: the web process sees its dependency gone
    let probe = reqwest::get(format!("{}/readyz", cluster.base_url))
        .await
        .expect("web answers its probe");
    assert_eq!(probe.status().as_u16(), 503, "readyz during the outage");
    tokio::time::sleep(outage / 2).await;
    link.restore().await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    stop.store(true, Ordering::SeqCst);
    let answers = load.await.expect("load");

    let wrong: Vec<_> = answers
        .iter()
        .filter(|a| !(a.status == 200 || (a.status == 503 && a.retry_after)))
        .map(|a| a.status)
        .collect();
    assert!(
        wrong.is_empty(),
        "answers other than 200 or 503 + Retry-After: {wrong:?}"
    );
    let last_ok = answers.iter().rposition(|a| a.status == 200);
    assert!(last_ok.is_some(), "nothing was accepted");
    Sent {
        ok: answers
            .iter()
            .filter(|a| a.status == 200)
            .map(|a| a.id)
            .collect(),
        failed: answers
            .iter()
            .filter(|a| a.status != 200)
            .map(|a| a.id)
            .collect(),
    }
}

async fn settle(db: &TestPg, sent: &Sent) {
    wait_until(
        Duration::from_secs(90),
        "every acknowledged event is stored",
        || async {
            let stored = stored_pg(db.url()).await;
            sent.ok.iter().all(|id| stored.rows.contains_key(id))
        },
    )
    .await;
}

async fn assert_ready(url: &str) {
    let client = reqwest::Client::new();
    wait_until(Duration::from_secs(60), url, || async {
        client
            .get(url)
            .send()
            .await
            .is_ok_and(|r| r.status().as_u16() == 200)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_going_away_under_load_loses_nothing_acknowledged() {
    let db = TestPg::new().await;
    let queue = test_queue_name();
    let dir = temp_dir();
    let redis = Link::open(address_of(&redis_url())).await;
    let cluster = Cluster::start(
        db.url(),
        &redis.url_for(&redis_url()),
        &queue,
        dir.path(),
        &[],
    )
    .await;

    let sent = load_through_an_outage(&cluster, &redis, Duration::from_secs(3)).await;
    assert!(
        !sent.failed.is_empty(),
        "with Redis gone for 3 s some events must have been refused"
    );
    settle(&db, &sent).await;
    let stored = stored_pg(db.url()).await;
    assert_exactly_once(&sent, &stored);
    assert_eq!(stored.dead_letters, 0, "nothing was dead-lettered");
    assert_ready(&format!("{}/readyz", cluster.base_url)).await;
    assert_ready(&format!("http://127.0.0.1:{}/readyz", cluster.worker_port)).await;

    drop(cluster);
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_going_away_under_load_loses_nothing_and_dead_letters_nothing() {
    let db = TestPg::new().await;
    let queue = test_queue_name();
    let dir = temp_dir();
    let postgres = Link::open(address_of(db.url())).await;
    let cluster = Cluster::start(
        &postgres.url_for(db.url()),
        &redis_url(),
        &queue,
        dir.path(),
        &[],
    )
    .await;

    let sent = load_through_an_outage(&cluster, &postgres, Duration::from_secs(4)).await;
    settle(&db, &sent).await;
    let stored = stored_pg(db.url()).await;
    assert_exactly_once(&sent, &stored);
    assert_eq!(
        stored.dead_letters, 0,
        "a digest that failed because the database was away is retried, not dead-lettered"
    );
    assert_ready(&format!("{}/readyz", cluster.base_url)).await;
    assert_ready(&format!("http://127.0.0.1:{}/readyz", cluster.worker_port)).await;

    drop(cluster);
    db.cleanup().await;
}

/// The JSON `detail` of a not-ready probe, once it is answered.
async fn not_ready_reason(url: &str) -> String {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    for _ in 0..100 {
        if let Ok(reply) = client.get(url).send().await {
            assert_eq!(
                reply.status().as_u16(),
                503,
                "{url} is ready without its dependencies"
            );
            let body: serde_json::Value = reply.json().await.expect("JSON");
            return body["detail"].as_str().unwrap_or_default().to_string();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} did not answer: the probe port must open at once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_start_before_their_dependencies_and_connect_when_they_come() {
    let db = TestPg::empty().await;
    let queue = test_queue_name();
    let dir = temp_dir();
    let postgres = Link::cut_to(address_of(db.url()));
    let redis = Link::cut_to(address_of(&redis_url()));
    let web_port = free_port();
    let base_url = format!("http://127.0.0.1:{web_port}");
    let env: Vec<(String, String)> = vec![
        ("DATABASE_URL".into(), postgres.url_for(db.url())),
        ("REDIS_URL".into(), redis.url_for(&redis_url())),
        ("CORRAL_QUEUE__NAME".into(), queue.clone()),
        ("CORRAL_QUEUE__POLL_INTERVAL_MS".into(), "20".into()),
        ("CORRAL_BASE_URL".into(), base_url.clone()),
        (
            "CORRAL_ATTACHMENTS_DIR".into(),
            dir.path().join("attachments").display().to_string(),
        ),
    ];
    let spawn = |name: &str, port: u16| {
        let mut e: Vec<(&str, String)> = env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        e.push(("CORRAL_BIND", format!("127.0.0.1:{port}")));
        Process::spawn(name, &bin(name), &[], &e, dir.path())
    };
    let (beat_port, worker_port) = (free_port(), free_port());
    let _beat = spawn("corral-beat", beat_port);
    let _web = spawn("corral-web", web_port);
    let _worker = spawn("corral-worker", worker_port);

    // every probe port is open while nothing is reachable, and says why
    for port in [beat_port, web_port, worker_port] {
        let health = reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await;
        let _ = health;
        let reason = not_ready_reason(&format!("http://127.0.0.1:{port}/readyz")).await;
        assert!(reason.contains("database"), "port {port}: {reason}");
    }
    let client = reqwest::Client::new();
    let refused = client
        .post(format!("{base_url}/api/1/envelope/"))
        .header(
            "X-Sentry-Auth",
            "Sentry sentry_key=0123456789abcdef0123456789abcdef, sentry_version=7",
        )
        .body(envelope(Uuid::new_v4(), "too early"))
        .send()
        .await
        .expect("web answers while starting");
    assert_eq!(refused.status().as_u16(), 503);
    assert!(refused.headers().contains_key("retry-after"));

    // the database comes: beat migrates; web and worker now wait for Redis
    postgres.restore().await;
    assert_ready(&format!("http://127.0.0.1:{beat_port}/readyz")).await;
    client
        .get(format!("http://127.0.0.1:{worker_port}/healthz"))
        .send()
        .await
        .expect("the worker is alive");
    let mut reason = String::new();
    for _ in 0..100 {
        reason = not_ready_reason(&format!("{base_url}/readyz")).await;
        if reason.contains("Redis") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(reason.contains("Redis"), "{reason}");

    // Redis comes: everything is ready and an event goes all the way
    redis.restore().await;
    assert_ready(&format!("{base_url}/readyz")).await;
    assert_ready(&format!("http://127.0.0.1:{worker_port}/readyz")).await;
    let cli_env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    run_cli(
        &[
            "user",
            "create",
            "--email",
            "o@acme.test",
            "--password",
            "a long password",
        ],
        &cli_env,
    );
    run_cli(
        &["org", "create", "acme", "--owner", "o@acme.test"],
        &cli_env,
    );
    let created = run_cli(
        &["--json", "project", "create", "--org", "acme", "backend"],
        &cli_env,
    );
    let created: serde_json::Value = serde_json::from_str(created.trim()).expect("project JSON");
    let dsn: Dsn = created["dsn"].as_str().expect("a dsn").parse().unwrap();
    let id = Uuid::new_v4();
    let http = reqwest::Client::new();
    assert!(support::send(&http, &dsn, id, "after the dependencies came").await);
    settle(
        &db,
        &Sent {
            ok: vec![id],
            failed: Vec::new(),
        },
    )
    .await;
    db.cleanup().await;
}
