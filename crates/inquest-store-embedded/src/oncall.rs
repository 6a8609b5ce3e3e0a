//! `EmbeddedOncallStore`: on-call schedules and assignments on their own `redb` file
//! (`<data dir>/oncall.redb`; redb allows one handle per file). Rows are JSON keyed
//! `(project_id, id)`, so every read scans only its project's prefix. A schedule holds
//! its overrides; a soft-deleted schedule stays with its `deleted_at` and is skipped by
//! every read. Each write is one transaction that reads what it changes.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use inquest_domain::{IncidentId, ProjectId, Timestamp};
use inquest_ops::oncall::{Assignment, OncallStore, Override, Schedule};
use inquest_ports::{ErrorKind, StoreError, StoreResult};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::{BACKEND, MAX_STR, from_json, store_err, to_json};

type PairJson = TableDefinition<'static, (&'static str, &'static str), &'static [u8]>;

const META: TableDefinition<&str, u64> = TableDefinition::new("oncall_meta");
/// `(project_id, schedule_id)` -> `Schedule` (with its overrides)
const SCHEDULES: PairJson = TableDefinition::new("oncall_schedules");
/// `(project_id, incident_id)` -> `Assignment`
const ASSIGNMENTS: PairJson = TableDefinition::new("oncall_assignments");

/// Bumped when the layout of the file changes incompatibly.
pub const ONCALL_SCHEMA_VERSION: u64 = 1;

/// On-call schedules and assignments on an embedded `redb` file (or in memory).
#[derive(Clone)]
pub struct EmbeddedOncallStore {
    db: Arc<Database>,
}

impl EmbeddedOncallStore {
    /// Open (or create) the file at `path`.
    pub fn open(path: &Path) -> StoreResult<Self> {
        Self::init(crate::create_database(path)?)
    }

    /// A store that lives only in memory (tests).
    pub fn in_memory() -> StoreResult<Self> {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(|e| store_err("open", e))?;
        Self::init(db)
    }

    fn init(db: Database) -> StoreResult<Self> {
        let op = "migrate";
        let txn = db.begin_write().map_err(|e| store_err(op, e))?;
        {
            let mut meta = txn.open_table(META).map_err(|e| store_err(op, e))?;
            let current = meta.get("schema_version").map_err(|e| store_err(op, e))?.map(|v| v.value());
            if let Some(v) = current.filter(|v| *v > ONCALL_SCHEMA_VERSION) {
                return Err(StoreError::new(
                    ErrorKind::InvalidInput,
                    BACKEND,
                    op,
                    format!("on-call file has schema version {v}, this build knows up to {ONCALL_SCHEMA_VERSION}"),
                ));
            }
            meta.insert("schema_version", ONCALL_SCHEMA_VERSION).map_err(|e| store_err(op, e))?;
            txn.open_table(SCHEDULES).map_err(|e| store_err(op, e))?;
            txn.open_table(ASSIGNMENTS).map_err(|e| store_err(op, e))?;
        }
        txn.commit().map_err(|e| store_err(op, e))?;
        Ok(Self { db: Arc::new(db) })
    }

    /// The schema version recorded in the file.
    pub fn schema_version(&self) -> StoreResult<u64> {
        let op = "schema_version";
        let txn = self.db.begin_read().map_err(|e| store_err(op, e))?;
        let meta = txn.open_table(META).map_err(|e| store_err(op, e))?;
        Ok(meta.get("schema_version").map_err(|e| store_err(op, e))?.map(|v| v.value()).unwrap_or(0))
    }

    /// Reads the schedule, lets `change` alter it, writes it back: one transaction.
    /// `change` returns `None` to leave it as it was.
    fn update(
        &self,
        key: (&str, &str),
        op: &str,
        change: impl FnOnce(Option<Schedule>) -> StoreResult<Option<Schedule>>,
    ) -> StoreResult<bool> {
        let txn = self.db.begin_write().map_err(|e| store_err(op, e))?;
        let written = {
            let mut t = txn.open_table(SCHEDULES).map_err(|e| store_err(op, e))?;
            let current: Option<Schedule> = match t.get(key).map_err(|e| store_err(op, e))? {
                Some(v) => Some(from_json(op, v.value())?),
                None => None,
            };
            match change(current)? {
                Some(row) => {
                    let bytes = to_json(op, &row)?;
                    t.insert(key, bytes.as_slice()).map_err(|e| store_err(op, e))?;
                    true
                }
                None => false,
            }
        };
        txn.commit().map_err(|e| store_err(op, e))?;
        Ok(written)
    }

