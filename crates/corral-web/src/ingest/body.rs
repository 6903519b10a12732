//! Reading request bodies within limits: a size limit per endpoint (413), a
//! time limit (408), and a memory budget shared by all requests in flight
//! (503 with Retry-After when spent), so no client can exhaust memory.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, header};
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use corral_protocol::DecodeError;

use super::error::IngestError;

/// Granularity of the budget: one permit per KiB.
const UNIT: usize = 1024;

/// Bytes of request data that may be held in memory at once.
#[derive(Clone, Debug)]
pub struct MemoryBudget {
    permits: Arc<Semaphore>,
    total_units: usize,
}

/// Memory reserved from the budget; given back when dropped.
#[derive(Debug, Default)]
pub struct Reservation(Option<OwnedSemaphorePermit>);

impl Reservation {
    fn merge(&mut self, other: OwnedSemaphorePermit) {
        match &mut self.0 {
            Some(p) => p.merge(other),
            None => self.0 = Some(other),
        }
    }

    /// Adds another reservation to this one.
    pub fn absorb(&mut self, other: Reservation) {
        if let Some(p) = other.0 {
            self.merge(p);
        }
    }
}

impl MemoryBudget {
    pub fn new(bytes: usize) -> MemoryBudget {
        let units = bytes.div_ceil(UNIT).clamp(1, Semaphore::MAX_PERMITS);
        MemoryBudget {
            permits: Arc::new(Semaphore::new(units)),
            total_units: units,
        }
    }

    /// Reserves `bytes`, or `None` when the budget is spent right now.
    pub fn try_reserve(&self, bytes: usize) -> Option<Reservation> {
        let units = bytes.div_ceil(UNIT).min(self.total_units) as u32;
        if units == 0 {
            return Some(Reservation::default());
        }
        self.permits
            .clone()
            .try_acquire_many_owned(units)
            .ok()
            .map(|p| Reservation(Some(p)))
    }

    /// Bytes currently reserved (for `/metrics`).
    pub fn in_use_bytes(&self) -> usize {
        (self.total_units - self.permits.available_permits()) * UNIT
    }
}

fn overloaded() -> IngestError {
    IngestError::Overloaded {
        retry_after_secs: 1,
    }
}

/// Reads the whole body, refusing it early when `Content-Length` already
/// says it is too large.
pub async fn read_body(
    body: Body,
    headers: &HeaderMap,
    limit: usize,
    budget: &MemoryBudget,
    timeout: Duration,
    what: &str,
) -> Result<(Bytes, Reservation), IngestError> {
    let too_large = |n: usize| {
        IngestError::TooLarge(format!(
            "{what} of {n} bytes is larger than the limit of {limit} bytes"
        ))
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(n) = declared
        && n > limit
    {
        return Err(too_large(n));
    }
    let mut held = Reservation::default();
    if let Some(n) = declared {
        held.absorb(budget.try_reserve(n).ok_or_else(overloaded)?);
    }
    let read = async {
        let mut body = body;
        let mut buf = BytesMut::with_capacity(declared.unwrap_or(8 * 1024).min(limit));
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| IngestError::Invalid(format!("reading body: {e}")))?;
            let Ok(chunk) = frame.into_data() else {
                continue; // trailers
            };
            if buf.len() + chunk.len() > limit {
                return Err(too_large(buf.len() + chunk.len()));
            }
            // reserve what Content-Length did not announce
            if declared.is_none_or(|n| buf.len() + chunk.len() > n) {
                held.absorb(budget.try_reserve(chunk.len()).ok_or_else(overloaded)?);
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf.freeze())
    };
    let bytes = tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| IngestError::BodyTimeout)??;
    Ok((bytes, held))
}

/// The request's `Content-Encoding`, all values joined.
pub fn content_encoding(headers: &HeaderMap) -> Option<String> {
    let values: Vec<&str> = headers
        .get_all(header::CONTENT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if values.is_empty() {
        None
    } else {
        Some(values.join(","))
    }
}

/// Decompresses off the async threads, within `limit` bytes of output and
/// the memory budget.
pub async fn decode(
    encoding: Option<String>,
    body: Bytes,
    limit: usize,
    budget: &MemoryBudget,
) -> Result<(Bytes, Reservation), IngestError> {
    let identity = encoding.as_deref().is_none_or(|e| {
        let e = e.trim();
        e.is_empty() || e.eq_ignore_ascii_case("identity") || e.eq_ignore_ascii_case("utf-8")
    });
    if identity {
        if body.len() > limit {
            return Err(IngestError::TooLarge(format!(
                "body of {} bytes is larger than the limit of {limit} bytes",
                body.len()
            )));
        }
        return Ok((body, Reservation::default()));
    }
    let budget = budget.clone();
    tokio::task::spawn_blocking(move || {
        // every growth of the output buffer is paid from the budget first,
        // so a bomb or a crowd of big bodies is refused before memory grows
        let mut held = Reservation::default();
        let decoded =
            corral_protocol::decode_body_with(encoding.as_deref(), &body, limit, &mut |n| {
                match budget.try_reserve(n) {
                    Some(r) => {
                        held.absorb(r);
                        true
                    }
                    None => false,
                }
            })
            .map_err(|e| match e {
                DecodeError::OverBudget => overloaded(),
                e => IngestError::Decode(e),
            })?;
        Ok((Bytes::from(decoded), held))
    })
    .await
    .map_err(|e| IngestError::Internal(format!("decoder task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_shared_and_given_back() {
        let budget = MemoryBudget::new(10 * UNIT);
        let a = budget.try_reserve(6 * UNIT).expect("room for a");
        assert!(budget.try_reserve(6 * UNIT).is_none());
        assert_eq!(budget.in_use_bytes(), 6 * UNIT);
        drop(a);
        assert!(budget.try_reserve(6 * UNIT).is_some());
        assert_eq!(budget.in_use_bytes(), 0);
    }

    #[tokio::test]
    async fn bodies_over_the_limit_are_refused() {
        let budget = MemoryBudget::new(1 << 20);
        let mut headers = HeaderMap::new();
        let err = read_body(
            Body::from(vec![b'x'; 2000]),
            &headers,
            1000,
            &budget,
            Duration::from_secs(5),
            "body",
        )
        .await
        .unwrap_err();
        assert!(matches!(err, IngestError::TooLarge(_)), "{err:?}");
        headers.insert(header::CONTENT_LENGTH, "5000".parse().unwrap());
        let err = read_body(
            Body::from(vec![b'x'; 10]),
            &headers,
            1000,
            &budget,
            Duration::from_secs(5),
            "body",
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("5000"), "{err}");
        assert_eq!(budget.in_use_bytes(), 0);
    }

    #[tokio::test]
    async fn a_spent_budget_answers_overloaded() {
        let budget = MemoryBudget::new(4 * UNIT);
        let _held = budget.try_reserve(4 * UNIT).unwrap();
        let err = read_body(
            Body::from(vec![b'x'; 100]),
            &HeaderMap::new(),
            1000,
            &budget,
            Duration::from_secs(5),
            "body",
        )
        .await
        .unwrap_err();
        assert!(matches!(err, IngestError::Overloaded { .. }), "{err:?}");
    }
}
