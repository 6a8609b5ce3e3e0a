//! The intake's storage port: alerts, incident state and lifecycle, the outbox of
//! incidents to write to the records store, and the durable investigation job queue.
//! Object-safe, used as `Arc<dyn IngestStore>`; one write is one transaction.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use inquest_domain::{IncidentDecision, IncidentId, ProjectId, Timestamp};
use inquest_ports::{StoreError, StoreResult};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::correlate::{Outcome, StoredAlert};
use crate::lifecycle::{Action, IncidentState, InvalidTransition, Note};
use crate::model::Alert;
use crate::policy::Policy;

/// What one alert of a batch led to, after it was stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Applied {
    pub alert_id: Uuid,
    pub fingerprint: String,
    pub incident_id: Option<IncidentId>,
    pub outcome: Outcome,
    /// The investigation job enqueued by this alert, if it approved its incident.
    pub job_id: Option<Uuid>,
    /// Set when this alert resolved its incident for the first time: seconds from
    /// creation to resolution (the MTTR sample).
    pub resolved_after_seconds: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Running,
    Succeeded,
    Failed,
}

/// One attempt of a job by one worker. `outcome` stays `None` when the worker died
/// (the lease then expired and the job was taken again).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRun {
    pub attempt: u32,
    pub worker: String,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub outcome: Option<String>,
}

/// An investigation job: durable, leased, retried with backoff.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub job_id: Uuid,
    pub incident_id: IncidentId,
    pub state: JobState,
    pub attempts: u32,
    pub created_at: Timestamp,
    pub next_run_at: Timestamp,
    pub lease_owner: Option<String>,
    pub lease_until: Option<Timestamp>,
    pub last_error: Option<String>,
    pub runs: Vec<JobRun>,
}

impl Job {
    pub fn new(job_id: Uuid, incident_id: IncidentId, now: Timestamp) -> Job {
        Job {
            job_id,
            incident_id,
            state: JobState::Queued,
            attempts: 0,
            created_at: now,
            next_run_at: now,
            lease_owner: None,
            lease_until: None,
            last_error: None,
            runs: vec![],
        }
    }

    /// Whether a worker may take it at `now`: queued and due, or running with an expired lease.
    pub fn takeable(&self, now: Timestamp) -> bool {
        match self.state {
            JobState::Queued => self.next_run_at <= now,
            JobState::Running => self.lease_until.is_none_or(|l| l < now),
            JobState::Succeeded | JobState::Failed => false,
        }
    }

    /// Lease the job to `worker` (the caller checked `takeable`).
    pub fn lease(&mut self, worker: &str, lease: chrono::Duration, now: Timestamp) {
        if self.state == JobState::Running
            && let Some(run) = self.runs.last_mut()
            && run.outcome.is_none()
        {
            run.outcome = Some("lease expired".into());
        }
        self.state = JobState::Running;
        self.attempts += 1;
        self.lease_owner = Some(worker.to_string());
        self.lease_until = Some(now + lease);
        self.runs.push(JobRun {
            attempt: self.attempts,
            worker: worker.to_string(),
            started_at: now,
            finished_at: None,
            outcome: None,
        });
    }

    /// Whether taking it at `now` would start an attempt past `max_attempts`: its
    /// lease expired on the last attempt allowed (the worker died or hung).
    pub fn out_of_attempts(&self, max_attempts: u32, now: Timestamp) -> bool {
        self.state == JobState::Running && self.takeable(now) && self.attempts >= max_attempts
    }

    /// The lease of the last attempt allowed expired without a result: give up,
    /// keeping why (the caller checked `out_of_attempts`).
    pub fn give_up_expired(&mut self, max_attempts: u32, now: Timestamp) {
        let error = format!(
            "attempt {} of {max_attempts}: the lease expired without a result (the worker died or hung)",
            self.attempts
        );
        self.finish("lease expired", now);
        self.last_error = Some(error);
        self.state = JobState::Failed;
    }

    /// True when `worker` still holds the lease of attempt `attempt`.
    pub fn held_by(&self, worker: &str, attempt: u32) -> bool {
        self.state == JobState::Running && self.attempts == attempt && self.lease_owner.as_deref() == Some(worker)
    }

    pub fn finish(&mut self, outcome: &str, now: Timestamp) {
        if let Some(run) = self.runs.last_mut() {
            run.finished_at = Some(now);
            run.outcome = Some(outcome.to_string());
        }
        self.lease_owner = None;
        self.lease_until = None;
    }

