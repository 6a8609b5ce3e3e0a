//! The PromQL poller's pure parts: a query template with its service put in, the
//! `query_range` answer read into series (errors naming the field), the series named
//! and turned into metric points, and the anomaly detector: a robust z-score against a
//! baseline of recent normal points, sustained over several consecutive points, in the
//! direction that is bad for the metric, with the baselines kept as `anomaly_features`.

use std::collections::{BTreeMap, HashMap, VecDeque};

use chrono::{DateTime, Utc};
use inquest_domain::stats::Baseline;
use inquest_domain::{AnomalyFeature, MetricPoint, Timestamp, series_name};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The placeholder a template's PromQL names the service with.
pub const SERVICE_PLACEHOLDER: &str = "{{service}}";

/// The `anomaly_features.incident_id` the baselines are kept under: not an incident id
/// (those are UUIDs), so the two never mix.
pub const BASELINE_KEY: &str = "poll-baseline";

/// `feature_name` suffixes of a baseline (`<series>.baseline_median`, ...).
const BASELINE_FEATURES: [&str; 5] =
    ["baseline_median", "baseline_mad", "baseline_p05", "baseline_p95", "baseline_count"];

/// Why a Prometheus answer could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PollError {
    /// Prometheus answered `{"status": "error"}`.
    #[error("prometheus refused the query ({error_type}): {message}")]
    Refused { error_type: String, message: String },
    /// The body is not a `query_range` answer; `field` names where it went wrong.
    #[error("{field}: {message}")]
    Malformed { field: String, message: String },
}

fn malformed(field: impl Into<String>, message: impl Into<String>) -> PollError {
    PollError::Malformed { field: field.into(), message: message.into() }
}

/// `promql` with every `{{service}}` replaced by `service`.
pub fn render(promql: &str, service: &str) -> String {
    promql.replace(SERVICE_PLACEHOLDER, service)
}

/// One series of a range query's matrix, oldest point first, non-finite values dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    pub labels: BTreeMap<String, String>,
    pub points: Vec<(Timestamp, f64)>,
}

/// Read a `GET /api/v1/query_range` answer (`{"status": "success", "data": {"resultType":
/// "matrix", "result": [{"metric": {...}, "values": [[<unix seconds>, "<value>"], ...]}]}}`).
/// `NaN` and infinite values (an empty ratio, a quantile without samples) are left out.
pub fn parse_query_range(body: &[u8]) -> Result<Vec<RangeSeries>, PollError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| malformed("body", format!("not JSON: {e}")))?;
    let status = v.get("status").and_then(Value::as_str).ok_or_else(|| malformed("status", "missing"))?;
    if status == "error" {
        let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        return Err(PollError::Refused { error_type: text("errorType"), message: text("error") });
    }
    if status != "success" {
        return Err(malformed("status", format!("'{status}' is neither success nor error")));
    }
    let data = v.get("data").ok_or_else(|| malformed("data", "missing"))?;
    match data.get("resultType").and_then(Value::as_str) {
        Some("matrix") => {}
        Some(other) => return Err(malformed("data.resultType", format!("'{other}' is not matrix"))),
        None => return Err(malformed("data.resultType", "missing")),
    }
    let result = data.get("result").and_then(Value::as_array).ok_or_else(|| malformed("data.result", "not a list"))?;
    result
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let at = |k: &str| format!("data.result[{i}].{k}");
            let labels = match s.get("metric") {
                None | Some(Value::Null) => BTreeMap::new(),
                Some(Value::Object(m)) => m
                    .iter()
                    .map(|(k, v)| match v.as_str() {
                        Some(v) => Ok((k.clone(), v.to_string())),
                        None => Err(malformed(at(&format!("metric.{k}")), "not a string")),
                    })
                    .collect::<Result<_, _>>()?,
                Some(_) => return Err(malformed(at("metric"), "not an object")),
            };
            let values =
                s.get("values").and_then(Value::as_array).ok_or_else(|| malformed(at("values"), "not a list"))?;
            let mut points = Vec::with_capacity(values.len());
            for (j, p) in values.iter().enumerate() {
                let field = at(&format!("values[{j}]"));
                let (ts, value) = match p.as_array().map(Vec::as_slice) {
                    Some([ts, value]) => (ts, value),
                    _ => return Err(malformed(field, "not a [time, value] pair")),
                };
                let ts = ts.as_f64().ok_or_else(|| malformed(format!("{field}[0]"), "not a number"))?;
                let ts =
                    timestamp(ts).ok_or_else(|| malformed(format!("{field}[0]"), format!("{ts} is not a time")))?;
                let text = value.as_str().ok_or_else(|| malformed(format!("{field}[1]"), "not a string"))?;
                let value: f64 =
                    text.parse().map_err(|_| malformed(format!("{field}[1]"), format!("'{text}' is not a number")))?;
                if value.is_finite() {
                    points.push((ts, value));
                }
            }
            points.sort_by_key(|(t, _)| *t);
            Ok(RangeSeries { labels, points })
        })
        .collect()
}

