//! Incident summaries written to the semantic store when an incident is resolved,
//! so that later investigations find them as precedent.

use inquest_domain::redact::redact;
use inquest_domain::{HypothesisType, Incident, collections};
use inquest_ports::{ErrorKind, StoreError, StoreResult, Stores, vector_point};
use serde_json::{Map, json};
use tracing::instrument;

/// Embed `summary` (redacted) and upsert it into `incident_summaries`, keyed by the
/// incident id (a re-resolution overwrites it). Payload as the investigation reads
/// it: incident_id, service_key, started_at, resolved_at, hypothesis_type, text.
#[instrument(skip_all, fields(incident_id = %incident.incident_id))]
pub async fn index_resolved_incident(
    stores: &Stores,
    incident: &Incident,
    summary: &str,
    hypothesis_type: HypothesisType,
) -> StoreResult<()> {
    let services = stores.records.list_services().await?;
    let service = services.iter().find(|s| s.service_id == incident.service_id).ok_or_else(|| {
        StoreError::new(
            ErrorKind::NotFound,
            "records",
            "index_resolved_incident",
            format!("service {} of the incident", incident.service_id),
        )
    })?;
    let text = redact(summary);
    let mut vectors = stores.embedder.embed(std::slice::from_ref(&text)).await?;
    let vector = vectors
        .pop()
        .ok_or_else(|| StoreError::new(ErrorKind::Internal, stores.embedder.model(), "embed", "no vector returned"))?;
    let mut payload = Map::new();
    payload.insert("incident_id".into(), json!(incident.incident_id));
    payload.insert("service_key".into(), json!(service.service_key()));
    payload.insert("started_at".into(), json!(incident.window_start));
    payload.insert("resolved_at".into(), json!(incident.resolved_at));
    payload.insert("hypothesis_type".into(), json!(hypothesis_type));
    payload.insert("text".into(), json!(text));
    stores.semantic.ensure_collection(collections::INCIDENT_SUMMARIES, stores.embedder.dim()).await?;
    let point = vector_point(incident.incident_id.0, vector, payload, stores.embedder.model());
    stores.semantic.upsert(collections::INCIDENT_SUMMARIES, &[point]).await
}
