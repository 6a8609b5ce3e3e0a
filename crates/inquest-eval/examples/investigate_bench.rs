//! Benchmark (not a test): investigation latency (evidence + ranking, no report) on
//! the embedded default, file-backed, against the in-memory store as the baseline
//! measured in the same run. `cargo run --release -p inquest-eval --example investigate_bench [fixtures] [rounds]`

use std::path::PathBuf;
use std::time::Instant;

use inquest_core::{InvestigationConfig, investigate};
use inquest_domain::stats::quantile_sorted;
use inquest_fixtures::{FixtureCase, discover_cases, load_case};
use inquest_ports::Stores;
use inquest_store_embedded::EmbeddedStore;

async fn measure(stores: &Stores, cases: &[FixtureCase], rounds: usize) -> Vec<f64> {
    let cfg = InvestigationConfig::default();
    let mut ms = Vec::new();
    for _ in 0..rounds {
        for c in cases {
            let t = Instant::now();
            let inv = investigate(stores, c.incident_id, &cfg, c.batch.incidents[0].window_end).await;
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
            assert!(inv.is_ok(), "{}: {:?}", c.id, inv.err());
        }
    }
    ms.sort_by(f64::total_cmp);
    ms
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = PathBuf::from(args.get(1).map(String::as_str).unwrap_or("fixtures"));
    let rounds: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(5);
    let cases: Vec<FixtureCase> = discover_cases(&dir)
        .expect("fixture folder")
        .iter()
        .map(|d| FixtureCase::read(d).expect("fixture parses"))
        .collect();
    let tmp = std::env::temp_dir().join(format!("inquest-bench-{}", std::process::id()));
    let file = EmbeddedStore::open(&tmp.join("inquest.redb")).expect("file store").stores();
    let memory = EmbeddedStore::in_memory().expect("memory store").stores();
    for c in &cases {
        load_case(&file, c).await.expect("load");
        load_case(&memory, c).await.expect("load");
    }
    // Warm up both, then measure.
    measure(&memory, &cases, 1).await;
    measure(&file, &cases, 1).await;
    let base = measure(&memory, &cases, rounds).await;
    let real = measure(&file, &cases, rounds).await;
    let p = |v: &[f64], q| quantile_sorted(v, q);
    println!("investigations: {} cases x {rounds} rounds, all cases in one store", cases.len());
    println!("{:<28} {:>9} {:>9}", "store", "p50 ms", "p95 ms");
    println!("{:<28} {:>9.2} {:>9.2}", "embedded in-memory (base)", p(&base, 0.5), p(&base, 0.95));
    println!("{:<28} {:>9.2} {:>9.2}", "embedded file (default)", p(&real, 0.5), p(&real, 0.95));
    println!(
        "ratio file/in-memory: p50 {:.2}x, p95 {:.2}x",
        p(&real, 0.5) / p(&base, 0.5),
        p(&real, 0.95) / p(&base, 0.95)
    );
    let _ = std::fs::remove_dir_all(&tmp);
}
