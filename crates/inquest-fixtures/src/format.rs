//! Files of a fixture case as serde types, and their conversion to domain rows.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use chrono::{DateTime, TimeZone, Utc};
use inquest_domain::*;
use inquest_ports::RecordBatch;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::FixtureError;
use inquest_domain::redact::redact;

// The file types below are the format of `fixtures/README.md`, read here and written by
// `cargo xtask fixtures` (and the importers' files must parse as them). Optional fields
// the generator always fills are skipped when empty, so other writers stay terse.

/// Formats a timestamp the way every fixture file writes it: RFC 3339, UTC, `Z`, whole
/// seconds (serde writes `DateTime<Utc>` the same way).
pub fn ts_string(ts: DateTime<Utc>) -> String {
    ts.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `case.json`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    pub id: String,
    #[serde(default)]
    pub description: String,
    pub cluster: String,
    pub namespace: String,
}

/// One entry of `services.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceFile {
    pub name: String,
    pub kind: NodeKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// One edge of `topology.json`: `from` depends on `to`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeFile {
    pub from: String,
    pub to: String,
}

/// One entry of `deployments.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentFile {
    pub id: String,
    pub service: String,
    pub started_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    pub deploy_type: DeployType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_revision: Option<String>,
    #[serde(default)]
    pub is_rollback: bool,
    #[serde(default)]
    pub commits: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// The `diff` of a config change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigDiff {
    pub field: String,
    pub old_value: String,
    pub new_value: String,
}

/// One entry of `config_changes.json`; `service` is null for a cluster-wide change.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigChangeFile {
    pub id: String,
    pub service: Option<String>,
    pub detected_at: DateTime<Utc>,
    pub source: ConfigSource,
    pub change_kind: ChangeKind,
    pub resource_name: String,
    pub diff: ConfigDiff,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_log_ref: Option<String>,
}

/// One file of a commit in `commits.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitFileEntry {
    pub path: String,
    pub change_type: FileChangeType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    #[serde(default)]
    pub lines_added: i32,
    #[serde(default)]
    pub lines_removed: i32,
}

/// One entry of `commits.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitEntry {
    pub sha: String,
    pub repo: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    pub authored_at: DateTime<Utc>,
    #[serde(default)]
    pub files: Vec<CommitFileEntry>,
}

/// One entry of `runbooks.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunbookFile {
    pub id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
    #[serde(default)]
    pub body: String,
}

/// One entry of `past_incidents.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PastIncidentFile {
    pub id: String,
    pub service: String,
    pub started_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<DateTime<Utc>>,
    pub hypothesis_type: HypothesisType,
    pub summary: String,
}

/// What raised the incident (`incident.json` `trigger_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerType {
    ErrorRateSpike,
    P99Regression,
    Crashloop,
    Custom,
}

impl TriggerType {
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerType::ErrorRateSpike => "error_rate_spike",
            TriggerType::P99Regression => "p99_regression",
            TriggerType::Crashloop => "crashloop",
            TriggerType::Custom => "custom",
        }
    }
}

/// `incident.json`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentFile {
    pub service: String,
    pub trigger_type: TriggerType,
    pub severity: i32,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    #[serde(default = "default_status")]
    pub status: IncidentStatus,
}

fn default_status() -> IncidentStatus {
    IncidentStatus::Open
}

/// `truth.json`; `culprit` is null when the truth names no change.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TruthFile {
    pub service: String,
    pub hypothesis_type: HypothesisType,
    #[serde(default)]
    pub culprit: Option<CulpritFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
}

/// The change a truth blames, by its id in the case's files (a commit by its sha).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum CulpritFile {
    Deployment(String),
    ConfigChange(String),
    Commit(String),
}

#[derive(Debug, Clone, Deserialize)]
struct MetricRow {
    ts: DateTime<Utc>,
    service: String,
    metric: String,
    value: f64,
}

/// The labelled answer of a case, in the same terms as a hypothesis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    pub service_key: String,
    pub hypothesis_type: HypothesisType,
    /// Culprit refs that count as a match (`deployment:<uuid>`, `config_change:<uuid>`,
    /// `commit:<sha>`); empty when the truth names no culprit.
    pub culprits: Vec<String>,
    pub notes: Option<String>,
}

/// A semantic document to embed and store: the same type the change feeds embed.
pub use inquest_feeds::Document;

