//! End-to-end tests of the `inquest` binary on the embedded default.

mod demo;
mod ingest;
