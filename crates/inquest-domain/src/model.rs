//! The records of the data model (Postgres tables, ClickHouse rows, Neo4j nodes, Qdrant
//! payloads) as plain serde types.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::DomainError;
use crate::ids::*;

pub type Timestamp = DateTime<Utc>;

/// A closed set of text values stored in a `TEXT` column.
macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident, $field:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = DomainError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err(DomainError::UnknownVariant {
                        field: $field,
                        value: other.to_string(),
                        expected: concat!($($text, " "),+),
                    }),
                }
            }
        }
    };
}

text_enum!(
    /// `deployment_events.deploy_type`
    DeployType, "deploy_type", {
        Helm => "helm", K8s => "k8s", Argo => "argo", Flux => "flux", Manual => "manual", Other => "other",
    }
);

text_enum!(
    /// `config_change_events.source`
    ConfigSource, "source", {
        K8sDeployment => "k8s_deployment", K8sConfigmap => "k8s_configmap", K8sSecret => "k8s_secret",
        K8sReplicaset => "k8s_replicaset", DbSchema => "db_schema",
    }
);

text_enum!(
    /// `config_change_events.change_kind`
    ChangeKind, "change_kind", {
        ImageSwap => "image_swap", EnvVar => "env_var", ResourceLimit => "resource_limit",
        ReplicaCount => "replica_count", ConfigmapKey => "configmap_key", SecretKey => "secret_key",
        DbSchemaAlter => "db_schema_alter",
    }
);

text_enum!(
    /// `commit_files.change_type`
    FileChangeType, "change_type", {
        DbMigration => "db_migration", Dependency => "dependency", Config => "config",
        TimeoutRetry => "timeout_retry", HttpClient => "http_client", SharedUtil => "shared_util",
        Auth => "auth", Test => "test", Docs => "docs", Other => "other",
    }
);

text_enum!(
    /// `incidents.status`
    IncidentStatus, "status", {
        Open => "open", Triaged => "triaged", Resolved => "resolved", Suppressed => "suppressed",
    }
);

text_enum!(
    /// `incident_decisions.decision` (`opened`/`attached` record correlation; `assigned`,
    /// `escalated`, `acknowledged`, `paged` and `notified` record who was told and what the response
    /// policy did)
    Decision, "decision", {
        Approved => "approved", Suppressed => "suppressed", Opened => "opened", Attached => "attached",
        Assigned => "assigned", Escalated => "escalated", Acknowledged => "acknowledged", Paged => "paged",
        Notified => "notified",
    }
);

text_enum!(
    /// `incident_hypotheses.hypothesis_type`: the data model's types plus `config` for
    /// out-of-band configuration changes.
    HypothesisType, "hypothesis_type", {
        Release => "release", Config => "config", Traffic => "traffic", Dependency => "dependency",
        Db => "db", Infra => "infra", Unknown => "unknown",
    }
);

text_enum!(
    /// `evidence_artifacts.kind`
    EvidenceKind, "kind", {
        ClickhouseQuery => "clickhouse_query", MetricQuery => "metric_query",
        TopologyQuery => "topology_query", Record => "record", GitDiff => "git_diff",
        SemanticMatch => "semantic_match", Gap => "gap", Note => "note",
    }
);

text_enum!(
    /// `feedback_events.actor_type`
    ActorType, "actor_type", { User => "user", System => "system", Integration => "integration" }
);

text_enum!(
    /// How a topology node is labelled in the graph (the data model's node labels).
    NodeKind, "kind", { Service => "service", Database => "database", Dependency => "dependency" }
);

/// `services`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub service_id: ServiceId,
    pub cluster_id: String,
    pub namespace: String,
    pub service_name: String,
    pub created_at: Timestamp,
}

impl Service {
    /// The `service_key` used by ClickHouse and Neo4j: `cluster/namespace/service`.
    pub fn service_key(&self) -> String {
        service_key(&self.cluster_id, &self.namespace, &self.service_name)
    }
}

/// A service's key: `cluster/namespace/name`.
pub fn service_key(cluster: &str, namespace: &str, name: &str) -> String {
    format!("{cluster}/{namespace}/{name}")
}

/// The key of a service named by an alert or a user: a `cluster/namespace/name` key is
/// used as-is, a bare name is `default/default/<name>`.
pub fn service_key_of(service: &str) -> String {
    if service.split('/').count() == 3 { service.to_string() } else { service_key("default", "default", service) }
}

