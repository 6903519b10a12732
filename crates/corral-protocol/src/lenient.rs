//! Lenient readers for the event model, reading straight from the JSON stream.
//!
//! Every field of an event is read through one of these. A value of the wrong
//! shape becomes `None` (or is converted: a number where text was expected
//! becomes its text) and is consumed without an error, so one odd field never
//! makes the event unreadable.
//!
//! They visit the deserializer's tokens directly. The first version read every
//! field into a `serde_json::Value` and converted that, which rebuilt each
//! nested object once per level of the model (an exception's frames' `vars`
//! four times over); that was two thirds of the digest's CPU time per event
//! (docs/PERFORMANCE.md). Only what the model keeps verbatim (`other`, `vars`,
//! `contexts`, …) becomes a `Value`, once.
//!
//! The same readers work on a `Value` (`serde_json::from_value`), which is how
//! [`crate::Event::from_json`] reads the rare event the one-pass reader refuses
//! (a repeated key).

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use uuid::Uuid;

use crate::event::{Level, Tags, Timestamp, Values, parse_event_id};

/// A type read leniently: `Ok(None)` for a value of the wrong shape (which is
/// consumed); an error only when the input itself is not valid JSON.
pub(crate) trait LenientRead: Sized {
    fn read<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Self>, D::Error>;
}

/// `deserialize_with` for any [`LenientRead`] field.
pub(crate) fn lenient<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: LenientRead,
{
    T::read(d)
}

/// Reads a string, accepting numbers and booleans (turned into text) and
/// objects or arrays (turned into their JSON text).
pub(crate) fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    d.deserialize_any(TextVisitor)
}

/// Reads a boolean, accepting `"true"`/`"false"` (and yes/no, 1/0 as text) and
/// integers (non-zero is true).
pub(crate) fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    d.deserialize_any(BOOL)
}

/// Reads an unsigned integer, accepting numeric strings and non-negative floats.
pub(crate) fn lenient_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    d.deserialize_any(U64)
}

/// Reads an object; anything else becomes `None`.
pub(crate) fn lenient_object<'de, D>(d: D) -> Result<Option<Map<String, Value>>, D::Error>
where
    D: Deserializer<'de>,
{
    d.deserialize_any(ObjectVisitor)
}

/// Reads a list of strings (elements turned into text, nulls dropped); a lone
/// string is a list of one.
pub(crate) fn lenient_string_vec<'de, D>(d: D) -> Result<Option<Vec<String>>, D::Error>
where
    D: Deserializer<'de>,
{
    d.deserialize_any(StringVecVisitor)
}

/// Reads a list, skipping elements of the wrong shape; anything that is not a
/// list is an empty one.
pub(crate) fn lenient_vec_or_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: LenientRead,
{
    Ok(d.deserialize_any(ListVisitor::<T>(PhantomData))?
        .unwrap_or_default())
}

/// Reads an event id: 32 hex digits or a hyphenated UUID; anything else is `None`.
pub(crate) fn lenient_event_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Uuid>, D::Error> {
    Ok(d.deserialize_any(TextVisitor)?
        .as_deref()
        .and_then(parse_event_id))
}

// ---------------------------------------------------------------------------
// building blocks

/// Consumes a list or an object without keeping it.
fn skip_seq<'de, A: SeqAccess<'de>>(seq: A) -> Result<(), A::Error> {
    IgnoredAny.visit_seq(seq).map(|_| ())
}

fn skip_map<'de, A: MapAccess<'de>>(map: A) -> Result<(), A::Error> {
    IgnoredAny.visit_map(map).map(|_| ())
}

/// Numbers as text, exactly as `serde_json::Number` prints them (what the
/// `Value`-based reader produced): `1.0` stays `"1.0"`.
fn f64_text(v: f64) -> Option<String> {
    Number::from_f64(v).map(|n| n.to_string())
}

/// Implements a visitor's scalar methods by handing each scalar, as a
/// [`Scalar`], to one function; lists and objects are that visitor's own.
macro_rules! scalars_via {
    ($method:ident) => {
        fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(self.$method(Scalar::Bool(v)))
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(self.$method(Scalar::I64(v)))
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(self.$method(Scalar::U64(v)))
        }
        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(self.$method(Scalar::F64(v)))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(self.$method(Scalar::Str(v)))
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(self.$method(Scalar::Null))
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(self.$method(Scalar::Null))
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
    };
}

