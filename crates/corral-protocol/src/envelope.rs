//! The envelope format (<https://develop.sentry.dev/sdk/envelopes/>).
//!
//! ```text
//! {"event_id":"…","dsn":"…","sent_at":"…"}\n        envelope header
//! {"type":"event","length":41}\n                    item header
//! {"message":"hello","level":"info","x":1}\n        payload (41 bytes)
//! {"type":"attachment"}\n                           item header without length:
//! payload up to the next newline\n                  the payload ends at the newline
//! ```
//!
//! Payloads are slices of the request body (no copies). Unknown item types
//! are kept as [`ItemType::Unknown`] for callers to skip: SDKs add new types
//! all the time and an old server must not reject them.

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::event::{Timestamp, format_event_id, parse_event_id};

/// The most items one envelope may hold; real SDKs send a handful, so this
/// only stops a crafted body of millions of empty items.
pub const MAX_ENVELOPE_ITEMS: usize = 10_000;

/// An envelope: headers and items, in the order received.
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope {
    pub headers: EnvelopeHeaders,
    pub items: Vec<Item>,
}

/// The envelope's first line. A modeled field that has the wrong shape stays
/// in `other` under its own name, so nothing is lost and it is written back.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EnvelopeHeaders {
    /// Wins over the `event_id` inside an event payload.
    pub event_id: Option<Uuid>,
    /// The DSN the SDK was configured with; authenticates tunnelled envelopes.
    pub dsn: Option<String>,
    pub sent_at: Option<Timestamp>,
    /// Everything else (`sdk`, `trace`, …).
    pub other: Map<String, Value>,
}

/// One item: its header line and its payload.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub headers: ItemHeaders,
    pub payload: Bytes,
}

/// An item's header line. As with [`EnvelopeHeaders`], a field of the wrong
/// shape stays in `other`.
#[derive(Clone, Debug, PartialEq)]
pub struct ItemHeaders {
    pub ty: ItemType,
    /// The payload length as the sender declared it (`None`: up to the
    /// newline). The writer always writes the real length.
    pub length: Option<u64>,
    pub content_type: Option<String>,
    pub filename: Option<String>,
    /// For attachments: `event.attachment`, `event.minidump`, …
    pub attachment_type: Option<String>,
    pub other: Map<String, Value>,
}

/// What an item holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ItemType {
    Event,
    Transaction,
    Attachment,
    Session,
    Sessions,
    ClientReport,
    CheckIn,
    UserReport,
    Feedback,
    Security,
    /// A type this server does not know; callers skip it.
    Unknown(String),
}

impl ItemType {
    /// The name on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            ItemType::Event => "event",
            ItemType::Transaction => "transaction",
            ItemType::Attachment => "attachment",
            ItemType::Session => "session",
            ItemType::Sessions => "sessions",
            ItemType::ClientReport => "client_report",
            ItemType::CheckIn => "check_in",
            ItemType::UserReport => "user_report",
            ItemType::Feedback => "feedback",
            ItemType::Security => "security",
            ItemType::Unknown(name) => name,
        }
    }

    /// The type of a wire name; never fails (unknown names are kept).
    pub fn from_name(name: &str) -> ItemType {
        match name {
            "event" => ItemType::Event,
            "transaction" => ItemType::Transaction,
            "attachment" => ItemType::Attachment,
            "session" => ItemType::Session,
            "sessions" => ItemType::Sessions,
            "client_report" => ItemType::ClientReport,
            "check_in" => ItemType::CheckIn,
            "user_report" => ItemType::UserReport,
            "feedback" => ItemType::Feedback,
            "security" => ItemType::Security,
            other => ItemType::Unknown(other.to_owned()),
        }
    }
}

impl fmt::Display for ItemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ItemType {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(ItemType::from_name(s))
    }
}

impl From<&str> for ItemType {
    fn from(name: &str) -> Self {
        ItemType::from_name(name)
    }
}

/// Why a body is not an envelope. `index` counts items from 0.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("empty envelope")]
    Empty,
    #[error("invalid envelope header: {0}")]
    InvalidHeader(String),
    #[error("item {index}: invalid item header: {reason}")]
    InvalidItemHeader { index: usize, reason: String },
    #[error("item {index}: item header has no type")]
    MissingItemType { index: usize },
    #[error(
        "item {index}: length {length} runs past the end of the envelope ({available} bytes left)"
    )]
    LengthPastEnd {
        index: usize,
        length: u64,
        available: usize,
    },
    #[error("item {index}: payload is not followed by a newline")]
    MissingNewline { index: usize },
    #[error("too many items (more than {max})")]
    TooManyItems { max: usize },
}

