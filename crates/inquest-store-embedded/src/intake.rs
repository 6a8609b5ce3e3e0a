//! `EmbeddedIntakeStore`: the intake's `IngestStore` port on an embedded `redb`
//! file (`<data dir>/ingest.redb`, next to the records file `inquest.redb`). Every
//! write is one serialised transaction, so correlation and job leasing are atomic;
//! redb commits are durable (fsync) before the call returns. One process opens the
//! file at a time (redb locks it).
//!
//! Alerts go through one writer thread that commits every request waiting at that
//! moment in one transaction (group commit, `inquest_intake::group`): a request is
//! answered only after the commit that holds it, and a failed commit fails every
//! request in it, so nothing is half-written. Within a group an incident is read
//! and written once. Lifecycle changes go through the same thread, so its cache of
//! committed incidents, alerts and pointers is always current. Decisions are rows
//! of their own (appended, never rewritten with the incident's state).
//!
//! Every key leads with the project (`"{project}\u{1f}{id}"`, `pk`), so a handle
//! (`scoped`) reads and writes only its project's rows; one writer thread and
//! one file serve every project.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use std::collections::HashMap;

use async_trait::async_trait;
use inquest_domain::{IncidentDecision, IncidentId, IncidentStatus, ProjectId, Timestamp};
use inquest_intake::correlate::{Outcome, Snapshot, StoredAlert, correlate, operator_decision};
use inquest_intake::group::{GroupCommit, GroupError, Groupable, IngestRequest};
use inquest_intake::lifecycle::{Action, IncidentState, Note};
use inquest_intake::{Alert, Applied, IngestStore, Job, JobState, LifecycleError, Pending, Policy, Taken};
use inquest_ports::{ErrorKind, StoreError, StoreResult};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::{BACKEND, MAX_STR, pk, project_of};

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
/// `(incident_id, seq)` -> `IncidentDecision`, in the order they were taken
const DECISIONS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("incident_decisions");
/// `(incident_id, seq)` of decisions not yet written to the records store
const DECISION_OUTBOX: TableDefinition<(&str, u64), ()> = TableDefinition::new("decision_outbox");

/// Most alerts committed in one transaction.
const MAX_GROUP_ALERTS: usize = 4096;

fn err(op: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::new(ErrorKind::Internal, BACKEND, op, e)
}

fn enc<T: Serialize>(op: &str, v: &T) -> StoreResult<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| err(op, e))
}

fn dec<T: DeserializeOwned>(op: &str, b: &[u8]) -> StoreResult<T> {
    serde_json::from_slice(b).map_err(|e| err(op, format!("corrupt row: {e}")))
}

fn get_json<T: DeserializeOwned>(
    t: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
    op: &str,
) -> StoreResult<Option<T>> {
    match t.get(key).map_err(|e| err(op, e))? {
        Some(v) => Ok(Some(dec(op, v.value())?)),
        None => Ok(None),
    }
}

fn get_str(t: &impl ReadableTable<&'static str, &'static str>, key: &str, op: &str) -> StoreResult<Option<String>> {
    Ok(t.get(key).map_err(|e| err(op, e))?.map(|v| v.value().to_string()))
}

type Change = Box<dyn FnOnce(&mut IncidentState) -> Result<(), LifecycleError> + Send>;

/// One lifecycle change (transition, note) waiting for the writer thread.
struct ChangeRequest {
    project: String,
    op: &'static str,
    id: IncidentId,
    pointer: Pointer,
    change: Change,
}

/// Every write of incidents, alerts and pointers goes through the writer thread,
/// so the thread's cache of them is always what is committed.
enum WriteRequest {
    /// Alerts of one project.
    Ingest(String, IngestRequest),
    Change(ChangeRequest),
}

enum WriteAnswer {
    Ingest(StoreResult<Vec<Applied>>),
    // Boxed: an incident's state is much larger than the other answer.
    Change(Box<Result<IncidentState, LifecycleError>>),
}

impl Groupable for WriteRequest {
    fn weight(&self) -> usize {
        match self {
            WriteRequest::Ingest(_, r) => r.alerts.len(),
            WriteRequest::Change(_) => 1,
        }
    }

    /// Alert batches of one project are committed together (each under its own
    /// policy); a lifecycle change is a transaction of its own, in its place in the queue.
    fn joins(&self, first: &Self) -> bool {
        matches!((self, first), (WriteRequest::Ingest(a, _), WriteRequest::Ingest(b, _)) if a == b)
    }
}

/// Committed incidents (without decisions), latest alert per fingerprint and active
/// pointers, kept by the writer thread so a hot incident is not decoded per request.
/// Keyed like the tables (`pk`), so projects never share an entry.
#[derive(Default)]
struct Cache {
    incidents: HashMap<String, IncidentState>,
    alerts: HashMap<String, StoredAlert>,
    active: HashMap<String, Option<String>>,
}

impl Cache {
    /// Most entries kept; beyond it the cache starts again empty.
    const LIMIT: usize = 100_000;

    fn clear(&mut self) {
        self.incidents.clear();
        self.alerts.clear();
        self.active.clear();
    }

    /// Take in what a committed group read and wrote.
    fn absorb(&mut self, group: Group) {
        if self.incidents.len() + self.alerts.len() > Self::LIMIT {
            self.clear();
        }
        for (id, (mut inc, _, _)) in group.incidents {
            inc.decisions.clear();
            self.incidents.insert(id, inc);
        }
        self.alerts.extend(group.alerts.into_iter().map(|(fp, (a, _))| (fp, a)));
        self.active.extend(group.active.into_iter().map(|(s, (id, _))| (s, id)));
    }
}

