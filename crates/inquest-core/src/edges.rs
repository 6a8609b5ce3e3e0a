//! Evidence from the calls between services: the service-graph series a trace pipeline
//! writes on the called service with the caller in a `client` label
//! (`service_graph_latency_p50_seconds{client="checkout"}`). Per edge, whether the calls
//! got slower or failed more in the incident window than before it; per service, what
//! its callers saw of their calls into it and what it saw of its own calls.
//!
//! The rule, as an SRE follows a slowdown down a call graph: when the calls into a
//! service degrade as seen from several callers, the trouble is in that service (one
//! caller alone could be that caller's network or client); a service whose own calls
//! into a degraded service degraded is more likely waiting on it, a victim. Pure
//! functions, no IO.

use std::collections::{BTreeMap, BTreeSet};

use inquest_domain::stats::Baseline;
use inquest_domain::{SeriesName, Timestamp, service_name_of};
use serde::{Deserialize, Serialize};

use crate::semantics::MetricSemantics;
use crate::signals::{MetricKind, ONSET_Z};

/// The label naming the caller on a service-graph series.
pub const CLIENT_LABEL: &str = "client";
/// A call latency this many times its level before the incident is degraded.
pub const LATENCY_RATIO: f64 = 1.5;
/// A failed-call ratio this much above its level before (and at least twice it) is degraded.
pub const ERROR_RISE: f64 = 0.05;

/// How the calls on one edge fared: their level before the incident and sustained in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdgeHealth {
    /// The caller's service name (the `client` label).
    pub caller: String,
    pub callee_key: String,
    pub metric_name: String,
    /// `Latency` or `Errors`.
    pub kind: MetricKind,
    pub before: f64,
    /// The second-highest value in the window (one stray bucket does not count).
    pub after: f64,
    /// `[0, 1]`: 0 when not degraded; a latency 8 times its level, or 25 points more
    /// failed calls, is 1.
    pub degradation: f64,
}

impl EdgeHealth {
    pub fn degraded(&self) -> bool {
        self.degradation > 0.0
    }

    /// "latency 3.2x" / "errors +12 pts".
    pub fn describe(&self) -> String {
        match self.kind {
            MetricKind::Errors => format!("failed calls +{:.0} pts", (self.after - self.before) * 100.0),
            _ => format!("latency {:.1}x", self.after / self.before.max(1e-12)),
        }
    }
}

/// Judge one series of a service when it is a service-graph latency or error series:
/// against `baseline` (clean history) when there is one, else against the window's own
/// points before `window_start`. `None` for any other series, or too few points.
pub fn assess(
    callee_key: &str,
    metric_name: &str,
    meaning: &MetricSemantics,
    points: &[(Timestamp, f64)],
    window_start: Timestamp,
    baseline: Option<&Baseline>,
) -> Option<EdgeHealth> {
    let kind = match meaning.kind {
        MetricKind::Latency | MetricKind::ClientLatency => MetricKind::Latency,
        MetricKind::Errors => MetricKind::Errors,
        _ => return None,
    };
    let name = SeriesName::parse(metric_name);
    let caller = name.labels.get(CLIENT_LABEL)?.clone();
    let mut after: Vec<f64> = points.iter().filter(|(t, _)| *t >= window_start).map(|(_, v)| *v).collect();
    if after.len() < 2 {
        return None;
    }
    after.sort_by(|a, b| b.total_cmp(a));
    let sustained = after[1];
    let (before, scale) = match baseline {
        Some(b) => (b.median, Some(b.scale())),
        None => {
            let mut pre: Vec<f64> = points.iter().filter(|(t, _)| *t < window_start).map(|(_, v)| *v).collect();
            if pre.is_empty() {
                return None;
            }
            pre.sort_by(f64::total_cmp);
            (inquest_domain::stats::quantile_sorted(&pre, 0.5), None)
        }
    };
    // Beyond the history's own noise, when the history is long enough to know it.
    let beyond_noise = scale.is_none_or(|s| sustained - before >= ONSET_Z * s);
    let degradation = match kind {
        MetricKind::Errors => {
            let rise = sustained - before;
            if beyond_noise && rise >= ERROR_RISE && sustained >= 2.0 * before { (rise / 0.25).min(1.0) } else { 0.0 }
        }
        _ => {
            if before > 0.0 && beyond_noise && sustained >= LATENCY_RATIO * before {
                ((sustained / before).log2() / 3.0).min(1.0)
            } else {
                0.0
            }
        }
    };
    Some(EdgeHealth {
        caller,
        callee_key: callee_key.to_string(),
        metric_name: metric_name.to_string(),
        kind,
        before,
        after: sustained,
        degradation,
    })
}

