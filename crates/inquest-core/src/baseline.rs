//! Where a series' baseline comes from: the clean history the metrics store holds, up
//! to a horizon of days, with earlier incidents and the minutes around changes cut
//! out; the same time of day on earlier days when the series is seasonal; the
//! incident's own pre-onset points when there is no history. Pure functions, no IO.

use chrono::Duration;
use inquest_domain::Timestamp;
use inquest_domain::stats::Baseline;
use serde::{Deserialize, Serialize};

/// A half-open time range `[from, to)`.
pub type Range = (Timestamp, Timestamp);

/// Minutes before a change that are left out of the baseline (rollouts start early).
pub const CHANGE_BEFORE_MINUTES: i64 = 5;
/// Minutes after a change that are left out (rollout, warm-up, a new level settling).
pub const CHANGE_AFTER_MINUTES: i64 = 30;
/// Margin left out around an earlier incident's window.
pub const INCIDENT_MARGIN_MINUTES: i64 = 15;
/// Fewest points for a baseline from history.
pub const MIN_HISTORY_POINTS: usize = 5;

/// Which baseline a series was scored against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BaselineSource {
    /// All clean history within the horizon.
    History,
    /// The hours before the incident and the same hours of earlier days.
    SameTimeOfDay,
    /// No history: the incident window's own points before its start.
    PreOnset,
}

/// The ranges an investigation draws baselines from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselinePlan {
    /// Clean ranges of the whole horizon.
    pub history: Vec<Range>,
    /// Clean ranges at the incident's time of day: the hours just before it on its own
    /// day and the same hours around that time on each earlier day of the horizon.
    pub same_time: Vec<Range>,
    /// What was cut out (earlier incidents, changes), merged.
    pub excluded: Vec<Range>,
}

impl BaselinePlan {
    /// Minutes covered by the clean history ranges.
    pub fn history_minutes(&self) -> i64 {
        minutes(&self.history)
    }

    pub fn same_time_minutes(&self) -> i64 {
        minutes(&self.same_time)
    }
}

fn minutes(ranges: &[Range]) -> i64 {
    ranges.iter().map(|(a, b)| (*b - *a).num_minutes()).sum()
}

/// The window an earlier incident or a change makes unusable as baseline.
pub fn incident_exclusion(start: Timestamp, end: Timestamp) -> Range {
    let m = Duration::minutes(INCIDENT_MARGIN_MINUTES);
    (start - m, end.max(start) + m)
}

/// The minutes around a change (deployment, config change) left out of the baseline.
pub fn change_exclusion(at: Timestamp) -> Range {
    (at - Duration::minutes(CHANGE_BEFORE_MINUTES), at + Duration::minutes(CHANGE_AFTER_MINUTES))
}

/// `[from, to)` without the `excluded` ranges, in time order.
pub fn clean_ranges(from: Timestamp, to: Timestamp, excluded: &[Range]) -> Vec<Range> {
    let mut out = Vec::new();
    let mut cursor = from;
    for (a, b) in merge(excluded) {
        if b <= cursor || a >= to {
            continue;
        }
        if a > cursor {
            out.push((cursor, a.min(to)));
        }
        cursor = cursor.max(b);
        if cursor >= to {
            break;
        }
    }
    if cursor < to {
        out.push((cursor, to));
    }
    out
}

