//! Serde mirror of the fixture file format described in `fixtures/README.md`, shared by
//! the generator (writing) and `check-fixtures` (strict reading: unknown fields are errors).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub type Ts = DateTime<Utc>;

/// Formats a timestamp the way every fixture file writes it: RFC 3339, UTC, `Z`, whole seconds.
pub fn ts_string(ts: Ts) -> String {
    ts.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Serde adapter so that timestamps are always written as `2026-09-02T14:05:00Z`.
pub mod rfc3339 {
    use super::Ts;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ts: &Ts, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::ts_string(*ts))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Ts, D::Error> {
        let text = String::deserialize(d)?;
        chrono::DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&chrono::Utc))
            .map_err(|e| serde::de::Error::custom(format!("bad RFC 3339 time {text:?}: {e}")))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    pub id: String,
    pub description: String,
    pub cluster: String,
    pub namespace: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    Service,
    Database,
    Dependency,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceEntry {
    pub name: String,
    pub kind: NodeKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Edge {
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployType {
    Helm,
    K8s,
    Argo,
    Flux,
    Manual,
    Other,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    pub id: String,
    pub service: String,
    #[serde(with = "rfc3339")]
    pub started_at: Ts,
    #[serde(with = "rfc3339")]
    pub finished_at: Ts,
    pub deploy_type: DeployType,
    pub image_ref: String,
    pub revision: String,
    pub previous_revision: String,
    pub is_rollback: bool,
    pub commits: Vec<String>,
    pub metadata: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigSource {
    K8sDeployment,
    K8sConfigmap,
    K8sSecret,
    K8sReplicaset,
    DbSchema,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    ImageSwap,
    EnvVar,
    ResourceLimit,
    ReplicaCount,
    ConfigmapKey,
    SecretKey,
    DbSchemaAlter,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigDiff {
    pub field: String,
    pub old_value: String,
    pub new_value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigChange {
    pub id: String,
    pub service: Option<String>,
    #[serde(with = "rfc3339")]
    pub detected_at: Ts,
    pub source: ConfigSource,
    pub change_kind: ChangeKind,
    pub resource_name: String,
    pub diff: ConfigDiff,
    pub actor: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileChangeType {
    DbMigration,
    Dependency,
    Config,
    TimeoutRetry,
    HttpClient,
    SharedUtil,
    Auth,
    Test,
    Docs,
    Other,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitFile {
    pub path: String,
    pub change_type: FileChangeType,
    pub diff: String,
    pub lines_added: u32,
    pub lines_removed: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Commit {
    pub sha: String,
    pub repo: String,
    pub author: String,
    pub message: String,
    #[serde(with = "rfc3339")]
    pub authored_at: Ts,
    pub files: Vec<CommitFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runbook {
    pub id: String,
    pub title: String,
    pub service: String,
    pub tags: Vec<String>,
    pub source_url: String,
    pub body: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HypothesisType {
    Release,
    Config,
    Traffic,
    Dependency,
    Db,
    Infra,
    Unknown,
}

impl HypothesisType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Release => "release",
            Self::Config => "config",
            Self::Traffic => "traffic",
            Self::Dependency => "dependency",
            Self::Db => "db",
            Self::Infra => "infra",
            Self::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PastIncident {
    pub id: String,
    pub service: String,
    #[serde(with = "rfc3339")]
    pub started_at: Ts,
    #[serde(with = "rfc3339")]
    pub resolved_at: Ts,
    pub hypothesis_type: HypothesisType,
    pub summary: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerType {
    ErrorRateSpike,
    P99Regression,
    Crashloop,
    Custom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    Open,
    Triaged,
    Resolved,
    Suppressed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Incident {
    pub service: String,
    pub trigger_type: TriggerType,
    pub severity: u8,
    #[serde(with = "rfc3339")]
    pub window_start: Ts,
    #[serde(with = "rfc3339")]
    pub window_end: Ts,
    pub status: IncidentStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Culprit {
    Deployment(String),
    ConfigChange(String),
    Commit(String),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Truth {
    pub service: String,
    pub hypothesis_type: HypothesisType,
    pub culprit: Option<Culprit>,
    pub notes: String,
}