/// What the edges say about one service.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EdgeView {
    /// Callers whose calls into it were measured.
    pub callers: BTreeSet<String>,
    /// Callers whose calls into it degraded, with the worst edge of each.
    pub degraded_callers: BTreeMap<String, EdgeHealth>,
    /// Its own calls that degraded, the worst per callee (by key).
    pub degraded_calls: BTreeMap<String, EdgeHealth>,
    /// Whether any of its own calls were measured.
    pub calls_measured: bool,
    /// The services its measured calls went to (by key).
    pub callees: BTreeSet<String>,
    /// Per degraded caller (by name), how far that caller's own trouble explains what
    /// it saw of this service (its `fanout`, `[0, 1]`).
    pub explained_by_caller: BTreeMap<String, f64>,
    /// Its degraded calls into services whose own calls held their level.
    pub independent_calls: usize,
}

impl EdgeView {
    /// How much a degraded caller's view of it counts: less when that caller's calls
    /// into several services degraded together (the trouble is then the caller's).
    fn weight_of(&self, caller: &str) -> f64 {
        1.0 - self.explained_by_caller.get(caller).copied().unwrap_or(0.0)
    }

    /// The worst degradation of the calls into it, as far as its callers' own trouble
    /// does not explain it.
    pub fn inbound(&self) -> Option<&EdgeHealth> {
        self.degraded_callers
            .iter()
            .map(|(c, e)| (e, e.degradation * self.weight_of(c)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(e, _)| e)
    }

    /// `[0, 1]`: the degradation of `inbound`, discounted as it is.
    pub fn inbound_degradation(&self) -> f64 {
        self.degraded_callers.iter().map(|(c, e)| e.degradation * self.weight_of(c)).fold(0.0, f64::max)
    }

    /// `[0, 1]`: how far its own calls degraded together: the share of the services it
    /// calls whose calls degraded, from two of them on (one slow callee is that
    /// callee's trouble; several at once point at the caller: its CPU, its network,
    /// its client pool). A callee that itself waits on a degraded call is left out:
    /// it passes on the trouble of another one (`views` sets `independent_calls`).
    pub fn fanout(&self) -> f64 {
        let d = self.independent_calls as f64;
        if d < 2.0 {
            return 0.0;
        }
        (d / self.callees.len().max(1) as f64).min(1.0)
    }

    /// Worst degradation of its own calls.
    pub fn outbound(&self) -> Option<&EdgeHealth> {
        self.degraded_calls.values().max_by(|a, b| a.degradation.total_cmp(&b.degradation))
    }

    /// `[0, 1]`: the share of its callers that saw their calls into it degrade, counted
    /// in full from two callers on (one caller alone is half the evidence).
    /// A caller whose own calls degraded together counts as far as that does not
    /// explain what it saw.
    pub fn callee_evidence(&self) -> f64 {
        let d: f64 = self.degraded_callers.keys().map(|c| self.weight_of(c)).sum();
        let n = self.callers.len().max(1) as f64;
        (d / n) * (d / 2.0).min(1.0)
    }

    /// `[0, 1]`: how far its own degraded calls explain what its callers saw of it (1
    /// when it shows nothing worse than what it waits on, or nothing at all), unless
    /// they degraded together (`fanout`): then they are its own doing.
    pub fn victim_evidence(&self) -> f64 {
        let Some(out) = self.outbound() else { return 0.0 };
        let victim = match self.degraded_callers.is_empty() {
            false => (out.degradation / self.inbound_degradation().max(1e-9)).min(1.0),
            true => 1.0,
        };
        victim * (1.0 - self.fanout())
    }
}

/// The view of every service the edges touch, by service key. Callers are named by
/// service name in the `client` label; `keys` resolves them to keys (a name shared by
/// two keys resolves to neither, and stays a caller of its callee only).
pub fn views<'a>(edges: impl IntoIterator<Item = &'a EdgeHealth>, keys: &[&str]) -> BTreeMap<String, EdgeView> {
    let mut by_name: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for k in keys {
        by_name.entry(service_name_of(k)).or_default().push(k);
    }
    let mut out: BTreeMap<String, EdgeView> = BTreeMap::new();
    for e in edges {
        let callee = out.entry(e.callee_key.clone()).or_default();
        callee.callers.insert(e.caller.clone());
        if e.degraded() {
            keep_worst(&mut callee.degraded_callers, e.caller.clone(), e);
        }
        if let Some([caller_key]) = by_name.get(e.caller.as_str()).map(Vec::as_slice) {
            let caller = out.entry((*caller_key).to_string()).or_default();
            caller.calls_measured = true;
            caller.callees.insert(e.callee_key.clone());
            if e.degraded() {
                keep_worst(&mut caller.degraded_calls, e.callee_key.clone(), e);
            }
        }
    }
    let waiting: BTreeSet<String> =
        out.iter().filter(|(_, v)| !v.degraded_calls.is_empty()).map(|(k, _)| k.clone()).collect();
    for v in out.values_mut() {
        v.independent_calls = v.degraded_calls.keys().filter(|k| !waiting.contains(*k)).count();
    }
    // What each degraded caller's own fan-out explains of the calls it saw degrade.
    let fanout: BTreeMap<String, f64> = out
        .iter()
        .filter(|(_, v)| v.fanout() > 0.0)
        .map(|(k, v)| (service_name_of(k).to_string(), v.fanout()))
        .collect();
    for v in out.values_mut() {
        v.explained_by_caller =
            v.degraded_callers.keys().filter_map(|c| fanout.get(c).map(|f| (c.clone(), *f))).collect();
    }
    out
}

