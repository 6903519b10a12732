//! The web UI's latency benchmark: the issue list and issue pages of a
//! PostgreSQL database holding 10,000 issues and 1,000,000 events, served by
//! the real `corral-web` binary (release build), measured from a signed-in
//! client.
//!
//! ```sh
//! bench/ui.sh                 # builds, fills, measures
//! bench/ui.sh --requests 200  # arguments go to this program
//! ```
//!
//! The data is made by SQL (`INSERT … SELECT generate_series`) into the real
//! schema, migrated by the real store: events in their day partitions with
//! their `event_ids`, and the aggregates the digest keeps (issue counts and
//! first/last seen, tag values, hourly and daily counts, releases) computed
//! from those events, so every count agrees with the events. One issue is
//! big (about a fifth of the events, 20,000 distinct `user` tag values); the
//! others follow a long tail. The latest event of every issue is a full
//! Python exception event (the repository's fixture); older ones are
//! smaller.
//!
//! Requests are sequential, on one kept-alive connection, after a warm-up;
//! the table gives p50/p95/p99 per page. This is a benchmark, not a test: it
//! fails only when a page answers other than 200 or lacks what it must show.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use clap::Parser;
use corral_core::model::{RateLimit, Role};
use corral_core::{NewProject, NewUser, Store};
use corral_store::PgStore;
use hdrhistogram::Histogram;
use sqlx::{Executor, PgPool};

const EMAIL: &str = "bench@corral.test";
const PASSWORD: &str = "benchmark password";
const ORG: &str = "bench";
/// The three projects, with the share of issues each gets (tenths).
const PROJECTS: [(&str, &str); 3] = [
    ("api", "python"),
    ("web", "javascript"),
    ("worker", "python"),
];
/// A full Python exception event, as the SDK sends it.
/// Beat folds hourly counts older than this into daily ones (corral-beat's
/// `ROLLUP_AFTER`).
const ROLLUP_AFTER: TimeDelta = TimeDelta::days(7);
const FULL_EVENT: &str =
    include_str!("../../../tests/fixtures/sentry-events/incoming/python_zero_division.json");

#[derive(Parser)]
#[command(about = "Fills PostgreSQL with issues and events and measures the web UI's pages")]
struct Args {
    /// A PostgreSQL URL of a database to connect to first; the benchmark
    /// (re)creates its own database, `--database`, on that server.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://root@127.0.0.1:5432/postgres"
    )]
    database_url: String,
    /// The benchmark's database (dropped and made anew unless `--reuse`).
    #[arg(long, default_value = "corral_ui_bench")]
    database: String,
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    #[arg(long, default_value_t = 10_000)]
    issues: i64,
    #[arg(long, default_value_t = 1_000_000)]
    events: i64,
    /// Measured requests per page.
    #[arg(long, default_value_t = 500)]
    requests: u32,
    /// Unmeasured requests per page first.
    #[arg(long, default_value_t = 25)]
    warmup: u32,
    /// Keep the database of an earlier run when it is there.
    #[arg(long)]
    reuse: bool,
    /// The `corral-web` binary (default: next to this program's directory).
    #[arg(long)]
    server: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    ensure!(args.issues >= 10, "--issues must be at least 10");
    ensure!(
        args.events >= 2 * args.issues,
        "--events must be at least twice --issues"
    );
    let url = database_url(&args.database_url, &args.database)?;
    let fresh = !(args.reuse && database_exists(&args.database_url, &args.database).await?);
    if fresh {
        recreate_database(&args.database_url, &args.database).await?;
    }
    let store = PgStore::connect(&url, 4)
        .await
        .with_context(|| format!("connecting to {}", args.database))?;
    store.migrate().await.context("migrating")?;
    if fresh {
        let started = Instant::now();
        fill(&store, args.issues, args.events).await?;
        println!("filled in {:.1} s", started.elapsed().as_secs_f64());
    }
    let facts = check_consistency(store.pool()).await?;
    println!("{facts}");

    let server = Server::start(&args, &url).await?;
    let client = sign_in(&server.base_url).await?;
    let pages = pages(store.pool()).await?;
    let mut rows = Vec::new();
    for page in &pages {
        let result = measure(&client, &server.base_url, page, args.warmup, args.requests).await;
        match result {
            Ok(h) => rows.push((page.name.clone(), h)),
            Err(e) => {
                eprintln!("{}", server.log_tail());
                return Err(e.context(format!("measuring {}", page.name)));
            }
        }
    }
    drop(server);

    println!();
    println!(
        "{} issues, {} events; {} requests per page after {} to warm up\n",
        args.issues, args.events, args.requests, args.warmup
    );
    println!("| page | p50 ms | p95 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|---:|");
    let ms = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    let mut slow = Vec::new();
    for (name, h) in &rows {
        println!(
            "| {name} | {:.1} | {:.1} | {:.1} | {:.1} |",
            ms(h, 0.5),
            ms(h, 0.95),
            ms(h, 0.99),
            h.max() as f64 / 1000.0
        );
        if ms(h, 0.95) >= 50.0 {
            slow.push(name.as_str());
        }
    }
    println!();
    if slow.is_empty() {
        println!("every page: p95 under 50 ms");
    } else {
        println!("p95 of 50 ms or more: {}", slow.join(", "));
    }
    Ok(())
}

