//! Remote write benchmark (not a test): generated `WriteRequest`s (snappy + protobuf,
//! encoded before the clock starts) posted through the whole router (`oneshot`, no
//! socket: decoding, label rules, rate and quantile derivation, `insert_points`), one
//! request at a time, against a baseline in the same run: the same points written
//! with `insert_points` directly, batch for batch. On the embedded store (redb in a
//! temp dir), then on ClickHouse when an address is given (`--clickhouse URL`, or
//! `INQUEST_TEST_CLICKHOUSE_URL` as `scripts/ci.d/20-clickhouse.sh` exports it; a
//! fresh database, dropped after).
//!
//! `cargo run --release -p inquest-server --example remote_write_bench -- [series] [scrapes] [samples_per_request] [--clickhouse URL]`
//!
//! Defaults: 20,000 series (a third counters, a third histogram buckets, a third
//! gauges, over 50 services), 10 scrapes, 2,000 samples per request (Prometheus's
//! `max_samples_per_send`).

use std::error::Error;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use bytes::Bytes;
use http_body_util::BodyExt;
use inquest_domain::MetricPoint;
use inquest_ingest::prometheus::proto::{Label, Sample, TimeSeries, WriteRequest};
use inquest_ingest::prometheus::{self, Protocol, Receiver};
use inquest_intake::Policy;
use inquest_intake_service::Ingest;
use inquest_ports::{MetricStore, Stores};
use inquest_store_clickhouse::ClickHouseStore;
use inquest_store_embedded::{EmbeddedAccessStore, EmbeddedIntakeStore, EmbeddedStore};
use prost::Message;
use tower::ServiceExt;

type Res<T> = Result<T, Box<dyn Error>>;

const LES: [&str; 5] = ["0.05", "0.1", "0.5", "1", "+Inf"];

fn label(n: &str, v: &str) -> Label {
    Label { name: Bytes::copy_from_slice(n.as_bytes()), value: Bytes::copy_from_slice(v.as_bytes()) }
}

/// The labels of series `i`, sorted by name as Prometheus sends them.
fn series_labels(i: usize) -> Vec<Label> {
    let service = format!("svc-{}", i % 50);
    let instance = format!("10.0.{}.{}:8080", (i / 50) % 256, i % 7);
    match i % 3 {
        0 => vec![
            label("__name__", "http_requests_total"),
            label("code", ["200", "404", "500", "503"][(i / 3) % 4]),
            label("instance", &instance),
            label("job", &service),
            label("method", "GET"),
            label("namespace", "shop"),
            label("route", &format!("/r{}", (i / 12) % 40)),
        ],
        1 => vec![
            label("__name__", "http_request_duration_seconds_bucket"),
            label("instance", &instance),
            label("job", &service),
            label("le", LES[(i / 3) % LES.len()]),
            label("namespace", "shop"),
            label("route", &format!("/r{}", (i / 15) % 40)),
        ],
        _ => vec![
            label("__name__", "process_resident_memory_bytes"),
            label("instance", &instance),
            label("job", &service),
            label("namespace", "shop"),
            label("shard", &format!("{}", (i / 3) % 100)),
        ],
    }
}

/// `scrapes` scrapes of `series` series, 15 s apart, cut into bodies of `per_request` samples.
fn bodies(series: usize, scrapes: usize, per_request: usize) -> Vec<(Vec<u8>, usize)> {
    let t0 = chrono::Utc::now().timestamp_millis() - (scrapes as i64 + 1) * 15_000;
    let labels: Vec<Vec<Label>> = (0..series).map(series_labels).collect();
    let mut out = Vec::new();
    for s in 0..scrapes {
        let ts = t0 + s as i64 * 15_000;
        for chunk in (0..series).collect::<Vec<_>>().chunks(per_request) {
            let timeseries = chunk
                .iter()
                .map(|&i| {
                    // Monotonic counters and buckets (a bucket's count grows with its bound).
                    let value = match i % 3 {
                        0 => (s * (i % 17 + 1)) as f64,
                        1 => (s * 10 * ((i / 3) % LES.len() + 1)) as f64,
                        _ => 1e8 + (i * 31 + s * 7) as f64,
                    };
                    TimeSeries { labels: labels[i].clone(), samples: vec![Sample { value, timestamp: ts }] }
                })
                .collect();
            let raw = WriteRequest { timeseries, metadata: Vec::new() }.encode_to_vec();
            let compressed = snap::raw::Encoder::new().compress_vec(&raw).unwrap_or_default();
            out.push((compressed, chunk.len()));
        }
    }
    out
}

fn app(stores: &Stores) -> Res<axum::Router> {
    let intake = Arc::new(EmbeddedIntakeStore::in_memory()?);
    let ingest = Arc::new(Ingest::new(intake, stores.records.clone(), Policy::default_policy()));
    // Open, as a loopback server may be: the benchmark measures the receiver, not sign-in.
    let access =
        Arc::new(inquest_server::Access::open(Arc::new(EmbeddedAccessStore::in_memory()?), ingest.metrics.registry())?);
    let writer = Arc::new(inquest_report::TemplateReport);
    Ok(inquest_server::app(inquest_server::AppState::new(stores.clone(), writer, ingest, access)))
}

struct Routed {
    samples_per_sec: f64,
    p50: Duration,
    p99: Duration,
    elapsed: Duration,
}

