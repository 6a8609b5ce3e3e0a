//! Benchmark (not a test): the cost of one investigation as the blast radius grows.
//! A generated star (a front service calling N - 1 others), 6 metrics per service,
//! 4 hours at a 60 s step, the incident on the front. Prints p50 and p95 per
//! investigation with the batched metrics port (one request for the radius's
//! baselines, one for its windows) against the former path, one request per service
//! and kind (the same store behind an adapter that answers the batch calls one
//! service at a time, and on the embedded store without its decoded-series cache),
//! in the same run, and checks that both rank alike, that no store call failed, and
//! that every backend ranks as the embedded store; on the embedded store and, when
//! `INQUEST_TEST_CLICKHOUSE_URL` is set, with metrics on ClickHouse.
//! `cargo run --release -p inquest-eval --example scale_bench [sizes] [rounds]`
//! (sizes comma-separated, default `50,200,1000`; rounds default 5; `SCALE_FORMER_MAX=N`
//! measures the former path only up to N services). Before the measured rounds,
//! `SCALE_WARMUP` investigations (default 3) run unmeasured on each path, since the
//! first ones after the bulk load meet a store still merging what was just written
//! and allocating for its first large reads; the slowest of them is printed as `cold`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use chrono::{Duration, TimeZone, Utc};
use futures::future::join_all;
use inquest_core::{InvestigationConfig, investigate};
use inquest_domain::stats::quantile_sorted;
use inquest_domain::*;
use inquest_ports::*;
use inquest_store_clickhouse::ClickHouseStore;
use inquest_store_embedded::EmbeddedStore;

const METRICS: [&str; 6] = [
    "http_request_duration_seconds_p99",
    "http_requests_errors_rate",
    "http_requests_rate",
    "cpu_usage",
    "memory_working_set_bytes",
    "db_connections_active",
];

/// Answers the batch calls one service at a time, concurrently: the former path.
struct PerService(Arc<dyn MetricStore>);

#[async_trait]
impl MetricStore for PerService {
    fn backend(&self) -> &'static str {
        self.0.backend()
    }
    fn project(&self) -> &ProjectId {
        self.0.project()
    }
    fn scoped(&self, project: &ProjectId) -> Arc<dyn MetricStore> {
        Arc::new(PerService(self.0.scoped(project)))
    }
    async fn check_connectivity(&self) -> StoreResult<()> {
        self.0.check_connectivity().await
    }
    async fn insert_points(&self, points: &[MetricPoint]) -> StoreResult<()> {
        self.0.insert_points(points).await
    }
    async fn window(&self, key: &str, from: Timestamp, to: Timestamp) -> StoreResult<MetricWindow> {
        self.0.window(key, from, to).await
    }
    async fn baselines(&self, key: &str, from: Timestamp, to: Timestamp) -> StoreResult<MetricBaselines> {
        self.0.baselines(key, from, to).await
    }
    async fn windows(
        &self,
        keys: &[String],
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<BTreeMap<String, MetricWindow>> {
        let all = join_all(keys.iter().map(|k| async move { (k.clone(), self.0.window(k, from, to).await) })).await;
        all.into_iter().map(|(k, w)| w.map(|w| (k, w))).collect()
    }
    async fn baselines_many(
        &self,
        keys: &[String],
        ranges: &[(Timestamp, Timestamp)],
    ) -> StoreResult<BTreeMap<String, MetricBaselines>> {
        let all =
            join_all(keys.iter().map(|k| async move { (k.clone(), self.0.baselines_over(k, ranges).await) })).await;
        all.into_iter().map(|(k, b)| b.map(|b| (k, b))).collect()
    }
    async fn write_anomaly_features(&self, features: &[AnomalyFeature]) -> StoreResult<()> {
        self.0.write_anomaly_features(features).await
    }
    async fn anomaly_features(&self, incident_id: &str) -> StoreResult<Vec<AnomalyFeature>> {
        self.0.anomaly_features(incident_id).await
    }
}

