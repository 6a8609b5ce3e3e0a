//! The precedent hook on the records port: a confirmed resolution writes its summary;
//! a semantic store that is down does not fail the resolution, and the summary is
//! written once the store answers again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use inquest_core::feedback::{FeedbackInput, record_feedback};
use inquest_core::{InvestigationConfig, investigate_and_save};
use inquest_domain::*;
use inquest_feeds::precedent::{Outcome, Precedents};
use inquest_ports::{
    ErrorKind, PayloadFilter, RecordBatch, SemanticStore, StoreError, StoreResult, StoredPoint, Stores,
};
use inquest_report::TemplateReport;
use inquest_store_embedded::EmbeddedStore;
use serde_json::json;

use crate::{at, bare_incident};

/// A semantic store that can be switched off.
struct Switch {
    inner: Arc<dyn SemanticStore>,
    down: Arc<AtomicBool>,
}

impl Switch {
    fn check(&self, op: &str) -> StoreResult<()> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError::new(ErrorKind::Unavailable, "switch", op, "connection refused"));
        }
        Ok(())
    }
}

#[async_trait]
impl SemanticStore for Switch {
    fn backend(&self) -> &'static str {
        "switch"
    }
    fn project(&self) -> &ProjectId {
        self.inner.project()
    }
    fn scoped(&self, project: &ProjectId) -> Arc<dyn SemanticStore> {
        Arc::new(Switch { inner: self.inner.scoped(project), down: self.down.clone() })
    }
    async fn check_connectivity(&self) -> StoreResult<()> {
        self.check("check_connectivity")
    }
    async fn ensure_collection(&self, name: &str, dim: usize) -> StoreResult<()> {
        self.check("ensure_collection")?;
        self.inner.ensure_collection(name, dim).await
    }
    async fn upsert(&self, collection: &str, points: &[VectorPoint]) -> StoreResult<()> {
        self.check("upsert")?;
        self.inner.upsert(collection, points).await
    }
    async fn search(
        &self,
        collection: &str,
        vector: &[f32],
        filter: &PayloadFilter,
        limit: usize,
    ) -> StoreResult<Vec<SemanticHit>> {
        self.check("search")?;
        self.inner.search(collection, vector, filter, limit).await
    }
    async fn points(&self, collection: &str, filter: &PayloadFilter, limit: usize) -> StoreResult<Vec<StoredPoint>> {
        self.check("points")?;
        self.inner.points(collection, filter, limit).await
    }
    async fn delete(&self, collection: &str, filter: &PayloadFilter) -> StoreResult<u64> {
        self.check("delete")?;
        self.inner.delete(collection, filter).await
    }
}

async fn summaries(stores: &Stores, id: IncidentId) -> Vec<StoredPoint> {
    let filter = PayloadFilter::default().any_of("incident_id", vec![json!(id)]);
    stores.semantic.points(collections::INCIDENT_SUMMARIES, &filter, 10).await.expect("points")
}

#[tokio::test]
async fn a_down_semantic_store_does_not_fail_the_resolution_and_the_summary_follows() -> anyhow::Result<()> {
    let plain = EmbeddedStore::in_memory()?.stores();
    let down = Arc::new(AtomicBool::new(false));
    let switched =
        Stores { semantic: Arc::new(Switch { inner: plain.semantic.clone(), down: down.clone() }), ..plain.clone() };
    let precedents = Precedents::new();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    precedents.observe(move |o| log.lock().expect("outcomes").push(o));
    let stores = precedents.wrap(switched);

    let id = bare_incident(&stores, "checkout", at(10)).await;
    let (inv, _) = investigate_and_save(&stores, &TemplateReport, id, &InvestigationConfig::default(), at(11)).await?;
    let top = inv.hypotheses.first().expect("a hypothesis").hypothesis_id;

    down.store(true, Ordering::SeqCst);
    let event =
        FeedbackInput::Confirm { hypothesis: top }.into_event(id, ActorType::User, Some("oncall".into()), at(12));
    let resolved = record_feedback(&stores, &event, at(12)).await?;
    assert_eq!(resolved.resolved_hypothesis_id, Some(top), "the resolution is stored");
    assert_eq!(stores.records.get_incident(id).await?.and_then(|i| i.resolved_hypothesis_id), Some(top));
    assert_eq!(precedents.pending(), 1);
    assert!(summaries(&plain, id).await.is_empty());

    // The next records write, once the store answers, writes the pending summary.
    down.store(false, Ordering::SeqCst);
    stores.records.apply_batch(&RecordBatch::default()).await?;
    assert_eq!(precedents.pending(), 0);
    let points = summaries(&plain, id).await;
    assert_eq!(points.len(), 1);
    assert_eq!(points[0].id, id.0, "the point id is the incident id");
    assert_eq!(points[0].payload["service_key"], "prod/shop/checkout");
    assert_eq!(points[0].payload["hypothesis_type"], json!(inv.hypotheses[0].hypothesis_type));

    // Writing the same resolution again embeds nothing new.
    let again = stores.records.get_incident(id).await?.expect("incident");
    stores.records.apply_batch(&RecordBatch { incidents: vec![again], ..Default::default() }).await?;
    let outcomes = seen.lock().expect("outcomes").clone();
    assert_eq!(outcomes.iter().filter(|o| **o == Outcome::Failed).count(), 1, "{outcomes:?}");
    assert_eq!(outcomes.iter().filter(|o| **o == Outcome::Stored).count(), 1, "{outcomes:?}");
    assert_eq!(outcomes.last(), Some(&Outcome::Unchanged), "{outcomes:?}");
    Ok(())
}

#[tokio::test]
async fn the_sweep_writes_what_a_previous_run_missed_and_the_next_investigation_finds_it() -> anyhow::Result<()> {
    // Resolved without the hook (as by a process that was stopped before writing it).
    let stores = EmbeddedStore::in_memory()?.stores();
    let id = bare_incident(&stores, "checkout", at(8)).await;
    let (inv, _) = investigate_and_save(&stores, &TemplateReport, id, &InvestigationConfig::default(), at(9)).await?;
    let top = inv.hypotheses.first().expect("a hypothesis").hypothesis_id;
    let event = FeedbackInput::RootCause { hypothesis: Some(top), text: Some("disk full on the node".into()) }
        .into_event(id, ActorType::User, None, at(9));
    record_feedback(&stores, &event, at(9)).await?;
    let unresolved = bare_incident(&stores, "checkout", at(7)).await;
    assert!(summaries(&stores, id).await.is_empty());

    assert_eq!(inquest_feeds::precedent::sweep(&stores).await?, 1);
    assert_eq!(inquest_feeds::precedent::sweep(&stores).await?, 0, "unchanged the second time");
    assert!(summaries(&stores, unresolved).await.is_empty(), "no confirmed hypothesis, no summary");
    let text = summaries(&stores, id).await[0].payload["text"].as_str().map(str::to_string);
    assert!(text.as_deref().is_some_and(|t| t.starts_with("disk full on the node")), "{text:?}");

    let later = bare_incident(&stores, "checkout", at(15)).await;
    let inv = inquest_core::investigate(&stores, later, &InvestigationConfig::default(), at(16)).await?;
    let want = format!("incident_summaries/{id}");
    assert!(inv.evidence.iter().any(|e| e.reference == want), "{want} not cited: {:?}", inv.evidence);
    Ok(())
}
