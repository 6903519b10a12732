//! Reading request bodies within limits: a size limit per endpoint (413), a
//! time limit for the whole body and a shorter one for a body that stops
//! arriving (408), and a memory budget shared by all requests in flight (503
//! with Retry-After when spent), so no client can exhaust memory.
//!
//! Memory is reserved as bytes arrive, never for what a client merely
//! announces in `Content-Length`; one client address may hold only its share
//! of the budget; and a request whose key is still unknown (the tunnel, an
//! envelope with its `dsn` in the body) reads only a small prefix, from a
//! small budget of its own, until that key is checked.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, header};
use bytes::Bytes;
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use corral_protocol::DecodeError;

use super::error::IngestError;

/// Granularity of the budget: one permit per KiB.
const UNIT: usize = 1024;

/// The first allocation for a body: enough for a typical event, small
/// enough that announcing a huge body gains a client nothing.
const FIRST_CAPACITY: usize = 16 * 1024;

/// Bytes of request data that may be held in memory at once, with a cap per
/// client address.
#[derive(Clone, Debug)]
pub struct MemoryBudget {
    inner: Arc<BudgetInner>,
}

#[derive(Debug)]
struct BudgetInner {
    permits: Arc<Semaphore>,
    total_units: usize,
    /// Units one client address may hold at once.
    per_address_units: usize,
    by_address: Mutex<HashMap<IpAddr, usize>>,
}

/// Memory reserved from a budget, for one client address; given back when
/// dropped.
#[derive(Debug, Default)]
pub struct Reservation {
    permit: Option<OwnedSemaphorePermit>,
    /// The budget and client address the units were counted under.
    owner: Option<(Arc<BudgetInner>, Option<IpAddr>)>,
    units: usize,
}

impl Reservation {
    /// Reserves `bytes` more, or answers `false` (and reserves nothing) when
    /// the budget or this address's share is spent.
    pub fn grow(&mut self, bytes: usize) -> bool {
        let Some((budget, address)) = &self.owner else {
            return true;
        };
        let units = bytes.div_ceil(UNIT).min(budget.total_units);
        if units == 0 {
            return true;
        }
        if let Some(address) = address {
            let mut held = budget.by_address.lock().unwrap_or_else(|e| e.into_inner());
            let mine = held.entry(*address).or_insert(0);
            if *mine + units > budget.per_address_units {
                if *mine == 0 {
                    held.remove(address);
                }
                return false;
            }
            *mine += units;
        }
        let Ok(permit) = budget.permits.clone().try_acquire_many_owned(units as u32) else {
            if let Some(address) = address {
                release_address(budget, address, units);
            }
            return false;
        };
        match &mut self.permit {
            Some(p) => p.merge(permit),
            None => self.permit = Some(permit),
        }
        self.units += units;
        true
    }

    /// Gives back `bytes` of what is held (memory freed before the request
    /// ends, such as the old buffer after a reallocation).
    pub fn release(&mut self, bytes: usize) {
        // rounded as grow rounds, so a grow and its release cancel out
        let units = bytes.div_ceil(UNIT).min(self.units);
        if units == 0 {
            return;
        }
        let Some(permit) = self.permit.as_mut() else {
            return;
        };
        drop(permit.split(units));
        self.units -= units;
        if let Some((budget, Some(address))) = &self.owner {
            release_address(budget, address, units);
        }
    }

    /// Adds another reservation of the same budget to this one.
    pub fn absorb(&mut self, mut other: Reservation) {
        let Some(permit) = other.permit.take() else {
            return;
        };
        match &mut self.permit {
            Some(p) => p.merge(permit),
            None => self.permit = Some(permit),
        }
        self.units += std::mem::take(&mut other.units);
        if self.owner.is_none() {
            self.owner = other.owner.take();
        }
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.units * UNIT
    }
}

/// The decoders ask before they allocate and say when they free.
impl corral_protocol::DecodeBudget for Reservation {
    fn reserve(&mut self, bytes: usize) -> bool {
        self.grow(bytes)
    }

    fn release(&mut self, bytes: usize) {
        Reservation::release(self, bytes);
        give_back_large(bytes);
    }
}

