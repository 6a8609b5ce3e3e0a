//! `PostgresIntakeStore`: the intake's `IngestStore` port on PostgreSQL (tables of
//! `schemas/postgres/0004_ingest.sql`), on the records store's pool
//! (`PostgresStore::intake`), so several `inquest` processes share alerts,
//! incidents, the records outbox and the investigation job queue. The semantics
//! are those of `EmbeddedIntakeStore` (`inquest-store-embedded`): every
//! write is one transaction. A batch of alerts takes transaction-scoped advisory
//! locks on its services and fingerprints (sorted, so batches never deadlock on
//! them) before it reads what it correlates against; jobs are leased with
//! `FOR UPDATE SKIP LOCKED` and completed only by the worker holding the attempt.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use deadpool_postgres::{Pool, Transaction};
use inquest_domain::{IncidentDecision, IncidentId, IncidentStatus, ProjectId, Timestamp};
use inquest_intake::correlate::{Outcome, Snapshot, StoredAlert, correlate, operator_decision};
use inquest_intake::group::{GroupCommit, GroupError, IngestRequest};
use inquest_intake::lifecycle::{Action, IncidentState, Note};
use inquest_intake::{Alert, Applied, IngestStore, Job, JobRun, JobState, LifecycleError, Pending, Policy, Taken};
use inquest_ports::{ErrorKind, StoreError, StoreResult};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tracing::{debug, warn};
use uuid::Uuid;

use crate::{BACKEND, PostgresStore, begin, pg_err, pool_err};

/// How many times a batch is retried when Postgres aborts it for a deadlock or a
/// serialisation failure (the transaction rolled back: nothing was written).
const CONFLICT_RETRIES: u32 = 3;

/// An error inside a transaction: a driver error keeps its SQL state so conflicts
/// can be retried; the rest are already store errors.
enum Fail {
    Pg(tokio_postgres::Error),
    Store(StoreError),
}

