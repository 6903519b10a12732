//! The issue search language shared by the UI and the API, a subset of
//! Sentry's: `is:unresolved level:error release:1.2 environment:prod
//! firstSeen:-24h lastSeen:-7d is:unassigned assigned:me browser:Firefox
//! "quoted text" free words`.
//! Unknown keys are an error that names them, never silently ignored.

use chrono::{DateTime, Duration, Utc};
use corral_protocol::Level;

use crate::model::{Assignee, IssueStatus};
use crate::store::{AssignedFilter, IssueQuery};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    #[error(
        "unknown search key {0:?}; known keys: is, level, release, environment, assigned, firstSeen, lastSeen, and tag names"
    )]
    UnknownKey(String),
    #[error("invalid value {value:?} for {key}: {reason}")]
    InvalidValue {
        key: String,
        value: String,
        reason: String,
    },
    #[error("unclosed quote in search")]
    UnclosedQuote,
    #[error("search contains a control character (such as NUL)")]
    ControlCharacter,
    #[error("search is longer than {MAX_SEARCH_BYTES} bytes")]
    TooLong,
}

/// The longest search accepted: far longer than anyone types, short enough
/// to echo into paging links and logs.
pub const MAX_SEARCH_BYTES: usize = 4096;

/// A term of the query before it is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Term {
    Pair(String, String),
    Text(String),
}

fn tokenize(input: &str) -> Result<Vec<Term>, SearchError> {
    let mut terms = Vec::new();
    let mut chars = input.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else { break };
        if first == '"' {
            chars.next();
            let mut text = String::new();
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => {
                        if let Some(c) = chars.next() {
                            text.push(c);
                        }
                    }
                    Some(c) => text.push(c),
                    None => return Err(SearchError::UnclosedQuote),
                }
            }
            terms.push(Term::Text(text));
            continue;
        }
        let mut word = String::new();
        let mut value: Option<String> = None;
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                break;
            }
            chars.next();
            if c == ':' && value.is_none() && !word.is_empty() {
                // a value may be quoted: release:"1.0 beta"
                let mut v = String::new();
                if chars.peek() == Some(&'"') {
                    chars.next();
                    loop {
                        match chars.next() {
                            Some('"') => break,
                            Some('\\') => {
                                if let Some(c) = chars.next() {
                                    v.push(c);
                                }
                            }
                            Some(c) => v.push(c),
                            None => return Err(SearchError::UnclosedQuote),
                        }
                    }
                    value = Some(v);
                    break;
                }
                value = Some(String::new());
                continue;
            }
            match &mut value {
                Some(v) => v.push(c),
                None => word.push(c),
            }
        }
        match value {
            Some(v) => terms.push(Term::Pair(word, v)),
            None => terms.push(Term::Text(word)),
        }
    }
    Ok(terms)
}

/// A relative time like `-24h`, `-7d`, `-30m`, `-2w` (the sign is optional),
/// or an ISO date / date-time.
fn parse_since(key: &str, value: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, SearchError> {
    let bad = |reason: &str| SearchError::InvalidValue {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    };
    let v = value.trim_start_matches(['-', '>']);
    if let Some(unit) = v.chars().last()
        && unit.is_ascii_alphabetic()
    {
        let n: i64 = v[..v.len() - 1]
            .parse()
            .map_err(|_| bad("expected a number and a unit, like -24h"))?;
        let span = match unit {
            'm' => Duration::minutes(n),
            'h' => Duration::hours(n),
            'd' => Duration::days(n),
            'w' => Duration::weeks(n),
            _ => return Err(bad("unit must be m, h, d or w")),
        };
        return Ok(now - span);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight").and_utc());
    }
    Err(bad(
        "expected a relative time like -24h or a date like 2026-11-01",
    ))
}

/// Tag keys that may be searched as `key:value` (Sentry's common ones and
/// any dotted or custom tag key are accepted; reserved words are not tags).
fn is_tag_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 200
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'))
}

