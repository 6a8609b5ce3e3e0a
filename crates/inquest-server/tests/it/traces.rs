//! `POST /v1/traces` through the router: OTLP protobuf and JSON (gzip) bodies become
//! service-graph edges with call counts in the topology store and edge series in the
//! metrics store once flushed; rejected spans are a partial success; bad bodies are
//! 400/413/415; a store that is down keeps the flush for the next try.

use std::io::Write;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{Duration, Utc};
use http_body_util::BodyExt;
use inquest_domain::{DependsOn, EdgeCalls, NodeKind};
use inquest_intake::Policy;
use inquest_ports::{Direction, DownTopology, ErrorKind, StoreError, Stores};
use inquest_report::TemplateReport;
use inquest_server::{Access, AppState, TraceConfig};
use inquest_store_embedded::EmbeddedAccessStore;
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span, status};
use prost::Message;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::{error_message, in_memory};

const FRONTEND: &str = "default/default/frontend";
const CART: &str = "default/default/cart";
const DB: &str = "default/default/postgresql:carts";
const STRIPE: &str = "default/default/stripe";

struct App {
    router: Router,
    state: AppState,
    stores: Stores,
}

fn app_with(config: TraceConfig, required: bool) -> App {
    let (ingest, stores) = in_memory(Policy::default_policy());
    let access_store = Arc::new(EmbeddedAccessStore::in_memory().expect("access store"));
    let registry = prometheus::Registry::new();
    let access =
        if required { Access::required(access_store, &registry) } else { Access::open(access_store, &registry) };
    let mut state =
        AppState::new(stores.clone(), Arc::new(TemplateReport), ingest, Arc::new(access.expect("access metrics")));
    state.traces = Arc::new(state.traces.with_config(config));
    App { router: inquest_server::app(state.clone()), state, stores }
}

fn app() -> App {
    app_with(TraceConfig::default(), false)
}

fn s(key: &str, v: &str) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(any_value::Value::StringValue(v.into())) }) }
}

fn nanos(t: chrono::DateTime<Utc>) -> u64 {
    t.timestamp_nanos_opt().and_then(|n| u64::try_from(n).ok()).expect("a time after 1970")
}

/// Ten seconds into the minute that began two to three minutes ago: every span of a
/// test run falls in one bucket, closed at a flush now.
fn base() -> chrono::DateTime<Utc> {
    static BASE: std::sync::OnceLock<chrono::DateTime<Utc>> = std::sync::OnceLock::new();
    *BASE.get_or_init(|| {
        let t = Utc::now() - Duration::seconds(120);
        let ms = t.timestamp_millis();
        chrono::DateTime::from_timestamp_millis(ms - ms.rem_euclid(60_000) + 10_000).expect("a time")
    })
}

fn span(trace: u8, id: u8, parent: Option<u8>, kind: span::SpanKind, ms: i64, attributes: Vec<KeyValue>) -> Span {
    let start = base();
    Span {
        trace_id: vec![trace; 16],
        span_id: vec![id; 8],
        parent_span_id: parent.map(|p| vec![p; 8]).unwrap_or_default(),
        name: "op".into(),
        kind: kind as i32,
        start_time_unix_nano: nanos(start),
        end_time_unix_nano: nanos(start + Duration::milliseconds(ms)),
        attributes,
        ..Default::default()
    }
}

fn resource(service: &str, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource { attributes: vec![s("service.name", service)], dropped_attributes_count: 0 }),
        scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
        schema_url: String::new(),
    }
}

/// frontend calls cart (a client span with cart's server child, the second of three
/// failing), cart queries its database and frontend calls stripe (client spans nobody answers).
fn shop_request() -> ExportTraceServiceRequest {
    let mut frontend = Vec::new();
    let mut cart = Vec::new();
    for trace in 1..=3u8 {
        frontend.push(span(trace, 1, None, span::SpanKind::Client, 300, vec![]));
        let mut server = span(trace, 2, Some(1), span::SpanKind::Server, 200, vec![]);
        if trace == 2 {
            server.status = Some(Status { message: "out of stock".into(), code: status::StatusCode::Error as i32 });
        }
        cart.push(server);
        cart.push(span(
            trace,
            3,
            Some(2),
            span::SpanKind::Client,
            20,
            vec![s("db.system", "postgresql"), s("db.name", "carts")],
        ));
    }
    frontend.push(span(9, 9, None, span::SpanKind::Client, 50, vec![s("peer.service", "stripe")]));
    ExportTraceServiceRequest { resource_spans: vec![resource("frontend", frontend), resource("cart", cart)] }
}

