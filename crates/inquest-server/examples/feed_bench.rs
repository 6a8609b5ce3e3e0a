//! Deployment feed benchmark (not a test): generic deployment batches posted through
//! the whole router (`oneshot`, no socket: parsing, service lookup, commit ranges from
//! the previous deployments, the delivery check and one records transaction per
//! batch), against a baseline in the same run: the same rows written with
//! `records.apply_batch` directly. On the embedded store (redb in a temp dir), then on
//! PostgreSQL with `--postgres URL` (a fresh database per mode, migrated, dropped after).
//!
//! `cargo run --release -p inquest-server --example feed_bench -- [deployments] [batch] [--postgres URL]`
//!
//! Defaults: 5000 deployments in batches of 100, over 50 services.

use std::error::Error;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use inquest_contract::postgres::FreshDb;
use inquest_feeds::deploy::{self, generic};
use inquest_feeds::{Feed, NoRepositories, Parsed};
use inquest_intake::Policy;
use inquest_intake_service::Ingest;
use inquest_ports::{RecordBatch, Stores};
use inquest_store_embedded::{EmbeddedAccessStore, EmbeddedIntakeStore, EmbeddedStore};
use inquest_store_postgres::{PoolSettings, PostgresStore};
use serde_json::{Value, json};
use tower::ServiceExt;

type Res<T> = Result<T, Box<dyn Error>>;

fn batches(total: usize, size: usize) -> Vec<Value> {
    let base = chrono::DateTime::parse_from_rfc3339("2026-03-01T00:00:00Z").map(|t| t.to_utc()).unwrap_or_default();
    (0..total.div_ceil(size))
        .map(|b| {
            let items: Vec<Value> = (b * size..((b + 1) * size).min(total))
                .map(|i| {
                    json!({
                        "service": format!("prod/shop/svc-{}", i % 50),
                        "started_at": (base + chrono::Duration::seconds(i as i64 * 30)).to_rfc3339(),
                        "deploy_type": "helm",
                        "revision": format!("{:040x}", i as u128 * 0x9E37_79B9_7F4A_7C15),
                        "image_ref": format!("ghcr.io/acme/svc-{}:{i}", i % 50),
                        "metadata": {"pipeline": format!("https://ci.example.com/runs/{i}")},
                        "event_id": format!("bench-{i}"),
                    })
                })
                .collect();
            Value::Array(items)
        })
        .collect()
}

fn app(stores: &Stores) -> Res<axum::Router> {
    let intake = Arc::new(EmbeddedIntakeStore::in_memory()?);
    let ingest = Arc::new(Ingest::new(intake, stores.records.clone(), Policy::default_policy()));
    // Open, as a loopback server may be: the benchmark measures the feed, not sign-in.
    let access =
        Arc::new(inquest_server::Access::open(Arc::new(EmbeddedAccessStore::in_memory()?), ingest.metrics.registry())?);
    let writer = Arc::new(inquest_report::TemplateReport);
    Ok(inquest_server::app(inquest_server::AppState::new(stores.clone(), writer, ingest, access)))
}

/// Deployments per second through the router.
async fn through_router(stores: &Stores, bodies: &[Value]) -> Res<f64> {
    let router = app(stores)?;
    let mut n = 0usize;
    let started = Instant::now();
    for body in bodies {
        let req = Request::post("/api/feeds/deployments")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))?;
        let res = router.clone().oneshot(req).await?;
        let status = res.status();
        let bytes = res.into_body().collect().await?.to_bytes();
        if status != 202 {
            return Err(format!("{status}: {}", String::from_utf8_lossy(&bytes)).into());
        }
        n += body.as_array().map_or(0, Vec::len);
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

/// The rows the feed writes for `bodies` (resolved on a scratch store), then
/// deployments per second of `apply_batch` with them on `stores`.
async fn through_apply_batch(stores: &Stores, bodies: &[Value]) -> Res<f64> {
    let scratch = EmbeddedStore::in_memory()?.stores();
    let mut rows: Vec<RecordBatch> = Vec::new();
    for body in bodies {
        let notice = generic::parse(body.to_string().as_bytes())?;
        match deploy::deliver(&scratch, Arc::new(NoRepositories), Feed::Deployments, notice, chrono::Utc::now()).await?
        {
            Parsed::Delivery(d) => {
                scratch.records.apply_batch(&d.records.batch).await?;
                rows.push(d.records.batch);
            }
            Parsed::Ignored { detail, .. } => return Err(detail.into()),
        }
    }
    let n: usize = rows.iter().map(|b| b.deployments.len()).sum();
    let started = Instant::now();
    for batch in &rows {
        stores.records.apply_batch(batch).await?;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

async fn embedded() -> Res<(Stores, tempfile::TempDir)> {
    let dir = tempfile::tempdir()?;
    let store = EmbeddedStore::open(&dir.path().join("inquest.redb"))?;
    Ok((store.stores(), dir))
}

async fn postgres(url: &str) -> Res<(Stores, FreshDb)> {
    let db = FreshDb::create(url).await;
    let pg = PostgresStore::connect(&db.url, &PoolSettings::default())?;
    pg.migrate().await?;
    let mut stores = EmbeddedStore::in_memory()?.stores();
    stores.records = Arc::new(pg);
    Ok((stores, db))
}

fn report(backend: &str, routed: f64, direct: f64) {
    println!(
        "{backend:>9}: router {routed:>9.0} deployments/s, apply_batch {direct:>9.0} deployments/s, ratio {:.2}",
        routed / direct
    );
}

#[tokio::main]
async fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let postgres_url = args.iter().position(|a| a == "--postgres").and_then(|i| args.get(i + 1)).cloned();
    let numbers: Vec<usize> = args.iter().take_while(|a| *a != "--postgres").filter_map(|a| a.parse().ok()).collect();
    let total = numbers.first().copied().unwrap_or(5000);
    let size = numbers.get(1).copied().unwrap_or(100).max(1);
    let bodies = batches(total, size);
    println!("{total} deployments in batches of {size}");

    let (stores, _dir) = embedded().await?;
    let routed = through_router(&stores, &bodies).await?;
    let (stores, _dir2) = embedded().await?;
    let direct = through_apply_batch(&stores, &bodies).await?;
    report("embedded", routed, direct);

    if let Some(url) = postgres_url {
        let (stores, _db) = postgres(&url).await?;
        let routed = through_router(&stores, &bodies).await?;
        let (stores, _db2) = postgres(&url).await?;
        let direct = through_apply_batch(&stores, &bodies).await?;
        report("postgres", routed, direct);
    }
    Ok(())
}
