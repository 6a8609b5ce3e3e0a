//! The four storage ports of Inquest (records, metrics, topology, semantic
//! retrieval) and the `Embedder` seam. Adapters implement these traits; the
//! investigation only ever sees `Arc<dyn Port>`.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use inquest_domain::stats::Baseline;
use inquest_domain::*;
use serde::{Deserialize, Serialize};

pub mod access;
pub mod down;
pub mod embedding;
pub mod error;
pub mod schema;

pub use access::{AccessStore, AuditQuery};
pub use down::DownTopology;
pub use embedding::{Embedder, HashEmbedder, cosine, vector_point};
pub use error::{ErrorKind, StoreError, StoreResult};

/// Every row a load brings in, applied in one transaction so nothing is half-written.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RecordBatch {
    pub services: Vec<Service>,
    pub deployments: Vec<DeploymentEvent>,
    pub commit_ranges: Vec<DeploymentCommitRange>,
    pub config_changes: Vec<ConfigChangeEvent>,
    pub commits: Vec<Commit>,
    pub commit_files: Vec<CommitFile>,
    pub incidents: Vec<Incident>,
    pub decisions: Vec<IncidentDecision>,
}

/// The outcome of one investigation, saved atomically: evidence and hypotheses
/// replace the incident's previous ones, the report is added to its history.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InvestigationRecord {
    pub incident_id: IncidentId,
    pub evidence: Vec<EvidenceArtifact>,
    pub hypotheses: Vec<Hypothesis>,
    pub report: IncidentReport,
}

/// One delivery of a change feed: its rows and the state the feed keeps between
/// deliveries, applied in one transaction, at most once per `(feed, delivery_id)`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FeedDelivery {
    /// The feed's name (`deployments`, `github`, `argocd`, `flux`, `kubernetes_audit`,
    /// `schema_changes`, `git`).
    pub feed: String,
    /// The sender's delivery or event id: a redelivery of it changes nothing.
    pub delivery_id: String,
    pub received_at: Timestamp,
    pub batch: RecordBatch,
    /// `(key, value)` pairs of the feed's state, written with the rows (`None` removes
    /// the key): the last object seen of a resource, the last synced commit of a repository.
    pub state: Vec<(String, Option<serde_json::Value>)>,
}

/// What `apply_delivery` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryOutcome {
    /// The rows and the state were written.
    Stored,
    /// The delivery was seen before; nothing was written.
    Duplicate,
}

/// A commit with its per-file records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommitWithFiles {
    pub commit: Commit,
    pub files: Vec<CommitFile>,
}

/// System of record (Postgres in production).
#[async_trait]
pub trait RecordStore: Send + Sync {
    /// Short name of the backend, used as evidence `source` (`embedded`, `postgres`).
    fn backend(&self) -> &'static str;
    /// The project every call of this handle reads and writes.
    fn project(&self) -> &ProjectId;
    /// A cheap view of the same connection acting in `project`.
    fn scoped(&self, project: &ProjectId) -> Arc<dyn RecordStore>;
    async fn check_connectivity(&self) -> StoreResult<()>;

    async fn apply_batch(&self, batch: &RecordBatch) -> StoreResult<()>;
    /// Apply a feed's delivery in one transaction: the delivery id, the batch and the
    /// state changes together, or nothing. A delivery id seen before for the same feed
    /// is `Duplicate` and writes nothing.
    async fn apply_delivery(&self, delivery: &FeedDelivery) -> StoreResult<DeliveryOutcome>;
    /// A feed's state value under `key`, as the last delivery left it.
    async fn feed_state(&self, feed: &str, key: &str) -> StoreResult<Option<serde_json::Value>>;

    async fn list_services(&self) -> StoreResult<Vec<Service>>;
    async fn get_incident(&self, id: IncidentId) -> StoreResult<Option<Incident>>;
    async fn list_incidents(&self) -> StoreResult<Vec<Incident>>;
    async fn list_decisions(&self, incident: IncidentId) -> StoreResult<Vec<IncidentDecision>>;

