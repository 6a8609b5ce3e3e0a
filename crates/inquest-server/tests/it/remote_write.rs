//! `POST /api/v1/write` through the whole app: bodies encoded here with prost and snap
//! as Prometheus encodes them, points read back from the embedded metrics store.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::BodyExt;
use inquest_domain::{AnomalyFeature, MetricPoint, ProjectId, Timestamp};
use inquest_ingest::prometheus::derive::STALE_NAN;
use inquest_ingest::prometheus::proto::{
    Label, MetadataV2, RequestV2, Sample, TimeSeries, TimeSeriesV2, WriteRequest, metric_type,
};
use inquest_ingest::prometheus::{ReceiverLimits, Receiver, Rules};
use inquest_intake::Policy;
use inquest_ports::{ErrorKind, MetricBaselines, MetricStore, MetricWindow, StoreError, StoreResult};
use inquest_report::TemplateReport;
use inquest_server::{Access, AppState, RemoteWriteLimits};
use inquest_store_embedded::{EmbeddedAccessStore, EmbeddedStore};
use prost::Message;
use serde_json::Value;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::in_memory;

/// The embedded metrics store, which can be made to fail (down) or to wait (busy).
struct Switchable {
    inner: Arc<dyn MetricStore>,
    down: Arc<AtomicBool>,
    /// When set, each write waits for a permit.
    gate: Option<Arc<Semaphore>>,
}

#[async_trait]
impl MetricStore for Switchable {
    fn backend(&self) -> &'static str {
        "switchable"
    }
    fn project(&self) -> &ProjectId {
        self.inner.project()
    }
    fn scoped(&self, project: &ProjectId) -> Arc<dyn MetricStore> {
        Arc::new(Switchable { inner: self.inner.scoped(project), down: self.down.clone(), gate: self.gate.clone() })
    }
    async fn check_connectivity(&self) -> StoreResult<()> {
        self.inner.check_connectivity().await
    }
    async fn insert_points(&self, points: &[MetricPoint]) -> StoreResult<()> {
        if let Some(gate) = &self.gate {
            let _permit = gate.acquire().await;
        }
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::new(ErrorKind::Unavailable, "switchable", "insert_points", "connection refused"));
        }
        self.inner.insert_points(points).await
    }
    async fn window(&self, service_key: &str, from: Timestamp, to: Timestamp) -> StoreResult<MetricWindow> {
        self.inner.window(service_key, from, to).await
    }
    async fn baselines(&self, service_key: &str, from: Timestamp, to: Timestamp) -> StoreResult<MetricBaselines> {
        self.inner.baselines(service_key, from, to).await
    }
    async fn write_anomaly_features(&self, features: &[AnomalyFeature]) -> StoreResult<()> {
        self.inner.write_anomaly_features(features).await
    }
    async fn anomaly_features(&self, incident_id: &str) -> StoreResult<Vec<AnomalyFeature>> {
        self.inner.anomaly_features(incident_id).await
    }
}

struct App {
    router: Router,
    metrics: Arc<dyn MetricStore>,
    down: Arc<AtomicBool>,
}

fn app_with(limits: RemoteWriteLimits, gate: Option<Arc<Semaphore>>) -> App {
    let (ingest, mut stores) = in_memory(Policy::default_policy());
    let down = Arc::new(AtomicBool::new(false));
    let embedded = EmbeddedStore::in_memory().expect("metrics store").stores().metrics;
    let metrics: Arc<dyn MetricStore> = Arc::new(Switchable { inner: embedded, down: down.clone(), gate });
    stores.metrics = metrics.clone();
    let access = Access::open(Arc::new(EmbeddedAccessStore::in_memory().expect("access")), &prometheus::Registry::new())
        .expect("access metrics");
    let mut state = AppState::new(stores, Arc::new(TemplateReport), ingest, Arc::new(access));
    state.remote_write =
        Arc::new(state.remote_write.configured(Receiver::new(Rules::default(), ReceiverLimits::default()), limits));
    App { router: inquest_server::app(state), metrics, down }
}

