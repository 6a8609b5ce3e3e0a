//! Collects evidence artifacts with stable ids (derived from incident, kind and ref)
//! so a re-investigation refers to the same evidence by the same id.

use std::collections::HashMap;

use inquest_domain::*;
use serde_json::Value;

pub struct Collector {
    incident_id: IncidentId,
    now: Timestamp,
    items: Vec<EvidenceArtifact>,
    by_ref: HashMap<String, EvidenceId>,
}

impl Collector {
    pub fn new(incident_id: IncidentId, now: Timestamp) -> Self {
        Self { incident_id, now, items: Vec::new(), by_ref: HashMap::new() }
    }

    /// Record one artifact; the same `reference` twice yields the same id.
    pub fn add(&mut self, kind: EvidenceKind, source: &str, reference: String, metadata: Value) -> EvidenceId {
        if let Some(id) = self.by_ref.get(&reference) {
            return *id;
        }
        let id = EvidenceId::derived(&["evidence", &self.incident_id.to_string(), kind.as_str(), &reference]);
        self.by_ref.insert(reference.clone(), id);
        self.items.push(EvidenceArtifact {
            evidence_id: id,
            incident_id: self.incident_id,
            kind,
            source: source.to_string(),
            reference,
            created_at: self.now,
            metadata,
        });
        id
    }

    pub fn get(&self, reference: &str) -> Option<EvidenceId> {
        self.by_ref.get(reference).copied()
    }

    pub fn into_items(self) -> Vec<EvidenceArtifact> {
        self.items
    }
}
