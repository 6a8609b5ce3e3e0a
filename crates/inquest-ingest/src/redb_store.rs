//! `IngestStore` on an embedded `redb` file (`<data dir>/ingest.redb`, next to the
//! records file `inquest.redb`). Every write is one serialised transaction, so
//! correlation and job leasing are atomic; redb commits are durable (fsync) before
//! the call returns. One process opens the file at a time (redb locks it).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use inquest_domain::{IncidentId, IncidentStatus, Timestamp};
use inquest_ports::{ErrorKind, StoreError, StoreResult};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::correlate::{Outcome, Snapshot, StoredAlert, correlate};
use crate::lifecycle::{Action, IncidentState, Note};
use crate::model::Alert;
use crate::policy::Policy;
use crate::store::{Applied, IngestStore, Job, JobState, LifecycleError, Pending};

pub const BACKEND: &str = "embedded";

type Json = TableDefinition<'static, &'static str, &'static [u8]>;
const META: TableDefinition<&str, u64> = TableDefinition::new("ingest_meta");
/// alert_id -> `StoredAlert`
const ALERTS: Json = TableDefinition::new("alerts");
/// fingerprint -> alert_id of its latest row
const FINGERPRINTS: TableDefinition<&str, &str> = TableDefinition::new("alert_fingerprints");
/// `(incident_id, alert_id)`
const INCIDENT_ALERTS: TableDefinition<(&str, &str), ()> = TableDefinition::new("incident_alerts");
/// incident_id -> `IncidentState`
const INCIDENTS: Json = TableDefinition::new("ingest_incidents");
/// service -> incident_id of its latest active incident
const ACTIVE: TableDefinition<&str, &str> = TableDefinition::new("active_incidents");
/// status -> count
const COUNTS: TableDefinition<&str, u64> = TableDefinition::new("incident_counts");
/// incident_id -> outbox version (incident to write to the records store)
const OUTBOX: TableDefinition<&str, u64> = TableDefinition::new("records_outbox");
/// job_id -> `Job`
const JOBS: Json = TableDefinition::new("investigation_jobs");
/// job_id of every job not yet succeeded or failed
const PENDING_JOBS: TableDefinition<&str, ()> = TableDefinition::new("pending_jobs");

fn err(op: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::new(ErrorKind::Internal, BACKEND, op, e)
}

fn enc<T: Serialize>(op: &str, v: &T) -> StoreResult<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| err(op, e))
}

fn dec<T: DeserializeOwned>(op: &str, b: &[u8]) -> StoreResult<T> {
    serde_json::from_slice(b).map_err(|e| err(op, format!("corrupt row: {e}")))
}

fn get_json<T: DeserializeOwned>(t: &impl ReadableTable<&'static str, &'static [u8]>, key: &str, op: &str) -> StoreResult<Option<T>> {
    match t.get(key).map_err(|e| err(op, e))? {
        Some(v) => Ok(Some(dec(op, v.value())?)),
        None => Ok(None),
    }
}

fn get_str(t: &impl ReadableTable<&'static str, &'static str>, key: &str, op: &str) -> StoreResult<Option<String>> {
    Ok(t.get(key).map_err(|e| err(op, e))?.map(|v| v.value().to_string()))
}

#[derive(Clone)]
pub struct RedbIngestStore {
    db: Arc<Database>,
}

