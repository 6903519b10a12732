//! The Sentry ingest endpoints. A request is authenticated, checked against
//! its limits and quota, and enqueued; the answer `200 {"id"}` comes only once
//! the job is durably in the queue. No grouping happens here.

pub mod body;
pub mod error;
pub mod quota_redis;

use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, Method, header};
use axum::routing::post;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use corral_core::model::ProjectId;
use corral_core::quota::{QuotaDecision, counters_for};
use corral_jobs::{AttachmentRef, IngestJob, JobItem, Payload, items};
use corral_protocol::{
    AuthError, AuthHeaders, Envelope, EnvelopeHeaders, ItemType, parse_event_id, replace_nul,
    resolve_auth,
};
use serde::Deserialize;
use serde_json::{Value, json};
use tower_http::cors::{AllowOrigin, CorsLayer};
use uuid::Uuid;

use self::body::{
    BodyReader, BodyTimeouts, Reservation, content_encoding, decode, overloaded, read_body,
};
use self::error::IngestError;
use crate::state::AppState;

/// The ingest routes, with CORS open to every origin (browser SDKs).
pub fn routes(tunnel_path: &str) -> Router<AppState> {
    Router::new()
        .route("/api/{project_id}/envelope/", post(envelope))
        .route("/api/{project_id}/envelope", post(envelope))
        .route("/api/{project_id}/store/", post(store))
        .route("/api/{project_id}/store", post(store))
        .route("/api/{project_id}/security/", post(security))
        .route("/api/{project_id}/csp-report/", post(security))
        .route(tunnel_path, post(tunnel))
        .layer(cors())
}

fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::any())
        .allow_methods([Method::POST, Method::OPTIONS])
        .allow_headers([
            HeaderName::from_static("x-sentry-auth"),
            header::CONTENT_TYPE,
            header::CONTENT_ENCODING,
            header::AUTHORIZATION,
            HeaderName::from_static("x-requested-with"),
            header::ORIGIN,
            header::ACCEPT,
            HeaderName::from_static("sentry-trace"),
            HeaderName::from_static("baggage"),
        ])
        .expose_headers([
            HeaderName::from_static("x-sentry-error"),
            HeaderName::from_static("x-sentry-rate-limits"),
            header::RETRY_AFTER,
        ])
        .max_age(Duration::from_secs(3600))
}

fn parse_project_id(raw: &str) -> Result<ProjectId, IngestError> {
    raw.parse::<ProjectId>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(IngestError::BadProjectId)
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The client's address, from the connection (no proxy header is trusted);
/// `None` when the request did not come over a socket (tests).
pub struct ClientAddr(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip().to_canonical()),
        ))
    }
}

fn timeouts(state: &AppState) -> BodyTimeouts {
    BodyTimeouts {
        total: Duration::from_secs(state.config.ingest.body_timeout_secs),
        idle: Duration::from_secs(state.config.ingest.body_idle_timeout_secs),
    }
}

/// The longest envelope header line read before the key is known.
const MAX_HEADER_PREFIX: usize = 64 * 1024;

/// The most of a body read before the key is known: a zstd block (up to 128
/// KiB of output) decodes only once all of it has arrived.
const MAX_RAW_PREFIX: usize = 160 * 1024;

/// Reads only the start of a body whose key is not known yet, from the small
/// budget for unauthenticated requests, until the envelope header line is
/// there; the caller checks its `dsn` before reading the rest. `None` when
/// the body ended first without a complete line (the whole body is then in
/// the reader, and small).
async fn read_envelope_header(
    state: &AppState,
    reader: &mut BodyReader,
    encoding: Option<&str>,
    client: Option<std::net::IpAddr>,
) -> Result<(Option<EnvelopeHeaders>, Reservation), IngestError> {
    let mut held = state.unauthenticated_budget.reservation(client);
    loop {
        let decoded =
            corral_protocol::decode_prefix(encoding, reader.buffered(), MAX_HEADER_PREFIX + 1)?;
        if let Some(end) = decoded.iter().position(|b| *b == b'\n') {
            let headers = EnvelopeHeaders::parse_line(&decoded[..end])?;
            return Ok((Some(headers), held));
        }
        if decoded.len() > MAX_HEADER_PREFIX || reader.buffered().len() > MAX_RAW_PREFIX {
            return Err(IngestError::Invalid(format!(
                "no envelope header line in the first {MAX_HEADER_PREFIX} bytes"
            )));
        }
        if !reader.read_more(&mut held).await? {
            return Ok((None, held));
        }
    }
}

