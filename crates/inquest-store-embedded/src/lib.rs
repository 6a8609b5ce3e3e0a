//! The embedded default: all four ports in one `redb` file (or in memory), with
//! nothing to install. Rows are stored as JSON under typed keys; metrics are keyed
//! by `(service_key, metric_name, ts)` so window reads are range scans. The alert
//! intake's port (`EmbeddedIntakeStore`, `intake`) lives in a second file beside it,
//! the access port (`EmbeddedAccessStore`, `access`) in a third, follow-up tickets
//! (`EmbeddedTicketStore`, `tickets`), on-call schedules (`EmbeddedOncallStore`,
//! `oncall`) and notification channels with their deliveries (`EmbeddedNotifyStore`,
//! `notify`) in theirs.
//!
//! Every key leads with the project (`"{project}\u{1f}{id}"`; the first element of
//! a tuple key), and every read scans only its project's prefix, so two projects
//! may hold the same ids. A handle acts in one project (`scoped`). Files written
//! before projects existed (schema version 1) are migrated on open: their rows
//! are re-keyed into the `default` project.

use std::path::Path;
use std::sync::Arc;

use inquest_domain::ProjectId;
use inquest_ports::{ErrorKind, HashEmbedder, StoreError, Stores};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

pub mod access;
pub mod intake;
mod metrics;
mod migrate;
pub mod notify;
pub mod oncall;
pub mod ops;
mod records;
mod semantic;
pub mod tickets;
mod topology;

pub use access::EmbeddedAccessStore;
pub use intake::EmbeddedIntakeStore;
pub use notify::EmbeddedNotifyStore;
pub use oncall::EmbeddedOncallStore;
pub use ops::EmbeddedOpsStore;
pub use tickets::EmbeddedTicketStore;

/// Name reported as the backend of every port and used as evidence `source`.
pub const BACKEND: &str = "embedded";

/// Bumped when the layout of the file changes incompatibly. 2: keys lead with the project.
pub const SCHEMA_VERSION: u64 = 2;

type JsonTable = TableDefinition<'static, &'static str, &'static [u8]>;
type PairTable = TableDefinition<'static, (&'static str, &'static str), &'static [u8]>;

pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
pub(crate) const SERVICES: JsonTable = TableDefinition::new("services");
pub(crate) const DEPLOYMENTS: JsonTable = TableDefinition::new("deployment_events");
pub(crate) const COMMIT_RANGES: JsonTable = TableDefinition::new("deployment_commit_ranges");
pub(crate) const CONFIG_CHANGES: JsonTable = TableDefinition::new("config_change_events");
pub(crate) const COMMITS: JsonTable = TableDefinition::new("commits");
/// `(commit_sha, file id)`
pub(crate) const COMMIT_FILES: PairTable = TableDefinition::new("commit_files");
pub(crate) const INCIDENTS: JsonTable = TableDefinition::new("incidents");
/// `(incident_id, decision_id)`
pub(crate) const DECISIONS: PairTable = TableDefinition::new("incident_decisions");
/// `(incident_id, evidence_id)`
pub(crate) const EVIDENCE: PairTable = TableDefinition::new("evidence_artifacts");
/// `(incident_id, hypothesis_id)`
pub(crate) const HYPOTHESES: PairTable = TableDefinition::new("incident_hypotheses");
/// `(incident_id, "<created_at millis, zero-padded>/<report_id>")`
pub(crate) const REPORTS: PairTable = TableDefinition::new("incident_reports");
/// `(incident_id, "<created_at millis>/<feedback_event_id>")`
pub(crate) const FEEDBACK: PairTable = TableDefinition::new("feedback_events");
/// `(service_key, metric_name, ts millis)` -> `(value, labels json or "")`
pub(crate) const METRIC_POINTS: TableDefinition<(&str, &str, i64), (f64, &str)> = TableDefinition::new("metric_points");
/// `(incident_id, feature_name, ts millis, service_key)` -> value
pub(crate) const ANOMALY_FEATURES: TableDefinition<(&str, &str, i64, &str), f64> =
    TableDefinition::new("anomaly_features");