async fn post(
    router: &Router,
    content_type: &str,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Vec<u8>, String) {
    let mut req = Request::builder().method("POST").uri("/v1/traces").header(header::CONTENT_TYPE, content_type);
    if let Some(e) = encoding {
        req = req.header(header::CONTENT_ENCODING, e);
    }
    let res = router.clone().oneshot(req.body(Body::from(body)).expect("request")).await.expect("response");
    let status = res.status();
    let ctype = res.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let bytes = res.into_body().collect().await.expect("body").to_bytes().to_vec();
    (status, bytes, ctype)
}

async fn get(router: &Router, uri: &str) -> (StatusCode, Vec<u8>) {
    let req = Request::builder().uri(uri).body(Body::empty()).expect("request");
    let res = router.clone().oneshot(req).await.expect("response");
    let status = res.status();
    (status, res.into_body().collect().await.expect("body").to_bytes().to_vec())
}

fn edge(from: &str, to: &str) -> DependsOn {
    DependsOn { from: from.into(), to: to.into() }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).expect("gzip");
    gz.finish().expect("gzip")
}

#[tokio::test]
async fn protobuf_spans_become_edges_with_calls_and_edge_series() {
    let a = app();
    let (status, body, ctype) = post(&a.router, "application/x-protobuf", None, shop_request().encode_to_vec()).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(ctype, "application/x-protobuf");
    let answer = ExportTraceServiceResponse::decode(body.as_slice()).expect("an ExportTraceServiceResponse");
    assert_eq!(answer.partial_success, None, "every span taken");

    // Nothing is written before the flush.
    assert!(a.stores.topology.edge_calls(&[CART.to_string()]).await.expect("edge_calls").is_empty());
    let flushed = a.state.traces.flush(&a.stores, Utc::now()).await;
    assert!(flushed.failures.is_empty(), "{flushed:?}");

    let calls = a.stores.topology.edge_calls(&[CART.to_string(), FRONTEND.to_string()]).await.expect("edge_calls");
    assert_eq!(
        calls,
        vec![
            EdgeCalls { edge: edge(CART, DB), calls: 3, errors: 0 },
            EdgeCalls { edge: edge(FRONTEND, CART), calls: 3, errors: 1 },
            EdgeCalls { edge: edge(FRONTEND, STRIPE), calls: 1, errors: 0 },
        ]
    );
    let radius = a.stores.topology.blast_radius(CART, 2).await.expect("blast radius");
    let found = |key: &str| radius.nodes.iter().find(|n| n.key == key).map(|n| (n.direction, n.kind));
    assert_eq!(found(FRONTEND), Some((Direction::Upstream, NodeKind::Service)));
    assert_eq!(found(DB), Some((Direction::Downstream, NodeKind::Database)), "the database keeps its kind");

    let now = Utc::now();
    let window = a.stores.metrics.window(CART, now - Duration::minutes(10), now).await.expect("window");
    let series = |name: &str| {
        window.series.iter().find(|s| s.metric_name == name).map(|s| s.points.iter().map(|p| p.1).collect::<Vec<_>>())
    };
    let client = r#"{client="default/default/frontend"}"#;
    let rate = series(&format!("service_graph_request_rate{client}")).expect("request rate");
    assert_eq!(rate.iter().sum::<f64>(), 3.0 / 60.0, "three calls in the minute: {rate:?}");
    let ratio = series(&format!("service_graph_error_ratio{client}")).expect("error ratio");
    assert!((ratio.iter().sum::<f64>() - 1.0 / 3.0).abs() < 1e-9, "{ratio:?}");
    let p99 = series(&format!("service_graph_latency_p99_seconds{client}")).expect("p99");
    // A call lasts what its caller waited: the client span (300 ms), network included.
    assert!((p99[0] - 0.3).abs() < 1e-6, "the client spans last 300 ms: {p99:?}");
    assert!(series(&format!("service_graph_latency_p50_seconds{client}")).is_some());

    // The topology API shows the calls; /metrics the counters.
    let (status, body) = get(&a.router, "/api/topology?service=cart&depth=1").await;
    assert_eq!(status, StatusCode::OK);
    let view: Value = serde_json::from_slice(&body).expect("json");
    let shown = view["calls"].as_array().expect("calls");
    assert!(shown.contains(&json!({"edge": {"from": FRONTEND, "to": CART}, "calls": 3, "errors": 1})), "{view}");
    assert!(!shown.iter().any(|c| c["edge"]["to"] == STRIPE), "stripe is outside the radius: {view}");
    let (_, body) = get(&a.router, "/metrics").await;
    let text = String::from_utf8_lossy(&body);
    for line in [
        "inquest_trace_spans_received_total 10",
        "inquest_trace_edges 3",
        r#"inquest_trace_spans_rejected_total{reason="invalid_ids"} 0"#,
        r#"inquest_trace_flush_failures_total{port="topology"} 0"#,
        "inquest_trace_points_written_total 12",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
    }
    assert!(text.contains("inquest_trace_spans_held"), "{text}");
}

