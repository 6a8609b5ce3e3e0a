//! Integration tests of the embedded store: the port contract suites and durability.

mod contract;
mod durability;