/// One case, validated and converted to domain rows.
#[derive(Debug, Clone)]
pub struct FixtureCase {
    pub id: String,
    pub description: String,
    pub dir: PathBuf,
    pub incident_id: IncidentId,
    pub batch: RecordBatch,
    pub points: Vec<MetricPoint>,
    pub nodes: Vec<TopologyNode>,
    pub edges: Vec<DependsOn>,
    pub documents: Vec<Document>,
    pub truth: Truth,
}

/// Epoch used for `created_at` of rows whose creation time the fixture does not give,
/// so reloading does not change them.
fn fixture_epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap_or_default()
}

pub fn culprit_ref_deployment(id: DeploymentId) -> String {
    format!("deployment:{id}")
}
pub fn culprit_ref_config_change(id: ConfigChangeId) -> String {
    format!("config_change:{id}")
}
pub fn culprit_ref_commit(sha: &str) -> String {
    format!("commit:{sha}")
}

fn read_json<T: DeserializeOwned>(dir: &Path, name: &str, required: bool) -> Result<Option<T>, FixtureError> {
    let path = dir.join(name);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(None),
        Err(source) => return Err(FixtureError::Io { path, source }),
    };
    serde_json::from_str(&text).map(Some).map_err(|e| FixtureError::Line {
        path,
        line: e.line() as u64,
        message: e.to_string(),
    })
}

fn read_required<T: DeserializeOwned>(dir: &Path, name: &str) -> Result<T, FixtureError> {
    read_json(dir, name, true)?.ok_or_else(|| FixtureError::invalid(&dir.join(name), "missing required file"))
}

fn read_list<T: DeserializeOwned>(dir: &Path, name: &str) -> Result<Vec<T>, FixtureError> {
    Ok(read_json(dir, name, false)?.unwrap_or_default())
}

impl FixtureCase {
    /// Read, validate and convert the case in `dir`.
    pub fn read(dir: &Path) -> Result<Self, FixtureError> {
        let case: CaseFile = read_required(dir, "case.json")?;
        if case.id.is_empty() || !case.id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            return Err(FixtureError::invalid(
                &dir.join("case.json"),
                format!("field id: '{}' must be lowercase letters, digits and dashes", case.id),
            ));
        }
        let services: Vec<ServiceFile> = read_list(dir, "services.json")?;
        let edges: Vec<EdgeFile> = read_list(dir, "topology.json")?;
        let deployments: Vec<DeploymentFile> = read_list(dir, "deployments.json")?;
        let config_changes: Vec<ConfigChangeFile> = read_list(dir, "config_changes.json")?;
        let commits: Vec<CommitEntry> = read_list(dir, "commits.json")?;
        let runbooks: Vec<RunbookFile> = read_list(dir, "runbooks.json")?;
        let past: Vec<PastIncidentFile> = read_list(dir, "past_incidents.json")?;
        let incident: IncidentFile = read_required(dir, "incident.json")?;
        let truth: TruthFile = read_required(dir, "truth.json")?;

        let mut b = Builder { dir, services: HashMap::new() };
        if services.is_empty() {
            return Err(FixtureError::invalid(&dir.join("services.json"), "no services"));
        }
        let mut service_rows = Vec::new();
        let mut nodes = Vec::new();
        for s in &services {
            let cluster = s.cluster.clone().unwrap_or_else(|| case.cluster.clone());
            let namespace = s.namespace.clone().unwrap_or_else(|| case.namespace.clone());
            let key = service_key(&cluster, &namespace, &s.name);
            let row = Service {
                service_id: ServiceId::of_key(&key),
                cluster_id: cluster,
                namespace,
                service_name: s.name.clone(),
                created_at: fixture_epoch(),
            };
            if b.services.insert(s.name.clone(), row.clone()).is_some() {
                return Err(FixtureError::invalid(
                    &dir.join("services.json"),
                    format!("service '{}' is listed twice", s.name),
                ));
            }
            nodes.push(TopologyNode { key, kind: s.kind, detail: s.detail.clone() });
            service_rows.push(row);
        }

        let mut edge_rows = Vec::new();
        for (i, e) in edges.iter().enumerate() {
            let field = format!("[{i}]");
            edge_rows.push(DependsOn {
                from: b.key("topology.json", &field, &e.from)?,
                to: b.key("topology.json", &field, &e.to)?,
            });
        }

