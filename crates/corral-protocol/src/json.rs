//! JSON text as the digest reads it: whatever ingest accepted as JSON.
//!
//! Ingest checks that a payload is JSON (one object, UTF-8) without building
//! anything from it; building values is the digest's work. serde_json,
//! building values, refuses some text that is valid JSON all the same, and
//! which SDKs do send:
//! - a lone UTF-16 surrogate in a `\u` escape (`"\ud83d"`, a string cut in
//!   the middle of an emoji; Python's `json.dumps` writes them), which no
//!   Rust string can hold;
//! - a number beyond `f64` (`1e400`);
//! - values nested deeper than its recursion limit (128).
//!
//! And PostgreSQL refuses NUL (`\u0000`) in `text` and `jsonb`, which SQLite
//! stores. [`read_json`] reads such text anyway, after [`repair_json`] has
//! rewritten what stands in the way: a lone surrogate or a NUL becomes
//! U+FFFD (the replacement character, as a lossy UTF-16 decoder does), a
//! number out of range its text (`"1e400"`), and a value deeper than
//! [`MAX_DEPTH`] its JSON text, as normalization keeps deep local variables.
//! Every payload the worker reads goes through it, so one odd value does not
//! make an event unreadable, and both stores are given the same strings.

use serde::de::DeserializeOwned;

/// How many levels of nesting a repaired text keeps: within serde_json's
/// recursion limit (127 levels), with room for what the stored event is
/// wrapped in later (normalization's `{"values": …}`, API responses).
pub const MAX_DEPTH: usize = 100;

/// What replaces a lone surrogate or a NUL.
const REPLACEMENT: &[u8] = br"\ufffd";

/// Reads a `T` from JSON text: as it is when serde_json can and it holds no
/// NUL, else from [`repair_json`]'s text. Fails only for text that is not
/// JSON (or not a `T`).
pub fn read_json<T: DeserializeOwned>(text: &[u8]) -> Result<T, serde_json::Error> {
    read_with(text, |t| serde_json::from_slice(t))
}

/// [`read_json`] with the caller's parser (tried on the repaired text too).
pub(crate) fn read_with<T>(
    text: &[u8],
    parse: impl Fn(&[u8]) -> Result<T, serde_json::Error>,
) -> Result<T, serde_json::Error> {
    // a NUL reads fine, so it is looked for first (rarely there: one SIMD scan)
    if memchr::memmem::find(text, br"\u0000").is_none() {
        let error = match parse(text) {
            Ok(value) => return Ok(value),
            Err(e) => e,
        };
        return match repair_json(text) {
            Some(repaired) => parse(&repaired),
            None => Err(error),
        };
    }
    match repair_json(text) {
        Some(repaired) => parse(&repaired),
        None => parse(text),
    }
}

/// Text with every NUL replaced by U+FFFD, as [`read_json`] reads a `\u0000`
/// in JSON: for strings that reach a store from elsewhere (envelope item
/// headers), which PostgreSQL would refuse and SQLite keep.
pub fn replace_nul(text: String) -> String {
    if text.contains('\0') {
        text.replace('\0', "\u{fffd}")
    } else {
        text
    }
}

/// The text with lone surrogates and NULs replaced by U+FFFD, numbers out
/// of `f64`'s range written as strings, and values nested deeper than
/// [`MAX_DEPTH`] written as strings of their JSON text; `None` when there is
/// nothing to change. Text that is not JSON is copied as it is: the repaired
/// text is JSON exactly when the text was.
pub fn repair_json(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() + 64);
    let mut changed = false;
    let mut depth = 0usize;
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'"' => i = copy_string(text, i, &mut out, &mut changed),
            b'[' | b'{' if depth == MAX_DEPTH => {
                let end = value_end(text, i);
                let deep = &text[i..end];
                // only JSON becomes a string: repairing never makes text
                // that is not JSON read as if it were (it is embedded in
                // jobs as it came)
                if serde_json::from_slice::<serde::de::IgnoredAny>(deep).is_ok() {
                    write_string(deep, &mut out);
                    changed = true;
                } else {
                    out.extend_from_slice(deep);
                }
                i = end;
            }
            open @ (b'[' | b'{') => {
                depth += 1;
                out.push(open);
                i += 1;
            }
            close @ (b']' | b'}') => {
                depth = depth.saturating_sub(1);
                out.push(close);
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let end = number_end(text, i);
                let number = &text[i..end];
                // serde_json's own parser says what is out of its range
                if is_json_number(number) && serde_json::from_slice::<f64>(number).is_err() {
                    out.push(b'"');
                    out.extend_from_slice(number);
                    out.push(b'"');
                    changed = true;
                } else {
                    out.extend_from_slice(number);
                }
                i = end;
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    changed.then_some(out)
}

