//! `ObservedOps`: the SLO and invariant store with every call under the records'
//! timeout, counted and timed as `ops/<backend>` like every other port.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use inquest_domain::{ProjectId, Timestamp};
use inquest_ops::{Invariant, InvariantResult, OpsStore, Slo, SloStatus};
use inquest_ports::StoreResult;
use uuid::Uuid;

use crate::{Key, Observer, StoreMetrics, observe_call};

pub struct ObservedOps {
    inner: Arc<dyn OpsStore>,
    observer: Observer,
}

impl ObservedOps {
    pub fn new(inner: Arc<dyn OpsStore>, metrics: &StoreMetrics, timeout: Duration) -> ObservedOps {
        let observer = Observer::new("ops", inner.backend(), metrics, timeout);
        ObservedOps { inner, observer }
    }
}

#[async_trait]
impl OpsStore for ObservedOps {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    async fn check_connectivity(&self) -> StoreResult<()> {
        observe_call(&self.observer, "check_connectivity", Key::None, self.inner.check_connectivity()).await
    }
    async fn put_slo(&self, slo: &Slo) -> StoreResult<()> {
        observe_call(&self.observer, "put_slo", Key::None, self.inner.put_slo(slo)).await
    }
    async fn get_slo(&self, project: &ProjectId, id: Uuid) -> StoreResult<Option<Slo>> {
        observe_call(&self.observer, "get_slo", Key::None, self.inner.get_slo(project, id)).await
    }
    async fn list_slos(&self, project: &ProjectId) -> StoreResult<Vec<Slo>> {
        observe_call(&self.observer, "list_slos", Key::None, self.inner.list_slos(project)).await
    }
    async fn delete_slo(&self, project: &ProjectId, id: Uuid, at: Timestamp) -> StoreResult<bool> {
        observe_call(&self.observer, "delete_slo", Key::None, self.inner.delete_slo(project, id, at)).await
    }
    async fn record_slo(&self, project: &ProjectId, id: Uuid, status: &SloStatus) -> StoreResult<bool> {
        observe_call(&self.observer, "record_slo", Key::None, self.inner.record_slo(project, id, status)).await
    }
    async fn put_invariant(&self, inv: &Invariant) -> StoreResult<()> {
        observe_call(&self.observer, "put_invariant", Key::None, self.inner.put_invariant(inv)).await
    }
    async fn get_invariant(&self, project: &ProjectId, id: Uuid) -> StoreResult<Option<Invariant>> {
        observe_call(&self.observer, "get_invariant", Key::None, self.inner.get_invariant(project, id)).await
    }
    async fn list_invariants(&self, project: &ProjectId) -> StoreResult<Vec<Invariant>> {
        observe_call(&self.observer, "list_invariants", Key::None, self.inner.list_invariants(project)).await
    }
    async fn delete_invariant(&self, project: &ProjectId, id: Uuid, at: Timestamp) -> StoreResult<bool> {
        observe_call(&self.observer, "delete_invariant", Key::None, self.inner.delete_invariant(project, id, at)).await
    }
    async fn record_invariant(&self, project: &ProjectId, id: Uuid, result: &InvariantResult) -> StoreResult<bool> {
        let call = self.inner.record_invariant(project, id, result);
        observe_call(&self.observer, "record_invariant", Key::None, call).await
    }
}
