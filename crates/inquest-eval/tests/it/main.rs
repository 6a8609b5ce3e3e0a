//! Integration tests of the evaluation harness.

mod datasets;
mod fixtures_golden;
mod replay;
