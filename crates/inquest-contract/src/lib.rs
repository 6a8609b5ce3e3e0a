//! Contract suites for the Inquest ports: written once, run against every implementation;
//! the fresh test database the Postgres adapters' tests share (`postgres`), and a test
//! OpenID Connect provider (`oidc`).

pub mod access;
pub mod ingest;
pub mod isolation;
pub mod metrics;
pub mod notify;
pub mod oidc;
pub mod oncall;
pub mod ops;
pub mod postgres;
pub mod records;
pub mod semantic;
pub mod tickets;
pub mod topology;
