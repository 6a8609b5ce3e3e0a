//! Ingest benchmark (not a test): a load generator on loopback posting alerts to
//! the intake (`inquest_server::app` served in-process on 127.0.0.1),
//! single and batched, with realistic duplication (most alerts repeat a hot set of
//! fingerprints, as a flapping or re-notifying source does). Alerts are correlated
//! and durably stored before each answer: on the embedded intake store (redb in a
//! temp dir, fsync per commit) or on Postgres (a fresh database, migrated, dropped
//! after, the intake on the records store's pool).
//!
//! `cargo run --release -p inquest-server --example ingest_bench -- [seconds] [clients] [--postgres URL] [--backend embedded|postgres|both]`
//!
//! Without `--postgres` only the embedded store runs; with it both run (unless
//! `--backend` says otherwise) and the postgres/embedded ratios are printed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use inquest_contract::postgres::FreshDb;
use inquest_intake::{IngestStore, Policy};
use inquest_intake_service::{Ingest, run_records_sync};
use inquest_ports::Stores;
use inquest_store_embedded::{EmbeddedIntakeStore, EmbeddedStore};
use inquest_store_postgres::{PoolSettings, PostgresStore};
use serde_json::{Value, json};

/// A small deterministic generator (xorshift) so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn alert(rng: &mut Rng) -> Value {
    let sev = ["critical", "high", "medium", "low"][rng.below(4) as usize];
    // 80% of alerts come from a hot set of 200 alert identities (duplicates),
    // 20% are fresh across 5000 identities; 60 services.
    let id = if rng.below(10) < 8 { rng.below(200) } else { 200 + rng.below(5000) };
    json!({
        "service": format!("svc-{}", id % 60),
        "severity": sev,
        "message": format!("alert {id}"),
        "labels": {"pod": format!("pod-{}", id % 7), "region": "eu-west-1"}
    })
}

struct Run {
    alerts: usize,
    seconds: f64,
    latencies_ms: Vec<f64>,
    errors: usize,
}

async fn drive(url: &str, batch: usize, concurrency: usize, duration: Duration) -> Run {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..concurrency {
        let client = client.clone();
        let url = url.to_string();
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (c as u64 + 1));
            let (mut sent, mut errors, mut lat) = (0usize, 0usize, Vec::new());
            while Instant::now() < deadline {
                let body = if batch == 1 {
                    alert(&mut rng)
                } else {
                    Value::Array((0..batch).map(|_| alert(&mut rng)).collect())
                };
                let t = Instant::now();
                match client.post(format!("{url}/api/alerts")).json(&body).send().await {
                    Ok(r) if r.status().as_u16() == 202 => {
                        let _ = r.bytes().await;
                        lat.push(t.elapsed().as_secs_f64() * 1000.0);
                        sent += batch;
                    }
                    _ => errors += 1,
                }
            }
            (sent, errors, lat)
        }));
    }
    let mut run = Run { alerts: 0, seconds: 0.0, latencies_ms: Vec::new(), errors: 0 };
    for t in tasks {
        if let Ok((s, e, l)) = t.await {
            run.alerts += s;
            run.errors += e;
            run.latencies_ms.extend(l);
        }
    }
    run.seconds = started.elapsed().as_secs_f64();
    run
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Backend {
    Embedded,
    Postgres,
}

/// One measured mode: alerts/s, p50, p99.
#[derive(Debug, Clone, Copy)]
struct Figures {
    rate: f64,
    p50: f64,
    p99: f64,
}