/// Copies the string starting at `text[start]` (a quote) through its closing
/// quote, replacing lone surrogates and NULs; returns where it ended.
fn copy_string(text: &[u8], start: usize, out: &mut Vec<u8>, changed: &mut bool) -> usize {
    out.push(b'"');
    let mut i = start + 1;
    loop {
        let run_end = memchr::memchr2(b'"', b'\\', &text[i..]).map_or(text.len(), |n| i + n);
        out.extend_from_slice(&text[i..run_end]);
        i = run_end;
        if i >= text.len() {
            return i;
        }
        if text[i] == b'"' {
            out.push(b'"');
            return i + 1;
        }
        match hex_escape(text, i) {
            Some(0xD800..=0xDBFF) if matches!(hex_escape(text, i + 6), Some(0xDC00..=0xDFFF)) => {
                // a surrogate pair: one character
                out.extend_from_slice(&text[i..i + 12]);
                i += 12;
            }
            Some(0 | 0xD800..=0xDFFF) => {
                out.extend_from_slice(REPLACEMENT);
                *changed = true;
                i += 6;
            }
            Some(_) => {
                out.extend_from_slice(&text[i..i + 6]);
                i += 6;
            }
            // any other escape is two bytes (`\n`, `\\`, `\"`, …)
            None => {
                let end = (i + 2).min(text.len());
                out.extend_from_slice(&text[i..end]);
                i = end;
            }
        }
    }
}

/// The code unit of a `\uXXXX` escape at `text[at]`.
fn hex_escape(text: &[u8], at: usize) -> Option<u16> {
    let escape = text.get(at..at + 6)?;
    let (prefix, hex) = escape.split_at(2);
    if prefix != b"\\u" || !hex.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u16::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
}

/// Where the string starting at `text[start]` ends (after its closing quote).
fn string_end(text: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while let Some(n) = memchr::memchr2(b'"', b'\\', &text[i.min(text.len())..]) {
        i += n;
        if text[i] == b'"' {
            return i + 1;
        }
        i += 2;
    }
    text.len()
}

