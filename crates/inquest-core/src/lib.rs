//! The investigation: gathers evidence through the ports, builds candidate
//! hypotheses of every type and ranks them by explainable factors. It sees stores
//! only as `inquest_ports` traits; no store client is linked into this crate.

pub mod baseline;
pub mod evidence;
pub mod factors;
pub mod feedback;
pub mod hypotheses;
pub mod investigate;
pub mod pipeline;
pub mod semantics;
pub mod signals;

pub use investigate::{EvidenceGap, Investigation, InvestigationConfig, RunbookRef, investigate};
pub use pipeline::{ReportDraft, ReportWriter, investigate_and_save};

/// Why an investigation could not start at all (anything later becomes a gap).
#[derive(Debug, thiserror::Error)]
pub enum InvestigateError {
    #[error("incident {0} not found")]
    IncidentNotFound(inquest_domain::IncidentId),
    #[error("cannot read the incident: {0}")]
    Records(#[source] inquest_ports::StoreError),
    #[error("cannot save the investigation: {0}")]
    Save(#[source] inquest_ports::StoreError),
}
