//! End-to-end tests of the `inquest` binary.

mod alerting;
mod backends;
mod demo;
mod e2e;
mod ingest;
mod ops;
mod projects;
mod shared;
mod stores;
mod support;
mod worker;