fn app() -> App {
    app_with(RemoteWriteLimits::default(), None)
}

fn labels(pairs: &[(&str, &str)]) -> Vec<Label> {
    pairs
        .iter()
        .map(|(n, v)| Label { name: Bytes::copy_from_slice(n.as_bytes()), value: Bytes::copy_from_slice(v.as_bytes()) })
        .collect()
}

fn series(pairs: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
    TimeSeries {
        labels: labels(pairs),
        samples: samples.iter().map(|(t, v)| Sample { timestamp: *t, value: *v }).collect(),
    }
}

fn body(series: Vec<TimeSeries>) -> Vec<u8> {
    let req = WriteRequest { timeseries: series, metadata: Vec::new() };
    snap::raw::Encoder::new().compress_vec(&req.encode_to_vec()).expect("snappy")
}

async fn post_with(app: &App, body: Vec<u8>, ctype: Option<&str>, encoding: Option<&str>) -> (StatusCode, Value, String) {
    let mut req = Request::post("/api/v1/write").header("x-prometheus-remote-write-version", "0.1.0");
    if let Some(c) = ctype {
        req = req.header(header::CONTENT_TYPE, c);
    }
    if let Some(e) = encoding {
        req = req.header(header::CONTENT_ENCODING, e);
    }
    let res = app.router.clone().oneshot(req.body(Body::from(body)).expect("request")).await.expect("response");
    let status = res.status();
    let retry_after =
        res.headers().get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    let v = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).expect("a JSON error") };
    (status, v, retry_after)
}

async fn post(app: &App, body: Vec<u8>) -> (StatusCode, Value, String) {
    post_with(app, body, Some("application/x-protobuf"), Some("snappy")).await
}

const T0: i64 = 1_780_000_000_000;

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).expect("a time")
}

/// `(ts ms, value)` of one series of a service, as stored.
async fn points(app: &App, service: &str, name: &str) -> Vec<(i64, f64)> {
    let w = app.metrics.window(service, at(T0 - 3_600_000), at(T0 + 3_600_000)).await.expect("window");
    w.series
        .into_iter()
        .filter(|s| s.metric_name == name)
        .flat_map(|s| s.points.into_iter().map(|(t, v)| (t.timestamp_millis(), v)))
        .collect()
}

async fn metric_line(app: &App, prefix: &str) -> f64 {
    let req = Request::get("/metrics").body(Body::empty()).expect("request");
    let res = app.router.clone().oneshot(req).await.expect("response");
    let text = String::from_utf8(res.into_body().collect().await.expect("body").to_bytes().to_vec()).expect("utf-8");
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {prefix} in /metrics"))
}

const REQUESTS: &[(&str, &str)] = &[
    ("__name__", "http_requests_total"),
    ("code", "500"),
    ("instance", "10.0.0.1:8080"),
    ("job", "payments"),
    ("namespace", "shop"),
];

