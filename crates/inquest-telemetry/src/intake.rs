//! `ObservedIntake`: the intake's `IngestStore` with timeouts, metrics and spans,
//! under the `ingest/<backend>` store label.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use inquest_domain::{IncidentDecision, IncidentId, ProjectId, Timestamp};
use inquest_intake::correlate::StoredAlert;
use inquest_intake::lifecycle::{Action, IncidentState, Note};
use inquest_intake::{Alert, Applied, IngestStore, Job, LifecycleError, Pending, Policy, Taken};
use inquest_ports::StoreResult;
use uuid::Uuid;

use crate::call::{Key, Observer, observe_call};
use crate::metrics::StoreMetrics;

/// `IngestStore` with timeouts, metrics and spans; `backend()` names the inner backend.
pub struct ObservedIntake {
    inner: Arc<dyn IngestStore>,
    observer: Observer,
}

impl ObservedIntake {
    pub fn new(inner: Arc<dyn IngestStore>, metrics: &StoreMetrics, timeout: Duration) -> ObservedIntake {
        let observer = Observer::new("ingest", inner.backend(), metrics, timeout);
        ObservedIntake { inner, observer }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<dyn IngestStore> {
        &self.inner
    }
}

/// Only a store failure of a lifecycle change is a failed store call: a missing
/// incident or a refused transition is the store answering, so it is passed
/// through as `Ok(Err(..))` and flattened after the call is counted.
async fn lifecycle_call<T>(
    observer: &Observer,
    operation: &'static str,
    id: IncidentId,
    call: impl Future<Output = Result<T, LifecycleError>>,
) -> Result<T, LifecycleError> {
    let split = async {
        match call.await {
            Ok(v) => Ok(Ok(v)),
            Err(LifecycleError::Store(e)) => Err(e),
            Err(other) => Ok(Err(other)),
        }
    };
    observe_call(observer, operation, Key::IncidentId(id), split).await?
}

#[async_trait]
impl IngestStore for ObservedIntake {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    fn project(&self) -> &ProjectId {
        self.inner.project()
    }
    fn scoped(&self, project: &ProjectId) -> Arc<dyn IngestStore> {
        Arc::new(ObservedIntake { inner: self.inner.scoped(project), observer: self.observer.clone() })
    }
    async fn projects_with_work(&self) -> StoreResult<Vec<ProjectId>> {
        observe_call(&self.observer, "projects_with_work", Key::None, self.inner.projects_with_work()).await
    }
    async fn check_connectivity(&self) -> StoreResult<()> {
        observe_call(&self.observer, "check_connectivity", Key::None, self.inner.check_connectivity()).await
    }
    async fn ingest(&self, alerts: &[Alert], policy: &Policy, now: Timestamp) -> StoreResult<Vec<Applied>> {
        observe_call(&self.observer, "ingest", Key::None, self.inner.ingest(alerts, policy, now)).await
    }
    async fn get_incident(&self, id: IncidentId) -> StoreResult<Option<IncidentState>> {
        observe_call(&self.observer, "get_incident", Key::IncidentId(id), self.inner.get_incident(id)).await
    }
    async fn list_incidents(&self) -> StoreResult<Vec<IncidentState>> {
        observe_call(&self.observer, "list_incidents", Key::None, self.inner.list_incidents()).await
    }
    async fn incident_counts(&self) -> StoreResult<BTreeMap<String, u64>> {
        observe_call(&self.observer, "incident_counts", Key::None, self.inner.incident_counts()).await
    }
    async fn alerts_of(&self, incident: IncidentId) -> StoreResult<Vec<StoredAlert>> {
        observe_call(&self.observer, "alerts_of", Key::IncidentId(incident), self.inner.alerts_of(incident)).await
    }
    async fn alert_count(&self) -> StoreResult<u64> {
        observe_call(&self.observer, "alert_count", Key::None, self.inner.alert_count()).await
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
        let call = self.inner.transition(id, action, actor, reason, policy, now);
        lifecycle_call(&self.observer, "transition", id, call).await
    }
    async fn add_note(&self, id: IncidentId, note: Note) -> Result<IncidentState, LifecycleError> {
        lifecycle_call(&self.observer, "add_note", id, self.inner.add_note(id, note)).await
    }
    async fn add_decisions(
        &self,
        id: IncidentId,
        decisions: Vec<IncidentDecision>,
    ) -> Result<IncidentState, LifecycleError> {
        lifecycle_call(&self.observer, "add_decisions", id, self.inner.add_decisions(id, decisions)).await
    }
    async fn pending_records(&self, limit: usize) -> StoreResult<Vec<Pending>> {
        observe_call(&self.observer, "pending_records", Key::None, self.inner.pending_records(limit)).await
    }
    async fn clear_pending(&self, done: &[(IncidentId, u64)]) -> StoreResult<()> {
        observe_call(&self.observer, "clear_pending", Key::None, self.inner.clear_pending(done)).await
    }
    async fn take_job(
        &self,
        worker: &str,
        lease: chrono::Duration,
        max_attempts: u32,
        now: Timestamp,
    ) -> StoreResult<Taken> {
        let call = self.inner.take_job(worker, lease, max_attempts, now);
        observe_call(&self.observer, "take_job", Key::None, call).await
    }
    async fn complete_job(&self, job_id: Uuid, worker: &str, attempt: u32, now: Timestamp) -> StoreResult<bool> {
        let call = self.inner.complete_job(job_id, worker, attempt, now);
        observe_call(&self.observer, "complete_job", Key::JobId(job_id), call).await
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
        let call = self.inner.fail_job(job_id, worker, attempt, error, retry_at, now);
        observe_call(&self.observer, "fail_job", Key::JobId(job_id), call).await
    }
    async fn get_job(&self, job_id: Uuid) -> StoreResult<Option<Job>> {
        observe_call(&self.observer, "get_job", Key::JobId(job_id), self.inner.get_job(job_id)).await
    }
    async fn list_jobs(&self) -> StoreResult<Vec<Job>> {
        observe_call(&self.observer, "list_jobs", Key::None, self.inner.list_jobs()).await
    }
}
