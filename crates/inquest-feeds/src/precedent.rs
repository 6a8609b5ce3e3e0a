//! Precedent: an incident resolved with a confirmed hypothesis becomes a point of
//! `incident_summaries` (id = the incident id, so writing it again overwrites it),
//! which later investigations of the same services find.
//!
//! Every resolution reaches the records store as an `incidents` row written through
//! `RecordStore::apply_batch` (feedback, the intake's records writer, a re-derivation),
//! so the hook is a wrapper around the records port: after a batch is stored, each
//! incident in it with a confirmed hypothesis gets its summary written, and one whose
//! confirmation was retracted loses the summary this hook wrote (points written by
//! fixtures carry no `origin` and are never touched). A semantic store or embedder
//! that fails does not fail the write: the incident is kept in a pending list and
//! retried after the next records write of its project, and `sweep` rewrites every
//! resolved incident's summary (at start-up, for what a restart forgot).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use inquest_domain::redact::redact;
use inquest_domain::*;
use inquest_ports::{
    CommitWithFiles, DeliveryOutcome, Embedder, FeedDelivery, InvestigationRecord, PayloadFilter, RecordBatch,
    RecordStore, SemanticStore, StoreError, StoreResult, Stores, vector_point,
};
use serde_json::{Map, Value, json};

use crate::Document;

/// The `origin` of the summaries written here.
pub const ORIGIN: &str = "resolution";

/// What writing one incident's precedent did (the counter label is `as_str`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A summary was written.
    Stored,
    /// The stored summary was already this one.
    Unchanged,
    /// No confirmed hypothesis: nothing written (a summary written before was removed).
    Ignored,
    /// The semantic store or the embedder failed; the incident is pending.
    Failed,
}

impl Outcome {
    /// The `outcome` label of `inquest_feed_events_total{feed="precedent"}`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Stored => "stored",
            Outcome::Unchanged => "duplicate",
            Outcome::Ignored => "ignored",
            Outcome::Failed => "rejected",
        }
    }
}

/// The summary document of `incident`, resolved with `hypothesis`: `None` unless the
/// incident is resolved naming that hypothesis. Pure.
pub fn document(incident: &Incident, hypothesis: &Hypothesis, fallback_service: &str) -> Option<Document> {
    let resolved_at = incident.resolved_at?;
    if incident.resolved_hypothesis_id != Some(hypothesis.hypothesis_id) {
        return None;
    }
    let service_key = hypothesis.service_key().unwrap_or(fallback_service).to_string();
    let summary = incident.resolution_summary.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let text = redact(&match summary {
        Some(s) if s != hypothesis.title => format!("{s}\n{}", hypothesis.title),
        _ => hypothesis.title.clone(),
    });
    let mut payload = Map::new();
    payload.insert("incident_id".into(), json!(incident.incident_id));
    payload.insert("service_key".into(), json!(service_key));
    payload.insert("hypothesis_type".into(), json!(hypothesis.hypothesis_type));
    payload.insert("hypothesis_id".into(), json!(hypothesis.hypothesis_id));
    if let Some(c) = hypothesis.culprit() {
        payload.insert("culprit".into(), json!(c));
    }
    payload.insert("started_at".into(), json!(incident.window_start));
    payload.insert("resolved_at".into(), json!(resolved_at));
    payload.insert("text".into(), json!(text));
    payload.insert("origin".into(), json!(ORIGIN));
    let embed = format!(
        "{} on {}\n{} {}\n{text}",
        incident.trigger_type.replace('_', " "),
        service_name_of(&service_key),
        hypothesis.hypothesis_type,
        hypothesis.culprit().unwrap_or(""),
    );
    Some(Document { collection: collections::INCIDENT_SUMMARIES, id: incident.incident_id.0, text: embed, payload })
}

fn by_incident(id: IncidentId) -> PayloadFilter {
    PayloadFilter::default().any_of("incident_id", vec![json!(id)])
}

