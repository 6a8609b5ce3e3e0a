//! Contract suites for the Inquest ports: written once, run against every implementation.

pub mod ingest;
pub mod metrics;
pub mod records;
pub mod semantic;
pub mod topology;