impl From<tokio_postgres::Error> for Fail {
    fn from(e: tokio_postgres::Error) -> Self {
        Fail::Pg(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

impl Fail {
    fn is_conflict(&self) -> bool {
        matches!(self, Fail::Pg(e) if e.code() == Some(&SqlState::T_R_DEADLOCK_DETECTED) || e.code() == Some(&SqlState::T_R_SERIALIZATION_FAILURE))
    }

    fn into_store(self, op: &str) -> StoreError {
        match self {
            Fail::Pg(e) => pg_err(op, e),
            Fail::Store(e) => e,
        }
    }
}

fn corrupt(op: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::new(ErrorKind::Internal, BACKEND, op, format!("corrupt row: {e}"))
}

fn to_json<T: Serialize>(op: &str, v: &T) -> Result<serde_json::Value, StoreError> {
    serde_json::to_value(v).map_err(|e| StoreError::new(ErrorKind::Internal, BACKEND, op, e))
}

fn from_json<T: DeserializeOwned>(op: &str, v: serde_json::Value) -> Result<T, StoreError> {
    serde_json::from_value(v).map_err(|e| corrupt(op, e))
}

/// Advisory lock key of a service or fingerprint of a project: the first 8 bytes of a SHA-256.
fn lock_key(project: &str, kind: &str, name: &str) -> i64 {
    let digest = Sha256::digest(format!("inquest-ingest\u{1f}{project}\u{1f}{kind}\u{1f}{name}").as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(b)
}

fn service_lock(project: &str, service: &str) -> i64 {
    lock_key(project, "service", service)
}

fn state_str(s: JobState) -> &'static str {
    match s {
        JobState::Queued => "queued",
        JobState::Running => "running",
        JobState::Succeeded => "succeeded",
        JobState::Failed => "failed",
    }
}

fn parse_state(op: &str, s: &str) -> Result<JobState, StoreError> {
    Ok(match s {
        "queued" => JobState::Queued,
        "running" => JobState::Running,
        "succeeded" => JobState::Succeeded,
        "failed" => JobState::Failed,
        other => return Err(corrupt(op, format!("unknown job state {other:?}"))),
    })
}

const JOB_COLUMNS: &str =
    "job_id, incident_id, state, attempts, created_at, next_run_at, lease_owner, lease_until, last_error, runs";

fn job_of(op: &str, row: &tokio_postgres::Row) -> Result<Job, Fail> {
    let state: String = row.try_get(2)?;
    let attempts: i32 = row.try_get(3)?;
    let runs: serde_json::Value = row.try_get(9)?;
    Ok(Job {
        job_id: row.try_get(0)?,
        incident_id: IncidentId(row.try_get(1)?),
        state: parse_state(op, &state)?,
        attempts: u32::try_from(attempts).map_err(|e| corrupt(op, e))?,
        created_at: row.try_get(4)?,
        next_run_at: row.try_get(5)?,
        lease_owner: row.try_get(6)?,
        lease_until: row.try_get(7)?,
        last_error: row.try_get(8)?,
        runs: from_json::<Vec<JobRun>>(op, runs)?,
    })
}

/// The decisions of these incidents (all, or only those the records store has not
/// had), oldest first, by incident.
const DECISIONS_OF: &str =
    "SELECT incident_id, body FROM ingest_decisions WHERE project_id = $2 AND incident_id = ANY($1) ORDER BY seq";
const PENDING_DECISIONS_OF: &str = "SELECT incident_id, body FROM ingest_decisions \
     WHERE project_id = $2 AND incident_id = ANY($1) AND pending ORDER BY seq";

/// Put each decision row into its incident's `decisions`.
fn attach_decisions(op: &str, incidents: &mut [IncidentState], rows: &[tokio_postgres::Row]) -> Result<(), StoreError> {
    let mut by_incident: HashMap<Uuid, Vec<IncidentDecision>> = HashMap::new();
    for row in rows {
        let id: Uuid = row.try_get(0).map_err(|e| pg_err(op, e))?;
        by_incident.entry(id).or_default().push(from_json(op, row.try_get(1).map_err(|e| pg_err(op, e))?)?);
    }
    for inc in incidents {
        if let Some(d) = by_incident.remove(&inc.incident_id.0) {
            inc.decisions = d;
        }
    }
    Ok(())
}

/// The `state` column of an incident: its state without the decisions.
fn state_json(op: &str, inc: &IncidentState) -> Result<serde_json::Value, StoreError> {
    let mut v = to_json(op, inc)?;
    if let Some(m) = v.as_object_mut() {
        m.insert("decisions".into(), serde_json::Value::Array(vec![]));
    }
    Ok(v)
}

/// Lock the given keys in ascending order, in one statement (unnest keeps the
/// array's order), until the transaction ends.
async fn advisory_locks(txn: &Transaction<'_>, mut keys: Vec<i64>) -> Result<(), Fail> {
    keys.sort_unstable();
    keys.dedup();
    let stmt = txn.prepare_cached("SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k").await?;
    txn.execute(&stmt, &[&keys]).await?;
    Ok(())
}

type Combiner = GroupCommit<IngestRequest, StoreResult<Vec<Applied>>>;

/// `IngestStore` of one project on the `deadpool-postgres` pool of a `PostgresStore`.
/// Every operation is a transaction that sets `inquest.project` first, and every
/// statement names `project_id` too.
#[derive(Clone)]
pub struct PostgresIntakeStore {
    pool: Pool,
    project: ProjectId,
    /// Per project, the task that commits the alert requests waiting at that moment
    /// together; started by the project's first `ingest`, shared by every scoped
    /// view, it ends when the last handle is dropped.
    combiners: Arc<Mutex<HashMap<ProjectId, Combiner>>>,
}

/// Most alerts committed in one transaction by the combiner.
const MAX_GROUP_ALERTS: usize = 2048;

/// Store the alerts of a group of requests (same policy, `IngestRequest::joins`)
/// in one transaction, in arrival order, and give each request its part. Within a
/// process requests then never wait on each other's advisory locks; across
/// processes the locks still serialise them.
async fn commit_group(store: &PostgresIntakeStore, group: Vec<IngestRequest>) -> Vec<StoreResult<Vec<Applied>>> {
    let Some(first) = group.first() else { return Vec::new() };
    let alerts: Vec<Alert> = group.iter().flat_map(|r| r.alerts.iter().cloned()).collect();
    let now = group.iter().map(|r| r.now).max().unwrap_or_else(chrono::Utc::now);
    let result = store.ingest_group(&alerts, &first.policy, now).await;
    debug!(requests = group.len(), alerts = alerts.len(), ok = result.is_ok(), "ingest group committed");
    match result {
        Ok(applied) => {
            let mut rest = applied.into_iter();
            group.iter().map(|r| Ok(rest.by_ref().take(r.alerts.len()).collect())).collect()
        }
        Err(e) => group.iter().map(|_| Err(e.clone())).collect(),
    }
}

impl std::fmt::Debug for PostgresIntakeStore {
    // The pool holds the connection settings, password included: never print them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresIntakeStore")
            .field("pool", &self.pool.status())
            .field("project", &self.project)
            .finish()
    }
}

impl PostgresStore {
    /// The intake store on this store's database and pool, in its project: one
    /// pool serves the records and the intake.
    pub fn intake(&self) -> PostgresIntakeStore {
        PostgresIntakeStore::on_pool(self.pool.clone(), self.project.clone())
    }
}

impl PostgresIntakeStore {
    fn on_pool(pool: Pool, project: ProjectId) -> Self {
        Self { pool, project, combiners: Arc::new(Mutex::new(HashMap::new())) }
    }

    /// The same pool acting in `project`.
    pub fn in_project(&self, project: &ProjectId) -> PostgresIntakeStore {
        PostgresIntakeStore { pool: self.pool.clone(), project: project.clone(), combiners: self.combiners.clone() }
    }

    /// A transaction acting in this store's project.
    async fn begin<'a>(&self, client: &'a mut deadpool_postgres::Object, op: &str) -> StoreResult<Transaction<'a>> {
        begin(client, &self.project, op).await
    }

    /// One read in a transaction of its own, acting in this store's project.
    async fn read(&self, op: &str, sql: &str, params: &[&(dyn ToSql + Sync)]) -> StoreResult<Vec<tokio_postgres::Row>> {
        let mut client = self.client(op).await?;
        let txn = self.begin(&mut client, op).await?;
        let rows = txn.query(sql, params).await.map_err(|e| pg_err(op, e))?;
        txn.commit().await.map_err(|e| pg_err(op, e))?;
        Ok(rows)
    }

    async fn client(&self, op: &str) -> StoreResult<deadpool_postgres::Object> {
        self.pool.get().await.map_err(|e| pool_err(op, e))
    }

    /// Store `batch` in one transaction, retried when Postgres aborts it for a conflict.
    async fn ingest_group(&self, batch: &[Alert], policy: &Policy, now: Timestamp) -> StoreResult<Vec<Applied>> {
        let op = "ingest";
        let mut retries = 0;
        loop {
            match self.ingest_once(batch, policy, now).await {
                Ok(applied) => return Ok(applied),
                Err(e) if e.is_conflict() && retries < CONFLICT_RETRIES => {
                    retries += 1;
                    warn!(retries, alerts = batch.len(), "ingest transaction aborted by a conflict; retrying");
                }
                Err(e) => return Err(e.into_store(op)),
            }
        }
    }