/// Write (or remove) the precedent of `incident` as its records say now.
pub async fn write(
    records: &dyn RecordStore,
    semantic: &dyn SemanticStore,
    embedder: &dyn Embedder,
    incident: &Incident,
) -> StoreResult<Outcome> {
    let id = incident.incident_id;
    let confirmed = match incident.resolved_hypothesis_id {
        Some(h) if incident.resolved_at.is_some() => {
            records.hypotheses(id).await?.into_iter().find(|x| x.hypothesis_id == h)
        }
        _ => None,
    };
    let Some(hypothesis) = confirmed else {
        // Only an incident with feedback can have lost a confirmation.
        if !records.feedback(id).await?.is_empty() {
            let mine = by_incident(id).any_of("origin", vec![json!(ORIGIN)]);
            semantic.delete(collections::INCIDENT_SUMMARIES, &mine).await?;
        }
        return Ok(Outcome::Ignored);
    };
    let fallback = records
        .list_services()
        .await?
        .into_iter()
        .find(|s| s.service_id == incident.service_id)
        .map(|s| s.service_key())
        .unwrap_or_default();
    let Some(doc) = document(incident, &hypothesis, &fallback) else { return Ok(Outcome::Ignored) };
    let existing = semantic.points(collections::INCIDENT_SUMMARIES, &by_incident(id), 2).await?;
    let same = |p: &Map<String, Value>| {
        ["service_key", "hypothesis_id", "culprit", "resolved_at", "text", "origin"]
            .iter()
            .all(|k| p.get(*k) == doc.payload.get(*k))
            && p.get("embedding_model").and_then(Value::as_str) == Some(embedder.model())
    };
    if existing.iter().any(|p| same(&p.payload)) {
        return Ok(Outcome::Unchanged);
    }
    semantic.ensure_collection(collections::INCIDENT_SUMMARIES, embedder.dim()).await?;
    let vector = embedder.embed(std::slice::from_ref(&doc.text)).await?.pop().ok_or_else(|| {
        StoreError::new(inquest_ports::ErrorKind::Internal, embedder.model(), "embed", "no vector returned")
    })?;
    let point = vector_point(doc.id, vector, doc.payload, embedder.model());
    semantic.upsert(collections::INCIDENT_SUMMARIES, &[point]).await?;
    Ok(Outcome::Stored)
}

type Observer = Box<dyn Fn(Outcome) + Send + Sync>;

/// The precedent hook's shared state: incidents whose summary could not be written
/// yet, and who is told each outcome (the server's feed counters).
#[derive(Default)]
pub struct Precedents {
    pending: Mutex<BTreeMap<ProjectId, BTreeSet<IncidentId>>>,
    observer: OnceLock<Observer>,
}

impl Precedents {
    pub fn new() -> Arc<Precedents> {
        Arc::new(Precedents::default())
    }

    /// `stores` with the records port wrapped so that resolutions write precedent.
    pub fn wrap(self: &Arc<Self>, stores: Stores) -> Stores {
        let records: Arc<dyn RecordStore> = Arc::new(PrecedentRecords {
            inner: stores.records.clone(),
            semantic: stores.semantic.clone(),
            embedder: stores.embedder.clone(),
            shared: self.clone(),
        });
        Stores { records, ..stores }
    }

    /// Tell `f` every outcome from now on (the first observer set stays).
    pub fn observe(&self, f: impl Fn(Outcome) + Send + Sync + 'static) {
        let _ = self.observer.set(Box::new(f));
    }

    /// Incidents waiting for their summary, all projects.
    pub fn pending(&self) -> usize {
        self.pending.lock().map(|p| p.values().map(BTreeSet::len).sum()).unwrap_or(0)
    }

    fn tell(&self, o: Outcome) {
        if let Some(f) = self.observer.get() {
            f(o);
        }
    }

    fn take_pending(&self, project: &ProjectId) -> Vec<IncidentId> {
        let Ok(mut p) = self.pending.lock() else { return Vec::new() };
        p.remove(project).map(|s| s.into_iter().collect()).unwrap_or_default()
    }

    fn set_pending(&self, project: &ProjectId, id: IncidentId, pending: bool) {
        if let Ok(mut p) = self.pending.lock() {
            let set = p.entry(project.clone()).or_default();
            if pending {
                set.insert(id);
            } else {
                set.remove(&id);
            }
            if set.is_empty() {
                p.remove(project);
            }
        }
    }
}

