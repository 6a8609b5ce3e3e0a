//! `ObservedIntake`: the intake store contract through the wrapper, where refused
//! lifecycle changes are answers, not failures, and a store that is down, counted
//! once per failed call, lifecycle changes included.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use inquest_contract::ingest::{IngestSpace, ingest_contract};
use inquest_domain::{IncidentDecision, IncidentId, ProjectId, Timestamp};
use inquest_intake::correlate::StoredAlert;
use inquest_intake::lifecycle::{Action, IncidentState, Note};
use inquest_intake::{Alert, Applied, IngestStore, Job, LifecycleError, Pending, Policy, Taken};
use inquest_ports::{ErrorKind, StoreError, StoreResult};
use inquest_store_embedded::EmbeddedIntakeStore;
use inquest_telemetry::{ObservedIntake, StoreMetrics};
use prometheus::Registry;
use uuid::Uuid;

use crate::render;

struct Wrapped(tempfile::TempDir, StoreMetrics);

#[async_trait]
impl IngestSpace for Wrapped {
    async fn open(&self) -> Arc<dyn IngestStore> {
        let store = EmbeddedIntakeStore::open(&self.0.path().join("ingest.redb")).expect("open the redb file");
        Arc::new(ObservedIntake::new(Arc::new(store), &self.1, Duration::from_secs(60)))
    }
}

#[tokio::test]
async fn the_intake_contract_passes_through_the_wrapper_and_refusals_are_not_errors() {
    let registry = Registry::new();
    let metrics = StoreMetrics::new(&registry).expect("register store metrics");
    ingest_contract(|| async { Wrapped(tempfile::tempdir().expect("tempdir"), metrics.clone()) }).await;
    let text = render(&registry);
    // The contract refuses transitions and asks for missing incidents: answers, not failures.
    assert!(text.contains(r#"inquest_store_errors_total{store="ingest/embedded"} 0"#), "{text}");
    assert!(text.contains(r#"operation="transition",outcome="ok",store="ingest/embedded"}"#), "{text}");
    assert!(text.contains(r#"operation="take_job",outcome="ok",store="ingest/embedded"}"#), "{text}");
}

fn down(operation: &str) -> StoreError {
    StoreError::new(ErrorKind::Unavailable, "down", operation, "connection refused")
}

/// Every call fails as a store that is down; `add_note` refuses as a missing incident.
struct Down(ProjectId);

#[async_trait]
impl IngestStore for Down {
    fn backend(&self) -> &'static str {
        "down"
    }
    fn project(&self) -> &ProjectId {
        &self.0
    }
    fn scoped(&self, project: &ProjectId) -> Arc<dyn IngestStore> {
        Arc::new(Down(project.clone()))
    }
    async fn projects_with_work(&self) -> StoreResult<Vec<ProjectId>> {
        Err(down("projects_with_work"))
    }
    async fn check_connectivity(&self) -> StoreResult<()> {
        Err(down("check_connectivity"))
    }
    async fn ingest(&self, _: &[Alert], _: &Policy, _: Timestamp) -> StoreResult<Vec<Applied>> {
        Err(down("ingest"))
    }
    async fn get_incident(&self, _: IncidentId) -> StoreResult<Option<IncidentState>> {
        Err(down("get_incident"))
    }
    async fn list_incidents(&self) -> StoreResult<Vec<IncidentState>> {
        Err(down("list_incidents"))
    }
    async fn incident_counts(&self) -> StoreResult<BTreeMap<String, u64>> {
        Err(down("incident_counts"))
    }
    async fn alerts_of(&self, _: IncidentId) -> StoreResult<Vec<StoredAlert>> {
        Err(down("alerts_of"))
    }
    async fn alert_count(&self) -> StoreResult<u64> {
        Err(down("alert_count"))
    }
    async fn transition(
        &self,
        _: IncidentId,
        _: Action,
        _: &str,
        _: Option<String>,
        _: &Policy,
        _: Timestamp,
    ) -> Result<IncidentState, LifecycleError> {
        Err(down("transition").into())
    }
    async fn add_note(&self, id: IncidentId, _: Note) -> Result<IncidentState, LifecycleError> {
        Err(LifecycleError::NotFound(id))
    }
    async fn add_decisions(&self, id: IncidentId, _: Vec<IncidentDecision>) -> Result<IncidentState, LifecycleError> {
        Err(LifecycleError::NotFound(id))
    }
    async fn pending_records(&self, _: usize) -> StoreResult<Vec<Pending>> {
        Err(down("pending_records"))
    }
    async fn clear_pending(&self, _: &[(IncidentId, u64)]) -> StoreResult<()> {
        Err(down("clear_pending"))
    }
    async fn take_job(&self, _: &str, _: chrono::Duration, _: u32, _: Timestamp) -> StoreResult<Taken> {
        Err(down("take_job"))
    }
    async fn complete_job(&self, _: Uuid, _: &str, _: u32, _: Timestamp) -> StoreResult<bool> {
        Err(down("complete_job"))
    }
    async fn fail_job(
        &self,
        _: Uuid,
        _: &str,
        _: u32,
        _: &str,
        _: Option<Timestamp>,
        _: Timestamp,
    ) -> StoreResult<bool> {
        Err(down("fail_job"))
    }
    async fn get_job(&self, _: Uuid) -> StoreResult<Option<Job>> {
        Err(down("get_job"))
    }
    async fn list_jobs(&self) -> StoreResult<Vec<Job>> {
        Err(down("list_jobs"))
    }
}

#[tokio::test]
async fn a_store_failure_is_counted_once_and_a_missing_incident_not_at_all() {
    let registry = Registry::new();
    let metrics = StoreMetrics::new(&registry).expect("register store metrics");
    let store = ObservedIntake::new(Arc::new(Down(ProjectId::default_project())), &metrics, Duration::from_secs(1));
    assert_eq!(store.backend(), "down");
    let id = IncidentId::new_random();
    let now = chrono::Utc::now();
    let policy = Policy::default_policy();
    let failed = store.transition(id, Action::Resolve, "a", None, &policy, now).await.expect_err("down");
    assert!(matches!(failed, LifecycleError::Store(ref e) if e.kind == ErrorKind::Unavailable), "{failed}");
    let note = Note { at: now, author: "a".into(), text: "t".into() };
    let missing = store.add_note(id, note).await.expect_err("missing");
    assert!(matches!(missing, LifecycleError::NotFound(_)), "{missing}");
    store.take_job("w", chrono::Duration::seconds(1), 1, now).await.expect_err("down");
    let text = render(&registry);
    assert!(text.contains(r#"inquest_store_errors_total{store="ingest/down"} 2"#), "{text}");
    assert!(text.contains(r#"operation="transition",outcome="unavailable",store="ingest/down"} 1"#), "{text}");
    assert!(text.contains(r#"operation="add_note",outcome="ok",store="ingest/down"} 1"#), "{text}");
    // A scoped view forwards the project and counts into the same series.
    let p = ProjectId::new("other").expect("project id");
    let scoped = store.scoped(&p);
    assert_eq!((store.project(), scoped.project()), (&ProjectId::default_project(), &p));
    scoped.take_job("w", chrono::Duration::seconds(1), 1, now).await.expect_err("down");
    store.projects_with_work().await.expect_err("down");
    let text = render(&registry);
    assert!(text.contains(r#"inquest_store_errors_total{store="ingest/down"} 4"#), "{text}");
}