impl ItemHeaders {
    pub fn new(ty: ItemType) -> ItemHeaders {
        ItemHeaders {
            ty,
            length: None,
            content_type: None,
            filename: None,
            attachment_type: None,
            other: Map::new(),
        }
    }
}

impl Item {
    /// An item of the given type; `length` is set to the payload's.
    pub fn new(ty: ItemType, payload: impl Into<Bytes>) -> Item {
        let payload = payload.into();
        let mut headers = ItemHeaders::new(ty);
        headers.length = Some(payload.len() as u64);
        Item { headers, payload }
    }

    pub fn ty(&self) -> &ItemType {
        &self.headers.ty
    }

    pub fn with_content_type(mut self, content_type: impl Into<String>) -> Item {
        self.headers.content_type = Some(content_type.into());
        self
    }

    pub fn with_filename(mut self, filename: impl Into<String>) -> Item {
        self.headers.filename = Some(filename.into());
        self
    }

    pub fn with_attachment_type(mut self, attachment_type: impl Into<String>) -> Item {
        self.headers.attachment_type = Some(attachment_type.into());
        self
    }
}

impl EnvelopeHeaders {
    /// The envelope header from its line alone (without the `\n`), as a
    /// server reads it before the rest of the body has arrived.
    pub fn parse_line(line: &[u8]) -> Result<EnvelopeHeaders, EnvelopeError> {
        parse_envelope_headers(line)
    }
}

impl Envelope {
    pub fn new(headers: EnvelopeHeaders) -> Envelope {
        Envelope {
            headers,
            items: Vec::new(),
        }
    }

    pub fn add_item(&mut self, item: Item) {
        self.items.push(item);
    }

    /// Parses an envelope; item payloads share `bytes`' memory.
    pub fn parse(bytes: Bytes) -> Result<Envelope, EnvelopeError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(EnvelopeError::Empty);
        }
        let (header_line, mut pos) = read_line(&bytes, 0);
        let headers = parse_envelope_headers(header_line)?;

        let mut items = Vec::new();
        loop {
            // blank lines between or after items carry nothing
            while pos < bytes.len() && matches!(bytes[pos], b'\n' | b'\r') {
                pos += 1;
            }
            if pos >= bytes.len() {
                break;
            }
            let index = items.len();
            if index >= MAX_ENVELOPE_ITEMS {
                return Err(EnvelopeError::TooManyItems {
                    max: MAX_ENVELOPE_ITEMS,
                });
            }
            let (line, next) = read_line(&bytes, pos);
            let item_headers = parse_item_headers(index, line)?;
            pos = next;

            let payload = match item_headers.length {
                Some(length) => {
                    let available = bytes.len() - pos;
                    let len = usize::try_from(length)
                        .ok()
                        .filter(|len| *len <= available)
                        .ok_or(EnvelopeError::LengthPastEnd {
                            index,
                            length,
                            available,
                        })?;
                    let payload = bytes.slice(pos..pos + len);
                    pos += len;
                    match bytes.get(pos) {
                        None => {}
                        Some(b'\n') => pos += 1,
                        Some(b'\r') if bytes.get(pos + 1) == Some(&b'\n') => pos += 2,
                        Some(_) => return Err(EnvelopeError::MissingNewline { index }),
                    }
                    payload
                }
                None => {
                    let (line, next) = read_line(&bytes, pos);
                    let payload = bytes.slice_ref(line);
                    pos = next;
                    payload
                }
            };
            items.push(Item {
                headers: item_headers,
                payload,
            });
        }
        Ok(Envelope { headers, items })
    }

    /// Writes the envelope; every item gets an explicit `length`, so
    /// payloads may contain newlines.
    pub fn to_vec(&self) -> Vec<u8> {
        let payloads: usize = self.items.iter().map(|i| i.payload.len() + 64).sum();
        let mut out = Vec::with_capacity(128 + payloads);
        write_json_line(&mut out, &envelope_headers_json(&self.headers));
        for item in &self.items {
            write_json_line(&mut out, &item_headers_json(item));
            out.extend_from_slice(&item.payload);
            out.push(b'\n');
        }
        out
    }
}