/// `url` with its database name replaced (`postgres://u@host:5432/x?o=1`).
fn database_url(url: &str, database: &str) -> Result<String> {
    check_name(database)?;
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let Some((scheme, rest)) = base.split_once("://") else {
        bail!("--database-url is not a URL: {url:?}");
    };
    let server = rest.split('/').next().unwrap_or(rest);
    let mut out = format!("{scheme}://{server}/{database}");
    if !query.is_empty() {
        out.push('?');
        out.push_str(query);
    }
    Ok(out)
}

fn check_name(database: &str) -> Result<()> {
    ensure!(
        !database.is_empty()
            && database
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
        "--database must be lowercase letters, digits and _"
    );
    Ok(())
}

async fn database_exists(admin_url: &str, database: &str) -> Result<bool> {
    let admin = PgPool::connect(admin_url).await.context("connecting")?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(database)
            .fetch_one(&admin)
            .await?;
    Ok(exists)
}

async fn recreate_database(admin_url: &str, database: &str) -> Result<()> {
    check_name(database)?;
    let admin = PgPool::connect(admin_url).await.context("connecting")?;
    // the name was checked above: letters, digits and _ only
    admin
        .execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {database} WITH (FORCE)"
        )))
        .await?;
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {database}")))
        .await?;
    Ok(())
}

