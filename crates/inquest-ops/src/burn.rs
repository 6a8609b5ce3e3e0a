//! Error budgets and burn rates from stored points, as in the SRE workbook's
//! multiwindow, multi-burn-rate alerts. The budget is `1 - target`; the burn rate over
//! a window is the window's error ratio divided by the budget (1: the budget lasts
//! exactly the SLO window); a condition fires when the burn rate over its long and its
//! short window are both above its factor. Windows are `(end - length, end]`.

use chrono::Duration;
use inquest_domain::Timestamp;
use inquest_ports::Series;
use serde::{Deserialize, Serialize};

use crate::model::*;

/// Running sums of one series' values, for the sum over any window in `O(log n)`.
#[derive(Debug, Clone, Default)]
pub struct Prefix {
    ts: Vec<Timestamp>,
    /// `sums[i]`: the sum of the first `i` values.
    sums: Vec<f64>,
}

impl Prefix {
    pub fn new(points: impl IntoIterator<Item = (Timestamp, f64)>) -> Prefix {
        let mut points: Vec<(Timestamp, f64)> = points.into_iter().filter(|(_, v)| v.is_finite()).collect();
        points.sort_by_key(|(t, _)| *t);
        let mut sums = Vec::with_capacity(points.len() + 1);
        sums.push(0.0);
        let mut acc = 0.0;
        for (_, v) in &points {
            acc += v;
            sums.push(acc);
        }
        Prefix { ts: points.into_iter().map(|(t, _)| t).collect(), sums }
    }

    fn range(&self, from: Timestamp, to: Timestamp) -> (usize, usize) {
        let lo = self.ts.partition_point(|t| *t <= from);
        let hi = self.ts.partition_point(|t| *t <= to);
        (lo, hi.max(lo))
    }

    /// The sum of the values in `(from, to]`.
    pub fn sum(&self, from: Timestamp, to: Timestamp) -> f64 {
        let (lo, hi) = self.range(from, to);
        self.sums[hi] - self.sums[lo]
    }

    /// How many points lie in `(from, to]`.
    pub fn count(&self, from: Timestamp, to: Timestamp) -> usize {
        let (lo, hi) = self.range(from, to);
        hi - lo
    }
}

/// The good and all events of an SLO's query, ready for any window.
#[derive(Debug, Clone)]
pub enum Events {
    Ratio {
        good: Prefix,
        total: Prefix,
    },
    /// One event per point; `bad` holds a 1 for each point above the threshold.
    Latency {
        bad: Prefix,
        all: Prefix,
    },
}

impl Events {
    /// The events of `query` among a service's series (a missing series has none).
    pub fn from_series(query: &SloQuery, series: &[Series]) -> Events {
        let points = |name: &str| -> Vec<(Timestamp, f64)> {
            series.iter().filter(|s| s.metric_name == name).flat_map(|s| s.points.iter().copied()).collect()
        };
        match query {
            SloQuery::Ratio { good, total, .. } => {
                Events::Ratio { good: Prefix::new(points(good)), total: Prefix::new(points(total)) }
            }
            SloQuery::Latency { metric, threshold, .. } => {
                let finite: Vec<(Timestamp, f64)> = points(metric).into_iter().filter(|(_, v)| v.is_finite()).collect();
                let bad = Prefix::new(finite.iter().map(|(t, v)| (*t, if *v > *threshold { 1.0 } else { 0.0 })));
                Events::Latency { bad, all: Prefix::new(finite.iter().map(|(t, _)| (*t, 1.0))) }
            }
        }
    }

    /// Bad events over all events in `(end - length, end]`; `None` without events.
    pub fn error_ratio(&self, end: Timestamp, length: Duration) -> Option<f64> {
        let from = end - length;
        match self {
            Events::Ratio { good, total } => {
                let all = total.sum(from, end);
                (all > 0.0).then(|| (1.0 - good.sum(from, end) / all).clamp(0.0, 1.0))
            }
            Events::Latency { bad, all } => {
                let n = all.count(from, end);
                (n > 0).then(|| bad.sum(from, end) / n as f64)
            }
        }
    }
}

/// The error budget of `target`: the share of events allowed to be bad.
pub fn budget(target: f64) -> f64 {
    1.0 - target
}