        let mut commit_rows = Vec::new();
        let mut file_rows = Vec::new();
        let mut commit_by_sha: BTreeMap<&str, &CommitEntry> = BTreeMap::new();
        for c in &commits {
            if commit_by_sha.insert(&c.sha, c).is_some() {
                return Err(FixtureError::invalid(
                    &dir.join("commits.json"),
                    format!("commit {} is listed twice", c.sha),
                ));
            }
            commit_rows.push(Commit {
                commit_sha: c.sha.clone(),
                repo: c.repo.clone(),
                author: c.author.clone(),
                message: redact(&c.message),
                summary: c.summary.as_deref().map(redact),
                authored_at: c.authored_at,
                created_at: c.authored_at,
            });
            for f in &c.files {
                file_rows.push(CommitFile {
                    id: CommitFileId::derived(&["commit_file", &c.sha, &f.path]),
                    commit_sha: c.sha.clone(),
                    file_path: f.path.clone(),
                    change_type: f.change_type,
                    diff_text: f.diff.as_deref().map(redact),
                    lines_added: f.lines_added,
                    lines_removed: f.lines_removed,
                });
            }
        }

        let mut deployment_rows = Vec::new();
        let mut ranges = Vec::new();
        let mut local_deployments: HashMap<&str, DeploymentId> = HashMap::new();
        let mut deployment_of_sha: HashMap<&str, Vec<(DeploymentId, String)>> = HashMap::new();
        for (i, d) in deployments.iter().enumerate() {
            let field = format!("[{i}].service");
            let service = b.service("deployments.json", &field, &d.service)?;
            let id = DeploymentId::derived(&["fixture", &case.id, "deployment", &d.id]);
            if local_deployments.insert(&d.id, id).is_some() {
                return Err(FixtureError::invalid(
                    &dir.join("deployments.json"),
                    format!("deployment id '{}' is used twice", d.id),
                ));
            }
            for sha in &d.commits {
                if !commit_by_sha.contains_key(sha.as_str()) {
                    return Err(FixtureError::invalid(
                        &dir.join("deployments.json"),
                        format!("[{i}].commits: commit {sha} is not in commits.json"),
                    ));
                }
                deployment_of_sha.entry(sha).or_default().push((id, service.service_key()));
            }
            deployment_rows.push(DeploymentEvent {
                deployment_event_id: id,
                service_id: service.service_id,
                started_at: d.started_at,
                finished_at: d.finished_at,
                deploy_type: d.deploy_type,
                image_ref: d.image_ref.clone(),
                revision: d.revision.clone(),
                metadata: d.metadata.clone().unwrap_or_else(|| json!({})),
            });
            let current = d.revision.clone().or_else(|| d.commits.first().cloned()).unwrap_or_else(|| d.id.clone());
            ranges.push(DeploymentCommitRange {
                deployment_event_id: id,
                previous_revision: d.previous_revision.clone(),
                current_revision: current,
                is_rollback: d.is_rollback,
                commit_shas: d.commits.clone(),
            });
        }

        let mut config_rows = Vec::new();
        let mut local_configs: HashMap<&str, ConfigChangeId> = HashMap::new();
        for (i, c) in config_changes.iter().enumerate() {
            let service_id = match &c.service {
                Some(name) => Some(b.service("config_changes.json", &format!("[{i}].service"), name)?.service_id),
                None => None,
            };
            let id = ConfigChangeId::derived(&["fixture", &case.id, "config_change", &c.id]);
            if local_configs.insert(&c.id, id).is_some() {
                return Err(FixtureError::invalid(
                    &dir.join("config_changes.json"),
                    format!("config change id '{}' is used twice", c.id),
                ));
            }
            config_rows.push(ConfigChangeEvent {
                config_change_id: id,
                service_id,
                detected_at: c.detected_at,
                source: c.source,
                change_kind: c.change_kind,
                resource_name: c.resource_name.clone(),
diff_payload: json!({ "field": c.diff.field, "old_value": c.diff.old_value, "new_value": c.diff.new_value }),
                actor: c.actor.clone(),
                audit_log_ref: c.audit_log_ref.clone(),
            });
        }