/// The last segment of a service key, for display.
pub fn service_name_of(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

/// `deployment_events`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentEvent {
    pub deployment_event_id: DeploymentId,
    pub service_id: ServiceId,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub deploy_type: DeployType,
    pub image_ref: Option<String>,
    pub revision: Option<String>,
    pub metadata: Value,
}

/// `config_change_events`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigChangeEvent {
    pub config_change_id: ConfigChangeId,
    /// `None` when the change is cluster-wide.
    pub service_id: Option<ServiceId>,
    pub detected_at: Timestamp,
    pub source: ConfigSource,
    pub change_kind: ChangeKind,
    pub resource_name: String,
    /// `{ field, old_value, new_value }`; secret values never stored.
    pub diff_payload: Value,
    pub actor: Option<String>,
    pub audit_log_ref: Option<String>,
}

/// `incidents`, including the derived resolution columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub incident_id: IncidentId,
    pub service_id: ServiceId,
    pub status: IncidentStatus,
    pub trigger_type: String,
    pub severity: i32,
    pub window_start: Timestamp,
    pub window_end: Timestamp,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
    pub resolution_kind: Option<String>,
    pub resolution_summary: Option<String>,
    pub resolved_hypothesis_id: Option<HypothesisId>,
}

/// `incident_decisions`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentDecision {
    pub decision_id: DecisionId,
    pub incident_id: IncidentId,
    pub decided_at: Timestamp,
    pub decision: Decision,
    pub rationale: String,
    pub policy_version: String,
    pub details: Value,
}

/// `evidence_artifacts`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvidenceArtifact {
    pub evidence_id: EvidenceId,
    pub incident_id: IncidentId,
    pub kind: EvidenceKind,
    pub source: String,
    #[serde(rename = "ref")]
    pub reference: String,
    pub created_at: Timestamp,
    pub metadata: Value,
}

/// `incident_hypotheses`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hypothesis {
    pub hypothesis_id: HypothesisId,
    pub incident_id: IncidentId,
    pub rank: i32,
    pub hypothesis_type: HypothesisType,
    pub title: String,
    /// In `[0, 1]`, two decimals (`NUMERIC(3,2)`).
    pub confidence: f64,
    pub evidence_ids: Vec<EvidenceId>,
    /// Factor breakdown and the suspect (service, culprit change).
    pub details: Value,
}

impl Hypothesis {
    /// The service this hypothesis blames, from `details.service_key`.
    pub fn service_key(&self) -> Option<&str> {
        self.details.get("service_key").and_then(Value::as_str)
    }

    /// The culprit change (`deployment:<uuid>`, `config_change:<uuid>`, `commit:<sha>`).
    pub fn culprit(&self) -> Option<&str> {
        self.details.get("culprit").and_then(Value::as_str)
    }

    /// The ranking score (`details.score`), the confidence when it is missing.
    pub fn score(&self) -> f64 {
        self.details.get("score").and_then(Value::as_f64).unwrap_or(self.confidence)
    }

    /// The top hypothesis of a list, whatever its order: the lowest rank, equal
    /// ranks broken by the higher score, then by list order. Every view of "the
    /// top hypothesis" uses this.
    pub fn top(hypotheses: &[Hypothesis]) -> Option<&Hypothesis> {
        hypotheses.iter().min_by(|a, b| a.rank.cmp(&b.rank).then_with(|| b.score().total_cmp(&a.score())))
    }
}

/// `incident_reports`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentReport {
    pub report_id: ReportId,
    pub incident_id: IncidentId,
    pub created_at: Timestamp,
    pub model_info: Value,
    pub report_markdown: String,
    pub evidence_ids: Vec<EvidenceId>,
}

/// `commits`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Commit {
    pub commit_sha: String,
    pub repo: String,
    pub author: Option<String>,
    pub message: String,
    pub summary: Option<String>,
    pub authored_at: Timestamp,
    pub created_at: Timestamp,
}

/// `commit_files`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommitFile {
    pub id: CommitFileId,
    pub commit_sha: String,
    pub file_path: String,
    pub change_type: FileChangeType,
    pub diff_text: Option<String>,
    pub lines_added: i32,
    pub lines_removed: i32,
}

/// `deployment_commit_ranges`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentCommitRange {
    pub deployment_event_id: DeploymentId,
    pub previous_revision: Option<String>,
    pub current_revision: String,
    pub is_rollback: bool,
    pub commit_shas: Vec<String>,
}

