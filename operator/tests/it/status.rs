//! The status rules: conditions from the Deployments' rollout state.

use corral_operator::TrackerInstanceStatus;
use corral_operator::status::{
    self, ATTACHMENTS_PERSISTENT, DEGRADED, MIGRATED, Observed, PROGRESSING, READY, Rollout,
    applied_status, degraded_status, set_condition,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use serde_json::json;

use crate::fixtures::{instance, instance_with, spec_with};

fn time(text: &str) -> Time {
    Time(text.parse::<Timestamp>().unwrap())
}

fn rollout(name: &str, desired: i32, ready: i32) -> Rollout {
    Rollout {
        name: name.into(),
        desired,
        replicas: desired,
        updated: desired,
        ready,
        available: ready,
        observed: true,
        stalled: None,
    }
}

fn all_ready() -> Observed {
    Observed {
        web: rollout("prod-web", 2, 2),
        worker: rollout("prod-worker", 2, 2),
        beat: rollout("prod-beat", 1, 1),
    }
}

fn get<'a>(status: &'a TrackerInstanceStatus, type_: &str) -> &'a Condition {
    status::condition(status, type_).unwrap_or_else(|| panic!("no {type_}"))
}

#[test]
fn a_rolled_out_instance_is_ready_and_reports_its_version() {
    let ti = instance();
    let now = time("2026-03-01T10:00:00Z");
    let status = applied_status(
        &ti,
        &TrackerInstanceStatus::default(),
        &all_ready(),
        "h1",
        &now,
    );
    assert_eq!(status.observed_generation, Some(1));
    assert_eq!(get(&status, READY).status, "True");
    assert_eq!(get(&status, READY).reason, "AllReplicasReady");
    assert_eq!(get(&status, MIGRATED).status, "True");
    assert_eq!(get(&status, PROGRESSING).status, "False");
    assert_eq!(get(&status, PROGRESSING).reason, "RolloutComplete");
    assert_eq!(get(&status, DEGRADED).status, "False");
    assert_eq!(status.version.as_deref(), Some("0.1.0"));
    assert_eq!(status.web_ready_replicas, 2);
    assert_eq!(status.worker_ready_replicas, 2);
    assert!(status.beat_ready);
    assert_eq!(status.worker_replicas, 2);
    assert_eq!(status.config_hash.as_deref(), Some("h1"));
    assert_eq!(status.conditions.len(), 5);
}

#[test]
fn a_rollout_in_progress_keeps_the_previous_version() {
    let ti = instance();
    let mut observed = all_ready();
    observed.worker.updated = 1;
    observed.beat.ready = 0;
    observed.beat.available = 0;
    let previous = TrackerInstanceStatus {
        version: Some("0.0.9".into()),
        ..TrackerInstanceStatus::default()
    };
    let status = applied_status(
        &ti,
        &previous,
        &observed,
        "h",
        &time("2026-03-01T10:00:00Z"),
    );
    assert_eq!(status.version.as_deref(), Some("0.0.9"));
    let progressing = get(&status, PROGRESSING);
    assert_eq!(progressing.status, "True");
    assert!(
        progressing
            .message
            .contains("prod-worker: 1 of 2 replicas updated"),
        "{}",
        progressing.message
    );
    assert_eq!(get(&status, MIGRATED).status, "False");
    assert_eq!(get(&status, MIGRATED).reason, "MigrationPending");
    assert_eq!(get(&status, READY).status, "False");
    assert!(get(&status, READY).message.contains("prod-beat 0/1 ready"));
}

#[test]
fn transition_times_change_only_when_the_status_flips() {
    let ti = instance();
    let first = applied_status(
        &ti,
        &TrackerInstanceStatus::default(),
        &all_ready(),
        "h",
        &time("2026-03-01T10:00:00Z"),
    );
    // still ready an hour later: the time stays
    let second = applied_status(
        &ti,
        &first,
        &all_ready(),
        "h",
        &time("2026-03-01T11:00:00Z"),
    );
    assert_eq!(
        get(&second, READY).last_transition_time,
        time("2026-03-01T10:00:00Z")
    );
    // a pod goes unready: Ready flips and gets the new time
    let mut observed = all_ready();
    observed.web.ready = 1;
    let third = applied_status(&ti, &second, &observed, "h", &time("2026-03-01T12:00:00Z"));
    assert_eq!(get(&third, READY).status, "False");
    assert_eq!(
        get(&third, READY).last_transition_time,
        time("2026-03-01T12:00:00Z")
    );
    assert_eq!(
        get(&third, MIGRATED).last_transition_time,
        time("2026-03-01T10:00:00Z")
    );
}

#[test]
fn set_condition_replaces_by_type() {
    let mut conditions = Vec::new();
    let condition = |status: &str, at: &str| Condition {
        type_: READY.into(),
        status: status.into(),
        reason: "R".into(),
        message: "m".into(),
        observed_generation: Some(1),
        last_transition_time: time(at),
    };
    set_condition(&mut conditions, condition("True", "2026-01-01T00:00:00Z"));
    set_condition(&mut conditions, condition("True", "2026-01-02T00:00:00Z"));
    assert_eq!(conditions.len(), 1);
    assert_eq!(
        conditions[0].last_transition_time,
        time("2026-01-01T00:00:00Z")
    );
    set_condition(&mut conditions, condition("False", "2026-01-03T00:00:00Z"));
    assert_eq!(conditions.len(), 1);
    assert_eq!(
        conditions[0].last_transition_time,
        time("2026-01-03T00:00:00Z")
    );
}

