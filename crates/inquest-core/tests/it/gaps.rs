//! A store that fails mid-investigation becomes an evidence gap, not a crash.

use std::sync::Arc;

use async_trait::async_trait;
use inquest_core::{InvestigationConfig, investigate, investigate_and_save};
use inquest_domain::*;
use inquest_ports::*;
use inquest_report::TemplateReport;

use crate::{loaded, now, read_case};

/// The project the doubles act in (the default one, as the wiring builds stores).
static DEFAULT: std::sync::LazyLock<ProjectId> = std::sync::LazyLock::new(ProjectId::default_project);

/// A metrics store whose every call fails as if the server were down.
struct DownMetrics;

fn down(op: &str) -> StoreError {
    StoreError::new(ErrorKind::Unavailable, "clickhouse", op, "connection refused")
}

#[async_trait]
impl MetricStore for DownMetrics {
    fn backend(&self) -> &'static str {
        "clickhouse"
    }
    fn project(&self) -> &ProjectId {
        &DEFAULT
    }
    fn scoped(&self, _: &ProjectId) -> Arc<dyn MetricStore> {
        Arc::new(DownMetrics)
    }
    async fn check_connectivity(&self) -> StoreResult<()> {
        Err(down("check_connectivity"))
    }
    async fn insert_points(&self, _: &[MetricPoint]) -> StoreResult<()> {
        Err(down("insert_points"))
    }
    async fn window(&self, _: &str, _: Timestamp, _: Timestamp) -> StoreResult<MetricWindow> {
        Err(down("window"))
    }
    async fn baselines(&self, _: &str, _: Timestamp, _: Timestamp) -> StoreResult<MetricBaselines> {
        Err(down("baselines"))
    }
    async fn windows(
        &self,
        _: &[String],
        _: Timestamp,
        _: Timestamp,
    ) -> StoreResult<std::collections::BTreeMap<String, MetricWindow>> {
        Err(down("windows"))
    }
    async fn baselines_many(
        &self,
        _: &[String],
        _: &[(Timestamp, Timestamp)],
    ) -> StoreResult<std::collections::BTreeMap<String, MetricBaselines>> {
        Err(down("baselines_many"))
    }
    async fn write_anomaly_features(&self, _: &[AnomalyFeature]) -> StoreResult<()> {
        Err(down("write_anomaly_features"))
    }
    async fn anomaly_features(&self, _: &str) -> StoreResult<Vec<AnomalyFeature>> {
        Err(down("anomaly_features"))
    }
}

/// A topology store that times out.
struct SlowTopology;

#[async_trait]
impl TopologyStore for SlowTopology {
    fn backend(&self) -> &'static str {
        "neo4j"
    }
    fn project(&self) -> &ProjectId {
        &DEFAULT
    }
    fn scoped(&self, _: &ProjectId) -> Arc<dyn TopologyStore> {
        Arc::new(SlowTopology)
    }
    async fn check_connectivity(&self) -> StoreResult<()> {
        Ok(())
    }
    async fn upsert_nodes(&self, _: &[TopologyNode]) -> StoreResult<()> {
        Ok(())
    }
    async fn upsert_edges(&self, _: &[DependsOn]) -> StoreResult<()> {
        Ok(())
    }
    async fn record_calls(&self, _: &[EdgeCalls]) -> StoreResult<()> {
        Ok(())
    }
    async fn edge_calls(&self, _: &[String]) -> StoreResult<Vec<EdgeCalls>> {
        Ok(Vec::new())
    }
    async fn link_deployment(&self, _: &str, _: &DeploymentEvent, _: &[Commit]) -> StoreResult<()> {
        Ok(())
    }
    async fn blast_radius(&self, _: &str, _: u32) -> StoreResult<BlastRadius> {
        Err(StoreError::new(ErrorKind::Timeout, "neo4j", "blast_radius", "timed out after 2s"))
    }
    async fn commits_touching(&self, _: &[String]) -> StoreResult<Vec<(String, String)>> {
        Ok(Vec::new())
    }
    async fn replace_source(&self, _: &str, _: &[TopologyNode], _: &[DependsOn]) -> StoreResult<SourceReplaced> {
        Ok(SourceReplaced::default())
    }
}

#[tokio::test]
async fn metrics_down_is_a_gap_with_lower_confidence() {
    let case = read_case("release-checkout-payment-timeout");
    let healthy = loaded(&case).await;
    let cfg = InvestigationConfig::default();
    let full = investigate(&healthy, case.incident_id, &cfg, now(&case)).await.expect("investigates");
    assert!(full.gaps.is_empty(), "{:?}", full.gaps);

    let degraded = Stores { metrics: Arc::new(DownMetrics), ..healthy.clone() };
    let (inv, report) = investigate_and_save(&degraded, &TemplateReport, case.incident_id, &cfg, now(&case))
        .await
        .expect("an investigation with a store down still completes");
    assert!(inv.gaps.iter().any(|g| g.port == "metrics" && g.message.contains("connection refused")), "{:?}", inv.gaps);
    let gap_ev = inv.evidence.iter().find(|e| e.kind == EvidenceKind::Gap).expect("gap evidence recorded");
    assert!(gap_ev.reference.starts_with("gap/metrics/"));
    assert!(report.report_markdown.contains("## Evidence gaps"));
    let top_full = full
        .hypotheses
        .iter()
        .filter(|h| h.hypothesis_type != HypothesisType::Unknown)
        .map(|h| h.confidence)
        .fold(0.0, f64::max);
    let top_degraded = inv
        .hypotheses
        .iter()
        .filter(|h| h.hypothesis_type != HypothesisType::Unknown)
        .map(|h| h.confidence)
        .fold(0.0, f64::max);
    assert!(top_degraded < top_full, "confidence must drop without metrics: {top_degraded} vs {top_full}");
    let unknown =
        inv.hypotheses.iter().find(|h| h.hypothesis_type == HypothesisType::Unknown).expect("unknown present");
    assert!(unknown.evidence_ids.contains(&gap_ev.evidence_id), "the unknown hypothesis cites the gap");
}

#[tokio::test]
async fn topology_timeout_falls_back_to_the_incident_service() {
    let case = read_case("release-checkout-payment-timeout");
    let stores = Stores { topology: Arc::new(SlowTopology), ..loaded(&case).await };
    let inv =
        investigate(&stores, case.incident_id, &InvestigationConfig::default(), now(&case)).await.expect("completes");
    assert_eq!(inv.blast_radius.len(), 1);
    assert!(inv.gaps.iter().any(|g| g.port == "topology" && g.operation == "blast_radius"));
    // The deployment on the incident's own service is still found and ranked.
    assert!(inv.hypotheses.iter().any(|h| h.hypothesis_type == HypothesisType::Release));
}
