//! The alert intake as a service on its port: `Ingest` stores alerts (correlated,
//! in one transaction) and writes the incidents they change to the records store,
//! applies lifecycle actions and keeps the Prometheus `Metrics`; the investigation
//! `workers` take jobs off the durable queue and run them through `inquest-core`,
//! then the `Responder` takes the response policy's actions on the outcome.
//! Its stores come in already wrapped (`inquest-telemetry`): store calls are counted
//! and timed there, never here.

pub mod metrics;
pub mod respond;
pub mod service;
pub mod workers;

pub use metrics::Metrics;
pub use respond::Responder;
pub use service::Ingest;
pub use workers::{
    CoreInvestigator, Investigated, InvestigationFailed, Investigator, Step, WorkerConfig, run_once, run_records_sync,
    run_worker,
};
