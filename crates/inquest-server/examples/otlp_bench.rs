//! OTLP trace ingest benchmark (not a test): spans per second through the app
//! (`POST /v1/traces` on `inquest_server::app`, called in-process with `oneshot`:
//! routing, the credential check, reading the body, protobuf decoding, the span
//! mapping and the service graph under its lock), against the bare
//! `ServiceGraph::add` of the same spans, decoded beforehand, in the same run; then
//! one flush of what was derived into the embedded store.
//!
//! `cargo run --release -p inquest-server --example otlp_bench -- [requests] [spans_per_request]`
//!
//! Defaults: 200 requests of 1,000 spans (traces of ten spans: five calls down a
//! chain of services, across 40 services), protobuf, uncompressed and gzip.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::{Request, header};
use chrono::{Duration, Utc};
use inquest_ingest::traces::{ServiceGraph, Span as GraphSpan};
use inquest_intake::Policy;
use inquest_intake_service::Ingest;
use inquest_server::otlp;
use inquest_server::{Access, AppState, TraceConfig};
use inquest_store_embedded::{EmbeddedAccessStore, EmbeddedIntakeStore, EmbeddedStore};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, span};
use prost::Message;
use tower::ServiceExt;

const SERVICES: usize = 40;

/// One request of `spans` spans: traces of five client/server pairs, each pair a call
/// from one service to the next, grouped by service as an SDK batches them.
fn request(index: usize, spans: usize, start_ns: u64) -> ExportTraceServiceRequest {
    let mut by_service: Vec<Vec<Span>> = vec![Vec::new(); SERVICES];
    let traces = spans / 10;
    for t in 0..traces {
        let trace_no = (index * traces + t) as u128 + 1;
        let trace_id = trace_no.to_be_bytes().to_vec();
        let first = (trace_no as usize * 7) % SERVICES;
        let mut parent: Option<Vec<u8>> = None;
        for hop in 0..5u64 {
            let (caller, callee) = ((first + hop as usize) % SERVICES, (first + hop as usize + 1) % SERVICES);
            let id = |n: u64| ((trace_no as u64) << 8 | n).to_be_bytes().to_vec();
            let at = start_ns + t as u64 * 1_000_000 + hop * 100_000;
            let client = Span {
                trace_id: trace_id.clone(),
                span_id: id(hop * 2 + 1),
                parent_span_id: parent.clone().unwrap_or_default(),
                name: "call".into(),
                kind: span::SpanKind::Client as i32,
                start_time_unix_nano: at,
                end_time_unix_nano: at + 5_000_000,
                ..Default::default()
            };
            let server = Span {
                trace_id: trace_id.clone(),
                span_id: id(hop * 2 + 2),
                parent_span_id: client.span_id.clone(),
                name: "handle".into(),
                kind: span::SpanKind::Server as i32,
                start_time_unix_nano: at + 100_000,
                end_time_unix_nano: at + 4_000_000,
                ..Default::default()
            };
            parent = Some(server.span_id.clone());
            by_service[caller].push(client);
            by_service[callee].push(server);
        }
    }
    let service = |i: usize| KeyValue {
        key: "service.name".into(),
        value: Some(AnyValue { value: Some(any_value::Value::StringValue(format!("svc-{i}"))) }),
    };
    ExportTraceServiceRequest {
        resource_spans: by_service
            .into_iter()
            .enumerate()
            .filter(|(_, s)| !s.is_empty())
            .map(|(i, spans)| ResourceSpans {
                resource: Some(Resource { attributes: vec![service(i)], dropped_attributes_count: 0 }),
                scope_spans: vec![ScopeSpans { spans, ..Default::default() }],
                schema_url: String::new(),
            })
            .collect(),
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(bytes).expect("gzip in memory");
    gz.finish().expect("gzip in memory")
}

struct App {
    router: axum::Router,
    state: AppState,
}

fn app() -> Result<App, Box<dyn std::error::Error>> {
    let stores = EmbeddedStore::in_memory()?.stores();
    let ingest = Arc::new(Ingest::new(
        Arc::new(EmbeddedIntakeStore::in_memory()?),
        stores.records.clone(),
        Policy::default_policy(),
    ));
    // Open, as a loopback server may be: the benchmark measures the receiver, not sign-in.
    let access = Arc::new(Access::open(Arc::new(EmbeddedAccessStore::in_memory()?), &prometheus::Registry::new())?);
    let mut state = AppState::new(stores, Arc::new(inquest_report::TemplateReport), ingest, access);
    state.traces =
        Arc::new(state.traces.with_config(TraceConfig { max_held_spans: 10_000_000, ..TraceConfig::default() }));
    Ok(App { router: inquest_server::app(state.clone()), state })
}

/// Post every body; spans per second.
async fn through_app(bodies: &[Vec<u8>], gzip: bool, spans: usize) -> Result<(f64, App), Box<dyn std::error::Error>> {
    let app = app()?;
    let started = Instant::now();
    for body in bodies {
        let mut req =
            Request::builder().method("POST").uri("/v1/traces").header(header::CONTENT_TYPE, "application/x-protobuf");
        if gzip {
            req = req.header(header::CONTENT_ENCODING, "gzip");
        }
        let res = app.router.clone().oneshot(req.body(Body::from(body.clone()))?).await?;
        if !res.status().is_success() {
            return Err(format!("POST /v1/traces answered {}", res.status()).into());
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(((bodies.len() * spans) as f64 / seconds, app))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let requests: usize = args.first().map(|a| a.parse()).transpose()?.unwrap_or(200);
    let spans: usize = args.get(1).map(|a| a.parse()).transpose()?.unwrap_or(1_000);
    let spans = spans.max(10) / 10 * 10;
    let start_ns = u64::try_from((Utc::now() - Duration::minutes(5)).timestamp_nanos_opt().unwrap_or(0))?;
    let messages: Vec<ExportTraceServiceRequest> = (0..requests).map(|i| request(i, spans, start_ns)).collect();
    let bodies: Vec<Vec<u8>> = messages.iter().map(|m| m.encode_to_vec()).collect();
    let zipped: Vec<Vec<u8>> = bodies.iter().map(|b| gzip(b)).collect();
    let bytes: usize = bodies.iter().map(Vec::len).sum();
    let zipped_bytes: usize = zipped.iter().map(Vec::len).sum();
    println!(
        "{requests} requests of {spans} spans ({:.0} KiB protobuf each, {:.0} KiB gzip), {SERVICES} services",
        bytes as f64 / requests as f64 / 1024.0,
        zipped_bytes as f64 / requests as f64 / 1024.0
    );

    // The baseline: the same spans, decoded before the clock starts, into a bare graph.
    let decoded: Vec<Vec<GraphSpan>> = messages.iter().map(|m| otlp::spans(m.clone()).spans).collect();
    let mut graph = ServiceGraph::new(Duration::seconds(60), Duration::seconds(10));
    let started = Instant::now();
    let mut calls = 0;
    for batch in decoded {
        calls += graph.add(batch);
    }
    let bare = (requests * spans) as f64 / started.elapsed().as_secs_f64();
    println!("ServiceGraph::add (bare):          {bare:>12.0} spans/s  ({calls} calls)");

    let (plain, app) = through_app(&bodies, false, spans).await?;
    println!("POST /v1/traces protobuf:          {plain:>12.0} spans/s  ({:.2} of bare)", plain / bare);
    let (gz, _) = through_app(&zipped, true, spans).await?;
    println!("POST /v1/traces protobuf + gzip:   {gz:>12.0} spans/s  ({:.2} of bare)", gz / bare);

    // What the flush then writes into the embedded store, every bucket closed.
    let started = Instant::now();
    let flushed = app.state.traces.flush(&app.state.stores, Utc::now()).await;
    let flush = started.elapsed().as_secs_f64();
    if !flushed.failures.is_empty() {
        return Err(format!("the flush failed: {:?}", flushed.failures).into());
    }
    println!(
        "flush into the embedded store:     {:>9.1} ms for {} points and {} edges",
        flush * 1e3,
        flushed.points,
        flushed.calls
    );
    Ok(())
}
