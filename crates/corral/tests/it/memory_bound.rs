//! What bounds memory, as a process: a crowd of decompression bombs in
//! every coding against `corral serve` keeps its resident memory within
//! the ingest memory budget plus what the process holds anyway.

use crate::support;

use std::io::Write;
use std::time::Duration;

use corral_protocol::Dsn;
use corral_testkit::Embedded;

const MIB: u64 = 1 << 20;
/// The ingest budget the server runs with in this test.
const BUDGET: u64 = 64 * MIB;
/// What a running `corral serve` holds besides request bodies (runtime,
/// SQLite cache, allocator arenas, threads); its idle figure is ~25 MiB.
const SLACK: u64 = 48 * MIB;

fn status_kib(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("process status");
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// `size` zero bytes, compressed.
fn bombs(size: usize) -> Vec<(&'static str, Vec<u8>)> {
    let zeros = vec![0u8; size];
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gzip.write_all(&zeros).unwrap();
    let mut brotli_out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut brotli_out, 4096, 1, 24);
        w.write_all(&zeros).unwrap();
    }
    vec![
        ("gzip", gzip.finish().unwrap()),
        ("br", brotli_out),
        (
            "zstd",
            zstd::stream::encode_all(zeros.as_slice(), 1).unwrap(),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crowd_of_bombs_stays_within_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let url = format!("sqlite://{}", data.join("corral.sqlite").display());
    let server = Embedded::start(
        &data,
        &[
            ("DATABASE_URL", url.as_str()),
            ("CORRAL_INGEST__MEMORY_BUDGET_BYTES", &BUDGET.to_string()),
            (
                "CORRAL_INGEST__MEMORY_BUDGET_PER_ADDRESS_BYTES",
                &BUDGET.to_string(),
            ),
            ("CORRAL_INGEST__MAX_ENVELOPE_BYTES", &(48 * MIB).to_string()),
            (
                "CORRAL_INGEST__MAX_ATTACHMENT_BYTES",
                &(32 * MIB).to_string(),
            ),
        ],
    )
    .await;
    let pid = server.process.pid();
    let dsn: Dsn = server.dsn.parse().unwrap();
    let auth = format!(
        "Sentry sentry_key={}, sentry_version=7, sentry_client=corral-tests/1.0",
        dsn.public_key
    );
    let idle = status_kib(pid, "VmRSS:") * 1024;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    let mut peak = 0;
    for (coding, bomb) in bombs(256 * MIB as usize) {
        let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
        eprintln!("{coding}: {} bytes", bomb.len());
        for _round in 0..3 {
            let mut crowd = tokio::task::JoinSet::new();
            for _ in 0..12 {
                let request = client
                    .post(dsn.envelope_url())
                    .header("X-Sentry-Auth", &auth)
                    .header("Content-Encoding", coding)
                    .body(bomb.clone());
                crowd.spawn(async move { request.send().await.map(|r| r.status().as_u16()) });
            }
            while let Some(done) = crowd.join_next().await {
                let status = done.unwrap().expect("an answer");
                *statuses.entry(status).or_default() += 1;
            }
        }
        // each coding's peak on its own (clear_refs above resets VmHWM)
        let coding_peak = status_kib(pid, "VmHWM:") * 1024;
        eprintln!("{coding}: peak {} MiB", coding_peak / MIB);
        peak = peak.max(coding_peak);
    }
    // every bomb refused: too large once inflated, or no budget left for it
    assert!(
        statuses.keys().all(|s| *s == 413 || *s == 503),
        "{statuses:?}"
    );
    assert!(statuses.contains_key(&413), "{statuses:?}");
    eprintln!(
        "idle {} MiB, peak {} MiB, answers {statuses:?}",
        idle / MIB,
        peak / MIB
    );
    assert!(
        peak <= idle + BUDGET + SLACK,
        "peak resident memory {} MiB for an idle {} MiB and a budget of {} MiB",
        peak / MIB,
        idle / MIB,
        BUDGET / MIB
    );
    // and it still takes events
    assert!(support::send(&client, &dsn, uuid::Uuid::new_v4(), "after the bombs").await);
}
