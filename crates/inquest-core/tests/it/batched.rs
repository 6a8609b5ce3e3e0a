//! The radius-wide metrics reads (one request per kind for every service) rank
//! exactly as the former path, one request per service and kind on a store without
//! its decoded-series cache, on every bundled fixture.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use inquest_core::{InvestigationConfig, investigate};
use inquest_domain::*;
use inquest_fixtures::load_case;
use inquest_ports::*;
use inquest_store_embedded::EmbeddedStore;

use crate::{fixtures_dir, now, read_case};

/// Answers the batch calls one service at a time, through `window` and
/// `baselines_over`.
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
        let mut out = BTreeMap::new();
        for k in keys {
            out.insert(k.clone(), self.0.window(k, from, to).await?);
        }
        Ok(out)
    }
    async fn baselines_many(
        &self,
        keys: &[String],
        ranges: &[(Timestamp, Timestamp)],
    ) -> StoreResult<BTreeMap<String, MetricBaselines>> {
        let mut out = BTreeMap::new();
        for k in keys {
            out.insert(k.clone(), self.0.baselines_over(k, ranges).await?);
        }
        Ok(out)
    }
    async fn write_anomaly_features(&self, features: &[AnomalyFeature]) -> StoreResult<()> {
        self.0.write_anomaly_features(features).await
    }
    async fn anomaly_features(&self, incident_id: &str) -> StoreResult<Vec<AnomalyFeature>> {
        self.0.anomaly_features(incident_id).await
    }
}

/// What a hypothesis says, without the evidence ids (the references of the two paths
/// name their queries differently).
fn ranking(hypotheses: &[Hypothesis]) -> Vec<(i32, HypothesisType, String, f64, serde_json::Value)> {
    hypotheses.iter().map(|h| (h.rank, h.hypothesis_type, h.title.clone(), h.confidence, h.details.clone())).collect()
}

#[tokio::test]
async fn batched_reads_rank_every_fixture_as_one_service_at_a_time() {
    let mut ids: Vec<String> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures folder")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    ids.sort();
    assert!(ids.len() >= 10, "the bundled fixtures are found: {ids:?}");
    let cfg = InvestigationConfig::default();
    for id in ids {
        let case = read_case(&id);
        let embedded = EmbeddedStore::in_memory().expect("in-memory store");
        let stores = embedded.stores();
        load_case(&stores, &case).await.expect("fixture loads");
        let former =
            Stores { metrics: Arc::new(PerService(Arc::new(embedded.without_series_cache()))), ..stores.clone() };
        let batched = investigate(&stores, case.incident_id, &cfg, now(&case)).await.expect("batched");
        let one_by_one = investigate(&former, case.incident_id, &cfg, now(&case)).await.expect("former");
        assert!(!batched.hypotheses.is_empty(), "{id}: hypotheses");
        assert_eq!(ranking(&batched.hypotheses), ranking(&one_by_one.hypotheses), "{id}: the same ranking");
        assert_eq!(batched.signals, one_by_one.signals, "{id}: the same signals");
        assert_eq!(batched.onset, one_by_one.onset, "{id}: the same onset");
    }
}
