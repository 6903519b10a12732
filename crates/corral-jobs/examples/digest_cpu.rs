//! The CPU cost of the digest's per-event work, without any I/O: for the
//! load generator's events (50 groups, 15 frames, ~5 KB), the steps one after
//! the other — write the job (ingest), then the worker's: read the queued
//! job, parse the event, normalize, name and group it (`prepare`) — timed per
//! step over many events.
//!
//! `cargo run --release -p corral-jobs --example digest_cpu [-- EVENTS]`
//!
//! Repeatable enough to compare changes on one machine; profile it with
//! `perf record --call-graph dwarf` or `valgrind --tool=callgrind`.

use std::time::{Duration, Instant};

use chrono::Utc;
use corral_jobs::{IngestJob, JobItem};
use corral_protocol::Event;

fn main() {
    let events: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    // what the queue holds: one job per request, the event as JSON text
    let jobs: Vec<IngestJob> = (0..50)
        .map(|group| {
            let mut event = corral_loadgen::payload::event(group, 15, 5000);
            event["event_id"] = serde_json::json!(uuid::Uuid::new_v4().simple().to_string());
            IngestJob::new(
                1,
                Utc::now(),
                vec![JobItem::Event {
                    event_id: uuid::Uuid::new_v4(),
                    payload: corral_jobs::Payload::parsed_json(event.to_string()),
                }],
            )
        })
        .collect();
    let mut encode = Duration::ZERO;
    let mut encoded: Vec<Vec<u8>> = Vec::with_capacity(jobs.len());
    for i in 0..events {
        let t0 = Instant::now();
        let bytes = serde_json::to_vec(&jobs[i % jobs.len()]).expect("serializable");
        encode += t0.elapsed();
        if encoded.len() < jobs.len() {
            encoded.push(bytes);
        } else {
            std::hint::black_box(&bytes);
        }
    }
    let jobs = encoded;
    let job_bytes = jobs.iter().map(Vec::len).sum::<usize>() / jobs.len();

    let mut decode = Duration::ZERO;
    let mut parse = Duration::ZERO;
    let mut prepare = Duration::ZERO;
    let mut data_bytes = 0usize;
    for i in 0..events {
        let t0 = Instant::now();
        let job: IngestJob = serde_json::from_slice(&jobs[i % jobs.len()]).expect("a job");
        let t1 = Instant::now();
        let JobItem::Event { event_id, payload } = &job.items[0] else {
            unreachable!("one event per job")
        };
        let mut event = Event::from_json(payload.as_bytes()).expect("an event");
        event.event_id = Some(*event_id);
        let t2 = Instant::now();
        let input = corral_core::prepare(1, "corral:2026-11", event, job.received_at);
        let t3 = Instant::now();
        data_bytes += input.data.len();
        std::hint::black_box(&input);
        decode += t1 - t0;
        parse += t2 - t1;
        prepare += t3 - t2;
    }
    let per = |d: Duration| d.as_secs_f64() * 1e6 / events as f64;
    println!(
        "{events} events, job {job_bytes} bytes, stored data {} bytes on average",
        data_bytes / events
    );
    println!("write the job     {:7.1} us/event (ingest)", per(encode));
    println!("read the job      {:7.1} us/event", per(decode));
    println!("parse the event   {:7.1} us/event", per(parse));
    println!("prepare           {:7.1} us/event", per(prepare));
    println!(
        "worker total      {:7.1} us/event",
        per(decode + parse + prepare)
    );
}
