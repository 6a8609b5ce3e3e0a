//! Integration tests of the embedded store: the port contract suites (the intake, access and ops stores' too) and durability.

mod access;
mod contract;
mod durability;
mod intake;
mod isolation;
mod ops;
mod tickets;
