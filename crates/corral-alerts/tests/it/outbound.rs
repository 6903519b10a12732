//! The outbound client against real servers on loopback: the address
//! policy (literal hosts, resolved names, redirects), the body cap, the
//! timeout, and errors that never carry the URL.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use corral_alerts::outbound::{
    AddressPolicy, MAX_RESPONSE_BYTES, Outbound, OutboundError, OutboundOptions,
};

use crate::common::{Answer, Sink};

fn client(policy: AddressPolicy) -> Outbound {
    client_with(policy, Duration::from_secs(5))
}

fn client_with(policy: AddressPolicy, timeout: Duration) -> Outbound {
    Outbound::new(OutboundOptions {
        timeout,
        connect_timeout: timeout,
        policy,
        max_response_bytes: MAX_RESPONSE_BYTES,
        max_redirects: 3,
    })
    .unwrap()
}

fn loopback() -> IpAddr {
    "127.0.0.1".parse().unwrap()
}

async fn post(
    client: &Outbound,
    url: &str,
) -> Result<corral_alerts::outbound::Reply, OutboundError> {
    client.post_json(url, b"{}".to_vec(), &[]).await
}

#[tokio::test]
async fn a_loopback_server_is_refused_by_default_and_reached_when_allowed() {
    let sink = Sink::start(Answer::Status(200)).await;

    let err = post(&client(AddressPolicy::public_only()), &sink.url("/hook"))
        .await
        .unwrap_err();
    assert!(matches!(err, OutboundError::Refused(_)), "{err:?}");
    assert!(err.is_permanent());
    assert_eq!(
        err.to_string(),
        "address 127.0.0.1 is loopback; set alerts.allow_private_addresses to allow it"
    );
    assert!(
        sink.seen().is_empty(),
        "the refused request reached the sink"
    );

    let reply = post(&client(AddressPolicy::allow_all()), &sink.url("/hook"))
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, b"ok");
    assert_eq!(sink.one("/hook").body.as_ref(), b"{}");

    // one allowed address is that address only
    let reply = post(
        &client(AddressPolicy::public_only().allowing(loopback())),
        &sink.url("/again"),
    )
    .await
    .unwrap();
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_after_resolution() {
    let sink = Sink::start(Answer::Status(200)).await;
    let url = format!("http://localhost:{}/hook", sink.addr.port());

    let err = post(&client(AddressPolicy::public_only()), &url)
        .await
        .unwrap_err();
    assert!(matches!(err, OutboundError::Refused(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.starts_with("localhost resolves to ") && text.contains("which is loopback"),
        "{text}"
    );
    assert!(text.contains("alerts.allow_private_addresses"), "{text}");
    assert!(sink.seen().is_empty());

    let reply = post(&client(AddressPolicy::allow_all()), &url)
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(sink.seen().len(), 1);
}

#[tokio::test]
async fn metadata_addresses_and_names_are_refused_without_a_connection() {
    let client = client(AddressPolicy::public_only());
    let started = Instant::now();
    let err = post(&client, "http://169.254.169.254/latest/meta-data/iam/")
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("address 169.254.169.254 is link-local;"),
        "{err}"
    );
    let err = post(&client, "http://[::ffff:169.254.169.254]/")
        .await
        .unwrap_err();
    assert!(matches!(err, OutboundError::Refused(_)), "{err:?}");
    let err = post(
        &client,
        "http://metadata.google.internal/computeMetadata/v1/",
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("metadata.google.internal is a cloud metadata service"),
        "{err}"
    );
    let err = post(&client, "http://10.0.0.5:8080/").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "address 10.0.0.5 is private; set alerts.allow_private_addresses to allow it"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refusals are decided before connecting"
    );
}

#[tokio::test]
async fn redirects_are_checked_hop_by_hop() {
    // the policy allows 127.0.0.2 only: the first hop listens there, the
    // server a redirect points at listens on 127.0.0.1 and must never be reached
    let allowed: IpAddr = "127.0.0.2".parse().unwrap();
    let client = client(AddressPolicy::public_only().allowing(allowed));
    let hidden = Sink::start(Answer::Status(200)).await;
    let port = hidden.addr.port();
    for (target, refused) in [
        (
            format!("http://127.0.0.1:{port}/secret"),
            "address 127.0.0.1 is loopback",
        ),
        (
            format!("http://[::1]:{port}/secret"),
            "address ::1 is loopback",
        ),
        (
            format!("http://[::ffff:127.0.0.1]:{port}/secret"),
            "address ::ffff:127.0.0.1 is loopback",
        ),
        (
            format!("http://localhost:{port}/secret"),
            "localhost resolves to 127.0.0.1",
        ),
    ] {
        let via = Sink::start_on("127.0.0.2", Answer::Redirect(target.clone())).await;
        let err = post(&client, &via.url("/hook")).await.unwrap_err();
        assert!(
            matches!(err, OutboundError::Refused(_)),
            "{target}: {err:?}"
        );
        assert!(err.to_string().starts_with(refused), "{target}: {err}");
        assert_eq!(via.seen().len(), 1, "the first hop was allowed");
    }
    assert!(hidden.seen().is_empty(), "a redirect reached 127.0.0.1");

    // an allowed target is followed
    let ok = Sink::start_on("127.0.0.2", Answer::Status(200)).await;
    let to_ok = Sink::start_on("127.0.0.2", Answer::Redirect(ok.url("/landed"))).await;
    let reply = post(&client, &to_ok.url("/hook")).await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.url.path(), "/landed");
    assert_eq!(ok.seen().len(), 1);
}

#[tokio::test]
async fn redirect_loops_stop_after_three_hops() {
    // a relative Location: the server redirects to itself forever
    let sink = Sink::start(Answer::Redirect("/loop".into())).await;
    let err = post(&client(AddressPolicy::allow_all()), &sink.url("/loop"))
        .await
        .unwrap_err();
    assert!(matches!(err, OutboundError::TooManyRedirects(3)), "{err:?}");
    assert!(err.is_permanent());
    // the first request and three redirects
    assert_eq!(sink.seen().len(), 4);
}

#[tokio::test]
async fn endless_answers_are_cut_at_the_cap() {
    let sink = Sink::start(Answer::Endless(200)).await;
    let started = Instant::now();
    let reply = post(&client(AddressPolicy::allow_all()), &sink.url("/big"))
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body.len(), MAX_RESPONSE_BYTES);
    assert!(reply.truncated);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the body was read past the cap ({:?})",
        started.elapsed()
    );
}

#[tokio::test]
async fn slow_servers_time_out() {
    let sink = Sink::start(Answer::Slow(Duration::from_secs(10))).await;
    let started = Instant::now();
    let err = post(
        &client_with(AddressPolicy::allow_all(), Duration::from_secs(1)),
        &sink.url("/slow"),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, OutboundError::Timeout(1)), "{err:?}");
    assert!(!err.is_permanent());
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn connection_errors_never_carry_the_url() {
    // a port nothing listens on
    let port = corral_testkit::free_port();
    let url = format!("http://127.0.0.1:{port}/services/T000/B000/SECRETTOKEN");
    let err = post(&client(AddressPolicy::allow_all()), &url)
        .await
        .unwrap_err();
    assert!(matches!(err, OutboundError::Connect(_)), "{err:?}");
    assert!(!err.is_permanent());
    assert!(!err.to_string().contains("SECRETTOKEN"), "{err}");
    assert!(!format!("{err:?}").contains("SECRETTOKEN"), "{err:?}");
}