    /// Deployments of the given services that started within `[from, to]`.
    async fn deployments_between(
        &self,
        services: &[ServiceId],
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<DeploymentEvent>>;
    /// Config changes of the given services, and cluster-wide ones, detected within `[from, to]`.
    async fn config_changes_between(
        &self,
        services: &[ServiceId],
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<ConfigChangeEvent>>;
    async fn commit_range(&self, deployment: DeploymentId) -> StoreResult<Option<DeploymentCommitRange>>;
    async fn commits(&self, shas: &[String]) -> StoreResult<Vec<CommitWithFiles>>;
    /// Commits authored within `[from, to]`, newest first, at most `limit`.
    async fn commits_between(&self, from: Timestamp, to: Timestamp, limit: usize) -> StoreResult<Vec<Commit>>;

    async fn save_investigation(&self, record: &InvestigationRecord) -> StoreResult<()>;
    async fn evidence(&self, incident: IncidentId) -> StoreResult<Vec<EvidenceArtifact>>;
    async fn hypotheses(&self, incident: IncidentId) -> StoreResult<Vec<Hypothesis>>;
    /// Report history, oldest first.
    async fn reports(&self, incident: IncidentId) -> StoreResult<Vec<IncidentReport>>;

    async fn append_feedback(&self, event: &FeedbackEvent) -> StoreResult<()>;
    async fn feedback(&self, incident: IncidentId) -> StoreResult<Vec<FeedbackEvent>>;
}

/// One metric's points, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub metric_name: String,
    pub points: Vec<(Timestamp, f64)>,
}

/// Points of every metric of one service in a time range, with the query ref.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricWindow {
    pub reference: String,
    pub series: Vec<Series>,
}

/// Per-metric baselines of one service over a range, computed by the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricBaselines {
    pub reference: String,
    pub baselines: BTreeMap<String, Baseline>,
}

/// What an investigation reads of the metrics of a radius: per key, baselines over
/// each set of clean-history ranges asked and the window of the analysis.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RadiusMetrics {
    /// One map per set of ranges, in the order asked, as `baselines_many` answers.
    pub baselines: Vec<BTreeMap<String, MetricBaselines>>,
    /// As `windows` answers.
    pub windows: BTreeMap<String, MetricWindow>,
}

