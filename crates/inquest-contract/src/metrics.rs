//! The metrics-port contract: every `MetricStore` must pass it. It writes under a
//! fresh service key, so it can run on a shared store; it panics on the first
//! broken promise, naming it.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use inquest_domain::stats::Baseline;
use inquest_domain::{AnomalyFeature, MetricPoint, Timestamp};
use inquest_ports::{ErrorKind, MetricStore};

fn t0() -> Timestamp {
    Utc.with_ymd_and_hms(2026, 3, 14, 9, 0, 0).single().unwrap_or_default()
}

fn point(service_key: &str, metric: &str, ts: Timestamp, value: f64) -> MetricPoint {
    let mut labels = BTreeMap::new();
    labels.insert("pod".to_string(), format!("{service_key}-0"));
    MetricPoint { ts, service_key: service_key.to_string(), metric_name: metric.to_string(), value, labels }
}

/// A value pattern with spikes, repeats and an even count, so medians, MAD and
/// interpolated quantiles are all exercised.
fn value_at(metric: usize, i: usize) -> f64 {
    let base = [120.0, 0.02, 55.5][metric % 3];
    let wobble = ((i * 37 + metric * 11) % 17) as f64 * base * 0.013;
    let spike = if i % 97 == 13 { base * 4.0 } else { 0.0 };
    base + wobble + spike + (i % 2) as f64 * 0.001
}