    /// The held attempt succeeded: the job is done.
    pub fn succeed(&mut self, now: Timestamp) {
        self.finish("succeeded", now);
        self.state = JobState::Succeeded;
    }

    /// The held attempt failed: queued again at `retry_at`, or given up when `None`,
    /// keeping the error either way.
    pub fn fail(&mut self, error: &str, retry_at: Option<Timestamp>, now: Timestamp) {
        self.finish(&format!("failed: {error}"), now);
        self.last_error = Some(error.to_string());
        match retry_at {
            Some(at) => {
                self.state = JobState::Queued;
                self.next_run_at = at;
            }
            None => self.state = JobState::Failed,
        }
    }

    /// Completed runs (succeeded): at most one for a correct queue.
    pub fn successful_runs(&self) -> usize {
        self.runs.iter().filter(|r| r.outcome.as_deref() == Some("succeeded")).count()
    }
}

/// Delay before attempt `attempt + 1` of a failed job: `base * 2^(attempt - 1)`, capped at `max`.
pub fn backoff(base: chrono::Duration, max: chrono::Duration, attempt: u32) -> chrono::Duration {
    let factor = 1i32.checked_shl(attempt.saturating_sub(1).min(30)).unwrap_or(i32::MAX);
    base.checked_mul(factor).unwrap_or(max).min(max)
}

/// What one `take_job` did: the job it leased, if any, and the jobs it gave up
/// instead because their lease expired on the last attempt allowed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Taken {
    pub job: Option<Job>,
    pub gave_up: Vec<Job>,
}