/// `feedback_events` (append-only)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedbackEvent {
    pub feedback_event_id: FeedbackEventId,
    pub incident_id: IncidentId,
    pub created_at: Timestamp,
    pub actor_type: ActorType,
    pub actor_id: Option<String>,
    pub event_type: String,
    pub payload: Value,
}

/// ClickHouse `metric_points`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricPoint {
    pub ts: Timestamp,
    pub service_key: String,
    pub metric_name: String,
    pub value: f64,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// ClickHouse `anomaly_features`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnomalyFeature {
    pub incident_id: String,
    pub ts: Timestamp,
    pub service_key: String,
    pub feature_name: String,
    pub feature_value: f64,
}

/// A node of the topology graph (`Service`, `Database` or `Dependency`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopologyNode {
    pub key: String,
    pub kind: NodeKind,
    /// Database engine or dependency kind, when known.
    pub detail: Option<String>,
}

/// `(from)-[:DEPENDS_ON]->(to)`: `from` calls or uses `to`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DependsOn {
    pub from: String,
    pub to: String,
}

/// Calls counted on one `DEPENDS_ON` edge (derived from traces): `calls` calls, of
/// which `errors` failed. Written as increments: a store adds them to what it holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EdgeCalls {
    pub edge: DependsOn,
    pub calls: u64,
    pub errors: u64,
}

/// Qdrant collection names of the data model.
pub mod collections {
    pub const GIT_DIFF_CHUNKS: &str = "git_diff_chunks";
    pub const RUNBOOKS: &str = "runbooks";
    pub const INCIDENT_SUMMARIES: &str = "incident_summaries";
    pub const ALL: [&str; 3] = [GIT_DIFF_CHUNKS, RUNBOOKS, INCIDENT_SUMMARIES];
}

/// A vector with its payload, as stored in a collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VectorPoint {
    pub id: Uuid,
    pub vector: Vec<f32>,
    pub payload: serde_json::Map<String, Value>,
}

/// A search hit. `reference()` is the evidence ref of the retrieval contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SemanticHit {
    pub collection: String,
    pub id: Uuid,
    pub score: f32,
    pub payload: serde_json::Map<String, Value>,
}

impl SemanticHit {
    pub fn reference(&self) -> String {
        format!("{}/{}", self.collection, self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_enums_round_trip_and_name_the_field_on_error() {
        for t in HypothesisType::ALL {
            assert_eq!(t.as_str().parse::<HypothesisType>(), Ok(*t));
        }
        let err = "blame".parse::<HypothesisType>().expect_err("not a type");
        assert!(err.to_string().contains("hypothesis_type"), "{err}");
        assert!(err.to_string().contains("blame"), "{err}");
    }

    #[test]
    fn service_key_joins_cluster_namespace_and_name() {
        assert_eq!(service_key("prod", "shop", "checkout"), "prod/shop/checkout");
        assert_eq!(service_name_of("prod/shop/checkout"), "checkout");
    }

    #[test]
    fn a_bare_service_name_is_in_the_default_cluster_and_namespace() {
        assert_eq!(service_key_of("checkout"), "default/default/checkout");
        assert_eq!(service_key_of("prod/shop/checkout"), "prod/shop/checkout");
        assert_eq!(ServiceId::of_key(&service_key_of("checkout")), ServiceId::of_key("default/default/checkout"));
    }

    #[test]
    fn the_top_hypothesis_is_the_lowest_rank_then_the_higher_score() {
        let h = |rank: i32, score: f64, title: &str| Hypothesis {
            hypothesis_id: HypothesisId::derived(&[title]),
            incident_id: IncidentId::derived(&["incident"]),
            rank,
            hypothesis_type: HypothesisType::ALL[0],
            title: title.into(),
            confidence: 0.5,
            evidence_ids: Vec::new(),
            details: serde_json::json!({ "score": score }),
        };
        assert!(Hypothesis::top(&[]).is_none());
        let list = [h(2, 0.9, "second"), h(1, 0.4, "first"), h(3, 0.99, "third")];
        assert_eq!(Hypothesis::top(&list).map(|h| h.title.as_str()), Some("first"));
        let tied = [h(1, 0.4, "lower"), h(1, 0.7, "higher"), h(1, 0.7, "later")];
        assert_eq!(Hypothesis::top(&tied).map(|h| h.title.as_str()), Some("higher"));
        let mut no_score = h(1, 0.0, "confidence");
        no_score.details = Value::Null;
        no_score.confidence = 0.8;
        assert_eq!(no_score.score(), 0.8);
    }
}