/// A large buffer just freed (an outgrown one, a decoder's window) is given
/// back to the system at once: the budget already counts it as free, and
/// the allocator would otherwise keep its pages a while, so resident memory
/// would run ahead of the budget under a crowd of large bodies.
fn give_back_large(bytes: usize) {
    if bytes >= 1 << 20 {
        corral_runtime::allocator::give_back_freed_memory();
    }
}

fn release_address(budget: &BudgetInner, address: &IpAddr, units: usize) {
    let mut held = budget.by_address.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(mine) = held.get_mut(address) {
        *mine = mine.saturating_sub(units);
        if *mine == 0 {
            held.remove(address);
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.units > 0
            && let Some((budget, Some(address))) = &self.owner
        {
            release_address(budget, address, self.units);
        }
    }
}

impl MemoryBudget {
    /// A budget of `bytes` in all, of which one client address may hold
    /// `per_address_bytes`.
    pub fn new(bytes: usize, per_address_bytes: usize) -> MemoryBudget {
        let units = bytes.div_ceil(UNIT).clamp(1, Semaphore::MAX_PERMITS);
        MemoryBudget {
            inner: Arc::new(BudgetInner {
                permits: Arc::new(Semaphore::new(units)),
                total_units: units,
                per_address_units: per_address_bytes.div_ceil(UNIT).clamp(1, units),
                by_address: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// An empty reservation for a client, to [`Reservation::grow`].
    pub fn reservation(&self, client: Option<IpAddr>) -> Reservation {
        Reservation {
            permit: None,
            owner: Some((self.inner.clone(), client)),
            units: 0,
        }
    }

    /// Reserves `bytes` for no address in particular, or `None` when the
    /// budget is spent right now.
    pub fn try_reserve(&self, bytes: usize) -> Option<Reservation> {
        let mut r = self.reservation(None);
        r.grow(bytes).then_some(r)
    }

    /// Bytes currently reserved (for `/metrics`).
    pub fn in_use_bytes(&self) -> usize {
        (self.inner.total_units - self.inner.permits.available_permits()) * UNIT
    }

    /// Bytes one client address holds now.
    pub fn held_by(&self, address: IpAddr) -> usize {
        let held = self
            .inner
            .by_address
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        held.get(&address).copied().unwrap_or(0) * UNIT
    }
}

pub(crate) fn overloaded() -> IngestError {
    IngestError::Overloaded {
        retry_after_secs: 1,
    }
}

/// The time limits of reading one body.
#[derive(Clone, Copy, Debug)]
pub struct BodyTimeouts {
    /// For the whole body.
    pub total: Duration,
    /// Between two pieces of it: a body that stops arriving is dropped
    /// long before `total`.
    pub idle: Duration,
}

/// A request body read piece by piece into one buffer, whose memory is paid
/// from a [`Reservation`] as the buffer grows.
pub struct BodyReader {
    body: Body,
    buf: Vec<u8>,
    limit: usize,
    /// What `Content-Length` announced, as a hint for the buffer's size.
    declared: Option<usize>,
    deadline: Instant,
    idle: Duration,
    what: &'static str,
    finished: bool,
}

impl BodyReader {
    /// Refuses at once a body whose `Content-Length` is over `limit`.
    pub fn new(
        body: Body,
        headers: &HeaderMap,
        limit: usize,
        timeouts: BodyTimeouts,
        what: &'static str,
    ) -> Result<BodyReader, IngestError> {
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if let Some(n) = declared
            && n > limit
        {
            return Err(too_large(what, n, limit));
        }
        Ok(BodyReader {
            body,
            buf: Vec::new(),
            limit,
            declared,
            deadline: Instant::now() + timeouts.total,
            idle: timeouts.idle,
            what,
            finished: false,
        })
    }

    /// What has arrived so far.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// Whether the whole body has arrived.
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// Bytes of memory the buffer holds.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Reads the next piece, paying the buffer's growth from `held`; `false`
    /// once the body has ended.
    pub async fn read_more(&mut self, held: &mut Reservation) -> Result<bool, IngestError> {
        if self.finished {
            return Ok(false);
        }
        loop {
            let wait = self
                .idle
                .min(self.deadline.saturating_duration_since(Instant::now()));
            let frame = match tokio::time::timeout(wait, self.body.frame()).await {
                Err(_) => return Err(IngestError::BodyTimeout),
                Ok(None) => {
                    self.finished = true;
                    return Ok(false);
                }
                Ok(Some(frame)) => {
                    frame.map_err(|e| IngestError::Invalid(format!("reading body: {e}")))?
                }
            };
            let Ok(chunk) = frame.into_data() else {
                continue; // trailers
            };
            if chunk.is_empty() {
                continue;
            }
            let needed = self.buf.len() + chunk.len();
            if needed > self.limit {
                return Err(too_large(self.what, needed, self.limit));
            }
            if needed > self.buf.capacity() {
                let first = self.declared.unwrap_or(FIRST_CAPACITY).min(FIRST_CAPACITY);
                let target = (self.buf.capacity() * 2)
                    .max(first)
                    .max(needed)
                    .min(self.limit);
                // the new buffer is allocated while the old one is still
                // there: pay for both, and give the old one back after
                let old = self.buf.capacity();
                if !held.grow(target) {
                    return Err(overloaded());
                }
                self.buf.reserve_exact(target - self.buf.len());
                held.release(old);
                give_back_large(old);
            }
            self.buf.extend_from_slice(&chunk);
            return Ok(true);
        }
    }

    /// Reads the rest of the body.
    pub async fn read_to_end(mut self, held: &mut Reservation) -> Result<Bytes, IngestError> {
        while self.read_more(held).await? {}
        Ok(Bytes::from(self.buf))
    }
}

fn too_large(what: &str, n: usize, limit: usize) -> IngestError {
    IngestError::TooLarge(format!(
        "{what} of {n} bytes is larger than the limit of {limit} bytes"
    ))
}

/// Reads the whole body, paying its memory from `budget` for `client`.
pub async fn read_body(
    body: Body,
    headers: &HeaderMap,
    limit: usize,
    budget: &MemoryBudget,
    client: Option<IpAddr>,
    timeouts: BodyTimeouts,
    what: &'static str,
) -> Result<(Bytes, Reservation), IngestError> {
    let reader = BodyReader::new(body, headers, limit, timeouts, what)?;
    let mut held = budget.reservation(client);
    let bytes = reader.read_to_end(&mut held).await?;
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

/// Decompresses off the async threads, within `limit` bytes of output,
/// paying the output and the decoder's own memory from `held`.
pub async fn decode(
    encoding: Option<String>,
    body: Bytes,
    limit: usize,
    held: Reservation,
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
        return Ok((body, held));
    }
    tokio::task::spawn_blocking(move || {
        // every growth of the output buffer is paid from the budget first,
        // so a bomb or a crowd of big bodies is refused before memory grows
        let mut held = held;
        let before = held.bytes();
        let decoded =
            corral_protocol::decode_body_with(encoding.as_deref(), &body, limit, &mut held);
        drop(body);
        // a refused bomb's output was freed on this pool thread: return it
        // now (outgrown buffers and windows were, as they were released)
        if decoded.is_err() {
            give_back_large(held.bytes().saturating_sub(before));
        }
        let decoded = decoded.map_err(|e| match e {
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
    use futures::SinkExt;

    use super::*;

    const TIMEOUTS: BodyTimeouts = BodyTimeouts {
        total: Duration::from_secs(5),
        idle: Duration::from_secs(5),
    };

    fn addr(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([192, 0, 2, last]))
    }

    #[test]
    fn the_budget_is_shared_and_given_back() {
        let budget = MemoryBudget::new(10 * UNIT, 10 * UNIT);
        let a = budget.try_reserve(6 * UNIT).expect("room for a");
        assert!(budget.try_reserve(6 * UNIT).is_none());
        assert_eq!(budget.in_use_bytes(), 6 * UNIT);
        drop(a);
        assert!(budget.try_reserve(6 * UNIT).is_some());
        assert_eq!(budget.in_use_bytes(), 0);
    }

    #[test]
    fn one_address_holds_only_its_share() {
        let budget = MemoryBudget::new(10 * UNIT, 4 * UNIT);
        let mut first = budget.reservation(addr(1));
        assert!(first.grow(3 * UNIT));
        let mut second = budget.reservation(addr(1));
        assert!(!second.grow(2 * UNIT), "past the address's share");
        assert_eq!(budget.held_by(addr(1).unwrap()), 3 * UNIT);
        assert_eq!(budget.in_use_bytes(), 3 * UNIT, "a refusal holds nothing");
        // another address still gets the rest
        let mut other = budget.reservation(addr(2));
        assert!(other.grow(4 * UNIT));
        drop(first);
        assert_eq!(budget.held_by(addr(1).unwrap()), 0);
        assert!(second.grow(4 * UNIT));
        drop((second, other));
        assert_eq!(budget.in_use_bytes(), 0);
    }

    #[tokio::test]
    async fn bodies_over_the_limit_are_refused() {
        let budget = MemoryBudget::new(1 << 20, 1 << 20);
        let mut headers = HeaderMap::new();
        let err = read_body(
            Body::from(vec![b'x'; 2000]),
            &headers,
            1000,
            &budget,
            None,
            TIMEOUTS,
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
            None,
            TIMEOUTS,
            "body",
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("5000"), "{err}");
        assert_eq!(budget.in_use_bytes(), 0);
    }

    #[tokio::test]
    async fn a_spent_budget_answers_overloaded() {
        let budget = MemoryBudget::new(4 * UNIT, 4 * UNIT);
        let _held = budget.try_reserve(4 * UNIT).unwrap();
        let err = read_body(
            Body::from(vec![b'x'; 100]),
            &HeaderMap::new(),
            1000,
            &budget,
            None,
            TIMEOUTS,
            "body",
        )
        .await
        .unwrap_err();
        assert!(matches!(err, IngestError::Overloaded { .. }), "{err:?}");
    }

    /// A body that announces far more than it sends holds only what it sent.
    #[tokio::test]
    async fn memory_is_reserved_as_bytes_arrive_not_as_announced() {
        let budget = MemoryBudget::new(64 << 20, 64 << 20);
        let (mut tx, body) = body_channel();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_LENGTH,
            (32usize << 20).to_string().parse().unwrap(),
        );
        let mut reader = BodyReader::new(body, &headers, 64 << 20, TIMEOUTS, "body").unwrap();
        let mut held = budget.reservation(addr(1));
        tx.send(Bytes::from_static(b"a few bytes")).await.unwrap();
        assert!(reader.read_more(&mut held).await.unwrap());
        assert!(
            budget.in_use_bytes() <= FIRST_CAPACITY,
            "{} bytes held for 11 received",
            budget.in_use_bytes()
        );
        drop(tx);
    }

    /// A body that stops arriving is dropped after the idle timeout, long
    /// before the total one.
    #[tokio::test]
    async fn a_body_that_stops_arriving_times_out() {
        let budget = MemoryBudget::new(1 << 20, 1 << 20);
        let (mut tx, body) = body_channel();
        let timeouts = BodyTimeouts {
            total: Duration::from_secs(30),
            idle: Duration::from_millis(200),
        };
        let reader = BodyReader::new(body, &HeaderMap::new(), 1 << 20, timeouts, "body").unwrap();
        tx.send(Bytes::from_static(b"start")).await.unwrap();
        let started = Instant::now();
        let mut held = budget.reservation(None);
        let err = reader.read_to_end(&mut held).await.unwrap_err();
        assert!(matches!(err, IngestError::BodyTimeout), "{err:?}");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{:?}",
            started.elapsed()
        );
        drop(tx);
    }

    /// A streaming body fed by the test.
    fn body_channel() -> (futures::channel::mpsc::Sender<Bytes>, Body) {
        use futures::StreamExt;
        let (tx, rx) = futures::channel::mpsc::channel::<Bytes>(4);
        (tx, Body::from_stream(rx.map(Ok::<_, std::io::Error>)))
    }
}