/// Rewrite the precedent of every incident of `stores`' project (idempotent: an
/// unchanged summary is not embedded again); how many summaries were written.
pub async fn sweep(stores: &Stores) -> StoreResult<usize> {
    let mut written = 0;
    for incident in stores.records.list_incidents().await? {
        if incident.resolved_hypothesis_id.is_none() {
            continue;
        }
        let o = write(stores.records.as_ref(), stores.semantic.as_ref(), stores.embedder.as_ref(), &incident).await?;
        written += usize::from(o == Outcome::Stored);
    }
    Ok(written)
}

/// The records port with the precedent hook.
struct PrecedentRecords {
    inner: Arc<dyn RecordStore>,
    semantic: Arc<dyn SemanticStore>,
    embedder: Arc<dyn Embedder>,
    shared: Arc<Precedents>,
}

impl PrecedentRecords {
    /// After a records write: the summaries of `incidents`, then of the pending ones.
    async fn after_write(&self, incidents: &[Incident]) {
        let project = self.inner.project().clone();
        let retry = self.shared.take_pending(&project);
        let mut done = BTreeSet::new();
        for incident in incidents {
            done.insert(incident.incident_id);
            self.one(&project, incident).await;
        }
        for id in retry.into_iter().filter(|id| !done.contains(id)) {
            match self.inner.get_incident(id).await {
                Ok(Some(incident)) => self.one(&project, &incident).await,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(incident_id = %id, error = %e, "precedent retry: incident not read; still pending");
                    self.shared.set_pending(&project, id, true);
                }
            }
        }
    }

    async fn one(&self, project: &ProjectId, incident: &Incident) {
        let id = incident.incident_id;
        let outcome = match write(self.inner.as_ref(), self.semantic.as_ref(), self.embedder.as_ref(), incident).await {
            Ok(o) => {
                self.shared.set_pending(project, id, false);
                if o == Outcome::Stored {
                    tracing::info!(incident_id = %id, "precedent written to incident_summaries");
                }
                o
            }
            Err(e) => {
                // The resolution is stored; its summary waits for a store that answers.
                tracing::warn!(incident_id = %id, error = %e, "precedent not written; will retry");
                self.shared.set_pending(project, id, true);
                Outcome::Failed
            }
        };
        self.shared.tell(outcome);
    }
}

