//! Integration tests of the evaluation harness.

mod fixtures_golden;
mod replay;
mod datasets;