/// Resolves and checks the key: known (401), active (403), of this project (403).
async fn authorize(
    state: &AppState,
    public_key: &str,
    project_id: ProjectId,
) -> Result<std::sync::Arc<corral_core::model::KeyAuth>, IngestError> {
    let key = state
        .key_auth(public_key)
        .await
        .map_err(|e| match e {
            e if e.is_transient() => IngestError::QueueUnavailable,
            e => IngestError::Internal(e.to_string()),
        })?
        .ok_or(IngestError::UnknownKey)?;
    if !key.key.is_active {
        return Err(IngestError::DisabledKey);
    }
    if key.project_id != project_id {
        return Err(IngestError::WrongProject(project_id.to_string()));
    }
    Ok(key)
}

/// Counts `quantity` events against the key's and project's quotas.
async fn check_quota(
    state: &AppState,
    key: &corral_core::model::KeyAuth,
    quantity: u64,
) -> Result<(), IngestError> {
    if quantity == 0 {
        return Ok(());
    }
    let counters = counters_for(
        key.key.id,
        key.key.rate_limit,
        key.project_id,
        key.project_rate_limit,
        &state.config.quotas,
    );
    if counters.is_empty() {
        return Ok(());
    }
    match state.quotas.check(&counters, quantity, Utc::now()).await {
        Ok(QuotaDecision::Accepted) => Ok(()),
        Ok(QuotaDecision::Limited {
            scope,
            retry_after_secs,
        }) => Err(IngestError::RateLimited {
            scope,
            retry_after_secs,
        }),
        // the quota store is down: accepting beats losing every event
        Err(e) => {
            tracing::warn!(error = %e, "quota check failed, accepting");
            Ok(())
        }
    }
}

fn check_backlog(state: &AppState) -> Result<(), IngestError> {
    if state.backlog() >= state.config.queue.max_depth {
        return Err(IngestError::Overloaded {
            retry_after_secs: 10,
        });
    }
    Ok(())
}

/// Just enough of an event to check it is a JSON object and find its id.
#[derive(Deserialize)]
struct EventPeek {
    #[serde(default)]
    event_id: Option<Value>,
    #[serde(default, rename = "type")]
    ty: Option<Value>,
}

/// Read as the digest reads events ([`corral_protocol::read_json`]): what
/// it cannot read is refused here, and whatever is accepted it can.
fn peek_event(payload: &[u8]) -> Result<EventPeek, IngestError> {
    // serde also reads a struct from a JSON array: check for an object first
    if payload.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(IngestError::InvalidEvent("not a JSON object".into()));
    }
    corral_protocol::read_json::<EventPeek>(payload)
        .map_err(|e| IngestError::InvalidEvent(format!("not a JSON object: {e}")))
}

/// A payload ingest has parsed as a JSON object ([`peek_event`],
/// [`small_json_object`], or written itself), as the job's text: known to be
/// one JSON object when nothing surrounds its braces, so writing the job does
/// not parse it again.
fn parsed_payload(text: String) -> Payload {
    if text.starts_with('{') && text.ends_with('}') {
        Payload::parsed_json(text)
    } else {
        Payload::new(text)
    }
}