#[async_trait]
impl RecordStore for PrecedentRecords {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    fn project(&self) -> &ProjectId {
        self.inner.project()
    }
    fn scoped(&self, project: &ProjectId) -> Arc<dyn RecordStore> {
        Arc::new(PrecedentRecords {
            inner: self.inner.scoped(project),
            semantic: self.semantic.scoped(project),
            embedder: self.embedder.clone(),
            shared: self.shared.clone(),
        })
    }
    async fn check_connectivity(&self) -> StoreResult<()> {
        self.inner.check_connectivity().await
    }
    async fn apply_batch(&self, batch: &RecordBatch) -> StoreResult<()> {
        self.inner.apply_batch(batch).await?;
        self.after_write(&batch.incidents).await;
        Ok(())
    }
    async fn apply_delivery(&self, delivery: &FeedDelivery) -> StoreResult<DeliveryOutcome> {
        let outcome = self.inner.apply_delivery(delivery).await?;
        if outcome == DeliveryOutcome::Stored && !delivery.batch.incidents.is_empty() {
            self.after_write(&delivery.batch.incidents).await;
        }
        Ok(outcome)
    }
    async fn feed_state(&self, feed: &str, key: &str) -> StoreResult<Option<Value>> {
        self.inner.feed_state(feed, key).await
    }
    async fn list_services(&self) -> StoreResult<Vec<Service>> {
        self.inner.list_services().await
    }
    async fn get_incident(&self, id: IncidentId) -> StoreResult<Option<Incident>> {
        self.inner.get_incident(id).await
    }
    async fn list_incidents(&self) -> StoreResult<Vec<Incident>> {
        self.inner.list_incidents().await
    }
    async fn list_decisions(&self, incident: IncidentId) -> StoreResult<Vec<IncidentDecision>> {
        self.inner.list_decisions(incident).await
    }
    async fn deployments_between(
        &self,
        services: &[ServiceId],
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<DeploymentEvent>> {
        self.inner.deployments_between(services, from, to).await
    }
    async fn config_changes_between(
        &self,
        services: &[ServiceId],
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<ConfigChangeEvent>> {
        self.inner.config_changes_between(services, from, to).await
    }
    async fn commit_range(&self, deployment: DeploymentId) -> StoreResult<Option<DeploymentCommitRange>> {
        self.inner.commit_range(deployment).await
    }
    async fn commits(&self, shas: &[String]) -> StoreResult<Vec<CommitWithFiles>> {
        self.inner.commits(shas).await
    }
    async fn commits_between(&self, from: Timestamp, to: Timestamp, limit: usize) -> StoreResult<Vec<Commit>> {
        self.inner.commits_between(from, to, limit).await
    }
    async fn save_investigation(&self, record: &InvestigationRecord) -> StoreResult<()> {
        self.inner.save_investigation(record).await
    }
    async fn evidence(&self, incident: IncidentId) -> StoreResult<Vec<EvidenceArtifact>> {
        self.inner.evidence(incident).await
    }
    async fn hypotheses(&self, incident: IncidentId) -> StoreResult<Vec<Hypothesis>> {
        self.inner.hypotheses(incident).await
    }
    async fn reports(&self, incident: IncidentId) -> StoreResult<Vec<IncidentReport>> {
        self.inner.reports(incident).await
    }
    async fn append_feedback(&self, event: &FeedbackEvent) -> StoreResult<()> {
        self.inner.append_feedback(event).await
    }
    async fn feedback(&self, incident: IncidentId) -> StoreResult<Vec<FeedbackEvent>> {
        self.inner.feedback(incident).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn incident(resolved: Option<HypothesisId>) -> Incident {
        let t = chrono::Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).single().expect("time");
        Incident {
            incident_id: IncidentId::derived(&["t", "incident"]),
            service_id: ServiceId::of_key("default/default/checkout"),
            status: IncidentStatus::Resolved,
            trigger_type: "error_rate_spike".into(),
            severity: 2,
            window_start: t,
            window_end: t,
            created_at: t,
            updated_at: t,
            resolved_at: resolved.map(|_| t),
            resolution_kind: resolved.map(|_| "root_cause_hypothesis".into()),
            resolution_summary: Some(
                "pool exhausted after deploy, token=ghp_abcdefghijklmnopqrstuvwxyz0123456789".into(),
            ),
            resolved_hypothesis_id: resolved,
        }
    }

    fn hypothesis() -> Hypothesis {
        Hypothesis {
            hypothesis_id: HypothesisId::derived(&["t", "h"]),
            incident_id: IncidentId::derived(&["t", "incident"]),
            rank: 1,
            hypothesis_type: HypothesisType::Release,
            title: "release 1.4.2 of payments".into(),
            confidence: 0.8,
            evidence_ids: vec![],
            details: json!({ "service_key": "default/default/payments", "culprit": "deployment:abc" }),
        }
    }

    #[test]
    fn a_confirmed_resolution_makes_the_summary() {
        let h = hypothesis();
        let i = incident(Some(h.hypothesis_id));
        let d = document(&i, &h, "default/default/checkout").expect("a summary");
        assert_eq!(d.id, i.incident_id.0);
        assert_eq!(d.payload["service_key"], json!("default/default/payments"));
        assert_eq!(d.payload["hypothesis_type"], json!("release"));
        assert_eq!(d.payload["culprit"], json!("deployment:abc"));
        assert_eq!(d.payload["started_at"], json!(i.window_start));
        let text = d.payload["text"].as_str().expect("text");
        assert!(text.contains("release 1.4.2 of payments") && text.contains("pool exhausted"), "{text}");
        assert!(!text.contains("ghp_"), "not redacted: {text}");
    }

    #[test]
    fn no_confirmed_hypothesis_no_summary() {
        let h = hypothesis();
        assert!(document(&incident(None), &h, "x").is_none());
        assert!(document(&incident(Some(HypothesisId::derived(&["other"]))), &h, "x").is_none());
    }
}