#[test]
fn a_stalled_rollout_is_degraded() {
    let ti = instance();
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "prod-web", "generation": 4},
        "spec": {"replicas": 2, "selector": {}, "template": {}},
        "status": {
            "observedGeneration": 4, "replicas": 3, "updatedReplicas": 1, "readyReplicas": 2,
            "conditions": [{
                "type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                "message": "ReplicaSet \"prod-web-7d\" has timed out progressing.",
            }],
        },
    }))
    .unwrap();
    let web = Rollout::of(&deployment);
    assert_eq!(web.desired, 2);
    assert!(web.stalled.is_some());
    let observed = Observed { web, ..all_ready() };
    let status = applied_status(
        &ti,
        &TrackerInstanceStatus::default(),
        &observed,
        "h",
        &time("2026-03-01T10:00:00Z"),
    );
    assert_eq!(get(&status, DEGRADED).status, "True");
    assert_eq!(get(&status, DEGRADED).reason, "RolloutStalled");
    assert!(
        get(&status, DEGRADED)
            .message
            .contains("timed out progressing")
    );
    assert_eq!(get(&status, PROGRESSING).reason, "ProgressDeadlineExceeded");
}

#[test]
fn an_unobserved_generation_is_still_progressing() {
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "prod-worker", "generation": 5},
        "spec": {"replicas": 2, "selector": {}, "template": {}},
        "status": {"observedGeneration": 4, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2},
    }))
    .unwrap();
    let rollout = Rollout::of(&deployment);
    assert!(!rollout.observed);
    assert!(rollout.waiting_for().unwrap().contains("prod-worker"));
}

#[test]
fn a_degraded_status_keeps_what_was_known() {
    let ti = instance();
    let before = applied_status(
        &ti,
        &TrackerInstanceStatus::default(),
        &all_ready(),
        "h",
        &time("2026-03-01T10:00:00Z"),
    );
    let after = degraded_status(
        &ti,
        &before,
        "InvalidSpec",
        "spec.x: bad".into(),
        &time("2026-03-01T11:00:00Z"),
    );
    assert_eq!(after.web_ready_replicas, 2);
    assert_eq!(after.version.as_deref(), Some("0.1.0"));
    assert_eq!(get(&after, READY).status, "True");
    let degraded = get(&after, DEGRADED);
    assert_eq!(
        (degraded.status.as_str(), degraded.reason.as_str()),
        ("True", "InvalidSpec")
    );
    assert_eq!(degraded.last_transition_time, time("2026-03-01T11:00:00Z"));

    // nothing known before: the other conditions are Unknown
    let fresh = degraded_status(
        &ti,
        &TrackerInstanceStatus::default(),
        "SecretNotFound",
        "x".into(),
        &time("2026-03-01T11:00:00Z"),
    );
    assert_eq!(get(&fresh, READY).status, "Unknown");
    assert_eq!(get(&fresh, MIGRATED).status, "Unknown");
    assert_eq!(get(&fresh, PROGRESSING).status, "Unknown");
    assert_eq!(fresh.conditions.len(), 4);
}

#[test]
fn the_status_says_whether_attachments_outlive_a_pod() {
    let now = time("2026-03-01T10:00:00Z");
    // no claim: per-pod emptyDir; said plainly, without touching Ready
    let ti = instance();
    let status = applied_status(
        &ti,
        &TrackerInstanceStatus::default(),
        &all_ready(),
        "h",
        &now,
    );
    let attachments = get(&status, ATTACHMENTS_PERSISTENT);
    assert_eq!(attachments.status, "False");
    assert_eq!(attachments.reason, "EmptyDir");
    for words in [
        "per pod",
        "lost when",
        "1Gi",
        "persistentVolumeClaim",
        "ReadWriteMany",
    ] {
        assert!(
            attachments.message.contains(words),
            "{words}: {}",
            attachments.message
        );
    }
    assert_eq!(get(&status, READY).status, "True");
    assert_eq!(get(&status, DEGRADED).status, "False");

    // a claim: persistent, and the transition is recorded
    let ti = instance_with(
        spec_with(json!({"attachments": {"persistentVolumeClaim": {"claimName": "corral-files"}}})),
        2,
    );
    let later = time("2026-03-01T11:00:00Z");
    let next = applied_status(&ti, &status, &all_ready(), "h", &later);
    let attachments = get(&next, ATTACHMENTS_PERSISTENT);
    assert_eq!(attachments.status, "True");
    assert_eq!(attachments.reason, "PersistentVolumeClaim");
    assert!(attachments.message.contains("corral-files"));
    assert_eq!(attachments.last_transition_time, later);
    assert_eq!(get(&next, READY).last_transition_time, now);
}
