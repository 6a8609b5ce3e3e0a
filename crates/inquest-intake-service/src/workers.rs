//! Investigation workers: take a leased job from the durable queue, run the
//! investigation, and complete it, or retry it with exponential backoff, or give
//! up keeping the error: after the last attempt, or at once when the error is one
//! another attempt cannot fix (the incident does not exist). A job whose worker
//! died is taken again once its lease expires, up to `max_attempts` attempts in
//! all; a worker that lost its lease cannot complete it.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use chrono::Utc;
use inquest_core::{InvestigationConfig, ReportWriter, investigate_and_save};
use inquest_domain::{IncidentId, ProjectId};
use inquest_ports::Stores;
use inquest_telemetry::store_label;
use tokio::sync::watch;
use tracing::{Instrument, info, info_span, warn};

use inquest_intake::Job;
use inquest_intake::response::LeadingHypothesis;

use crate::service::Ingest;

/// What a saved investigation met on its way: the stores that could not answer
/// (its evidence gaps), each as `port/backend`. Their failed calls were counted by
/// the port wrappers; the worker only logs them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Investigated {
    pub failed_stores: Vec<String>,
    /// The leading hypothesis, for the response policy.
    pub top: Option<LeadingHypothesis>,
}

/// An investigation that could not be completed: the error kept on the job, and
/// whether another attempt may succeed (when not, the job is given up at once).
#[derive(Debug, Clone, PartialEq)]
pub struct InvestigationFailed {
    pub error: String,
    pub retryable: bool,
}

impl InvestigationFailed {
    /// A failure another attempt cannot fix.
    pub fn permanent(error: impl Into<String>) -> InvestigationFailed {
        InvestigationFailed { error: error.into(), retryable: false }
    }
}

/// A failure worth another attempt (a time limit, a store that may come back).
impl From<String> for InvestigationFailed {
    fn from(error: String) -> InvestigationFailed {
        InvestigationFailed { error, retryable: true }
    }
}

/// Runs one investigation of an incident of `project`. The default is
/// `CoreInvestigator`; tests substitute others.
#[async_trait]
pub trait Investigator: Send + Sync {
    async fn investigate(&self, project: &ProjectId, incident: IncidentId)
    -> Result<Investigated, InvestigationFailed>;
}

/// `inquest_core::investigate_and_save` with the configured report writer, on the
/// stores scoped to the job's project.
pub struct CoreInvestigator {
    pub stores: Stores,
    pub writer: Arc<dyn ReportWriter>,
    pub config: InvestigationConfig,
}

#[async_trait]
impl Investigator for CoreInvestigator {
    async fn investigate(
        &self,
        project: &ProjectId,
        incident: IncidentId,
    ) -> Result<Investigated, InvestigationFailed> {
        let stores =
            if self.stores.project() == project { self.stores.clone() } else { self.stores.for_project(project) };
        match investigate_and_save(&stores, self.writer.as_ref(), incident, &self.config, Utc::now()).await {
            Ok((inv, report)) => {
                info!(hypotheses = inv.hypotheses.len(), gaps = inv.gaps.len(), report = %report.report_id, "investigation saved");
                let top = inv.hypotheses.first().map(|h| LeadingHypothesis {
                    title: h.title.clone(),
                    hypothesis_type: h.hypothesis_type,
                    confidence: h.confidence,
                    confirmed_precedents: h.details["precedent"]["confirmed"]
                        .as_u64()
                        .and_then(|n| u32::try_from(n).ok())
                        .unwrap_or(0),
                });
                Ok(Investigated {
                    failed_stores: inv.gaps.iter().map(|g| store_label(&g.port, &g.backend)).collect(),
                    top,
                })
            }
            Err(e) => Err(InvestigationFailed { error: e.to_string(), retryable: e.retryable() }),
        }
    }
}

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub worker_id: String,
    pub lease: chrono::Duration,
    pub max_attempts: u32,
    pub backoff_base: chrono::Duration,
    pub backoff_max: chrono::Duration,
    /// Sleep between polls when the queue is empty.
    pub poll: std::time::Duration,
}