fn json_text(payload: &[u8], what: &str) -> Result<String, IngestError> {
    String::from_utf8(payload.to_vec())
        .map_err(|_| IngestError::InvalidEvent(format!("{what} is not UTF-8")))
}

/// A job ready to be enqueued, with the files written for it.
struct Accepted {
    items: Vec<JobItem>,
    /// Events that count against quotas.
    quantity: u64,
    /// The id answered to the SDK.
    event_id: Option<Uuid>,
    attachments: Vec<(AttachmentRef, Bytes)>,
}

/// Turns envelope items into job items, enforcing per-item limits.
fn envelope_items(
    state: &AppState,
    envelope: &Envelope,
    project_id: ProjectId,
    received_at: DateTime<Utc>,
) -> Result<Accepted, IngestError> {
    let limits = &state.config.ingest;
    let header_id = envelope.headers.event_id;
    let mut accepted = Accepted {
        items: Vec::new(),
        quantity: 0,
        event_id: header_id,
        attachments: Vec::new(),
    };
    let mut sessions = 0usize;
    for (index, item) in envelope.items.iter().enumerate() {
        let payload = &item.payload;
        let event_sized = |what: &str| {
            if payload.len() > limits.max_event_bytes {
                return Err(IngestError::TooLarge(format!(
                    "{what} item {index} of {} bytes is larger than the limit of {} bytes",
                    payload.len(),
                    limits.max_event_bytes
                )));
            }
            Ok(())
        };
        match &item.headers.ty {
            ItemType::Event | ItemType::Transaction | ItemType::Feedback => {
                let what = item.headers.ty.as_str();
                event_sized(what)?;
                let peek = peek_event(payload)?;
                let event_id = header_id
                    .or_else(|| {
                        peek.event_id
                            .as_ref()
                            .and_then(Value::as_str)
                            .and_then(parse_event_id)
                    })
                    .unwrap_or_else(Uuid::new_v4);
                let text = parsed_payload(json_text(payload, what)?);
                // a feedback the digest cannot file is dropped, like a bad session
                if matches!(item.headers.ty, ItemType::Feedback)
                    && let Err(e) = items::feedback(project_id, event_id, &text, received_at)
                {
                    drop_invalid(&e);
                    continue;
                }
                let is_transaction = matches!(item.headers.ty, ItemType::Transaction)
                    || peek.ty.as_ref().and_then(Value::as_str) == Some("transaction");
                accepted.items.push(match item.headers.ty {
                    ItemType::Feedback => JobItem::Feedback {
                        event_id,
                        payload: text,
                    },
                    _ if is_transaction => JobItem::Transaction {
                        event_id,
                        payload: text,
                    },
                    _ => JobItem::Event {
                        event_id,
                        payload: text,
                    },
                });
                if !matches!(item.headers.ty, ItemType::Feedback) {
                    accepted.quantity += 1;
                }
                accepted.event_id.get_or_insert(event_id);
            }
            ItemType::Security => {
                event_sized("security")?;
                for (event_id, payload) in security_events(payload)? {
                    accepted.quantity += 1;
                    accepted.event_id.get_or_insert(event_id);
                    accepted.items.push(JobItem::Security { event_id, payload });
                }
            }
            ItemType::Attachment => {
                if payload.len() > limits.max_attachment_bytes {
                    return Err(IngestError::TooLarge(format!(
                        "attachment item {index} of {} bytes is larger than the limit of {} bytes",
                        payload.len(),
                        limits.max_attachment_bytes
                    )));
                }
                // an attachment belongs to the envelope's event
                let Some(event_id) = header_id.or(accepted.event_id) else {
                    metrics::counter!("corral_ingest_dropped_total", "reason" => "invalid")
                        .increment(1);
                    continue;
                };
                let file_id = Uuid::new_v4().simple().to_string();
                // the header's strings are stored as the digest stores
                // the payloads': NUL, which PostgreSQL refuses, replaced
                let reference = AttachmentRef {
                    event_id,
                    name: replace_nul(
                        item.headers
                            .filename
                            .clone()
                            .unwrap_or_else(|| "attachment".into()),
                    ),
                    content_type: item.headers.content_type.clone().map(replace_nul),
                    attachment_type: item.headers.attachment_type.clone().map(replace_nul),
                    size: payload.len() as u64,
                    path: format!("{project_id}/{}/{file_id}", event_id.simple()),
                };
                accepted.items.push(JobItem::Attachment(reference.clone()));
                accepted.attachments.push((reference, payload.clone()));
            }
            ItemType::Session | ItemType::Sessions => {
                sessions += 1;
                if sessions > limits.max_sessions_per_envelope {
                    return Err(IngestError::TooLarge(format!(
                        "more than {} session items in one envelope",
                        limits.max_sessions_per_envelope
                    )));
                }
                let item = match item.headers.ty {
                    ItemType::Session => secondary_item(state, payload, |text| {
                        items::session(project_id, text, received_at)?;
                        Ok(JobItem::Session {
                            payload: parsed_payload(text.to_owned()),
                        })
                    }),
                    _ => secondary_item(state, payload, |text| {
                        items::sessions(project_id, text, limits.max_sessions_per_envelope)?;
                        Ok(JobItem::Sessions {
                            payload: parsed_payload(text.to_owned()),
                        })
                    }),
                };
                accepted.items.extend(item);
            }
            ItemType::ClientReport => {
                accepted
                    .items
                    .extend(secondary_item(state, payload, |text| {
                        items::client_report(project_id, text, received_at)?;
                        Ok(JobItem::ClientReport {
                            payload: parsed_payload(text.to_owned()),
                        })
                    }));
            }
            ItemType::CheckIn => {
                accepted
                    .items
                    .extend(secondary_item(state, payload, |text| {
                        items::check_in(project_id, text, received_at)?;
                        Ok(JobItem::CheckIn {
                            payload: parsed_payload(text.to_owned()),
                        })
                    }));
            }
            ItemType::UserReport => {
                accepted
                    .items
                    .extend(secondary_item(state, payload, |text| {
                        items::user_report(project_id, text, received_at)?;
                        Ok(JobItem::UserReport {
                            payload: parsed_payload(text.to_owned()),
                        })
                    }));
            }
            // unknown and unhandled types are skipped, never an error
            _ => {
                metrics::counter!("corral_ingest_items_skipped_total").increment(1);
            }
        }
    }
    Ok(accepted)
}