/// A store under test: its name, its stores, the former metrics path over the same
/// data, and a ClickHouse database to drop at the end.
type Backend = (&'static str, Stores, Arc<dyn MetricStore>, Option<ClickHouseStore>);

struct Case {
    incident_id: IncidentId,
    now: Timestamp,
}

/// The star of `n` services loaded into `stores`; the incident on the front.
async fn load(stores: &Stores, n: usize) -> Case {
    let t0 = Utc.with_ymd_and_hms(2026, 5, 4, 8, 0, 0).single().unwrap_or_default();
    let onset = t0 + Duration::minutes(200);
    let services: Vec<Service> = (0..n)
        .map(|i| Service {
            service_id: ServiceId::new_random(),
            cluster_id: "bench".into(),
            namespace: "shop".into(),
            service_name: if i == 0 { "front".into() } else { format!("svc-{i}") },
            created_at: t0,
        })
        .collect();
    let incident = Incident {
        incident_id: IncidentId::new_random(),
        service_id: services[0].service_id,
        status: IncidentStatus::Open,
        trigger_type: "alert".into(),
        severity: 2,
        window_start: onset,
        window_end: onset + Duration::minutes(30),
        created_at: onset,
        updated_at: onset,
        resolved_at: None,
        resolution_kind: None,
        resolution_summary: None,
        resolved_hypothesis_id: None,
    };
    let culprit = n / 2;
    let mut points = Vec::with_capacity(n * METRICS.len() * 240);
    for (i, s) in services.iter().enumerate() {
        let key = s.service_key();
        for (m, metric) in METRICS.iter().enumerate() {
            for step in 0..240i64 {
                let ts = t0 + Duration::minutes(step);
                let wobble = ((step as usize * 31 + i * 7 + m * 3) % 13) as f64 * 0.01;
                let broken = (i == culprit || i == 0) && ts >= onset && m < 2;
                let value = (1.0 + m as f64) * (1.0 + wobble) * if broken { 6.0 } else { 1.0 };
                points.push(MetricPoint {
                    ts,
                    service_key: key.clone(),
                    metric_name: (*metric).into(),
                    value,
                    labels: BTreeMap::new(),
                });
            }
        }
    }
    let nodes: Vec<TopologyNode> =
        services.iter().map(|s| TopologyNode { key: s.service_key(), kind: NodeKind::Service, detail: None }).collect();
    let edges: Vec<DependsOn> =
        services[1..].iter().map(|s| DependsOn { from: services[0].service_key(), to: s.service_key() }).collect();
    let batch = RecordBatch { services, incidents: vec![incident.clone()], ..RecordBatch::default() };
    stores.records.apply_batch(&batch).await.expect("records");
    for chunk in points.chunks(50_000) {
        stores.metrics.insert_points(chunk).await.expect("points");
    }
    stores.topology.upsert_nodes(&nodes).await.expect("nodes");
    stores.topology.upsert_edges(&edges).await.expect("edges");
    Case { incident_id: incident.incident_id, now: incident.window_end }
}

/// What the ranking said: rank, type, title, confidence and factors of each
/// hypothesis (evidence ids left out: the two paths name their queries differently).
type Ranking = Vec<(i32, HypothesisType, String, f64, serde_json::Value)>;

/// Milliseconds of each round, sorted, and the ranking of the last one.
async fn measure(stores: &Stores, case: &Case, rounds: usize) -> (Vec<f64>, Ranking) {
    let cfg = InvestigationConfig { topology_depth: 1, ..InvestigationConfig::default() };
    let mut ms = Vec::with_capacity(rounds);
    let mut ranking = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        let inv = investigate(stores, case.incident_id, &cfg, case.now).await.expect("investigation");
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(!inv.hypotheses.is_empty(), "the generated case has hypotheses");
        assert!(inv.gaps.is_empty(), "a store did not answer: {:?}", inv.gaps);
        ranking = inv
            .hypotheses
            .iter()
            .map(|h| (h.rank, h.hypothesis_type, h.title.clone(), h.confidence, h.details.clone()))
            .collect();
    }
    ms.sort_by(f64::total_cmp);
    (ms, ranking)
}