/// The parsed filters, applied on top of `base` (which holds the project
/// scope, sort and paging). `assigned:me` needs to know who asks: see
/// [`parse_query_as`].
pub fn parse_query(
    input: &str,
    base: IssueQuery,
    now: DateTime<Utc>,
) -> Result<IssueQuery, SearchError> {
    parse_query_as(input, base, now, None)
}

/// [`parse_query`] for a user: `me` is the user and their teams, what
/// `assigned:me` matches. Without `me`, `assigned:me` is an error.
pub fn parse_query_as(
    input: &str,
    base: IssueQuery,
    now: DateTime<Utc>,
    me: Option<&[Assignee]>,
) -> Result<IssueQuery, SearchError> {
    if input.len() > MAX_SEARCH_BYTES {
        return Err(SearchError::TooLong);
    }
    // no search term contains one, and PostgreSQL refuses NUL in text
    if input.chars().any(|c| c.is_control() && !c.is_whitespace()) {
        return Err(SearchError::ControlCharacter);
    }
    let mut q = base;
    let mut text = Vec::new();
    for term in tokenize(input)? {
        match term {
            Term::Text(t) => {
                if !t.is_empty() {
                    text.push(t)
                }
            }
            Term::Pair(key, value) => match key.as_str() {
                "is" => match value.as_str() {
                    "assigned" => q.assigned = Some(AssignedFilter::Assigned),
                    "unassigned" => q.assigned = Some(AssignedFilter::Unassigned),
                    _ => {
                        q.status = Some(value.parse::<IssueStatus>().map_err(|_| {
                            SearchError::InvalidValue {
                                key,
                                value: value.clone(),
                                reason:
                                    "expected unresolved, resolved, ignored, assigned or unassigned"
                                        .into(),
                            }
                        })?)
                    }
                },
                "assigned" | "assigned_to" | "assignedTo" => {
                    q.assigned = Some(assigned_filter(&key, &value, me)?)
                }
                "level" => {
                    for v in value.split(',') {
                        let level = Level::parse(v).ok_or_else(|| SearchError::InvalidValue {
                            key: key.clone(),
                            value: v.to_string(),
                            reason: "expected fatal, error, warning, info or debug".into(),
                        })?;
                        q.levels.push(level);
                    }
                }
                "release" => q.release = Some(value),
                "environment" | "env" => q.environment = Some(value),
                "firstSeen" | "first_seen" | "age" => {
                    q.first_seen_after = Some(parse_since(&key, &value, now)?)
                }
                "lastSeen" | "last_seen" => {
                    q.last_seen_after = Some(parse_since(&key, &value, now)?)
                }
                k if is_tag_key(k) && !RESERVED.contains(&k) => q.tags.push((key, value)),
                _ => return Err(SearchError::UnknownKey(key)),
            },
        }
    }
    if !text.is_empty() {
        q.text = Some(text.join(" "));
    }
    Ok(q)
}

/// `assigned:me`, `assigned:none`, `assigned:user:ID`, `assigned:team:ID`.
fn assigned_filter(
    key: &str,
    value: &str,
    me: Option<&[Assignee]>,
) -> Result<AssignedFilter, SearchError> {
    let bad = |reason: &str| SearchError::InvalidValue {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    };
    match value {
        "me" => me
            .map(|me| AssignedFilter::ToAnyOf(me.to_vec()))
            .ok_or_else(|| bad("only a signed-in user has issues assigned to them")),
        "none" => Ok(AssignedFilter::Unassigned),
        other => other
            .parse::<Assignee>()
            .map(AssignedFilter::To)
            .map_err(|_| bad("expected me, none, user:ID or team:ID")),
    }
}

