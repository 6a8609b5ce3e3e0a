//! Metric anomaly signals: what moved, how strongly, and when it started, against a
//! robust (median/MAD) baseline. Pure functions, no IO.

use chrono::Duration;
use inquest_domain::Timestamp;
use inquest_domain::stats::Baseline;
use serde::{Deserialize, Serialize};

use crate::semantics::MetricSemantics;

/// What a metric measures, from its name (`semantics::Catalogue`, `fixtures/README.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    Latency,
    Errors,
    Traffic,
    Cpu,
    Memory,
    Connections,
    Storage,
    Availability,
    /// Latency of the calls a service makes (a client-side measure): it reflects the
    /// service's dependencies, not the service itself.
    ClientLatency,
    Other,
}

impl MetricKind {
    /// The kind of a metric name in the bundled catalogue (`semantics::Catalogue`).
    pub fn of(metric_name: &str) -> Self {
        crate::semantics::Catalogue::bundled().lookup(metric_name).kind
    }

    /// Which way is bad: +1 up, -1 down, 0 either.
    pub fn bad_direction(self) -> i8 {
        match self {
            MetricKind::Availability => -1,
            MetricKind::Traffic | MetricKind::Other => 0,
            _ => 1,
        }
    }

    /// Saturation of a resource (the `infra` signal).
    pub fn is_saturation(self) -> bool {
        matches!(self, MetricKind::Cpu | MetricKind::Memory | MetricKind::Storage)
    }

    /// Symptoms a caller feels (latency, errors, availability).
    pub fn is_symptom(self) -> bool {
        matches!(self, MetricKind::Latency | MetricKind::Errors | MetricKind::Availability)
    }
}

/// One series' departure from its baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    pub service_key: String,
    pub metric_name: String,
    pub kind: MetricKind,
    /// Robust z of the sustained peak (second-largest deviation in the bad direction),
    /// so one stray point does not count as an anomaly.
    pub z: f64,
    /// +1 when the metric rose, -1 when it fell.
    pub direction: i8,
    /// First time the series stayed beyond the threshold for two consecutive points.
    pub onset: Option<Timestamp>,
    pub baseline_median: f64,
    pub baseline_scale: f64,
    pub peak_value: f64,
    /// Points of the window beyond the threshold in the bad direction.
    pub anomalous_points: usize,
}

impl Signal {
    /// Strength discounted for short-lived excursions: a blip that heals within a
    /// few points is weaker evidence than a sustained shift.
    pub fn effective_strength(&self) -> f64 {
        strength(self.z) * persistence(self.anomalous_points)
    }
}

/// Points beyond the threshold needed for full weight.
pub const SUSTAINED_POINTS: usize = 10;

/// `[0.3, 1]`: how sustained an anomaly is.
pub fn persistence(points: usize) -> f64 {
    0.3 + 0.7 * (points as f64 / SUSTAINED_POINTS as f64).min(1.0)
}

/// Robust z beyond which a point counts as anomalous.
pub const ONSET_Z: f64 = 3.5;

/// Score one series' points in the analysis window against its baseline.
///
/// `window_start` is the incident window's start: the window's points
/// before it are the pre-incident level. A series already off its baseline before
/// the incident by a similar amount (a level that differs from the baseline period,
/// as when normal data comes from another day) has not moved at the incident: only
/// the excess over that pre-incident offset counts.
pub fn detect(
    service_key: &str,
    metric_name: &str,
    meaning: &MetricSemantics,
    baseline: &Baseline,
    window: &[(Timestamp, f64)],
    window_start: Option<Timestamp>,
) -> Option<Signal> {
    if window.len() < 2 || baseline.count < 2 {
        return None;
    }
    let kind = meaning.kind;
    let raw: Vec<f64> = window.iter().map(|(_, v)| baseline.z(*v)).collect();
    let pre: Vec<f64> =
        window.iter().zip(&raw).filter(|((t, _), _)| window_start.is_some_and(|ws| *t < ws)).map(|(_, z)| *z).collect();
    let pre_offset = pre_incident_offset(&pre);
    // Against a flat baseline (most points equal: no MAD) the scale is only the floor, so the
    // size of a departure cannot be measured: it counts as a moderate anomaly, not an
    // overwhelming one (sparse series, mostly zero, dominated the ranking).
    let cap = if baseline.mad <= 0.0 { FLAT_BASELINE_Z } else { f64::INFINITY };
    let zs: Vec<f64> = raw.iter().map(|z| (z - pre_offset).clamp(-cap, cap)).collect();
    // Direction: the bad one when the kind has one, else the larger excursion.
    let direction = match meaning.bad.sign() {
        0 => {
            let up = sustained_peak(&zs, 1);
            let down = sustained_peak(&zs, -1);
            if up >= down { 1 } else { -1 }
        }
        d => d,
    };
    let z = sustained_peak(&zs, direction);
    let onset = zs.windows(2).position(|w| w.iter().all(|z| z * f64::from(direction) >= ONSET_Z)).map(|i| window[i].0);
    let peak_value = window
        .iter()
        .map(|(_, v)| *v)
        .max_by(|a, b| (a * f64::from(direction)).total_cmp(&(b * f64::from(direction))))
        .unwrap_or(baseline.median);
    let anomalous_points = zs.iter().filter(|z| *z * f64::from(direction) >= ONSET_Z).count();
    Some(Signal {
        anomalous_points,
        service_key: service_key.to_string(),
        metric_name: metric_name.to_string(),
        kind,
        z,
        direction,
        onset,
        baseline_median: baseline.median,
        baseline_scale: baseline.scale(),
        peak_value,
    })
}