/// The line starting at `start` (without its `\n`) and where the next begins.
fn read_line(bytes: &[u8], start: usize) -> (&[u8], usize) {
    let rest = &bytes[start..];
    match rest.iter().position(|b| *b == b'\n') {
        Some(i) => (&rest[..i], start + i + 1),
        None => (rest, bytes.len()),
    }
}

fn parse_json_object(line: &[u8]) -> Result<Map<String, Value>, String> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Err("empty line where a JSON object was expected".to_owned());
    }
    match serde_json::from_slice::<Value>(line) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("not a JSON object".to_owned()),
        Err(e) => Err(format!("invalid JSON: {e}")),
    }
}

fn parse_envelope_headers(line: &[u8]) -> Result<EnvelopeHeaders, EnvelopeError> {
    let mut other = parse_json_object(line).map_err(EnvelopeError::InvalidHeader)?;
    let event_id = take_if(&mut other, "event_id", |v| {
        v.as_str().and_then(parse_event_id)
    });
    let dsn = take_if(&mut other, "dsn", |v| v.as_str().map(str::to_owned));
    let sent_at = take_if(&mut other, "sent_at", |v| {
        serde_json::from_value::<Timestamp>(v.clone()).ok()
    });
    Ok(EnvelopeHeaders {
        event_id,
        dsn,
        sent_at,
        other,
    })
}

fn parse_item_headers(index: usize, line: &[u8]) -> Result<ItemHeaders, EnvelopeError> {
    let mut other = parse_json_object(line)
        .map_err(|reason| EnvelopeError::InvalidItemHeader { index, reason })?;
    let ty = match other.shift_remove("type") {
        None | Some(Value::Null) => return Err(EnvelopeError::MissingItemType { index }),
        Some(Value::String(name)) => ItemType::from_name(&name),
        Some(_) => {
            return Err(EnvelopeError::InvalidItemHeader {
                index,
                reason: "type is not a string".to_owned(),
            });
        }
    };
    let length = match other.shift_remove("length") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64(),
        Some(v) => {
            return Err(EnvelopeError::InvalidItemHeader {
                index,
                reason: format!("length {v} is not a non-negative integer"),
            });
        }
    };
    let string = |v: &Value| v.as_str().map(str::to_owned);
    Ok(ItemHeaders {
        ty,
        length,
        content_type: take_if(&mut other, "content_type", string),
        filename: take_if(&mut other, "filename", string),
        attachment_type: take_if(&mut other, "attachment_type", string),
        other,
    })
}

/// Removes `key` from `map` if `read` understands its value; otherwise the
/// value stays where it is.
fn take_if<T>(
    map: &mut Map<String, Value>,
    key: &str,
    read: impl FnOnce(&Value) -> Option<T>,
) -> Option<T> {
    let value = read(map.get(key)?)?;
    map.shift_remove(key);
    Some(value)
}

fn envelope_headers_json(h: &EnvelopeHeaders) -> Map<String, Value> {
    let mut map = Map::new();
    if let Some(id) = &h.event_id {
        map.insert("event_id".into(), Value::String(format_event_id(id)));
    }
    if let Some(dsn) = &h.dsn {
        map.insert("dsn".into(), Value::String(dsn.clone()));
    }
    if let Some(sent_at) = &h.sent_at
        && let Ok(value) = serde_json::to_value(sent_at)
    {
        map.insert("sent_at".into(), value);
    }
    for (k, v) in &h.other {
        map.entry(k.clone()).or_insert_with(|| v.clone());
    }
    map
}

fn item_headers_json(item: &Item) -> Map<String, Value> {
    let h = &item.headers;
    let mut map = Map::new();
    map.insert("type".into(), Value::String(h.ty.as_str().to_owned()));
    map.insert("length".into(), Value::from(item.payload.len() as u64));
    for (key, value) in [
        ("content_type", &h.content_type),
        ("filename", &h.filename),
        ("attachment_type", &h.attachment_type),
    ] {
        if let Some(value) = value {
            map.insert(key.into(), Value::String(value.clone()));
        }
    }
    for (k, v) in &h.other {
        map.entry(k.clone()).or_insert_with(|| v.clone());
    }
    map
}