/// Unix seconds (with a fraction) as a timestamp, to the millisecond.
fn timestamp(secs: f64) -> Option<Timestamp> {
    if !secs.is_finite() {
        return None;
    }
    DateTime::<Utc>::from_timestamp_millis((secs * 1000.0).round() as i64)
}

/// The name each series of one answer is stored under: the template's `name` alone when
/// the query returned one series, else `name{...}` in selector notation with the labels
/// that tell the series apart (those equal in every series, and `__name__`, left out).
pub fn name_series(name: &str, series: &[RangeSeries]) -> Vec<String> {
    if series.len() <= 1 {
        return series.iter().map(|_| name.to_string()).collect();
    }
    let first = &series[0].labels;
    let shared = |k: &str, v: &str| series.iter().all(|s| s.labels.get(k).is_some_and(|o| o == v));
    let common: Vec<&String> = first.iter().filter(|(k, v)| shared(k, v)).map(|(k, _)| k).collect();
    series
        .iter()
        .map(|s| {
            let distinct: BTreeMap<String, String> = s
                .labels
                .iter()
                .filter(|(k, _)| k.as_str() != "__name__" && !common.contains(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            series_name(name, &distinct)
        })
        .collect()
}

/// The points of `series` after `after` (all when `None`), as metric points of
/// `service_key` named `metric_name`, the series' labels kept beside them.
pub fn points_after(
    service_key: &str,
    metric_name: &str,
    series: &RangeSeries,
    after: Option<Timestamp>,
) -> Vec<MetricPoint> {
    let labels: BTreeMap<String, String> =
        series.labels.iter().filter(|(k, _)| k.as_str() != "__name__").map(|(k, v)| (k.clone(), v.clone())).collect();
    series
        .points
        .iter()
        .filter(|(t, _)| after.is_none_or(|a| *t > a))
        .map(|(ts, value)| MetricPoint {
            ts: *ts,
            service_key: service_key.to_string(),
            metric_name: metric_name.to_string(),
            value: *value,
            labels: labels.clone(),
        })
        .collect()
}

/// The identity of the anomaly alert of one series of one service: the same every
/// time, so a repeated anomaly deduplicates and its recovery resolves it.
pub fn fingerprint(service: &str, metric_name: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"anomaly\0");
    h.update(service.as_bytes());
    h.update(b"\0");
    h.update(metric_name.as_bytes());
    hex::encode(&h.finalize()[..8])
}

/// Which way a metric moves when things get worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bad {
    Up,
    Down,
    Either,
}

impl Bad {
    pub fn parse(s: &str) -> Option<Bad> {
        match s {
            "up" => Some(Bad::Up),
            "down" => Some(Bad::Down),
            "either" => Some(Bad::Either),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Bad::Up => "up",
            Bad::Down => "down",
            Bad::Either => "either",
        }
    }

