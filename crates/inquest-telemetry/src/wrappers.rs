//! One wrapper per port: the same trait, every method delegated through `observe_call`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use inquest_domain::*;
use inquest_ports::{
    BlastRadius, CommitWithFiles, DeliveryOutcome, Embedder, FeedDelivery, InvestigationRecord, MetricBaselines,
    MetricStore, MetricWindow, PayloadFilter, RadiusMetrics, RecordBatch, RecordStore, SemanticStore, SourceReplaced,
    StoreResult, StoredPoint, TopologyStore,
};

use crate::call::{Key, Observer, observe_call};
use crate::metrics::StoreMetrics;

macro_rules! wrapper {
    ($(#[$doc:meta])* $name:ident, $port:ident, $label:literal) => {
        $(#[$doc])*
        pub struct $name {
            inner: Arc<dyn $port>,
            observer: Observer,
        }

        impl $name {
            pub fn new(inner: Arc<dyn $port>, metrics: &StoreMetrics, timeout: Duration) -> $name {
                let observer = Observer::new($label, inner.backend(), metrics, timeout);
                $name { inner, observer }
            }

            /// The wrapped port.
            pub fn inner(&self) -> &Arc<dyn $port> {
                &self.inner
            }
        }
    };
}

wrapper!(
    /// `RecordStore` with timeouts, metrics and spans.
    ObservedRecords,
    RecordStore,
    "records"
);
wrapper!(
    /// `MetricStore` with timeouts, metrics and spans.
    ObservedMetrics,
    MetricStore,
    "metrics"
);
wrapper!(
    /// `TopologyStore` with timeouts, metrics and spans.
    ObservedTopology,
    TopologyStore,
    "topology"
);
wrapper!(
    /// `SemanticStore` with timeouts, metrics and spans.
    ObservedSemantic,
    SemanticStore,
    "semantic"
);

#[async_trait]
impl RecordStore for ObservedRecords {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    fn project(&self) -> &ProjectId {
        self.inner.project()
    }
    fn scoped(&self, project: &ProjectId) -> Arc<dyn RecordStore> {
        Arc::new(ObservedRecords { inner: self.inner.scoped(project), observer: self.observer.clone() })
    }
    async fn check_connectivity(&self) -> StoreResult<()> {
        observe_call(&self.observer, "check_connectivity", Key::None, self.inner.check_connectivity()).await
    }
    async fn apply_batch(&self, batch: &RecordBatch) -> StoreResult<()> {
        observe_call(&self.observer, "apply_batch", Key::None, self.inner.apply_batch(batch)).await
    }
    async fn apply_delivery(&self, delivery: &FeedDelivery) -> StoreResult<DeliveryOutcome> {
        let call = self.inner.apply_delivery(delivery);
        observe_call(&self.observer, "apply_delivery", Key::Feed(&delivery.feed), call).await
    }
    async fn feed_state(&self, feed: &str, key: &str) -> StoreResult<Option<serde_json::Value>> {
        observe_call(&self.observer, "feed_state", Key::Feed(feed), self.inner.feed_state(feed, key)).await
    }
    async fn list_services(&self) -> StoreResult<Vec<Service>> {
        observe_call(&self.observer, "list_services", Key::None, self.inner.list_services()).await
    }
    async fn get_incident(&self, id: IncidentId) -> StoreResult<Option<Incident>> {
        observe_call(&self.observer, "get_incident", Key::IncidentId(id), self.inner.get_incident(id)).await
    }
    async fn list_incidents(&self) -> StoreResult<Vec<Incident>> {
        observe_call(&self.observer, "list_incidents", Key::None, self.inner.list_incidents()).await
    }
    async fn list_decisions(&self, incident: IncidentId) -> StoreResult<Vec<IncidentDecision>> {
        let call = self.inner.list_decisions(incident);
        observe_call(&self.observer, "list_decisions", Key::IncidentId(incident), call).await
    }
    async fn deployments_between(
        &self,
        services: &[ServiceId],
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<DeploymentEvent>> {
        let call = self.inner.deployments_between(services, from, to);
        observe_call(&self.observer, "deployments_between", Key::None, call).await
    }
    async fn config_changes_between(
        &self,
        services: &[ServiceId],
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<ConfigChangeEvent>> {
        let call = self.inner.config_changes_between(services, from, to);
        observe_call(&self.observer, "config_changes_between", Key::None, call).await
    }
    async fn commit_range(&self, deployment: DeploymentId) -> StoreResult<Option<DeploymentCommitRange>> {
        let call = self.inner.commit_range(deployment);
        observe_call(&self.observer, "commit_range", Key::DeploymentId(deployment), call).await
    }
    async fn commits(&self, shas: &[String]) -> StoreResult<Vec<CommitWithFiles>> {
        observe_call(&self.observer, "commits", Key::None, self.inner.commits(shas)).await
    }
    async fn commits_between(&self, from: Timestamp, to: Timestamp, limit: usize) -> StoreResult<Vec<Commit>> {
        let call = self.inner.commits_between(from, to, limit);
        observe_call(&self.observer, "commits_between", Key::None, call).await
    }
    async fn save_investigation(&self, record: &InvestigationRecord) -> StoreResult<()> {
        let call = self.inner.save_investigation(record);
        observe_call(&self.observer, "save_investigation", Key::IncidentId(record.incident_id), call).await
    }
    async fn evidence(&self, incident: IncidentId) -> StoreResult<Vec<EvidenceArtifact>> {
        observe_call(&self.observer, "evidence", Key::IncidentId(incident), self.inner.evidence(incident)).await
    }
    async fn hypotheses(&self, incident: IncidentId) -> StoreResult<Vec<Hypothesis>> {
        observe_call(&self.observer, "hypotheses", Key::IncidentId(incident), self.inner.hypotheses(incident)).await
    }
    async fn reports(&self, incident: IncidentId) -> StoreResult<Vec<IncidentReport>> {
        observe_call(&self.observer, "reports", Key::IncidentId(incident), self.inner.reports(incident)).await
    }
    async fn append_feedback(&self, event: &FeedbackEvent) -> StoreResult<()> {
        let call = self.inner.append_feedback(event);
        observe_call(&self.observer, "append_feedback", Key::IncidentId(event.incident_id), call).await
    }
    async fn feedback(&self, incident: IncidentId) -> StoreResult<Vec<FeedbackEvent>> {
        observe_call(&self.observer, "feedback", Key::IncidentId(incident), self.inner.feedback(incident)).await
    }
}

#[async_trait]
impl MetricStore for ObservedMetrics {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    fn project(&self) -> &ProjectId {
        self.inner.project()
    }
    fn scoped(&self, project: &ProjectId) -> Arc<dyn MetricStore> {
        Arc::new(ObservedMetrics { inner: self.inner.scoped(project), observer: self.observer.clone() })
    }
    async fn check_connectivity(&self) -> StoreResult<()> {
        observe_call(&self.observer, "check_connectivity", Key::None, self.inner.check_connectivity()).await
    }
    async fn insert_points(&self, points: &[MetricPoint]) -> StoreResult<()> {
        observe_call(&self.observer, "insert_points", Key::None, self.inner.insert_points(points)).await
    }
    async fn window(&self, service_key: &str, from: Timestamp, to: Timestamp) -> StoreResult<MetricWindow> {
        let call = self.inner.window(service_key, from, to);
        observe_call(&self.observer, "window", Key::ServiceKey(service_key), call).await
    }
    async fn baselines(&self, service_key: &str, from: Timestamp, to: Timestamp) -> StoreResult<MetricBaselines> {
        let call = self.inner.baselines(service_key, from, to);
        observe_call(&self.observer, "baselines", Key::ServiceKey(service_key), call).await
    }
    async fn baselines_over(
        &self,
        service_key: &str,
        ranges: &[(Timestamp, Timestamp)],
    ) -> StoreResult<MetricBaselines> {
        let call = self.inner.baselines_over(service_key, ranges);
        observe_call(&self.observer, "baselines_over", Key::ServiceKey(service_key), call).await
    }
    async fn windows(
        &self,
        service_keys: &[String],
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<BTreeMap<String, MetricWindow>> {
        observe_call(&self.observer, "windows", Key::None, self.inner.windows(service_keys, from, to)).await
    }
    async fn baselines_many(
        &self,
        service_keys: &[String],
        ranges: &[(Timestamp, Timestamp)],
    ) -> StoreResult<BTreeMap<String, MetricBaselines>> {
        let call = self.inner.baselines_many(service_keys, ranges);
        observe_call(&self.observer, "baselines_many", Key::None, call).await
    }
    async fn radius_metrics(
        &self,
        service_keys: &[String],
        range_sets: &[Vec<(Timestamp, Timestamp)>],
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<RadiusMetrics> {
        let call = self.inner.radius_metrics(service_keys, range_sets, from, to);
        observe_call(&self.observer, "radius_metrics", Key::None, call).await
    }
    async fn write_anomaly_features(&self, features: &[AnomalyFeature]) -> StoreResult<()> {
        let call = self.inner.write_anomaly_features(features);
        observe_call(&self.observer, "write_anomaly_features", Key::None, call).await
    }
    async fn anomaly_features(&self, incident_id: &str) -> StoreResult<Vec<AnomalyFeature>> {
        // The metrics port keys features by the incident id as text.
        let key = incident_id.parse().map_or(Key::None, Key::IncidentId);
        observe_call(&self.observer, "anomaly_features", key, self.inner.anomaly_features(incident_id)).await
    }
}

#[async_trait]
impl TopologyStore for ObservedTopology {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    fn project(&self) -> &ProjectId {
        self.inner.project()
    }
    fn scoped(&self, project: &ProjectId) -> Arc<dyn TopologyStore> {
        Arc::new(ObservedTopology { inner: self.inner.scoped(project), observer: self.observer.clone() })
    }
    async fn check_connectivity(&self) -> StoreResult<()> {
        observe_call(&self.observer, "check_connectivity", Key::None, self.inner.check_connectivity()).await
    }
    async fn upsert_nodes(&self, nodes: &[TopologyNode]) -> StoreResult<()> {
        observe_call(&self.observer, "upsert_nodes", Key::None, self.inner.upsert_nodes(nodes)).await
    }
    async fn upsert_edges(&self, edges: &[DependsOn]) -> StoreResult<()> {
        observe_call(&self.observer, "upsert_edges", Key::None, self.inner.upsert_edges(edges)).await
    }
    async fn record_calls(&self, calls: &[EdgeCalls]) -> StoreResult<()> {
        observe_call(&self.observer, "record_calls", Key::None, self.inner.record_calls(calls)).await
    }
    async fn edge_calls(&self, service_keys: &[String]) -> StoreResult<Vec<EdgeCalls>> {
        observe_call(&self.observer, "edge_calls", Key::None, self.inner.edge_calls(service_keys)).await
    }
    async fn link_deployment(
        &self,
        service_key: &str,
        deployment: &DeploymentEvent,
        commits: &[Commit],
    ) -> StoreResult<()> {
        let call = self.inner.link_deployment(service_key, deployment, commits);
        observe_call(&self.observer, "link_deployment", Key::ServiceKey(service_key), call).await
    }
    async fn blast_radius(&self, service_key: &str, max_depth: u32) -> StoreResult<BlastRadius> {
        let call = self.inner.blast_radius(service_key, max_depth);
        observe_call(&self.observer, "blast_radius", Key::ServiceKey(service_key), call).await
    }
    async fn commits_touching(&self, service_keys: &[String]) -> StoreResult<Vec<(String, String)>> {
        let call = self.inner.commits_touching(service_keys);
        observe_call(&self.observer, "commits_touching", Key::None, call).await
    }
    async fn replace_source(
        &self,
        source: &str,
        nodes: &[TopologyNode],
        edges: &[DependsOn],
    ) -> StoreResult<SourceReplaced> {
        let call = self.inner.replace_source(source, nodes, edges);
        observe_call(&self.observer, "replace_source", Key::Feed(source), call).await
    }
}

#[async_trait]
impl SemanticStore for ObservedSemantic {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    fn project(&self) -> &ProjectId {
        self.inner.project()
    }
    fn scoped(&self, project: &ProjectId) -> Arc<dyn SemanticStore> {
        Arc::new(ObservedSemantic { inner: self.inner.scoped(project), observer: self.observer.clone() })
    }
    async fn check_connectivity(&self) -> StoreResult<()> {
        observe_call(&self.observer, "check_connectivity", Key::None, self.inner.check_connectivity()).await
    }
    async fn ensure_collection(&self, name: &str, dim: usize) -> StoreResult<()> {
        let call = self.inner.ensure_collection(name, dim);
        observe_call(&self.observer, "ensure_collection", Key::Collection(name), call).await
    }
    async fn upsert(&self, collection: &str, points: &[VectorPoint]) -> StoreResult<()> {
        let call = self.inner.upsert(collection, points);
        observe_call(&self.observer, "upsert", Key::Collection(collection), call).await
    }
    async fn search(
        &self,
        collection: &str,
        vector: &[f32],
        filter: &PayloadFilter,
        limit: usize,
    ) -> StoreResult<Vec<SemanticHit>> {
        let call = self.inner.search(collection, vector, filter, limit);
        observe_call(&self.observer, "search", Key::Collection(collection), call).await
    }
    async fn points(&self, collection: &str, filter: &PayloadFilter, limit: usize) -> StoreResult<Vec<StoredPoint>> {
        let call = self.inner.points(collection, filter, limit);
        observe_call(&self.observer, "points", Key::Collection(collection), call).await
    }
    async fn delete(&self, collection: &str, filter: &PayloadFilter) -> StoreResult<u64> {
        let call = self.inner.delete(collection, filter);
        observe_call(&self.observer, "delete", Key::Collection(collection), call).await
    }
}

/// `Embedder` with a timeout, metrics and spans; its `store` label is `embedder/<model>`.
pub struct ObservedEmbedder {
    inner: Arc<dyn Embedder>,
    observer: Observer,
}

impl ObservedEmbedder {
    pub fn new(inner: Arc<dyn Embedder>, metrics: &StoreMetrics, timeout: Duration) -> ObservedEmbedder {
        let observer = Observer::new("embedder", inner.model(), metrics, timeout);
        ObservedEmbedder { inner, observer }
    }

    /// The wrapped embedder.
    pub fn inner(&self) -> &Arc<dyn Embedder> {
        &self.inner
    }
}

#[async_trait]
impl Embedder for ObservedEmbedder {
    fn model(&self) -> &str {
        self.inner.model()
    }
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    async fn embed(&self, texts: &[String]) -> StoreResult<Vec<Vec<f32>>> {
        observe_call(&self.observer, "embed", Key::None, self.inner.embed(texts)).await
    }
}
