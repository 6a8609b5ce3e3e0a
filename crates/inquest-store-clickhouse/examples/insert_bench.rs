//! Insert throughput into ClickHouse: points per second with one row per INSERT
//! (the baseline) and with batched inserts, measured in the same run.
//!
//! `INQUEST_TEST_CLICKHOUSE_URL=http://127.0.0.1:8123 cargo run -p inquest-store-clickhouse --example insert_bench`
//! (optional: `BENCH_ROWS` batched rows, default 200000; `BENCH_SINGLE_ROWS` default 300).

use std::time::Instant;

use chrono::{Duration, Utc};
use inquest_domain::MetricPoint;
use inquest_ports::MetricStore;
use inquest_store_clickhouse::{ClickHouseStore, INSERT_BATCH_ROWS};

fn points(n: usize, offset: usize) -> Vec<MetricPoint> {
    let t0 = Utc::now() - Duration::days(2);
    (0..n)
        .map(|i| MetricPoint {
            ts: t0 + Duration::milliseconds(((i + offset) * 250) as i64),
            service_key: format!("bench/payments/svc-{}", i % 20),
            metric_name: ["latency_p99_ms", "error_rate", "cpu_millicores", "rps"][i % 4].to_string(),
            value: (i % 1000) as f64 * 0.37,
            labels: [("pod".to_string(), format!("pod-{}", i % 7))].into_iter().collect(),
        })
        .collect()
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("INQUEST_TEST_CLICKHOUSE_URL").map_err(
        |_| "set INQUEST_TEST_CLICKHOUSE_URL (scripts/ci.d/20-clickhouse.sh starts a chDB front and prints it)",
    )?;
    let db = format!("inquest_bench_{}", uuid::Uuid::new_v4().simple());
    let store = ClickHouseStore::new(&url, &db)?;
    store.migrate().await?;

    let single_n = env_usize("BENCH_SINGLE_ROWS", 300);
    let batch_n = env_usize("BENCH_ROWS", 200_000);

    let single = points(single_n, 0);
    let start = Instant::now();
    store.insert_points_one_per_statement(&single).await?;
    let single_rate = single_n as f64 / start.elapsed().as_secs_f64();

    let batched = points(batch_n, single_n);
    let start = Instant::now();
    store.insert_points(&batched).await?;
    let secs = start.elapsed().as_secs_f64();
    let batch_rate = batch_n as f64 / secs;

    let count: u64 = {
        let b = store.baselines("bench/payments/svc-0", Utc::now() - Duration::days(3), Utc::now()).await?;
        b.baselines.values().map(|b| b.count as u64).sum()
    };
    store.drop_database().await?;

    println!("clickhouse at {}", inquest_store_clickhouse::redact_url(&url));
    println!("one row per INSERT : {single_n:>8} points, {single_rate:>12.0} points/s");
    println!(
        "batched ({INSERT_BATCH_ROWS} rows per INSERT): {batch_n:>8} points in {secs:.2} s, {batch_rate:>12.0} points/s"
    );
    println!("speed-up            : {:.1}x", batch_rate / single_rate);
    println!("check: service svc-0 has {count} points read back");
    Ok(())
}