/// A JSON scalar as a visitor receives it.
pub(crate) enum Scalar<'a> {
    Null,
    Bool(bool),
    I64(i64),
    U64(u64),
    F64(f64),
    Str(&'a str),
}

/// A visitor for values that are read from one scalar: `read` decides what a
/// scalar means; lists and objects are consumed and read as `None`.
pub(crate) struct ScalarVisitor<T: 'static> {
    expecting: &'static str,
    read: fn(Scalar<'_>) -> Option<T>,
}

impl<T> ScalarVisitor<T> {
    fn scalar(self, v: Scalar<'_>) -> Option<T> {
        (self.read)(v)
    }
}

impl<'de, T> Visitor<'de> for ScalarVisitor<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expecting)
    }

    scalars_via!(scalar);

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        skip_seq(seq).map(|()| None)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        skip_map(map).map(|()| None)
    }
}

/// Text: strings as they are, scalars as their JSON text, lists and objects
/// as their JSON text.
struct TextVisitor;

impl TextVisitor {
    fn scalar(self, v: Scalar<'_>) -> Option<String> {
        match v {
            Scalar::Null => None,
            Scalar::Bool(b) => Some(b.to_string()),
            Scalar::I64(n) => Some(n.to_string()),
            Scalar::U64(n) => Some(n.to_string()),
            Scalar::F64(f) => f64_text(f),
            Scalar::Str(s) => Some(s.to_owned()),
        }
    }
}

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    scalars_via!(scalar);

    // an owned string is kept as it is, not copied
    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Ok(Some(
            Value::deserialize(SeqAccessDeserializer::new(seq))?.to_string(),
        ))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Ok(Some(
            Value::deserialize(MapAccessDeserializer::new(map))?.to_string(),
        ))
    }
}

/// A list element or map value read with [`TextVisitor`].
struct Text(Option<String>);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor).map(Text)
    }
}

const BOOL: ScalarVisitor<bool> = ScalarVisitor {
    expecting: "any JSON value",
    read: bool_scalar,
};

fn bool_scalar(v: Scalar<'_>) -> Option<bool> {
    match v {
        Scalar::Bool(b) => Some(b),
        Scalar::I64(n) => Some(n != 0),
        Scalar::U64(n) => Some(n != 0),
        Scalar::Str(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(true),
            "false" | "0" | "no" => Some(false),
            _ => None,
        },
        Scalar::Null | Scalar::F64(_) => None,
    }
}

const U64: ScalarVisitor<u64> = ScalarVisitor {
    expecting: "any JSON value",
    read: u64_scalar,
};

fn u64_scalar(v: Scalar<'_>) -> Option<u64> {
    match v {
        Scalar::U64(n) => Some(n),
        Scalar::I64(n) => u64::try_from(n).ok(),
        Scalar::F64(f) => (f >= 0.0).then_some(f as u64),
        Scalar::Str(s) => s.trim().parse().ok(),
        Scalar::Null | Scalar::Bool(_) => None,
    }
}

struct ObjectVisitor;

impl ObjectVisitor {
    fn scalar(self, _: Scalar<'_>) -> Option<Map<String, Value>> {
        None
    }
}

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = Option<Map<String, Value>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    scalars_via!(scalar);

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        skip_seq(seq).map(|()| None)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Map::deserialize(MapAccessDeserializer::new(map)).map(Some)
    }
}

struct StringVecVisitor;

impl StringVecVisitor {
    fn scalar(self, v: Scalar<'_>) -> Option<Vec<String>> {
        match v {
            Scalar::Str(s) => Some(vec![s.to_owned()]),
            _ => None,
        }
    }
}

impl<'de> Visitor<'de> for StringVecVisitor {
    type Value = Option<Vec<String>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    scalars_via!(scalar);

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(Text(item)) = seq.next_element()? {
            out.extend(item);
        }
        Ok(Some(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        skip_map(map).map(|()| None)
    }
}

/// A list element read leniently: `None` when it has the wrong shape.
struct Item<T>(Option<T>);

impl<'de, T: LenientRead> Deserialize<'de> for Item<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        T::read(d).map(Item)
    }
}