    /// True when `z` is at least `threshold` in the bad direction.
    fn is_bad(self, z: f64, threshold: f64) -> bool {
        match self {
            Bad::Up => z >= threshold,
            Bad::Down => z <= -threshold,
            Bad::Either => z.abs() >= threshold,
        }
    }
}

/// How the detector decides.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetectorConfig {
    /// Robust z-score past which a point is anomalous.
    pub z_threshold: f64,
    /// Consecutive anomalous points that raise; consecutive normal ones that resolve.
    pub sustained: usize,
    /// Points the baseline needs before a point is scored.
    pub min_baseline: usize,
    /// The most recent normal points the baseline keeps.
    pub max_baseline: usize,
}

/// An anomaly raised: the point that made it sustained, against the baseline.
#[derive(Debug, Clone, PartialEq)]
pub struct Anomaly {
    /// The first anomalous point of the run.
    pub onset: Timestamp,
    pub ts: Timestamp,
    pub value: f64,
    pub z: f64,
    pub baseline: Baseline,
    /// Consecutive anomalous points so far.
    pub points: usize,
}

/// What one point changed.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    /// The anomaly became sustained.
    Raised(Anomaly),
    /// An anomaly still going on (a later anomalous point of a raised run).
    Ongoing(Anomaly),
    /// `sustained` normal points in a row after a raised anomaly, the last at `ts`.
    Recovered { ts: Timestamp, value: f64, z: f64 },
}

/// The detector of one series: its baseline of recent normal points, the run of
/// anomalous points being counted, and whether an anomaly is raised. Anomalous points
/// never enter the baseline, so a long anomaly does not become normal.
#[derive(Debug, Clone)]
pub struct Detector {
    config: DetectorConfig,
    bad: Bad,
    window: VecDeque<f64>,
    /// A baseline restored from `anomaly_features`, used until the window is long enough.
    prior: Option<Baseline>,
    /// The newest point seen: older and equal ones are not looked at again.
    last: Option<Timestamp>,
    run: Option<(Timestamp, usize)>,
    /// Points waiting to enter the baseline: those of an anomalous run that did not last.
    pending: Vec<f64>,
    raised: bool,
    normal_run: usize,
}

impl Detector {
    pub fn new(config: DetectorConfig, bad: Bad) -> Detector {
        Detector {
            config,
            bad,
            window: VecDeque::new(),
            prior: None,
            last: None,
            run: None,
            pending: Vec::new(),
            raised: false,
            normal_run: 0,
        }
    }

    /// Start from a baseline kept earlier (see `restore_baselines`).
    pub fn with_prior(mut self, prior: Option<Baseline>) -> Detector {
        self.prior = prior;
        self
    }

    /// The newest point seen.
    pub fn last(&self) -> Option<Timestamp> {
        self.last
    }

    /// True while an anomaly is raised.
    pub fn raised(&self) -> bool {
        self.raised
    }

    /// The baseline points are scored against: the window's once it is long enough,
    /// else the restored one.
    pub fn baseline(&self) -> Option<Baseline> {
        if self.window.len() >= self.config.min_baseline {
            let values: Vec<f64> = self.window.iter().copied().collect();
            return Baseline::from_values(&values);
        }
        self.prior
    }

    fn learn(&mut self, value: f64) {
        self.window.push_back(value);
        while self.window.len() > self.config.max_baseline.max(1) {
            self.window.pop_front();
        }
    }

    /// Look at the points newer than the last one seen, oldest first; the transitions
    /// they cause, in order.
    pub fn observe(&mut self, points: &[(Timestamp, f64)]) -> Vec<Transition> {
        let mut out = Vec::new();
        for &(ts, value) in points {
            if self.last.is_some_and(|l| ts <= l) || !value.is_finite() {
                continue;
            }
            self.last = Some(ts);
            if let Some(t) = self.point(ts, value) {
                out.push(t);
            }
        }
        out
    }

