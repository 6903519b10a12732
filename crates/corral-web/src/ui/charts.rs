//! Event-count charts as inline SVG. Only geometry is computed here; the
//! templates draw it, so every label is escaped like the rest of the page.
//! Each chart carries its numbers as text too (a `<title>` per bar and an
//! `aria-label`), for screen readers and for reading exact values.

use chrono::{DateTime, Duration, DurationRound, Utc};
use corral_core::model::CountBucket;

/// One bar of a chart; coordinates in the SVG's user units.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    pub x: String,
    pub y: String,
    pub width: String,
    pub height: String,
    /// The slot and its count, e.g. `14:00 UTC: 3 events`.
    pub label: String,
    /// The slot alone, e.g. `14:00`.
    pub slot: String,
    pub count: i64,
}

/// A bar chart of event counts over consecutive time slots.
#[derive(Clone, Debug, PartialEq)]
pub struct Chart {
    /// What the chart shows, with its total (the SVG's title and label).
    pub title: String,
    pub width: u32,
    pub height: u32,
    pub bars: Vec<Bar>,
    pub total: i64,
    pub max: i64,
}

/// The hours of the last day: 24 hourly slots ending with the current hour.
pub fn last_day(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let hour = now
        .duration_trunc(Duration::hours(1))
        .unwrap_or(now - Duration::minutes(59));
    (hour - Duration::hours(23), hour + Duration::hours(1))
}

/// The days of the last month: 30 daily slots (UTC) ending with today.
pub fn last_month(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let day = now
        .duration_trunc(Duration::days(1))
        .unwrap_or(now - Duration::hours(23));
    (day - Duration::days(29), day + Duration::days(1))
}

/// Counts per slot of `step` from `from` to `to`, zero where the store
/// had no bucket.
pub fn slots(
    buckets: &[CountBucket],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    step: Duration,
) -> Vec<(DateTime<Utc>, i64)> {
    let mut out = Vec::new();
    let mut t = from;
    while t < to {
        out.push((t, 0));
        t += step;
    }
    for b in buckets {
        if b.start < from || b.start >= to {
            continue;
        }
        let i = ((b.start - from).num_seconds() / step.num_seconds().max(1)) as usize;
        if let Some(slot) = out.get_mut(i) {
            slot.1 += b.count;
        }
    }
    out
}

/// A chart of the slots; `slot_label` names a slot (e.g. `14:00`).
pub fn chart(
    what: &str,
    slots: &[(DateTime<Utc>, i64)],
    width: u32,
    height: u32,
    slot_label: impl Fn(DateTime<Utc>) -> String,
) -> Chart {
    let total: i64 = slots.iter().map(|(_, c)| c).sum();
    let max = slots.iter().map(|(_, c)| *c).max().unwrap_or(0);
    let n = slots.len().max(1) as f64;
    let step = f64::from(width) / n;
    let gap = if step >= 4.0 { 1.0 } else { 0.0 };
    let h = f64::from(height);
    let bars = slots
        .iter()
        .enumerate()
        .map(|(i, (start, count))| {
            // a slot with events always shows at least a sliver
            let bar_h = if *count > 0 && max > 0 {
                ((*count as f64 / max as f64) * h).max(1.0)
            } else {
                0.0
            };
            let slot = slot_label(*start);
            Bar {
                x: format!("{:.1}", i as f64 * step),
                y: format!("{:.1}", h - bar_h),
                width: format!("{:.1}", (step - gap).max(0.5)),
                height: format!("{bar_h:.1}"),
                label: format!("{slot}: {}", events(*count)),
                slot,
                count: *count,
            }
        })
        .collect();
    Chart {
        title: format!("{what}: {}", events(total)),
        width,
        height,
        bars,
        total,
        max,
    }
}

/// `1 event`, `12 events`.
pub fn events(n: i64) -> String {
    if n == 1 {
        "1 event".to_string()
    } else {
        format!("{n} events")
    }
}

/// The hourly chart of the last day.
pub fn hourly(
    what: &str,
    buckets: &[CountBucket],
    now: DateTime<Utc>,
    width: u32,
    height: u32,
) -> Chart {
    let (from, to) = last_day(now);
    chart(
        what,
        &slots(buckets, from, to, Duration::hours(1)),
        width,
        height,
        |t| t.format("%H:00 UTC").to_string(),
    )
}

/// The daily chart of the last month.
pub fn daily(
    what: &str,
    buckets: &[CountBucket],
    now: DateTime<Utc>,
    width: u32,
    height: u32,
) -> Chart {
    let (from, to) = last_month(now);
    chart(
        what,
        &slots(buckets, from, to, Duration::days(1)),
        width,
        height,
        |t| t.format("%b %-d").to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, h, m, 0).unwrap()
    }

    #[test]
    fn a_day_is_24_hours_ending_with_this_one() {
        let (from, to) = last_day(at(12, 34));
        assert_eq!(from, at(12, 0) - Duration::hours(23));
        assert_eq!(to, at(13, 0));
        let (from, to) = last_month(at(12, 34));
        assert_eq!(to - from, Duration::days(30));
        assert_eq!(to, Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).unwrap());
    }

    #[test]
    fn buckets_land_in_their_slots_and_gaps_are_zero() {
        let buckets = vec![
            CountBucket {
                start: at(10, 0),
                count: 4,
            },
            CountBucket {
                start: at(12, 0),
                count: 2,
            },
            // outside the window: ignored
            CountBucket {
                start: at(13, 0),
                count: 50,
            },
        ];
        let c = hourly("Last 24 hours", &buckets, at(12, 34), 96, 24);
        assert_eq!(c.bars.len(), 24);
        assert_eq!(c.total, 6);
        assert_eq!(c.max, 4);
        assert_eq!(c.bars[21].count, 4);
        assert_eq!(c.bars[22].count, 0);
        assert_eq!(c.bars[23].count, 2);
        assert_eq!(c.bars[21].height, "24.0", "the highest bar fills the chart");
        assert_eq!(c.bars[23].height, "12.0");
        assert_eq!(c.bars[22].height, "0.0");
        assert_eq!(c.bars[23].label, "12:00 UTC: 2 events");
        assert_eq!(c.title, "Last 24 hours: 6 events");
    }

    #[test]
    fn an_empty_chart_has_flat_bars() {
        let c = daily("Last 30 days", &[], at(1, 0), 300, 60);
        assert_eq!(c.bars.len(), 30);
        assert!(c.bars.iter().all(|b| b.height == "0.0"));
        assert_eq!(c.title, "Last 30 days: 0 events");
    }
}
