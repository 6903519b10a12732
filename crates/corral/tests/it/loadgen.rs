//! `corral-loadgen` against a real `corral serve`: what it reports must be what
//! the server did. A per-key quota makes the server refuse part of the load,
//! so the counts of accepted, refused (with `Retry-After`) and stored events
//! are all known in advance, in both the closed-loop and the fixed-rate mode.

use std::process::Command;

use corral_testkit::{Embedded, bin};
use serde_json::Value;

/// Events the key may send per hour; the runs send more.
const QUOTA: u64 = 40;
const SENT: u64 = 100;

fn loadgen(server: &Embedded, mode: &[&str]) -> Value {
    let count = SENT.to_string();
    let mut load = vec!["--count", count.as_str()];
    load.extend_from_slice(mode);
    loadgen_with(server, &load)
}

fn loadgen_with(server: &Embedded, mode: &[&str]) -> Value {
    let token = server.token.as_deref().expect("a bootstrap token");
    let mut args = vec![
        "--dsn",
        &server.dsn,
        "--concurrency",
        "8",
        "--api-token",
        token,
        "--org",
        "corral",
        "--project",
        "default",
        "--wait",
        "60",
        "--poll-ms",
        "50",
        "--json",
    ];
    args.extend_from_slice(mode);
    let out = Command::new(bin("corral-loadgen"))
        .args(&args)
        .output()
        .expect("run corral-loadgen");
    assert!(
        out.status.success(),
        "corral-loadgen failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "corral-loadgen printed no JSON report ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// `corral serve` whose key may send [`QUOTA`] events an hour.
async fn quota_server(dir: &tempfile::TempDir) -> Embedded {
    let quota = QUOTA.to_string();
    Embedded::start(
        dir.path(),
        &[("CORRAL_QUOTAS__KEY_EVENTS_PER_HOUR", &quota)],
    )
    .await
}

fn assert_counts(report: &Value, accepted: u64) {
    let refused = SENT - accepted;
    assert_eq!(report["sent"], SENT, "{report}");
    assert_eq!(report["accepted"], accepted, "{report}");
    assert_eq!(report["refused"], refused, "{report}");
    assert_eq!(report["refused_with_retry_after"], refused, "{report}");
    assert_eq!(report["transport_errors"], 0, "{report}");
    let status = |code: &str| {
        report["statuses"]
            .get(code)
            .map_or(0, |n| n.as_u64().unwrap())
    };
    assert_eq!(status("200"), accepted, "{report}");
    assert_eq!(status("429"), refused, "{report}");
    let e2e = &report["end_to_end"];
    assert_eq!(e2e["stored"], accepted, "{report}");
    assert_eq!(e2e["all_stored"], true, "{report}");
    assert!(
        report["latency"]["p50_ms"].as_f64().unwrap() > 0.0,
        "{report}"
    );
}

#[tokio::test]
async fn the_report_counts_what_the_server_did_in_both_modes() {
    let dir = tempfile::tempdir().unwrap();
    let server = quota_server(&dir).await;

    // fixed rate: the first QUOTA events are accepted, the rest refused, each
    // request counted once however the requests overlap
    let open = loadgen(&server, &["--rate", "400"]);
    assert!(open["mode"].as_str().unwrap().contains("req/s"), "{open}");
    assert_counts(&open, QUOTA);

    // closed loop: the quota is spent, every request is refused
    let closed = loadgen(&server, &[]);
    assert!(
        closed["mode"].as_str().unwrap().contains("closed loop"),
        "{closed}"
    );
    assert_counts(&closed, 0);
}

/// With `--wait-retry-after`, a closed-loop connection refused with
/// `Retry-After` (the hour's quota: far longer than the run) sends nothing
/// more until the run ends: the 8 connections are refused once each, where
/// without the wait they would be refused as fast as the server answers.
#[tokio::test]
async fn the_closed_loop_waits_out_retry_after_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let server = quota_server(&dir).await;
    let report = loadgen_with(&server, &["--duration", "3", "--wait-retry-after"]);
    assert_eq!(report["accepted"], QUOTA, "{report}");
    assert_eq!(report["refused"], 8, "{report}");
    assert_eq!(report["refused_with_retry_after"], 8, "{report}");
    assert_eq!(report["sent"], QUOTA + 8, "{report}");
    assert_eq!(report["end_to_end"]["all_stored"], true, "{report}");
}
