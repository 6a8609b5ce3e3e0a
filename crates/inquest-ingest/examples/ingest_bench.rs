//! Ingest benchmark (not a test): a load generator on loopback posting alerts to
//! the intake, single and batched, with realistic duplication (most alerts repeat
//! a hot set of fingerprints, as a flapping or re-notifying source does). Alerts
//! are correlated and durably stored (redb, fsync per commit) before each answer.
//!
//! `cargo run --release -p inquest-ingest --example ingest_bench -- [seconds] [concurrency]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use inquest_ingest::{Ingest, Policy, RedbIngestStore, http::routes};
use inquest_store_embedded::EmbeddedStore;
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
                let body = if batch == 1 { alert(&mut rng) } else { Value::Array((0..batch).map(|_| alert(&mut rng)).collect()) };
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

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let seconds: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    let concurrency: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(8);
    if std::env::var("INQUEST_POSTGRES_URL").is_ok() {
        println!("note: INQUEST_POSTGRES_URL is set, but the Postgres ingest adapter is not built yet; measuring the embedded store only");
    }
    for (name, batch) in [("single", 1usize), ("batched x50", 50)] {
        let dir = tempfile::tempdir()?;
        let records = EmbeddedStore::open(&dir.path().join("inquest.redb"))?.stores();
        let store = RedbIngestStore::open(&dir.path().join("ingest.redb"))?;
        let ingest = Arc::new(Ingest::new(Arc::new(store), records.records.clone(), Policy::default_policy()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let app = routes(ingest.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        // As `inquest ingest` does: incidents reach the records store in the background.
        let (stop, stop_rx) = tokio::sync::watch::channel(false);
        let syncer = tokio::spawn(inquest_ingest::run_records_sync(ingest.clone(), Duration::from_secs(2), stop_rx));
        let run = drive(&url, batch, concurrency, Duration::from_secs(seconds)).await;
        server.abort();
        let _ = stop.send(true);
        let _ = syncer.await;
        let mut lat = run.latencies_ms.clone();
        lat.sort_by(f64::total_cmp);
        let incidents = ingest.store.list_incidents().await?.len();
        let rows = ingest.store.alert_count().await?;
        println!(
            "embedded  {name:<12} {:>8.0} alerts/s  requests p50 {:>7.2} ms  p99 {:>7.2} ms  ({} alerts in {:.1}s, {} concurrent clients, {} errors; {} alert rows, {} incidents after dedup/correlation)",
            run.alerts as f64 / run.seconds,
            pct(&lat, 0.50),
            pct(&lat, 0.99),
            run.alerts,
            run.seconds,
            concurrency,
            run.errors,
            rows,
            incidents
        );
    }
    Ok(())
}