        if incident.window_start >= incident.window_end {
            return Err(FixtureError::invalid(&dir.join("incident.json"), "window_start must be before window_end"));
        }
        if !(1..=5).contains(&incident.severity) {
            return Err(FixtureError::invalid(
                &dir.join("incident.json"),
                format!("field severity: {} is not between 1 and 5", incident.severity),
            ));
        }
        let incident_service = b.service("incident.json", "service", &incident.service)?;
        let incident_id = IncidentId::derived(&["fixture", &case.id, "incident"]);
        let incident_row = Incident {
            incident_id,
            service_id: incident_service.service_id,
            status: incident.status,
            trigger_type: incident.trigger_type.as_str().to_string(),
            severity: incident.severity,
            window_start: incident.window_start,
            window_end: incident.window_end,
            created_at: incident.window_start,
            updated_at: incident.window_start,
            resolved_at: None,
            resolution_kind: None,
            resolution_summary: None,
            resolved_hypothesis_id: None,
        };
        let decision = IncidentDecision {
            decision_id: DecisionId::derived(&["fixture", &case.id, "decision"]),
            incident_id,
            decided_at: incident.window_start,
            decision: Decision::Approved,
            rationale: format!("fixture case {} replayed for investigation", case.id),
            policy_version: "fixture/v1".to_string(),
            details: json!({ "case": case.id }),
        };

        let truth_key = b.key("truth.json", "service", &truth.service)?;
        let culprits = match &truth.culprit {
            None => Vec::new(),
            Some(CulpritFile::Deployment(local)) => {
                let id = local_deployments.get(local.as_str()).ok_or_else(|| {
                    FixtureError::invalid(
                        &dir.join("truth.json"),
                        format!("culprit.deployment: '{local}' is not in deployments.json"),
                    )
                })?;
                vec![culprit_ref_deployment(*id)]
            }
            Some(CulpritFile::ConfigChange(local)) => {
                let id = local_configs.get(local.as_str()).ok_or_else(|| {
                    FixtureError::invalid(
                        &dir.join("truth.json"),
                        format!("culprit.config_change: '{local}' is not in config_changes.json"),
                    )
                })?;
                vec![culprit_ref_config_change(*id)]
            }
            Some(CulpritFile::Commit(sha)) => {
                if !commit_by_sha.contains_key(sha.as_str()) {
                    return Err(FixtureError::invalid(
                        &dir.join("truth.json"),
                        format!("culprit.commit: {sha} is not in commits.json"),
                    ));
                }
                let mut refs = vec![culprit_ref_commit(sha)];
                for (dep, _) in deployment_of_sha.get(sha.as_str()).into_iter().flatten() {
                    refs.push(culprit_ref_deployment(*dep));
                }
                refs
            }
        };

        let points = read_metrics(&dir.join("metrics.csv"), &b)?;

        let mut documents = Vec::new();
        for c in &commits {
            for f in &c.files {
                let Some(diff) = &f.diff else { continue };
                // Secrets never reach the store, the vectors or their payload.
                let message = redact(&c.message);
                for (h, hunk) in split_hunks(&redact(diff)).into_iter().enumerate() {
                    let hunk_id = format!("{}:{}#{h}", c.sha, f.path);
                    let mut payload = Map::new();
                    payload.insert("repo".into(), json!(c.repo));
                    payload.insert("sha".into(), json!(c.sha));
                    payload.insert("path".into(), json!(f.path));
                    payload.insert("hunk_id".into(), json!(hunk_id));
                    payload.insert("authored_at".into(), json!(c.authored_at));
                    payload.insert("change_type".into(), json!(f.change_type));
                    if let Some((dep, key)) = deployment_of_sha.get(c.sha.as_str()).and_then(|v| v.first()) {
                        payload.insert("deployment_event_id".into(), json!(dep));
                        payload.insert("service_key".into(), json!(key));
                    }
                    payload.insert("text".into(), json!(hunk));
                    documents.push(Document {
                        collection: collections::GIT_DIFF_CHUNKS,
                        id: derived_uuid(&["diff_chunk", &hunk_id]),
                        text: format!("{}\n{}\n{}", message, f.path, hunk),
                        payload,
                    });
                }
            }
        }
        for (i, r) in runbooks.iter().enumerate() {
            let mut payload = Map::new();
            payload.insert("title".into(), json!(r.title));
            if let Some(s) = &r.service {
                payload.insert("service_key".into(), json!(b.key("runbooks.json", &format!("[{i}].service"), s)?));
            }
            payload.insert("tags".into(), json!(r.tags));
            payload.insert("source_url".into(), json!(r.source_url));
            payload.insert("text".into(), json!(redact(&r.body)));
            documents.push(Document {
                collection: collections::RUNBOOKS,
                id: derived_uuid(&["runbook", &r.id]),
                text: format!("{}\n{}\n{}", r.title, r.tags.join(" "), redact(&r.body)),
                payload,
            });
        }
        for (i, p) in past.iter().enumerate() {
            let key = b.key("past_incidents.json", &format!("[{i}].service"), &p.service)?;
            if p.started_at >= incident.window_start {
                return Err(FixtureError::invalid(
                    &dir.join("past_incidents.json"),
                    format!("[{i}].started_at: a past incident must start before the incident window"),
                ));
            }
            let past_id = IncidentId::derived(&["fixture", "past_incident", &p.id]);
            let mut payload = Map::new();
            payload.insert("incident_id".into(), json!(past_id));
            payload.insert("service_key".into(), json!(key));
            payload.insert("started_at".into(), json!(p.started_at));
            payload.insert("resolved_at".into(), json!(p.resolved_at));
            payload.insert("hypothesis_type".into(), json!(p.hypothesis_type));
            payload.insert("text".into(), json!(redact(&p.summary)));
            documents.push(Document {
                collection: collections::INCIDENT_SUMMARIES,
                id: past_id.0,
                text: redact(&p.summary),
                payload,
            });
        }