/// Points just before the incident that give its pre-incident level.
pub const PRE_LEVEL_POINTS: usize = 2;

/// Largest robust z credited to a departure from a flat baseline.
pub const FLAT_BASELINE_Z: f64 = 8.0;

/// Fewest stored baseline points for a robust baseline; with fewer, the window's own
/// points before the incident serve as the baseline (at least two).
pub const MIN_BASELINE_POINTS: usize = 5;

/// The pre-incident offset: the median robust z of the last `PRE_LEVEL_POINTS`
/// points before the incident, when every one of them is off the baseline in the same
/// direction (a shifted level, not a spike); 0 otherwise.
fn pre_incident_offset(pre: &[f64]) -> f64 {
    let pre = &pre[pre.len().saturating_sub(PRE_LEVEL_POINTS)..];
    if pre.len() < 2 || !(pre.iter().all(|z| *z > 0.0) || pre.iter().all(|z| *z < 0.0)) {
        return 0.0;
    }
    let mut v = pre.to_vec();
    v.sort_by(f64::total_cmp);
    inquest_domain::stats::quantile_sorted(&v, 0.5)
}

/// Second-largest signed deviation in `direction` (0 when fewer than two points).
fn sustained_peak(zs: &[f64], direction: i8) -> f64 {
    let mut v: Vec<f64> = zs.iter().map(|z| z * f64::from(direction)).collect();
    v.sort_by(|a, b| b.total_cmp(a));
    v.get(1).copied().unwrap_or(0.0).max(0.0)
}

/// Map a robust z to `[0, 1)`: below 3 is noise, 10 and above is unmistakable.
pub fn strength(z: f64) -> f64 {
    let excess = (z - 3.0).max(0.0);
    1.0 - (-excess / 12.0).exp()
}

/// Minutes from `a` to `b` (positive when `b` is later).
pub fn minutes_between(a: Timestamp, b: Timestamp) -> f64 {
    (b - a).num_milliseconds() as f64 / 60_000.0
}

/// The earliest of the given times.
pub fn earliest(times: impl IntoIterator<Item = Timestamp>) -> Option<Timestamp> {
    times.into_iter().min()
}

/// How long before the window the analysis looks for an onset.
pub fn onset_lookback() -> Duration {
    Duration::minutes(15)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn t(min: i64) -> Timestamp {
        Utc.with_ymd_and_hms(2026, 9, 1, 12, 0, 0).single().unwrap_or_default() + Duration::minutes(min)
    }

    fn latency() -> MetricSemantics {
        crate::semantics::Catalogue::bundled().lookup("latency_ms")
    }

    #[test]
    fn classifies_metric_names() {
        assert_eq!(MetricKind::of("latency_p99_ms"), MetricKind::Latency);
        assert_eq!(MetricKind::of("error_rate"), MetricKind::Errors);
        assert_eq!(MetricKind::of("rps"), MetricKind::Traffic);
        assert_eq!(MetricKind::of("cpu_util"), MetricKind::Cpu);
        assert_eq!(MetricKind::of("connections_used"), MetricKind::Connections);
        assert_eq!(MetricKind::of("query_latency_ms"), MetricKind::Latency);
        assert_eq!(MetricKind::of("pod_client_latency_p99_s"), MetricKind::ClientLatency);
    }

    #[test]
    fn a_single_spike_is_not_an_anomaly_but_a_step_is() {
        let base =
            Baseline::from_values(&(0..100).map(|i| 100.0 + (i % 7) as f64).collect::<Vec<_>>()).expect("baseline");
        let spike: Vec<_> = (0..20).map(|i| (t(i), if i == 5 { 500.0 } else { 102.0 })).collect();
        let s = detect("a", "latency_ms", &latency(), &base, &spike, None).expect("signal");
        assert!(s.z < ONSET_Z, "{s:?}");
        assert!(s.onset.is_none());
        let step: Vec<_> = (0..20).map(|i| (t(i), if i >= 8 { 180.0 } else { 102.0 })).collect();
        let s = detect("a", "latency_ms", &latency(), &base, &step, None).expect("signal");
        assert!(s.z > 10.0, "{s:?}");
        assert_eq!(s.onset, Some(t(8)));
    }

    #[test]
    fn strength_is_monotone_and_bounded() {
        assert_eq!(strength(2.0), 0.0);
        assert!(strength(5.0) < strength(8.0));
        assert!(strength(100.0) <= 1.0);
    }
}
