//! The investigation: gathers evidence through the ports, builds candidate
//! hypotheses of every type and ranks them by explainable factors. It sees stores
//! only as `inquest_ports` traits; no store client is linked into this crate.

pub mod baseline;
pub mod edges;
pub mod evidence;
pub mod factors;
pub mod feedback;
pub mod hypotheses;
pub mod investigate;
pub mod learn;
pub mod paths;
pub mod pipeline;
pub mod recommend;
pub mod semantics;
pub mod signals;

pub use investigate::{EvidenceGap, Investigation, InvestigationConfig, RunbookRef, investigate};
pub use pipeline::{ReportDraft, ReportWriter, investigate_and_save};
pub use recommend::{ActionType, Recommendation, RiskLevel};

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

impl InvestigateError {
    /// The closed kind: a missing incident is `NotFound`, a store error keeps its own.
    pub fn kind(&self) -> inquest_ports::ErrorKind {
        match self {
            InvestigateError::IncidentNotFound(_) => inquest_ports::ErrorKind::NotFound,
            InvestigateError::Records(e) | InvestigateError::Save(e) => e.kind,
        }
    }

    /// Whether trying again may succeed: only when a store was unavailable or timed
    /// out. A missing incident or invalid input fails the same way every time.
    pub fn retryable(&self) -> bool {
        matches!(self.kind(), inquest_ports::ErrorKind::Unavailable | inquest_ports::ErrorKind::Timeout)
    }
}

#[cfg(test)]
mod tests {
    use inquest_ports::{ErrorKind, StoreError};

    use super::InvestigateError;

    #[test]
    fn only_an_unavailable_or_slow_store_is_worth_another_attempt() {
        let store = |kind| StoreError::new(kind, "postgres", "get_incident", "boom");
        let missing = InvestigateError::IncidentNotFound(inquest_domain::IncidentId::new_random());
        assert_eq!((missing.kind(), missing.retryable()), (ErrorKind::NotFound, false));
        for (kind, retryable) in [
            (ErrorKind::Unavailable, true),
            (ErrorKind::Timeout, true),
            (ErrorKind::InvalidInput, false),
            (ErrorKind::NotFound, false),
            (ErrorKind::Internal, false),
        ] {
            for e in [InvestigateError::Records(store(kind)), InvestigateError::Save(store(kind))] {
                assert_eq!((e.kind(), e.retryable()), (kind, retryable), "{e}");
            }
        }
    }
}