impl RedbIngestStore {
    pub fn open(path: &Path) -> StoreResult<Self> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::new(ErrorKind::Unavailable, BACKEND, "open", format!("{}: {e}", parent.display())))?;
        }
        let db = Database::create(path)
            .map_err(|e| StoreError::new(ErrorKind::Unavailable, BACKEND, "open", format!("{}: {e}", path.display())))?;
        Self::init(db)
    }

    pub fn in_memory() -> StoreResult<Self> {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(|e| err("open", e))?;
        Self::init(db)
    }

    fn init(db: Database) -> StoreResult<Self> {
        let op = "migrate";
        let txn = db.begin_write().map_err(|e| err(op, e))?;
        {
            txn.open_table(META).map_err(|e| err(op, e))?;
            txn.open_table(ALERTS).map_err(|e| err(op, e))?;
            txn.open_table(FINGERPRINTS).map_err(|e| err(op, e))?;
            txn.open_table(INCIDENT_ALERTS).map_err(|e| err(op, e))?;
            txn.open_table(INCIDENTS).map_err(|e| err(op, e))?;
            txn.open_table(ACTIVE).map_err(|e| err(op, e))?;
            txn.open_table(COUNTS).map_err(|e| err(op, e))?;
            txn.open_table(OUTBOX).map_err(|e| err(op, e))?;
            txn.open_table(JOBS).map_err(|e| err(op, e))?;
            txn.open_table(PENDING_JOBS).map_err(|e| err(op, e))?;
        }
        txn.commit().map_err(|e| err(op, e))?;
        Ok(Self { db: Arc::new(db) })
    }

    fn write<R>(&self, op: &str, f: impl FnOnce(&WriteTransaction) -> StoreResult<R>) -> StoreResult<R> {
        let txn = self.db.begin_write().map_err(|e| err(op, e))?;
        let r = f(&txn)?;
        txn.commit().map_err(|e| err(op, e))?;
        Ok(r)
    }

    /// Store an incident: status counts, outbox, and the service's active pointer.
    fn put_incident(txn: &WriteTransaction, inc: &IncidentState, new_incident: bool, op: &str) -> StoreResult<()> {
        let id = inc.incident_id.to_string();
        let mut incidents = txn.open_table(INCIDENTS).map_err(|e| err(op, e))?;
        let old: Option<IncidentState> = get_json(&incidents, &id, op)?;
        incidents.insert(id.as_str(), enc(op, inc)?.as_slice()).map_err(|e| err(op, e))?;
        let mut counts = txn.open_table(COUNTS).map_err(|e| err(op, e))?;
        let old_status = old.as_ref().map(|o| o.status);
        if old_status != Some(inc.status) {
            if let Some(s) = old_status {
                let n = counts.get(s.as_str()).map_err(|e| err(op, e))?.map(|v| v.value()).unwrap_or(0);
                counts.insert(s.as_str(), n.saturating_sub(1)).map_err(|e| err(op, e))?;
            }
            let n = counts.get(inc.status.as_str()).map_err(|e| err(op, e))?.map(|v| v.value()).unwrap_or(0);
            counts.insert(inc.status.as_str(), n + 1).map_err(|e| err(op, e))?;
        }
        let mut meta = txn.open_table(META).map_err(|e| err(op, e))?;
        let seq = meta.get("outbox_seq").map_err(|e| err(op, e))?.map(|v| v.value()).unwrap_or(0) + 1;
        meta.insert("outbox_seq", seq).map_err(|e| err(op, e))?;
        txn.open_table(OUTBOX).map_err(|e| err(op, e))?.insert(id.as_str(), seq).map_err(|e| err(op, e))?;
        let mut active = txn.open_table(ACTIVE).map_err(|e| err(op, e))?;
        if new_incident {
            active.insert(inc.service.as_str(), id.as_str()).map_err(|e| err(op, e))?;
        } else if !inc.is_active() && get_str(&active, &inc.service, op)?.as_deref() == Some(id.as_str()) {
            active.remove(inc.service.as_str()).map_err(|e| err(op, e))?;
        }
        Ok(())
    }

    fn update_job(&self, op: &str, job_id: Uuid, f: impl FnOnce(&mut Job) -> bool) -> StoreResult<bool> {
        self.write(op, |txn| {
            let key = job_id.to_string();
            let mut jobs = txn.open_table(JOBS).map_err(|e| err(op, e))?;
            let Some(mut job): Option<Job> = get_json(&jobs, &key, op)? else {
                return Ok(false);
            };
            if !f(&mut job) {
                return Ok(false);
            }
            jobs.insert(key.as_str(), enc(op, &job)?.as_slice()).map_err(|e| err(op, e))?;
            if matches!(job.state, JobState::Succeeded | JobState::Failed) {
                txn.open_table(PENDING_JOBS).map_err(|e| err(op, e))?.remove(key.as_str()).map_err(|e| err(op, e))?;
            }
            Ok(true)
        })
    }
}