/// The writer thread; dropping the last store handle ends it and waits for it, so
/// the file can be opened again at once.
struct Writer {
    queue: Option<GroupCommit<WriteRequest, WriteAnswer>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.queue.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The intake store of one project on its own redb database (file or in memory).
#[derive(Clone)]
pub struct EmbeddedIntakeStore {
    db: Arc<Database>,
    writer: Arc<Writer>,
    project: ProjectId,
}

/// What to do with the service's active-incident pointer when an incident is stored.
#[derive(Clone, Copy, PartialEq)]
enum Pointer {
    /// It is the service's newest active incident.
    Set,
    /// Drop the pointer if it points at this incident and the incident is no longer active.
    ClearIfInactive,
    /// The caller writes the pointers.
    Leave,
}

fn next_seq(txn: &WriteTransaction, op: &str) -> StoreResult<u64> {
    let mut meta = txn.open_table(META).map_err(|e| err(op, e))?;
    let seq = meta.get("outbox_seq").map_err(|e| err(op, e))?.map(|v| v.value()).unwrap_or(0) + 1;
    meta.insert("outbox_seq", seq).map_err(|e| err(op, e))?;
    Ok(seq)
}

/// The incident's state as stored (without its decisions).
fn read_incident(txn: &WriteTransaction, id: &str, op: &str) -> StoreResult<Option<IncidentState>> {
    let t = txn.open_table(INCIDENTS).map_err(|e| err(op, e))?;
    get_json(&t, id, op)
}

/// `inc` (of `project`) with every decision it has taken, oldest first.
fn with_decisions(
    project: &str,
    mut inc: IncidentState,
    t: &impl ReadableTable<(&'static str, u64), &'static [u8]>,
    op: &str,
) -> StoreResult<IncidentState> {
    let id = pk(project, &inc.incident_id.to_string());
    let mut all = Vec::new();
    for row in t.range((id.as_str(), 0)..=(id.as_str(), u64::MAX)).map_err(|e| err(op, e))? {
        let (_, v) = row.map_err(|e| err(op, e))?;
        all.push(dec::<IncidentDecision>(op, v.value())?);
    }
    // Decisions of `inc` not yet stored (a caller's fresh copy) stay after the stored ones.
    all.extend(
        inc.decisions
            .drain(..)
            .filter(|d| !all.iter().any(|a: &IncidentDecision| a.decision_id == d.decision_id))
            .collect::<Vec<_>>(),
    );
    inc.decisions = all;
    Ok(inc)
}

/// Per-group cache: every incident, alert and pointer read or written by the group
/// (of one project), keyed like the tables (`pk`).
#[derive(Default)]
struct Group {
    project: String,
    /// incident_id -> (state with only this group's new decisions, status when read, changed)
    incidents: HashMap<String, (IncidentState, Option<IncidentStatus>, bool)>,
    /// fingerprint -> (latest alert row, changed)
    alerts: HashMap<String, (StoredAlert, bool)>,
    /// service -> (active incident id, not prefixed; changed)
    active: HashMap<String, (Option<String>, bool)>,
    /// incident order of first change, so writes are deterministic
    order: Vec<String>,
}

impl Group {
    fn incident(
        &mut self,
        cache: &mut Cache,
        txn: &WriteTransaction,
        id: &str,
        op: &str,
    ) -> StoreResult<Option<IncidentState>> {
        if let Some((inc, _, _)) = self.incidents.get(id) {
            return Ok(Some(inc.clone()));
        }
        let inc = match cache.incidents.remove(id) {
            Some(inc) => inc,
            None => match read_incident(txn, id, op)? {
                Some(inc) => inc,
                None => return Ok(None),
            },
        };
        self.incidents.insert(id.to_string(), (inc.clone(), Some(inc.status), false));
        Ok(Some(inc))
    }

    fn alert(
        &mut self,
        cache: &mut Cache,
        txn: &WriteTransaction,
        fingerprint: &str,
        op: &str,
    ) -> StoreResult<Option<StoredAlert>> {
        if let Some((a, _)) = self.alerts.get(fingerprint) {
            return Ok(Some(a.clone()));
        }
        if let Some(a) = cache.alerts.remove(fingerprint) {
            self.alerts.insert(fingerprint.to_string(), (a.clone(), false));
            return Ok(Some(a));
        }
        let id = {
            let fps = txn.open_table(FINGERPRINTS).map_err(|e| err(op, e))?;
            get_str(&fps, fingerprint, op)?
        };
        let Some(id) = id else { return Ok(None) };
        let alerts = txn.open_table(ALERTS).map_err(|e| err(op, e))?;
        let found: Option<StoredAlert> = get_json(&alerts, &pk(&self.project, &id), op)?;
        if let Some(a) = &found {
            self.alerts.insert(fingerprint.to_string(), (a.clone(), false));
        }
        Ok(found)
    }

    fn active_of(
        &mut self,
        cache: &mut Cache,
        txn: &WriteTransaction,
        service: &str,
        op: &str,
    ) -> StoreResult<Option<String>> {
        if let Some((id, _)) = self.active.get(service) {
            return Ok(id.clone());
        }
        let id = match cache.active.get(service) {
            Some(id) => id.clone(),
            None => get_str(&txn.open_table(ACTIVE).map_err(|e| err(op, e))?, service, op)?,
        };
        self.active.insert(service.to_string(), (id.clone(), false));
        Ok(id)
    }

    /// Correlate one alert against the group's view of the store and record the plan.
    fn apply(
        &mut self,
        cache: &mut Cache,
        txn: &WriteTransaction,
        alert: &Alert,
        policy: &Policy,
        now: Timestamp,
        op: &str,
    ) -> StoreResult<Applied> {
        let project = self.project.clone();
        let fingerprint = pk(&project, &alert.fingerprint);
        let service = pk(&project, &alert.service);
        let existing = match self.alert(cache, txn, &fingerprint, op)? {
            Some(stored) => {
                let inc = match stored.incident_id {
                    Some(i) => self.incident(cache, txn, &pk(&project, &i.to_string()), op)?,
                    None => None,
                };
                Some((stored, inc))
            }
            None => None,
        };
        let active = match self.active_of(cache, txn, &service, op)? {
            Some(id) => self.incident(cache, txn, &pk(&project, &id), op)?,
            None => None,
        };
        let plan = correlate(Snapshot { existing, active }, alert.clone(), policy, now);
        if let Some(i) = plan.alert.incident_id {
            let (i, a) = (pk(&project, &i.to_string()), plan.alert.alert_id.to_string());
            txn.open_table(INCIDENT_ALERTS)
                .map_err(|e| err(op, e))?
                .insert((i.as_str(), a.as_str()), ())
                .map_err(|e| err(op, e))?;
        }
        // A new row for a fingerprint whose row this group changed (it fired, its
        // incident resolved, it fired again): the old row is written now, or it is lost.
        if let Some((prev, true)) = self.alerts.insert(fingerprint, (plan.alert.clone(), true))
            && prev.alert_id != plan.alert.alert_id
        {
            let id = pk(&project, &prev.alert_id.to_string());
            txn.open_table(ALERTS)
                .map_err(|e| err(op, e))?
                .insert(id.as_str(), enc(op, &prev)?.as_slice())
                .map_err(|e| err(op, e))?;
        }
        let mut resolved_after_seconds = None;
        if let Some(inc) = &plan.incident {
            let raw = inc.incident_id.to_string();
            let id = pk(&project, &raw);
            let service = pk(&project, &inc.service);
            if plan.new_incident {
                self.active.insert(service, (Some(raw), true));
            } else if !inc.is_active() && self.active_of(cache, txn, &service, op)?.as_deref() == Some(raw.as_str()) {
                self.active.insert(service, (None, true));
            }
            let before = self.incidents.get(&id).and_then(|(_, s, _)| *s);
            if !self.incidents.get(&id).is_some_and(|(_, _, changed)| *changed) {
                self.order.push(id.clone());
            }
            self.incidents.insert(id, (inc.clone(), before, true));
            if plan.outcome == Outcome::Resolved {
                resolved_after_seconds = inc.first_resolution_seconds();
            }
        }
        if let (Some(job_id), Some(inc)) = (plan.enqueue_job, &plan.incident) {
            let key = pk(&project, &job_id.to_string());
            let mut jobs = txn.open_table(JOBS).map_err(|e| err(op, e))?;
            if jobs.get(key.as_str()).map_err(|e| err(op, e))?.is_none() {
                let job = Job::new(job_id, inc.incident_id, now);
                jobs.insert(key.as_str(), enc(op, &job)?.as_slice()).map_err(|e| err(op, e))?;
                txn.open_table(PENDING_JOBS)
                    .map_err(|e| err(op, e))?
                    .insert(key.as_str(), ())
                    .map_err(|e| err(op, e))?;
            }
        }
        Ok(Applied {
            alert_id: plan.alert.alert_id,
            fingerprint: alert.fingerprint.clone(),
            incident_id: plan.alert.incident_id,
            outcome: plan.outcome,
            job_id: plan.enqueue_job,
            resolved_after_seconds,
        })
    }

    /// Write what the group changed: each alert and incident once, then the pointers.
    fn flush(&mut self, txn: &WriteTransaction, op: &str) -> StoreResult<()> {
        {
            let mut alerts = txn.open_table(ALERTS).map_err(|e| err(op, e))?;
            let mut fps = txn.open_table(FINGERPRINTS).map_err(|e| err(op, e))?;
            for (fp, (a, changed)) in &self.alerts {
                if *changed {
                    let id = a.alert_id.to_string();
                    alerts.insert(pk(&self.project, &id).as_str(), enc(op, a)?.as_slice()).map_err(|e| err(op, e))?;
                    fps.insert(fp.as_str(), id.as_str()).map_err(|e| err(op, e))?;
                }
            }
        }
        for id in std::mem::take(&mut self.order) {
            if let Some((inc, before, true)) = self.incidents.get_mut(&id) {
                EmbeddedIntakeStore::put_incident(txn, &self.project, inc, *before, Pointer::Leave, op)?;
            }
        }
        let mut active = txn.open_table(ACTIVE).map_err(|e| err(op, e))?;
        for (service, (id, changed)) in &self.active {
            match (id, changed) {
                (Some(id), true) => {
                    active.insert(service.as_str(), id.as_str()).map_err(|e| err(op, e))?;
                }
                (None, true) => {
                    active.remove(service.as_str()).map_err(|e| err(op, e))?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

impl EmbeddedIntakeStore {
    pub fn open(path: &Path) -> StoreResult<Self> {
        Self::init(crate::create_database(path)?)
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
            txn.open_table(DECISIONS).map_err(|e| err(op, e))?;
            txn.open_table(DECISION_OUTBOX).map_err(|e| err(op, e))?;
        }
        upgrade(&txn)?;
        txn.commit().map_err(|e| err(op, e))?;
        let db = Arc::new(db);
        let (queue, groups) = GroupCommit::new(MAX_GROUP_ALERTS);
        let thread = {
            let db = db.clone();
            std::thread::Builder::new()
                .name("inquest-ingest-writer".into())
                .spawn(move || {
                    let mut cache = Cache::default();
                    groups.run_blocking(|group| write_group(&db, &mut cache, group));
                })
                .map_err(|e| err("open", format!("cannot start the writer thread: {e}")))?
        };
        Ok(Self {
            db,
            writer: Arc::new(Writer { queue: Some(queue), thread: Some(thread) }),
            project: ProjectId::default_project(),
        })
    }

    /// The same file and writer thread acting in `project`.
    pub fn in_project(&self, project: &ProjectId) -> EmbeddedIntakeStore {
        EmbeddedIntakeStore { db: self.db.clone(), writer: self.writer.clone(), project: project.clone() }
    }

    fn key(&self, id: &str) -> String {
        pk(self.project.as_str(), id)
    }

    fn write<R>(&self, op: &str, f: impl FnOnce(&WriteTransaction) -> StoreResult<R>) -> StoreResult<R> {
        let txn = self.db.begin_write().map_err(|e| err(op, e))?;
        let r = f(&txn)?;
        txn.commit().map_err(|e| err(op, e))?;
        Ok(r)
    }

    /// Store an incident: its new decisions (appended, and queued for the records
    /// store), its state without them, status counts, outbox, and the pointer.
    fn put_incident(
        txn: &WriteTransaction,
        project: &str,
        inc: &mut IncidentState,
        before: Option<IncidentStatus>,
        pointer: Pointer,
        op: &str,
    ) -> StoreResult<()> {
        let raw = inc.incident_id.to_string();
        let id = pk(project, &raw);
        let service = pk(project, &inc.service);
        let decisions = std::mem::take(&mut inc.decisions);
        if !decisions.is_empty() {
            let mut rows = txn.open_table(DECISIONS).map_err(|e| err(op, e))?;
            let mut outbox = txn.open_table(DECISION_OUTBOX).map_err(|e| err(op, e))?;
            for d in &decisions {
                let seq = next_seq(txn, op)?;
                rows.insert((id.as_str(), seq), enc(op, d)?.as_slice()).map_err(|e| err(op, e))?;
                outbox.insert((id.as_str(), seq), ()).map_err(|e| err(op, e))?;
            }
        }
        let encoded = enc(op, &*inc);
        inc.decisions = decisions;
        txn.open_table(INCIDENTS)
            .map_err(|e| err(op, e))?
            .insert(id.as_str(), encoded?.as_slice())
            .map_err(|e| err(op, e))?;
        if before != Some(inc.status) {
            let mut counts = txn.open_table(COUNTS).map_err(|e| err(op, e))?;
            if let Some(s) = before {
                let key = pk(project, s.as_str());
                let n = counts.get(key.as_str()).map_err(|e| err(op, e))?.map(|v| v.value()).unwrap_or(0);
                counts.insert(key.as_str(), n.saturating_sub(1)).map_err(|e| err(op, e))?;
            }
            let key = pk(project, inc.status.as_str());
            let n = counts.get(key.as_str()).map_err(|e| err(op, e))?.map(|v| v.value()).unwrap_or(0);
            counts.insert(key.as_str(), n + 1).map_err(|e| err(op, e))?;
        }
        let seq = next_seq(txn, op)?;
        txn.open_table(OUTBOX).map_err(|e| err(op, e))?.insert(id.as_str(), seq).map_err(|e| err(op, e))?;
        let mut active = txn.open_table(ACTIVE).map_err(|e| err(op, e))?;
        match pointer {
            Pointer::Set => {
                active.insert(service.as_str(), raw.as_str()).map_err(|e| err(op, e))?;
            }
            Pointer::ClearIfInactive
                if !inc.is_active() && get_str(&active, &service, op)?.as_deref() == Some(raw.as_str()) =>
            {
                active.remove(service.as_str()).map_err(|e| err(op, e))?;
            }
            Pointer::ClearIfInactive | Pointer::Leave => {}
        }
        Ok(())
    }

    /// Read, change and store one incident in one transaction (lifecycle actions),
    /// through the writer thread.
    async fn change_incident(
        &self,
        op: &'static str,
        id: IncidentId,
        pointer: Pointer,
        change: Change,
    ) -> Result<IncidentState, LifecycleError> {
        let project = self.project.to_string();
        match self.submit(op, WriteRequest::Change(ChangeRequest { project, op, id, pointer, change })).await? {
            WriteAnswer::Change(r) => *r,
            WriteAnswer::Ingest(_) => Err(err(op, "the writer thread answered another request").into()),
        }
    }

    /// Queue a write for the writer thread and wait for the commit that holds it.
    async fn submit(&self, op: &str, request: WriteRequest) -> StoreResult<WriteAnswer> {
        let queue = self.writer.queue.as_ref().ok_or_else(|| err(op, "the writer thread has stopped"))?;
        queue.submit(request).await.map_err(|e| match e {
            GroupError::Stopped => err(op, "the writer thread has stopped"),
            GroupError::NoAnswer => err(op, "the writer thread stopped before answering"),
        })
    }

    fn update_job(&self, op: &str, job_id: Uuid, f: impl FnOnce(&mut Job) -> bool) -> StoreResult<bool> {
        self.write(op, |txn| {
            let key = self.key(&job_id.to_string());
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

/// The file's layout: 2 since keys lead with the project (1 had no version row).
const INTAKE_SCHEMA_VERSION: u64 = 2;

/// Re-key the rows of a file written before projects existed into the `default`
/// project, in the transaction that opens it; refuse a newer file.
fn upgrade(txn: &WriteTransaction) -> StoreResult<()> {
    let op = "migrate";
    let e = |x: redb::Error| err(op, x);
    let version = txn
        .open_table(META)
        .map_err(|x| e(x.into()))?
        .get("schema_version")
        .map_err(|x| e(x.into()))?
        .map(|v| v.value());
    match version {
        Some(v) if v > INTAKE_SCHEMA_VERSION => {
            return Err(StoreError::new(
                ErrorKind::InvalidInput,
                BACKEND,
                op,
                format!("intake file has schema version {v}, this build knows up to {INTAKE_SCHEMA_VERSION}"),
            ));
        }
        Some(_) => return Ok(()),
        None => {}
    }
    let p = |k: &str| pk(inquest_domain::DEFAULT_PROJECT, k);
    for table in [ALERTS, INCIDENTS, JOBS] {
        let mut t = txn.open_table(table).map_err(|x| e(x.into()))?;
        let mut rows = Vec::new();
        for row in t.iter().map_err(|x| e(x.into()))? {
            let (k, v) = row.map_err(|x| e(x.into()))?;
            rows.push((p(k.value()), v.value().to_vec()));
        }
        t.retain(|_, _| false).map_err(|x| e(x.into()))?;
        for (k, v) in &rows {
            t.insert(k.as_str(), v.as_slice()).map_err(|x| e(x.into()))?;
        }
    }
    for table in [FINGERPRINTS, ACTIVE] {
        let mut t = txn.open_table(table).map_err(|x| e(x.into()))?;
        let mut rows = Vec::new();
        for row in t.iter().map_err(|x| e(x.into()))? {
            let (k, v) = row.map_err(|x| e(x.into()))?;
            rows.push((p(k.value()), v.value().to_string()));
        }
        t.retain(|_, _| false).map_err(|x| e(x.into()))?;
        for (k, v) in &rows {
            t.insert(k.as_str(), v.as_str()).map_err(|x| e(x.into()))?;
        }
    }
    for table in [COUNTS, OUTBOX] {
        let mut t = txn.open_table(table).map_err(|x| e(x.into()))?;
        let mut rows = Vec::new();
        for row in t.iter().map_err(|x| e(x.into()))? {
            let (k, v) = row.map_err(|x| e(x.into()))?;
            rows.push((p(k.value()), v.value()));
        }
        t.retain(|_, _| false).map_err(|x| e(x.into()))?;
        for (k, v) in &rows {
            t.insert(k.as_str(), *v).map_err(|x| e(x.into()))?;
        }
    }
    {
        let mut t = txn.open_table(PENDING_JOBS).map_err(|x| e(x.into()))?;
        let mut rows = Vec::new();
        for row in t.iter().map_err(|x| e(x.into()))? {
            rows.push(p(row.map_err(|x| e(x.into()))?.0.value()));
        }
        t.retain(|_, _| false).map_err(|x| e(x.into()))?;
        for k in &rows {
            t.insert(k.as_str(), ()).map_err(|x| e(x.into()))?;
        }
    }
    {
        let mut t = txn.open_table(INCIDENT_ALERTS).map_err(|x| e(x.into()))?;
        let mut rows = Vec::new();
        for row in t.iter().map_err(|x| e(x.into()))? {
            let (k, _) = row.map_err(|x| e(x.into()))?;
            let (a, b) = k.value();
            rows.push((p(a), b.to_string()));
        }
        t.retain(|_, _| false).map_err(|x| e(x.into()))?;
        for (a, b) in &rows {
            t.insert((a.as_str(), b.as_str()), ()).map_err(|x| e(x.into()))?;
        }
    }
    {
        let mut t = txn.open_table(DECISIONS).map_err(|x| e(x.into()))?;
        let mut rows = Vec::new();
        for row in t.iter().map_err(|x| e(x.into()))? {
            let (k, v) = row.map_err(|x| e(x.into()))?;
            let (a, seq) = k.value();
            rows.push((p(a), seq, v.value().to_vec()));
        }
        t.retain(|_, _| false).map_err(|x| e(x.into()))?;
        for (a, seq, v) in &rows {
            t.insert((a.as_str(), *seq), v.as_slice()).map_err(|x| e(x.into()))?;
        }
    }
    {
        let mut t = txn.open_table(DECISION_OUTBOX).map_err(|x| e(x.into()))?;
        let mut rows = Vec::new();
        for row in t.iter().map_err(|x| e(x.into()))? {
            let (k, _) = row.map_err(|x| e(x.into()))?;
            let (a, seq) = k.value();
            rows.push((p(a), seq));
        }
        t.retain(|_, _| false).map_err(|x| e(x.into()))?;
        for (a, seq) in &rows {
            t.insert((a.as_str(), *seq), ()).map_err(|x| e(x.into()))?;
        }
    }
    txn.open_table(META)
        .map_err(|x| e(x.into()))?
        .insert("schema_version", INTAKE_SCHEMA_VERSION)
        .map_err(|x| e(x.into()))?;
    Ok(())
}

/// One group of the writer thread: a lifecycle change alone, or alert batches
/// correlated and stored in one transaction; one answer per request.
fn write_group(db: &Database, cache: &mut Cache, group: Vec<WriteRequest>) -> Vec<WriteAnswer> {
    let mut batches = Vec::with_capacity(group.len());
    let mut project = String::new();
    for request in group {
        match request {
            // `joins` keeps a change out of every group but its own.
            WriteRequest::Change(c) => return vec![WriteAnswer::Change(Box::new(apply_change(db, cache, c)))],
            // `joins` keeps each group to one project.
            WriteRequest::Ingest(p, r) => {
                project = p;
                batches.push(r);
            }
        }
    }
    let result = commit_group(db, cache, project, &batches);
    tracing::trace!(
        requests = batches.len(),
        alerts = batches.iter().map(|r| r.alerts.len()).sum::<usize>(),
        ok = result.is_ok(),
        "ingest group committed"
    );
    match result {
        Ok((answers, state)) => {
            cache.absorb(state);
            answers.into_iter().map(|a| WriteAnswer::Ingest(Ok(a))).collect()
        }
        Err(e) => {
            cache.clear();
            batches.iter().map(|_| WriteAnswer::Ingest(Err(e.clone()))).collect()
        }
    }
}

fn commit_group(
    db: &Database,
    cache: &mut Cache,
    project: String,
    group: &[IngestRequest],
) -> StoreResult<(Vec<Vec<Applied>>, Group)> {
    let op = "ingest";
    let txn = db.begin_write().map_err(|e| err(op, e))?;
    let mut state = Group { project, ..Group::default() };
    let mut answers = Vec::with_capacity(group.len());
    for r in group {
        let applied = r
            .alerts
            .iter()
            .map(|a| state.apply(cache, &txn, a, &r.policy, r.now, op))
            .collect::<StoreResult<Vec<_>>>()?;
        answers.push(applied);
    }
    state.flush(&txn, op)?;
    txn.commit().map_err(|e| err(op, e))?;
    Ok((answers, state))
}

fn apply_change(db: &Database, cache: &mut Cache, request: ChangeRequest) -> Result<IncidentState, LifecycleError> {
    let ChangeRequest { project, op, id, pointer, change } = request;
    let key = pk(&project, &id.to_string());
    let result = (|| {
        let txn = db.begin_write().map_err(|e| err(op, e))?;
        let mut inc = read_incident(&txn, &key, op)?.ok_or(LifecycleError::NotFound(id))?;
        let before = Some(inc.status);
        change(&mut inc)?;
        if !inc.decisions.is_empty() {
            // A decision already stored (the same id recorded again) is kept as it was.
            let stored = txn.open_table(DECISIONS).map_err(|e| err(op, e))?;
            let mut ids = std::collections::HashSet::new();
            for row in stored.range((key.as_str(), 0)..=(key.as_str(), u64::MAX)).map_err(|e| err(op, e))? {
                let (_, v) = row.map_err(|e| err(op, e))?;
                ids.insert(dec::<IncidentDecision>(op, v.value())?.decision_id);
            }
            inc.decisions.retain(|d| ids.insert(d.decision_id));
        }
        EmbeddedIntakeStore::put_incident(&txn, &project, &mut inc, before, pointer, op)?;
        let full = with_decisions(&project, inc.clone(), &txn.open_table(DECISIONS).map_err(|e| err(op, e))?, op)?;
        txn.commit().map_err(|e| err(op, e))?;
        Ok((inc, full))
    })();
    // The change may have moved the service's pointer: read it again next time.
    match result {
        Ok((mut inc, full)) => {
            cache.active.remove(&pk(&project, &inc.service));
            // The cache holds incidents without their decisions: the next alert's plan
            // appends only its own, and those are what gets stored.
            inc.decisions.clear();
            cache.incidents.insert(key, inc);
            Ok(full)
        }
        Err(e) => {
            cache.clear();
            Err(e)
        }
    }
}

#[async_trait]
impl IngestStore for EmbeddedIntakeStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    fn project(&self) -> &ProjectId {
        &self.project
    }

    fn scoped(&self, project: &ProjectId) -> Arc<dyn IngestStore> {
        Arc::new(self.in_project(project))
    }

    async fn check_connectivity(&self) -> StoreResult<()> {
        self.db
            .begin_read()
            .map(|_| ())
            .map_err(|e| StoreError::new(ErrorKind::Unavailable, BACKEND, "check_connectivity", e))
    }

    async fn projects_with_work(&self) -> StoreResult<Vec<ProjectId>> {
        let op = "projects_with_work";
        let txn = self.db.begin_read().map_err(|e| err(op, e))?;
        let outbox = txn.open_table(OUTBOX).map_err(|e| err(op, e))?;
        let pending = txn.open_table(PENDING_JOBS).map_err(|e| err(op, e))?;
        let mut out = std::collections::BTreeSet::new();
        for row in outbox.iter().map_err(|e| err(op, e))? {
            let (k, _) = row.map_err(|e| err(op, e))?;
            out.insert(project_of(k.value()).to_string());
        }
        for row in pending.iter().map_err(|e| err(op, e))? {
            let (k, _) = row.map_err(|e| err(op, e))?;
            out.insert(project_of(k.value()).to_string());
        }
        out.into_iter().map(|p| ProjectId::new(&p).map_err(|e| err(op, format!("corrupt key: {e}")))).collect()
    }

    async fn ingest(&self, batch: &[Alert], policy: &Policy, now: Timestamp) -> StoreResult<Vec<Applied>> {
        let op = "ingest";
        let request = IngestRequest { alerts: batch.to_vec(), policy: policy.clone(), now };
        match self.submit(op, WriteRequest::Ingest(self.project.to_string(), request)).await? {
            WriteAnswer::Ingest(r) => r,
            WriteAnswer::Change(_) => Err(err(op, "the writer thread answered another request")),
        }
    }

    async fn get_incident(&self, id: IncidentId) -> StoreResult<Option<IncidentState>> {
        let op = "get_incident";
        let txn = self.db.begin_read().map_err(|e| err(op, e))?;
        let t = txn.open_table(INCIDENTS).map_err(|e| err(op, e))?;
        let decisions = txn.open_table(DECISIONS).map_err(|e| err(op, e))?;
        match get_json(&t, &self.key(&id.to_string()), op)? {
            Some(inc) => Ok(Some(with_decisions(self.project.as_str(), inc, &decisions, op)?)),
            None => Ok(None),
        }
    }

    async fn list_incidents(&self) -> StoreResult<Vec<IncidentState>> {
        let op = "list_incidents";
        let txn = self.db.begin_read().map_err(|e| err(op, e))?;
        let t = txn.open_table(INCIDENTS).map_err(|e| err(op, e))?;
        let decisions = txn.open_table(DECISIONS).map_err(|e| err(op, e))?;
        let mut out: Vec<IncidentState> = Vec::new();
        let (from, to) = (self.key(""), self.key(MAX_STR));
        for row in t.range(from.as_str()..=to.as_str()).map_err(|e| err(op, e))? {
            let (_, v) = row.map_err(|e| err(op, e))?;
            out.push(with_decisions(self.project.as_str(), dec(op, v.value())?, &decisions, op)?);
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
            let key = self.key(s.as_str());
            out.insert(
                s.as_str().to_string(),
                t.get(key.as_str()).map_err(|e| err(op, e))?.map(|v| v.value()).unwrap_or(0),
            );
        }
        Ok(out)
    }

    async fn alerts_of(&self, incident: IncidentId) -> StoreResult<Vec<StoredAlert>> {
        let op = "alerts_of";
        let txn = self.db.begin_read().map_err(|e| err(op, e))?;
        let links = txn.open_table(INCIDENT_ALERTS).map_err(|e| err(op, e))?;
        let alerts = txn.open_table(ALERTS).map_err(|e| err(op, e))?;
        let id = self.key(&incident.to_string());
        let mut out: Vec<StoredAlert> = Vec::new();
        for row in links.range((id.as_str(), "")..=(id.as_str(), MAX_STR)).map_err(|e| err(op, e))? {
            let (k, _) = row.map_err(|e| err(op, e))?;
            let (_, alert_id) = k.value();
            if let Some(a) = get_json(&alerts, &self.key(alert_id), op)? {
                out.push(a);
            }
        }
        out.sort_by_key(|a| a.first_received_at);
        Ok(out)
    }

    async fn alert_count(&self) -> StoreResult<u64> {
        let op = "alert_count";
        let txn = self.db.begin_read().map_err(|e| err(op, e))?;
        let t = txn.open_table(ALERTS).map_err(|e| err(op, e))?;
        let (from, to) = (self.key(""), self.key(MAX_STR));
        let mut n = 0;
        for row in t.range(from.as_str()..=to.as_str()).map_err(|e| err(op, e))? {
            row.map_err(|e| err(op, e))?;
            n += 1;
        }
        Ok(n)
    }

    async fn transition(
        &self,
        id: IncidentId,
        action: Action,
        actor: &str,
        reason: Option<String>,
        policy: &Policy,
        now: Timestamp,
    ) -> Result<IncidentState, LifecycleError> {
        // Reopening makes it the service's active incident again.
        let pointer = if action == Action::Reopen { Pointer::Set } else { Pointer::ClearIfInactive };
        let (actor, policy) = (actor.to_string(), policy.clone());
        let change: Change = Box::new(move |inc| {
            inc.apply(action, &actor, reason, now)?;
            inc.decisions.extend(operator_decision(inc, action, &policy));
            Ok(())
        });
        self.change_incident("transition", id, pointer, change).await
    }

    async fn add_note(&self, id: IncidentId, note: Note) -> Result<IncidentState, LifecycleError> {
        let change: Change = Box::new(move |inc| {
            inc.updated_at = inc.updated_at.max(note.at);
            inc.notes.push(note);
            Ok(())
        });
        self.change_incident("add_note", id, Pointer::ClearIfInactive, change).await
    }

    async fn add_decisions(
        &self,
        id: IncidentId,
        decisions: Vec<IncidentDecision>,
    ) -> Result<IncidentState, LifecycleError> {
        let change: Change = Box::new(move |inc| {
            inc.decisions.extend(decisions);
            Ok(())
        });
        self.change_incident("add_decisions", id, Pointer::ClearIfInactive, change).await
    }

    async fn pending_records(&self, limit: usize) -> StoreResult<Vec<Pending>> {
        let op = "pending_records";
        let txn = self.db.begin_read().map_err(|e| err(op, e))?;
        let outbox = txn.open_table(OUTBOX).map_err(|e| err(op, e))?;
        let incidents = txn.open_table(INCIDENTS).map_err(|e| err(op, e))?;
        let decisions = txn.open_table(DECISIONS).map_err(|e| err(op, e))?;
        let queued = txn.open_table(DECISION_OUTBOX).map_err(|e| err(op, e))?;
        let mut out = Vec::new();
        let (from, to) = (self.key(""), self.key(MAX_STR));
        for row in outbox.range(from.as_str()..=to.as_str()).map_err(|e| err(op, e))?.take(limit) {
            let (k, v) = row.map_err(|e| err(op, e))?;
            let id = k.value();
            if let Some(mut incident) = get_json::<IncidentState>(&incidents, id, op)? {
                // Only the decisions the records store has not had yet.
                for q in queued.range((id, 0)..=(id, u64::MAX)).map_err(|e| err(op, e))? {
                    let (key, _) = q.map_err(|e| err(op, e))?;
                    if let Some(d) = decisions.get(key.value()).map_err(|e| err(op, e))? {
                        incident.decisions.push(dec(op, d.value())?);
                    }
                }
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
            let mut queued = txn.open_table(DECISION_OUTBOX).map_err(|e| err(op, e))?;
            for (id, version) in done {
                let key = self.key(&id.to_string());
                let current = outbox.get(key.as_str()).map_err(|e| err(op, e))?.map(|v| v.value());
                if current == Some(*version) {
                    outbox.remove(key.as_str()).map_err(|e| err(op, e))?;
                }
                // Decisions taken before that version were in the batch written.
                queued.retain_in((key.as_str(), 0)..=(key.as_str(), *version), |_, _| false).map_err(|e| err(op, e))?;
            }
            Ok(())
        })
    }

    async fn take_job(
        &self,
        worker: &str,
        lease: chrono::Duration,
        max_attempts: u32,
        now: Timestamp,
    ) -> StoreResult<Taken> {
        let op = "take_job";
        self.write(op, |txn| {
            let mut pending = txn.open_table(PENDING_JOBS).map_err(|e| err(op, e))?;
            let mut jobs = txn.open_table(JOBS).map_err(|e| err(op, e))?;
            let mut best: Option<Job> = None;
            let mut gave_up = Vec::new();
            let (from, to) = (self.key(""), self.key(MAX_STR));
            for row in pending.range(from.as_str()..=to.as_str()).map_err(|e| err(op, e))? {
                let (k, _) = row.map_err(|e| err(op, e))?;
                let Some(mut job) = get_json::<Job>(&jobs, k.value(), op)? else { continue };
                if job.out_of_attempts(max_attempts, now) {
                    job.give_up_expired(max_attempts, now);
                    gave_up.push(job);
                } else if job.takeable(now) && best.as_ref().is_none_or(|b| job.next_run_at < b.next_run_at) {
                    best = Some(job);
                }
            }
            for job in &gave_up {
                let key = self.key(&job.job_id.to_string());
                jobs.insert(key.as_str(), enc(op, job)?.as_slice()).map_err(|e| err(op, e))?;
                pending.remove(key.as_str()).map_err(|e| err(op, e))?;
            }
            let Some(mut job) = best else { return Ok(Taken { job: None, gave_up }) };
            job.lease(worker, lease, now);
            let key = self.key(&job.job_id.to_string());
            jobs.insert(key.as_str(), enc(op, &job)?.as_slice()).map_err(|e| err(op, e))?;
            Ok(Taken { job: Some(job), gave_up })
        })
    }

    async fn complete_job(&self, job_id: Uuid, worker: &str, attempt: u32, now: Timestamp) -> StoreResult<bool> {
        self.update_job("complete_job", job_id, |job| {
            if !job.held_by(worker, attempt) {
                return false;
            }
            job.succeed(now);
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
            job.fail(error, retry_at, now);
            true
        })
    }

    async fn get_job(&self, job_id: Uuid) -> StoreResult<Option<Job>> {
        let op = "get_job";
        let txn = self.db.begin_read().map_err(|e| err(op, e))?;
        let t = txn.open_table(JOBS).map_err(|e| err(op, e))?;
        get_json(&t, &self.key(&job_id.to_string()), op)
    }

    async fn list_jobs(&self) -> StoreResult<Vec<Job>> {
        let op = "list_jobs";
        let txn = self.db.begin_read().map_err(|e| err(op, e))?;
        let t = txn.open_table(JOBS).map_err(|e| err(op, e))?;
        let mut out: Vec<Job> = Vec::new();
        let (from, to) = (self.key(""), self.key(MAX_STR));
        for row in t.range(from.as_str()..=to.as_str()).map_err(|e| err(op, e))? {
            let (_, v) = row.map_err(|e| err(op, e))?;
            out.push(dec(op, v.value())?);
        }
        out.sort_by_key(|j| j.created_at);
        Ok(out)
    }
}