/// Why a lifecycle change was not made.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    #[error("incident {0} not found")]
    NotFound(IncidentId),
    #[error(transparent)]
    Invalid(#[from] InvalidTransition),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An incident waiting to be written to the records store, with its outbox version.
/// `incident.decisions` holds exactly the decisions the records store has not had yet.
#[derive(Debug, Clone)]
pub struct Pending {
    pub incident: IncidentState,
    pub version: u64,
}

#[async_trait]
pub trait IngestStore: Send + Sync {
    fn backend(&self) -> &'static str;
    /// The project every call of this handle reads and writes.
    fn project(&self) -> &ProjectId;
    /// A cheap view of the same store acting in `project`.
    fn scoped(&self, project: &ProjectId) -> Arc<dyn IngestStore>;
    async fn check_connectivity(&self) -> StoreResult<()>;

    /// Every project with outbox entries waiting or jobs queued or running (a
    /// superset of those with a takeable job: due-ness is `take_job`'s to judge),
    /// whatever project this handle acts in, sorted: the background loops visit each.
    async fn projects_with_work(&self) -> StoreResult<Vec<ProjectId>>;

    /// Correlate and store a batch of alerts in one transaction (see
    /// `correlate::correlate`); incidents it changes join the outbox and jobs it
    /// approves are enqueued in the same transaction.
    async fn ingest(&self, alerts: &[Alert], policy: &Policy, now: Timestamp) -> StoreResult<Vec<Applied>>;

    async fn get_incident(&self, id: IncidentId) -> StoreResult<Option<IncidentState>>;
    async fn list_incidents(&self) -> StoreResult<Vec<IncidentState>>;
    /// Incidents per status (`open`, `triaged`, ...).
    async fn incident_counts(&self) -> StoreResult<BTreeMap<String, u64>>;
    async fn alerts_of(&self, incident: IncidentId) -> StoreResult<Vec<StoredAlert>>;
    async fn alert_count(&self) -> StoreResult<u64>;

    /// Apply a lifecycle action atomically.
    /// Apply `action` by `actor`; a suppression is also a decision row under `policy`.
    async fn transition(
        &self,
        id: IncidentId,
        action: Action,
        actor: &str,
        reason: Option<String>,
        policy: &Policy,
        now: Timestamp,
    ) -> Result<IncidentState, LifecycleError>;
    async fn add_note(&self, id: IncidentId, note: Note) -> Result<IncidentState, LifecycleError>;
    /// Record decisions on the incident (an assignment, an escalation, a response
    /// policy's action) in one transaction, queued for the records store. A decision
    /// whose id is already stored is kept as it was: recording is idempotent.
    async fn add_decisions(
        &self,
        id: IncidentId,
        decisions: Vec<IncidentDecision>,
    ) -> Result<IncidentState, LifecycleError>;

    /// Incidents changed since they were last written to the records store.
    async fn pending_records(&self, limit: usize) -> StoreResult<Vec<Pending>>;
    /// Drop outbox entries `(incident, version)` in one transaction, except those
    /// whose incident changed again after `version`.
    async fn clear_pending(&self, done: &[(IncidentId, u64)]) -> StoreResult<()>;

    /// Lease the next due job (or one whose lease expired) to `worker`, in one
    /// transaction. A job whose lease expired on attempt `max_attempts` is not taken
    /// again: it is marked failed (`Job::give_up_expired`) and the take goes on.
    async fn take_job(
        &self,
        worker: &str,
        lease: chrono::Duration,
        max_attempts: u32,
        now: Timestamp,
    ) -> StoreResult<Taken>;
    /// Mark attempt `attempt` succeeded; false if `worker` lost the lease.
    async fn complete_job(&self, job_id: Uuid, worker: &str, attempt: u32, now: Timestamp) -> StoreResult<bool>;
    /// Record a failed attempt: retried at `retry_at`, or given up when `None`.
    async fn fail_job(
        &self,
        job_id: Uuid,
        worker: &str,
        attempt: u32,
        error: &str,
        retry_at: Option<Timestamp>,
        now: Timestamp,
    ) -> StoreResult<bool>;
    async fn get_job(&self, job_id: Uuid) -> StoreResult<Option<Job>>;
    async fn list_jobs(&self) -> StoreResult<Vec<Job>>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn a_job_is_leased_once_until_its_lease_expires() {
        let t0: Timestamp = "2026-03-01T10:00:00Z".parse().expect("time");
        let mut j = Job::new(Uuid::nil(), IncidentId::new_random(), t0);
        assert!(j.takeable(t0));
        j.lease("w1", Duration::seconds(30), t0);
        assert!(!j.takeable(t0 + Duration::seconds(29)), "held");
        assert!(j.held_by("w1", 1));
        assert!(j.takeable(t0 + Duration::seconds(31)), "expired");
        j.lease("w2", Duration::seconds(30), t0 + Duration::seconds(31));
        assert!(!j.held_by("w1", 1), "the old holder is fenced off");
        assert_eq!(j.runs[0].outcome.as_deref(), Some("lease expired"));
        j.finish("succeeded", t0 + Duration::seconds(32));
        j.state = JobState::Succeeded;
        assert!(!j.takeable(t0 + Duration::hours(1)));
        assert_eq!(j.successful_runs(), 1);
    }

    #[test]
    fn backoff_doubles_from_the_base_and_is_capped() {
        let secs: Vec<i64> =
            (1..=6).map(|a| backoff(Duration::seconds(2), Duration::seconds(30), a).num_seconds()).collect();
        assert_eq!(secs, vec![2, 4, 8, 16, 30, 30]);
        assert_eq!(backoff(Duration::seconds(2), Duration::seconds(30), 0).num_seconds(), 2);
        assert_eq!(backoff(Duration::seconds(2), Duration::seconds(30), u32::MAX).num_seconds(), 30);
    }

    #[test]
    fn a_lease_expired_on_the_last_attempt_is_given_up() {
        let t0: Timestamp = "2026-03-01T10:00:00Z".parse().expect("time");
        let mut j = Job::new(Uuid::nil(), IncidentId::new_random(), t0);
        j.lease("w1", Duration::seconds(30), t0);
        assert!(!j.out_of_attempts(1, t0 + Duration::seconds(29)), "still held");
        assert!(!j.out_of_attempts(2, t0 + Duration::seconds(31)), "an attempt is left");
        assert!(j.out_of_attempts(1, t0 + Duration::seconds(31)));
        j.give_up_expired(1, t0 + Duration::seconds(31));
        assert_eq!(j.state, JobState::Failed);
        assert_eq!(
            j.last_error.as_deref(),
            Some("attempt 1 of 1: the lease expired without a result (the worker died or hung)")
        );
        assert_eq!(
            (j.runs[0].outcome.as_deref(), j.runs[0].finished_at),
            (Some("lease expired"), Some(t0 + Duration::seconds(31)))
        );
        assert!(!j.takeable(t0 + Duration::hours(1)));
    }
}