/// The organization, projects, user and keys through the store; then the
/// issues and events by SQL.
async fn fill(store: &PgStore, issues: i64, events: i64) -> Result<()> {
    let hash = corral_web::accounts::hash_password(PASSWORD).map_err(anyhow::Error::msg)?;
    let user = store
        .create_user(NewUser {
            email: EMAIL.into(),
            name: "Bench".into(),
            password_hash: Some(hash),
            is_superuser: false,
        })
        .await?;
    let org = store.create_organization(ORG, "Bench").await?;
    store.set_membership(org.id, user.id, Role::Owner).await?;
    let team = store.create_team(org.id, "backend", "Backend").await?;
    store.add_team_member(team.id, user.id).await?;
    let mut project_ids = Vec::new();
    for (slug, platform) in PROJECTS {
        let p = store
            .create_project(NewProject {
                org_id: org.id,
                slug: slug.into(),
                name: slug.into(),
                platform: Some(platform.into()),
            })
            .await?;
        store
            .create_project_key(p.id, "Default", RateLimit::default())
            .await?;
        project_ids.push(p.id);
    }
    store.add_project_team(project_ids[0], team.id).await?;
    store.add_project_team(project_ids[2], team.id).await?;

    let now = Utc::now();
    // the day partitions the events fall in, made as beat makes them
    store
        .ensure_partitions(now - TimeDelta::days(15), 16)
        .await?;

    let plan = Plan::new(issues, events, now);
    let mut conn = store.pool().acquire().await?;
    conn.execute("SET TIME ZONE 'UTC'").await?;
    conn.execute("SET work_mem = '256MB'").await?;
    conn.execute("SET maintenance_work_mem = '512MB'").await?;

    let step = Instant::now();
    conn.execute(
        "CREATE TEMP TABLE plan (i bigint PRIMARY KEY, project_id bigint, slug text, \
         n bigint, first_seen timestamptz, last_seen timestamptz, level text, \
         type text, value text, culprit text)",
    )
    .await?;
    let slugs: Vec<&str> = PROJECTS.iter().map(|(s, _)| *s).collect();
    sqlx::query(
        "INSERT INTO plan \
         SELECT t.i, ($2::bigint[])[t.p + 1], ($3::text[])[t.p + 1], t.n, \
                date_trunc('milliseconds', t.last_seen - t.span * interval '1 millisecond'), \
                date_trunc('milliseconds', t.last_seen), \
                (ARRAY['error','error','error','warning','error','fatal','error','info','warning','error'])[1 + t.i % 10], \
                (ARRAY['KeyError','TimeoutError','ZeroDivisionError','ValueError','ConnectionResetError', \
                       'PermissionError','TypeError','AttributeError','IndexError','RuntimeError','OSError', \
                       'UnicodeDecodeError'])[1 + t.i % 12], \
                'order ' || t.i || ' could not be processed (step ' || (t.i % 17) || ')', \
                'app.module_' || (t.i % 50) || ' in handle_' || (t.i % 7) \
         FROM unnest($1::bigint[], $4::int[], $5::timestamptz[], $6::bigint[]) \
              WITH ORDINALITY AS t(n, p, last_seen, span, i)",
    )
    .bind(&plan.counts)
    .bind(&project_ids)
    .bind(&slugs)
    .bind(&plan.project_index)
    .bind(&plan.last_seen)
    .bind(&plan.spans)
    .execute(&mut *conn)
    .await?;

    conn.execute(
        "INSERT INTO issues (id, project_id, short_id, status, substatus, level, event_type, title, \
           culprit, metadata, first_seen, last_seen, times_seen) \
         SELECT p.i, p.project_id, \
                row_number() OVER (PARTITION BY p.project_id ORDER BY p.i), \
                'unresolved', 'ongoing', p.level, 'error', p.type || ': ' || p.value, p.culprit, \
                jsonb_build_object('type', p.type, 'value', p.value), \
                p.first_seen, p.last_seen, p.n \
         FROM plan p",
    )
    .await?;
    conn.execute(
        "SELECT setval(pg_get_serial_sequence('issues', 'id'), (SELECT max(id) FROM issues))",
    )
    .await?;
    conn.execute(
        "UPDATE projects pr SET next_short_id = c.n + 1 \
         FROM (SELECT project_id, count(*) AS n FROM issues GROUP BY project_id) c \
         WHERE c.project_id = pr.id",
    )
    .await?;
    conn.execute(
        "INSERT INTO issue_hashes (project_id, hash, config, issue_id) \
         SELECT project_id, md5(id::text), 'corral:2026-11', id FROM issues",
    )
    .await?;
    println!("issues: {:.1} s", step.elapsed().as_secs_f64());

    // events: the k-th of an issue's n events spread evenly between its
    // first and last seen; the last one is a full SDK event
    let step = Instant::now();
    sqlx::query(
        "INSERT INTO events (project_id, event_id, issue_id, event_type, level, title, culprit, \
           platform, release, environment, \"timestamp\", received_at, tags, data) \
         SELECT p.project_id, e.id, p.i, 'error', p.level, p.type || ': ' || p.value, p.culprit, \
                'python', e.rel, e.env, e.ts, e.ts, \
                jsonb_build_array(jsonb_build_array('environment', e.env), \
                                  jsonb_build_array('release', e.rel), \
                                  jsonb_build_array('browser', e.browser), \
                                  jsonb_build_array('server_name', e.host), \
                                  jsonb_build_array('user', e.usr)), \
                CASE WHEN k = p.n THEN \
                  jsonb_set(jsonb_set($1::jsonb || jsonb_build_object( \
                      'event_id', replace(e.id::text, '-', ''), 'timestamp', e.ts, 'level', p.level, \
                      'release', e.rel, 'environment', e.env, 'server_name', e.host, \
                      'tags', jsonb_build_array(jsonb_build_array('browser', e.browser), \
                                                jsonb_build_array('user', e.usr))), \
                    '{exception,values,0,type}', to_jsonb(p.type)), \
                    '{exception,values,0,value}', to_jsonb(p.value))::text \
                ELSE format('{\"event_id\":\"%s\",\"timestamp\":\"%s\",\"level\":\"%s\",\"platform\":\"python\",' || \
                  '\"release\":\"%s\",\"environment\":\"%s\",\"server_name\":\"%s\",' || \
                  '\"tags\":[[\"browser\",\"%s\"],[\"user\",\"%s\"]],' || \
                  '\"exception\":{\"values\":[{\"type\":\"%s\",\"value\":\"%s\",\"module\":\"app.module_%s\",' || \
                  '\"mechanism\":{\"type\":\"generic\",\"handled\":true},\"stacktrace\":{\"frames\":[' || \
                  '{\"filename\":\"app/server.py\",\"function\":\"dispatch\",\"module\":\"app.server\",\"lineno\":88,\"in_app\":true},' || \
                  '{\"filename\":\"app/module_%s.py\",\"function\":\"handle_%s\",\"module\":\"app.module_%s\",\"lineno\":%s,\"in_app\":true,' || \
                  '\"context_line\":\"    return process(order)\",\"vars\":{\"order\":\"%s\"}}]}}]},' || \
                  '\"sdk\":{\"name\":\"sentry.python\",\"version\":\"2.75.0\"}}', \
                  replace(e.id::text, '-', ''), to_char(e.ts, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), p.level, \
                  e.rel, e.env, e.host, e.browser, e.usr, p.type, p.value, p.i % 50, p.i % 50, p.i % 7, \
                  p.i % 50, 10 + p.i % 90, p.i) \
                END \
         FROM plan p, generate_series(1, p.n) k, \
              LATERAL (SELECT gen_random_uuid() AS id, \
                 date_trunc('milliseconds', CASE WHEN p.n = 1 THEN p.last_seen \
                   ELSE p.first_seen + (p.last_seen - p.first_seen) * ((k - 1)::float8 / (p.n - 1)) END) AS ts, \
                 p.slug || '@2.' || ((k - 1) * 20 / p.n) AS rel, \
                 CASE WHEN k % 5 = 0 THEN 'staging' ELSE 'production' END AS env, \
                 (ARRAY['Chrome','Firefox','Safari','Edge','Opera','Samsung Internet','Chrome Mobile', \
                        'Mobile Safari'])[1 + (k * 7 + p.i) % 8] AS browser, \
                 'web-' || ((k * 13 + p.i) % 40) AS host, \
                 CASE WHEN p.i = 1 THEN 'user-' || (k % 20000) ELSE 'user-' || ((k + p.i) % 50) END AS usr \
              ) e",
    )
    .bind(FULL_EVENT)
    .execute(&mut *conn)
    .await?;
    conn.execute(
        "INSERT INTO event_ids (project_id, event_id, received_at) \
         SELECT project_id, event_id, received_at FROM events",
    )
    .await?;
    println!("events: {:.1} s", step.elapsed().as_secs_f64());

    // what the digest keeps per issue, from the events themselves
    let step = Instant::now();
    conn.execute(
        "UPDATE issues i SET times_seen = a.n, first_seen = a.f, last_seen = a.l \
         FROM (SELECT issue_id, count(*) AS n, min(\"timestamp\") AS f, max(\"timestamp\") AS l \
               FROM events GROUP BY issue_id) a \
         WHERE a.issue_id = i.id",
    )
    .await?;
    conn.execute(
        "UPDATE issues i SET first_release = f.release, last_release = l.release \
         FROM (SELECT DISTINCT ON (issue_id) issue_id, release FROM events \
               ORDER BY issue_id, received_at) f, \
              (SELECT DISTINCT ON (issue_id) issue_id, release FROM events \
               ORDER BY issue_id, received_at DESC) l \
         WHERE f.issue_id = i.id AND l.issue_id = i.id",
    )
    .await?;
    conn.execute(
        "INSERT INTO issue_tag_values (issue_id, key, value, times_seen, first_seen, last_seen) \
         SELECT e.issue_id, t ->> 0, t ->> 1, count(*), min(e.\"timestamp\"), max(e.\"timestamp\") \
         FROM events e, jsonb_array_elements(e.tags) t GROUP BY 1, 2, 3",
    )
    .await?;
    // the last week by hour, older days by day (beat's rollup)
    let cutoff = (now - ROLLUP_AFTER)
        .duration_trunc(TimeDelta::days(1))
        .unwrap_or(now - ROLLUP_AFTER);
    sqlx::query(
        "INSERT INTO issue_hourly (issue_id, hour, count) \
         SELECT issue_id, date_trunc('hour', \"timestamp\"), count(*) FROM events \
         WHERE \"timestamp\" >= $1 GROUP BY 1, 2",
    )
    .bind(cutoff)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO issue_daily (issue_id, day, count) \
         SELECT issue_id, date_trunc('day', \"timestamp\"), count(*) FROM events \
         WHERE \"timestamp\" < $1 GROUP BY 1, 2",
    )
    .bind(cutoff)
    .execute(&mut *conn)
    .await?;
    conn.execute(
        "INSERT INTO releases (project_id, version, first_seen) \
         SELECT project_id, release, min(received_at) FROM events GROUP BY 1, 2",
    )
    .await?;
    println!("aggregates: {:.1} s", step.elapsed().as_secs_f64());

    // a tenth resolved, a tenth ignored, some assigned, comments on the big one
    sqlx::query(
        "UPDATE issues SET status = 'resolved', substatus = 'ongoing', resolved_at = last_seen \
         WHERE id % 10 = 0",
    )
    .execute(&mut *conn)
    .await?;
    conn.execute(
        "UPDATE issues SET status = 'ignored', substatus = 'archived_forever' WHERE id % 10 = 5",
    )
    .await?;
    sqlx::query("UPDATE issues SET assignee_user_id = $1 WHERE id % 13 = 0")
        .bind(user.id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO comments (issue_id, user_id, user_name, text, created_at) \
         SELECT 1, $1, 'Bench', 'looked at this, round ' || g, now() - g * interval '1 hour' \
         FROM generate_series(1, 20) g",
    )
    .bind(user.id)
    .execute(&mut *conn)
    .await?;
    conn.execute("UPDATE issues SET num_comments = 20 WHERE id = 1")
        .await?;

    let step = Instant::now();
    drop(conn);
    store.pool().execute("VACUUM ANALYZE").await?;
    println!("vacuum analyze: {:.1} s", step.elapsed().as_secs_f64());
    Ok(())
}

