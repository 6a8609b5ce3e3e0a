//! `EmbeddedOpsStore`: SLOs and invariants on their own `redb` file
//! (`<data dir>/ops.redb`; redb allows one handle per file). Rows are JSON keyed
//! `(project_id, id)`, so every read scans only its project's prefix; a soft-deleted
//! row stays with its `deleted_at` and is skipped by every read.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use inquest_domain::{ProjectId, Timestamp};
use inquest_ops::{Invariant, InvariantResult, OpsStore, Slo, SloStatus};
use inquest_ports::{ErrorKind, StoreError, StoreResult};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::{BACKEND, MAX_STR, from_json, store_err, to_json};

type PairJson = TableDefinition<'static, (&'static str, &'static str), &'static [u8]>;

const META: TableDefinition<&str, u64> = TableDefinition::new("ops_meta");
/// `(project_id, slo_id)` -> `Slo`
const SLOS: PairJson = TableDefinition::new("slos");
/// `(project_id, invariant_id)` -> `Invariant`
const INVARIANTS: PairJson = TableDefinition::new("invariants");

/// Bumped when the layout of the file changes incompatibly.
pub const OPS_SCHEMA_VERSION: u64 = 1;

/// SLOs and invariants on an embedded `redb` file (or in memory).
#[derive(Clone)]
pub struct EmbeddedOpsStore {
    db: Arc<Database>,
}

/// What both kinds of row share.
trait Row: Serialize + DeserializeOwned {
    type Last: Clone;
    fn key(&self) -> (String, String);
    fn deleted_at(&self) -> Option<Timestamp>;
    fn delete(&mut self, at: Timestamp);
    fn last(&self) -> Option<Self::Last>;
    fn set_last(&mut self, last: Option<Self::Last>);
    fn created_at(&self) -> Timestamp;
}

impl Row for Slo {
    type Last = SloStatus;
    fn key(&self) -> (String, String) {
        (self.project_id.to_string(), self.slo_id.to_string())
    }
    fn deleted_at(&self) -> Option<Timestamp> {
        self.deleted_at
    }
    fn delete(&mut self, at: Timestamp) {
        self.deleted_at = Some(at);
    }
    fn last(&self) -> Option<SloStatus> {
        self.last.clone()
    }
    fn set_last(&mut self, last: Option<SloStatus>) {
        self.last = last;
    }
    fn created_at(&self) -> Timestamp {
        self.created_at
    }
}

impl Row for Invariant {
    type Last = InvariantResult;
    fn key(&self) -> (String, String) {
        (self.project_id.to_string(), self.invariant_id.to_string())
    }
    fn deleted_at(&self) -> Option<Timestamp> {
        self.deleted_at
    }
    fn delete(&mut self, at: Timestamp) {
        self.deleted_at = Some(at);
    }
    fn last(&self) -> Option<InvariantResult> {
        self.last.clone()
    }
    fn set_last(&mut self, last: Option<InvariantResult>) {
        self.last = last;
    }
    fn created_at(&self) -> Timestamp {
        self.created_at
    }
}

impl EmbeddedOpsStore {
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
            if let Some(v) = current.filter(|v| *v > OPS_SCHEMA_VERSION) {
                return Err(StoreError::new(
                    ErrorKind::InvalidInput,
                    BACKEND,
                    op,
                    format!("ops file has schema version {v}, this build knows up to {OPS_SCHEMA_VERSION}"),
                ));
            }
            meta.insert("schema_version", OPS_SCHEMA_VERSION).map_err(|e| store_err(op, e))?;
            txn.open_table(SLOS).map_err(|e| store_err(op, e))?;
            txn.open_table(INVARIANTS).map_err(|e| store_err(op, e))?;
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