impl WorkerConfig {
    pub fn new(worker_id: impl Into<String>) -> WorkerConfig {
        WorkerConfig {
            worker_id: worker_id.into(),
            lease: chrono::Duration::seconds(60),
            max_attempts: 5,
            backoff_base: chrono::Duration::seconds(2),
            backoff_max: chrono::Duration::minutes(5),
            poll: std::time::Duration::from_millis(250),
        }
    }

    /// Delay before attempt `attempt + 1`: base * 2^(attempt - 1), capped.
    pub fn backoff(&self, attempt: u32) -> chrono::Duration {
        inquest_intake::store::backoff(self.backoff_base, self.backoff_max, attempt)
    }
}

/// What `run_once` did.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Idle,
    Succeeded(Job),
    Retrying(Job, String),
    /// Given up keeping the error: after the last attempt, or at once when it was not retryable.
    GaveUp(Job, String),
    /// The lease was lost (taken over after expiry): the result was discarded.
    LostLease(Job),
}

/// Take one job of any project with work and run it. The whole attempt (the
/// records sync, then the investigation) has `0.8 × lease` from the take, so it ends
/// before its lease does and no other worker can take the job while it still runs.
pub async fn run_once(
    ingest: &Ingest,
    investigator: &dyn Investigator,
    cfg: &WorkerConfig,
) -> Result<Step, inquest_ports::StoreError> {
    for project in ingest.store.projects_with_work().await? {
        let step = run_once_in(ingest, &project, investigator, cfg).await?;
        if step != Step::Idle {
            return Ok(step);
        }
    }
    Ok(Step::Idle)
}

/// Take one job of `project` and run it (see `run_once`).
pub async fn run_once_in(
    ingest: &Ingest,
    project: &ProjectId,
    investigator: &dyn Investigator,
    cfg: &WorkerConfig,
) -> Result<Step, inquest_ports::StoreError> {
    let store = ingest.store_in(project);
    let budget = cfg.lease.to_std().unwrap_or(std::time::Duration::from_secs(60)).mul_f64(0.8);
    // Counted from before the take: the lease starts at the `now` given to it.
    let deadline = tokio::time::Instant::now() + budget;
    let taken = store.take_job(&cfg.worker_id, cfg.lease, cfg.max_attempts, Utc::now()).await?;
    for job in &taken.gave_up {
        ingest.metrics.job_failures.inc();
        warn!(%project, job = %job.job_id, incident = %job.incident_id, error = job.last_error.as_deref().unwrap_or_default(), "investigation job gave up");
    }
    let Some(job) = taken.job else {
        return Ok(Step::Idle);
    };
    let span = info_span!("investigation_job", %project, job = %job.job_id, incident = %job.incident_id, attempt = job.attempts, worker = %cfg.worker_id);
    async {
        // The incident must be in the records store before it is investigated. A
        // sync that fails or is cut short does not fail the job: the investigation
        // gets what is left of the time.
        match tokio::time::timeout_at(deadline, ingest.sync_records(project)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => warn!(error = %e, "records not in sync before the investigation"),
            Err(_) => warn!(budget_secs = budget.as_secs_f64(), "records sync cut short by the attempt's time limit"),
        }
        let started = Instant::now();
        let result = match tokio::time::timeout_at(deadline, investigator.investigate(project, job.incident_id)).await {
            Ok(r) => r,
            Err(_) => Err(format!("the attempt exceeded {:.1}s (0.8 × the lease)", budget.as_secs_f64()).into()),
        };
        let secs = started.elapsed().as_secs_f64();
        let now = Utc::now();
        match result {
            Ok(investigated) => {
                ingest.metrics.investigation_duration.with_label_values(&["succeeded"]).observe(secs);
                if store.complete_job(job.job_id, &cfg.worker_id, job.attempts, now).await? {
                    info!(seconds = secs, failed_stores = ?investigated.failed_stores, "investigation job succeeded");
                    if let Some(r) = &ingest.responder {
                        let run = job.job_id.to_string();
                        match r.respond(ingest, project, job.incident_id, &run, investigated.top.clone()).await {
                            Ok(d) => info!(decisions = d.len(), "response policy applied"),
                            Err(e) => warn!(error = %e, "response policy not applied"),
                        }
                    }
                    Ok(Step::Succeeded(job))
                } else {
                    warn!("lease lost before completion");
                    Ok(Step::LostLease(job))
                }
            }
            Err(InvestigationFailed { error, retryable }) => {
                ingest.metrics.investigation_duration.with_label_values(&["failed"]).observe(secs);
                // An error another attempt cannot fix gives the job up now, as a failure, not a retry.
                let give_up = !retryable || job.attempts >= cfg.max_attempts;
                let retry_at = (!give_up).then(|| now + cfg.backoff(job.attempts));
                if !store.fail_job(job.job_id, &cfg.worker_id, job.attempts, &error, retry_at, now).await? {
                    return Ok(Step::LostLease(job));
                }
                if give_up {
                    ingest.metrics.job_failures.inc();
                    warn!(%error, retryable, "investigation job gave up");
                    Ok(Step::GaveUp(job, error))
                } else {
                    ingest.metrics.job_retries.inc();
                    warn!(%error, retry_at = ?retry_at, "investigation job failed; will retry");
                    Ok(Step::Retrying(job, error))
                }
            }
        }
    }
    .instrument(span)
    .await
}