/// Overlapping ranges merged, in time order.
pub fn merge(ranges: &[Range]) -> Vec<Range> {
    let mut v: Vec<Range> = ranges.iter().copied().filter(|(a, b)| a < b).collect();
    v.sort();
    let mut out: Vec<Range> = Vec::new();
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// Plan the baseline of an incident starting at `window_start`; history ends at
/// `history_end` (the start of the analysis window). `span_minutes` is the length
/// of the same-time-of-day ranges (before the incident's time on its own day,
/// centred on it on earlier days).
pub fn plan(
    window_start: Timestamp,
    history_end: Timestamp,
    horizon_days: u32,
    span_minutes: i64,
    excluded: &[Range],
) -> BaselinePlan {
    let horizon_start = window_start - Duration::days(i64::from(horizon_days));
    let excluded = merge(excluded);
    let history = clean_ranges(horizon_start, history_end, &excluded);
    let span = Duration::minutes(span_minutes.max(1));
    let mut same_time = clean_ranges((window_start - span).max(horizon_start), history_end, &excluded);
    for day in 1..=i64::from(horizon_days) {
        let centre = window_start - Duration::days(day);
        let from = (centre - span / 2).max(horizon_start);
        let to = (centre + span / 2).min(history_end);
        if from < to {
            same_time.extend(clean_ranges(from, to, &excluded));
        }
    }
    let mut same_time = merge(&same_time);
    same_time.retain(|(a, b)| a < b);
    BaselinePlan { history, same_time, excluded }
}

/// The baseline to score a series against: the same time of day (the hours just
/// before the incident and the same hours of earlier days) when it holds enough
/// points, since it is the nearest history and follows a daily season; else all clean
/// history within the horizon (history recorded days before, at other hours); `None`
/// when neither holds enough points.
pub fn choose<'a>(
    history: Option<&'a Baseline>,
    same_time: Option<&'a Baseline>,
) -> Option<(BaselineSource, &'a Baseline)> {
    let enough = |b: &&Baseline| b.count >= MIN_HISTORY_POINTS;
    match (same_time.filter(enough), history.filter(enough)) {
        (Some(s), _) => Some((BaselineSource::SameTimeOfDay, s)),
        (None, Some(h)) => Some((BaselineSource::History, h)),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn t(min: i64) -> Timestamp {
        Utc.with_ymd_and_hms(2026, 9, 10, 12, 0, 0).single().unwrap_or_default() + Duration::minutes(min)
    }

    fn base(values: &[f64]) -> Baseline {
        Baseline::from_values(values).expect("values")
    }

    #[test]
    fn exclusions_are_cut_out_of_a_range() {
        let clean = clean_ranges(t(0), t(100), &[(t(10), t(20)), (t(15), t(30)), (t(90), t(120)), (t(-10), t(-5))]);
        assert_eq!(clean, vec![(t(0), t(10)), (t(30), t(90))]);
        assert_eq!(clean_ranges(t(0), t(10), &[(t(-5), t(20))]), vec![]);
        assert_eq!(clean_ranges(t(0), t(10), &[]), vec![(t(0), t(10))]);
    }

    #[test]
    fn changes_and_incidents_leave_margins() {
        let (a, b) = change_exclusion(t(0));
        assert_eq!((a, b), (t(-CHANGE_BEFORE_MINUTES), t(CHANGE_AFTER_MINUTES)));
        let (a, b) = incident_exclusion(t(0), t(10));
        assert_eq!((a, b), (t(-INCIDENT_MARGIN_MINUTES), t(10 + INCIDENT_MARGIN_MINUTES)));
    }

    #[test]
    fn the_plan_reaches_back_to_the_horizon_and_aligns_days() {
        let day = 24 * 60;
        let p = plan(t(0), t(-15), 3, 180, &[(t(-day - 30), t(-day + 30))]);
        assert_eq!(p.history.first().map(|r| r.0), Some(t(-3 * day)));
        assert_eq!(p.history.last().map(|r| r.1), Some(t(-15)));
        assert_eq!(p.history_minutes(), 3 * day - 15 - 60);
        // Today's three hours before the incident, and 90 minutes either side of noon on
        // each earlier day, less the excluded hour around yesterday's noon.
        assert!(p.same_time.contains(&(t(-180), t(-15))));
        assert!(p.same_time.contains(&(t(-2 * day - 90), t(-2 * day + 90))));
        assert!(p.same_time.contains(&(t(-day - 90), t(-day - 30))));
        assert_eq!(p.same_time_minutes(), 165 + 120 + 180 + 90);
    }

    #[test]
    fn the_same_time_of_day_wins_when_it_has_points() {
        let history = base(&(0..200).map(|i| 10.0 + (i % 3) as f64).collect::<Vec<_>>());
        let same = base(&[100.0, 101.0, 99.0, 100.0, 102.0, 98.0]);
        assert_eq!(choose(Some(&history), Some(&same)).map(|c| c.0), Some(BaselineSource::SameTimeOfDay));
        // History days before, at other hours: the whole history.
        let none_then = base(&[1.0]);
        assert_eq!(choose(Some(&history), Some(&none_then)).map(|c| c.0), Some(BaselineSource::History));
        assert_eq!(choose(Some(&history), None).map(|c| c.0), Some(BaselineSource::History));
    }

    #[test]
    fn too_little_history_is_no_baseline() {
        let short = base(&[1.0, 2.0]);
        assert!(choose(Some(&short), None).is_none());
        assert!(choose(None, Some(&short)).is_none());
    }
}