pub async fn metrics_contract(store: Arc<dyn MetricStore>) {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let service = format!("contract-{run}/payments/api");
    let other = format!("contract-{run}/payments/worker");
    let metrics = ["latency_p99_ms", "error_rate", "cpu_millicores"];
    let t0 = t0();

    store.check_connectivity().await.expect("check_connectivity on a working store");

    // 3 metrics x 4000 points at 1 s, plus a neighbour service: 16k rows, inserted
    // in two calls to see that rows of separate inserts are read together.
    let mut points = Vec::new();
    for (m, metric) in metrics.iter().enumerate() {
        for i in 0..4000usize {
            points.push(point(&service, metric, t0 + Duration::seconds(i as i64), value_at(m, i)));
        }
    }
    for i in 0..4000usize {
        points.push(point(&other, "latency_p99_ms", t0 + Duration::seconds(i as i64), 9999.0));
    }
    let (first, second) = points.split_at(5000);
    store.insert_points(first).await.expect("insert_points (first part)");
    store.insert_points(second).await.expect("insert_points (second part)");
    store.insert_points(&[]).await.expect("insert_points with no points");

    // Windows are [from, to): a point at `from` is in, one at `to` is out.
    let from = t0 + Duration::seconds(1000);
    let to = t0 + Duration::seconds(2000);
    let w = store.window(&service, from, to).await.expect("window");
    assert!(!w.reference.is_empty(), "window reference must not be empty");
    let names: Vec<&str> = w.series.iter().map(|s| s.metric_name.as_str()).collect();
    let mut expected_names = metrics.to_vec();
    expected_names.sort();
    assert_eq!(names, expected_names, "window: one series per metric of the service, ordered by name");
    for s in &w.series {
        let m = metrics.iter().position(|x| *x == s.metric_name).unwrap_or_default();
        assert_eq!(s.points.len(), 1000, "window {}: points in [from, to)", s.metric_name);
        assert_eq!(s.points.first().map(|p| p.0), Some(from), "window {}: starts at from", s.metric_name);
        assert_eq!(
            s.points.last().map(|p| p.0),
            Some(to - Duration::seconds(1)),
            "window {}: ends before to",
            s.metric_name
        );
        assert!(s.points.windows(2).all(|p| p[0].0 < p[1].0), "window {}: oldest first", s.metric_name);
        for (ts, v) in &s.points {
            let i = (*ts - t0).num_seconds() as usize;
            assert_eq!(*v, value_at(m, i), "window {} at {ts}: value round-trips exactly", s.metric_name);
        }
    }

    // Millisecond timestamps survive.
    let ms_ts = t0 + Duration::milliseconds(5_000_123);
    store.insert_points(&[point(&service, "gc_pause_ms", ms_ts, 3.25)]).await.expect("insert ms point");
    let w = store.window(&service, ms_ts, ms_ts + Duration::milliseconds(1)).await.expect("window ms");
    assert_eq!(w.series.len(), 1, "window of one millisecond: {:?}", w.series);
    assert_eq!(w.series[0].points, vec![(ms_ts, 3.25)], "millisecond timestamp round-trips");

    // Baselines equal `Baseline::from_values` on the same points.
    let b = store.baselines(&service, from, to).await.expect("baselines");
    assert!(!b.reference.is_empty(), "baselines reference must not be empty");
    assert_eq!(b.baselines.keys().map(String::as_str).collect::<Vec<_>>(), expected_names, "baselines: one per metric");
    for (m, metric) in metrics.iter().enumerate() {
        let values: Vec<f64> = (1000..2000).map(|i| value_at(m, i)).collect();
        let want = Baseline::from_values(&values).expect("values");
        assert_eq!(b.baselines[*metric], want, "baseline {metric}: bit for bit Baseline::from_values");
    }
    // An odd count too (interpolation at the median differs).
    let b = store.baselines(&service, from, from + Duration::seconds(7)).await.expect("baselines odd");
    let values: Vec<f64> = (1000..1007).map(|i| value_at(0, i)).collect();
    let want = Baseline::from_values(&values).expect("values");
    let got = b.baselines["latency_p99_ms"];
    assert_eq!(got.count, 7, "baseline over 7 points");
    assert_eq!(got, want, "odd-count baseline, bit for bit");

    // Nothing in range: no series, no baselines.
    let empty_from = t0 - Duration::days(30);
    let w = store.window(&service, empty_from, empty_from + Duration::hours(1)).await.expect("empty window");
    assert!(w.series.is_empty(), "window with no points has no series");
    let b = store.baselines(&service, empty_from, empty_from + Duration::hours(1)).await.expect("empty baselines");
    assert!(b.baselines.is_empty(), "baselines with no points are empty");
    let w = store.window("no/such/service", from, to).await.expect("window of unknown service");
    assert!(w.series.is_empty(), "unknown service has no series");

    // Loading the same points again changes nothing that is read back.
    store.insert_points(&points[..4000]).await.expect("insert the same points again");
    let w = store.window(&service, from, to).await.expect("window after reload");
    assert!(w.series.iter().all(|s| s.points.len() == 1000), "re-inserted points are not read twice");
    let b = store.baselines(&service, from, to).await.expect("baselines after reload");
    assert_eq!(b.baselines["latency_p99_ms"].count, 1000, "re-inserted points are not counted twice");

    // Many services in one request: the same windows and baselines as one at a time,
    // every asked key present (empty when it has no points), other keys absent.
    let keys = vec![service.clone(), other.clone(), "no/such/service".to_string()];
    let many = store.windows(&keys, from, to).await.expect("windows");
    assert_eq!(
        many.keys().cloned().collect::<Vec<_>>(),
        {
            let mut k = keys.clone();
            k.sort();
            k
        },
        "windows: one per key asked"
    );
    for key in &keys {
        let one = store.window(key, from, to).await.expect("window of one");
        assert_eq!(many[key].series, one.series, "windows {key}: the same series as window");
        assert!(!many[key].reference.is_empty(), "windows {key}: a reference");
    }
    // Two ranges with a hole: points in the hole do not count.
    let ranges = [(from, from + Duration::seconds(300)), (from + Duration::seconds(600), to)];
    let many = store.baselines_many(&keys, &ranges).await.expect("baselines_many");
    assert!(many[&keys[2]].baselines.is_empty(), "baselines_many: a key with no points has no baselines");
    for (m, metric) in metrics.iter().enumerate() {
        let values: Vec<f64> = (1000..1300).chain(1600..2000).map(|i| value_at(m, i)).collect();
        let want = Baseline::from_values(&values).expect("values");
        assert_eq!(many[&service].baselines[*metric], want, "baselines_many {metric}: bit for bit over two ranges");
    }
    assert_eq!(many[&other].baselines["latency_p99_ms"].median, 9999.0, "baselines_many: each key its own points");
    let none = store.baselines_many(&keys, &[]).await.expect("baselines_many without ranges");
    assert!(none.values().all(|b| b.baselines.is_empty()), "baselines_many without ranges: nothing");
    assert!(store.windows(&[], from, to).await.expect("windows of no key").is_empty(), "windows of no key: empty");

    // The radius in one call: per set of ranges the baselines `baselines_many` gives,
    // bit for bit `Baseline::from_values`, and the windows `windows` gives. The sets
    // hold a hole, overlapping and touching ranges, one range, none, and ranges
    // before and after every point around one across the first point.
    let t_end = t0 + Duration::seconds(4000);
    let sets = vec![
        ranges.to_vec(),
        vec![
            (from + Duration::seconds(200), from + Duration::seconds(400)),
            (from, from + Duration::seconds(300)),
            (from + Duration::seconds(400), from + Duration::seconds(500)),
        ],
        vec![(from, to)],
        Vec::new(),
        vec![
            (t_end + Duration::seconds(100), t_end + Duration::seconds(200)),
            (t0 - Duration::seconds(500), t0 - Duration::seconds(100)),
            (t0 - Duration::seconds(50), t0 + Duration::seconds(150)),
            (t_end, t_end + Duration::seconds(50)),
        ],
    ];
    let (win_from, win_to) = (from + Duration::seconds(900), to);
    let radius = store.radius_metrics(&keys, &sets, win_from, win_to).await.expect("radius_metrics");
    assert_eq!(radius.baselines.len(), sets.len(), "radius_metrics: one answer per set of ranges");
    let inside: [&dyn Fn(usize) -> bool; 5] = [
        &|i| (1000..1300).contains(&i) || (1600..2000).contains(&i),
        &|i| (1000..1500).contains(&i),
        &|i| (1000..2000).contains(&i),
        &|_| false,
        &|i| i < 150,
    ];
    for (n, set) in sets.iter().enumerate() {
        let many = store.baselines_many(&keys, set).await.expect("baselines_many of a set");
        assert_eq!(
            radius.baselines[n].keys().collect::<Vec<_>>(),
            many.keys().collect::<Vec<_>>(),
            "radius_metrics set {n}: the keys baselines_many answers"
        );
        for (key, b) in &radius.baselines[n] {
            assert!(!b.reference.is_empty(), "radius_metrics set {n} {key}: a reference");
            assert_eq!(
                b.baselines.keys().collect::<Vec<_>>(),
                many[key].baselines.keys().collect::<Vec<_>>(),
                "radius_metrics set {n} {key}: the metrics baselines_many answers"
            );
        }
        for (m, metric) in metrics.iter().enumerate() {
            let values: Vec<f64> = (0..4000).filter(|i| inside[n](*i)).map(|i| value_at(m, i)).collect();
            let got = radius.baselines[n].get(&service).and_then(|b| b.baselines.get(*metric));
            assert_eq!(got, Baseline::from_values(&values).as_ref(), "radius_metrics set {n} {metric}: bit for bit");
        }
    }
    let many = store.windows(&keys, win_from, win_to).await.expect("windows");
    assert_eq!(
        radius.windows.keys().collect::<Vec<_>>(),
        many.keys().collect::<Vec<_>>(),
        "radius_metrics: a window per key asked"
    );
    for (key, w) in &radius.windows {
        assert_eq!(w.series, many[key].series, "radius_metrics {key}: the series windows answers");
        assert!(!w.reference.is_empty(), "radius_metrics {key}: a reference");
    }
    // The same points loaded once under another key: the radius reads them as it read
    // the reloaded ones above (a store may take another path for a series holding a
    // timestamp twice), bit for bit.
    let once = format!("{service}-once");
    let copy: Vec<MetricPoint> =
        points[..12_000].iter().map(|p| MetricPoint { service_key: once.clone(), ..p.clone() }).collect();
    store.insert_points(&copy).await.expect("insert the copy");
    let pair = vec![service.clone(), once.clone()];
    let radius = store.radius_metrics(&pair, &sets, win_from, win_to).await.expect("radius_metrics of the pair");
    for (n, set) in radius.baselines.iter().enumerate() {
        assert_eq!(
            set.get(&once).map(|b| &b.baselines),
            set.get(&service).map(|b| &b.baselines),
            "radius_metrics set {n}: points loaded once read as the reloaded ones"
        );
    }
    assert_eq!(radius.windows[&once].series, radius.windows[&service].series, "radius_metrics: the copy's window");
    let windows_only = store.radius_metrics(&keys, &[], win_from, win_to).await.expect("radius_metrics without sets");
    assert!(windows_only.baselines.is_empty(), "radius_metrics without sets of ranges: no baselines");
    assert_eq!(windows_only.windows.len(), keys.len(), "radius_metrics without sets: a window per key asked");
    for (key, w) in &windows_only.windows {
        assert_eq!(w.series, many[key].series, "radius_metrics without sets {key}: the series windows answers");
    }
    let none = store.radius_metrics(&[], &sets, win_from, win_to).await.expect("radius_metrics of no key");
    assert!(none.windows.is_empty() && none.baselines.iter().all(BTreeMap::is_empty), "radius_metrics of no key");

    // Non-finite values are refused, and nothing of that call is stored.
    let bad = vec![
        point(&service, "bad_metric", t0, 1.0),
        point(&service, "bad_metric", t0 + Duration::seconds(1), f64::NAN),
    ];
    let e = store.insert_points(&bad).await.expect_err("a NaN value must be refused");
    assert_eq!(e.kind, ErrorKind::InvalidInput, "NaN refused as invalid input: {e}");
    let w = store.window(&service, t0, t0 + Duration::seconds(2)).await.expect("window after refused insert");
    assert!(w.series.iter().all(|s| s.metric_name != "bad_metric"), "a refused insert stores nothing");

    // Anomaly features: written, read back for their incident only, in order.
    let incident = format!("inc-{run}");
    let features: Vec<AnomalyFeature> = [
        ("latency_p99_ms.robust_z", 0, 7.25),
        ("error_rate.robust_z", 60, 11.5),
        ("latency_p99_ms.onset_offset_s", 0, -120.0),
        ("error_rate.robust_z", 0, 3.0),
    ]
    .iter()
    .map(|(name, s, v)| AnomalyFeature {
        incident_id: incident.clone(),
        ts: t0 + Duration::seconds(*s),
        service_key: service.clone(),
        feature_name: name.to_string(),
        feature_value: *v,
    })
    .collect();
    store.write_anomaly_features(&features).await.expect("write_anomaly_features");
    let mut noise = features[0].clone();
    noise.incident_id = format!("other-{run}");
    store.write_anomaly_features(&[noise]).await.expect("write other incident's features");
    store.write_anomaly_features(&[]).await.expect("write no features");
    let got = store.anomaly_features(&incident).await.expect("anomaly_features");
    let mut want = features.clone();
    want.sort_by(|a, b| {
        a.feature_name.cmp(&b.feature_name).then(a.ts.cmp(&b.ts)).then(a.service_key.cmp(&b.service_key))
    });
    assert_eq!(got, want, "anomaly features of the incident, by feature name then time");
    assert!(store.anomaly_features("no-such-incident").await.expect("unknown incident").is_empty());
}