/// A secondary item (session, report, check-in) kept if it is a small JSON
/// object that the digest's own reader (`read`, from `corral_jobs::items`)
/// takes; otherwise it is dropped and counted, and the rest of the envelope
/// goes on. An item the digest would refuse is never acknowledged.
fn secondary_item(
    state: &AppState,
    payload: &Bytes,
    read: impl FnOnce(&str) -> Result<JobItem, items::ItemError>,
) -> Option<JobItem> {
    let object = payload.len() <= state.config.ingest.max_event_bytes
        && payload.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    let text = std::str::from_utf8(payload).ok().filter(|_| object);
    let Some(text) = text else {
        metrics::counter!("corral_ingest_dropped_total", "reason" => "invalid").increment(1);
        return None;
    };
    read(text).map_err(|e| drop_invalid(&e)).ok()
}

/// Counts an item dropped because the digest could not file it.
fn drop_invalid(error: &items::ItemError) {
    tracing::debug!(error = %error, "item dropped");
    metrics::counter!("corral_ingest_dropped_total", "reason" => "invalid").increment(1);
}

/// Security reports as events (id, JSON text).
fn security_events(body: &[u8]) -> Result<Vec<(Uuid, Payload)>, IngestError> {
    let events = corral_protocol::parse_security_report(body)
        .map_err(|e| IngestError::InvalidEvent(e.to_string()))?;
    events
        .into_iter()
        .map(|mut event| {
            let id = event.event_id.unwrap_or_else(Uuid::new_v4);
            event.event_id = Some(id);
            serde_json::to_string(&event)
                .map(|text| (id, parsed_payload(text)))
                .map_err(|e| IngestError::Internal(e.to_string()))
        })
        .collect()
}

