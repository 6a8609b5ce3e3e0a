//! Contract suites for the Inquest ports: written once, run against every implementation;
//! and the fresh test database the Postgres adapters' tests share (`postgres`).

pub mod access;
pub mod ingest;
pub mod isolation;
pub mod metrics;
pub mod postgres;
pub mod records;
pub mod semantic;
pub mod topology;