/// Per issue: how many events, which project, when last seen and over how
/// long. Issue 1 is the big one; the rest follow `1 + c / i`.
struct Plan {
    counts: Vec<i64>,
    project_index: Vec<i32>,
    last_seen: Vec<DateTime<Utc>>,
    /// Milliseconds from first to last seen.
    spans: Vec<i64>,
}

impl Plan {
    fn new(issues: i64, events: i64, now: DateTime<Utc>) -> Plan {
        let tail_events = events * 4 / 5;
        let harmonic: f64 = (2..=issues).map(|i| 1.0 / i as f64).sum();
        let c = (tail_events - (issues - 1)) as f64 / harmonic;
        let mut counts: Vec<i64> = (1..=issues)
            .map(|i| if i == 1 { 0 } else { 1 + (c / i as f64) as i64 })
            .collect();
        counts[0] = events - counts.iter().sum::<i64>();
        let thirteen_days = TimeDelta::days(13);
        let mut project_index = Vec::new();
        let mut last_seen = Vec::new();
        let mut spans = Vec::new();
        for (at, n) in counts.iter().enumerate() {
            let i = at as i64 + 1;
            project_index.push(match i % 10 {
                0..=4 => 0,
                5..=7 => 1,
                _ => 2,
            });
            let ago = if i == 1 {
                TimeDelta::seconds(30)
            } else {
                TimeDelta::seconds((i * 7919) % (3 * 86_400))
            };
            last_seen.push(now - ago);
            let span = if i == 1 {
                thirteen_days
            } else {
                (TimeDelta::minutes(6) * i32::try_from(*n).unwrap_or(i32::MAX)).min(thirteen_days)
            };
            spans.push(span.num_milliseconds());
        }
        Plan {
            counts,
            project_index,
            last_seen,
            spans,
        }
    }
}

