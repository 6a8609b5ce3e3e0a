//! Alert intake for Inquest: the generic alert and the Alertmanager webhook,
//! correlation into incidents under an explicit policy file, the incident
//! lifecycle (MTTA/MTTR), durable investigation jobs and metrics. Its HTTP routes
//! are in `inquest-server`.

pub mod correlate;
pub mod jobs;
pub mod lifecycle;
pub mod metrics;
pub mod model;
pub mod policy;
pub mod redb_store;
pub mod service;
pub mod store;

pub use correlate::{Outcome, StoredAlert, correlate};
pub use jobs::{
    CoreInvestigator, Investigated, InvestigationFailed, Investigator, Step, WorkerConfig, run_once, run_records_sync,
    run_worker,
};
pub use lifecycle::{Action, IncidentState};
pub use model::{Alert, AlertStatus, Severity};
pub use policy::{DEFAULT_POLICY, Policy};
pub use redb_store::RedbIngestStore;
pub use service::Ingest;
pub use store::{Applied, IngestStore, Job, JobState, LifecycleError, Taken};