fn write_json_line(out: &mut Vec<u8>, map: &Map<String, Value>) {
    // serializing a map of JSON values to memory cannot fail
    serde_json::to_writer(&mut *out, map).unwrap_or_default();
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &[u8]) -> Result<Envelope, EnvelopeError> {
        Envelope::parse(Bytes::copy_from_slice(text))
    }

    fn payloads(env: &Envelope) -> Vec<&[u8]> {
        env.items.iter().map(|i| &i.payload[..]).collect()
    }

    #[test]
    fn with_and_without_length() {
        let body = b"{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\",\"dsn\":\"https://e12d836b15bb49d7bbf99e64295d995b@sentry.io/42\"}\n\
{\"type\":\"attachment\",\"length\":10,\"content_type\":\"text/plain\",\"filename\":\"hello.txt\"}\n\
\xef\xbb\xbfHello\r\n\n\
{\"type\":\"event\",\"content_type\":\"application/json\",\"filename\":\"application.log\"}\n\
{\"message\":\"hello world\",\"level\":\"error\"}\n";
        let env = parse(body).unwrap();
        assert_eq!(
            env.headers
                .event_id
                .map(|id| format_event_id(&id))
                .as_deref(),
            Some("9ec79c33ec9942ab8353589fcb2e04dc")
        );
        assert_eq!(
            env.headers.dsn.as_deref(),
            Some("https://e12d836b15bb49d7bbf99e64295d995b@sentry.io/42")
        );
        assert_eq!(env.items.len(), 2);
        let att = &env.items[0];
        assert_eq!(att.headers.ty, ItemType::Attachment);
        assert_eq!(att.headers.length, Some(10));
        assert_eq!(att.headers.content_type.as_deref(), Some("text/plain"));
        assert_eq!(att.headers.filename.as_deref(), Some("hello.txt"));
        assert_eq!(&att.payload[..], b"\xef\xbb\xbfHello\r\n");
        let ev = &env.items[1];
        assert_eq!(ev.headers.ty, ItemType::Event);
        assert_eq!(ev.headers.length, None);
        assert_eq!(
            &ev.payload[..],
            br#"{"message":"hello world","level":"error"}"#
        );
    }

    #[test]
    fn payloads_are_zero_copy_slices() {
        let body = Bytes::from_static(b"{}\n{\"type\":\"event\",\"length\":2}\n{}\n");
        let env = Envelope::parse(body.clone()).unwrap();
        let p = &env.items[0].payload;
        let offset = p.as_ptr() as usize - body.as_ptr() as usize;
        assert_eq!(offset, body.len() - 3);
    }

    #[test]
    fn empty_payloads() {
        let body = b"{}\n{\"type\":\"attachment\",\"length\":0}\n\n{\"type\":\"attachment\"}\n\n{\"type\":\"session\",\"length\":0}";
        let env = parse(body).unwrap();
        assert_eq!(env.items.len(), 3);
        assert!(env.items.iter().all(|i| i.payload.is_empty()));
        assert_eq!(env.items[2].headers.ty, ItemType::Session);
    }

    #[test]
    fn final_newline_missing_extra_or_doubled() {
        let base = b"{}\n{\"type\":\"event\",\"length\":2}\n{}".to_vec();
        let no_len = b"{}\n{\"type\":\"event\"}\n{}".to_vec();
        for body in [&base, &no_len] {
            for tail in [&b""[..], b"\n", b"\n\n", b"\n\n\n", b"\r\n"] {
                let mut b = body.clone();
                b.extend_from_slice(tail);
                let env = parse(&b).unwrap_or_else(|e| panic!("{tail:?}: {e}"));
                assert_eq!(env.items.len(), 1, "{tail:?}");
                let expected: &[u8] = if body == &no_len && tail.starts_with(b"\r") {
                    b"{}\r"
                } else {
                    b"{}"
                };
                assert_eq!(&env.items[0].payload[..], expected, "{tail:?}");
            }
        }
        // a header-only envelope, with or without its newline
        assert!(parse(b"{}").unwrap().items.is_empty());
        assert!(parse(b"{}\n").unwrap().items.is_empty());
        assert!(parse(b"{\"event_id\":null}\n\n").unwrap().items.is_empty());
        // an item header at the very end, without payload
        let env = parse(b"{}\n{\"type\":\"event\"}").unwrap();
        assert_eq!(payloads(&env), vec![&b""[..]]);
    }

    #[test]
    fn unknown_item_types_are_kept() {
        let body = b"{}\n{\"type\":\"profile_chunk\",\"length\":3,\"platform\":\"python\"}\nabc\n{\"type\":\"event\"}\n{}\n";
        let env = parse(body).unwrap();
        assert_eq!(
            env.items[0].headers.ty,
            ItemType::Unknown("profile_chunk".into())
        );
        assert_eq!(env.items[0].headers.other["platform"], "python");
        assert_eq!(env.items[1].headers.ty, ItemType::Event);
    }

    #[test]
    fn every_known_type_by_name() {
        for ty in [
            ItemType::Event,
            ItemType::Transaction,
            ItemType::Attachment,
            ItemType::Session,
            ItemType::Sessions,
            ItemType::ClientReport,
            ItemType::CheckIn,
            ItemType::UserReport,
            ItemType::Feedback,
            ItemType::Security,
        ] {
            assert_eq!(ItemType::from_name(ty.as_str()), ty);
            assert_eq!(ty.as_str().parse::<ItemType>().unwrap(), ty);
        }
        assert_eq!(ItemType::from("replay_video").as_str(), "replay_video");
    }

    #[test]
    fn length_running_past_the_end() {
        let err = parse(b"{}\n{\"type\":\"event\",\"length\":10}\n{}\n").unwrap_err();
        assert_eq!(
            err,
            EnvelopeError::LengthPastEnd {
                index: 0,
                length: 10,
                available: 3
            }
        );
        let huge =
            parse(b"{}\n{\"type\":\"event\",\"length\":18446744073709551615}\n{}").unwrap_err();
        assert!(
            matches!(huge, EnvelopeError::LengthPastEnd { .. }),
            "{huge}"
        );
        let second = parse(
            b"{}\n{\"type\":\"event\",\"length\":2}\n{}\n{\"type\":\"event\",\"length\":5}\nab",
        )
        .unwrap_err();
        assert!(matches!(
            second,
            EnvelopeError::LengthPastEnd { index: 1, .. }
        ));
        assert!(second.to_string().starts_with("item 1:"), "{second}");
    }

    #[test]
    fn length_too_short_leaves_garbage() {
        let err = parse(b"{}\n{\"type\":\"event\",\"length\":1}\n{}\n").unwrap_err();
        assert_eq!(err, EnvelopeError::MissingNewline { index: 0 });
    }

    #[test]
    fn invalid_headers() {
        assert_eq!(parse(b""), Err(EnvelopeError::Empty));
        assert_eq!(parse(b" \n\n"), Err(EnvelopeError::Empty));
        for body in [&b"{nope\n"[..], b"[1,2]\n", b"\n{}\n", b"{} {}\n"] {
            assert!(
                matches!(parse(body), Err(EnvelopeError::InvalidHeader(_))),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
        let cases: &[(&[u8], EnvelopeError)] = &[
            (
                b"{}\n{\"length\":2}\n{}\n",
                EnvelopeError::MissingItemType { index: 0 },
            ),
            (
                b"{}\n{\"type\":\"event\",\"length\":0}\n\n{\"type\":null}\n",
                EnvelopeError::MissingItemType { index: 1 },
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(&parse(body).unwrap_err(), expected);
        }
        for body in [
            &b"{}\n{\"type\":\"event\"\n{}\n"[..],
            b"{}\n\"event\"\n{}\n",
            b"{}\n{\"type\":7}\n{}\n",
            b"{}\n{\"type\":\"event\",\"length\":-1}\n{}\n",
            b"{}\n{\"type\":\"event\",\"length\":\"2\"}\n{}\n",
            b"{}\n{\"type\":\"event\",\"length\":1.5}\n{}\n",
        ] {
            let err = parse(body).unwrap_err();
            assert!(
                matches!(err, EnvelopeError::InvalidItemHeader { index: 0, .. }),
                "{:?}: {err:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn too_many_items() {
        let mut body = b"{}\n".to_vec();
        for _ in 0..MAX_ENVELOPE_ITEMS {
            body.extend_from_slice(b"{\"type\":\"a\",\"length\":0}\n\n");
        }
        assert_eq!(parse(&body).unwrap().items.len(), MAX_ENVELOPE_ITEMS);
        body.extend_from_slice(b"{\"type\":\"a\",\"length\":0}\n\n");
        assert_eq!(
            parse(&body).unwrap_err(),
            EnvelopeError::TooManyItems {
                max: MAX_ENVELOPE_ITEMS
            }
        );
    }

    #[test]
    fn odd_header_values_are_kept_not_rejected() {
        let body = br#"{"event_id":"not-a-uuid","sent_at":"yesterday","dsn":42,"sdk":{"name":"x"}}
{"type":"attachment","length":1,"filename":7,"content_type":null}
a
"#;
        let env = parse(body).unwrap();
        assert_eq!(env.headers.event_id, None);
        assert_eq!(env.headers.sent_at, None);
        assert_eq!(env.headers.dsn, None);
        assert_eq!(env.headers.other["event_id"], "not-a-uuid");
        assert_eq!(env.headers.other["dsn"], 42);
        assert_eq!(env.items[0].headers.filename, None);
        assert_eq!(env.items[0].headers.other["filename"], 7);
        // and the writer gives them back
        let again = Envelope::parse(Bytes::from(env.to_vec())).unwrap();
        assert_eq!(again.headers, env.headers);
        assert_eq!(again.items[0].headers.other, env.items[0].headers.other);
    }

    #[test]
    fn writer_output_is_parsed_back() {
        let mut env = Envelope::new(EnvelopeHeaders {
            event_id: Some(Uuid::from_u128(0x9ec79c33ec9942ab8353589fcb2e04dc)),
            dsn: Some("https://k@h/1".into()),
            sent_at: Timestamp::parse_str("2024-02-27T14:26:53.408Z"),
            other: Map::new(),
        });
        env.add_item(Item::new(ItemType::Event, &b"{\"a\":\n1}"[..]));
        env.add_item(
            Item::new(ItemType::Attachment, vec![0u8, b'\n', 255])
                .with_filename("a.bin")
                .with_content_type("application/octet-stream")
                .with_attachment_type("event.attachment"),
        );
        env.add_item(Item::new(ItemType::Unknown("x".into()), Bytes::new()));
        let bytes = env.to_vec();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            text.starts_with(r#"{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","dsn":"https://k@h/1","sent_at":"2024-02-27T14:26:53.408000Z"}"#),
            "{text}"
        );
        assert_eq!(Envelope::parse(Bytes::from(bytes)).unwrap(), env);
    }

    /// The fixtures are JSON arrays `[envelope header, item header, payload, …]`.
    fn fixture_wire_form(json: &str) -> Vec<u8> {
        let parts: Vec<Value> = serde_json::from_str(json).unwrap();
        let lines: Vec<String> = parts
            .iter()
            .map(|p| serde_json::to_string(p).unwrap())
            .collect();
        lines.join("\n").into_bytes()
    }

    #[test]
    fn django_fixture() {
        let wire = fixture_wire_form(include_str!(
            "../../../tests/fixtures/sentry-events/envelopes/django_message.json"
        ));
        let env = Envelope::parse(Bytes::from(wire)).unwrap();
        assert_eq!(
            format_event_id(&env.headers.event_id.unwrap()),
            "e1681aa101a042548a99f82613b39727"
        );
        assert_eq!(
            env.headers.sent_at,
            Timestamp::parse_str("2023-10-20T14:18:34.277989Z")
        );
        assert_eq!(
            env.headers.other["trace"]["public_key"],
            "422f73a2fd8f4471a5ccc03c77a25d09"
        );
        let types: Vec<_> = env.items.iter().map(|i| i.ty().clone()).collect();
        assert_eq!(types, vec![ItemType::Event, ItemType::ClientReport]);
        assert_eq!(env.items[1].headers.length, Some(175));
        let event = crate::Event::from_json(&env.items[0].payload).unwrap();
        assert_eq!(event.message_text().as_deref(), Some("Page not found!"));
        let report: Value = serde_json::from_slice(&env.items[1].payload).unwrap();
        assert_eq!(report["discarded_events"][1]["reason"], "network_error");
    }

    #[test]
    fn angular_fixture() {
        let wire = fixture_wire_form(include_str!(
            "../../../tests/fixtures/sentry-events/envelopes/js_angular_message.json"
        ));
        let env = Envelope::parse(Bytes::from(wire)).unwrap();
        assert_eq!(
            env.headers.other["sdk"]["name"],
            "sentry.javascript.angular-ivy"
        );
        assert_eq!(env.items.len(), 1);
        assert_eq!(env.items[0].headers.length, None);
        let event = crate::Event::from_json(&env.items[0].payload).unwrap();
        assert_eq!(event.exceptions()[0].ty.as_deref(), Some("EvalError"));
        assert_eq!(event.event_id, env.headers.event_id);
    }
}