    fn point(&mut self, ts: Timestamp, value: f64) -> Option<Transition> {
        let Some(baseline) = self.baseline() else {
            self.learn(value);
            return None;
        };
        let z = baseline.z(value);
        if self.bad.is_bad(z, self.config.z_threshold) {
            self.normal_run = 0;
            let (onset, n) = self.run.map_or((ts, 1), |(onset, n)| (onset, n + 1));
            self.run = Some((onset, n));
            let anomaly = Anomaly { onset, ts, value, z, baseline, points: n };
            if self.raised {
                return Some(Transition::Ongoing(anomaly));
            }
            self.pending.push(value);
            if n >= self.config.sustained {
                self.raised = true;
                self.pending.clear();
                return Some(Transition::Raised(anomaly));
            }
            return None;
        }
        self.run = None;
        if self.raised {
            self.normal_run += 1;
            self.learn(value);
            if self.normal_run >= self.config.sustained {
                self.raised = false;
                self.normal_run = 0;
                return Some(Transition::Recovered { ts, value, z });
            }
            return None;
        }
        // A run too short to raise was noise after all: it joins the baseline.
        for v in std::mem::take(&mut self.pending) {
            self.learn(v);
        }
        self.learn(value);
        None
    }
}

/// The baseline of `metric_name` of `service_key` at `ts`, as `anomaly_features` rows
/// under `BASELINE_KEY`: `<metric>.baseline_median`, `_mad`, `_p05`, `_p95`, `_count`.
pub fn baseline_features(service_key: &str, metric_name: &str, b: &Baseline, ts: Timestamp) -> Vec<AnomalyFeature> {
    let values = [b.median, b.mad, b.p05, b.p95, b.count as f64];
    BASELINE_FEATURES
        .iter()
        .zip(values)
        .map(|(f, v)| AnomalyFeature {
            incident_id: BASELINE_KEY.to_string(),
            ts,
            service_key: service_key.to_string(),
            feature_name: format!("{metric_name}.{f}"),
            feature_value: v,
        })
        .collect()
}