/// The counts agree with the events; returns a summary to print.
async fn check_consistency(pool: &PgPool) -> Result<String> {
    let (events, issues, times_seen): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM issues), \
                (SELECT coalesce(sum(times_seen), 0)::bigint FROM issues)",
    )
    .fetch_one(pool)
    .await?;
    ensure!(
        events == times_seen,
        "{events} events but the issues count {times_seen}"
    );
    let (ids,): (i64,) = sqlx::query_as("SELECT count(*) FROM event_ids")
        .fetch_one(pool)
        .await?;
    ensure!(ids == events, "{ids} event ids for {events} events");
    let off: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM issues i \
         WHERE i.times_seen <> (SELECT coalesce(sum(count), 0) FROM issue_hourly h WHERE h.issue_id = i.id) \
                            + (SELECT coalesce(sum(count), 0) FROM issue_daily d WHERE d.issue_id = i.id)",
    )
    .fetch_one(pool)
    .await?;
    ensure!(
        off == 0,
        "{off} issues whose hourly and daily counts do not add up"
    );
    let off: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM issues i \
         WHERE i.times_seen <> (SELECT coalesce(sum(times_seen), 0) FROM issue_tag_values t \
                                WHERE t.issue_id = i.id AND t.key = 'environment')",
    )
    .fetch_one(pool)
    .await?;
    ensure!(
        off == 0,
        "{off} issues whose environment tag counts do not add up"
    );
    let (big, big_values): (i64, i64) = sqlx::query_as(
        "SELECT i.times_seen, (SELECT count(*) FROM issue_tag_values t WHERE t.issue_id = i.id) \
         FROM issues i WHERE i.id = 1",
    )
    .fetch_one(pool)
    .await?;
    let size: String =
        sqlx::query_scalar("SELECT pg_size_pretty(pg_database_size(current_database()))")
            .fetch_one(pool)
            .await?;
    Ok(format!(
        "{issues} issues, {events} events (counts agree); issue 1: {big} events, {big_values} tag values; database {size}"
    ))
}

