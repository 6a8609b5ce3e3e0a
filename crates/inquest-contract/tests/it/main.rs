//! The contract suites against the embedded store, the reference implementation.

mod embedded;