    /// Reads the row, lets `change` alter it, writes it back: one transaction.
    /// `change` returns false to leave the row as it was.
    fn update<T: Row>(
        &self,
        table: PairJson,
        key: (&str, &str),
        op: &str,
        change: impl FnOnce(Option<T>) -> StoreResult<Option<T>>,
    ) -> StoreResult<bool> {
        let txn = self.db.begin_write().map_err(|e| store_err(op, e))?;
        let written = {
            let mut t = txn.open_table(table).map_err(|e| store_err(op, e))?;
            let current: Option<T> = match t.get(key).map_err(|e| store_err(op, e))? {
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

    fn put<T: Row>(&self, table: PairJson, row: &T, op: &str) -> StoreResult<()> {
        let (project, id) = row.key();
        let mut new: T = from_json(op, &to_json(op, row)?)?;
        self.update::<T>(table, (&project, &id), op, |current| match current {
            Some(c) if c.deleted_at().is_some() => {
                Err(StoreError::new(ErrorKind::NotFound, BACKEND, op, format!("{id} was deleted")))
            }
            // The definition changes; the last evaluation is the evaluator's.
            Some(c) => {
                new.set_last(c.last());
                Ok(Some(new))
            }
            None => {
                new.set_last(None);
                Ok(Some(new))
            }
        })
        .map(|_| ())
    }

    fn get<T: Row>(&self, table: PairJson, project: &ProjectId, id: Uuid, op: &str) -> StoreResult<Option<T>> {
        let txn = self.db.begin_read().map_err(|e| store_err(op, e))?;
        let t = txn.open_table(table).map_err(|e| store_err(op, e))?;
        let id = id.to_string();
        match t.get((project.as_str(), id.as_str())).map_err(|e| store_err(op, e))? {
            Some(v) => Ok(Some(from_json::<T>(op, v.value())?).filter(|r| r.deleted_at().is_none())),
            None => Ok(None),
        }
    }

    fn list<T: Row>(&self, table: PairJson, project: &ProjectId, op: &str) -> StoreResult<Vec<T>> {
        let txn = self.db.begin_read().map_err(|e| store_err(op, e))?;
        let t = txn.open_table(table).map_err(|e| store_err(op, e))?;
        let mut out = Vec::new();
        for row in t.range((project.as_str(), "")..=(project.as_str(), MAX_STR)).map_err(|e| store_err(op, e))? {
            let (_, v) = row.map_err(|e| store_err(op, e))?;
            let r: T = from_json(op, v.value())?;
            if r.deleted_at().is_none() {
                out.push(r);
            }
        }
        out.sort_by_key(|r| r.created_at());
        Ok(out)
    }

    fn soft_delete<T: Row>(
        &self,
        table: PairJson,
        project: &ProjectId,
        id: Uuid,
        at: Timestamp,
        op: &str,
    ) -> StoreResult<bool> {
        let id = id.to_string();
        self.update::<T>(table, (project.as_str(), &id), op, |current| {
            Ok(current.filter(|c| c.deleted_at().is_none()).map(|mut c| {
                c.delete(at);
                c
            }))
        })
    }

    fn record<T: Row>(
        &self,
        table: PairJson,
        project: &ProjectId,
        id: Uuid,
        last: &T::Last,
        op: &str,
    ) -> StoreResult<bool> {
        let id = id.to_string();
        self.update::<T>(table, (project.as_str(), &id), op, |current| {
            Ok(current.filter(|c| c.deleted_at().is_none()).map(|mut c| {
                c.set_last(Some(last.clone()));
                c
            }))
        })
    }
}

#[async_trait]
impl OpsStore for EmbeddedOpsStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn check_connectivity(&self) -> StoreResult<()> {
        self.db
            .begin_read()
            .map(|_| ())
            .map_err(|e| StoreError::new(ErrorKind::Unavailable, BACKEND, "check_connectivity", e))
    }

    async fn put_slo(&self, slo: &Slo) -> StoreResult<()> {
        self.put(SLOS, slo, "put_slo")
    }

    async fn get_slo(&self, project: &ProjectId, id: Uuid) -> StoreResult<Option<Slo>> {
        self.get(SLOS, project, id, "get_slo")
    }

    async fn list_slos(&self, project: &ProjectId) -> StoreResult<Vec<Slo>> {
        self.list(SLOS, project, "list_slos")
    }

    async fn delete_slo(&self, project: &ProjectId, id: Uuid, at: Timestamp) -> StoreResult<bool> {
        self.soft_delete::<Slo>(SLOS, project, id, at, "delete_slo")
    }

    async fn record_slo(&self, project: &ProjectId, id: Uuid, status: &SloStatus) -> StoreResult<bool> {
        self.record::<Slo>(SLOS, project, id, status, "record_slo")
    }

    async fn put_invariant(&self, inv: &Invariant) -> StoreResult<()> {
        self.put(INVARIANTS, inv, "put_invariant")
    }

    async fn get_invariant(&self, project: &ProjectId, id: Uuid) -> StoreResult<Option<Invariant>> {
        self.get(INVARIANTS, project, id, "get_invariant")
    }

    async fn list_invariants(&self, project: &ProjectId) -> StoreResult<Vec<Invariant>> {
        self.list(INVARIANTS, project, "list_invariants")
    }

    async fn delete_invariant(&self, project: &ProjectId, id: Uuid, at: Timestamp) -> StoreResult<bool> {
        self.soft_delete::<Invariant>(INVARIANTS, project, id, at, "delete_invariant")
    }

    async fn record_invariant(&self, project: &ProjectId, id: Uuid, result: &InvariantResult) -> StoreResult<bool> {
        self.record::<Invariant>(INVARIANTS, project, id, result, "record_invariant")
    }
}