fn keep_worst(map: &mut BTreeMap<String, EdgeHealth>, key: String, e: &EdgeHealth) {
    match map.get(&key) {
        Some(old) if old.degradation >= e.degradation => {}
        _ => {
            map.insert(key, e.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone, Utc};

    fn t(min: i64) -> Timestamp {
        Utc.with_ymd_and_hms(2026, 9, 1, 12, 0, 0).single().unwrap_or_default() + Duration::minutes(min)
    }

    fn meaning(name: &str) -> MetricSemantics {
        crate::semantics::Catalogue::bundled().lookup(name)
    }

    fn edge(callee: &str, caller: &str, before: f64, after: f64) -> EdgeHealth {
        let name = format!("service_graph_latency_p50_seconds{{client=\"{caller}\"}}");
        let points = [(t(-1), before), (t(0), after), (t(1), after)];
        assess(callee, &name, &meaning(&name), &points, t(0), None).expect("an edge series")
    }

    #[test]
    fn a_service_graph_series_is_judged_against_its_level_before() {
        let slow = edge("c/n/orders", "checkout", 0.02, 0.08);
        assert_eq!((slow.caller.as_str(), slow.kind), ("checkout", MetricKind::Latency));
        assert!((slow.degradation - 2.0 / 3.0).abs() < 1e-9, "{slow:?}");
        assert_eq!(slow.describe(), "latency 4.0x");
        assert_eq!(edge("c/n/orders", "checkout", 0.02, 0.2).degradation, 1.0, "8 times and more is full");
        assert!(!edge("c/n/orders", "checkout", 0.02, 0.025).degraded());
        // One slow bucket is not a sustained degradation.
        let name = r#"service_graph_latency_p99_seconds{client="checkout"}"#;
        let blip = [(t(-1), 0.1), (t(0), 2.0), (t(1), 0.1)];
        assert!(!assess("k", name, &meaning(name), &blip, t(0), None).expect("edge").degraded());
        // Against a noisy history, the rise must also clear the noise.
        let noisy = Baseline::from_values(&[0.1, 0.3, 0.05, 0.4, 0.2, 0.35, 0.1]).expect("baseline");
        let pts = [(t(0), 0.45), (t(1), 0.45)];
        assert!(!assess("k", name, &meaning(name), &pts, t(0), Some(&noisy)).expect("edge").degraded());
        // Errors rise by points; other series and unlabelled ones are not edges.
        let errors = r#"service_graph_error_ratio{client="checkout"}"#;
        let e = assess("k", errors, &meaning(errors), &[(t(-1), 0.0), (t(0), 0.3), (t(1), 0.3)], t(0), None);
        assert!(e.is_some_and(|e| e.kind == MetricKind::Errors && e.degradation == 1.0));
        let rate = r#"service_graph_request_rate{client="checkout"}"#;
        assert!(assess("k", rate, &meaning(rate), &pts, t(0), None).is_none());
        assert!(assess("k", "latency_ms", &meaning("latency_ms"), &pts, t(-5), None).is_none());
    }

    #[test]
    fn a_callee_seen_degraded_by_two_callers_is_the_origin_and_its_callers_victims() {
        let keys = ["c/n/web", "c/n/api", "c/n/batch", "c/n/db"];
        let edges = [
            edge("c/n/api", "web", 0.1, 0.5),
            edge("c/n/db", "api", 0.01, 0.4),
            edge("c/n/db", "batch", 0.01, 0.3),
            edge("c/n/batch", "web", 0.1, 0.1),
        ];
        let v = views(&edges, &keys);
        let db = &v["c/n/db"];
        assert_eq!(db.degraded_callers.len(), 2);
        assert_eq!((db.callee_evidence(), db.victim_evidence()), (1.0, 0.0));
        let api = &v["c/n/api"];
        assert_eq!(api.callee_evidence(), 0.5, "one caller of one: half the evidence");
        assert_eq!(api.victim_evidence(), 1.0, "its calls into db degraded more than it did");
        let batch = &v["c/n/batch"];
        assert_eq!(batch.callee_evidence(), 0.0);
        assert_eq!(batch.victim_evidence(), 1.0);
        assert!(v["c/n/web"].calls_measured && v["c/n/web"].degraded_calls.contains_key("c/n/api"));
    }

    #[test]
    fn a_caller_whose_calls_all_degrade_together_is_the_origin_not_its_callees() {
        // basic calls station, price and train, and all three calls slow down at once;
        // preserve's calls into basic slow down too. train also serves route, whose
        // calls into it held their level.
        let keys = ["c/n/preserve", "c/n/basic", "c/n/station", "c/n/price", "c/n/train", "c/n/route"];
        let edges = [
            edge("c/n/basic", "preserve", 0.1, 1.0),
            edge("c/n/station", "basic", 0.01, 0.1),
            edge("c/n/price", "basic", 0.01, 0.1),
            edge("c/n/train", "basic", 0.01, 0.2),
            edge("c/n/train", "route", 0.01, 0.01),
        ];
        let v = views(&edges, &keys);
        let basic = &v["c/n/basic"];
        assert_eq!(basic.fanout(), 1.0);
        assert_eq!(basic.victim_evidence(), 0.0, "its calls slowed together: its own doing");
        assert_eq!(basic.inbound_degradation(), 1.0);
        let station = &v["c/n/station"];
        assert_eq!((station.callee_evidence(), station.inbound_degradation()), (0.0, 0.0));
        assert!(station.inbound().is_some(), "the edge is still shown");
        assert_eq!(v["c/n/train"].callee_evidence(), 0.0);
        // One slow callee among several is that callee's trouble.
        let one = [edge("c/n/db", "api", 0.01, 0.4), edge("c/n/cache", "api", 0.01, 0.01)];
        let v = views(&one, &["c/n/api", "c/n/db", "c/n/cache"]);
        assert_eq!(v["c/n/api"].fanout(), 0.0);
        assert_eq!(v["c/n/db"].inbound_degradation(), 1.0);
        assert_eq!(v["c/n/api"].victim_evidence(), 1.0);
        // travel calls route and basic, basic calls route: route is slow. What travel
        // saw of basic is basic waiting on route, so travel's calls did not degrade
        // together on their own.
        let chain = [
            edge("c/n/route", "travel", 0.01, 0.5),
            edge("c/n/basic", "travel", 0.01, 0.5),
            edge("c/n/route", "basic", 0.01, 0.5),
        ];
        let v = views(&chain, &["c/n/travel", "c/n/basic", "c/n/route"]);
        assert_eq!((v["c/n/travel"].independent_calls, v["c/n/travel"].fanout()), (1, 0.0));
        assert_eq!(v["c/n/route"].callee_evidence(), 1.0);
    }
}
