//! Times as people read them: "5 min ago", with the exact time at hand.

use chrono::{DateTime, SecondsFormat, Utc};

/// A moment shown relative to now, with its absolute form for a `title`
/// attribute and its machine form for `<time datetime>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct When {
    pub relative: String,
    pub absolute: String,
    pub iso: String,
}

impl When {
    pub fn new(t: DateTime<Utc>, now: DateTime<Utc>) -> When {
        When {
            relative: relative(t, now),
            absolute: t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            iso: t.to_rfc3339_opts(SecondsFormat::Secs, true),
        }
    }
}

fn relative(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - t).num_seconds();
    if secs < 0 {
        // clocks disagree by a little: the future is "just now"
        return "just now".into();
    }
    let (n, unit) = match secs {
        0..45 => return "just now".into(),
        45..3_600 => ((secs + 30) / 60, "min"),
        3_600..86_400 => (secs / 3_600, "h"),
        86_400..2_592_000 => (secs / 86_400, "day"),
        2_592_000..31_536_000 => (secs / 2_592_000, "month"),
        _ => (secs / 31_536_000, "year"),
    };
    let n = n.max(1);
    match unit {
        "min" | "h" => format!("{n} {unit} ago"),
        _ if n == 1 => format!("1 {unit} ago"),
        _ => format!("{n} {unit}s ago"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    #[test]
    fn relative_times() {
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
        let ago = |d: Duration| When::new(now - d, now).relative;
        assert_eq!(ago(Duration::seconds(10)), "just now");
        assert_eq!(ago(Duration::seconds(-30)), "just now");
        assert_eq!(ago(Duration::minutes(5)), "5 min ago");
        assert_eq!(ago(Duration::minutes(59)), "59 min ago");
        assert_eq!(ago(Duration::hours(3)), "3 h ago");
        assert_eq!(ago(Duration::days(1)), "1 day ago");
        assert_eq!(ago(Duration::days(12)), "12 days ago");
        assert_eq!(ago(Duration::days(65)), "2 months ago");
        assert_eq!(ago(Duration::days(800)), "2 years ago");
        let w = When::new(now, now);
        assert_eq!(w.absolute, "2026-11-23 12:00:00 UTC");
        assert_eq!(w.iso, "2026-11-23T12:00:00Z");
    }
}