/// `corral-web` on a free port, stopped when dropped.
struct Server {
    child: Child,
    base_url: String,
    log: PathBuf,
}

impl Server {
    async fn start(args: &Args, database_url: &str) -> Result<Server> {
        let program = match &args.server {
            Some(p) => p.clone(),
            None => {
                // target/release/examples/ui_bench -> target/release/corral-web
                let exe = std::env::current_exe()?;
                let dir = exe
                    .parent()
                    .and_then(|d| d.parent())
                    .context("the program's directory")?;
                dir.join("corral-web")
            }
        };
        ensure!(
            program.is_file(),
            "{} is missing: cargo build --release -p corral-web --bin corral-web",
            program.display()
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let log = std::env::temp_dir().join(format!("corral-ui-bench-{port}.log"));
        let base_url = format!("http://127.0.0.1:{port}");
        let child = Command::new(&program)
            .env("DATABASE_URL", database_url)
            .env("REDIS_URL", &args.redis_url)
            .env("CORRAL_BIND", format!("127.0.0.1:{port}"))
            .env("CORRAL_BASE_URL", &base_url)
            .env("CORRAL_QUEUE__NAME", format!("corral-ui-bench-{port}"))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log)?)
            .stderr(std::fs::File::create(log.with_extension("err"))?)
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        let mut server = Server {
            child,
            base_url,
            log,
        };
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(2))
            .build()?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = server.child.try_wait()? {
                bail!("corral-web exited ({status})\n{}", server.log_tail());
            }
            let ready = client
                .get(format!("{}/readyz", server.base_url))
                .send()
                .await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return Ok(server);
            }
            if Instant::now() > deadline {
                bail!("corral-web is not ready after 60 s\n{}", server.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log.with_extension("err")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client signed in through the login form.
async fn sign_in(base_url: &str) -> Result<reqwest::Client> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()?;
    let reply = client
        .post(format!("{base_url}/login"))
        .form(&[("email", EMAIL), ("password", PASSWORD), ("next", "/")])
        .send()
        .await?;
    ensure!(
        reply.status() == reqwest::StatusCode::SEE_OTHER,
        "signing in answered {}",
        reply.status()
    );
    Ok(client)
}

/// One page to measure: its paths (requests go round them) and a text each
/// answer must contain.
struct Page {
    name: String,
    paths: Vec<(String, String)>,
}

async fn pages(pool: &PgPool) -> Result<Vec<Page>> {
    let list = format!("/organizations/{ORG}/issues/");
    let one = |name: &str, query: &str, must: &str| Page {
        name: name.to_string(),
        paths: vec![(format!("{list}{query}"), must.to_string())],
    };
    let title = |id: i64| async move {
        sqlx::query_scalar::<_, String>("SELECT title FROM issues WHERE id = $1")
            .bind(id)
            .fetch_one(pool)
            .await
    };
    // a middle-sized issue and a spread of small ones
    let medium: i64 = sqlx::query_scalar(
        "SELECT id FROM issues WHERE times_seen BETWEEN 500 AND 5000 ORDER BY id LIMIT 1",
    )
    .fetch_one(pool)
    .await?;
    let small: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM issues WHERE times_seen < 20 ORDER BY id DESC LIMIT 200",
    )
    .fetch_all(pool)
    .await?;
    ensure!(!small.is_empty(), "no small issues");
    let issue_page = async |name: &str, ids: &[i64]| -> Result<Page> {
        let mut paths = Vec::new();
        for id in ids {
            paths.push((format!("{list}{id}/"), escape(&title(*id).await?)));
        }
        Ok(Page {
            name: name.to_string(),
            paths,
        })
    };
    let big_event: String = sqlx::query_scalar(
        "SELECT replace(event_id::text, '-', '') FROM events WHERE issue_id = 1 \
         ORDER BY received_at LIMIT 1 OFFSET 50000",
    )
    .fetch_one(pool)
    .await?;
    let big = issue_page("issue page: the big issue (1)", &[1]).await?;
    let mut big_older = issue_page("issue page: an older event of the big issue", &[1]).await?;
    big_older.paths[0].0 = format!("{list}1/events/{big_event}/");
    Ok(vec![
        one(
            "issue list: default (unresolved, last seen)",
            "",
            "issue-row",
        ),
        one("issue list: sort=freq", "?sort=freq", "issue-row"),
        one("issue list: sort=new", "?sort=new", "issue-row"),
        one("issue list: all statuses", "?status=all", "issue-row"),
        one(
            "issue list: search text",
            "?query=TimeoutError",
            "TimeoutError",
        ),
        one(
            "issue list: search tag + level",
            "?query=browser%3ASafari%20level%3Aerror",
            "issue-row",
        ),
        one(
            "issue list: environment=staging",
            "?environment=staging",
            "issue-row",
        ),
        one("issue list: project=api", "?project=api", "issue-row"),
        one(
            "issue list: project=worker, sort=freq",
            "?project=worker&sort=freq",
            "issue-row",
        ),
        big,
        big_older,
        issue_page(&format!("issue page: a medium issue ({medium})"), &[medium]).await?,
        issue_page(
            &format!("issue page: {} small issues in turn", small.len()),
            &small,
        )
        .await?,
    ])
}

/// Titles appear HTML-escaped on the page.
fn escape(text: &str) -> String {
    text.replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;")
        .replace('"', "&#34;")
        .replace('\'', "&#39;")
}

async fn measure(
    client: &reqwest::Client,
    base_url: &str,
    page: &Page,
    warmup: u32,
    requests: u32,
) -> Result<Histogram<u64>> {
    let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for n in 0..warmup + requests {
        let (path, must) = &page.paths[n as usize % page.paths.len()];
        let started = Instant::now();
        let reply = client.get(format!("{base_url}{path}")).send().await?;
        let status = reply.status();
        let body = reply.text().await?;
        let took = started.elapsed();
        ensure!(status.is_success(), "GET {path}: {status}");
        if n < warmup {
            // the content is checked on the warm-up, outside the timing
            ensure!(
                body.contains(must.as_str()) || body.contains(&must.replace("&#39;", "&apos;")),
                "GET {path} lacks {must:?}"
            );
            continue;
        }
        h.record(u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1))?;
    }
    Ok(h)
}