        Ok(Self {
            id: case.id.clone(),
            description: case.description,
            dir: dir.to_path_buf(),
            incident_id,
            batch: RecordBatch {
                services: service_rows,
                deployments: deployment_rows,
                commit_ranges: ranges,
                config_changes: config_rows,
                commits: commit_rows,
                commit_files: file_rows,
                incidents: vec![incident_row],
                decisions: vec![decision],
            },
            points,
            nodes,
            edges: edge_rows,
            documents,
            truth: Truth {
                service_key: truth_key,
                hypothesis_type: truth.hypothesis_type,
                culprits,
                notes: truth.notes,
            },
        })
    }
}

struct Builder<'a> {
    dir: &'a Path,
    services: HashMap<String, Service>,
}

impl Builder<'_> {
    fn service(&self, file: &str, field: &str, name: &str) -> Result<&Service, FixtureError> {
        self.services.get(name).ok_or_else(|| {
            FixtureError::invalid(&self.dir.join(file), format!("{field}: service '{name}' is not in services.json"))
        })
    }

    fn key(&self, file: &str, field: &str, name: &str) -> Result<String, FixtureError> {
        self.service(file, field, name).map(Service::service_key)
    }
}

fn read_metrics(path: &Path, b: &Builder<'_>) -> Result<Vec<MetricPoint>, FixtureError> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| FixtureError::invalid(path, e))?;
    let headers = reader.headers().map_err(|e| FixtureError::invalid(path, e))?.clone();
    for expected in ["ts", "service", "metric", "value"] {
        if !headers.iter().any(|h| h == expected) {
            return Err(FixtureError::invalid(path, format!("missing column '{expected}' in the header")));
        }
    }
    let mut keys: HashMap<String, String> = HashMap::new();
    let mut seen = BTreeSet::new();
    let mut points = Vec::new();
    for row in reader.deserialize::<MetricRow>() {
        let row = row.map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            FixtureError::Line { path: path.to_path_buf(), line, message: e.to_string() }
        })?;
        if !row.value.is_finite() {
            return Err(FixtureError::invalid(path, format!("value {} is not a finite number", row.value)));
        }
        let key = match keys.get(&row.service) {
            Some(k) => k.clone(),
            None => {
                let k = b.key("metrics.csv", "service", &row.service)?;
                keys.insert(row.service.clone(), k.clone());
                k
            }
        };
        seen.insert((key.clone(), row.metric.clone()));
        points.push(MetricPoint {
            ts: row.ts,
            service_key: key,
            metric_name: row.metric,
            value: row.value,
            labels: BTreeMap::new(),
        });
    }
    if points.is_empty() {
        return Err(FixtureError::invalid(path, "no metric points"));
    }
    Ok(points)
}

/// Split a unified diff into hunks; shared with the git feeds, which write the same chunks.
pub use inquest_feeds::commits::split_hunks;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_hunks_splits_at_hunk_headers() {
        let d = "@@ -1 +1 @@\n-a\n+b\n@@ -9 +9 @@\n-c\n+d\n";
        let h = split_hunks(d);
        assert_eq!(h.len(), 2);
        assert!(h[1].starts_with("@@ -9"));
    }
}
