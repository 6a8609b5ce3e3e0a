//! End-to-end tests of the `inquest` binary.

mod demo;
mod e2e;
mod stores;
mod ingest;