/// A list of `T`, skipping elements of the wrong shape; `None` when not a list.
struct ListVisitor<T>(PhantomData<T>);

impl<T> ListVisitor<T> {
    fn scalar(self, _: Scalar<'_>) -> Option<Vec<T>> {
        None
    }
}

impl<'de, T: LenientRead> Visitor<'de> for ListVisitor<T> {
    type Value = Option<Vec<T>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    scalars_via!(scalar);

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(256));
        while let Some(Item(item)) = seq.next_element::<Item<T>>()? {
            out.extend(item);
        }
        Ok(Some(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        skip_map(map).map(|()| None)
    }
}

// ---------------------------------------------------------------------------
// the model's types

/// An object read into `T` by its derived reader (whose fields are all
/// lenient); anything else is `None`.
struct ObjectOf<T>(PhantomData<T>);

impl<T> ObjectOf<T> {
    fn scalar(self, _: Scalar<'_>) -> Option<T> {
        None
    }
}

impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectOf<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    scalars_via!(scalar);

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        skip_seq(seq).map(|()| None)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(Some)
    }
}

/// [`LenientRead`] for the model's object types: an object through the type's
/// derived reader, anything else `None`.
macro_rules! read_as_object {
    ($($ty:ty),* $(,)?) => {$(
        impl LenientRead for $ty {
            fn read<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Self>, D::Error> {
                d.deserialize_any(ObjectOf::<$ty>(PhantomData))
            }
        }
    )*};
}

read_as_object!(
    crate::event::LogEntry,
    crate::event::Mechanism,
    crate::event::Exception,
    crate::event::Stacktrace,
    crate::event::Frame,
    crate::event::Thread,
    crate::event::User,
    crate::event::Request,
    crate::event::Breadcrumb,
    crate::event::ClientSdk,
);

/// A timestamp: seconds since the epoch (number or numeric text) or ISO 8601
/// text; `None` otherwise.
pub(crate) const TIMESTAMP: ScalarVisitor<Timestamp> = ScalarVisitor {
    expecting: "a timestamp",
    read: timestamp_scalar,
};

fn timestamp_scalar(v: Scalar<'_>) -> Option<Timestamp> {
    match v {
        Scalar::U64(n) => Timestamp::from_secs_f64(n as f64),
        Scalar::I64(n) => Timestamp::from_secs_f64(n as f64),
        Scalar::F64(f) => Timestamp::from_secs_f64(f),
        Scalar::Str(s) => Timestamp::parse_str(s),
        Scalar::Null | Scalar::Bool(_) => None,
    }
}

impl LenientRead for Timestamp {
    fn read<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Self>, D::Error> {
        d.deserialize_any(TIMESTAMP)
    }
}

/// A level by name (or Python's numeric levels, as numbers or text); `None`
/// for anything else.
pub(crate) const LEVEL: ScalarVisitor<Level> = ScalarVisitor {
    expecting: "a level",
    read: level_scalar,
};

fn level_scalar(v: Scalar<'_>) -> Option<Level> {
    match v {
        Scalar::Str(s) => Level::parse(s),
        Scalar::U64(n) => Level::parse(&n.to_string()),
        Scalar::I64(n) => Level::parse(&n.to_string()),
        Scalar::F64(f) => f64_text(f).as_deref().and_then(Level::parse),
        Scalar::Null | Scalar::Bool(_) => None,
    }
}

impl LenientRead for Level {
    fn read<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Self>, D::Error> {
        d.deserialize_any(LEVEL)
    }
}

/// Frame numbers of `frames_omitted`: a list of integers, else `None`.
impl LenientRead for Vec<u64> {
    fn read<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Self>, D::Error> {
        // small and rare: read whole, then keep it only if every element fits
        let v = Value::deserialize(d)?;
        Ok(match v {
            Value::Array(items) => items.iter().map(Value::as_u64).collect(),
            _ => None,
        })
    }
}

/// Tags as a map `{k: v}` or a list of pairs `[[k, v]]` or of `{"key", "value"}`
/// objects; other shapes are no tags. `None` only for `null`.
pub(crate) struct TagsVisitor;