    /// One transaction for `batch`: lock its services and fingerprints, read what it
    /// correlates against in three statements, correlate in memory in arrival order,
    /// then write each alert, fingerprint and incident once.
    async fn ingest_once(&self, batch: &[Alert], policy: &Policy, now: Timestamp) -> Result<Vec<Applied>, Fail> {
        let op = "ingest";
        let project = self.project.as_str();
        let mut client = self.client(op).await?;
        let txn = self.begin(&mut client, op).await?;
        let mut keys = Vec::with_capacity(batch.len() * 2);
        for a in batch {
            keys.push(service_lock(project, &a.service));
            keys.push(lock_key(project, "fingerprint", &a.fingerprint));
        }
        advisory_locks(&txn, keys).await?;

        let fingerprints: Vec<&str> =
            batch.iter().map(|a| a.fingerprint.as_str()).collect::<BTreeSet<_>>().into_iter().collect();
        let services: Vec<&str> =
            batch.iter().map(|a| a.service.as_str()).collect::<BTreeSet<_>>().into_iter().collect();
        let fp_params: [&(dyn ToSql + Sync); 2] = [&fingerprints, &project];
        let service_params: [&(dyn ToSql + Sync); 2] = [&services, &project];
        // Both reads in one round trip (tokio-postgres pipelines queries polled together).
        let (alert_rows, active_rows) = futures::try_join!(
            txn.query(
                "SELECT f.fingerprint, a.body FROM ingest_alert_fingerprints f \
                 JOIN ingest_alerts a ON a.project_id = f.project_id AND a.alert_id = f.alert_id \
                 WHERE f.project_id = $2 AND f.fingerprint = ANY($1)",
                &fp_params,
            ),
            txn.query(
                "SELECT service, incident_id FROM ingest_active_incidents WHERE project_id = $2 AND service = ANY($1)",
                &service_params
            ),
        )?;
        // fingerprint -> (latest alert row, changed)
        let mut alerts: HashMap<String, (StoredAlert, bool)> = HashMap::new();
        for row in &alert_rows {
            alerts.insert(row.try_get(0)?, (from_json(op, row.try_get(1)?)?, false));
        }
        // service -> active incident
        let mut active: HashMap<String, Uuid> = HashMap::new();
        for row in &active_rows {
            active.insert(row.try_get(0)?, row.try_get(1)?);
        }
        let ids: Vec<Uuid> = alerts
            .values()
            .filter_map(|(a, _)| a.incident_id.map(|i| i.0))
            .chain(active.values().copied())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        // Incidents of other services (a fingerprint shared across services) are locked by the row lock.
        let rows = txn
            .query(
                "SELECT state FROM ingest_incident_states WHERE project_id = $2 AND incident_id = ANY($1) FOR UPDATE",
                &[&ids, &project],
            )
            .await?;
        // incident -> (state, changed, new in this batch)
        let mut incidents: HashMap<Uuid, (IncidentState, bool, bool)> = HashMap::new();
        for row in &rows {
            let inc: IncidentState = from_json(op, row.try_get(0)?)?;
            incidents.insert(inc.incident_id.0, (inc, false, false));
        }

        let mut order: Vec<Uuid> = Vec::new();
        let mut jobs: Vec<(Uuid, Uuid)> = Vec::new();
        let mut superseded: Vec<StoredAlert> = Vec::new();
        let mut out = Vec::with_capacity(batch.len());
        for alert in batch {
            let existing = alerts.get(&alert.fingerprint).map(|(a, _)| {
                let inc = a.incident_id.and_then(|i| incidents.get(&i.0)).map(|(inc, _, _)| inc.clone());
                (a.clone(), inc)
            });
            let current = active.get(&alert.service).and_then(|i| incidents.get(i)).map(|(inc, _, _)| inc.clone());
            let plan = correlate(Snapshot { existing, active: current }, alert.clone(), policy, now);
            // A new row for a fingerprint whose row this batch changed (it fired, its
            // incident resolved, it fired again): the old row is written too.
            if let Some((prev, true)) = alerts.insert(alert.fingerprint.clone(), (plan.alert.clone(), true))
                && prev.alert_id != plan.alert.alert_id
            {
                superseded.push(prev);
            }
            let mut resolved_after_seconds = None;
            if let Some(inc) = &plan.incident {
                let id = inc.incident_id.0;
                if plan.new_incident {
                    active.insert(inc.service.clone(), id);
                }
                let (changed, new) = incidents.get(&id).map_or((false, false), |(_, c, n)| (*c, *n));
                if !changed {
                    order.push(id);
                }
                incidents.insert(id, (inc.clone(), true, new || plan.new_incident));
                if plan.outcome == Outcome::Resolved {
                    resolved_after_seconds = inc.first_resolution_seconds();
                }
            }
            if let (Some(job_id), Some(inc)) = (plan.enqueue_job, &plan.incident) {
                jobs.push((job_id, inc.incident_id.0));
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

        // Incidents first (the outbox and the pointers reference them), each once.
        let written: Vec<&(IncidentState, bool, bool)> = order.iter().filter_map(|id| incidents.get(id)).collect();
        let inc_ids: Vec<Uuid> = written.iter().map(|(i, _, _)| i.incident_id.0).collect();
        let inc_services: Vec<&str> = written.iter().map(|(i, _, _)| i.service.as_str()).collect();
        let inc_status: Vec<&str> = written.iter().map(|(i, _, _)| i.status.as_str()).collect();
        let inc_created: Vec<Timestamp> = written.iter().map(|(i, _, _)| i.created_at).collect();
        let inc_states: Vec<serde_json::Value> =
            written.iter().map(|(i, _, _)| state_json(op, i)).collect::<Result<_, _>>()?;
        // The batch's new decisions (an incident read from the store carries none).
        let new_decisions: Vec<&IncidentDecision> = written.iter().flat_map(|(i, _, _)| i.decisions.iter()).collect();
        let decision_incidents: Vec<Uuid> = new_decisions.iter().map(|d| d.incident_id.0).collect();
        let decision_ids: Vec<Uuid> = new_decisions.iter().map(|d| d.decision_id.0).collect();
        let decision_bodies: Vec<serde_json::Value> =
            new_decisions.iter().map(|d| to_json(op, *d)).collect::<Result<_, _>>()?;
        // The service's pointer: the last incident the batch opened for it; an incident
        // that closed no longer holds the pointer.
        let mut pointers: BTreeMap<&str, Uuid> = BTreeMap::new();
        let mut closed: (Vec<&str>, Vec<Uuid>) = (Vec::new(), Vec::new());
        for (inc, _, new) in &written {
            if *new {
                pointers.insert(inc.service.as_str(), inc.incident_id.0);
            } else if !inc.is_active() {
                closed.0.push(inc.service.as_str());
                closed.1.push(inc.incident_id.0);
            }
        }
        let (pointer_services, pointer_ids): (Vec<&str>, Vec<Uuid>) = pointers.into_iter().unzip();
        txn.execute(
            "INSERT INTO ingest_incident_states (incident_id, service, status, created_at, state, project_id) \
             SELECT *, $6 FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::jsonb[]) \
             ON CONFLICT (project_id, incident_id) DO UPDATE SET status = EXCLUDED.status, state = EXCLUDED.state",
            &[&inc_ids, &inc_services, &inc_status, &inc_created, &inc_states, &project],
        )
        .await?;
        let decision_params: [&(dyn ToSql + Sync); 4] =
            [&decision_incidents, &decision_ids, &decision_bodies, &project];
        let outbox_params: [&(dyn ToSql + Sync); 2] = [&inc_ids, &project];
        let unpoint_params: [&(dyn ToSql + Sync); 3] = [&closed.0, &closed.1, &project];
        let point_params: [&(dyn ToSql + Sync); 3] = [&pointer_services, &pointer_ids, &project];
        let decisions = txn.execute(
            "INSERT INTO ingest_decisions (incident_id, decision_id, version, body, project_id) \
             SELECT i, d, nextval('ingest_records_outbox_version'), b, $4 \
             FROM unnest($1::uuid[], $2::uuid[], $3::jsonb[]) WITH ORDINALITY AS t(i, d, b, n) ORDER BY n \
             ON CONFLICT (project_id, decision_id) DO NOTHING",
            &decision_params,
        );
        let outbox = txn.execute(
            "INSERT INTO ingest_records_outbox (incident_id, version, project_id) \
             SELECT id, nextval('ingest_records_outbox_version'), $2 \
             FROM unnest($1::uuid[]) WITH ORDINALITY AS t(id, n) ORDER BY n \
             ON CONFLICT (project_id, incident_id) DO UPDATE SET version = EXCLUDED.version",
            &outbox_params,
        );
        let unpoint = txn.execute(
            "DELETE FROM ingest_active_incidents a USING unnest($1::text[], $2::uuid[]) AS c(service, incident_id) \
             WHERE a.project_id = $3 AND a.service = c.service AND a.incident_id = c.incident_id",
            &unpoint_params,
        );
        let point = txn.execute(
            "INSERT INTO ingest_active_incidents (service, incident_id, project_id) \
             SELECT *, $3 FROM unnest($1::text[], $2::uuid[]) \
             ON CONFLICT (project_id, service) DO UPDATE SET incident_id = EXCLUDED.incident_id",
            &point_params,
        );
        // Pipelined in this order: the decisions before the outbox entry (a newer
        // version), a pointer removed for a closed incident, then set for a new one.
        futures::try_join!(decisions, outbox, unpoint, point)?;
        let changed: Vec<&StoredAlert> = alerts.values().filter(|(_, c)| *c).map(|(a, _)| a).collect();
        // Every row the batch wrote (superseded ones too); the fingerprints point at the latest.
        let rows: Vec<&StoredAlert> = changed.iter().copied().chain(&superseded).collect();
        let alert_ids: Vec<Uuid> = rows.iter().map(|a| a.alert_id).collect();
        let alert_fps: Vec<&str> = rows.iter().map(|a| a.alert.fingerprint.as_str()).collect();
        let alert_incidents: Vec<Option<Uuid>> = rows.iter().map(|a| a.incident_id.map(|i| i.0)).collect();
        let alert_times: Vec<Timestamp> = rows.iter().map(|a| a.first_received_at).collect();
        let alert_bodies: Vec<serde_json::Value> = rows.iter().map(|a| to_json(op, *a)).collect::<Result<_, _>>()?;
        txn.execute(
            "INSERT INTO ingest_alerts (alert_id, fingerprint, incident_id, first_received_at, body, project_id) \
             SELECT *, $6 FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::timestamptz[], $5::jsonb[]) \
             ON CONFLICT (project_id, alert_id) DO UPDATE SET incident_id = EXCLUDED.incident_id, body = EXCLUDED.body",
            &[&alert_ids, &alert_fps, &alert_incidents, &alert_times, &alert_bodies, &project],
        )
        .await?;
        let latest = changed.len();
        txn.execute(
            "INSERT INTO ingest_alert_fingerprints (fingerprint, alert_id, project_id) \
             SELECT *, $3 FROM unnest($1::text[], $2::uuid[]) \
             ON CONFLICT (project_id, fingerprint) DO UPDATE SET alert_id = EXCLUDED.alert_id",
            &[&&alert_fps[..latest], &&alert_ids[..latest], &project],
        )
        .await?;
        if !jobs.is_empty() {
            let put_job = txn
                .prepare_cached(
                    "INSERT INTO investigation_jobs (job_id, incident_id, state, attempts, created_at, next_run_at, runs, \
                     project_id) VALUES ($1, $2, 'queued', 0, $3, $3, '[]'::jsonb, $4) \
                     ON CONFLICT (project_id, job_id) DO NOTHING",
                )
                .await?;
            for (job_id, incident_id) in &jobs {
                txn.execute(&put_job, &[job_id, incident_id, &now, &project]).await?;
            }
        }
        txn.commit().await?;
        Ok(out)
    }

    /// Lock an incident for a lifecycle change: its service's advisory lock first
    /// (the order `ingest` uses), then the row.
    async fn change_incident(
        &self,
        op: &str,
        id: IncidentId,
        change: impl FnOnce(&mut IncidentState) -> Result<bool, LifecycleError>,
    ) -> Result<IncidentState, LifecycleError> {
        let project = self.project.as_str();
        let mut client = self.client(op).await?;
        let txn = self.begin(&mut client, op).await?;
        let service: Option<String> = txn
            .query_opt(
                "SELECT service FROM ingest_incident_states WHERE project_id = $2 AND incident_id = $1",
                &[&id.0, &project],
            )
            .await
            .map_err(|e| pg_err(op, e))?
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(|e| pg_err(op, e))?;
        let Some(service) = service else { return Err(LifecycleError::NotFound(id)) };
        advisory_locks(&txn, vec![service_lock(project, &service)]).await.map_err(|e| e.into_store(op))?;
        let row = txn
            .query_opt(
                "SELECT state FROM ingest_incident_states WHERE project_id = $2 AND incident_id = $1 FOR UPDATE",
                &[&id.0, &project],
            )
            .await
            .map_err(|e| pg_err(op, e))?
            .ok_or(LifecycleError::NotFound(id))?;
        let mut inc: IncidentState = from_json(op, row.try_get(0).map_err(|e| pg_err(op, e))?)?;
        let reopened = change(&mut inc)?;
        // Decisions the change made, before the outbox entry (a newer version) that
        // put_incident writes.
        for d in &inc.decisions {
            txn.execute(
                "INSERT INTO ingest_decisions (incident_id, decision_id, version, body, project_id) \
                 VALUES ($1, $2, nextval('ingest_records_outbox_version'), $3, $4) \
                 ON CONFLICT (project_id, decision_id) DO NOTHING",
                &[&id.0, &d.decision_id.0, &to_json(op, d)?, &project],
            )
            .await
            .map_err(|e| pg_err(op, e))?;
        }
        put_incident(&txn, project, &inc, reopened, op).await.map_err(|e| e.into_store(op))?;
        let rows = txn.query(DECISIONS_OF, &[&vec![id.0], &project]).await.map_err(|e| pg_err(op, e))?;
        attach_decisions(op, std::slice::from_mut(&mut inc), &rows)?;
        txn.commit().await.map_err(|e| pg_err(op, e))?;
        Ok(inc)
    }

    /// Update a job the worker still holds (attempt `attempt`, lease owner `worker`).
    async fn update_held_job(
        &self,
        op: &str,
        job_id: Uuid,
        worker: &str,
        attempt: u32,
        f: impl FnOnce(&mut Job) + Send,
    ) -> StoreResult<bool> {
        let attempt = i32::try_from(attempt).map_err(|e| StoreError::new(ErrorKind::InvalidInput, BACKEND, op, e))?;
        let run = async {
            let mut client = self.client(op).await?;
            let txn = self.begin(&mut client, op).await?;
            let row = txn
                .query_opt(
                    &format!(
                        "SELECT {JOB_COLUMNS} FROM investigation_jobs \
                         WHERE project_id = $4 AND job_id = $1 AND lease_owner = $2 AND attempts = $3 \
                           AND state = 'running' FOR UPDATE"
                    ),
                    &[&job_id, &worker, &attempt, &self.project.as_str()],
                )
                .await?;
            let Some(row) = row else {
                txn.rollback().await?;
                return Ok::<bool, Fail>(false);
            };
            let mut job = job_of(op, &row)?;
            f(&mut job);
            write_job(&txn, self.project.as_str(), &job, op).await?;
            txn.commit().await?;
            Ok(true)
        };
        run.await.map_err(|e| e.into_store(op))
    }
}

/// Store an incident: its row, the outbox (a new version), and the service's
/// active pointer (set for a new or reopened incident, dropped once it closes).
async fn put_incident(
    txn: &Transaction<'_>,
    project: &str,
    inc: &IncidentState,
    new_incident: bool,
    op: &str,
) -> Result<(), Fail> {
    let state = state_json(op, inc)?;
    let upsert = txn
        .prepare_cached(
            "INSERT INTO ingest_incident_states (incident_id, service, status, created_at, state, project_id) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (project_id, incident_id) DO UPDATE SET status = EXCLUDED.status, state = EXCLUDED.state",
        )
        .await?;
    let outbox = txn
        .prepare_cached(
            "INSERT INTO ingest_records_outbox (incident_id, version, project_id) \
             VALUES ($1, nextval('ingest_records_outbox_version'), $2) \
             ON CONFLICT (project_id, incident_id) DO UPDATE SET version = EXCLUDED.version",
        )
        .await?;
    let pointer = if new_incident {
        Some(
            txn.prepare_cached(
                "INSERT INTO ingest_active_incidents (service, incident_id, project_id) VALUES ($1, $2, $3) \
                 ON CONFLICT (project_id, service) DO UPDATE SET incident_id = EXCLUDED.incident_id",
            )
            .await?,
        )
    } else if !inc.is_active() {
        Some(
            txn.prepare_cached(
                "DELETE FROM ingest_active_incidents WHERE service = $1 AND incident_id = $2 AND project_id = $3",
            )
            .await?,
        )
    } else {
        None
    };
    let status = inc.status.as_str();
    // The incident row, then the rows referencing it, pipelined in this order.
    let row_params: [&(dyn ToSql + Sync); 6] =
        [&inc.incident_id.0, &inc.service, &status, &inc.created_at, &state, &project];
    let id_params: [&(dyn ToSql + Sync); 2] = [&inc.incident_id.0, &project];
    let pointer_params: [&(dyn ToSql + Sync); 3] = [&inc.service, &inc.incident_id.0, &project];
    let row = txn.execute(&upsert, &row_params);
    let queued = txn.execute(&outbox, &id_params);
    match &pointer {
        Some(p) => {
            futures::try_join!(row, queued, txn.execute(p, &pointer_params))?;
        }
        None => {
            futures::try_join!(row, queued)?;
        }
    }
    Ok(())
}

async fn write_job(txn: &Transaction<'_>, project: &str, job: &Job, op: &str) -> Result<(), Fail> {
    let runs = to_json(op, &job.runs)?;
    let attempts = i32::try_from(job.attempts).map_err(|e| StoreError::new(ErrorKind::InvalidInput, BACKEND, op, e))?;
    let stmt = txn
        .prepare_cached(
            "UPDATE investigation_jobs SET state = $2, attempts = $3, next_run_at = $4, lease_owner = $5, lease_until = $6, \
             last_error = $7, runs = $8 WHERE job_id = $1 AND project_id = $9",
        )
        .await?;
    let params: [&(dyn ToSql + Sync); 9] = [
        &job.job_id,
        &state_str(job.state),
        &attempts,
        &job.next_run_at,
        &job.lease_owner,
        &job.lease_until,
        &job.last_error,
        &runs,
        &project,
    ];
    txn.execute(&stmt, &params).await?;
    Ok(())
}

#[async_trait]
impl IngestStore for PostgresIntakeStore {
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
        let op = "check_connectivity";
        // Also checks the schema: a missing table says to run `inquest migrate`.
        self.read(op, "SELECT 1 FROM investigation_jobs WHERE project_id = $1 LIMIT 1", &[&self.project.as_str()])
            .await?;
        Ok(())
    }

    async fn projects_with_work(&self) -> StoreResult<Vec<ProjectId>> {
        let op = "projects_with_work";
        let client = self.client(op).await?;
        // A security-definer function: the application role sees no other project's rows.
        let rows = client.query("SELECT inquest_projects_with_work()", &[]).await.map_err(|e| pg_err(op, e))?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get(0).map_err(|e| pg_err(op, e))?;
                ProjectId::new(&id).map_err(|e| corrupt(op, e))
            })
            .collect()
    }

    async fn ingest(&self, batch: &[Alert], policy: &Policy, now: Timestamp) -> StoreResult<Vec<Applied>> {
        let op = "ingest";
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let queue = {
            let mut combiners = self.combiners.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            combiners
                .entry(self.project.clone())
                .or_insert_with(|| {
                    let (queue, groups) = GroupCommit::new(MAX_GROUP_ALERTS);
                    // The task's own handle has no combiners of its own, so it does not keep itself alive.
                    let store = PostgresIntakeStore::on_pool(self.pool.clone(), self.project.clone());
                    tokio::spawn(async move { groups.run(|group| commit_group(&store, group)).await });
                    queue
                })
                .clone()
        };
        let request = IngestRequest { alerts: batch.to_vec(), policy: policy.clone(), now };
        queue.submit(request).await.map_err(|e| {
            let message = match e {
                GroupError::Stopped => "the ingest task has stopped",
                GroupError::NoAnswer => "the ingest task stopped before answering",
            };
            StoreError::new(ErrorKind::Unavailable, BACKEND, op, message)
        })?
    }

    async fn get_incident(&self, id: IncidentId) -> StoreResult<Option<IncidentState>> {
        let op = "get_incident";
        let project = self.project.as_str();
        let mut client = self.client(op).await?;
        let txn = self.begin(&mut client, op).await?;
        let row = txn
            .query_opt(
                "SELECT state FROM ingest_incident_states WHERE project_id = $2 AND incident_id = $1",
                &[&id.0, &project],
            )
            .await
            .map_err(|e| pg_err(op, e))?;
        let Some(r) = row else { return Ok(None) };
        let mut inc: IncidentState = from_json(op, r.try_get(0).map_err(|e| pg_err(op, e))?)?;
        let rows = txn.query(DECISIONS_OF, &[&vec![id.0], &project]).await.map_err(|e| pg_err(op, e))?;
        txn.commit().await.map_err(|e| pg_err(op, e))?;
        attach_decisions(op, std::slice::from_mut(&mut inc), &rows)?;
        Ok(Some(inc))
    }

    async fn list_incidents(&self) -> StoreResult<Vec<IncidentState>> {
        let op = "list_incidents";
        let project = self.project.as_str();
        let mut client = self.client(op).await?;
        let txn = self.begin(&mut client, op).await?;
        let rows = txn
            .query(
                "SELECT state FROM ingest_incident_states WHERE project_id = $1 ORDER BY created_at DESC, incident_id",
                &[&project],
            )
            .await
            .map_err(|e| pg_err(op, e))?;
        let mut incidents: Vec<IncidentState> =
            rows.iter().map(|r| from_json(op, r.try_get(0).map_err(|e| pg_err(op, e))?)).collect::<Result<_, _>>()?;
        let ids: Vec<Uuid> = incidents.iter().map(|i| i.incident_id.0).collect();
        let rows = txn.query(DECISIONS_OF, &[&ids, &project]).await.map_err(|e| pg_err(op, e))?;
        txn.commit().await.map_err(|e| pg_err(op, e))?;
        attach_decisions(op, &mut incidents, &rows)?;
        Ok(incidents)
    }

    async fn incident_counts(&self) -> StoreResult<BTreeMap<String, u64>> {
        let op = "incident_counts";
        let rows = self
            .read(
                op,
                "SELECT status, count(*) FROM ingest_incident_states WHERE project_id = $1 GROUP BY status",
                &[&self.project.as_str()],
            )
            .await?;
        let mut out: BTreeMap<String, u64> =
            [IncidentStatus::Open, IncidentStatus::Triaged, IncidentStatus::Resolved, IncidentStatus::Suppressed]
                .iter()
                .map(|s| (s.as_str().to_string(), 0))
                .collect();
        for r in rows {
            let status: String = r.try_get(0).map_err(|e| pg_err(op, e))?;
            let n: i64 = r.try_get(1).map_err(|e| pg_err(op, e))?;
            out.insert(status, n.max(0) as u64);
        }
        Ok(out)
    }

    async fn alerts_of(&self, incident: IncidentId) -> StoreResult<Vec<StoredAlert>> {
        let op = "alerts_of";
        let rows = self
            .read(
                op,
                "SELECT body FROM ingest_alerts WHERE project_id = $2 AND incident_id = $1 \
                 ORDER BY first_received_at, alert_id",
                &[&incident.0, &self.project.as_str()],
            )
            .await?;
        rows.iter().map(|r| from_json(op, r.try_get(0).map_err(|e| pg_err(op, e))?)).collect()
    }

    async fn alert_count(&self) -> StoreResult<u64> {
        let op = "alert_count";
        let rows = self
            .read(op, "SELECT count(*) FROM ingest_alerts WHERE project_id = $1", &[&self.project.as_str()])
            .await?;
        let n: i64 = rows.first().map(|r| r.try_get(0)).transpose().map_err(|e| pg_err(op, e))?.unwrap_or(0);
        Ok(n.max(0) as u64)
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
        self.change_incident("transition", id, |inc| {
            inc.apply(action, actor, reason, now)?;
            inc.decisions.extend(operator_decision(inc, action, policy));
            // Reopening makes it the service's active incident again.
            Ok(action == Action::Reopen)
        })
        .await
    }

    async fn add_note(&self, id: IncidentId, note: Note) -> Result<IncidentState, LifecycleError> {
        self.change_incident("add_note", id, |inc| {
            inc.updated_at = inc.updated_at.max(note.at);
            inc.notes.push(note);
            Ok(false)
        })
        .await
    }

    async fn add_decisions(
        &self,
        id: IncidentId,
        decisions: Vec<IncidentDecision>,
    ) -> Result<IncidentState, LifecycleError> {
        self.change_incident("add_decisions", id, |inc| {
            inc.decisions.extend(decisions);
            Ok(false)
        })
        .await
    }

    async fn pending_records(&self, limit: usize) -> StoreResult<Vec<Pending>> {
        let op = "pending_records";
        let project = self.project.as_str();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut client = self.client(op).await?;
        let txn = self.begin(&mut client, op).await?;
        let rows = txn
            .query(
                "SELECT i.state, o.version FROM ingest_records_outbox o \
                 JOIN ingest_incident_states i ON i.project_id = o.project_id AND i.incident_id = o.incident_id \
                 WHERE o.project_id = $2 ORDER BY o.version LIMIT $1",
                &[&limit, &project],
            )
            .await
            .map_err(|e| pg_err(op, e))?;
        let mut incidents = Vec::with_capacity(rows.len());
        let mut versions = Vec::with_capacity(rows.len());
        for r in &rows {
            let version: i64 = r.try_get(1).map_err(|e| pg_err(op, e))?;
            incidents.push(from_json::<IncidentState>(op, r.try_get(0).map_err(|e| pg_err(op, e))?)?);
            versions.push(version.max(0) as u64);
        }
        // Only the decisions the records store has not had yet.
        let ids: Vec<Uuid> = incidents.iter().map(|i| i.incident_id.0).collect();
        let rows = txn.query(PENDING_DECISIONS_OF, &[&ids, &project]).await.map_err(|e| pg_err(op, e))?;
        txn.commit().await.map_err(|e| pg_err(op, e))?;
        attach_decisions(op, &mut incidents, &rows)?;
        Ok(incidents.into_iter().zip(versions).map(|(incident, version)| Pending { incident, version }).collect())
    }

    async fn clear_pending(&self, done: &[(IncidentId, u64)]) -> StoreResult<()> {
        let op = "clear_pending";
        if done.is_empty() {
            return Ok(());
        }
        let ids: Vec<Uuid> = done.iter().map(|(i, _)| i.0).collect();
        let versions: Vec<i64> = done.iter().map(|(_, v)| i64::try_from(*v).unwrap_or(i64::MAX)).collect();
        let mut client = self.client(op).await?;
        let txn = self.begin(&mut client, op).await?;
        // One statement: an entry changed since (new version) stays.
        // Entries an intake transaction holds are skipped, not waited for: that
        // transaction is changing them (a new version), and waiting here while it
        // waits for another entry this statement locked would deadlock.
        // The decisions written with a cleared entry (an older version) are no longer pending.
        let n = txn
            .execute(
                "WITH cleared AS ( \
                   DELETE FROM ingest_records_outbox WHERE project_id = $3 AND incident_id IN ( \
                     SELECT o.incident_id FROM ingest_records_outbox o \
                     JOIN unnest($1::uuid[], $2::bigint[]) AS d(incident_id, version) \
                       ON o.incident_id = d.incident_id AND o.version = d.version \
                     WHERE o.project_id = $3 \
                     FOR UPDATE OF o SKIP LOCKED) \
                   RETURNING incident_id, version) \
                 UPDATE ingest_decisions d SET pending = false FROM cleared c \
                 WHERE d.project_id = $3 AND d.incident_id = c.incident_id AND d.pending AND d.version <= c.version",
                &[&ids, &versions, &self.project.as_str()],
            )
            .await
            .map_err(|e| pg_err(op, e))?;
        txn.commit().await.map_err(|e| pg_err(op, e))?;
        debug!(decisions_written = n, asked = done.len(), "outbox cleared");
        Ok(())
    }

    async fn take_job(
        &self,
        worker: &str,
        lease: chrono::Duration,
        max_attempts: u32,
        now: Timestamp,
    ) -> StoreResult<Taken> {
        let op = "take_job";
        let project = self.project.as_str();
        let run = async {
            let mut client = self.client(op).await?;
            let txn = self.begin(&mut client, op).await?;
            let mut gave_up = Vec::new();
            // A job given up is failed within this transaction, so the next select skips it.
            let job = loop {
                let row = txn
                    .query_opt(
                        &format!(
                            "SELECT {JOB_COLUMNS} FROM investigation_jobs \
                             WHERE project_id = $2 AND ((state = 'queued' AND next_run_at <= $1) \
                                OR (state = 'running' AND (lease_until IS NULL OR lease_until < $1))) \
                             ORDER BY next_run_at LIMIT 1 FOR UPDATE SKIP LOCKED"
                        ),
                        &[&now, &project],
                    )
                    .await?;
                let Some(row) = row else { break None };
                let mut job = job_of(op, &row)?;
                if job.out_of_attempts(max_attempts, now) {
                    job.give_up_expired(max_attempts, now);
                    write_job(&txn, project, &job, op).await?;
                    gave_up.push(job);
                    continue;
                }
                // Fencing: attempts grows, an expired run is marked "lease expired".
                job.lease(worker, lease, now);
                write_job(&txn, project, &job, op).await?;
                break Some(job);
            };
            txn.commit().await?;
            Ok::<Taken, Fail>(Taken { job, gave_up })
        };
        run.await.map_err(|e| e.into_store(op))
    }

    async fn complete_job(&self, job_id: Uuid, worker: &str, attempt: u32, now: Timestamp) -> StoreResult<bool> {
        self.update_held_job("complete_job", job_id, worker, attempt, move |job| job.succeed(now)).await
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
        let error = error.to_string();
        self.update_held_job("fail_job", job_id, worker, attempt, move |job| job.fail(&error, retry_at, now)).await
    }

    async fn get_job(&self, job_id: Uuid) -> StoreResult<Option<Job>> {
        let op = "get_job";
        let rows = self
            .read(
                op,
                &format!("SELECT {JOB_COLUMNS} FROM investigation_jobs WHERE project_id = $2 AND job_id = $1"),
                &[&job_id, &self.project.as_str()],
            )
            .await?;
        rows.first().map(|r| job_of(op, r)).transpose().map_err(|e| e.into_store(op))
    }

    async fn list_jobs(&self) -> StoreResult<Vec<Job>> {
        let op = "list_jobs";
        let rows = self
            .read(
                op,
                &format!(
                    "SELECT {JOB_COLUMNS} FROM investigation_jobs WHERE project_id = $1 ORDER BY created_at, job_id"
                ),
                &[&self.project.as_str()],
            )
            .await?;
        rows.iter().map(|r| job_of(op, r).map_err(|e| e.into_store(op))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PoolSettings;

    #[tokio::test]
    async fn a_refused_connection_is_unavailable_and_hides_the_password() {
        let settings = PoolSettings { connect_timeout: std::time::Duration::from_secs(2), ..PoolSettings::default() };
        let records = PostgresStore::connect("postgres://u:hunter2@127.0.0.1:1/db", &settings).expect("pool");
        let store = records.intake();
        assert!(!format!("{store:?}").contains("hunter2"));
        let err = store.check_connectivity().await.expect_err("nothing listens on port 1");
        assert_eq!(err.kind, ErrorKind::Unavailable, "{err}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let err = store.take_job("w", chrono::Duration::seconds(5), 5, chrono::Utc::now()).await.expect_err("down");
        assert_eq!(err.kind, ErrorKind::Unavailable, "{err}");
    }

    #[test]
    fn lock_keys_differ_by_project_kind_and_name() {
        assert_ne!(lock_key("p", "service", "a"), lock_key("p", "fingerprint", "a"));
        assert_ne!(service_lock("p", "a"), service_lock("p", "b"));
        assert_ne!(service_lock("p", "a"), service_lock("q", "a"));
        assert_eq!(service_lock("p", "a"), service_lock("p", "a"));
    }
}
