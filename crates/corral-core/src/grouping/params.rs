//! Replacing the variable parts of a message or exception value (ids,
//! numbers, addresses, times) by placeholders, so that "user 42 not found"
//! and "user 7 not found" are the same problem.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Captures, Regex};

/// Placeholders, in the order they are applied: the more specific shapes
/// first, so that a UUID is not eaten as hex and numbers, or a date as
/// numbers.
static RULES: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (
            r"(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b",
            "<uuid>",
        ),
        (
            r"(?i)\b\d{4}-\d{2}-\d{2}(?:[t ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:z|[+-]\d{2}:?\d{2})?)?\b",
            "<date>",
        ),
        (r"\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b", "<time>"),
        (
            r"(?i)\b[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}\b",
            "<email>",
        ),
        (
            r"\b(?:25[0-5]|2[0-4]\d|1?\d?\d)(?:\.(?:25[0-5]|2[0-4]\d|1?\d?\d)){3}(?::\d{1,5})?\b",
            "<ip>",
        ),
        (r"(?i)\b0x[0-9a-f]+\b", "<hex>"),
    ]
    .into_iter()
    .map(|(pattern, placeholder)| (Regex::new(pattern).expect("valid pattern"), placeholder))
    .collect()
});

/// Something that may be an IPv6 address; the standard library decides.
static IPV6_CANDIDATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*").expect("valid pattern")
});

/// A run of hex digits long enough to be an id or a hash.
static HEX_WORD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b[0-9a-f]{6,}\b").expect("valid pattern"));

/// Integers and decimals that start a word (not inside one like `utf8`), with
/// or without a unit (`250ms`).
static NUMBER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b\d+(?:\.\d+)?").expect("valid pattern"));

/// The text with its variable parts replaced by placeholders.
pub(crate) fn parameterize(text: &str) -> String {
    let mut out: Cow<'_, str> = Cow::Borrowed(text);
    for (regex, placeholder) in RULES.iter() {
        if let Cow::Owned(replaced) = regex.replace_all(&out, *placeholder) {
            out = Cow::Owned(replaced);
        }
    }
    let out = replace_ipv6(&out);
    // Only a hex word with a digit is an id: "deadbeef" may be, "facade" is a word.
    let out = HEX_WORD.replace_all(&out, |caps: &Captures<'_>| {
        let word = &caps[0];
        if word.bytes().any(|b| b.is_ascii_digit()) && word.bytes().any(|b| !b.is_ascii_digit()) {
            "<hex>".to_owned()
        } else {
            word.to_owned()
        }
    });
    NUMBER.replace_all(&out, "<num>").into_owned()
}

/// IPv6 addresses, but not `std::vector` or `a::b` paths: the candidate must
/// stand alone, have a digit and parse as an address.
fn replace_ipv6(text: &str) -> String {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for m in IPV6_CANDIDATE.find_iter(text) {
        let before = text[..m.start()].chars().next_back();
        let after = text[m.end()..].chars().next();
        let standalone = !before.is_some_and(is_word) && !after.is_some_and(is_word);
        let candidate = m.as_str();
        if standalone
            && candidate.bytes().any(|b| b.is_ascii_digit())
            && candidate.parse::<std::net::Ipv6Addr>().is_ok()
        {
            out.push_str(&text[last..m.start()]);
            out.push_str("<ip>");
            last = m.end();
        }
    }
    out.push_str(&text[last..]);
    out
}

#[cfg(test)]
mod tests {
    use super::parameterize;

    #[test]
    fn placeholders() {
        let cases = [
            ("user 42 not found", "user <num> not found"),
            ("took 3.25s", "took <num>s"),
            (
                "order 0b8b0c5e-8f5c-4a89-9b6a-2f7d0c1e4a11 failed",
                "order <uuid> failed",
            ),
            ("at 2026-11-02T12:00:00.123Z", "at <date>"),
            ("on 2026-11-02 at 12:00:01", "on <date> at <time>"),
            ("mail bob.smith+x@example.co.uk now", "mail <email> now"),
            (
                "connect to 10.0.0.12:5432 refused",
                "connect to <ip> refused",
            ),
            ("from 2001:db8::8a2e:370:7334 denied", "from <ip> denied"),
            ("segfault at 0x7ffd4c3e2a10", "segfault at <hex>"),
            ("A Generic Error 9371d7", "A Generic Error <hex>"),
            (
                "commit 3f786850e387550fdab836ed7e6dc881de23001b",
                "commit <hex>",
            ),
            ("utf8 md5 and facade stay", "utf8 md5 and facade stay"),
            ("no variables here", "no variables here"),
            (
                "std::vector<int>::at and a::b",
                "std::vector<int>::at and a::b",
            ),
            ("::1 refused", "<ip> refused"),
        ];
        for (input, expected) in cases {
            assert_eq!(parameterize(input), expected, "input {input:?}");
        }
    }
}