impl TagsVisitor {
    fn scalar(self, v: Scalar<'_>) -> Option<Tags> {
        match v {
            Scalar::Null => None,
            _ => Some(Tags::default()),
        }
    }
}

impl<'de> Visitor<'de> for TagsVisitor {
    type Value = Option<Tags>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tags")
    }

    scalars_via!(scalar);

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut tags = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
        while let Some((key, Text(value))) = map.next_entry::<String, Text>()? {
            // as a JSON object reads: a repeated key keeps its last value, in
            // the first one's place; a null value is no tag
            let at = tags.iter().position(|(k, _): &(String, String)| *k == key);
            match (at, value) {
                (Some(i), Some(value)) => tags[i].1 = value,
                (Some(i), None) => {
                    tags.remove(i);
                }
                (None, Some(value)) => tags.push((key, value)),
                (None, None) => {}
            }
        }
        Ok(Some(Tags(tags)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut tags = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(TagItem(pair)) = seq.next_element()? {
            tags.extend(pair);
        }
        Ok(Some(Tags(tags)))
    }
}

/// One element of a tag list: `[k, v]` or `{"key": k, "value": v}`.
struct TagItem(Option<(String, String)>);

impl<'de> Deserialize<'de> for TagItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TagItemVisitor).map(TagItem)
    }
}

struct TagItemVisitor;

impl TagItemVisitor {
    fn scalar(self, _: Scalar<'_>) -> Option<(String, String)> {
        None
    }
}

impl<'de> Visitor<'de> for TagItemVisitor {
    type Value = Option<(String, String)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a tag")
    }

    scalars_via!(scalar);

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        // exactly two elements
        let key = seq.next_element::<Text>()?;
        let value = seq.next_element::<Text>()?;
        let more = seq.next_element::<IgnoredAny>()?.is_some();
        if more {
            skip_seq(seq)?;
            return Ok(None);
        }
        Ok(match (key, value) {
            (Some(Text(Some(k))), Some(Text(Some(v)))) => Some((k, v)),
            _ => None,
        })
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut key, mut value) = (None, None);
        while let Some(name) = map.next_key::<String>()? {
            match name.as_str() {
                "key" => key = map.next_value::<Text>()?.0,
                "value" => value = map.next_value::<Text>()?.0,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(key.zip(value))
    }
}

impl LenientRead for Tags {
    fn read<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Self>, D::Error> {
        d.deserialize_any(TagsVisitor)
    }
}

/// A list sent bare (`[…]`), wrapped (`{"values": […], …}`) or as a single
/// object (old SDKs). `None` only for `null`; other shapes are an empty list.
struct ValuesVisitor<T>(PhantomData<T>);

impl<T> ValuesVisitor<T> {
    fn scalar(self, v: Scalar<'_>) -> Option<Values<T>> {
        match v {
            Scalar::Null => None,
            _ => Some(Values::default()),
        }
    }
}

impl<'de, T: LenientRead> Visitor<'de> for ValuesVisitor<T> {
    type Value = Option<Values<T>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list")
    }

    scalars_via!(scalar);

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let values = ListVisitor::<T>(PhantomData).visit_seq(seq)?;
        Ok(Some(Values::new(values.unwrap_or_default())))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut values: Option<Vec<T>> = None;
        let mut other = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == "values" {
                let list = map.next_value_seed(ListSeed::<T>(PhantomData))?;
                values = Some(list.unwrap_or_default());
            } else {
                let value = map.next_value::<Value>()?;
                other.insert(key, value);
            }
        }
        Ok(Some(match values {
            Some(values) => Values { values, other },
            // a bare single object (e.g. an old SDK's one exception)
            None => Values::new(
                T::read(Value::Object(other))
                    .ok()
                    .flatten()
                    .into_iter()
                    .collect(),
            ),
        }))
    }
}

/// The `values` of a wrapped list, read with [`ListVisitor`].
struct ListSeed<T>(PhantomData<T>);

impl<'de, T: LenientRead> serde::de::DeserializeSeed<'de> for ListSeed<T> {
    type Value = Option<Vec<T>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(ListVisitor::<T>(PhantomData))
    }
}

impl<T: LenientRead> LenientRead for Values<T> {
    fn read<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Self>, D::Error> {
        d.deserialize_any(ValuesVisitor::<T>(PhantomData))
    }
}