/// Time series store (ClickHouse in production).
#[async_trait]
pub trait MetricStore: Send + Sync {
    fn backend(&self) -> &'static str;
    /// The project every call of this handle reads and writes.
    fn project(&self) -> &ProjectId;
    /// A cheap view of the same connection acting in `project`.
    fn scoped(&self, project: &ProjectId) -> Arc<dyn MetricStore>;
    async fn check_connectivity(&self) -> StoreResult<()>;
    async fn insert_points(&self, points: &[MetricPoint]) -> StoreResult<()>;
    /// Every metric of `service_key` with points in `[from, to)`.
    async fn window(&self, service_key: &str, from: Timestamp, to: Timestamp) -> StoreResult<MetricWindow>;
    /// Median/MAD/quantiles of every metric of `service_key` over `[from, to)`.
    async fn baselines(&self, service_key: &str, from: Timestamp, to: Timestamp) -> StoreResult<MetricBaselines>;
    /// Median/MAD/quantiles of every metric of `service_key` over the union of the
    /// half-open `ranges` (clean history with incidents and changes cut out). The
    /// default reads one window over their span and keeps the points inside them; a
    /// store that can filter ranges itself should compute it in one query.
    async fn baselines_over(
        &self,
        service_key: &str,
        ranges: &[(Timestamp, Timestamp)],
    ) -> StoreResult<MetricBaselines> {
        let (Some(from), Some(to)) = (ranges.iter().map(|r| r.0).min(), ranges.iter().map(|r| r.1).max()) else {
            return Ok(MetricBaselines {
                reference: "metric_points/baseline?ranges=0".into(),
                baselines: BTreeMap::new(),
            });
        };
        if let [(from, to)] = ranges {
            return self.baselines(service_key, *from, *to).await;
        }
        let window = self.window(service_key, from, to).await?;
        let inside = |t: &Timestamp| ranges.iter().any(|(a, b)| t >= a && t < b);
        let baselines = window
            .series
            .into_iter()
            .filter_map(|s| {
                let values: Vec<f64> = s.points.iter().filter(|(t, _)| inside(t)).map(|(_, v)| *v).collect();
                Baseline::from_values(&values).map(|b| (s.metric_name, b))
            })
            .collect();
        Ok(MetricBaselines { reference: format!("{}&ranges={}", window.reference, ranges.len()), baselines })
    }
    /// `window` of every one of `service_keys` in one request to the store; a key with
    /// no points has an empty window.
    async fn windows(
        &self,
        service_keys: &[String],
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<BTreeMap<String, MetricWindow>>;
    /// `baselines_over` of every one of `service_keys` in one request to the store; a
    /// key with no points in the ranges has no baselines.
    async fn baselines_many(
        &self,
        service_keys: &[String],
        ranges: &[(Timestamp, Timestamp)],
    ) -> StoreResult<BTreeMap<String, MetricBaselines>>;
    /// `baselines_many` over each of `range_sets` and `windows` over `[from, to)` for
    /// `service_keys`, with the same answers. The default makes those calls
    /// concurrently; a store that can should read the points once, in one request.
    async fn radius_metrics(
        &self,
        service_keys: &[String],
        range_sets: &[Vec<(Timestamp, Timestamp)>],
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<RadiusMetrics> {
        let baselines = futures::future::try_join_all(range_sets.iter().map(|r| self.baselines_many(service_keys, r)));
        let (baselines, windows) = futures::try_join!(baselines, self.windows(service_keys, from, to))?;
        Ok(RadiusMetrics { baselines, windows })
    }
    async fn write_anomaly_features(&self, features: &[AnomalyFeature]) -> StoreResult<()>;
    async fn anomaly_features(&self, incident_id: &str) -> StoreResult<Vec<AnomalyFeature>>;
}

/// Which way along `DEPENDS_ON` a node was reached from the incident's service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The incident service itself.
    Origin,
    /// Something the incident service depends on (possibly transitively).
    Downstream,
    /// Something that depends on the incident service.
    Upstream,
}

/// A node within the blast radius and how far it is from the incident service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reach {
    pub key: String,
    pub kind: NodeKind,
    pub distance: u32,
    pub direction: Direction,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlastRadius {
    pub reference: String,
    pub nodes: Vec<Reach>,
    /// The `DEPENDS_ON` edges (caller to callee) between nodes of the radius, sorted:
    /// the paths along which a fault reaches the origin.
    #[serde(default)]
    pub edges: Vec<DependsOn>,
}

/// Service graph (Neo4j in production).
#[async_trait]
pub trait TopologyStore: Send + Sync {
    fn backend(&self) -> &'static str;
    /// The project every call of this handle reads and writes.
    fn project(&self) -> &ProjectId;
    /// A cheap view of the same connection acting in `project`.
    fn scoped(&self, project: &ProjectId) -> Arc<dyn TopologyStore>;
    async fn check_connectivity(&self) -> StoreResult<()>;
    async fn upsert_nodes(&self, nodes: &[TopologyNode]) -> StoreResult<()>;
    async fn upsert_edges(&self, edges: &[DependsOn]) -> StoreResult<()>;
    /// Add traced calls to their `DEPENDS_ON` edges (`calls` and `errors` are
    /// increments), in one transaction; an edge not there yet is written as by
    /// `upsert_edges`.
    async fn record_calls(&self, calls: &[EdgeCalls]) -> StoreResult<()>;
    /// The calls counted on the edges from or to any of `service_keys`, in edge order
    /// (edges no call was recorded on are left out).
    async fn edge_calls(&self, service_keys: &[String]) -> StoreResult<Vec<EdgeCalls>>;
    /// `(Service)-[:DEPLOYED_AS]->(Deployment)-[:BUILT_FROM]->(Commit)-[:TOUCHED]->(Service)`.
    async fn link_deployment(
        &self,
        service_key: &str,
        deployment: &DeploymentEvent,
        commits: &[Commit],
    ) -> StoreResult<()>;
    /// Nodes within `max_depth` hops of `service_key`, both directions, the origin included.
    async fn blast_radius(&self, service_key: &str, max_depth: u32) -> StoreResult<BlastRadius>;
    /// `(sha, service_key)` for commits that touched any of the given services.
    async fn commits_touching(&self, service_keys: &[String]) -> StoreResult<Vec<(String, String)>>;
    /// Make `source`'s declared graph exactly `nodes` and `edges`: nodes are upserted,
    /// each edge is recorded as declared by `source`, and an edge `source` declared
    /// before but not now loses that source; an edge no source declares any more is
    /// removed. Edges written without a source (fixtures, `upsert_edges`, traces) are
    /// never removed by this.
    async fn replace_source(
        &self,
        source: &str,
        nodes: &[TopologyNode],
        edges: &[DependsOn],
    ) -> StoreResult<SourceReplaced>;
}

/// What `replace_source` changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceReplaced {
    pub nodes: usize,
    /// Edges the source declares now.
    pub edges: usize,
    /// Edges the source no longer declares that were removed from the graph.
    pub removed: usize,
}