pub(crate) const NODES: JsonTable = TableDefinition::new("topology_nodes");
/// `(from, to)` of `DEPENDS_ON`
pub(crate) const EDGES: TableDefinition<(&str, &str), ()> = TableDefinition::new("depends_on");
/// `(service_key, deployment_event_id)` -> deployment JSON (`DEPLOYED_AS`)
pub(crate) const DEPLOYED_AS: PairTable = TableDefinition::new("deployed_as");
/// `(deployment_event_id, sha)` (`BUILT_FROM`)
pub(crate) const BUILT_FROM: TableDefinition<(&str, &str), ()> = TableDefinition::new("built_from");
/// `(sha, service_key)` (`TOUCHED`)
pub(crate) const TOUCHED: TableDefinition<(&str, &str), ()> = TableDefinition::new("touched");
/// collection -> dimension
pub(crate) const COLLECTIONS: TableDefinition<&str, u64> = TableDefinition::new("collections");
/// `(collection, point id)` -> point JSON
pub(crate) const VECTORS: PairTable = TableDefinition::new("vectors");
/// `(feed, delivery_id)` -> when it came and how many rows it wrote
pub(crate) const FEED_DELIVERIES: PairTable = TableDefinition::new("feed_deliveries");
/// `(feed, key)` -> the feed's state value
pub(crate) const FEED_STATE: PairTable = TableDefinition::new("feed_state");
/// `(from, to, source)` of `DEPENDS_ON`: who declared an edge; the source `""` marks
/// an edge written without one (`upsert_edges`), which `replace_source` never removes
pub(crate) const EDGE_SOURCES: TableDefinition<(&str, &str, &str), ()> = TableDefinition::new("depends_on_sources");
/// `(from, to)` of `DEPENDS_ON` -> `(calls, errors)` counted from traces
pub(crate) const EDGE_CALLS: TableDefinition<(&str, &str), (u64, u64)> = TableDefinition::new("depends_on_calls");

/// One embedded database serving every port, acting in one project.
#[derive(Clone)]
pub struct EmbeddedStore {
    db: Arc<Database>,
    project: ProjectId,
    /// Every point of the services read lately, decoded, shared by all handles.
    series: Arc<metrics::SeriesCache>,
}

/// Separates the project from the rest of a key.
pub(crate) const SEP: char = '\u{1f}';

/// The key of `id` in `project`.
pub(crate) fn pk(project: &str, id: &str) -> String {
    format!("{project}{SEP}{id}")
}

/// The project a key belongs to.
pub(crate) fn project_of(key: &str) -> &str {
    key.split_once(SEP).map_or(key, |(p, _)| p)
}

/// A key without its project.
pub(crate) fn strip(key: &str) -> &str {
    key.split_once(SEP).map_or(key, |(_, rest)| rest)
}

pub(crate) fn store_err(operation: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::new(ErrorKind::Internal, BACKEND, operation, e)
}

pub(crate) fn to_json<T: serde::Serialize>(operation: &str, value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| store_err(operation, e))
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(operation: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| store_err(operation, format!("corrupt row: {e}")))
}

/// Open (or create) the redb file at `path`, creating its folder: the embedded store's
/// and the intake's files alike.
pub(crate) fn create_database(path: &Path) -> Result<Database, StoreError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| {
            StoreError::new(ErrorKind::Unavailable, BACKEND, "open", format!("{}: {e}", parent.display()))
        })?;
    }
    Database::create(path)
        .map_err(|e| StoreError::new(ErrorKind::Unavailable, BACKEND, "open", format!("{}: {e}", path.display())))
}

