//! Leader election against a scripted API server.

use std::time::Duration;

use corral_operator::{LEASE_NAME, LeaderElector, LeaseSettings};
use serde_json::{Value, json};

use crate::mock::{self, ApiServer, TIMEOUT};

const LEASES: &str = "/apis/coordination.k8s.io/v1/namespaces/corral-system/leases";
const ME: &str = "corral-operator-0";

fn elector() -> (LeaderElector, ApiServer) {
    let (client, server) = mock::pair();
    let settings = LeaseSettings::new("corral-system", ME);
    assert_eq!(settings.name, "corral-operator-leader");
    (LeaderElector::new(client, settings), server)
}

fn lease(holder: Option<&str>, renewed: &str, duration: i64, transitions: i64) -> Value {
    json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": LEASE_NAME, "namespace": "corral-system", "resourceVersion": "77"},
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": duration,
            "acquireTime": "2026-01-01T00:00:00.000000Z",
            "renewTime": renewed,
            "leaseTransitions": transitions,
        },
    })
}

fn now_micro() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S.%6fZ")
        .to_string()
}

async fn attempt(elector: &mut LeaderElector) -> bool {
    tokio::time::timeout(TIMEOUT, elector.try_acquire_or_renew())
        .await
        .expect("the attempt hung")
        .expect("the attempt failed")
}

#[tokio::test]
async fn the_first_replica_creates_the_lease() {
    let (mut elector, mut server) = elector();
    let script = tokio::spawn(async move {
        server
            .expect("GET", &format!("{LEASES}/{LEASE_NAME}"))
            .await
            .not_found();
        let call = server
            .expect("POST", &format!("{LEASES}?&fieldManager=corral-operator"))
            .await;
        let spec = &call.body["spec"];
        assert_eq!(spec["holderIdentity"], ME);
        assert_eq!(spec["leaseDurationSeconds"], 15);
        assert_eq!(spec["leaseTransitions"], 0);
        assert!(spec["renewTime"].is_string());
        assert_eq!(call.body["metadata"]["name"], LEASE_NAME);
        let mut created = call.body.clone();
        created["metadata"]["resourceVersion"] = json!("1");
        call.reply(201, &created);
        server
    });
    assert!(attempt(&mut elector).await);
    drop(elector);
    script.await.unwrap().expect_no_more().await;
}

#[tokio::test]
async fn a_lease_held_by_another_live_replica_is_not_taken() {
    let (mut elector, mut server) = elector();
    let script = tokio::spawn(async move {
        for _ in 0..2 {
            server
                .expect("GET", &format!("{LEASES}/{LEASE_NAME}"))
                .await
                .reply(200, &lease(Some("corral-operator-1"), &now_micro(), 15, 3));
        }
        server
    });
    assert!(!attempt(&mut elector).await);
    assert!(!attempt(&mut elector).await);
    drop(elector);
    // no write at all
    script.await.unwrap().expect_no_more().await;
}

#[tokio::test]
async fn the_holder_renews_with_optimistic_concurrency() {
    let (mut elector, mut server) = elector();
    let script = tokio::spawn(async move {
        server
            .expect("GET", &format!("{LEASES}/{LEASE_NAME}"))
            .await
            .reply(200, &lease(Some(ME), "2026-01-01T00:00:00.000000Z", 15, 2));
        let call = server
            .expect(
                "PUT",
                &format!("{LEASES}/{LEASE_NAME}?&fieldManager=corral-operator"),
            )
            .await;
        // the read version guards the write
        assert_eq!(call.body["metadata"]["resourceVersion"], "77");
        let spec = &call.body["spec"];
        assert_eq!(spec["holderIdentity"], ME);
        assert_ne!(spec["renewTime"], "2026-01-01T00:00:00.000000Z");
        assert_eq!(spec["acquireTime"], "2026-01-01T00:00:00.000000Z");
        assert_eq!(spec["leaseTransitions"], 2);
        let body = call.body.clone();
        call.reply(200, &body);
        server
    });
    assert!(attempt(&mut elector).await);
    drop(elector);
    script.await.unwrap().expect_no_more().await;
}

#[tokio::test]
async fn an_expired_lease_is_taken_over() {
    let (mut elector, mut server) = elector();
    let stale = lease(
        Some("corral-operator-1"),
        "2026-01-01T00:00:00.000000Z",
        1,
        4,
    );
    let script = tokio::spawn(async move {
        let get = format!("{LEASES}/{LEASE_NAME}");
        server.expect("GET", &get).await.reply(200, &stale);
        // the same record after its duration: its holder stopped renewing
        server.expect("GET", &get).await.reply(200, &stale);
        let call = server
            .expect("PUT", &format!("{get}?&fieldManager=corral-operator"))
            .await;
        let spec = &call.body["spec"];
        assert_eq!(spec["holderIdentity"], ME);
        assert_eq!(spec["leaseTransitions"], 5);
        assert_ne!(spec["acquireTime"], "2026-01-01T00:00:00.000000Z");
        let body = call.body.clone();
        call.reply(200, &body);
        server
    });
    // expiry is judged from when this process saw the record, not its clock
    assert!(!attempt(&mut elector).await);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(attempt(&mut elector).await);
    drop(elector);
    script.await.unwrap().expect_no_more().await;
}

#[tokio::test]
async fn a_lost_race_is_not_leadership() {
    let (mut elector, mut server) = elector();
    let script = tokio::spawn(async move {
        let get = format!("{LEASES}/{LEASE_NAME}");
        server
            .expect("GET", &get)
            .await
            .reply(200, &lease(None, "2026-01-01T00:00:00.000000Z", 1, 4));
        server
            .expect("PUT", &format!("{get}?&fieldManager=corral-operator"))
            .await
            .conflict();
        server
    });
    assert!(!attempt(&mut elector).await);
    drop(elector);
    script.await.unwrap().expect_no_more().await;
}

#[tokio::test]
async fn release_frees_the_lease_only_when_held() {
    let (mut elector, mut server) = elector();
    let script = tokio::spawn(async move {
        let get = format!("{LEASES}/{LEASE_NAME}");
        server
            .expect("GET", &get)
            .await
            .reply(200, &lease(Some(ME), &now_micro(), 15, 1));
        let call = server
            .expect("PUT", &format!("{get}?&fieldManager=corral-operator"))
            .await;
        let spec = &call.body["spec"];
        assert!(spec.get("holderIdentity").is_none(), "{spec}");
        assert_eq!(spec["leaseDurationSeconds"], 1);
        let body = call.body.clone();
        call.reply(200, &body);
        // someone else's lease is left alone
        server
            .expect("GET", &get)
            .await
            .reply(200, &lease(Some("corral-operator-1"), &now_micro(), 15, 2));
        server
    });
    tokio::time::timeout(TIMEOUT, elector.release())
        .await
        .unwrap()
        .unwrap();
    tokio::time::timeout(TIMEOUT, elector.release())
        .await
        .unwrap()
        .unwrap();
    drop(elector);
    script.await.unwrap().expect_no_more().await;
}
