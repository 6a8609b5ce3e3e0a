//! Contract test suites for the ports, run against every implementation.
pub mod records;