impl EmbeddedStore {
    /// Open (or create) the store file at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::init(create_database(path)?)
    }

    /// A store that lives only in memory (evaluation, tests).
    pub fn in_memory() -> Result<Self, StoreError> {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(|e| store_err("open", e))?;
        Self::init(db)
    }

    fn init(db: Database) -> Result<Self, StoreError> {
        let op = "migrate";
        let txn = db.begin_write().map_err(|e| store_err(op, e))?;
        {
            let mut meta = txn.open_table(META).map_err(|e| store_err(op, e))?;
            let current = meta.get("schema_version").map_err(|e| store_err(op, e))?.map(|v| v.value());
            match current {
                Some(v) if v > SCHEMA_VERSION => {
                    return Err(StoreError::new(
                        ErrorKind::InvalidInput,
                        BACKEND,
                        op,
                        format!("store file has schema version {v}, this build knows up to {SCHEMA_VERSION}"),
                    ));
                }
                Some(1) => {
                    drop(meta);
                    migrate::v1_to_v2(&txn)?;
                    txn.open_table(META)
                        .map_err(|e| store_err(op, e))?
                        .insert("schema_version", SCHEMA_VERSION)
                        .map_err(|e| store_err(op, e))?;
                }
                _ => {
                    meta.insert("schema_version", SCHEMA_VERSION).map_err(|e| store_err(op, e))?;
                }
            }
            macro_rules! create {
                ($($t:expr),+) => { $( txn.open_table($t).map_err(|e| store_err(op, e))?; )+ };
            }
            create!(SERVICES, DEPLOYMENTS, COMMIT_RANGES, CONFIG_CHANGES, COMMITS, INCIDENTS, NODES);
            create!(COMMIT_FILES, DECISIONS, EVIDENCE, HYPOTHESES, REPORTS, FEEDBACK, DEPLOYED_AS, VECTORS);
            create!(METRIC_POINTS, ANOMALY_FEATURES, EDGES, BUILT_FROM, TOUCHED, COLLECTIONS);
            create!(FEED_DELIVERIES, FEED_STATE, EDGE_SOURCES);
            create!(EDGE_CALLS);
        }
        txn.commit().map_err(|e| store_err(op, e))?;
        Ok(Self { db: Arc::new(db), project: ProjectId::default_project(), series: Arc::default() })
    }

    /// The same database acting in `project`.
    pub fn in_project(&self, project: &ProjectId) -> EmbeddedStore {
        EmbeddedStore { db: self.db.clone(), project: project.clone(), series: self.series.clone() }
    }

    /// The same database without the decoded-series cache: every metrics read decodes
    /// the table (benchmarks measure the cache against it).
    pub fn without_series_cache(&self) -> EmbeddedStore {
        EmbeddedStore {
            db: self.db.clone(),
            project: self.project.clone(),
            series: Arc::new(metrics::SeriesCache::off()),
        }
    }

    /// The project this handle acts in.
    pub fn project_id(&self) -> &ProjectId {
        &self.project
    }

    /// The key of `id` in this handle's project.
    pub(crate) fn key(&self, id: &str) -> String {
        pk(self.project.as_str(), id)
    }

    /// The schema version recorded in the file.
    pub fn schema_version(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(|e| store_err("schema_version", e))?;
        let meta = txn.open_table(META).map_err(|e| store_err("schema_version", e))?;
        Ok(meta.get("schema_version").map_err(|e| store_err("schema_version", e))?.map(|v| v.value()).unwrap_or(0))
    }

    /// All four ports on this store (in its project), with the deterministic hash embedder.
    pub fn stores(&self) -> Stores {
        let this = Arc::new(self.clone());
        Stores {
            records: this.clone(),
            metrics: this.clone(),
            topology: this.clone(),
            semantic: this,
            embedder: Arc::new(HashEmbedder::default()),
        }
    }

    pub(crate) fn db(&self) -> &Database {
        &self.db
    }

    pub(crate) fn check(&self) -> Result<(), StoreError> {
        self.db
            .begin_read()
            .map(|_| ())
            .map_err(|e| StoreError::new(ErrorKind::Unavailable, BACKEND, "check_connectivity", e))
    }
}

/// Upper bound for a `&str` range over keys that start with a given first element.
pub(crate) const MAX_STR: &str = "\u{10FFFF}";

/// Zero-padded millisecond timestamps sort lexicographically in time order.
pub(crate) fn sortable_millis(ts: chrono::DateTime<chrono::Utc>) -> String {
    format!("{:020}", ts.timestamp_millis().max(0))
}