#[tokio::test]
async fn gzip_json_is_taken_and_rejected_spans_are_a_partial_success() {
    let a = app();
    let start = nanos(base());
    let end = start + 100_000_000;
    let body = json!({"resourceSpans": [
        {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "frontend"}}]},
         "scopeSpans": [{"spans": [
            {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331", "kind": 3,
             "name": "GET /cart", "startTimeUnixNano": start.to_string(), "endTimeUnixNano": end.to_string()},
            {"traceId": "", "spanId": "b7ad6b7169203332", "kind": 3, "name": "no trace",
             "startTimeUnixNano": start.to_string(), "endTimeUnixNano": end.to_string()}]}]},
        {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "cart"}}]},
         "scopeSpans": [{"spans": [
            {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "c7ad6b7169203331",
             "parentSpanId": "b7ad6b7169203331", "kind": 2, "name": "GET /cart",
             "startTimeUnixNano": start, "endTimeUnixNano": end,
             "attributes": [{"key": "http.response.status_code", "value": {"intValue": "503"}}]},
            {"traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "c7ad6b7169203332", "kind": 2,
             "name": "no end", "startTimeUnixNano": start.to_string()}]}]}
    ]});
    let (status, answer, ctype) =
        post(&a.router, "application/json; charset=utf-8", Some("gzip"), gzip(body.to_string().as_bytes())).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&answer));
    assert_eq!(ctype, "application/json");
    let answer: Value = serde_json::from_slice(&answer).expect("json answer");
    assert_eq!(answer["partialSuccess"]["rejectedSpans"], "2", "{answer}");
    let why = answer["partialSuccess"]["errorMessage"].as_str().expect("message");
    assert!(why.contains("traceId") && why.contains("times"), "{why}");

    a.state.traces.flush(&a.stores, Utc::now()).await;
    let calls = a.stores.topology.edge_calls(&[CART.to_string()]).await.expect("edge_calls");
    assert_eq!(calls, vec![EdgeCalls { edge: edge(FRONTEND, CART), calls: 1, errors: 1 }], "a 503 on the server span");
    let (_, body) = get(&a.router, "/metrics").await;
    let text = String::from_utf8_lossy(&body);
    for line in [
        r#"inquest_trace_spans_rejected_total{reason="invalid_ids"} 1"#,
        r#"inquest_trace_spans_rejected_total{reason="invalid_times"} 1"#,
        "inquest_trace_spans_received_total 2",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
    }
}