/// How fast an error ratio spends the budget of `target` (1: exactly over the SLO window).
pub fn burn_rate(error_ratio: f64, target: f64) -> f64 {
    error_ratio / budget(target)
}

/// The share of the budget left after an error ratio over the whole SLO window.
pub fn budget_remaining(error_ratio: f64, target: f64) -> f64 {
    1.0 - burn_rate(error_ratio, target)
}

pub fn minutes(m: u32) -> Duration {
    Duration::minutes(i64::from(m))
}

pub fn days(d: u32) -> Duration {
    Duration::days(i64::from(d))
}

/// How far back an evaluation at `now` reads: the SLO window or the longest condition
/// window, whichever is longer.
pub fn lookback(spec: &SloSpec) -> Duration {
    let longest = spec.burn_rate_thresholds.iter().map(|t| minutes(t.long_window_minutes)).max();
    longest.map_or(days(spec.window_days), |l| l.max(days(spec.window_days)))
}

/// The SLO at `now`: error ratio and budget over its window, each condition's burn
/// rates, and the state. `signalled` is carried from the previous evaluation; the
/// evaluator sets it after the intake took the signal.
pub fn evaluate(spec: &SloSpec, events: &Events, now: Timestamp, signalled: bool) -> SloStatus {
    let error_ratio = events.error_ratio(now, days(spec.window_days));
    let burn = |m: u32| events.error_ratio(now, minutes(m)).map(|r| burn_rate(r, spec.target));
    let conditions: Vec<ConditionStatus> = spec
        .burn_rate_thresholds
        .iter()
        .map(|t| {
            let (long_burn, short_burn) = (burn(t.long_window_minutes), burn(t.short_window_minutes));
            let firing = matches!((long_burn, short_burn), (Some(l), Some(s)) if l > t.factor && s > t.factor);
            ConditionStatus { threshold: t.clone(), long_burn, short_burn, firing }
        })
        .collect();
    let state = match error_ratio {
        None => SloState::NoData,
        Some(_) if conditions.iter().any(|c| c.firing) => SloState::Burning,
        Some(_) => SloState::Ok,
    };
    let budget_remaining = error_ratio.map(|r| budget_remaining(r, spec.target));
    let message = match (state, budget_remaining) {
        (SloState::NoData, _) => format!("no events in the last {} days", spec.window_days),
        (_, Some(left)) => {
            let firing: Vec<String> = conditions
                .iter()
                .filter(|c| c.firing)
                .map(|c| {
                    format!(
                        "{}x over {} and {}",
                        c.threshold.factor,
                        span(c.threshold.long_window_minutes),
                        span(c.threshold.short_window_minutes)
                    )
                })
                .collect();
            if firing.is_empty() {
                format!("{:.1}% of the error budget left", left * 100.0)
            } else {
                format!("burning {}; {:.1}% of the error budget left", firing.join(", "), left * 100.0)
            }
        }
        _ => String::new(),
    };
    SloStatus { at: now, state, error_ratio, budget_remaining, conditions, signalled, message }
}

/// `90 min`, `6 h`, `3 d`.
pub fn span(minutes: u32) -> String {
    match minutes {
        m if m % 1440 == 0 => format!("{} d", m / 1440),
        m if m % 60 == 0 => format!("{} h", m / 60),
        m => format!("{m} min"),
    }
}

/// One point of an SLO's history: the budget left and each condition's long-window
/// burn rate as they stood at `at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BurnSample {
    pub at: Timestamp,
    pub budget_remaining: Option<f64>,
    /// One per condition, in order: the burn rate over its long window.
    pub burn: Vec<Option<f64>>,
}