/// Run jobs until `shutdown` turns true.
pub async fn run_worker(
    ingest: Arc<Ingest>,
    investigator: Arc<dyn Investigator>,
    cfg: WorkerConfig,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        let idle = match run_once(&ingest, investigator.as_ref(), &cfg).await {
            Ok(Step::Idle) => true,
            Ok(_) => false,
            Err(e) => {
                warn!(error = %e, worker = %cfg.worker_id, "job queue unavailable");
                true
            }
        };
        if idle {
            tokio::select! {
                _ = tokio::time::sleep(cfg.poll) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

/// Write the outbox to the records store when alerts changed incidents (a burst is
/// gathered for `SYNC_GATHER` first), and at least every `every`, until shutdown. While it runs, intake
/// requests answer as soon as the alerts are stored.
pub async fn run_records_sync(ingest: Arc<Ingest>, every: std::time::Duration, mut shutdown: watch::Receiver<bool>) {
    ingest.background_sync.store(true, std::sync::atomic::Ordering::Release);
    loop {
        if *shutdown.borrow() {
            ingest.background_sync.store(false, std::sync::atomic::Ordering::Release);
            let _ = ingest.sync_all_records().await;
            return;
        }
        if let Err(e) = ingest.sync_all_records().await {
            warn!(error = %e, "records sync failed; will retry");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = ingest.sync_wanted.notified() => {
                // Let a burst of alerts gather: one records write for all of it.
                tokio::select! {
                    _ = tokio::time::sleep(SYNC_GATHER) => {}
                    _ = shutdown.changed() => {}
                }
            }
            _ = shutdown.changed() => {}
        }
    }
}

/// How long the records writer waits after alerts changed incidents, so that the
/// changes of a burst are written together.
const SYNC_GATHER: std::time::Duration = std::time::Duration::from_millis(250);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let mut c = WorkerConfig::new("w");
        c.backoff_base = chrono::Duration::seconds(2);
        c.backoff_max = chrono::Duration::seconds(30);
        let secs: Vec<i64> = (1..=6).map(|a| c.backoff(a).num_seconds()).collect();
        assert_eq!(secs, vec![2, 4, 8, 16, 30, 30]);
        assert_eq!(c.backoff(1000).num_seconds(), 30);
    }
}