#[tokio::test]
async fn bad_bodies_are_refused_naming_what_was_wrong() {
    let small = TraceConfig { max_body_bytes: 2_000, ..TraceConfig::default() };
    let a = app_with(small, false);
    let json_of = |b: &[u8]| serde_json::from_slice::<Value>(b).expect("an error body");

    let (status, body, _) = post(&a.router, "text/plain", None, b"hello".to_vec()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(error_message(&json_of(&body), status).contains("application/x-protobuf"));

    let (status, body, _) = post(&a.router, "application/x-protobuf", Some("br"), b"x".to_vec()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(error_message(&json_of(&body), status).contains("Content-Encoding"));

    let (status, body, _) = post(&a.router, "application/x-protobuf", None, b"\xff\xff\xff\xff".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let e = json_of(&body);
    assert!(error_message(&e, status).contains("protobuf"), "{e}");
    assert_eq!(e["error"]["field"], "body");

    let (status, body, _) = post(&a.router, "application/json", None, br#"{"resourceSpans": 3}"#.to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error_message(&json_of(&body), status).contains("resourceSpans"));

    let (status, _, _) = post(&a.router, "application/x-protobuf", Some("gzip"), b"not gzip".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, body, _) = post(&a.router, "application/x-protobuf", None, vec![0; 2_001]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(error_message(&json_of(&body), status).contains("2000"));
    // A small gzip body that inflates past the limit.
    let (status, _, _) = post(&a.router, "application/x-protobuf", Some("gzip"), gzip(&[0; 50_000])).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    let (_, body) = get(&a.router, "/metrics").await;
    let text = String::from_utf8_lossy(&body);
    for line in [
        r#"inquest_trace_requests_rejected_total{reason="unsupported_media_type"} 1"#,
        r#"inquest_trace_requests_rejected_total{reason="unsupported_encoding"} 1"#,
        r#"inquest_trace_requests_rejected_total{reason="malformed"} 3"#,
        r#"inquest_trace_requests_rejected_total{reason="too_large"} 2"#,
        "inquest_trace_spans_received_total 0",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
    }

    // Where credentials are required, a sender without one is refused before its body is read.
    let closed = app_with(TraceConfig::default(), true);
    let (status, _, _) = post(&closed.router, "application/x-protobuf", None, shop_request().encode_to_vec()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_topology_store_down_keeps_the_edges_for_the_next_flush() {
    let a = app();
    let (status, _, _) = post(&a.router, "application/x-protobuf", None, shop_request().encode_to_vec()).await;
    assert_eq!(status, StatusCode::OK);
    let down = StoreError::new(ErrorKind::Unavailable, "neo4j", "connect", "connection refused");
    let broken = Stores { topology: Arc::new(DownTopology::new(down)), ..a.stores.clone() };
    let flushed = a.state.traces.flush(&broken, Utc::now()).await;
    assert_eq!(flushed.failures.len(), 1, "{flushed:?}");
    assert_eq!(flushed.failures[0].1, "topology");
    assert_eq!(flushed.points, 12, "the metrics store took its points");

    // More calls arrive meanwhile; the next flush writes both.
    let more = ExportTraceServiceRequest {
        resource_spans: vec![
            resource("frontend", vec![span(7, 1, None, span::SpanKind::Client, 100, vec![])]),
            resource("cart", vec![span(7, 2, Some(1), span::SpanKind::Server, 50, vec![])]),
        ],
    };
    post(&a.router, "application/x-protobuf", None, more.encode_to_vec()).await;
    let flushed = a.state.traces.flush(&a.stores, Utc::now()).await;
    assert!(flushed.failures.is_empty(), "{flushed:?}");
    let calls = a.stores.topology.edge_calls(&[FRONTEND.to_string()]).await.expect("edge_calls");
    assert_eq!(
        calls.iter().find(|c| c.edge == edge(FRONTEND, CART)).map(|c| (c.calls, c.errors)),
        Some((4, 1)),
        "{calls:?}"
    );
    let (_, body) = get(&a.router, "/metrics").await;
    let text = String::from_utf8_lossy(&body);
    assert!(text.lines().any(|l| l == r#"inquest_trace_flush_failures_total{port="topology"} 1"#), "{text}");
}

#[tokio::test]
async fn spans_beyond_the_limit_are_dropped_oldest_first_and_counted() {
    let a = app_with(TraceConfig { max_held_spans: 10, ..TraceConfig::default() }, false);
    let project = inquest_domain::ProjectId::default_project();
    let spans: Vec<Span> = (1..=12u8).map(|i| span(i, i, None, span::SpanKind::Server, i64::from(i), vec![])).collect();
    let (status, _, _) = post(
        &a.router,
        "application/x-protobuf",
        None,
        ExportTraceServiceRequest { resource_spans: vec![resource("cart", spans)] }.encode_to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(a.state.traces.held(&project), 9, "shed to nine tenths of the limit");
    let (_, body) = get(&a.router, "/metrics").await;
    let text = String::from_utf8_lossy(&body);
    assert!(text.lines().any(|l| l == "inquest_trace_spans_dropped_total 3"), "{text}");
    assert!(text.lines().any(|l| l == "inquest_trace_spans_held 9"), "{text}");
}