/// Samples every `step` from `from` to `to` (both included), computed from the same
/// events as `evaluate`, so the chart and the last evaluation agree.
pub fn history(spec: &SloSpec, events: &Events, from: Timestamp, to: Timestamp, step: Duration) -> Vec<BurnSample> {
    let mut out = Vec::new();
    if step <= Duration::zero() {
        return out;
    }
    let mut at = from;
    while at <= to {
        let budget_remaining = events.error_ratio(at, days(spec.window_days)).map(|r| budget_remaining(r, spec.target));
        let burn = spec
            .burn_rate_thresholds
            .iter()
            .map(|t| events.error_ratio(at, minutes(t.long_window_minutes)).map(|r| burn_rate(r, spec.target)))
            .collect();
        out.push(BurnSample { at, budget_remaining, burn });
        at += step;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use inquest_intake::model::Severity;

    fn t0() -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).single().expect("a valid time")
    }

    fn at(minute: i64) -> Timestamp {
        t0() + Duration::minutes(minute)
    }

    fn close(a: Option<f64>, b: f64) {
        let a = a.expect("a value");
        assert!((a - b).abs() < 1e-9, "{a} != {b}");
    }

    fn series(name: &str, points: impl IntoIterator<Item = (i64, f64)>) -> Series {
        Series { metric_name: name.into(), points: points.into_iter().map(|(m, v)| (at(m), v)).collect() }
    }

    fn spec(target: f64, query: SloQuery) -> SloSpec {
        SloSpec {
            name: "s".into(),
            description: String::new(),
            target,
            window_days: 1,
            metric_query: query,
            burn_rate_thresholds: vec![
                BurnThreshold {
                    long_window_minutes: 60,
                    short_window_minutes: 5,
                    factor: 14.4,
                    severity: Severity::Critical,
                },
                BurnThreshold {
                    long_window_minutes: 360,
                    short_window_minutes: 30,
                    factor: 6.0,
                    severity: Severity::High,
                },
            ],
            enabled: true,
        }
    }

    fn ratio() -> SloQuery {
        SloQuery::Ratio { service: "checkout".into(), good: "ok".into(), total: "all".into() }
    }

    #[test]
    fn prefix_sums_are_over_half_open_windows() {
        let p = Prefix::new([(at(2), 2.0), (at(0), 1.0), (at(1), f64::NAN), (at(3), 4.0)]);
        assert_eq!(p.sum(at(0), at(3)), 6.0, "(0, 3] leaves out minute 0 and the NaN");
        assert_eq!(p.count(at(-1), at(3)), 3);
        assert_eq!(p.sum(at(3), at(10)), 0.0);
        assert_eq!(p.sum(at(5), at(1)), 0.0, "an inverted window is empty");
    }

    /// 100 events a minute for six hours; in the last 40 minutes 30 of each 100 are bad.
    /// Target 99%: budget 0.01.
    ///
    /// By hand, at minute 360:
    /// - 5 min: 500 events, 150 bad: ratio 0.3, burn 30.
    /// - 30 min: 3000 events, 900 bad: ratio 0.3, burn 30.
    /// - 60 min: 6000 events, 40 * 30 = 1200 bad: ratio 0.2, burn 20.
    /// - 360 min: 36000 events, 1200 bad: ratio 1/30, burn 3.333...
    /// - the 1-day window holds the same 361 minutes: 36100 events (minute 0 included),
    ///   1200 bad: ratio 0.0332410, budget left 1 - 3.32410 = -2.32410.
    #[test]
    fn burn_rates_match_values_computed_by_hand() {
        let ok = series("ok", (0..=360).map(|m| (m, if m > 320 { 70.0 } else { 100.0 })));
        let all = series("all", (0..=360).map(|m| (m, 100.0)));
        let s = spec(0.99, ratio());
        let events = Events::from_series(&s.metric_query, &[ok, all]);
        let now = at(360);
        close(events.error_ratio(now, minutes(5)), 0.3);
        close(events.error_ratio(now, minutes(60)), 0.2);
        close(events.error_ratio(now, minutes(360)), 1200.0 / 36000.0);
        let status = evaluate(&s, &events, now, false);
        close(status.error_ratio, 1200.0 / 36100.0);
        close(status.budget_remaining, 1.0 - 1200.0 / 36100.0 / 0.01);
        let [fast, slow] = &status.conditions[..] else { panic!("two conditions") };
        close(fast.long_burn, 20.0);
        close(fast.short_burn, 30.0);
        assert!(fast.firing, "20 and 30 are both above 14.4");
        close(slow.long_burn, 1200.0 / 36000.0 / 0.01);
        close(slow.short_burn, 30.0);
        assert!(!slow.firing, "3.33 over 6 h is below 6");
        assert_eq!(status.state, SloState::Burning);
        assert!(status.message.contains("14.4x over 1 h and 5 min"), "{}", status.message);
    }

    #[test]
    fn a_short_spike_alone_does_not_fire_and_a_recovered_burn_stops() {
        // Bad only in the last 5 minutes: 5 min burns, the hour does not.
        let ok = series("ok", (0..=360).map(|m| (m, if m > 355 { 50.0 } else { 100.0 })));
        let all = series("all", (0..=360).map(|m| (m, 100.0)));
        let s = spec(0.99, ratio());
        let events = Events::from_series(&s.metric_query, &[ok, all]);
        let status = evaluate(&s, &events, at(360), false);
        // 5 min: 250 bad of 500, burn 50; 1 h: 250 of 6000, burn 4.1666...
        close(status.conditions[0].short_burn, 50.0);
        close(status.conditions[0].long_burn, 250.0 / 6000.0 / 0.01);
        assert_eq!(status.state, SloState::Ok);
        // Ten minutes after the spike the short window is clean again.
        let ok = series("ok", (0..=370).map(|m| (m, if (356..=360).contains(&m) { 50.0 } else { 100.0 })));
        let all = series("all", (0..=370).map(|m| (m, 100.0)));
        let events = Events::from_series(&s.metric_query, &[ok, all]);
        close(events.error_ratio(at(370), minutes(5)), 0.0);
    }

    /// Latency: a point is bad above 300 ms. 12 points, one every 5 minutes, 3 of them
    /// slow in the last hour: ratio 3/12 = 0.25; target 0.9, budget 0.1, burn 2.5.
    #[test]
    fn latency_thresholds_count_slow_points() {
        let q = SloQuery::Latency { service: "checkout".into(), metric: "p99_ms".into(), threshold: 300.0 };
        let values = [120.0, 300.0, 450.0, 200.0, 900.0, 100.0, 250.0, 301.0, 150.0, 180.0, 200.0, 210.0];
        let p99 = series("p99_ms", values.iter().enumerate().map(|(i, v)| ((i as i64 + 1) * 5, *v)));
        let mut s = spec(0.9, q);
        s.burn_rate_thresholds = vec![BurnThreshold {
            long_window_minutes: 60,
            short_window_minutes: 10,
            factor: 2.0,
            severity: Severity::High,
        }];
        let events = Events::from_series(&s.metric_query, &[p99]);
        let status = evaluate(&s, &events, at(60), false);
        close(status.conditions[0].long_burn, 2.5);
        // The last 10 minutes: 200 and 210, both fine: 300 exactly is good too.
        close(status.conditions[0].short_burn, 0.0);
        assert!(!status.conditions[0].firing);
        close(status.budget_remaining, 1.0 - 2.5);
    }

    #[test]
    fn no_events_is_no_data_and_never_fires() {
        let s = spec(0.99, ratio());
        let events = Events::from_series(&s.metric_query, &[series("all", [(10, 0.0)])]);
        let status = evaluate(&s, &events, at(60), true);
        assert_eq!((status.state, status.error_ratio, status.signalled), (SloState::NoData, None, true));
        assert!(status.conditions.iter().all(|c| !c.firing && c.long_burn.is_none()));
    }

    #[test]
    fn history_samples_agree_with_evaluate() {
        let ok = series("ok", (0..=120).map(|m| (m, if m > 90 { 0.0 } else { 10.0 })));
        let all = series("all", (0..=120).map(|m| (m, 10.0)));
        let s = spec(0.99, ratio());
        let events = Events::from_series(&s.metric_query, &[ok, all]);
        let h = history(&s, &events, at(60), at(120), Duration::minutes(30));
        assert_eq!(h.iter().map(|b| b.at).collect::<Vec<_>>(), vec![at(60), at(90), at(120)]);
        let now = evaluate(&s, &events, at(120), false);
        assert_eq!(h[2].budget_remaining, now.budget_remaining);
        assert_eq!(h[2].burn[0], now.conditions[0].long_burn);
        close(h[1].burn[0], 0.0);
        // At minute 120 the last hour has 30 bad minutes of 60: ratio 0.5, burn 50.
        close(h[2].burn[0], 50.0);
    }

    #[test]
    fn lookback_covers_the_longest_window() {
        let mut s = spec(0.99, ratio());
        assert_eq!(lookback(&s), Duration::days(1));
        s.window_days = 30;
        assert_eq!(lookback(&s), Duration::days(30));
    }
}
