//! `Ingest`: the intake service the HTTP handlers and workers share. It stores
//! alerts (correlated, in one transaction) before answering, writes changed
//! incidents and their decisions to the records store through an outbox, applies
//! lifecycle actions, and keeps the metrics.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Utc;
use inquest_domain::service_key_of;
use inquest_domain::{IncidentId, ProjectId, Service, ServiceId, Timestamp};
use inquest_intake::correlate::Outcome;
use inquest_intake::lifecycle::{Action, IncidentState, Note};
use inquest_intake::{Alert, Applied, IngestStore, LifecycleError, Policy};
use inquest_ports::{RecordBatch, RecordStore, StoreError};
use tracing::{Instrument, info_span, warn};

use crate::metrics::Metrics;

pub struct Ingest {
    pub store: Arc<dyn IngestStore>,
    pub records: Arc<dyn RecordStore>,
    pub policy: Arc<Policy>,
    pub metrics: Arc<Metrics>,
    /// Set while `workers::run_records_sync` runs: intake then only wakes it instead
    /// of writing the records store on the request path.
    pub(crate) background_sync: std::sync::atomic::AtomicBool,
    pub(crate) sync_wanted: tokio::sync::Notify,
    /// One records write at a time in this process: two overlapping syncs could
    /// otherwise write an older state of an incident after a newer one.
    sync_lock: tokio::sync::Mutex<()>,
    /// The response policy's actions after each investigation (none when unset).
    pub responder: Option<Arc<crate::respond::Responder>>,
}

impl Ingest {
    /// The service with metrics on a registry of their own.
    pub fn new(store: Arc<dyn IngestStore>, records: Arc<dyn RecordStore>, policy: Policy) -> Ingest {
        Ingest::with_metrics(store, records, policy, Arc::new(Metrics::new()))
    }

    /// The service counting into `metrics` (e.g. registered into a registry shared
    /// with other subsystems, `Metrics::with_registry`). Store calls are counted by
    /// the wrappers the stores come in (`inquest_telemetry::ObservedIntake`, `observe`).
    pub fn with_metrics(
        store: Arc<dyn IngestStore>,
        records: Arc<dyn RecordStore>,
        policy: Policy,
        metrics: Arc<Metrics>,
    ) -> Ingest {
        Ingest {
            store,
            records,
            policy: Arc::new(policy),
            metrics,
            background_sync: std::sync::atomic::AtomicBool::new(false),
            sync_wanted: tokio::sync::Notify::new(),
            sync_lock: tokio::sync::Mutex::new(()),
            responder: None,
        }
    }

    /// The service taking `responder`'s actions after each investigation.
    pub fn with_responder(mut self, responder: crate::respond::Responder) -> Ingest {
        self.responder = Some(Arc::new(responder));
        self
    }

    /// The intake store acting in `project` (reads of alerts, incidents and jobs).
    pub fn store_in(&self, project: &ProjectId) -> Arc<dyn IngestStore> {
        if self.store.project() == project { self.store.clone() } else { self.store.scoped(project) }
    }

    /// The records store acting in `project`.
    pub fn records_in(&self, project: &ProjectId) -> Arc<dyn RecordStore> {
        if self.records.project() == project { self.records.clone() } else { self.records.scoped(project) }
    }

    /// Correlate and store `alerts` in `project`; when this returns `Ok` they are durable.
    pub async fn ingest(
        &self,
        project: &ProjectId,
        alerts: Vec<Alert>,
        now: Timestamp,
    ) -> Result<Vec<Applied>, StoreError> {
        let source = alerts.first().map(|a| a.source.as_str()).unwrap_or("none");
        let span = info_span!("ingest", %project, source, alerts = alerts.len(), policy_version = %self.policy.version);
        async {
            for a in &alerts {
                self.metrics.alerts_received.with_label_values(&[a.severity.as_str(), a.source.as_str()]).inc();
            }
            let applied = self
                .store_in(project)
                .ingest(&alerts, &self.policy, now)
                .await
                .inspect_err(|e| warn!(error = %e, "storing alerts failed"))?;
            let mut changed = false;
            for a in &applied {
                self.metrics.correlations.with_label_values(&[a.outcome.as_str()]).inc();
                if let Some(s) = a.resolved_after_seconds {
                    self.metrics.mttr.observe(s);
                }
                changed |= a.outcome != Outcome::Ignored;
                tracing::debug!(alert_id = %a.alert_id, outcome = a.outcome.as_str(), incident = ?a.incident_id, "alert correlated");
            }
            if changed && self.background_sync.load(std::sync::atomic::Ordering::Acquire) {
                self.sync_wanted.notify_one();
            } else if changed {
                // The alerts are stored; writing the incidents to the records store can
                // be retried later (the outbox keeps them), so a failure is not an error here.
                if let Err(e) = self.sync_records(project).await {
                    warn!(error = %e, "incidents not yet written to the records store; will retry");
                }
            }
            Ok(applied)
        }
        .instrument(span)
        .await
    }

    /// Write the outbox of every project that has one to the records store; the
    /// first error stops it (the outbox keeps what was not written).
    pub async fn sync_all_records(&self) -> Result<usize, StoreError> {
        let mut written = 0;
        for project in self.store.projects_with_work().await? {
            written += self.sync_records(&project).await?;
        }
        Ok(written)
    }