    fn rows<T: DeserializeOwned>(&self, table: PairJson, project: &ProjectId, op: &str) -> StoreResult<Vec<T>> {
        let txn = self.db.begin_read().map_err(|e| store_err(op, e))?;
        let t = txn.open_table(table).map_err(|e| store_err(op, e))?;
        let mut out = Vec::new();
        for row in t.range((project.as_str(), "")..=(project.as_str(), MAX_STR)).map_err(|e| store_err(op, e))? {
            let (_, v) = row.map_err(|e| store_err(op, e))?;
            out.push(from_json(op, v.value())?);
        }
        Ok(out)
    }

    fn row<T: DeserializeOwned>(
        &self,
        table: PairJson,
        project: &ProjectId,
        id: &str,
        op: &str,
    ) -> StoreResult<Option<T>> {
        let txn = self.db.begin_read().map_err(|e| store_err(op, e))?;
        let t = txn.open_table(table).map_err(|e| store_err(op, e))?;
        match t.get((project.as_str(), id)).map_err(|e| store_err(op, e))? {
            Some(v) => Ok(Some(from_json(op, v.value())?)),
            None => Ok(None),
        }
    }
}

#[async_trait]
impl OncallStore for EmbeddedOncallStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn check_connectivity(&self) -> StoreResult<()> {
        self.db
            .begin_read()
            .map(|_| ())
            .map_err(|e| StoreError::new(ErrorKind::Unavailable, BACKEND, "check_connectivity", e))
    }

    async fn put_schedule(&self, schedule: &Schedule) -> StoreResult<()> {
        let op = "put_schedule";
        let (project, id) = (schedule.project_id.to_string(), schedule.schedule_id.to_string());
        let mut new = schedule.clone();
        self.update((&project, &id), op, |current| match current {
            Some(c) if c.deleted_at.is_some() => {
                Err(StoreError::new(ErrorKind::NotFound, BACKEND, op, format!("schedule {id} was deleted")))
            }
            Some(c) => {
                // The overrides are added on their own; a replaced definition keeps them.
                new.overrides = c.overrides;
                new.created_at = c.created_at;
                new.deleted_at = None;
                Ok(Some(new))
            }
            None => {
                new.deleted_at = None;
                Ok(Some(new))
            }
        })
        .map(|_| ())
    }

    async fn get_schedule(&self, project: &ProjectId, id: Uuid) -> StoreResult<Option<Schedule>> {
        let s: Option<Schedule> = self.row(SCHEDULES, project, &id.to_string(), "get_schedule")?;
        Ok(s.filter(|s| s.deleted_at.is_none()))
    }

    async fn list_schedules(&self, project: &ProjectId) -> StoreResult<Vec<Schedule>> {
        let mut out: Vec<Schedule> = self.rows(SCHEDULES, project, "list_schedules")?;
        out.retain(|s| s.deleted_at.is_none());
        out.sort_by_key(|s| (s.created_at, s.schedule_id));
        Ok(out)
    }

    async fn delete_schedule(&self, project: &ProjectId, id: Uuid, at: Timestamp) -> StoreResult<bool> {
        let id = id.to_string();
        self.update((project.as_str(), &id), "delete_schedule", |current| {
            Ok(current.filter(|c| c.deleted_at.is_none()).map(|mut c| {
                c.deleted_at = Some(at);
                c
            }))
        })
    }

    async fn add_override(&self, project: &ProjectId, schedule: Uuid, o: &Override) -> StoreResult<bool> {
        let id = schedule.to_string();
        self.update((project.as_str(), &id), "add_override", |current| {
            Ok(current.filter(|c| c.deleted_at.is_none()).map(|mut c| {
                c.overrides.push(o.clone());
                c
            }))
        })
    }

    async fn get_assignment(&self, project: &ProjectId, incident: IncidentId) -> StoreResult<Option<Assignment>> {
        self.row(ASSIGNMENTS, project, &incident.to_string(), "get_assignment")
    }

    async fn put_assignment(&self, a: &Assignment) -> StoreResult<()> {
        let op = "put_assignment";
        let txn = self.db.begin_write().map_err(|e| store_err(op, e))?;
        {
            let mut t = txn.open_table(ASSIGNMENTS).map_err(|e| store_err(op, e))?;
            let bytes = to_json(op, a)?;
            let id = a.incident_id.to_string();
            t.insert((a.project_id.as_str(), id.as_str()), bytes.as_slice()).map_err(|e| store_err(op, e))?;
        }
        txn.commit().map_err(|e| store_err(op, e))
    }

    async fn list_assignments(&self, project: &ProjectId) -> StoreResult<Vec<Assignment>> {
        let mut out: Vec<Assignment> = self.rows(ASSIGNMENTS, project, "list_assignments")?;
        out.sort_by_key(|a| (a.assigned_at, a.incident_id));
        Ok(out)
    }
}