/// The newest complete baseline of every `(service_key, metric_name)` among `features`
/// (rows of `BASELINE_KEY`, as `baseline_features` writes them).
pub fn restore_baselines(features: &[AnomalyFeature]) -> HashMap<(String, String), Baseline> {
    // (service, metric) -> ts -> the five values
    type Kept = BTreeMap<Timestamp, [Option<f64>; 5]>;
    let mut by: HashMap<(String, String), Kept> = HashMap::new();
    for f in features.iter().filter(|f| f.incident_id == BASELINE_KEY) {
        let Some((metric, suffix)) = f.feature_name.rsplit_once('.') else { continue };
        let Some(i) = BASELINE_FEATURES.iter().position(|s| *s == suffix) else { continue };
        let slot = by.entry((f.service_key.clone(), metric.to_string())).or_default().entry(f.ts).or_default();
        slot[i] = Some(f.feature_value);
    }
    by.into_iter()
        .filter_map(|(key, at)| {
            at.values()
                .rev()
                .find_map(|v| match v {
                    [Some(median), Some(mad), Some(p05), Some(p95), Some(count)] if *count >= 1.0 => {
                        Some(Baseline { count: *count as usize, median: *median, mad: *mad, p05: *p05, p95: *p95 })
                    }
                    _ => None,
                })
                .map(|b| (key, b))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        DateTime::<Utc>::from_timestamp(1_700_000_000 + s, 0).expect("time")
    }

    fn config() -> DetectorConfig {
        DetectorConfig { z_threshold: 4.0, sustained: 3, min_baseline: 10, max_baseline: 100 }
    }

    /// A noisy flat baseline around 1.0 for `n` points from second 0.
    fn calm(n: i64) -> Vec<(Timestamp, f64)> {
        (0..n).map(|i| (t(i), 1.0 + 0.02 * ((i % 5) as f64 - 2.0))).collect()
    }

    #[test]
    fn a_range_answer_is_read_into_series() {
        let body = br#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"__name__":"up","code":"500","job":"shop"},"values":[[1700000060,"2"],[1700000000.5,"1.5"],[1700000120,"NaN"]]},
            {"metric":{"code":"200","job":"shop"},"values":[[1700000000,"+Inf"]]}]}}"#;
        let s = parse_query_range(body).expect("parsed");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].labels.get("code").map(String::as_str), Some("500"));
        let ms = DateTime::<Utc>::from_timestamp_millis(1_700_000_000_500).expect("time");
        assert_eq!(s[0].points, vec![(ms, 1.5), (t(60), 2.0)], "sorted, NaN left out");
        assert!(s[1].points.is_empty(), "infinite values are left out");
        let empty = parse_query_range(br#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#);
        assert_eq!(empty, Ok(vec![]));
    }

    #[test]
    fn a_bad_answer_names_the_field() {
        for (body, field) in [
            (&b"<html>"[..], "body"),
            (br#"{"data":{}}"#, "status"),
            (br#"{"status":"success"}"#, "data"),
            (br#"{"status":"success","data":{"resultType":"vector","result":[]}}"#, "data.resultType"),
            (br#"{"status":"success","data":{"resultType":"matrix","result":{}}}"#, "data.result"),
            (
                br#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"a":1},"values":[]}]}}"#,
                "data.result[0].metric.a",
            ),
            (
                br#"{"status":"success","data":{"resultType":"matrix","result":[{"values":[[1]]}]}}"#,
                "data.result[0].values[0]",
            ),
            (
                br#"{"status":"success","data":{"resultType":"matrix","result":[{"values":[["x","1"]]}]}}"#,
                "data.result[0].values[0][0]",
            ),
            (
                br#"{"status":"success","data":{"resultType":"matrix","result":[{"values":[[1,"one"]]}]}}"#,
                "data.result[0].values[0][1]",
            ),
            (
                br#"{"status":"success","data":{"resultType":"matrix","result":[{"values":[[1,1]]}]}}"#,
                "data.result[0].values[0][1]",
            ),
        ] {
            match parse_query_range(body) {
                Err(PollError::Malformed { field: f, .. }) => assert_eq!(f, field, "{}", String::from_utf8_lossy(body)),
                other => panic!("{}: {other:?}", String::from_utf8_lossy(body)),
            }
        }
        let refused =
            parse_query_range(br#"{"status":"error","errorType":"bad_data","error":"parse error at char 3"}"#);
        assert_eq!(
            refused,
            Err(PollError::Refused { error_type: "bad_data".into(), message: "parse error at char 3".into() })
        );
    }

    #[test]
    fn templates_name_the_service_and_several_series_are_told_apart_by_their_labels() {
        assert_eq!(
            render(r#"rate(x{service="{{service}}"}[1m]) / on() y{s="{{service}}"}"#, "checkout"),
            r#"rate(x{service="checkout"}[1m]) / on() y{s="checkout"}"#
        );
        let series = |pairs: &[(&str, &str)]| RangeSeries {
            labels: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            points: vec![(t(0), 1.0), (t(60), 2.0)],
        };
        let one = [series(&[("job", "shop"), ("code", "500")])];
        assert_eq!(name_series("errors", &one), ["errors"]);
        let two = [
            series(&[("__name__", "x"), ("job", "shop"), ("code", "500")]),
            series(&[("__name__", "x"), ("job", "shop"), ("code", "503")]),
        ];
        assert_eq!(name_series("errors", &two), [r#"errors{code="500"}"#, r#"errors{code="503"}"#]);
        let points = points_after("default/default/shop", "errors", &one[0], Some(t(0)));
        assert_eq!(points.len(), 1, "only the points after the last one written");
        assert_eq!((points[0].ts, points[0].value, points[0].labels.len()), (t(60), 2.0, 2));
        assert_eq!(points_after("k", "errors", &two[0], None)[0].labels.get("__name__"), None);
    }

    #[test]
    fn a_sustained_rise_is_raised_once_and_resolved_after_as_many_normal_points() {
        let mut d = Detector::new(config(), Bad::Up);
        assert!(d.observe(&calm(30)).is_empty(), "a calm baseline raises nothing");
        let high: Vec<_> = (30..36).map(|i| (t(i), 5.0)).collect();
        let got = d.observe(&high);
        assert_eq!(got.len(), 4, "raised at the third point, ongoing after: {got:?}");
        match &got[0] {
            Transition::Raised(a) => {
                assert_eq!((a.onset, a.ts, a.points), (t(30), t(32), 3));
                assert!(a.z > 4.0 && (a.baseline.median - 1.0).abs() < 0.05, "{a:?}");
            }
            other => panic!("{other:?}"),
        }
        assert!(got[1..].iter().all(|g| matches!(g, Transition::Ongoing(a) if a.onset == t(30))), "{got:?}");
        assert!(d.raised());
        assert!(
            (d.baseline().expect("baseline").median - 1.0).abs() < 0.05,
            "anomalous points stay out of the baseline"
        );
        // Seen points are not looked at twice.
        assert!(d.observe(&high).is_empty());
        let back: Vec<_> = (36..40).map(|i| (t(i), 1.0)).collect();
        let got = d.observe(&back);
        assert_eq!(got, vec![Transition::Recovered { ts: t(38), value: 1.0, z: 0.0 }], "{got:?}");
        assert!(!d.raised());
    }

    #[test]
    fn short_bursts_and_the_good_direction_raise_nothing() {
        let mut d = Detector::new(config(), Bad::Up);
        d.observe(&calm(30));
        // Two high points, then calm: shorter than sustained.
        let burst = [(t(30), 5.0), (t(31), 5.0), (t(32), 1.0), (t(33), 5.0), (t(34), 1.0)];
        assert!(d.observe(&burst).is_empty());
        // A drop on a metric where only up is bad.
        let drop: Vec<_> = (35..45).map(|i| (t(i), -3.0)).collect();
        assert!(d.observe(&drop).is_empty());
        // The same drop where down is bad, or either way.
        for bad in [Bad::Down, Bad::Either] {
            let mut d = Detector::new(config(), bad);
            d.observe(&calm(30));
            let got = d.observe(&drop);
            assert!(matches!(got.first(), Some(Transition::Raised(a)) if a.z < -4.0), "{bad:?}: {got:?}");
        }
    }

    #[test]
    fn nothing_is_scored_before_the_baseline_is_long_enough_unless_one_was_kept() {
        let mut d = Detector::new(config(), Bad::Up);
        let early = [(t(0), 1.0), (t(1), 50.0), (t(2), 60.0), (t(3), 70.0)];
        assert!(d.observe(&early).is_empty(), "warming up");
        let kept = Baseline::from_values(&calm(30).iter().map(|(_, v)| *v).collect::<Vec<_>>());
        let features = baseline_features("k", "errors", &kept.expect("baseline"), t(100));
        assert_eq!(features.len(), 5);
        let mut older = baseline_features("k", "errors", &Baseline::from_values(&[9.0; 20]).expect("b"), t(50));
        older.extend(features);
        older.push(AnomalyFeature { feature_name: "errors.robust_z".into(), ..older[0].clone() });
        let restored = restore_baselines(&older);
        assert_eq!(restored.len(), 1);
        let b = restored[&("k".to_string(), "errors".to_string())];
        assert!((b.median - 1.0).abs() < 0.05, "the newest baseline wins: {b:?}");
        let mut d = Detector::new(config(), Bad::Up).with_prior(Some(b));
        let got = d.observe(&early[1..]);
        assert!(matches!(got.as_slice(), [Transition::Raised(a)] if a.onset == t(1)), "{got:?}");
    }

    #[test]
    fn the_fingerprint_is_stable_per_service_and_metric() {
        let a = fingerprint("checkout", "errors");
        assert_eq!(a, fingerprint("checkout", "errors"));
        assert_eq!(a.len(), 16);
        assert_ne!(a, fingerprint("checkout", "latency"));
        assert_ne!(a, fingerprint("search", "errors"));
        assert_ne!(fingerprint("a", "bc"), fingerprint("ab", "c"));
    }
}