/// Quota, backlog, attachments to disk, then the durable push.
async fn enqueue(
    state: &AppState,
    key: &corral_core::model::KeyAuth,
    project_id: ProjectId,
    received_at: DateTime<Utc>,
    accepted: Accepted,
    held: Reservation,
) -> Result<Json<Value>, IngestError> {
    check_quota(state, key, accepted.quantity).await?;
    check_backlog(state)?;
    let response = match accepted.event_id {
        Some(id) => json!({ "id": id.simple().to_string() }),
        None => json!({}),
    };
    if accepted.items.is_empty() {
        return Ok(Json(response));
    }
    let written = write_attachments(state, &accepted.attachments).await?;
    drop(accepted.attachments);
    drop(held);
    let job = IngestJob::new(project_id, received_at, accepted.items);
    if let Err(e) = state.enqueuer.push(job).await {
        tracing::error!(error = %e, project.id = project_id, "enqueue failed");
        remove_files(&written).await;
        return Err(IngestError::QueueUnavailable);
    }
    if accepted.quantity > 0 {
        metrics::counter!("corral_ingest_accepted_total").increment(accepted.quantity);
    }
    Ok(Json(response))
}

async fn write_attachments(
    state: &AppState,
    attachments: &[(AttachmentRef, Bytes)],
) -> Result<Vec<std::path::PathBuf>, IngestError> {
    let mut written = Vec::with_capacity(attachments.len());
    for (reference, data) in attachments {
        let path = state.attachments_dir.join(&reference.path);
        let result = async {
            if let Some(dir) = path.parent() {
                tokio::fs::create_dir_all(dir).await?;
            }
            tokio::fs::write(&path, data).await
        }
        .await;
        if let Err(e) = result {
            remove_files(&written).await;
            // a file the disk had no room for may be there in part
            let _ = tokio::fs::remove_file(&path).await;
            if matches!(
                e.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            ) {
                tracing::error!(path = %path.display(), "attachments disk is full");
                return Err(IngestError::StorageFull);
            }
            return Err(IngestError::Internal(format!(
                "writing attachment {}: {e}",
                path.display()
            )));
        }
        written.push(path);
    }
    Ok(written)
}

async fn remove_files(paths: &[std::path::PathBuf]) {
    for p in paths {
        let _ = tokio::fs::remove_file(p).await;
    }
}

/// Reads the rest of an envelope body and decodes it, paying from `held`.
async fn finish_envelope(
    state: &AppState,
    headers: &HeaderMap,
    reader: BodyReader,
    mut held: Reservation,
) -> Result<(Envelope, Reservation), IngestError> {
    let raw = reader.read_to_end(&mut held).await?;
    let (bytes, held) = decode(
        content_encoding(headers),
        raw,
        state.config.ingest.max_envelope_bytes,
        held,
    )
    .await?;
    Ok((Envelope::parse(bytes)?, held))
}

/// Moves what an unauthenticated prefix holds onto the shared budget, now
/// that its key is known.
fn promote(
    state: &AppState,
    reader: &BodyReader,
    client: Option<std::net::IpAddr>,
    prefix: Reservation,
) -> Result<Reservation, IngestError> {
    let mut held = state.budget.reservation(client);
    if !held.grow(reader.capacity()) {
        return Err(overloaded());
    }
    drop(prefix);
    Ok(held)
}

fn envelope_reader(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
) -> Result<BodyReader, IngestError> {
    BodyReader::new(
        body,
        headers,
        state.config.ingest.max_envelope_body_bytes,
        timeouts(state),
        "envelope body",
    )
}