    /// Write every incident in `project`'s outbox (with its service and decisions)
    /// to the records store. Idempotent: ids are stable and rows are upserts.
    pub async fn sync_records(&self, project: &ProjectId) -> Result<usize, StoreError> {
        let _one_at_a_time = self.sync_lock.lock().await;
        let store = self.store_in(project);
        let records = self.records_in(project);
        let mut written = 0;
        loop {
            let pending = store.pending_records(256).await?;
            if pending.is_empty() {
                return Ok(written);
            }
            let known: BTreeSet<ServiceId> = records.list_services().await?.into_iter().map(|s| s.service_id).collect();
            let mut batch = RecordBatch::default();
            let mut added = BTreeSet::new();
            for p in &pending {
                let inc = &p.incident;
                if !known.contains(&inc.service_id) && added.insert(inc.service_id) {
                    batch.services.push(service_row(inc));
                }
                batch.incidents.push(incident_row(records.as_ref(), inc).await?);
                batch.decisions.extend(inc.decisions.iter().cloned());
            }
            records.apply_batch(&batch).await?;
            let done: Vec<(IncidentId, u64)> = pending.iter().map(|p| (p.incident.incident_id, p.version)).collect();
            store.clear_pending(&done).await?;
            written += pending.len();
            if pending.len() < 256 {
                return Ok(written);
            }
        }
    }

    pub async fn transition(
        &self,
        project: &ProjectId,
        id: IncidentId,
        action: Action,
        actor: &str,
        reason: Option<String>,
    ) -> Result<IncidentState, LifecycleError> {
        let span = info_span!("incident_transition", %project, incident = %id, action = action.as_str(), actor);
        async {
            let inc = self.store_in(project).transition(id, action, actor, reason, &self.policy, Utc::now()).await?;
            if let Some(last) = inc.transitions.last() {
                if action == Action::Triage
                    && let Some(d) = inc.time_to_acknowledge()
                    && inc.transitions.iter().filter(|t| t.to == inquest_domain::IncidentStatus::Triaged).count() == 1
                {
                    self.metrics.mtta.observe(d.num_milliseconds() as f64 / 1000.0);
                }
                if last.to == inquest_domain::IncidentStatus::Resolved
                    && let Some(secs) = inc.first_resolution_seconds()
                {
                    self.metrics.mttr.observe(secs);
                }
            }
            if let Err(e) = self.sync_records(project).await {
                warn!(error = %e, "incident not yet written to the records store; will retry");
            }
            Ok(inc)
        }
        .instrument(span)
        .await
    }

    pub async fn add_note(
        &self,
        project: &ProjectId,
        id: IncidentId,
        author: &str,
        text: &str,
    ) -> Result<IncidentState, LifecycleError> {
        let note = Note { at: Utc::now(), author: author.to_string(), text: text.to_string() };
        let inc = self.store_in(project).add_note(id, note).await?;
        if let Err(e) = self.sync_records(project).await {
            warn!(error = %e, "incident not yet written to the records store; will retry");
        }
        Ok(inc)
    }

    /// Record decisions on an incident (see `IngestStore::add_decisions`) and write it
    /// to the records store, where they become `incident_decisions` rows.
    pub async fn add_decisions(
        &self,
        project: &ProjectId,
        id: IncidentId,
        decisions: Vec<inquest_domain::IncidentDecision>,
    ) -> Result<IncidentState, LifecycleError> {
        let inc = self.store_in(project).add_decisions(id, decisions).await?;
        if self.background_sync.load(std::sync::atomic::Ordering::Acquire) {
            self.sync_wanted.notify_one();
        } else if let Err(e) = self.sync_records(project).await {
            warn!(error = %e, "incident not yet written to the records store; will retry");
        }
        Ok(inc)
    }

    /// Refresh the incidents-by-status gauge and render `/metrics`. The gauge counts
    /// the incidents of the store's own project (the default one as wired).
    /// The metrics, with the incident gauges summed over `projects` (no project label:
    /// `/metrics` is for the operator, who sees totals, not any project's incidents).
    pub async fn render_metrics(&self, projects: &[ProjectId]) -> String {
        let mut total: std::collections::BTreeMap<String, u64> = Default::default();
        for p in projects {
            // A store that cannot count keeps the last gauge values; the wrapper counted the failure.
            let Ok(counts) = self.store.scoped(p).incident_counts().await else { return self.metrics.render() };
            for (status, n) in counts {
                *total.entry(status).or_default() += n;
            }
        }
        self.metrics.set_incident_counts(&total);
        self.metrics.render()
    }
}

/// The `incidents` row of `inc`. A resolution people gave through feedback
/// (a confirmed hypothesis, a root cause) is kept: the lifecycle does not undo it.
async fn incident_row(records: &dyn RecordStore, inc: &IncidentState) -> Result<inquest_domain::Incident, StoreError> {
    let row = inc.to_incident();
    let events = records.feedback(inc.incident_id).await?;
    if events.is_empty() {
        return Ok(row);
    }
    let hypotheses = records.hypotheses(inc.incident_id).await?;
    let resolution = inquest_core::feedback::derive_resolution(&events, &hypotheses);
    Ok(if resolution.resolved_at.is_some() {
        inquest_core::feedback::apply_resolution(&row, &resolution, row.updated_at)
    } else {
        row
    })
}

/// The `services` row for an incident's service (`cluster/namespace/name` or a bare name).
fn service_row(inc: &IncidentState) -> Service {
    let key = service_key_of(&inc.service);
    let mut parts = key.splitn(3, '/');
    let cluster = parts.next().unwrap_or("default").to_string();
    let namespace = parts.next().unwrap_or("default").to_string();
    let name = parts.next().unwrap_or(&inc.service).to_string();
    Service {
        service_id: inc.service_id,
        cluster_id: cluster,
        namespace,
        service_name: name,
        created_at: inc.created_at,
    }
}