async fn through_router(stores: &Stores, bodies: &[(Vec<u8>, usize)]) -> Res<Routed> {
    let router = app(stores)?;
    let mut latencies = Vec::with_capacity(bodies.len());
    let mut samples = 0usize;
    let started = Instant::now();
    for (body, n) in bodies {
        let req = Request::post("/api/v1/write")
            .header("content-type", "application/x-protobuf")
            .header("content-encoding", "snappy")
            .header("x-prometheus-remote-write-version", "0.1.0")
            .body(Body::from(body.clone()))?;
        let t = Instant::now();
        let res = router.clone().oneshot(req).await?;
        let status = res.status();
        let bytes = res.into_body().collect().await?.to_bytes();
        latencies.push(t.elapsed());
        if status != 204 {
            return Err(format!("{status}: {}", String::from_utf8_lossy(&bytes)).into());
        }
        samples += n;
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    Ok(Routed { samples_per_sec: samples as f64 / elapsed.as_secs_f64(), p50: at(0.5), p99: at(0.99), elapsed })
}

/// The points the receiver writes for each body, derived on a scratch receiver.
fn derived_points(bodies: &[(Vec<u8>, usize)]) -> Res<Vec<Vec<MetricPoint>>> {
    let rx = Receiver::default();
    let now = chrono::Utc::now().timestamp_millis();
    bodies
        .iter()
        .map(|(body, _)| {
            let raw = prometheus::decompress(body, 64 << 20)?;
            let batch = prometheus::decode(Protocol::V1, Bytes::from(raw))?;
            Ok(rx.receive(batch, now).points)
        })
        .collect()
}

async fn direct(store: &dyn MetricStore, batches: &[Vec<MetricPoint>]) -> Res<Duration> {
    let started = Instant::now();
    for points in batches {
        store.insert_points(points).await?;
    }
    Ok(started.elapsed())
}

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()
}

/// Resident memory per series held by a receiver that took every series once.
fn memory_per_series(series: usize) -> Res<(f64, usize)> {
    let one = bodies(series, 1, 2000);
    let decoded: Vec<_> = one
        .iter()
        .map(|(b, _)| prometheus::decompress(b, 64 << 20).and_then(|r| prometheus::decode(Protocol::V1, Bytes::from(r))))
        .collect::<Result<_, _>>()?;
    let before = rss_kib().unwrap_or(0);
    let rx = Receiver::default();
    for batch in decoded {
        drop(rx.receive(batch, 0));
    }
    let after = rss_kib().unwrap_or(0);
    let active = rx.active_series();
    Ok((after.saturating_sub(before) as f64 * 1024.0 / active.max(1) as f64, active))
}

fn report(backend: &str, routed: &Routed, samples: usize, points: usize, direct: Duration) {
    let direct_rate = samples as f64 / direct.as_secs_f64();
    println!(
        "{backend:>10}: router {:>10.0} samples/s ({:>10.0} points/s), p50 {:>7.2} ms, p99 {:>7.2} ms | \
         insert_points {:>10.0} samples/s ({:>10.0} points/s) | router/direct {:.2}",
        routed.samples_per_sec,
        points as f64 / routed.elapsed.as_secs_f64(),
        routed.p50.as_secs_f64() * 1e3,
        routed.p99.as_secs_f64() * 1e3,
        direct_rate,
        points as f64 / direct.as_secs_f64(),
        routed.samples_per_sec / direct_rate,
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = args.iter().position(|a| a == "--clickhouse").and_then(|i| args.get(i + 1)).cloned();
    let clickhouse = flag.or_else(|| std::env::var("INQUEST_TEST_CLICKHOUSE_URL").ok().filter(|v| !v.is_empty()));
    let numbers: Vec<usize> = args.iter().take_while(|a| *a != "--clickhouse").filter_map(|a| a.parse().ok()).collect();
    let series = numbers.first().copied().unwrap_or(20_000).max(3);
    let scrapes = numbers.get(1).copied().unwrap_or(10).max(2);
    let per_request = numbers.get(2).copied().unwrap_or(2000).max(1);

    let (per_series, active) = memory_per_series(series)?;
    let bodies = bodies(series, scrapes, per_request);
    let samples: usize = bodies.iter().map(|b| b.1).sum();
    let batches = derived_points(&bodies)?;
    let points: usize = batches.iter().map(Vec::len).sum();
    println!(
        "{series} series x {scrapes} scrapes = {samples} samples in {} requests of {per_request} \
         ({points} points with the derived rates and quantiles); one request at a time, current-thread runtime",
        bodies.len()
    );
    println!("memory: {per_series:.0} bytes of resident memory per active series ({active} series held)");

    let dir = tempfile::tempdir()?;
    let routed = through_router(&EmbeddedStore::open(&dir.path().join("routed.redb"))?.stores(), &bodies).await?;
    let baseline = EmbeddedStore::open(&dir.path().join("direct.redb"))?;
    let took = direct(&baseline, &batches).await?;
    report("embedded", &routed, samples, points, took);

    if let Some(url) = clickhouse {
        let routed_db = format!("inquest_rw_bench_{}", uuid::Uuid::new_v4().simple());
        let direct_db = format!("inquest_rw_bench_{}", uuid::Uuid::new_v4().simple());
        let routed_store = ClickHouseStore::new(&url, &routed_db)?;
        routed_store.migrate().await?;
        let mut stores = EmbeddedStore::in_memory()?.stores();
        stores.metrics = Arc::new(routed_store.clone());
        let routed = through_router(&stores, &bodies).await;
        let direct_store = ClickHouseStore::new(&url, &direct_db)?;
        direct_store.migrate().await?;
        let took = direct(&direct_store, &batches).await;
        routed_store.drop_database().await?;
        direct_store.drop_database().await?;
        report(&format!("clickhouse ({})", inquest_store_clickhouse::redact_url(&url)), &routed?, samples, points, took?);
    }
    Ok(())
}
