//! Investigate, write the report, and save everything atomically.

use async_trait::async_trait;
use inquest_domain::*;
use inquest_ports::{InvestigationRecord, Stores};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{InvestigateError, Investigation, InvestigationConfig, investigate};

/// A report ready to be checked and saved.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportDraft {
    pub markdown: String,
    pub model_info: Value,
}

/// Writes the markdown report of an investigation (template or LLM).
#[async_trait]
pub trait ReportWriter: Send + Sync {
    async fn write(&self, investigation: &Investigation) -> ReportDraft;
}

/// Evidence ids cited in `markdown` that exist among `evidence`, in order of first mention.
pub fn cited_evidence(markdown: &str, evidence: &[EvidenceArtifact]) -> Vec<EvidenceId> {
    let mut found: Vec<(usize, EvidenceId)> = evidence
        .iter()
        .filter_map(|e| markdown.find(&e.evidence_id.to_string()).map(|pos| (pos, e.evidence_id)))
        .collect();
    found.sort();
    found.into_iter().map(|(_, id)| id).collect()
}

/// Run an investigation, write its report and save evidence, hypotheses and the
/// report in one transaction. The report id is derived from its content, so an
/// identical re-run does not add a duplicate to the history.
pub async fn investigate_and_save(
    stores: &Stores,
    writer: &dyn ReportWriter,
    incident_id: IncidentId,
    cfg: &InvestigationConfig,
    now: Timestamp,
) -> Result<(Investigation, IncidentReport), InvestigateError> {
    let inv = investigate(stores, incident_id, cfg, now).await?;
    let draft = writer.write(&inv).await;
    let digest = hex::encode(Sha256::digest(draft.markdown.as_bytes()));
    let report = IncidentReport {
        report_id: ReportId::derived(&["report", &incident_id.to_string(), &digest]),
        incident_id,
        created_at: now,
        model_info: draft.model_info,
        evidence_ids: cited_evidence(&draft.markdown, &inv.evidence),
        report_markdown: draft.markdown,
    };
    let record = InvestigationRecord {
        incident_id,
        evidence: inv.evidence.clone(),
        hypotheses: inv.hypotheses.clone(),
        report: report.clone(),
    };
    stores.records.save_investigation(&record).await.map_err(InvestigateError::Save)?;
    Ok((inv, report))
}