/// `ranking` without the ids each load draws afresh (`*_id` fields), to compare the
/// rankings of two loads of the same case.
fn without_ids(ranking: &Ranking) -> Ranking {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(map) => {
                map.retain(|k, _| !k.ends_with("_id"));
                map.values_mut().for_each(strip);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut ranking = ranking.clone();
    ranking.iter_mut().for_each(|h| strip(&mut h.4));
    ranking
}

fn with_metrics(stores: &Stores, metrics: Arc<dyn MetricStore>) -> Stores {
    Stores { metrics, ..stores.clone() }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let sizes: Vec<usize> = args
        .get(1)
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![50, 200, 1000]);
    let rounds: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(5).max(1);
    let clickhouse = std::env::var("INQUEST_TEST_CLICKHOUSE_URL").ok();
    let former_max: usize = std::env::var("SCALE_FORMER_MAX").ok().and_then(|v| v.parse().ok()).unwrap_or(usize::MAX);
    let warmup: usize = std::env::var("SCALE_WARMUP").ok().and_then(|v| v.parse().ok()).unwrap_or(3).max(1);
    println!(
        "one investigation, star of N services, {} metrics each, 4 h at 60 s, {rounds} rounds after {warmup} unmeasured",
        METRICS.len()
    );
    println!(
        "{:<12} {:>6} {:>12} {:>12} {:>14} {:>14} {:>8} {:>8} {:>10}",
        "metrics on", "N", "batched p50", "batched p95", "per-svc p50", "per-svc p95", "p50 x", "p95 x", "cold"
    );
    let mut rows: BTreeMap<&str, Vec<(usize, f64)>> = BTreeMap::new();
    for &n in &sizes {
        // Every backend ranks the same case alike: ClickHouse's baselines are bit for
        // bit the embedded store's.
        let mut first_ranking: Option<(&str, Ranking)> = None;
        let embedded = EmbeddedStore::in_memory().expect("embedded store");
        let former: Arc<dyn MetricStore> = Arc::new(PerService(Arc::new(embedded.without_series_cache())));
        let mut backends: Vec<Backend> = vec![("embedded", embedded.stores(), former, None)];
        if let Some(url) = &clickhouse {
            let db = format!("inquest_scale_{}", uuid::Uuid::new_v4().simple());
            let ch = ClickHouseStore::new(url, &db).expect("clickhouse url");
            ch.migrate().await.expect("clickhouse migrate");
            let base = EmbeddedStore::in_memory().expect("embedded store").stores();
            let former: Arc<dyn MetricStore> = Arc::new(PerService(Arc::new(ch.clone())));
            backends.push(("clickhouse", with_metrics(&base, Arc::new(ch.clone())), former, Some(ch)));
        }
        for (name, stores, former_metrics, ch) in backends {
            let case = load(&stores, n).await;
            let per_service = with_metrics(&stores, former_metrics);
            let (cold, _) = measure(&stores, &case, warmup).await;
            let cold = cold.last().copied().unwrap_or_default();
            let (batched, ranked) = measure(&stores, &case, rounds).await;
            let without_ids = without_ids(&ranked);
            match &first_ranking {
                Some((first, r)) => assert_eq!(&without_ids, r, "{name} {n}: ranks as {first} does"),
                None => first_ranking = Some((name, without_ids)),
            }
            let p = |v: &[f64], q| quantile_sorted(v, q);
            // The former path on ClickHouse takes minutes per investigation past a few
            // hundred services: measured up to `former_max` services only.
            if n <= former_max {
                measure(&per_service, &case, warmup).await;
                let (former, former_ranked) = measure(&per_service, &case, rounds).await;
                assert_eq!(ranked, former_ranked, "{name} {n}: the batched and the former path rank alike");
                println!(
                    "{name:<12} {n:>6} {:>10.1}ms {:>10.1}ms {:>12.1}ms {:>12.1}ms {:>7.2}x {:>7.2}x {cold:>8.1}ms",
                    p(&batched, 0.5),
                    p(&batched, 0.95),
                    p(&former, 0.5),
                    p(&former, 0.95),
                    p(&former, 0.5) / p(&batched, 0.5),
                    p(&former, 0.95) / p(&batched, 0.95)
                );
            } else {
                println!(
                    "{name:<12} {n:>6} {:>10.1}ms {:>10.1}ms {:>14} {:>14} {:>8} {:>8} {cold:>8.1}ms",
                    p(&batched, 0.5),
                    p(&batched, 0.95),
                    "-",
                    "-",
                    "-",
                    "-"
                );
            }
            rows.entry(name).or_default().push((n, p(&batched, 0.5)));
            if let Some(ch) = ch {
                ch.drop_database().await.expect("drop bench database");
            }
        }
    }
    for (name, points) in rows {
        if let (Some(first), Some(last)) = (points.first(), points.last())
            && last.0 > first.0
        {
            let per = (last.1 - first.1) / (last.0 - first.0) as f64;
            println!("{name}: {per:.3} ms per added service (p50, batched, {} to {})", first.0, last.0);
        }
    }
}