#[async_trait]
impl IngestStore for RedbIngestStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn check_connectivity(&self) -> StoreResult<()> {
        self.db
            .begin_read()
            .map(|_| ())
            .map_err(|e| StoreError::new(ErrorKind::Unavailable, BACKEND, "check_connectivity", e))
    }

    async fn ingest(&self, batch: &[Alert], policy: &Policy, now: Timestamp) -> StoreResult<Vec<Applied>> {
        let op = "ingest";
        self.write(op, |txn| {
            let mut out = Vec::with_capacity(batch.len());
            for alert in batch {
                let existing = {
                    let fps = txn.open_table(FINGERPRINTS).map_err(|e| err(op, e))?;
                    let alerts = txn.open_table(ALERTS).map_err(|e| err(op, e))?;
                    let incidents = txn.open_table(INCIDENTS).map_err(|e| err(op, e))?;
                    match get_str(&fps, &alert.fingerprint, op)? {
                        Some(id) => match get_json::<StoredAlert>(&alerts, &id, op)? {
                            Some(stored) => {
                                let inc = match stored.incident_id {
                                    Some(i) => get_json::<IncidentState>(&incidents, &i.to_string(), op)?,
                                    None => None,
                                };
                                Some((stored, inc))
                            }
                            None => None,
                        },
                        None => None,
                    }
                };
                let active = {
                    let act = txn.open_table(ACTIVE).map_err(|e| err(op, e))?;
                    let incidents = txn.open_table(INCIDENTS).map_err(|e| err(op, e))?;
                    match get_str(&act, &alert.service, op)? {
                        Some(id) => get_json::<IncidentState>(&incidents, &id, op)?,
                        None => None,
                    }
                };
                let plan = correlate(Snapshot { existing, active }, alert.clone(), policy, now);
                let alert_id = plan.alert.alert_id.to_string();
                txn.open_table(ALERTS)
                    .map_err(|e| err(op, e))?
                    .insert(alert_id.as_str(), enc(op, &plan.alert)?.as_slice())
                    .map_err(|e| err(op, e))?;
                txn.open_table(FINGERPRINTS)
                    .map_err(|e| err(op, e))?
                    .insert(alert.fingerprint.as_str(), alert_id.as_str())
                    .map_err(|e| err(op, e))?;
                if let Some(i) = plan.alert.incident_id {
                    let i = i.to_string();
                    txn.open_table(INCIDENT_ALERTS)
                        .map_err(|e| err(op, e))?
                        .insert((i.as_str(), alert_id.as_str()), ())
                        .map_err(|e| err(op, e))?;
                }
                let mut resolved_after_seconds = None;
                if let Some(inc) = &plan.incident {
                    Self::put_incident(txn, inc, plan.new_incident, op)?;
                    if plan.outcome == Outcome::Resolved {
                        resolved_after_seconds = inc.time_to_resolve().map(|d| d.num_milliseconds() as f64 / 1000.0);
                    }
                }
                if let (Some(job_id), Some(inc)) = (plan.enqueue_job, &plan.incident) {
                    let key = job_id.to_string();
                    let mut jobs = txn.open_table(JOBS).map_err(|e| err(op, e))?;
                    if jobs.get(key.as_str()).map_err(|e| err(op, e))?.is_none() {
                        let job = Job::new(job_id, inc.incident_id, now);
                        jobs.insert(key.as_str(), enc(op, &job)?.as_slice()).map_err(|e| err(op, e))?;
                        txn.open_table(PENDING_JOBS).map_err(|e| err(op, e))?.insert(key.as_str(), ()).map_err(|e| err(op, e))?;
                    }
                }
                out.push(Applied {
                    alert_id: plan.alert.alert_id,
                    fingerprint: alert.fingerprint.clone(),
                    incident_id: plan.alert.incident_id,
                    outcome: plan.outcome,
                    job_id: plan.enqueue_job,
                    resolved_after_seconds,
                });
            }
            Ok(out)
        })
    }

    async fn get_incident(&self, id: IncidentId) -> StoreResult<Option<IncidentState>> {
        let op = "get_incident";
        let txn = self.db.begin_read().map_err(|e| err(op, e))?;
        let t = txn.open_table(INCIDENTS).map_err(|e| err(op, e))?;
        get_json(&t, &id.to_string(), op)
    }

    async fn list_incidents(&self) -> StoreResult<Vec<IncidentState>> {
        let op = "list_incidents";
        let txn = self.db.begin_read().map_err(|e| err(op, e))?;
        let t = txn.open_table(INCIDENTS).map_err(|e| err(op, e))?;
        let mut out: Vec<IncidentState> = Vec::new();
        for row in t.iter().map_err(|e| err(op, e))? {
            let (_, v) = row.map_err(|e| err(op, e))?;
            out.push(dec(op, v.value())?);
        }
        out.sort_by_key(|i| std::cmp::Reverse(i.created_at));
        Ok(out)
    }

    async fn incident_counts(&self) -> StoreResult<BTreeMap<String, u64>> {
        let op = "incident_counts";
        let txn = self.db.begin_read().map_err(|e| err(op, e))?;
        let t = txn.open_table(COUNTS).map_err(|e| err(op, e))?;
        let mut out = BTreeMap::new();
        for s in [IncidentStatus::Open, IncidentStatus::Triaged, IncidentStatus::Resolved, IncidentStatus::Suppressed] {
            out.insert(s.as_str().to_string(), t.get(s.as_str()).map_err(|e| err(op, e))?.map(|v| v.value()).unwrap_or(0));
        }
        Ok(out)
    }

    async fn alerts_of(&self, incident: IncidentId) -> StoreResult<Vec<StoredAlert>> {
        let op = "alerts_of";
        let txn = self.db.begin_read().map_err(|e| err(op, e))?;
        let links = txn.open_table(INCIDENT_ALERTS).map_err(|e| err(op, e))?;
        let alerts = txn.open_table(ALERTS).map_err(|e| err(op, e))?;
        let id = incident.to_string();
        let mut out: Vec<StoredAlert> = Vec::new();
        for row in links.range((id.as_str(), "")..=(id.as_str(), "\u{10FFFF}")).map_err(|e| err(op, e))? {
            let (k, _) = row.map_err(|e| err(op, e))?;
            let (_, alert_id) = k.value();
            if let Some(a) = get_json(&alerts, alert_id, op)? {
                out.push(a);
            }
        }
        out.sort_by_key(|a| a.first_received_at);
        Ok(out)
    }

    async fn alert_count(&self) -> StoreResult<u64> {
        let op = "alert_count";
        let txn = self.db.begin_read().map_err(|e| err(op, e))?;
        txn.open_table(ALERTS).map_err(|e| err(op, e))?.len().map_err(|e| err(op, e))
    }

    async fn transition(
        &self,
        id: IncidentId,
        action: Action,
        actor: &str,
        reason: Option<String>,
        now: Timestamp,
    ) -> Result<IncidentState, LifecycleError> {
        let op = "transition";
        let txn = self.db.begin_write().map_err(|e| err(op, e))?;
        let mut inc: IncidentState = {
            let t = txn.open_table(INCIDENTS).map_err(|e| err(op, e))?;
            get_json(&t, &id.to_string(), op)?.ok_or(LifecycleError::NotFound(id))?
        };
        inc.apply(action, actor, reason, now)?;
        // Reopening makes it the service's active incident again.
        Self::put_incident(&txn, &inc, action == Action::Reopen, op)?;
        txn.commit().map_err(|e| err(op, e))?;
        Ok(inc)
    }

    async fn add_note(&self, id: IncidentId, note: Note) -> Result<IncidentState, LifecycleError> {
        let op = "add_note";
        let txn = self.db.begin_write().map_err(|e| err(op, e))?;
        let mut inc: IncidentState = {
            let t = txn.open_table(INCIDENTS).map_err(|e| err(op, e))?;
            get_json(&t, &id.to_string(), op)?.ok_or(LifecycleError::NotFound(id))?
        };
        inc.updated_at = inc.updated_at.max(note.at);
        inc.notes.push(note);
        Self::put_incident(&txn, &inc, false, op)?;
        txn.commit().map_err(|e| err(op, e))?;
        Ok(inc)
    }

    async fn pending_records(&self, limit: usize) -> StoreResult<Vec<Pending>> {
        let op = "pending_records";
        let txn = self.db.begin_read().map_err(|e| err(op, e))?;
        let outbox = txn.open_table(OUTBOX).map_err(|e| err(op, e))?;
        let incidents = txn.open_table(INCIDENTS).map_err(|e| err(op, e))?;
        let mut out = Vec::new();
        for row in outbox.iter().map_err(|e| err(op, e))?.take(limit) {
            let (k, v) = row.map_err(|e| err(op, e))?;
            if let Some(incident) = get_json(&incidents, k.value(), op)? {
                out.push(Pending { incident, version: v.value() });
            }
        }
        Ok(out)
    }

    async fn clear_pending(&self, done: &[(IncidentId, u64)]) -> StoreResult<()> {
        let op = "clear_pending";
        if done.is_empty() {
            return Ok(());
        }
        self.write(op, |txn| {
            let mut outbox = txn.open_table(OUTBOX).map_err(|e| err(op, e))?;
            for (id, version) in done {
                let key = id.to_string();
                let current = outbox.get(key.as_str()).map_err(|e| err(op, e))?.map(|v| v.value());
                if current == Some(*version) {
                    outbox.remove(key.as_str()).map_err(|e| err(op, e))?;
                }
            }
            Ok(())
        })
    }

    async fn take_job(&self, worker: &str, lease: chrono::Duration, now: Timestamp) -> StoreResult<Option<Job>> {
        let op = "take_job";
        self.write(op, |txn| {
            let pending = txn.open_table(PENDING_JOBS).map_err(|e| err(op, e))?;
            let mut jobs = txn.open_table(JOBS).map_err(|e| err(op, e))?;
            let mut best: Option<Job> = None;
            for row in pending.iter().map_err(|e| err(op, e))? {
                let (k, _) = row.map_err(|e| err(op, e))?;
                if let Some(job) = get_json::<Job>(&jobs, k.value(), op)?
                    && job.takeable(now)
                    && best.as_ref().is_none_or(|b| job.next_run_at < b.next_run_at)
                {
                    best = Some(job);
                }
            }
            let Some(mut job) = best else { return Ok(None) };
            job.lease(worker, lease, now);
            let key = job.job_id.to_string();
            jobs.insert(key.as_str(), enc(op, &job)?.as_slice()).map_err(|e| err(op, e))?;
            Ok(Some(job))
        })
    }

    async fn complete_job(&self, job_id: Uuid, worker: &str, attempt: u32, now: Timestamp) -> StoreResult<bool> {
        self.update_job("complete_job", job_id, |job| {
            if !job.held_by(worker, attempt) {
                return false;
            }
            job.finish("succeeded", now);
            job.state = JobState::Succeeded;
            true
        })
    }

    async fn fail_job(
        &self,
        job_id: Uuid,
        worker: &str,
        attempt: u32,
        error: &str,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> StoreResult<bool> {
        self.update_job("fail_job", job_id, |job| {
            if !job.held_by(worker, attempt) {
                return false;
            }
            job.finish(&format!("failed: {error}"), now);
            job.last_error = Some(error.to_string());
            match retry_at {
                Some(at) => {
                    job.state = JobState::Queued;
                    job.next_run_at = at;
                }
                None => job.state = JobState::Failed,
            }
            true
        })
    }

    async fn get_job(&self, job_id: Uuid) -> StoreResult<Option<Job>> {
        let op = "get_job";
        let txn = self.db.begin_read().map_err(|e| err(op, e))?;
        let t = txn.open_table(JOBS).map_err(|e| err(op, e))?;
        get_json(&t, &job_id.to_string(), op)
    }

    async fn list_jobs(&self) -> StoreResult<Vec<Job>> {
        let op = "list_jobs";
        let txn = self.db.begin_read().map_err(|e| err(op, e))?;
        let t = txn.open_table(JOBS).map_err(|e| err(op, e))?;
        let mut out: Vec<Job> = Vec::new();
        for row in t.iter().map_err(|e| err(op, e))? {
            let (_, v) = row.map_err(|e| err(op, e))?;
            out.push(dec(op, v.value())?);
        }
        out.sort_by_key(|j| j.created_at);
        Ok(out)
    }
}