async fn measure(
    backend: Backend,
    postgres: Option<&str>,
    name: &str,
    batch: usize,
    seconds: u64,
    concurrency: usize,
) -> Result<Figures, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let mut bench_db = None;
    let (store, stores): (Arc<dyn IngestStore>, Stores) = match backend {
        Backend::Embedded => {
            let stores = EmbeddedStore::open(&dir.path().join("inquest.redb"))?.stores();
            (Arc::new(EmbeddedIntakeStore::open(&dir.path().join("ingest.redb"))?), stores)
        }
        Backend::Postgres => {
            // A fresh database on the server, dropped after the mode.
            let db = FreshDb::create(postgres.ok_or("--postgres URL is required")?).await;
            let settings = PoolSettings { max_size: concurrency + 4, ..PoolSettings::default() };
            let records = PostgresStore::connect(&db.url, &settings)?;
            records.migrate().await?;
            let store = records.intake();
            bench_db = Some(db);
            // The app's state holds every port; only the records one is used here.
            let mut stores = EmbeddedStore::in_memory()?.stores();
            stores.records = Arc::new(records);
            (Arc::new(store), stores)
        }
    };
    let ingest = Arc::new(Ingest::new(store, stores.records.clone(), Policy::default_policy()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let writer = Arc::new(inquest_report::TemplateReport);
    // Open, as a loopback server may be: the benchmark measures the intake, not sign-in.
    let access_store = Arc::new(inquest_store_embedded::EmbeddedAccessStore::in_memory()?);
    let access = Arc::new(inquest_server::Access::open(access_store, ingest.metrics.registry())?);
    let app = inquest_server::app(inquest_server::AppState::new(stores, writer, ingest.clone(), access));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    // As `inquest serve` does: incidents reach the records store in the background.
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let syncer = tokio::spawn(run_records_sync(ingest.clone(), Duration::from_secs(2), stop_rx));
    let run = drive(&url, batch, concurrency, Duration::from_secs(seconds)).await;
    server.abort();
    let _ = stop.send(true);
    let _ = syncer.await;
    let mut lat = run.latencies_ms.clone();
    lat.sort_by(f64::total_cmp);
    let incidents = ingest.store.list_incidents().await?.len();
    let rows = ingest.store.alert_count().await?;
    let figures = Figures { rate: run.alerts as f64 / run.seconds, p50: pct(&lat, 0.50), p99: pct(&lat, 0.99) };
    let label = match backend {
        Backend::Embedded => "embedded",
        Backend::Postgres => "postgres",
    };
    println!(
        "{label:<9} {name:<12} {:>8.0} alerts/s  requests p50 {:>7.2} ms  p99 {:>7.2} ms  ({} alerts in {:.1}s, {} concurrent clients, {} errors; {} alert rows, {} incidents after dedup/correlation)",
        figures.rate, figures.p50, figures.p99, run.alerts, run.seconds, concurrency, run.errors, rows, incidents
    );
    drop(ingest);
    drop(bench_db);
    Ok(figures)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut positional = Vec::new();
    let mut postgres: Option<String> = None;
    let mut choice: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--postgres" => postgres = Some(args.next().ok_or("--postgres needs a URL")?),
            "--backend" => choice = Some(args.next().ok_or("--backend needs embedded, postgres or both")?),
            _ => positional.push(a),
        }
    }
    let seconds: u64 = positional.first().and_then(|s| s.parse().ok()).unwrap_or(10);
    let concurrency: usize = positional.get(1).and_then(|s| s.parse().ok()).unwrap_or(8);
    let backends = match (choice.as_deref(), postgres.is_some()) {
        (None, false) | (Some("embedded"), _) => vec![Backend::Embedded],
        (None, true) | (Some("both"), _) => vec![Backend::Embedded, Backend::Postgres],
        (Some("postgres"), _) => vec![Backend::Postgres],
        (Some(other), _) => return Err(format!("unknown backend {other:?}: embedded, postgres or both").into()),
    };
    if backends.contains(&Backend::Postgres) && postgres.is_none() {
        return Err("--backend postgres needs --postgres URL".into());
    }
    let mut results: Vec<(Backend, &str, Figures)> = Vec::new();
    for backend in &backends {
        for (name, batch) in [("single", 1usize), ("batched x50", 50)] {
            let f = measure(*backend, postgres.as_deref(), name, batch, seconds, concurrency).await?;
            results.push((*backend, name, f));
        }
    }
    if backends.len() == 2 {
        for name in ["single", "batched x50"] {
            let find = |b: Backend| results.iter().find(|r| r.0 == b && r.1 == name).map(|r| r.2);
            if let (Some(e), Some(p)) = (find(Backend::Embedded), find(Backend::Postgres)) {
                println!(
                    "postgres/embedded {name:<12} alerts/s x{:.2}  p50 x{:.2}  p99 x{:.2}",
                    p.rate / e.rate,
                    p.p50 / e.p50,
                    p.p99 / e.p99
                );
            }
        }
    }
    Ok(())
}
