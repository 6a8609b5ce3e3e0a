//! The storage port of SLOs and invariants. Every call names its project and a store
//! never returns another project's rows. Deletes are soft: a deleted row keeps its
//! `deleted_at` and is neither listed nor found again. `put_*` writes the definition and
//! keeps the stored last evaluation, which only `record_*` writes, so an edit racing the
//! evaluator loses neither.

use async_trait::async_trait;
use inquest_domain::{ProjectId, Timestamp};
use inquest_ports::{ErrorKind, StoreError, StoreResult};
use uuid::Uuid;

use crate::model::*;

#[async_trait]
pub trait OpsStore: Send + Sync {
    fn backend(&self) -> &'static str;
    async fn check_connectivity(&self) -> StoreResult<()>;

    /// Adds the SLO or replaces its definition (same project and id); `NotFound` when
    /// it was deleted.
    async fn put_slo(&self, slo: &Slo) -> StoreResult<()>;
    /// The SLO unless deleted.
    async fn get_slo(&self, project: &ProjectId, id: Uuid) -> StoreResult<Option<Slo>>;
    /// The project's SLOs that are not deleted, by creation time.
    async fn list_slos(&self, project: &ProjectId) -> StoreResult<Vec<Slo>>;
    /// `false` when there is no such SLO (or it was deleted already).
    async fn delete_slo(&self, project: &ProjectId, id: Uuid, at: Timestamp) -> StoreResult<bool>;
    /// Stores the last evaluation; `false` when the SLO is gone.
    async fn record_slo(&self, project: &ProjectId, id: Uuid, status: &SloStatus) -> StoreResult<bool>;

    async fn put_invariant(&self, inv: &Invariant) -> StoreResult<()>;
    async fn get_invariant(&self, project: &ProjectId, id: Uuid) -> StoreResult<Option<Invariant>>;
    async fn list_invariants(&self, project: &ProjectId) -> StoreResult<Vec<Invariant>>;
    async fn delete_invariant(&self, project: &ProjectId, id: Uuid, at: Timestamp) -> StoreResult<bool>;
    async fn record_invariant(&self, project: &ProjectId, id: Uuid, result: &InvariantResult) -> StoreResult<bool>;
}

/// The store of a server built without one (tools and tests that do not use SLOs):
/// every call is `Unavailable`, so routes answer 503 and nothing pretends to be stored.
pub struct Unconfigured;

fn down(op: &str) -> StoreError {
    StoreError::new(ErrorKind::Unavailable, "ops", op, "no SLO and invariant store is configured")
}

#[async_trait]
impl OpsStore for Unconfigured {
    fn backend(&self) -> &'static str {
        "unconfigured"
    }
    async fn check_connectivity(&self) -> StoreResult<()> {
        Err(down("check_connectivity"))
    }
    async fn put_slo(&self, _: &Slo) -> StoreResult<()> {
        Err(down("put_slo"))
    }
    async fn get_slo(&self, _: &ProjectId, _: Uuid) -> StoreResult<Option<Slo>> {
        Err(down("get_slo"))
    }
    async fn list_slos(&self, _: &ProjectId) -> StoreResult<Vec<Slo>> {
        Err(down("list_slos"))
    }
    async fn delete_slo(&self, _: &ProjectId, _: Uuid, _: Timestamp) -> StoreResult<bool> {
        Err(down("delete_slo"))
    }
    async fn record_slo(&self, _: &ProjectId, _: Uuid, _: &SloStatus) -> StoreResult<bool> {
        Err(down("record_slo"))
    }
    async fn put_invariant(&self, _: &Invariant) -> StoreResult<()> {
        Err(down("put_invariant"))
    }
    async fn get_invariant(&self, _: &ProjectId, _: Uuid) -> StoreResult<Option<Invariant>> {
        Err(down("get_invariant"))
    }
    async fn list_invariants(&self, _: &ProjectId) -> StoreResult<Vec<Invariant>> {
        Err(down("list_invariants"))
    }
    async fn delete_invariant(&self, _: &ProjectId, _: Uuid, _: Timestamp) -> StoreResult<bool> {
        Err(down("delete_invariant"))
    }
    async fn record_invariant(&self, _: &ProjectId, _: Uuid, _: &InvariantResult) -> StoreResult<bool> {
        Err(down("record_invariant"))
    }
}