/// Keys Sentry defines that Corral does not search yet: refused by name
/// rather than silently treated as tags.
const RESERVED: &[&str] = &[
    "bookmarks",
    "has",
    "timesSeen",
    "times_seen",
    "issue",
    "issue.id",
    "event.type",
    "message",
];

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap()
    }

    fn parse(s: &str) -> Result<IssueQuery, SearchError> {
        parse_query(s, IssueQuery::default(), now())
    }

    #[test]
    fn keys_and_free_text() {
        let q = parse(r#"is:resolved level:error,fatal release:"1.0 beta" environment:prod browser:Firefox "division by" zero"#).unwrap();
        assert_eq!(q.status, Some(IssueStatus::Resolved));
        assert_eq!(q.levels, vec![Level::Error, Level::Fatal]);
        assert_eq!(q.release.as_deref(), Some("1.0 beta"));
        assert_eq!(q.environment.as_deref(), Some("prod"));
        assert_eq!(q.tags, vec![("browser".to_string(), "Firefox".to_string())]);
        assert_eq!(q.text.as_deref(), Some("division by zero"));
    }

    #[test]
    fn relative_and_absolute_times() {
        let q = parse("firstSeen:-24h lastSeen:2026-11-01").unwrap();
        assert_eq!(q.first_seen_after, Some(now() - Duration::hours(24)));
        assert_eq!(
            q.last_seen_after,
            Some(Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap())
        );
        assert!(matches!(
            parse("firstSeen:-24y"),
            Err(SearchError::InvalidValue { .. })
        ));
    }

    #[test]
    fn mistakes_are_named() {
        assert_eq!(
            parse("is:sleeping").unwrap_err(),
            SearchError::InvalidValue {
                key: "is".into(),
                value: "sleeping".into(),
                reason: "expected unresolved, resolved, ignored, assigned or unassigned".into()
            }
        );
        assert!(matches!(
            parse("level:loud"),
            Err(SearchError::InvalidValue { .. })
        ));
        assert_eq!(
            parse("timesSeen:>10").unwrap_err(),
            SearchError::UnknownKey("timesSeen".into())
        );
        assert_eq!(parse("\"open").unwrap_err(), SearchError::UnclosedQuote);
    }

    #[test]
    fn assignment() {
        assert_eq!(
            parse("is:assigned").unwrap().assigned,
            Some(AssignedFilter::Assigned)
        );
        let q = parse("is:unassigned is:ignored").unwrap();
        assert_eq!(q.assigned, Some(AssignedFilter::Unassigned));
        assert_eq!(q.status, Some(IssueStatus::Ignored));
        assert_eq!(
            parse("assigned:none").unwrap().assigned,
            Some(AssignedFilter::Unassigned)
        );
        assert_eq!(
            parse("assigned:team:4").unwrap().assigned,
            Some(AssignedFilter::To(Assignee::Team(4)))
        );
        let me = [Assignee::User(7), Assignee::Team(3)];
        let q = parse_query_as("assigned:me", IssueQuery::default(), now(), Some(&me)).unwrap();
        assert_eq!(q.assigned, Some(AssignedFilter::ToAnyOf(me.to_vec())));
        assert!(q.tags.is_empty(), "assigned is not a tag");
        // nobody to be "me"
        assert!(matches!(
            parse("assigned:me"),
            Err(SearchError::InvalidValue { key, .. }) if key == "assigned"
        ));
        assert!(matches!(
            parse("assigned:#backend"),
            Err(SearchError::InvalidValue { .. })
        ));
    }

    #[test]
    fn quoted_values_may_escape_quotes() {
        let q = parse(r#"release:"say \"hi\"" environment:"a\\b""#).unwrap();
        assert_eq!(q.release.as_deref(), Some(r#"say "hi""#));
        assert_eq!(q.environment.as_deref(), Some(r"a\b"));
    }

    #[test]
    fn empty_query_changes_nothing() {
        assert_eq!(parse("   ").unwrap(), IssueQuery::default());
    }
}
