//! Integration tests of the evaluation harness.

mod datasets;