async fn envelope(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    RawQuery(query): RawQuery,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, IngestError> {
    let received_at = Utc::now();
    let project_id = parse_project_id(&project_id)?;
    let mut auth = AuthHeaders {
        x_sentry_auth: header_str(&headers, "x-sentry-auth"),
        authorization: header_str(&headers, "authorization"),
        query: query.as_deref(),
        envelope_dsn: None,
    };
    // a key outside the body is checked before the body is read, so an
    // unauthenticated client cannot hold memory of the budget
    let mut early = match resolve_auth(&auth) {
        Ok(client) => Some(authorize(&state, &client.public_key, project_id).await?),
        Err(AuthError::Missing) => None,
        Err(e) => return Err(e.into()),
    };
    let mut reader = envelope_reader(&state, &headers, body)?;
    let held = match early {
        Some(_) => state.budget.reservation(client),
        None => {
            // the key is in the envelope header: read that much, from the
            // small budget of unauthenticated requests, and check it first
            let encoding = content_encoding(&headers);
            let (envelope_headers, prefix) =
                read_envelope_header(&state, &mut reader, encoding.as_deref(), client).await?;
            if let Some(envelope_headers) = &envelope_headers {
                let found = resolve_auth(&AuthHeaders {
                    envelope_dsn: envelope_headers.dsn.as_deref(),
                    ..auth
                })?;
                early = Some(authorize(&state, &found.public_key, project_id).await?);
            }
            promote(&state, &reader, client, prefix)?
        }
    };
    let (envelope, held) = finish_envelope(&state, &headers, reader, held).await?;
    auth.envelope_dsn = envelope.headers.dsn.as_deref();
    // every source, the envelope's dsn included, must agree
    let found = resolve_auth(&auth)?;
    let key = match early {
        Some(key) if key.key.public_key == found.public_key => key,
        _ => authorize(&state, &found.public_key, project_id).await?,
    };
    let accepted = envelope_items(&state, &envelope, project_id, received_at)?;
    drop(envelope);
    enqueue(&state, &key, project_id, received_at, accepted, held).await
}

/// The project and key of a tunnelled envelope, from its header's `dsn`.
async fn tunnel_key(
    state: &AppState,
    headers: &EnvelopeHeaders,
) -> Result<(ProjectId, std::sync::Arc<corral_core::model::KeyAuth>), IngestError> {
    let dsn_text = headers
        .dsn
        .as_deref()
        .ok_or_else(|| IngestError::Invalid("tunnelled envelope has no dsn header".into()))?;
    let dsn: corral_protocol::Dsn = dsn_text
        .parse()
        .map_err(|e| IngestError::Invalid(format!("dsn header: {e}")))?;
    let project_id = parse_project_id(&dsn.project_id)?;
    let client = resolve_auth(&AuthHeaders {
        x_sentry_auth: None,
        authorization: None,
        query: None,
        envelope_dsn: Some(dsn_text),
    })?;
    let key = authorize(state, &client.public_key, project_id).await?;
    Ok((project_id, key))
}

/// An envelope posted to the tunnel: the project and key come from the
/// envelope header's `dsn`, which is read and checked before the rest of
/// the body.
async fn tunnel(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, IngestError> {
    let received_at = Utc::now();
    let mut reader = envelope_reader(&state, &headers, body)?;
    let encoding = content_encoding(&headers);
    let (envelope_headers, prefix) =
        read_envelope_header(&state, &mut reader, encoding.as_deref(), client).await?;
    let checked = match &envelope_headers {
        Some(h) => Some(tunnel_key(&state, h).await?),
        None => None,
    };
    let held = promote(&state, &reader, client, prefix)?;
    let (envelope, held) = finish_envelope(&state, &headers, reader, held).await?;
    let (project_id, key) = match checked {
        Some(checked) if envelope.headers.dsn == envelope_headers.and_then(|h| h.dsn) => checked,
        _ => tunnel_key(&state, &envelope.headers).await?,
    };
    let accepted = envelope_items(&state, &envelope, project_id, received_at)?;
    drop(envelope);
    enqueue(&state, &key, project_id, received_at, accepted, held).await
}

/// Very old SDKs send `/store/` bodies base64-encoded and zlib-compressed.
fn legacy_store_body(body: &[u8], limit: usize) -> Option<Vec<u8>> {
    use base64::Engine;
    use std::io::Read;
    let text: Vec<u8> = body
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let compressed = base64::engine::general_purpose::STANDARD
        .decode(&text)
        .ok()?;
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(compressed.as_slice())
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .ok()?;
    (out.len() <= limit).then_some(out)
}

async fn store(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    RawQuery(query): RawQuery,
    ClientAddr(client_addr): ClientAddr,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, IngestError> {
    let received_at = Utc::now();
    let project_id = parse_project_id(&project_id)?;
    // authenticate before reading the body: /store/ carries no envelope dsn
    let client = resolve_auth(&AuthHeaders {
        x_sentry_auth: header_str(&headers, "x-sentry-auth"),
        authorization: header_str(&headers, "authorization"),
        query: query.as_deref(),
        envelope_dsn: None,
    })?;
    let key = authorize(&state, &client.public_key, project_id).await?;
    let limits = &state.config.ingest;
    let (raw, held) = read_body(
        body,
        &headers,
        limits.max_store_body_bytes,
        &state.budget,
        client_addr,
        timeouts(&state),
        "store body",
    )
    .await?;
    let (mut bytes, held) = decode(
        content_encoding(&headers),
        raw,
        limits.max_event_bytes,
        held,
    )
    .await?;
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{')
        && let Some(decoded) = legacy_store_body(&bytes, limits.max_event_bytes)
    {
        bytes = Bytes::from(decoded);
    }
    let peek = peek_event(&bytes)?;
    let event_id = peek
        .event_id
        .as_ref()
        .and_then(Value::as_str)
        .and_then(parse_event_id)
        .unwrap_or_else(Uuid::new_v4);
    let payload = parsed_payload(json_text(&bytes, "event")?);
    let item = if peek.ty.as_ref().and_then(Value::as_str) == Some("transaction") {
        JobItem::Transaction { event_id, payload }
    } else {
        JobItem::Event { event_id, payload }
    };
    let accepted = Accepted {
        items: vec![item],
        quantity: 1,
        event_id: Some(event_id),
        attachments: Vec::new(),
    };
    enqueue(&state, &key, project_id, received_at, accepted, held).await
}

async fn security(
    State(state): State<AppState>,
    Path(project_id): Path<String>,
    RawQuery(query): RawQuery,
    ClientAddr(client_addr): ClientAddr,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, IngestError> {
    let received_at = Utc::now();
    let project_id = parse_project_id(&project_id)?;
    let client = resolve_auth(&AuthHeaders {
        x_sentry_auth: header_str(&headers, "x-sentry-auth"),
        authorization: header_str(&headers, "authorization"),
        query: query.as_deref(),
        envelope_dsn: None,
    })?;
    let key = authorize(&state, &client.public_key, project_id).await?;
    let limits = &state.config.ingest;
    let (raw, held) = read_body(
        body,
        &headers,
        limits.max_event_bytes,
        &state.budget,
        client_addr,
        timeouts(&state),
        "security report",
    )
    .await?;
    let (bytes, held) = decode(
        content_encoding(&headers),
        raw,
        limits.max_event_bytes,
        held,
    )
    .await?;
    let events = security_events(&bytes)?;
    let accepted = Accepted {
        quantity: events.len() as u64,
        event_id: events.first().map(|e| e.0),
        items: events
            .into_iter()
            .map(|(event_id, payload)| JobItem::Security { event_id, payload })
            .collect(),
        attachments: Vec::new(),
    };
    enqueue(&state, &key, project_id, received_at, accepted, held).await
}