#[tokio::test]
async fn counters_are_stored_raw_and_as_rates() {
    let app = app();
    let (s, v, _) = post(&app, body(vec![series(REQUESTS, &[(T0, 10.0)])])).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    // A reset between the two: 40 → 4 is counted as 4 from zero.
    let (s, _, _) = post(&app, body(vec![series(REQUESTS, &[(T0 + 15_000, 40.0), (T0 + 30_000, 4.0)])])).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let service = "default/shop/payments";
    assert_eq!(
        points(&app, service, r#"http_requests_total{code="500"}"#).await,
        vec![(T0, 10.0), (T0 + 15_000, 40.0), (T0 + 30_000, 4.0)]
    );
    let rate = points(&app, service, r#"rate(http_requests_total{code="500"})"#).await;
    assert_eq!(rate, vec![(T0 + 15_000, 2.0), (T0 + 30_000, 4.0 / 15.0)]);
    assert_eq!(metric_line(&app, "inquest_remote_write_samples_stored_total").await, 3.0);
    assert_eq!(metric_line(&app, "inquest_remote_write_points_derived_total").await, 2.0);
    assert_eq!(metric_line(&app, "inquest_remote_write_active_series").await, 1.0);
    assert!(metric_line(&app, "inquest_remote_write_lag_seconds").await > 0.0);
}

fn bucket(le: &str) -> Vec<(&str, &str)> {
    vec![
        ("__name__", "http_request_duration_seconds_bucket"),
        ("instance", "10.0.0.1:8080"),
        ("job", "checkout"),
        ("le", le),
        ("route", "/pay"),
    ]
}

#[tokio::test]
async fn a_histogram_is_stored_as_quantiles_of_its_bucket_increases() {
    let app = app();
    let les = ["0.05", "0.1", "0.25", "1", "+Inf"];
    let scrapes: [(i64, [f64; 5]); 3] = [
        (T0, [100.0, 150.0, 190.0, 200.0, 200.0]),
        // +50, +60, +160, +200, +200 over 15 s.
        (T0 + 15_000, [150.0, 210.0, 350.0, 400.0, 400.0]),
        // +0, +0, +0, +100, +100: everything was slow.
        (T0 + 30_000, [150.0, 210.0, 350.0, 500.0, 500.0]),
    ];
    for (t, counts) in scrapes {
        // Prometheus shards by series: each scrape's buckets come in two requests.
        let all: Vec<TimeSeries> = les.iter().zip(counts).map(|(le, c)| series(&bucket(le), &[(t, c)])).collect();
        let (first, second) = all.split_at(2);
        for part in [first.to_vec(), second.to_vec()] {
            let (s, v, _) = post(&app, body(part)).await;
            assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
        }
    }
    let service = "default/default/checkout";
    let q = |q: &str| format!(r#"histogram_quantile({q}, http_request_duration_seconds{{route="/pay"}})"#);
    // Scrape 2: increases 50, 60, 160, 200, 200. p99: rank 198 in (0.25, 1]: 0.25 + 0.75 * (198-160)/40.
    // Scrape 3: increases 0, 0, 0, 100, 100. p99: rank 99 in (0.25, 1]: 0.25 + 0.75 * 99/100.
    let p99 = points(&app, service, &q("0.99")).await;
    assert_eq!(p99.len(), 2, "{p99:?}");
    assert_eq!(p99[0].0, T0 + 15_000);
    assert!((p99[0].1 - 0.9625).abs() < 1e-9, "{p99:?}");
    assert!((p99[1].1 - 0.9925).abs() < 1e-9, "{p99:?}");
    // p50 of scrape 2: rank 100 in (0.1, 0.25]: 0.1 + 0.15 * (100-60)/100.
    let p50 = points(&app, service, &q("0.5")).await;
    assert!((p50[0].1 - 0.16).abs() < 1e-9, "{p50:?}");
    // The buckets themselves are stored raw too.
    let raw = points(&app, service, r#"http_request_duration_seconds_bucket{le="+Inf",route="/pay"}"#).await;
    assert_eq!(raw.len(), 3);
}

#[tokio::test]
async fn staleness_markers_end_a_series_and_out_of_order_samples_are_stored_raw() {
    let app = app();
    let stale = f64::from_bits(STALE_NAN);
    let (s, _, _) = post(&app, body(vec![series(REQUESTS, &[(T0, 1.0), (T0 + 15_000, stale)])])).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    // After the marker the series starts afresh: no rate from 1 to 7.
    let (s, _, _) = post(&app, body(vec![series(REQUESTS, &[(T0 + 30_000, 7.0), (T0 + 45_000, 10.0)])])).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    // Late: stored raw, nothing derived from it.
    let (s, _, _) = post(&app, body(vec![series(REQUESTS, &[(T0 + 20_000, 3.0)])])).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let service = "default/shop/payments";
    let raw = points(&app, service, r#"http_requests_total{code="500"}"#).await;
    assert_eq!(raw, vec![(T0, 1.0), (T0 + 20_000, 3.0), (T0 + 30_000, 7.0), (T0 + 45_000, 10.0)]);
    let rate = points(&app, service, r#"rate(http_requests_total{code="500"})"#).await;
    assert_eq!(rate, vec![(T0 + 45_000, 0.2)]);
    assert_eq!(metric_line(&app, "inquest_remote_write_staleness_markers_total").await, 1.0);
    assert_eq!(metric_line(&app, "inquest_remote_write_out_of_order_samples_total").await, 1.0);
    let (s, _, _) = post(&app, body(vec![series(REQUESTS, &[(T0 + 60_000, f64::NAN)])])).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        metric_line(&app, r#"inquest_remote_write_samples_rejected_total{reason="not_finite"}"#).await,
        1.0
    );
}

#[tokio::test]
async fn a_series_no_store_can_hold_is_dropped_and_the_rest_stored() {
    let app = app();
    let mut bad = series(&[("__name__", "up"), ("job", "cart"), ("zone", "x")], &[(T0, 1.0)]);
    bad.labels[2].value = Bytes::from_static(b"\xff\xfe");
    let no_service = series(&[("__name__", "up"), ("instance", "a")], &[(T0, 1.0)]);
    let good = series(&[("__name__", "up"), ("job", "cart")], &[(T0, 1.0)]);
    let (s, v, _) = post(&app, body(vec![bad, no_service, good])).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    assert_eq!(points(&app, "default/default/cart", "up").await, vec![(T0, 1.0)]);
    assert_eq!(metric_line(&app, r#"inquest_remote_write_series_dropped_total{reason="invalid_utf8"}"#).await, 1.0);
    assert_eq!(
        metric_line(&app, r#"inquest_remote_write_series_dropped_total{reason="no_service_label"}"#).await,
        1.0
    );
}

#[tokio::test]
async fn protocol_2_bodies_are_read_from_their_symbol_table() {
    let app = app();
    let symbols = ["", "__name__", "orders_processed", "job", "worker"];
    let req = RequestV2 {
        symbols: symbols.iter().map(|s| Bytes::from(s.to_string())).collect(),
        timeseries: vec![TimeSeriesV2 {
            labels_refs: vec![1, 2, 3, 4],
            samples: vec![Sample { timestamp: T0, value: 5.0 }, Sample { timestamp: T0 + 10_000, value: 25.0 }],
            metadata: Some(MetadataV2 { r#type: metric_type::COUNTER }),
        }],
    };
    let compressed = snap::raw::Encoder::new().compress_vec(&req.encode_to_vec()).expect("snappy");
    let ctype = "application/x-protobuf;proto=io.prometheus.write.v2.Request";
    let (s, v, _) = post_with(&app, compressed, Some(ctype), Some("snappy")).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    // A counter by its metadata, though its name has no suffix.
    assert_eq!(points(&app, "default/default/worker", "rate(orders_processed)").await, vec![(T0 + 10_000, 2.0)]);
}

fn message(v: &Value) -> String {
    v["error"]["message"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn bad_bodies_get_the_status_prometheus_does_not_retry() {
    let app = app_with(RemoteWriteLimits { max_body_bytes: 4096, ..RemoteWriteLimits::default() }, None);
    let ok = || body(vec![series(REQUESTS, &[(T0, 1.0)])]);
    let (s, v, _) = post_with(&app, ok(), Some("application/json"), Some("snappy")).await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{v}");
    assert!(message(&v).contains("application/json"), "{v}");
    let (s, v, _) = post_with(&app, ok(), Some("application/x-protobuf;proto=x.Y"), Some("snappy")).await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{v}");
    let (s, v, _) = post_with(&app, ok(), Some("application/x-protobuf"), None).await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{v}");
    assert!(message(&v).contains("snappy"), "{v}");
    let (s, v, _) = post_with(&app, ok(), Some("application/x-protobuf"), Some("gzip")).await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{v}");

    let (s, v, _) = post(&app, b"plain text, not snappy".to_vec()).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(message(&v).contains("snappy"), "{v}");
    let not_protobuf = snap::raw::Encoder::new().compress_vec(b"\x0a\xff\xff\xff\x0f").expect("snappy");
    let (s, v, _) = post(&app, not_protobuf).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(message(&v).contains("prometheus.WriteRequest"), "{v}");
    assert_eq!(v["error"]["field"], "body");

    let big: Vec<TimeSeries> = (0..3000).map(|i| series(&[("__name__", "up"), ("job", &format!("j{i}"))], &[(T0, 1.0)])).collect();
    let (s, v, _) = post(&app, body(big)).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    // A body claiming to decompress past the limit is refused before decompressing.
    let app = app_with(RemoteWriteLimits { max_decoded_bytes: 1024, ..RemoteWriteLimits::default() }, None);
    let bomb = snap::raw::Encoder::new().compress_vec(&vec![0u8; 100_000]).expect("snappy");
    let (s, v, _) = post(&app, bomb).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert_eq!(metric_line(&app, r#"inquest_remote_write_requests_refused_total{reason="too_large"}"#).await, 1.0);
    assert!(points(&app, "default/shop/payments", r#"http_requests_total{code="500"}"#).await.is_empty());
}

#[tokio::test]
async fn a_store_down_is_503_with_retry_after_and_the_retry_derives_the_same_rates() {
    let app = app();
    let (s, _, _) = post(&app, body(vec![series(REQUESTS, &[(T0, 10.0)])])).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    app.down.store(true, Ordering::SeqCst);
    let next = || body(vec![series(REQUESTS, &[(T0 + 15_000, 25.0)])]);
    let (s, v, retry) = post(&app, next()).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert!(retry.parse::<u64>().is_ok_and(|n| n > 0), "Retry-After: {retry:?}");
    app.down.store(false, Ordering::SeqCst);
    // Prometheus resends the same samples: they are not late, and the rate is derived.
    let (s, _, _) = post(&app, next()).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let rate = points(&app, "default/shop/payments", r#"rate(http_requests_total{code="500"})"#).await;
    assert_eq!(rate, vec![(T0 + 15_000, 1.0)]);
    assert_eq!(metric_line(&app, "inquest_remote_write_out_of_order_samples_total").await, 0.0);
    assert_eq!(metric_line(&app, r#"inquest_remote_write_requests_refused_total{reason="unavailable"}"#).await, 1.0);
}

#[tokio::test]
async fn too_many_samples_waiting_is_429_with_retry_after() {
    let gate = Arc::new(Semaphore::new(0));
    let limits = RemoteWriteLimits { max_queued_samples: 3, retry_after_secs: 7, ..RemoteWriteLimits::default() };
    let app = Arc::new(app_with(limits, Some(gate.clone())));
    let waiting = {
        let app = app.clone();
        tokio::spawn(async move { post(&app, body(vec![series(REQUESTS, &[(T0, 1.0), (T0 + 1000, 2.0)])])).await })
    };
    // The first write waits in the store with its two samples queued.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while metric_queued(&app).await == 0.0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let other = series(&[("__name__", "up"), ("job", "cart")], &[(T0, 1.0), (T0 + 1000, 1.0)]);
    let (s, v, retry) = post(&app, body(vec![other])).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert_eq!(retry, "7");
    gate.add_permits(10);
    let (s, _, _) = waiting.await.expect("the first write");
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(points(&app, "default/shop/payments", r#"http_requests_total{code="500"}"#).await.len(), 2);
}

/// `inquest_remote_write_queued_samples`.
async fn metric_queued(app: &App) -> f64 {
    let req = Request::get("/metrics").body(Body::empty()).expect("request");
    let res = app.router.clone().oneshot(req).await.expect("response");
    let text = String::from_utf8(res.into_body().collect().await.expect("body").to_bytes().to_vec()).unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with("inquest_remote_write_queued_samples"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}