/// A stored point without its vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredPoint {
    pub id: uuid::Uuid,
    pub payload: serde_json::Map<String, serde_json::Value>,
}

/// Payload condition: every key must match one of its values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PayloadFilter {
    pub must: Vec<(String, Vec<serde_json::Value>)>,
}

impl PayloadFilter {
    pub fn any_of(mut self, key: &str, values: Vec<serde_json::Value>) -> Self {
        self.must.push((key.to_string(), values));
        self
    }

    pub fn matches(&self, payload: &serde_json::Map<String, serde_json::Value>) -> bool {
        self.must.iter().all(|(key, values)| payload.get(key).is_some_and(|v| values.contains(v)))
    }
}

/// Vector search (Qdrant in production).
#[async_trait]
pub trait SemanticStore: Send + Sync {
    fn backend(&self) -> &'static str;
    /// The project every call of this handle reads and writes.
    fn project(&self) -> &ProjectId;
    /// A cheap view of the same connection acting in `project`.
    fn scoped(&self, project: &ProjectId) -> Arc<dyn SemanticStore>;
    async fn check_connectivity(&self) -> StoreResult<()>;
    async fn ensure_collection(&self, name: &str, dim: usize) -> StoreResult<()>;
    async fn upsert(&self, collection: &str, points: &[VectorPoint]) -> StoreResult<()>;
    async fn search(
        &self,
        collection: &str,
        vector: &[f32],
        filter: &PayloadFilter,
        limit: usize,
    ) -> StoreResult<Vec<SemanticHit>>;
    /// Points of `collection` matching `filter`, in id order, at most `limit`; an
    /// absent collection has none.
    async fn points(&self, collection: &str, filter: &PayloadFilter, limit: usize) -> StoreResult<Vec<StoredPoint>>;
    /// Remove the points of `collection` matching `filter`; how many were removed. An
    /// absent collection has none to remove.
    async fn delete(&self, collection: &str, filter: &PayloadFilter) -> StoreResult<u64>;
}

/// The four ports and the embedder an investigation runs against.
#[derive(Clone)]
pub struct Stores {
    pub records: Arc<dyn RecordStore>,
    pub metrics: Arc<dyn MetricStore>,
    pub topology: Arc<dyn TopologyStore>,
    pub semantic: Arc<dyn SemanticStore>,
    pub embedder: Arc<dyn Embedder>,
}

impl Stores {
    /// The same stores acting in `project`; the embedder is shared.
    pub fn for_project(&self, project: &ProjectId) -> Stores {
        Stores {
            records: self.records.scoped(project),
            metrics: self.metrics.scoped(project),
            topology: self.topology.scoped(project),
            semantic: self.semantic.scoped(project),
            embedder: self.embedder.clone(),
        }
    }

    /// The project the records port acts in (every port of a `Stores` acts in the same one).
    pub fn project(&self) -> &ProjectId {
        self.records.project()
    }

    /// `(port, backend, result)` of each port's connectivity check.
    pub async fn check_all(&self) -> Vec<(&'static str, &'static str, StoreResult<()>)> {
        vec![
            ("records", self.records.backend(), self.records.check_connectivity().await),
            ("metrics", self.metrics.backend(), self.metrics.check_connectivity().await),
            ("topology", self.topology.backend(), self.topology.check_connectivity().await),
            ("semantic", self.semantic.backend(), self.semantic.check_connectivity().await),
        ]
    }
}
