//! Webhook signatures.
//!
//! Every webhook POST carries
//!
//! ```text
//! X-Corral-Timestamp: 1767225600
//! X-Corral-Signature: t=1767225600,v1=<hex HMAC-SHA256(secret, "1767225600.<body>")>
//! ```
//!
//! The receiver recomputes the HMAC over the timestamp, a dot and the raw
//! body bytes with the channel's secret, compares it in constant time, and
//! refuses timestamps further than a few minutes from its clock (a
//! captured request cannot be replayed later). [`verify`] does exactly
//! that; the README shows the same in Python.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const SIGNATURE_HEADER: &str = "X-Corral-Signature";
pub const TIMESTAMP_HEADER: &str = "X-Corral-Timestamp";
/// How far a timestamp may be from the receiver's clock, either way.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The hex HMAC-SHA256 of `"<timestamp>.<body>"`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
}

/// The `X-Corral-Signature` value: `t=<timestamp>,v1=<signature>`.
pub fn header_value(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", signature(secret, timestamp, body))
}

/// Why a signature was not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the signature header is malformed")]
    Malformed,
    #[error("the timestamp is too old")]
    TooOld,
    #[error("the timestamp is in the future")]
    InTheFuture,
    #[error("the signature does not match")]
    Mismatch,
}

/// Checks an `X-Corral-Signature` header against the raw body, at `now`
/// (unix seconds). Several `v1=` values are accepted (any may match), so a
/// receiver can roll secrets.
pub fn verify(
    secret: &str,
    header: &str,
    body: &[u8],
    now: i64,
    tolerance: Duration,
) -> Result<(), VerifyError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (key, value) = part.trim().split_once('=').ok_or(VerifyError::Malformed)?;
        match key {
            "t" => {
                if timestamp.is_some() {
                    return Err(VerifyError::Malformed);
                }
                timestamp = Some(value.parse::<i64>().map_err(|_| VerifyError::Malformed)?);
            }
            "v1" => signatures.push(hex::decode(value).map_err(|_| VerifyError::Malformed)?),
            // unknown schemes are skipped (a later v2 next to v1)
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(VerifyError::Malformed)?;
    if signatures.is_empty() {
        return Err(VerifyError::Malformed);
    }
    let tolerance = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    if now.saturating_sub(timestamp) > tolerance {
        return Err(VerifyError::TooOld);
    }
    if timestamp.saturating_sub(now) > tolerance {
        return Err(VerifyError::InTheFuture);
    }
    let expected = mac(secret, timestamp, body);
    // `verify_slice` compares in constant time
    if signatures
        .iter()
        .any(|s| expected.clone().verify_slice(s).is_ok())
    {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec-0123456789abcdef";

    #[test]
    fn a_known_vector() {
        // python3 -c 'import hmac,hashlib;print(hmac.new(b"key",b"1700000000.{}",hashlib.sha256).hexdigest())'
        assert_eq!(
            signature("key", 1_700_000_000, b"{}"),
            "9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
        );
    }

    #[test]
    fn signatures_verify_and_tampering_fails() {
        let body = br#"{"version":1,"action":"new_issue"}"#;
        let t = 1_767_225_600;
        let header = header_value(SECRET, t, body);
        assert!(header.starts_with(&format!("t={t},v1=")));
        assert_eq!(
            verify(SECRET, &header, body, t + 10, DEFAULT_TOLERANCE),
            Ok(())
        );
        assert_eq!(
            verify(SECRET, &header, b"{\"version\":2}", t, DEFAULT_TOLERANCE),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            verify("another-secret-value", &header, body, t, DEFAULT_TOLERANCE),
            Err(VerifyError::Mismatch)
        );
        // the timestamp is signed: moving it breaks the signature
        let moved = header.replace(&format!("t={t}"), &format!("t={}", t + 1));
        assert_eq!(
            verify(SECRET, &moved, body, t, DEFAULT_TOLERANCE),
            Err(VerifyError::Mismatch)
        );
    }

    #[test]
    fn stale_and_future_timestamps_are_refused() {
        let body = b"{}";
        let t = 1_767_225_600;
        let header = header_value(SECRET, t, body);
        assert_eq!(
            verify(SECRET, &header, body, t + 301, DEFAULT_TOLERANCE),
            Err(VerifyError::TooOld)
        );
        assert_eq!(
            verify(SECRET, &header, body, t + 300, DEFAULT_TOLERANCE),
            Ok(())
        );
        assert_eq!(
            verify(SECRET, &header, body, t - 301, DEFAULT_TOLERANCE),
            Err(VerifyError::InTheFuture)
        );
        assert_eq!(
            verify(SECRET, &header, body, t + 20, Duration::from_secs(10)),
            Err(VerifyError::TooOld)
        );
    }

    #[test]
    fn malformed_headers_are_refused_and_rolled_secrets_accepted() {
        let body = b"{}";
        let t = 1_767_225_600;
        for bad in [
            "",
            "v1=abcd",
            "t=1767225600",
            "t=x,v1=abcd",
            "t=1767225600,v1=zz",
            "t=1,t=2,v1=00",
            "garbage",
        ] {
            assert_eq!(
                verify(SECRET, bad, body, t, DEFAULT_TOLERANCE),
                Err(VerifyError::Malformed),
                "{bad:?}"
            );
        }
        let good = signature(SECRET, t, body);
        let old = signature("the-previous-secret", t, body);
        let header = format!("t={t},v1={old},v1={good},v2=future");
        assert_eq!(verify(SECRET, &header, body, t, DEFAULT_TOLERANCE), Ok(()));
    }
}