/// Where the array or object starting at `text[start]` ends.
fn value_end(text: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut i = start;
    while i < text.len() {
        match text[i] {
            b'"' => i = string_end(text, i),
            b'[' | b'{' => {
                depth += 1;
                i += 1;
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    text.len()
}

fn number_end(text: &[u8], start: usize) -> usize {
    text[start..]
        .iter()
        .position(|b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
        .map_or(text.len(), |n| start + n)
}

/// JSON's number grammar: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
fn is_json_number(text: &[u8]) -> bool {
    fn digits(text: &[u8]) -> usize {
        text.iter().take_while(|b| b.is_ascii_digit()).count()
    }
    let mut rest = text.strip_prefix(b"-").unwrap_or(text);
    match digits(rest) {
        0 => return false,
        n if n > 1 && rest[0] == b'0' => return false,
        n => rest = &rest[n..],
    }
    if let Some(fraction) = rest.strip_prefix(b".") {
        match digits(fraction) {
            0 => return false,
            n => rest = &fraction[n..],
        }
    }
    if let Some(exponent) = rest.strip_prefix(b"e").or_else(|| rest.strip_prefix(b"E")) {
        let exponent = exponent
            .strip_prefix(b"+")
            .or_else(|| exponent.strip_prefix(b"-"))
            .unwrap_or(exponent);
        match digits(exponent) {
            0 => return false,
            n => rest = &exponent[n..],
        }
    }
    rest.is_empty()
}

/// Writes raw JSON text as a JSON string of that text.
fn write_string(raw: &[u8], out: &mut Vec<u8>) {
    let text = String::from_utf8_lossy(raw);
    // writing a string into a Vec cannot fail
    if serde_json::to_writer(&mut *out, text.as_ref()).is_err() {
        out.extend_from_slice(b"null");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn repaired(text: &str) -> Option<String> {
        repair_json(text.as_bytes()).map(|t| String::from_utf8(t).unwrap())
    }

    #[test]
    fn lone_surrogates_become_the_replacement_character() {
        let cases = [
            (r#"{"m":"\ud83d"}"#, "\u{fffd}"),
            (r#"{"m":"a\ud83db"}"#, "a\u{fffd}b"),
            (r#"{"m":"\uDC00"}"#, "\u{fffd}"),
            (r#"{"m":"\ud83d\u0041"}"#, "\u{fffd}A"),
            (r#"{"m":"\ud83d\ud83d\ude00"}"#, "\u{fffd}😀"),
            (r#"{"m":"\ud83d\n"}"#, "\u{fffd}\n"),
        ];
        for (text, expected) in cases {
            assert!(serde_json::from_str::<Value>(text).is_err(), "{text}");
            let value: Value = read_json(text.as_bytes()).unwrap();
            assert_eq!(value["m"], expected, "{text}");
        }
        // in a key too
        let value: Value = read_json(br#"{"k\udc00":1}"#).unwrap();
        assert_eq!(value, json!({"k\u{fffd}": 1}));
    }

    #[test]
    fn what_serde_json_reads_is_left_alone() {
        for text in [
            r#"{"m":"\ud83d\ude00 \u00e9 \\ud83d \\u0000 \"\ud83d\ude00\""}"#,
            r#"{"n":[0,-0,1.5,-2e-3,1E+2,1e-400,123456789012345678901234567890]}"#,
            r#"{"a":{"b":[[[{"c":null,"d":true,"e":false}]]]}}"#,
            "{\"x\" : [ 1 , \"2\" ]\n}",
        ] {
            assert!(serde_json::from_str::<Value>(text).is_ok(), "{text}");
            assert_eq!(repaired(text), None, "{text}");
        }
    }

    #[test]
    fn nul_becomes_the_replacement_character() {
        let text = r#"{"m\u0000":"a\u0000b","tags":[["k","\u0000"]]}"#;
        let value: Value = read_json(text.as_bytes()).unwrap();
        assert_eq!(
            value,
            json!({"m\u{fffd}": "a\u{fffd}b", "tags": [["k", "\u{fffd}"]]})
        );
        // an escaped backslash followed by `u0000` is text, not a NUL
        let value: Value = read_json(br#"{"m":"\\u0000"}"#).unwrap();
        assert_eq!(value["m"], r"\u0000");
    }

    #[test]
    fn nul_in_other_text_is_replaced_alike() {
        let from_json: String = read_json(br#""a\u0000b""#).unwrap();
        assert_eq!(replace_nul("a\0b".to_owned()), from_json);
        assert_eq!(replace_nul("plain".to_owned()), "plain");
    }

    #[test]
    fn numbers_out_of_range_become_their_text() {
        let big = format!("1{}", "0".repeat(400));
        let text = format!(r#"{{"a":1e400,"b":[-1E+400,2],"c":{big},"d":1e-400}}"#);
        assert!(serde_json::from_str::<Value>(&text).is_err());
        let value: Value = read_json(text.as_bytes()).unwrap();
        assert_eq!(value["a"], "1e400");
        assert_eq!(value["b"], json!(["-1E+400", 2]));
        assert_eq!(value["c"], big.as_str());
        assert_eq!(value["d"], 0.0);
    }

    #[test]
    fn values_nested_too_deep_become_their_text() {
        let deep = format!("{}{}", "[".repeat(300), "]".repeat(300));
        let text = format!(r#"{{"extra":{{"deep":{deep}}},"message":"\"[{{\" kept"}}"#);
        assert!(serde_json::from_str::<Value>(&text).is_err());
        let value: Value = read_json(text.as_bytes()).unwrap();
        let mut v = &value["extra"]["deep"];
        // the top object and `extra` are two of the levels kept
        for _ in 0..MAX_DEPTH - 2 {
            v = &v[0];
        }
        let rest = 300 - (MAX_DEPTH - 2);
        assert_eq!(
            v.as_str(),
            Some(format!("{}{}", "[".repeat(rest), "]".repeat(rest)).as_str())
        );
        assert_eq!(value["message"], "\"[{\" kept");
    }

    #[test]
    fn text_that_is_not_json_still_fails() {
        for text in [
            r#"{"m": "cut short"#,
            r#"{"m": "\ud83d"#,
            r#"{"m": 1e400"#,
            r#"{"m": 1e400x}"#,
            r#"{"m": -}"#,
            "[[[[",
            "",
        ] {
            assert!(read_json::<Value>(text.as_bytes()).is_err(), "{text}");
        }
        // nor does a value cut for its depth hide what is wrong inside it
        let deep = format!("{{\"d\":{}1 2{}}}", "[".repeat(300), "]".repeat(300));
        assert!(read_json::<Value>(deep.as_bytes()).is_err());
        assert!(
            repair_json(deep.as_bytes())
                .is_none_or(|t| serde_json::from_slice::<serde::de::IgnoredAny>(&t).is_err())
        );
    }

    #[test]
    fn the_number_grammar_is_json_s() {
        for ok in ["0", "-0", "12", "1.5", "1e5", "1E-5", "-1.25e+10"] {
            assert!(is_json_number(ok.as_bytes()), "{ok}");
        }
        for bad in ["-", "01", "1.", ".5", "1e", "1e+", "+1", "1-2", "--1"] {
            assert!(!is_json_number(bad.as_bytes()), "{bad}");
        }
    }
}
